import { mkdir, readdir, readFile, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { writeFileAtomic } from '../util/atomic.js';
import type { Storage } from '../storage/storage.js';
import type { FrameRecord } from './masks-json.js';

/**
 * Where a run's frame records go as soon as they are final: in memory for
 * the CLI, on disk for a job (so the API process can serve them while the
 * inference child is still tracking, and a correction can rewrite a few).
 */
export interface ResultStore {
  read(frame: number): Promise<FrameRecord | undefined>;
  write(record: FrameRecord): Promise<void>;
}

/** Frames [from, to) a store has, in order. */
async function readRange(store: Pick<ResultStore, 'read'>, from: number, to: number): Promise<FrameRecord[]> {
  const out: FrameRecord[] = [];
  for (let f = from; f < to; f++) {
    const record = await store.read(f);
    if (record) out.push(record);
  }
  return out;
}

export class MemoryResults implements ResultStore {
  private readonly frames: Map<number, FrameRecord>;

  constructor(records: FrameRecord[] = []) {
    this.frames = new Map(records.map((r) => [r.frame, r]));
  }

  async read(frame: number): Promise<FrameRecord | undefined> {
    return this.frames.get(frame);
  }

  async write(record: FrameRecord): Promise<void> {
    this.frames.set(record.frame, record);
  }
}

/**
 * One JSON file per frame under `dir`, written atomically, so a reader sees
 * a frame's whole record or none. A correction writes into `pending` (a
 * sibling directory) and `commit()` moves its frames in once it is complete:
 * a correction that fails leaves the previous revision's records whole.
 * Reads look in `pending` first, so a correction's frames are seen as they
 * are made.
 */
export class FileResults implements ResultStore {
  constructor(
    readonly dir: string,
    readonly pending?: string,
  ) {}

  private file(dir: string, frame: number): string {
    return path.join(dir, `${frame}.json`);
  }

  async read(frame: number): Promise<FrameRecord | undefined> {
    for (const dir of this.pending ? [this.pending, this.dir] : [this.dir]) {
      try {
        return JSON.parse(await readFile(this.file(dir, frame), 'utf8')) as FrameRecord;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      }
    }
    return undefined;
  }

  /** Frames [from, to) that exist, in order. */
  readRange(from: number, to: number): Promise<FrameRecord[]> {
    return readRange(this, from, to);
  }

  async write(record: FrameRecord): Promise<void> {
    const dir = this.pending ?? this.dir;
    await mkdir(dir, { recursive: true });
    await writeFileAtomic(this.file(dir, record.frame), JSON.stringify(record));
  }

  /** Moves the pending frames in (each rename is atomic) and removes the pending directory. */
  async commit(): Promise<void> {
    if (!this.pending) return;
    const names = await readdir(this.pending).catch(() => [] as string[]);
    await mkdir(this.dir, { recursive: true });
    for (const name of names.filter((n) => n.endsWith('.json') && !n.startsWith('.'))) {
      await rename(path.join(this.pending, name), path.join(this.dir, name));
    }
    await rm(this.pending, { recursive: true, force: true });
  }

  /** Drops what a failed or cancelled correction wrote. */
  async discardPending(): Promise<void> {
    if (this.pending) await rm(this.pending, { recursive: true, force: true });
  }
}

/**
 * The API's view of a job's frame records, wherever they are stored (the
 * workers write them; on object storage they upload each as it is final).
 * Like FileResults, a correction's pending record is read first.
 */
export class StoredResults {
  constructor(
    private readonly storage: Storage,
    /** Storage keys of the records' directories. */
    private readonly dir: string,
    private readonly pending: string,
  ) {}

  async read(frame: number): Promise<FrameRecord | undefined> {
    for (const dir of [this.pending, this.dir]) {
      const bytes = await this.storage.get(`${dir}/${frame}.json`);
      if (bytes) return JSON.parse(bytes.toString('utf8')) as FrameRecord;
    }
    return undefined;
  }

  /** Frames [from, to) that exist, in order. */
  readRange(from: number, to: number): Promise<FrameRecord[]> {
    return readRange(this, from, to);
  }
}
