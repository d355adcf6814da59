// Every command goes through this wrapper: an exception becomes an error notification (with a "Show Output"
// button) and a log entry with the stack, instead of a silent failure or an unhandled rejection.
import * as vscode from 'vscode';
import { describeError } from '../../protocol/errorText';
import { CommandId, CommandTitle, type CommandName } from '../ids';
import type { Log } from '../log';

export type CommandHandler = (...args: unknown[]) => unknown;

/** Thrown when the user dismissed a prompt: the command ends quietly. */
export class UserCancelled extends Error {
  override name = 'UserCancelled';
}

export function registerCommands(context: vscode.ExtensionContext, log: Log, handlers: Record<CommandName, CommandHandler>): void {
  for (const name of Object.keys(CommandId)) {
    if (!isCommandName(name)) continue;
    const handler = handlers[name];
    context.subscriptions.push(
      vscode.commands.registerCommand(CommandId[name], async (...args: unknown[]) => {
        try {
          return await handler(...args);
        } catch (error) {
          if (error instanceof UserCancelled) return undefined;
          reportError(log, CommandTitle[name], error);
          return undefined;
        }
      }),
    );
  }
}

export function reportError(log: Log, what: string, error: unknown): void {
  const { message, detail } = describeError(error);
  log.error(`${what} failed: ${detail}`);
  void vscode.window.showErrorMessage(`PEFT Lab: ${what} failed: ${message}`, 'Show Output').then((choice) => {
    if (choice === 'Show Output') log.show(true);
  });
}

function isCommandName(name: string): name is CommandName {
  return Object.hasOwn(CommandId, name);
}
