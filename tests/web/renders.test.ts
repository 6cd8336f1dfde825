/**
 * A job's renders on its page, in real headless Chromium against the real
 * service (own Redis, real model, real ffmpeg, the render job on a worker):
 * a job submitted with `outputs: ["cutout.webm"]` lists the render as a
 * download once it is made (the page keeps polling the finished job for
 * it), previews it over a checkerboard with its transparency intact, and
 * the form asks for a matte that then appears as a download; the server's
 * refusal shows in the form. Screenshots go to test-output/web/.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_FEATHER, OUTPUT_PURPOSES } from '../../src/output/render-spec.js';
import { launchChromium, screenshotPath, watchPage } from '../helpers/browser.js';
import { getJson, onePointPrompts, startTestService, submission, type TestService, untilReady } from '../helpers/service.js';
import { makeMovingShapeClip, type SyntheticClip } from '../helpers/synthetic.js';

let t: TestService;
let dir: string;
let clip: SyntheticClip;
let browser: Browser;

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'clipmask-web-renders-'));
  [t, clip, browser] = await Promise.all([
    startTestService('all'),
    makeMovingShapeClip(dir, { width: 160, height: 120, frames: 10, fps: 10 }),
    launchChromium(),
  ]);
  const ready = await untilReady(t.baseUrl);
  expect(ready).toBe(true);
});

afterAll(async () => {
  await browser?.close();
  await t?.stop();
  await rm(dir, { recursive: true, force: true });
});

const renderRow = (page: Page, file: string, state = 'succeeded') => page.locator(`li[data-testid=render][data-file="${file}"][data-state=${state}]`);

/** The light and dark squares of .checkerboard in web/styles.css. */
const CHECKER_LIGHT = [255, 255, 255];
const CHECKER_DARK = [200, 203, 210];
const near = (actual: number[], expected: number[], tolerance = 6) => expected.every((v, i) => Math.abs(actual[i] - v) <= tolerance);

