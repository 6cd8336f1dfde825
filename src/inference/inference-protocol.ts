import type { Box, Correction, Prompts, PromptPoint, Speed } from '../types.js';
import type { ObjectChange, RunningCorrection, SessionObject } from '../pipeline/tracking-session.js';

export type { RunningCorrection } from '../pipeline/tracking-session.js';
import type { VideoMeta } from '../types.js';

/** The video's measures as the job record keeps them. */
export type VideoSummary = Pick<VideoMeta, 'width' | 'height' | 'fps' | 'frames' | 'duration'>;

export function videoSummary(meta: VideoMeta): VideoSummary {
  const { width, height, fps, frames, duration } = meta;
  return { width, height, fps, frames, duration };
}
import type { HelperOutcome } from './shared-embeddings.js';

/**
 * Messages between a worker process and its inference child (IPC, JSON).
 * The child owns the model and runs trackVideo or encodes a chunk of frames
 * for another worker's tracking pass; the worker process keeps
 * its event loop free for BullMQ's lock renewals and the job bookkeeping.
 */

/** The job's shared embedding store (see shared-embeddings.ts). */
export interface EmbeddingStoreRef {
  /** Absolute path of the job's embeddings directory (the disk storage). */
  dir: string;
  /** Object storage: the frames under this key prefix, the chunk claims in this Redis. */
  remote?: { prefix: string; claims: string; redisUrl: string };
  chunkFrames: number;
  /** The claimant's name, stable across attempts. */
  owner: string;
}

/** A job's tracking session on disk (absolute paths). */
export interface SessionFiles {
  input: string;
  /** The frame records: one JSON file per frame. */
  results: string;
  /** Where a correction writes its frame records until they are complete. */
  pending: string;
  outDir: string;
  pngDir: string;
}

export interface TrackRequest extends SessionFiles {
  /** The job's video as it decodes (the worker probed it; the child does not again). */
  video: VideoMeta;
  prompts: Prompts;
  embeddings: EmbeddingStoreRef & { windowFrames: number; keep: boolean };
}

export interface TrackOutcome {
  video: VideoSummary;
  frames: number;
  embeddings: { encodedHere: number; encodedAhead: number; readFromStore: number };
  /** The session's objects after the run (corrections applied during it included). */
  objects: SessionObject[];
  /** The newest correction applied during the run (0: none), and what those corrections re-tracked. */
  revision: number;
  changes: ObjectChange[];
}

/** Re-track what a correction changed in a finished session and render its artifacts again. */
export interface CorrectRequest extends SessionFiles {
  video: VideoMeta;
  objects: SessionObject[];
  correction: Correction;
  /** The job's speed (its submitted prompts'): a correction re-tracks as the first run tracked. */
  speed?: Speed;
  /** The job's kept embeddings (frames whose embedding is gone are encoded again, not stored). */
  embeddings: Omit<EmbeddingStoreRef, 'owner'>;
}

export interface CorrectOutcome {
  objects: SessionObject[];
  changes: ObjectChange[];
  embeddings: { read: number; encoded: number };
}

/** One chunk of frames for a helper to encode into the store. */
export interface EmbedRequest {
  input: string;
  video: VideoMeta;
  embeddings: EmbeddingStoreRef;
  chunk: number;
}

export type EmbedOutcome = HelperOutcome;

/**
 * The live preview of the web page: the mask some clicks give on one frame.
 * Without points or box it only computes (and caches) the frame's embedding.
 */
export interface PreviewRequest {
  input: string;
  frame: number;
  points: PromptPoint[];
  box?: Box;
}

export interface PreviewOutcome {
  width: number;
  height: number;
  /** Uncompressed COCO RLE counts (column-major, starting with a run of 0s); absent for an embedding-only request. */
  counts?: number[];
  score?: number;
  area?: number;
  embedMs: number;
  decodeMs: number;
}

/** Where a run is: frames done of all it goes through, and the newest frame whose masks are final. */
export interface TrackProgressMessage {
  pass: 'backward' | 'forward';
  framesDone: number;
  framesTotal: number;
  lastFrame?: number;
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

export type RunRequest =
  | { type: 'track'; request: TrackRequest }
  | { type: 'correct'; request: CorrectRequest }
  | { type: 'embed'; request: EmbedRequest }
  | { type: 'preview'; request: PreviewRequest };

/** What each kind of run resolves to. */
export interface RunOutcomes {
  track: TrackOutcome;
  correct: CorrectOutcome;
  embed: EmbedOutcome;
  preview: PreviewOutcome;
}

export type ToChild =
  | (RunRequest & { runId: number })
  | { type: 'cancel'; runId: number; reason: string }
  | { type: 'correction'; runId: number; correction: RunningCorrection };

export type FromChild =
  | { type: 'ready'; model: string }
  | { type: 'init-failed'; error: SerializedError }
  | { type: 'progress'; runId: number; progress: TrackProgressMessage }
  | { type: 'done'; runId: number; outcome: RunOutcomes[keyof RunOutcomes] }
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
