// Rank choices panel: what the emulator kept of each compressed module (GradOT DRD for attention ranks, SCP for
// MLP channels), and one module's spectrum with the kept components marked beside their GCS.
import { RUN_FILES } from '../../src/protocol/runFolder';
import { type DiagnosticsMessage, type ModuleDiagnostic } from '../../src/protocol/diagnostics';
import { axisStyle, disposeDetachedCharts, drawChart, themeColors } from '../shared/charts';
import { code, emptyState, h, table, replace } from '../shared/dom';
import { formatNumber } from '../run/runData';
import { type PanelApp } from '../shared/panelApp';
import { startDiagnosticsPanel } from '../shared/diagnosticsPanel';
import { keptFractionByLayer, moduleRows, spectrumOf } from './rankData';

startDiagnosticsPanel('rankChoices', { testIdPrefix: 'rank', draw });

function draw(panel: PanelApp<'rankChoices'>, subtitle: HTMLElement, diagnostics: DiagnosticsMessage, redraw: () => void): void {
  const modules = diagnostics.diagnostics?.modules ?? [];
  if (modules.length === 0) {
    replace(panel.root, 
      subtitle,
      emptyState(
        'rank-empty',
        'No rank choices in this run',
        h('p', {}, 'This view reads ', code(RUN_FILES.diagnostics), ' in the run folder, written by offsite-tuning runs (', code('"task": "offsite"'), ') that compress modules: each entry of ', code('modules'), ' gives fullRank / keptRank, the kept indices, singularValues and gcs.'),
        diagnostics.reason ?? (diagnostics.diagnostics ? 'diagnostics.json lists no compressed modules.' : undefined),
      ),
    );
    return;
  }
  const rows = moduleRows(modules);
  const selectedName = panel.state().selectedModule;
  const withSpectrum = modules.filter((m) => spectrumOf(m) !== undefined);
  const selected = withSpectrum.find((m) => m.name === selectedName) ?? withSpectrum[0];

  const overview = h('div', { className: 'chart', testId: 'rank-overview', attrs: { role: 'img', 'aria-label': 'kept fraction per layer' } });
  const select = h('select', { testId: 'rank-module-select', attrs: { 'aria-label': 'module' } });
  for (const m of withSpectrum) {
    const option = h('option', { attrs: { value: m.name } }, `${m.name} (layer ${m.layer}, ${m.kind})`);
    option.selected = m === selected;
    select.append(option);
  }
  select.addEventListener('change', () => {
    panel.saveState({ selectedModule: select.value });
    redraw();
  });
  const spectrumChart = selected ? h('div', { className: 'chart', testId: 'rank-spectrum', attrs: { role: 'img', 'aria-label': `spectrum of ${selected.name}` } }) : undefined;

  replace(panel.root, 
    subtitle,
    h('h2', {}, 'Kept per layer'),
    overview,
    h('h2', {}, 'Modules'),
    table('rank-table', ['Module', 'Layer', 'Kind', 'Kept', 'Fraction'], rows.map((r) => [r.name, String(r.layer), r.kind, r.kept, r.keptFraction === undefined ? '-' : `${(r.keptFraction * 100).toFixed(1)}%`]), [false, true, false, true, true]),
    h('h2', {}, 'Spectrum'),
    withSpectrum.length > 0 ? h('div', { className: 'toolbar' }, select) : h('p', { testId: 'rank-no-spectrum' }, 'No module lists singularValues or gcs.'),
    spectrumChart,
  );
  disposeDetachedCharts();
  drawOverview(overview, rows);
  if (spectrumChart && selected) drawSpectrum(spectrumChart, selected);
}

function drawOverview(element: HTMLElement, rows: ReturnType<typeof moduleRows>): void {
  const colors = themeColors();
  const byLayer = keptFractionByLayer(rows);
  drawChart(element, {
    animation: false,
    legend: { top: 0, textStyle: { color: colors.foreground } },
    tooltip: { trigger: 'axis' },
    grid: { left: 56, right: 24, top: 36, bottom: 48 },
    xAxis: { type: 'category', data: byLayer.layers.map(String), name: 'layer', nameLocation: 'middle', nameGap: 28, ...axisStyle(colors) },
    yAxis: { type: 'value', min: 0, max: 1, name: 'kept fraction', ...axisStyle(colors) },
    series: [
      { type: 'bar', name: 'attention (rank)', data: byLayer.attention, itemStyle: { color: colors.accent } },
      { type: 'bar', name: 'MLP (channels)', data: byLayer.mlp, itemStyle: { color: colors.accent2 } },
    ],
  });
}

function drawSpectrum(element: HTMLElement, module: ModuleDiagnostic): void {
  const spectrum = spectrumOf(module);
  if (!spectrum) return;
  const colors = themeColors();
  const hasValues = spectrum.singularValues.some((v) => v !== null);
  const hasGcs = spectrum.gcs.some((v) => v !== null);
  const unit = module.kind === 'mlp' ? 'channel' : 'component';
  /** Bars with the kept candidates solid and the dropped ones faded; the series colour is the legend's swatch. */
  const keptBars = (name: string, values: (number | null)[], color: string, yAxisIndex = 0) => ({
    type: 'bar',
    name: `${name} (kept = solid)`,
    yAxisIndex,
    itemStyle: { color },
    data: values.map((value, i) => ({ value, itemStyle: { color, opacity: spectrum.kept[i] ? 1 : 0.25 } })),
  });
  // MLP channels (SCP) have no singular values: their GCS bars carry the kept marking instead.
  const series = hasValues
    ? [
        keptBars('singular value', spectrum.singularValues, colors.accent),
        ...(hasGcs ? [{ type: 'line', name: 'GCS', yAxisIndex: 1, data: spectrum.gcs, showSymbol: false, lineStyle: { color: colors.accent2 }, itemStyle: { color: colors.accent2 } }] : []),
      ]
    : [keptBars('GCS of removing', spectrum.gcs, colors.accent2)];
  drawChart(element, {
    animation: false,
    legend: { top: 0, textStyle: { color: colors.foreground } },
    tooltip: { trigger: 'axis', valueFormatter: (v: unknown) => (typeof v === 'number' ? formatNumber(v) : String(v)) },
    grid: { left: 64, right: 64, top: 36, bottom: 48 },
    xAxis: { type: 'category', data: spectrum.index.map(String), name: `${unit} (${spectrum.kept.filter(Boolean).length} of ${spectrum.index.length} kept)`, nameLocation: 'middle', nameGap: 28, ...axisStyle(colors) },
    yAxis: hasValues
      ? [
          { type: 'value', name: 'singular value', ...axisStyle(colors) },
          { type: 'value', name: 'GCS of removing', ...axisStyle(colors), splitLine: { show: false } },
        ]
      : [{ type: 'value', name: 'GCS of removing', ...axisStyle(colors) }],
    series,
  });
}
