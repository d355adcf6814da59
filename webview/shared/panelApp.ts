// What every panel's script does first: validate each host message with the shared protocol, keep the saved
// state, tell the host it is ready, and show errors in the page instead of failing silently.
import { parseHostMessage, type HostToWebviewMessage, type PanelId, type WebviewToHostMessage } from '../../src/protocol/panels';
import { parsePanelState, type PanelState } from '../../src/protocol/panelState';
import { describeError } from '../../src/protocol/errorText';
import { h } from './dom';
import { registerToolkit } from './toolkit';
import { vscodeApi } from './vscodeApi';

export interface PanelApp<P extends PanelId> {
  /** The <main> element under the static <h1>. */
  root: HTMLElement;
  post(message: WebviewToHostMessage<P>): void;
  state(): PanelState;
  saveState(patch: Partial<PanelState>): void;
  showError(error: unknown): void;
}

export interface PanelHandlers<P extends PanelId> {
  onMessage(message: HostToWebviewMessage<P>, app: PanelApp<P>): void;
  /** Messages outside the shared protocol (diagnostics); returns true when it handled `data`. */
  onOtherMessage?(data: unknown, app: PanelApp<P>): boolean;
}

export function startPanel<P extends PanelId>(panel: P, handlers: PanelHandlers<P>): PanelApp<P> {
  registerToolkit();
  const root = document.getElementById('app') ?? document.body.appendChild(h('main', { attrs: { id: 'app' } }));
  let state = parsePanelState(vscodeApi.getState());
  const app: PanelApp<P> = {
    root,
    post: (message) => vscodeApi.postMessage(message),
    state: () => state,
    saveState: (patch) => {
      state = { ...state, ...patch };
      vscodeApi.setState(state);
    },
    showError: (error) => {
      const { message } = describeError(error);
      root.replaceChildren(h('div', { className: 'error', testId: 'panel-error', attrs: { role: 'alert' } }, message));
    },
  };
  window.addEventListener('message', (event: MessageEvent<unknown>) => {
    try {
      if (handlers.onOtherMessage?.(event.data, app)) return;
      handlers.onMessage(parseHostMessage(panel, event.data), app);
    } catch (error) {
      app.showError(error);
    }
  });
  app.post({ type: 'ready' });
  return app;
}
