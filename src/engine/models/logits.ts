// One-shot forward pass: builds the causal-LM graph for a padded batch, runs it on ORT, returns the logits.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { saveModel, toModelBytes, type GraphBuilder } from '../graph';
import { createSession, hostTensor, type RuntimeSession, type RuntimeSessionOptions } from '../runtime';
import type { PaddedBatch } from './batch';
import { buildCausalLm, INPUT_NAMES, type CausalLmOptions } from './causalLm';
import type { LoadedModel } from './model';

/** Above this many weight bytes the graph goes to a temporary file with external data (ModelProto cap 2 GiB). */
const INLINE_LIMIT_BYTES = 1024 ** 3;

export interface LogitsResult {
  /** Row-major [batch, seq, vocab]. */
  readonly logits: Float32Array;
  readonly dims: readonly [number, number, number];
  /** The provider ORT used. */
  readonly provider: string;
}

export async function computeLogits(
  model: LoadedModel, batch: PaddedBatch,
  options: { session?: RuntimeSessionOptions; graph?: Pick<CausalLmOptions, 'linearHook' | 'layers'> } = {},
): Promise<LogitsResult> {
  const graph = buildCausalLm(model, { batch: batch.batch, seq: batch.seq, ...options.graph });
  const out = graph.builder.output(graph.logits, 'logits');
  const session = await openGraphSession(model, graph.builder, `${model.config.modelType} logits b${batch.batch} s${batch.seq}`, options.session);
  try {
    const dims = [batch.batch, batch.seq];
    const i64 = (a: Int32Array) => BigInt64Array.from(a, (v) => BigInt(v));
    const result = await session.run({
      [INPUT_NAMES.inputIds]: hostTensor(INPUT_NAMES.inputIds, i64(batch.ids), dims),
      [INPUT_NAMES.attentionMask]: hostTensor(INPUT_NAMES.attentionMask, i64(batch.mask), dims),
      [INPUT_NAMES.positionIds]: hostTensor(INPUT_NAMES.positionIds, i64(batch.positions), dims),
    });
    const v = model.config.vocabSize;
    const logits = result.get(out.name, 'float32', [batch.batch, batch.seq, v]).data;
    return { logits, dims: [batch.batch, batch.seq, v], provider: session.provider.used };
  } finally {
    await session.dispose();
  }
}

/**
 * Opens an ORT session on a model graph: serialised in memory when the weights are small, else saved with
 * external data to a temporary folder (a ModelProto is capped at 2 GiB), removed once ORT has loaded it.
 */
export async function openGraphSession(
  model: LoadedModel, builder: GraphBuilder, label: string, options?: RuntimeSessionOptions, inlineLimitBytes = INLINE_LIMIT_BYTES,
): Promise<RuntimeSession> {
  if (model.weights.parameterCount() * 4 < inlineLimitBytes) {
    return createSession({ bytes: toModelBytes(builder) }, { label, ...options });
  }
  const tmpDir = fs.mkdtempSync(path.join(os.tmpdir(), 'peft-lab-graph-'));
  try {
    return await createSession({ path: saveModel(builder, path.join(tmpDir, 'model.onnx')).modelPath }, { label, ...options });
  } finally {
    try {
      fs.rmSync(tmpDir, { recursive: true, force: true });
    } catch {
      // Best effort: a platform that keeps the data file open (Windows) leaves it to the OS temp cleanup.
    }
  }
}

/** Checks token ids against the model's vocabulary (an id past the embedding would fail inside ORT's Gather). */
export function checkIdsInVocab(rows: readonly (readonly number[])[], vocabSize: number): void {
  rows.forEach((row, r) => row.forEach((id, i) => {
    if (!Number.isSafeInteger(id) || id < 0 || id >= vocabSize) {
      throw new RangeError(`token ids row ${r}, position ${i}: ${id} is not in 0..${vocabSize - 1} (the model's vocab_size)`);
    }
  }));
}
