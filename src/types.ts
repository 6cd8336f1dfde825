/**
 * The types that cross module boundaries. Data flows one way:
 *
 *   video -> frames (VideoMeta, RgbFrame) -> tracked points (TrackedPoints)
 *         -> per-frame masks (FrameMasks) -> mask tracks (MaskTrack)
 *         -> overlay + JSON (JobResult)
 *
 * Every module imports these from here; none defines its own copy.
 */

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

/** 0 = background click, 1 = object click. */
export type PointLabel = 0 | 1;

/** A click: x, y in the displayed frame's pixels, and its label. */
export type PromptPoint = [x: number, y: number, label: PointLabel];

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
  prompts: FramePrompt[];
}

/** What a user submits (CLI file or API field). Validated by `promptsSchema`. */
export interface Prompts {
  objects: ObjectPrompts[];
}

/** One object in a correction: new prompts, or gone from a frame on. Validated by `correctionSchema`. */
export interface ObjectCorrection {
  id: number;
  name?: string;
  prompts?: FramePrompt[];
  absentFrom?: number;
}

/** A correction of a tracked job (POST /v1/jobs/:id/corrections). */
export interface Correction {
  objects: ObjectCorrection[];
}

/**
 * Point tracks on one frame: the output of the point tracker.
 * Points are stored flat so a frame's worth can be handed to OpenCV without copying.
 */
export interface TrackedPoints {
  frame: number;
  /** x0, y0, x1, y1, ... in frame pixels; length === 2 * count */
  positions: Float32Array;
  /** 1 if the point is visible (tracked with confidence) on this frame, else 0; length === count */
  visible: Uint8Array;
}

/** One object's mask on one frame. */
export interface ObjectMask {
  objectId: number;
  mask: BinaryMask;
  /** The decoder's predicted IoU for the chosen mask (0 when absent). */
  score: number;
  /** Whether the object is considered present on this frame. */
  visible: boolean;
}

/** Every object's mask on one frame, overlaps already resolved. */
export interface FrameMasks {
  frame: number;
  objects: ObjectMask[];
}

/** One frame of one object's track, as written to masks.json. */
export interface MaskTrackEntry {
  frame: number;
  rle: CocoRle;
  score: number;
  /** [x, y, width, height] in pixels, COCO style; [0, 0, 0, 0] when empty. */
  bbox: [number, number, number, number];
  area: number;
  visible: boolean;
}

/** One object's masks over the whole video. */
export interface MaskTrack {
  objectId: number;
  name: string;
  frames: MaskTrackEntry[];
}

/** What a finished tracking run produced. */
export interface JobResult {
  video: VideoMeta;
  tracks: MaskTrack[];
  artifacts: {
    overlay?: string;
    masks: string;
    pngDir?: string;
  };
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
}
