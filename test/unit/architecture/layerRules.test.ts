// The layer rules of .dependency-cruiser.cjs, which `npm run lint` checks on the project's tree: a tree that breaks
// each rule once (test/fixtures/layer-violations) is reported rule by rule, so the check can fail.
import { strict as assert } from 'node:assert';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import type { ICruiseResult, IConfiguration } from 'dependency-cruiser';

const ROOT = path.resolve(__dirname, '../../..');
const config = createRequire(__filename)(path.join(ROOT, '.dependency-cruiser.cjs')) as IConfiguration;

async function violations(baseDir: string): Promise<string[]> {
  // dependency-cruiser is an ES module only; the unit tests run as CommonJS.
  const { cruise } = await import('dependency-cruiser');
  const result = await cruise(['src', 'webview'], {
    ...config.options, ruleSet: { forbidden: config.forbidden }, baseDir, tsConfig: { fileName: path.join(ROOT, 'tsconfig.json') },
    validate: true, outputType: 'json',
  });
  const output = result.output as ICruiseResult | string;
  const parsed: ICruiseResult = typeof output === 'string' ? JSON.parse(output) as ICruiseResult : output;
  return parsed.summary.violations.map((v) => `${v.rule.name}: ${v.from} -> ${v.to}`).sort();
}

describe('architecture: layer rules', function () {
  this.timeout(60_000);

  it('a tree breaking each rule once is reported for every rule', async () => {
    const found = await violations(path.join(ROOT, 'test/fixtures/layer-violations'));
    const rules = new Set(found.map((v) => v.split(':')[0]));
    assert.deepEqual([...rules].sort(), ['engine-below-host', 'engine-without-vscode', 'no-cycles', 'protocol-is-a-leaf', 'webview-sees-only-protocol'], found.join('\n'));
    assert.ok(found.includes('webview-sees-only-protocol: webview/panel.ts -> src/extension/host.ts'), found.join('\n'));
    assert.ok(!found.some((v) => v.startsWith('webview-sees-only-protocol: webview/panel.ts -> src/protocol/')), 'the protocol import is allowed');
  });
});
