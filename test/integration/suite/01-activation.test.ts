// The extension activates in a real extension host, and activation stays cheap: ONNX Runtime is not loaded
// (CONTRACTS.md: "No ONNX Runtime load at activation"; jobs load it in their own process).
import * as assert from 'node:assert/strict';
import { onnxRuntimeTracesInThisProcess } from '../onnxRuntimeTraces';
import { activatedApi, peftLabExtension, waitFor } from '../testApi';

describe('activation', () => {
  it('activates by itself on a workspace holding *.peft.json (workspaceContains)', async () => {
    // No activate() call here: the host must activate PEFT Lab because of the fixture configs.
    await waitFor('PEFT Lab to be active', () => (peftLabExtension().isActive ? true : undefined), 60_000);
    const events: unknown = Reflect.get(Object(peftLabExtension().packageJSON), 'activationEvents');
    assert.ok(Array.isArray(events) && events.includes('workspaceContains:**/*.peft.json'), `activationEvents: ${JSON.stringify(events)}`);
  });

  it('returns the test API from activate()', async () => {
    const api = await activatedApi();
    assert.ok(api.experiments && api.codeLenses && api.jobs);
  });

  it('activates in well under a second (activate() timed by the extension itself)', async function () {
    const api = await activatedApi();
    // The measured figure goes into the reported title, so the runner's output records it.
    if (this.test) this.test.title += `: took ${api.activationMs.toFixed(1)} ms`;
    assert.ok(api.activationMs > 0 && api.activationMs < 1000, `activate() took ${api.activationMs} ms`);
  });

  it('did not load ONNX Runtime into the extension host', () => {
    assert.deepEqual(onnxRuntimeTracesInThisProcess(), []);
  });
});
