import { readdir, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from '../logger.js';
import type { Storage } from '../storage/storage.js';
import type { JobStore } from './job-store.js';
import { isJobId, jobRelativePaths, jobsDir, uploadsDir } from './layout.js';
import { isTerminal } from './record.js';

/**
 * The retention sweep (a repeatable `expire-jobs` job): finished jobs older
 * than RETENTION_HOURS lose their files (in storage) and their record;
 * uploads left behind by a crashed request and job folders without a record
 * go too.
 */

/** Uploads are moved or deleted within their request; one older than this was orphaned. */
const ORPHAN_UPLOAD_MS = 3600_000;

export interface RetentionDeps {
  dataDir: string;
  storage: Storage;
  retentionHours: number;
  store: JobStore;
  logger: Logger;
  now?: number;
}

export async function expireJobs(deps: RetentionDeps): Promise<{ jobs: number; orphans: number }> {
  const { dataDir, storage, retentionHours, store, logger } = deps;
  const now = deps.now ?? Date.now();
  let jobs = 0;
  let orphans = 0;
  if (retentionHours > 0) {
    const cutoff = now - retentionHours * 3600_000;
    for (const id of await store.createdBefore(cutoff)) {
      const record = await store.get(id);
      if (record && (!isTerminal(record.state) || (record.finishedAt ?? record.createdAt) >= cutoff)) continue;
      if (isJobId(id)) await storage.deletePrefix(`${jobRelativePaths(id).dir}/`);
      await store.delete(id);
      jobs++;
    }
    // Job folders whose record is gone (e.g. a crash between storing the upload and creating the record).
    for (const name of await storage.children(`${jobsDir('')}/`)) {
      if (!isJobId(name) || (await store.get(name))) continue;
      const objects = await storage.list(`${jobRelativePaths(name).dir}/`);
      if (objects.length && Math.max(...objects.map((o) => o.modified)) < cutoff) {
        await storage.deletePrefix(`${jobRelativePaths(name).dir}/`);
        orphans++;
      }
    }
  }
  for (const name of await readdir(uploadsDir(dataDir)).catch(() => [] as string[])) {
    const file = path.join(uploadsDir(dataDir), name);
    const modified = await stat(file).then((s) => s.mtimeMs, () => Infinity);
    if (modified < now - ORPHAN_UPLOAD_MS) {
      await rm(file, { recursive: true, force: true });
      orphans++;
    }
  }
  if (jobs || orphans) logger.info({ jobs, orphans }, 'retention sweep deleted old files');
  return { jobs, orphans };
}
