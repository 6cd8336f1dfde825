/**
 * A throwaway redis-server per test file: a free port, no persistence,
 * PING answered before it is handed out. Stop it in afterAll.
 */
import { startRedisServer, type RedisServer } from '../../src/jobs/redis-server.js';

export type { RedisServer } from '../../src/jobs/redis-server.js';

export function startTestRedis(): Promise<RedisServer> {
  return startRedisServer({ persist: false });
}
