/**
 * The job page's pure parts for watching and correcting, in node: the
 * correction body built from marks, following the newest frame, the words
 * for what a correction changed, and the frame loader's one-at-a-time
 * fetching.
 */
import { describe, expect, it } from 'vitest';
import { jobFrameUrl, revisionUrl, type JobStatus } from '../../web/src/api.js';
import {
  addedIds,
  addNewObject,
  artifactsRevision,
  buildCorrection,
  changedFramesLines,
  changedRangeMarks,
  clearMarks,
  correctionDone,
  correctionFailed,
  describeDraft,
  frameRangeText,
  hasMarks,
  initialDraft,
  markAbsent,
  markBox,
  markPoint,
  selectMarked,
  syncObjects,
} from '../../web/src/correction.js';
import { JobFrameLoader, frameKey, type FrameRequest } from '../../web/src/job-frames.js';
import { frameIsFinal, initialScrub, isLive, scrubLabel, scrubOnSeek, scrubOnUpdate, viewableFrames } from '../../web/src/scrub.js';

const ARTIFACTS = { overlay: '/v1/jobs/j/overlay.mp4', masks: '/v1/jobs/j/masks.json', pngZip: '/v1/jobs/j/masks.zip' };

/** A status as GET /v1/jobs/:id answers it; `over` replaces fields. */
function status(over: Partial<JobStatus> & { lastFrame?: number | null } = {}): JobStatus {
  const { lastFrame = null, ...rest } = over;
  return {
    id: 'j',
    state: 'running',
    stage: 'tracking',
    progress: { percent: 0, framesDone: 0, framesTotal: 14, etaSeconds: null, lastFrame },
    video: { width: 160, height: 120, frames: 14, fps: 8, duration: 1.75 },
    objects: 2,
    attempts: 1,
    revision: 0,
    createdAt: '2024-01-01T00:00:00.000Z',
    startedAt: null,
    finishedAt: null,
    ...rest,
  } as JobStatus;
}

