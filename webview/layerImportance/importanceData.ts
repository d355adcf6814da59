// Shapes IST records into the two heatmaps of the Layer importance panel. Pure (unit-tested).
// Scores are the authors' "dispensability" s_i (ist.py): high s = the layer is trained less often.
import type { MetricRecord } from '../../src/protocol';
import { importanceRecordSchema, selectRecords, stepRecordSchema } from '../shared/metricRecords';

/** Cell = [column index, layer index, value]: the layout echarts' heatmap series takes. */
export type HeatmapCell = [number, number, number];

export interface ImportanceHeatmap {
  /** Step of each column (one column per importance update). */
  steps: number[];
  layerCount: number;
  cells: HeatmapCell[];
  /** Colour range, symmetric around 0 (scores start at 0): min = -max, max = the largest |score| (> 0). */
  min: number;
  max: number;
  /** The last update's scores, one per layer. */
  latest: number[];
}

export interface SelectionHeatmap {
  /** Steps each column covers (columns merge consecutive steps when there are more than maxColumns). */
  columns: { fromStep: number; toStep: number }[];
  layerCount: number;
  /** Value = fraction of the column's steps in which the layer was selected (1 = every step). */
  cells: HeatmapCell[];
  /** How many steps selected each layer, over the whole run. */
  timesSelected: number[];
  stepCount: number;
}

export interface LayerImportanceData {
  importance: ImportanceHeatmap | undefined;
  selection: SelectionHeatmap | undefined;
  problems: string[];
}

export function shapeLayerImportance(records: readonly MetricRecord[], maxColumns = 200): LayerImportanceData {
  if (!Number.isInteger(maxColumns) || maxColumns < 1) throw new Error(`maxColumns must be a positive integer, got ${maxColumns}`);
  const importance = selectRecords(records, 'importance', importanceRecordSchema);
  const steps = selectRecords(records, 'step', stepRecordSchema);
  const problems = [...importance.problems, ...steps.problems];

  const updates = [...importance.records].sort((a, b) => a.step - b.step);
  const importanceLayers = updates.reduce((n, r) => Math.max(n, r.scores.length), 0);
  if (updates.some((r) => r.scores.length !== importanceLayers)) {
    problems.push(`importance records disagree on the layer count (${[...new Set(updates.map((r) => r.scores.length))].join(', ')}); missing scores are left blank`);
  }
  const selections = steps.records
    .filter((r): r is typeof r & { layers: number[] } => r.layers !== undefined)
    .sort((a, b) => a.step - b.step);
  const selectedMax = selections.reduce((n, r) => Math.max(n, ...r.layers.map((l) => l + 1)), 0);
  const layerCount = Math.max(importanceLayers, selectedMax);

  return {
    importance: updates.length > 0 ? importanceHeatmap(updates.map((r) => ({ step: r.step, scores: r.scores })), layerCount) : undefined,
    selection: selections.length > 0 ? selectionHeatmap(selections, layerCount, maxColumns) : undefined,
    problems,
  };
}

function importanceHeatmap(updates: { step: number; scores: number[] }[], layerCount: number): ImportanceHeatmap {
  const cells: HeatmapCell[] = [];
  let largest = 0;
  updates.forEach((update, column) => {
    update.scores.forEach((score, layer) => {
      if (!Number.isFinite(score)) return;
      cells.push([column, layer, score]);
      largest = Math.max(largest, Math.abs(score));
    });
  });
  const latest = updates[updates.length - 1]?.scores ?? [];
  // All scores still 0 (no update moved them) still needs a non-empty colour range.
  const max = largest > 0 ? largest : 1;
  return { steps: updates.map((u) => u.step), layerCount, cells, min: -max, max, latest };
}

function selectionHeatmap(selections: { step: number; layers: number[] }[], layerCount: number, maxColumns: number): SelectionHeatmap {
  const perColumn = Math.ceil(selections.length / maxColumns);
  const columns: { fromStep: number; toStep: number }[] = [];
  const cells: HeatmapCell[] = [];
  const timesSelected = new Array<number>(layerCount).fill(0);
  for (let start = 0; start < selections.length; start += perColumn) {
    const group = selections.slice(start, start + perColumn);
    const counts = new Array<number>(layerCount).fill(0);
    for (const record of group) {
      for (const layer of new Set(record.layers)) {
        counts[layer] = (counts[layer] ?? 0) + 1;
        timesSelected[layer] = (timesSelected[layer] ?? 0) + 1;
      }
    }
    const column = columns.length;
    columns.push({ fromStep: group[0]?.step ?? 0, toStep: group[group.length - 1]?.step ?? 0 });
    counts.forEach((count, layer) => {
      if (count > 0) cells.push([column, layer, count / group.length]);
    });
  }
  return { columns, layerCount, cells, timesSelected, stepCount: selections.length };
}
