/**
 * Redis at maxmemory with noeviction (issue 17): the refusals Redis gives
 * (a command, a Lua script, a MULTI) are recognised as out-of-memory, and a
 * submission meeting a full Redis answers 503 redis_full with Retry-After,
 * never a 500, and leaves no file; once memory is freed submissions are
 * accepted again; a worker's write waits for room instead of failing the
 * job's attempt. The API alone on a real redis-server (no worker needed).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { toApiError } from '../../src/api/errors.js';
import { isRedisOutOfMemory, whileRedisFull } from '../../src/jobs/redis-errors.js';
import { makeMovingShapeClip, type SyntheticClip } from '../helpers/synthetic.js';
import { filesUnder, getJson, onePointPrompts, startTestService, submission, type TestService } from '../helpers/service.js';

let t: TestService;
let redis: Redis;
let dir: string;
let clip: SyntheticClip;

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'clipmask-redis-full-'));
  [t, clip] = await Promise.all([startTestService('api'), makeMovingShapeClip(dir, { width: 96, height: 72, frames: 2, fps: 2 })]);
  redis = new Redis(t.redis.url);
});
afterAll(async () => {
  redis?.disconnect();
  await t?.stop();
  await rm(dir, { recursive: true, force: true });
});
afterEach(async () => {
  await redis.config('SET', 'maxmemory', '0');
});

/**
 * A Redis over its maxmemory: 1 byte, so that nothing that needs memory is taken whatever the
 * clients' buffers do meanwhile (the chaos scenario sets it just above used_memory instead).
 */
async function fillRedis(): Promise<void> {
  await redis.config('SET', 'maxmemory', '1');
  if (!(await redis.set('clipmask-test:probe', 'x').then(() => false, isRedisOutOfMemory))) throw new Error('maxmemory did not hold');
}

const refusal = (promise: Promise<unknown>) => promise.then(() => undefined, (error: unknown) => error);

describe('a Redis at maxmemory', () => {
  it('refuses commands, scripts and transactions in ways isRedisOutOfMemory recognises', async () => {
    await fillRedis();
    const command = await refusal(redis.set('clipmask-test:k', 'x'.repeat(4096)));
    const script = await refusal(redis.eval("redis.call('SET', KEYS[1], ARGV[1]) return 1", 1, 'clipmask-test:s', 'x'.repeat(4096)));
    const transaction = await refusal(redis.multi().set('clipmask-test:m', 'x').incr('clipmask-test:n').exec());
    for (const error of [command, script, transaction]) {
      expect(error).toBeInstanceOf(Error);
      expect(isRedisOutOfMemory(error)).toBe(true);
      expect(toApiError(error)).toMatchObject({ status: 503, code: 'redis_full', headers: { 'Retry-After': '30' } });
    }
    // Reads still work, and other Redis failures are not called out of memory.
    expect(await redis.get('clipmask-test:k')).toBeNull();
    expect(isRedisOutOfMemory(await refusal(redis.eval("return redis.error_reply('ERR something else')", 0)))).toBe(false);
    expect(isRedisOutOfMemory(new Error('Connection is closed.'))).toBe(false);
  });

  it('makes a submission answer 503 redis_full with Retry-After and leave no file; accepted again once freed', async () => {
    const prompts = onePointPrompts(clip.center(0)[0], clip.center(0)[1]);
    await fillRedis();
    const response = await fetch(`${t.baseUrl}/v1/jobs`, { method: 'POST', body: await submission(clip.path, prompts) });
    expect(response.status).toBe(503);
    expect(response.headers.get('retry-after')).toBe('30');
    expect((await response.json()).error.code).toBe('redis_full');
    expect(await filesUnder(path.join(t.dataDir, 'jobs'))).toEqual([]);
    expect(await filesUnder(path.join(t.dataDir, 'uploads'))).toEqual([]);
    // Status reads keep working meanwhile.
    expect((await getJson(`${t.baseUrl}/v1/jobs`)).status).toBe(200);

    await redis.config('SET', 'maxmemory', '0');
    const accepted = await fetch(`${t.baseUrl}/v1/jobs`, { method: 'POST', body: await submission(clip.path, prompts) });
    expect(accepted.status).toBe(202);
    const { id } = (await accepted.json()) as { id: string };
    expect((await getJson(`${t.baseUrl}/v1/jobs/${id}`)).body.state).toBe('queued');
  });
});

describe("a worker's write at maxmemory", () => {
  it('waits for room and is done once memory is freed; a shutdown or another error ends the wait', async () => {
    await fillRedis();
    let refusals = 0;
    const started = performance.now();
    setTimeout(() => void redis.config('SET', 'maxmemory', '0'), 1500);
    const write = () => redis.set('clipmask-test:waited', 'x'.repeat(4096));
    expect(await whileRedisFull(write, { everyMs: 100, onFull: () => refusals++ })).toBe('OK');
    expect(performance.now() - started).toBeGreaterThan(1400);
    expect(refusals).toBe(1);

    await fillRedis();
    const shutdown = new AbortController();
    setTimeout(() => shutdown.abort('shutdown'), 300);
    expect(isRedisOutOfMemory(await refusal(whileRedisFull(write, { everyMs: 100, signal: shutdown.signal })))).toBe(true);
    let calls = 0;
    const closed = async () => {
      calls++;
      throw new Error('Connection is closed.');
    };
    const other = await refusal(whileRedisFull(closed, { everyMs: 100 }));
    expect((other as Error).message).toBe('Connection is closed.');
    expect(calls).toBe(1);
  });
});
