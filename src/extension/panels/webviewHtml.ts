// The HTML shell of every panel: a strict Content Security Policy (nothing by default; scripts only with this
// load's nonce; styles, fonts and images only from the extension's own webview resources, plus nonce'd style
// elements), the panel's <h1>,
// and one script: the panel's bundle. Pure (no vscode import) so the CSP is unit-tested.
import { randomBytes } from 'node:crypto';

export interface WebviewHtmlInput {
  /** Shown in the <h1> and <title>. */
  title: string;
  /** `webview.cspSource` of the panel's webview. */
  cspSource: string;
  /** Fresh for every load (see createNonce). */
  nonce: string;
  /** webview URI of dist/webview/<panel>.js. */
  scriptUri: string;
  /** webview URIs of stylesheets under media/. */
  styleUris: readonly string[];
  /** The panel id (run, layerImportance, ...), exposed as body[data-panel] for tests and styles. */
  panelId: string;
}

/** 128 random bits, base64: unguessable per load, as CSP nonces must be. */
export function createNonce(): string {
  return randomBytes(16).toString('base64');
}

export function buildContentSecurityPolicy(cspSource: string, nonce: string): string {
  // cspSource may list several sources separated by spaces; neither may end the directive or the attribute.
  if (cspSource.trim() === '' || /[;"\r\n,]/.test(cspSource)) throw new Error(`invalid CSP source: ${JSON.stringify(cspSource)}`);
  if (!/^[A-Za-z0-9+/=_-]{16,}$/.test(nonce)) throw new Error(`invalid CSP nonce (need 16+ base64 characters): ${JSON.stringify(nonce)}`);
  return [
    "default-src 'none'",
    `script-src 'nonce-${nonce}'`,
    // The nonce lets webview-ui-toolkit (FAST) run its one <style> probe for :focus-visible support; it reads
    // the nonce from <meta property="csp-nonce">. No 'unsafe-inline'.
    `style-src ${cspSource} 'nonce-${nonce}'`,
    `font-src ${cspSource}`,
    `img-src ${cspSource} data:`,
  ].join('; ');
}

export function buildWebviewHtml(input: WebviewHtmlInput): string {
  const csp = buildContentSecurityPolicy(input.cspSource, input.nonce);
  const styles = input.styleUris
    .map((uri) => `  <link rel="stylesheet" href="${escapeHtml(uri)}">`)
    .join('\n');
  return `<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="UTF-8">
  <meta http-equiv="Content-Security-Policy" content="${escapeHtml(csp)}">
  <meta property="csp-nonce" content="${escapeHtml(input.nonce)}">
  <meta name="viewport" content="width=device-width, initial-scale=1.0">
${styles}
  <title>${escapeHtml(input.title)}</title>
</head>
<body data-panel="${escapeHtml(input.panelId)}">
  <h1 data-testid="panel-title">${escapeHtml(input.title)}</h1>
  <main id="app" data-testid="panel-root" aria-live="polite"></main>
  <script nonce="${escapeHtml(input.nonce)}" src="${escapeHtml(input.scriptUri)}"></script>
</body>
</html>
`;
}

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] ?? c);
}
