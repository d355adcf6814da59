// `npm run package`: production build, then vsce 3.9.2 (from the tools cache, scripts/tools.mjs) packages
// peft-lab-<version>-linux-x64.vsix. What goes in is decided by .vscodeignore: the esbuild bundles in dist/,
// media/, and from node_modules only onnxruntime-node (its linux-x64 binaries) and onnxruntime-common, which the
// bundles load at run time. This script then opens the VSIX and fails if it holds another platform's ONNX Runtime
// binaries, sources, tests, or lacks what the extension needs to run.
//
// CLI: node scripts/package.mjs [--out DIR] [--no-build]
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, relative, resolve, dirname } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { ensureTool } from './tools.mjs';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const TARGET = 'linux-x64';

/** Files the installed extension cannot run without (paths inside the VSIX). */
const REQUIRED_ENTRIES = [
  'extension/package.json',
  'extension/dist/extension.js',
  'extension/dist/worker.js',
  'extension/dist/peft-config.schema.json',
  'extension/node_modules/onnxruntime-node/package.json',
  'extension/node_modules/onnxruntime-node/dist/index.js',
  'extension/node_modules/onnxruntime-node/bin/napi-v6/linux/x64/onnxruntime_binding.node',
  'extension/node_modules/onnxruntime-node/bin/napi-v6/linux/x64/libonnxruntime.so.1',
  'extension/node_modules/onnxruntime-common/package.json',
  'extension/node_modules/onnxruntime-common/dist/cjs/index.js',
  // Marks dist/cjs as CommonJS (the package itself is "type": "module"): without it require() fails.
  'extension/node_modules/onnxruntime-common/dist/cjs/package.json',
];

/** Patterns that must not be in a linux-x64 VSIX. */
const FORBIDDEN_ENTRIES = [
  /^extension\/node_modules\/onnxruntime-node\/bin\/napi-v6\/(darwin|win32)\//,
  /^extension\/node_modules\/onnxruntime-node\/bin\/napi-v6\/linux\/(?!x64\/)/,
  /^extension\/(src|test|bench|scripts|webview)\//,
  /^extension\/node_modules\/(?!onnxruntime-node\/|onnxruntime-common\/)/,
  /^extension\/\.test-output\//,
];

function listZipEntries(vsceDir, zipPath) {
  // yauzl comes with vsce; the project does not depend on a zip reader of its own.
  const requireFromVsce = createRequire(join(vsceDir, 'node_modules', '@vscode', 'vsce', 'package.json'));
  const yauzl = requireFromVsce('yauzl');
  return new Promise((resolveEntries, reject) => {
    yauzl.open(zipPath, { lazyEntries: true }, (error, zip) => {
      if (error) return reject(error);
      const names = [];
      zip.on('entry', (entry) => {
        names.push(entry.fileName);
        zip.readEntry();
      });
      zip.on('end', () => resolveEntries(names));
      zip.on('error', reject);
      zip.readEntry();
    });
  });
}

export function vsixCheckProblems(entries) {
  const names = new Set(entries);
  const missing = REQUIRED_ENTRIES.filter((entry) => !names.has(entry)).map((entry) => `missing ${entry}`);
  const forbidden = entries.filter((entry) => FORBIDDEN_ENTRIES.some((pattern) => pattern.test(entry))).map((entry) => `must not contain ${entry}`);
  return [...missing, ...forbidden];
}

function run(command, args, what) {
  const result = spawnSync(command, args, { cwd: repoRoot, stdio: ['ignore', 'inherit', 'inherit'], env: { ...process.env, ONNXRUNTIME_NODE_INSTALL: 'skip' } });
  if (result.status !== 0) throw new Error(`${what} failed (exit ${result.status ?? result.signal})`);
}

/** Builds (production) and packages the VSIX; returns `{ vsixPath, bytes, entries, seconds }`. */
export async function packageVsix({ outDir = repoRoot, build = true } = {}) {
  const started = performance.now();
  const vsce = await ensureTool('vsce');
  const manifest = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8'));
  if (!existsSync(join(repoRoot, '.vscodeignore'))) {
    throw new Error('.vscodeignore is missing: without it vsce would package src/, test/ and every node_module');
  }
  if (build) run(process.execPath, [join(repoRoot, 'scripts', 'build.mjs'), '--production'], 'production build');

  mkdirSync(outDir, { recursive: true });
  const vsixPath = join(outDir, `${manifest.name}-${manifest.version}-${TARGET}.vsix`);
  const args = [vsce.bin, 'package', '--target', TARGET, '--out', vsixPath];
  // Flags only for what is really absent: vsce would otherwise stop and ask (and fail without a terminal).
  if (!manifest.repository) args.push('--allow-missing-repository');
  const hasLicenseFile = readdirSync(repoRoot).some((name) => /^licen[cs]e(\.(md|txt))?$/i.test(name));
  if (!hasLicenseFile) args.push('--skip-license');
  run(process.execPath, args, 'vsce package');

  const entries = await listZipEntries(vsce.dir, vsixPath);
  const problems = vsixCheckProblems(entries);
  if (problems.length > 0) throw new Error(`${relative(repoRoot, vsixPath)} is wrong:\n  ${problems.join('\n  ')}`);
  const bytes = statSync(vsixPath).size;
  return { vsixPath, bytes, entries, seconds: (performance.now() - started) / 1000 };
}

const isMain = process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href;
if (isMain) {
  const outIndex = process.argv.indexOf('--out');
  const outDir = outIndex > 0 ? resolve(process.argv[outIndex + 1]) : repoRoot;
  try {
    const result = await packageVsix({ outDir, build: !process.argv.includes('--no-build') });
    console.log(
      `packaged ${relative(process.cwd(), result.vsixPath)}: ${(result.bytes / 1024 / 1024).toFixed(1)} MiB, ` +
        `${result.entries.length} files, in ${result.seconds.toFixed(1)} s`,
    );
  } catch (error) {
    console.error(`[package] ${error instanceof Error ? error.message : String(error)}`);
    process.exit(1);
  }
}
