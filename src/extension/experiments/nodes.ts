// The Experiments tree's elements. Classes, so command arguments coming from tree menus are recognised with
// instanceof rather than by casting.
import * as path from 'node:path';
import type * as vscode from 'vscode';
import type { RunInfo } from '../../engine/runs';

/** A `*.peft.json` file. */
export class ConfigNode {
  constructor(readonly uri: vscode.Uri) {}
  get configPath(): string {
    return this.uri.fsPath;
  }
}

/** A run folder under a config's runs folder. */
export class RunNode {
  constructor(
    readonly config: ConfigNode,
    readonly run: RunInfo,
  ) {}
  get runDir(): string {
    return this.run.runDir;
  }
  get runId(): string {
    return path.basename(this.run.runDir);
  }
}

export type ExperimentNode = ConfigNode | RunNode;
