/**
 * The cases of `npm run fuzz` (bench/fuzz.ts): a seeded PRNG, the tiny clips
 * ffmpeg makes at run time, the mutations of their bytes (blind ones and
 * ones that know the container: mp4/mov atoms, Matroska/WebM EBML elements,
 * AVI RIFF chunks, GIF headers), mutated JSON, and multipart bodies built
 * byte by byte so they can be wrong in every way a client can be wrong.
 *
 * Everything a case does is decided here from (seed, index) and the clips,
 * before it is sent: `--only INDEX` replays exactly the same bytes.
 */
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import path from 'node:path';

// ---------------------------------------------------------------------------
// Seeded randomness

/** mulberry32: small, fast, and the same sequence on every machine. */
export class Rng {
  private state: number;
  constructor(seed: number) {
    this.state = seed >>> 0;
  }
  next(): number {
    let t = (this.state = (this.state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  /** An integer in [lo, hi]. */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.next() * items.length)];
  }
  /** A key of `weights`, with probability proportional to its weight. */
  weighted<K extends string>(weights: Record<K, number>): K {
    const entries = Object.entries(weights) as [K, number][];
    let r = this.next() * entries.reduce((sum, [, w]) => sum + w, 0);
    for (const [key, w] of entries) if ((r -= w) < 0) return key;
    return entries[entries.length - 1][0];
  }
  bytes(n: number): Buffer {
    const out = Buffer.alloc(n);
    for (let i = 0; i < n; i++) out[i] = Math.floor(this.next() * 256);
    return out;
  }
}

/** The seed of case `index` of run `seed`: each case has its own stream, so one can be replayed alone. */
export function caseSeed(seed: number, index: number): number {
  let h = Math.imul(seed ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(index + 1, 0xc2b2ae35);
  h = Math.imul(h ^ (h >>> 16), 0x7feb352d);
  h = Math.imul(h ^ (h >>> 15), 0x846ca68b);
  return (h ^ (h >>> 16)) >>> 0;
}

// ---------------------------------------------------------------------------
// The clips

export type Container = 'mp4' | 'mov' | 'webm' | 'mkv' | 'avi' | 'gif';

export interface BaseClip {
  name: string;
  container: Container;
  /** The file name it is uploaded under. */
  filename: string;
  data: Buffer;
  width: number;
  height: number;
  frames: number;
  audio: boolean;
}

export const CLIP_WIDTH = 64;
export const CLIP_HEIGHT = 48;
const FPS = 5;

interface ClipSpec {
  name: string;
  container: Container;
  frames: number;
  audio?: string[];
  video: string[];
  extra?: string[];
}

const X264 = ['-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p', '-g', '2'];
const MJPEG = ['-c:v', 'mjpeg', '-pix_fmt', 'yuvj420p', '-q:v', '5'];

/** mp4/H.264, WebM/VP9, MKV, MOV, AVI/MJPEG, GIF; 3 to 6 frames of 64x48; some with audio. */
const CLIP_SPECS: ClipSpec[] = [
  { name: 'mp4-h264', container: 'mp4', frames: 4, video: X264 },
  { name: 'mp4-h264-aac-faststart', container: 'mp4', frames: 6, video: X264, audio: ['-c:a', 'aac', '-b:a', '32k'], extra: ['-movflags', '+faststart'] },
  { name: 'webm-vp9', container: 'webm', frames: 3, video: ['-c:v', 'libvpx-vp9', '-deadline', 'realtime', '-cpu-used', '8', '-b:v', '200k'] },
  { name: 'webm-vp9-opus', container: 'webm', frames: 5, video: ['-c:v', 'libvpx-vp9', '-deadline', 'realtime', '-cpu-used', '8', '-b:v', '200k'], audio: ['-c:a', 'libopus', '-b:a', '24k'] },
  { name: 'mkv-h264-vorbis', container: 'mkv', frames: 4, video: X264, audio: ['-c:a', 'libvorbis'] },
  { name: 'mkv-ffv1', container: 'mkv', frames: 3, video: ['-c:v', 'ffv1'] },
  { name: 'mov-h264', container: 'mov', frames: 5, video: X264 },
  { name: 'mov-mjpeg-pcm', container: 'mov', frames: 3, video: MJPEG, audio: ['-c:a', 'pcm_s16le'] },
  { name: 'avi-mjpeg', container: 'avi', frames: 4, video: MJPEG },
  { name: 'avi-mjpeg-pcm', container: 'avi', frames: 6, video: MJPEG, audio: ['-c:a', 'pcm_s16le'] },
  { name: 'gif', container: 'gif', frames: 4, video: ['-c:v', 'gif'] },
];

function run(command: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`${command} ${args.join(' ')}: exit ${code}\n${stderr.slice(-2000)}`))));
  });
}

