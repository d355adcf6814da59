// The Run panel (peftLab.run): status, device, metrics, loss curve, live events; can cancel the job.
import type { HostToWebviewMessage, JobEvent, RunData, WebviewToHostMessage } from '../../protocol';
import { panelViewTypes } from '../../protocol';
import { isOwnRunDir } from './ownRun';
import { RunPanelBase, type PanelKind } from './runPanelBase';

export const runPanelKind: PanelKind<'run'> = { id: 'run', viewType: panelViewTypes.run, title: 'Run overview', forwardsJobEvents: true };

export class RunOverviewPanel extends RunPanelBase<'run'> {
  protected runDataMessage(run: RunData): HostToWebviewMessage<'run'> {
    return { type: 'runData', run };
  }

  protected emptyMessage(message: string): HostToWebviewMessage<'run'> {
    return { type: 'empty', message };
  }

  protected override postJobEvent(runDir: string, event: JobEvent): void {
    void this.post({ type: 'jobEvent', runDir, event });
  }

  protected override async handleOther(message: WebviewToHostMessage<'run'>): Promise<void> {
    if (message.type === 'cancelJob') {
      if (this.runDir === undefined || !isOwnRunDir(this.runDir, message.runDir)) {
        this.deps.log.warn(`run panel of ${this.runDir ?? '(no run)'}: refused to cancel ${message.runDir}, which is not this panel's run`);
        return;
      }
      await this.deps.jobs.cancel(this.runDir);
      await this.sendRun();
    }
  }
}
