/**
 * The types that cross module boundaries, and only those, plus SPEEDS: the
 * values the Speed type is derived from, shared by the prompts schema, the
 * CLI and the web page (this file imports nothing, so the page can bundle it).
 * Data flows one way:
 *
 *   video -> frames (VideoMeta, RgbFrame) -> embeddings (ImageEmbedding)
 *         -> masks (BinaryMask, CocoRle) -> frame records (output/masks-json.ts)
 *
 * and what users send: Prompts (a submission) and Correction (a later fix),
 * made of FramePrompts whose clicks are PromptPoints, the one point type at
 * every boundary (the decoder's {x, y, label} is segment/'s own).
 */

import type { OutputName, RenderRequest } from './output/render-spec.js';

/** What ffprobe (or a frame directory) tells us about the input, after rotation is applied. */
export interface VideoMeta {
  /** Displayed width in pixels (rotation metadata already applied). */
  width: number;
  /** Displayed height in pixels (rotation metadata already applied). */
  height: number;
  /** Average frame rate (frames / duration); for variable frame rate see `timestamps`. */
  fps: number;
  /** Number of frames that will be decoded. */
  frames: number;
  /** Duration in seconds. */
  duration: number;
  /** Rotation in degrees clockwise that the player applies (0, 90, 180, 270). */
  rotation: number;
  /** Whether the source has an audio stream (copied into the overlay). */
  hasAudio: boolean;
  /** Presentation time in seconds of every frame, in decode order (length === frames). */
  timestamps: number[];
  /** Name of every frame: the file name without extension for frame directories, `00000`... for videos. */
  frameNames: string[];
  /** Where the frames come from. */
  kind: 'video' | 'frames';
  /** What is wrong with the input that did not stop it (frames that do not decode); none when absent. */
  warnings?: MediaWarning[];
}

/** A problem with the input that is worked around, told to the user (the job status, masks.json). */
export interface MediaWarning {
  /**
   * `cut_short`: the file ends part-way; only the frames before the cut are processed.
   * `frames_missing`: frames in the middle do not decode (corrupt packets); the others are processed.
   */
  code: 'cut_short' | 'frames_missing';
  message: string;
  /** Frames that decode (the video's frames from then on). */
  decodedFrames: number;
  /** Frames the file says it has, when it says. */
  declaredFrames?: number;
  /** frames_missing: the presentation times (s) of the frames that do not decode, the first 100. */
  missingTimes?: number[];
}

/** One decoded frame: packed RGB, 3 bytes per pixel, row-major, no padding. */
export interface RgbFrame {
  index: number;
  width: number;
  height: number;
  /** length === width * height * 3 */
  data: Uint8Array;
}

/** A binary mask at image resolution: one byte per pixel, 1 = object, 0 = background. */
export interface BinaryMask {
  width: number;
  height: number;
  /** length === width * height, row-major */
  data: Uint8Array;
}

/** COCO run-length encoding, column-major, as pycocotools writes it. */
export interface CocoRle {
  size: [height: number, width: number];
  counts: string;
}

/** A click: x, y in the displayed frame's pixels, and its label (0 = background, 1 = object). */
export type PromptPoint = [x: number, y: number, label: 0 | 1];

/** A box in the displayed frame's pixels: left, top, right, bottom. */
export type Box = [x0: number, y0: number, x1: number, y1: number];

/** The user's prompts on one frame for one object. */
export interface FramePrompt {
  frame: number;
  points: PromptPoint[];
  box?: Box;
}

export interface ObjectPrompts {
  /** Positive integer, unique in a request; also the pixel value in indexed PNGs. */
  id: number;
  name?: string;
  /** What kind of thing it is (instances.json's category); objects without one are "object". */
  category?: string;
  prompts: FramePrompt[];
}

/**
 * How a job trades quality for time: `best` runs the image encoder on every
 * frame; `fast` runs it on key frames and warps their embedding along the
 * optical flow to the frames between (pipeline/key-frames.ts).
 */
export const SPEEDS = ['best', 'fast'] as const;
export type Speed = (typeof SPEEDS)[number];

/** What a user submits (CLI file or API field). Validated by `promptsSchema`. */
export interface Prompts {
  objects: ObjectPrompts[];
  /** Default `best`. */
  speed?: Speed;
  /** The service POSTs the job's end here (ignored by the CLI). */
  webhook?: string;
  /** Output names or render requests (output/render-spec.ts); renders are made after the tracking. */
  outputs?: (OutputName | RenderRequest)[];
}

/** One object in a correction: new prompts, or gone from a frame on. Validated by `correctionSchema`. */
export interface ObjectCorrection {
  id: number;
  name?: string;
  category?: string;
  prompts?: FramePrompt[];
  absentFrom?: number;
}

/** A correction of a tracked job (POST /v1/jobs/:id/corrections). */
export interface Correction {
  objects: ObjectCorrection[];
}

/** The image encoder's output for one frame, with what is needed to map coordinates into it. */
export interface ImageEmbedding {
  /** Original image size. */
  width: number;
  height: number;
  /** Image size after resizing the longer side to the encoder's input size (before padding). */
  resizedWidth: number;
  resizedHeight: number;
  /** [1, 256, 64, 64] float32 for SAM-family encoders. */
  data: Float32Array;
  /** Set when this is not the frame's own encoding but key frame `warpedFrom`'s, warped to it (speed `fast`). */
  warpedFrom?: number;
}
