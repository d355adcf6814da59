// train.keepBest: the adapter of the step with the lowest validation loss, kept in `<runDir>/best-adapter/` with
// best.json naming the step, as transformers' load_best_model_at_end keeps the best checkpoint for the IST
// authors' runs. The folder is replaced by rename, so a crash leaves the previous best or the new one, never a mix.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { BEST_ADAPTER_RECORD } from '../../protocol/runFolder';
import { bestAdapterRecordSchema, parseResumeFile, type BestAdapterRecord } from '../../protocol/resumeFiles';
import { saveAdapterFolder, type PeftAdapter } from '../peft/adapterFolder';
import { writeJsonAtomic } from '../runs/atomic';
import { assertNotSymlink } from '../runs/folder';
import { RUN_FILES } from '../runs/layout';

const RECORD_FILE = BEST_ADAPTER_RECORD;

export function bestAdapterDir(runDir: string): string {
  return path.join(runDir, RUN_FILES.bestAdapter);
}

/** Writes `adapter` as the run's best adapter (step and validation loss in best.json). */
export function saveBestAdapter(runDir: string, adapter: PeftAdapter, info: { baseModel: string; modelFamily: string }, record: BestAdapterRecord): void {
  const dir = bestAdapterDir(runDir);
  assertNotSymlink(dir);
  const tmp = `${dir}.${process.pid}.tmp`;
  const old = `${dir}.${process.pid}.old`;
  fs.rmSync(tmp, { recursive: true, force: true });
  fs.mkdirSync(tmp, { recursive: true });
  saveAdapterFolder(tmp, adapter, info);
  writeJsonAtomic(path.join(tmp, RECORD_FILE), bestAdapterRecordSchema.parse(record));
  if (fs.existsSync(dir)) fs.renameSync(dir, old);
  fs.renameSync(tmp, dir);
  fs.rmSync(old, { recursive: true, force: true });
}

/**
 * The best adapter recorded before step `beforeStep` (a resumed run's completed steps), or undefined. A best
 * from a later step than the checkpoint cannot exist (evaluation follows the step's checkpoint), so one is ignored.
 */
export function readBestAdapter(runDir: string, beforeStep: number): { dir: string; record: BestAdapterRecord } | undefined {
  const dir = bestAdapterDir(runDir);
  const file = path.join(dir, RECORD_FILE);
  if (!fs.existsSync(file)) return undefined;
  const record = parseResumeFile(bestAdapterRecordSchema, fs.readFileSync(file, 'utf8'), file);
  return record.step < beforeStep ? { dir, record } : undefined;
}
