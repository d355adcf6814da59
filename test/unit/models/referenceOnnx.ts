// Runs a fixture's reference.onnx (exported by Hugging Face / ONNX Runtime tooling, see the fixtures README) on
// a padded batch and returns float32 logits [batch * seq * vocab].
import * as path from 'node:path';
import type { InferenceSession } from 'onnxruntime-node';
import { loadOrt } from '../../../src/engine/runtime/ort';
import { f16BitsToNumber } from '../../../src/engine/models/dtype';
import type { PaddedBatch } from '../../../src/engine/models/batch';

const sessions = new Map<string, Promise<InferenceSession>>();

function session(dir: string): Promise<InferenceSession> {
  let s = sessions.get(dir);
  if (s === undefined) {
    const ort = loadOrt();
    s = ort.InferenceSession.create(path.join(dir, 'reference.onnx'), { intraOpNumThreads: 1, interOpNumThreads: 1 });
    sessions.set(dir, s);
  }
  return s;
}

export async function referenceOnnxLogits(dir: string, kind: 'gpt2' | 'llama', batch: PaddedBatch): Promise<Float32Array> {
  const ort = loadOrt();
  const s = await session(dir);
  const dims = [batch.batch, batch.seq];
  const feeds: Record<string, InstanceType<typeof ort.Tensor>> = {};
  if (kind === 'gpt2') {
    feeds.input_ids = new ort.Tensor('int32', batch.ids, dims);
    feeds.position_ids = new ort.Tensor('int32', batch.positions, dims);
    feeds.attention_mask = new ort.Tensor('int32', batch.mask, dims);
    for (let l = 0; l < 5; l++) feeds[`past_${l}`] = new ort.Tensor('float32', new Float32Array(0), [2, batch.batch, 4, 0, 8]);
  } else {
    const i64 = (a: Int32Array) => BigInt64Array.from(a, (v) => BigInt(v));
    feeds.input_ids = new ort.Tensor('int64', i64(batch.ids), dims);
    feeds.position_ids = new ort.Tensor('int64', i64(batch.positions), dims);
    feeds.attention_mask = new ort.Tensor('int64', i64(batch.mask), dims);
    for (let l = 0; l < 2; l++) {
      for (const kv of ['key', 'value']) {
        feeds[`past_key_values.${l}.${kv}`] = new ort.Tensor('float16', new Uint16Array(0), [batch.batch, 1, 0, 16]);
      }
    }
  }
  const out = await s.run(feeds);
  const logits = out.logits;
  if (logits.type === 'float32' && logits.data instanceof Float32Array) return logits.data;
  if (logits.type === 'float16' && logits.data instanceof Uint16Array) {
    return Float32Array.from(logits.data, (h) => f16BitsToNumber(h));
  }
  throw new Error(`reference.onnx in ${dir}: unexpected logits type ${logits.type}`);
}
