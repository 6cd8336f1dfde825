import { readdir, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from '../logger.js';
import type { JobStore } from './job-store.js';
import { isJobId, jobPaths, jobsDir, uploadsDir } from './layout.js';
import { isTerminal } from './record.js';

/**
 * The retention sweep (a repeatable `expire-jobs` job): finished jobs older
 * than RETENTION_HOURS lose their files and their record; uploads left behind
 * by a crashed request and job folders without a record go too.
 */

/** Uploads are moved or deleted within their request; one older than this was orphaned. */
const ORPHAN_UPLOAD_MS = 3600_000;

export async function expireJobs(deps: { dataDir: string; retentionHours: number; store: JobStore; logger: Logger; now?: number }): Promise<{ jobs: number; orphans: number }> {
  const { dataDir, retentionHours, store, logger } = deps;
  const now = deps.now ?? Date.now();
  let jobs = 0;
  let orphans = 0;
  if (retentionHours > 0) {
    const cutoff = now - retentionHours * 3600_000;
    for (const id of await store.createdBefore(cutoff)) {
      const record = await store.get(id);
      if (record && (!isTerminal(record.state) || (record.finishedAt ?? record.createdAt) >= cutoff)) continue;
      if (isJobId(id)) await rm(jobPaths(dataDir, id).dir, { recursive: true, force: true });
      await store.delete(id);
      jobs++;
    }
    // Job folders whose record is gone (e.g. a crash between creating the folder and the record).
    for (const name of await listDir(jobsDir(dataDir))) {
      const dir = path.join(jobsDir(dataDir), name);
      if (!isJobId(name) || (await store.get(name))) continue;
      if ((await mtimeOf(dir)) < cutoff) {
        await rm(dir, { recursive: true, force: true });
        orphans++;
      }
    }
  }
  for (const name of await listDir(uploadsDir(dataDir))) {
    const file = path.join(uploadsDir(dataDir), name);
    if ((await mtimeOf(file)) < now - ORPHAN_UPLOAD_MS) {
      await rm(file, { recursive: true, force: true });
      orphans++;
    }
  }
  if (jobs || orphans) logger.info({ jobs, orphans }, 'retention sweep deleted old files');
  return { jobs, orphans };
}

async function listDir(dir: string): Promise<string[]> {
  return readdir(dir).catch(() => []);
}

async function mtimeOf(file: string): Promise<number> {
  return stat(file).then(
    (s) => s.mtimeMs,
    () => Infinity,
  );
}
