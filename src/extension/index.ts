// Extension entry point. Activation registers views, commands, CodeLenses and panel serializers only: ONNX
// Runtime is never loaded here (jobs run in child processes), and the job module and New Experiment (which pulls
// in the lab model's safetensors and dtype tables) are imported on first use, so loading the bundle stays cheap.
import * as vscode from 'vscode';
import type { PanelId } from '../protocol';
import { cancelJob, runExperiment } from './commands/jobCommands';
import { resolveRun } from './commands/runPicker';
import { registerCommands } from './commands/commandRegistry';
import { selectDevice } from './commands/selectDevice';
import { ExperimentCodeLensProvider, codeLensSelector } from './experiments/codeLensProvider';
import { ExperimentsTreeProvider } from './experiments/experimentsTree';
import { CommandId, CommandTitle, ExperimentsViewId } from './ids';
import { JobManager } from './jobs/jobManager';
import { createLog } from './log';
import { PanelManager } from './panels/panelManager';

/** Set by the bundle's first line (scripts/build.mjs banner); absent when the sources run unbundled (tests). */
declare const __peftLabBundleStart: number | undefined;
declare const __peftLabBundleCpu: NodeJS.CpuUsage | undefined;

/** What activate() returns: the handles the in-host tests drive (CONTRACTS: VS Code contributions). */
export interface PeftLabApi {
  experiments: ExperimentsTreeProvider;
  codeLenses: ExperimentCodeLensProvider;
  jobs: JobManager;
  panels: PanelManager;
  /** Milliseconds activate() took (wall clock). */
  activationMs: number;
  /** CPU milliseconds of the extension host process during activate() (not inflated by a busy machine). */
  activationCpuMs: number;
  /** From the bundle's first line to the end of this module's top level (evaluating the code), when bundled. */
  bundleLoad: { ms: number; cpuMs: number } | undefined;
}

export function activate(context: vscode.ExtensionContext): PeftLabApi {
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  const phases: string[] = [];
  let last = t0;
  const mark = (phase: string) => {
    const now = performance.now();
    phases.push(`${phase} ${(now - last).toFixed(1)}`);
    last = now;
  };
  const log = createLog();
  context.subscriptions.push(log);
  mark('log');

  // "Open Run" on a finished job's notification goes through the command (and its error reporting).
  const openRun = (runDir: string) => void vscode.commands.executeCommand(CommandId.openRun, runDir);
  const jobs = new JobManager(context.asAbsolutePath('dist/worker.js'), log, openRun);
  context.subscriptions.push(jobs);
  const experiments = new ExperimentsTreeProvider(jobs, log);
  context.subscriptions.push(experiments);
  const panelManager = new PanelManager({ extensionUri: context.extensionUri, jobs, log }, (runId) => experiments.findRun(runId));
  context.subscriptions.push(panelManager);
  mark('jobs+panels');
  const view = vscode.window.createTreeView(ExperimentsViewId, { treeDataProvider: experiments, showCollapseAll: true });
  context.subscriptions.push(view);
  mark('tree');

  const codeLenses = new ExperimentCodeLensProvider(experiments, jobs);
  context.subscriptions.push(codeLenses, vscode.languages.registerCodeLensProvider(codeLensSelector, codeLenses));
  mark('codeLenses');

  const showPanel = (id: PanelId, purpose: string) => async (arg?: unknown) => {
    const runDir = await resolveRun(arg, experiments, purpose);
    panelManager.show(id, runDir);
    return runDir;
  };
  registerCommands(context, log, {
    newExperiment: async (name?: unknown, folder?: unknown, template?: unknown) => {
      const { newExperiment } = await import('./commands/newExperiment');
      const uri = await newExperiment(name, folder, template);
      experiments.refresh();
      return uri;
    },
    runExperiment: (arg?: unknown) => runExperiment(arg, experiments, jobs),
    cancelJob: (arg?: unknown) => cancelJob(arg, jobs),
    openRun: showPanel('run', CommandTitle.openRun),
    showLayerImportance: showPanel('layerImportance', CommandTitle.showLayerImportance),
    showRankChoices: showPanel('rankChoices', CommandTitle.showRankChoices),
    showGradientDiagnostics: showPanel('gradientDiagnostics', CommandTitle.showGradientDiagnostics),
    selectDevice: (device?: unknown) => selectDevice(device),
    refreshExperiments: () => experiments.refresh(),
  });

  mark('commands');
  const activationMs = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  const activationCpuMs = (cpu.user + cpu.system) / 1000;
  const loaded = bundleLoad === undefined ? '' : `; bundle loaded in ${bundleLoad.ms.toFixed(1)} ms (CPU ${bundleLoad.cpuMs.toFixed(1)} ms)`;
  log.info(
    `PEFT Lab activated in ${activationMs.toFixed(1)} ms (CPU ${activationCpuMs.toFixed(1)} ms) [${phases.join(', ')} ms]${loaded} (extension ${extensionVersion(context)}, VS Code ${vscode.version})`,
  );
  return { experiments, codeLenses, jobs, panels: panelManager, activationMs, activationCpuMs, bundleLoad };
}

function extensionVersion(context: vscode.ExtensionContext): string {
  const packageJson: unknown = context.extension.packageJSON;
  return typeof packageJson === 'object' && packageJson !== null && 'version' in packageJson && typeof packageJson.version === 'string' ? packageJson.version : '?';
}

export function deactivate(): void {
  // Everything is disposed through context.subscriptions (running jobs are cancelled by JobManager.dispose).
}

// Last top-level statement of the entry module: every bundled module above has been evaluated by now.
const bundleLoad = typeof __peftLabBundleStart === 'number' && typeof __peftLabBundleCpu === 'object' ? measureBundleLoad(__peftLabBundleStart, __peftLabBundleCpu) : undefined;

function measureBundleLoad(start: number, cpu0: NodeJS.CpuUsage): { ms: number; cpuMs: number } {
  const cpu = process.cpuUsage(cpu0);
  return { ms: performance.now() - start, cpuMs: (cpu.user + cpu.system) / 1000 };
}
