/** The point tracker and SAM-PT query point selection. */
export { LucasKanadeTracker } from './lucas-kanade.js';
export { getCv, loadOpenCv, wasmHeapBytes, type OpenCv } from './opencv.js';
export {
  DEFAULT_MAX_CANDIDATES,
  deepestInteriorPoint,
  distanceToBackground,
  distanceToForeground,
  sampleNegativePoints,
  samplePositivePoints,
  type NegativeSamplingOptions,
  type PositiveSamplingOptions,
} from './query-points.js';
export {
  DEFAULT_LUCAS_KANADE_OPTIONS,
  type LucasKanadeOptions,
  type PointTracker,
  type TrackStep,
} from './types.js';
