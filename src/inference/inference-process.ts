import { fork, type ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { Logger } from '../logger.js';
import type {
  CorrectOutcome,
  CorrectRequest,
  EmbedOutcome,
  EmbedRequest,
  FromChild,
  PreviewOutcome,
  PreviewRequest,
  RunningCorrection,
  RunOutcomes,
  RunRequest,
  SerializedError,
  ToChild,
  TrackOutcome,
  TrackProgressMessage,
  TrackRequest,
} from './inference-protocol.js';

export type { TrackProgressMessage } from './inference-protocol.js';

/**
 * The worker side of the inference child: starts it (model load), sends it
 * one run at a time (a tracking pass or a chunk of embeddings), relays progress, cancels it, and restarts it if it
 * dies. A cancelled run that does not stop within `killAfterMs` is ended
 * with SIGKILL, so a cancel always frees the worker.
 */

/** An error raised in the child, rebuilt with what is needed to classify it. */
export class InferenceError extends Error {
  readonly kind: string;
  readonly code?: string;
  readonly field?: string;
  readonly detail?: string;
  constructor(error: SerializedError) {
    super(error.message);
    this.name = 'InferenceError';
    this.kind = error.name;
    this.code = error.code;
    this.field = error.field;
    this.detail = error.detail;
  }
}

/** The run was cancelled through its AbortSignal; `reason` is the signal's reason. */
export class RunAbortedError extends Error {
  override name = 'RunAbortedError';
  constructor(readonly reason: unknown) {
    super('the run was cancelled');
  }
}


export interface InferenceProcessOptions {
  logger: Logger;
  /** Environment of the child (the model settings are read from it). Default: this process's. */
  env?: NodeJS.ProcessEnv;
  /** How long a cancelled run may take to stop before the child is killed. */
  killAfterMs?: number;
  /** How long the model may take to load. */
  startTimeoutMs?: number;
}

const CHILD_FILE = fileURLToPath(new URL('./inference-child.ts', import.meta.url));
const TSX_LOADER = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;

interface Run {
  runId: number;
  resolve: (outcome: RunOutcomes[keyof RunOutcomes]) => void;
  reject: (error: Error) => void;
  onProgress?: (progress: TrackProgressMessage) => void;
}

export class InferenceProcess {
  private child: ChildProcess | undefined;
  private starting: Promise<void> | undefined;
  private run: Run | undefined;
  private nextRunId = 1;
  private closed = false;
  private modelName: string | undefined;
  /** Restarts are for children that worked once; a model that never loads fails start(). */
  private modelLoadedOnce = false;
  private restartDelayMs = 1000;
  private restartTimer: NodeJS.Timeout | undefined;

  constructor(private readonly options: InferenceProcessOptions) {}

  /** True while a child with a loaded model is up. */
  get ready(): boolean {
    return this.child !== undefined && this.starting === undefined && this.modelName !== undefined;
  }

  get busy(): boolean {
    return this.run !== undefined;
  }

  /** Starts the child and waits for its model to load. Idempotent. */
  start(): Promise<void> {
    if (this.closed) return Promise.reject(new Error('the inference process is closed'));
    if (this.child && !this.starting) return Promise.resolve();
    this.starting ??= this.spawn().finally(() => {
      this.starting = undefined;
    });
    return this.starting;
  }

  private spawn(): Promise<void> {
    const { logger, startTimeoutMs = 120_000 } = this.options;
    return new Promise<void>((resolve, reject) => {
      const child = fork(CHILD_FILE, [], {
        execArgv: ['--import', TSX_LOADER],
        env: this.options.env ?? process.env,
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
        serialization: 'advanced',
        // Its own process group, so a Ctrl-C in the terminal reaches neither it nor its ffmpeg
        // processes (which would end a decode early and look like a broken video): the worker
        // decides what a shutdown means for the running job.
        detached: true,
      });
      this.child = child;
      this.modelName = undefined;
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new Error(`the model did not load within ${startTimeoutMs / 1000} s`));
      }, startTimeoutMs);
      const started = performance.now();
      child.on('message', (message: FromChild) => {
        if (message.type === 'ready') {
          clearTimeout(timer);
          this.modelName = message.model;
          this.modelLoadedOnce = true;
          this.restartDelayMs = 1000;
          logger.info({ childPid: child.pid, model: message.model, ms: Math.round(performance.now() - started) }, 'inference process ready');
          resolve();
        } else if (message.type === 'init-failed') {
          clearTimeout(timer);
          reject(new InferenceError(message.error));
        } else {
          this.onRunMessage(message);
        }
      });
      child.on('error', (error) => {
        clearTimeout(timer);
        reject(error);
      });
      child.on('exit', (code, signal) => {
        clearTimeout(timer);
        endOrphans(child);
        if (this.child === child) {
          this.child = undefined;
          this.modelName = undefined;
        }
        reject(new Error(`the inference process exited while loading the model (code ${code}, signal ${signal})`));
        if (this.run) {
          const run = this.run;
          this.run = undefined;
          run.reject(new Error(`the inference process exited (code ${code}, signal ${signal})`));
        }
        if (!this.closed && this.modelLoadedOnce) {
          logger.warn({ code, signal }, 'inference process exited: restarting it');
          this.scheduleRestart();
        }
      });
    });
  }

  private onRunMessage(message: Exclude<FromChild, { type: 'ready' | 'init-failed' }>): void {
    const run = this.run;
    if (!run || run.runId !== message.runId) return;
    if (message.type === 'progress') {
      run.onProgress?.(message.progress);
      return;
    }
    this.run = undefined;
    if (message.type === 'done') run.resolve(message.outcome);
    else run.reject(new InferenceError(message.error));
  }

  /** Tracks a video in the child. */
  track(request: TrackRequest, options: RunOptions = {}): Promise<TrackOutcome> {
    return this.execute({ type: 'track', request }, options);
  }

  /** Re-tracks what a correction changed in a finished job, in the child. */
  correct(request: CorrectRequest, options: RunOptions = {}): Promise<CorrectOutcome> {
    return this.execute({ type: 'correct', request }, options);
  }

  /** Hands a correction to a running first run (applied at its next frame boundary); false when it is not running. */
  private sendCorrection(runId: number, correction: RunningCorrection): boolean {
    if (!this.child || this.run?.runId !== runId) return false;
    this.send(this.child, { type: 'correction', runId, correction });
    return true;
  }

  /** Encodes a chunk of frame embeddings in the child, for another worker's tracking pass. */
  embed(request: EmbedRequest, options: RunOptions = {}): Promise<EmbedOutcome> {
    return this.execute({ type: 'embed', request }, options);
  }

  /** The mask some clicks give on one frame (the web page's live preview). */
  preview(request: PreviewRequest, options: RunOptions = {}): Promise<PreviewOutcome> {
    return this.execute({ type: 'preview', request }, options);
  }

  /**
   * Runs a request in the child. Rejects with InferenceError (raised in the
   * child), RunAbortedError (signal aborted) or Error (the child died).
   */
  private async execute<R extends RunRequest>(request: R, options: RunOptions): Promise<RunOutcomes[R['type']]> {
    const { signal } = options;
    if (signal?.aborted) throw new RunAbortedError(signal.reason);
    await this.start();
    if (this.run) throw new Error('the inference process is busy');
    const child = this.child!;
    const runId = this.nextRunId++;
    const outcome = new Promise<RunOutcomes[R['type']]>((resolve, reject) => {
      this.run = { runId, resolve: resolve as Run['resolve'], reject, onProgress: options.onProgress };
    });
    this.send(child, { ...request, runId });
    options.onStarted?.({ correct: (correction) => this.sendCorrection(runId, correction) });
    if (!signal) return outcome;

    let killTimer: NodeJS.Timeout | undefined;
    const onAbort = () => {
      this.send(child, { type: 'cancel', runId, reason: String(signal.reason ?? 'cancelled') });
      killTimer = setTimeout(() => {
        if (this.run?.runId !== runId) return;
        this.options.logger.warn({ childPid: child.pid }, 'a cancelled run did not stop in time: killing the inference process');
        child.kill('SIGKILL');
      }, this.options.killAfterMs ?? 5000);
    };
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      return await outcome;
    } catch (error) {
      // Whatever the child said (an 'aborted' MediaError, or it was killed), a cancelled run reports the cancel.
      if (signal.aborted) throw new RunAbortedError(signal.reason);
      throw error;
    } finally {
      signal.removeEventListener('abort', onAbort);
      clearTimeout(killTimer);
    }
  }

  /** Brings a dead child back (a killed run, a crash), with a growing delay if it keeps dying. */
  private scheduleRestart(): void {
    if (this.restartTimer || this.closed) return;
    this.restartTimer = setTimeout(() => {
      this.restartTimer = undefined;
      this.start().catch((error) => {
        this.options.logger.error({ err: error }, 'inference process restart failed');
        this.restartDelayMs = Math.min(this.restartDelayMs * 2, 60_000);
        this.scheduleRestart();
      });
    }, this.restartDelayMs);
    this.restartTimer.unref();
  }

  private send(child: ChildProcess, message: ToChild): void {
    child.send(message, (error) => {
      if (error && this.run) this.options.logger.warn({ err: error }, 'could not reach the inference process');
    });
  }

  /** Stops the child (a running job is aborted by it). */
  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.restartTimer);
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  }
}

