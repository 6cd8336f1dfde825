import sharp from 'sharp';
import type { BinaryMask, RgbFrame } from '../types.js';
import { objectColour } from './palette.js';

/** A mask as an 8-bit greyscale PNG, 0 = background, 255 = object. */
export async function encodeMaskPng(mask: BinaryMask): Promise<Buffer> {
  const grey = Buffer.alloc(mask.data.length);
  for (let i = 0; i < grey.length; i++) grey[i] = mask.data[i] ? 255 : 0;
  return sharp(grey, { raw: { width: mask.width, height: mask.height, channels: 1 } }).toColourspace('b-w').png().toBuffer();
}

export { OBJECT_COLOURS, objectColour } from './palette.js';

/**
 * Paints masks over a frame in place: the object tinted at `alpha`, its
 * outline (mask pixels with a 4-neighbour outside the mask) in solid colour.
 *   rgb: [height, width, 3] uint8; masks[i] is drawn in objectColour(colourIds[i])
 */
export function paintMasks(rgb: Uint8Array, width: number, height: number, masks: BinaryMask[], colourIds?: number[], alpha = 0.5): void {
  masks.forEach((mask, i) => {
    const [r, g, b] = objectColour(colourIds?.[i] ?? i + 1);
    const m = mask.data;
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        const p = y * width + x;
        if (!m[p]) continue;
        const edge = x === 0 || y === 0 || x === width - 1 || y === height - 1 || !m[p - 1] || !m[p + 1] || !m[p - width] || !m[p + width];
        const a = edge ? 1 : alpha;
        const o = p * 3;
        rgb[o] = rgb[o] + (r - rgb[o]) * a;
        rgb[o + 1] = rgb[o + 1] + (g - rgb[o + 1]) * a;
        rgb[o + 2] = rgb[o + 2] + (b - rgb[o + 2]) * a;
      }
    }
  });
}

export async function renderOverlayPng(frame: RgbFrame, masks: BinaryMask[]): Promise<Buffer> {
  const rgb = Uint8Array.from(frame.data);
  paintMasks(rgb, frame.width, frame.height, masks);
  return sharp(rgb, { raw: { width: frame.width, height: frame.height, channels: 3 } }).png().toBuffer();
}
