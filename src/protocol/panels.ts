// Messages between the extension host and the webview panels (postMessage), one union per panel and direction.
// Both sides validate what they receive with the parsers below (the webview bundles this file: keep it free of
// Node imports).
import { z } from 'zod';
import { formatZodError, metricRecordSchema, runSummarySchema } from './runFiles';
import { jobEventSchema } from './worker';

/** Panel ids and their webview viewTypes (CONTRACTS: VS Code contributions). */
export const panelViewTypes = {
  run: 'peftLab.run',
  layerImportance: 'peftLab.layerImportance',
  rankChoices: 'peftLab.rankChoices',
  gradientDiagnostics: 'peftLab.gradientDiagnostics',
} as const;
export type PanelId = keyof typeof panelViewTypes;
export const panelIds: readonly PanelId[] = ['run', 'layerImportance', 'rankChoices', 'gradientDiagnostics'];

/** What a panel shows: one run folder as read from disk (summary may be missing for a run that just began). */
export const runDataSchema = z
  .object({
    runDir: z.string(),
    runId: z.string(),
    configPath: z.string().optional(),
    summary: runSummarySchema.nullable(),
    metrics: z.array(metricRecordSchema),
  })
  .strict();
export type RunData = z.infer<typeof runDataSchema>;

// ---- host -> webview (shared by every panel) ----
/** The whole state of the run to show (sent after `ready` and whenever the run folder changes). */
const runDataMessage = z.object({ type: z.literal('runData'), run: runDataSchema }).strict();
/** A live event of the job writing this run (appended by the panel without re-reading everything). */
const jobEventMessage = z.object({ type: z.literal('jobEvent'), runDir: z.string(), event: jobEventSchema }).strict();
/** Nothing to show (no run yet, or the run folder could not be read), with the reason. */
const emptyMessage = z.object({ type: z.literal('empty'), message: z.string() }).strict();

// ---- webview -> host (shared by every panel) ----
/** The webview's script has loaded and listens: the host answers with runData or empty. */
const readyMessage = z.object({ type: z.literal('ready') }).strict();
/** Open a file of the run (summary.json, log.txt, ...) in an editor; path is absolute or relative to runDir. */
const openFileMessage = z.object({ type: z.literal('openFile'), path: z.string().min(1) }).strict();
/** Re-read the run folder. */
const refreshMessage = z.object({ type: z.literal('refresh') }).strict();
/** Run panel only: cancel the job that is writing this run. */
const cancelJobMessage = z.object({ type: z.literal('cancelJob'), runDir: z.string().min(1) }).strict();

export const hostToWebviewSchemas = {
  run: z.discriminatedUnion('type', [runDataMessage, jobEventMessage, emptyMessage]),
  layerImportance: z.discriminatedUnion('type', [runDataMessage, jobEventMessage, emptyMessage]),
  rankChoices: z.discriminatedUnion('type', [runDataMessage, emptyMessage]),
  gradientDiagnostics: z.discriminatedUnion('type', [runDataMessage, emptyMessage]),
} as const;

export const webviewToHostSchemas = {
  run: z.discriminatedUnion('type', [readyMessage, openFileMessage, refreshMessage, cancelJobMessage]),
  layerImportance: z.discriminatedUnion('type', [readyMessage, openFileMessage, refreshMessage]),
  rankChoices: z.discriminatedUnion('type', [readyMessage, openFileMessage, refreshMessage]),
  gradientDiagnostics: z.discriminatedUnion('type', [readyMessage, openFileMessage, refreshMessage]),
} as const;

export type HostToWebviewMessage<P extends PanelId> = z.infer<(typeof hostToWebviewSchemas)[P]>;
export type WebviewToHostMessage<P extends PanelId> = z.infer<(typeof webviewToHostSchemas)[P]>;

/** Validates a message the host received from panel `panel`'s webview; throws with the offending paths. */
export function parseWebviewMessage<P extends PanelId>(panel: P, x: unknown): WebviewToHostMessage<P> {
  const result = webviewToHostSchemas[panel].safeParse(x);
  if (!result.success) throw new Error(`invalid message from the ${panel} panel: ${formatZodError(result.error)}`);
  return result.data;
}

/** Validates a message panel `panel`'s webview received from the host; throws with the offending paths. */
export function parseHostMessage<P extends PanelId>(panel: P, x: unknown): HostToWebviewMessage<P> {
  const result = hostToWebviewSchemas[panel].safeParse(x);
  if (!result.success) throw new Error(`invalid message for the ${panel} panel: ${formatZodError(result.error)}`);
  return result.data;
}