/** Makes the clips (bit-exact flags: the same ffmpeg makes the same bytes, so a seed replays). */
export async function makeClips(ffmpeg: string, dir: string): Promise<BaseClip[]> {
  return Promise.all(
    CLIP_SPECS.map(async (spec) => {
      const file = path.join(dir, `${spec.name}.${spec.container}`);
      const seconds = (spec.frames / FPS).toFixed(2);
      const inputs = ['-f', 'lavfi', '-i', `testsrc2=size=${CLIP_WIDTH}x${CLIP_HEIGHT}:rate=${FPS}`];
      if (spec.audio) inputs.push('-f', 'lavfi', '-i', `sine=frequency=440:sample_rate=48000:duration=${seconds}`);
      await run(ffmpeg, [
        '-y', '-v', 'error', '-threads', '1', ...inputs,
        // -t, not -frames:v: ending on the video's last frame would cut the audio wherever its reading thread was.
        '-t', seconds, ...spec.video, ...(spec.audio ?? []), ...(spec.extra ?? []),
        '-map_metadata', '-1', '-fflags', '+bitexact', '-flags:v', '+bitexact', '-flags:a', '+bitexact',
        file,
      ]);
      return {
        name: spec.name,
        container: spec.container,
        filename: `clip.${spec.container}`,
        data: await readFile(file),
        width: CLIP_WIDTH,
        height: CLIP_HEIGHT,
        frames: spec.frames,
        audio: spec.audio !== undefined,
      };
    }),
  );
}

// ---------------------------------------------------------------------------
// Container structure

export interface Box {
  /** 'moov', '1654AE6B' (EBML ids in hex), 'LIST:hdrl'... */
  type: string;
  start: number;
  /** Header bytes (size and type / id and size vints). */
  header: number;
  /** Whole element, header included. */
  size: number;
  depth: number;
  /** Where its size field is, how it is written and what it says (for corrupting it in place). */
  sizeAt: number;
  sizeBytes: number;
  encoding: 'be' | 'le' | 'vint';
  sizeValue: number;
}

const MP4_CONTAINERS = new Set(['moov', 'trak', 'mdia', 'minf', 'stbl', 'edts', 'dinf', 'udta', 'mvex', 'moof', 'traf', 'wave']);

/** mp4/mov atoms: top level and inside the containers (moov, trak, mdia, minf, stbl ...), in file order. */
export function parseAtoms(data: Buffer, start = 0, end = data.length, depth = 0, out: Box[] = []): Box[] {
  let pos = start;
  while (pos + 8 <= end) {
    let size = data.readUInt32BE(pos);
    const type = data.toString('latin1', pos + 4, pos + 8);
    let header = 8;
    if (size === 1 && pos + 16 <= end) {
      size = Number(data.readBigUInt64BE(pos + 8));
      header = 16;
    } else if (size === 0) {
      size = end - pos;
    }
    if (size < header || pos + size > end) break;
    const sizeValue = header === 16 ? size : data.readUInt32BE(pos);
    out.push({ type, start: pos, header, size, depth, sizeAt: header === 16 ? pos + 12 : pos, sizeBytes: 4, encoding: 'be', sizeValue: sizeValue % 2 ** 32 });
    if (MP4_CONTAINERS.has(type)) parseAtoms(data, pos + header, pos + size, depth + 1, out);
    pos += size;
  }
  return out;
}

/** Reads an EBML vint at `pos`: its length and value (marker bit removed); undefined if malformed. */
function readVint(data: Buffer, pos: number, keepMarker = false): { length: number; value: number; unknown: boolean } | undefined {
  const first = data[pos];
  if (first === undefined || first === 0) return undefined;
  const length = Math.clz32(first) - 23;
  if (pos + length > data.length) return undefined;
  let value = keepMarker ? first : first & (0xff >> length);
  let allOnes = (first & (0xff >> length)) === 0xff >> length;
  for (let i = 1; i < length; i++) {
    value = value * 256 + data[pos + i];
    if (data[pos + i] !== 0xff) allOnes = false;
  }
  return { length, value, unknown: allOnes };
}

/** EBML master elements we descend into (Segment, Tracks, TrackEntry, Video, Cluster, Cues, ...). */
const EBML_MASTERS = new Set([
  '1A45DFA3', '18538067', '114D9B74', '4DBB', '1549A966', '1654AE6B', 'AE', 'E0', 'E1', '1F43B675', 'A0', '1C53BB6B', 'BB', 'B7', '1254C367', '7373', '67C8', '63C0',
]);