describe('the correction body', () => {
  it('sends points and boxes per object and frame, a new object with the next id, and absentFrom', () => {
    let draft = initialDraft(2);
    expect(draft.marks.objects.map((o) => o.id)).toEqual([1, 2]);
    expect(hasMarks(draft)).toBe(false);
    draft = markPoint(draft, 6, { x: 40, y: 50, label: 1 });
    draft = markPoint(draft, 6, { x: 90, y: 20, label: 0 });
    draft = markBox(draft, 9, [10, 12, 60, 70]);
    draft = addNewObject(draft);
    expect(draft.marks.activeId).toBe(3);
    draft = markPoint(draft, 6, { x: 120, y: 100, label: 1 });
    draft = selectMarked(draft, 2);
    draft = markAbsent(draft, 8);
    expect(hasMarks(draft)).toBe(true);
    expect(buildCorrection(draft)).toEqual({
      ok: true,
      body: {
        objects: [
          {
            id: 1,
            prompts: [
              { frame: 6, points: [[40, 50, 1], [90, 20, 0]] },
              { frame: 9, points: [], box: [10, 12, 60, 70] },
            ],
          },
          { id: 2, absentFrom: 8 },
          { id: 3, prompts: [{ frame: 6, points: [[120, 100, 1]] }] },
        ],
      },
    });
    expect(describeDraft(draft)).toEqual([
      'Object 1: 2 points and a box on 2 frames.',
      'Object 2: absent from frame 9 on.',
      'Object 3 (new): 1 point on frame 7.',
    ]);
  });

  it('keeps an object to either marks or absentFrom, as the API takes one', () => {
    let draft = initialDraft(1);
    draft = markPoint(draft, 3, { x: 1, y: 2, label: 1 });
    draft = markAbsent(draft, 5);
    expect(draft.marks.objects[0].frames.size).toBe(0);
    expect(buildCorrection(draft)).toEqual({ ok: true, body: { objects: [{ id: 1, absentFrom: 5 }] } });
    // A mark after "absent" wins.
    draft = markBox(draft, 5, [0, 0, 10, 10]);
    expect(buildCorrection(draft)).toEqual({ ok: true, body: { objects: [{ id: 1, prompts: [{ frame: 5, points: [], box: [0, 0, 10, 10] }] }] } });
    // A new object has nothing to be absent from.
    const fresh = addNewObject(initialDraft(1));
    expect(markAbsent(fresh, 4)).toBe(fresh);
  });

  it('clears the selected object on the frame shown, and its absent flag', () => {
    let draft = initialDraft(2);
    draft = markPoint(draft, 3, { x: 1, y: 2, label: 1 });
    draft = markPoint(draft, 4, { x: 5, y: 6, label: 1 });
    draft = clearMarks(draft, 3);
    expect([...draft.marks.objects[0].frames.keys()]).toEqual([4]);
    draft = selectMarked(markAbsent(selectMarked(draft, 2), 7), 2);
    expect(clearMarks(draft, 0).absent.size).toBe(0);
    expect(clearMarks(initialDraft(1), 0)).toEqual(initialDraft(1));
  });

  it('refuses an empty correction and background points alone, in words', () => {
    expect(buildCorrection(initialDraft(3))).toEqual({
      ok: false,
      message: 'Mark something first: click the object where its mask is wrong, add a new object, or mark an object as absent.',
    });
    const draft = markPoint(initialDraft(3), 11, { x: 5, y: 5, label: 0 });
    expect(buildCorrection(draft)).toEqual({
      ok: false,
      message: 'Object 1 has only background points on frame 12: add a point on the object (click) or a box there, or clear it.',
      objectId: 1,
      frame: 11,
    });
    // A new object nobody marked is left out.
    expect(buildCorrection(addNewObject(markAbsent(initialDraft(1), 2)))).toEqual({ ok: true, body: { objects: [{ id: 1, absentFrom: 2 }] } });
  });

  it('keeps the marks when the job\'s object ids become known, and those ids stop being new', () => {
    let draft = addNewObject(initialDraft(1));
    draft = markPoint(draft, 0, { x: 1, y: 1, label: 1 });
    const synced = syncObjects(draft, [1, 2, 3]);
    expect(synced.marks.objects.map((o) => o.id)).toEqual([1, 2, 3]);
    expect(synced.known).toEqual([1, 2, 3]);
    expect(describeDraft(synced)).toEqual(['Object 2: 1 point on frame 1.']);
    expect(syncObjects(synced, [2, 3])).toBe(synced);
    expect(initialDraft(2, 5).marks.activeId).toBe(1);
    expect(initialDraft(2, 2).marks.activeId).toBe(2);
  });

  it('takes the ids an API client chose, and a new object gets the next id above them', () => {
    let draft = initialDraft([7, 3, 3, 0, 300]);
    expect(draft.known).toEqual([3, 7]);
    expect(draft.marks.activeId).toBe(3);
    draft = addNewObject(draft);
    expect(draft.marks.activeId).toBe(8);
    draft = markBox(draft, 2, [1, 1, 9, 9]);
    const built = buildCorrection(draft);
    expect(built).toEqual({ ok: true, body: { objects: [{ id: 8, prompts: [{ frame: 2, points: [], box: [1, 1, 9, 9] }] }] } });
    expect(built.ok && addedIds(draft, built.body)).toEqual([8]);
    // At the top of the range, the smallest free id.
    expect(addNewObject(initialDraft([1, 255])).marks.activeId).toBe(2);
    expect(initialDraft([]).known).toEqual([1]);
  });
});

