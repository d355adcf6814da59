// The Experiments view: every *.peft.json in the workspace (node_modules excluded) with its runs as children.
// Refreshed by file-system watchers (configs and run summaries), by the job manager and on demand.
import * as path from 'node:path';
import * as vscode from 'vscode';
import { listRuns, type RunInfo } from '../../engine/runs';
import { ConfigExcludeGlob, ConfigGlob, ContextKey, SettingKey, SettingsSection } from '../ids';
import type { JobManager } from '../jobs/jobManager';
import type { Log } from '../log';
import { readRunsFolder, runsRootOf } from '../settings';
import { CommandId } from '../ids';
import { ConfigNode, RunNode, type ExperimentNode } from './nodes';
import { describeConfig, describeRun, type TreeItemModel } from './treeItemModel';

const refreshDelayMs = 250;

export class ExperimentsTreeProvider implements vscode.TreeDataProvider<ExperimentNode>, vscode.Disposable {
  private readonly changed = new vscode.EventEmitter<ExperimentNode | undefined>();
  readonly onDidChangeTreeData = this.changed.event;
  private readonly disposables: vscode.Disposable[] = [this.changed];
  private runWatchers: vscode.Disposable[] = [];
  private refreshTimer: NodeJS.Timeout | undefined;
  private loggedFirstScan = false;

  constructor(
    private readonly jobs: JobManager,
    private readonly log: Log,
  ) {
    const configWatcher = vscode.workspace.createFileSystemWatcher(ConfigGlob);
    configWatcher.onDidCreate(() => this.refresh(), undefined, this.disposables);
    configWatcher.onDidDelete(() => this.refresh(), undefined, this.disposables);
    this.disposables.push(configWatcher);
    this.watchRuns();
    vscode.workspace.onDidChangeConfiguration(
      (e) => {
        if (e.affectsConfiguration(`${SettingsSection}.${SettingKey.runsFolder}`)) {
          this.watchRuns();
          this.refresh();
        }
      },
      undefined,
      this.disposables,
    );
    vscode.workspace.onDidChangeWorkspaceFolders(() => this.refresh(), undefined, this.disposables);
    jobs.onDidChangeJobs(() => this.refresh(), undefined, this.disposables);
    // The palette's `when` clauses need these even while the view was never opened.
    void this.updateContextKeys();
  }

  /** Coalesces bursts (a job writes several files at once) into one tree update. */
  refresh(): void {
    if (this.refreshTimer) clearTimeout(this.refreshTimer);
    this.refreshTimer = setTimeout(() => {
      this.refreshTimer = undefined;
      this.changed.fire(undefined);
      void this.updateContextKeys();
    }, refreshDelayMs);
  }

  /** Sets peftLab.hasExperiments / peftLab.hasRuns (menus and the command palette use them). */
  async updateContextKeys(): Promise<void> {
    try {
      const t0 = performance.now();
      const configs = (await this.findConfigs()).map((uri) => new ConfigNode(uri));
      this.setContextKeys(configs);
      if (!this.loggedFirstScan) {
        this.loggedFirstScan = true;
        this.log.info(`found ${configs.length} experiment config(s) in ${(performance.now() - t0).toFixed(0)} ms`);
      }
    } catch (error) {
      this.log.warn(`cannot look for experiment configs: ${error instanceof Error ? error.message : String(error)}`);
    }
  }

  private setContextKeys(configs: readonly ConfigNode[]): void {
    const hasRuns = configs.some((c) => this.runsOf(c.uri).length > 0);
    for (const [key, value] of [[ContextKey.hasExperiments, configs.length > 0], [ContextKey.hasRuns, hasRuns]] as const) {
      vscode.commands.executeCommand('setContext', key, value).then(undefined, (error: unknown) => this.log.warn(`cannot set context ${key}: ${String(error)}`));
    }
  }

  /** Every config file in the workspace, sorted by path. */
  async findConfigs(token?: vscode.CancellationToken): Promise<vscode.Uri[]> {
    const uris = await vscode.workspace.findFiles(ConfigGlob, ConfigExcludeGlob, undefined, token);
    return uris.sort((a, b) => a.fsPath.localeCompare(b.fsPath));
  }

