import { Router } from 'express';
import type { Redis } from 'ioredis';
import type { WorkerRegistry } from '../../jobs/worker-registry.js';
import type { Metrics } from '../../metrics.js';

async function redisReachable(redis: Redis, timeoutMs = 1000): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), timeoutMs)));
  try {
    return await Promise.race([redis.ping().then((reply) => reply === 'PONG'), timeout]);
  } catch {
    return false;
  } finally {
    clearTimeout(timer);
  }
}

export function healthRouter(deps: { redis: Redis; registry: WorkerRegistry; metrics: Metrics }): Router {
  const router = Router();

  router.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });

  router.get('/readyz', async (_req, res) => {
    const redis = await redisReachable(deps.redis);
    const workers = redis ? await deps.registry.live().catch(() => []) : [];
    const model = workers.some((w) => w.modelLoaded) ? 'loaded' : workers.length ? 'loading' : 'no_worker';
    const ready = redis && model === 'loaded';
    res.status(ready ? 200 : 503).json({ ready, checks: { redis: redis ? 'ok' : 'unreachable', model }, workers: workers.length });
  });

  router.get('/metrics', async (_req, res) => {
    res.type(deps.metrics.registry.contentType).send(await deps.metrics.registry.metrics());
  });

  return router;
}
