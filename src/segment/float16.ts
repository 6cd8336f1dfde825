import type { ImageEmbedding } from '../types.js';

/**
 * IEEE 754 half precision for image embeddings. A SAM embedding is 1M
 * floats: 4 MB as float32, 2 MB as float16. Embeddings that cross a process
 * or machine boundary are stored as float16, and every service path rounds
 * its embeddings the same way, so a frame encoded by another worker gives
 * exactly the masks it would have given locally.
 */

const scratch = new Float32Array(1);
const scratchBits = new Uint32Array(scratch.buffer);

/** The float16 bit pattern nearest to `value` (round half to even; overflow to infinity). */
export function float16Bits(value: number): number {
  scratch[0] = value;
  const bits = scratchBits[0];
  const sign = (bits >>> 16) & 0x8000;
  const exponent = (bits >>> 23) & 0xff;
  const mantissa = bits & 0x7fffff;
  if (exponent === 0xff) return sign | 0x7c00 | (mantissa ? 0x200 : 0); // infinity, NaN
  const halfExponent = exponent - 127 + 15;
  if (halfExponent >= 0x1f) return sign | 0x7c00;
  if (halfExponent <= 0) {
    // Subnormal in float16: value = m * 2^-24, m = (1.mantissa) * 2^(exponent-126) = full >> (14 - halfExponent).
    if (halfExponent < -10) return sign; // below half the smallest subnormal
    const full = mantissa | 0x800000;
    const shift = 14 - halfExponent;
    return sign | roundShift(full, shift);
  }
  // A carry out of the mantissa correctly bumps the exponent (and 65520 up to infinity).
  return (sign | (halfExponent << 10)) + roundShift(mantissa, 13);
}

/** `value >> shift`, rounded half to even. */
function roundShift(value: number, shift: number): number {
  const kept = value >>> shift;
  const rest = value & ((1 << shift) - 1);
  const half = 1 << (shift - 1);
  return rest > half || (rest === half && kept & 1) ? kept + 1 : kept;
}

let decodeTable: Float32Array | undefined;

/** All 65536 float16 values as float32, built once (256 KB). */
function table(): Float32Array {
  if (decodeTable) return decodeTable;
  decodeTable = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const sign = h & 0x8000 ? -1 : 1;
    const exponent = (h >>> 10) & 0x1f;
    const mantissa = h & 0x3ff;
    if (exponent === 0) decodeTable[h] = sign * mantissa * 2 ** -24;
    else if (exponent === 0x1f) decodeTable[h] = mantissa ? NaN : sign * Infinity;
    else decodeTable[h] = sign * (1 + mantissa / 1024) * 2 ** (exponent - 15);
  }
  return decodeTable;
}

export function toFloat16(values: Float32Array): Uint16Array {
  const out = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = float16Bits(values[i]);
  return out;
}

export function fromFloat16(bits: Uint16Array): Float32Array {
  const values = table();
  const out = new Float32Array(bits.length);
  for (let i = 0; i < bits.length; i++) out[i] = values[bits[i]];
  return out;
}

/** The embedding with its values rounded to float16 (what a stored embedding reads back as). */
export function roundEmbeddingToFloat16(embedding: ImageEmbedding): ImageEmbedding {
  return { ...embedding, data: fromFloat16(toFloat16(embedding.data)) };
}