/** Matroska/WebM elements: the top level, and inside the master elements, in file order. */
export function parseEbml(data: Buffer, start = 0, end = data.length, depth = 0, out: Box[] = []): Box[] {
  let pos = start;
  while (pos < end) {
    const id = readVint(data, pos, true);
    if (!id || id.length > 4) break;
    const size = readVint(data, pos + id.length);
    if (!size) break;
    const header = id.length + size.length;
    const length = size.unknown ? end - pos - header : size.value;
    if (pos + header + length > end) break;
    const type = id.value.toString(16).toUpperCase();
    out.push({ type, start: pos, header, size: header + length, depth, sizeAt: pos + id.length, sizeBytes: size.length, encoding: 'vint', sizeValue: size.value });
    if (EBML_MASTERS.has(type)) parseEbml(data, pos + header, pos + header + length, depth + 1, out);
    pos += header + length;
  }
  return out;
}

/** AVI RIFF chunks: RIFF and LIST descend; chunks are padded to even sizes. */
export function parseRiff(data: Buffer, start = 0, end = data.length, depth = 0, out: Box[] = []): Box[] {
  let pos = start;
  while (pos + 8 <= end) {
    const id = data.toString('latin1', pos, pos + 4);
    const length = data.readUInt32LE(pos + 4);
    if (pos + 8 + length > end) break;
    const list = id === 'RIFF' || id === 'LIST';
    const type = list ? `${id}:${data.toString('latin1', pos + 8, pos + 12)}` : id;
    out.push({ type, start: pos, header: list ? 12 : 8, size: 8 + length, depth, sizeAt: pos + 4, sizeBytes: 4, encoding: 'le', sizeValue: length });
    if (list) parseRiff(data, pos + 12, pos + 8 + length, depth + 1, out);
    pos += 8 + length + (length & 1);
  }
  return out;
}

export function structureOf(clip: BaseClip, data: Buffer): Box[] {
  if (clip.container === 'mp4' || clip.container === 'mov') return parseAtoms(data);
  if (clip.container === 'webm' || clip.container === 'mkv') return parseEbml(data);
  if (clip.container === 'avi') return parseRiff(data);
  return [];
}

// ---------------------------------------------------------------------------
// Mutating a clip's bytes

type Mutation = (data: Buffer, rng: Rng, clip: BaseClip) => { data: Buffer; what: string } | undefined;

const INTERESTING_32 = [0, 1, 7, 8, 9, 0x7f, 0xff, 0x100, 0xffff, 0x10000, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff];

/** A position: half the time in the first KiB, where the headers are. */
const position = (rng: Rng, length: number) => (rng.chance(0.5) ? rng.int(0, Math.min(length, 1024) - 1) : rng.int(0, length - 1));

function writeSize(data: Buffer, box: Box, value: number): void {
  if (box.encoding === 'be') return void data.writeUInt32BE(value >>> 0, box.sizeAt);
  if (box.encoding === 'le') return void data.writeUInt32LE(value >>> 0, box.sizeAt);
  // An EBML size vint of the same length: the marker kept, the value in the rest (all ones: "unknown size").
  let v = Math.min(value, 2 ** Math.min(7 * box.sizeBytes, 48) - 1);
  for (let i = box.sizeBytes - 1; i >= 0; i--) {
    data[box.sizeAt + i] = v & 0xff;
    v = Math.floor(v / 256);
  }
  data[box.sizeAt] = (data[box.sizeAt] & (0xff >> box.sizeBytes)) | (0x80 >> (box.sizeBytes - 1));
}

const blind: Record<string, Mutation> = {
  bitflips(data, rng) {
    const out = Buffer.from(data);
    const n = rng.pick([1, 1, 2, 4, 8, 32]);
    for (let i = 0; i < n; i++) out[position(rng, out.length)] ^= 1 << rng.int(0, 7);
    return { data: out, what: `bitflips(${n})` };
  },
  truncate(data, rng) {
    const at = rng.chance(0.3) ? rng.int(0, Math.min(data.length - 1, 2048)) : rng.int(0, data.length - 1);
    return { data: data.subarray(0, at), what: `truncate(${at}/${data.length})` };
  },
  appendGarbage(data, rng) {
    const extra = rng.chance(0.5) ? rng.bytes(rng.int(1, 8192)) : data.subarray(0, rng.int(1, data.length));
    return { data: Buffer.concat([data, extra]), what: `append(${extra.length})` };
  },
  overwrite(data, rng) {
    const out = Buffer.from(data);
    const at = position(rng, out.length);
    const n = Math.min(rng.int(1, 64), out.length - at);
    const fill = rng.pick(['zero', 'ff', 'random'] as const);
    for (let i = 0; i < n; i++) out[at + i] = fill === 'zero' ? 0 : fill === 'ff' ? 0xff : rng.int(0, 255);
    return { data: out, what: `overwrite(${at}+${n},${fill})` };
  },
  insert(data, rng) {
    const at = position(rng, data.length);
    const bytes = rng.bytes(rng.int(1, 16));
    return { data: Buffer.concat([data.subarray(0, at), bytes, data.subarray(at)]), what: `insert(${at}+${bytes.length})` };
  },
  cut(data, rng) {
    const at = position(rng, data.length);
    const n = rng.int(1, Math.min(256, data.length - at));
    return { data: Buffer.concat([data.subarray(0, at), data.subarray(at + n)]), what: `cut(${at}+${n})` };
  },
  header(data, rng) {
    const out = Buffer.from(data);
    const n = rng.int(1, 8);
    for (let i = 0; i < n; i++) out[rng.int(0, Math.min(out.length, 64) - 1)] = rng.int(0, 255);
    return { data: out, what: `header(${n})` };
  },
};

