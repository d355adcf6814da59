// collectGarbage runs a collection exactly in processes started with the worker's flags (the job worker and the
// bench's run processes), and is a no-op elsewhere.
import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import * as path from 'node:path';
import { WORKER_NODE_FLAGS } from '../../../src/engine/runtime/garbage';

const MODULE = path.resolve(__dirname, '../../../src/engine/runtime/garbage.ts');

function collectedIn(flags: readonly string[]): string {
  const script = `import('${MODULE}').then((m) => process.stdout.write(String((m.collectGarbage ?? m.default.collectGarbage)())))`;
  return execFileSync(process.execPath, [...flags, '--import', 'tsx', '-e', script], { encoding: 'utf8' });
}

describe('runtime: garbage collection between steps', function () {
  this.timeout(30_000);
  it('collects with the worker\'s flags and does nothing without them', () => {
    assert.equal(collectedIn(WORKER_NODE_FLAGS), 'true');
    assert.equal(collectedIn([]), 'false');
  });
});
