import { randomBytes } from 'node:crypto';
import { rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';

/** A temporary name beside `target`, so the final rename stays on one file system. */
export function tempNameFor(target: string): string {
  return path.join(path.dirname(target), `.${path.basename(target)}.${randomBytes(6).toString('hex')}.tmp`);
}

/** Writes `target` so that readers see either the old file or the whole new one, never a part. */
export async function writeFileAtomic(target: string, data: Uint8Array | string): Promise<void> {
  const temp = tempNameFor(target);
  try {
    await writeFile(temp, data);
    await rename(temp, target);
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  }
}
