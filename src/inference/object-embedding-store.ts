import type { Redis } from 'ioredis';
import type { Storage } from '../storage/storage.js';
import type { ImageEmbedding } from '../types.js';
import { decodeEmbedding, DEFAULT_STALE_MS, EmbeddingStore, encodeEmbedding } from './embedding-store.js';

/**
 * The store for workers with no shared disk: each frame's embedding is an
 * object (`<prefix><frame>.f16`, same bytes as the file store's), and the
 * coordination lives in Redis, which every worker already reaches:
 *
 *   <claims>claim:<k>   the owner of chunk k, SET NX with a TTL of `staleMs`
 *                       that the holder's heartbeat renews; a dead helper's
 *                       claim simply expires
 *   <claims>done        the set of chunks encoded completely
 *   <claims>cursor      frames below it are consumed by the tracking pass
 *
 * Renewal and release compare the owner inside Lua, so a claim that expired
 * and was taken over is never renewed or dropped by its former holder.
 */

/** Done marks and the cursor outlive any tracking pass, and then go by themselves. */
const BOOKKEEPING_TTL_MS = 2 * 24 * 3600_000;

const CLAIM = `
local holder = redis.call('GET', KEYS[1])
if not holder then redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) return 1 end
if holder == ARGV[1] then redis.call('PEXPIRE', KEYS[1], ARGV[2]) return 1 end
return 0
`;
const RENEW = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end return 0`;
const RELEASE = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`;

export class ObjectEmbeddingStore extends EmbeddingStore {
  constructor(
    private readonly storage: Storage,
    /** Key prefix of the frames, ending in '/'. */
    readonly prefix: string,
    private readonly redis: Redis,
    /** Redis key prefix of the claims, ending in ':'. */
    readonly claims: string,
    chunkFrames: number,
    staleMs = DEFAULT_STALE_MS,
  ) {
    super(chunkFrames, staleMs);
  }

  private frameKey(frame: number): string {
    return `${this.prefix}${frame}.f16`;
  }

  async write(frame: number, embedding: ImageEmbedding): Promise<ImageEmbedding> {
    const { bytes, stored } = encodeEmbedding(embedding);
    await this.storage.put(this.frameKey(frame), bytes);
    return stored;
  }

  async read(frame: number): Promise<ImageEmbedding | undefined> {
    const bytes = await this.storage.get(this.frameKey(frame));
    return bytes && decodeEmbedding(bytes, frame);
  }

  async has(frame: number): Promise<boolean> {
    return (await this.storage.head(this.frameKey(frame))) !== undefined;
  }

  async remove(frame: number): Promise<void> {
    await this.storage.delete(this.frameKey(frame));
  }

  async claim(chunk: number, owner: string): Promise<boolean> {
    return (await this.redis.eval(CLAIM, 1, `${this.claims}claim:${chunk}`, owner, this.staleMs)) === 1;
  }

  async claimHolder(chunk: number): Promise<{ owner: string; touchedAt: number } | undefined> {
    const key = `${this.claims}claim:${chunk}`;
    const [[, owner], [, ttl]] = (await this.redis.multi().get(key).pttl(key).exec()) as [[unknown, string | null], [unknown, number]];
    if (owner === null || ttl < 0) return undefined;
    return { owner, touchedAt: Date.now() - (this.staleMs - ttl) };
  }

  async touch(chunk: number, owner: string): Promise<void> {
    await this.redis.eval(RENEW, 1, `${this.claims}claim:${chunk}`, owner, this.staleMs);
  }

  async release(chunk: number, owner: string): Promise<void> {
    await this.redis.eval(RELEASE, 1, `${this.claims}claim:${chunk}`, owner);
  }

  async markDone(chunk: number): Promise<void> {
    await this.redis.multi().sadd(`${this.claims}done`, chunk).pexpire(`${this.claims}done`, BOOKKEEPING_TTL_MS).exec();
  }

  async isDone(chunk: number): Promise<boolean> {
    return (await this.redis.sismember(`${this.claims}done`, chunk)) === 1;
  }

  async readCursor(): Promise<number> {
    const value = Number(await this.redis.get(`${this.claims}cursor`));
    return Number.isInteger(value) && value >= 0 ? value : 0;
  }

  async writeCursor(frame: number): Promise<void> {
    await this.redis.set(`${this.claims}cursor`, frame, 'PX', BOOKKEEPING_TTL_MS);
  }
}

/** The Redis key prefix of a job's chunk claims. */
export function claimsKeyOf(jobId: string): string {
  return `clipmask:embeddings:${jobId}:`;
}
