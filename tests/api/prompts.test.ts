/**
 * The prompts schema's `speed`: both values accepted, anything else refused
 * naming the field, and no default added, so a best-mode submission is
 * stored (and replayed by its correction jobs) exactly as it was sent.
 */
import { describe, expect, it } from 'vitest';
import { parsePrompts, PromptsError } from '../../src/prompts.js';
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
