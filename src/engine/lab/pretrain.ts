// Pretraining of the built-in lab model on the generated world's biographies, with the project's own engine:
// every weight trainable (train/fullModelRunner.ts), AdamW, warmup + cosine decay, global-norm clipping
// (train/trainer.ts). Each pass over the people re-phrases every biography (biographies.ts), documents are packed
// whole into fixed-length blocks (<s> doc </s> <s> doc </s> ... then padding), and the loss covers every token.
// The result is a Hugging Face folder (config.json, model.safetensors, tokenizer.json, tokenizer_config.json)
// plus `pretraining.json`: the settings, the loss curve, the probe accuracies and the wall time.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { PretrainRecord, PretrainSettings } from '../../protocol/labFiles';
import type { TokenExample } from '../data/examples';
import { loadModel } from '../models/model';
import { writeSafetensors } from '../models/safetensorsWriter';
import { ModelTokenizer } from '../models/tokenizer';
import { writeJsonAtomic } from '../runs/atomic';
import { FullModelRunner } from '../train/fullModelRunner';
import { createOptimizer } from '../train/optimizer';
import { Trainer } from '../train/trainer';
import { pretrainingDocuments } from './biographies';
import { labModelConfig, PRETRAINING_RECORD, worldSha256, writeInitialModel } from './labModel';
import { writeLabTokenizer } from './labTokenizer';
import { probeAccuracy } from './probe';
import { splitPeople } from './labTasks';
import { generateWorld } from './world';

export const DEFAULT_PRETRAIN: PretrainSettings = {
  worldSeed: 1, people: 800, seed: 7, steps: 4000, batchSize: 16, seq: 128, lr: 3e-3, warmupSteps: 100, passes: 200, evalEvery: 500, threads: 0,
};

/** Documents tokenized (<s> added by the tokenizer, </s> appended) and packed whole into blocks of at most `seq` tokens. */
export function packDocuments(docs: readonly string[], tokenizer: ModelTokenizer, seq: number): TokenExample[] {
  const eos = tokenizer.eosTokenId;
  if (eos === undefined) throw new Error('lab tokenizer has no eos token');
  const blocks: TokenExample[] = [];
  let current: number[] = [];
  const flush = (): void => {
    if (current.length >= 2) blocks.push({ ids: current, labels: current });
    current = [];
  };
  for (const doc of docs) {
    const ids = [...tokenizer.encode(doc), eos];
    if (ids.length > seq) throw new Error(`a biography has ${ids.length} tokens, more than the block length ${seq}`);
    if (current.length + ids.length > seq) flush();
    current.push(...ids);
  }
  flush();
  return blocks;
}

export interface PretrainCallbacks {
  log(line: string): void;
  throwIfCancelled(): void;
}

/** Pretrains into `outDir` (replaced atomically at the end: written beside it, then renamed). */
export async function pretrainLabModel(outDir: string, s: PretrainSettings, cb: PretrainCallbacks): Promise<PretrainRecord> {
  const t0 = performance.now();
  const world = generateWorld(s.worldSeed, { people: s.people });
  const work = `${outDir}.tmp-${process.pid}`;
  fs.rmSync(work, { recursive: true, force: true });
  fs.mkdirSync(work, { recursive: true });
  writeLabTokenizer(work, world);
  const tokenizer = ModelTokenizer.load(work);
  const config = labModelConfig(roundUp(tokenizer.vocabSize, 8));
  writeInitialModel(work, config, s.seed);
  const model = loadModel(work);
  const runner = new FullModelRunner(model, { device: 'cpu', threads: s.threads });
  try {
    const docs: string[] = [];
    for (let pass = 0; pass < s.passes; pass++) docs.push(...pretrainingDocuments(world, s.seed, pass));
    const blocks = packDocuments(docs, tokenizer, s.seq);
    const padId = tokenizer.padTokenId ?? 0;
    cb.log(`world seed ${s.worldSeed}: ${world.people.length} people; ${docs.length} biographies in ${blocks.length} blocks of <= ${s.seq} tokens; ` +
      `model ${runner.parameterCount()} parameters (vocab ${tokenizer.vocabSize})`);
    const probePeople = splitPeople(world, s.worldSeed).test.slice(0, 200);
    const curve: PretrainRecord['curve'] = [];
    const probes: PretrainRecord['probes'] = [];
    const probe = async (step: number): Promise<void> => {
      const results = await probeAccuracy(runner, tokenizer, world, probePeople);
      probes.push({ step, results });
      cb.log(`step ${step}: probe accuracy ${results.map((r) => `${r.attribute} ${(100 * r.accuracy).toFixed(1)}% (chance ${(100 * r.chance).toFixed(1)}%)`).join(', ')}`);
    };
    const trainer = new Trainer(runner, createOptimizer('adamw', 0), blocks, s.seq, padId, {
      steps: s.steps, batchSize: s.batchSize, gradAccum: 1, lr: s.lr, warmupSteps: s.warmupSteps, decay: 'cosine', maxGradNorm: 1,
      seed: s.seed, evalEvery: s.evalEvery, checkpointEvery: 0,
    });
    let window = 0;
    let windowSteps = 0;
    await trainer.run({
      onStep: (r) => {
        window += r.loss;
        windowSteps += 1;
        if ((r.step + 1) % 25 === 0 || r.step === 0) {
          const loss = window / windowSteps;
          curve.push({ step: r.step, loss, elapsedSeconds: (performance.now() - t0) / 1000 });
          cb.log(`step ${r.step + 1}/${s.steps} loss ${loss.toFixed(4)} (${r.ms.toFixed(0)} ms/step)`);
          window = 0;
          windowSteps = 0;
        }
      },
      evaluate: (step) => probe(step + 1),
      checkpoint: () => undefined,
      throwIfCancelled: () => cb.throwIfCancelled(),
    });
    await probe(s.steps);
    writeSafetensors(path.join(work, 'model.safetensors'),
      runner.namedWeights().map((w) => ({ name: w.name, dtype: 'F32' as const, shape: w.shape, data: w.data })), { format: 'pt' });
    const record: PretrainRecord = {
      settings: s, worldSha256: worldSha256(world), parameters: runner.parameterCount(), tokensPerStep: s.batchSize * s.seq,
      wallSeconds: (performance.now() - t0) / 1000, curve, probes,
    };
    writeJsonAtomic(path.join(work, PRETRAINING_RECORD), record);
    fs.rmSync(outDir, { recursive: true, force: true });
    fs.renameSync(work, outDir);
    return record;
  } finally {
    await runner.dispose();
    model.close();
    fs.rmSync(work, { recursive: true, force: true });
  }
}

const roundUp = (n: number, k: number): number => Math.ceil(n / k) * k;

