import { spawn, type ChildProcess } from 'node:child_process';

/**
 * The service's parts as separate OS processes, for the benchmarks that
 * need real process boundaries (workers, load, chaos).
 */

/** `npm run api` / `npm run worker` without npm: node + tsx on the script, stderr shown. */
export function startScript(script: 'src/api/main.ts' | 'src/jobs/main.ts', env: NodeJS.ProcessEnv): ChildProcess {
  return spawn(process.execPath, ['--import', 'tsx', script], { env, stdio: ['ignore', 'ignore', 'inherit'] });
}

/** Sends `signal` and waits for the exit (at once if it has already exited). */
export async function stopProcess(child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill(signal);
  await exited;
}
