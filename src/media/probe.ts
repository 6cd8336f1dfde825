/**
 * What is in an input: ffprobe for video files, image headers for frame
 * directories. Everything a later stage needs (size after rotation, every
 * frame's timestamp) is decided here, once.
 */
import { open, stat } from 'node:fs/promises';
import path from 'node:path';
import type { MediaWarning, VideoMeta } from '../types.js';
import { resolveFfprobe } from './binaries.js';
import { MediaError } from './errors.js';
import { probeFrameDir, type FrameDirOptions } from './framedir.js';
import { checkLimits, MAX_MISSING_TIMES, type MediaLimits } from './limits.js';
import { DEFAULT_TIMEOUT_MS, fileUrl, runTool, safeInputArgs, throwIfAborted, type RunResult } from './process.js';

export { probeFrameDir } from './framedir.js';
export type { FrameDirOptions } from './framedir.js';
export type { MediaLimits } from './limits.js';

export interface ProbeOptions {
  /** Per ffprobe run; the process is killed after this. Default 60 s. */
  timeoutMs?: number;
  signal?: AbortSignal;
  limits?: MediaLimits;
  /**
   * Decode every frame to find the ones that really decode: a corrupt packet
   * in the middle shows in no header or packet list, yet its frame (often
   * more, until the next keyframe) never comes out of the decoder. Costs a
   * decode of the file; whoever processes every frame should ask for it once.
   */
  decode?: boolean;
}

/** A directory of images or a video file, whichever `inputPath` is. */
export async function probeInput(inputPath: string, options: ProbeOptions & FrameDirOptions = {}): Promise<VideoMeta> {
  const info = await statOrThrow(inputPath);
  return info.isDirectory() ? probeFrameDir(inputPath, options) : probeVideo(inputPath, options);
}

export async function probeVideo(filePath: string, options: ProbeOptions = {}): Promise<VideoMeta> {
  const absolute = path.resolve(filePath);
  await assertNonEmptyFile(absolute);
  const ffprobe = await resolveFfprobe();
  const header = await readHeader(ffprobe, absolute, options).catch(async (error: unknown) => {
    // "moov atom not found" is also what ffprobe says about any junk named .mp4.
    if (error instanceof MediaError && error.code === 'truncated' && !(await looksLikeIsoMedia(absolute))) {
      throw new MediaError('not_a_video', 'the file is not a video that can be read', { detail: error.detail });
    }
    throw error;
  });
  const stream = chooseVideoStream(header);
  let { packets, warning } = await readVideoPackets(ffprobe, absolute, stream, options);
  if (options.decode && !warning) ({ packets, warning } = await checkDecodes(ffprobe, absolute, stream, packets, options));
  const meta = describeVideo(header, stream, packets, warning);
  checkLimits(meta, options.limits);
  return meta;
}

// ---------------------------------------------------------------------------
// ffprobe's JSON (only the fields we read)

interface FfprobeStream {
  index: number;
  codec_type?: string;
  codec_name?: string;
  width?: number;
  height?: number;
  r_frame_rate?: string;
  avg_frame_rate?: string;
  duration?: string;
  nb_frames?: string;
  disposition?: { attached_pic?: number };
  tags?: Record<string, string>;
  side_data_list?: Array<{ side_data_type?: string; rotation?: number }>;
}

interface FfprobeHeader {
  streams?: FfprobeStream[];
  format?: { format_name?: string; duration?: string; nb_streams?: number };
}

interface VideoStream extends FfprobeStream {
  width: number;
  height: number;
}

/** One demuxed packet of the chosen video stream, in file (decode) order. */
interface Packet {
  pts?: number;
  dts?: number;
  /** Packets the demuxer marks to drop (e.g. before an mp4 edit list start); never shown. */
  discard: boolean;
}

// ---------------------------------------------------------------------------
// Running ffprobe

