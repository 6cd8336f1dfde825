import { UnrecoverableError } from 'bullmq';
import type { WebhookPayload, WebhookResult } from '../jobs/payloads.js';
import { webhookJobId } from '../jobs/payloads.js';
import type { JobRecord, WebhookStatus } from '../jobs/record.js';
import { DeliveryError, type Deliver, type DeliveryErrorCode } from './deliver.js';
import { sign, SIGNATURE_HEADER } from './signature.js';

/**
 * The `webhook` job: one attempt at POSTing a job's end to its webhook, and
 * the failure policy around it. A thin handler over injected ports, so the
 * policy is tested with fakes and the real sender separately:
 *   - a 2xx answer is delivered;
 *   - any other answer (a 3xx too: redirects are not followed), a timeout or a
 *     network error is a failed attempt: recorded, then thrown so BullMQ
 *     retries with backoff, until the last attempt marks the delivery failed;
 *   - a refused address fails the delivery at once (retrying would not
 *     change the policy's answer, and each try would be another probe).
 * The body is the job's status as it is when sent (the API's serializer).
 */

export interface WebhookPorts {
  /** WEBHOOK_SECRET: the signature's key. */
  secret: string;
  getRecord(jobId: string): Promise<JobRecord | undefined>;
  /** The status JSON the API answers for the record. */
  statusOf(record: JobRecord): unknown;
  deliver: Deliver;
  /** Writes the delivery's status into the job's record. */
  recordStatus(jobId: string, status: WebhookStatus): Promise<void>;
  now?: () => number;
}

/** What the processor needs of a BullMQ job (so tests can hand it a plain object). */
export interface WebhookJob {
  id?: string;
  data: WebhookPayload;
  /** Attempts already finished (0 on the first). */
  attemptsMade: number;
  opts: { attempts?: number };
}

export type WebhookAttemptErrorCode = 'http_status' | DeliveryErrorCode;

/** A failed attempt, thrown so BullMQ retries it. */
export class WebhookAttemptError extends Error {
  override name = 'WebhookAttemptError';
  constructor(
    message: string,
    readonly code: WebhookAttemptErrorCode,
  ) {
    super(message);
  }
}

/** A refused address: BullMQ fails the delivery without its remaining attempts. */
export class WebhookRefusedError extends UnrecoverableError {
  readonly code = 'address_refused';
}

const isSuccess = (status: number) => status >= 200 && status < 300;

function failedAnswer(status: number): WebhookAttemptError {
  const why = status >= 300 && status < 400 ? `HTTP ${status} (redirects are not followed)` : `HTTP ${status}`;
  return new WebhookAttemptError(why, 'http_status');
}

function headersFor(job: WebhookJob, secret: string, body: string, now: number): Record<string, string> {
  return {
    'Content-Type': 'application/json',
    'User-Agent': 'ClipMask-Webhook',
    // The same on every attempt of one delivery: receivers drop the repeats of one they already have.
    'ClipMask-Delivery': job.id ?? webhookJobId(job.data),
    'ClipMask-Event': `job.${job.data.state}`,
    [SIGNATURE_HEADER]: sign(secret, body, Math.floor(now / 1000)),
  };
}

export function createWebhookProcessor(ports: WebhookPorts): (job: WebhookJob) => Promise<WebhookResult> {
  return async (job) => {
    const { jobId } = job.data;
    const record = await ports.getRecord(jobId);
    if (!record) return { skipped: 'job gone' };
    if (!record.webhook) return { skipped: 'no webhook' };
    const now = ports.now?.() ?? Date.now();
    const body = JSON.stringify(ports.statusOf(record));
    const attempt = { url: record.webhook.url, attempts: job.attemptsMade + 1 };

    let failure: WebhookAttemptError;
    let lastStatus: number | undefined;
    try {
      const { status } = await ports.deliver({ url: record.webhook.url, body, headers: headersFor(job, ports.secret, body, now) });
      if (isSuccess(status)) {
        await ports.recordStatus(jobId, { ...attempt, state: 'delivered', lastStatus: status, deliveredAt: new Date(now).toISOString() });
        return { status };
      }
      lastStatus = status;
      failure = failedAnswer(status);
    } catch (error) {
      const code = error instanceof DeliveryError ? error.code : 'network';
      failure = new WebhookAttemptError((error as Error).message, code);
    }

    const refused = failure.code === 'address_refused';
    const final = refused || attempt.attempts >= (job.opts.attempts ?? 1);
    await ports.recordStatus(jobId, { ...attempt, state: final ? 'failed' : 'pending', ...(lastStatus !== undefined ? { lastStatus } : {}), lastError: failure.message });
    throw refused ? new WebhookRefusedError(failure.message) : failure;
  };
}
