/**
 * Object colours. They are the overlay video's colours (OBJECT_COLOURS in
 * src/segment/image-files.ts, checked by tests/web/page-units.test.ts), so an
 * object looks the same in the preview and in the result.
 */

export type Rgb = readonly [r: number, g: number, b: number];

const PALETTE: readonly Rgb[] = [
  [255, 56, 56],
  [56, 128, 255],
  [72, 220, 96],
  [255, 200, 40],
  [200, 80, 255],
  [40, 220, 220],
  [255, 120, 200],
  [160, 110, 40],
];

/** The colour of object `id` (1-based, as in the prompts and the overlay). */
export function colourFor(id: number): Rgb {
  return PALETTE[(((id - 1) % PALETTE.length) + PALETTE.length) % PALETTE.length];
}

export function cssColour([r, g, b]: Rgb, alpha = 1): string {
  return alpha === 1 ? `rgb(${r} ${g} ${b})` : `rgb(${r} ${g} ${b} / ${alpha})`;
}

/** Black or white, whichever reads better on `rgb`. */
export function textOn([r, g, b]: Rgb): string {
  return 0.299 * r + 0.587 * g + 0.114 * b > 150 ? '#000' : '#fff';
}