async function readHeader(ffprobe: string, file: string, options: ProbeOptions): Promise<FfprobeHeader> {
  const result = await runFfprobe(ffprobe, ['-print_format', 'json', '-show_streams', '-show_format', fileUrl(file)], options);
  if (result.code !== 0) throw classifyHeaderFailure(result);
  try {
    return JSON.parse(result.stdout) as FfprobeHeader;
  } catch (cause) {
    throw new MediaError('ffmpeg_failed', 'the video could not be read', { detail: result.stderr.lines(), cause });
  }
}

/**
 * Every packet's timestamps. This only demuxes (no decoding), so it costs a
 * read of the file, not a decode: cheap next to the decode that follows.
 */
async function readVideoPackets(ffprobe: string, file: string, stream: VideoStream, options: ProbeOptions): Promise<{ packets: Packet[]; warning?: MediaWarning }> {
  const result = await runFfprobe(
    ffprobe,
    ['-select_streams', String(stream.index), '-show_entries', 'packet=pts_time,dts_time,flags', '-of', 'compact=p=0:nk=0', fileUrl(file)],
    options,
  );
  const packets = parsePacketLines(result.stdout);
  const declaredFrames = Number(stream.nb_frames);
  const endedEarly = result.stderr.includes(/partial file/i) || (Number.isFinite(declaredFrames) && packets.length < declaredFrames);
  if (endedEarly) return cutShort(ffprobe, file, stream, packets.length, options);
  if (result.code !== 0) {
    throw new MediaError('ffmpeg_failed', 'the video could not be read', { detail: result.stderr.lines() });
  }
  return { packets };
}

/**
 * A file that ends part-way (a recording that stopped, a partial upload or
 * download) is used as far as it goes, as players do: its frames are the
 * ones that decode, found by decoding it (only damaged files pay for this;
 * the last packets before a cut are often partial, and with B-frames the
 * packets present are not the frames shown). None decodes: `truncated`.
 */
async function cutShort(ffprobe: string, file: string, stream: VideoStream, listedPackets: number, options: ProbeOptions): Promise<{ packets: Packet[]; warning: MediaWarning }> {
  const { times, stderr } = await decodedFrameTimes(ffprobe, file, stream, listedPackets, options);
  if (times.length === 0) throw new MediaError('truncated', 'the video is cut short: none of its frames can be decoded', { detail: stderr.lines() });
  const declared = Number(stream.nb_frames);
  const declaredFrames = Number.isInteger(declared) && declared > times.length ? declared : undefined;
  const until = Math.max(...times).toFixed(2);
  const message = declaredFrames
    ? `the video is cut short: ${times.length} of its ${declaredFrames} frames can be decoded (up to ${until} s); the ${declaredFrames - times.length} after them are missing`
    : `the video is cut short: its data ends after ${times.length} frames (${until} s)`;
  const warning: MediaWarning = { code: 'cut_short', message, decodedFrames: times.length, ...(declaredFrames ? { declaredFrames } : {}) };
  return { packets: times.map((pts) => ({ pts, discard: false })), warning };
}

/**
 * The frames that come out of the decoder, against the packets the file
 * lists. When fewer come out, the video is the frames that do (a player shows
 * them and skips the rest), and a frames_missing warning says when the
 * missing ones were due. None at all: `undecodable`.
 */
async function checkDecodes(ffprobe: string, file: string, stream: VideoStream, packets: Packet[], options: ProbeOptions): Promise<{ packets: Packet[]; warning?: MediaWarning }> {
  const { times, stderr } = await decodedFrameTimes(ffprobe, file, stream, packets.length, options);
  if (times.length === 0) throw new MediaError('undecodable', 'none of the video\'s frames can be decoded; the file is damaged', { detail: stderr.lines() });
  const listed = presentationTimes(packets.filter((p) => !p.discard), nominalRate(stream));
  if (times.length >= listed.length) return { packets };
  const missing = missingTimes(listed, times);
  const shown = missing.slice(0, 3).map((t) => `${t.toFixed(2)} s`).join(', ');
  const message = `${listed.length - times.length} of the video's ${listed.length} frames do not decode (at ${shown}${missing.length > 3 ? ', ...' : ''}); they are left out and the ${times.length} others are processed`;
  const warning: MediaWarning = { code: 'frames_missing', message, decodedFrames: times.length, declaredFrames: listed.length, missingTimes: missing.slice(0, MAX_MISSING_TIMES) };
  return { packets: times.map((pts) => ({ pts, discard: false })), warning };
}

