/**
 * Indexed (palette) PNGs whose pixel values are object ids, as DAVIS and
 * YouTube-VOS annotations are stored. sharp can write palette PNGs but
 * quantises the colours itself, so the index of a pixel is not under our
 * control; this small encoder writes the indices exactly.
 */
import { writeFile } from 'node:fs/promises';
import { deflateSync } from 'node:zlib';

export type Rgb = [r: number, g: number, b: number];

/**
 * The PASCAL VOC / DAVIS palette: index i's bits are spread over the high
 * bits of r, g, b in turn. 0 black, 1 (128,0,0), 2 (0,128,0), 3 (128,128,0),
 * 4 (0,0,128), ...
 */
export function davisPalette(size = 256): Rgb[] {
  const palette: Rgb[] = [];
  for (let index = 0; index < size; index++) {
    let r = 0;
    let g = 0;
    let b = 0;
    let bits = index;
    for (let shift = 7; shift >= 0 && bits > 0; shift--) {
      r |= (bits & 1) << shift;
      g |= ((bits >> 1) & 1) << shift;
      b |= ((bits >> 2) & 1) << shift;
      bits >>= 3;
    }
    palette.push([r, g, b]);
  }
  return palette;
}

/**
 * PNG colour type 3, 8 bits per pixel. `indices` is [height][width] uint8,
 * row-major; every value must be < palette.length (at most 256 colours).
 */
export function encodeIndexedPng(width: number, height: number, indices: Uint8Array, palette: Rgb[]): Buffer {
  if (!(Number.isInteger(width) && Number.isInteger(height) && width > 0 && height > 0)) {
    throw new RangeError(`invalid PNG size ${width}x${height}`);
  }
  if (indices.length !== width * height) throw new RangeError(`expected ${width * height} indices, got ${indices.length}`);
  if (palette.length === 0 || palette.length > 256) throw new RangeError('palette must have 1 to 256 colours');
  const largest = indices.reduce((max, v) => (v > max ? v : max), 0);
  if (largest >= palette.length) throw new RangeError(`index ${largest} is outside the ${palette.length}-colour palette`);

  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header[8] = 8; // bit depth
  header[9] = 3; // colour type: indexed
  // [10] compression, [11] filter method, [12] interlace: all 0

  // Each scanline starts with its filter type; 0 (none) is fine for flat label images.
  const scanlines = Buffer.alloc((width + 1) * height);
  for (let y = 0; y < height; y++) {
    scanlines.set(indices.subarray(y * width, (y + 1) * width), y * (width + 1) + 1);
  }
  return Buffer.concat([
    PNG_SIGNATURE,
    chunk('IHDR', header),
    chunk('PLTE', Buffer.from(palette.flat())),
    chunk('IDAT', deflateSync(scanlines)),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

/** Writes `mask` (object ids, [height][width] uint8) as an indexed PNG. */
export async function writeIndexedPng(file: string, mask: Uint8Array, width: number, height: number, palette: Rgb[] = davisPalette()): Promise<void> {
  await writeFile(file, encodeIndexedPng(width, height, mask, palette));
}

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

/** length, type, data, CRC32 over type + data. */
function chunk(type: string, data: Buffer): Buffer {
  const typeAndData = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  const out = Buffer.alloc(typeAndData.length + 8);
  out.writeUInt32BE(data.length, 0);
  typeAndData.copy(out, 4);
  out.writeUInt32BE(crc32(typeAndData), out.length - 4);
  return out;
}

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

export function crc32(bytes: Uint8Array): number {
  let crc = 0xffffffff;
  for (const byte of bytes) crc = CRC_TABLE[(crc ^ byte) & 0xff] ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}
