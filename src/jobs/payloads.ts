/**
 * What goes through the queues: ids and paths only (paths relative to
 * DATA_DIR), never video bytes, prompts or results. The union is keyed by job
 * name, so a processor narrows `job.name` and gets the right payload type.
 *
 * One submission is one `track` job plus an `embed` job per chunk of frames
 * after the first, and later one `correct` job per correction, all in the same queue (so one worker slot means one
 * inference process, whichever it runs). The track job runs the tracking pass
 * in frame order; idle workers pick the embed jobs and encode those chunks
 * into the job's embedding store ahead of it (see shared-embeddings.ts).
 * With one worker, the track job simply encodes every chunk itself and the
 * embed jobs find nothing left to do. A `render` job (ffmpeg and painting,
 * no model) makes a render from masks.json and the source; it also takes a
 * worker slot, as it is CPU work.
 */

export const QUEUES = {
  /** CPU-heavy work: tracking passes and embedding chunks, one at a time per inference process. */
  track: 'clipmask-track',
  /** Housekeeping (retention), light, in-process. */
  maintenance: 'clipmask-maintenance',
  /** Webhook deliveries: network waits only, run by the API processes (the status JSON is theirs). */
  webhook: 'clipmask-webhook',
} as const;

export interface TrackPayload extends SessionPaths {
  /** The job's UUID: also the BullMQ job id and the JobStore key. */
  jobId: string;
  /** The validated prompts (JSON), relative to DATA_DIR. */
  prompts: string;
  /** Where corrections posted during the run are (corrections/<K>.json). */
  corrections: string;
}

/** The job's tracking session on disk, relative to DATA_DIR. */
export interface SessionPaths {
  input: string;
  /** The session's objects after the newest finished revision. */
  session: string;
  /** Frame records, and a correction's until it is complete. */
  results: string;
  pending: string;
  outDir: string;
  pngDir: string;
  embeddings: string;
  chunkFrames: number;
}

/** Apply correction `revision` (corrections/<revision>.json) to a tracked job: in revision order. */
export interface CorrectPayload extends SessionPaths {
  jobId: string;
  revision: number;
  /** corrections/<revision>.json */
  correction: string;
  /** The submitted prompts: the session's objects while no session.json exists yet. */
  prompts: string;
}

export interface EmbedPayload {
  jobId: string;
  input: string;
  embeddings: string;
  chunkFrames: number;
  /** Frames [chunk*chunkFrames, (chunk+1)*chunkFrames). */
  chunk: number;
}

/** Make (or make again) one render of a job from revision `revision`'s masks; what to render is the job's render record. */
export interface RenderPayload {
  jobId: string;
  /** The render's file name (its record's key). */
  file: string;
  revision: number;
  input: string;
  masks: string;
}

/** The repeatable retention sweep: everything it needs comes from the config. */
export type ExpireJobsPayload = Record<string, never>;

/** POST the end of a job to its webhook: which end it was, not the status (that is read when sending). */
export interface WebhookPayload {
  jobId: string;
  state: 'succeeded' | 'failed' | 'cancelled';
  /** The revision that ended (a job succeeds once per correction). */
  revision: number;
}

export interface JobPayloads {
  track: TrackPayload;
  correct: CorrectPayload;
  embed: EmbedPayload;
  render: RenderPayload;
  'expire-jobs': ExpireJobsPayload;
  webhook: WebhookPayload;
}

export type JobName = keyof JobPayloads;

/** A discriminated union of {name, data}: `switch (job.name)` narrows `job.data`. */
export type JobPayload = { [N in JobName]: { name: N; data: JobPayloads[N] } }[JobName];

/** Which queue each job name goes to. */
export const QUEUE_OF: { [N in JobName]: (typeof QUEUES)[keyof typeof QUEUES] } = {
  track: QUEUES.track,
  correct: QUEUES.track,
  embed: QUEUES.track,
  render: QUEUES.track,
  'expire-jobs': QUEUES.maintenance,
  webhook: QUEUES.webhook,
};

/** What a finished `track` job returns to BullMQ (kept small: the JobStore has the rest). */
export interface TrackResult {
  frames: number;
  seconds: number;
  /** Where the tracking pass got its embeddings: encoded in order, encoded ahead while waiting, read from the store. */
  embeddings?: { encodedHere: number; encodedAhead: number; readFromStore: number };
}

/** What a `correct` job returns: what it re-tracked, or why it had nothing to do. */
export interface CorrectResult {
  changes: { objectId: number; from: number; to: number }[];
  skipped?: 'applied' | 'job over';
}

/** What a finished `embed` job returns: frames encoded, or why it had nothing to do. */
export interface EmbedResult {
  encoded: number;
  skipped?: string;
}

/** The BullMQ job id of a correction. */
export function correctJobId(jobId: string, revision: number): string {
  return `${jobId}-correct-${revision}`;
}

/** What a `webhook` job returns: the answer's status, or why nothing was sent. */
export interface WebhookResult {
  status?: number;
  skipped?: 'job gone' | 'no webhook';
}

/** The BullMQ job id of a delivery: one per job, terminal state and revision, so an end signalled twice is sent once. */
export function webhookJobId(payload: WebhookPayload): string {
  return `${payload.jobId}-webhook-${payload.state}-${payload.revision}`;
}

/** What a `render` job returns: the file's size, or why nothing was made. */
export interface RenderResult {
  bytes?: number;
  skipped?: 'job over' | 'superseded';
}

/** The BullMQ job id of a render (one per file and masks revision: asking twice is a no-op). */
export function renderJobId(payload: Pick<RenderPayload, 'jobId' | 'file' | 'revision'>): string {
  return `${payload.jobId}-render-${payload.file}-${payload.revision}`;
}

/** The BullMQ job id of a chunk (custom ids may not contain ':'). */
export function embedJobId(jobId: string, chunk: number): string {
  return `${jobId}-embed-${chunk}`;
}
