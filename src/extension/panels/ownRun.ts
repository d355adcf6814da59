// Which run folder a panel's message may act on. No vscode import, so it is unit-tested directly.
import * as path from 'node:path';

/**
 * True only for the panel's own run folder: a webview message naming another folder (a bug, or a compromised
 * page) must not cancel some other job of the window.
 */
export function isOwnRunDir(panelRunDir: string | undefined, requested: string): boolean {
  return panelRunDir !== undefined && path.resolve(requested) === path.resolve(panelRunDir);
}
