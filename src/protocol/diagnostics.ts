// diagnostics.json (issue 7: gradient-preservation diagnostics of an offsite emulator) and the message that
// carries it to the Rank choices / Gradient diagnostics panels. Pure zod, bundled by the webviews too.
import { z } from 'zod';
import { formatZodError } from './runFiles';

const finite = z.number().finite();

/** Gradient agreement of one adapter parameter group, emulator vs full model, before and after tuning. */
export const adapterDiagnosticSchema = z
  .object({
    name: z.string(),
    cosineBefore: finite,
    cosineAfter: finite,
    relErrorBefore: finite,
    relErrorAfter: finite,
  })
  .passthrough();
export type AdapterDiagnostic = z.infer<typeof adapterDiagnosticSchema>;

/** One compressed module: attention projections carry ranks, MLPs carry channels; both may carry kept/gcs. */
export const moduleDiagnosticSchema = z
  .object({
    name: z.string(),
    layer: z.number().int().nonnegative(),
    kind: z.enum(['attention', 'mlp']),
    fullRank: z.number().int().nonnegative().optional(),
    keptRank: z.number().int().nonnegative().optional(),
    kept: z.array(z.number().int().nonnegative()).optional(),
    singularValues: z.array(finite).optional(),
    gcs: z.array(finite).optional(),
    fullChannels: z.number().int().nonnegative().optional(),
    keptChannels: z.number().int().nonnegative().optional(),
  })
  .passthrough();
export type ModuleDiagnostic = z.infer<typeof moduleDiagnosticSchema>;

export const diagnosticsFileSchema = z
  .object({
    adapters: z.array(adapterDiagnosticSchema).default([]),
    modules: z.array(moduleDiagnosticSchema).default([]),
    loss: z.record(z.unknown()).optional(),
  })
  .passthrough();
export type DiagnosticsFile = z.infer<typeof diagnosticsFileSchema>;

/** Host -> Rank choices / Gradient diagnostics panels: the run's diagnostics.json, or why there is none. */
export const diagnosticsMessageSchema = z
  .object({
    type: z.literal('diagnostics'),
    runDir: z.string(),
    diagnostics: diagnosticsFileSchema.nullable(),
    /** Set when diagnostics is null: missing file, or what is wrong with it (file + JSON path). */
    reason: z.string().optional(),
  })
  .strict();
export type DiagnosticsMessage = z.infer<typeof diagnosticsMessageSchema>;

/** Validates parsed diagnostics.json content; throws naming the file and the JSON paths at fault. */
export function parseDiagnosticsFile(x: unknown, file: string): DiagnosticsFile {
  const result = diagnosticsFileSchema.safeParse(x);
  if (!result.success) throw new Error(`${file}: ${formatZodError(result.error)}`);
  return result.data;
}

/**
 * The diagnostics message in `x`, undefined when `x` is some other message (the panels then use the shared
 * host-message parser); throws with the offending JSON paths when it claims to be one but is malformed.
 */
export function parseDiagnosticsMessage(x: unknown): DiagnosticsMessage | undefined {
  if (typeof x !== 'object' || x === null || !('type' in x) || x.type !== 'diagnostics') return undefined;
  const result = diagnosticsMessageSchema.safeParse(x);
  if (!result.success) throw new Error(`invalid diagnostics message: ${formatZodError(result.error)}`);
  return result.data;
}
