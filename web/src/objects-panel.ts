/**
 * The list of objects: a colour swatch that selects, an editable name, what
 * was clicked, a delete button. Updated in place, so a name being typed
 * keeps its focus and caret.
 */
import { colourFor, cssColour, textOn } from './colours.js';
import { h } from './dom.js';
import { displayName, summarize, type PromptState } from './prompt-state.js';

export interface ObjectsPanelActions {
  select(id: number): void;
  rename(id: number, name: string): void;
  remove(id: number): void;
  /** Enter or Escape in a name: back to the frame. */
  done(): void;
}

export class ObjectsPanel {
  constructor(
    private readonly list: HTMLUListElement,
    private readonly actions: ObjectsPanelActions,
  ) {}

  render(state: PromptState, frame: number): void {
    const existing = new Map<number, HTMLLIElement>();
    this.list.querySelectorAll<HTMLLIElement>('li[data-object-id]').forEach((item) => existing.set(Number(item.dataset.objectId), item));
    const items = state.objects.map((object, index) => {
      const item = existing.get(object.id) ?? this.item(object.id);
      existing.delete(object.id);
      const colour = colourFor(object.id);
      const active = object.id === state.activeId;
      item.style.setProperty('--colour', cssColour(colour));
      item.style.setProperty('--on-colour', textOn(colour));
      item.dataset.active = String(active);
      const name = displayName(object);
      const select = item.querySelector<HTMLButtonElement>('.swatch')!;
      select.setAttribute('aria-pressed', String(active));
      select.textContent = String(index + 1);
      select.setAttribute('aria-label', `Select ${name}`);
      select.title = index < 9 ? `Select (${index + 1})` : 'Select';
      const input = item.querySelector<HTMLInputElement>('input')!;
      if (document.activeElement !== input) input.value = object.name;
      input.setAttribute('aria-label', `Name of object ${index + 1}`);
      const { points, boxes, frames } = summarize(object);
      const here = object.frames.has(frame);
      item.querySelector<HTMLElement>('.object-count')!.textContent =
        points + boxes === 0
          ? 'no clicks yet'
          : `${plural(points, 'point')}${boxes ? `, ${plural(boxes, 'box', 'boxes')}` : ''}${frames > 1 ? ` on ${frames} frames` : ''}${here ? '' : ' (none on this frame)'}`;
      item.querySelector<HTMLButtonElement>('.delete')!.setAttribute('aria-label', `Delete ${name}`);
      return item;
    });
    for (const stale of existing.values()) stale.remove();
    items.forEach((item, index) => {
      if (this.list.children[index] !== item) this.list.insertBefore(item, this.list.children[index] ?? null);
    });
  }

  private item(id: number): HTMLLIElement {
    const select = h('button', { class: 'swatch', type: 'button', 'data-testid': `select-object-${id}` });
    const input = h('input', { class: 'object-name', type: 'text', maxlength: 100, autocomplete: 'off', spellcheck: 'false', 'data-testid': `object-name-${id}` });
    const count = h('span', { class: 'object-count' });
    const remove = h('button', { class: 'button icon delete', type: 'button', title: 'Delete this object (Delete)', 'data-testid': `delete-object-${id}` }, '✕');
    select.addEventListener('click', () => this.actions.select(id));
    input.addEventListener('focus', () => this.actions.select(id));
    input.addEventListener('input', () => this.actions.rename(id, input.value));
    input.addEventListener('keydown', (event) => {
      if (event.key === 'Enter' || event.key === 'Escape') {
        event.preventDefault();
        this.actions.done();
      }
    });
    remove.addEventListener('click', () => this.actions.remove(id));
    return h('li', { class: 'object', 'data-object-id': id }, select, h('span', { class: 'object-text' }, input, count), remove);
  }
}

export function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}
