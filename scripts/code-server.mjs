// A throw-away code-server (VS Code 1.100.3 server + web workbench) driven by playwright-core and Debian's
// chromium, as ../shared/docs/E2E-TESTING.md describes. Shared by the in-host integration tests and the UI tests.
import { spawn, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CHROMIUM_PATH, checkSystemPackages, ensureTool, loadPlaywright } from './tools.mjs';

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const fixtureWorkspace = join(repoRoot, 'test', 'fixtures', 'workspace');

// Generous on purpose: CI has 2 cores and code-server + chromium + the extension host compete for them.
export const STARTUP_TIMEOUT_MS = Number(process.env.PEFT_LAB_STARTUP_TIMEOUT_MS || 180_000);

const USER_SETTINGS = {
  'security.workspace.trust.enabled': false,
  'workbench.startupEditor': 'none',
  'workbench.tips.enabled': false,
  'workbench.enableExperiments': false,
  'telemetry.telemetryLevel': 'off',
  'extensions.autoCheckUpdates': false,
  'extensions.autoUpdate': false,
  'update.mode': 'none',
  'window.restoreWindows': 'none',
  'files.hotExit': 'off',
  'chat.disableAIFeatures': true,
  // The job's CPU use should not starve the UI on a 2-core machine.
  'peftLab.threads': 1,
};

/** Prepares a temporary root: code-server config, user settings, extensions dir and a copy of the fixture workspace. */
export function makeSandbox(label) {
  const root = mkdtempSync(join(tmpdir(), `peft-lab-${label}-`));
  const sandbox = {
    root,
    config: join(root, 'config.yaml'),
    userData: join(root, 'user-data'),
    extensions: join(root, 'extensions'),
    tmp: join(root, 'tmp'),
    workspace: join(root, 'workspace'),
  };
  mkdirSync(join(sandbox.userData, 'User'), { recursive: true });
  mkdirSync(sandbox.extensions, { recursive: true });
  mkdirSync(sandbox.tmp, { recursive: true });
  writeFileSync(sandbox.config, 'bind-addr: 127.0.0.1:0\nauth: none\ncert: false\n');
  writeFileSync(join(sandbox.userData, 'User', 'settings.json'), JSON.stringify(USER_SETTINGS, null, 2));
  cpSync(fixtureWorkspace, sandbox.workspace, { recursive: true });
  return sandbox;
}

export function removeSandbox(sandbox) {
  if (process.env.PEFT_LAB_KEEP_SANDBOX) {
    console.log(`[code-server] kept sandbox ${sandbox.root}`);
    return;
  }
  rmSync(sandbox.root, { recursive: true, force: true });
}

function codeServerArgs(sandbox) {
  return ['--config', sandbox.config, '--user-data-dir', sandbox.userData, '--extensions-dir', sandbox.extensions];
}

function codeServerEnv(sandbox, extra = {}) {
  return {
    ...process.env,
    EXTENSIONS_GALLERY: '{}',
    TMPDIR: sandbox.tmp,
    ORT_DISABLE_TELEMETRY: '1',
    ONNXRUNTIME_NODE_INSTALL: 'skip',
    ...extra,
  };
}

/** Installs a built VSIX into the sandbox's extensions dir through code-server's own CLI. */
export async function installVsix(sandbox, vsixPath) {
  const { bin } = await ensureTool('code-server');
  const result = spawnSync(process.execPath, [bin, ...codeServerArgs(sandbox), '--install-extension', vsixPath], {
    env: codeServerEnv(sandbox),
    encoding: 'utf8',
    timeout: 120_000,
  });
  if (result.status !== 0) {
    throw new Error(`code-server --install-extension ${vsixPath} failed (${result.status}):\n${result.stdout}\n${result.stderr}`);
  }
  return result.stdout.trim();
}

/**
 * Starts code-server detached (its own process group, so teardown kills the extension host and the job
 * workers too) and resolves once it prints its port.
 */
