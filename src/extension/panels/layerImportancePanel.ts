// The Layer importance panel (peftLab.layerImportance): IST scores heatmap and selected layers per step.
import type { HostToWebviewMessage, JobEvent, RunData } from '../../protocol';
import { panelViewTypes } from '../../protocol';
import { RunPanelBase, type PanelKind } from './runPanelBase';

export const layerImportancePanelKind: PanelKind<'layerImportance'> = {
  id: 'layerImportance',
  viewType: panelViewTypes.layerImportance,
  title: 'Layer importance',
  forwardsJobEvents: true,
};

export class LayerImportancePanel extends RunPanelBase<'layerImportance'> {
  protected runDataMessage(run: RunData): HostToWebviewMessage<'layerImportance'> {
    return { type: 'runData', run };
  }

  protected emptyMessage(message: string): HostToWebviewMessage<'layerImportance'> {
    return { type: 'empty', message };
  }

  protected override postJobEvent(runDir: string, event: JobEvent): void {
    // Only metric records change the heatmaps.
    if (event.type === 'metric') void this.post({ type: 'jobEvent', runDir, event });
  }
}
