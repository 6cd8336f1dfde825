/**
 * Object colours: the overlay video's palette (src/segment/palette.ts), so an
 * object looks the same in the preview and in the result.
 */
import { objectColour, type Rgb } from '../../src/segment/palette.js';

export type { Rgb };

/** The colour of object `id` (1-based, as in the prompts and the overlay). */
export const colourFor = objectColour;

export function cssColour([r, g, b]: Rgb, alpha = 1): string {
  return alpha === 1 ? `rgb(${r} ${g} ${b})` : `rgb(${r} ${g} ${b} / ${alpha})`;
}

/** Black or white, whichever reads better on `rgb`. */
export function textOn([r, g, b]: Rgb): string {
  return 0.299 * r + 0.587 * g + 0.114 * b > 150 ? '#000' : '#fff';
}
