import { strict as assert } from 'node:assert';
import { formatDuration, formatNumber, lossPoints, metricRows } from '../../../webview/run/runData';

describe('run panel data', () => {
  it('takes [step, loss] from step records in step order, skipping steps without a finite loss', () => {
    const { points, problems } = lossPoints([
      { type: 'step', step: 2, loss: 1.5 },
      { type: 'step', step: 0, loss: 3 },
      { type: 'step', step: 1 },
      { type: 'importance', step: 1, scores: [0] },
      { type: 'step', step: 'x', loss: 1 },
    ]);
    assert.deepEqual(points, [[0, 3], [2, 1.5]]);
    assert.equal(problems.length, 1);
  });

  it('flattens summary metrics into dotted rows', () => {
    const rows = metricRows({ gflops: 123.456789, device: { used: 'cpu', requested: 'auto' }, sizes: [1, 2], big: new Array(20).fill(0), ok: true });
    assert.deepEqual(rows, [
      { key: 'gflops', value: '123.4568' },
      { key: 'device.used', value: 'cpu' },
      { key: 'device.requested', value: 'auto' },
      { key: 'sizes', value: '[1, 2]' },
      { key: 'big', value: '[20 items]' },
      { key: 'ok', value: 'true' },
    ]);
  });

  it('formats numbers and durations', () => {
    assert.equal(formatNumber(3), '3');
    assert.equal(formatNumber(0.00012346), '1.235e-4');
    assert.equal(formatNumber(2.5e7 + 0.5), '2.500e+7');
    assert.equal(formatNumber(Number.NaN), 'NaN');
    assert.equal(formatDuration('2026-01-01T00:00:00Z', '2026-01-01T00:00:12.34Z'), '12.3 s');
    assert.equal(formatDuration('2026-01-01T00:00:00Z', '2026-01-01T00:04:05Z'), '4 min 05 s');
    assert.equal(formatDuration('2026-01-01T00:00:00Z', undefined), undefined);
  });
});
