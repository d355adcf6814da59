// Layer importance panel: IST layer scores over the importance updates (heatmap), which layers each step updated
// (from step records' `layers`) and the training loss of those steps. Empty state says which records are needed.
import type { MetricRecord, RunData } from '../../src/protocol';
import { axisStyle, disposeDetachedCharts, drawChart, onThemeChange, themeColors, themeColor } from '../shared/charts';
import { code, emptyState, h, table, replace } from '../shared/dom';
import { formatNumber, lossPoints } from '../run/runData';
import { startPanel, type PanelApp } from '../shared/panelApp';
import { shapeLayerImportance, type HeatmapCell, type ImportanceHeatmap, type SelectionHeatmap } from './importanceData';

let run: RunData | undefined;
let pendingFrame = 0;

const app = startPanel('layerImportance', {
  onMessage(message, panel) {
    switch (message.type) {
      case 'runData':
        run = message.run;
        panel.saveState({ runDir: message.run.runDir });
        render(panel);
        return;
      case 'jobEvent':
        if (run && message.runDir === run.runDir && message.event.type === 'metric') {
          run.metrics.push(message.event.record);
          scheduleRender(panel);
        }
        return;
      case 'empty':
        run = undefined;
        replace(panel.root, emptyState('importance-empty', 'No run to show', message.message));
        return;
    }
  },
});
onThemeChange(() => render(app));

/** Live runs can send many metric events per second: redraw at most once per frame. */
function scheduleRender(panel: PanelApp<'layerImportance'>): void {
  if (pendingFrame !== 0) return;
  pendingFrame = requestAnimationFrame(() => {
    pendingFrame = 0;
    render(panel);
  });
}

function render(panel: PanelApp<'layerImportance'>): void {
  if (!run) return;
  const data = shapeLayerImportance(run.metrics);
  const subtitle = h('p', { className: 'subtitle', testId: 'run-id' }, `${run.runId} · ${run.summary?.task ?? 'unknown task'}`);
  const problems = data.problems.length > 0 ? h('div', { className: 'error', testId: 'record-problems' }, data.problems.slice(0, 5).join('\n')) : undefined;
  if (!data.importance && !data.selection) {
    replace(panel.root, subtitle, noIstRecords(run.metrics), problems);
    return;
  }
  const importanceChart = data.importance ? h('div', { className: 'chart tall', testId: 'importance-heatmap', attrs: { role: 'img', 'aria-label': 'layer importance heatmap' } }) : undefined;
  const selectionChart = data.selection ? h('div', { className: 'chart', testId: 'selection-heatmap', attrs: { role: 'img', 'aria-label': 'selected layers per step' } }) : undefined;
  const loss = lossPoints(run.metrics).points;
  const lossChart = loss.length > 0 ? h('div', { className: 'chart short', testId: 'importance-loss', attrs: { role: 'img', 'aria-label': `training loss over ${loss.length} steps` } }) : undefined;
  replace(panel.root, 
    subtitle,
    h('h2', {}, 'Importance scores'),
    data.importance
      ? h('p', { className: 'subtitle' }, `${data.importance.steps.length} updates · ${data.importance.layerCount} layers · high score = layer is dispensable, updated less often`)
      : emptyState('importance-scores-empty', 'No importance records', 'The selected layers below come from step records; the scores need ', code('{"type":"importance","step":n,"scores":[...]}'), ' records.'),
    importanceChart,
    h('h2', {}, 'Selected layers per step'),
    data.selection
      ? h('p', { className: 'subtitle' }, `${data.selection.stepCount} steps${data.selection.columns.length < data.selection.stepCount ? `, ${data.selection.columns.length} columns (fraction of steps that updated the layer)` : ''}`)
      : emptyState('selection-empty', 'No selected layers recorded', 'Step records need a ', code('"layers": [...]'), ' field (written when only some layers are updated per step).'),
    selectionChart,
    lossChart && h('h2', {}, 'Training loss'),
    lossChart,
    layerTable(data.importance, data.selection),
    problems,
  );
  disposeDetachedCharts();
  if (importanceChart && data.importance) drawImportance(importanceChart, data.importance);
  if (selectionChart && data.selection) drawSelection(selectionChart, data.selection);
  if (lossChart) drawLoss(lossChart, loss);
}

/** The loss of each step, beside the layers it trained (IST picks layers by how the loss responds). */
function drawLoss(element: HTMLElement, points: [number, number][]): void {
  const colors = themeColors();
  drawChart(element, {
    animation: false,
    // The heatmaps' margins, so the step axes line up down the page.
    grid: heatmapGrid,
    tooltip: { trigger: 'axis', valueFormatter: (v: unknown) => (typeof v === 'number' ? formatNumber(v) : String(v)) },
    xAxis: { type: 'value', name: 'step', nameLocation: 'middle', nameGap: 28, min: 'dataMin', max: 'dataMax', minInterval: 1, ...axisStyle(colors) },
    yAxis: { type: 'value', name: 'loss', scale: true, ...axisStyle(colors) },
    series: [{ type: 'line', name: 'loss', data: points, showSymbol: points.length <= 50, lineStyle: { color: colors.accent }, itemStyle: { color: colors.accent } }],
  });
}

function noIstRecords(records: readonly MetricRecord[]): HTMLElement {
  const types = [...new Set(records.map((r) => r.type))];
  return emptyState(
    'importance-empty',
    'This run has no layer-importance data',
    h('p', {}, 'The heatmap needs ', code('importance'), ' records in metrics.jsonl (', code('{"type":"importance","step":10,"scores":[...one per layer]}'), '), written by tuning runs with ', code('"layerSelection": "ist"'), '.'),
    h('p', {}, 'The selected layers per step come from ', code('step'), ' records with a ', code('"layers": [...]'), ' field.'),
    h('p', {}, types.length > 0 ? `This run's records have types: ${types.join(', ')}.` : 'This run has no records yet.'),
  );
}

