import { open, readFile, rm, stat, utimes, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fromFloat16, toFloat16 } from '../segment/float16.js';
import type { ImageEmbedding } from '../types.js';
import { writeFileAtomic } from '../util/atomic.js';
import { exists } from '../util/fs.js';

/**
 * The frame embeddings of one job, shared by every worker that helps with
 * it. Frames are grouped in chunks of `chunkFrames` (chunk k = frames
 * [k*chunkFrames, (k+1)*chunkFrames)); a helper claims a chunk, encodes it and
 * marks it done. Every write is atomic, so a reader sees a whole embedding or
 * none; two writers of one frame write the same bytes (the encoder is
 * deterministic), so a duplicated chunk costs time, never correctness.
 */

const HEADER_BYTES = 16;

/** How many chunks of `chunkFrames` a video of `frames` frames has (the last may be short). */
export function chunkCount(frames: number, chunkFrames: number): number {
  return Math.ceil(frames / chunkFrames);
}
export const DEFAULT_STALE_MS = 20_000;

/** A frame's embedding as stored: the header, then float16 values. Returns the bytes and what readers get back. */
export function encodeEmbedding(embedding: ImageEmbedding): { bytes: Buffer; stored: ImageEmbedding } {
  const half = toFloat16(embedding.data);
  const header = new Uint32Array([embedding.width, embedding.height, embedding.resizedWidth, embedding.resizedHeight]);
  const bytes = Buffer.concat([Buffer.from(header.buffer), Buffer.from(half.buffer, half.byteOffset, half.byteLength)]);
  return { bytes, stored: { ...embedding, data: fromFloat16(half) } };
}

export function decodeEmbedding(bytes: Uint8Array, frame: number): ImageEmbedding {
  if (bytes.length < HEADER_BYTES || (bytes.length - HEADER_BYTES) % 2 !== 0) throw new Error(`embedding file of frame ${frame} is damaged (${bytes.length} bytes)`);
  const aligned = new Uint8Array(bytes); // a fresh, aligned copy
  const [width, height, resizedWidth, resizedHeight] = new Uint32Array(aligned.buffer, 0, 4);
  const data = fromFloat16(new Uint16Array(aligned.buffer, HEADER_BYTES, (bytes.length - HEADER_BYTES) / 2));
  return { width, height, resizedWidth, resizedHeight, data };
}

/**
 * A job's frame embeddings and the claims on its chunks: the chunk
 * arithmetic here, the storing in the two kinds below (files on a shared
 * volume; objects in a bucket with the claims in Redis).
 */
export abstract class EmbeddingStore {
  constructor(
    readonly chunkFrames: number,
    readonly staleMs = DEFAULT_STALE_MS,
  ) {
    if (!Number.isInteger(chunkFrames) || chunkFrames < 1) throw new RangeError(`chunkFrames must be a positive integer, not ${chunkFrames}`);
  }

  chunkOf(frame: number): number {
    return Math.floor(frame / this.chunkFrames);
  }

  /** Frames [start, end) of a chunk, within a video of `frames` frames. */
  chunkRange(chunk: number, frames: number): { start: number; end: number } {
    return { start: chunk * this.chunkFrames, end: Math.min(frames, (chunk + 1) * this.chunkFrames) };
  }

  chunkCount(frames: number): number {
    return chunkCount(frames, this.chunkFrames);
  }

  /** Stores a frame's embedding as float16 and returns what readers will get back. */
  abstract write(frame: number, embedding: ImageEmbedding): Promise<ImageEmbedding>;
  /** The stored embedding of a frame, or undefined when it is not (or no longer) there. */
  abstract read(frame: number): Promise<ImageEmbedding | undefined>;
  abstract has(frame: number): Promise<boolean>;
  abstract remove(frame: number): Promise<void>;
  /**
   * Takes chunk `chunk` for `owner`: true when it was free, already ours, or
   * its holder stopped beating for `staleMs`; false while someone else holds it.
   */
  abstract claim(chunk: number, owner: string): Promise<boolean>;
  abstract claimHolder(chunk: number): Promise<{ owner: string; touchedAt: number } | undefined>;
  /** The heartbeat of `owner`'s claim. */
  abstract touch(chunk: number, owner: string): Promise<void>;
  /** Gives a claim up (only if it is still ours), so others need not wait for it to go stale. */
  abstract release(chunk: number, owner: string): Promise<void>;
  abstract markDone(chunk: number): Promise<void>;
  abstract isDone(chunk: number): Promise<boolean>;
  /** Frames below the cursor have been consumed by the tracking pass and will not be read again. */
  abstract readCursor(): Promise<number>;
  abstract writeCursor(frame: number): Promise<void>;
}

/**
 * The store as files in the job's directory on a volume every worker mounts:
 *
 *   embeddings/<frame>.f16       16-byte header (uint32 LE: width, height, resizedWidth,
 *                                resizedHeight), then the values as float16 (2 MB for SAM)
 *   embeddings/chunk-<k>.claim   the name of whoever is encoding chunk k; its mtime is the
 *                                heartbeat, and a claim not touched for `staleMs` may be taken over
 *   embeddings/chunk-<k>.done    chunk k has been encoded completely
 *   embeddings/cursor            frames below this number have been consumed by the tracking pass
 */
