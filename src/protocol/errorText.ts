// Turns whatever a command or a webview caught into the text shown to the user and the text written to the log (host and webviews).

export interface DescribedError {
  /** One line for the notification. */
  message: string;
  /** Everything useful for the output channel (stack when there is one). */
  detail: string;
}

export function describeError(error: unknown): DescribedError {
  if (error instanceof Error) {
    const message = error.message.trim() || error.name;
    return { message: firstLine(message), detail: error.stack ?? message };
  }
  const text = typeof error === 'string' ? error : safeJson(error);
  return { message: firstLine(text), detail: text };
}

function firstLine(text: string): string {
  const line = text.split('\n', 1)[0] ?? '';
  return line.length > 300 ? `${line.slice(0, 297)}...` : line;
}

function safeJson(value: unknown): string {
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}
