// Starts jobs in child processes (src/jobs), shows each in a cancellable progress notification, streams their
// events to the output channel and to listeners (open panels), and tracks which run folders are live.
// src/jobs (config validation with ajv, child_process) is imported on first use to keep activation cheap.
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { JobHandle, JobResult } from '../../jobs';
import type { JobEvent } from '../../protocol';
import { ContextKey } from '../ids';
import type { Log } from '../log';
import { readJobSettings, runsRootOf } from '../settings';

export interface RunningJob {
  readonly handle: JobHandle;
  readonly configUri: vscode.Uri;
  readonly startedAt: Date;
}

export interface JobEventNotice {
  runDir: string;
  event: JobEvent;
}

export interface JobFinishedNotice {
  runDir: string;
  configUri: vscode.Uri;
  result: JobResult;
}

export class JobManager implements vscode.Disposable {
  private readonly jobs = new Map<string, RunningJob>();
  private readonly jobsChanged = new vscode.EventEmitter<void>();
  private readonly eventReceived = new vscode.EventEmitter<JobEventNotice>();
  private readonly jobFinished = new vscode.EventEmitter<JobFinishedNotice>();
  /** A job started, ended or changed state. */
  readonly onDidChangeJobs = this.jobsChanged.event;
  /** Every event of every job (validated by src/jobs). */
  readonly onDidReceiveEvent = this.eventReceived.event;
  readonly onDidFinishJob = this.jobFinished.event;

  constructor(
    private readonly workerPath: string,
    private readonly log: Log,
    /** Called with the run folder when the user picks "Open Run" on a finished job's notification. */
    private readonly openRun: (runDir: string) => void,
  ) {}

  /**
   * Validates the config, creates the run folder, forks the worker and returns its handle at once; progress and
   * the final notification follow. Throws (with file:line:col and JSON path) when the config is invalid.
   */
  async start(configUri: vscode.Uri): Promise<JobHandle> {
    const open = vscode.workspace.textDocuments.find((d) => d.uri.toString() === configUri.toString());
    if (open?.isDirty) await open.save();
    const settings = readJobSettings(configUri);
    const { startJob } = await import('../../jobs');
    const handle = startJob({
      configPath: configUri.fsPath,
      workerPath: this.workerPath,
      runsFolder: settings.runsFolder,
      ...runsRootOf(configUri),
      ...(settings.device === undefined ? {} : { device: settings.device }),
      ...(settings.threads === undefined ? {} : { threads: settings.threads }),
    });
    const job: RunningJob = { handle, configUri, startedAt: new Date() };
    this.jobs.set(handle.runDir, job);
    const overrides = [settings.device && `device=${settings.device}`, settings.threads !== undefined && `threads=${settings.threads}`].filter(Boolean).join(', ');
    this.log.info(`started ${handle.name} (${handle.task}) from ${configUri.fsPath} -> ${handle.runDir}${overrides ? ` [settings: ${overrides}]` : ''}`);
    handle.onEvent((event) => {
      this.logEvent(handle, event);
      this.eventReceived.fire({ runDir: handle.runDir, event });
    });
    this.changed();
    this.showProgress(job);
    void handle.done.then(
      (result) => this.finish(job, result),
      (error: unknown) => this.log.error(`job ${handle.runDir} ended abnormally: ${error instanceof Error ? error.stack ?? error.message : String(error)}`),
    );
    return handle;
  }

  /** Jobs of this window that are still running, oldest first. */
  running(): RunningJob[] {
    return [...this.jobs.values()].filter((j) => j.handle.running);
  }

  isRunning(runDir: string): boolean {
    return this.jobs.get(path.resolve(runDir))?.handle.running ?? this.jobs.get(runDir)?.handle.running ?? false;
  }

  isConfigRunning(configUri: vscode.Uri): boolean {
    return this.running().some((j) => j.configUri.toString() === configUri.toString());
  }

  /** The live job writing `runDir`, if any. */
  jobFor(runDir: string): RunningJob | undefined {
    return this.jobs.get(path.resolve(runDir)) ?? this.jobs.get(runDir);
  }