export class FileEmbeddingStore extends EmbeddingStore {
  constructor(
    readonly dir: string,
    chunkFrames: number,
    staleMs = DEFAULT_STALE_MS,
  ) {
    super(chunkFrames, staleMs);
  }

  private framePath(frame: number): string {
    return path.join(this.dir, `${frame}.f16`);
  }

  private claimPath(chunk: number): string {
    return path.join(this.dir, `chunk-${chunk}.claim`);
  }

  private donePath(chunk: number): string {
    return path.join(this.dir, `chunk-${chunk}.done`);
  }

  async write(frame: number, embedding: ImageEmbedding): Promise<ImageEmbedding> {
    const { bytes, stored } = encodeEmbedding(embedding);
    await writeFileAtomic(this.framePath(frame), bytes);
    return stored;
  }

  async read(frame: number): Promise<ImageEmbedding | undefined> {
    let bytes: Buffer;
    try {
      bytes = await readFile(this.framePath(frame));
    } catch (error) {
      if (isMissing(error)) return undefined;
      throw error;
    }
    return decodeEmbedding(bytes, frame);
  }

  async has(frame: number): Promise<boolean> {
    return exists(this.framePath(frame));
  }

  async remove(frame: number): Promise<void> {
    await rm(this.framePath(frame), { force: true });
  }

  /** Throws ENOENT when the directory is gone (the job was deleted). */
  async claim(chunk: number, owner: string): Promise<boolean> {
    const file = this.claimPath(chunk);
    try {
      const handle = await open(file, 'wx');
      try {
        await handle.writeFile(owner);
      } finally {
        await handle.close();
      }
      return true;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    const holder = await this.claimHolder(chunk);
    if (!holder) return this.claim(chunk, owner); // released between our two looks
    if (holder.owner === owner || Date.now() - holder.touchedAt > this.staleMs) {
      await writeFileAtomic(file, owner);
      return true;
    }
    return false;
  }

  async claimHolder(chunk: number): Promise<{ owner: string; touchedAt: number } | undefined> {
    try {
      const file = this.claimPath(chunk);
      const [owner, info] = await Promise.all([readFile(file, 'utf8'), stat(file)]);
      return { owner, touchedAt: info.mtimeMs };
    } catch (error) {
      if (isMissing(error)) return undefined;
      throw error;
    }
  }

  async touch(chunk: number): Promise<void> {
    const now = new Date();
    await utimes(this.claimPath(chunk), now, now).catch((error) => {
      if (!isMissing(error)) throw error;
    });
  }

  async release(chunk: number, owner: string): Promise<void> {
    const holder = await this.claimHolder(chunk);
    if (holder?.owner === owner) await rm(this.claimPath(chunk), { force: true });
  }

  async markDone(chunk: number): Promise<void> {
    await writeFile(this.donePath(chunk), '');
  }

  async isDone(chunk: number): Promise<boolean> {
    return exists(this.donePath(chunk));
  }

  async readCursor(): Promise<number> {
    try {
      const value = Number(await readFile(path.join(this.dir, 'cursor'), 'utf8'));
      return Number.isInteger(value) && value >= 0 ? value : 0;
    } catch (error) {
      if (isMissing(error)) return 0;
      throw error;
    }
  }

  async writeCursor(frame: number): Promise<void> {
    await writeFileAtomic(path.join(this.dir, 'cursor'), String(frame));
  }
}

/** Keeps the claims it holds fresh until they are dropped (or it is stopped). */
export class ClaimKeeper {
  private readonly held = new Set<number>();
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly store: EmbeddingStore,
    private readonly owner: string,
  ) {
    this.timer = setInterval(() => void this.beat(), Math.max(250, store.staleMs / 4));
    this.timer.unref();
  }

  holds(chunk: number): boolean {
    return this.held.has(chunk);
  }

  /** Claims the chunk and keeps it fresh; false when someone else holds it. */
  async take(chunk: number): Promise<boolean> {
    if (this.held.has(chunk)) return true;
    if (!(await this.store.claim(chunk, this.owner))) return false;
    this.held.add(chunk);
    return true;
  }

  /** Stops beating for a finished chunk (the claim file stays: the done marker says it is complete). */
  drop(chunk: number): void {
    this.held.delete(chunk);
  }

  private async beat(): Promise<void> {
    for (const chunk of this.held) await this.store.touch(chunk, this.owner).catch(() => undefined);
  }

  /** Stops beating and gives up every chunk still held (unfinished ones can then be taken at once). */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    const unfinished = [...this.held];
    this.held.clear();
    await Promise.all(unfinished.map((chunk) => this.store.release(chunk, this.owner).catch(() => undefined)));
  }
}

function isMissing(error: unknown): boolean {
  return (error as NodeJS.ErrnoException).code === 'ENOENT';
}

