// Resolves "which run?" for Open Run and the Show ... commands: from the argument, else a quick pick of all runs
// with the active config's latest run first.
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { ExperimentsTreeProvider } from '../experiments/experimentsTree';
import { formatLocalTime } from '../../protocol/localTime';
import { experimentNameOf } from '../experiments/treeItemModel';
import { activeConfigUri, configUriFrom, runDirFrom } from './arguments';
import { UserCancelled } from './commandRegistry';

interface RunPick extends vscode.QuickPickItem {
  runDir: string;
}

export async function resolveRun(arg: unknown, experiments: ExperimentsTreeProvider, purpose: string): Promise<string> {
  const direct = runDirFrom(arg);
  if (direct) return direct;
  const config = configUriFrom(arg);
  if (config) {
    // A config (e.g. the "Runs: N" CodeLens): its latest run.
    const latest = experiments.runsOf(config)[0];
    if (!latest) throw new Error(`${path.basename(config.fsPath)} has no runs yet; run it first (PEFT Lab: Run Experiment).`);
    return latest.runDir;
  }
  return pickRun(experiments, purpose);
}

async function pickRun(experiments: ExperimentsTreeProvider, purpose: string): Promise<string> {
  const configs = await experiments.findConfigs();
  const active = activeConfigUri()?.toString();
  // The active config first, so the default (first) item is its latest run.
  configs.sort((a, b) => Number(b.toString() === active) - Number(a.toString() === active));
  const items: RunPick[] = [];
  for (const config of configs) {
    const name = experimentNameOf(path.basename(config.fsPath));
    for (const run of experiments.runsOf(config)) {
      const status = run.summary?.status ?? 'no summary';
      items.push({
        label: run.runId,
        description: `${name} · ${status}`,
        detail: run.summary ? `started ${formatLocalTime(run.summary.startedAt)} · ${run.summary.task}` : run.summaryError,
        runDir: run.runDir,
      });
    }
  }
  if (items.length === 0) throw new Error('there are no runs in this workspace yet; run an experiment first.');
  const picked = await vscode.window.showQuickPick(items, { title: `PEFT Lab: ${purpose}`, placeHolder: 'Pick a run', matchOnDescription: true, matchOnDetail: true });
  if (!picked) throw new UserCancelled();
  return picked.runDir;
}
