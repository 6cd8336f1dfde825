/**
 * Running ffmpeg / ffprobe safely: no shell, a time limit, cancellation, and
 * stderr kept only as a short tail for logs.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import type { Readable } from 'node:stream';
import { MediaError } from './errors.js';

export const DEFAULT_TIMEOUT_MS = 60_000;

/**
 * Demuxers we let ffmpeg pick from. Besides the network (blocked with
 * -protocol_whitelist), playlist-like formats (hls, concat, image2 patterns)
 * can make ffmpeg open *other local files*; listing the formats we accept
 * keeps a crafted upload from reading /etc/passwd into a video. Audio and
 * still-image formats are listed only so we can say precisely what was wrong.
 */
export const DEMUXER_WHITELIST = [
  'mov', 'mp4', 'm4a', '3gp', '3g2', 'mj2', 'matroska', 'webm', 'avi', 'flv', 'mpegts', 'mpeg',
  'ogg', 'asf', 'mxf', 'nut', 'ivf', 'gif', 'h264', 'hevc', 'm4v', 'mjpeg', 'yuv4mpegpipe', 'dv',
  'png_pipe', 'jpeg_pipe', 'webp_pipe', 'bmp_pipe', 'tiff_pipe', 'gif_pipe',
  'mp3', 'wav', 'flac', 'aac',
].join(',');

/** Input options shared by every ffmpeg / ffprobe call that reads an untrusted file. */
export function safeInputArgs(): string[] {
  return [
    '-protocol_whitelist', 'file,pipe',
    '-format_whitelist', DEMUXER_WHITELIST,
    // Bounded probing: enough for real files, small enough that a crafted one cannot stall us here.
    '-probesize', '50000000',
    '-analyzeduration', '20000000',
  ];
}

/**
 * ffmpeg treats "x:y" as protocol "x" and "-x" as an option; `file:` pins the
 * path to the file protocol whatever its name looks like.
 */
export function fileUrl(absolutePath: string): string {
  return `file:${absolutePath}`;
}

/** Keeps the last `maxChars` characters written to a stream (ffmpeg's stderr). */
export class StderrTail {
  private text = '';

  constructor(stream: Readable | null, private readonly maxChars = 4000) {
    stream?.setEncoding('utf8');
    stream?.on('data', (chunk: string) => {
      this.text = (this.text + chunk).slice(-this.maxChars);
    });
  }

  /** The last `lines` non-empty lines. */
  lines(lines = 12): string {
    return this.text.split('\n').map((l) => l.trimEnd()).filter(Boolean).slice(-lines).join('\n');
  }

  includes(pattern: RegExp): boolean {
    return pattern.test(this.text);
  }
}

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/**
 * Resolves when the process has exited and its stdio is closed. Rejects with
 * MediaError('ffmpeg_missing') if the binary could not be started. Attach this
 * right after spawn so an early exit is not missed.
 */
export function waitForExit(child: ChildProcess, tool: string): Promise<Exit> {
  return new Promise((resolve, reject) => {
    child.once('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT' || error.code === 'EACCES') {
        reject(new MediaError('ffmpeg_missing', `${tool} could not be started: install it (apt-get install -y ffmpeg)`, { cause: error }));
      } else {
        reject(new MediaError('ffmpeg_failed', `${tool} could not be started`, { cause: error }));
      }
    });
    child.once('close', (code, signal) => resolve({ code, signal }));
  });
}

export function isRunning(child: ChildProcess): boolean {
  return child.exitCode === null && child.signalCode === null;
}

/** SIGKILL: ffmpeg may ignore SIGTERM while blocked on a full pipe. */
export function killQuietly(child: ChildProcess): void {
  if (isRunning(child)) child.kill('SIGKILL');
}

export interface RunOptions {
  timeoutMs?: number;
  signal?: AbortSignal;
  /** Stop (and fail) if stdout grows past this; protects against absurd outputs. */
  maxStdoutBytes?: number;
}

export interface RunResult extends Exit {
  stdout: string;
  stderr: StderrTail;
}

/**
 * Runs a tool to completion and collects stdout as text. Does not throw on a
 * non-zero exit (callers classify that); throws MediaError on timeout, abort,
 * a missing binary or oversized output.
 */
export async function runTool(bin: string, args: string[], options: RunOptions = {}): Promise<RunResult> {
  const { timeoutMs = DEFAULT_TIMEOUT_MS, signal, maxStdoutBytes = 256 * 1024 * 1024 } = options;
  const tool = bin.split(/[\\/]/).pop() ?? bin;
  throwIfAborted(signal);
  const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'], shell: false });
  const exited = waitForExit(child, tool);
  const stderr = new StderrTail(child.stderr);
  const chunks: Buffer[] = [];
  let stdoutBytes = 0;
  let failure: MediaError | undefined;
  const stop = (error: MediaError) => {
    failure ??= error;
    killQuietly(child);
  };
  child.stdout.on('data', (chunk: Buffer) => {
    stdoutBytes += chunk.length;
    if (stdoutBytes > maxStdoutBytes) stop(new MediaError('too_large', `${tool} produced more output than allowed`));
    else chunks.push(chunk);
  });
  const timer = setTimeout(
    () => stop(new MediaError('timeout', `reading the file took longer than ${Math.round(timeoutMs / 1000)} s`)),
    timeoutMs,
  );
  const onAbort = () => stop(new MediaError('aborted', 'cancelled'));
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    const exit = await exited;
    if (failure) throw attachDetail(failure, stderr);
    return { ...exit, stdout: Buffer.concat(chunks).toString('utf8'), stderr };
  } finally {
    clearTimeout(timer);
    signal?.removeEventListener('abort', onAbort);
    killQuietly(child);
  }
}

export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new MediaError('aborted', 'cancelled');
}

function attachDetail(error: MediaError, stderr: StderrTail): MediaError {
  const detail = stderr.lines();
  return detail ? new MediaError(error.code, error.message, { detail }) : error;
}
