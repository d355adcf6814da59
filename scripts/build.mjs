// Bundles the extension host, the job worker, the CLI and every webview (webview/<panel>/index.ts) separately.
// onnxruntime-node stays external: it is a native addon loaded from node_modules at run time.
import { build } from 'esbuild';
import { existsSync, readdirSync, mkdirSync, cpSync } from 'node:fs';
import { join } from 'node:path';

const production = process.argv.includes('--production');
const common = { bundle: true, sourcemap: !production, minify: production, logLevel: 'warning' };
const nodeExternals = ['vscode', 'onnxruntime-node'];

const nodeEntries = [
  ['src/extension/index.ts', 'dist/extension.js'],
  ['src/worker/index.ts', 'dist/worker.js'],
  ['src/cli/index.ts', 'dist/cli.js'],
].filter(([entry]) => existsSync(entry));

const webviewEntries = existsSync('webview')
  ? readdirSync('webview', { withFileTypes: true })
      .filter((d) => d.isDirectory() && existsSync(join('webview', d.name, 'index.ts')))
      .map((d) => [join('webview', d.name, 'index.ts'), join('dist', 'webview', `${d.name}.js`)])
  : [];

mkdirSync('dist', { recursive: true });
await Promise.all([
  ...nodeEntries.map(([entry, outfile]) =>
    build({ ...common, entryPoints: [entry], outfile, platform: 'node', target: 'node20', format: 'cjs', external: nodeExternals,
      // jsonc-parser's `main` is a UMD build whose dynamic requires esbuild cannot follow; its ESM build bundles.
      mainFields: ['module', 'main'],
      // The extension logs how long evaluating its bundle took (src/extension/index.ts, bundleLoad): this line
      // runs before any bundled module does. "use strict" first, as esbuild's own (now second) would no longer be
      // the directive that makes the bundle strict.
      ...(entry === 'src/extension/index.ts' ? { banner: { js: '"use strict";\nvar __peftLabBundleStart = performance.now(), __peftLabBundleCpu = process.cpuUsage();' } } : {}) }),
  ),
  ...webviewEntries.map(([entry, outfile]) =>
    build({ ...common, entryPoints: [entry], outfile, platform: 'browser', target: 'es2022', format: 'iife' }),
  ),
]);
if (existsSync('src/config/peft-config.schema.json')) {
  cpSync('src/config/peft-config.schema.json', 'dist/peft-config.schema.json');
}
console.log(`built ${nodeEntries.length} node bundles and ${webviewEntries.length} webview bundles into dist/`);
