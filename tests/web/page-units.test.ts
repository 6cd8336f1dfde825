/**
 * The page's pure parts, in node: RLE decoding, coordinate mapping, the
 * click state with undo and the prompts JSON it builds (speed included),
 * mask painting, the preview's handling of stale answers, and the words
 * shown to people.
 */
import { describe, expect, it } from 'vitest';
import { parsePrompts } from '../../src/prompts.js';
import { objectColour } from '../../src/segment/image-files.js';
import { maskToRuns } from '../../src/segment/rle.js';
import { SPEEDS } from '../../src/types.js';
import { colourFor } from '../../web/src/colours.js';
import { paintMasks } from '../../web/src/draw.js';
import { describeError, describeWarning, formatEta } from '../../web/src/format.js';
import { boxFromDrag, clientToVideo, containRect, videoToClient } from '../../web/src/geometry.js';
import { MaskPreviewer } from '../../web/src/preview.js';
import {
  History,
  addObject,
  addPoint,
  buildPrompts,
  clearFrame,
  deleteObject,
  initialState,
  promptKey,
  renameObject,
  selectObject,
  setBox,
} from '../../web/src/prompt-state.js';
import { decodeRle } from '../../web/src/rle.js';
import { SPEED_LABELS } from '../../web/src/speed.js';
import type { MaskRequest, MaskResponse } from '../../web/src/api.js';

describe('decodeRle', () => {
  it('reads uncompressed COCO RLE column by column, starting with zeros', () => {
    // 3 wide, 2 high. Column-major order: (0,0) (0,1) (1,0) (1,1) (2,0) (2,1).
    // counts [1, 2, 3]: (0,0)=0, (0,1)=1, (1,0)=1, the rest 0.
    const mask = decodeRle({ size: [2, 3], counts: [1, 2, 3] });
    expect(mask).toMatchObject({ width: 3, height: 2 });
    // row-major: row 0 = [0, 1, 0], row 1 = [1, 0, 0]
    expect([...mask.data]).toEqual([0, 1, 0, 1, 0, 0]);
    // A leading run of 1s has an empty run of 0s first.
    expect([...decodeRle({ size: [1, 2], counts: [0, 1, 1] }).data]).toEqual([1, 0]);
  });

  it('inverts the server-side encoder for a random mask', () => {
    const width = 37;
    const height = 23;
    const data = new Uint8Array(width * height);
    let seed = 7;
    for (let i = 0; i < data.length; i++) {
      seed = (seed * 1103515245 + 12345) >>> 0;
      data[i] = seed % 5 < 2 ? 1 : 0;
    }
    const counts = maskToRuns({ width, height, data });
    expect([...decodeRle({ size: [height, width], counts }).data]).toEqual([...data]);
  });

  it('refuses runs that do not cover the mask', () => {
    expect(() => decodeRle({ size: [2, 2], counts: [1, 2] })).toThrow(RangeError);
    expect(() => decodeRle({ size: [2, 2], counts: [3, 2] })).toThrow(RangeError);
    expect(() => decodeRle({ size: [2, 2], counts: [2, -1, 3] })).toThrow(RangeError);
  });
});

describe('coordinates', () => {
  const video = { width: 160, height: 120 };

  it('maps CSS pixels of a scaled frame to video pixels and back', () => {
    // Shown 4x larger at (100, 50).
    const rect = { left: 100, top: 50, width: 640, height: 480 };
    expect(clientToVideo(100, 50, rect, video)).toEqual({ x: 0, y: 0 });
    expect(clientToVideo(100 + 4 * 48 + 2, 50 + 4 * 45 + 3, rect, video)).toEqual({ x: 48, y: 45 });
    expect(clientToVideo(740, 530, rect, video)).toEqual({ x: 159, y: 119 }); // the far edge is the last pixel
    expect(clientToVideo(99, 60, rect, video)).toBeNull();
    expect(clientToVideo(200, 531, rect, video)).toBeNull();
    const centre = videoToClient(48, 45, rect, video);
    expect(centre).toEqual({ x: 100 + 48.5 * 4, y: 50 + 45.5 * 4 });
    expect(clientToVideo(centre.x, centre.y, rect, video)).toEqual({ x: 48, y: 45 });
    // Shown smaller (a phone): 0.5x.
    const small = { left: 0, top: 0, width: 80, height: 60 };
    expect(clientToVideo(24.2, 22.9, small, video)).toEqual({ x: 48, y: 45 });
  });

  it('allows for letterboxing when the element has another shape', () => {
    const rect = { left: 0, top: 0, width: 400, height: 120 }; // picture 160x120 centred: x from 120 to 280
    expect(containRect(rect, video)).toEqual({ left: 120, top: 0, width: 160, height: 120 });
    expect(clientToVideo(119, 10, rect, video)).toBeNull();
    expect(clientToVideo(130.5, 10.5, rect, video)).toEqual({ x: 10, y: 10 });
  });

  it('turns a drag into a box in video pixels, clamped, ignoring slivers', () => {
    const rect = { left: 0, top: 0, width: 320, height: 240 };
    expect(boxFromDrag({ x: 100, y: 80 }, { x: 20, y: 20 }, rect, video)).toEqual([10, 10, 50, 40]);
    expect(boxFromDrag({ x: 300, y: 200 }, { x: 400, y: 300 }, rect, video)).toEqual([150, 100, 160, 120]);
    expect(boxFromDrag({ x: 10, y: 10 }, { x: 12, y: 100 }, rect, video)).toBeNull();
  });
});