export async function startCodeServer(sandbox, { env = {} } = {}) {
  const { bin } = await ensureTool('code-server');
  const args = [
    bin,
    ...codeServerArgs(sandbox),
    '--disable-telemetry',
    '--disable-update-check',
    '--disable-workspace-trust',
    '--disable-getting-started-override',
    '--ignore-last-opened',
    sandbox.workspace,
  ];
  const child = spawn(process.execPath, args, {
    env: codeServerEnv(sandbox, env),
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const url = await new Promise((resolveUrl, reject) => {
    const timer = setTimeout(() => reject(new Error(`code-server did not start within 60 s:\n${output}`)), 60_000);
    const onData = (chunk) => {
      output += chunk.toString();
      const match = /HTTP server listening on (http:\/\/127\.0\.0\.1:\d+)\//.exec(output);
      if (match) {
        clearTimeout(timer);
        resolveUrl(match[1]);
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`code-server exited with ${code} before listening:\n${output}`));
    });
  });
  const stop = () => {
    try {
      process.kill(-child.pid, 'SIGTERM');
    } catch {
      // already gone
    }
    return new Promise((done) => {
      if (child.exitCode !== null || child.signalCode !== null) return done();
      const force = setTimeout(() => {
        try {
          process.kill(-child.pid, 'SIGKILL');
        } catch {
          // already gone
        }
        done();
      }, 5000);
      child.once('exit', () => {
        clearTimeout(force);
        done();
      });
    });
  };
  return { url, child, stop, output: () => output };
}

/** Debian's chromium, headless, with the flags that keep it quiet and offline. */
export async function launchChromium() {
  checkSystemPackages(['browser']);
  const playwright = await loadPlaywright();
  return playwright.chromium.launch({
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--disable-dev-shm-usage',
    ],
  });
}

function findFiles(dir, predicate, found = []) {
  if (!existsSync(dir)) return found;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = join(dir, entry.name);
    if (entry.isDirectory()) findFiles(full, predicate, found);
    else if (predicate(full)) found.push(full);
  }
  return found;
}

/** Extension host logs (activation errors and output channels), newest first. */
export function extensionHostLogs(sandbox) {
  return findFiles(join(sandbox.userData, 'logs'), (f) => /exthost\d*[/\\]/.test(f) && f.endsWith('.log')).sort(
    (a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs,
  );
}

export function tail(file, lines = 60) {
  try {
    return readFileSync(file, 'utf8').split('\n').slice(-lines).join('\n');
  } catch (error) {
    return `(cannot read ${file}: ${error instanceof Error ? error.message : String(error)})`;
  }
}

/** Prints where the extension host logs are and the end of each: what a failed run needs to be diagnosed. */
export function printExtensionHostLogs(sandbox, out = console.error) {
  const logs = extensionHostLogs(sandbox);
  if (logs.length === 0) {
    out(`[code-server] no extension host log under ${join(sandbox.userData, 'logs')}`);
    return;
  }
  // The host's own log (activation errors) and PEFT Lab's output channel matter; other extensions' logs do not.
  const relevant = logs.filter((log) => /remoteexthost\.log$|exthost\.log$|PEFT Lab/.test(log));
  for (const log of relevant.slice(0, 4)) {
    out(`\n[code-server] extension host log ${log} (tail):\n${tail(log)}`);
  }
}

/** Waits for the workbench and then for PEFT Lab's activity-bar entry (contributions registered). */
export async function waitForPeftLab(page) {
  await page.waitForSelector('.monaco-workbench', { timeout: STARTUP_TIMEOUT_MS });
  await page.waitForSelector('.activitybar a.action-label[aria-label^="PEFT Lab"]', { timeout: STARTUP_TIMEOUT_MS });
}

export function workbenchUrl(url, folder, payload) {
  const query = [`folder=${encodeURIComponent(folder)}`];
  if (payload) query.push(`payload=${encodeURIComponent(JSON.stringify(payload))}`);
  return `${url}/?${query.join('&')}`;
}
