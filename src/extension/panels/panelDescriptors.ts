// What distinguishes one run panel from another: one descriptor per panel id, read by the one RunPanel class
// and by the PanelManager (registration, serializers, titles). The webview bundle is dist/webview/<id>.js.
import { panelViewTypes, type PanelId } from '../../protocol';

export interface PanelDescriptor {
  readonly id: PanelId;
  readonly viewType: string;
  /** The <h1> of the page; the tab title adds the run id. */
  readonly title: string;
  /** Live job events it takes: all of them, only metric records, or none (its protocol has no jobEvent). */
  readonly jobEvents: 'all' | 'metrics' | 'none';
  /** Also sends the run's diagnostics.json after the run data. */
  readonly readsDiagnostics: boolean;
  /** Accepts cancelJob for its own run. */
  readonly cancelsItsJob: boolean;
}

export const PANEL_DESCRIPTORS: { readonly [P in PanelId]: PanelDescriptor & { readonly id: P } } = {
  run: { id: 'run', viewType: panelViewTypes.run, title: 'Run overview', jobEvents: 'all', readsDiagnostics: false, cancelsItsJob: true },
  layerImportance: {
    id: 'layerImportance', viewType: panelViewTypes.layerImportance, title: 'Layer importance', jobEvents: 'metrics', readsDiagnostics: false, cancelsItsJob: false,
  },
  rankChoices: { id: 'rankChoices', viewType: panelViewTypes.rankChoices, title: 'Rank choices', jobEvents: 'none', readsDiagnostics: true, cancelsItsJob: false },
  gradientDiagnostics: {
    id: 'gradientDiagnostics', viewType: panelViewTypes.gradientDiagnostics, title: 'Gradient diagnostics', jobEvents: 'none', readsDiagnostics: true, cancelsItsJob: false,
  },
};