describe('following a correction', () => {
  it('is done when the job succeeded with that correction (or a later one) as the newest finished', () => {
    expect(correctionDone(status({ state: 'succeeded' }), 1)).toBe(false);
    expect(correctionDone(status({ state: 'running', stage: 'correcting', revision: 1 }), 1)).toBe(false);
    const done = { revision: 1, changes: [{ objectId: 1, from: 4, to: 14 }] };
    expect(correctionDone(status({ state: 'running', revision: 2, lastCorrection: done }), 1)).toBe(false);
    expect(correctionDone(status({ state: 'succeeded', revision: 1, lastCorrection: done }), 1)).toBe(true);
    expect(correctionDone(status({ state: 'succeeded', revision: 1, lastCorrection: done }), 2)).toBe(false);
    expect(correctionDone(status({ state: 'succeeded', revision: 3, lastCorrection: { revision: 3, changes: [] } }), 2)).toBe(true);
    expect(correctionFailed(status({ state: 'failed' }))).toBe(true);
    expect(correctionFailed(status({ state: 'succeeded' }))).toBe(false);
  });

  it('says which frames changed, 1-based like the frame label', () => {
    expect(frameRangeText(39, 116)).toBe('frames 40–116');
    expect(frameRangeText(7, 8)).toBe('frame 8');
    expect(changedFramesLines(undefined)).toEqual([]);
    expect(changedFramesLines({ revision: 1, changes: [] })).toEqual(['No frames changed.']);
    expect(
      changedFramesLines({
        revision: 2,
        changes: [
          { objectId: 3, from: 0, to: 14 },
          { objectId: 1, from: 39, to: 116 },
          { objectId: 2, from: 5, to: 5 },
        ],
      }),
    ).toEqual(['Object 1: frames 40–116 re-tracked', 'Object 3: frames 1–14 re-tracked']);
  });

  it('places the changed ranges under the slider in percent', () => {
    expect(changedRangeMarks({ revision: 1, changes: [{ objectId: 1, from: 4, to: 14 }] }, 16)).toEqual([{ objectId: 1, row: 0, left: 25, width: 62.5 }]);
    expect(changedRangeMarks({ revision: 1, changes: [{ objectId: 2, from: 0, to: 1 }, { objectId: 1, from: 2, to: 2 }, { objectId: 1, from: 20, to: 30 }] }, 3)).toEqual([
      { objectId: 2, row: 0, left: 0, width: 33.33 },
    ]);
    expect(changedRangeMarks({ revision: 1, changes: [{ objectId: 1, from: 1, to: 99 }] }, 4)).toEqual([{ objectId: 1, row: 0, left: 25, width: 75 }]);
    // One row per object, in id order, so overlapping ranges of two objects both show.
    expect(changedRangeMarks({ revision: 2, changes: [{ objectId: 5, from: 0, to: 5 }, { objectId: 2, from: 3, to: 10 }, { objectId: 5, from: 8, to: 10 }] }, 10)).toEqual([
      { objectId: 5, row: 1, left: 0, width: 50 },
      { objectId: 2, row: 0, left: 30, width: 70 },
      { objectId: 5, row: 1, left: 80, width: 20 },
    ]);
    expect(changedRangeMarks(undefined, 10)).toEqual([]);
  });

  it('knows which revision the artifacts are', () => {
    expect(artifactsRevision(status({ state: 'succeeded', revision: 0 }))).toBe(0);
    expect(artifactsRevision(status({ state: 'running', stage: 'correcting', revision: 2, lastCorrection: { revision: 1, changes: [] } }))).toBe(1);
    expect(artifactsRevision(status({ state: 'running', stage: 'correcting', revision: 1 }))).toBe(0);
    expect(artifactsRevision(status({ state: 'succeeded', revision: 2, lastCorrection: { revision: 2, changes: [] } }))).toBe(2);
  });

  it('builds frame and artifact URLs with the revision', () => {
    expect(jobFrameUrl('a b', 7, { overlay: true, revision: 2 })).toBe('/v1/jobs/a%20b/frames/7.jpg?overlay=1&rev=2');
    expect(jobFrameUrl('j', 0, { overlay: false, revision: 0 })).toBe('/v1/jobs/j/frames/0.jpg?rev=0');
    expect(revisionUrl('/v1/jobs/j/overlay.mp4', 0)).toBe('/v1/jobs/j/overlay.mp4');
    expect(revisionUrl('/v1/jobs/j/overlay.mp4', 3)).toBe('/v1/jobs/j/overlay.mp4?rev=3');
    expect(revisionUrl('/v1/jobs/j/overlay.mp4?expires=9&sig=ab', 3)).toBe('/v1/jobs/j/overlay.mp4?expires=9&sig=ab&rev=3');
  });
});

