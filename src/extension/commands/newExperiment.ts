// "New Experiment": asks for a template and a name, writes <name>.peft.json into a workspace folder and opens
// it. Arguments (optional, for tests and scripts): name, target folder Uri, template (default device-check when a
// name is given, so scripted calls need no picker).
import * as vscode from 'vscode';
import {
  EXPERIMENT_TEMPLATES, experimentFileName, isExperimentTemplate, renderExperimentConfig, validateExperimentName, type ExperimentTemplate,
} from '../newExperiment/experimentTemplate';
import { ensureLabData } from '../../engine/lab/labExperiments';
import { UserCancelled } from './commandRegistry';

export async function newExperiment(nameArg?: unknown, folderArg?: unknown, templateArg?: unknown): Promise<vscode.Uri> {
  if (templateArg !== undefined && !isExperimentTemplate(templateArg)) {
    throw new Error(`unknown experiment template ${JSON.stringify(templateArg)} (known: ${Object.keys(EXPERIMENT_TEMPLATES).join(', ')})`);
  }
  const folder = folderArg instanceof vscode.Uri ? folderArg : await pickWorkspaceFolder();
  const template = templateArg ?? (typeof nameArg === 'string' ? 'device-check' : await pickTemplate());
  let name: string;
  if (typeof nameArg === 'string') {
    const problem = validateExperimentName(nameArg);
    if (problem) throw new Error(`invalid experiment name ${JSON.stringify(nameArg)}: ${problem}`);
    name = nameArg.trim();
  } else {
    const typed = await vscode.window.showInputBox({
      title: 'PEFT Lab: New Experiment',
      prompt: `Name of the experiment (creates <name>.peft.json in ${folder.fsPath})`,
      value: template,
      validateInput: async (value) => validateExperimentName(value) ?? ((await exists(vscode.Uri.joinPath(folder, experimentFileName(value)))) ? `${experimentFileName(value)} already exists here.` : undefined),
    });
    if (typed === undefined) throw new UserCancelled();
    name = typed.trim();
  }
  const file = vscode.Uri.joinPath(folder, experimentFileName(name));
  if (await exists(file)) throw new Error(`${file.fsPath} already exists; pick another name.`);
  // The lab templates read the built-in world's tasks beside the config (plain files: writing them is quick).
  if (template !== 'device-check' && folder.scheme === 'file') ensureLabData(folder.fsPath);
  await vscode.workspace.fs.writeFile(file, new TextEncoder().encode(renderExperimentConfig(name, template)));
  await vscode.window.showTextDocument(file, { preview: false });
  return file;
}

async function pickTemplate(): Promise<ExperimentTemplate> {
  const items = Object.entries(EXPERIMENT_TEMPLATES).filter(([id]) => isExperimentTemplate(id)).map(([id, detail]) => ({ label: id, detail }));
  const picked = await vscode.window.showQuickPick(items, { title: 'PEFT Lab: New Experiment', placeHolder: 'What kind of experiment?' });
  if (picked === undefined || !isExperimentTemplate(picked.label)) throw new UserCancelled();
  return picked.label;
}

async function pickWorkspaceFolder(): Promise<vscode.Uri> {
  const folders = vscode.workspace.workspaceFolders ?? [];
  if (folders.length === 0) throw new Error('open a folder first: experiments are files in the workspace.');
  if (folders.length === 1 && folders[0]) return folders[0].uri;
  const picked = await vscode.window.showWorkspaceFolderPick({ placeHolder: 'Folder for the new experiment' });
  if (!picked) throw new UserCancelled();
  return picked.uri;
}

async function exists(uri: vscode.Uri): Promise<boolean> {
  try {
    await vscode.workspace.fs.stat(uri);
    return true;
  } catch {
    return false;
  }
}
