// The state a panel's webview saves with setState (restored by VS Code after a reload and handed to the
// panel serializer): which run it shows, plus small UI choices. Pure zod, used by the host and the webviews.
import { z } from 'zod';

export const panelStateSchema = z
  .object({
    runDir: z.string().min(1).optional(),
    /** Rank choices: the module whose spectrum is shown. */
    selectedModule: z.string().optional(),
  })
  .strict();
export type PanelState = z.infer<typeof panelStateSchema>;

/** The saved state, or an empty one when there is none or it does not validate (an older panel version). */
export function parsePanelState(x: unknown): PanelState {
  const result = panelStateSchema.safeParse(x ?? {});
  return result.success ? result.data : {};
}
