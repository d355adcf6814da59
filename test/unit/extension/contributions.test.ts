// package.json's contributions agree with the identifiers the code registers (CONTRACTS: VS Code contributions).
import { strict as assert } from 'node:assert';
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { z } from 'zod';
import { CommandId, CommandTitle, ContextKey, ExperimentsViewId, SettingKey, ViewContainerId } from '../../../src/extension/ids';
import { panelViewTypes } from '../../../src/protocol';

const root = resolve(__dirname, '../../..');
const menuEntry = z.object({ command: z.string(), when: z.string().optional(), group: z.string().optional() });
const manifestSchema = z.object({
  main: z.string(),
  extensionKind: z.array(z.string()),
  activationEvents: z.array(z.string()),
  capabilities: z.object({ untrustedWorkspaces: z.object({ supported: z.union([z.boolean(), z.literal('limited')]), description: z.string().optional() }) }),
  contributes: z.object({
    viewsContainers: z.object({ activitybar: z.array(z.object({ id: z.string(), title: z.string(), icon: z.string() })) }),
    views: z.record(z.array(z.object({ id: z.string(), name: z.string() }))),
    viewsWelcome: z.array(z.object({ view: z.string(), contents: z.string() })),
    commands: z.array(z.object({ command: z.string(), title: z.string(), category: z.string() })),
    menus: z.record(z.array(menuEntry)),
    jsonValidation: z.array(z.object({ fileMatch: z.string(), url: z.string() })),
    configuration: z.object({ properties: z.record(z.object({ default: z.unknown() })) }),
  }),
});
const manifest = manifestSchema.parse(JSON.parse(readFileSync(resolve(root, 'package.json'), 'utf8')));
const c = manifest.contributes;

describe('package.json contributions', () => {
  it('contributes every command the code registers, titled and in the PEFT Lab category, and no others', () => {
    const contributed = new Map(c.commands.map((cmd) => [cmd.command, cmd]));
    for (const [name, id] of Object.entries(CommandId)) {
      const cmd = contributed.get(id);
      assert.ok(cmd, `${id} is not contributed`);
      assert.equal(cmd.category, 'PEFT Lab');
      assert.equal(cmd.title, CommandTitle[name as keyof typeof CommandId]);
    }
    assert.equal(contributed.size, Object.keys(CommandId).length);
  });

  it('menus only name contributed commands and only the known context keys', () => {
    const ids = new Set<string>(Object.values(CommandId));
    const keys = new Set<string>(Object.values(ContextKey));
    for (const [menu, entries] of Object.entries(c.menus)) {
      for (const entry of entries) {
        assert.ok(ids.has(entry.command), `${menu}: ${entry.command}`);
        for (const key of entry.when?.match(/peftLab\.[A-Za-z]+/g) ?? []) {
          if (key === ExperimentsViewId || key.startsWith('peftLab.config') || key.startsWith('peftLab.run')) continue;
          assert.ok(keys.has(key), `${menu}: unknown context key ${key}`);
        }
      }
    }
    assert.ok(c.menus['view/item/context']?.some((e) => e.command === CommandId.runExperiment));
    assert.ok(c.menus['editor/title']?.some((e) => e.command === CommandId.runExperiment && e.when?.includes('.peft\\.json')));
  });

  it('declares the activity-bar container, the Experiments view with its welcome, and its icon file', () => {
    const container = c.viewsContainers.activitybar.find((v) => v.id === ViewContainerId);
    assert.ok(container);
    assert.equal(container.title, 'PEFT Lab');
    assert.ok(existsSync(resolve(root, container.icon)), container.icon);
    assert.deepEqual(c.views[ViewContainerId]?.map((v) => [v.id, v.name]), [[ExperimentsViewId, 'Experiments']]);
    assert.ok(c.viewsWelcome.some((w) => w.view === ExperimentsViewId && w.contents.includes('(command:peftLab.newExperiment)')));
  });

  it('activates cheaply on configs, the view and every panel viewType', () => {
    const events = new Set(manifest.activationEvents);
    assert.ok(events.has('workspaceContains:**/*.peft.json'));
    assert.ok(events.has(`onView:${ExperimentsViewId}`));
    for (const viewType of Object.values(panelViewTypes)) assert.ok(events.has(`onWebviewPanel:${viewType}`), viewType);
    assert.ok(!manifest.activationEvents.includes('*'));
  });

  it('runs on the workspace side, not in untrusted workspaces, with schema and settings', () => {
    assert.deepEqual(manifest.extensionKind, ['workspace']);
    assert.equal(manifest.capabilities.untrustedWorkspaces.supported, false);
    assert.ok((manifest.capabilities.untrustedWorkspaces.description ?? '').length > 0);
    assert.deepEqual(c.jsonValidation, [{ fileMatch: '*.peft.json', url: './dist/peft-config.schema.json' }]);
    assert.ok(existsSync(resolve(root, 'src/config/peft-config.schema.json')));
    assert.equal(manifest.main, './dist/extension.js');
    const props = c.configuration.properties;
    assert.equal(props[`peftLab.${SettingKey.device}`]?.default, 'auto');
    assert.equal(props[`peftLab.${SettingKey.threads}`]?.default, 0);
    assert.equal(props[`peftLab.${SettingKey.runsFolder}`]?.default, '.peft-lab/runs');
  });
});
