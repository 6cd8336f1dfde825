/**
 * Writing a video from frames pushed one at a time: the overlay (H.264 mp4
 * from RGB), a luma matte (lossless H.264 from grey), and cut-outs with alpha
 * (VP9 webm, ProRes 4444 mov, from RGBA). Frames go to ffmpeg over a pipe as
 * rawvideo; the file is written under a temporary name beside the target and
 * renamed on success.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { VideoMeta } from '../types.js';
import { resolveFfmpeg, resolveFfprobe } from './binaries.js';
import { MediaError } from './errors.js';
import { fileUrl, killQuietly, runTool, safeInputArgs, StderrTail, throwIfAborted, waitForExit, type Exit } from './process.js';

export { davisPalette, encodeIndexedPng, writeIndexedPng, type Rgb } from './png.js';

/** What a VideoWriter writes; see FORMATS for each one's input, codec and container. */
export type VideoFormat = 'h264' | 'matte' | 'vp9-alpha' | 'prores-4444';

export interface VideoWriterOptions {
  /** Output path (.mp4 for h264 and matte, .webm for vp9-alpha, .mov for prores-4444). */
  path: string;
  /** Default 'h264'. */
  format?: VideoFormat;
  width: number;
  height: number;
  /** Frame rate of the output when timestamps are absent or evenly spaced. */
  fps: number;
  /**
   * The source's presentation time (s) of each frame. When they are not evenly
   * spaced (variable frame rate), the output frames carry these times
   * (shifted so the first is 0) instead of a constant rate.
   */
  timestamps?: number[];
  /** Take the first audio stream of this file (copied; re-encoded if the container cannot hold it). */
  audioFrom?: string;
  /** h264 only: x264 quality, lower is better. Default 20. */
  crf?: number;
  /** h264 and matte: x264 speed preset. Default 'veryfast'. */
  preset?: string;
  /** Aborting has the effect of abort(). */
  signal?: AbortSignal;
}

/** Options that re-create `meta`'s size, rate, timestamps and audio. */
export function videoWriterOptionsFor(meta: VideoMeta, outputPath: string, sourcePath?: string): VideoWriterOptions {
  return {
    path: outputPath,
    width: meta.width,
    height: meta.height,
    fps: meta.fps,
    timestamps: meta.timestamps,
    audioFrom: meta.kind === 'video' && meta.hasAudio ? sourcePath : undefined,
  };
}

/** Time base of VFR output: the usual video clock, fine enough for any real timestamp. */
const VFR_TIMEBASE = 90_000;

type Container = 'mp4' | 'webm' | 'mov';

interface FormatPlan {
  /** rawvideo pixel format of the frames written to the pipe, and its bytes per pixel. */
  input: 'rgb24' | 'gray' | 'rgba';
  bytesPerPixel: number;
  container: Container;
  /** Filters after the timing ones. */
  filters: string[];
  codecArgs(options: VideoWriterOptions): string[];
}

/**
 * 4:2:0 chroma needs even width and height: odd sizes get one black pixel of
 * padding on the right / bottom (cheaper and more honest than scaling);
 * players show the extra line. ProRes 4444 keeps full chroma and any size.
 */
const PAD_EVEN = 'pad=ceil(iw/2)*2:ceil(ih/2)*2';

