/**
 * Watching a job and correcting it from the page, in real headless Chromium
 * against the real service (own Redis, real model, real ffmpeg): a job is
 * submitted through the HTTP API for one of two shapes; its page shows the
 * tracked frames on a slider; on a middle frame the other shape is clicked
 * as a new object and re-tracked; the page follows the job to revision 1,
 * says which frames changed, and shows the frame with the new mask.
 * Screenshots go to test-output/web/.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeMovingShapeClip, type SyntheticClip } from '../helpers/synthetic.js';
import { getJson, startTestService, submission, type TestService, untilReady } from '../helpers/service.js';
import { launchChromium, screenshotPath, watchPage } from '../helpers/browser.js';

const FRAMES = 8;
const MIDDLE = 4;

let t: TestService;
let dir: string;
let clip: SyntheticClip;
let browser: Browser;

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'clipmask-correct-'));
  [t, clip, browser] = await Promise.all([
    startTestService('all'),
    makeMovingShapeClip(dir, {
      width: 160,
      height: 120,
      frames: FRAMES,
      fps: 8,
      shapes: [
        { kind: 'disc', radius: 18, from: [40, 40], to: [95, 48] },
        { kind: 'square', radius: 14, from: [122, 90], to: [112, 86] },
      ],
    }),
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

const stage = (page: Page) => page.locator('#job-view [data-testid=live-stage]');

/** Page coordinates of the centre of video pixel (x, y) on the job's frame. */
async function pageXY(page: Page, x: number, y: number): Promise<{ x: number; y: number }> {
  const box = (await stage(page).boundingBox())!;
  return { x: box.x + ((Math.floor(x) + 0.5) / clip.width) * box.width, y: box.y + ((Math.floor(y) + 0.5) / clip.height) * box.height };
}

/** The RGB pixels of the frame image shown, at the video's size, read back through a canvas. */
function shownPixels(page: Page): Promise<number[]> {
  return page.evaluate(() => {
    const image = document.querySelector<HTMLImageElement>('#job-view [data-testid=live-frame]')!;
    const canvas = document.createElement('canvas');
    canvas.width = image.naturalWidth;
    canvas.height = image.naturalHeight;
    const ctx = canvas.getContext('2d')!;
    ctx.drawImage(image, 0, 0);
    const rgba = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
    return Array.from({ length: canvas.width * canvas.height * 3 }, (_, i) => rgba[Math.floor(i / 3) * 4 + (i % 3)]);
  });
}

/** Mean absolute RGB difference of two frames over the pixels of `mask`. */
function meanDifference(a: number[], b: number[], mask: Uint8Array): number {
  let sum = 0;
  let count = 0;
  for (let p = 0; p < mask.length; p++) {
    if (!mask[p]) continue;
    for (let c = 0; c < 3; c++) sum += Math.abs(a[p * 3 + c] - b[p * 3 + c]);
    count += 3;
  }
  return sum / count;
}

/** Moves the job's slider with the keyboard, as a person would: Home, then Right `frame` times. */
async function goToFrame(page: Page, frame: number): Promise<void> {
  const slider = page.locator('#job-view [data-testid=frame-slider]');
  await slider.focus();
  await page.keyboard.press('Home');
  for (let i = 0; i < frame; i++) await page.keyboard.press('ArrowRight');
  await page.locator(`#job-view [data-testid=live-stage][data-image-frame="${frame}"][data-frame-state=ready]`).waitFor({ timeout: 15_000 });
}

