import { strict as assert } from 'node:assert';
import { parseDiagnosticsFile, parseDiagnosticsMessage, type ModuleDiagnostic } from '../../../src/protocol/diagnostics';
import { keptFractionByLayer, moduleRows, spectrumOf } from '../../../webview/rankChoices/rankData';
import { adapterMeans, adapterSeries, lossEntries } from '../../../webview/gradientDiagnostics/gradientData';

const attention = (layer: number, name: string, kept: number[], full: number): ModuleDiagnostic => ({
  name,
  layer,
  kind: 'attention',
  fullRank: full,
  keptRank: kept.length,
  kept,
  singularValues: Array.from({ length: full }, (_, i) => full - i),
  gcs: Array.from({ length: full }, (_, i) => i * 0.5),
});

describe('diagnostics.json (rank choices, gradient diagnostics)', () => {
  it('validates the file and names the file and JSON path of a problem', () => {
    const ok = parseDiagnosticsFile({ modules: [attention(2, 'q', [0], 4)], adapters: [], loss: { full: 2, emulator: 3 } }, '/r/diagnostics.json');
    assert.equal(ok.modules.length, 1);
    assert.throws(
      () => parseDiagnosticsFile({ modules: [{ name: 'q', layer: 1, kind: 'conv' }] }, '/r/diagnostics.json'),
      /^Error: \/r\/diagnostics\.json: \$\.modules\[0\]\.kind: /,
    );
  });

  it('recognises only diagnostics messages, and rejects malformed ones loudly', () => {
    assert.equal(parseDiagnosticsMessage({ type: 'runData' }), undefined);
    assert.equal(parseDiagnosticsMessage('x'), undefined);
    const msg = parseDiagnosticsMessage({ type: 'diagnostics', runDir: '/r', diagnostics: null, reason: 'none' });
    assert.equal(msg?.reason, 'none');
    assert.throws(() => parseDiagnosticsMessage({ type: 'diagnostics', runDir: 1, diagnostics: null }), /invalid diagnostics message: \$\.runDir/);
  });

  it('lists modules by layer with kept/full of rank (attention) or channels (MLP)', () => {
    const rows = moduleRows([
      { name: 'mlp', layer: 3, kind: 'mlp', fullChannels: 8, keptChannels: 2 },
      attention(3, 'k', [0, 1], 4),
      attention(1, 'q', [0], 4),
      { name: 'odd', layer: 0, kind: 'attention' },
    ]);
    assert.deepEqual(rows.map((r) => [r.name, r.kept, r.keptFraction]), [
      ['odd', '-', undefined],
      ['q', '1 / 4', 0.25],
      ['k', '2 / 4', 0.5],
      ['mlp', '2 / 8', 0.25],
    ]);
    assert.deepEqual(keptFractionByLayer(rows), { layers: [0, 1, 3], attention: [null, 0.25, 0.5], mlp: [null, null, 0.25] });
  });

  it('marks the kept components in a spectrum chosen by GCS rather than by size', () => {
    const spectrum = spectrumOf(attention(1, 'q', [3, 0], 4));
    assert.ok(spectrum);
    assert.deepEqual(spectrum.kept, [true, false, false, true]);
    assert.deepEqual(spectrum.singularValues, [4, 3, 2, 1]);
    assert.deepEqual(spectrum.gcs, [0, 0.5, 1, 1.5]);
    assert.equal(spectrumOf({ name: 'm', layer: 0, kind: 'mlp' }), undefined);
    assert.throws(() => spectrumOf(attention(1, 'q', [7], 4)), /kept index 7 is outside its 4 candidates/);
  });

  it('summarises adapter gradient agreement and the loss gap', () => {
    const series = adapterSeries([
      { name: 'layer0', cosineBefore: 0.5, cosineAfter: 0.9, relErrorBefore: 0.8, relErrorAfter: 0.2 },
      { name: 'layer11', cosineBefore: 0.7, cosineAfter: 0.8, relErrorBefore: 0.4, relErrorAfter: 0.3 },
    ]);
    assert.deepEqual(series.names, ['layer0', 'layer11']);
    const means = adapterMeans(series);
    assert.ok(means);
    assert.ok(Math.abs(means.cosineBefore - 0.6) < 1e-12 && Math.abs(means.cosineAfter - 0.85) < 1e-12);
    assert.ok(Math.abs(means.relErrorBefore - 0.6) < 1e-12 && Math.abs(means.relErrorAfter - 0.25) < 1e-12);
    assert.equal(adapterMeans(adapterSeries([])), undefined);
    assert.deepEqual(lossEntries({ full: 2.1, emulator: 3.4, privacyGap: 1.3, note: 'x', other: 1 }), [
      { key: 'full', label: 'Full model', value: 2.1 }, { key: 'emulator', label: 'Emulator', value: 3.4 },
      { key: 'privacyGap', label: 'Privacy gap (emulator - full)', value: 1.3 }, { key: 'other', label: 'other', value: 1 },
    ]);
  });
});
