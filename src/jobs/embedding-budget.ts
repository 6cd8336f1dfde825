import { readdir, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from '../logger.js';
import { isJobId, jobPaths, jobsDir } from './layout.js';

/**
 * Kept embeddings (2 MB per frame) make a correction cost decoder time only,
 * but they add up: beyond EMBEDDING_BUDGET_BYTES over all jobs, the
 * embeddings of the jobs tracked longest ago go first. A correction of such a
 * job encodes the frames it needs again (and gives the same masks).
 */

interface KeptSet {
  id: string;
  dir: string;
  bytes: number;
  /** When the job's tracking pass last touched it (its cursor file). */
  touchedAt: number;
}

async function keptSets(dataDir: string): Promise<KeptSet[]> {
  const ids = (await readdir(jobsDir(dataDir)).catch(() => [] as string[])).filter(isJobId);
  const sets: KeptSet[] = [];
  for (const id of ids) {
    const dir = jobPaths(dataDir, id).embeddings;
    const names = await readdir(dir).catch(() => undefined);
    if (!names) continue;
    let bytes = 0;
    let touchedAt = 0;
    for (const name of names) {
      const info = await stat(path.join(dir, name)).catch(() => undefined);
      if (!info) continue;
      bytes += info.size;
      touchedAt = Math.max(touchedAt, info.mtimeMs);
    }
    sets.push({ id, dir, bytes, touchedAt });
  }
  return sets;
}

/**
 * Deletes the oldest jobs' embeddings until the rest fit `budgetBytes`;
 * returns how many bytes went. Only jobs `idle(id)` says are not being
 * tracked or corrected lose theirs.
 */
export async function enforceEmbeddingBudget(dataDir: string, budgetBytes: number, idle: (id: string) => Promise<boolean>, logger?: Logger): Promise<number> {
  const sets = (await keptSets(dataDir)).sort((a, b) => a.touchedAt - b.touchedAt);
  let total = sets.reduce((sum, s) => sum + s.bytes, 0);
  let freed = 0;
  for (const set of sets) {
    if (total <= budgetBytes) break;
    if (!(await idle(set.id))) continue;
    await rm(set.dir, { recursive: true, force: true });
    total -= set.bytes;
    freed += set.bytes;
  }
  if (freed) logger?.info({ freedBytes: freed, budgetBytes }, 'kept embeddings over budget: the oldest removed');
  return freed;
}