const FORMATS: Record<VideoFormat, FormatPlan> = {
  h264: {
    input: 'rgb24',
    bytesPerPixel: 3,
    container: 'mp4',
    filters: [PAD_EVEN, 'format=yuv420p'],
    codecArgs: (o) => ['-c:v', 'libx264', '-preset', o.preset ?? 'veryfast', '-crf', String(o.crf ?? 20), '-pix_fmt', 'yuv420p'],
  },
  /**
   * Full range so white is 255 and black 0, and lossless (-qp 0, High 4:4:4
   * Predictive): decoded luma equals the input exactly. Measured on this
   * ffmpeg (5.1): -qp 1 already errs by 2 levels at edges, crf 4 by 64.
   */
  matte: {
    input: 'gray',
    bytesPerPixel: 1,
    container: 'mp4',
    filters: [PAD_EVEN, 'scale=in_range=full:out_range=full', 'format=yuv420p'],
    codecArgs: (o) => [
      '-c:v', 'libx264', '-preset', o.preset ?? 'veryfast', '-qp', '0', '-pix_fmt', 'yuv420p', '-color_range', 'pc', '-x264-params', 'fullrange=on',
    ],
  },
  /**
   * The alpha plane is a second VP9 stream with the same rate control as the
   * colour. Measured at 640x480 (a hard and a soft edge, 30 frames): crf 30
   * errs by up to 33 levels, crf 10 by 12, crf 4 by 7 (mean 0.009, 2 in 10^6
   * pixels on the other side of 128), crf 0 is lossless at 3.7x the size of
   * crf 4. Realtime speed 8 with row threads runs at ~110 fps.
   */
  'vp9-alpha': {
    input: 'rgba',
    bytesPerPixel: 4,
    container: 'webm',
    filters: [PAD_EVEN, 'format=yuva420p'],
    codecArgs: () => ['-c:v', 'libvpx-vp9', '-pix_fmt', 'yuva420p', '-deadline', 'realtime', '-cpu-used', '8', '-row-mt', '1', '-crf', '4', '-b:v', '0'],
  },
  /** 10-bit 4:4:4 with a 16-bit alpha (prores_ks's default), ~44 fps at 640x480; vendor apl0 so Apple's tools take it as their own. */
  'prores-4444': {
    input: 'rgba',
    bytesPerPixel: 4,
    container: 'mov',
    filters: ['format=yuva444p10le'],
    codecArgs: () => ['-c:v', 'prores_ks', '-profile:v', '4444', '-pix_fmt', 'yuva444p10le', '-vendor', 'apl0'],
  },
};

type WriterState = 'open' | 'finishing' | 'finished' | 'aborted';

/**
 * Usage:
 *   const writer = await VideoWriter.open(videoWriterOptionsFor(meta, 'out.mp4', 'in.mp4'));
 *   for (...) await writer.write(rgb);   // rgb: [height][width][3] uint8
 *   await writer.finish();               // or writer.abort()
 */
export class VideoWriter {
  private state: WriterState = 'open';
  private written = 0;
  private failure?: MediaError;
  private stopping?: Promise<void>;
  private readonly onAbortSignal = () => void this.abort();

  private constructor(
    private readonly options: VideoWriterOptions,
    private readonly child: ChildProcessWithoutNullStreams,
    private readonly exited: Promise<Exit>,
    private readonly stderr: StderrTail,
    private readonly tempPath: string,
    private readonly scriptPath: string | undefined,
  ) {
    // EPIPE when ffmpeg dies arrives here and through the pending write's callback.
    child.stdin.on('error', (error) => this.fail(error));
    // If ffmpeg dies while the caller is still writing, drop the partial file
    // even if the caller never gets to finish() or abort().
    exited
      .then(
        async (exit) => {
          if (exit.code !== 0 && this.state === 'open') await this.removeTemporaryFiles();
        },
        () => this.removeTemporaryFiles(),
      )
      .catch(() => undefined);
    options.signal?.addEventListener('abort', this.onAbortSignal, { once: true });
  }

