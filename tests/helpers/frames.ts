import type { RgbFrame } from '../../src/types.js';

/** Every frame of an iteration, in order. */
export async function collect(frames: AsyncIterable<RgbFrame>): Promise<RgbFrame[]> {
  const out: RgbFrame[] = [];
  for await (const frame of frames) out.push(frame);
  return out;
}

/** Mean absolute difference between two equally long byte arrays (0-255). */
export function meanAbsoluteDifference(a: Uint8Array, b: Uint8Array): number {
  let total = 0;
  for (let i = 0; i < a.length; i++) total += Math.abs(a[i] - b[i]);
  return total / a.length;
}
