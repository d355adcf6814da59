// The Gradient diagnostics panel (peftLab.gradientDiagnostics): adapter gradient agreement, from diagnostics.json.
import type { HostToWebviewMessage, RunData } from '../../protocol';
import { panelViewTypes } from '../../protocol';
import { readDiagnosticsMessage } from './diagnosticsFile';
import { RunPanelBase, type PanelKind } from './runPanelBase';

export const gradientDiagnosticsPanelKind: PanelKind<'gradientDiagnostics'> = {
  id: 'gradientDiagnostics',
  viewType: panelViewTypes.gradientDiagnostics,
  title: 'Gradient diagnostics',
  forwardsJobEvents: false,
};

export class GradientDiagnosticsPanel extends RunPanelBase<'gradientDiagnostics'> {
  protected runDataMessage(run: RunData): HostToWebviewMessage<'gradientDiagnostics'> {
    return { type: 'runData', run };
  }

  protected emptyMessage(message: string): HostToWebviewMessage<'gradientDiagnostics'> {
    return { type: 'empty', message };
  }

  protected override async afterRunSent(runDir: string): Promise<void> {
    await this.post(readDiagnosticsMessage(runDir));
  }
}