  static async open(options: VideoWriterOptions): Promise<VideoWriter> {
    validateOptions(options);
    throwIfAborted(options.signal); // an already-fired signal sends no 'abort' event later
    const ffmpeg = await resolveFfmpeg();
    const finalPath = path.resolve(options.path);
    const format = FORMATS[options.format ?? 'h264'];
    const tempPath = siblingTempPath(finalPath, `.partial.${format.container}`);
    const audio = options.audioFrom ? await audioPlan(path.resolve(options.audioFrom), format.container) : undefined;
    const timing = timingPlan(options);
    let scriptPath: string | undefined;
    if (timing.kind === 'vfr') {
      // The setpts expression grows with the frame count; a file has no argv length limit.
      scriptPath = siblingTempPath(finalPath, '.filter');
      await writeFile(scriptPath, videoFilter(format, timing.filterPrefix));
    }
    const args = encodeArgs(options, format, tempPath, timing, audio, scriptPath);
    const child = spawn(ffmpeg, args, { stdio: ['pipe', 'pipe', 'pipe'], shell: false });
    const exited = waitForExit(child, 'ffmpeg');
    exited.catch(() => undefined); // observed in finish()/abort()
    const stderr = new StderrTail(child.stderr);
    child.stdout.resume(); // nothing is written there; never let it fill
    return new VideoWriter(options, child, exited, stderr, tempPath, scriptPath);
  }

  get framesWritten(): number {
    return this.written;
  }

  /**
   * Sends one frame: [height][width][3] rgb24 for h264, [height][width] grey
   * for matte, [height][width][4] rgba for the alpha formats. Resolves once ffmpeg's
   * pipe has taken it, so awaiting each write is the backpressure; the frame
   * buffer must not be changed before the promise resolves.
   */
  write(frame: Uint8Array): Promise<void> {
    if (this.state !== 'open') return Promise.reject(new Error(`VideoWriter is ${this.state}; cannot write`));
    if (this.failure) return Promise.reject(this.failure);
    const { input, bytesPerPixel } = FORMATS[this.options.format ?? 'h264'];
    const expected = this.options.width * this.options.height * bytesPerPixel;
    if (frame.length !== expected) {
      return Promise.reject(new RangeError(`frame has ${frame.length} bytes, expected ${expected} (${this.options.width}x${this.options.height} ${input})`));
    }
    this.written += 1;
    return new Promise((resolve, reject) => {
      this.child.stdin.write(frame, (error) => {
        if (error) reject(this.fail(error));
        else resolve();
      });
    });
  }

  /** Waits for ffmpeg to finish the file, then moves it to `path`. */
  async finish(): Promise<void> {
    if (this.state !== 'open') throw new Error(`VideoWriter is ${this.state}; cannot finish`);
    this.state = 'finishing';
    this.child.stdin.end();
    let exit: Exit | undefined;
    try {
      exit = await this.exited;
    } catch (error) {
      this.fail(error);
    }
    const state = this.state as WriterState; // abort() may have run while we waited
    if (state === 'aborted') throw new MediaError('aborted', 'cancelled');
    if (!exit || exit.code !== 0 || this.written === 0) {
      await this.removeTemporaryFiles();
      this.state = 'aborted';
      if (this.written === 0) throw new MediaError('ffmpeg_failed', 'no frames were written to the output video');
      throw this.failure ?? this.fail(new Error(`ffmpeg exited with ${exit?.code ?? exit?.signal}`));
    }
    await rename(this.tempPath, path.resolve(this.options.path));
    await this.removeTemporaryFiles();
    this.state = 'finished';
    this.options.signal?.removeEventListener('abort', this.onAbortSignal);
  }

  /**
   * Stops ffmpeg and removes the partial file. Safe to call more than once:
   * a call while an abort is under way (e.g. one the signal started) resolves
   * when the partial file is gone.
   */
  abort(): Promise<void> {
    if (this.stopping) return this.stopping;
    if (this.state === 'finished' || this.state === 'aborted') return Promise.resolve();
    this.state = 'aborted';
    this.options.signal?.removeEventListener('abort', this.onAbortSignal);
    killQuietly(this.child);
    this.stopping = this.exited.catch(() => undefined).then(() => this.removeTemporaryFiles());
    return this.stopping;
  }

  private fail(cause: unknown): MediaError {
    this.failure ??= new MediaError('ffmpeg_failed', 'encoding the output video failed', { detail: this.stderr.lines(), cause });
    return this.failure;
  }

