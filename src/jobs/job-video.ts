import { probeInput } from '../media/index.js';
import type { Storage } from '../storage/storage.js';
import type { VideoMeta } from '../types.js';
import type { JobWorkspace } from './workspace.js';

/**
 * A job's video as every stage sees it. The API probes an upload from its
 * packet list (cheap, while the client waits); the track job decodes it once
 * before any frame is processed, because a corrupt packet in the middle drops
 * frames that no header or packet list shows, and stores what it found as
 * video.json. Embed helpers, corrections, renders and the API's frame images
 * read that file, so all of them count the same frames with the same
 * timestamps.
 */

/** The track job's step: decodes the input unless an earlier attempt did, and stores the result. */
export async function decodeJobVideo(workspace: JobWorkspace, signal?: AbortSignal): Promise<VideoMeta> {
  const stored = await readStoredVideo(workspace.storage, workspace.keys.video);
  if (stored) return stored;
  const meta = await probeInput(await workspace.input(), { decode: true, signal });
  await workspace.writeText(workspace.keys.video, JSON.stringify(meta));
  return meta;
}

/** The decoded video of a job, once its track job has stored it. */
export async function readStoredVideo(storage: Storage, key: string): Promise<VideoMeta | undefined> {
  const bytes = await storage.get(key);
  return bytes === undefined ? undefined : (JSON.parse(bytes.toString('utf8')) as VideoMeta);
}

/** For the stages after tracking: the stored video; a probe of `input` for a job tracked before video.json existed. */
export async function jobVideo(workspace: JobWorkspace, input: string, signal?: AbortSignal): Promise<VideoMeta> {
  return (await readStoredVideo(workspace.storage, workspace.keys.video)) ?? probeInput(input, { timeoutMs: 30_000, signal });
}
