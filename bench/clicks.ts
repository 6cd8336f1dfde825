import type { BinaryMask, PromptPoint } from '../src/types.js';
import { deepestInteriorPoint, distanceToBackground, distanceToForeground } from '../src/tracker/query-points.js';

/**
 * Deterministic "user clicks" derived from a ground-truth mask, as a careful
 * user would place them: the first click at the deepest interior point; more
 * positive clicks well inside the object and far from the clicks already made
 * (farthest-point sampling over pixels at least a third as deep as the
 * deepest); a negative click on the background just outside the object,
 * near the first click.
 */
export function deriveClicks(mask: BinaryMask, positives: number, negatives: number): PromptPoint[] {
  const { width } = mask;
  const [x0, y0] = deepestInteriorPoint(mask);
  const clicks: PromptPoint[] = [[x0, y0, 1]];
  const depth = distanceToBackground(mask);
  const minDepth = Math.max(1, depth[y0 * width + x0] / 3);
  while (clicks.filter((c) => c[2] === 1).length < positives) {
    let best = -1;
    let bestGap = 0;
    for (let i = 0; i < depth.length; i++) {
      if (depth[i] < minDepth) continue;
      const x = i % width;
      const y = (i - x) / width;
      let gap = Infinity;
      for (const [cx, cy] of clicks) gap = Math.min(gap, (x - cx) ** 2 + (y - cy) ** 2);
      if (gap > bestGap) [best, bestGap] = [i, gap];
    }
    if (best < 0) break;
    clicks.push([best % width, Math.floor(best / width), 1]);
  }
  if (negatives > 0) {
    // Background pixels 10-25 px from the object, nearest to the first click.
    const away = distanceToForeground(mask);
    const band: number[] = [];
    for (let i = 0; i < away.length; i++) if (away[i] >= 10 && away[i] <= 25) band.push(i);
    const byNearness = band
      .map((i) => ({ i, d: (i % width - x0) ** 2 + (Math.floor(i / width) - y0) ** 2 }))
      .sort((a, b) => a.d - b.d || a.i - b.i);
    for (let n = 0; n < negatives && n < byNearness.length; n++) {
      // Spread several negatives by taking every (band / negatives)-th nearest pixel.
      const pick = byNearness[Math.floor((n * byNearness.length) / negatives)].i;
      clicks.push([pick % width, Math.floor(pick / width), 0]);
    }
  }
  return clicks;
}
