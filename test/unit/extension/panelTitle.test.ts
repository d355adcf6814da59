import { strict as assert } from 'node:assert';
import { panelTitle, runIdFromPanelTitle } from '../../../src/extension/panels/panelTitle';
import { parsePanelState } from '../../../src/protocol/panelState';

describe('panel titles and saved state', () => {
  it('titles carry the run id, which a restored panel reads back', () => {
    const title = panelTitle('Layer importance', '20260101-000000-demo');
    assert.equal(title, 'Layer importance · 20260101-000000-demo');
    assert.equal(runIdFromPanelTitle(title), '20260101-000000-demo');
    assert.equal(runIdFromPanelTitle('Layer importance'), undefined);
    assert.equal(runIdFromPanelTitle('Layer importance · not a run'), undefined);
    assert.equal(panelTitle('Run overview', undefined), 'Run overview');
  });

  it('accepts only the saved state it wrote', () => {
    assert.deepEqual(parsePanelState({ runDir: '/r/20260101-000000-demo', selectedModule: 'q' }), { runDir: '/r/20260101-000000-demo', selectedModule: 'q' });
    assert.deepEqual(parsePanelState(undefined), {});
    assert.deepEqual(parsePanelState({ runDir: 3 }), {});
    assert.deepEqual(parsePanelState({ runDir: '/r', extra: true }), {});
  });
});
