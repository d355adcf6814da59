// Run panel: status, device, final metrics, a loss curve when the run has step records, live job events.
import type { JobEvent, RunData } from '../../src/protocol';
import { formatLocalTime } from '../../src/protocol/localTime';
import { RUN_FILES } from '../../src/protocol/runFolder';
import { axisStyle, disposeDetachedCharts, drawChart, onThemeChange, themeColors } from '../shared/charts';
import { custom, emptyState, h, table, replace } from '../shared/dom';
import { startPanel, type PanelApp } from '../shared/panelApp';
import { formatDuration, lossPoints, metricRows } from './runData';

interface LiveState {
  run: RunData | undefined;
  progress: { fraction: number; message: string } | undefined;
  log: string[];
  failure: string | undefined;
}

const live: LiveState = { run: undefined, progress: undefined, log: [], failure: undefined };
const maxLogLines = 200;

const app = startPanel('run', {
  onMessage(message, panel) {
    switch (message.type) {
      case 'runData':
        live.run = message.run;
        live.failure = undefined;
        panel.saveState({ runDir: message.run.runDir });
        break;
      case 'jobEvent':
        if (live.run && message.runDir === live.run.runDir) applyEvent(live.run, message.event);
        break;
      case 'empty':
        live.run = undefined;
        replace(panel.root, emptyState('run-empty', 'No run to show', message.message));
        return;
    }
    render(panel);
  },
});
onThemeChange(() => render(app));

function applyEvent(run: RunData, event: JobEvent): void {
  switch (event.type) {
    case 'progress':
      live.progress = { fraction: event.fraction, message: event.message };
      break;
    case 'metric':
      run.metrics.push(event.record);
      break;
    case 'log':
      live.log.push(`[${event.level}] ${event.message}`);
      if (live.log.length > maxLogLines) live.log.splice(0, live.log.length - maxLogLines);
      break;
    case 'finished':
      run.summary = event.summary;
      live.progress = undefined;
      break;
    case 'failed':
      live.failure = event.where ? `${event.message} (at ${event.where})` : event.message;
      live.progress = undefined;
      break;
    case 'started':
    case 'artifact':
      break;
  }
}

function render(panel: PanelApp<'run'>): void {
  const run = live.run;
  if (!run) return;
  const summary = run.summary;
  const status = summary?.status ?? 'unknown';
  const running = status === 'running';

  const statusLine = h(
    'div',
    { className: 'toolbar' },
    h('span', { className: `status status-${status}`, testId: 'run-status' }, status),
    running && custom('vscode-progress-ring', { attrs: { 'aria-label': 'running' } }),
    running && live.progress && h('span', { testId: 'run-progress' }, `${Math.round(live.progress.fraction * 100)}% ${live.progress.message}`),
  );

  const refresh = custom('vscode-button', { testId: 'run-refresh', attrs: { appearance: 'secondary' } }, 'Refresh');
  refresh.addEventListener('click', () => panel.post({ type: 'refresh' }));
  const openSummary = custom('vscode-button', { testId: 'run-open-summary', attrs: { appearance: 'secondary' } }, 'Open summary.json');
  openSummary.addEventListener('click', () => panel.post({ type: 'openFile', path: RUN_FILES.summary }));
  const openLog = custom('vscode-button', { testId: 'run-open-log', attrs: { appearance: 'secondary' } }, 'Open log.txt');
  openLog.addEventListener('click', () => panel.post({ type: 'openFile', path: RUN_FILES.log }));
  const cancel = running ? custom('vscode-button', { testId: 'run-cancel' }, 'Cancel job') : undefined;
  cancel?.addEventListener('click', () => panel.post({ type: 'cancelJob', runDir: run.runDir }));
  const actions = h('div', { className: 'toolbar' }, refresh, openSummary, openLog, cancel);

  const facts = h('dl', { className: 'facts', testId: 'run-facts' });
  const fact = (label: string, value: string | undefined, testId?: string) => {
    if (value === undefined) return;
    facts.append(h('dt', {}, label), h('dd', { testId }, value));
  };
  fact('Name', summary?.name, 'run-name');
  fact('Task', summary?.task, 'run-task');
  fact('Started', summary ? formatLocalTime(summary.startedAt) : undefined);
  fact('Ended', summary?.endedAt ? formatLocalTime(summary.endedAt) : undefined);
  fact('Duration', summary ? formatDuration(summary.startedAt, summary.endedAt) : undefined);
  if (summary?.device) {
    const d = summary.device;
    fact('Device', `${d.used} (requested ${d.requested})${d.fallbackReason ? ` · fallback: ${d.fallbackReason}` : ''}`, 'run-device');
  } else {
    fact('Device', 'not recorded yet', 'run-device');
  }

  const error = summary?.error
    ? `${summary.error.message}${summary.error.where ? ` (at ${summary.error.where})` : ''}`
    : live.failure;

  const rows = summary ? metricRows(summary.metrics) : [];
  const metrics = rows.length > 0
    ? table('metrics-table', ['Metric', 'Value'], rows.map((r) => [r.key, r.value]), [false, true])
    : emptyState('metrics-empty', 'No final metrics yet', 'They appear in summary.json when the run ends.');

  const { points, problems } = lossPoints(run.metrics);
  const curve = points.length > 0 ? h('div', { className: 'chart', testId: 'loss-curve', attrs: { role: 'img', 'aria-label': `loss over ${points.length} steps` } }) : undefined;

  replace(panel.root, 
    h('p', { className: 'subtitle', testId: 'run-id' }, `${run.runId} · ${run.runDir}`),
    statusLine,
    actions,
    error !== undefined ? h('div', { className: 'error', testId: 'run-error' }, error) : undefined,
    facts,
    h('h2', {}, 'Metrics'),
    metrics,
    h('p', { className: 'subtitle', testId: 'record-count' }, `${run.metrics.length} records in metrics.jsonl`),
    curve && h('h2', {}, 'Loss'),
    curve,
    problems.length > 0 ? h('div', { className: 'error', testId: 'record-problems' }, problems.slice(0, 5).join('\n')) : undefined,
    live.log.length > 0 ? h('h2', {}, 'Log') : undefined,
    live.log.length > 0 ? h('div', { className: 'log', testId: 'run-log' }, live.log.join('\n')) : undefined,
  );
  disposeDetachedCharts();
  if (curve) drawLossCurve(curve, points);
}

function drawLossCurve(element: HTMLElement, points: [number, number][]): void {
  const colors = themeColors();
  drawChart(element, {
    animation: false,
    grid: { left: 60, right: 24, top: 16, bottom: 56 },
    tooltip: { trigger: 'axis' },
    xAxis: { type: 'value', name: 'step', nameLocation: 'middle', nameGap: 28, ...axisStyle(colors) },
    yAxis: { type: 'value', name: 'loss', scale: true, ...axisStyle(colors) },
    series: [{ type: 'line', data: points, showSymbol: points.length <= 50, lineStyle: { color: colors.accent }, itemStyle: { color: colors.accent } }],
  });
}
