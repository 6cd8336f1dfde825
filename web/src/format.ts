/** Words for people: stages, times, sizes and errors. Pure. */
import type { JobStatus } from './api.js';

type Stage = JobStatus['stage'];
type State = JobStatus['state'];

const STAGE_WORDS: Record<Stage, string> = {
  queued: 'Waiting in the queue',
  starting: 'Starting (loading the model)',
  tracking: 'Tracking the objects',
  correcting: 'Re-tracking the corrected objects',
  packaging: 'Packaging the masks',
  done: 'Done',
};

const STATE_WORDS: Record<State, string> = {
  queued: 'Queued',
  running: 'Running',
  succeeded: 'Done',
  failed: 'Failed',
  cancelled: 'Cancelled',
};

export function stageText(stage: Stage): string {
  return STAGE_WORDS[stage] ?? stage;
}

export function stateText(state: State): string {
  return STATE_WORDS[state] ?? state;
}

/** "about 5 s", "about 2 min 10 s", "" when unknown. */
export function formatEta(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds) || seconds < 0) return '';
  const s = Math.round(seconds);
  if (s < 1) return 'less than a second';
  if (s < 60) return `about ${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `about ${m} min${s % 60 ? ` ${s % 60} s` : ''}`;
  const h = Math.floor(m / 60);
  return `about ${h} h${m % 60 ? ` ${m % 60} min` : ''}`;
}

/** "0:03.25" style position from seconds. */
export function formatClock(seconds: number): string {
  const safe = Math.max(0, seconds);
  const m = Math.floor(safe / 60);
  const s = safe - m * 60;
  return `${m}:${s.toFixed(2).padStart(5, '0')}`;
}

export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  const units = ['KB', 'MB', 'GB'];
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value < 10 ? value.toFixed(1) : Math.round(value)} ${units[unit]}`;
}

/** "just now", "5 min ago", "3 h ago", else a date. */
export function formatAgo(iso: string | null, now = Date.now()): string {
  if (!iso) return '';
  const then = Date.parse(iso);
  if (!Number.isFinite(then)) return '';
  const seconds = Math.round((now - then) / 1000);
  if (seconds < 45) return 'just now';
  if (seconds < 3600) return `${Math.max(1, Math.round(seconds / 60))} min ago`;
  if (seconds < 86_400) return `${Math.round(seconds / 3600)} h ago`;
  return new Date(then).toLocaleString();
}

const ERROR_WORDS: Record<string, string> = {
  network: 'The server could not be reached. Check that ClipMask is running, then try again.',
  not_a_video: 'That file is not a video ClipMask can read. Try an MP4, MOV, WebM or MKV file.',
  no_video_stream: 'That file has no picture in it (only sound?). Choose a video file.',
  zero_frames: 'That video has no frames.',
  truncated: 'That video file seems to be cut short or damaged.',
  upload_too_large: 'That file is larger than the server accepts.',
  video_too_large: 'The video’s picture is larger than the server accepts; a smaller resolution would work.',
  video_too_long: 'The video is longer than the server accepts; a shorter clip would work.',
  too_large: 'The video is larger than the server accepts.',
  too_many_objects: 'There are more objects than the server accepts in one job; delete some.',
  queue_full: 'The server is busy with other jobs. Try again in a little while.',
  unavailable: 'The server is temporarily unavailable. Try again shortly.',
  outside_frame: 'A point or box lies outside the frame.',
  frame_out_of_range: 'A prompt is on a frame the video does not have.',
  invalid_prompts: 'The server refused the clicks.',
  invalid_render: 'The server refused the render.',
  cancelled: 'The job was cancelled.',
  internal: 'Something went wrong on the server.',
  not_found: 'The server no longer has this (it may have expired).',
  unauthorized: 'This server needs an API key: enter it at the top of the page.',
  rate_limited: 'Too many requests in a short time. Wait a moment and try again.',
  preview_not_found: 'The preview of this video has expired on the server.',
  not_correctable: 'This job cannot be corrected now.',
  frame_not_ready: 'That frame is not tracked yet.',
  invalid_json: 'The server could not read the request.',
  job_not_succeeded: 'Renders are made from a finished job: wait until it is done.',
  too_many_renders: 'This job has as many renders as it can keep.',
};

/**
 * A warning of a job (a damaged video processed as far as it decodes) as a
 * sentence for people: the server's message, which says which frames.
 */
export function describeWarning(warning: { code: string; message: string }): string {
  const message = warning.message.trim().replace(/\.$/, '');
  return warning.code === 'frames_missing' ? `The video is damaged: ${message}.` : `${capitalize(message)}.`;
}

/**
 * A sentence for people from an error code and the server's own message:
 * our words for codes we know, then the server's message when it adds something.
 */
export function describeError(code: string, message?: string): string {
  const words = ERROR_WORDS[code];
  const detail = message?.trim();
  if (!words) return detail ? capitalize(detail.endsWith('.') ? detail : `${detail}.`) : 'Something went wrong.';
  if (!detail || code === 'network' || code === 'internal' || code === 'cancelled') return words;
  return `${words} Details: ${detail.replace(/\.$/, '')}.`;
}

function capitalize(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}
