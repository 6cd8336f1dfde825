import { createServer, type Server } from 'node:http';
import { createApiServer } from './api/http-server.js';
import path from 'node:path';
import { Redis } from 'ioredis';
import { createApp } from './api/app.js';
import { InputCopies } from './api/input-copies.js';
import { PreviewService } from './api/preview-service.js';
import { WebhookWorker } from './api/webhooks.js';
import { ConfigError, loadConfig, type Config } from './config.js';
import { JobStore } from './jobs/job-store.js';
import { QueueRepository } from './jobs/queue.js';
import { startRedisServer, type RedisServer } from './jobs/redis-server.js';
import { WorkerService } from './jobs/worker.js';
import { WorkerRegistry } from './jobs/worker-registry.js';
import { createLogger, type Logger } from './logger.js';
import { createMetrics, type Metrics } from './metrics.js';
import { createStorage, type Storage } from './storage/index.js';
import { webhookOnTerminal } from './webhooks/enqueue.js';

/**
 * Boot and shutdown of the three ways to run ClipMask:
 *   all     `npm start`: API + worker in one process (its own redis-server when REDIS_URL is unset)
 *   api     `npm run api`: the HTTP API only (REDIS_URL required)
 *   worker  `npm run worker`: a worker only (REDIS_URL required); /metrics on METRICS_PORT if set
 */

export type Role = 'all' | 'api' | 'worker';

export interface Service {
  config: Config;
  logger: Logger;
  redisUrl: string;
  server?: Server;
  worker?: WorkerService;
  /** The job records, with this process's terminal listener (tests drive transitions through it). */
  store: JobStore;
  /** Stops everything in order; idempotent. */
  stop(): Promise<void>;
}

export interface StartOptions {
  env?: NodeJS.ProcessEnv;
  /** Install SIGINT/SIGTERM handlers (main programs do; tests do not). */
  handleSignals?: boolean;
}

export async function startService(role: Role, options: StartOptions = {}): Promise<Service> {
  const config = loadConfig(options.env);
  const logger = createLogger(config.logLevel).child({ role });
  const cleanups: Array<() => Promise<unknown>> = [];
  const stopAll = async () => {
    for (const cleanup of cleanups.reverse()) {
      try {
        await cleanup();
      } catch (error) {
        logger.warn({ err: error }, 'shutdown step failed');
      }
    }
  };

  try {
    let redisUrl = config.redisUrl;
    let ownRedis: RedisServer | undefined;
    if (!redisUrl) {
      if (role !== 'all') throw new ConfigError(`REDIS_URL is required for \`npm run ${role}\` (API and workers share one Redis); \`npm start\` runs its own`);
      ownRedis = await startRedisServer({ dir: path.join(config.dataDir, 'redis') });
      cleanups.push(() => ownRedis!.stop());
      redisUrl = ownRedis.url;
      logger.info({ url: redisUrl, dir: path.join(config.dataDir, 'redis') }, 'started a private redis-server (REDIS_URL is unset)');
    }

    const redis = new Redis(redisUrl, { maxRetriesPerRequest: 2 });
    redis.on('error', (error) => logger.warn({ err: error.message }, 'redis connection error'));
    cleanups.push(async () => redis.status === 'ready' ? redis.quit() : redis.disconnect());
    await waitForRedis(redis, redisUrl, REDIS_CONNECT_TIMEOUT_MS);
    const connection = { url: redisUrl };
    // Whichever process ends a job (worker or API) queues its webhook delivery.
    const onTerminal = webhookOnTerminal({ getRecord: (id) => store.get(id), addWebhook: (payload) => queues.addWebhook(payload), logger });
    const store = new JobStore(redis, { onTerminal });
    const registry = new WorkerRegistry(redis);
    const queues = new QueueRepository({ connection, attempts: config.jobAttempts, webhooks: config.webhooks });
    cleanups.push(() => queues.close());
    const metrics: Metrics = createMetrics({ defaultMetrics: true });
    const storage = await openStorage(config, logger);

    let server: Server | undefined;
    let workerService: WorkerService | undefined;
    if (role !== 'api') {
      const worker = (workerService = new WorkerService({ config, logger, metrics, connection, store, queues, registry, inferenceEnv: options.env, storage, redis, redisUrl }));
      cleanups.push(() => worker.close());
      // The API answers (and /readyz says "loading") while the model loads.
      const started = worker.start();
      if (role === 'worker') await started;
      else
        started.catch((error) => {
          logger.fatal({ err: error }, 'the worker could not start');
          process.exitCode = 1;
          void stopAll();
        });
    }
    if (role !== 'worker') {
      const previews = new PreviewService({ config, logger, metrics, inferenceEnv: options.env });
      cleanups.push(() => previews.close());
      // Deliveries send the API's status JSON, so API processes run them.
      const webhooks = new WebhookWorker({ config, logger, connection, store });
      cleanups.push(() => webhooks.close());
      webhooks.start();
      const inputs = new InputCopies(storage, config.dataDir);
      cleanups.push(() => inputs.close());
      const app = createApp({ config, logger, redis, store, queues, registry, metrics, previews, storage, inputs });
      server = await listen(createApiServer(app, config.http), config.port, config.host);
      cleanups.push(() => closeServer(server!));
      logListening(logger, server, config.host);
    } else if (config.metricsPort !== undefined) {
      const metricsServer = createServer((req, res) => {
        if (req.url === '/metrics') {
          void metrics.registry.metrics().then((text) => res.writeHead(200, { 'Content-Type': metrics.registry.contentType }).end(text));
        } else if (req.url === '/healthz') res.writeHead(200, { 'Content-Type': 'application/json' }).end('{"status":"ok"}');
        else res.writeHead(404).end();
      });
      server = await listen(metricsServer, config.metricsPort, config.host);
      cleanups.push(() => closeServer(server!));
      logger.info({ port: (server.address() as { port: number }).port }, 'worker metrics on /metrics');
    }

    let stopping: Promise<void> | undefined;
    const service: Service = {
      config,
      logger,
      redisUrl,
      server,
      worker: workerService,
      store,
      stop: () => (stopping ??= stopAll()),
    };
    if (options.handleSignals) installSignalHandlers(service);
    return service;
  } catch (error) {
    await stopAll();
    throw error;
  }
}

