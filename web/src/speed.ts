/**
 * The job's speed: a Best / Fast radio group in the editor, built from the
 * API's list of speeds (src/types.ts SPEEDS) so the page offers exactly what
 * the server accepts, with the measured trade-off on one line beside it.
 */
import { SPEEDS, type Speed } from '../../src/types.js';
import { h } from './dom.js';
import { DEFAULT_SPEED } from './prompt-state.js';

/** The measured trade-off, the one place to update when the figures are measured again. */
export const SPEED_TRADE_OFF = 'Fast: about 1.4x the frames per second, about 4 J&F points lower on DAVIS (measured, see README)';

/** Every speed needs a label (the Record makes a new speed a compile error here until it has one). */
export const SPEED_LABELS: Record<Speed, string> = { best: 'Best', fast: 'Fast' };

export class SpeedPicker {
  private readonly inputs: HTMLInputElement[];

  /** `fieldset`: the group's element in index.html (its legend stays); the radios and the line are added to it. */
  constructor(fieldset: HTMLFieldSetElement) {
    this.inputs = SPEEDS.map((speed) =>
      h('input', { type: 'radio', name: 'speed', value: speed, checked: speed === DEFAULT_SPEED, 'data-testid': `speed-${speed}` }),
    );
    const options = this.inputs.map((input, i) => h('label', { class: 'speed-option' }, input, ` ${SPEED_LABELS[SPEEDS[i]]}`));
    fieldset.append(...options, h('p', { id: 'speed-trade-off', class: 'hint speed-trade-off', 'data-testid': 'speed-trade-off' }, SPEED_TRADE_OFF));
    fieldset.setAttribute('aria-describedby', 'speed-trade-off'); // screen readers read the trade-off with the group
  }

  get value(): Speed {
    return SPEEDS.find((_, i) => this.inputs[i].checked) ?? DEFAULT_SPEED;
  }
}
