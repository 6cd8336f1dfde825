/**
 * `clipmask track --speed`: the option's value is what the tracking run gets
 * in its prompts (checked on the real argument parser, without running the
 * model), and a bad value stops the real command with one line naming it.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clipmask } from '../helpers/cli.js';
import { parseTrackArgs } from '../../src/cli/track-args.js';


let dir: string;
const objects = [{ id: 1, prompts: [{ frame: 0, points: [[10, 10, 1]] }] }];
const file = (name: string) => path.join(dir, name);

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'clipmask-cli-track-'));
  await writeFile(file('prompts.json'), JSON.stringify({ objects }));
  await writeFile(file('fast-prompts.json'), JSON.stringify({ objects, speed: 'fast' }));
});

afterAll(() => rm(dir, { recursive: true, force: true }));

describe('clipmask track --speed', () => {
  const args = (prompts: string, ...more: string[]) => ['clip.mp4', '--prompts', file(prompts), '--out', file('out'), ...more];

  it('puts the speed into the prompts the run gets', async () => {
    expect((await parseTrackArgs(args('prompts.json', '--speed', 'fast'))).prompts).toEqual({ objects, speed: 'fast' });
    expect((await parseTrackArgs(args('prompts.json', '--speed=best'))).prompts).toEqual({ objects, speed: 'best' });
  });

  it('leaves the prompts file as it is without the option, and overrides its speed with it', async () => {
    const plain = (await parseTrackArgs(args('prompts.json'))).prompts;
    expect(plain).toEqual({ objects });
    expect('speed' in plain).toBe(false);
    expect((await parseTrackArgs(args('fast-prompts.json'))).prompts.speed).toBe('fast');
    expect((await parseTrackArgs(args('fast-prompts.json', '--speed', 'best'))).prompts.speed).toBe('best');
  });

  it('refuses another value with one line naming the option, exit code 2, nothing written', async () => {
    const result = await clipmask('track', ...args('prompts.json', '--speed', 'turbo'));
    expect(result.code).toBe(2);
    expect(result.stderr.trim()).toBe('clipmask: --speed must be best or fast, got "turbo"');
    expect(existsSync(file('out'))).toBe(false);
  });

  it('lists the option in the help', async () => {
    const result = await clipmask('--help');
    expect(result.stdout).toContain('[--speed best|fast]');
    expect(result.stdout).toMatch(/--speed: best \(the default\) encodes every frame; fast encodes key frames only/);
  });
});
