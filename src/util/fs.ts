import { stat } from 'node:fs/promises';

/** Whether a path exists; errors other than "not found" (permissions, I/O) are thrown. */
export async function exists(file: string): Promise<boolean> {
  try {
    await stat(file);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw error;
  }
}