describe('renders on the job page', () => {
  it('lists a submitted cut-out, previews it with its transparency, and renders a matte from the form', async () => {
    const [cx, cy] = clip.center(0);
    const form = await submission(clip.path, { ...onePointPrompts(cx, cy), outputs: ['cutout.webm'] });
    const submitted = await fetch(`${t.baseUrl}/v1/jobs`, { method: 'POST', body: form });
    expect(submitted.status).toBe(202);
    const { id } = (await submitted.json()) as { id: string };

    const context = await browser.newContext({ viewport: { width: 1280, height: 1000 } });
    const page = await context.newPage();
    const problems = watchPage(page);
    // Opened while the job is queued or running: the page must keep polling past the job's success until the render is made.
    await page.goto(`${t.baseUrl}/#/jobs/${id}`);
    await page.locator(`#job-view[data-job-id="${id}"]:is([data-state=queued], [data-state=running], [data-state=succeeded])`).waitFor({ timeout: 30_000 });
    await page.locator('#job-view[data-state=succeeded]').waitFor({ timeout: 100_000 });
    await renderRow(page, 'cutout.webm').waitFor({ timeout: 60_000 });

    // The download is the render the API lists, served as WebM.
    const job = (await getJson(`${t.baseUrl}/v1/jobs/${id}`)).body;
    const cutout = job.renders.find((r: { file: string }) => r.file === 'cutout.webm');
    expect(cutout).toMatchObject({ output: 'cutout.webm', state: 'succeeded', feather: DEFAULT_FEATHER['cutout.webm'] });
    const link = renderRow(page, 'cutout.webm').getByTestId('download-render');
    expect(await link.textContent()).toBe('Download cutout.webm');
    expect(await link.getAttribute('href')).toBe(cutout.url);
    expect(await renderRow(page, 'cutout.webm').getAttribute('title')).toBe(OUTPUT_PURPOSES['cutout.webm']);
    const served = await context.request.get(`${t.baseUrl}${cutout.url}`);
    expect(served.status()).toBe(200);
    expect(served.headers()['content-type']).toMatch(/^video\/webm/);
    // The standard four are still there.
    for (const name of ['overlay', 'masks', 'zip', 'instances']) expect(await page.getByTestId(`download-${name}`).isVisible()).toBe(true);

    // The preview: the cut-out plays over the checkerboard, with alpha 0 off the object and 255 on it.
    const preview = page.getByTestId('cutout-preview');
    await preview.waitFor({ state: 'visible' });
    expect(await page.getByTestId('cutout-video').getAttribute('src')).toBe(cutout.url);
    await page.waitForFunction(() => document.querySelector<HTMLVideoElement>('[data-testid=cutout-video]')!.readyState >= 2, undefined, { timeout: 30_000 });
    const frame0 = await page.evaluate(async ([x, y]) => {
      const video = document.querySelector<HTMLVideoElement>('[data-testid=cutout-video]')!;
      video.controls = false; // nothing painted over the picture for the screenshot
      video.pause();
      video.currentTime = 0;
      await new Promise((resolve) => video.addEventListener('seeked', resolve, { once: true }));
      await new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(resolve)));
      const canvas = document.createElement('canvas');
      canvas.width = video.videoWidth;
      canvas.height = video.videoHeight;
      const ctx = canvas.getContext('2d')!;
      ctx.drawImage(video, 0, 0);
      const alpha = (px: number, py: number) => ctx.getImageData(px, py, 1, 1).data[3];
      return { width: video.videoWidth, height: video.videoHeight, error: video.error?.code ?? null, centre: alpha(x, y), corners: [alpha(2, 2), alpha(canvas.width - 3, 2), alpha(2, canvas.height - 3), alpha(canvas.width - 3, canvas.height - 3)] };
    }, [Math.round(cx), Math.round(cy)] as const);
    console.log(`cut-out frame 0 in the page: ${JSON.stringify(frame0)}`);
    expect(frame0).toMatchObject({ width: 160, height: 120, error: null, centre: 255, corners: [0, 0, 0, 0] });

    // What the screen shows: both squares of the checkerboard through the background, the object's own pixels over it.
    const shot = await page.getByTestId('cutout-video').screenshot();
    const { data, info } = await sharp(shot).removeAlpha().raw().toBuffer({ resolveWithObject: true });
    // The picture is contained in the element's box (letterboxed when max-height holds it).
    const scale = Math.min(info.width / clip.width, info.height / clip.height);
    const left = (info.width - clip.width * scale) / 2;
    const top = (info.height - clip.height * scale) / 2;
    const pixel = (x: number, y: number) => {
      const o = (Math.min(info.height - 1, Math.round(top + y)) * info.width + Math.min(info.width - 1, Math.round(left + x))) * 3;
      return [data[o], data[o + 1], data[o + 2]];
    };
    // Video pixels 0..24 in both directions are background on every frame (the disc starts at x 29, y 26).
    const corner: number[][] = [];
    for (let y = 1; y < 24 * scale; y += 2) for (let x = 1; x < 24 * scale; x += 2) corner.push(pixel(x, y));
    expect(corner.some((p) => near(p, CHECKER_LIGHT)), 'light squares through the background').toBe(true);
    expect(corner.some((p) => near(p, CHECKER_DARK)), 'dark squares through the background').toBe(true);
    const onObject = pixel(cx * scale, cy * scale);
    expect(near(onObject, CHECKER_LIGHT) || near(onObject, CHECKER_DARK), `object pixel ${onObject}`).toBe(false);
    // The disc is red and yellow blotches: warm, unlike the grey squares.
    expect(onObject[0] - onObject[2], `object pixel ${onObject}`).toBeGreaterThan(60);
    await page.screenshot({ path: await screenshotPath('renders-01-cutout.png'), fullPage: true });

    // The form: the output's purpose and default feather; the effect only for effect.mp4; every object ticked.
    const renderForm = page.getByTestId('render-form');
    await renderForm.waitFor({ state: 'visible' });
    expect(await page.getByTestId('render-object-1').isChecked()).toBe(true);
    await page.getByTestId('render-output').selectOption('effect.mp4');
    expect(await page.getByTestId('render-effect').isVisible()).toBe(true);
    expect(await page.getByTestId('render-feather').inputValue()).toBe(String(DEFAULT_FEATHER['effect.mp4']));
    expect(await page.getByTestId('render-purpose').textContent()).toBe(OUTPUT_PURPOSES['effect.mp4']);

    // The server's refusal shows in the form, the field marked.
    await page.getByTestId('render-feather').fill('40');
    await page.getByTestId('render-submit').click();
    await page.getByTestId('render-error').waitFor({ state: 'visible' });
    expect(await page.getByTestId('render-error').textContent()).toMatch(/^The server refused the render: feather: .*32/);
    expect(await page.getByTestId('render-feather').getAttribute('aria-invalid')).toBe('true');
    // Nothing ticked is refused on the page.
    await page.getByTestId('render-object-1').uncheck();
    await page.getByTestId('render-submit').click();
    expect(await page.getByTestId('render-error').textContent()).toBe('Pick at least one object to render.');
    await page.getByTestId('render-object-1').check();

    // A matte from the form: it appears (queued or running first), then is made and offered as a download.
    await page.getByTestId('render-output').selectOption('matte.mp4');
    expect(await page.getByTestId('render-effect').isVisible()).toBe(false);
    expect(await page.getByTestId('render-feather').inputValue()).toBe('0');
    await page.getByTestId('render-submit').click();
    await page.locator('li[data-testid=render][data-file="matte.mp4"]').waitFor({ timeout: 10_000 });
    expect(await page.getByTestId('render-error').isHidden()).toBe(true);
    await renderRow(page, 'matte.mp4').waitFor({ timeout: 60_000 });
    expect(await page.getByTestId('render-status').textContent()).toBe('matte.mp4 is made: it is in the downloads.');
    expect(await renderRow(page, 'matte.mp4').getByTestId('render-holds').textContent()).toBe('every object · feather 0 px');
    const after = (await getJson(`${t.baseUrl}/v1/jobs/${id}`)).body;
    const matte = after.renders.find((r: { file: string }) => r.file === 'matte.mp4');
    expect(matte).toMatchObject({ output: 'matte.mp4', state: 'succeeded', feather: 0 });
    expect(await renderRow(page, 'matte.mp4').getByTestId('download-render').getAttribute('href')).toBe(matte.url);
    const matteFile = await context.request.get(`${t.baseUrl}${matte.url}`);
    expect(matteFile.status()).toBe(200);
    expect(matteFile.headers()['content-type']).toMatch(/^video\/mp4/);
    // The preview was not restarted by the polls: the same source, still where the test left it.
    expect(await page.getByTestId('cutout-video').getAttribute('src')).toBe(cutout.url);
    // The renders, in the order asked for, after the standard four.
    const files = await page.locator('[data-testid=downloads] li[data-testid=render]').evaluateAll((rows) => rows.map((r) => (r as HTMLElement).dataset.file));
    expect(files).toEqual(['cutout.webm', 'matte.mp4']);
    await page.screenshot({ path: await screenshotPath('renders-02-matte.png'), fullPage: true });

    // The page stops polling once nothing is left to make.
    const requests: string[] = [];
    page.on('request', (request) => {
      if (request.url().endsWith(`/v1/jobs/${id}`)) requests.push(request.url());
    });
    await page.waitForTimeout(2500);
    expect(requests).toEqual([]);

    // The refused feather is the only error the page logged (the browser reports the 400).
    expect(problems.errors.filter((e) => !/status of 400/.test(e))).toEqual([]);
    await context.close();
  });
});
