// Models shipped inside the package: `builtin:<name>` in a config's `model` (and on the CLI) names a folder under
// media/builtin/ of the installed extension or the checkout. `builtin:demo` is the lab model pretrained by the
// project on its generated world (src/engine/lab, `npm run lab:pretrain`).
import * as fs from 'node:fs';
import * as path from 'node:path';

export const BUILTIN_PREFIX = 'builtin:';

/** Built-in model names and their folders relative to the package root. */
export const BUILTIN_MODELS: Readonly<Record<string, string>> = { demo: 'media/builtin/demo' };

/** The package root: the nearest folder above this module (src/... in a checkout, dist/ when bundled) whose package.json is peft-lab's. */
export function packageRoot(from: string = __dirname): string {
  let dir = from;
  for (;;) {
    const manifest = path.join(dir, 'package.json');
    if (fs.existsSync(manifest)) {
      try {
        const parsed: unknown = JSON.parse(fs.readFileSync(manifest, 'utf8'));
        if (typeof parsed === 'object' && parsed !== null && (parsed as { name?: unknown }).name === 'peft-lab') return dir;
      } catch {
        // not ours: keep looking upwards
      }
    }
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error(`cannot find the peft-lab package root above ${from}`);
    dir = parent;
  }
}

export function isBuiltinModel(spec: string): boolean {
  return spec.startsWith(BUILTIN_PREFIX);
}

/** The folder of `builtin:<name>`; throws naming the known names when there is no such model. */
export function builtinModelDir(spec: string): string {
  const name = spec.slice(BUILTIN_PREFIX.length);
  const rel = BUILTIN_MODELS[name];
  if (rel === undefined) {
    throw new Error(`${spec}: no such built-in model (built-in: ${Object.keys(BUILTIN_MODELS).map((n) => `${BUILTIN_PREFIX}${n}`).join(', ')})`);
  }
  const dir = path.join(packageRoot(), rel);
  if (!fs.existsSync(path.join(dir, 'config.json'))) throw new Error(`${spec}: the built-in model folder ${dir} is missing (run \`npm run lab:pretrain\` to make it)`);
  return dir;
}
