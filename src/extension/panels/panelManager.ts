// Opens (or reveals) one panel per (kind, run folder), and restores panels after a window reload through a
// WebviewPanelSerializer per viewType (their saved state names the run folder).
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { PanelId } from '../../protocol';
import { parsePanelState } from '../../protocol/panelState';
import { panelTitle, runIdFromPanelTitle } from './panelTitle';
import { PANEL_DESCRIPTORS } from './panelDescriptors';
import { RunPanel, type PanelDeps } from './runPanel';

export class PanelManager implements vscode.Disposable {
  private readonly open = new Map<string, RunPanel>();
  private readonly disposables: vscode.Disposable[] = [];

  constructor(
    private readonly deps: PanelDeps,
    /** Finds a run folder by run id (restoring a panel whose saved state was lost). */
    private readonly findRun: (runId: string) => Promise<string | undefined>,
  ) {
    for (const id of Object.keys(PANEL_DESCRIPTORS)) {
      if (!isPanelId(id)) continue;
      const kind = PANEL_DESCRIPTORS[id];
      this.disposables.push(
        vscode.window.registerWebviewPanelSerializer(kind.viewType, {
          deserializeWebviewPanel: async (panel, state: unknown) => {
            const runDir = parsePanelState(state).runDir ?? (await this.findRunOfTitle(panel.title));
            this.track(id, new RunPanel(kind, panel, runDir, this.deps));
          },
        }),
      );
    }
  }

  /** Shows `runDir` in panel `id`, reusing the panel already showing it. */
  show(id: PanelId, runDir: string): RunPanel {
    const key = keyOf(id, runDir);
    const existing = this.open.get(key);
    if (existing) {
      existing.reveal();
      void existing.sendRun();
      return existing;
    }
    const kind = PANEL_DESCRIPTORS[id];
    const panel = vscode.window.createWebviewPanel(kind.viewType, panelTitle(kind.title, path.basename(runDir)), { viewColumn: vscode.ViewColumn.Active, preserveFocus: false }, {
      enableScripts: true,
      localResourceRoots: [vscode.Uri.joinPath(this.deps.extensionUri, 'dist', 'webview'), vscode.Uri.joinPath(this.deps.extensionUri, 'media')],
    });
    return this.track(id, new RunPanel(kind, panel, path.resolve(runDir), this.deps));
  }

  /** Open panels (for tests and for refreshing after a job). */
  panels(): RunPanel[] {
    return [...this.open.values()];
  }

  private async findRunOfTitle(title: string): Promise<string | undefined> {
    const runId = runIdFromPanelTitle(title);
    const runDir = runId === undefined ? undefined : await this.findRun(runId);
    this.deps.log.info(`restoring a panel without saved state from its title "${title}": ${runDir ?? 'run not found'}`);
    return runDir;
  }

  private track(id: PanelId, panel: RunPanel): RunPanel {
    const key = keyOf(id, panel.runDir ?? `restored-${Date.now()}-${Math.random()}`);
    this.open.set(key, panel);
    panel.onDidDispose(() => this.open.delete(key));
    return panel;
  }

  dispose(): void {
    for (const panel of this.open.values()) panel.dispose();
    for (const d of this.disposables) d.dispose();
  }
}

function keyOf(id: PanelId, runDir: string): string {
  return `${id}\u0000${path.resolve(runDir)}`;
}

function isPanelId(id: string): id is PanelId {
  return Object.hasOwn(PANEL_DESCRIPTORS, id);
}
