// "Run Experiment" and "Cancel Job".
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { ExperimentsTreeProvider } from '../experiments/experimentsTree';
import { ConfigNode, RunNode } from '../experiments/nodes';
import { experimentNameOf } from '../experiments/treeItemModel';
import type { JobManager, RunningJob } from '../jobs/jobManager';
import { activeConfigUri, configUriFrom } from './arguments';
import { UserCancelled } from './commandRegistry';

/** Starts a job for the config named by `arg` (else the active editor's, else a pick). Returns the run folder. */
export async function runExperiment(arg: unknown, experiments: ExperimentsTreeProvider, jobs: JobManager): Promise<string> {
  const config = configUriFrom(arg) ?? activeConfigUri() ?? (await pickConfig(experiments));
  const handle = await jobs.start(config);
  return handle.runDir;
}

async function pickConfig(experiments: ExperimentsTreeProvider): Promise<vscode.Uri> {
  const configs = await experiments.findConfigs();
  if (configs.length === 0) throw new Error('there is no *.peft.json in this workspace; create one with PEFT Lab: New Experiment.');
  if (configs.length === 1 && configs[0]) return configs[0];
  const picked = await vscode.window.showQuickPick(
    configs.map((uri) => ({ label: experimentNameOf(path.basename(uri.fsPath)), description: vscode.workspace.asRelativePath(uri), uri })),
    { title: 'PEFT Lab: Run Experiment', placeHolder: 'Pick an experiment config' },
  );
  if (!picked) throw new UserCancelled();
  return picked.uri;
}

/**
 * Cancels the job of the run or config named by `arg`, else the only running job, else a pick among them.
 * Returns the cancelled run folder (undefined when nothing was running).
 */
export async function cancelJob(arg: unknown, jobs: JobManager): Promise<string | undefined> {
  const running = jobs.running();
  let job: RunningJob | undefined;
  if (arg instanceof RunNode) job = jobs.jobFor(arg.runDir);
  else if (typeof arg === 'string' && jobs.jobFor(arg)) job = jobs.jobFor(arg);
  else {
    const config = arg instanceof ConfigNode ? arg.uri : configUriFrom(arg);
    if (config) job = running.find((j) => j.configUri.toString() === config.toString());
  }
  if (!job) {
    if (running.length === 0) {
      void vscode.window.showInformationMessage('PEFT Lab: no job is running.');
      return undefined;
    }
    job = running.length === 1 ? running[0] : await pickJob(running);
  }
  if (!job) return undefined;
  await jobs.cancel(job.handle.runDir);
  return job.handle.runDir;
}

async function pickJob(running: RunningJob[]): Promise<RunningJob> {
  const picked = await vscode.window.showQuickPick(
    running.map((job) => ({
      label: job.handle.name,
      description: `${job.handle.task} · started ${job.startedAt.toLocaleTimeString()}`,
      detail: job.handle.runDir,
      job,
    })),
    { title: 'PEFT Lab: Cancel Job', placeHolder: 'Pick the job to cancel' },
  );
  if (!picked) throw new UserCancelled();
  return picked.job;
}
