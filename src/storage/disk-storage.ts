import { createReadStream } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { copyFileAtomic, writeFileAtomic } from '../util/atomic.js';
import { checkKey, type ObjectInfo, type ObjectStream, type Storage } from './storage.js';

/**
 * Storage on this machine's disk: key k is the file DATA_DIR/k, today's
 * layout, so a job's files are where the workers on a shared volume expect
 * them and nothing is ever copied.
 */
export class DiskStorage implements Storage {
  readonly kind = 'disk' as const;

  constructor(readonly root: string) {}

  get location(): string {
    return this.root;
  }

  async check(): Promise<void> {
    await mkdir(this.root, { recursive: true });
  }

  localPath(key: string): string {
    return path.join(this.root, ...checkKey(key).split('/'));
  }

  async put(key: string, body: Uint8Array | string): Promise<void> {
    const file = this.localPath(key);
    await mkdir(path.dirname(file), { recursive: true });
    await writeFileAtomic(file, body);
  }

  async putFile(key: string, file: string, options: { move?: boolean } = {}): Promise<void> {
    const target = this.localPath(key);
    if (path.resolve(file) === target) return;
    await mkdir(path.dirname(target), { recursive: true });
    if (options.move) return rename(file, target);
    await copyFileAtomic(file, target);
  }

  async get(key: string): Promise<Buffer | undefined> {
    return readFile(this.localPath(key)).catch(ifMissing(undefined));
  }

  async getFile(key: string, file: string): Promise<boolean> {
    const source = this.localPath(key);
    if (path.resolve(file) === source) return (await this.head(key)) !== undefined;
    await mkdir(path.dirname(file), { recursive: true });
    return copyFileAtomic(source, file).then(() => true, ifMissing(false));
  }

  async head(key: string): Promise<ObjectInfo | undefined> {
    const info = await stat(this.localPath(key)).catch(ifMissing(undefined));
    return info?.isFile() ? { key, size: info.size, modified: info.mtimeMs } : undefined;
  }

  async list(prefix: string): Promise<ObjectInfo[]> {
    const out: ObjectInfo[] = [];
    // The directory that holds every key with this prefix, then a filter on the names.
    const slash = prefix.lastIndexOf('/');
    const base = prefix.slice(0, slash + 1);
    const walk = async (relative: string): Promise<void> => {
      const dir = relative ? this.localPath(relative.slice(0, -1)) : this.root;
      for (const entry of await readdir(dir, { withFileTypes: true }).catch(ifMissing([]))) {
        if (entry.name.endsWith('.tmp') && entry.name.startsWith('.')) continue; // a write in progress
        const key = relative + entry.name;
        if (!key.startsWith(prefix) && !prefix.startsWith(key + '/')) continue;
        if (entry.isDirectory()) await walk(key + '/');
        else if (entry.isFile()) {
          const info = await this.head(key);
          if (info) out.push(info);
        }
      }
    };
    await walk(base);
    return out.sort((a, b) => (a.key < b.key ? -1 : 1));
  }

  async children(prefix: string): Promise<string[]> {
    const dir = prefix ? this.localPath(prefix.replace(/\/$/, '')) : this.root;
    return readdir(dir).catch(ifMissing([]));
  }

  async delete(key: string): Promise<void> {
    await rm(this.localPath(key), { force: true });
  }

  async deletePrefix(prefix: string): Promise<number> {
    const objects = await this.list(prefix);
    // A prefix that names a directory goes whole (with its empty subdirectories).
    if (prefix.endsWith('/')) await rm(this.localPath(prefix.slice(0, -1)), { recursive: true, force: true });
    else await Promise.all(objects.map((o) => this.delete(o.key)));
    return objects.length;
  }

  async stream(key: string, range?: string): Promise<ObjectStream | undefined> {
    const info = await this.head(key);
    if (!info) return undefined;
    const part = parseRange(range, info.size);
    if (!part) return { body: createReadStream(this.localPath(key)), status: 200, contentLength: info.size, modified: info.modified };
    return {
      body: createReadStream(this.localPath(key), { start: part.start, end: part.end }),
      status: 206,
      contentLength: part.end - part.start + 1,
      contentRange: `bytes ${part.start}-${part.end}/${info.size}`,
      modified: info.modified,
    };
  }
}

/** One byte range of a Range header (multi-range requests get the whole object, as the header allows). */
export function parseRange(header: string | undefined, size: number): { start: number; end: number } | undefined {
  const match = header ? /^bytes=(\d*)-(\d*)$/.exec(header.trim()) : null;
  if (!match || (match[1] === '' && match[2] === '') || size === 0) return undefined;
  let start: number;
  let end: number;
  if (match[1] === '') {
    start = Math.max(0, size - Number(match[2]));
    end = size - 1;
  } else {
    start = Number(match[1]);
    end = match[2] === '' ? size - 1 : Math.min(size - 1, Number(match[2]));
  }
  return start <= end && start < size ? { start, end } : undefined;
}

function ifMissing<T>(value: T): (error: unknown) => T {
  return (error) => {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return value;
    throw error;
  };
}
