import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { JobStore } from './jobs/job-store.js';
import type { QueueRepository } from './jobs/queue.js';
import { JOB_STATES } from './jobs/record.js';

/**
 * Prometheus metrics. Workers observe durations and speed; the API process
 * reads job counts (JobStore) and queue depth (BullMQ) when scraped. With
 * `npm start` both live in one registry behind GET /metrics; a separate
 * `npm run worker` serves its own on METRICS_PORT.
 */
export interface Metrics {
  registry: Registry;
  stageSeconds: Histogram<'stage'>;
  trackingFps: Histogram;
  framesProcessed: Counter;
  jobsFinished: Counter<'result'>;
  previewSeconds: Histogram<'step'>;
}

export function createMetrics(options: { defaultMetrics?: boolean } = {}): Metrics {
  const registry = new Registry();
  if (options.defaultMetrics) collectDefaultMetrics({ register: registry, prefix: 'clipmask_' });
  return {
    registry,
    stageSeconds: new Histogram({
      name: 'clipmask_stage_duration_seconds',
      help: 'Time spent per stage: probe (in the API request), queue_wait, tracking, packaging, total (submission to finish), embed_chunk (a helper encoding a chunk), rendering (one render job)',
      labelNames: ['stage'],
      buckets: [0.05, 0.25, 1, 5, 15, 30, 60, 120, 300, 600, 1200, 3600],
      registers: [registry],
    }),
    trackingFps: new Histogram({
      name: 'clipmask_tracking_frames_per_second',
      help: 'Frames tracked per second, per job',
      buckets: [0.1, 0.2, 0.3, 0.5, 0.75, 1, 1.5, 2, 3, 5, 10],
      registers: [registry],
    }),
    framesProcessed: new Counter({ name: 'clipmask_frames_processed_total', help: 'Frames tracked', registers: [registry] }),
    jobsFinished: new Counter({
      name: 'clipmask_jobs_finished_total',
      help: 'Jobs that reached an end state in this process, by result',
      labelNames: ['result'],
      registers: [registry],
    }),
    previewSeconds: new Histogram({
      name: 'clipmask_preview_seconds',
      help: "Live preview answers: 'embedding' (a frame's first use: decode + encoder), 'mask' (a click: decoder only once the frame is cached)",
      labelNames: ['step'],
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10],
      registers: [registry],
    }),
  };
}

/** Gauges read from Redis at scrape time: jobs by state and the queue's depth. */
export function registerQueueGauges(metrics: Metrics, sources: { store: JobStore; queues: QueueRepository }): void {
  new Gauge({
    name: 'clipmask_jobs',
    help: 'Jobs by state (all kept records)',
    labelNames: ['state'],
    registers: [metrics.registry],
    async collect() {
      const counts = await sources.store.countByState();
      for (const state of JOB_STATES) this.set({ state }, counts[state]);
    },
  });
  new Gauge({
    name: 'clipmask_queue_jobs',
    help: 'BullMQ jobs (tracking passes and embedding chunks) in the queue by BullMQ state',
    labelNames: ['state'],
    registers: [metrics.registry],
    async collect() {
      const counts = await sources.queues.trackCounts();
      for (const [state, count] of Object.entries(counts)) this.set({ state }, count);
    },
  });
}
