import type { BinaryMask, RgbFrame } from '../../src/types.js';
import { mulberry32 } from '../../src/tracker/query-points.js';

/** Seeded PRNG, so drawn test images are identical on every run. */
export const seededRandom = mulberry32;

export interface Shape {
  mask: BinaryMask;
  colour: [number, number, number];
}

export function discMask(width: number, height: number, cx: number, cy: number, r: number): BinaryMask {
  const data = new Uint8Array(width * height);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) if ((x - cx) ** 2 + (y - cy) ** 2 <= r * r) data[y * width + x] = 1;
  return { width, height, data };
}

export function rectMask(width: number, height: number, x0: number, y0: number, x1: number, y1: number): BinaryMask {
  const data = new Uint8Array(width * height);
  for (let y = y0; y < y1; y++) for (let x = x0; x < x1; x++) data[y * width + x] = 1;
  return { width, height, data };
}

/**
 * A muted, noisy, blotchy background with flat-coloured textured shapes on
 * top: easy for a person to tell apart, not trivially for a threshold.
 */
export function drawScene(width: number, height: number, shapes: Shape[], seed = 1): RgbFrame {
  const random = seededRandom(seed);
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const o = (y * width + x) * 3;
      const blotch = 30 * Math.sin(x / 23) * Math.cos(y / 17);
      data[o] = 110 + blotch + random() * 40;
      data[o + 1] = 120 + blotch + random() * 40;
      data[o + 2] = 100 + blotch + random() * 40;
    }
  }
  for (const { mask, colour } of shapes) {
    for (let i = 0; i < mask.data.length; i++) {
      if (!mask.data[i]) continue;
      const stripe = (Math.floor(i / width) >> 3) & 1 ? 20 : -20; // horizontal stripes: texture inside the shape
      for (let c = 0; c < 3; c++) data[i * 3 + c] = Math.max(0, Math.min(255, colour[c] + stripe + random() * 16));
    }
  }
  return { index: 0, width, height, data };
}
