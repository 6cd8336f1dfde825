import { availableParallelism } from 'node:os';
import path from 'node:path';
import { z } from 'zod';
import { DEFAULT_MANIFEST } from './segment/models.js';
import { DEFAULT_CACHE_DIR, ENCODER_PRECISIONS, type EncoderPrecision } from './segment/segmenter.js';
import type { StorageSettings } from './storage/index.js';
import { STORAGE_KINDS } from './storage/storage.js';

/**
 * Everything ClipMask reads from the environment, parsed and validated once
 * at start-up. A bad value stops the program with one readable line.
 */
const positiveInt = (max = Number.MAX_SAFE_INTEGER) => z.coerce.number().int().min(1).max(max);
const boolean = z
  .enum(['1', '0', 'true', 'false', 'yes', 'no'])
  .transform((v) => v === '1' || v === 'true' || v === 'yes');

export const envSchema = z.object({
  CLIPMASK_MODEL: z.string().min(1).optional().describe('model name in the manifest (default: the manifest default)'),
  MODEL_MANIFEST: z.string().min(1).default(DEFAULT_MANIFEST).describe('path of the model manifest'),
  MODEL_CACHE_DIR: z.string().min(1).default(DEFAULT_CACHE_DIR).describe('where the graphs derived from the models (decoder edit, int8 encoder, ONNX Runtime optimised graphs) are cached'),
  ENCODER_PRECISION: z
    .enum(ENCODER_PRECISIONS)
    .default('float32')
    .describe("the image encoder's weights: float32 (shipped), or int8 (derived at first use: ~1.2x faster encoder, ~3 J&F lower on DAVIS); all workers of a service must agree"),
  ORT_THREADS: z.coerce.number().int().min(1).max(256).default(availableParallelism()).describe('ONNX Runtime threads per session (default: the number of cores)'),

  // The service
  PORT: z.coerce.number().int().min(0).max(65_535).default(8080).describe('HTTP port of the API'),
  HOST: z.string().min(1).default('127.0.0.1').describe('address the API listens on; 0.0.0.0 to expose it (there are no API keys yet)'),
  DATA_DIR: z.string().min(1).default('./data').describe('uploads, job files and the own Redis live here, laid out by job id'),
  REDIS_URL: z.url({ protocol: /^rediss?$/ }).optional().describe('Redis to use; unset: start a private redis-server under DATA_DIR/redis'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info').describe('pino log level'),
  MAX_UPLOAD_BYTES: positiveInt().default(500 * 1024 * 1024).describe('largest accepted upload (413 above)'),
  MAX_PIXELS: positiveInt().default(1920 * 1080).describe('largest accepted frame, width x height (413 above)'),
  MAX_FRAMES: positiveInt().default(3000).describe('most frames accepted in one video (413 above)'),
  MAX_DURATION_S: z.coerce.number().positive().default(300).describe('longest accepted video in seconds (413 above)'),
  MAX_OBJECTS: positiveInt(255).default(16).describe('most objects in one request (400 above)'),
  MAX_QUEUED_JOBS: positiveInt().default(100).describe('jobs waiting in the queue before new submissions get 429'),
  RETENTION_HOURS: z.coerce.number().nonnegative().default(24).describe("hours a finished job's files and record are kept (0 = forever)"),
  JOB_ATTEMPTS: positiveInt(20).default(3).describe('tries of a job that fails for a reason other than its input (backoff between tries)'),
  WORKER_CONCURRENCY: positiveInt(64).default(1).describe('jobs one worker process runs at once (inference uses every core: keep 1)'),
  EMBED_CHUNK_FRAMES: positiveInt(10_000).default(8).describe('frames per embedding chunk that another worker may encode ahead of the tracking pass'),
  EMBED_WINDOW_FRAMES: positiveInt().default(96).describe('how far ahead of the tracking pass helpers may encode (2 MB of disk per frame)'),
  CORRECTIONS_KEEP_EMBEDDINGS: boolean
    .default(true)
    .describe("keep a job's frame embeddings after its first run, so a correction costs decoder time only (2 MB of disk per frame)"),
  EMBEDDING_BUDGET_BYTES: positiveInt()
    .default(10 * 1024 ** 3)
    .describe("disk kept embeddings may use over all jobs; beyond it the oldest jobs' go (their corrections encode again)"),
  PREVIEW_TTL_MINUTES: positiveInt().default(60).describe("minutes an unused preview upload (the web page's) is kept"),
  SHUTDOWN_GRACE_S: z.coerce.number().nonnegative().default(20).describe('on SIGTERM, how long a running job may finish before it is handed back to the queue'),
  METRICS_PORT: z.coerce.number().int().min(0).max(65_535).optional().describe('`npm run worker` only: serve /metrics and /healthz on this port'),
  API_KEYS: z
    .string()
    .transform((v) => v.split(',').map((k) => k.trim()).filter(Boolean))
    .pipe(z.array(z.string().regex(/^[\x21-\x7e]{16,512}$/, 'each key is 16 to 512 printable characters without spaces; separate keys with commas')))
    .optional()
    .describe('comma-separated API keys; when set, every /v1 call needs Authorization: Bearer <key> and sees only its own jobs'),
  RATE_LIMIT_PER_MINUTE: positiveInt().default(600).describe('requests per minute per API key (per client address without keys), per API process'),
  TRUST_PROXY: boolean.default(false).describe('trust X-Forwarded-* headers (behind a reverse proxy)'),

  // Slow and hostile clients (README: Operating ClipMask)
  HEADERS_TIMEOUT_MS: positiveInt().default(10_000).describe("a request's headers must arrive within this (slowloris)"),
  REQUEST_TIMEOUT_MS: positiveInt()
    .default(30 * 60_000)
    .describe('a whole request, upload included, must arrive within this (500 MB needs about 2.3 Mbit/s in 30 min)'),
  UPLOAD_IDLE_TIMEOUT_MS: positiveInt().default(30_000).describe('a request body (an upload) that sends nothing for this long is cut off, and what it sent deleted'),
  MAX_CONNECTIONS_PER_CLIENT: z.coerce
    .number()
    .int()
    .min(0)
    .default(64)
    .describe('open connections one client address may hold (more are closed at once); 0 = no cap. Behind a reverse proxy every client is the proxy: cap there'),

  // Webhooks (README: Webhooks)
  WEBHOOK_SECRET: z
    .string()
    .min(16, 'at least 16 characters')
    .optional()
    .describe('HMAC-SHA256 key of the ClipMask-Signature header; unset: submissions with a webhook get 400 webhooks_not_configured'),
  WEBHOOK_ATTEMPTS: positiveInt(50).default(5).describe('tries of one webhook delivery (exponential backoff between tries)'),
  WEBHOOK_BACKOFF_MS: positiveInt().default(2000).describe('delay before the second try of a delivery; doubles each try'),
  WEBHOOK_TIMEOUT_MS: positiveInt(600_000).default(10_000).describe('one delivery attempt (connect to end of the response headers) is abandoned after this'),
  WEBHOOK_ALLOW_PRIVATE: boolean
    .default(false)
    .describe('allow webhooks to private, loopback and link-local addresses (development, or receivers on an internal network)'),

  // Where job files live
  STORAGE: z.enum(STORAGE_KINDS).default('disk').describe('disk: job files under DATA_DIR (a volume shared by every worker); s3: an S3-compatible bucket, DATA_DIR only for scratch'),
  S3_ENDPOINT: z.url({ protocol: /^https?$/ }).optional().describe('S3-compatible endpoint (MinIO, R2, Ceph, `npm run s3`); unset for AWS S3'),
  S3_BUCKET: z.string().regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, 'a bucket name: 3 to 63 lower-case letters, digits, dots and hyphens').optional().describe('the bucket (required with STORAGE=s3)'),
  S3_PREFIX: z
    .string()
    .regex(/^([A-Za-z0-9._-]+\/)*$/, 'path segments each ending in "/", e.g. clipmask/')
    .default('')
    .describe('key prefix inside the bucket, e.g. clipmask/ (one bucket for several services)'),
  S3_REGION: z.string().min(1).default('us-east-1').describe('the bucket\'s region'),
  S3_PRESIGN: boolean.default(false).describe('artifact links in the job status are presigned bucket URLs (time-limited) instead of API downloads'),
}).superRefine((e, ctx) => {
  if (e.STORAGE === 's3' && !e.S3_BUCKET) ctx.addIssue({ code: 'custom', path: ['S3_BUCKET'], message: 'required with STORAGE=s3' });
});

