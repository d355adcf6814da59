import assert from 'node:assert/strict';
import { describeFallback, isExecutionProviderChoice, providerCandidates, supportedBackendNames } from '../../../src/engine/runtime';

describe('runtime: provider choice', () => {
  it('orders candidates: auto prefers cuda, then webgpu; every list ends with cpu', () => {
    assert.deepEqual(providerCandidates('auto'), ['cuda', 'webgpu', 'cpu']);
    assert.deepEqual(providerCandidates('cuda'), ['cuda', 'cpu']);
    assert.deepEqual(providerCandidates('webgpu'), ['webgpu', 'cpu']);
    assert.deepEqual(providerCandidates('cpu'), ['cpu']);
  });

  it('validates choices from configs', () => {
    for (const ok of ['auto', 'cpu', 'cuda', 'webgpu']) assert.ok(isExecutionProviderChoice(ok));
    for (const bad of ['CPU', 'gpu', '', 3, null]) assert.ok(!isExecutionProviderChoice(bad));
  });

  it('the fallback message names the request, the provider used and each failure', () => {
    const msg = describeFallback('auto', 'cpu', [{ provider: 'cuda', error: 'no libcudart' }, { provider: 'webgpu', error: 'no adapter' }]);
    assert.equal(msg, 'execution provider "auto" was requested, using "cpu" instead. cuda: no libcudart; webgpu: no adapter');
  });

  it('onnxruntime-node lists cpu among its backends', () => {
    assert.ok(supportedBackendNames().includes('cpu'));
  });
});
