import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { promisify } from 'node:util';

/**
 * The service's parts as separate OS processes, for the benchmarks that
 * need real process boundaries (workers, load, chaos).
 */

/** util-linux's taskset: sets a CPU affinity, then execs the command (same pid). */
export const TASKSET = '/usr/bin/taskset';

/** Throws a readable error when taskset is missing (it is in util-linux on Debian). */
export function assertTaskset(): void {
  try {
    accessSync(TASKSET, constants.X_OK);
  } catch {
    throw new Error(`--pin needs ${TASKSET} (util-linux: apt-get install util-linux), which is not there or not executable`);
  }
}

export interface ScriptOptions {
  /** Start the script under `taskset -c <cpu>`: it and everything it forks run on that CPU only. */
  cpu?: number;
}

/** `npm run api` / `npm run worker` without npm: node + tsx on the script, stderr shown. */
export function startScript(script: 'src/api/main.ts' | 'src/jobs/main.ts', env: NodeJS.ProcessEnv, options: ScriptOptions = {}): ChildProcess {
  const node = [process.execPath, '--import', 'tsx', script];
  const [command, ...args] = options.cpu === undefined ? node : [TASKSET, '-c', String(options.cpu), ...node];
  return spawn(command, args, { env, stdio: ['ignore', 'ignore', 'inherit'] });
}

/** Sends `signal` and waits for the exit (at once if it has already exited). */
export async function stopProcess(child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill(signal);
  await exited;
}

/** The CPU list (taskset -c syntax, e.g. "0,1" or "0-3") this process may run on. */
export async function cpuListOf(pid: number): Promise<string> {
  const { stdout } = await promisify(execFile)(TASKSET, ['-c', '-p', String(pid)]);
  return stdout.trim().split(': ').pop()!;
}

/** Expands a taskset CPU list ("0,2-3") into CPU numbers. */
export function parseCpuList(list: string): number[] {
  return list.split(',').flatMap((part) => {
    const [from, to = from] = part.split('-').map(Number);
    return Array.from({ length: to - from + 1 }, (_, k) => from + k);
  });
}

/**
 * The CPU affinity of every thread of a process (`taskset -a -c -p`), as
 * "cpu list -> thread count", e.g. { "0": 11 }: one key means every thread
 * has the same affinity.
 */
export async function threadAffinities(pid: number): Promise<Record<string, number>> {
  const { stdout } = await promisify(execFile)(TASKSET, ['-a', '-c', '-p', String(pid)]);
  const counts: Record<string, number> = {};
  for (const line of stdout.trim().split('\n')) {
    const list = line.split(': ').pop()!;
    counts[list] = (counts[list] ?? 0) + 1;
  }
  return counts;
}

/** A process's command name (/proc/<pid>/comm), e.g. "node". */
export async function commandOf(pid: number): Promise<string> {
  return (await readFile(`/proc/${pid}/comm`, 'utf8').catch(() => '?')).trim();
}

/** The pids of a process's children (/proc/<pid>/task/<tid>/children, over its threads). */
export async function childPids(pid: number): Promise<number[]> {
  const tasks = await readdir(`/proc/${pid}/task`).catch(() => [] as string[]);
  const lists = await Promise.all(tasks.map((tid) => readFile(`/proc/${pid}/task/${tid}/children`, 'utf8').catch(() => '')));
  return lists.flatMap((list) => list.trim().split(/\s+/).filter(Boolean).map(Number));
}
