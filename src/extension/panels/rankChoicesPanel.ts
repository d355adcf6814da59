// The Rank choices panel (peftLab.rankChoices): kept ranks/channels per compressed module, from diagnostics.json.
import type { HostToWebviewMessage, RunData } from '../../protocol';
import { panelViewTypes } from '../../protocol';
import { readDiagnosticsMessage } from './diagnosticsFile';
import { RunPanelBase, type PanelKind } from './runPanelBase';

export const rankChoicesPanelKind: PanelKind<'rankChoices'> = {
  id: 'rankChoices',
  viewType: panelViewTypes.rankChoices,
  title: 'Rank choices',
  forwardsJobEvents: false,
};

export class RankChoicesPanel extends RunPanelBase<'rankChoices'> {
  protected runDataMessage(run: RunData): HostToWebviewMessage<'rankChoices'> {
    return { type: 'runData', run };
  }

  protected emptyMessage(message: string): HostToWebviewMessage<'rankChoices'> {
    return { type: 'empty', message };
  }

  protected override async afterRunSent(runDir: string): Promise<void> {
    await this.post(readDiagnosticsMessage(runDir));
  }
}
