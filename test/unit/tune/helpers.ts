// A tune config over the tiny GPT-2 fixture and a learnable pre-tokenized data set, run in-process.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadExperimentConfig, type TuneConfig } from '../../../src/engine/config';
import { TaskCancelled, type RunContext } from '../../../src/engine/tasks';
import type { MetricRecord } from '../../../src/protocol/runFiles';
import { SafetensorsFile } from '../../../src/engine/models/safetensors';
import { writeCycleTokens, writeTinyRandomGpt2 } from '../../../src/engine/models/tinyRandomGpt2';

const created: string[] = [];

/** A fresh temp folder, removed when the test process exits. */
export function tempDir(prefix: string): string {
  if (created.length === 0) process.once('exit', () => created.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `peft-${prefix}-`));
  created.push(dir);
  return dir;
}

let model: string | undefined;
/** The demo's tiny GPT-2-style model (the fixture's frozen embeddings and LayerNorm keep its logits near 0, see report). */
export function tinyModel(): string {
  model ??= writeTinyRandomGpt2(path.join(tempDir('model'), 'demo-model'), 0);
  return model;
}

export function writeTuneConfig(dir: string, overrides: { model?: string; data?: Record<string, unknown>; train?: Record<string, unknown>; peft?: Record<string, unknown> } = {}): string {
  writeCycleTokens(path.join(dir, 'train.jsonl'), { count: 32, length: 12, seed: 1 });
  writeCycleTokens(path.join(dir, 'eval.jsonl'), { count: 8, length: 12, seed: 2 });
  const config = {
    name: 'cycle', task: 'tune', model: overrides.model ?? tinyModel(),
    data: { train: 'train.jsonl', eval: 'eval.jsonl', format: 'tokens', maxLength: 12, ...overrides.data },
    peft: { r: 4, alpha: 8, dropout: 0.05, targets: ['c_attn', 'c_proj', 'c_fc'], ...overrides.peft },
    train: { steps: 30, batchSize: 8, lr: 0.02, warmupSteps: 2, seed: 3, evalEvery: 0, checkpointEvery: 10, ...overrides.train },
    runtime: { device: 'cpu', threads: 1 },
  };
  const file = path.join(dir, 'cycle.peft.json');
  fs.writeFileSync(file, JSON.stringify(config, null, 2));
  return file;
}

export function loadTune(file: string): TuneConfig {
  const config = loadExperimentConfig(file);
  if (config.task !== 'tune') throw new Error('expected a tune config');
  return config;
}

export interface StubContext extends RunContext {
  readonly metrics: MetricRecord[];
  readonly logs: string[];
  cancelAfterSteps?: number;
  runCancelHandlers(): void;
}

/** A RunContext like the worker's, in memory; `cancelAfterSteps` makes throwIfCancelled fire after that many step records. */
export function stubContext(runDir: string): StubContext {
  fs.mkdirSync(runDir, { recursive: true });
  const handlers = new Set<() => void>();
  const metrics: MetricRecord[] = [];
  const logs: string[] = [];
  const ctx: StubContext = {
    runDir, metrics, logs,
    progress: () => undefined,
    log: (level, message) => void logs.push(`${level}: ${message}`),
    throwIfCancelled: () => {
      const n = metrics.filter((m) => m.type === 'step').length;
      if (ctx.cancelAfterSteps !== undefined && n >= ctx.cancelAfterSteps) {
        ctx.runCancelHandlers();
        throw new TaskCancelled();
      }
    },
    emitMetric: (r) => {
      metrics.push(r);
      fs.appendFileSync(path.join(runDir, 'metrics.jsonl'), `${JSON.stringify(r)}\n`);
    },
    artifact: () => undefined,
    onCancel: (h) => {
      handlers.add(h);
      return () => handlers.delete(h);
    },
    runCancelHandlers: () => {
      for (const h of handlers) h();
    },
  };
  return ctx;
}

export function stepLosses(metrics: readonly MetricRecord[]): number[] {
  return metrics.filter((m) => m.type === 'step').map((m) => (typeof m.loss === 'number' ? m.loss : NaN));
}

/** Every tensor of every kept checkpoint folder is finite; returns the folder names. */
export function assertCheckpointsFinite(runDir: string): string[] {
  const root = path.join(runDir, 'checkpoints');
  const dirs = fs.readdirSync(root).filter((d) => /^step-\d+(-\d+)?$/.test(d));
  for (const d of dirs) {
    for (const f of fs.readdirSync(path.join(root, d)).filter((x) => x.endsWith('.safetensors'))) {
      const file = SafetensorsFile.open(path.join(root, d, f));
      try {
        for (const name of file.tensors.keys()) {
          const data = file.readFloat32(name);
          const bad = data.findIndex((v) => !Number.isFinite(v));
          assert.equal(bad, -1, `${d}/${f}: ${name}[${bad}] = ${data[bad]}`);
        }
      } finally {
        file.close();
      }
    }
  }
  return dirs;
}
