/** Small DOM helpers: typed lookups and element creation. */

type Attrs = Record<string, string | number | boolean | null | undefined>;
type Child = Node | string | null | undefined | false;

/** The element with this id, checked to be of `type`. */
export function byId<T extends Element>(id: string, type: abstract new (...args: never[]) => T): T {
  const element = document.getElementById(id);
  if (!(element instanceof type)) throw new Error(`#${id} is missing from index.html or is not a ${type.name}`);
  return element;
}

/**
 * Creates an element. Attributes: `class` sets the class; true sets an empty
 * attribute; false, null and undefined leave it out. Strings are text, never HTML.
 */
export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Attrs = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === false || value === null || value === undefined) continue;
    element.setAttribute(name, value === true ? '' : String(value));
  }
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    element.append(child);
  }
  return element;
}

/** Shows a fraction (0..1) on a `.progress` element (role=progressbar with a `.progress-bar` child); null = indeterminate. */
export function setProgress(element: HTMLElement, fraction: number | null, text?: string): void {
  const bar = element.querySelector<HTMLElement>('.progress-bar');
  if (fraction === null) {
    element.removeAttribute('aria-valuenow');
    element.classList.add('indeterminate');
    if (bar) bar.style.width = '';
  } else {
    const percent = Math.max(0, Math.min(100, fraction * 100));
    element.setAttribute('aria-valuenow', String(Math.round(percent)));
    element.classList.remove('indeterminate');
    if (bar) bar.style.width = `${percent}%`;
  }
  if (text !== undefined) element.setAttribute('aria-valuetext', text);
}

/** True when a key press is typing into a field (shortcuts stay out of the way). */
export function isTyping(target: EventTarget | null): boolean {
  if (!(target instanceof HTMLElement)) return false;
  if (target.isContentEditable || target instanceof HTMLTextAreaElement || target instanceof HTMLSelectElement) return true;
  return target instanceof HTMLInputElement && !['range', 'checkbox', 'radio', 'button', 'submit', 'file'].includes(target.type);
}

/** True when Enter on this target already does something (activates a button or link, opens a summary). */
export function enterActivates(target: EventTarget | null): boolean {
  if (!(target instanceof HTMLElement)) return false;
  return target.closest('button, a[href], summary, input[type=file], label') !== null;
}
