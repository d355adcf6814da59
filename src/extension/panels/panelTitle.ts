// Panel tab titles carry the run id ("Layer importance · 20260101-000000-demo"). VS Code persists the title as
// soon as a panel opens, while the webview's saved state may not have been flushed yet when a browser-hosted
// workbench (code-server, Codespaces) reloads, so a restored panel can find its run again from the title.
import { isRunId } from '../../engine/runs/runId';

const separator = ' · ';

export function panelTitle(kindTitle: string, runId: string | undefined): string {
  return runId === undefined ? kindTitle : `${kindTitle}${separator}${runId}`;
}

/** The run id at the end of a panel title, or undefined when the title has none. */
export function runIdFromPanelTitle(title: string): string | undefined {
  const at = title.lastIndexOf(separator);
  if (at < 0) return undefined;
  const candidate = title.slice(at + separator.length).trim();
  return isRunId(candidate) ? candidate : undefined;
}
