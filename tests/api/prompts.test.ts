/**
 * The prompts schema's `speed`: both values accepted, anything else refused
 * naming the field, and no default added, so a best-mode submission is
 * stored (and replayed by its correction jobs) exactly as it was sent.
 */
import { describe, expect, it } from 'vitest';
import { parsePrompts, PromptsError, requestedRenders } from '../../src/prompts.js';
import { renderFileName, renderSpec } from '../../src/output/render-spec.js';
import { SPEEDS } from '../../src/types.js';

const submission = {
  objects: [{ id: 1, name: 'dog', prompts: [{ frame: 3, points: [[12, 34, 1], [50, 60, 0]], box: [1, 2, 30, 40] }] }],
};

describe('promptsSchema: speed', () => {
  it('accepts every speed and keeps it', () => {
    expect(SPEEDS).toEqual(['best', 'fast']);
    for (const speed of SPEEDS) expect(parsePrompts(JSON.stringify({ ...submission, speed }))).toEqual({ ...submission, speed });
  });

  it('leaves a submission without a speed exactly as it was, key for key', () => {
    const text = JSON.stringify(submission);
    const parsed = parsePrompts(text);
    expect('speed' in parsed).toBe(false);
    expect(JSON.stringify(parsed)).toBe(text);
  });

  it('refuses any other speed, naming the field and the allowed values', () => {
    for (const speed of ['turbo', 'FAST', '', null, 2]) {
      let error: unknown;
      try {
        parsePrompts(JSON.stringify({ ...submission, speed }));
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(PromptsError);
      expect(error).toMatchObject({ field: 'speed', code: 'invalid_prompts', message: 'speed: must be "best" or "fast"' });
    }
  });
});

describe('promptsSchema: outputs', () => {
  const parse = (outputs: unknown) => parsePrompts(JSON.stringify({ ...submission, outputs }));
  const refusal = (outputs: unknown) => {
    try {
      parse(outputs);
    } catch (error) {
      return error instanceof PromptsError ? [error.field, error.code] : error;
    }
    return 'accepted';
  };

  it('takes output names and render requests; the renders get their defaults, once per file', () => {
    const prompts = parse(['overlay.mp4', 'masks.json', 'cutout.webm', { output: 'effect.mp4', objects: [1, 1], feather: 2.5 }, 'effect.mp4', { output: 'cutout.webm' }]);
    expect(requestedRenders(prompts)).toEqual([
      { output: 'cutout.webm', feather: 1 },
      { output: 'effect.mp4', objects: [1], feather: 2.5, effect: 'blur-background' },
      { output: 'effect.mp4', feather: 4, effect: 'blur-background' },
    ]);
    expect(requestedRenders(parsePrompts(JSON.stringify(submission)))).toEqual([]);
  });

  it('refuses unknown outputs and effects, bad feathers and objects the prompts do not have, naming the field', () => {
    expect(refusal(['overlay.gif'])).toEqual(['outputs[0]', 'invalid_prompts']);
    expect(refusal(['masks.json', { output: 'effect.mp4', effect: 'sepia' }])).toEqual(['outputs[1]', 'invalid_prompts']);
    expect(refusal([{ output: 'matte.mp4', feather: -1 }])).toEqual(['outputs[0].feather', 'invalid_prompts']);
    expect(refusal([{ output: 'matte.mp4', objects: [1, 4] }])).toEqual(['outputs[0].objects[1]', 'invalid_prompts']);
    expect(refusal('cutout.webm')).toEqual(['outputs', 'invalid_prompts']);
  });

  it('names each render file after what differs from the defaults', () => {
    const name = (request: Parameters<typeof renderSpec>[0]) => renderFileName(renderSpec(request));
    expect(name({ output: 'cutout.webm' })).toBe('cutout.webm');
    expect(name({ output: 'cutout.webm', feather: 0 })).toBe('cutout-feather-0.webm');
    expect(name({ output: 'effect.mp4' })).toBe('effect-blur-background.mp4');
    expect(name({ output: 'effect.mp4', effect: 'spotlight', objects: [3, 1], feather: 4 })).toBe('effect-spotlight-objects-1-3.mp4');
    expect(name({ output: 'matte.mp4', objects: [2], feather: 1.5 })).toBe('matte-objects-2-feather-1.5.mp4');
  });
});
