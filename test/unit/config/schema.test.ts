import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { repoRoot } from '../jobs/testBundles';

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

function isObject(x: Json | undefined): x is { [key: string]: Json } {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

/** Every property schema under `properties`, with its JSON path in the config. */
function* propertySchemas(schema: Json, at: string): Generator<[string, { [key: string]: Json }, { [key: string]: Json }]> {
  if (!isObject(schema) || !isObject(schema.properties)) return;
  for (const [key, sub] of Object.entries(schema.properties)) {
    if (!isObject(sub)) continue;
    yield [`${at}.${key}`, sub, schema];
    yield* propertySchemas(sub, `${at}.${key}`);
  }
}

describe('peft-config.schema.json', () => {
  const text = fs.readFileSync(path.join(repoRoot, 'src/config/peft-config.schema.json'), 'utf8');
  const schema: Json = JSON.parse(text);

  it('is draft-07 and closed at every object level', () => {
    assert.ok(isObject(schema));
    assert.equal(schema.$schema, 'http://json-schema.org/draft-07/schema#');
    assert.equal(schema.additionalProperties, false);
    for (const [at, sub] of propertySchemas(schema, '$')) {
      if (sub.type === 'object') assert.equal(sub.additionalProperties, false, `${at} must set additionalProperties: false`);
    }
  });

  it('describes every key (hover docs)', () => {
    for (const [at, sub] of propertySchemas(schema, '$')) {
      assert.equal(typeof sub.description, 'string', `${at} has no description`);
    }
  });

  it('gives a default for every optional scalar setting of the device check and runtime', () => {
    for (const [at, sub] of propertySchemas(schema, '$')) {
      if (!/^\$\.(deviceCheck|runtime|train)\./.test(at)) continue;
      assert.notEqual(sub.default, undefined, `${at} has no default`);
    }
  });
});
