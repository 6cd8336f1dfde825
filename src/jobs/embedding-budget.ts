import type { Logger } from '../logger.js';
import type { Storage } from '../storage/storage.js';
import { isJobId, jobRelativePaths, jobsDir } from './layout.js';

/**
 * Kept embeddings (2 MB per frame) make a correction cost decoder time only,
 * but they add up: beyond EMBEDDING_BUDGET_BYTES over all jobs, the
 * embeddings of the jobs tracked longest ago go first. A correction of such a
 * job encodes the frames it needs again (and gives the same masks).
 */

interface KeptSet {
  id: string;
  prefix: string;
  bytes: number;
  /** When the job's tracking pass last wrote to it. */
  touchedAt: number;
}

async function keptSets(storage: Storage): Promise<KeptSet[]> {
  const ids = (await storage.children(`${jobsDir('')}/`)).filter(isJobId);
  const sets: KeptSet[] = [];
  for (const id of ids) {
    const prefix = `${jobRelativePaths(id).embeddings}/`;
    const objects = await storage.list(prefix);
    if (!objects.length) continue;
    sets.push({ id, prefix, bytes: objects.reduce((sum, o) => sum + o.size, 0), touchedAt: Math.max(...objects.map((o) => o.modified)) });
  }
  return sets;
}

/**
 * Deletes the oldest jobs' embeddings until the rest fit `budgetBytes`;
 * returns how many bytes went. Only jobs `idle(id)` says are not being
 * tracked or corrected lose theirs.
 */
export async function enforceEmbeddingBudget(storage: Storage, budgetBytes: number, idle: (id: string) => Promise<boolean>, logger?: Logger): Promise<number> {
  const sets = (await keptSets(storage)).sort((a, b) => a.touchedAt - b.touchedAt);
  let total = sets.reduce((sum, s) => sum + s.bytes, 0);
  let freed = 0;
  for (const set of sets) {
    if (total <= budgetBytes) break;
    if (!(await idle(set.id))) continue;
    await storage.deletePrefix(set.prefix);
    total -= set.bytes;
    freed += set.bytes;
  }
  if (freed) logger?.info({ freedBytes: freed, budgetBytes }, 'kept embeddings over budget: the oldest removed');
  return freed;
}
