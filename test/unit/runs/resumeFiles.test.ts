// Corrupt resume files (issue 16 item 8): a truncated checkpoints/latest.json, state.json or offsite-state.json,
// or a wrong-typed entry, is reported with the file and the JSON path, not a bare `Unexpected token` or a TypeError.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { StepState } from '../../../src/engine/offsite/pipeline/stepState';
import { findCheckpoint } from '../../../src/engine/train/checkpoint';

describe('resume files: parsed with their schemas', () => {
  let runDir: string;
  beforeEach(() => {
    runDir = fs.mkdtempSync(path.join(os.tmpdir(), 'peft-resume-files-'));
  });
  afterEach(() => fs.rmSync(runDir, { recursive: true, force: true }));

  const state = { step: 4, consumed: 32, seed: 1, rng: 'derived from seed, step and micro-batch', optimizer: 'adamw', fingerprint: 'f' };
  function writeCheckpoint(latest: string, stateText: string): { latest: string; state: string } {
    const dir = path.join(runDir, 'checkpoints', 'step-000004');
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(runDir, 'checkpoints', 'latest.json'), latest);
    fs.writeFileSync(path.join(dir, 'state.json'), stateText);
    return { latest: path.join(runDir, 'checkpoints', 'latest.json'), state: path.join(dir, 'state.json') };
  }
  const escaped = (file: string): string => file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

  it('reads a good checkpoint pointer and state', () => {
    writeCheckpoint('{"dir":"step-000004","step":4}', JSON.stringify(state));
    assert.deepEqual(findCheckpoint(runDir)?.state, state);
  });

  it('a truncated latest.json names the file', () => {
    const files = writeCheckpoint('{"dir": "step-0', JSON.stringify(state));
    assert.throws(() => findCheckpoint(runDir), new RegExp(`^Error: ${escaped(files.latest)}: not valid JSON \\(.*\\); the file is truncated or corrupt$`));
  });

  it('a latest.json naming another kind of folder names $.dir', () => {
    const files = writeCheckpoint('{"dir":"../elsewhere","step":4}', JSON.stringify(state));
    assert.throws(() => findCheckpoint(runDir), new RegExp(`${escaped(files.latest)}: \\$\\.dir: must name a step-NNNNNN folder`));
  });

  it('a truncated or wrong-typed state.json names the file and the key', () => {
    const files = writeCheckpoint('{"dir":"step-000004","step":4}', JSON.stringify(state).slice(0, 20));
    assert.throws(() => findCheckpoint(runDir), new RegExp(`${escaped(files.state)}: not valid JSON`));
    fs.writeFileSync(files.state, JSON.stringify({ ...state, consumed: 'many' }));
    assert.throws(() => findCheckpoint(runDir), new RegExp(`${escaped(files.state)}: \\$\\.consumed: Expected number, received string`));
    fs.writeFileSync(files.state, JSON.stringify({ ...state, istScores: [1, null] }));
    assert.throws(() => findCheckpoint(runDir), /state\.json: \$\.istScores\[1\]: Expected number, received null/);
  });

  it('a latest.json naming a missing folder says so', () => {
    writeCheckpoint('{"dir":"step-000009","step":9}', JSON.stringify(state));
    assert.throws(() => findCheckpoint(runDir), /latest\.json: \$\.dir names step-000009, but .*step-000009[/\\]state\.json does not exist/);
  });

  it('offsite-state.json: truncated, or a wrong-typed step entry, names the file and the key', () => {
    const file = path.join(runDir, 'offsite-state.json');
    const good = { fingerprint: 'f', steps: { zeroShot: { full: { evalLoss: 1.5, evalPerplexity: null }, emulator: { evalLoss: 2 } }, tuneEmulator: { steps: 3, msPerStep: 1 } } };
    fs.writeFileSync(file, JSON.stringify(good));
    const opened = StepState.open(runDir, 'f');
    assert.deepEqual(opened.completed, ['zeroShot', 'tuneEmulator']);
    assert.ok(Number.isNaN(opened.get('zeroShot')?.full.evalPerplexity), 'a null metric (NaN written by JSON.stringify) reads back as NaN');
    fs.writeFileSync(file, JSON.stringify(good).slice(0, 30));
    assert.throws(() => StepState.open(runDir, 'f'), new RegExp(`${escaped(file)}: not valid JSON`));
    fs.writeFileSync(file, JSON.stringify({ ...good, steps: { ...good.steps, tuneEmulator: { steps: '3', msPerStep: 1 } } }));
    assert.throws(() => StepState.open(runDir, 'f'), new RegExp(`${escaped(file)}: \\$\\.steps\\.tuneEmulator\\.steps: Expected number, received string`));
    fs.writeFileSync(file, JSON.stringify({ ...good, steps: { ...good.steps, gradientsBefore: { names: ['a'], cosine: 'x', relError: [] } } }));
    assert.throws(() => StepState.open(runDir, 'f'), /offsite-state\.json: \$\.steps\.gradientsBefore\.cosine: Expected array, received string/);
  });
});