/** The configured storage; a bucket that cannot be reached stops the start with one line that says why. */
async function openStorage(config: Config, logger: Logger): Promise<Storage> {
  const storage = await createStorage(config.storage, config.dataDir);
  try {
    await storage.check();
  } catch (error) {
    throw new ConfigError(`STORAGE=${storage.kind}: ${(error as Error).message}`);
  }
  if (storage.kind !== 'disk') logger.info({ location: storage.location }, 'job files in object storage');
  return storage;
}

/** How long a starting service waits for Redis (e.g. a container started at the same time). */
const REDIS_CONNECT_TIMEOUT_MS = 30_000;

export class RedisUnavailableError extends Error {
  override name = 'RedisUnavailableError';
}

async function waitForRedis(redis: Redis, url: string, timeoutMs: number): Promise<void> {
  if (redis.status === 'ready') return;
  let timer: NodeJS.Timeout | undefined;
  let lastError = '';
  const onError = (error: Error) => (lastError = error.message);
  redis.on('error', onError);
  try {
    await Promise.race([
      // Not events.once: it rejects on the first 'error', and ioredis keeps retrying after one.
      new Promise<void>((resolve) => redis.once('ready', () => resolve())),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new RedisUnavailableError(`cannot reach Redis at ${url} (${lastError || 'no answer'}) after ${timeoutMs / 1000} s`)), timeoutMs);
      }),
    ]);
  } finally {
    clearTimeout(timer);
    redis.off('error', onError);
  }
}

function listen(server: Server, port: number, host: string): Promise<Server> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve(server);
    });
  });
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeIdleConnections();
  });
}

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '::1']);

function logListening(logger: Logger, server: Server, host: string): void {
  const port = (server.address() as { port: number }).port;
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
  if (LOOPBACK.has(host)) {
    logger.info({ url }, `listening on ${url}: this machine only, since there are no API keys yet (set HOST=0.0.0.0 to expose it)`);
  } else {
    logger.warn({ url }, `listening on ${url} without API keys: anyone who can reach it can submit jobs and open /admin/queues`);
  }
}

function installSignalHandlers(service: Service): void {
  let first: number | undefined;
  const onSignal = (signal: NodeJS.Signals) => {
    // The same signal often arrives twice at once (from the process group and relayed by
    // npm / tsx): only a second one a little later means "stop now".
    if (first !== undefined) {
      if (Date.now() - first < 2000) return;
      service.logger.warn(`${signal} again: exiting now`);
      process.exit(130);
    }
    first = Date.now();
    service.logger.info(`${signal}: stopping (no new jobs; a running job may finish for ${service.config.shutdownGraceMs / 1000} s, then goes back to the queue)`);
    void service.stop().then(() => {
      service.logger.info('stopped');
      process.exit(process.exitCode ?? 0);
    });
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
}

/** For the main programs: a configuration problem is one line and exit code 2. */
export async function main(role: Role): Promise<void> {
  try {
    await startService(role, { handleSignals: true });
  } catch (error) {
    const name = (error as Error).name;
    if (error instanceof ConfigError || name === 'RedisServerError' || name === 'RedisUnavailableError' || name === 'ModelError') {
      console.error(`clipmask: ${(error as Error).message}`);
      process.exit(2);
    }
    if (name === 'InferenceError') {
      console.error(`clipmask: the model could not be loaded: ${(error as Error).message}`);
      process.exit(2);
    }
    console.error(error);
    process.exit(1);
  }
}
