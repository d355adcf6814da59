import { strict as assert } from 'node:assert';
import { describeConfig, describeRun, experimentNameOf, type RunListing } from '../../../src/extension/experiments/treeItemModel';
import { formatLocalTime } from '../../../src/protocol/localTime';
import { runStatusSchema, type RunSummary } from '../../../src/protocol';

const started = new Date(2026, 0, 2, 9, 5, 30); // local time
const summary = (over: Partial<RunSummary>): RunSummary => ({
  status: 'completed',
  name: 'demo',
  task: 'device-check',
  startedAt: started.toISOString(),
  metrics: {},
  ...over,
});
const run = (s: RunSummary | null, extra: Partial<RunListing> = {}): RunListing => ({ runId: '20260102-090530-demo', runDir: '/w/.peft-lab/runs/20260102-090530-demo', summary: s, ...extra });

describe('Experiments tree item models', () => {
  it('maps each run status to its icon, description and menu context', () => {
    const expected = {
      completed: { icon: 'pass', color: 'testing.iconPassed' },
      failed: { icon: 'error', color: 'testing.iconFailed' },
      cancelled: { icon: 'circle-slash', color: 'charts.yellow' },
      running: { icon: 'sync~spin', color: 'charts.blue' },
    } as const;
    for (const [status, want] of Object.entries(expected)) {
      const parsed = summary({ status: runStatusSchema.parse(status) });
      const model = describeRun(run(parsed), false);
      assert.equal(model.label, '20260102-090530-demo');
      assert.equal(model.icon.id, want.icon, status);
      assert.equal(model.icon.color, want.color, status);
      assert.equal(model.description, `${status} · 2026-01-02 09:05`);
      assert.equal(model.contextValue, 'peftLab.run');
    }
  });

  it('shows a live job as running whatever the summary says, with the cancel menu context', () => {
    const model = describeRun(run(summary({ status: 'completed' })), true);
    assert.equal(model.icon.id, 'sync~spin');
    assert.equal(model.contextValue, 'peftLab.run.running');
    assert.match(model.description, /^running/);
  });

  it('puts device, fallback and error in the tooltip, escaped as Markdown', () => {
    const model = describeRun(
      run(summary({ status: 'failed', device: { requested: 'cuda', used: 'cpu', fallbackReason: 'no CUDA' }, error: { message: 'bad *value*', where: '$.deviceCheck.size' } })),
      false,
    );
    assert.match(model.tooltip, /device: cpu \(requested cuda\) \(no CUDA\)/);
    assert.match(model.tooltip, /error: bad \\\*value\\\* at \$\\\.deviceCheck\\\.size/);
  });

  it('handles a run without a readable summary', () => {
    const model = describeRun(run(null, { summaryError: 'summary.json: invalid JSON' }), false);
    assert.equal(model.icon.id, 'question');
    assert.equal(model.description, 'no summary');
    assert.match(model.tooltip, /invalid JSON/);
  });

  it('labels configs by file name without the suffix', () => {
    assert.equal(experimentNameOf('device-check.peft.json'), 'device-check');
    const model = describeConfig('second.peft.json', 'experiments/other', 2, false);
    assert.equal(model.label, 'second');
    assert.equal(model.description, 'experiments/other');
    assert.equal(model.contextValue, 'peftLab.config');
    assert.match(model.tooltip, /2 runs/);
    const running = describeConfig('a.peft.json', '', 1, true);
    assert.equal(running.contextValue, 'peftLab.config.running');
    assert.equal(running.description, 'running');
    assert.match(running.tooltip, /1 run$/);
  });

  it('formats times as local YYYY-MM-DD HH:MM and leaves non-dates alone', () => {
    assert.equal(formatLocalTime(new Date(2026, 11, 31, 23, 59).toISOString()), '2026-12-31 23:59');
    assert.equal(formatLocalTime('not a date'), 'not a date');
  });
});
