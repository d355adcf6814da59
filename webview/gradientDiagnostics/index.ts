// Gradient diagnostics panel: per adapter, the cosine similarity and relative error between its gradient on the
// emulator and on the full model, before and after tuning (GradOT keeps these close), and the loss gap.
import { RUN_FILES } from '../../src/protocol/runFolder';
import type { DiagnosticsMessage } from '../../src/protocol/diagnostics';
import { axisStyle, disposeDetachedCharts, drawChart, themeColors } from '../shared/charts';
import { code, emptyState, h, table, replace } from '../shared/dom';
import { formatNumber } from '../run/runData';
import { type PanelApp } from '../shared/panelApp';
import { startDiagnosticsPanel } from '../shared/diagnosticsPanel';
import { adapterMeans, adapterSeries, lossEntries, type AdapterSeries } from './gradientData';

startDiagnosticsPanel('gradientDiagnostics', { testIdPrefix: 'gradient', draw });

function draw(panel: PanelApp<'gradientDiagnostics'>, subtitle: HTMLElement, diagnostics: DiagnosticsMessage): void {
  const file = diagnostics.diagnostics;
  const adapters = file?.adapters ?? [];
  const losses = lossEntries(file?.loss);
  if (adapters.length === 0 && losses.length === 0) {
    replace(panel.root, 
      subtitle,
      emptyState(
        'gradient-empty',
        'No gradient diagnostics in this run',
        h('p', {}, 'This view reads ', code(RUN_FILES.diagnostics), ' in the run folder, written by offsite-tuning runs (', code('"task": "offsite"'), '): its ', code('adapters'), ' list gives cosineBefore/After and relErrorBefore/After per adapter parameter group, and ', code('loss'), ' the full-model and emulator losses.'),
        diagnostics.reason ?? (file ? 'diagnostics.json has no adapters and no loss block.' : undefined),
      ),
    );
    return;
  }
  const series = adapterSeries(adapters);
  const means = adapterMeans(series);
  const chart = adapters.length > 0 ? h('div', { className: 'chart', testId: 'gradient-cosine', attrs: { role: 'img', 'aria-label': 'gradient cosine per adapter' } }) : undefined;
  replace(panel.root, 
    subtitle,
    means
      ? h('p', { testId: 'gradient-summary' }, `Mean gradient cosine (emulator vs full model): ${formatNumber(means.cosineBefore)} before tuning, ${formatNumber(means.cosineAfter)} after; mean relative error ${formatNumber(means.relErrorBefore)} -> ${formatNumber(means.relErrorAfter)}.`)
      : undefined,
    chart && h('h2', {}, 'Gradient cosine per adapter'),
    chart,
    adapters.length > 0 ? h('h2', {}, 'Adapters') : undefined,
    adapters.length > 0
      ? table(
          'gradient-table',
          ['Adapter', 'Cosine before', 'Cosine after', 'Rel. error before', 'Rel. error after'],
          adapters.map((a) => [a.name, fixed(a.cosineBefore), fixed(a.cosineAfter), fixed(a.relErrorBefore), fixed(a.relErrorAfter)]),
          [false, true, true, true, true],
        )
      : undefined,
    losses.length > 0 ? h('h2', {}, 'Loss (privacy gap)') : undefined,
    losses.length > 0 ? table('loss-gap', ['Support-set loss', 'Value'], losses.map((l) => [l.label, formatNumber(l.value)]), [false, true]) : undefined,
  );
  disposeDetachedCharts();
  if (chart) drawCosine(chart, series);
}

/** Table cells: 4 decimals for every row, so a column of cosines lines up (0.2800, not 0.28). */
function fixed(value: number): string {
  return Number.isFinite(value) && Math.abs(value) < 1e6 ? value.toFixed(4) : formatNumber(value);
}

function drawCosine(element: HTMLElement, series: AdapterSeries): void {
  const colors = themeColors();
  drawChart(element, {
    animation: false,
    legend: { top: 0, textStyle: { color: colors.foreground } },
    tooltip: { trigger: 'axis' },
    grid: { left: 56, right: 24, top: 36, bottom: 72 },
    xAxis: { type: 'category', data: series.names, axisLabel: { rotate: 30, color: colors.muted }, axisLine: { lineStyle: { color: colors.grid } } },
    yAxis: { type: 'value', max: 1, name: 'cosine', ...axisStyle(colors) },
    series: [
      { type: 'bar', name: 'before tuning', data: series.cosineBefore, itemStyle: { color: colors.accent2 } },
      { type: 'bar', name: 'after tuning', data: series.cosineAfter, itemStyle: { color: colors.accent } },
    ],
  });
}
