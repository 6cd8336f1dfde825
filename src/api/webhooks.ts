import { Worker, type ConnectionOptions, type Job } from 'bullmq';
import type { Config } from '../config.js';
import type { JobStore } from '../jobs/job-store.js';
import { QUEUES, type WebhookPayload, type WebhookResult } from '../jobs/payloads.js';
import type { JobRecord } from '../jobs/record.js';
import type { Logger } from '../logger.js';
import type { Prompts } from '../types.js';
import { deliverWebhook } from '../webhooks/deliver.js';
import { createWebhookProcessor } from '../webhooks/processor.js';
import { checkWebhookUrl, WebhookUrlError } from '../webhooks/url-policy.js';
import { ApiError } from './errors.js';
import { toJobStatus } from './schemas.js';

/**
 * The API's side of webhooks: the submission check (job-service.ts calls it
 * once) and the delivery worker, which runs in API processes because the body
 * is the API's status JSON.
 */

const FIELD = 'prompts.webhook';

/** The record's webhook for a submission (none without one); 400 when it may not be used. */
export function submittedWebhook(prompts: Prompts, config: Config['webhooks']): Pick<JobRecord, 'webhook'> {
  if (prompts.webhook === undefined) return {};
  if (!config.secret) {
    throw new ApiError(400, 'webhooks_not_configured', 'this server sends no webhooks (WEBHOOK_SECRET is not set)', { field: FIELD });
  }
  try {
    checkWebhookUrl(prompts.webhook, config);
  } catch (error) {
    if (error instanceof WebhookUrlError) throw new ApiError(400, error.code, error.message, { field: FIELD });
    throw error;
  }
  return { webhook: { url: prompts.webhook, state: 'pending', attempts: 0 } };
}

/** The body of a delivery: the job's status JSON without the delivery's own status (it would describe the previous attempt). */
export function webhookBody(record: JobRecord): unknown {
  const { webhook: _, ...status } = toJobStatus(record);
  return status;
}

/** How many deliveries one API process sends at once (each mostly waits on the network). */
const DELIVERY_CONCURRENCY = 8;

export class WebhookWorker {
  private readonly worker: Worker<WebhookPayload, WebhookResult, 'webhook'>;
  private readonly logger: Logger;

  constructor(deps: { config: Config; logger: Logger; connection: ConnectionOptions; store: JobStore }) {
    const { config, logger, connection, store } = deps;
    this.logger = logger;
    const { secret, timeoutMs, allowPrivate } = config.webhooks;
    const deliverOne = createWebhookProcessor({
      secret: secret ?? '',
      getRecord: (id) => store.get(id),
      statusOf: webhookBody,
      deliver: (request) => deliverWebhook(request, { timeoutMs, allowPrivate }),
      recordStatus: async (id, webhook) => void (await store.update(id, { webhook })),
    });
    this.worker = new Worker(QUEUES.webhook, (job: Job<WebhookPayload, WebhookResult, 'webhook'>) => deliverOne(job), {
      connection,
      concurrency: DELIVERY_CONCURRENCY,
      autorun: false,
    });
    this.worker.on('error', (error) => logger.error({ err: error }, 'webhook worker error'));
    this.worker.on('failed', (job, error) => logger.warn({ jobId: job?.data.jobId, attempt: job?.attemptsMade, err: error.message }, 'webhook attempt failed'));
    this.worker.on('completed', (job, result) => logger.info({ jobId: job.data.jobId, state: job.data.state, ...result }, 'webhook job done'));
  }

  start(): void {
    void this.worker.run().catch((error) => this.logger.error({ err: error }, 'webhook worker stopped'));
  }

  close(): Promise<void> {
    return this.worker.close();
  }
}
