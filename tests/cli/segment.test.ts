import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clipmask } from '../helpers/cli.js';
import { maskIoU } from '../../src/segment/postprocess.js';
import { discMask, drawScene } from '../helpers/images.js';


let dir: string;
let image: string;
const disc = discMask(320, 240, 160, 120, 60);

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'clipmask-cli-'));
  image = path.join(dir, 'scene.png');
  const scene = drawScene(320, 240, [{ mask: disc, colour: [220, 200, 30] }]);
  await sharp(scene.data, { raw: { width: 320, height: 240, channels: 3 } }).png().toFile(image);
});

afterAll(() => rm(dir, { recursive: true, force: true }));

describe('clipmask segment', () => {
  it('writes an 8-bit 0/255 mask of the clicked object and an overlay, and reports timings', async () => {
    const out = path.join(dir, 'mask.png');
    const overlay = path.join(dir, 'overlay.png');
    const result = await clipmask('segment', image, '--point', '160,120', '--out', out, '--overlay', overlay);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/predicted IoU \d\.\d{3}; encoder \d+ ms; decoder \d+ ms \(3 passes\)/);
    const png = await readFile(out);
    expect([png[24], png[25]]).toEqual([8, 0]); // IHDR: bit depth 8, colour type 0 (greyscale)
    const { data, info } = await sharp(png).extractChannel(0).raw().toBuffer({ resolveWithObject: true });
    expect([info.width, info.height]).toEqual([320, 240]);
    expect(new Set(data)).toEqual(new Set([0, 255]));
    const mask = { width: 320, height: 240, data: Uint8Array.from(data, (v) => (v ? 1 : 0)) };
    expect(maskIoU(mask, disc)).toBeGreaterThan(0.9);
    const overlayInfo = await sharp(overlay).metadata();
    expect([overlayInfo.width, overlayInfo.height]).toEqual([320, 240]);
  });

  const badInputs: [string, string[], RegExp][] = [
    ['a missing image', ['segment', '/nonexistent/x.png', '--point', '1,1'], /cannot read image \/nonexistent\/x\.png/],
    ['a point outside the image', ['segment', 'IMAGE', '--point', '320,10'], /point "320,10" is outside the 320x240 image/],
    ['a negative point', ['segment', 'IMAGE', '--point=-1,10'], /outside the 320x240 image/],
    ['a label other than 0/1', ['segment', 'IMAGE', '--point', '10,10,2'], /label must be 0 \(background\) or 1 \(object\), got 2/],
    ['a malformed point', ['segment', 'IMAGE', '--point', '10,abc'], /point "10,abc" must be 2 or 3 comma-separated numbers/],
    ['a malformed box', ['segment', 'IMAGE', '--box', '10,10,5'], /box "10,10,5" must be 4 comma-separated numbers/],
    ['an inverted box', ['segment', 'IMAGE', '--box', '50,50,10,60'], /X0 < X1 and Y0 < Y1/],
    ['no prompt at all', ['segment', 'IMAGE'], /give at least one --point or a --box/],
  ];
  for (const [what, args, message] of badInputs) {
    it(`rejects ${what} with one line, exit code 2, nothing written`, async () => {
      const out = path.join(dir, `bad-${what.replace(/\W+/g, '-')}.png`);
      const result = await clipmask(...args.map((a) => (a === 'IMAGE' ? image : a)), '--out', out);
      expect(result.code).toBe(2);
      expect(result.stderr).toMatch(message);
      expect(result.stderr.trim().split('\n')).toHaveLength(1);
      expect(existsSync(out)).toBe(false);
    });
  }

  it('rejects a file that is not an image', async () => {
    const text = path.join(dir, 'notes.png');
    await writeFile(text, 'hello');
    const result = await clipmask('segment', text, '--point', '1,1', '--out', path.join(dir, 'never.png'));
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/not an image/);
    expect(existsSync(path.join(dir, 'never.png'))).toBe(false);
  });
});