export type Env = z.infer<typeof envSchema>;

export type Config = {
  model: string | undefined;
  manifestPath: string;
  modelCacheDir: string;
  encoderPrecision: EncoderPrecision;
  ortThreads: number;
  port: number;
  host: string;
  /** Absolute. */
  dataDir: string;
  redisUrl: string | undefined;
  logLevel: Env['LOG_LEVEL'];
  limits: {
    maxUploadBytes: number;
    maxPixels: number;
    maxFrames: number;
    maxDurationSeconds: number;
    maxObjects: number;
    maxQueuedJobs: number;
  };
  retentionHours: number;
  jobAttempts: number;
  workerConcurrency: number;
  embedChunkFrames: number;
  embedWindowFrames: number;
  keepEmbeddings: boolean;
  embeddingBudgetBytes: number;
  previewTtlMs: number;
  shutdownGraceMs: number;
  metricsPort: number | undefined;
  apiKeys: string[];
  rateLimitPerMinute: number;
  trustProxy: boolean;
  /** The API's HTTP server against slow and hostile clients. */
  http: { headersTimeoutMs: number; requestTimeoutMs: number; uploadIdleTimeoutMs: number; maxConnectionsPerClient: number };
  storage: StorageSettings;
  webhooks: {
    /** Unset: webhooks are off (submissions carrying one are refused). */
    secret: string | undefined;
    attempts: number;
    backoffMs: number;
    timeoutMs: number;
    allowPrivate: boolean;
  };
};

