// Tiny DOM builder: text always goes through textContent, never innerHTML (run data is untrusted input).

type Child = Node | string | undefined | false;

export interface ElementOptions {
  className?: string;
  testId?: string;
  attrs?: Record<string, string>;
}

export function h<K extends keyof HTMLElementTagNameMap>(tag: K, options: ElementOptions = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag);
  decorate(element, options);
  append(element, children);
  return element;
}

/** A custom element (webview-ui-toolkit), e.g. custom('vscode-button', {...}, 'Refresh'). */
export function custom(tag: string, options: ElementOptions = {}, ...children: Child[]): HTMLElement {
  const element = document.createElement(tag);
  decorate(element, options);
  append(element, children);
  return element;
}

function decorate(element: HTMLElement, options: ElementOptions): void {
  if (options.className) element.className = options.className;
  if (options.testId) element.dataset.testid = options.testId;
  for (const [name, value] of Object.entries(options.attrs ?? {})) element.setAttribute(name, value);
}

function append(element: HTMLElement, children: Child[]): void {
  for (const child of children) {
    if (child === undefined || child === false) continue;
    element.append(typeof child === 'string' ? document.createTextNode(child) : child);
  }
}

/** A table with a header row; cells are text. `numeric[i]` right-aligns column i. */
export function table(testId: string, headers: string[], rows: string[][], numeric: boolean[] = []): HTMLTableElement {
  return h(
    'table',
    { className: 'data', testId },
    h('thead', {}, h('tr', {}, ...headers.map((text) => h('th', { attrs: { scope: 'col' } }, text)))),
    h('tbody', {}, ...rows.map((row) => h('tr', {}, ...row.map((text, i) => h('td', { className: numeric[i] ? 'num' : '' }, text))))),
  );
}

/** The empty state: what is missing and which records or files would fill this view. */
export function emptyState(testId: string, title: string, ...lines: Child[]): HTMLElement {
  return h('div', { className: 'empty', testId, attrs: { role: 'status' } }, h('strong', {}, title), ...lines.map((line) => (typeof line === 'string' ? h('p', {}, line) : line)));
}

export function code(text: string): HTMLElement {
  return h('code', {}, text);
}

export function paragraph(...children: Child[]): HTMLParagraphElement {
  return h('p', {}, ...children);
}

/** Replaces `parent`'s children, skipping the absent ones (conditional sections). */
export function replace(parent: HTMLElement, ...children: Child[]): void {
  parent.replaceChildren(...children.filter((c): c is Node | string => c !== undefined && c !== false));
}
