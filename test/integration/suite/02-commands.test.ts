// Every command of the contract is registered by the running extension (not only declared in package.json).
import * as assert from 'node:assert/strict';
import * as vscode from 'vscode';
import { activatedApi, peftLabExtension } from '../testApi';

const contractCommands = [
  'peftLab.newExperiment',
  'peftLab.runExperiment',
  'peftLab.cancelJob',
  'peftLab.openRun',
  'peftLab.showLayerImportance',
  'peftLab.showRankChoices',
  'peftLab.showGradientDiagnostics',
  'peftLab.selectDevice',
  'peftLab.refreshExperiments',
];

describe('commands', () => {
  before(async () => {
    await activatedApi();
  });

  it('registers every contract command', async () => {
    const registered = new Set(await vscode.commands.getCommands(true));
    const missing = contractCommands.filter((id) => !registered.has(id));
    assert.deepEqual(missing, [], `commands not registered: ${missing.join(', ')}`);
  });

  it('declares every contract command in package.json under the "PEFT Lab" category', () => {
    const packageJson: unknown = peftLabExtension().packageJSON;
    const contributes: unknown = Reflect.get(packageJson ?? {}, 'contributes');
    const commands: unknown = Reflect.get(contributes ?? {}, 'commands');
    assert.ok(Array.isArray(commands), 'contributes.commands is an array');
    for (const id of contractCommands) {
      const entry: unknown = commands.find((c: unknown) => typeof c === 'object' && c !== null && Reflect.get(c, 'command') === id);
      assert.ok(entry, `${id} is contributed`);
      assert.equal(Reflect.get(entry ?? {}, 'category'), 'PEFT Lab', `${id} category`);
    }
  });
});
