/**
 * SAM-PT query point selection: which pixels of a mask to track and to prompt SAM with.
 *
 * Pure functions of the mask (and a seed); no OpenCV. All returned points are integer pixel
 * coordinates (x = column, y = row), the convention SAM prompts and the tracker use.
 *
 * Positive points follow SAM-PT's default ("kmedoids"): K-Medoids over a random subsample of the
 * mask's pixels, so the points are mask pixels that cover the object evenly, each the most central
 * pixel of its region — robust to thin parts and holes, unlike centroids (which can fall off the
 * mask).
 */
import type { BinaryMask } from '../types.js';
import { assertMask, distanceToBackground, distanceToForeground } from './distance-transform.js';

export { distanceToBackground, distanceToForeground } from './distance-transform.js';

/** SAM-PT subsamples 1800 mask pixels before K-Medoids; enough to place a few dozen medoids. */
export const DEFAULT_MAX_CANDIDATES = 1800;

export interface PositiveSamplingOptions {
  /** Pixels considered by K-Medoids (a deterministic random subset). Default 1800. */
  maxCandidates?: number;
  /** Alternating K-Medoids rounds before giving up on convergence. Default 30. */
  maxIterations?: number;
}

export interface NegativeSamplingOptions extends PositiveSamplingOptions {
  /** Closest a negative point may be to the mask, in px. Default max(8, 0.1 * sqrt(area)). */
  minGap?: number;
  /** Farthest a negative point may be from the mask, in px. Default max(2 * minGap, 0.5 * sqrt(area)). */
  maxGap?: number;
}

/**
 * `k` points on the mask, spread over it: the medoids of a K-Medoids clustering of the mask's pixels
 * (k-means++ seeding, then alternating assignment / medoid update). Deterministic for a given mask,
 * k and seed. If the mask has at most k pixels, returns all of them (row-major order).
 * Layout: x0, y0, x1, y1, ...; length === 2 * min(k, mask pixels).
 */
export function samplePositivePoints(
  mask: BinaryMask, k: number, seed = 0, options: PositiveSamplingOptions = {},
): Float32Array {
  assertMask(mask);
  assertCount(k);
  const pixels = pixelIndices(mask.data.length, (i) => mask.data[i] !== 0);
  return spreadPoints(pixels, mask.width, k, seed, options);
}

/**
 * `k` background points spread around the object, for SAM's negative clicks.
 *
 * SAM-PT applies its positive sampler to the inverted mask, which with its default of one negative
 * point means a uniformly random background pixel — usually far from the object. We sample from a
 * band around the object instead (background pixels whose distance to the mask is within
 * [minGap, maxGap]):
 * - near the object is where SAM's mask leaks (into adjacent, similar-looking regions), so that is
 *   where a "not this" click changes the prediction; a far-away click rarely does;
 * - but not touching it: SAM's and the tracker's boundaries are a few px off, and an LK window
 *   (21 px) centred right at the edge would straddle the moving object and drift onto it, turning a
 *   negative click into a wrong one. The default gap of >= 8 px keeps most of that window on the
 *   background.
 * K-Medoids over the band spreads the points all around the object. If the band holds fewer than k
 * pixels (object filling the frame, gaps too wide) we fall back to the whole background; an empty
 * background gives no points. Deterministic for a given mask, k, seed and options.
 * Layout: x0, y0, x1, y1, ...; length === 2 * min(k, candidate pixels).
 */
export function sampleNegativePoints(
  mask: BinaryMask, k: number, seed = 0, options: NegativeSamplingOptions = {},
): Float32Array {
  assertMask(mask);
  assertCount(k);
  const { minGap, maxGap } = bandGaps(mask, options);
  const distance = distanceToForeground(mask);
  let pixels = pixelIndices(mask.data.length, (i) => distance[i] >= minGap && distance[i] <= maxGap);
  if (pixels.length < k) pixels = pixelIndices(mask.data.length, (i) => mask.data[i] === 0);
  return spreadPoints(pixels, mask.width, k, seed, options);
}

/**
 * The mask pixel farthest from the background (the frame's outside counts as background): the
 * centre of the largest inscribed disc — a safe single click. Ties go to the first pixel in
 * row-major order. Throws on an empty mask.
 */
export function deepestInteriorPoint(mask: BinaryMask): [x: number, y: number] {
  const distance = distanceToBackground(mask);
  let best = -1;
  let bestDistance = 0;
  for (let i = 0; i < distance.length; i++) {
    if (distance[i] > bestDistance) {
      bestDistance = distance[i];
      best = i;
    }
  }
  if (best < 0) throw new RangeError('deepestInteriorPoint: the mask is empty');
  return [best % mask.width, Math.floor(best / mask.width)];
}

