import { createWriteStream } from 'node:fs';
import { readdir, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import yazl from 'yazl';
import { tempNameFor } from '../util/atomic.js';

/**
 * Zips every file of `dir` (flat, sorted by name) into `target`, atomically:
 * written under a temporary name and renamed when complete. PNGs are already
 * compressed, so entries are stored.
 */
export async function zipDirectory(dir: string, target: string, options: { signal?: AbortSignal } = {}): Promise<number> {
  const names = (await readdir(dir, { withFileTypes: true }))
    .filter((entry) => entry.isFile())
    .map((entry) => entry.name)
    .sort();
  const zip = new yazl.ZipFile();
  for (const name of names) zip.addFile(path.join(dir, name), name, { compress: false });
  zip.end();
  const temp = tempNameFor(target);
  try {
    await pipeline(zip.outputStream, createWriteStream(temp), { signal: options.signal });
    await rename(temp, target);
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  }
  return names.length;
}
