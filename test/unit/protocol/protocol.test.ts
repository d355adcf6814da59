import { strict as assert } from 'node:assert';
import {
  parseHostMessage, parseJobEvent, parseWebviewMessage, parseWorkerRequest, ProtocolError, type JobEvent,
} from '../../../src/protocol';

const summary = { status: 'completed' as const, name: 'n', task: 'device-check', startedAt: 't0', endedAt: 't1', metrics: { gflops: 1 } };

describe('worker protocol', () => {
  it('accepts valid requests', () => {
    assert.deepEqual(parseWorkerRequest({ type: 'start', configPath: '/a.peft.json', runDir: '/r' }), { type: 'start', configPath: '/a.peft.json', runDir: '/r' });
    assert.deepEqual(parseWorkerRequest({ type: 'start', configPath: '/a', runDir: '/r', runtime: { device: 'cpu' } }).type, 'start');
    assert.deepEqual(parseWorkerRequest({ type: 'cancel' }), { type: 'cancel' });
  });

  it('rejects malformed requests naming the field', () => {
    const cases: Array<[unknown, RegExp]> = [
      [{ type: 'start', runDir: '/r' }, /invalid worker request: \$\.configPath: Required/],
      [{ type: 'stop' }, /\$\.type: Invalid discriminator value/],
      [{ type: 'cancel', now: true }, /Unrecognized key\(s\) in object: 'now'/],
      [{ type: 'start', configPath: '/a', runDir: '/r', runtime: { device: 'tpu' } }, /\$\.runtime\.device/],
      ['start', /invalid worker request/],
      [null, /invalid worker request/],
    ];
    for (const [message, pattern] of cases) {
      assert.throws(() => parseWorkerRequest(message), (err: unknown) => err instanceof ProtocolError && pattern.test(err.message), JSON.stringify(message));
    }
  });

  it('accepts every kind of job event', () => {
    const events: JobEvent[] = [
      { type: 'started', runDir: '/r', task: 'device-check', name: 'n' },
      { type: 'progress', fraction: 0.5, message: 'half' },
      { type: 'metric', record: { type: 'step', step: 0, loss: 1 } },
      { type: 'artifact', path: '/r/adapter', kind: 'adapter' },
      { type: 'log', level: 'warn', message: 'w' },
      { type: 'finished', summary: { ...summary, metrics: { gflops: 1 } } },
      { type: 'failed', message: 'boom', where: 'task x' },
    ];
    for (const event of events) assert.deepEqual(parseJobEvent(event), event);
  });

  it('rejects malformed job events naming the field', () => {
    const cases: Array<[unknown, RegExp]> = [
      [{ type: 'progress', fraction: 1.5, message: 'x' }, /\$\.fraction: Number must be less than or equal to 1/],
      [{ type: 'progress', fraction: 0.5 }, /\$\.message: Required/],
      [{ type: 'metric', record: { step: 1 } }, /\$\.record\.type: Required/],
      [{ type: 'log', level: 'loud', message: 'x' }, /\$\.level/],
      [{ type: 'finished', summary: { ...summary, status: 'done' } }, /\$\.summary\.status/],
      [{ type: 'failed' }, /\$\.message: Required/],
      [{ type: 'hello' }, /\$\.type: Invalid discriminator value/],
      [42, /invalid job event/],
    ];
    for (const [message, pattern] of cases) {
      assert.throws(() => parseJobEvent(message), (err: unknown) => err instanceof ProtocolError && pattern.test(err.message), JSON.stringify(message));
    }
  });
});

describe('panel protocol', () => {
  const run = { runDir: '/r', runId: '20260101-000000-demo', summary, metrics: [{ type: 'step', step: 0, loss: 1 }] };

  it('accepts each panel\'s messages in both directions', () => {
    assert.deepEqual(parseHostMessage('run', { type: 'runData', run }), { type: 'runData', run });
    assert.equal(parseHostMessage('layerImportance', { type: 'jobEvent', runDir: '/r', event: { type: 'progress', fraction: 0, message: '' } }).type, 'jobEvent');
    assert.equal(parseHostMessage('rankChoices', { type: 'empty', message: 'no runs' }).type, 'empty');
    assert.deepEqual(parseWebviewMessage('run', { type: 'ready' }), { type: 'ready' });
    assert.deepEqual(parseWebviewMessage('gradientDiagnostics', { type: 'openFile', path: 'summary.json' }), { type: 'openFile', path: 'summary.json' });
    assert.deepEqual(parseWebviewMessage('run', { type: 'cancelJob', runDir: '/r' }), { type: 'cancelJob', runDir: '/r' });
  });

  it('rejects malformed messages and messages of another panel', () => {
    assert.throws(() => parseWebviewMessage('run', { type: 'openFile', path: '' }), /invalid message from the run panel: \$\.path/);
    assert.throws(() => parseWebviewMessage('layerImportance', { type: 'cancelJob', runDir: '/r' }), /layerImportance panel: \$\.type/);
    assert.throws(() => parseHostMessage('rankChoices', { type: 'jobEvent', runDir: '/r', event: { type: 'log', level: 'info', message: '' } }), /\$\.type/);
    assert.throws(() => parseHostMessage('run', { type: 'runData', run: { ...run, metrics: [{ loss: 1 }] } }), /\$\.run\.metrics\[0\]\.type/);
    assert.throws(() => parseWebviewMessage('run', 'ready'), /invalid message from the run panel/);
  });
});
