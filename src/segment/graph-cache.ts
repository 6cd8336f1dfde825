import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { writeFileAtomic } from '../util/atomic.js';

/**
 * Returns `target`, creating it with `make` on first use: graphs the project
 * derives from the shipped weights (the decoder edit, the int8 encoder) are
 * made once per machine, and written atomically so that concurrent workers
 * never read half a file.
 */
export async function cachedGraph(target: string, make: () => Promise<Uint8Array>): Promise<string> {
  if (existsSync(target)) return target;
  await mkdir(path.dirname(target), { recursive: true });
  await writeFileAtomic(target, await make());
  return target;
}
