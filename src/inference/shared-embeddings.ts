import { setTimeout as sleep } from 'node:timers/promises';
import { readFrames } from '../media/index.js';
import type { EmbeddingSource } from '../pipeline/tracking-session.js';
import type { SamSegmenter } from '../segment/segmenter.js';
import type { ImageEmbedding, RgbFrame, VideoMeta } from '../types.js';
import { ClaimKeeper, type EmbeddingStore } from './embedding-store.js';

/**
 * Chunked encoding across workers, the part that runs in an inference child.
 *
 * The tracking pass (one worker) needs embeddings in frame order; encoding
 * them is the dominant cost and independent per frame, so helpers (`embed`
 * jobs on other workers) encode chunks ahead of it into the EmbeddingStore.
 * The tracker takes each frame's embedding from the store, or encodes it
 * itself when nobody has claimed its chunk; when a helper holds the chunk it
 * needs, it encodes a later free chunk instead of idling, then looks again.
 * Every embedding goes through float16 on every path, so the masks do not
 * depend on who encoded which frame, or on how many workers there were.
 */

export interface SharedEmbeddingsOptions {
  store: EmbeddingStore;
  segmenter: SamSegmenter;
  input: string;
  meta: VideoMeta;
  /** Claims are made in this name (the same on every attempt of the job, so a retry resumes its own claims). */
  owner: string;
  /** How far past the cursor chunks may be encoded ahead (bounds the disk used). */
  windowFrames: number;
  signal?: AbortSignal;
  /** How often to look again for a frame another worker is encoding. */
  pollMs?: number;
  /** Keep each frame's embedding after the tracking pass is done with it (for corrections). */
  keep?: boolean;
}

export class SharedEmbeddings implements EmbeddingSource {
  private readonly keeper: ClaimKeeper;
  /** Frames the tracker encoded itself per held chunk, to know when a chunk is complete. */
  private readonly encodedIn = new Map<number, Set<number>>();
  /** For the logs: frames encoded in order, frames encoded ahead while waiting, frames read back from the store. */
  encodedHere = 0;
  encodedAhead = 0;
  readFromStore = 0;

  constructor(private readonly options: SharedEmbeddingsOptions) {
    this.keeper = new ClaimKeeper(options.store, options.owner);
  }

  async get(frame: RgbFrame): Promise<ImageEmbedding> {
    const { store, signal, pollMs = 100 } = this.options;
    const chunk = store.chunkOf(frame.index);
    for (;;) {
      signal?.throwIfAborted();
      const stored = await store.read(frame.index);
      if (stored) {
        this.readFromStore++;
        return stored;
      }
      if (await this.keeper.take(chunk)) return this.encodeHere(frame, chunk);
      // A helper is encoding this chunk: make ourselves useful further on, or wait a moment.
      if (!(await this.encodeAFreeChunkAfter(chunk))) await sleep(pollMs, undefined, { signal });
    }
  }

  /** The tracking pass is done with this frame: its embedding goes (unless kept), and helpers learn how far it got. */
  async release(frameIndex: number): Promise<void> {
    if (!this.options.keep) await this.options.store.remove(frameIndex);
    await this.options.store.writeCursor(frameIndex + 1);
  }

  async close(): Promise<void> {
    await this.keeper.stop();
  }

  private async encodeHere(frame: RgbFrame, chunk: number): Promise<ImageEmbedding> {
    const { store, segmenter, meta } = this.options;
    const embedding = await store.write(frame.index, await segmenter.embed(frame));
    this.encodedHere++;
    const done = this.encodedIn.get(chunk) ?? new Set<number>();
    done.add(frame.index);
    this.encodedIn.set(chunk, done);
    const { start, end } = store.chunkRange(chunk, meta.frames);
    if (done.size === end - start || (await this.allStored(start, end))) {
      await store.markDone(chunk);
      this.keeper.drop(chunk);
      this.encodedIn.delete(chunk);
    }
    return embedding;
  }

  private async allStored(start: number, end: number): Promise<boolean> {
    for (let f = start; f < end; f++) if (!(await this.options.store.has(f))) return false;
    return true;
  }

  /** Encodes the first unclaimed, unfinished chunk after `chunk` within the window; false if there is none. */
  private async encodeAFreeChunkAfter(chunk: number): Promise<boolean> {
    const { store, meta, windowFrames } = this.options;
    const limit = (await store.readCursor()) + windowFrames;
    for (let k = chunk + 1; k < store.chunkCount(meta.frames) && store.chunkRange(k, meta.frames).start < limit; k++) {
      if (this.keeper.holds(k) || (await store.isDone(k)) || (await store.claimHolder(k))) continue;
      if (!(await this.keeper.take(k))) continue;
      this.encodedAhead += await encodeChunkFrames(this.options, k);
      await store.markDone(k);
      this.keeper.drop(k);
      return true;
    }
    return false;
  }
}

/** Encodes the frames of a chunk that are not stored yet; returns how many it encoded. */
async function encodeChunkFrames(options: Pick<SharedEmbeddingsOptions, 'store' | 'segmenter' | 'input' | 'meta' | 'signal'>, chunk: number): Promise<number> {
  const { store, segmenter, input, meta, signal } = options;
  const { start, end } = store.chunkRange(chunk, meta.frames);
  let encoded = 0;
  for await (const frame of readFrames(input, meta, { start, end, signal })) {
    if (await store.has(frame.index)) continue;
    await store.write(frame.index, await segmenter.embed(frame));
    encoded++;
  }
  return encoded;
}

export type HelperOutcome = { encoded: number; skipped?: undefined } | { encoded: 0; skipped: 'claimed' | 'done' | 'consumed' };

/**
 * A helper's chunk: claim it, encode what is missing, mark it done. Skips a
 * chunk someone else holds, one already done, or one the tracker has passed.
 */
export async function encodeChunk(options: Pick<SharedEmbeddingsOptions, 'store' | 'segmenter' | 'input' | 'meta' | 'owner' | 'signal'>, chunk: number): Promise<HelperOutcome> {
  const { store, meta, owner } = options;
  if (await store.isDone(chunk)) return { encoded: 0, skipped: 'done' };
  if (store.chunkRange(chunk, meta.frames).end <= (await store.readCursor())) return { encoded: 0, skipped: 'consumed' };
  const keeper = new ClaimKeeper(store, owner);
  try {
    if (!(await keeper.take(chunk))) return { encoded: 0, skipped: 'claimed' };
    const encoded = await encodeChunkFrames(options, chunk);
    await store.markDone(chunk);
    keeper.drop(chunk);
    return { encoded };
  } finally {
    await keeper.stop();
  }
}
