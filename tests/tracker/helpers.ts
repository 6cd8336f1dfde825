/**
 * Test fixtures for the tracker: synthetic frames of a smooth random texture that translates by a
 * known (sub-pixel) amount per frame, plus wasm-heap probes for leak checks.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { BinaryMask, RgbFrame } from '../../src/types.js';
import { getCv } from '../../src/tracker/opencv.js';

/** Deterministic lattice value in [0, 1) for integer cell (ix, iy): an integer hash, no state. */
function latticeValue(ix: number, iy: number, seed: number): number {
  let h = Math.imul(ix, 0x27d4eb2d) ^ Math.imul(iy, 0x165667b1) ^ Math.imul(seed, 0x9e3779b9);
  h = Math.imul(h ^ (h >>> 15), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return ((h ^ (h >>> 16)) >>> 0) / 4294967296;
}

/** Quintic fade: C2-continuous, so the texture has smooth gradients everywhere (LK needs them). */
const fade = (t: number): number => t * t * t * (t * (t * 6 - 15) + 10);

/** Smooth value noise with cells of `cell` px, defined on the whole plane, in [0, 1). */
function valueNoise(x: number, y: number, cell: number, seed: number): number {
  const gx = x / cell;
  const gy = y / cell;
  const ix = Math.floor(gx);
  const iy = Math.floor(gy);
  const u = fade(gx - ix);
  const v = fade(gy - iy);
  const top = latticeValue(ix, iy, seed) * (1 - u) + latticeValue(ix + 1, iy, seed) * u;
  const bottom = latticeValue(ix, iy + 1, seed) * (1 - u) + latticeValue(ix + 1, iy + 1, seed) * u;
  return top * (1 - v) + bottom * v;
}

/** Texture intensity in [0, 255] at a continuous point: two octaves of value noise. */
export function textureAt(x: number, y: number, seed: number): number {
  return 255 * (0.65 * valueNoise(x, y, 14, seed) + 0.35 * valueNoise(x, y, 5, seed + 1));
}

/**
 * Frame `index` of a texture translating by (dx, dy) px per frame: a scene point at (x, y) on
 * frame 0 is at (x + index*dx, y + index*dy) on frame `index`. Channels differ so RGB->gray matters.
 */
export function translatedFrame(
  width: number, height: number, index: number, dx: number, dy: number, seed = 7,
): RgbFrame {
  const data = new Uint8Array(width * height * 3); // r, g, b per pixel, row-major
  const ox = index * dx;
  const oy = index * dy;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const value = textureAt(x - ox, y - oy, seed);
      const p = 3 * (y * width + x);
      data[p] = Math.round(value);
      data[p + 1] = Math.round(0.8 * value + 20);
      data[p + 2] = Math.round(255 - value);
    }
  }
  return { index, width, height, data };
}

/** Paints a flat grey rectangle [x0, x1) x [y0, y1) onto a copy of the frame (an occluder). */
export function withFlatPatch(frame: RgbFrame, x0: number, y0: number, x1: number, y1: number): RgbFrame {
  const data = frame.data.slice();
  for (let y = y0; y < y1; y++) data.fill(128, 3 * (y * frame.width + x0), 3 * (y * frame.width + x1));
  return { ...frame, data };
}

/** x0, y0, x1, y1, ...: a cols x rows grid of points spanning [x0, x1] x [y0, y1]. */
export function gridPoints(cols: number, rows: number, x0: number, y0: number, x1: number, y1: number): Float32Array {
  const points = new Float32Array(2 * cols * rows);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const i = r * cols + c;
      points[2 * i] = x0 + ((x1 - x0) * c) / Math.max(1, cols - 1);
      points[2 * i + 1] = y0 + ((y1 - y0) * r) / Math.max(1, rows - 1);
    }
  }
  return points;
}

/** A mask from a predicate on pixel coordinates. */
export function maskFrom(width: number, height: number, inside: (x: number, y: number) => boolean): BinaryMask {
  const data = new Uint8Array(width * height);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) data[y * width + x] = inside(x, y) ? 1 : 0;
  return { width, height, data };
}

let dynamicTopPointer: number | undefined;

/**
 * The Emscripten program break (sbrk top) in bytes. malloc only moves it up when its free lists
 * cannot satisfy a request, so in a steady-state loop it stays put unless memory leaks. The address
 * where Emscripten keeps it is a link-time constant of this build, read from opencv.js itself.
 */
export function wasmProgramBreak(): number {
  if (dynamicTopPointer === undefined) {
    const path = createRequire(import.meta.url).resolve('@techstark/opencv-js');
    const match = /DYNAMICTOP_PTR=(\d+)/.exec(readFileSync(path, 'latin1'));
    if (!match) throw new Error(`cannot find DYNAMICTOP_PTR in ${path}`);
    dynamicTopPointer = Number(match[1]);
  }
  return getCv().HEAP32[dynamicTopPointer >> 2];
}
