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
import { JobResults } from './job-results.js';
import { JobService } from './job-service.js';
import { bodyIdleTimeout } from './http-server.js';
import { buildOpenApi } from './openapi.js';
import { healthRouter } from './routes/health.js';
import { jobsRouter } from './routes/jobs.js';
import type { Storage } from '../storage/storage.js';
import type { InputCopies } from './input-copies.js';
import { webRouter } from './web.js';
import { previewsRouter } from './routes/previews.js';
import { AccessPolicy, authenticate, rateLimit, securityHeaders } from './security.js';
import type { PreviewService } from './preview-service.js';

export interface AppDeps {
  config: Config;
  logger: Logger;
  /** A plain connection for the JobStore, the registry and /readyz. */
  redis: Redis;
  store: JobStore;
  queues: QueueRepository;
  registry: WorkerRegistry;
  metrics: Metrics;
  previews: PreviewService;
  storage: Storage;
  /** The API's local copies of inputs (object storage), closed with the service. */
  inputs: InputCopies;
}

/** The HTTP API as an express app (no listen: main.ts and the tests do that). */
export function createApp(deps: AppDeps): Express {
  const { config, logger, store, queues, metrics } = deps;
  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', config.trustProxy);
  app.set('query parser', 'simple');
  registerQueueGauges(metrics, { store, queues });
  const policy = new AccessPolicy(config.apiKeys);
  app.use(securityHeaders());
  app.use(bodyIdleTimeout(config.http.uploadIdleTimeoutMs));

  app.use((req, res, next) => {
    const started = performance.now();
    res.on('finish', () => {
      logger.debug({ method: req.method, url: req.originalUrl, status: res.statusCode, ms: Math.round(performance.now() - started) }, 'request');
    });
    next();
  });

  const { storage, inputs } = deps;
  const jobs = new JobService({ config, store, queues, metrics, logger, storage, onDeleted: (id) => inputs.forget(id) });
  const results = new JobResults({ config, store, queues, jobs, logger, storage, inputs });
  app.use('/v1', authenticate(policy), rateLimit(config.rateLimitPerMinute));
  app.use('/v1/jobs', jobsRouter({ jobs, results, policy, storage, presign: config.storage.kind === 's3' && config.storage.presign, dataDir: config.dataDir, maxUploadBytes: config.limits.maxUploadBytes }));
  app.use('/v1/previews', previewsRouter({ previews: deps.previews, dataDir: config.dataDir, maxUploadBytes: config.limits.maxUploadBytes }));
  const openapi = buildOpenApi(config);
  app.get('/v1/openapi.json', (_req, res) => {
    res.json(openapi);
  });
  app.use(healthRouter(deps));

  // The BullMQ dashboard, read-only (a retry from it would bypass the job records). It shows
  // every job, so with API keys on (jobs private to their key) it is not served.
  if (!policy.enabled) {
    const board = new ExpressAdapter();
    board.setBasePath('/admin/queues');
    createBullBoard({ queues: queues.all().map((queue) => new BullMQAdapter(queue, { readOnlyMode: true })), serverAdapter: board });
    app.use('/admin/queues', board.getRouter());
  }

  app.use(webRouter()); // the web page: /, /app.js, /styles.css
  app.use(notFoundHandler);
  app.use(errorHandler(logger));
  return app;
}
