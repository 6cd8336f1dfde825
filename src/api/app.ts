import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { ExpressAdapter } from '@bull-board/express';
import express, { type Express } from 'express';
import type { Redis } from 'ioredis';
import type { Config } from '../config.js';
import type { JobStore } from '../jobs/job-store.js';
import type { QueueRepository } from '../jobs/queue.js';
import type { WorkerRegistry } from '../jobs/worker-registry.js';
import type { Logger } from '../logger.js';
import { registerQueueGauges, type Metrics } from '../metrics.js';
import { errorHandler, notFoundHandler } from './errors.js';
import { JobService } from './job-service.js';
import { buildOpenApi } from './openapi.js';
import { healthRouter } from './routes/health.js';
import { jobsRouter } from './routes/jobs.js';

export interface AppDeps {
  config: Config;
  logger: Logger;
  /** A plain connection for the JobStore, the registry and /readyz. */
  redis: Redis;
  store: JobStore;
  queues: QueueRepository;
  registry: WorkerRegistry;
  metrics: Metrics;
}

/** The HTTP API as an express app (no listen: main.ts and the tests do that). */
export function createApp(deps: AppDeps): Express {
  const { config, logger, store, queues, metrics } = deps;
  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', config.trustProxy);
  app.set('query parser', 'simple');
  registerQueueGauges(metrics, { store, queues });

  app.use((req, res, next) => {
    const started = performance.now();
    res.on('finish', () => {
      logger.debug({ method: req.method, url: req.originalUrl, status: res.statusCode, ms: Math.round(performance.now() - started) }, 'request');
    });
    next();
  });

  const jobs = new JobService({ config, store, queues, metrics, logger });
  app.use('/v1/jobs', jobsRouter({ jobs, dataDir: config.dataDir, maxUploadBytes: config.limits.maxUploadBytes }));
  const openapi = buildOpenApi(config);
  app.get('/v1/openapi.json', (_req, res) => {
    res.json(openapi);
  });
  app.use(healthRouter(deps));

  // The BullMQ dashboard. No authentication yet: the API listens on 127.0.0.1 unless HOST says otherwise.
  const board = new ExpressAdapter();
  board.setBasePath('/admin/queues');
  createBullBoard({
    // Read-only: jobs are acted on through the API (a retry from the dashboard would bypass the job records).
    queues: queues.all().map((queue) => new BullMQAdapter(queue, { readOnlyMode: true })),
    serverAdapter: board,
  });
  app.use('/admin/queues', board.getRouter());

  app.use(notFoundHandler);
  app.use(errorHandler(logger));
  return app;
}