/**
 * Kills what is left of a dead child's process group: its ffmpeg processes
 * outlive it, and an encoder whose input closes finishes its file, which would
 * land after the caller has cleaned up the killed run's temporary files.
 */
function endOrphans(child: ChildProcess): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, 'SIGKILL');
  } catch (error) {
    // ESRCH: the group is already empty.
    if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
  }
}

export interface RunOptions {
  signal?: AbortSignal;
  onProgress?: (p: TrackProgressMessage) => void;
  /** The run has been handed to a child: from now on corrections can be sent to it. */
  onStarted?: (run: RunningRun) => void;
}

export interface RunningRun {
  /** Sends a correction to the run; false when it is no longer running. */
  correct(correction: RunningCorrection): boolean;
}

/** What the job processors need from inference (an InferencePool). */
export interface Inference {
  readonly ready: boolean;
  track(request: TrackRequest, options?: RunOptions): Promise<TrackOutcome>;
  correct(request: CorrectRequest, options?: RunOptions): Promise<CorrectOutcome>;
  embed(request: EmbedRequest, options?: RunOptions): Promise<EmbedOutcome>;
}

/** `size` inference children, one job each; the worker's concurrency equals `size`. */
export class InferencePool implements Inference {
  private readonly processes: InferenceProcess[];
  private readonly free: InferenceProcess[];

  constructor(size: number, options: InferenceProcessOptions) {
    this.processes = Array.from({ length: size }, () => new InferenceProcess(options));
    this.free = [...this.processes];
  }

  /** True when every child has its model loaded. */
  get ready(): boolean {
    return this.processes.every((p) => p.ready);
  }

  async start(): Promise<void> {
    await Promise.all(this.processes.map((p) => p.start()));
  }

  track(request: TrackRequest, options: RunOptions = {}): Promise<TrackOutcome> {
    return this.withFreeProcess((p) => p.track(request, options));
  }

  correct(request: CorrectRequest, options: RunOptions = {}): Promise<CorrectOutcome> {
    return this.withFreeProcess((p) => p.correct(request, options));
  }

  embed(request: EmbedRequest, options: RunOptions = {}): Promise<EmbedOutcome> {
    return this.withFreeProcess((p) => p.embed(request, options));
  }

  private async withFreeProcess<T>(run: (process: InferenceProcess) => Promise<T>): Promise<T> {
    const process = this.free.pop();
    if (!process) throw new Error('every inference process is busy');
    try {
      return await run(process);
    } finally {
      this.free.push(process);
    }
  }

  async close(): Promise<void> {
    await Promise.all(this.processes.map((p) => p.close()));
  }
}
