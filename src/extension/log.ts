// The "PEFT Lab" output channel: activation timing, job events, command errors (with stacks).
import * as vscode from 'vscode';
import { OutputChannelName } from './ids';

export type Log = vscode.LogOutputChannel;

export function createLog(): Log {
  return vscode.window.createOutputChannel(OutputChannelName, { log: true });
}