function bandGaps(mask: BinaryMask, options: NegativeSamplingOptions): { minGap: number; maxGap: number } {
  let area = 0;
  for (const v of mask.data) if (v !== 0) area++;
  const scale = Math.sqrt(area); // side of a square with the object's area
  const minGap = options.minGap ?? Math.max(8, 0.1 * scale);
  const maxGap = options.maxGap ?? Math.max(2 * minGap, 0.5 * scale);
  if (!(minGap >= 0) || !(maxGap >= minGap)) {
    throw new RangeError(`need 0 <= minGap <= maxGap, got minGap=${minGap} maxGap=${maxGap}`);
  }
  return { minGap, maxGap };
}

/** k medoids of the given pixels (all of them if there are at most k), as x,y pairs. */
function spreadPoints(
  pixels: Int32Array, width: number, k: number, seed: number, options: PositiveSamplingOptions,
): Float32Array {
  if (k === 0) return new Float32Array(0);
  if (pixels.length <= k) return pixelsToPoints(pixels, width);
  const random = mulberry32(seed);
  const maxCandidates = Math.max(k, options.maxCandidates ?? DEFAULT_MAX_CANDIDATES);
  const candidates = sampleWithoutReplacement(pixels, maxCandidates, random);
  const xs = new Float64Array(candidates.length);
  const ys = new Float64Array(candidates.length);
  for (let c = 0; c < candidates.length; c++) {
    xs[c] = candidates[c] % width;
    ys[c] = Math.floor(candidates[c] / width);
  }
  const medoids = kMedoids(xs, ys, k, random, options.maxIterations ?? 30);
  const points = new Float32Array(2 * k);
  medoids.forEach((c, j) => {
    points[2 * j] = xs[c];
    points[2 * j + 1] = ys[c];
  });
  return points;
}

/**
 * Alternating K-Medoids ("Voronoi iteration") with k-means++ seeding. Returns candidate indices of
 * the k medoids. Each medoid is a member of its own cluster, so the medoids are distinct candidates.
 * A medoid moves only on a strict cost decrease, so the total cost never increases and the loop
 * terminates even on ties.
 */
export function kMedoids(
  xs: Float64Array, ys: Float64Array, k: number, random: () => number, maxIterations = 30,
): Int32Array {
  const medoids = kMeansPlusPlusSeeds(xs, ys, k, random);
  const assignment = new Int32Array(xs.length);
  for (let iteration = 0; iteration < maxIterations; iteration++) {
    assignToNearest(xs, ys, medoids, assignment);
    if (!updateMedoids(xs, ys, medoids, assignment)) break;
  }
  return medoids;
}

/** k-means++: first seed uniform, each next one with probability proportional to D^2 (spread out). */
function kMeansPlusPlusSeeds(xs: Float64Array, ys: Float64Array, k: number, random: () => number): Int32Array {
  const n = xs.length;
  const seeds = new Int32Array(k);
  const nearestSquared = new Float64Array(n).fill(Infinity); // D^2 to the closest seed so far
  seeds[0] = Math.floor(random() * n);
  for (let s = 1; s < k; s++) {
    const last = seeds[s - 1];
    let total = 0;
    for (let i = 0; i < n; i++) {
      const d = (xs[i] - xs[last]) ** 2 + (ys[i] - ys[last]) ** 2;
      if (d < nearestSquared[i]) nearestSquared[i] = d;
      total += nearestSquared[i];
    }
    seeds[s] = pickProportionally(nearestSquared, total, random);
  }
  return seeds;
}

/** Index i with probability weights[i] / total; never one with weight 0 (i.e. an existing seed). */
function pickProportionally(weights: Float64Array, total: number, random: () => number): number {
  let target = random() * total;
  let lastPositive = -1;
  for (let i = 0; i < weights.length; i++) {
    if (weights[i] <= 0) continue;
    lastPositive = i;
    target -= weights[i];
    if (target < 0) return i;
  }
  return lastPositive; // rounding left target >= 0: take the last eligible candidate
}

