import { rm } from 'node:fs/promises';
import path from 'node:path';
import { cacheDir, jobRelativePaths } from '../jobs/layout.js';
import type { Storage } from '../storage/storage.js';

/**
 * The API reads frames of a job's input (the page's scrubbing, a frame as
 * JPEG). On the disk storage that is the stored file itself; on object
 * storage a copy is fetched into DATA_DIR/cache once and kept for the few
 * most recently viewed jobs, deleted when it falls out, when nobody has
 * looked at it for IDLE_MS (its job may have expired meanwhile) or when its
 * job is deleted.
 */
const IDLE_MS = 10 * 60_000;
export class InputCopies {
  private readonly copies = new Map<string, Promise<string | undefined>>();
  private readonly usedAt = new Map<string, number>();
  private sweeper: NodeJS.Timeout | undefined;
  /** This process's own directory: API processes sharing a DATA_DIR never delete each other's copies. */
  private readonly dir: string;

  constructor(
    private readonly storage: Storage,
    dataDir: string,
    private readonly keep = 8,
  ) {
    this.dir = path.join(cacheDir(dataDir), `api-${process.pid}`);
  }

  /** The input's local file, or undefined when the job's input is gone. */
  async local(id: string): Promise<string | undefined> {
    const key = jobRelativePaths(id).input;
    const direct = this.storage.localPath(key);
    if (direct) return (await this.storage.head(key)) ? direct : undefined;
    let copy = this.copies.get(id);
    if (copy) {
      this.copies.delete(id); // most recently used last
    } else {
      const file = path.join(this.dir, `${id}.input`);
      copy = this.storage.getFile(key, file).then((found) => (found ? file : undefined));
      copy.catch(() => this.copies.delete(id));
    }
    this.copies.set(id, copy);
    this.usedAt.set(id, Date.now());
    this.sweeper ??= setInterval(() => void this.sweepIdle(), IDLE_MS / 10).unref();
    while (this.copies.size > this.keep) await this.forget(this.copies.keys().next().value!);
    return copy;
  }

  private async sweepIdle(): Promise<void> {
    for (const [id, at] of this.usedAt) if (Date.now() - at > IDLE_MS) await this.forget(id);
  }

  async forget(id: string): Promise<void> {
    this.usedAt.delete(id);
    if (!this.copies.delete(id)) return;
    await rm(path.join(this.dir, `${id}.input`), { force: true });
  }

  /** Every copy goes (the API stops). */
  async close(): Promise<void> {
    clearInterval(this.sweeper);
    this.copies.clear();
    this.usedAt.clear();
    await rm(this.dir, { recursive: true, force: true });
  }
}
