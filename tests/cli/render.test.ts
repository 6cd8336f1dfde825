/**
 * Renders from the CLI: `clipmask track --outputs` renders into the result
 * folder after tracking (real model, real ffmpeg), the folder's source.json
 * names the source, and `clipmask render DIR` makes one render from the
 * folder's masks.json (every file with the source's frame count, by
 * ffprobe). Bad flags and bad folders stop with one line naming the
 * problem, exit code 2.
 */
import { existsSync, mkdtempSync } from 'node:fs';
import { copyFile, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseRenderArgs } from '../../src/cli/render-args.js';
import { parseTrackArgs } from '../../src/cli/track-args.js';
import { MASKS_FORMAT } from '../../src/output/masks-json.js';
import { OUTPUT_NAMES } from '../../src/output/render-spec.js';
import { clipmask } from '../helpers/cli.js';
import { corruptPackets, inspectVideo, makeMovingShapeClip, type SyntheticClip } from '../helpers/synthetic.js';

// Made now, not in beforeAll: the table of refusals below names files in it.
const dir = mkdtempSync(path.join(tmpdir(), 'clipmask-cli-render-'));
let clip: SyntheticClip;
const file = (...names: string[]) => path.join(dir, ...names);

beforeAll(async () => {
  clip = await makeMovingShapeClip(dir, { width: 160, height: 120, frames: 8, fps: 8 });
  const [cx, cy] = clip.center(0);
  const objects = [{ id: 1, prompts: [{ frame: 0, points: [[Math.round(cx), Math.round(cy), 1]] }] }];
  await writeFile(file('prompts.json'), JSON.stringify({ objects }));
  await writeFile(file('outputs-prompts.json'), JSON.stringify({ objects, outputs: ['matte.mp4', { output: 'effect.mp4', effect: 'spotlight' }] }));
  // A result folder without the model: a masks.json of two objects (no frames; the errors come before any rendering).
  await mkdir(file('fake'));
  const video = { width: 160, height: 120, fps: 8, frames: 8, duration: 1 };
  await writeFile(file('fake', 'masks.json'), JSON.stringify({ format: MASKS_FORMAT, video, objects: [{ id: 1, name: 'a' }, { id: 2, name: 'b' }], frames: [] }));
  await writeFile(file('fake', 'source.json'), JSON.stringify({ input: file('gone.mp4') }));
  await mkdir(file('no-source'));
  await copyFile(file('fake', 'masks.json'), file('no-source', 'masks.json'));
});

afterAll(() => rm(dir, { recursive: true, force: true }));

describe('clipmask track --outputs', () => {
  const args = (prompts: string, ...more: string[]) => ['clip.mp4', '--prompts', file(prompts), '--out', file('out'), ...more];

  it('puts the names into the prompts, over the file\'s own outputs; without it the file\'s stay', async () => {
    expect((await parseTrackArgs(args('prompts.json', '--outputs', 'cutout.webm,matte.mp4'))).prompts.outputs).toEqual(['cutout.webm', 'matte.mp4']);
    expect((await parseTrackArgs(args('outputs-prompts.json', '--outputs', ' cutout.mov '))).prompts.outputs).toEqual(['cutout.mov']);
    expect((await parseTrackArgs(args('outputs-prompts.json'))).prompts.outputs).toEqual(['matte.mp4', { output: 'effect.mp4', effect: 'spotlight' }]);
    expect('outputs' in (await parseTrackArgs(args('prompts.json'))).prompts).toBe(false);
  });

  it('refuses an unknown name with one line naming it and listing the outputs, exit 2, nothing written', async () => {
    const result = await clipmask('track', ...args('prompts.json', '--outputs', 'cutout.webm,cutout.gif'));
    expect(result.code).toBe(2);
    expect(result.stderr.trim()).toBe(`clipmask: --outputs: unknown output "cutout.gif"; the outputs are ${OUTPUT_NAMES.join(', ')}`);
    expect(existsSync(file('out'))).toBe(false);
  });

  it('is in the help, and so is clipmask render', async () => {
    const help = (await clipmask('--help')).stdout;
    expect(help).toContain('[--outputs NAME,...]');
    expect(help).toMatch(/clipmask render DIR --output cutout\.webm\|cutout\.mov\|matte\.mp4\|effect\.mp4/);
    expect(help).toMatch(/source\.json/);
  });
});