export class ConfigError extends Error {
  override name = 'ConfigError';
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  // An empty variable (FOO=) means "not set", as in most tools.
  const present = Object.fromEntries(Object.entries(env).filter(([, value]) => value !== ''));
  const parsed = envSchema.safeParse(present);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
    throw new ConfigError(`invalid environment: ${problems}`);
  }
  const e = parsed.data;
  return {
    model: e.CLIPMASK_MODEL,
    manifestPath: e.MODEL_MANIFEST,
    modelCacheDir: e.MODEL_CACHE_DIR,
    encoderPrecision: e.ENCODER_PRECISION,
    ortThreads: e.ORT_THREADS,
    port: e.PORT,
    host: e.HOST,
    dataDir: path.resolve(e.DATA_DIR),
    redisUrl: e.REDIS_URL,
    logLevel: e.LOG_LEVEL,
    limits: {
      maxUploadBytes: e.MAX_UPLOAD_BYTES,
      maxPixels: e.MAX_PIXELS,
      maxFrames: e.MAX_FRAMES,
      maxDurationSeconds: e.MAX_DURATION_S,
      maxObjects: e.MAX_OBJECTS,
      maxQueuedJobs: e.MAX_QUEUED_JOBS,
    },
    retentionHours: e.RETENTION_HOURS,
    jobAttempts: e.JOB_ATTEMPTS,
    workerConcurrency: e.WORKER_CONCURRENCY,
    embedChunkFrames: e.EMBED_CHUNK_FRAMES,
    embedWindowFrames: e.EMBED_WINDOW_FRAMES,
    keepEmbeddings: e.CORRECTIONS_KEEP_EMBEDDINGS,
    embeddingBudgetBytes: e.EMBEDDING_BUDGET_BYTES,
    previewTtlMs: e.PREVIEW_TTL_MINUTES * 60_000,
    shutdownGraceMs: e.SHUTDOWN_GRACE_S * 1000,
    metricsPort: e.METRICS_PORT,
    apiKeys: e.API_KEYS ?? [],
    rateLimitPerMinute: e.RATE_LIMIT_PER_MINUTE,
    trustProxy: e.TRUST_PROXY,
    http: {
      headersTimeoutMs: e.HEADERS_TIMEOUT_MS,
      requestTimeoutMs: e.REQUEST_TIMEOUT_MS,
      uploadIdleTimeoutMs: e.UPLOAD_IDLE_TIMEOUT_MS,
      // Behind a proxy every connection comes from it: a per-address cap would cap everyone together.
      maxConnectionsPerClient: e.TRUST_PROXY ? 0 : e.MAX_CONNECTIONS_PER_CLIENT,
    },
    storage: storageSettings(e, env),
    webhooks: {
      secret: e.WEBHOOK_SECRET,
      attempts: e.WEBHOOK_ATTEMPTS,
      backoffMs: e.WEBHOOK_BACKOFF_MS,
      timeoutMs: e.WEBHOOK_TIMEOUT_MS,
      allowPrivate: e.WEBHOOK_ALLOW_PRIVATE,
    },
  };
}

function storageSettings(e: Env, env: NodeJS.ProcessEnv): StorageSettings {
  if (e.STORAGE === 'disk') return { kind: 'disk' };
  // Credentials stay with the SDK's chain unless both keys are given (then these, explicitly, for every process).
  const { AWS_ACCESS_KEY_ID: accessKeyId, AWS_SECRET_ACCESS_KEY: secretAccessKey } = env;
  return {
    kind: 's3',
    bucket: e.S3_BUCKET!,
    prefix: e.S3_PREFIX,
    region: e.S3_REGION,
    endpoint: e.S3_ENDPOINT,
    presign: e.S3_PRESIGN,
    credentials: accessKeyId && secretAccessKey ? { accessKeyId, secretAccessKey } : undefined,
  };
}

/** The segmenter options a config implies. */
export function segmenterOptions(config: Config) {
  return {
    model: config.model,
    manifestPath: config.manifestPath,
    cacheDir: config.modelCacheDir,
    threads: config.ortThreads,
    encoderPrecision: config.encoderPrecision,
  };
}
