/** A job record for tests of the job layer: a small queued job, changed by `overrides`. */
import { EMPTY_PROGRESS, type JobRecord } from '../../src/jobs/record.js';

export function jobRecord(id: string, overrides: Partial<JobRecord> = {}): JobRecord {
  return {
    id,
    state: 'queued',
    stage: 'queued',
    progress: EMPTY_PROGRESS,
    video: { width: 64, height: 48, fps: 10, frames: 5, duration: 0.5 },
    objects: 1,
    attempts: 0,
    revision: 0,
    revisionDone: -1,
    createdAt: 1,
    updatedAt: 1,
    ...overrides,
  };
}
