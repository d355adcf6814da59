// The Experiments tree, through the provider the extension registered: configs of the fixture workspace, and
// the hand-made run under the config in the same folder.
import * as assert from 'node:assert/strict';
import * as vscode from 'vscode';
import { activatedApi, labelText, waitFor, workspaceRoot, type PeftLabTestApi } from '../testApi';

async function rootItems(api: PeftLabTestApi): Promise<{ element: unknown; item: vscode.TreeItem }[]> {
  const roots = (await api.experiments.getChildren(undefined)) ?? [];
  return Promise.all(roots.map(async (element) => ({ element, item: await api.experiments.getTreeItem(element) })));
}

async function childLabels(api: PeftLabTestApi, element: unknown): Promise<string[]> {
  const children = (await api.experiments.getChildren(element)) ?? [];
  const items = await Promise.all(children.map((child) => api.experiments.getTreeItem(child)));
  return items.map(labelText);
}

describe('Experiments tree', () => {
  let api: PeftLabTestApi;
  before(async () => {
    api = await activatedApi();
  });

  it('lists the fixture configs', async () => {
    const labels = await waitFor('both fixture configs in the tree', async () => {
      const found = (await rootItems(api)).map(({ item }) => labelText(item)).sort();
      return found.length === 2 ? found : undefined;
    });
    assert.equal(labels.length, 2);
    assert.ok(labels.some((l) => l.includes('device-check')), `labels: ${labels.join(', ')}`);
    assert.ok(labels.some((l) => l.includes('second')), `labels: ${labels.join(', ')}`);
  });

  it('lists the checked-in run under the config of its folder, and none under the other', async () => {
    const roots = await rootItems(api);
    const deviceCheck = roots.find(({ item }) => labelText(item).includes('device-check'));
    const second = roots.find(({ item }) => labelText(item).includes('second'));
    assert.ok(deviceCheck && second);
    assert.notEqual(deviceCheck.item.collapsibleState, vscode.TreeItemCollapsibleState.None, 'a config with runs can expand');
    const runs = await childLabels(api, deviceCheck.element);
    assert.ok(runs.some((l) => l.includes('20260101-000000-demo')), `runs: ${runs.join(', ')}`);
    assert.deepEqual(await childLabels(api, second.element), []);
  });

  it('picks up a new config after a refresh', async () => {
    const uri = vscode.Uri.joinPath(workspaceRoot(), 'experiments', 'third.peft.json');
    const config = { name: 'third', task: 'device-check', deviceCheck: { size: 8, repeats: 1 }, runtime: { device: 'cpu' } };
    await vscode.workspace.fs.writeFile(uri, Buffer.from(JSON.stringify(config, null, 2)));
    try {
      await vscode.commands.executeCommand('peftLab.refreshExperiments');
      await waitFor('third.peft.json in the tree', async () => {
        const labels = (await rootItems(api)).map(({ item }) => labelText(item));
        return labels.some((l) => l.includes('third')) ? labels : undefined;
      });
    } finally {
      await vscode.workspace.fs.delete(uri);
      await vscode.commands.executeCommand('peftLab.refreshExperiments');
    }
    await waitFor('third.peft.json gone from the tree', async () => {
      const labels = (await rootItems(api)).map(({ item }) => labelText(item));
      return labels.some((l) => l.includes('third')) ? undefined : labels;
    });
  });

  it('New Experiment writes the chosen template (IST) and the tree lists it', async () => {
    const folder = vscode.Uri.joinPath(workspaceRoot(), 'experiments');
    const uri: unknown = await vscode.commands.executeCommand('peftLab.newExperiment', 'ist-sparse', folder, 'ist');
    assert.ok(uri instanceof vscode.Uri, `newExperiment returned ${String(uri)}`);
    try {
      const config: unknown = JSON.parse(new TextDecoder().decode(await vscode.workspace.fs.readFile(uri)));
      assert.equal(Reflect.get(Object(config), 'task'), 'tune');
      assert.equal(Reflect.get(Object(config), 'layerSelection'), 'ist');
      await waitFor('ist-sparse.peft.json in the tree', async () => {
        const labels = (await rootItems(api)).map(({ item }) => labelText(item));
        return labels.some((l) => l.includes('ist-sparse')) ? labels : undefined;
      });
    } finally {
      await vscode.commands.executeCommand('workbench.action.closeActiveEditor');
      await vscode.workspace.fs.delete(uri);
      await vscode.commands.executeCommand('peftLab.refreshExperiments');
    }
    await waitFor('ist-sparse.peft.json gone from the tree', async () => {
      const labels = (await rootItems(api)).map(({ item }) => labelText(item));
      return labels.some((l) => l.includes('ist-sparse')) ? undefined : labels;
    });
  });
});