/** The listed times that no decoded frame has (both ascending), matched to within a tenth of a millisecond. */
function missingTimes(listed: number[], sorted: number[]): number[] {
  const missing: number[] = [];
  let j = 0;
  for (const t of listed) {
    while (j < sorted.length && sorted[j] < t - 1e-4) j++;
    if (j < sorted.length && Math.abs(sorted[j] - t) <= 1e-4) j++;
    else missing.push(t);
  }
  return missing;
}

/**
 * Each decoded frame's presentation time, ascending. A frame without one (AVI
 * with B-frames leaves the last N/A) is still a frame: it is put a nominal
 * frame after the one before, as presentationTimes does for packets.
 *
 * The pass takes time with the length: it may take the probe's timeout or
 * 100 ms a listed packet (a decoder slower than 10 fps), whichever is longer,
 * so a long 4K video is not cut off while a file that makes the decoder spin still is.
 */
async function decodedFrameTimes(ffprobe: string, file: string, stream: VideoStream, listedPackets: number, options: ProbeOptions): Promise<{ times: number[]; stderr: RunResult['stderr'] }> {
  const timeoutMs = Math.max(options.timeoutMs ?? DEFAULT_TIMEOUT_MS, listedPackets * 100);
  const args = ['-select_streams', String(stream.index), '-show_entries', 'frame=best_effort_timestamp_time', '-of', 'csv=p=0', fileUrl(file)];
  const result = await runFfprobe(ffprobe, args, { ...options, timeoutMs });
  const frames: Packet[] = result.stdout
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => ({ pts: parseSeconds(line.split(',')[0]?.trim()), discard: false }));
  return { times: presentationTimes(frames, nominalRate(stream)), stderr: result.stderr };
}

function runFfprobe(ffprobe: string, args: string[], options: ProbeOptions): Promise<RunResult> {
  throwIfAborted(options.signal);
  return runTool(ffprobe, ['-v', 'error', '-hide_banner', ...safeInputArgs(), ...args], {
    timeoutMs: options.timeoutMs ?? DEFAULT_TIMEOUT_MS,
    signal: options.signal,
  });
}

/** Lines look like `pts_time=0.040000|dts_time=-0.040000|flags=K_` (N/A when unknown). */
function parsePacketLines(stdout: string): Packet[] {
  const packets: Packet[] = [];
  for (const line of stdout.split('\n')) {
    if (!line.includes('=')) continue;
    const fields = new Map(line.trim().split('|').map((pair) => pair.split('=', 2) as [string, string]));
    // ffprobe prints flags as K/_ (keyframe), D/_ (discard), C/_ (corrupt; newer versions).
    const flags = fields.get('flags') ?? '';
    packets.push({ pts: parseSeconds(fields.get('pts_time')), dts: parseSeconds(fields.get('dts_time')), discard: flags[1] === 'D' });
  }
  return packets;
}

// ---------------------------------------------------------------------------
// Classifying what we got

function classifyHeaderFailure(result: RunResult): MediaError {
  const detail = result.stderr.lines();
  if (result.stderr.includes(/moov atom not found/i)) {
    return new MediaError('truncated', 'the video is cut short: its index (moov atom) is missing', { detail });
  }
  if (result.stderr.includes(/not on whitelist/i)) {
    return new MediaError('not_a_video', 'the file is in a format that is not accepted; upload an mp4, mov, mkv, webm or avi video', { detail });
  }
  return new MediaError('not_a_video', 'the file is not a video that can be read', { detail });
}

