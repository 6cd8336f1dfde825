import { mkdir, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import type { BinaryMask, RgbFrame, VideoMeta } from '../types.js';
import { readFrames, VideoWriter, videoWriterOptionsFor, writeIndexedPng } from '../media/index.js';
import { paintMasks } from '../segment/image-files.js';
import { tempNameFor, writeFileAtomic } from '../util/atomic.js';
import { masksDocument, recordMask, type FrameRecord, type MasksObject } from './masks-json.js';
import { instancesDocument } from './instances-json.js';
import type { ResultStore } from './result-store.js';

/**
 * overlay.mp4, masks.json, instances.json and the indexed PNGs of a run. Every file is
 * written under a temporary name and renamed when complete, so a reader
 * (the API, a download in progress) sees the previous artifact until the
 * new one is whole, and a failed run leaves nothing half-written.
 */

export const OUTPUT_FILES = { overlay: 'overlay.mp4', masks: 'masks.json', instances: 'instances.json' } as const;

export interface ArtifactTarget {
  meta: VideoMeta;
  /** The source video (its audio is copied into the overlay). */
  input: string;
  outDir: string;
  /** Where the indexed PNGs go (replaced as a whole); none when undefined. */
  pngDir?: string;
  signal?: AbortSignal;
}

export class ArtifactWriter {
  private constructor(
    private readonly target: ArtifactTarget,
    private readonly video: VideoWriter,
    private readonly pngTemp: string | undefined,
  ) {}

  static async open(target: ArtifactTarget): Promise<ArtifactWriter> {
    await mkdir(target.outDir, { recursive: true });
    const pngTemp = target.pngDir ? tempNameFor(path.resolve(target.pngDir)) : undefined;
    if (pngTemp) await mkdir(pngTemp, { recursive: true });
    const { meta, input } = target;
    const overlay = path.join(target.outDir, OUTPUT_FILES.overlay);
    const video = await VideoWriter.open({ ...videoWriterOptionsFor(meta, overlay, meta.kind === 'video' ? input : undefined), signal: target.signal });
    return new ArtifactWriter(target, video, pngTemp);
  }

  /** Paints the overlay frame and writes the indexed PNG (masks by object id; later ids on top). */
  async add(frame: RgbFrame, masks: Map<number, BinaryMask>): Promise<void> {
    const ids = [...masks.keys()].sort((a, b) => a - b);
    const ordered = ids.map((id) => masks.get(id)!);
    const rgb = Uint8Array.from(frame.data);
    paintMasks(rgb, frame.width, frame.height, ordered, ids);
    await this.video.write(rgb);
    if (!this.pngTemp) return;
    const indexMap = new Uint8Array(frame.width * frame.height);
    ordered.forEach((mask, i) => {
      for (let p = 0; p < indexMap.length; p++) if (mask.data[p]) indexMap[p] = ids[i];
    });
    await writeIndexedPng(path.join(this.pngTemp, `${this.target.meta.frameNames[frame.index]}.png`), indexMap, frame.width, frame.height);
  }

  /** Completes the overlay, writes masks.json from the store, and puts the PNG folder in place. */
  async finish(objects: MasksObject[], results: ResultStore): Promise<void> {
    const { meta, outDir, pngDir } = this.target;
    try {
      await this.video.finish();
      await writeMasksJson(outDir, meta, objects, results);
      if (pngDir && this.pngTemp) {
        await rm(pngDir, { recursive: true, force: true });
        await rename(this.pngTemp, pngDir);
      }
    } catch (error) {
      await this.abort();
      throw error;
    }
  }

  async abort(): Promise<void> {
    await this.video.abort();
    if (this.pngTemp) await rm(this.pngTemp, { recursive: true, force: true });
  }
}

/** masks.json and, from the same records, instances.json (YouTube-VIS) in `outDir`. */
export async function writeMasksJson(outDir: string, meta: VideoMeta, objects: MasksObject[], results: ResultStore): Promise<void> {
  const frames: FrameRecord[] = [];
  for (let f = 0; f < meta.frames; f++) {
    const record = await results.read(f);
    if (!record) throw new Error(`frame ${f} has no masks: the run is not complete`);
    frames.push(record);
  }
  await writeFileAtomic(path.join(outDir, OUTPUT_FILES.instances), JSON.stringify(instancesDocument(meta, objects, frames)));
  await writeFileAtomic(path.join(outDir, OUTPUT_FILES.masks), JSON.stringify(masksDocument(meta, objects, frames)));
}

/** The masks of a frame record by object id, visible objects only. */
export function masksOf(record: FrameRecord): Map<number, BinaryMask> {
  return new Map(record.objects.filter((o) => o.visible).map((o) => [o.id, recordMask(o)]));
}

/** Every artifact again from the stored frame records (after a correction). */
export async function renderArtifacts(target: ArtifactTarget & { objects: MasksObject[]; results: ResultStore }): Promise<void> {
  const writer = await ArtifactWriter.open(target);
  try {
    for await (const frame of readFrames(target.input, target.meta, { signal: target.signal })) {
      const record = await target.results.read(frame.index);
      if (!record) throw new Error(`frame ${frame.index} has no masks`);
      await writer.add(frame, masksOf(record));
    }
  } catch (error) {
    await writer.abort();
    throw error;
  }
  await writer.finish(target.objects, target.results);
}
