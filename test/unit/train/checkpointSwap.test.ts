// The checkpoint swap (issue 16 item 9): checkpointing a step again never removes the folder latest.json names
// before the new one is in place, so a crash in between still resumes; temporary folders left by a dead process
// are removed.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as os from 'node:os';
import * as path from 'node:path';
import { derivedRng, RNG_TAGS } from '../../../src/engine/data/batches';
import { LoraAdapter } from '../../../src/engine/peft/lora';
import { findCheckpoint, restoreCheckpoint, saveCheckpoint, type TrainState } from '../../../src/engine/train/checkpoint';
import { AdamW } from '../../../src/engine/train/optimizer';

function adapterWith(value: number): LoraAdapter {
  const adapter = new LoraAdapter({ r: 1, alpha: 1, dropout: 0, targets: ['c_attn'] }, derivedRng(0, RNG_TAGS.init));
  adapter.modules.set('transformer.h.0.attn.c_attn', {
    path: 'transformer.h.0.attn.c_attn', module: 'c_attn', layer: 0, inFeatures: 2, outFeatures: 2, a: Float32Array.of(value, 2), b: Float32Array.of(3, 4),
  });
  return adapter;
}

describe('checkpoint swap', () => {
  let runDir: string;
  const info = { baseModel: 'm', modelFamily: 'gpt2' };
  const state = (step: number): TrainState => ({ step, consumed: step * 8, seed: 0, rng: 'derived from seed, step and micro-batch', optimizer: 'adamw', fingerprint: 'f' });
  beforeEach(() => {
    runDir = fs.mkdtempSync(path.join(os.tmpdir(), 'peft-swap-'));
  });
  afterEach(() => fs.rmSync(runDir, { recursive: true, force: true }));

  it('a crash while checkpointing the same step again leaves the previous checkpoint named and loadable', () => {
    saveCheckpoint(runDir, state(4), adapterWith(1), new AdamW(), info);
    // The module object itself (an import's namespace is read-only); checkpoint.ts reads renameSync through it.
    const nodeFs = createRequire(__filename)('node:fs') as { renameSync: typeof fs.renameSync };
    const original = nodeFs.renameSync;
    // The crash: the process dies when it renames the new folder into place.
    nodeFs.renameSync = (from, to) => {
      if (String(from).endsWith('.tmp') && path.basename(String(to)).startsWith('step-')) throw new Error('simulated crash');
      original(from, to);
    };
    try {
      assert.throws(() => saveCheckpoint(runDir, state(4), adapterWith(5), new AdamW(), info), /simulated crash/);
    } finally {
      nodeFs.renameSync = original;
    }
    const found = findCheckpoint(runDir);
    assert.equal(found?.state.step, 4);
    const restored = adapterWith(0);
    restoreCheckpoint(found, restored, new AdamW());
    assert.equal(restored.modules.get('transformer.h.0.attn.c_attn')?.a[0], 1);
  });

  it('checkpointing the same step again replaces it through latest.json, leaving one folder', () => {
    saveCheckpoint(runDir, state(4), adapterWith(1), new AdamW(), info);
    const second = saveCheckpoint(runDir, state(4), adapterWith(7), new AdamW(), info);
    const found = findCheckpoint(runDir);
    assert.equal(found?.dir, second);
    const restored = adapterWith(0);
    restoreCheckpoint(found, restored, new AdamW());
    assert.equal(restored.modules.get('transformer.h.0.attn.c_attn')?.a[0], 7);
    assert.deepEqual(fs.readdirSync(path.join(runDir, 'checkpoints')).filter((e) => e.startsWith('step-')), [path.basename(second)]);
    saveCheckpoint(runDir, state(5), adapterWith(8), new AdamW(), info);
    assert.deepEqual(fs.readdirSync(path.join(runDir, 'checkpoints')).sort(), ['latest.json', 'step-000005']);
  });

  it('removes temporary folders left by a process that is gone, not those of a live one', () => {
    const root = path.join(runDir, 'checkpoints');
    // A pid above Linux's pid_max (4194304) cannot be alive.
    const dead = path.join(root, '.step-000002.99999999.tmp');
    const live = path.join(root, `.step-000002.${process.ppid}.tmp`);
    fs.mkdirSync(dead, { recursive: true });
    fs.mkdirSync(live);
    fs.writeFileSync(path.join(dead, 'state.json'), '{');
    saveCheckpoint(runDir, state(3), adapterWith(1), new AdamW(), info);
    assert.equal(fs.existsSync(dead), false);
    assert.equal(fs.existsSync(live), true);
    assert.equal(findCheckpoint(runDir)?.state.step, 3);
  });
});