describe('clipmask render arguments', () => {
  it('fills the defaults as the service does', () => {
    expect(parseRenderArgs(['d', '--output', 'effect.mp4'])).toEqual({ dir: 'd', spec: { output: 'effect.mp4', feather: 4, effect: 'blur-background' }, source: undefined, out: undefined });
    expect(parseRenderArgs(['d', '--output=matte.mp4', '--objects', '3,1,3', '--feather', '2.5', '--source', 's.mp4', '--out', 'm.mp4'])).toEqual({
      dir: 'd',
      spec: { output: 'matte.mp4', objects: [1, 3], feather: 2.5 },
      source: 's.mp4',
      out: 'm.mp4',
    });
  });

  const refusals: Array<[string, string[], string | RegExp]> = [
    ['no --output', [file('fake')], /^clipmask: --output is required \(cutout\.webm, cutout\.mov, matte\.mp4, effect\.mp4\)/],
    ['an unknown output', [file('fake'), '--output', 'cutout.gif'], 'clipmask: --output must be one of cutout.webm, cutout.mov, matte.mp4, effect.mp4, got "cutout.gif"'],
    ['an unknown effect', [file('fake'), '--output', 'effect.mp4', '--effect', 'sepia'], 'clipmask: --effect must be one of blur-background, grey-background, black-background, spotlight, got "sepia"'],
    ['an effect for another output', [file('fake'), '--output', 'matte.mp4', '--effect', 'spotlight'], 'clipmask: --effect is for --output effect.mp4 only, not matte.mp4'],
    ['objects that are not ids', [file('fake'), '--output', 'matte.mp4', '--objects', '1,x'], 'clipmask: --objects must be object ids (whole numbers 1 to 255) separated by commas, got "1,x"'],
    ['a feather out of bounds', [file('fake'), '--output', 'matte.mp4', '--feather', '33'], 'clipmask: --feather must be a number of pixels from 0 to 32, got "33"'],
    ['a feather that is not a number', [file('fake'), '--output', 'matte.mp4', '--feather', 'soft'], 'clipmask: --feather must be a number of pixels from 0 to 32, got "soft"'],
    ['a folder without masks.json', [dir, '--output', 'matte.mp4'], `clipmask: there is no ${file('masks.json')}: DIR must be the --out folder of a clipmask track run`],
    ['objects masks.json does not have', [file('fake'), '--output', 'matte.mp4', '--objects', '2,7'], `clipmask: --objects: ${file('fake', 'masks.json')} has no object 7 (its objects: 1, 2)`],
    ['a source that is gone', [file('fake'), '--output', 'matte.mp4'], `clipmask: the source video ${file('gone.mp4')} is missing (named by ${file('fake', 'source.json')}); give it with --source VIDEO`],
    ['a --source that is gone', [file('fake'), '--output', 'matte.mp4', '--source', file('nope.mp4')], `clipmask: the source video ${file('nope.mp4')} is missing; give it with --source VIDEO`],
    ['no source.json and no --source', [file('no-source'), '--output', 'matte.mp4'], `clipmask: there is no ${file('no-source', 'source.json')} naming the source video; give it with --source VIDEO`],
  ];

  it.each(refusals)('refuses %s with one line, exit 2', async (_what, args, message) => {
    const result = await clipmask('render', ...args);
    expect(result.code).toBe(2);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    if (typeof message === 'string') expect(result.stderr.trim()).toBe(message);
    else expect(result.stderr.trim()).toMatch(message);
    expect(result.stdout).toBe('');
  });

  it('refuses a source that is not the tracked video', async () => {
    const other = await makeMovingShapeClip(dir, { width: 96, height: 64, frames: 4, fps: 8, name: 'other.mp4' });
    const result = await clipmask('render', file('fake'), '--output', 'matte.mp4', '--source', other.path);
    expect(result.code).toBe(2);
    expect(result.stderr.trim()).toBe(`clipmask: the source ${other.path} is 96x64 but the masks are 160x120: is it the video that was tracked?`);
  });
});