describe('the frame slider', () => {
  it('offers the tracked frames while running and every frame once there are complete masks', () => {
    expect(viewableFrames(status({ state: 'queued', stage: 'queued' }))).toBe(0);
    expect(viewableFrames(status({ lastFrame: null }))).toBe(0);
    expect(viewableFrames(status({ lastFrame: 5 }))).toBe(6);
    expect(viewableFrames(status({ state: 'succeeded', artifacts: ARTIFACTS, lastFrame: 13 }))).toBe(14);
    expect(viewableFrames(status({ state: 'running', stage: 'correcting', artifacts: ARTIFACTS, lastFrame: 3 }))).toBe(14);
    expect(viewableFrames(status({ state: 'failed', lastFrame: 5 }))).toBe(0);
    expect(isLive(status())).toBe(true);
    expect(isLive(status({ stage: 'correcting', artifacts: ARTIFACTS }))).toBe(false);
    expect(isLive(status({ state: 'succeeded', artifacts: ARTIFACTS }))).toBe(false);
  });

  it('follows the newest frame until the user moves back, and again from the end', () => {
    let scrub = scrubOnUpdate(initialScrub, 0, true);
    expect(scrub).toEqual({ frame: -1, follow: true });
    scrub = scrubOnUpdate(scrub, 3, true);
    expect(scrub).toEqual({ frame: 2, follow: true });
    scrub = scrubOnUpdate(scrub, 6, true);
    expect(scrub).toEqual({ frame: 5, follow: true });
    scrub = scrubOnSeek(1, 6, true);
    expect(scrub).toEqual({ frame: 1, follow: false });
    scrub = scrubOnUpdate(scrub, 9, true);
    expect(scrub).toEqual({ frame: 1, follow: false });
    expect(scrubLabel(scrub, 9, 14, true)).toBe('Frame 2 of 14 · 9 tracked so far');
    scrub = scrubOnSeek(8, 9, true); // back at the end
    expect(scrub).toEqual({ frame: 8, follow: true });
    expect(scrubLabel(scrub, 9, 14, true)).toBe('Frame 9 of 14 · the newest tracked');
    scrub = scrubOnUpdate(scrub, 12, true);
    expect(scrub).toEqual({ frame: 11, follow: true });
    // Finished while following: the last frame, and nothing to follow any more.
    expect(scrubOnUpdate(scrub, 14, false)).toEqual({ frame: 13, follow: false });
    // Finished while looking at an earlier frame: that frame stays.
    scrub = scrubOnUpdate(scrubOnSeek(10, 12, true), 14, false);
    expect(scrub).toEqual({ frame: 10, follow: false });
    expect(scrubLabel(scrub, 14, 14, false)).toBe('Frame 11 of 14');
    // Unchanged updates return the same value (nothing to redraw).
    expect(scrubOnUpdate(scrub, 14, false)).toBe(scrub);
  });

  it('opens a finished job on frame 0, clamps seeks, and waits in words', () => {
    expect(scrubOnUpdate(initialScrub, 14, false)).toEqual({ frame: 0, follow: false });
    expect(scrubOnSeek(99, 14, false)).toEqual({ frame: 13, follow: false });
    expect(scrubOnSeek(-3, 14, false)).toEqual({ frame: 0, follow: false });
    expect(scrubOnSeek(13, 14, false)).toEqual({ frame: 13, follow: false });
    expect(scrubOnUpdate({ frame: 10, follow: false }, 4, true)).toEqual({ frame: 3, follow: false });
    expect(scrubLabel(initialScrub, 0, 14, true)).toBe('Waiting for the first tracked frame…');
    expect(scrubLabel(initialScrub, 0, 14, false)).toBe('');
  });

  it('keeps frame images only while their masks are final', () => {
    expect(frameIsFinal(status({ lastFrame: 5 }), 5)).toBe(true);
    expect(frameIsFinal(status({ lastFrame: 5 }), 6)).toBe(false);
    expect(frameIsFinal(status({ lastFrame: null }), 0)).toBe(false);
    expect(frameIsFinal(status({ stage: 'correcting', artifacts: ARTIFACTS, lastFrame: 13 }), 2)).toBe(false);
    expect(frameIsFinal(status({ state: 'succeeded', artifacts: ARTIFACTS }), 2)).toBe(true);
    expect(frameIsFinal(status({ state: 'queued', artifacts: ARTIFACTS }), 2)).toBe(false);
  });
});

