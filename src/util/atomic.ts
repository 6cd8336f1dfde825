import { randomBytes } from 'node:crypto';
import { copyFile, rename, rm, writeFile } from 'node:fs/promises';
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
