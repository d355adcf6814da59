// Side-by-side offsite-tuning table (issue 7): every emulator method (gradot, svd, uniform-drop, crash, ot) through
// the whole pipeline on the tiny GPT-2 fixture (5 layers, adapters [1, 1]: 3 middle layers compressed), the same
// config and seed: full zero-shot, emulator zero-shot, emulator fine-tuned, plug-in, full fine-tuned (the upper
// bound), privacy gap, mean adapter-gradient cosine (emulator vs full model, held-out data) before and after
// tuning, compression seconds, emulator parameters. Metric: perplexity (token data; lower is better).
//   node --import tsx bench/offsiteCompare.ts [lora|full] [steps]
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadExperimentConfig } from '../src/engine/config';
import { runOffsite } from '../src/engine/tasks';
import { writeCycleTokens } from '../src/engine/models/tinyRandomGpt2';
import type { RunContext } from '../src/engine/tasks/context';
import { fmt } from './report';

const METHODS = ['gradot', 'svd', 'uniform-drop', 'crash', 'ot'] as const;
const GPT2_FIXTURE = path.resolve(__dirname, '..', '..', 'shared', 'fixtures', 'models', 'tiny-random-gpt2');

function quietContext(runDir: string): RunContext {
  fs.mkdirSync(runDir, { recursive: true });
  return {
    runDir, progress: () => undefined, log: () => undefined, throwIfCancelled: () => undefined,
    emitMetric: (r) => fs.appendFileSync(path.join(runDir, 'metrics.jsonl'), `${JSON.stringify(r)}\n`),
    artifact: () => undefined, onCancel: () => () => undefined,
  };
}

const num = (o: object, key: string): number => {
  const v: unknown = Reflect.get(o, key);
  return typeof v === 'number' ? v : Number.NaN;
};

export async function offsiteTable(adapterPeft: 'lora' | 'full', steps: number): Promise<string[]> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'peft-offsite-bench-'));
  try {
    writeCycleTokens(path.join(dir, 'train.jsonl'), { count: 64, length: 16, seed: 1, vocab: 1000 });
    writeCycleTokens(path.join(dir, 'eval.jsonl'), { count: 16, length: 16, seed: 2, vocab: 1000 });
    const lines = [
      `offsite-tuning, tiny GPT-2 fixture, adapters [1, 1] (${adapterPeft}), ${steps} steps, perplexity (lower is better); gap = emulatorFT - plugIn`,
      '| method | full ZS | emulator ZS | emulator FT | plug-in | full FT | gap | cos before | cos after | compression s | emulator params |',
      '|---|---|---|---|---|---|---|---|---|---|---|',
    ];
    for (const method of METHODS) {
      const file = path.join(dir, `${method}.peft.json`);
      fs.writeFileSync(file, JSON.stringify({
        name: method, task: 'offsite', model: GPT2_FIXTURE,
        data: { train: 'train.jsonl', eval: 'eval.jsonl', format: 'tokens', maxLength: 16 },
        peft: { r: 4, alpha: 8, dropout: 0 },
        train: { steps, batchSize: 8, lr: 0.01, warmupSteps: 2, seed: 0, evalEvery: 0 },
        offsite: { adapterLayers: [1, 1], adapterPeft, fullFinetune: true, emulator: { method, keepLayers: 1, supportExamples: 32 } },
        runtime: { device: 'cpu', threads: 1 },
      }));
      const config = loadExperimentConfig(file);
      if (config.task !== 'offsite') throw new Error('not an offsite config');
      const summary = await runOffsite(config, quietContext(path.join(dir, `run-${method}`)));
      const o = summary.offsite;
      if (typeof o !== 'object' || o === null) throw new Error(`${method}: no offsite summary`);
      const cells = ['fullZeroShot', 'emulatorZeroShot', 'emulatorFinetuned', 'plugIn', 'fullFinetuned', 'gap'].map((k) => fmt(num(o, k), 2));
      lines.push(`| ${method} | ${cells.join(' | ')} | ${fmt(num(o, 'meanCosineBefore'), 3)} | ${fmt(num(o, 'meanCosineAfter'), 3)} | ${fmt(num(o, 'compressionSeconds'), 2)} | ${num(o, 'emulatorParameters')} / ${num(o, 'fullParameters')} |`);
    }
    return lines;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

if (require.main === module) {
  const peft = process.argv[2] === 'full' ? 'full' : 'lora';
  const steps = Number(process.argv[3] ?? 40);
  offsiteTable(peft, steps).then((lines) => console.log(lines.join('\n')), (e: unknown) => {
    console.error(e instanceof Error ? e.stack ?? e.message : String(e));
    process.exitCode = 1;
  });
}