  /** Cancels the job writing `runDir`; resolves once the process is gone and summary.json says cancelled. */
  async cancel(runDir: string): Promise<void> {
    const job = this.jobFor(runDir);
    if (!job) throw new Error(`no job of this window is running in ${runDir}`);
    this.log.info(`cancelling ${job.handle.runDir}`);
    const t0 = performance.now();
    await job.handle.cancel();
    this.log.info(`cancelled ${job.handle.runDir} in ${Math.round(performance.now() - t0)} ms`);
  }

  private showProgress(job: RunningJob): void {
    const { handle } = job;
    void vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: `PEFT Lab: ${handle.name}`, cancellable: true },
      async (progress, token) => {
        let reported = 0;
        const cancelled = token.onCancellationRequested(() => {
          void this.cancel(handle.runDir).catch((error: unknown) => this.log.error(`cancel failed: ${String(error)}`));
        });
        const unsubscribe = handle.onEvent((event) => {
          if (event.type !== 'progress') return;
          // withProgress takes increments; the worker reports absolute fractions.
          const percent = Math.round(event.fraction * 100);
          progress.report({ increment: Math.max(0, percent - reported), message: event.message });
          reported = Math.max(reported, percent);
        });
        progress.report({ message: `${handle.task}: starting` });
        try {
          await handle.done;
        } finally {
          unsubscribe();
          cancelled.dispose();
        }
      },
    );
  }

  private finish(job: RunningJob, result: JobResult): void {
    const { handle } = job;
    this.jobs.delete(handle.runDir);
    this.changed();
    this.jobFinished.fire({ runDir: handle.runDir, configUri: job.configUri, result });
    const seconds = ((Date.now() - job.startedAt.getTime()) / 1000).toFixed(1);
    this.log.info(`${handle.name}: ${result.status} after ${seconds} s (${handle.runDir})`);
    const openRun = 'Open Run';
    const followUp = (choice: string | undefined) => {
      if (choice === openRun) this.openRun(handle.runDir);
      if (choice === 'Show Output') this.log.show(true);
    };
    if (result.status === 'completed') {
      void vscode.window.showInformationMessage(`PEFT Lab: ${handle.name} completed in ${seconds} s.`, openRun).then(followUp);
    } else if (result.status === 'cancelled') {
      void vscode.window.showInformationMessage(`PEFT Lab: ${handle.name} was cancelled.`, openRun).then(followUp);
    } else {
      const error = result.summary.error;
      const detail = error ? `${error.message}${error.where ? ` (at ${error.where})` : ''}` : 'see the output';
      void vscode.window.showErrorMessage(`PEFT Lab: ${handle.name} failed: ${detail}`, openRun, 'Show Output').then(followUp);
    }
  }

  private logEvent(handle: JobHandle, event: JobEvent): void {
    const tag = path.basename(handle.runDir);
    switch (event.type) {
      case 'started':
        this.log.info(`[${tag}] started ${event.name} (${event.task})`);
        break;
      case 'progress':
        this.log.debug(`[${tag}] ${Math.round(event.fraction * 100)}% ${event.message}`);
        break;
      case 'metric':
        this.log.info(`[${tag}] metric ${JSON.stringify(event.record)}`);
        break;
      case 'artifact':
        this.log.info(`[${tag}] wrote ${event.kind}: ${event.path}`);
        break;
      case 'log':
        this.log[event.level](`[${tag}] ${event.message}`);
        break;
      case 'finished':
        this.log.info(`[${tag}] finished: ${event.summary.status}`);
        break;
      case 'failed':
        this.log.error(`[${tag}] failed: ${event.message}${event.where ? ` (at ${event.where})` : ''}`);
        break;
    }
  }

  private changed(): void {
    void vscode.commands.executeCommand('setContext', ContextKey.jobRunning, this.running().length > 0);
    this.jobsChanged.fire();
  }

  /** Kills every job of this window (extension shutdown): their summaries record cancelled. */
  dispose(): void {
    for (const job of this.running()) void job.handle.cancel();
    this.jobsChanged.dispose();
    this.eventReceived.dispose();
    this.jobFinished.dispose();
  }
}