const structural: Record<string, Mutation> = {
  /** Two sibling boxes/elements/chunks change places. */
  swap(data, rng, clip) {
    const boxes = structureOf(clip, data);
    const depth = rng.pick([...new Set(boxes.map((b) => b.depth))]);
    const level = boxes.filter((b) => b.depth === depth);
    if (level.length < 2) return undefined;
    let a = rng.int(0, level.length - 1);
    let b = rng.int(0, level.length - 1);
    if (a === b) b = (a + 1) % level.length;
    if (level[a].start > level[b].start) [a, b] = [b, a];
    const [first, second] = [level[a], level[b]];
    if (first.start + first.size > second.start) return undefined; // nested, not siblings
    const out = Buffer.concat([
      data.subarray(0, first.start),
      data.subarray(second.start, second.start + second.size),
      data.subarray(first.start + first.size, second.start),
      data.subarray(first.start, first.start + first.size),
      data.subarray(second.start + second.size),
    ]);
    return { data: out, what: `swap(${first.type}@${first.start},${second.type}@${second.start})` };
  },
  /** A box/element/chunk twice in a row. */
  duplicate(data, rng, clip) {
    const boxes = structureOf(clip, data);
    if (!boxes.length) return undefined;
    const box = rng.pick(boxes);
    const copy = data.subarray(box.start, box.start + box.size);
    const out = Buffer.concat([data.subarray(0, box.start + box.size), copy, data.subarray(box.start + box.size)]);
    return { data: out, what: `duplicate(${box.type}@${box.start})` };
  },
  /** A box/element/chunk removed. */
  drop(data, rng, clip) {
    const boxes = structureOf(clip, data);
    if (!boxes.length) return undefined;
    const box = rng.pick(boxes);
    return { data: Buffer.concat([data.subarray(0, box.start), data.subarray(box.start + box.size)]), what: `drop(${box.type}@${box.start})` };
  },
  /** A size field set to a boundary value or off by a little. */
  size(data, rng, clip) {
    const boxes = structureOf(clip, data);
    if (!boxes.length) return undefined;
    const box = rng.pick(boxes);
    const out = Buffer.from(data);
    const current = box.sizeValue;
    const value = rng.chance(0.5) ? rng.pick(INTERESTING_32) : Math.max(0, current + rng.pick([-16, -8, -1, 1, 8, 4096, current]));
    writeSize(out, box, value);
    return { data: out, what: `size(${box.type}@${box.start}=${value})` };
  },
  /** A box type / element id / chunk id renamed. */
  rename(data, rng, clip) {
    const boxes = structureOf(clip, data);
    if (!boxes.length) return undefined;
    const box = rng.pick(boxes);
    const out = Buffer.from(data);
    const at = clip.container === 'mp4' || clip.container === 'mov' ? box.start + 4 : box.start;
    const n = clip.container === 'mp4' || clip.container === 'mov' || clip.container === 'avi' ? 4 : box.sizeAt - box.start;
    const byte = at + rng.int(0, n - 1);
    out[byte] = rng.chance(0.5) ? rng.int(0x61, 0x7a) : rng.int(0, 255);
    return { data: out, what: `rename(${box.type}@${box.start})` };
  },
  /** A number in a header: a table's entry count, a picture size, a frame count. */
  field(data, rng, clip) {
    const out = Buffer.from(data);
    const boxes = structureOf(clip, data);
    const value = rng.pick(INTERESTING_32);
    if (clip.container === 'mp4' || clip.container === 'mov') {
      const tables = boxes.filter((b) => ['stts', 'stsc', 'stsz', 'stco', 'co64', 'ctts', 'stss', 'stsd', 'elst', 'tkhd', 'mdhd', 'mvhd', 'hdlr'].includes(b.type));
      if (!tables.length) return undefined;
      const box = rng.pick(tables);
      const offset = box.type === 'stsd' && rng.chance(0.5) ? 16 + 8 + 24 + rng.pick([0, 2]) : 12 + 4 * rng.int(0, 4);
      if (box.start + box.header + offset + 4 > box.start + box.size) return undefined;
      const at = box.start + box.header + offset - 8;
      if (box.type === 'stsd' && offset > 16) out.writeUInt16BE(value & 0xffff, at);
      else out.writeUInt32BE(value >>> 0, at);
      return { data: out, what: `field(${box.type}+${offset}=${value})` };
    }
    if (clip.container === 'webm' || clip.container === 'mkv') {
      // PixelWidth, PixelHeight, TimestampScale, DefaultDuration, CodecID, TrackNumber, Timestamp, SimpleBlock/Block.
      const leaves = boxes.filter((b) => ['B0', 'BA', '2AD7B1', '23E383', '86', 'D7', 'E7', 'A3', 'A1', '4489'].includes(b.type));
      if (!leaves.length) return undefined;
      const box = rng.pick(leaves);
      const n = Math.min(4, box.size - box.header);
      if (n <= 0) return undefined;
      for (let i = 0; i < n; i++) out[box.start + box.header + i] = rng.chance(0.5) ? (value >>> (8 * i)) & 0xff : rng.int(0, 255);
      return { data: out, what: `field(${box.type}@${box.start})` };
    }
    if (clip.container === 'avi') {
      const headers = boxes.filter((b) => ['avih', 'strh', 'strf'].includes(b.type));
      if (!headers.length) return undefined;
      const box = rng.pick(headers);
      const offset = 4 * rng.int(0, Math.floor((box.size - 8) / 4) - 1);
      out.writeUInt32LE(value >>> 0, box.start + 8 + offset);
      return { data: out, what: `field(${box.type}+${offset}=${value})` };
    }
    // GIF: the logical screen's width/height (LE at 6 and 8) or an image descriptor's.
    const at = rng.chance(0.6) ? rng.pick([6, 8]) : out.indexOf(0x2c, 13);
    if (at < 0 || at + 2 > out.length) return undefined;
    out.writeUInt16LE(value & 0xffff, at === 6 || at === 8 ? at : Math.min(at + 1 + 2 * rng.int(0, 3), out.length - 2));
    return { data: out, what: `field(gif@${at}=${value & 0xffff})` };
  },
};