  private async removeTemporaryFiles(): Promise<void> {
    await rm(this.tempPath, { force: true });
    if (this.scriptPath) await rm(this.scriptPath, { force: true });
  }
}

function validateOptions(options: VideoWriterOptions): void {
  const { width, height, fps, timestamps } = options;
  if (!(Number.isInteger(width) && Number.isInteger(height) && width > 0 && height > 0)) {
    throw new RangeError(`invalid output size ${width}x${height}`);
  }
  if (!(fps > 0 && Number.isFinite(fps))) throw new RangeError(`invalid fps ${fps}`);
  if (timestamps?.some((t) => !Number.isFinite(t))) throw new RangeError('timestamps must be finite numbers');
}

/** `.name.<random><suffix>` in the same directory, so the final rename stays on one filesystem. */
function siblingTempPath(finalPath: string, suffix: string): string {
  const directory = path.dirname(finalPath);
  const base = path.basename(finalPath, path.extname(finalPath));
  return path.join(directory, `.${base}.${randomBytes(6).toString('hex')}${suffix}`);
}

// ---------------------------------------------------------------------------
// Timing: constant rate, or the source's own timestamps

type TimingPlan = { kind: 'cfr'; framerate: string } | { kind: 'vfr'; framerate: string; filterPrefix: string };

function timingPlan(options: VideoWriterOptions): TimingPlan {
  const framerate = framerateArgument(options.fps);
  const timestamps = options.timestamps;
  if (!timestamps || isEvenlySpaced(timestamps)) return { kind: 'cfr', framerate };
  return { kind: 'vfr', framerate, filterPrefix: `settb=1/${VFR_TIMEBASE},setpts='${ptsExpression(toTicks(timestamps))}'` };
}

/**
 * Constant rate is good enough when every frame of a constant-rate output at
 * the average spacing would be within a quarter of a frame of its source time
 * (this absorbs millisecond-rounded timestamps such as 33,33,34 ms).
 */
export function isEvenlySpaced(timestamps: number[]): boolean {
  const count = timestamps.length;
  if (count < 3) return true;
  const first = timestamps[0];
  const step = (timestamps[count - 1] - first) / (count - 1);
  if (!(step > 0)) return false;
  return timestamps.every((t, i) => Math.abs(t - (first + i * step)) <= step / 4);
}

/** Seconds -> integer ticks of VFR_TIMEBASE from the first frame, strictly increasing. */
function toTicks(timestamps: number[]): number[] {
  const first = timestamps[0];
  const ticks: number[] = [];
  for (const t of timestamps) {
    const tick = Math.round((t - first) * VFR_TIMEBASE);
    ticks.push(ticks.length > 0 ? Math.max(tick, ticks[ticks.length - 1] + 1) : tick);
  }
  return ticks;
}

/**
 * A setpts expression mapping the input frame number N to ticks[N].
 *
 * Rawvideo on a pipe carries no timestamps, and ffmpeg 5.1's setpts cannot
 * take per-frame commands, so the table is compiled into the expression as a
 * balanced binary search: if(lt(N,mid), <left half>, <right half>). Depth is
 * log2(frames) (ffmpeg's parser allows ~100 levels), evaluation is O(log n)
 * per frame. Frames past the table continue at the average spacing.
 */
export function ptsExpression(ticks: number[]): string {
  const count = ticks.length;
  const last = ticks[count - 1];
  const step = count > 1 ? Math.max(1, Math.round((last - ticks[0]) / (count - 1))) : Math.round(VFR_TIMEBASE / 25);
  const lookup = (low: number, high: number): string => {
    if (high - low === 1) return String(ticks[low]);
    const middle = (low + high) >>> 1;
    return `if(lt(N,${middle}),${lookup(low, middle)},${lookup(middle, high)})`;
  };
  return `if(gte(N,${count}),${last}+(N-${count - 1})*${step},${lookup(0, count)})`;
}