  /** Runs of one config, newest first (an unreadable runs folder is logged and shows as none). */
  runsOf(configUri: vscode.Uri): RunInfo[] {
    try {
      return listRuns(configUri.fsPath, readRunsFolder(configUri), runsRootOf(configUri).runsRoot);
    } catch (error) {
      this.log.warn(`cannot list the runs of ${configUri.fsPath}: ${error instanceof Error ? error.message : String(error)}`);
      return [];
    }
  }

  /** The run folder with this run id under any config of the workspace. */
  async findRun(runId: string): Promise<string | undefined> {
    for (const config of await this.findConfigs()) {
      const run = this.runsOf(config).find((r) => r.runId === runId);
      if (run) return run.runDir;
    }
    return undefined;
  }

  async getChildren(element?: ExperimentNode): Promise<ExperimentNode[]> {
    if (element === undefined) {
      const configs = (await this.findConfigs()).map((uri) => new ConfigNode(uri));
      this.setContextKeys(configs);
      return configs;
    }
    if (element instanceof ConfigNode) return this.runsOf(element.uri).map((run) => new RunNode(element, run));
    return [];
  }

  getParent(element: ExperimentNode): ExperimentNode | undefined {
    return element instanceof RunNode ? element.config : undefined;
  }

  getTreeItem(element: ExperimentNode): vscode.TreeItem {
    if (element instanceof ConfigNode) {
      const folder = vscode.workspace.getWorkspaceFolder(element.uri);
      const relative = folder ? path.relative(folder.uri.fsPath, path.dirname(element.uri.fsPath)) : path.dirname(element.uri.fsPath);
      const model = describeConfig(path.basename(element.uri.fsPath), relative.split(path.sep).join('/'), this.runsOf(element.uri).length, this.jobs.isConfigRunning(element.uri));
      const item = toTreeItem(model, vscode.TreeItemCollapsibleState.Collapsed);
      item.id = `config:${element.uri.toString()}`;
      item.resourceUri = element.uri;
      item.command = { command: 'vscode.open', title: 'Open Config', arguments: [element.uri] };
      return item;
    }
    const item = toTreeItem(describeRun(element.run, this.jobs.isRunning(element.runDir)), vscode.TreeItemCollapsibleState.None);
    item.id = `run:${element.runDir}`;
    item.command = { command: CommandId.openRun, title: 'Open Run', arguments: [element] };
    return item;
  }

  private watchRuns(): void {
    for (const d of this.runWatchers) d.dispose();
    const runsFolder = readRunsFolder(undefined).replace(/\\/g, '/').replace(/^\.\//, '').replace(/\/+$/, '');
    // summary.json changes on every status change; the folder itself appears/disappears on create/delete.
    const patterns = path.isAbsolute(runsFolder)
      ? [new vscode.RelativePattern(vscode.Uri.file(runsFolder), '*/summary.json'), new vscode.RelativePattern(vscode.Uri.file(runsFolder), '*')]
      : [`**/${runsFolder}/*/summary.json`, `**/${runsFolder}/*`];
    this.runWatchers = patterns.map((pattern) => {
      const watcher = vscode.workspace.createFileSystemWatcher(pattern);
      watcher.onDidCreate(() => this.refresh());
      watcher.onDidChange(() => this.refresh());
      watcher.onDidDelete(() => this.refresh());
      return watcher;
    });
  }

  dispose(): void {
    if (this.refreshTimer) clearTimeout(this.refreshTimer);
    for (const d of [...this.disposables, ...this.runWatchers]) d.dispose();
  }
}

function toTreeItem(model: TreeItemModel, collapsible: vscode.TreeItemCollapsibleState): vscode.TreeItem {
  const item = new vscode.TreeItem(model.label, collapsible);
  item.description = model.description;
  item.tooltip = new vscode.MarkdownString(model.tooltip);
  item.iconPath = new vscode.ThemeIcon(model.icon.id, model.icon.color ? new vscode.ThemeColor(model.icon.color) : undefined);
  item.contextValue = model.contextValue;
  return item;
}
