import { strict as assert } from 'node:assert';
import { shapeLayerImportance } from '../../../webview/layerImportance/importanceData';
import type { MetricRecord } from '../../../src/protocol';

describe('layer importance heatmap shaping', () => {
  it('makes one column per importance update (sorted by step) and one row per layer', () => {
    const records: MetricRecord[] = [
      { type: 'importance', step: 20, scores: [0.5, -0.25, 1] },
      { type: 'step', step: 0, loss: 2 },
      { type: 'importance', step: 10, scores: [0.1, 0, -0.5] },
    ];
    const { importance, selection, problems } = shapeLayerImportance(records);
    assert.deepEqual(problems, []);
    assert.equal(selection, undefined);
    assert.ok(importance);
    assert.deepEqual(importance.steps, [10, 20]);
    assert.equal(importance.layerCount, 3);
    assert.deepEqual(importance.cells, [
      [0, 0, 0.1], [0, 1, 0], [0, 2, -0.5],
      [1, 0, 0.5], [1, 1, -0.25], [1, 2, 1],
    ]);
    // Symmetric around 0, reaching the largest |score|.
    assert.equal(importance.min, -1);
    assert.equal(importance.max, 1);
    assert.deepEqual(importance.latest, [0.5, -0.25, 1]);
  });

  it('centres the colour range on 0, and gives an all-zero map a non-empty one', () => {
    const zero = shapeLayerImportance([{ type: 'importance', step: 10, scores: [0, 0] }]).importance;
    assert.ok(zero);
    assert.deepEqual([zero.min, zero.max], [-1, 1]);
    const negative = shapeLayerImportance([{ type: 'importance', step: 10, scores: [-0.25, -0.5] }]).importance;
    assert.ok(negative);
    assert.deepEqual([negative.min, negative.max], [-0.5, 0.5]);
  });

  it('counts selected layers per step, merging steps into at most maxColumns columns', () => {
    const records: MetricRecord[] = [0, 1, 2, 3, 4].map((step) => ({ type: 'step', step, loss: 1, layers: step % 2 === 0 ? [0, 3] : [1] }));
    const one = shapeLayerImportance(records);
    assert.ok(one.selection);
    assert.equal(one.selection.layerCount, 4);
    assert.equal(one.selection.columns.length, 5);
    assert.deepEqual(one.selection.cells.filter((c) => c[0] === 1), [[1, 1, 1]]);
    assert.deepEqual(one.selection.timesSelected, [3, 2, 0, 3]);

    const merged = shapeLayerImportance(records, 2);
    assert.ok(merged.selection);
    // ceil(5 / 2) = 3 steps per column: steps 0-2 then 3-4.
    assert.deepEqual(merged.selection.columns, [{ fromStep: 0, toStep: 2 }, { fromStep: 3, toStep: 4 }]);
    const col0 = new Map(merged.selection.cells.filter((c) => c[0] === 0).map((c) => [c[1], c[2]]));
    assert.equal(col0.get(0), 2 / 3);
    assert.equal(col0.get(1), 1 / 3);
    assert.equal(col0.get(2), undefined);
    const col1 = new Map(merged.selection.cells.filter((c) => c[0] === 1).map((c) => [c[1], c[2]]));
    assert.equal(col1.get(0), 1 / 2);
    assert.equal(col1.get(1), 1 / 2);
  });

  it('reports malformed records and layer-count disagreements instead of drawing them', () => {
    const { importance, problems } = shapeLayerImportance([
      { type: 'importance', step: 10, scores: [1, 2, 3] },
      { type: 'importance', step: 20, scores: [1, 2] },
      { type: 'importance', step: -1, scores: [1] },
      { type: 'step', step: 1, layers: ['x'] },
    ]);
    assert.ok(importance);
    assert.equal(importance.steps.length, 2);
    assert.equal(problems.length, 3);
    assert.match(problems[0] ?? '', /importance record #2: \$\.step/);
    assert.match(problems[1] ?? '', /step record #3: \$\.layers\.0/);
    assert.match(problems[2] ?? '', /disagree on the layer count \(3, 2\)/);
  });

  it('has neither heatmap for a run without IST records', () => {
    const data = shapeLayerImportance([{ type: 'device-check', gflops: 1 }, { type: 'step', step: 0, loss: 1 }]);
    assert.equal(data.importance, undefined);
    assert.equal(data.selection, undefined);
    assert.throws(() => shapeLayerImportance([], 0), /maxColumns/);
  });
});
