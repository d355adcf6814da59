// What the Experiments tree shows for a config file and for a run folder, as plain data (no vscode import), so
// the mapping from summaries to labels, icons and menus is unit-tested without VS Code.
import type { RunStatus, RunSummary } from '../../protocol';
import { ConfigSuffix, TreeItemContext } from '../ids';
import { formatLocalTime } from '../../protocol/localTime';

/** One run folder as found on disk (src/engine/runs RunInfo); summary is null when missing or unreadable. */
export interface RunListing {
  runId: string;
  runDir: string;
  summary: RunSummary | null;
  /** Why summary.json could not be read (shown in the tooltip). */
  summaryError?: string;
  /** Set when the summary says running but its job process is gone (killed): why. */
  interrupted?: string;
}

export interface IconModel {
  /** A codicon id (ThemeIcon). */
  id: string;
  /** A theme colour id, when the state deserves one. */
  color?: string;
}

export interface TreeItemModel {
  label: string;
  description: string;
  /** Markdown. */
  tooltip: string;
  icon: IconModel;
  contextValue: string;
}

const statusIcons: Record<RunStatus, IconModel> = {
  running: { id: 'sync~spin', color: 'charts.blue' },
  completed: { id: 'pass', color: 'testing.iconPassed' },
  cancelled: { id: 'circle-slash', color: 'charts.yellow' },
  failed: { id: 'error', color: 'testing.iconFailed' },
};

const interruptedIcon: IconModel = { id: 'debug-disconnect', color: 'charts.orange' };

/**
 * A run's tree item. `liveJob` says whether this window's job manager is running it: a summary saying
 * "running" without a live job is a run whose process died (or one started elsewhere, e.g. the CLI).
 */
export function describeRun(run: RunListing, liveJob: boolean): TreeItemModel {
  const summary = run.summary;
  // "running" in a summary whose process was killed (kill -9, a crash of the host) would spin forever.
  const interrupted = !liveJob && summary?.status === 'running' && run.interrupted !== undefined;
  const status: RunStatus | 'interrupted' | undefined = liveJob ? 'running' : interrupted ? 'interrupted' : summary?.status;
  const icon = status === 'interrupted' ? interruptedIcon : status ? statusIcons[status] : { id: 'question', color: 'descriptionForeground' };
  const started = summary ? formatLocalTime(summary.startedAt) : undefined;
  const description = [status ?? 'no summary', started].filter((part) => part !== undefined).join(' · ');
  const tooltip: string[] = [`**${escapeMarkdown(run.runId)}**`, ''];
  if (summary) {
    tooltip.push(`- name: ${escapeMarkdown(summary.name)}`, `- task: ${escapeMarkdown(summary.task)}`);
    tooltip.push(`- status: ${status ?? summary.status}`);
    tooltip.push(`- started: ${started ?? summary.startedAt}`);
    if (summary.endedAt) tooltip.push(`- ended: ${formatLocalTime(summary.endedAt)}`);
    if (summary.device) {
      const fallback = summary.device.fallbackReason ? ` (${escapeMarkdown(summary.device.fallbackReason)})` : '';
      tooltip.push(`- device: ${escapeMarkdown(summary.device.used)} (requested ${escapeMarkdown(summary.device.requested)})${fallback}`);
    }
    if (interrupted) tooltip.push(`- interrupted: ${escapeMarkdown(run.interrupted ?? '')}; resume it from its last checkpoint`);
    if (summary.error) {
      const where = summary.error.where ? ` at ${escapeMarkdown(summary.error.where)}` : '';
      tooltip.push(`- error: ${escapeMarkdown(summary.error.message)}${where}`);
    }
  } else {
    tooltip.push(`summary.json not readable: ${escapeMarkdown(run.summaryError ?? 'missing')}`);
  }
  return {
    label: run.runId,
    description,
    tooltip: tooltip.join('\n'),
    icon,
    contextValue: liveJob ? TreeItemContext.runRunning : TreeItemContext.run,
  };
}

/** A config's tree item. `relativeFolder` is the config's folder relative to its workspace folder ('' at the root). */
export function describeConfig(fileName: string, relativeFolder: string, runCount: number, liveJob: boolean): TreeItemModel {
  const label = experimentNameOf(fileName);
  const runs = runCount === 1 ? '1 run' : `${runCount} runs`;
  const where = relativeFolder === '' ? '' : relativeFolder;
  return {
    label,
    description: [where, liveJob ? 'running' : undefined].filter((p) => p !== undefined && p !== '').join(' · '),
    tooltip: `**${escapeMarkdown(fileName)}**\n\n${escapeMarkdown(where === '' ? '(workspace root)' : where)} · ${runs}`,
    icon: { id: liveJob ? 'sync~spin' : 'beaker' },
    contextValue: liveJob ? TreeItemContext.configRunning : TreeItemContext.config,
  };
}

/** `foo.peft.json` -> `foo`. */
export function experimentNameOf(fileName: string): string {
  return fileName.endsWith(ConfigSuffix) ? fileName.slice(0, -ConfigSuffix.length) : fileName;
}

function escapeMarkdown(text: string): string {
  return text.replace(/[\\`*_{}[\]()#+\-.!|<>]/g, (c) => `\\${c}`);
}
