// Command arguments arrive from tree menus (nodes), CodeLenses and editor menus (Uris), tests and other
// extensions (paths): each helper recognises what it can and says undefined otherwise.
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { isRunId } from '../../engine/runs';
import { RUN_FILES } from '../../protocol/runFolder';
import { ConfigSuffix } from '../ids';
import { ConfigNode, RunNode } from '../experiments/nodes';

/** A config file named by the argument: a config node, a run node (its config), a Uri or a path. */
export function configUriFrom(arg: unknown): vscode.Uri | undefined {
  if (arg instanceof ConfigNode) return arg.uri;
  if (arg instanceof RunNode) return arg.config.uri;
  const uri = arg instanceof vscode.Uri ? arg : typeof arg === 'string' && arg !== '' ? vscode.Uri.file(path.resolve(arg)) : undefined;
  return uri && uri.path.endsWith(ConfigSuffix) ? uri : undefined;
}

/** A run folder named by the argument: a run node, or a Uri/path of a folder that looks like a run. */
export function runDirFrom(arg: unknown): string | undefined {
  if (arg instanceof RunNode) return arg.runDir;
  const fsPath = arg instanceof vscode.Uri ? arg.fsPath : typeof arg === 'string' && arg !== '' ? path.resolve(arg) : undefined;
  if (fsPath === undefined || fsPath.endsWith(ConfigSuffix)) return undefined;
  if (isRunId(path.basename(fsPath)) || fs.existsSync(path.join(fsPath, RUN_FILES.summary))) return fsPath;
  return undefined;
}

/** The config of the active editor, if it is one. */
export function activeConfigUri(): vscode.Uri | undefined {
  const uri = vscode.window.activeTextEditor?.document.uri;
  return uri && uri.path.endsWith(ConfigSuffix) ? uri : undefined;
}
