// CodeLenses at the top of *.peft.json files (registered for that pattern only): "Run Experiment" and
// "Runs: N" (opens the latest run). Honours cancellation: listing runs touches the disk.
import * as vscode from 'vscode';
import { CommandId, ConfigSuffix } from '../ids';
import type { ExperimentsTreeProvider } from './experimentsTree';
import type { JobManager } from '../jobs/jobManager';

export const codeLensSelector: vscode.DocumentSelector = { scheme: 'file', pattern: '**/*.peft.json' };

export class ExperimentCodeLensProvider implements vscode.CodeLensProvider, vscode.Disposable {
  private readonly changed = new vscode.EventEmitter<void>();
  readonly onDidChangeCodeLenses = this.changed.event;
  private readonly disposables: vscode.Disposable[] = [this.changed];

  constructor(
    private readonly experiments: ExperimentsTreeProvider,
    private readonly jobs: JobManager,
  ) {
    // Run counts change when the tree learns about new runs, and the lens titles follow job state.
    experiments.onDidChangeTreeData(() => this.changed.fire(), undefined, this.disposables);
    jobs.onDidChangeJobs(() => this.changed.fire(), undefined, this.disposables);
  }

  provideCodeLenses(document: vscode.TextDocument, token: vscode.CancellationToken): vscode.CodeLens[] {
    if (token.isCancellationRequested || !document.uri.path.endsWith(ConfigSuffix)) return [];
    const runs = this.experiments.runsOf(document.uri);
    if (token.isCancellationRequested) return [];
    const top = new vscode.Range(0, 0, 0, 0);
    const lenses = [
      new vscode.CodeLens(top, { title: 'Run Experiment', command: CommandId.runExperiment, arguments: [document.uri], tooltip: 'Start a job for this config' }),
      new vscode.CodeLens(top, {
        title: `Runs: ${runs.length}`,
        command: CommandId.openRun,
        arguments: [document.uri],
        tooltip: runs.length > 0 ? `Open the latest run (${runs[0]?.runId ?? ''})` : 'No runs yet',
      }),
    ];
    if (this.jobs.isConfigRunning(document.uri)) {
      lenses.push(new vscode.CodeLens(top, { title: 'Cancel Job', command: CommandId.cancelJob, arguments: [document.uri] }));
    }
    return lenses;
  }

  dispose(): void {
    for (const d of this.disposables) d.dispose();
  }
}
