import type { TerminalEvent } from '../jobs/job-store.js';
import type { WebhookPayload } from '../jobs/payloads.js';
import type { JobRecord } from '../jobs/record.js';
import type { Logger } from '../logger.js';

/**
 * The JobStore's terminal listener: a job that asked for a webhook gets a
 * `webhook` job when it ends. It runs in whichever process made the change
 * (worker or API) and never throws: the job has ended whether or not the
 * announcement could be queued, and the caller must not take it for a failure
 * of its own change.
 */
export function webhookOnTerminal(deps: {
  getRecord: (id: string) => Promise<JobRecord | undefined>;
  addWebhook: (payload: WebhookPayload) => Promise<void>;
  logger: Logger;
}): (event: TerminalEvent) => Promise<void> {
  return async ({ id, state, revision }) => {
    try {
      const record = await deps.getRecord(id);
      if (!record?.webhook || state === 'queued' || state === 'running') return;
      await deps.addWebhook({ jobId: id, state, revision });
    } catch (error) {
      deps.logger.error({ err: error, jobId: id, state }, 'could not queue the webhook delivery');
    }
  };
}
