import { UnrecoverableError } from 'bullmq';
import { InferenceError, RunAbortedError } from '../inference/inference-process.js';
import { isMediaError, type MediaErrorCode } from '../media/index.js';
import { PromptsError } from '../prompts.js';
import { StorageError } from '../storage/storage.js';
import type { JobStore } from './job-store.js';
import type { JobError, JobProgress, JobStage } from './record.js';

/**
 * What a track or correct job does when its run ends early, as one pure
 * decision (unit-tested), and the once-a-second heartbeat that notices a
 * DELETE. The processors carry the decision out.
 */

export const CANCELLED = 'cancelled';
export const SHUTDOWN = 'shutdown';

/** MediaError codes that mean "this input cannot be processed": retrying will not help. */
const INPUT_MEDIA_CODES: ReadonlySet<MediaErrorCode> = new Set<MediaErrorCode>([
  'not_found',
  'not_a_video',
  'no_video_stream',
  'zero_frames',
  'truncated',
  'undecodable',
  'too_large',
  'frame_size_mismatch',
  'bad_image',
  'duplicate_frame_name',
]);

/** What the job's record says about a failure; user-safe messages only. */
export function describeFailure(error: unknown): { jobError: JobError; unrecoverable: boolean } {
  // Retried (space may be freed), but said plainly.
  if ((error as { code?: unknown } | undefined)?.code === 'ENOSPC') {
    return { jobError: { code: 'disk_full', message: 'the server ran out of disk space while processing the job' }, unrecoverable: false };
  }
  const stored = storageFailure(error);
  if (stored) return { jobError: stored, unrecoverable: false };
  // From the inference child (an InferenceError naming the kind), or from this process (the decode pass).
  const kind = error instanceof InferenceError ? error.kind : isMediaError(error) ? 'MediaError' : error instanceof PromptsError ? 'PromptsError' : undefined;
  const code = (error as { code?: unknown } | undefined)?.code;
  if (kind === 'MediaError' && typeof code === 'string' && INPUT_MEDIA_CODES.has(code as MediaErrorCode)) {
    return { jobError: { code, message: (error as Error).message }, unrecoverable: true };
  }
  if (kind === 'PromptsError') return { jobError: { code: 'invalid_prompts', message: (error as Error).message }, unrecoverable: true };
  if (error instanceof UnrecoverableError) {
    return { jobError: { code: typeof code === 'string' ? code : 'unprocessable', message: error.message }, unrecoverable: true };
  }
  return { jobError: { code: 'internal', message: 'the job failed on the server; see the server logs' }, unrecoverable: false };
}

/** Object storage refused or ran out of room (here or in the inference child): retried, and said with its own code. */
function storageFailure(error: unknown): JobError | undefined {
  const code = error instanceof StorageError ? error.code : error instanceof InferenceError && error.kind === 'StorageError' ? error.code : undefined;
  if (code === 'storage_full') return { code, message: 'the object storage is full; the job could not store its files' };
  if (code === 'storage_denied') return { code, message: 'the object storage refused access; the job could not store its files' };
  if (code === 'storage_unavailable') return { code, message: 'the object storage could not be reached while processing the job' };
  return undefined;
}

export type RunEnding =
  /** The worker is shutting down: the job goes back to the queue for another worker. */
  | { action: 'hand-back' }
  /** DELETE (or the job ended otherwise): stop, record nothing more. */
  | { action: 'cancel' }
  /** Another attempt follows (with backoff). */
  | { action: 'retry'; jobError: JobError }
  /** The last attempt, or the input's fault. */
  | { action: 'fail'; jobError: JobError; unrecoverable: boolean };

export interface EndingContext {
  /** The run's abort signal fired, with this reason. */
  aborted: boolean;
  reason: unknown;
  /** A BullMQ lock token: the job can be moved back to waiting. */
  canHandBack: boolean;
  attemptsMade: number;
  attempts: number;
}

export function endingFor(error: unknown, context: EndingContext): RunEnding {
  const aborted = error instanceof RunAbortedError || context.aborted;
  const reason = error instanceof RunAbortedError ? error.reason : context.reason;
  // A shutdown without a lock token to hand the job back with counts as a failed attempt.
  if (aborted && reason === SHUTDOWN && context.canHandBack) return { action: 'hand-back' };
  if (aborted && reason !== SHUTDOWN) return { action: 'cancel' };
  const { jobError, unrecoverable } = describeFailure(error);
  if (unrecoverable || context.attemptsMade + 1 >= context.attempts) return { action: 'fail', jobError, unrecoverable };
  return { action: 'retry', jobError };
}

/** An UnrecoverableError that carries the user-facing code. */
export function inputError(error: JobError): UnrecoverableError {
  return Object.assign(new UnrecoverableError(error.message), { code: error.code });
}

/**
 * Writes the stage and progress once a second while the record is running,
 * and aborts the run (CANCELLED) once it is not: a DELETE is noticed within
 * a second. `onBeat` runs after each write (corrections for a running run).
 */
export class Heartbeat {
  private beating = false;
  private lastPercent = -1;
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly parts: {
      store: JobStore;
      jobId: string;
      controller: AbortController;
      snapshot: () => { stage: JobStage; progress: JobProgress };
      onPercent: (progress: JobProgress) => Promise<void>;
      onBeat?: () => Promise<void>;
      onError: (error: unknown) => void;
    },
  ) {
    this.timer = setInterval(() => void this.beat(), 1000);
  }

  async beat(): Promise<void> {
    if (this.beating) return; // a slow Redis must not pile writes up
    this.beating = true;
    const { store, jobId, controller } = this.parts;
    try {
      const { stage, progress } = this.parts.snapshot();
      const outcome = await store.update(jobId, { stage, progress }, { only: ['running'] });
      if (!outcome.applied && !controller.signal.aborted) controller.abort(CANCELLED);
      if (progress.percent !== this.lastPercent) {
        this.lastPercent = progress.percent;
        await this.parts.onPercent(progress);
      }
      await this.parts.onBeat?.();
    } catch (error) {
      this.parts.onError(error);
    } finally {
      this.beating = false;
    }
  }

  stop(): void {
    clearInterval(this.timer);
  }
}
