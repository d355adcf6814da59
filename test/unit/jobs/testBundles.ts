// Bundles the worker and the CLI from the current sources into .test-output/ (inside the repo, so the external
// onnxruntime-node resolves from node_modules), once per test process. Same esbuild settings as scripts/build.mjs
// for node bundles; tests thereby never run a stale dist/.
import { build } from 'esbuild';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export const repoRoot = path.resolve(__dirname, '../../..');

export interface TestBundles {
  dir: string;
  workerPath: string;
  cliPath: string;
}

let pending: Promise<TestBundles> | undefined;

export function testBundles(): Promise<TestBundles> {
  pending ??= (async () => {
    const dir = path.join(repoRoot, '.test-output', `bundles-${process.pid}`);
    fs.mkdirSync(dir, { recursive: true });
    const common = {
      bundle: true, sourcemap: false, logLevel: 'warning' as const, platform: 'node' as const, target: 'node20',
      format: 'cjs' as const, external: ['vscode', 'onnxruntime-node'], mainFields: ['module', 'main'],
    };
    await Promise.all([
      build({ ...common, entryPoints: [path.join(repoRoot, 'src/worker/index.ts')], outfile: path.join(dir, 'worker.js') }),
      build({ ...common, entryPoints: [path.join(repoRoot, 'src/cli/index.ts')], outfile: path.join(dir, 'cli.js') }),
    ]);
    process.once('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
    return { dir, workerPath: path.join(dir, 'worker.js'), cliPath: path.join(dir, 'cli.js') };
  })();
  return pending;
}

const tempDirs: string[] = [];
let cleanupRegistered = false;

/** A fresh temp folder, removed when the test process exits. */
export function tempDir(prefix: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `peft-lab-${prefix}-`));
  tempDirs.push(dir);
  if (!cleanupRegistered) {
    cleanupRegistered = true;
    process.once('exit', () => {
      for (const d of tempDirs) fs.rmSync(d, { recursive: true, force: true });
    });
  }
  return dir;
}

/** Writes a *.peft.json (JSON text as given, so tests control line:col) and returns its path. */
export function writeConfig(dir: string, name: string, text: string): string {
  const file = path.join(dir, name);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, text);
  return file;
}

export function deviceCheckConfigText(size: number, repeats: number, name = 'check'): string {
  return `${JSON.stringify({ name, task: 'device-check', deviceCheck: { size, repeats }, runtime: { device: 'cpu', threads: 1 } }, null, 2)}\n`;
}
