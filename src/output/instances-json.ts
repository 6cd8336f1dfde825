import type { VideoMeta } from '../types.js';
import type { FrameRecord, MasksObject } from './masks-json.js';

/**
 * instances.json: the run in the YouTube-VIS format that video instance
 * segmentation tools and training code read (pycocotools-based loaders):
 * one video, one annotation per object with a segmentation, box and area per
 * frame (null where the object is absent), COCO RLE as in masks.json (the
 * compressed string form, which pycocotools decodes as it is). Categories
 * come from the objects' `category`; objects without one are "object".
 */

export const DEFAULT_CATEGORY = 'object';

type Rle = FrameRecord['objects'][number]['rle'];

export interface InstancesDocument {
  info: { description: string; format: string };
  licenses: never[];
  videos: { id: number; width: number; height: number; length: number; file_names: string[] }[];
  categories: { id: number; name: string; supercategory: string }[];
  annotations: {
    id: number;
    video_id: number;
    category_id: number;
    /** The object's own name in the job. */
    name: string;
    iscrowd: 0;
    width: number;
    height: number;
    length: 1;
    segmentations: (Rle | null)[];
    bboxes: ([number, number, number, number] | null)[];
    areas: (number | null)[];
  }[];
}

/** Category ids in order of first use by object id: the same objects give the same ids. */
function categoriesOf(objects: MasksObject[]): Map<string, number> {
  const ids = new Map<string, number>();
  for (const o of [...objects].sort((a, b) => a.id - b.id)) {
    const name = o.category ?? DEFAULT_CATEGORY;
    if (!ids.has(name)) ids.set(name, ids.size + 1);
  }
  return ids;
}

export function instancesDocument(meta: Pick<VideoMeta, 'width' | 'height' | 'frameNames'>, objects: MasksObject[], frames: FrameRecord[]): InstancesDocument {
  const categories = categoriesOf(objects);
  const { width, height } = meta;
  const annotations = [...objects]
    .sort((a, b) => a.id - b.id)
    .map((object) => {
      const perFrame = frames.map((frame) => frame.objects.find((o) => o.id === object.id && o.visible));
      return {
        id: object.id,
        video_id: 1,
        category_id: categories.get(object.category ?? DEFAULT_CATEGORY)!,
        name: object.name,
        iscrowd: 0 as const,
        width,
        height,
        length: 1 as const,
        segmentations: perFrame.map((o) => o?.rle ?? null),
        bboxes: perFrame.map((o) => o?.bbox ?? null),
        areas: perFrame.map((o) => o?.area ?? null),
      };
    });
  return {
    info: { description: 'ClipMask video instance masks', format: 'youtube-vis' },
    licenses: [],
    videos: [{ id: 1, width, height, length: frames.length, file_names: frames.map((f) => `${f.name}.jpg`) }],
    categories: [...categories].map(([name, id]) => ({ id, name, supercategory: DEFAULT_CATEGORY })),
    annotations,
  };
}
