/**
 * Decoded frames, one at a time, as packed RGB.
 *
 * Videos: ffmpeg decodes to `-f rawvideo -pix_fmt rgb24` on stdout and we cut
 * the byte stream into frames. Nothing is buffered beyond one frame and the
 * pipe: while the consumer is busy, the stream is not read, the pipe fills and
 * ffmpeg blocks. Memory stays flat for any length.
 * Frame directories: sharp decodes each file.
 */
import path from 'node:path';
import { spawn } from 'node:child_process';
import type { RgbFrame, VideoMeta } from '../types.js';
import { resolveFfmpeg } from './binaries.js';
import { MediaError } from './errors.js';
import { decodeFrameImage, frameNameOf, listFrameFiles } from './framedir.js';
import { fileUrl, killQuietly, safeInputArgs, StderrTail, throwIfAborted, waitForExit } from './process.js';

export interface ReadFramesOptions {
  /** First frame index to yield (inclusive). Default 0. */
  start?: number;
  /** Frame index to stop before (exclusive). Default meta.frames. */
  end?: number;
  /** Aborting kills ffmpeg; the iteration then throws MediaError('aborted'). */
  signal?: AbortSignal;
  /**
   * Videos: kill ffmpeg and throw MediaError('timeout') when it produces no
   * output for this long while we wait for it (a crafted file that makes the
   * decoder spin). Time the consumer spends between frames does not count.
   * Default 60 s.
   */
  stallTimeoutMs?: number;
}

export const DEFAULT_STALL_TIMEOUT_MS = 60_000;

interface FrameRange {
  start: number;
  end: number;
}

/**
 * Yields frames [start, end) of a video file or frame directory described by
 * `meta` (from probeInput). Each frame's `data` is a fresh buffer the caller
 * may keep. Stopping early (break / return()) kills the decoder.
 */
export async function* readFrames(inputPath: string, meta: VideoMeta, options: ReadFramesOptions = {}): AsyncGenerator<RgbFrame, void, undefined> {
  const range = resolveRange(meta, options);
  if (range.start === range.end) return;
  throwIfAborted(options.signal);
  if (meta.kind === 'frames') yield* readFrameDirFrames(inputPath, meta, range, options.signal);
  else yield* readVideoFrames(inputPath, meta, range, options);
}

function resolveRange(meta: VideoMeta, options: ReadFramesOptions): FrameRange {
  const start = options.start ?? 0;
  const end = options.end ?? meta.frames;
  const valid = Number.isInteger(start) && Number.isInteger(end) && start >= 0 && start <= end && end <= meta.frames;
  if (!valid) throw new RangeError(`frame range [${start}, ${end}) is outside the video's ${meta.frames} frames`);
  return { start, end };
}

// ---------------------------------------------------------------------------
// Video files

async function* readVideoFrames(file: string, meta: VideoMeta, range: FrameRange, options: ReadFramesOptions): AsyncGenerator<RgbFrame, void, undefined> {
  const { signal, stallTimeoutMs = DEFAULT_STALL_TIMEOUT_MS } = options;
  const ffmpeg = await resolveFfmpeg();
  const plan = decodePlan(path.resolve(file), meta, range);
  const child = spawn(ffmpeg, plan.args, { stdio: ['ignore', 'pipe', 'pipe'], shell: false });
  const exited = waitForExit(child, 'ffmpeg');
  exited.catch(() => undefined); // observed below; avoid an unhandled rejection if we stop early
  const stderr = new StderrTail(child.stderr);
  const onAbort = () => killQuietly(child);
  signal?.addEventListener('abort', onAbort, { once: true });

  const chunks = (child.stdout as AsyncIterable<Buffer>)[Symbol.asyncIterator]();
  const frames = new FrameAssembler(meta.width * meta.height * 3);
  let index = range.start;
  let toSkip = plan.skip;
  try {
    for (;;) {
      // Only the wait for ffmpeg is timed; time the consumer spends between frames is not.
      const next = await withStallTimeout(chunks.next(), stallTimeoutMs, () => killQuietly(child), stderr);
      if (next.done) break;
      for (const data of frames.push(next.value)) {
        if (toSkip > 0) {
          toSkip -= 1;
          continue;
        }
        throwIfAborted(signal);
        yield { index, width: meta.width, height: meta.height, data };
        index += 1;
      }
    }
    throwIfAborted(signal);
    const exit = await exited;
    throwIfAborted(signal);
    const decoded = index - range.start;
    const wanted = range.end - range.start;
    if (exit.code !== 0) {
      // A damaged stream usually makes ffmpeg stop with an error after the good frames; an error exit
      // before any frame is a file that probed as a video but does not decode (the input's fault, not
      // retried); killed by a signal (code null) it is the server's.
      const code = decoded > 0 ? 'truncated' : exit.code !== null ? 'undecodable' : 'ffmpeg_failed';
      throw new MediaError(code, `decoding failed after ${decoded} of ${wanted} frames`, { detail: stderr.lines() });
    }
    if (frames.pendingBytes > 0 || decoded < wanted) {
      throw new MediaError('truncated', `the video ended after ${decoded} of ${wanted} frames; it may be damaged`, { detail: stderr.lines() });
    }
  } finally {
    signal?.removeEventListener('abort', onAbort);
    killQuietly(child);
    await chunks.return?.().catch(() => undefined);
  }
}

