import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemoryReader } from '../../src/segment/memory-read.js';

/** Unit rows of a [n, channels] matrix from plain arrays. */
const rows = (values: number[][]): Float32Array => {
  const out = new Float32Array(values.length * values[0].length);
  values.forEach((row, i) => {
    const norm = Math.hypot(...row);
    row.forEach((v, c) => (out[i * row.length + c] = v / norm));
  });
  return out;
};

describe('memory read graph', () => {
  let reader: MemoryReader;
  beforeAll(async () => {
    reader = await MemoryReader.create(2, 1);
  });
  afterAll(async () => reader.dispose());

  it('votes with the softmax of the top-k cosine similarities, as computed by hand', async () => {
    // Memory: one object cell along x, one background cell along y, one between them.
    const keys = rows([[1, 0], [0, 1], [1, 1]]);
    const values = Float32Array.of(1, 0, 0.5);
    const query = rows([[1, 0], [0.6, 0.8]]);
    const { readout, affinity } = await reader.read({ query, keys, values, valueChannels: 1, topK: 2, temperature: 0.1 });
    // Query 0: similarities 1, 0, 0.7071 -> top 2: 1 (value 1) and 0.7071 (value 0.5).
    const w0 = 1 / (1 + Math.exp((Math.SQRT1_2 - 1) / 0.1));
    expect(readout[0]).toBeCloseTo(w0 * 1 + (1 - w0) * 0.5, 5);
    // Query 1: similarities 0.6, 0.8, 0.9899 -> top 2: 0.9899 (0.5) and 0.8 (0).
    const s = (0.6 + 0.8) * Math.SQRT1_2;
    const w1 = 1 / (1 + Math.exp((0.8 - s) / 0.1));
    expect(readout[1]).toBeCloseTo(w1 * 0.5, 5);
    expect(Array.from(affinity).map((a) => +a.toFixed(4))).toEqual([1, +s.toFixed(4)]);
  });

  it('reads several value channels at once and clamps k to the memory size', async () => {
    const keys = rows([[1, 0], [0, 1]]);
    const values = Float32Array.of(1, 0, 0, 1); // [2, 2]: cell 0 -> (1, 0), cell 1 -> (0, 1)
    const { readout } = await reader.read({ query: rows([[1, 0.01]]), keys, values, valueChannels: 2, topK: 50, temperature: 0.01 });
    expect(readout[0]).toBeGreaterThan(0.99);
    expect(readout[0] + readout[1]).toBeCloseTo(1, 5);
  });

  it('names the mismatch when the inputs do not fit the channels', async () => {
    await expect(reader.read({ query: new Float32Array(3), keys: rows([[1, 0]]), values: Float32Array.of(1), valueChannels: 1, topK: 1, temperature: 1 })).rejects.toThrow(/do not fit 2 channels/);
  });
});