describe('JobFrameLoader', () => {
  function fakeLoad() {
    const calls: Array<{ frame: number; fresh: boolean; resolve: (blob: Blob) => void; reject: (e: unknown) => void }> = [];
    const load = (_id: string, frame: number, options: { fresh?: boolean }) =>
      new Promise<Blob>((resolve, reject) => calls.push({ frame, fresh: options.fresh ?? false, resolve, reject }));
    return { calls, load };
  }
  const flush = () => new Promise((r) => setTimeout(r, 0));
  const final = (frame: number): FrameRequest => ({ frame, overlay: true, revision: 1, final: true });

  it('fetches one frame at a time, then only the latest wanted, and keeps final frames', async () => {
    const { calls, load } = fakeLoad();
    const shown: number[] = [];
    const loader = new JobFrameLoader('j', (r) => shown.push(r.frame), () => undefined, load);
    loader.want(final(1));
    loader.want(final(2));
    loader.want(final(3));
    expect(calls.map((c) => c.frame)).toEqual([1]);
    calls[0].resolve(new Blob(['1']));
    await flush();
    // Frame 1 is no longer wanted: not shown; the latest wanted (3) is fetched next, 2 never.
    expect(shown).toEqual([]);
    expect(calls.map((c) => c.frame)).toEqual([1, 3]);
    calls[1].resolve(new Blob(['3']));
    await flush();
    expect(shown).toEqual([3]);
    // Both were kept: going back to 1 shows it at once, without a request.
    loader.want(final(1));
    expect(shown).toEqual([3, 1]);
    expect(calls).toHaveLength(2);
    expect(calls.every((c) => !c.fresh)).toBe(true);
    expect(frameKey(final(1))).toBe('1:masks:1');
  });

  it('fetches a frame that is not final again when asked, past the browser cache, and reports errors', async () => {
    const { calls, load } = fakeLoad();
    const shown: number[] = [];
    const errors: unknown[] = [];
    const loader = new JobFrameLoader('j', (r) => shown.push(r.frame), (_r, e) => errors.push(e), load);
    const repainting: FrameRequest = { frame: 4, overlay: true, revision: 2, final: false };
    loader.want(repainting);
    calls[0].resolve(new Blob(['a']));
    await flush();
    loader.want(repainting); // the same frame, delivered already: nothing
    expect(calls).toHaveLength(1);
    loader.want(repainting, true);
    expect(calls).toHaveLength(2);
    expect(calls[1].fresh).toBe(true);
    calls[1].reject(new Error('boom'));
    await flush();
    expect(shown).toEqual([4]);
    expect(errors).toHaveLength(1);
    loader.dispose();
    loader.want(final(5));
    expect(calls).toHaveLength(2);
  });
});
