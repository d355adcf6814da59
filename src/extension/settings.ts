// Reads the peftLab.* settings for a config file. Device and threads override the config's `runtime` block only
// when the user set them somewhere (a default left alone keeps what the config says).
import * as vscode from 'vscode';
import { deviceNameSchema, type DeviceName } from '../protocol';
import { DefaultRunsFolder, SettingKey, SettingsSection } from './ids';

export interface JobSettings {
  device: DeviceName | undefined;
  threads: number | undefined;
  runsFolder: string;
}

export function readJobSettings(scope: vscode.Uri | undefined): JobSettings {
  const config = vscode.workspace.getConfiguration(SettingsSection, scope);
  const device = deviceNameSchema.safeParse(explicitValue(config, SettingKey.device));
  const threads = explicitValue(config, SettingKey.threads);
  return {
    device: device.success ? device.data : undefined,
    threads: typeof threads === 'number' && Number.isInteger(threads) && threads >= 0 ? threads : undefined,
    runsFolder: readRunsFolder(scope),
  };
}

export function readRunsFolder(scope: vscode.Uri | undefined): string {
  const value = vscode.workspace.getConfiguration(SettingsSection, scope).get<unknown>(SettingKey.runsFolder);
  return typeof value === 'string' && value.trim() !== '' ? value.trim() : DefaultRunsFolder;
}

/** The value the user set at the most specific level, or undefined when only the default applies. */
function explicitValue(config: vscode.WorkspaceConfiguration, key: string): unknown {
  const inspected = config.inspect<unknown>(key);
  return inspected?.workspaceFolderValue ?? inspected?.workspaceValue ?? inspected?.globalValue;
}

/** The workspace folder peftLab.runsFolder must stay inside (none for a config outside the workspace: its own folder). */
export function runsRootOf(configUri: vscode.Uri): { runsRoot?: string } {
  const folder = vscode.workspace.getWorkspaceFolder(configUri);
  return folder === undefined ? {} : { runsRoot: folder.uri.fsPath };
}
