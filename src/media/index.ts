/** Video input / output: probe, decode to RGB, encode mp4, indexed PNG masks. */
export { MediaError, isMediaError, hasMediaErrorCode, type MediaErrorCode } from './errors.js';
export { resolveFfmpeg, resolveFfprobe, clearToolCache } from './binaries.js';
export { probeInput, probeVideo, probeFrameDir, type ProbeOptions, type FrameDirOptions, type MediaLimits } from './probe.js';
export { DEFAULT_LIMITS } from './limits.js';
export { listFrameFiles, FRAME_EXTENSIONS, DEFAULT_FRAME_DIR_FPS } from './framedir.js';
export { readFrames, type ReadFramesOptions } from './frames.js';
export { VideoWriter, videoWriterOptionsFor, isEvenlySpaced, type VideoWriterOptions } from './encode.js';
export { davisPalette, encodeIndexedPng, writeIndexedPng, type Rgb } from './png.js';
