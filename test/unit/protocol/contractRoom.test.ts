// The contract room holds each run-folder name and the device names once: no other source file spells a run-folder
// file name as a string literal, and the config's JSON Schema lists exactly the protocol's device names.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { deviceNameSchema } from '../../../src/protocol/runFiles';
import { ADAPTER_FILES, BEST_ADAPTER_RECORD, CHECKPOINT_FILES, RUN_FILES } from '../../../src/protocol/runFolder';
import schema from '../../../src/config/peft-config.schema.json';

const ROOT = path.resolve(__dirname, '../../..');

function sources(dir: string): string[] {
  return fs.readdirSync(path.join(ROOT, dir), { withFileTypes: true }).flatMap((e) => {
    const rel = path.join(dir, e.name);
    if (e.isDirectory()) return sources(rel);
    return e.name.endsWith('.ts') ? [rel] : [];
  });
}

describe('protocol: one contract room', () => {
  it('run-folder names are spelled only in src/protocol/runFolder.ts', () => {
    // Names specific enough to search for; 'adapter' and 'emulator' are also ordinary words and config keys.
    const names = [
      RUN_FILES.metrics, RUN_FILES.summary, RUN_FILES.log, RUN_FILES.lock, RUN_FILES.heartbeat, RUN_FILES.bestAdapter,
      RUN_FILES.diagnostics, RUN_FILES.offsiteState, RUN_FILES.offsiteAdapterValues, CHECKPOINT_FILES.latest, CHECKPOINT_FILES.optimizer, ADAPTER_FILES.config,
      ADAPTER_FILES.weights, BEST_ADAPTER_RECORD,
    ];
    const offenders: string[] = [];
    for (const file of [...sources('src'), ...sources('webview')]) {
      if (file === path.join('src', 'protocol', 'runFolder.ts')) continue;
      const text = fs.readFileSync(path.join(ROOT, file), 'utf8');
      for (const name of names) if (text.includes(`'${name}'`) || text.includes(`"${name}"`)) offenders.push(`${file}: '${name}'`);
    }
    assert.deepEqual(offenders, []);
    assert.equal(new Set(Object.values(RUN_FILES)).size, Object.values(RUN_FILES).length);
  });

  it("the config schema's runtime.device enum is the protocol's device names", () => {
    const device: unknown = (schema as { properties: { runtime: { properties: { device: { enum: unknown } } } } }).properties.runtime.properties.device.enum;
    assert.deepEqual(device, deviceNameSchema.options);
  });
});
