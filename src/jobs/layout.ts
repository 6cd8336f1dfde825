import path from 'node:path';

/**
 * Where a job's files live under DATA_DIR. Everything of one job is under
 * jobs/<id>/, so deleting a job is one recursive delete:
 *
 *   DATA_DIR/uploads/            multer's temporary files (moved or deleted before the request ends)
 *   DATA_DIR/jobs/<id>/input     the uploaded video, as received
 *   DATA_DIR/jobs/<id>/prompts.json
 *   DATA_DIR/jobs/<id>/video.json   the video as decoded (frames, timestamps, warnings): probed once by the
 *                                track job, so every stage counts the same frames in a damaged file
 *   DATA_DIR/jobs/<id>/embeddings/  frame embeddings shared by the workers while tracking, kept for corrections
 *   DATA_DIR/jobs/<id>/session.json the tracking session's objects (prompts, absent marks) after the newest revision
 *   DATA_DIR/jobs/<id>/corrections/<K>.json  the K-th correction, as posted
 *   DATA_DIR/jobs/<id>/out/frames/<n>.json   frame n's records, written as soon as they are final
 *   DATA_DIR/jobs/<id>/out/frames-pending/   a correction's records until it is complete
 *   DATA_DIR/jobs/<id>/out/overlay.mp4, masks.json, instances.json, masks.zip (png/ while packaging)
 *   DATA_DIR/jobs/<id>/out/renders/<revision>/<file>  renders (cutout.webm, ...), per masks revision, so a
 *                                render of older masks never overwrites a newer one
 *   DATA_DIR/previews/<id>/     a web page's upload for live previews: input, video.json, frames/<n>.jpg
 *   DATA_DIR/redis/              the private redis-server's data (when REDIS_URL is unset)
 *   DATA_DIR/scratch/<worker>/   a worker's own files while it runs a job (STORAGE=s3 only)
 *   DATA_DIR/cache/              the API's copies of inputs it reads frames from (STORAGE=s3 only)
 *
 * The paths relative to DATA_DIR are also the storage keys (see
 * src/storage): with STORAGE=s3 the same layout lives in the bucket, and
 * DATA_DIR holds only scratch files. Job payloads carry these keys.
 */

export const ARTIFACT_FILES = {
  overlay: 'overlay.mp4',
  masks: 'masks.json',
  pngZip: 'masks.zip',
  instances: 'instances.json',
} as const;

export type ArtifactName = keyof typeof ARTIFACT_FILES;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** Job ids are random UUIDs; anything else never reaches the file system. */
export function isJobId(value: string): boolean {
  return UUID.test(value);
}

export function uploadsDir(dataDir: string): string {
  return path.join(dataDir, 'uploads');
}

export function scratchDir(dataDir: string): string {
  return path.join(dataDir, 'scratch');
}

export function cacheDir(dataDir: string): string {
  return path.join(dataDir, 'cache');
}

export function jobsDir(dataDir: string): string {
  return path.join(dataDir, 'jobs');
}

/** Paths of one job, relative to DATA_DIR (what job payloads hold). */
export function jobRelativePaths(id: string) {
  if (!isJobId(id)) throw new Error(`not a job id: ${JSON.stringify(id)}`);
  const dir = path.join('jobs', id);
  const out = path.join(dir, 'out');
  return {
    dir,
    input: path.join(dir, 'input'),
    prompts: path.join(dir, 'prompts.json'),
    video: path.join(dir, 'video.json'),
    embeddings: path.join(dir, 'embeddings'),
    session: path.join(dir, 'session.json'),
    corrections: path.join(dir, 'corrections'),
    out,
    results: path.join(out, 'frames'),
    pending: path.join(out, 'frames-pending'),
    pngDir: path.join(out, 'png'),
    overlay: path.join(out, ARTIFACT_FILES.overlay),
    masks: path.join(out, ARTIFACT_FILES.masks),
    pngZip: path.join(out, ARTIFACT_FILES.pngZip),
    instances: path.join(out, ARTIFACT_FILES.instances),
    renders: path.join(out, 'renders'),
  };
}

/** What a `render` job of a job's render `file` from masks revision `revision` carries. */
export function renderPayload(id: string, file: string, revision: number) {
  const r = jobRelativePaths(id);
  return { jobId: id, file, revision, input: r.input, masks: r.masks };
}

/** Where a render made from masks revision `revision` is stored (relative to DATA_DIR). */
export function renderKey(id: string, revision: number, file: string): string {
  return path.join(jobRelativePaths(id).renders, String(revision), file);
}

export type JobPaths = ReturnType<typeof jobRelativePaths>;

/** The same paths, absolute under `dataDir`. */
export function jobPaths(dataDir: string, id: string): JobPaths {
  const relative = jobRelativePaths(id);
  return Object.fromEntries(Object.entries(relative).map(([key, value]) => [key, path.join(dataDir, value)])) as JobPaths;
}

/** The session paths a job's payloads carry (relative to DATA_DIR). */
export function sessionPaths(id: string, chunkFrames: number) {
  const r = jobRelativePaths(id);
  return { input: r.input, session: r.session, results: r.results, pending: r.pending, outDir: r.out, pngDir: r.pngDir, embeddings: r.embeddings, chunkFrames };
}

/** The K-th correction's file (relative when `dir` is). */
export function correctionFile(correctionsDir: string, revision: number): string {
  return path.join(correctionsDir, `${revision}.json`);
}

/** Resolves a payload path under DATA_DIR, refusing anything that escapes it. */
export function resolveUnder(dataDir: string, relative: string): string {
  const absolute = path.resolve(dataDir, relative);
  if (absolute !== dataDir && !absolute.startsWith(dataDir + path.sep)) throw new Error(`path escapes DATA_DIR: ${relative}`);
  return absolute;
}

export function previewsDir(dataDir: string): string {
  return path.join(dataDir, 'previews');
}

/** Files of one preview session (ids are random UUIDs, like jobs'). */
export function previewPaths(dataDir: string, id: string) {
  if (!isJobId(id)) throw new Error(`not a preview id: ${JSON.stringify(id)}`);
  const dir = path.join(previewsDir(dataDir), id);
  return { dir, input: path.join(dir, 'input'), video: path.join(dir, 'video.json'), frames: path.join(dir, 'frames') };
}
