// Training checkpoints for resume: `<runDir>/checkpoints/step-NNNNNN/` holds the adapter (its method's folder
// format, peft/adapterFolder.ts), the optimizer state (optimizer.safetensors) and state.json;
// `checkpoints/latest.json` names the newest.
// A checkpoint folder is written under a temporary name and renamed to a name not in use (`step-NNNNNN`, or
// `step-NNNNNN-K` when that step was checkpointed before), then latest.json is replaced atomically, then the
// older folders are removed: a crash at any point leaves the previous checkpoint intact and named.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CHECKPOINT_DIR_PATTERN, checkpointPointerSchema, parseResumeFile, trainStateSchema, type CheckpointPointer, type TrainState } from '../../protocol/resumeFiles';
import { CHECKPOINT_FILES, RUN_FILES } from '../../protocol/runFolder';
import { SafetensorsFile } from '../models/safetensors';
import { writeSafetensors } from '../models/safetensorsWriter';
import { loadAdapterFolderInto, saveAdapterFolder, type PeftAdapter } from '../peft/adapterFolder';
import { writeJsonAtomic } from '../runs/atomic';
import { assertNotSymlink } from '../runs/folder';
import { firstNonFinite } from '../util/arrays';
import type { Optimizer } from './optimizer';

export const CHECKPOINTS_DIR = RUN_FILES.checkpoints;
const LATEST_FILE = CHECKPOINT_FILES.latest;
const STATE_FILE = CHECKPOINT_FILES.state;
const OPTIMIZER_FILE = CHECKPOINT_FILES.optimizer;

/** Everything besides tensors needed to continue a run exactly (the shape of state.json). */
export type { TrainState } from '../../protocol/resumeFiles';

export interface CheckpointInfo {
  readonly dir: string;
  readonly state: TrainState;
}

export function saveCheckpoint(runDir: string, state: TrainState, adapter: PeftAdapter, optimizer: Optimizer, info: { baseModel: string; modelFamily: string }): string {
  const root = path.join(runDir, CHECKPOINTS_DIR);
  const name = `step-${String(state.step).padStart(6, '0')}`;
  // A checkpoint is what resume and the error messages call "last good": never let NaN/Inf into one.
  assertFiniteState(path.join(root, name), state, adapter, optimizer);
  // A linked checkpoints/ would take the writes, and the cleanup's deletions, to wherever it points.
  assertNotSymlink(root);
  fs.mkdirSync(root, { recursive: true });
  const tmpDir = path.join(root, `.${name}.${process.pid}.tmp`);
  fs.rmSync(tmpDir, { recursive: true, force: true });
  fs.mkdirSync(tmpDir);
  saveAdapterFolder(tmpDir, adapter, info);
  const tensors = optimizer.stateTensors().map((t) => ({ name: t.name, dtype: 'F32' as const, shape: [t.data.length], data: t.data }));
  writeSafetensors(path.join(tmpDir, OPTIMIZER_FILE), tensors, { format: 'peft-lab-optimizer' });
  writeJsonAtomic(path.join(tmpDir, STATE_FILE), state);
  // Never remove the folder latest.json names before the new one is in place: a second checkpoint of the same
  // step (cancel or failure right after a periodic one, a resume that fails at once) goes to a fresh name, and
  // latest.json, replaced atomically, is the commit point.
  let dirName = name;
  for (let k = 1; fs.existsSync(path.join(root, dirName)); k++) dirName = `${name}-${k}`;
  const finalDir = path.join(root, dirName);
  fs.renameSync(tmpDir, finalDir);
  writeJsonAtomic(path.join(root, LATEST_FILE), { dir: dirName, step: state.step } satisfies CheckpointPointer);
  removeStale(root, dirName);
  return finalDir;
}

/**
 * Once latest.json names `keep`: removes the other checkpoint folders, and temporary folders left by a process
 * that died while writing one (`.step-NNNNNN.<pid>.tmp` of a pid that is gone).
 */
function removeStale(root: string, keep: string): void {
  assertNotSymlink(root);
  for (const entry of fs.readdirSync(root)) {
    const tmp = /^\.step-\d+\.(\d+)\.tmp$/.exec(entry);
    const stale = entry !== keep && (CHECKPOINT_DIR_PATTERN.test(entry) || (tmp !== null && !processAlive(Number(tmp[1]))));
    if (stale) fs.rmSync(path.join(root, entry), { recursive: true, force: true });
  }
}

function processAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    // EPERM: it exists but belongs to someone else.
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Throws naming the first adapter tensor, optimizer tensor or IST score that is NaN or infinite. */
function assertFiniteState(dir: string, state: TrainState, adapter: PeftAdapter, optimizer: Optimizer): void {
  const refuse = (what: string, index: number, value: number | undefined): never => {
    throw new Error(`${dir}: not writing a checkpoint of step ${state.step}: ${what} holds ${value} at index ${index}`);
  };
  for (const t of adapter.trainables()) {
    const at = firstNonFinite(t.data);
    if (at >= 0) refuse(`adapter tensor ${t.name}`, at, t.data[at]);
  }
  for (const t of optimizer.stateTensors()) {
    const at = firstNonFinite(t.data);
    if (at >= 0) refuse(`optimizer tensor ${t.name}`, at, t.data[at]);
  }
  if (state.istScores !== undefined) {
    const at = firstNonFinite(state.istScores);
    if (at >= 0) refuse('state.json $.istScores', at, state.istScores[at]);
  }
}

/** The newest checkpoint of a run folder, or undefined when it has none. */
export function findCheckpoint(runDir: string): CheckpointInfo | undefined {
  const latest = path.join(runDir, CHECKPOINTS_DIR, LATEST_FILE);
  if (!fs.existsSync(latest)) return undefined;
  const pointer = parseResumeFile(checkpointPointerSchema, fs.readFileSync(latest, 'utf8'), latest);
  const dir = path.join(runDir, CHECKPOINTS_DIR, pointer.dir);
  const stateFile = path.join(dir, STATE_FILE);
  if (!fs.existsSync(stateFile)) throw new Error(`${latest}: $.dir names ${pointer.dir}, but ${stateFile} does not exist`);
  return { dir, state: parseResumeFile(trainStateSchema, fs.readFileSync(stateFile, 'utf8'), stateFile) };
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