describe('prompt state', () => {
  it('adds points and a box to the active object on a frame, with undo and redo', () => {
    const history = new History();
    history.commit(addPoint(history.state, 0, { x: 10, y: 20, label: 1 }));
    history.commit(addPoint(history.state, 0, { x: 30, y: 40, label: 0 }));
    history.commit(setBox(history.state, 3, [1, 2, 30, 40]));
    const object = history.state.objects[0];
    expect(object.frames.get(0)?.points).toEqual([
      { x: 10, y: 20, label: 1 },
      { x: 30, y: 40, label: 0 },
    ]);
    expect(object.frames.get(3)).toEqual({ points: [], box: [1, 2, 30, 40] });

    expect(history.undo()).toBe(true);
    expect(history.state.objects[0].frames.has(3)).toBe(false);
    expect(history.undo()).toBe(true);
    expect(history.state.objects[0].frames.get(0)?.points).toHaveLength(1);
    expect(history.canRedo).toBe(true);
    expect(history.redo()).toBe(true);
    expect(history.state.objects[0].frames.get(0)?.points).toHaveLength(2);
    // A new change drops the redo stack.
    history.commit(clearFrame(history.state, 0));
    expect(history.state.objects[0].frames.size).toBe(0);
    expect(history.canRedo).toBe(false);
    expect(history.undo()).toBe(true);
    expect(history.state.objects[0].frames.get(0)?.points).toHaveLength(2);
    // No-ops record nothing.
    expect(history.commit(clearFrame(history.state, 7))).toBe(false);
  });

  it('keeps several objects with their own ids; deleting one is undoable', () => {
    const history = new History();
    history.commit(addPoint(history.state, 0, { x: 1, y: 1, label: 1 }));
    history.commit(addObject(history.state));
    expect(history.state.activeId).toBe(2);
    history.commit(addPoint(history.state, 0, { x: 5, y: 5, label: 1 }));
    history.commit(addObject(history.state));
    history.commit(deleteObject(history.state, 2));
    expect(history.state.objects.map((o) => o.id)).toEqual([1, 3]);
    // The smallest free id is reused.
    expect(addObject(history.state).activeId).toBe(2);
    history.undo();
    expect(history.state.objects.map((o) => o.id)).toEqual([1, 2, 3]);
    expect(history.state.objects[1].frames.get(0)?.points).toEqual([{ x: 5, y: 5, label: 1 }]);
    // Deleting the last object leaves an empty object 1.
    let state = initialState();
    state = deleteObject(state, 1);
    expect(state.objects).toHaveLength(1);
    expect(state.objects[0].frames.size).toBe(0);
  });

  it('makes typing a name one undo step and selecting no step', () => {
    const history = new History();
    history.commit(addPoint(history.state, 0, { x: 1, y: 1, label: 1 }));
    for (const name of ['d', 'do', 'dog']) history.commit(renameObject(history.state, 1, name), 'rename-1');
    expect(history.state.objects[0].name).toBe('dog');
    history.commit(addObject(history.state));
    history.replace(selectObject(history.state, 1));
    expect(history.state.activeId).toBe(1);
    history.undo(); // the new object
    history.undo(); // the whole name
    expect(history.state.objects[0].name).toBe('object 1');
    expect(history.state.objects[0].frames.size).toBe(1);
  });

  it('builds the prompts JSON of POST /v1/jobs and explains what is missing', () => {
    let state = initialState();
    expect(buildPrompts(state)).toMatchObject({ ok: false });
    state = addPoint(state, 2, { x: 10, y: 20, label: 1 });
    state = addPoint(state, 2, { x: 50, y: 60, label: 0 });
    state = renameObject(state, 1, '  dog ');
    state = addObject(state); // left out: no clicks
    state = addObject(state);
    state = setBox(state, 0, [1, 2, 3, 4]);
    expect(buildPrompts(state)).toEqual({
      ok: true,
      prompts: {
        objects: [
          { id: 1, name: 'dog', prompts: [{ frame: 2, points: [[10, 20, 1], [50, 60, 0]] }] },
          { id: 3, name: 'object 3', prompts: [{ frame: 0, points: [], box: [1, 2, 3, 4] }] },
        ],
      },
    });
    state = selectObject(state, 1);
    state = addPoint(state, 5, { x: 3, y: 3, label: 0 });
    const refused = buildPrompts(state);
    expect(refused).toMatchObject({ ok: false, objectId: 1, frame: 5 });
    expect(!refused.ok && refused.message).toMatch(/only background points on frame 6/);
  });

  it('puts the picked speed into the prompts JSON, leaving Best (the default) out as before', () => {
    const state = addPoint(initialState(), 0, { x: 10, y: 20, label: 1 });
    const objects = [{ id: 1, name: 'object 1', prompts: [{ frame: 0, points: [[10, 20, 1]] }] }];
    expect(buildPrompts(state, 'fast')).toEqual({ ok: true, prompts: { objects, speed: 'fast' } });
    for (const best of [buildPrompts(state, 'best'), buildPrompts(state)]) {
      expect(best).toEqual({ ok: true, prompts: { objects } });
      expect(best.ok && 'speed' in best.prompts).toBe(false);
    }
    // The API's schema accepts both bodies as they are.
    expect(parsePrompts(JSON.stringify({ objects, speed: 'fast' }))).toEqual({ objects, speed: 'fast' });
    expect(SPEEDS.map((speed) => SPEED_LABELS[speed])).toEqual(['Best', 'Fast']);
  });

  it('keys prompts by their content', () => {
    expect(promptKey({ points: [{ x: 1, y: 2, label: 1 }] })).toBe(promptKey({ points: [{ x: 1, y: 2, label: 1 }] }));
    expect(promptKey({ points: [{ x: 1, y: 2, label: 1 }] })).not.toBe(promptKey({ points: [{ x: 1, y: 2, label: 0 }] }));
    expect(promptKey({ points: [], box: [1, 2, 3, 4] })).not.toBe(promptKey({ points: [] }));
  });
});

