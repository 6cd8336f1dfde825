/**
 * The page's renders, in node: the request body the form sends (checked
 * against the API's own schema and file names), when the page keeps
 * polling a finished job, which cut-out it previews, and the words.
 */
import { describe, expect, it } from 'vitest';
import { DEFAULT_FEATHER, renderFileName, renderSpec } from '../../src/output/render-spec.js';
import { parseRenderRequest } from '../../src/prompts.js';
import { ApiError } from '../../web/src/api.js';
import { describeRender, mergeRender, previewRender, renderErrorText, renderRequestBody, rendersPending, type RenderFormValues, type RenderStatus } from '../../web/src/renders.js';

const values = (more: Partial<RenderFormValues> = {}): RenderFormValues => ({
  output: 'cutout.webm',
  effect: 'blur-background',
  objects: [1, 2],
  allObjects: [1, 2],
  feather: String(DEFAULT_FEATHER['cutout.webm']),
  ...more,
});

const render = (file: string, more: Partial<RenderStatus> = {}): RenderStatus => ({ file, output: 'cutout.webm', feather: 1, state: 'queued', revision: 0, ...more });

describe('renderRequestBody', () => {
  it('leaves out the objects when every one is ticked, so the file is the default one', () => {
    const built = renderRequestBody(values());
    expect(built).toEqual({ ok: true, body: { output: 'cutout.webm', feather: 1 } });
    if (!built.ok) return;
    expect(renderFileName(renderSpec(parseRenderRequest(built.body)))).toBe('cutout.webm');
  });

  it('sends the ticked objects in order, the feather as a number, and the effect only for effect.mp4', () => {
    const built = renderRequestBody(values({ output: 'matte.mp4', objects: [2], feather: '2.5', effect: 'spotlight' }));
    expect(built).toEqual({ ok: true, body: { output: 'matte.mp4', objects: [2], feather: 2.5 } });
    const effect = renderRequestBody(values({ output: 'effect.mp4', objects: [2, 1], allObjects: [1, 2, 3], feather: '', effect: 'spotlight' }));
    expect(effect).toEqual({ ok: true, body: { output: 'effect.mp4', objects: [1, 2], effect: 'spotlight' } });
    if (!effect.ok) return;
    expect(renderFileName(renderSpec(parseRenderRequest(effect.body)))).toBe('effect-spotlight-objects-1-2.mp4');
  });

  it('refuses no object ticked and a feather that is not a number, and leaves the bounds to the server', () => {
    expect(renderRequestBody(values({ objects: [] }))).toMatchObject({ ok: false, field: 'objects' });
    expect(renderRequestBody(values({ feather: 'soft' }))).toMatchObject({ ok: false, field: 'feather' });
    const tooSoft = renderRequestBody(values({ feather: '40' }));
    expect(tooSoft).toEqual({ ok: true, body: { output: 'cutout.webm', feather: 40 } });
    if (tooSoft.ok) expect(() => parseRenderRequest(tooSoft.body)).toThrow(/feather/);
  });
});

describe('the renders of a status', () => {
  it('keeps the page polling while a render is queued or running', () => {
    expect(rendersPending({})).toBe(false);
    expect(rendersPending({ renders: [render('a', { state: 'succeeded', url: '/a' }), render('b', { state: 'failed' })] })).toBe(false);
    expect(rendersPending({ renders: [render('a', { state: 'succeeded', url: '/a' }), render('b', { state: 'queued' })] })).toBe(true);
    expect(rendersPending({ renders: [render('b', { state: 'running' })] })).toBe(true);
  });

  it('previews the default cut-out when it is made, else another made cut-out, never a matte', () => {
    const matte = render('matte.mp4', { output: 'matte.mp4', state: 'succeeded', url: '/m' });
    const other = render('cutout-objects-2.webm', { state: 'succeeded', url: '/c2', objects: [2] });
    const plain = render('cutout.webm', { state: 'succeeded', url: '/c' });
    expect(previewRender([matte])).toBeUndefined();
    expect(previewRender([matte, other, plain])).toBe(plain);
    expect(previewRender([matte, other, { ...plain, state: 'running', url: undefined }])).toBe(other);
  });

  it('puts a POST answer in place of its file, or last', () => {
    const a = render('a');
    const b = render('b');
    expect(mergeRender([a, b], { ...a, state: 'running' })).toEqual([{ ...a, state: 'running' }, b]);
    expect(mergeRender([a], b)).toEqual([a, b]);
  });

  it('says what a render holds and what the server refused', () => {
    expect(describeRender({ objects: [1, 3], feather: 4, effect: 'spotlight' })).toBe('objects 1, 3 · spotlight (darken the background) · feather 4 px');
    expect(describeRender({ objects: [2], feather: 0 })).toBe('object 2 · feather 0 px');
    expect(describeRender({ feather: 1 })).toBe('every object · feather 1 px');
    expect(renderErrorText(new ApiError(400, 'invalid_render', 'feather: Too big: expected number to be <=32', 'body.feather'))).toBe(
      'The server refused the render: feather: Too big: expected number to be <=32.',
    );
    expect(renderErrorText(new ApiError(409, 'too_many_renders', 'job x has 32 renders, the most one job keeps'))).toMatch(/^This job has as many renders as it can keep\. Details: job x has 32/);
  });
});
