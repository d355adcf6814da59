// Layer 3: UI end-to-end tests (test/e2e/*.test.mjs, mocha) against code-server 4.100.3 with the packaged VSIX
// installed, driven by playwright-core and Debian's chromium (../shared/docs/E2E-TESTING.md). The workspace is a
// temporary copy of test/fixtures/workspace plus what test/e2e/workspace.mjs adds (tiny IST and offsite configs, an
// offsite run folder made by the CLI). Screenshots go to .test-output/e2e/ (printed at the start).
// Env: PEFT_LAB_E2E_EXTENSION=unpacked copies the repository's built extension instead of packaging a VSIX.
import Mocha from 'mocha';
import { cpSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { pathToFileURL } from 'node:url';
import {
  STARTUP_TIMEOUT_MS,
  installVsix,
  launchChromium,
  makeSandbox,
  printExtensionHostLogs,
  removeSandbox,
  repoRoot,
  startCodeServer,
  waitForPeftLab,
  workbenchUrl,
} from './code-server.mjs';
import { packageVsix } from './package.mjs';
import { checkSystemPackages, ensureTool } from './tools.mjs';

const outputDir = join(repoRoot, '.test-output', 'e2e');
const testDir = join(repoRoot, 'test', 'e2e');

function copyUnpackedExtension(sandbox) {
  const manifest = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8'));
  const target = join(sandbox.extensions, `${manifest.publisher}.${manifest.name}-${manifest.version}`);
  for (const part of ['package.json', 'dist', 'media', 'node_modules/onnxruntime-node', 'node_modules/onnxruntime-common']) {
    cpSync(join(repoRoot, part), join(target, part), { recursive: true });
  }
}

async function runMocha() {
  const mocha = new Mocha({ ui: 'bdd', reporter: 'spec', timeout: 300_000, color: false });
  const files = readdirSync(testDir).filter((f) => f.endsWith('.test.mjs')).sort();
  if (files.length === 0) throw new Error(`no UI tests in ${testDir}`);
  for (const file of files) mocha.addFile(join(testDir, file));
  await mocha.loadFilesAsync();
  const stats = await new Promise((resolve) => {
    const runner = mocha.run(() => resolve(runner.stats));
  });
  return stats;
}

async function main() {
  const started = performance.now();
  checkSystemPackages(['code-server', 'browser']);
  await ensureTool('code-server');
  await ensureTool('playwright-core');
  rmSync(outputDir, { recursive: true, force: true });
  mkdirSync(outputDir, { recursive: true });
  console.log(`[e2e] screenshots: ${relative(process.cwd(), outputDir) || outputDir}`);

  const sandbox = makeSandbox('e2e');
  // Start in VS Code's default dark theme (the web workbench would follow the headless browser's light scheme):
  // the UI tests switch to a light theme and back.
  const settingsFile = join(sandbox.userData, 'User', 'settings.json');
  writeFileSync(settingsFile, JSON.stringify({ ...JSON.parse(readFileSync(settingsFile, 'utf8')), 'workbench.colorTheme': 'Default Dark Modern' }, null, 2));
  if (process.env.PEFT_LAB_E2E_EXTENSION === 'unpacked') {
    copyUnpackedExtension(sandbox);
    console.log('[e2e] extension: copied unpacked from the repository');
  } else {
    const vsix = await packageVsix({ outDir: outputDir });
    console.log(`[e2e] packaged ${relative(repoRoot, vsix.vsixPath)} (${(vsix.bytes / 1024 / 1024).toFixed(1)} MiB) in ${vsix.seconds.toFixed(1)} s`);
    console.log(`[e2e] ${await installVsix(sandbox, vsix.vsixPath)}`);
  }
  // After packaging: its production build is the dist/cli.js that makes the offsite run folder.
  const { prepareWorkspace } = await import(pathToFileURL(join(testDir, 'workspace.mjs')).href);
  let prepared;
  try {
    prepared = prepareWorkspace(sandbox.workspace, repoRoot);
  } catch (error) {
    removeSandbox(sandbox);
    throw error;
  }
  console.log(`[e2e] workspace: tiny IST and offsite configs; offsite run ${relative(sandbox.workspace, prepared.offsiteRunDir)} made by the CLI in ${prepared.seconds.toFixed(1)} s`);

  let server;
  let browser;
  let failures = 1;
  const { session } = await import(pathToFileURL(join(testDir, 'session.mjs')).href);
  try {
    server = await startCodeServer(sandbox);
    browser = await launchChromium();
    const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    page.on('pageerror', (error) => console.error(`[e2e] page error: ${error.message}`));
    const readyStarted = performance.now();
    await page.goto(workbenchUrl(server.url, sandbox.workspace), { timeout: STARTUP_TIMEOUT_MS });
    await waitForPeftLab(page);
    console.log(`[e2e] workbench + PEFT Lab entry ready in ${((performance.now() - readyStarted) / 1000).toFixed(1)} s`);
    Object.assign(session, { page, workspace: sandbox.workspace, userData: sandbox.userData, prepared, screenshots: outputDir, timeout: 120_000 });
    const stats = await runMocha();
    failures = stats.failures + (stats.passes === 0 ? 1 : 0);
    console.log(`[e2e] ${stats.passes} passed, ${stats.failures} failed in ${((performance.now() - started) / 1000).toFixed(1)} s`);
    if (failures > 0) await page.screenshot({ path: join(outputDir, 'failure.png') }).catch(() => undefined);
  } catch (error) {
    console.error(`[e2e] ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    failures = Math.max(failures, 1);
  } finally {
    if (failures > 0) printExtensionHostLogs(sandbox);
    await browser?.close().catch(() => undefined);
    await server?.stop();
    removeSandbox(sandbox);
  }
  console.log(`[e2e] screenshots in ${outputDir}`);
  process.exit(failures > 0 ? 1 : 0);
}

main().catch((error) => {
  console.error(`[e2e] ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
  process.exit(1);
});
