/**
 * What goes through the queues: ids and paths only (paths relative to
 * DATA_DIR), never video bytes, prompts or results. The union is keyed by job
 * name, so a processor narrows `job.name` and gets the right payload type.
 *
 * Flow of one submission today: the API adds one `track` job. The chunked
 * encoder planned for later turns it into a flow: `track` becomes the parent
 * of N `embed-chunk` children (each computes a range of frame embeddings into
 * the job's directory) and runs once they have all completed, reading the
 * embeddings through trackVideo's `embed` hook. Payloads below already carry
 * what that needs (the job id and its paths); only the producer changes
 * (FlowProducer.add instead of Queue.add).
 */

export const QUEUES = {
  /** CPU-heavy work: one job at a time per worker process. */
  track: 'clipmask-track',
  /** Housekeeping (retention), light, in-process. */
  maintenance: 'clipmask-maintenance',
} as const;

export interface TrackPayload {
  /** The job's UUID: also the BullMQ job id and the JobStore key. */
  jobId: string;
  /** The uploaded video, relative to DATA_DIR. */
  input: string;
  /** The validated prompts (JSON), relative to DATA_DIR. */
  prompts: string;
  /** Where overlay.mp4, masks.json and masks.zip go, relative to DATA_DIR. */
  outDir: string;
  /** Where the per-frame PNGs are written before zipping, relative to DATA_DIR. */
  pngDir: string;
}

/** The repeatable retention sweep: everything it needs comes from the config. */
export type ExpireJobsPayload = Record<string, never>;

export interface JobPayloads {
  track: TrackPayload;
  'expire-jobs': ExpireJobsPayload;
}

export type JobName = keyof JobPayloads;

/** A discriminated union of {name, data}: `switch (job.name)` narrows `job.data`. */
export type JobPayload = { [N in JobName]: { name: N; data: JobPayloads[N] } }[JobName];

/** Which queue each job name goes to. */
export const QUEUE_OF: { [N in JobName]: (typeof QUEUES)[keyof typeof QUEUES] } = {
  track: QUEUES.track,
  'expire-jobs': QUEUES.maintenance,
};

/** What a finished `track` job returns to BullMQ (kept small: the JobStore has the rest). */
export interface TrackResult {
  frames: number;
  seconds: number;
}