/** Image demuxers: ffprobe reports a png or jpg as a one-frame "video". Animated gif is allowed. */
const STILL_IMAGE_FORMATS = /^(image2|[a-z0-9]+_pipe)$/;
const VIDEO_CONTAINERS = /(^|,)(mov|mp4|matroska|webm|avi|flv|mpegts|mpeg|ogg|asf|mxf|nut)(,|$)/;

function chooseVideoStream(header: FfprobeHeader): VideoStream {
  const formatName = header.format?.format_name ?? '';
  const streams = header.streams ?? [];
  if (STILL_IMAGE_FORMATS.test(formatName) && formatName !== 'gif_pipe') {
    throw new MediaError('not_a_video', 'the file is a still image, not a video');
  }
  // Cover art in music files is a "video" stream with attached_pic; it is not a video.
  const video = streams.find((s) => s.codec_type === 'video' && s.disposition?.attached_pic !== 1);
  if (video) {
    if (!video.width || !video.height) {
      throw new MediaError('not_a_video', 'the video stream has no picture size; the file may be damaged');
    }
    return video as VideoStream;
  }
  if (streams.some((s) => s.codec_type === 'audio')) {
    throw new MediaError('no_video_stream', 'the file has audio but no video');
  }
  if (streams.length === 0 && VIDEO_CONTAINERS.test(formatName)) {
    // e.g. an mp4 written with zero frames: the muxer drops the empty track.
    throw new MediaError('zero_frames', 'the video contains no frames');
  }
  if (streams.length > 0) throw new MediaError('no_video_stream', 'the file has no video stream');
  throw new MediaError('not_a_video', 'the file is not a video that can be read');
}

function describeVideo(header: FfprobeHeader, stream: VideoStream, packets: Packet[], warning?: MediaWarning): VideoMeta {
  const shown = packets.filter((p) => !p.discard);
  if (shown.length === 0) throw new MediaError('zero_frames', 'the video contains no frames');
  const nominalFps = nominalRate(stream);
  const timestamps = presentationTimes(shown, nominalFps);
  // A file cut short lasts as long as its frames do, not as its header says (frames missing in the middle change nothing).
  const duration = warning?.code === 'cut_short' ? timestamps.at(-1)! - timestamps[0] + 1 / nominalFps : videoDuration(stream, header, timestamps, nominalFps);
  const rotation = clockwiseRotation(stream);
  const sideways = rotation === 90 || rotation === 270;
  return {
    width: sideways ? stream.height : stream.width,
    height: sideways ? stream.width : stream.height,
    fps: averageFps(stream, timestamps.length, duration),
    frames: timestamps.length,
    duration,
    rotation,
    hasAudio: (header.streams ?? []).some((s) => s.codec_type === 'audio'),
    timestamps,
    frameNames: videoFrameNames(timestamps.length),
    kind: 'video',
    ...(warning ? { warnings: [warning] } : {}),
  };
}

/**
 * Presentation times in ascending order. Packets come in decode order, so with
 * B-frames their pts are not monotonic; sorting gives display order, which is
 * the order ffmpeg hands decoded frames out. Raw streams (h264 elementary)
 * have no timestamps at all; then frames are spaced at the nominal rate.
 */
function presentationTimes(packets: Packet[], nominalFps: number): number[] {
  const step = 1 / nominalFps;
  let previous: number | undefined;
  const times = packets.map((packet) => {
    const time = packet.pts ?? packet.dts ?? (previous === undefined ? 0 : previous + step);
    previous = time;
    return time;
  });
  return times.sort((a, b) => a - b);
}

