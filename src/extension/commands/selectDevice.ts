// "Select Device": a quick pick writing the peftLab.device setting (at the level where it is already set, else
// user settings).
import * as vscode from 'vscode';
import { deviceNameSchema, type DeviceName } from '../../protocol';
import { SettingKey, SettingsSection } from '../ids';
import { activeConfigUri } from './arguments';
import { UserCancelled } from './commandRegistry';

const descriptions: Record<DeviceName, string> = {
  auto: 'CUDA, then WebGPU, then CPU; the run records which one it used',
  cpu: 'ONNX Runtime CPU (always available)',
  cuda: 'NVIDIA GPU (needs onnxruntime-node CUDA binaries)',
  webgpu: 'ONNX Runtime WebGPU (bundled)',
};

interface DevicePick extends vscode.QuickPickItem {
  device: DeviceName;
}

/** Optional argument: the device, to skip the pick (tests). Returns the device written. */
export async function selectDevice(deviceArg?: unknown): Promise<DeviceName> {
  // Scoped to the active config (or the first folder) so a folder-level value is seen and updated where it is.
  const scope = activeConfigUri() ?? vscode.workspace.workspaceFolders?.[0]?.uri;
  const config = vscode.workspace.getConfiguration(SettingsSection, scope);
  let device: DeviceName;
  if (deviceArg !== undefined) {
    const parsed = deviceNameSchema.safeParse(deviceArg);
    if (!parsed.success) throw new Error(`unknown device ${JSON.stringify(deviceArg)}; expected one of ${deviceNameSchema.options.join(', ')}`);
    device = parsed.data;
  } else {
    const current = config.get<string>(SettingKey.device) ?? 'auto';
    const items: DevicePick[] = deviceNameSchema.options.map((d) => ({
      label: d,
      description: d === current ? `${descriptions[d]} (current)` : descriptions[d],
      device: d,
    }));
    const picked = await vscode.window.showQuickPick(items, { title: 'PEFT Lab: Select Device', placeHolder: `Execution provider for new jobs (now: ${current})` });
    if (!picked) throw new UserCancelled();
    device = picked.device;
  }
  const inspected = config.inspect<string>(SettingKey.device);
  const target =
    inspected?.workspaceFolderValue !== undefined
      ? vscode.ConfigurationTarget.WorkspaceFolder
      : inspected?.workspaceValue !== undefined
        ? vscode.ConfigurationTarget.Workspace
        : vscode.ConfigurationTarget.Global;
  await config.update(SettingKey.device, device, target);
  return device;
}
