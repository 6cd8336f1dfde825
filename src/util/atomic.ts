import { randomBytes } from 'node:crypto';
import { copyFile, readdir, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';

/** A temporary name beside `target`, so the final rename stays on one file system. */
export function tempNameFor(target: string): string {
  return path.join(path.dirname(target), `.${path.basename(target)}.${randomBytes(6).toString('hex')}.tmp`);
}

/** Writes `target` so that readers see either the old file or the whole new one, never a part. */
export function writeFileAtomic(target: string, data: Uint8Array | string): Promise<void> {
  return replaceAtomic(target, (temp) => writeFile(temp, data));
}

/** Copies `source` to `target` atomically, as writeFileAtomic writes. */
export function copyFileAtomic(source: string, target: string): Promise<void> {
  return replaceAtomic(target, (temp) => copyFile(source, temp));
}

/** Makes the new file under a temporary name beside `target`, then renames it over. */
async function replaceAtomic(target: string, make: (temp: string) => Promise<void>): Promise<void> {
  const temp = tempNameFor(target);
  try {
    await make(temp);
    await rename(temp, target);
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  }
}

/**
 * The names writers here give their work in progress: `.<name>.<12 hex>.tmp` (tempNameFor; a file,
 * or the PNG folder), `.<name>.<12 hex>.partial.<ext>` and `.<name>.<12 hex>.filter` (VideoWriter).
 */
const TEMPORARY_NAME = /^\..+\.[0-9a-f]{12}(\.tmp|\.partial\.[a-z0-9]+|\.filter)$/;

export function isTemporaryName(name: string): boolean {
  return TEMPORARY_NAME.test(name);
}

/**
 * Removes the work in progress a killed writer left in `dir` (not below it): a process killed
 * with SIGKILL never renames or removes its temporary files. Only for a folder nobody writes
 * in meanwhile. Returns the names removed.
 */
export async function removeTemporaryFiles(dir: string): Promise<string[]> {
  const names = (await readdir(dir).catch(() => [] as string[])).filter(isTemporaryName);
  await Promise.all(names.map((name) => rm(path.join(dir, name), { recursive: true, force: true })));
  return names;
}
