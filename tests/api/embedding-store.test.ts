/**
 * The on-disk embedding store that workers share: float16 round trip, chunk
 * claims (exclusive, resumable by their owner, taken over once stale), the
 * cursor. Real files in a temporary directory.
 */
import { mkdtemp, rm, utimes } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FileEmbeddingStore } from '../../src/inference/embedding-store.js';
import type { ImageEmbedding } from '../../src/types.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'clipmask-embeddings-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('EmbeddingStore', () => {
  it('stores embeddings as float16 and reads back exactly what write returned', async () => {
    const store = new FileEmbeddingStore(dir, 4);
    const embedding: ImageEmbedding = { width: 854, height: 480, resizedWidth: 1024, resizedHeight: 576, data: Float32Array.from([1, 1 / 3, -2.5, 1e-8, 70000]) };
    const written = await store.write(5, embedding);
    expect([...written.data]).toEqual([1, 0.333251953125, -2.5, 0, Infinity]);
    const read = await store.read(5);
    expect(read).toEqual(written);
    expect(await store.read(6)).toBeUndefined();
    await store.remove(5);
    expect(await store.has(5)).toBe(false);
  });

  it('numbers chunks and their frame ranges, the last one cut at the video end', () => {
    const store = new FileEmbeddingStore(dir, 4);
    expect([store.chunkOf(0), store.chunkOf(3), store.chunkOf(4), store.chunkOf(9)]).toEqual([0, 0, 1, 2]);
    expect(store.chunkRange(2, 10)).toEqual({ start: 8, end: 10 });
    expect(store.chunkCount(10)).toBe(3);
    expect(() => new FileEmbeddingStore(dir, 0)).toThrow(/chunkFrames/);
  });

  it('gives a chunk to one owner at a time, back to its owner, and to another once it is stale', async () => {
    const store = new FileEmbeddingStore(dir, 4, 10_000);
    expect(await store.claim(7, 'tracker')).toBe(true);
    expect(await store.claim(7, 'helper')).toBe(false);
    expect(await store.claim(7, 'tracker')).toBe(true); // a retry of the same owner resumes it
    expect((await store.claimHolder(7))?.owner).toBe('tracker');

    const longAgo = new Date(Date.now() - 60_000);
    await utimes(path.join(dir, 'chunk-7.claim'), longAgo, longAgo);
    expect(await store.claim(7, 'helper')).toBe(true);
    expect((await store.claimHolder(7))?.owner).toBe('helper');

    await store.release(7, 'tracker'); // not the holder: nothing happens
    expect((await store.claimHolder(7))?.owner).toBe('helper');
    await store.release(7, 'helper');
    expect(await store.claimHolder(7)).toBeUndefined();
    expect(await store.claim(7, 'tracker')).toBe(true);
  });

  it('keeps the done markers and the cursor', async () => {
    const store = new FileEmbeddingStore(dir, 4);
    expect(await store.readCursor()).toBe(0);
    await store.writeCursor(12);
    expect(await store.readCursor()).toBe(12);
    expect(await store.isDone(3)).toBe(false);
    await store.markDone(3);
    expect(await store.isDone(3)).toBe(true);
  });

  it('refuses to claim in a directory that is gone (a deleted job)', async () => {
    const store = new FileEmbeddingStore(path.join(dir, 'deleted-job'), 4);
    await expect(store.claim(0, 'helper')).rejects.toMatchObject({ code: 'ENOENT' });
  });
});