describe('drawing', () => {
  it('uses the overlay video’s colour for every object id', () => {
    for (let id = 1; id <= 20; id++) expect([...colourFor(id)]).toEqual([...objectColour(id)]);
  });

  it('tints the inside of a mask and draws its outline opaque', () => {
    const width = 5;
    const height = 5;
    const data = new Uint8Array(25);
    for (let y = 1; y <= 3; y++) for (let x = 1; x <= 3; x++) data[y * width + x] = 1;
    const rgba = new Uint8ClampedArray(width * height * 4);
    paintMasks(rgba, width, height, [{ mask: { width, height, data }, colour: [10, 20, 30] }], 0.5);
    const px = (x: number, y: number) => [...rgba.subarray((y * width + x) * 4, (y * width + x) * 4 + 4)];
    expect(px(2, 2)).toEqual([10, 20, 30, 128]);
    expect(px(1, 1)).toEqual([10, 20, 30, 255]);
    expect(px(0, 0)).toEqual([0, 0, 0, 0]);
  });
});

describe('MaskPreviewer', () => {
  /** A fake mask endpoint whose answers the test releases one by one. */
  function fakeServer() {
    const calls: Array<{ request: MaskRequest; resolve: (r: MaskResponse) => void; reject: (e: unknown) => void }> = [];
    const fetchMask = (request: MaskRequest) =>
      new Promise<MaskResponse>((resolve, reject) => {
        calls.push({ request, resolve, reject });
      });
    const answer = (request: MaskRequest, area: number): MaskResponse => ({
      frame: request.frame,
      width: 4,
      height: 1,
      score: 0.9,
      area,
      mask: { size: [1, 4], counts: [0, area, 4 - area] },
      timings: { embedMs: 0, decodeMs: 1, totalMs: 1 },
    });
    return { calls, fetchMask, answer };
  }
  const flush = () => new Promise((r) => setTimeout(r, 0));

  it('sends one request per object, folds clicks made meanwhile into one, and never shows a stale answer', async () => {
    const server = fakeServer();
    let now = 0;
    let changes = 0;
    const previewer = new MaskPreviewer(server.fetchMask, () => changes++, () => now);
    const one = { points: [{ x: 0, y: 0, label: 1 as const }] };
    const two = { points: [...one.points, { x: 1, y: 0, label: 1 as const }] };
    const three = { points: [...two.points, { x: 2, y: 0, label: 1 as const }] };

    previewer.update(0, [{ id: 1, prompt: one }, { id: 2, prompt: undefined }], 0);
    expect(server.calls).toHaveLength(1);
    expect(server.calls[0].request).toEqual({ frame: 0, points: [[0, 0, 1]] });
    expect(previewer.status(0, [1, 2])).toBe('pending');

    // Two more clicks while the first is on its way: nothing sent yet.
    previewer.update(0, [{ id: 1, prompt: two }], 10);
    previewer.update(0, [{ id: 1, prompt: three }], 20);
    expect(server.calls).toHaveLength(1);

    // The first (stale) answer arrives: not shown; the latest clicks are sent.
    now = 300;
    server.calls[0].resolve(server.answer(server.calls[0].request, 1));
    await flush();
    expect(previewer.masks(0, [1])).toEqual([]);
    expect(previewer.status(0, [1])).toBe('pending');
    expect(server.calls).toHaveLength(2);
    expect(server.calls[1].request.points).toHaveLength(3);

    now = 520;
    server.calls[1].resolve(server.answer(server.calls[1].request, 3));
    await flush();
    const [shown] = previewer.masks(0, [1]);
    expect(shown).toMatchObject({ id: 1, area: 3, current: true });
    expect([...shown.mask.data]).toEqual([1, 1, 1, 0]);
    expect(previewer.status(0, [1])).toBe('ready');
    expect(previewer.lastLatency).toMatchObject({ ms: 500, objectId: 1, server: { totalMs: 1 } }); // from the last click (t=20)
    expect(changes).toBe(2);

    // Undo to one point: that answer was cached, so it shows at once.
    previewer.update(0, [{ id: 1, prompt: one }], 600);
    expect(server.calls).toHaveLength(2);
    expect(previewer.masks(0, [1])[0]).toMatchObject({ area: 1, current: true });

    // Clearing the clicks removes the mask without a request.
    previewer.update(0, [{ id: 1, prompt: undefined }], 700);
    expect(previewer.masks(0, [1])).toEqual([]);
    expect(previewer.status(0, [1])).toBe('idle');
  });

  it('keeps showing the previous mask while a new one is computed, and reports errors', async () => {
    const server = fakeServer();
    const previewer = new MaskPreviewer(server.fetchMask, () => undefined);
    const one = { points: [{ x: 0, y: 0, label: 1 as const }] };
    const two = { points: [...one.points, { x: 3, y: 0, label: 0 as const }] };
    previewer.update(4, [{ id: 7, prompt: one }]);
    server.calls[0].resolve(server.answer(server.calls[0].request, 2));
    await flush();
    expect(previewer.masks(4, [7])[0]).toMatchObject({ area: 2, current: true });
    previewer.update(4, [{ id: 7, prompt: two }]);
    expect(previewer.masks(4, [7])[0]).toMatchObject({ area: 2, current: false });
    server.calls[1].reject(new Error('boom'));
    await flush();
    expect(previewer.status(4, [7])).toBe('error');
    expect(previewer.error(4, [7])).toBeInstanceOf(Error);
    // Background points alone ask for nothing.
    previewer.update(5, [{ id: 7, prompt: { points: [{ x: 1, y: 0, label: 0 }] } }]);
    expect(server.calls).toHaveLength(2);
  });
});