export interface MutatedVideo {
  data: Buffer;
  what: string[];
}

/** 0 to 3 mutations of a clip's bytes (one case in twelve stays intact: it must succeed). */
export function mutateVideo(clip: BaseClip, rng: Rng): MutatedVideo {
  const count = rng.weighted({ 0: 1, 1: 4, 2: 4, 3: 3 });
  let data = clip.data;
  const what: string[] = [];
  for (let i = 0; i < Number(count) && data.length > 0; i++) {
    const family = clip.container === 'gif' ? 'blind' : rng.weighted({ blind: 4, structural: 6 });
    const table = family === 'blind' ? blind : structural;
    const name = rng.pick(Object.keys(table));
    const result = table[name](data, rng, clip);
    if (result) {
      data = result.data;
      what.push(result.what);
    }
  }
  return { data, what };
}

// ---------------------------------------------------------------------------
// Mutating JSON

/** Placeholders for what JSON.stringify cannot write (NaN, Infinity, huge literals): replaced in the text. */
const RAW = (text: string) => `\u0000RAW:${text}\u0000`;
const rawPattern = /"\\u0000RAW:(.*?)\\u0000"/g;

function deep(depth: number, kind: 'array' | 'object'): string {
  return kind === 'array' ? '['.repeat(depth) + ']'.repeat(depth) : '{"a":'.repeat(depth) + '1' + '}'.repeat(depth);
}

const NASTY_STRINGS = [
  '', ' ', '\u0000', '\u0001\u0002\u001f\u007f', '\t\n\r', '\u2028\u2029', '\ud800', '\udfff\ud800', '\u200b\u200d\ufeff', 'مرحبا\u202eabc', '🎬👩‍👩‍👧‍👦', 'e\u0301\u0301\u0301', '../../etc/passwd', '<script>alert(1)</script>',
  '%s%n%x', '{"objects":[]}', 'NaN', 'Infinity', '-0', '1e999', 'null', 'true', 'x'.repeat(101), 'é'.repeat(100), '\\', '"',
];

