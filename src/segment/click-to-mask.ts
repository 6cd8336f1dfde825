import type { BinaryMask, Box, ImageEmbedding } from '../types.js';
import type { DecodePoint, SamSegmenter, TokenChoice } from './segmenter.js';

/**
 * Clicks (and an optional box) -> one mask, the way SAM's interactive demos
 * get good masks from few clicks:
 *  1. a first pass with the clicks. Clicks without a box are ambiguous (part,
 *     object, group), so one of SAM's candidates is chosen: by default the
 *     whole object that agrees with every click, which is what clicks mean in
 *     object tracking (see chooseWholeObject); 'best' keeps SAM's own rule
 *     (the best-scored multimask candidate for a lone click, token 0 else);
 *  2. refinement passes that feed the previous low-res logits back as the
 *     mask prompt, together with the clicks and the box around the current
 *     mask (the user's box when there is one).
 */

export interface ClickPrompt {
  points: DecodePoint[];
  box?: Box;
  /** The frame's current mask as SAM's mask prompt ([256 * 256] low-res logits): the clicks refine it. */
  maskInput?: Float32Array;
}

export interface ClickMaskOptions {
  /** Decoder passes after the first one. */
  refinePasses?: number;
  /** How the first pass's candidate is chosen without a box: 'whole' (default) or SAM's 'best'. */
  ambiguousChoice?: 'whole' | 'best';
}

export interface ClickMaskResult {
  mask: BinaryMask;
  /** Full-size logits, [height, width]: used to resolve overlaps between objects. */
  logits: Float32Array;
  /** Low-res logits, [256, 256]: the mask prompt for a later frame. */
  lowRes: Float32Array;
  /** Predicted IoU of the final pass. */
  score: number;
}

export const DEFAULT_REFINE_PASSES = 2;

/** With a box SAM's single-mask output is meant; otherwise the candidates are weighed. */
export function firstPassChoice(prompt: ClickPrompt, ambiguous: 'whole' | 'best'): TokenChoice {
  if (prompt.box || prompt.maskInput || prompt.points.length === 0) return 'single';
  if (ambiguous === 'whole') return 'whole';
  return prompt.points.length === 1 ? 'best' : 'single'; // SAM's own rule
}

export async function maskFromClicks(
  segmenter: SamSegmenter,
  embedding: ImageEmbedding,
  prompt: ClickPrompt,
  options: ClickMaskOptions = {},
): Promise<ClickMaskResult> {
  const passes = options.refinePasses ?? DEFAULT_REFINE_PASSES;
  const choice = firstPassChoice(prompt, options.ambiguousChoice ?? 'whole');
  let result = await segmenter.decode(embedding, { points: prompt.points, box: prompt.box, maskInput: prompt.maskInput }, choice);
  let image = segmenter.toImage(embedding, result.lowRes);
  for (let pass = 0; pass < passes; pass++) {
    const box = prompt.box ?? image.box ?? undefined;
    const refined = await segmenter.decode(embedding, { points: prompt.points, box, maskInput: result.lowRes });
    const refinedImage = segmenter.toImage(embedding, refined.lowRes);
    result = refined;
    image = refinedImage;
  }
  return { mask: image.mask, logits: image.logits, lowRes: result.lowRes, score: result.score };
}
