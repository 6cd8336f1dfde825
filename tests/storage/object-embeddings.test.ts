/**
 * Embeddings shared through object storage, claims in Redis (real s3rver,
 * real redis-server, the real model): the same bytes as the file store,
 * exclusive claims that only their owner renews or releases, and a helper
 * that is SIGKILLed while it holds a chunk: its claim expires and another
 * worker encodes the chunk.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FileEmbeddingStore } from '../../src/inference/embedding-store.js';
import { ObjectEmbeddingStore } from '../../src/inference/object-embedding-store.js';
import { claimsRedis } from '../../src/inference/open-embedding-store.js';
import { encodeChunk } from '../../src/inference/shared-embeddings.js';
import { probeInput } from '../../src/media/index.js';
import { SamSegmenter } from '../../src/segment/segmenter.js';
import type { ImageEmbedding } from '../../src/types.js';
import { eventually } from '../helpers/service.js';
import { startTestRedis, type RedisServer } from '../helpers/redis.js';
import { startTestS3, type TestS3 } from '../helpers/s3.js';
import { makeMovingShapeClip } from '../helpers/synthetic.js';

let s3: TestS3;
let redis: RedisServer;
let dir: string;
let holder: ChildProcess | undefined;

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'clipmask-object-embeddings-'));
  [s3, redis] = await Promise.all([startTestS3(), startTestRedis()]);
});

afterAll(async () => {
  holder?.kill('SIGKILL');
  await claimsRedis(redis.url).quit();
  await Promise.all([s3?.stop(), redis?.stop()]);
  await rm(dir, { recursive: true, force: true });
});

function store(job: string, staleMs = 20_000): ObjectEmbeddingStore {
  return new ObjectEmbeddingStore(s3.storage(), `jobs/${job}/embeddings/`, claimsRedis(redis.url), `test:${job}:`, 2, staleMs);
}

const embedding = (): ImageEmbedding => ({ width: 4, height: 2, resizedWidth: 4, resizedHeight: 2, data: Float32Array.from({ length: 16 }, (_, i) => i / 3 - 2) });

describe('the object embedding store', () => {
  it('stores the same bytes as the file store and reads back what the file store does', async () => {
    const objects = store('a');
    const files = new FileEmbeddingStore(path.join(dir, 'files'), 2);
    await (await import('node:fs/promises')).mkdir(files.dir, { recursive: true });
    const [fromObject, fromFile] = [await objects.write(5, embedding()), await files.write(5, embedding())];
    expect(fromObject).toEqual(fromFile);
    expect(await s3.storage().get('jobs/a/embeddings/5.f16')).toEqual(await readFile(path.join(files.dir, '5.f16')));
    expect(await objects.read(5)).toEqual(await files.read(5));
    expect(await objects.has(5)).toBe(true);
    await objects.remove(5);
    expect(await objects.read(5)).toBeUndefined();
  });

  it('gives a chunk to one owner at a time; only the owner renews or releases it; done and cursor are shared', async () => {
    const a = store('b', 400);
    expect(await a.claim(3, 'tracker')).toBe(true);
    expect(await a.claim(3, 'helper')).toBe(false);
    expect(await a.claim(3, 'tracker')).toBe(true); // a retry of the same owner resumes it
    expect((await a.claimHolder(3))?.owner).toBe('tracker');
    await a.release(3, 'helper'); // not the helper's to give up
    await a.touch(3, 'helper'); // nor to renew
    expect((await a.claimHolder(3))?.owner).toBe('tracker');
    await a.release(3, 'tracker');
    expect(await a.claimHolder(3)).toBeUndefined();
    // An unrenewed claim lapses by itself.
    expect(await a.claim(4, 'helper')).toBe(true);
    await sleep(600);
    expect(await a.claim(4, 'tracker')).toBe(true);
    expect(await a.isDone(4)).toBe(false);
    await a.markDone(4);
    await a.writeCursor(6);
    const b = store('b', 400); // another worker's view
    expect(await b.isDone(4)).toBe(true);
    expect(await b.readCursor()).toBe(6);
  });

  it('lets another worker encode a chunk whose helper was killed while holding it', async () => {
    const clip = await makeMovingShapeClip(dir, { width: 96, height: 64, frames: 4, fps: 4 });
    const staleMs = 1500;
    const env = {
      ...process.env,
      ...s3.env,
      REDIS_URL: redis.url,
      PREFIX: 'jobs/c/embeddings/',
      CLAIMS: 'test:c:',
      CHUNK: '1',
      CHUNK_FRAMES: '2',
      STALE_MS: String(staleMs),
      OWNER: 'embed:c:1',
    };
    holder = spawn(process.execPath, ['--import', 'tsx', path.join(import.meta.dirname, '../helpers/claim-holder.ts')], { env, stdio: ['ignore', 'pipe', 'inherit'] });
    await once(holder.stdout!, 'data');
    const tracker = store('c', staleMs);
    // Alive, the helper's heartbeat keeps the claim past its TTL.
    await sleep(staleMs * 1.5);
    expect((await tracker.claimHolder(1))?.owner).toBe('embed:c:1');
    holder.kill('SIGKILL');
    await once(holder, 'exit');
    const killedAt = Date.now();
    expect(await eventually(async () => (await tracker.claimHolder(1)) === undefined, staleMs * 3, 50)).toBe(true);
    expect(Date.now() - killedAt).toBeLessThanOrEqual(staleMs + 500);
    const segmenter = await SamSegmenter.create({ threads: 1 });
    try {
      const meta = await probeInput(clip.path);
      const outcome = await encodeChunk({ store: tracker, segmenter, input: clip.path, meta, owner: 'embed:c:1-again' }, 1);
      expect(outcome).toEqual({ encoded: 2 });
    } finally {
      await segmenter.dispose();
    }
    expect(await tracker.isDone(1)).toBe(true);
    expect((await s3.keys()).filter((k) => k.startsWith('jobs/c/')).sort()).toEqual(['jobs/c/embeddings/2.f16', 'jobs/c/embeddings/3.f16']);
  });
});
