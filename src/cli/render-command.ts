import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import type { Config } from '../config.js';
import { isMediaError, probeInput } from '../media/index.js';
import { MASKS_FORMAT } from '../output/masks-json.js';
import { masksResults, RenderError, renderVideos, type MasksDocument } from '../output/render.js';
import { renderFileName, type RenderSpec } from '../output/render-spec.js';
import type { ResultStore } from '../output/result-store.js';
import { limitFrames } from '../pipeline/track-video.js';
import type { VideoMeta } from '../types.js';
import { writeFileAtomic } from '../util/atomic.js';
import { InputError } from './errors.js';
import { parseRenderArgs, SOURCE_FILE, type SourceFile } from './render-args.js';

export { RENDER_NOTES, RENDER_USAGE } from './render-args.js';

/**
 * `clipmask render DIR`: one render (cutout.webm, matte.mp4, ...) from a
 * `clipmask track` folder's masks.json and its source video; and the part
 * `clipmask track --outputs` shares: writing the renders into the folder.
 */

/** Writes DIR/source.json, so `clipmask render DIR` finds the source again. */
export async function writeSourceFile(dir: string, input: string): Promise<void> {
  const source: SourceFile = { input: path.resolve(input) };
  await writeFileAtomic(path.join(dir, SOURCE_FILE), `${JSON.stringify(source, null, 2)}\n`);
}

/** Renders `specs` into `dir` (each under its file name) in one decode pass; returns the files. */
export async function renderInto(source: { input: string; meta: VideoMeta; results: ResultStore }, specs: RenderSpec[], dir: string): Promise<string[]> {
  const targets = specs.map((spec) => ({ spec, path: path.join(dir, renderFileName(spec)) }));
  await renderVideos(source, targets);
  return targets.map((t) => t.path);
}

export async function runRender(argv: string[], _config: Config): Promise<void> {
  const { dir, spec, source: sourceOption, out } = parseRenderArgs(argv);
  const masks = await readMasks(dir);
  const known = masks.objects.map((o) => o.id);
  const unknown = spec.objects?.filter((id) => !known.includes(id)) ?? [];
  if (unknown.length > 0) {
    throw new InputError(`--objects: ${path.join(dir, 'masks.json')} has no object ${unknown.join(', ')} (its objects: ${known.join(', ') || 'none'})`);
  }
  const input = sourceOption ?? (await readSourceFile(dir));
  try {
    await stat(input);
  } catch {
    throw new InputError(`the source video ${input} is missing${sourceOption ? '' : ` (named by ${path.join(dir, SOURCE_FILE)})`}; give it with --source VIDEO`);
  }
  const meta = await probeSource(input, masks);
  const file = out ?? path.join(dir, renderFileName(spec));
  const started = performance.now();
  try {
    await renderVideos({ input, meta, results: masksResults(masks) }, [{ spec, path: file }]);
  } catch (error) {
    // A source that turns out unreadable mid-way, or masks the renderer cannot use: the user's files, one line.
    if (isMediaError(error)) throw new InputError(`the source ${input}: ${error.message}`, error.code);
    if (error instanceof RenderError) throw new InputError(`${path.join(dir, 'masks.json')}: ${error.message}`, error.code);
    throw error;
  }
  const seconds = (performance.now() - started) / 1000;
  const what = [spec.objects ? `objects ${spec.objects.join(', ')}` : 'every object', ...(spec.effect ? [spec.effect] : []), `feather ${spec.feather}`];
  console.log(`wrote ${file} (${spec.output}: ${what.join(', ')}; ${meta.frames} frames in ${seconds.toFixed(1)} s)`);
}

async function readMasks(dir: string): Promise<MasksDocument> {
  const file = path.join(dir, 'masks.json');
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch {
    throw new InputError(`there is no ${file}: DIR must be the --out folder of a clipmask track run`);
  }
  let masks: MasksDocument;
  try {
    masks = JSON.parse(text) as MasksDocument;
  } catch {
    throw new InputError(`${file} is not valid JSON`);
  }
  if (masks?.format !== MASKS_FORMAT || !Array.isArray(masks.frames) || !Array.isArray(masks.objects) || !masks.video) {
    throw new InputError(`${file} is not a ClipMask masks.json (format ${MASKS_FORMAT})`);
  }
  return masks;
}

async function readSourceFile(dir: string): Promise<string> {
  const file = path.join(dir, SOURCE_FILE);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch {
    throw new InputError(`there is no ${file} naming the source video; give it with --source VIDEO`);
  }
  let source: Partial<SourceFile> | undefined;
  try {
    source = JSON.parse(text) as Partial<SourceFile>;
  } catch {
    source = undefined;
  }
  if (typeof source?.input !== 'string' || source.input === '') throw new InputError(`${file} does not name the source video ({"input": PATH}); give it with --source VIDEO`);
  return path.resolve(dir, source.input);
}

/** The source's frames as masks.json has them: the same size, at least as many frames (a --max-frames run has fewer). */
async function probeSource(input: string, masks: MasksDocument): Promise<VideoMeta> {
  let meta: VideoMeta;
  try {
    // Decoded, as `track` did: a frame that does not decode is missing from both.
    meta = await probeInput(input, { decode: true });
  } catch (error) {
    if (isMediaError(error)) throw new InputError(`the source ${input}: ${error.message}`, error.code);
    throw error;
  }
  const { width, height, frames } = masks.video;
  if (meta.width !== width || meta.height !== height) {
    throw new InputError(`the source ${input} is ${meta.width}x${meta.height} but the masks are ${width}x${height}: is it the video that was tracked?`);
  }
  if (meta.frames < frames) throw new InputError(`the source ${input} has ${meta.frames} frames but the masks have ${frames}: is it the video that was tracked?`);
  return limitFrames(meta, frames);
}
