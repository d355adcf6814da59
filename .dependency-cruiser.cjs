// The layer rules, checked by `npm run lint:deps` (part of `npm run lint`, so CI fails on a violation):
// the engine runs in the job process and the CLI and never sees VS Code or the host; the webviews see only the
// contract room (src/protocol) and their own code; the contract room depends on nothing of ours; no cycles.
/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    { name: 'no-cycles', severity: 'error', comment: 'An import cycle makes modules impossible to read or load on their own.', from: {}, to: { circular: true } },
    { name: 'engine-without-vscode', severity: 'error', comment: 'src/engine runs outside VS Code (job process, CLI).', from: { path: '^src/engine/' }, to: { path: '^vscode$' } },
    {
      name: 'engine-below-host', severity: 'error', comment: 'src/engine must not import the extension host, the worker or the CLI.',
      from: { path: '^src/engine/' }, to: { path: '^src/(extension|worker|cli)/' },
    },
    {
      name: 'webview-sees-only-protocol', severity: 'error', comment: 'webview/ imports only src/protocol and its own code.',
      from: { path: '^webview/' }, to: { path: '^src/', pathNot: '^src/protocol/' },
    },
    { name: 'webview-without-vscode', severity: 'error', comment: 'Webviews run in a browser frame.', from: { path: '^webview/' }, to: { path: '^vscode$' } },
    {
      name: 'protocol-is-a-leaf', severity: 'error', comment: 'The contract room depends on nothing else of ours (zod only).',
      from: { path: '^src/protocol/' }, to: { path: '^(src/(?!protocol/)|webview/)' },
    },
    { name: 'src-not-tests', severity: 'error', comment: 'Shipped code never imports tests.', from: { path: '^(src|webview)/' }, to: { path: '^test/' } },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsConfig: { fileName: 'tsconfig.json' },
    tsPreCompilationDeps: true,
    exclude: { path: '(^dist/|\\.tmp\\.)' },
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default'], extensions: ['.ts', '.js', '.mjs', '.json'] },
  },
};
