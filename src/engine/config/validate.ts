// Parses a *.peft.json text (jsonc-parser, for positions) and validates it with ajv against the same JSON Schema
// VS Code uses for the file (src/config/peft-config.schema.json). ajv fills every default (useDefaults).
import Ajv, { type ErrorObject } from 'ajv';
import { parseTree, printParseErrorCode, type Node as JsonNode, type ParseError } from 'jsonc-parser';
import schema from '../../config/peft-config.schema.json';
import { lineColumnAt, type ConfigIssue } from './issues';
import type { ExperimentConfig } from './types';

/** The JSON Schema of *.peft.json, as a plain object (also shipped as dist/peft-config.schema.json). */
export const experimentConfigSchema: object = schema;

const ajv = new Ajv({ allErrors: true, useDefaults: true, verbose: true, strict: true });
// VS Code's schema extension: shown on a deprecated key in the editor, no effect on validation.
ajv.addKeyword({ keyword: 'deprecationMessage', schemaType: 'string' });
// The type guard is backed by the schema: types.ts mirrors it by hand.
const validateSchema = ajv.compile<ExperimentConfig>(schema);

export type ConfigValidation = { ok: true; config: ExperimentConfig } | { ok: false; issues: ConfigIssue[] };

/**
 * Validates config text. `file` is only used in the issues (pass the absolute path). On success the config has
 * every default filled in; relative paths are NOT resolved here (see loadExperimentConfig).
 */
export function validateConfigText(text: string, file: string): ConfigValidation {
  const parseErrors: ParseError[] = [];
  const tree = parseTree(text, parseErrors, { disallowComments: true, allowTrailingComma: false });
  if (parseErrors.length > 0 || tree === undefined) {
    const issues = parseErrors.map((e) => ({
      file,
      ...lineColumnAt(text, e.offset),
      message: `JSON syntax error: ${describeParseError(e)}`,
    }));
    if (issues.length === 0) issues.push({ file, line: 1, column: 1, message: 'JSON syntax error: the file is empty' });
    return { ok: false, issues };
  }
  const data: unknown = JSON.parse(text);
  if (validateSchema(data)) return { ok: true, config: data };
  const errors = (validateSchema.errors ?? []).filter((e) => e.keyword !== 'if');
  const issues = errors.map((e) => issueFromAjvError(e, data, tree, text, file));
  issues.sort((a, b) => a.line - b.line || a.column - b.column);
  return { ok: false, issues: dedupe(issues) };
}

function describeParseError(e: ParseError): string {
  // 'PropertyNameExpected' -> 'property name expected'
  return printParseErrorCode(e.error).replace(/([a-z])([A-Z])/g, '$1 $2').toLowerCase();
}

