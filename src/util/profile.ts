/**
 * Wall time per pipeline stage, for `npm run bench:speed`. Off unless a
 * benchmark turns it on, and then only a clock read and an addition per
 * timed call: the pipeline keeps no other trace of it.
 */

export class StageTimes {
  readonly ms = new Map<string, number>();

  add(stage: string, ms: number): void {
    this.ms.set(stage, (this.ms.get(stage) ?? 0) + ms);
  }
}

let active: StageTimes | undefined;

/** Starts recording into `times` (undefined stops). */
export function recordStages(times: StageTimes | undefined): void {
  active = times;
}

export async function timed<T>(stage: string, run: () => Promise<T>): Promise<T> {
  if (!active) return run();
  const times = active;
  const started = performance.now();
  try {
    return await run();
  } finally {
    times.add(stage, performance.now() - started);
  }
}

export function timedSync<T>(stage: string, run: () => T): T {
  if (!active) return run();
  const times = active;
  const started = performance.now();
  try {
    return run();
  } finally {
    times.add(stage, performance.now() - started);
  }
}

/** The same stream, with the time spent waiting for each item counted under `stage`. */
export async function* timedIterable<T>(stage: string, source: AsyncIterable<T>): AsyncGenerator<T> {
  const iterator = source[Symbol.asyncIterator]();
  try {
    for (;;) {
      const next = await timed(stage, () => iterator.next());
      if (next.done) return;
      yield next.value;
    }
  } finally {
    await iterator.return?.();
  }
}
