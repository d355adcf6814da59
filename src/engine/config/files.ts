// The files a loaded config names must exist: checked before a job starts, so a typo in a path is a config error
// (file:line:col: $.data.train: ...) and not a raw ENOENT from deep inside the task.
import * as fs from 'node:fs';
import { findNodeAtLocation, parseTree } from 'jsonc-parser';
import { resolveModelDir } from '../models/hubCache';
import { ConfigError, lineColumnAt, type ConfigIssue } from './issues';
import type { ExperimentConfig } from './types';

/**
 * Throws ConfigError naming the config file, the position and the key of every model, data or adapter path of
 * `config` (as loadExperimentConfig returns it: paths resolved) that does not exist.
 */
export function checkConfigFiles(configPath: string, config: ExperimentConfig): void {
  if (config.task !== 'tune' && config.task !== 'offsite') return;
  const wanted: { key: (string | number)[]; problem: string | undefined }[] = [];
  let modelProblem: string | undefined;
  try {
    resolveModelDir(config.model);
  } catch (e) {
    modelProblem = e instanceof Error ? e.message : String(e);
  }
  wanted.push({ key: ['model'], problem: modelProblem });
  const file = (p: string | undefined): string | undefined =>
    p === undefined ? undefined : !fs.existsSync(p) ? `no such file: ${p}` : fs.statSync(p).isDirectory() ? `${p} is a folder, not a data file` : undefined;
  wanted.push({ key: ['data', 'train'], problem: file(config.data.train) });
  wanted.push({ key: ['data', 'eval'], problem: file(config.data.eval) });
  const init = config.peft.init;
  wanted.push({ key: ['peft', 'init'], problem: init !== undefined && !fs.existsSync(init) ? `no such adapter folder: ${init}` : undefined });
  if (config.task === 'offsite') wanted.push({ key: ['offsite', 'emulator', 'supportData'], problem: file(config.offsite.emulator.supportData) });
  const problems = wanted.filter((w): w is { key: (string | number)[]; problem: string } => w.problem !== undefined);
  if (problems.length === 0) return;
  let text = '';
  try {
    text = fs.readFileSync(configPath, 'utf8');
  } catch {
    // positions fall back to 1:1
  }
  const tree = parseTree(text);
  const issues: ConfigIssue[] = problems.map(({ key, problem }) => {
    const node = tree === undefined ? undefined : findNodeAtLocation(tree, key);
    return { file: configPath, ...(node === undefined ? { line: 1, column: 1 } : lineColumnAt(text, node.offset)), jsonPath: `$.${key.join('.')}`, message: problem };
  });
  throw new ConfigError(issues);
}