function issueFromAjvError(e: ErrorObject, data: unknown, tree: JsonNode, text: string, file: string): ConfigIssue {
  const segments = pointerSegments(e.instancePath);
  const at = (node: JsonNode | undefined): { line: number; column: number } =>
    lineColumnAt(text, (node ?? tree).offset);
  switch (e.keyword) {
    case 'additionalProperties': {
      const key = String(e.params.additionalProperty);
      const keyNode = propertyKeyNode(nodeAt(tree, segments), key);
      const allowed = allowedKeys(e.parentSchema);
      const hint = allowed.length > 0 ? ` (allowed: ${allowed.join(', ')})` : '';
      return { file, ...at(keyNode), jsonPath: jsonPath([...segments, key]), message: `unknown key '${key}'${hint}` };
    }
    case 'required': {
      const key = String(e.params.missingProperty);
      return { file, ...at(nodeAt(tree, segments)), jsonPath: jsonPath(segments), message: `missing required key '${key}'` };
    }
    case 'false schema': {
      // Keys the schema forbids for the chosen task (allOf/if/then with `false`).
      const node = nodeAt(tree, segments);
      const keyNode = node?.parent?.type === 'property' ? node.parent.children?.[0] : node;
      const task = isRecord(data) && typeof data.task === 'string' ? data.task : '?';
      const key = segments[segments.length - 1] ?? '';
      if (segments.length === 2 && segments[0] === 'peft') {
        // Keys of the other PEFT method (peft's if/then/else on method).
        const peft = isRecord(data) ? data.peft : undefined;
        const method = isRecord(peft) && typeof peft.method === 'string' ? peft.method : 'lora';
        return { file, ...at(keyNode), jsonPath: jsonPath(segments), message: `key '${key}' is not allowed when peft.method is '${method}'` };
      }
      return { file, ...at(keyNode), jsonPath: jsonPath(segments), message: `key '${key}' is not allowed when task is '${task}'` };
    }
    case 'enum': {
      const allowed: unknown = e.params.allowedValues;
      const list = Array.isArray(allowed) ? allowed.map(String).join(', ') : '';
      return { file, ...at(nodeAt(tree, segments)), jsonPath: jsonPath(segments), message: `must be one of ${list}` };
    }
    case 'type': {
      const got = describeType(valueAt(data, segments));
      return { file, ...at(nodeAt(tree, segments)), jsonPath: jsonPath(segments), message: `${e.message ?? 'wrong type'} (got ${got})` };
    }
    default:
      return { file, ...at(nodeAt(tree, segments)), jsonPath: jsonPath(segments), message: e.message ?? e.keyword };
  }
}

function dedupe(issues: ConfigIssue[]): ConfigIssue[] {
  const seen = new Set<string>();
  return issues.filter((i) => {
    const key = `${i.line}:${i.column}:${i.jsonPath ?? ''}:${i.message}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/** JSON Pointer (RFC 6901) -> segments. */
function pointerSegments(pointer: string): string[] {
  if (pointer === '') return [];
  return pointer
    .slice(1)
    .split('/')
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
}

/** Segments -> `$.a.b[0]["odd key"]`. */
export function jsonPath(segments: readonly string[]): string {
  let out = '$';
  for (const s of segments) {
    if (/^\d+$/.test(s)) out += `[${s}]`;
    else if (/^[A-Za-z_$][\w$]*$/.test(s)) out += `.${s}`;
    else out += `[${JSON.stringify(s)}]`;
  }
  return out;
}

/** The value node at the segments (object keys or array indices), or undefined. */
function nodeAt(root: JsonNode, segments: readonly string[]): JsonNode | undefined {
  let node: JsonNode | undefined = root;
  for (const segment of segments) {
    if (node === undefined) return undefined;
    if (node.type === 'object') {
      const prop: JsonNode | undefined = node.children?.find((p) => p.children?.[0]?.value === segment);
      node = prop?.children?.[1];
    } else if (node.type === 'array') {
      node = node.children?.[Number(segment)];
    } else {
      return undefined;
    }
  }
  return node;
}

function propertyKeyNode(objectNode: JsonNode | undefined, key: string): JsonNode | undefined {
  if (objectNode?.type !== 'object') return objectNode;
  const prop = objectNode.children?.find((p) => p.children?.[0]?.value === key);
  return prop?.children?.[0] ?? objectNode;
}

function valueAt(data: unknown, segments: readonly string[]): unknown {
  let value: unknown = data;
  for (const s of segments) {
    if (Array.isArray(value)) value = value[Number(s)];
    else if (isRecord(value)) value = value[s];
    else return undefined;
  }
  return value;
}

function allowedKeys(parentSchema: unknown): string[] {
  if (!isRecord(parentSchema) || !isRecord(parentSchema.properties)) return [];
  return Object.keys(parentSchema.properties).filter((k) => k !== '$schema');
}

function describeType(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  if (typeof value === 'number') return Number.isInteger(value) ? `number ${value}` : `number ${value}`;
  if (typeof value === 'string') return `string ${JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}...` : value)}`;
  return typeof value;
}

function isRecord(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}