describe('a damaged video', () => {
  it('track says which frames do not decode and leaves them out; render counts the same frames', async () => {
    const whole = await makeMovingShapeClip(dir, { width: 160, height: 120, frames: 12, fps: 8, name: 'to-damage.mp4' });
    const damaged = await corruptPackets(whole.path, [5], 'damaged.mp4');
    const out = file('damaged-result');
    const tracked = await clipmask('track', damaged.path, '--prompts', file('prompts.json'), '--out', out);
    expect(tracked.code, tracked.stderr).toBe(0);
    expect(tracked.stderr).toContain(`clipmask: warning (frames_missing): 1 of the video's 12 frames do not decode (at ${damaged.times[0].toFixed(2)} s)`);
    const masks = JSON.parse(await readFile(path.join(out, 'masks.json'), 'utf8'));
    expect(masks.frames).toHaveLength(11);
    expect(masks.warnings).toEqual([expect.objectContaining({ code: 'frames_missing', decodedFrames: 11, declaredFrames: 12 })]);
    const rendered = await clipmask('render', out, '--output', 'matte.mp4');
    expect(rendered.code, rendered.stderr).toBe(0);
    expect(await inspectVideo(path.join(out, 'matte.mp4'))).toMatchObject({ frames: 11 });
  });
});

describe('rendering from a track run', () => {
  it('track --outputs renders into DIR; render DIR makes another; every file has the source\'s frames', async () => {
    const out = file('result');
    const tracked = await clipmask('track', clip.path, '--prompts', file('prompts.json'), '--out', out, '--outputs', 'cutout.webm,matte.mp4');
    expect(tracked.code, tracked.stderr).toBe(0);
    expect(tracked.stdout).toMatch(/rendered in [\d.]+ s: .*cutout\.webm, .*matte\.mp4/);
    expect(JSON.parse(await readFile(path.join(out, 'source.json'), 'utf8'))).toEqual({ input: path.resolve(clip.path) });
    const cutout = await inspectVideo(path.join(out, 'cutout.webm'));
    expect(cutout).toMatchObject({ width: 160, height: 120, frames: clip.frames, videoCodec: 'vp9' });
    expect(await inspectVideo(path.join(out, 'matte.mp4'))).toMatchObject({ width: 160, height: 120, frames: clip.frames, videoCodec: 'h264' });

    // One render from the folder, under its file name.
    const rendered = await clipmask('render', out, '--output', 'effect.mp4', '--effect', 'spotlight', '--objects', '1', '--feather', '2');
    expect(rendered.code, rendered.stderr).toBe(0);
    const effect = path.join(out, 'effect-spotlight-objects-1-feather-2.mp4');
    expect(rendered.stdout.trim()).toMatch(new RegExp(`^wrote ${effect.replace(/[.\\/]/g, '\\$&')} \\(effect\\.mp4: objects 1, spotlight, feather 2; 8 frames in [\\d.]+ s\\)$`));
    expect(await inspectVideo(effect)).toMatchObject({ width: 160, height: 120, frames: clip.frames });

    // --out names the file; --source finds a source that moved.
    const moved = file('moved.mp4');
    await copyFile(clip.path, moved);
    const mov = file('elsewhere.mov');
    const again = await clipmask('render', out, '--output', 'cutout.mov', '--source', moved, '--out', mov);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toContain(`wrote ${mov} (cutout.mov: every object, feather 1;`);
    expect(await inspectVideo(mov)).toMatchObject({ width: 160, height: 120, frames: clip.frames, videoCodec: 'prores' });
  });
});
