// Rank choices panel data from diagnostics.json's modules: what each compressed module kept of its rank
// (attention, DRD) or channels (MLP, SCP), and the spectrum with the kept components marked. Pure.
import type { ModuleDiagnostic } from '../../src/protocol/diagnostics';

export interface ModuleRow {
  name: string;
  layer: number;
  kind: 'attention' | 'mlp';
  /** "kept / full" rank (attention) or channels (MLP); "-" when the file does not say. */
  kept: string;
  /** kept / full in 0..1, undefined when unknown. */
  keptFraction: number | undefined;
}

export function moduleRows(modules: readonly ModuleDiagnostic[]): ModuleRow[] {
  return [...modules]
    .sort((a, b) => a.layer - b.layer || a.name.localeCompare(b.name))
    .map((m) => {
      const [kept, full] = m.kind === 'mlp' ? [m.keptChannels ?? m.keptRank, m.fullChannels ?? m.fullRank] : [m.keptRank, m.fullRank];
      return {
        name: m.name,
        layer: m.layer,
        kind: m.kind,
        kept: kept !== undefined && full !== undefined ? `${kept} / ${full}` : '-',
        keptFraction: kept !== undefined && full !== undefined && full > 0 ? kept / full : undefined,
      };
    });
}

export interface Spectrum {
  /** Component (or channel) index. */
  index: number[];
  singularValues: (number | null)[];
  gcs: (number | null)[];
  kept: boolean[];
}

/**
 * One module's candidates in index order: singular value, GCS of removing it, kept or not. Length = the longest
 * of singularValues / gcs (a module with neither has no spectrum). Kept indices outside it are an error.
 */
export function spectrumOf(module: ModuleDiagnostic): Spectrum | undefined {
  const values = module.singularValues ?? [];
  const gcs = module.gcs ?? [];
  const length = Math.max(values.length, gcs.length);
  if (length === 0) return undefined;
  const keptSet = new Set(module.kept ?? []);
  for (const k of keptSet) {
    if (k >= length) throw new Error(`diagnostics.json module ${module.name}: kept index ${k} is outside its ${length} candidates`);
  }
  const index = Array.from({ length }, (_, i) => i);
  return {
    index,
    singularValues: index.map((i) => values[i] ?? null),
    gcs: index.map((i) => gcs[i] ?? null),
    kept: index.map((i) => keptSet.has(i)),
  };
}

/** Per layer, the mean kept fraction of its attention and of its MLP modules (for the overview chart). */
export function keptFractionByLayer(rows: readonly ModuleRow[]): { layers: number[]; attention: (number | null)[]; mlp: (number | null)[] } {
  const layers = [...new Set(rows.map((r) => r.layer))].sort((a, b) => a - b);
  const mean = (layer: number, kind: ModuleRow['kind']): number | null => {
    const fractions = rows.filter((r) => r.layer === layer && r.kind === kind && r.keptFraction !== undefined).map((r) => r.keptFraction ?? 0);
    return fractions.length === 0 ? null : fractions.reduce((s, f) => s + f, 0) / fractions.length;
  };
  return { layers, attention: layers.map((l) => mean(l, 'attention')), mlp: layers.map((l) => mean(l, 'mlp')) };
}
