/**
 * Object colours, shared by the overlay video (image-files.ts) and the web
 * page's preview (web/src/colours.ts), so an object looks the same in both.
 * No imports: the page's bundle takes this file as it is.
 */

export type Rgb = readonly [r: number, g: number, b: number];

/** Distinct, saturated colours for objects 1, 2, 3... (index 0 unused). */
export const OBJECT_COLOURS: ReadonlyArray<Rgb> = [
  [0, 0, 0],
  [255, 56, 56],
  [56, 128, 255],
  [72, 220, 96],
  [255, 200, 40],
  [200, 80, 255],
  [40, 220, 220],
  [255, 120, 200],
  [160, 110, 40],
];

/** The colour of object `id` (1-based, as in the prompts), cycling through the palette. */
export function objectColour(id: number): Rgb {
  const n = OBJECT_COLOURS.length - 1;
  return OBJECT_COLOURS[1 + ((((id - 1) % n) + n) % n)];
}
