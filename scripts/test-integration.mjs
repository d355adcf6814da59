// Layer 2: the mocha suite in test/integration/suite/*.test.ts, run INSIDE a real extension host with the
// repository as the extension under development and a temporary copy of test/fixtures/workspace open.
// - default: code-server 4.100.3 (VS Code 1.100.3) from the tools cache, driven by Debian's chromium
//   (../shared/docs/E2E-TESTING.md, "In-host integration tests");
// - PEFT_LAB_VSCODE=electron: @vscode/test-electron's runTests (machines that can download VS Code).
// Exits non-zero when a test fails, when no test ran, or when the host could not start.
import { build } from 'esbuild';
import { spawnSync } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join, relative } from 'node:path';
import {
  STARTUP_TIMEOUT_MS,
  launchChromium,
  makeSandbox,
  printExtensionHostLogs,
  removeSandbox,
  repoRoot,
  startCodeServer,
  workbenchUrl,
} from './code-server.mjs';
import { checkSystemPackages, ensureTool } from './tools.mjs';

const suiteDir = join(repoRoot, 'test', 'integration', 'suite');
const outputDir = join(repoRoot, '.test-output', 'integration');
const bundlePath = join(outputDir, 'suite.js');
const RUN_TIMEOUT_MS = Number(process.env.PEFT_LAB_INTEGRATION_TIMEOUT_MS || 600_000);

function ensureExtensionBuilt() {
  if (existsSync(join(repoRoot, 'dist', 'extension.js'))) return;
  console.log('[integration] dist/extension.js missing: building');
  const result = spawnSync(process.execPath, [join(repoRoot, 'scripts', 'build.mjs')], { cwd: repoRoot, stdio: 'inherit' });
  if (result.status !== 0) throw new Error('npm run build failed');
}

/** One CJS bundle exporting run(); mocha and vscode stay external (mocha resolves from the repo's node_modules). */
async function bundleSuite() {
  const files = readdirSync(suiteDir).filter((f) => f.endsWith('.test.ts')).sort();
  if (files.length === 0) throw new Error(`no integration tests in ${suiteDir}`);
  const requires = files.map((f) => `  require(${JSON.stringify(`./${relative(repoRoot, join(suiteDir, f)).replaceAll('\\', '/')}`)});`);
  const contents = [
    `import { runMocha } from './test/integration/runner';`,
    `export function run() {`,
    `  return runMocha(() => {`,
    ...requires.map((line) => `  ${line}`),
    `  });`,
    `}`,
  ].join('\n');
  await build({
    stdin: { contents, resolveDir: repoRoot, sourcefile: 'integration-entry.ts', loader: 'ts' },
    bundle: true,
    outfile: bundlePath,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    sourcemap: 'inline',
    external: ['vscode', 'mocha'],
    logLevel: 'warning',
  });
  return files;
}

function readResults() {
  const file = join(outputDir, 'integration-results.json');
  if (!existsSync(file)) return undefined;
  return JSON.parse(readFileSync(file, 'utf8'));
}

async function runInCodeServer() {
  const sandbox = makeSandbox('integration');
  let server;
  let browser;
  try {
    server = await startCodeServer(sandbox, { env: { PEFT_LAB_TEST_RESULTS_DIR: outputDir } });
    console.log(`[integration] code-server at ${server.url}, workspace ${sandbox.workspace}`);
    browser = await launchChromium();
    const page = await browser.newPage();
    let resolveExit;
    const exited = new Promise((resolve) => {
      resolveExit = resolve;
    });
    // The web workbench calls window.codeAutomationExit(code) when the extension tests finish.
    await page.exposeFunction('codeAutomationExit', (code) => resolveExit(Number(code)));
    // Everything the workbench page logs (the extension host's console is forwarded there), for diagnosis.
    const consoleLog = createWriteStream(join(outputDir, 'page-console.log'));
    page.on('console', (message) => consoleLog.write(`${message.type()}: ${message.text()}\n`));
    const remote = (path) => `vscode-remote://remote${path}`;
    const url = workbenchUrl(server.url, sandbox.workspace, [
      ['extensionDevelopmentPath', remote(repoRoot)],
      ['extensionTestsPath', remote(bundlePath)],
    ]);
    await page.goto(url, { timeout: STARTUP_TIMEOUT_MS });
    const timeout = new Promise((resolve) => setTimeout(() => resolve('timeout'), RUN_TIMEOUT_MS));
    const code = await Promise.race([exited, timeout]);
    if (code === 'timeout') {
      await page.screenshot({ path: join(outputDir, 'timeout.png') }).catch(() => undefined);
      throw new Error(`the extension tests did not finish within ${RUN_TIMEOUT_MS / 1000} s (screenshot ${join(outputDir, 'timeout.png')})`);
    }
    return { code, sandbox };
  } catch (error) {
    printExtensionHostLogs(sandbox);
    throw error;
  } finally {
    await browser?.close().catch(() => undefined);
    await server?.stop();
  }
}

async function runInElectron() {
  const { runTests } = await import('@vscode/test-electron');
  const sandbox = makeSandbox('integration-electron');
  const code = await runTests({
    extensionDevelopmentPath: repoRoot,
    extensionTestsPath: bundlePath,
    extensionTestsEnv: { PEFT_LAB_TEST_RESULTS_DIR: outputDir, ORT_DISABLE_TELEMETRY: '1' },
    launchArgs: [sandbox.workspace, '--disable-extensions', '--disable-workspace-trust', '--user-data-dir', sandbox.userData],
  }).catch((error) => {
    console.error(error);
    return 1;
  });
  return { code, sandbox };
}

async function main() {
  const started = performance.now();
  const useElectron = process.env.PEFT_LAB_VSCODE === 'electron';
  if (!useElectron) {
    checkSystemPackages(['code-server', 'browser']);
    await ensureTool('code-server');
    await ensureTool('playwright-core');
  }
  ensureExtensionBuilt();
  rmSync(outputDir, { recursive: true, force: true });
  mkdirSync(outputDir, { recursive: true });
  const files = await bundleSuite();
  console.log(`[integration] ${files.length} suite files bundled into ${relative(repoRoot, bundlePath)}; host: ${useElectron ? 'VS Code (test-electron)' : 'code-server'}`);
  const { code, sandbox } = useElectron ? await runInElectron() : await runInCodeServer();
  const results = readResults();
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  if (results) {
    for (const test of results.tests ?? []) console.log(`  ${test.state === 'passed' ? 'ok  ' : 'FAIL'} ${test.title} (${test.durationMs} ms)`);
    for (const failure of results.failures) console.error(`\n[integration] FAILED ${failure.title}\n${failure.message}`);
    console.log(`[integration] ${results.passes} passed, ${results.failures.length} failed, host exit code ${code}, ${seconds} s`);
  } else {
    console.error(`[integration] no results file: the suite did not run to the end (host exit code ${code}, ${seconds} s)`);
  }
  const ok = code === 0 && results !== undefined && results.failures.length === 0 && results.passes > 0;
  if (!ok) printExtensionHostLogs(sandbox);
  removeSandbox(sandbox);
  process.exit(ok ? 0 : 1);
}

main().catch((error) => {
  console.error(`[integration] ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
  process.exit(1);
});
