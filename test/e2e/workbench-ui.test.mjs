// Layer 3: PEFT Lab as a user sees it in VS Code (code-server 4.100.3 + Debian chromium, the VSIX installed).
// The harness (scripts/test-e2e.mjs) has already waited for the workbench and PEFT Lab's activity-bar entry.
/* global describe, it -- mocha's BDD globals */
import * as assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { screenshot, session } from './session.mjs';

const activityEntry = '.activitybar a.action-label[aria-label^="PEFT Lab"]';

/** F1, type the command's title, wait for its row, run it. */
async function runFromPalette(title) {
  const { page, timeout } = session;
  await page.keyboard.press('Escape');
  await page.keyboard.press('F1');
  const input = page.locator('.quick-input-widget input');
  await input.waitFor({ state: 'visible', timeout });
  await input.fill(`>${title}`);
  const row = page.locator('.quick-input-widget .monaco-list-row', { hasText: title }).first();
  await row.waitFor({ state: 'visible', timeout });
  await page.keyboard.press('Enter');
}

/** If the command asks for a run with a quick pick, picks the row naming runId. */
async function pickIfAsked(runId) {
  const { page } = session;
  const row = page.locator('.quick-input-widget .monaco-list-row', { hasText: runId }).first();
  try {
    await row.waitFor({ state: 'visible', timeout: 5000 });
  } catch {
    return false; // no quick pick: the command found the run by itself
  }
  await row.click();
  return true;
}

/** Brings a file to the front: its tab when it is open, else Quick Open (Ctrl+P). */
async function openFile(name) {
  const { page, timeout } = session;
  const tab = page.locator('.tabs-container .tab', { hasText: name }).first();
  if (await tab.isVisible()) {
    // A click, not a key: keys pressed while a webview has focus go to its iframe.
    await tab.click();
  } else {
    await page.keyboard.press('Escape');
    await page.keyboard.press('Control+P');
    const input = page.locator('.quick-input-widget input');
    await input.waitFor({ state: 'visible', timeout });
    await input.fill(name);
    await page.locator('.quick-input-widget .monaco-list-row', { hasText: name }).first().waitFor({ state: 'visible', timeout });
    await page.keyboard.press('Enter');
  }
  await page.locator('.tabs-container .tab.active', { hasText: name }).waitFor({ state: 'visible', timeout });
}

function webviewFrame() {
  return session.page.frameLocator('iframe.webview.ready').last().frameLocator('#active-frame');
}

describe('PEFT Lab in VS Code (UI)', function () {
  this.timeout(300_000);

  it('shows the PEFT Lab entry in the activity bar', async () => {
    const entry = session.page.locator(activityEntry);
    await entry.waitFor({ state: 'visible', timeout: session.timeout });
    assert.match((await entry.getAttribute('aria-label')) ?? '', /^PEFT Lab/);
    await screenshot('workbench');
  });

  it('lists the fixture configs in the Experiments tree', async () => {
    const { page, timeout } = session;
    // Clicking the entry toggles the side bar: click only when PEFT Lab is not the open container already.
    const active = page.locator('.activitybar .action-item.checked a.action-label[aria-label^="PEFT Lab"]');
    if (!(await active.isVisible())) await page.locator(activityEntry).click();
    await active.waitFor({ state: 'visible', timeout });
    // With a single view in the container, VS Code shows its name in the side bar's title, not a pane header.
    const sidebar = page.locator('.part.sidebar');
    await sidebar.locator('.composite.title', { hasText: /Experiments/i }).waitFor({ state: 'visible', timeout });
    for (const label of ['device-check', 'second']) {
      await sidebar.locator('.monaco-list-row', { hasText: label }).first().waitFor({ state: 'visible', timeout });
    }
    assert.equal(await sidebar.locator('.monaco-list-row').count(), 2, 'two configs, collapsed');
    await screenshot('experiments-tree');
  });

  it('shows the "Run Experiment" CodeLens on a .peft.json', async () => {
    const { page, timeout } = session;
    await openFile('device-check.peft.json');
    await page.locator('.codelens-decoration', { hasText: 'Run Experiment' }).first().waitFor({ state: 'visible', timeout });
    const lensText = await page.locator('.codelens-decoration').first().innerText();
    assert.match(lensText, /Run Experiment/);
    assert.match(lensText, /Runs: 1/);
    await screenshot('codelens');
  });

  it('opens the layer-importance panel from the palette, with the fixture run\'s data inside the webview', async () => {
    const { timeout } = session;
    await runFromPalette('PEFT Lab: Show Layer Importance');
    await pickIfAsked('20260101-000000-demo');
    const frame = webviewFrame();
    await frame.locator('h1').waitFor({ state: 'visible', timeout });
    assert.match(await frame.locator('h1').innerText(), /layer importance/i);
    const runId = frame.locator('[data-testid="run-id"]');
    await runId.waitFor({ state: 'visible', timeout });
    assert.match(await runId.innerText(), /20260101-000000-demo/);
    const heatmap = frame.locator('[data-testid="importance-heatmap"]');
    await heatmap.waitFor({ state: 'visible', timeout });
    // ECharts draws into a canvas (or SVG): the chart really rendered, not only its container.
    await heatmap.locator('canvas, svg').first().waitFor({ state: 'attached', timeout });
    await screenshot('layer-importance');
  });

  it('runs the experiment from the palette to a completed run folder', async () => {
    const { page, timeout, workspace } = session;
    const runsDir = join(workspace, 'experiments', '.peft-lab', 'runs');
    const before = new Set(readdirSync(runsDir));
    await openFile('device-check.peft.json');
    await runFromPalette('PEFT Lab: Run Experiment');
    const deadline = Date.now() + timeout;
    let finished;
    while (!finished && Date.now() < deadline) {
      for (const name of readdirSync(runsDir).filter((n) => !before.has(n))) {
        const summaryPath = join(runsDir, name, 'summary.json');
        if (!existsSync(summaryPath)) continue;
        const summary = JSON.parse(readFileSync(summaryPath, 'utf8'));
        if (summary.status !== 'running') finished = { name, summary };
      }
      if (!finished) await new Promise((resolve) => setTimeout(resolve, 500));
    }
    assert.ok(finished, `no finished run appeared in ${runsDir} within ${timeout / 1000} s`);
    assert.equal(finished.summary.status, 'completed', JSON.stringify(finished.summary));
    assert.equal(finished.summary.device?.used, 'cpu');
    // The CodeLens and the tree follow the finished job: two runs, and no job shown as running any more.
    await page.locator('.codelens-decoration', { hasText: 'Runs: 2' }).first().waitFor({ state: 'visible', timeout });
    await page.locator('.codelens-decoration', { hasText: 'Cancel Job' }).waitFor({ state: 'detached', timeout: 30_000 });
    await page.locator('.part.sidebar .monaco-list-row', { hasText: 'running' }).waitFor({ state: 'detached', timeout: 30_000 });
    await screenshot('after-run');
  });
});
