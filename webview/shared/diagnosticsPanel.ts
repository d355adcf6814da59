// What the panels drawn from a run's diagnostics.json (rank choices, gradient diagnostics) share: the host sends the
// run in the panel protocol and the file in a diagnostics message of its own, in either order, so both are kept and
// the page is drawn once the diagnostics are the shown run's (and again when the theme changes).
import type { RunData } from '../../src/protocol';
import { parseDiagnosticsMessage, type DiagnosticsMessage } from '../../src/protocol/diagnostics';
import { RUN_FILES } from '../../src/protocol/runFolder';
import { onThemeChange } from './charts';
import { emptyState, h, replace } from './dom';
import { startPanel, type PanelApp } from './panelApp';

type DiagnosticsPanelId = 'rankChoices' | 'gradientDiagnostics';

export interface DiagnosticsView<P extends DiagnosticsPanelId> {
  /** Prefix of the page's test ids: `<prefix>-empty` (no run) and `<prefix>-loading` (diagnostics not read yet). */
  readonly testIdPrefix: string;
  /** Draws the page: `subtitle` (the run's id and task) first, then what `diagnostics` holds; `redraw` draws it again. */
  draw(panel: PanelApp<P>, subtitle: HTMLElement, diagnostics: DiagnosticsMessage, redraw: () => void): void;
}

export function startDiagnosticsPanel<P extends DiagnosticsPanelId>(id: P, view: DiagnosticsView<P>): void {
  let run: RunData | undefined;
  let diagnostics: DiagnosticsMessage | undefined;
  const render = (panel: PanelApp<P>): void => {
    if (!run) return;
    const subtitle = h('p', { className: 'subtitle', testId: 'run-id' }, `${run.runId} · ${run.summary?.task ?? 'unknown task'}`);
    if (!diagnostics || diagnostics.runDir !== run.runDir) {
      replace(panel.root, subtitle, h('p', { testId: `${view.testIdPrefix}-loading` }, `Reading ${RUN_FILES.diagnostics}...`));
      return;
    }
    view.draw(panel, subtitle, diagnostics, () => render(panel));
  };
  const app = startPanel(id, {
    onMessage(message, panel) {
      if (message.type === 'runData') {
        run = message.run;
        panel.saveState({ runDir: message.run.runDir });
        render(panel);
      } else {
        run = undefined;
        diagnostics = undefined;
        replace(panel.root, emptyState(`${view.testIdPrefix}-empty`, 'No run to show', message.message));
      }
    },
    onOtherMessage(data, panel) {
      const message = parseDiagnosticsMessage(data);
      if (!message) return false;
      diagnostics = message;
      render(panel);
      return true;
    },
  });
  onThemeChange(() => render(app));
}
