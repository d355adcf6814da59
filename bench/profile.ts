// Summarises an ORT profile (Chrome-trace JSON written with enableProfiling): kernel time per op type,
// split into forward and backward nodes, and the most expensive single nodes.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

export interface OpTime { key: string; ms: number; count: number }
export interface ProfileSummary {
  totalKernelMs: number;
  byOp: OpTime[];
  byPhaseOp: OpTime[];
  topNodes: OpTime[];
}

interface KernelEvent { node: string; op: string; us: number }

function kernelEvents(json: unknown): KernelEvent[] {
  if (!Array.isArray(json)) throw new Error('ORT profile is not a JSON array');
  const out: KernelEvent[] = [];
  for (const e of json) {
    if (typeof e !== 'object' || e === null) continue;
    if (!('cat' in e) || e.cat !== 'Node' || !('name' in e) || typeof e.name !== 'string' || !e.name.endsWith('_kernel_time')) continue;
    if (!('dur' in e) || typeof e.dur !== 'number' || !('args' in e) || typeof e.args !== 'object' || e.args === null) continue;
    const op = 'op_name' in e.args && typeof e.args.op_name === 'string' ? e.args.op_name : '?';
    out.push({ node: e.name.slice(0, -'_kernel_time'.length), op, us: e.dur });
  }
  return out;
}

function rank(map: Map<string, { us: number; count: number }>, runs: number): OpTime[] {
  return [...map.entries()].map(([key, v]) => ({ key, ms: v.us / 1000 / runs, count: v.count / runs })).sort((a, b) => b.ms - a.ms);
}

/**
 * Reads the newest `<prefix>*.json` in `dir`. `runs`: how many session runs the profile covers (times are per run).
 * Nodes ORT created by fusion usually keep the replaced node's name as a prefix (`<name>_...` or `<name>/...`);
 * fused nodes of other names count as backward.
 */
export function summariseProfile(dir: string, prefix: string, runs: number, forwardNodes: ReadonlySet<string>): ProfileSummary {
  const files = readdirSync(dir).filter((f) => f.startsWith(prefix) && f.endsWith('.json')).sort();
  const file = files.at(-1);
  if (!file) throw new Error(`no ORT profile ${prefix}*.json in ${dir}`);
  const events = kernelEvents(JSON.parse(readFileSync(path.join(dir, file), 'utf8')));
  const byOp = new Map<string, { us: number; count: number }>();
  const byPhaseOp = new Map<string, { us: number; count: number }>();
  const byNode = new Map<string, { us: number; count: number }>();
  let total = 0;
  const add = (m: Map<string, { us: number; count: number }>, k: string, us: number) => {
    const v = m.get(k) ?? { us: 0, count: 0 };
    v.us += us;
    v.count += 1;
    m.set(k, v);
  };
  for (const e of events) {
    total += e.us;
    const base = e.node.split('_token_')[0] ?? e.node;
    const phase = forwardNodes.has(base) || [...forwardNodes].some((n) => base.startsWith(`${n}_`) || base.startsWith(`${n}/`)) ? 'fwd' : 'bwd';
    add(byOp, e.op, e.us);
    add(byPhaseOp, `${phase} ${e.op}`, e.us);
    add(byNode, `${e.node} (${e.op})`, e.us);
  }
  return { totalKernelMs: total / 1000 / runs, byOp: rank(byOp, runs), byPhaseOp: rank(byPhaseOp, runs), topNodes: rank(byNode, runs).slice(0, 15) };
}
