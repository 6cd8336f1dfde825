import { afterEach, describe, expect, it } from 'vitest';
import { clearToolCache, resolveFfmpeg, resolveFfprobe } from '../../src/media/binaries.js';

const saved = { FFMPEG_PATH: process.env.FFMPEG_PATH, FFPROBE_PATH: process.env.FFPROBE_PATH, PATH: process.env.PATH };

afterEach(() => {
  for (const [key, value] of Object.entries(saved)) {
    if (value === undefined) delete process.env[key];
    else process.env[key] = value;
  }
  clearToolCache();
});

describe('resolving ffmpeg and ffprobe', () => {
  it('finds both on PATH', async () => {
    delete process.env.FFMPEG_PATH;
    delete process.env.FFPROBE_PATH;
    clearToolCache();
    expect(await resolveFfmpeg()).toMatch(/\/ffmpeg$/);
    expect(await resolveFfprobe()).toMatch(/\/ffprobe$/);
  });

  it('prefers FFMPEG_PATH and refuses one that is not an executable', async () => {
    process.env.FFMPEG_PATH = '/usr/bin/ffmpeg';
    clearToolCache();
    expect(await resolveFfmpeg()).toBe('/usr/bin/ffmpeg');
    process.env.FFMPEG_PATH = '/usr/bin';
    clearToolCache();
    await expect(resolveFfmpeg()).rejects.toMatchObject({ code: 'ffmpeg_missing', message: expect.stringMatching(/FFMPEG_PATH/) });
  });

  it('says how to install ffmpeg when there is none', async () => {
    delete process.env.FFPROBE_PATH;
    process.env.PATH = '/nonexistent-bin';
    clearToolCache();
    await expect(resolveFfprobe()).rejects.toMatchObject({ code: 'ffmpeg_missing', message: expect.stringMatching(/apt-get install -y ffmpeg/) });
  });
});
