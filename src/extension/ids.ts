// Identifiers shared by package.json's contributions and the code that registers them (one place to rename).
// Pure: no vscode import, so unit tests can check them against package.json.

export const CommandId = {
  newExperiment: 'peftLab.newExperiment',
  runExperiment: 'peftLab.runExperiment',
  cancelJob: 'peftLab.cancelJob',
  openRun: 'peftLab.openRun',
  showLayerImportance: 'peftLab.showLayerImportance',
  showRankChoices: 'peftLab.showRankChoices',
  showGradientDiagnostics: 'peftLab.showGradientDiagnostics',
  selectDevice: 'peftLab.selectDevice',
  refreshExperiments: 'peftLab.refreshExperiments',
} as const;
export type CommandName = keyof typeof CommandId;

/** Titles as contributed in package.json (used in error messages: "PEFT Lab: Run Experiment failed ..."). */
export const CommandTitle: Record<CommandName, string> = {
  newExperiment: 'New Experiment',
  runExperiment: 'Run Experiment',
  cancelJob: 'Cancel Job',
  openRun: 'Open Run',
  showLayerImportance: 'Show Layer Importance',
  showRankChoices: 'Show Rank Choices',
  showGradientDiagnostics: 'Show Gradient Diagnostics',
  selectDevice: 'Select Device',
  refreshExperiments: 'Refresh Experiments',
};

export const ViewContainerId = 'peftLab';
export const ExperimentsViewId = 'peftLab.experiments';
export const OutputChannelName = 'PEFT Lab';

/** Context keys used in package.json `when` / `enablement` clauses. */
export const ContextKey = {
  jobRunning: 'peftLab.jobRunning',
  hasExperiments: 'peftLab.hasExperiments',
  hasRuns: 'peftLab.hasRuns',
} as const;

/** TreeItem.contextValue values matched by the `view/item/context` menus. */
export const TreeItemContext = {
  config: 'peftLab.config',
  configRunning: 'peftLab.config.running',
  run: 'peftLab.run',
  runRunning: 'peftLab.run.running',
} as const;

export const SettingsSection = 'peftLab';
export const SettingKey = {
  device: 'device',
  threads: 'threads',
  runsFolder: 'runsFolder',
} as const;
export const DefaultRunsFolder = '.peft-lab/runs';

export const ConfigGlob = '**/*.peft.json';
export const ConfigExcludeGlob = '**/node_modules/**';
export const ConfigSuffix = '.peft.json';