/** The stream's own duration when it has one, else first to last frame plus one frame. */
function videoDuration(stream: VideoStream, header: FfprobeHeader, timestamps: number[], nominalFps: number): number {
  const streamDuration = parseSeconds(stream.duration);
  if (streamDuration !== undefined && streamDuration > 0) return streamDuration;
  const span = timestamps[timestamps.length - 1] - timestamps[0];
  const lastFrame = timestamps.length > 1 ? span / (timestamps.length - 1) : 1 / nominalFps;
  const fromFrames = span + lastFrame;
  if (fromFrames > 0) return fromFrames;
  return parseSeconds(header.format?.duration) ?? timestamps.length / nominalFps;
}

/**
 * frames / duration, snapped to the rate ffprobe states when they agree
 * within 1 %, so a 29.97 fps file reports 30000/1001 exactly rather than a
 * rounding of it.
 */
function averageFps(stream: VideoStream, frames: number, duration: number): number {
  const measured = frames / duration;
  for (const stated of [parseRate(stream.avg_frame_rate), parseRate(stream.r_frame_rate)]) {
    if (stated !== undefined && Math.abs(stated - measured) <= measured * 0.01) return stated;
  }
  return measured;
}

/**
 * Degrees clockwise that a player turns the picture. The display matrix wins
 * (ffprobe reports it counter-clockwise, e.g. -90 for a phone held upright);
 * the old `rotate` tag is already clockwise.
 */
function clockwiseRotation(stream: FfprobeStream): number {
  const matrix = stream.side_data_list?.find((d) => d.side_data_type === 'Display Matrix');
  if (typeof matrix?.rotation === 'number') return quarterTurns(-matrix.rotation);
  const tag = Number(stream.tags?.rotate);
  return Number.isFinite(tag) ? quarterTurns(tag) : 0;
}

/** Nearest multiple of 90 in [0, 360). */
function quarterTurns(degrees: number): number {
  const snapped = Math.round(degrees / 90) * 90;
  return ((snapped % 360) + 360) % 360;
}

export function videoFrameNames(count: number): string[] {
  return Array.from({ length: count }, (_, i) => String(i).padStart(5, '0'));
}

// ---------------------------------------------------------------------------
// Small parsers and file checks

function parseSeconds(text: string | undefined): number | undefined {
  if (text === undefined || text === 'N/A' || text === '') return undefined;
  const value = Number(text);
  return Number.isFinite(value) ? value : undefined;
}

/** The rate a stream states (what frames without timestamps are spaced at). */
function nominalRate(stream: FfprobeStream): number {
  return parseRate(stream.avg_frame_rate) ?? parseRate(stream.r_frame_rate) ?? 25;
}

/** "30000/1001" -> 29.97...; "0/0" -> undefined. */
function parseRate(text: string | undefined): number | undefined {
  if (!text) return undefined;
  const [numerator, denominator = '1'] = text.split('/');
  const value = Number(numerator) / Number(denominator);
  return Number.isFinite(value) && value > 0 ? value : undefined;
}

/** MP4 / MOV files start with a box header: 4 bytes size, then a type such as `ftyp`. */
async function looksLikeIsoMedia(file: string): Promise<boolean> {
  const handle = await open(file, 'r');
  try {
    const head = Buffer.alloc(8);
    const { bytesRead } = await handle.read(head, 0, 8, 0);
    return bytesRead === 8 && ['ftyp', 'moov', 'mdat', 'free', 'skip', 'wide', 'pnot'].includes(head.toString('latin1', 4, 8));
  } finally {
    await handle.close();
  }
}

async function statOrThrow(inputPath: string) {
  try {
    return await stat(inputPath);
  } catch (cause) {
    throw new MediaError('not_found', 'the file does not exist', { cause });
  }
}

async function assertNonEmptyFile(file: string): Promise<void> {
  const info = await statOrThrow(file);
  if (!info.isFile()) throw new MediaError('not_a_video', 'the path is not a file');
  if (info.size === 0) throw new MediaError('not_a_video', 'the file is empty');
}
