/**
 * Which frame of a job the viewer shows. While the first run goes on, the
 * viewer follows the newest tracked frame until the user moves the slider
 * back; going back to the end (or pressing Follow) follows again. Once the
 * job has complete masks every frame can be shown. Pure (tests/web/correct-units.test.ts).
 */
import type { JobStatus } from './api.js';

export interface Scrub {
  /** The frame shown, 0-based; -1 before any frame can be shown. */
  readonly frame: number;
  /** Jump to the newest tracked frame on every status. */
  readonly follow: boolean;
}

type JobFrames = Pick<JobStatus, 'state' | 'stage' | 'artifacts' | 'video' | 'progress'>;

export const initialScrub: Scrub = { frame: -1, follow: true };

/**
 * The job is producing frames for the first time: there is a "newest" to
 * follow. A correction re-tracks over complete masks, so there is not.
 */
export function isLive(job: JobFrames): boolean {
  return (job.state === 'queued' || job.state === 'running') && !job.artifacts;
}

/** How many frames (0..n-1) can be shown: all once the masks are complete, else up to progress.lastFrame. */
export function viewableFrames(job: JobFrames): number {
  const tracked = job.progress.lastFrame === null || job.progress.lastFrame === undefined ? 0 : job.progress.lastFrame + 1;
  if (job.artifacts) return Math.max(job.video.frames, tracked);
  return job.state === 'running' ? tracked : 0;
}

/** A new status: following jumps to the newest frame; else the frame stays (within range). A finished job opens on frame 0. */
export function scrubOnUpdate(scrub: Scrub, viewable: number, live: boolean): Scrub {
  if (viewable <= 0) return scrub.frame === -1 ? scrub : { frame: -1, follow: scrub.follow };
  const last = viewable - 1;
  let next: Scrub;
  if (scrub.frame < 0) next = live && scrub.follow ? { frame: last, follow: true } : { frame: 0, follow: false };
  // Following when the run ends: the newest frame is the last one; nothing is followed after that.
  else if (scrub.follow) next = { frame: last, follow: live };
  else next = { frame: Math.min(scrub.frame, last), follow: false };
  return next.frame === scrub.frame && next.follow === scrub.follow ? scrub : next;
}

/** The user moved the slider (or stepped): that frame; following again only when it is the newest of a live job. */
export function scrubOnSeek(frame: number, viewable: number, live: boolean): Scrub {
  if (viewable <= 0) return { frame: -1, follow: live };
  const last = viewable - 1;
  const clamped = Math.max(0, Math.min(last, Math.round(frame)));
  return { frame: clamped, follow: live && clamped === last };
}

/** "Frame 8 of 14", while live with how far the tracking is. */
export function scrubLabel(scrub: Scrub, viewable: number, totalFrames: number, live: boolean): string {
  const total = Math.max(totalFrames, viewable);
  if (scrub.frame < 0) return live ? 'Waiting for the first tracked frame…' : '';
  const base = `Frame ${scrub.frame + 1} of ${total}`;
  if (!live) return base;
  return scrub.follow ? `${base} · the newest tracked` : `${base} · ${viewable} tracked so far`;
}

/**
 * Whether the frame's image can be kept (and taken from the browser's
 * cache) for this revision: complete masks, or a frame of the first run
 * that is final already. During a correction frames change under the same
 * revision number, so nothing is kept.
 */
export function frameIsFinal(job: JobFrames, frame: number): boolean {
  if (job.state === 'succeeded') return true;
  if (job.state !== 'running' || job.stage === 'correcting' || job.artifacts) return false;
  return job.progress.lastFrame !== null && job.progress.lastFrame !== undefined && frame <= job.progress.lastFrame;
}
