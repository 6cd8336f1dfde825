import type { BinaryMask } from '../types.js';

/**
 * Per-pixel overlap resolution between objects: a pixel claimed by several
 * objects goes to the one with the highest logit. Returns one object index
 * map: 0 = background, i + 1 = candidates[i].
 *   candidates[i].logits: [height, width] float32, > 0 means "object"
 */
export function resolveOverlaps(candidates: { logits?: Float32Array }[], width: number, height: number): Uint8Array {
  if (candidates.length > 255) throw new RangeError('at most 255 objects fit an 8-bit index map');
  const owner = new Uint8Array(width * height);
  const best = new Float32Array(width * height); // 0: only positive logits claim a pixel
  candidates.forEach(({ logits }, i) => {
    if (!logits) return;
    for (let p = 0; p < owner.length; p++) {
      if (logits[p] > best[p]) {
        best[p] = logits[p];
        owner[p] = i + 1;
      }
    }
  });
  return owner;
}

/** The mask of one index in an index map. */
export function maskOfIndex(indexMap: Uint8Array, index: number, width: number, height: number): BinaryMask {
  const data = new Uint8Array(width * height);
  for (let p = 0; p < data.length; p++) data[p] = indexMap[p] === index ? 1 : 0;
  return { width, height, data };
}
