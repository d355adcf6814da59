// Reaches PEFT Lab's test API (what activate() returns, per CONTRACTS.md) and checks its shape at run time, so
// a drifting API fails with a message instead of an undefined-is-not-a-function deep in a test.
import * as vscode from 'vscode';

export const extensionId = 'peft-lab.peft-lab';

export interface PeftLabTestApi {
  experiments: vscode.TreeDataProvider<unknown>;
  codeLenses: vscode.CodeLensProvider;
  jobs: object;
  /** Milliseconds activate() took, as the extension measured it. */
  activationMs: number;
}

function hasFunction(value: unknown, name: string): boolean {
  return typeof value === 'object' && value !== null && typeof Reflect.get(value, name) === 'function';
}

function isTreeDataProvider(value: unknown): value is vscode.TreeDataProvider<unknown> {
  return hasFunction(value, 'getChildren') && hasFunction(value, 'getTreeItem');
}

function isCodeLensProvider(value: unknown): value is vscode.CodeLensProvider {
  return hasFunction(value, 'provideCodeLenses');
}

export function peftLabExtension(): vscode.Extension<unknown> {
  const extension = vscode.extensions.getExtension(extensionId);
  if (!extension) throw new Error(`extension ${extensionId} is not installed in this extension host`);
  return extension;
}

export async function activatedApi(): Promise<PeftLabTestApi> {
  const exported: unknown = await peftLabExtension().activate();
  if (typeof exported !== 'object' || exported === null) throw new Error(`activate() returned ${String(exported)}, not the test API`);
  const experiments: unknown = Reflect.get(exported, 'experiments');
  const codeLenses: unknown = Reflect.get(exported, 'codeLenses');
  const jobs: unknown = Reflect.get(exported, 'jobs');
  if (!isTreeDataProvider(experiments)) throw new Error('test API: `experiments` is not a TreeDataProvider');
  if (!isCodeLensProvider(codeLenses)) throw new Error('test API: `codeLenses` is not a CodeLensProvider');
  if (typeof jobs !== 'object' || jobs === null) throw new Error('test API: `jobs` (the job manager) is missing');
  const activationMs: unknown = Reflect.get(exported, 'activationMs');
  if (typeof activationMs !== 'number') throw new Error('test API: `activationMs` is not a number');
  return { experiments, codeLenses, jobs, activationMs };
}

export function workspaceRoot(): vscode.Uri {
  const folder = vscode.workspace.workspaceFolders?.[0];
  if (!folder) throw new Error('the integration tests need the fixture workspace open as a folder');
  return folder.uri;
}

export function labelText(item: vscode.TreeItem): string {
  const label = item.label;
  if (label === undefined) return '';
  return typeof label === 'string' ? label : label.label;
}

/** Polls `probe` until it returns a value (not undefined) or the time is up. */
export async function waitFor<T>(what: string, probe: () => Promise<T | undefined> | T | undefined, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() > deadline) {
      const why = lastError instanceof Error ? `: last error ${lastError.message}` : '';
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${why}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}
