/**
 * instances.json (YouTube-VIS) from a run's frame records: one annotation
 * per object whose per-frame segmentations decode to exactly masks.json's
 * pixels, null where the object is absent, categories from the objects'.
 */
import { describe, expect, it } from 'vitest';
import { frameRecord, objectRecord, recordMask } from '../../src/output/masks-json.js';
import { instancesDocument } from '../../src/output/instances-json.js';
import { sessionObjects } from '../../src/pipeline/tracking-session.js';
import { parseCorrection, parsePrompts } from '../../src/prompts.js';
import { decodeRle } from '../../src/segment/rle.js';
import type { BinaryMask } from '../../src/types.js';

const W = 6;
const H = 4;
function mask(cells: [number, number][]): BinaryMask {
  const data = new Uint8Array(W * H);
  for (const [x, y] of cells) data[y * W + x] = 1;
  return { width: W, height: H, data };
}
const meta = { width: W, height: H, fps: 10, frameNames: ['00000', '00001', '00002'], timestamps: [0, 0.1, 0.2] };

describe('instances.json', () => {
  const frames = [
    frameRecord(meta, 0, [objectRecord(1, mask([[0, 0], [1, 0]]), 0.9, W, H), objectRecord(2, mask([[5, 3]]), 0.8, W, H)]),
    frameRecord(meta, 1, [objectRecord(1, mask([[1, 1], [2, 1], [2, 2]]), 0.9, W, H), objectRecord(2, undefined, 0, W, H)]),
    frameRecord(meta, 2, [objectRecord(1, mask([[3, 3]]), 0.7, W, H), objectRecord(2, mask([[4, 0], [4, 1]]), 0.6, W, H)]),
  ];
  const objects = [
    { id: 2, name: 'ball', category: 'sports ball' },
    { id: 1, name: 'runner', category: 'person' },
  ];

  it('has one video and one annotation per object, whose masks are masks.json’s, null where absent', () => {
    const doc = instancesDocument(meta, objects, frames);
    expect(doc.videos).toEqual([{ id: 1, width: W, height: H, length: 3, file_names: ['00000.jpg', '00001.jpg', '00002.jpg'] }]);
    expect(doc.annotations.map((a) => [a.id, a.name, a.video_id, a.width, a.height, a.iscrowd])).toEqual([
      [1, 'runner', 1, W, H, 0],
      [2, 'ball', 1, W, H, 0],
    ]);
    for (const annotation of doc.annotations) {
      expect(annotation.segmentations).toHaveLength(3);
      annotation.segmentations.forEach((rle, f) => {
        const record = frames[f].objects.find((o) => o.id === annotation.id)!;
        if (!record.visible) {
          expect([rle, annotation.bboxes[f], annotation.areas[f]]).toEqual([null, null, null]);
          return;
        }
        expect(rle!.size).toEqual([H, W]);
        expect(decodeRle(rle!).data).toEqual(recordMask(record).data);
        expect(annotation.areas[f]).toBe(record.area);
        expect(annotation.bboxes[f]).toEqual(record.bbox);
      });
    }
    // Frame 1 of object 1: cells (1,1), (2,1), (2,2): box [1, 1, 2, 2], area 3.
    expect([doc.annotations[0].bboxes[1], doc.annotations[0].areas[1]]).toEqual([[1, 1, 2, 2], 3]);
  });

  it('numbers categories in the order of the objects’ ids, and puts objects without one in "object"', () => {
    expect(instancesDocument(meta, objects, frames).categories).toEqual([
      { id: 1, name: 'person', supercategory: 'object' },
      { id: 2, name: 'sports ball', supercategory: 'object' },
    ]);
    const plain = instancesDocument(meta, [{ id: 1, name: 'a' }, { id: 2, name: 'b', category: 'dog' }], frames);
    expect(plain.categories.map((c) => c.name)).toEqual(['object', 'dog']);
    expect(plain.annotations.map((a) => a.category_id)).toEqual([1, 2]);
  });
});

describe('an object’s category', () => {
  it('is read from the prompts and from a correction’s new object, and kept in the session', () => {
    const prompts = parsePrompts(JSON.stringify({ objects: [{ id: 1, name: 'rex', category: ' dog ', prompts: [{ frame: 0, points: [[1, 1, 1]] }] }] }));
    expect(sessionObjects(prompts.objects)[0]).toMatchObject({ id: 1, name: 'rex', category: 'dog' });
    const correction = parseCorrection({ objects: [{ id: 2, category: 'cat', prompts: [{ frame: 0, points: [[2, 2, 1]] }] }] });
    expect(correction.objects[0].category).toBe('cat');
    expect(() => parsePrompts(JSON.stringify({ objects: [{ id: 1, category: '', prompts: [{ frame: 0, points: [[1, 1, 1]] }] }] }))).toThrow(/category/);
  });
});
