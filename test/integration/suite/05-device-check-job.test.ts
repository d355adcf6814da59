// Runs the device-check job the way a user does (the "Run Experiment" CodeLens's own command), through the job
// manager in the extension host and a worker process, to completion; then checks the run folder on disk.
import * as assert from 'node:assert/strict';
import * as vscode from 'vscode';
import { activatedApi, labelText, waitFor, workspaceRoot } from '../testApi';
import { onnxRuntimeTracesInThisProcess } from '../onnxRuntimeTraces';

async function readJson(uri: vscode.Uri): Promise<unknown> {
  return JSON.parse(Buffer.from(await vscode.workspace.fs.readFile(uri)).toString('utf8'));
}

describe('device-check job', () => {
  it('runs from the CodeLens command to a completed run folder', async function () {
    this.timeout(240_000);
    const api = await activatedApi();
    const configUri = vscode.Uri.joinPath(workspaceRoot(), 'experiments', 'other', 'second.peft.json');
    const runsUri = vscode.Uri.joinPath(workspaceRoot(), 'experiments', 'other', '.peft-lab', 'runs');
    await vscode.workspace.openTextDocument(configUri);
    const lenses = (await vscode.commands.executeCommand<vscode.CodeLens[]>('vscode.executeCodeLensProvider', configUri, 100)) ?? [];
    const run = lenses.find((lens) => lens.command?.title === 'Run Experiment')?.command;
    assert.ok(run, 'a "Run Experiment" lens with a command');

    void vscode.commands.executeCommand(run.command, ...(run.arguments ?? []));

    // A failed or cancelled run ends the wait at once (as a value: waitFor retries on thrown errors).
    const outcome = await waitFor(
      'a finished run under experiments/other/.peft-lab/runs',
      async () => {
        const entries = await vscode.workspace.fs.readDirectory(runsUri);
        for (const [name, type] of entries) {
          if (type !== vscode.FileType.Directory) continue;
          const dir = vscode.Uri.joinPath(runsUri, name);
          const summary = await readJson(vscode.Uri.joinPath(dir, 'summary.json'));
          const status: unknown = Reflect.get(Object(summary), 'status');
          if (status === 'completed' || status === 'failed' || status === 'cancelled') return { dir, status, summary };
        }
        return undefined;
      },
      180_000,
    );
    assert.equal(outcome.status, 'completed', `run ended ${String(outcome.status)}: ${JSON.stringify(outcome.summary)}`);
    const runDir = outcome.dir;
    assert.match(runDir.path, /\/\d{8}-\d{6}-second$/, 'run id is YYYYMMDD-HHMMSS-<name-slug>');

    const summary = await readJson(vscode.Uri.joinPath(runDir, 'summary.json'));
    assert.equal(Reflect.get(Object(summary), 'task'), 'device-check');
    assert.equal(Reflect.get(Object(Reflect.get(Object(summary), 'device')), 'used'), 'cpu');

    const metrics = Buffer.from(await vscode.workspace.fs.readFile(vscode.Uri.joinPath(runDir, 'metrics.jsonl'))).toString('utf8');
    const records: unknown[] = metrics.split('\n').filter((line) => line.trim() !== '').map((line) => JSON.parse(line));
    const check = records.find((r) => Reflect.get(Object(r), 'type') === 'device-check');
    assert.ok(check, `a device-check record in metrics.jsonl: ${metrics}`);
    assert.equal(Reflect.get(Object(check), 'size'), 64);
    const gflops: unknown = Reflect.get(Object(check), 'gflops');
    assert.ok(typeof gflops === 'number' && gflops > 0, `gflops ${String(gflops)}`);
    const maxAbsError: unknown = Reflect.get(Object(check), 'maxAbsError');
    assert.ok(typeof maxAbsError === 'number' && maxAbsError < 1e-3, `maxAbsError ${String(maxAbsError)}`);

    // The tree shows the new run under its config.
    const runName = runDir.path.split('/').pop() ?? '';
    await vscode.commands.executeCommand('peftLab.refreshExperiments');
    await waitFor(`${runName} in the tree`, async () => {
      const roots = (await api.experiments.getChildren(undefined)) ?? [];
      for (const root of roots) {
        if (!labelText(await api.experiments.getTreeItem(root)).includes('second')) continue;
        const children = (await api.experiments.getChildren(root)) ?? [];
        const labels = await Promise.all(children.map(async (c) => labelText(await api.experiments.getTreeItem(c))));
        if (labels.some((l) => l.includes(runName))) return labels;
      }
      return undefined;
    });

    // The job ran in its own process: the extension host still has not loaded ONNX Runtime.
    assert.deepEqual(onnxRuntimeTracesInThisProcess(), []);
  });
});