describe('words', () => {
  it('says what went wrong in plain words', () => {
    expect(describeError('not_a_video', 'the file is not a video ffmpeg can read')).toMatch(/^That file is not a video ClipMask can read\./);
    expect(describeError('network')).toMatch(/could not be reached/);
    expect(describeError('some_new_code', 'frame 9 is beyond the last frame')).toBe('Frame 9 is beyond the last frame.');
    expect(formatEta(null)).toBe('');
    expect(formatEta(42.4)).toBe('about 42 s');
    expect(formatEta(130)).toBe('about 2 min 10 s');
  });

  it('says what is wrong with a damaged video the job went through, with the server\'s figures', () => {
    const missing = { code: 'frames_missing', message: "1 of the video's 20 frames do not decode (at 0.50 s); they are left out and the 19 others are processed" };
    expect(describeWarning(missing)).toBe("The video is damaged: 1 of the video's 20 frames do not decode (at 0.50 s); they are left out and the 19 others are processed.");
    const cut = { code: 'cut_short', message: 'the video is cut short: 5 of its 20 frames can be decoded (up to 0.40 s); the 15 after them are missing' };
    expect(describeWarning(cut)).toBe('The video is cut short: 5 of its 20 frames can be decoded (up to 0.40 s); the 15 after them are missing.');
  });
});
