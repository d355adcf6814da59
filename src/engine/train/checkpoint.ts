// Training checkpoints for resume: `<runDir>/checkpoints/step-NNNNNN/` holds the adapter (its method's folder
// format, peft/adapterFolder.ts), the optimizer state (optimizer.safetensors) and state.json;
// `checkpoints/latest.json` names the newest.
// A checkpoint folder is written under a temporary name and renamed into place, then latest.json is replaced
// atomically, so a crash at any point leaves the previous checkpoint intact and named.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { SafetensorsFile } from '../models/safetensors';
import { writeSafetensors } from '../models/safetensorsWriter';
import { loadAdapterFolderInto, saveAdapterFolder, type PeftAdapter } from '../peft/adapterFolder';
import { writeJsonAtomic } from '../runs/atomic';
import type { Optimizer } from './optimizer';

export const CHECKPOINTS_DIR = 'checkpoints';
const LATEST_FILE = 'latest.json';
const STATE_FILE = 'state.json';
const OPTIMIZER_FILE = 'optimizer.safetensors';

/** Everything besides tensors needed to continue a run exactly. */
export interface TrainState {
  /** Completed optimizer steps (the next step to run). */
  readonly step: number;
  /** Training examples consumed by the completed steps (the data order is derived from the seed and this). */
  readonly consumed: number;
  readonly seed: number;
  /** Random streams are derived from (seed, purpose, step, micro-batch), so seed + step is the whole RNG state. */
  readonly rng: 'derived from seed, step and micro-batch';
  readonly optimizer: 'adamw' | 'sgd';
  /** Fingerprint of the settings that must match on resume (model, data, peft, train). */
  readonly fingerprint: string;
  /** IST layer scores after the completed steps (runs with layerSelection ist). */
  readonly istScores?: number[];
}

export interface CheckpointInfo {
  readonly dir: string;
  readonly state: TrainState;
}

export function saveCheckpoint(runDir: string, state: TrainState, adapter: PeftAdapter, optimizer: Optimizer, info: { baseModel: string; modelFamily: string }): string {
  const root = path.join(runDir, CHECKPOINTS_DIR);
  fs.mkdirSync(root, { recursive: true });
  const name = `step-${String(state.step).padStart(6, '0')}`;
  const finalDir = path.join(root, name);
  const tmpDir = path.join(root, `.${name}.${process.pid}.tmp`);
  fs.rmSync(tmpDir, { recursive: true, force: true });
  fs.mkdirSync(tmpDir);
  saveAdapterFolder(tmpDir, adapter, info);
  const tensors = optimizer.stateTensors().map((t) => ({ name: t.name, dtype: 'F32' as const, shape: [t.data.length], data: t.data }));
  writeSafetensors(path.join(tmpDir, OPTIMIZER_FILE), tensors, { format: 'peft-lab-optimizer' });
  writeJsonAtomic(path.join(tmpDir, STATE_FILE), state);
  fs.rmSync(finalDir, { recursive: true, force: true });
  fs.renameSync(tmpDir, finalDir);
  writeJsonAtomic(path.join(root, LATEST_FILE), { dir: name, step: state.step });
  // Older checkpoints are no longer needed once latest.json names the new one.
  for (const entry of fs.readdirSync(root)) {
    if (entry !== name && /^step-\d+$/.test(entry)) fs.rmSync(path.join(root, entry), { recursive: true, force: true });
  }
  return finalDir;
}

/** The newest checkpoint of a run folder, or undefined when it has none. */
export function findCheckpoint(runDir: string): CheckpointInfo | undefined {
  const latest = path.join(runDir, CHECKPOINTS_DIR, LATEST_FILE);
  if (!fs.existsSync(latest)) return undefined;
  const pointer: unknown = JSON.parse(fs.readFileSync(latest, 'utf8'));
  const dirName = isRecord(pointer) && typeof pointer.dir === 'string' ? pointer.dir : undefined;
  if (dirName === undefined || !/^step-\d+$/.test(dirName)) throw new Error(`${latest}: $.dir must name a step-NNNNNN folder`);
  const dir = path.join(runDir, CHECKPOINTS_DIR, dirName);
  const stateFile = path.join(dir, STATE_FILE);
  const raw: unknown = JSON.parse(fs.readFileSync(stateFile, 'utf8'));
  if (!isRecord(raw)) throw new Error(`${stateFile}: not a JSON object`);
  const int = (k: string): number => {
    const v = raw[k];
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw new Error(`${stateFile}: $.${k} must be a non-negative integer`);
    return v;
  };
  const optimizer = raw.optimizer;
  if (optimizer !== 'adamw' && optimizer !== 'sgd') throw new Error(`${stateFile}: $.optimizer must be adamw or sgd`);
  if (typeof raw.fingerprint !== 'string') throw new Error(`${stateFile}: $.fingerprint must be a string`);
  const scores = raw.istScores;
  if (scores !== undefined && !(Array.isArray(scores) && scores.every((v) => typeof v === 'number' && Number.isFinite(v)))) {
    throw new Error(`${stateFile}: $.istScores must be an array of finite numbers`);
  }
  return {
    dir,
    state: {
      step: int('step'), consumed: int('consumed'), seed: int('seed'), rng: 'derived from seed, step and micro-batch', optimizer, fingerprint: raw.fingerprint,
      ...(scores === undefined ? {} : { istScores: scores.map(Number) }),
    },
  };
}

/** Loads a checkpoint's adapter weights and optimizer state into live objects. */
export function restoreCheckpoint(info: CheckpointInfo, adapter: PeftAdapter, optimizer: Optimizer): void {
  loadAdapterFolderInto(info.dir, adapter);
  const file = SafetensorsFile.open(path.join(info.dir, OPTIMIZER_FILE));
  try {
    const tensors = new Map<string, Float32Array>();
    for (const name of file.tensors.keys()) tensors.set(name, file.readFloat32(name));
    optimizer.restore(info.state.step, tensors);
  } finally {
    file.close();
  }
}

function isRecord(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}
