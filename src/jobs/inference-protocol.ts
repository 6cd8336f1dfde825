import type { Prompts } from '../types.js';
import type { JobVideo } from './record.js';

/**
 * Messages between a worker process and its inference child (IPC, JSON).
 * The child owns the model and runs trackVideo; the worker process keeps
 * its event loop free for BullMQ's lock renewals and the job bookkeeping.
 */

export interface TrackRequest {
  /** Absolute paths. */
  input: string;
  prompts: Prompts;
  outDir: string;
  pngDir: string;
}

export interface TrackOutcome {
  video: JobVideo;
  frames: number;
}

/** An error as it crosses the process boundary: enough to classify it, never a stack for users. */
export interface SerializedError {
  name: string;
  message: string;
  code?: string;
  field?: string;
  /** For logs only (ffmpeg's stderr tail, a stack). */
  detail?: string;
}

export type ToChild = { type: 'track'; runId: number; request: TrackRequest } | { type: 'cancel'; runId: number; reason: string };

export type FromChild =
  | { type: 'ready'; model: string }
  | { type: 'init-failed'; error: SerializedError }
  | { type: 'progress'; runId: number; pass: 'backward' | 'forward'; framesDone: number; framesTotal: number }
  | { type: 'done'; runId: number; outcome: TrackOutcome }
  | { type: 'failed'; runId: number; error: SerializedError };

export function serializeError(error: unknown): SerializedError {
  if (!(error instanceof Error)) return { name: 'Error', message: String(error) };
  const e = error as Error & { code?: unknown; field?: unknown; detail?: unknown };
  return {
    name: e.name,
    message: e.message,
    code: typeof e.code === 'string' ? e.code : undefined,
    field: typeof e.field === 'string' ? e.field : undefined,
    detail: typeof e.detail === 'string' ? e.detail : e.stack,
  };
}
