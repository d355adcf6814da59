// The host side of every run panel, driven by its descriptor (panelDescriptors.ts): one webview per (panel, run
// folder), strict CSP HTML, validated messages in both directions, run folder reads, live job events, the run's
// diagnostics.json where the panel draws it, cancel for the Run panel, restore after reload (via the serializer).
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { readMetrics, readSummary } from '../../engine/runs';
import { parseWebviewMessage, type HostToWebviewMessage, type PanelId, type RunData, type WebviewToHostMessage } from '../../protocol';
import { readDiagnosticsMessage } from './diagnosticsFile';
import { isOwnRunDir } from './ownRun';
import type { PanelDescriptor } from './panelDescriptors';
import { describeError } from '../../protocol/errorText';
import type { JobManager } from '../jobs/jobManager';
import type { Log } from '../log';
import type { DiagnosticsMessage } from '../../protocol/diagnostics';
import { panelTitle } from './panelTitle';
import { buildWebviewHtml, createNonce } from './webviewHtml';

export interface PanelDeps {
  extensionUri: vscode.Uri;
  jobs: JobManager;
  log: Log;
}

export class RunPanel implements vscode.Disposable {
  private readonly disposables: vscode.Disposable[] = [];
  private readonly disposed = new vscode.EventEmitter<void>();
  private isDisposed = false;
  readonly onDidDispose = this.disposed.event;

  constructor(
    readonly kind: PanelDescriptor,
    readonly panel: vscode.WebviewPanel,
    /** undefined for a restored panel whose saved state lost its run. */
    readonly runDir: string | undefined,
    protected readonly deps: PanelDeps,
  ) {
    const webview = panel.webview;
    const distWebview = vscode.Uri.joinPath(deps.extensionUri, 'dist', 'webview');
    const media = vscode.Uri.joinPath(deps.extensionUri, 'media');
    webview.options = { enableScripts: true, enableCommandUris: false, localResourceRoots: [distWebview, media] };
    panel.title = panelTitle(kind.title, runDir === undefined ? undefined : path.basename(runDir));
    panel.iconPath = vscode.Uri.joinPath(media, 'peft-lab.svg');
    webview.html = buildWebviewHtml({
      title: kind.title,
      cspSource: webview.cspSource,
      nonce: createNonce(),
      scriptUri: webview.asWebviewUri(vscode.Uri.joinPath(distWebview, `${kind.id}.js`)).toString(),
      styleUris: [webview.asWebviewUri(vscode.Uri.joinPath(media, 'panel.css')).toString()],
      panelId: kind.id,
    });
    webview.onDidReceiveMessage((raw: unknown) => this.receive(raw), undefined, this.disposables);
    panel.onDidDispose(() => this.dispose(), undefined, this.disposables);
    deps.jobs.onDidReceiveEvent(
      ({ runDir: eventRunDir, event }) => {
        if (!this.runDir || path.resolve(eventRunDir) !== path.resolve(this.runDir)) return;
        // Only metric records change the layer-importance heatmaps; the diagnostics panels draw files.
        if (this.kind.jobEvents === 'all' || (this.kind.jobEvents === 'metrics' && event.type === 'metric')) void this.post({ type: 'jobEvent', runDir: eventRunDir, event });
      },
      undefined,
      this.disposables,
    );
    // When the job ends, summary.json (and maybe diagnostics.json) hold the final state: send the files again.
    deps.jobs.onDidFinishJob(
      ({ runDir: finishedDir }) => {
        if (this.runDir && path.resolve(finishedDir) === path.resolve(this.runDir)) void this.sendRun();
      },
      undefined,
      this.disposables,
    );
  }

  reveal(): void {
    this.panel.reveal(undefined, false);
  }

  /** Reads the run folder and posts it (or the reason it cannot be shown). */
  async sendRun(): Promise<void> {
    if (!this.runDir) {
      await this.post({ type: 'empty', message: 'This panel was restored without its run. Open it again from the Experiments view.' });
      return;
    }
    let run: RunData;
    try {
      if (!fs.existsSync(this.runDir)) throw new Error(`run folder ${this.runDir} no longer exists`);
      run = { runDir: this.runDir, runId: path.basename(this.runDir), summary: readSummary(this.runDir), metrics: readMetrics(this.runDir) };
    } catch (error) {
      await this.post({ type: 'empty', message: describeError(error).message });
      return;
    }
    await this.post({ type: 'runData', run });
    if (this.kind.readsDiagnostics) await this.post(readDiagnosticsMessage(this.runDir));
  }

  private async handle(message: WebviewToHostMessage<PanelId>): Promise<void> {
    switch (message.type) {
      case 'ready':
      case 'refresh':
        await this.sendRun();
        return;
      case 'openFile':
        await this.openFile(message.path);
        return;
      case 'cancelJob':
        // Only the Run panel's protocol has cancelJob, and it may cancel only its own run.
        if (!this.kind.cancelsItsJob || this.runDir === undefined || !isOwnRunDir(this.runDir, message.runDir)) {
          this.deps.log.warn(`${this.kind.id} panel of ${this.runDir ?? '(no run)'}: refused to cancel ${message.runDir}, which is not this panel's run`);
          return;
        }
        await this.deps.jobs.cancel(this.runDir);
        await this.sendRun();
    }
  }

  private async post(message: HostToWebviewMessage<PanelId> | DiagnosticsMessage): Promise<void> {
    if (this.isDisposed) return;
    await this.panel.webview.postMessage(message);
  }

  private async receive(raw: unknown): Promise<void> {
    let message: WebviewToHostMessage<PanelId>;
    try {
      message = parseWebviewMessage(this.kind.id, raw);
    } catch (error) {
      this.deps.log.warn(describeError(error).message);
      return;
    }
    try {
      await this.handle(message);
    } catch (error) {
      const { message: text, detail } = describeError(error);
      this.deps.log.error(`${this.kind.title} panel: ${detail}`);
      void vscode.window.showErrorMessage(`PEFT Lab: ${text}`);
    }
  }

  /** Opens a file of this run; paths outside the run folder are refused (the webview is not trusted). */
  private async openFile(requested: string): Promise<void> {
    if (!this.runDir) return;
    const file = path.resolve(this.runDir, requested);
    const relative = path.relative(this.runDir, file);
    if (relative.startsWith('..') || path.isAbsolute(relative)) throw new Error(`refusing to open ${requested}: outside the run folder ${this.runDir}`);
    if (!fs.existsSync(file)) throw new Error(`${file} does not exist (yet)`);
    await vscode.window.showTextDocument(vscode.Uri.file(file), { preview: true, viewColumn: vscode.ViewColumn.Active });
  }

  dispose(): void {
    if (this.isDisposed) return;
    this.isDisposed = true;
    this.disposed.fire();
    this.disposed.dispose();
    for (const d of this.disposables.splice(0)) d.dispose();
    this.panel.dispose();
  }
}
