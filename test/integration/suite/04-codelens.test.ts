// CodeLenses as VS Code itself collects them (vscode.executeCodeLensProvider goes through the registered
// selector), so this checks both the lenses and that the provider is registered for *.peft.json only.
import * as assert from 'node:assert/strict';
import * as vscode from 'vscode';
import { activatedApi, workspaceRoot } from '../testApi';

async function lensTitles(relativePath: string): Promise<string[]> {
  const uri = vscode.Uri.joinPath(workspaceRoot(), ...relativePath.split('/'));
  await vscode.workspace.openTextDocument(uri);
  const lenses = (await vscode.commands.executeCommand<vscode.CodeLens[]>('vscode.executeCodeLensProvider', uri, 100)) ?? [];
  return lenses.map((lens) => lens.command?.title ?? '');
}

describe('CodeLens', () => {
  before(async () => {
    await activatedApi();
  });

  it('offers "Run Experiment" and the run count on a .peft.json', async () => {
    const titles = await lensTitles('experiments/device-check.peft.json');
    assert.ok(titles.includes('Run Experiment'), `lenses: ${JSON.stringify(titles)}`);
    assert.ok(titles.includes('Runs: 1'), `lenses: ${JSON.stringify(titles)}`);
  });

  it('counts no runs for a config without any', async () => {
    const titles = await lensTitles('experiments/other/second.peft.json');
    assert.ok(titles.includes('Run Experiment'), `lenses: ${JSON.stringify(titles)}`);
    assert.ok(titles.includes('Runs: 0'), `lenses: ${JSON.stringify(titles)}`);
  });

  it('offers nothing on another JSON file', async () => {
    const titles = await lensTitles('experiments/plain.json');
    const ours = titles.filter((t) => t === 'Run Experiment' || t.startsWith('Runs:'));
    assert.deepEqual(ours, []);
  });

  it('the provider itself returns the lenses for a config document', async () => {
    const api = await activatedApi();
    const document = await vscode.workspace.openTextDocument(vscode.Uri.joinPath(workspaceRoot(), 'experiments', 'device-check.peft.json'));
    const source = new vscode.CancellationTokenSource();
    const lenses = (await api.codeLenses.provideCodeLenses(document, source.token)) ?? [];
    const resolved = await Promise.all(
      lenses.map(async (lens) => (lens.command ? lens : ((await api.codeLenses.resolveCodeLens?.(lens, source.token)) ?? lens))),
    );
    assert.ok(resolved.some((lens) => lens.command?.title === 'Run Experiment'));
  });
});
