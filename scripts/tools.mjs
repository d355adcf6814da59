// Installs the tools the integration, UI and packaging steps need (code-server, playwright-core, vsce) OUTSIDE
// the checkout, into a cache keyed by tool and version, so a machine installs each once and every clone reuses it.
// Cache: $PEFT_LAB_TOOLS or ~/.cache/peft-lab-tools/<tool>-<version>/; a tool counts as installed only when its
// marker file exists, and the marker is written last (an interrupted install is redone, never half-used).
// The install workarounds come from ../shared/docs/E2E-TESTING.md (verified on this machine kind).
//
// CLI: node scripts/tools.mjs [code-server|playwright-core|vsce ...]   (no argument: all of them)
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, renameSync, writeFileSync, readFileSync, copyFileSync, chmodSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, delimiter } from 'node:path';
import { pathToFileURL } from 'node:url';

export const TOOLS = {
  'code-server': { pkg: 'code-server', version: '4.100.3', bin: 'node_modules/code-server/out/node/entry.js' },
  // Drives Debian's chromium over CDP; 1.65 knows the protocol of chromium 156.
  'playwright-core': { pkg: 'playwright-core', version: '1.65.1', bin: 'node_modules/playwright-core/index.js' },
  // 3.9.x is the last line that runs on Node 20 (4.x needs Node 22).
  vsce: { pkg: '@vscode/vsce', version: '3.9.2', bin: 'node_modules/@vscode/vsce/vsce' },
};

// code-server 4.100.3 pins @vscode/ripgrep 1.15.11, whose postinstall fetches this tarball from GitHub unless it
// finds it in its cache under $TMPDIR; we seed it with Debian's rg.
const RIPGREP_CACHE = { dir: 'vscode-ripgrep-cache-1.15.11', file: 'ripgrep-v13.0.0-10-x86_64-unknown-linux-musl.tar.gz' };
const MARKER = '.peft-lab-tools-installed.json';

export const CHROMIUM_PATH = '/usr/bin/chromium';

export function toolsRoot() {
  return process.env.PEFT_LAB_TOOLS || join(homedir(), '.cache', 'peft-lab-tools');
}

export function toolDir(name) {
  const tool = TOOLS[name];
  if (!tool) throw new Error(`unknown tool '${name}' (known: ${Object.keys(TOOLS).join(', ')})`);
  return join(toolsRoot(), `${name}-${tool.version}`);
}

function onPath(command) {
  return (process.env.PATH ?? '').split(delimiter).some((dir) => dir && existsSync(join(dir, command)));
}

const SYSTEM_REQUIREMENTS = {
  chromium: { pkg: 'chromium', present: () => existsSync(CHROMIUM_PATH), what: `${CHROMIUM_PATH}` },
  ripgrep: { pkg: 'ripgrep', present: () => onPath('rg'), what: 'rg on PATH' },
  krb5: {
    pkg: 'libkrb5-dev',
    present: () => existsSync('/usr/include/krb5.h') || existsSync('/usr/include/krb5/krb5.h'),
    what: 'Kerberos headers (krb5.h), to build code-server\'s kerberos module',
  },
  compiler: { pkg: 'build-essential', present: () => onPath('g++') && onPath('make'), what: 'g++ and make' },
  python: { pkg: 'python3', present: () => onPath('python3'), what: 'python3 (node-gyp)' },
  nodeHeaders: {
    pkg: 'nodejs',
    present: () => existsSync('/usr/include/node/node.h') || !!process.env.npm_config_nodedir,
    what: 'Node headers in /usr/include/node (node-gyp builds against them offline)',
  },
};

const NEEDS = {
  'code-server': ['ripgrep', 'krb5', 'compiler', 'python', 'nodeHeaders'],
  'playwright-core': [],
  vsce: [],
  // Not a tool to install: what the UI tests need at run time.
  browser: ['chromium'],
};

/** Throws, naming the exact apt-get command, when a Debian package needed by the named tools is missing. */
export function checkSystemPackages(names) {
  const missing = [...new Set(names.flatMap((n) => NEEDS[n] ?? []))]
    .map((key) => SYSTEM_REQUIREMENTS[key])
    .filter((req) => !req.present());
  if (missing.length === 0) return;
  const sudo = typeof process.getuid === 'function' && process.getuid() !== 0 ? 'sudo ' : '';
  const command = `${sudo}apt-get update && ${sudo}apt-get install -y ${missing.map((m) => m.pkg).join(' ')}`;
  throw new Error(
    `missing system packages: ${missing.map((m) => `${m.pkg} (${m.what})`).join(', ')}.\nInstall them with:\n  ${command}`,
  );
}

export function isInstalled(name) {
  return existsSync(join(toolDir(name), MARKER));
}

function run(command, args, options) {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], ...options });
    let tail = '';
    const keep = (chunk) => {
      tail = (tail + chunk.toString()).slice(-20000);
      if (process.env.PEFT_LAB_TOOLS_VERBOSE) process.stderr.write(chunk);
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    child.on('error', reject);
    child.on('close', (code) => {
      if (code === 0) resolve(tail);
      else reject(new Error(`${command} ${args.join(' ')} exited with ${code} (cwd ${options.cwd}):\n${tail}`));
    });
  });
}