/** A value to put where another was. */
function nastyValue(rng: Rng): unknown {
  switch (rng.int(0, 13)) {
    case 0: return null;
    case 1: return rng.chance(0.5);
    case 2: return rng.pick(NASTY_STRINGS);
    case 3: return RAW(rng.pick(['NaN', '-NaN', 'Infinity', '-Infinity', '1e999', '-1e999', '1e-999', '-0', '0.0000000000000000000001', '123456789012345678901234567890', '1.5e308', '0x10', '01', '+1', '.5', '5.']));
    case 4: return rng.pick([-1, -0.5, 0.5, 1.5, 2 ** 31, 2 ** 32 + 1, 2 ** 53 + 1, -(2 ** 53), 1e308, Number.MIN_VALUE, 255, 256, 1000, 100000]);
    case 5: return [];
    case 6: return {};
    case 7: return RAW(deep(rng.pick([64, 1000, 10_000, 100_000]), rng.pick(['array', 'object'] as const)));
    case 8: return 'x'.repeat(rng.pick([1000, 100_000, 900_000]));
    case 9: return Array.from({ length: rng.pick([65, 1000, 5000]) }, () => [rng.int(0, 70), rng.int(0, 50), rng.int(0, 1)]);
    case 10: return { __proto__: { polluted: true }, constructor: { prototype: { x: 1 } } };
    case 11: return RAW('"\\ud800\\udbff"');
    case 12: return rng.int(-5, 10);
    default: return rng.pick(['1', '0', 'best', 'fast', 'overlay.mp4', 'cutout.webm']);
  }
}

type JsonPath = (string | number)[];

function paths(value: unknown, prefix: JsonPath = [], out: JsonPath[] = []): JsonPath[] {
  out.push(prefix);
  if (Array.isArray(value)) value.forEach((v, i) => paths(v, [...prefix, i], out));
  else if (value && typeof value === 'object') for (const [k, v] of Object.entries(value)) paths(v, [...prefix, k], out);
  return out;
}

function getAt(value: any, path: JsonPath): any {
  return path.reduce((v, k) => v?.[k], value);
}

/**
 * A JSON body: a copy of `base` with 1-3 changes at random places (a value
 * replaced, a key removed or added, an array grown to thousands), written out,
 * sometimes then damaged as text (truncated, a comment, a BOM, a duplicate key).
 * `frozen` paths (e.g. a preview's frame) are left as they are.
 */
const MAX_GROWN_CHARS = 4_000_000;

