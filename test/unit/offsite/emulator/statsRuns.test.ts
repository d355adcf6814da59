import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { makeBatch } from '../../../../src/engine/data/batches';
import { writeSafetensors, type TensorToWrite } from '../../../../src/engine/models/safetensorsWriter';
import { runGroups } from '../../../../src/engine/offsite/stats/supportStats';

describe('offsite fast paths: statistics runs and checkpoint writing', () => {
  it('runGroups concatenates batches of one sequence length, in order, up to the token cap', () => {
    const ex = (n: number, base: number) => ({ ids: Array.from({ length: n }, (_, i) => base + i), labels: Array.from({ length: n }, (_, i) => base + i) });
    const a = makeBatch([ex(3, 1), ex(4, 10)], 4, 0);
    const b = makeBatch([ex(2, 20)], 4, 0);
    const c = makeBatch([ex(5, 30)], 5, 0);
    const d = makeBatch([ex(4, 40), ex(1, 50)], 4, 0);
    const runs = runGroups([a, b, c, d], 12);
    assert.deepEqual(runs.map((r) => [r.batch, r.seq]), [[3, 4], [2, 4], [1, 5]]);
    const [ab, dd, cc] = runs;
    assert.deepEqual([...ab!.ids], [...a.ids, ...b.ids]);
    assert.deepEqual([...ab!.mask], [...a.mask, ...b.mask]);
    assert.deepEqual([...ab!.positions], [...a.positions, ...b.positions]);
    assert.deepEqual([...ab!.targets], [...a.targets, ...b.targets]);
    assert.equal(ab!.tokens, a.tokens + b.tokens);
    assert.equal(dd, d);
    assert.equal(cc, c);
    assert.equal(runGroups([a, b, d]).length, 1);
  });

  it('writeSafetensors writes float32 buffers as views with the same bytes as element-wise encoding (float32 views, float64 data, F16 / BF16)', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'peft-write-tensors-'));
    try {
      const f32 = Float32Array.from({ length: 12 }, (_, i) => Math.sin(i) * 1e3);
      const tensors: TensorToWrite[] = [
        { name: 'a', dtype: 'F32', shape: [3, 4], data: f32 },
        { name: 'view', dtype: 'F32', shape: [5], data: f32.subarray(2, 7) },
        { name: 'f64', dtype: 'F32', shape: [2, 2], data: Float64Array.of(0.1, -1 / 3, 1e-40, 7) },
        { name: 'half', dtype: 'F16', shape: [3], data: Float32Array.of(0.5, -2.25, 1e-3) },
        { name: 'bf', dtype: 'BF16', shape: [2], data: [3.14159, -0.001] },
        { name: 'empty', dtype: 'F32', shape: [0], data: new Float32Array(0) },
      ];
      // The reference: the same values as plain arrays, which always go through element-wise encoding.
      const plain = tensors.map((t) => ({ ...t, data: Array.from(t.data) }));
      writeSafetensors(path.join(dir, 'ref.safetensors'), plain, { format: 'pt' });
      writeSafetensors(path.join(dir, 'fast.safetensors'), tensors, { format: 'pt' });
      assert.deepEqual(fs.readFileSync(path.join(dir, 'fast.safetensors')), fs.readFileSync(path.join(dir, 'ref.safetensors')));
      assert.throws(() => writeSafetensors(path.join(dir, 'bad.safetensors'), [{ name: 'x', dtype: 'F32', shape: [2], data: [1] }]), /needs 2/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