function seedRipgrepCache(tmpDir) {
  const rg = spawnSync('sh', ['-c', 'command -v rg'], { encoding: 'utf8' }).stdout.trim();
  const stage = join(tmpDir, 'rg-stage');
  mkdirSync(stage, { recursive: true });
  copyFileSync(rg, join(stage, 'rg'));
  chmodSync(join(stage, 'rg'), 0o755);
  const cacheDir = join(tmpDir, RIPGREP_CACHE.dir);
  mkdirSync(cacheDir, { recursive: true });
  const tar = spawnSync('tar', ['-czf', join(cacheDir, RIPGREP_CACHE.file), '-C', stage, 'rg'], { encoding: 'utf8' });
  if (tar.status !== 0) throw new Error(`could not build the ripgrep cache tarball: ${tar.stderr}`);
}

async function install(name) {
  const tool = TOOLS[name];
  const finalDir = toolDir(name);
  const staging = `${finalDir}.partial-${process.pid}`;
  rmSync(staging, { recursive: true, force: true });
  const tmpDir = join(staging, '.tmp');
  mkdirSync(tmpDir, { recursive: true });
  writeFileSync(join(staging, 'package.json'), JSON.stringify({ name: `peft-lab-tool-${name}`, private: true }, null, 2));
  const env = {
    ...process.env,
    // code-server's postinstall refuses root without this; npm 7+ only honours it from the environment.
    npm_config_unsafe_perm: 'true',
    // node-pty's install runs `npx node-gyp`; the machine's npm config (yes=false) would cancel that prompt.
    npm_config_yes: 'true',
    // node-gyp builds against the local Node headers (no header download).
    npm_config_nodedir: process.env.npm_config_nodedir || '/usr',
    npm_config_audit: 'false',
    npm_config_fund: 'false',
    npm_config_update_notifier: 'false',
    TMPDIR: tmpDir,
  };
  if (name === 'code-server') seedRipgrepCache(tmpDir);
  await run('npm', ['install', '--no-save', '--no-package-lock', '--omit=dev', `${tool.pkg}@${tool.version}`], {
    cwd: staging,
    env,
  });
  if (!existsSync(join(staging, tool.bin))) throw new Error(`${tool.pkg}@${tool.version} installed but ${tool.bin} is missing`);
  if (name === 'code-server') {
    const rg = join(staging, 'node_modules/code-server/lib/vscode/node_modules/@vscode/ripgrep/bin/rg');
    if (!existsSync(rg)) throw new Error(`code-server installed without ripgrep (${rg} missing): the cache seed did not match`);
  }
  rmSync(tmpDir, { recursive: true, force: true });
  writeFileSync(join(staging, MARKER), JSON.stringify({ tool: name, version: tool.version, installedAt: new Date().toISOString() }));
  if (existsSync(join(finalDir, MARKER))) {
    // Another process finished the same install first: keep theirs.
    rmSync(staging, { recursive: true, force: true });
    return;
  }
  rmSync(finalDir, { recursive: true, force: true });
  renameSync(staging, finalDir);
}

/**
 * Makes sure a tool is installed and returns where: `{ dir, bin, version, installedNow, seconds }`.
 * Checks the system packages it needs first and throws with the apt-get command when one is missing.
 */
export async function ensureTool(name) {
  checkSystemPackages([name]);
  const tool = TOOLS[name];
  const started = performance.now();
  let installedNow = false;
  if (!isInstalled(name)) {
    mkdirSync(toolsRoot(), { recursive: true });
    process.stderr.write(`[tools] installing ${tool.pkg}@${tool.version} into ${toolDir(name)} ...\n`);
    try {
      await install(name);
    } catch (error) {
      // Leave no half-installed folder behind (the marker is never written for it, but it takes disk).
      rmSync(`${toolDir(name)}.partial-${process.pid}`, { recursive: true, force: true });
      throw error;
    }
    installedNow = true;
  }
  const seconds = (performance.now() - started) / 1000;
  if (installedNow) process.stderr.write(`[tools] ${tool.pkg}@${tool.version} installed in ${seconds.toFixed(1)} s\n`);
  const dir = toolDir(name);
  return { dir, bin: join(dir, tool.bin), version: tool.version, installedNow, seconds };
}

/** Loads playwright-core from the tools cache (it is not a project dependency). */
export async function loadPlaywright() {
  const { dir } = await ensureTool('playwright-core');
  const mod = await import(pathToFileURL(join(dir, 'node_modules/playwright-core/index.mjs')).href);
  return mod.default ?? mod;
}

export function installedVersion(name) {
  const marker = join(toolDir(name), MARKER);
  return existsSync(marker) ? JSON.parse(readFileSync(marker, 'utf8')).version : undefined;
}

const isMain = process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href;
if (isMain) {
  const names = process.argv.slice(2).length > 0 ? process.argv.slice(2) : Object.keys(TOOLS);
  try {
    const started = performance.now();
    // Sequential on purpose: code-server's native builds already use both cores.
    for (const name of names) {
      const result = await ensureTool(name);
      console.log(`${name}@${result.version}: ${result.dir}${result.installedNow ? ` (installed, ${result.seconds.toFixed(1)} s)` : ' (cached)'}`);
    }
    console.log(`tools ready in ${((performance.now() - started) / 1000).toFixed(1)} s (root ${toolsRoot()})`);
  } catch (error) {
    console.error(`[tools] ${error instanceof Error ? error.message : String(error)}`);
    process.exit(1);
  }
}
