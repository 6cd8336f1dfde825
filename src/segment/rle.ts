import type { BinaryMask, CocoRle } from '../types.js';

/**
 * COCO run-length encoding, byte-compatible with pycocotools (maskApi.c):
 * runs are counted in column-major order (down each column, then the next
 * column), starting with a run of zeros (possibly empty), and the run lengths
 * are packed into an ASCII string with a 6-bit variable-length code where each
 * run after the second is stored as the difference to the run two before it.
 */

/** Run lengths of a row-major mask, walked column-major. First run counts zeros. */
export function maskToRuns(mask: BinaryMask): number[] {
  const { width, height, data } = mask;
  const runs: number[] = [];
  let current = 0;
  let length = 0;
  for (let x = 0; x < width; x++) {
    for (let y = 0; y < height; y++) {
      const value = data[y * width + x] ? 1 : 0;
      if (value !== current) {
        runs.push(length);
        current = value;
        length = 0;
      }
      length++;
    }
  }
  runs.push(length);
  return runs;
}

/** Inverse of maskToRuns: paints a row-major mask of the given size. */
export function runsToMask(runs: readonly number[], height: number, width: number): BinaryMask {
  const total = width * height;
  const data = new Uint8Array(total);
  let position = 0; // column-major pixel index
  let value = 0;
  for (const run of runs) {
    if (position + run > total) throw new RangeError(`RLE runs exceed the mask size ${height}x${width}`);
    if (value === 1) {
      for (let i = position; i < position + run; i++) {
        const x = Math.floor(i / height);
        const y = i - x * height;
        data[y * width + x] = 1;
      }
    }
    position += run;
    value ^= 1;
  }
  if (position !== total) throw new RangeError(`RLE runs cover ${position} pixels, the mask has ${total}`);
  return { width, height, data };
}

/** pycocotools rleToString: 5 data bits per character, offset by 48 ('0'). */
export function runsToString(runs: readonly number[]): string {
  const chars: number[] = [];
  for (let i = 0; i < runs.length; i++) {
    let x = runs[i];
    if (i > 2) x -= runs[i - 2];
    let more = true;
    while (more) {
      let c = ((x % 32) + 32) % 32; // x & 0x1f for any sign
      x = Math.floor(x / 32); // arithmetic shift right by 5
      more = c & 0x10 ? x !== -1 : x !== 0;
      if (more) c |= 0x20;
      chars.push(c + 48);
    }
  }
  return String.fromCharCode(...chars);
}

/** pycocotools rleFrString. */
export function stringToRuns(counts: string): number[] {
  const runs: number[] = [];
  let p = 0;
  while (p < counts.length) {
    let x = 0;
    let k = 0;
    let more = true;
    while (more) {
      if (p >= counts.length) throw new RangeError('RLE string ends inside a run');
      const c = counts.charCodeAt(p) - 48;
      if (c < 0 || c > 63) throw new RangeError(`RLE string has an invalid character at ${p}`);
      x += (c & 0x1f) * 2 ** (5 * k);
      more = (c & 0x20) !== 0;
      p++;
      k++;
      if (!more && c & 0x10) x -= 2 ** (5 * k); // sign-extend
    }
    if (runs.length > 2) x += runs[runs.length - 2];
    runs.push(x);
  }
  return runs;
}

export function encodeRle(mask: BinaryMask): CocoRle {
  return { size: [mask.height, mask.width], counts: runsToString(maskToRuns(mask)) };
}

export function decodeRle(rle: CocoRle): BinaryMask {
  const [height, width] = rle.size;
  return runsToMask(stringToRuns(rle.counts), height, width);
}
