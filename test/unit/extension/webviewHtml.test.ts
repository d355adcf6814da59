import { strict as assert } from 'node:assert';
import { buildContentSecurityPolicy, buildWebviewHtml, createNonce, escapeHtml } from '../../../src/extension/panels/webviewHtml';

const cspSource = 'https://*.vscode-cdn.net';

function directives(csp: string): Map<string, string[]> {
  return new Map(csp.split(';').map((d) => d.trim().split(/\s+/)).map(([name, ...values]) => [name ?? '', values]));
}

describe('webview HTML and CSP', () => {
  it('allows nothing by default, scripts only with the nonce, styles only from the webview source', () => {
    const nonce = createNonce();
    const csp = directives(buildContentSecurityPolicy(cspSource, nonce));
    assert.deepEqual(csp.get('default-src'), ["'none'"]);
    assert.deepEqual(csp.get('script-src'), [`'nonce-${nonce}'`]);
    assert.deepEqual(csp.get('style-src'), [cspSource, `'nonce-${nonce}'`]);
    for (const values of csp.values()) {
      assert.ok(!values.includes("'unsafe-inline'") && !values.includes("'unsafe-eval'") && !values.includes('*'), `too open: ${values.join(' ')}`);
    }
  });

  it('puts the CSP, the title <h1>, the styles and exactly one nonce script in the page', () => {
    const nonce = createNonce();
    const html = buildWebviewHtml({ title: 'Layer importance', cspSource, nonce, scriptUri: 'https://x/dist/webview/layerImportance.js', styleUris: ['https://x/media/panel.css'], panelId: 'layerImportance' });
    const meta = /<meta http-equiv="Content-Security-Policy" content="([^"]+)">/.exec(html);
    assert.ok(meta, 'CSP meta tag');
    assert.equal(meta[1], buildContentSecurityPolicy(cspSource, nonce).replace(/'/g, '&#39;'));
    assert.match(html, /<h1 data-testid="panel-title">Layer importance<\/h1>/);
    assert.ok(html.includes(`<meta property="csp-nonce" content="${nonce}">`));
    assert.match(html, /<link rel="stylesheet" href="https:\/\/x\/media\/panel.css">/);
    const scripts = [...html.matchAll(/<script([^>]*)>/g)];
    assert.equal(scripts.length, 1);
    assert.match(scripts[0]?.[1] ?? '', new RegExp(`nonce="${nonce.replace(/[+/=]/g, (c) => `\\${c}`)}" src="https://x/dist/webview/layerImportance.js"`));
    assert.match(html, /<body data-panel="layerImportance">/);
  });

  it('escapes the title and URIs', () => {
    const html = buildWebviewHtml({ title: '<img src=x onerror=alert(1)> & "q"', cspSource, nonce: createNonce(), scriptUri: 'https://x/a.js?a=1&b="2"', styleUris: [], panelId: 'run' });
    assert.ok(!html.includes('<img'));
    assert.ok(html.includes('&lt;img src=x onerror=alert(1)&gt; &amp; &quot;q&quot;'));
    assert.ok(html.includes('a=1&amp;b=&quot;2&quot;'));
    assert.equal(escapeHtml(`'`), '&#39;');
  });

  it('makes a fresh 128-bit nonce per load', () => {
    const nonces = new Set(Array.from({ length: 50 }, () => createNonce()));
    assert.equal(nonces.size, 50);
    for (const nonce of nonces) assert.equal(Buffer.from(nonce, 'base64').length, 16);
  });

  it('refuses a nonce or source that could inject directives', () => {
    assert.throws(() => buildContentSecurityPolicy(cspSource, "abc'; script-src *"), /invalid CSP nonce/);
    assert.throws(() => buildContentSecurityPolicy(cspSource, 'short'), /invalid CSP nonce/);
    assert.throws(() => buildContentSecurityPolicy('https://a; script-src *', createNonce()), /invalid CSP source/);
    assert.throws(() => buildContentSecurityPolicy('', createNonce()), /invalid CSP source/);
  });
});
