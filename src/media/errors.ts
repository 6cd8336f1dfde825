/**
 * Errors raised by the media layer.
 *
 * `message` is one human sentence naming the problem ("the file is a still
 * image, not a video"); it is safe to show to the person who uploaded the file.
 * It never contains a stack, a path on our disk or the ffmpeg command line.
 * What ffmpeg printed goes to `detail`, for logs only.
 */

export type MediaErrorCode =
  /** The path does not exist. */
  | 'not_found'
  /** Not a file ffmpeg can read as a video (text, empty, unsupported format, still image). */
  | 'not_a_video'
  /** A media file, but only audio (or subtitles / data). */
  | 'no_video_stream'
  /** A video stream with no frames in it. */
  | 'zero_frames'
  /** The file is cut short (moov atom missing, data ends early, decode stopped early). */
  | 'truncated'
  /** A video by its headers whose frames do not decode (ffmpeg stops with an error before the first one). */
  | 'undecodable'
  /** Bigger than the configured limits (pixels, frames, duration). */
  | 'too_large'
  /** A frame directory whose images do not all have the same size. */
  | 'frame_size_mismatch'
  /** A frame directory with a file that is not a readable image. */
  | 'bad_image'
  /** A frame directory with two files that give the same frame name (a.jpg and a.png). */
  | 'duplicate_frame_name'
  /** ffmpeg / ffprobe exited with an error we could not classify further. */
  | 'ffmpeg_failed'
  /** No ffmpeg / ffprobe binary could be found. */
  | 'ffmpeg_missing'
  /** ffmpeg / ffprobe ran longer than allowed and was killed. */
  | 'timeout'
  /** The caller cancelled (AbortSignal). */
  | 'aborted';

export interface MediaErrorOptions {
  /** The last lines ffmpeg wrote to stderr, for logs. Never shown to users. */
  detail?: string;
  cause?: unknown;
}

export class MediaError extends Error {
  override readonly name = 'MediaError';
  readonly code: MediaErrorCode;
  /** For logs only: the tail of ffmpeg's stderr or similar diagnostics. */
  readonly detail?: string;

  constructor(code: MediaErrorCode, message: string, options: MediaErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    if (options.detail !== undefined) this.detail = options.detail;
  }
}

export function isMediaError(value: unknown): value is MediaError {
  return value instanceof MediaError;
}

/** True when `value` is a MediaError with one of the given codes. */
export function hasMediaErrorCode(value: unknown, ...codes: MediaErrorCode[]): value is MediaError {
  return isMediaError(value) && codes.includes(value.code);
}