/** assignment[i] = index (into medoids) of the nearest medoid; ties go to the lower index. */
function assignToNearest(xs: Float64Array, ys: Float64Array, medoids: Int32Array, assignment: Int32Array): void {
  for (let i = 0; i < xs.length; i++) {
    let best = 0;
    let bestDistance = Infinity;
    for (let j = 0; j < medoids.length; j++) {
      const d = (xs[i] - xs[medoids[j]]) ** 2 + (ys[i] - ys[medoids[j]]) ** 2;
      if (d < bestDistance) {
        bestDistance = d;
        best = j;
      }
    }
    assignment[i] = best;
  }
}

/**
 * Moves each medoid to the member with the smallest sum of Euclidean distances to its cluster
 * (only on strict improvement). Returns whether any medoid moved.
 */
function updateMedoids(xs: Float64Array, ys: Float64Array, medoids: Int32Array, assignment: Int32Array): boolean {
  let moved = false;
  for (let j = 0; j < medoids.length; j++) {
    const members = pixelIndices(assignment.length, (i) => assignment[i] === j);
    const best = bestMedoid(xs, ys, members, medoids[j]);
    if (best !== medoids[j]) {
      medoids[j] = best;
      moved = true;
    }
  }
  return moved;
}

/**
 * The member minimising the sum of distances to all members (ties keep `current`), found without
 * trying every member: by the triangle inequality, cost(c) = sum |m - c| >= |sum (m - c)|
 * = n * |centroid - c|. Trying members in order of distance to the centroid, we can stop as soon
 * as that lower bound reaches the best cost found. Exact, and typically tries a few dozen members
 * instead of all n (n^2 -> ~n).
 */
function bestMedoid(xs: Float64Array, ys: Float64Array, members: Int32Array, current: number): number {
  const n = members.length;
  let cx = 0;
  let cy = 0;
  for (const i of members) {
    cx += xs[i];
    cy += ys[i];
  }
  cx /= n;
  cy /= n;
  const toCentroid = new Float64Array(xs.length); // indexed by candidate, only members filled
  for (const i of members) toCentroid[i] = Math.sqrt((xs[i] - cx) ** 2 + (ys[i] - cy) ** 2);
  const byCentroidDistance = members.slice().sort((a, b) => toCentroid[a] - toCentroid[b] || a - b);

  let best = current;
  let bestCost = clusterCost(xs, ys, members, current);
  for (const candidate of byCentroidDistance) {
    if (n * toCentroid[candidate] >= bestCost) break; // no later member can do better
    const cost = clusterCost(xs, ys, members, candidate, bestCost);
    if (cost < bestCost) {
      bestCost = cost;
      best = candidate;
    }
  }
  return best;
}

/** Sum of distances from `centre` to the members; stops early once it exceeds `stopAbove`. */
function clusterCost(
  xs: Float64Array, ys: Float64Array, members: Int32Array, centre: number, stopAbove = Infinity,
): number {
  let cost = 0;
  for (let m = 0; m < members.length && cost <= stopAbove; m++) {
    const i = members[m];
    const dx = xs[i] - xs[centre];
    const dy = ys[i] - ys[centre];
    cost += Math.sqrt(dx * dx + dy * dy); // not Math.hypot: several times slower in V8
  }
  return cost;
}

/** Indices 0..length-1 that satisfy `keep`, ascending. */
function pixelIndices(length: number, keep: (i: number) => boolean): Int32Array {
  const indices = new Int32Array(length);
  let count = 0;
  for (let i = 0; i < length; i++) if (keep(i)) indices[count++] = i;
  return indices.slice(0, count);
}

/** `count` distinct entries of `values` chosen uniformly (partial Fisher-Yates on a copy). */
function sampleWithoutReplacement(values: Int32Array, count: number, random: () => number): Int32Array {
  if (values.length <= count) return values.slice();
  const pool = values.slice();
  for (let i = 0; i < count; i++) {
    const j = i + Math.floor(random() * (pool.length - i));
    const swap = pool[i];
    pool[i] = pool[j];
    pool[j] = swap;
  }
  return pool.slice(0, count);
}

function pixelsToPoints(pixels: Int32Array, width: number): Float32Array {
  const points = new Float32Array(2 * pixels.length); // x0, y0, x1, y1, ...
  pixels.forEach((p, j) => {
    points[2 * j] = p % width;
    points[2 * j + 1] = Math.floor(p / width);
  });
  return points;
}

function assertCount(k: number): void {
  if (!Number.isInteger(k) || k < 0) throw new RangeError(`k must be a non-negative integer, got ${k}`);
}

/** Small seeded PRNG (mulberry32): deterministic across platforms, uniform in [0, 1). */
export function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