/** Rejects with MediaError('timeout') (after calling `onStall`) if `pending` takes longer than `ms`. */
async function withStallTimeout<T>(pending: Promise<T>, ms: number, onStall: () => void, stderr: StderrTail): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const stalled = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      onStall();
      reject(new MediaError('timeout', `decoding stalled: no frame for ${Math.round(ms / 1000)} s`, { detail: stderr.lines() }));
    }, ms);
  });
  try {
    return await Promise.race([pending, stalled]);
  } finally {
    clearTimeout(timer);
  }
}

interface DecodePlan {
  args: string[];
  /** Frames ffmpeg outputs before frame `start`, to be dropped here (when seeking is not safe). */
  skip: number;
}

/**
 * ffmpeg arguments for frames [start, end).
 *
 * Seeking: `-ss T` before `-i` with `-seek_timestamp 1` (T is an absolute
 * timestamp, not relative to the file's start) jumps to the keyframe before T,
 * decodes from there and drops every frame whose pts < T (accurate seek).
 * T is halfway between frame start-1 and frame start, so rounding of either
 * timestamp cannot move the cut by a frame; the first frame out is exactly
 * frame `start`, and `-frames:v` stops after the range. When frames start-1
 * and start share a timestamp (broken files) no cut between them exists: then
 * we decode from the beginning and count frames instead.
 *
 * Rotation: ffmpeg's autorotate only knows the display matrix; we turn it off
 * and rotate by meta.rotation ourselves so frames always match the probe.
 */
function decodePlan(file: string, meta: VideoMeta, range: FrameRange): DecodePlan {
  const args = ['-nostdin', '-hide_banner', '-v', 'error', ...safeInputArgs(), '-noautorotate'];
  const seekTime = seekTimeFor(meta.timestamps, range.start);
  if (seekTime !== undefined) args.push('-seek_timestamp', '1', '-ss', seekTime.toFixed(6));
  const skip = seekTime === undefined ? range.start : 0;
  args.push('-i', fileUrl(file), '-map', '0:V:0', '-an', '-sn', '-dn');
  const rotate = rotationFilter(meta.rotation);
  if (rotate) args.push('-vf', rotate);
  args.push(
    // passthrough: every decoded frame once, no duplicates or drops for VFR.
    '-fps_mode', 'passthrough',
    '-frames:v', String(skip + range.end - range.start),
    '-f', 'rawvideo', '-pix_fmt', 'rgb24', 'pipe:1',
  );
  return { args, skip };
}

/** Absolute time halfway between frames start-1 and start; undefined when there is nothing to seek or no gap. */
function seekTimeFor(timestamps: number[], start: number): number | undefined {
  if (start === 0) return undefined;
  const before = timestamps[start - 1];
  const at = timestamps[start];
  return at > before ? (before + at) / 2 : undefined;
}

/** Clockwise rotation as ffmpeg filters. */
function rotationFilter(rotation: number): string | undefined {
  switch (rotation) {
    case 90:
      return 'transpose=clock';
    case 180:
      return 'hflip,vflip';
    case 270:
      return 'transpose=cclock';
    default:
      return undefined;
  }
}

/**
 * Cuts a byte stream into frames of exactly `frameBytes`. Each frame gets its
 * own buffer (callers keep frames), filled straight from the chunks: one copy.
 */
class FrameAssembler {
  private current: Uint8Array;
  private filled = 0;

  constructor(private readonly frameBytes: number) {
    this.current = new Uint8Array(frameBytes);
  }

  get pendingBytes(): number {
    return this.filled;
  }

  /** Returns the frames this chunk completed (usually zero or one). */
  push(chunk: Uint8Array): Uint8Array[] {
    const completed: Uint8Array[] = [];
    let offset = 0;
    while (offset < chunk.length) {
      const take = Math.min(this.frameBytes - this.filled, chunk.length - offset);
      this.current.set(chunk.subarray(offset, offset + take), this.filled);
      this.filled += take;
      offset += take;
      if (this.filled === this.frameBytes) {
        completed.push(this.current);
        this.current = new Uint8Array(this.frameBytes);
        this.filled = 0;
      }
    }
    return completed;
  }
}

// ---------------------------------------------------------------------------
// Frame directories

async function* readFrameDirFrames(dir: string, meta: VideoMeta, range: FrameRange, signal?: AbortSignal): AsyncGenerator<RgbFrame, void, undefined> {
  const files = await listFrameFiles(dir);
  const names = files.map(frameNameOf);
  // `meta` may describe only the first frames (a --max-frames limit): those must still be there.
  if (names.length < meta.frames || meta.frameNames.some((name, i) => name !== names[i])) {
    throw new MediaError('bad_image', 'the frame folder changed after it was read; submit it again');
  }
  // Decode the next image while the consumer works on this one: one frame of read-ahead.
  let next = decodeQuietly(files[range.start]);
  for (let index = range.start; index < range.end; index++) {
    throwIfAborted(signal);
    const image = await next;
    if (index + 1 < range.end) next = decodeQuietly(files[index + 1]);
    if (image.width !== meta.width || image.height !== meta.height) {
      throw new MediaError(
        'frame_size_mismatch',
        `frame "${path.basename(files[index])}" is ${image.width}x${image.height} but the others are ${meta.width}x${meta.height}`,
      );
    }
    yield { index, width: image.width, height: image.height, data: image.data };
  }
}

/** A decode whose failure is reported when awaited, not as an unhandled rejection if never awaited. */
function decodeQuietly(file: string): Promise<Awaited<ReturnType<typeof decodeFrameImage>>> {
  const decoding = decodeFrameImage(file);
  decoding.catch(() => undefined);
  return decoding;
}
