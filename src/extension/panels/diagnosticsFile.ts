// Reads a run's diagnostics.json into the message the Rank choices / Gradient diagnostics panels take.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseDiagnosticsFile, type DiagnosticsMessage } from '../../protocol/diagnostics';
import { RUN_FILES } from '../../protocol/runFolder';

export const diagnosticsFileName = RUN_FILES.diagnostics;

export function readDiagnosticsMessage(runDir: string): DiagnosticsMessage {
  const file = path.join(runDir, diagnosticsFileName);
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (error) {
    if (error instanceof Error && 'code' in error && error.code === 'ENOENT') {
      return { type: 'diagnostics', runDir, diagnostics: null, reason: `This run has no ${diagnosticsFileName}.` };
    }
    throw error;
  }
  try {
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (error) {
      throw new Error(`${file}: invalid JSON: ${error instanceof Error ? error.message : String(error)}`);
    }
    return { type: 'diagnostics', runDir, diagnostics: parseDiagnosticsFile(json, file) };
  } catch (error) {
    return { type: 'diagnostics', runDir, diagnostics: null, reason: error instanceof Error ? error.message : String(error) };
  }
}