function layerTable(importance: ImportanceHeatmap | undefined, selection: SelectionHeatmap | undefined): HTMLElement {
  const layerCount = Math.max(importance?.layerCount ?? 0, selection?.layerCount ?? 0);
  const rows = Array.from({ length: layerCount }, (_, layer) => [
    String(layer),
    importance && importance.latest[layer] !== undefined ? formatNumber(importance.latest[layer] ?? 0) : '-',
    selection ? String(selection.timesSelected[layer] ?? 0) : '-',
  ]);
  return h('div', {}, h('h2', {}, 'Per layer'), table('importance-latest', ['Layer', 'Latest score', 'Steps selected'], rows, [true, true, true]));
}

function cellTooltip(xLabel: (column: number) => string, valueLabel: string): (params: unknown) => string {
  return (params) => {
    const value = typeof params === 'object' && params !== null && 'value' in params && Array.isArray(params.value) ? params.value : [];
    const [column, layer, v] = value;
    if (typeof column !== 'number' || typeof layer !== 'number' || typeof v !== 'number') return '';
    return `${xLabel(column)}<br>layer ${layer}<br>${valueLabel}: ${formatNumber(v)}`;
  };
}

function drawImportance(element: HTMLElement, heatmap: ImportanceHeatmap): void {
  const colors = themeColors();
  drawHeatmap(element, {
    xLabels: heatmap.steps.map(String),
    xName: 'step',
    layerCount: heatmap.layerCount,
    cells: heatmap.cells,
    min: heatmap.min,
    max: heatmap.max,
    // Diverging around 0 (the initial score): green = important (trained more), red = dispensable.
    palette: [themeColor('--vscode-charts-green', '#89d185'), colors.background, themeColor('--vscode-charts-red', '#f14c4c')],
    legend: ['dispensable', 'important'],
    tooltip: cellTooltip((c) => `step ${heatmap.steps[c] ?? '?'}`, 'score'),
  });
}

function drawSelection(element: HTMLElement, selection: SelectionHeatmap): void {
  const colors = themeColors();
  const label = (c: number) => {
    const col = selection.columns[c];
    if (!col) return '?';
    return col.fromStep === col.toStep ? `step ${col.fromStep}` : `steps ${col.fromStep}-${col.toStep}`;
  };
  drawHeatmap(element, {
    xLabels: selection.columns.map((c) => (c.fromStep === c.toStep ? String(c.fromStep) : `${c.fromStep}-${c.toStep}`)),
    xName: 'step',
    layerCount: selection.layerCount,
    cells: selection.cells,
    min: 0,
    max: 1,
    palette: [colors.background, colors.accent],
    legend: ['every step', 'never'],
    tooltip: cellTooltip(label, 'selected'),
  });
}

interface HeatmapSpec {
  xLabels: string[];
  xName: string;
  layerCount: number;
  cells: HeatmapCell[];
  min: number;
  max: number;
  palette: string[];
  /** What the top and bottom of the colour scale mean. */
  legend: [string, string];
  tooltip: (params: unknown) => string;
}

/** The plot area's margins in the chart element (px): room on the right for the colour scale and its labels. */
const heatmapGrid = { left: 56, right: 132, top: 28, bottom: 48 };

/** Colour-scale labels: 3 significant digits, exponent notation below 1e-3 (IST scores are often ~1e-4). */
function scaleLabel(value: unknown): string {
  const v = typeof value === 'number' ? value : Number(value);
  if (!Number.isFinite(v)) return String(value);
  if (v !== 0 && Math.abs(v) < 1e-3) return v.toExponential(2);
  return String(Number(v.toPrecision(3)));
}

function drawHeatmap(element: HTMLElement, spec: HeatmapSpec): void {
  const colors = themeColors();
  // Tests (and screen readers' users hovering) find a cell from these: column c, row r is centred at
  // left + (c + 0.5) * width / columns, bottom - (r + 0.5) * height / rows inside the plot area.
  element.dataset.grid = [heatmapGrid.left, heatmapGrid.right, heatmapGrid.top, heatmapGrid.bottom].join(',');
  element.dataset.columns = String(spec.xLabels.length);
  element.dataset.rows = String(spec.layerCount);
  drawChart(element, {
    animation: false,
    tooltip: { position: 'top', formatter: spec.tooltip },
    grid: heatmapGrid,
    xAxis: { type: 'category', data: spec.xLabels, name: spec.xName, nameLocation: 'middle', nameGap: 28, splitArea: { show: false }, ...axisStyle(colors) },
    yAxis: { type: 'category', data: Array.from({ length: spec.layerCount }, (_, i) => String(i)), name: 'layer', ...axisStyle(colors) },
    visualMap: {
      min: spec.min,
      max: spec.max,
      calculable: true,
      orient: 'vertical',
      right: 8,
      top: 'middle',
      itemHeight: 160,
      text: spec.legend,
      textGap: 14,
      formatter: scaleLabel,
      textStyle: { color: colors.muted },
      inRange: { color: spec.palette },
    },
    // Outlined cells: a value at the palette's background-coloured end (a score near 0, a layer never selected)
    // would otherwise vanish into the page in a dark theme.
    series: [{ type: 'heatmap', data: spec.cells, progressive: 0, itemStyle: { borderColor: colors.grid, borderWidth: 1 } }],
  });
}
