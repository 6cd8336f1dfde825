import { Queue, type ConnectionOptions } from 'bullmq';
import { QUEUES, type ExpireJobsPayload, type TrackPayload, type TrackResult } from './payloads.js';

/**
 * BullMQ behind one class: the API enqueues and inspects through it, the
 * worker schedules housekeeping through it. Nothing else imports `Queue`.
 */

export type TrackQueue = Queue<TrackPayload, TrackResult, 'track'>;
export type MaintenanceQueue = Queue<ExpireJobsPayload, unknown, 'expire-jobs'>;

export interface QueueRepositoryOptions {
  connection: ConnectionOptions;
  /** Tries per job for failures that are not the input's fault. */
  attempts: number;
  /** First retry delay; doubles each try. */
  backoffMs?: number;
}

const RETENTION_SCHEDULER = 'expire-jobs';

export class QueueRepository {
  readonly track: TrackQueue;
  readonly maintenance: MaintenanceQueue;

  constructor(private readonly options: QueueRepositoryOptions) {
    // The JobStore is the record of every job; BullMQ only keeps recent ones for the dashboard.
    const keep = { removeOnComplete: { age: 7 * 24 * 3600, count: 1000 }, removeOnFail: { age: 7 * 24 * 3600, count: 1000 } };
    this.track = new Queue(QUEUES.track, { connection: options.connection, defaultJobOptions: keep });
    this.maintenance = new Queue(QUEUES.maintenance, { connection: options.connection, defaultJobOptions: { ...keep, removeOnComplete: { count: 50 } } });
    // Connection trouble is reported by the callers' failing commands (and /readyz), not as unhandled events.
    for (const queue of [this.track, this.maintenance]) queue.on('error', () => undefined);
  }

  /** Enqueues one tracking job; its BullMQ id is the job's UUID, so adding twice is a no-op. */
  async addTrack(payload: TrackPayload): Promise<void> {
    await this.track.add('track', payload, {
      jobId: payload.jobId,
      attempts: this.options.attempts,
      backoff: { type: 'exponential', delay: this.options.backoffMs ?? 10_000 },
    });
  }

  /**
   * Takes a job out of the queue if no worker holds it. Returns false when a
   * worker is running it (it then notices the cancelled record and stops).
   */
  async removeTrack(jobId: string): Promise<boolean> {
    const state = await this.track.getJobState(jobId);
    if (state === 'unknown') return true;
    if (state === 'active') return false;
    return (await this.track.remove(jobId)) === 1;
  }

  /** Jobs not yet started (waiting, delayed for a retry, prioritized). */
  async pendingCount(): Promise<number> {
    const counts = await this.track.getJobCounts('waiting', 'delayed', 'prioritized');
    return Object.values(counts).reduce((a, b) => a + b, 0);
  }

  async trackCounts(): Promise<Record<string, number>> {
    return this.track.getJobCounts('waiting', 'active', 'delayed', 'prioritized', 'completed', 'failed');
  }

  /** Runs the retention sweep every `everyMs` (idempotent: one scheduler whatever the number of workers). */
  async scheduleRetention(everyMs: number): Promise<void> {
    await this.maintenance.upsertJobScheduler(RETENTION_SCHEDULER, { every: everyMs }, { name: 'expire-jobs', data: {} });
  }

  async unscheduleRetention(): Promise<void> {
    await this.maintenance.removeJobScheduler(RETENTION_SCHEDULER);
  }

  all(): Queue[] {
    return [this.track, this.maintenance];
  }

  async close(): Promise<void> {
    await Promise.all([this.track.close(), this.maintenance.close()]);
  }
}
