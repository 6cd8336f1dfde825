/**
 * The preview API's masks: uncompressed COCO run-length encoding. `counts`
 * alternate runs of 0s and 1s, starting with 0s (possibly an empty run), and
 * walk the mask column by column (pixel index = x * height + y).
 */

export interface UncompressedRle {
  /** [height, width], as in COCO. */
  size: readonly [height: number, width: number];
  counts: readonly number[];
}

/** A binary mask, row-major ([height][width]), 1 = object. */
export interface Mask {
  width: number;
  height: number;
  data: Uint8Array;
}

/** Decodes an uncompressed RLE to a row-major mask; throws RangeError on runs that do not add up. */
export function decodeRle(rle: UncompressedRle): Mask {
  const [height, width] = rle.size;
  if (!Number.isInteger(height) || !Number.isInteger(width) || height < 0 || width < 0) {
    throw new RangeError(`bad RLE size [${height}, ${width}]`);
  }
  const total = width * height;
  const data = new Uint8Array(total);
  let position = 0; // column-major index
  let value = 0;
  for (const run of rle.counts) {
    if (!Number.isInteger(run) || run < 0) throw new RangeError(`bad RLE run ${run}`);
    if (position + run > total) throw new RangeError(`RLE runs exceed the ${height}x${width} mask`);
    if (value === 1) {
      let x = Math.floor(position / height);
      let y = position - x * height;
      for (let i = 0; i < run; i++) {
        data[y * width + x] = 1;
        if (++y === height) {
          y = 0;
          x++;
        }
      }
    }
    position += run;
    value ^= 1;
  }
  if (position !== total) throw new RangeError(`RLE runs cover ${position} pixels, the mask has ${total}`);
  return { width, height, data };
}

/** Number of object pixels. */
export function maskArea(mask: Mask): number {
  let area = 0;
  for (let i = 0; i < mask.data.length; i++) area += mask.data[i];
  return area;
}
