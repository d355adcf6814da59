// Cancel from VS Code: a long device-check job started with the Run Experiment command is cancelled with the
// Cancel Job command; the worker must be gone and summary.json must say "cancelled" within 2 s (issue 2).
import * as assert from 'node:assert/strict';
import * as vscode from 'vscode';
import { activatedApi, waitFor, workspaceRoot } from '../testApi';

async function readStatus(runDir: string): Promise<unknown> {
  try {
    const text = Buffer.from(await vscode.workspace.fs.readFile(vscode.Uri.file(`${runDir}/summary.json`))).toString('utf8');
    return Reflect.get(Object(JSON.parse(text)), 'status');
  } catch {
    return undefined;
  }
}

describe('cancelling a job', () => {
  it('Cancel Job stops a running job within 2 s and the run records cancelled', async function () {
    this.timeout(180_000);
    const api = await activatedApi();
    const configUri = vscode.Uri.joinPath(workspaceRoot(), 'experiments', 'cancel', 'long.peft.json');
    // 100,000 512x512 MatMuls: far longer than the test, so only a cancel can end it.
    const config = { name: 'long', task: 'device-check', deviceCheck: { size: 512, repeats: 100_000 }, runtime: { device: 'cpu', threads: 1 } };
    await vscode.workspace.fs.writeFile(configUri, Buffer.from(JSON.stringify(config, null, 2)));

    const runDir: unknown = await vscode.commands.executeCommand('peftLab.runExperiment', configUri);
    assert.ok(typeof runDir === 'string' && runDir.length > 0, `runExperiment returned the run folder, got ${String(runDir)}`);
    const isRunning = (): boolean => Boolean(Reflect.apply(Reflect.get(api.jobs, 'isRunning'), api.jobs, [runDir]));
    // Wait until the worker is really computing (summary says running), not merely forked.
    await waitFor('the job to be running', async () => ((await readStatus(runDir)) === 'running' && isRunning() ? true : undefined), 120_000);
    await new Promise((resolve) => setTimeout(resolve, 500));

    const t0 = Date.now();
    const cancelled: unknown = await vscode.commands.executeCommand('peftLab.cancelJob', runDir);
    const elapsed = Date.now() - t0;
    assert.equal(cancelled, runDir, 'Cancel Job names the run it cancelled');
    assert.ok(elapsed < 2000, `cancel took ${elapsed} ms (limit 2000 ms)`);
    assert.equal(isRunning(), false, 'the job manager still lists the job as running');
    assert.equal(await readStatus(runDir), 'cancelled');
  });
});