/**
 * ffmpeg parses "30000/1001" exactly; a decimal like 29.97002997 it turns into
 * a nearby fraction. Prefer the exact form for the usual NTSC-style rates.
 */
function framerateArgument(fps: number): string {
  for (const denominator of [1, 1001, 1000]) {
    const numerator = fps * denominator;
    if (Math.abs(numerator - Math.round(numerator)) < 1e-6 * numerator) return `${Math.round(numerator)}/${denominator}`;
  }
  return fps.toFixed(6);
}

// ---------------------------------------------------------------------------
// Audio

type AudioPlan = { source: string; codecArgs: string[] };

/** Per container: the audio codecs it takes as they are, and the encoder for any other. */
const CONTAINER_AUDIO: Record<Container, { copies: (codec: string) => boolean; encoder: string[] }> = {
  mp4: { copies: (c) => ['aac', 'mp3', 'ac3', 'eac3', 'alac'].includes(c), encoder: ['aac', '-b:a', '160k'] },
  webm: { copies: (c) => c === 'opus' || c === 'vorbis', encoder: ['libopus', '-b:a', '128k'] },
  mov: { copies: (c) => ['aac', 'mp3', 'alac'].includes(c) || c.startsWith('pcm_'), encoder: ['aac', '-b:a', '160k'] },
};

/** Copy the source's audio when the container can hold its codec, else re-encode; none if it has no audio. */
async function audioPlan(source: string, container: Container): Promise<AudioPlan | undefined> {
  const ffprobe = await resolveFfprobe();
  const result = await runTool(ffprobe, [
    '-v', 'error', ...safeInputArgs(), '-select_streams', 'a:0', '-show_entries', 'stream=codec_name', '-of', 'csv=p=0', fileUrl(source),
  ]);
  const codec = result.stdout.trim().split('\n')[0]?.trim();
  // A damaged audio track whose codec ffprobe cannot name (its sample description gone) can be neither
  // copied nor decoded: the output goes without it rather than failing the job.
  if (result.code !== 0 || !codec || codec === 'unknown' || codec === 'none') return undefined;
  const { copies, encoder } = CONTAINER_AUDIO[container];
  return { source, codecArgs: copies(codec) ? ['copy'] : encoder };
}

// ---------------------------------------------------------------------------
// The ffmpeg command

function videoFilter(format: FormatPlan, prefix?: string): string {
  return [prefix, ...format.filters].filter(Boolean).join(',');
}

function encodeArgs(
  options: VideoWriterOptions,
  format: FormatPlan,
  tempPath: string,
  timing: TimingPlan,
  audio: AudioPlan | undefined,
  scriptPath: string | undefined,
): string[] {
  const args = ['-nostdin', '-hide_banner', '-v', 'error', '-y'];
  args.push('-f', 'rawvideo', '-pix_fmt', format.input, '-s', `${options.width}x${options.height}`, '-framerate', timing.framerate, '-i', 'pipe:0');
  if (audio) args.push(...safeInputArgs(), '-i', fileUrl(audio.source));
  args.push('-map', '0:v:0');
  if (audio) args.push('-map', '1:a:0?', '-c:a', ...audio.codecArgs);
  if (scriptPath) args.push('-filter_script:v', scriptPath);
  else args.push('-vf', videoFilter(format));
  args.push(...format.codecArgs(options));
  const isoBmff = format.container !== 'webm';
  if (timing.kind === 'vfr') {
    // Keep each frame's pts exactly: no frame-rate conversion, and encoder/track
    // clocks fine enough not to round them onto the nominal frame grid (WebM's
    // clock is fixed at 1 ms, and its muxer has no track timescale).
    args.push('-fps_mode', 'passthrough', '-enc_time_base', `1/${VFR_TIMEBASE}`);
    if (isoBmff) args.push('-video_track_timescale', String(VFR_TIMEBASE));
  }
  if (isoBmff) args.push('-movflags', '+faststart');
  args.push('-f', format.container, fileUrl(tempPath));
  return args;
}
