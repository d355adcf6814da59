// The Run panel's cancel message acts only on the panel's own run folder (issue 16 item 10).
import { strict as assert } from 'node:assert';
import * as path from 'node:path';
import { isOwnRunDir } from '../../../src/extension/panels/ownRun';

describe('run panel: cancel only its own run', () => {
  const own = path.resolve('/work/exp/.peft-lab/runs/20260101-000000-a');

  it('accepts the panel run folder, also spelled differently', () => {
    assert.equal(isOwnRunDir(own, own), true);
    assert.equal(isOwnRunDir(own, `${own}/`), true);
    assert.equal(isOwnRunDir(own, path.join(own, '..', '20260101-000000-a')), true);
  });

  it('refuses any other folder, and everything for a panel without a run', () => {
    assert.equal(isOwnRunDir(own, path.resolve('/work/exp/.peft-lab/runs/20260101-000000-b')), false);
    assert.equal(isOwnRunDir(own, path.dirname(own)), false);
    assert.equal(isOwnRunDir(own, path.join(own, 'checkpoints')), false);
    assert.equal(isOwnRunDir(undefined, own), false);
  });
});