export function mutateJson(base: unknown, rng: Rng, frozen: string[] = []): { text: string; what: string[] } {
  const value = structuredClone(base) as any;
  const what: string[] = [];
  const edits = rng.weighted({ 1: 6, 2: 3, 3: 1 });
  let root: any = value;
  for (let i = 0; i < Number(edits); i++) {
    const candidates = paths(root).filter((p) => !frozen.some((f) => p.join('.').startsWith(f)));
    const target = rng.pick(candidates);
    const op = rng.weighted({ replace: 6, remove: 2, add: 1, grow: 2, wrap: 1 });
    const where = target.join('.') || '<root>';
    if (target.length === 0) {
      if (op === 'replace') root = nastyValue(rng);
      else if (op === 'wrap') root = [root];
      what.push(`${op}(${where})`);
      continue;
    }
    const parent = getAt(root, target.slice(0, -1));
    const key = target[target.length - 1];
    if (op === 'replace') parent[key] = nastyValue(rng);
    else if (op === 'remove') Array.isArray(parent) ? parent.splice(Number(key), 1) : delete parent[key];
    else if (op === 'add') {
      const holder = parent && typeof parent === 'object' && !Array.isArray(parent) ? parent : undefined;
      if (holder) holder[rng.pick(['extra', 'Objects', 'id ', '__proto__', 'constructor', 'toString', 'colour', '\u0000', '🎬'])] = nastyValue(rng);
    } else if (op === 'grow') {
      const item = getAt(root, target);
      // Capped at about 4 MB of JSON (four times the prompts limit): grows nested in grows multiply, and
      // seed 2 once grew 5,000 objects of 5,000 points each, out of this process's heap.
      const itemChars = (JSON.stringify(Array.isArray(item) ? item[0] : item) ?? '').length + 1;
      const n = Math.max(2, Math.min(rng.pick([2, 17, 65, 1001, 5000]), Math.floor(MAX_GROWN_CHARS / itemChars)));
      if (Array.isArray(item) && item.length > 0) parent[key] = Array.from({ length: n }, (_, j) => structuredClone(item[j % item.length]));
      else parent[key] = Array.from({ length: n }, () => structuredClone(item));
    } else parent[key] = [parent[key]];
    what.push(`${op}(${where})`);
  }
  let text = JSON.stringify(root) ?? 'undefined';
  text = text.replace(rawPattern, (_, raw: string) => raw.replace(/\\\\/g, '\\').replace(/\\"/g, '"'));
  if (rng.chance(0.15)) {
    const damage = rng.pick(['truncate', 'comment', 'bom', 'trailing-comma', 'duplicate-key', 'single-quotes', 'garbage-after'] as const);
    if (damage === 'truncate') text = text.slice(0, rng.int(0, Math.max(0, text.length - 1)));
    else if (damage === 'comment') text = `/* c */${text}`;
    else if (damage === 'bom') text = `\ufeff${text}`;
    else if (damage === 'trailing-comma') text = text.replace(/\]$|\}$/, (m) => `,${m}`);
    else if (damage === 'duplicate-key') text = text.replace(/^\{/, '{"objects":[],');
    else if (damage === 'single-quotes') text = text.replace(/"/g, "'");
    else text = `${text} }`;
    what.push(damage);
  }
  return { text, what };
}

// ---------------------------------------------------------------------------
// Requests

export interface RawRequest {
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: Buffer;
}

export interface Part {
  name?: string;
  filename?: string;
  type?: string;
  data: Buffer | string;
  /** Replaces the generated part headers. */
  rawHeaders?: string;
}

export interface MultipartOptions {
  boundary: string;
  /** The boundary the header announces (default: the body's). */
  headerBoundary?: string;
  newline?: string;
  preamble?: string;
  epilogue?: string;
  close?: boolean;
}

export function multipartBody(parts: Part[], options: MultipartOptions): Buffer {
  const nl = options.newline ?? '\r\n';
  const chunks: Buffer[] = [];
  if (options.preamble) chunks.push(Buffer.from(options.preamble + nl));
  for (const part of parts) {
    let headers = part.rawHeaders;
    if (headers === undefined) {
      const disposition = [`form-data`, ...(part.name !== undefined ? [`name="${part.name}"`] : []), ...(part.filename !== undefined ? [`filename="${part.filename}"`] : [])].join('; ');
      headers = `Content-Disposition: ${disposition}${part.type ? `${nl}Content-Type: ${part.type}` : ''}`;
    }
    chunks.push(Buffer.from(`--${options.boundary}${nl}${headers}${nl}${nl}`), Buffer.from(part.data), Buffer.from(nl));
  }
  if (options.close !== false) chunks.push(Buffer.from(`--${options.boundary}--${nl}`));
  if (options.epilogue) chunks.push(Buffer.from(options.epilogue));
  return Buffer.concat(chunks);
}

export function multipartRequest(path: string, parts: Part[], options: Partial<MultipartOptions> = {}, contentType?: string): RawRequest {
  const boundary = options.boundary ?? '----clipmaskfuzz7MA4YWxkTrZu0gW';
  const body = multipartBody(parts, { ...options, boundary });
  return { method: 'POST', path, headers: { 'content-type': contentType ?? `multipart/form-data; boundary=${options.headerBoundary ?? boundary}` }, body };
}

export function jsonRequest(method: string, path: string, text: string | Buffer, contentType = 'application/json'): RawRequest {
  return { method, path, headers: contentType ? { 'content-type': contentType } : {}, body: Buffer.from(text) };
}

/** The prompts every video case sends: one object point in the middle of the first frame. */
export function goodPrompts(clip: Pick<BaseClip, 'width' | 'height'>, extra: Record<string, unknown> = {}) {
  return { objects: [{ id: 1, name: 'thing', prompts: [{ frame: 0, points: [[Math.floor(clip.width / 2), Math.floor(clip.height / 2), 1]] }] }], ...extra };
}

/** A correct submission as parts: the video file and the prompts field. */
export function submissionParts(video: Buffer, filename: string, prompts: string | Buffer): Part[] {
  return [
    { name: 'video', filename, type: 'application/octet-stream', data: video },
    { name: 'prompts', data: prompts },
  ];
}

/**
 * A multipart submission gone wrong in one of the ways clients get it wrong:
 * the boundary, the parts, the content types, the line ends, the limits.
 */
export function mutateMultipart(path: string, video: Buffer, prompts: string, rng: Rng): { request: RawRequest; what: string } {
  const parts = submissionParts(video, 'clip.mp4', prompts);
  const boundary = rng.pick(['xYzZY', '----WebKitFormBoundary7MA4YWxkTrZu0gW', 'a'.repeat(70), 'b'.repeat(200), '"quoted"', 'sp ace', '--', 'é', 'x;y=z']);
  const how = rng.pick([
    'wrong-boundary', 'no-boundary', 'empty-boundary', 'json-type', 'text-type', 'mixed-type', 'urlencoded', 'no-type', 'charset',
    'duplicate-prompts', 'duplicate-video', 'prompts-as-file', 'prompts-file-and-field', 'no-video', 'no-prompts', 'empty-body', 'only-close',
    'video-as-field', 'no-disposition', 'unknown-file', 'unknown-field', 'truncated', 'lf-only', 'no-close', 'many-parts', 'many-fields',
    'long-field-name', 'odd-filename', 'video-text-type', 'garbage-headers', 'preamble-epilogue', 'nul-in-headers', 'base64-encoding', 'boundary-in-data',
  ] as const);
  const make = (p: Part[], options: Partial<MultipartOptions> = {}, type?: string) => multipartRequest(path, p, { boundary, ...options }, type);
  let request: RawRequest;
  switch (how) {
    case 'wrong-boundary': request = make(parts, { headerBoundary: `${boundary}X` }); break;
    case 'no-boundary': request = make(parts, {}, 'multipart/form-data'); break;
    case 'empty-boundary': request = make(parts, {}, 'multipart/form-data; boundary='); break;
    case 'json-type': request = make(parts, {}, 'application/json'); break;
    case 'text-type': request = make(parts, {}, 'text/plain'); break;
    case 'mixed-type': request = make(parts, {}, `multipart/mixed; boundary=${boundary}`); break;
    case 'urlencoded': request = { method: 'POST', path, headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: Buffer.from(`prompts=${encodeURIComponent(prompts)}&video=abc`) }; break;
    case 'no-type': request = make(parts); delete request.headers['content-type']; break;
    case 'charset': request = make(parts, {}, `multipart/form-data; charset=${rng.pick(['utf-16', 'latin1', 'x-nope'])}; boundary=${boundary}`); break;
    case 'duplicate-prompts': request = make([...parts, { name: 'prompts', data: prompts }]); break;
    case 'duplicate-video': request = make([parts[0], ...parts]); break;
    case 'prompts-as-file': request = make([parts[0], { name: 'prompts', filename: 'prompts.json', type: 'application/json', data: prompts }]); break;
    case 'prompts-file-and-field': request = make([...parts, { name: 'prompts', filename: 'prompts.json', data: prompts }]); break;
    case 'no-video': request = make([parts[1]]); break;
    case 'no-prompts': request = make([parts[0]]); break;
    case 'empty-body': request = { method: 'POST', path, headers: { 'content-type': `multipart/form-data; boundary=${boundary}` }, body: Buffer.alloc(0) }; break;
    case 'only-close': request = make([]); break;
    case 'video-as-field': request = make([{ name: 'video', data: video.subarray(0, 4096) }, parts[1]]); break;
    case 'no-disposition': request = make([{ rawHeaders: 'Content-Type: video/mp4', data: video }, parts[1]]); break;
    case 'unknown-file': request = make([...parts, { name: rng.pick(['file', 'upload', 'video[]', '']), filename: 'x.mp4', data: video }]); break;
    case 'unknown-field': request = make([...parts, { name: rng.pick(['speed', 'objects', '__proto__', 'constructor', '']), data: 'fast' }]); break;
    case 'truncated': {
      request = make(parts);
      request.body = request.body!.subarray(0, rng.int(0, request.body!.length - 1));
      break;
    }
    case 'lf-only': request = make(parts, { newline: '\n' }); break;
    case 'no-close': request = make(parts, { close: false }); break;
    case 'many-parts': request = make([...parts, ...Array.from({ length: rng.int(7, 40) }, (_, i) => ({ name: `f${i}`, data: 'x' }))]); break;
    case 'many-fields': request = make([parts[0], ...Array.from({ length: rng.int(4, 8) }, () => parts[1])]); break;
    case 'long-field-name': request = make([...parts, { name: 'n'.repeat(rng.pick([101, 5000])), data: 'x' }]); break;
    case 'odd-filename': request = make([{ ...parts[0], filename: rng.pick(['../../../etc/passwd', '..\\..\\x.mp4', 'é🎬\u0001.mp4', 'a'.repeat(5000), '', '.', 'clip.mp4\u0000.txt', 'con.mp4']) }, parts[1]]); break;
    case 'video-text-type': request = make([{ ...parts[0], type: rng.pick(['text/plain', 'application/json', 'image/png', 'multipart/form-data', '']) }, parts[1]]); break;
    case 'garbage-headers': request = make([{ ...parts[0], rawHeaders: `Content-Disposition: form-data; name="video"; filename="a.mp4"\r\n${rng.bytes(rng.int(1, 200)).toString('latin1')}` }, parts[1]]); break;
    case 'preamble-epilogue': request = make(parts, { preamble: rng.bytes(64).toString('latin1'), epilogue: rng.bytes(64).toString('latin1') }); break;
    case 'nul-in-headers': request = make([{ ...parts[0], rawHeaders: 'Content-Disposition: form-data; name="vid\u0000eo"; filename="a\u0000.mp4"' }, parts[1]]); break;
    case 'base64-encoding': request = make([{ ...parts[0], rawHeaders: 'Content-Disposition: form-data; name="video"; filename="a.mp4"\r\nContent-Transfer-Encoding: base64', data: video.toString('base64') }, parts[1]]); break;
    case 'boundary-in-data': request = make([{ ...parts[0], data: Buffer.concat([video.subarray(0, 100), Buffer.from(`\r\n--${boundary}\r\n`), video.subarray(100)]) }, parts[1]]); break;
  }
  return { request, what: `${how}(boundary=${JSON.stringify(boundary.slice(0, 20))})` };
}