describe('watching and correcting a job in the page', () => {
  it('scrubs the tracked frames, adds an object on a middle frame, re-tracks and shows what changed', async () => {
    const started = performance.now();
    const step = (what: string) => console.log(`[${((performance.now() - started) / 1000).toFixed(1)} s] ${what}`);
    const [discX, discY] = clip.center(0, 0);
    const response = await fetch(`${t.baseUrl}/v1/jobs`, {
      method: 'POST',
      body: await submission(clip.path, { objects: [{ id: 1, name: 'disc', prompts: [{ frame: 0, points: [[Math.round(discX), Math.round(discY), 1]] }] }] }),
    });
    expect(response.status).toBe(202);
    const { id } = (await response.json()) as { id: string };

    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await context.newPage();
    const problems = watchPage(page);
    await page.goto(`${t.baseUrl}/#/jobs/${id}`);
    await page.locator(`#job-view[data-job-id="${id}"]:not([data-state=loading])`).waitFor();
    step('job page open');

    // While it runs: the newest tracked frame, if the run is slow enough to catch it.
    const live = await page
      .locator('#job-view[data-state=running] [data-testid=live-stage][data-frame-state=ready][data-follow=true]')
      .waitFor({ timeout: 30_000 })
      .then(() => true, () => false);
    if (live) {
      const [src, max, shown] = await Promise.all([
        page.getByTestId('live-frame').getAttribute('src'),
        page.locator('#job-view [data-testid=frame-slider]').getAttribute('max'),
        stage(page).getAttribute('data-image-frame'),
      ]);
      expect(src).toMatch(/^blob:/);
      expect(Number(shown)).toBeLessThanOrEqual(Number(max));
      await page.screenshot({ path: await screenshotPath('correct-01-running.png') });
      step(`live frame ${shown} of ${Number(max) + 1} tracked`);
    } else {
      step('the run finished before a live frame was caught');
    }

    await page.locator('#job-view[data-state=succeeded]').waitFor({ timeout: 90_000 });
    step('first run done');
    expect(await page.locator('#job-view [data-testid=frame-slider]').getAttribute('max')).toBe(String(FRAMES - 1));
    await goToFrame(page, MIDDLE);
    expect(await page.getByTestId('job-frame-label').textContent()).toBe(`Frame ${MIDDLE + 1} of ${FRAMES}`);
    const before = await shownPixels(page);
    await page.screenshot({ path: await screenshotPath('correct-02-middle-frame.png') });

    // The square was never prompted: add it as a new object with a click on it.
    await page.getByTestId('correct-new-object').click();
    await page.locator('[data-testid=correct-object-2][aria-pressed=true]').waitFor();
    const [squareX, squareY] = clip.center(MIDDLE, 1);
    const at = await pageXY(page, squareX, squareY);
    await page.mouse.click(at.x, at.y);
    expect(await page.getByTestId('correction-summary').textContent()).toBe(`Object 2 (new): 1 point on frame ${MIDDLE + 1}.`);
    await page.screenshot({ path: await screenshotPath('correct-03-marked.png') });

    await page.getByTestId('retrack').click();
    step('re-track pressed');
    await page.waitForFunction(() => /re-tracked/.test(document.querySelector('[data-testid=changed-frames]')?.textContent ?? ''), undefined, { timeout: 60_000, polling: 200 });
    step('correction done');
    const changed = (await page.getByTestId('changed-frames').textContent())!;
    console.log(`changed frames: ${changed}`);
    expect(changed).toMatch(/Object 2: frames? \d+(–\d+)? re-tracked/);
    await page.locator(`#job-view [data-testid=live-stage][data-image-revision="1"][data-image-frame="${MIDDLE}"][data-frame-state=ready]`).waitFor({ timeout: 15_000 });

    // The frame now shows the square's mask: its pixels are tinted, the disc's are about the same.
    const after = await shownPixels(page);
    const onSquare = meanDifference(before, after, clip.truth(MIDDLE, 1).data);
    const onDisc = meanDifference(before, after, clip.truth(MIDDLE, 0).data);
    console.log(`mean RGB change on the square ${onSquare.toFixed(1)}, on the disc ${onDisc.toFixed(1)}`);
    expect(onSquare).toBeGreaterThan(25);
    expect(onSquare).toBeGreaterThan(onDisc * 2);

    const job = (await getJson(`${t.baseUrl}/v1/jobs/${id}`)).body;
    expect(job).toMatchObject({ state: 'succeeded', revision: 1, lastCorrection: { revision: 1 } });
    expect(job.lastCorrection.changes.some((c: { objectId: number }) => c.objectId === 2)).toBe(true);
    // Object 2 is the job's now: in the frame records, and in the panel no longer "new".
    const masks = (await getJson(`${t.baseUrl}/v1/jobs/${id}/masks?from=${MIDDLE}&to=${MIDDLE + 1}`)).body;
    expect(masks.frames[0].objects.map((o: { id: number }) => o.id)).toEqual([1, 2]);
    expect(await page.getByTestId('correct-object-2').getAttribute('aria-label')).toBe('Object 2');
    expect(await page.locator('#job-view .job-summary').textContent()).toMatch(new RegExp(`2 objects · ${FRAMES} frames · 160×120 · 8 fps · correction 1`));
    expect(await page.getByTestId('result-video').getAttribute('src')).toMatch(/[?&]rev=1$/);
    expect(await page.locator('#job-view [data-testid=changed-track] .changed-range').count()).toBe(job.lastCorrection.changes.filter((c: { from: number; to: number }) => c.to > c.from).length);
    expect(await page.getByTestId('correction-summary').textContent()).toBe('Nothing marked yet.');
    await page.screenshot({ path: await screenshotPath('correct-04-corrected.png'), fullPage: true });

    // Phone width: one column, nothing wider than the screen.
    await page.setViewportSize({ width: 390, height: 844 });
    await page.waitForFunction(() => document.documentElement.scrollWidth <= 390);
    await page.screenshot({ path: await screenshotPath('correct-05-phone.png'), fullPage: true });
    step('checked');

    expect(problems.errors).toEqual([]);
    await context.close();
  }, 180_000); // about 60 s on a quiet 2-core machine; the model's share grows when other tests run alongside
});
