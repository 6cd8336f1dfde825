import { ConfigError, loadConfig, type Config } from '../config.js';
import { ModelError } from '../segment/models.js';
import { InputError } from './errors.js';
import { RENDER_NOTES, RENDER_USAGE, runRender } from './render-command.js';
import { runSegment, SEGMENT_USAGE } from './segment-command.js';
import { runTrack, TRACK_NOTES, TRACK_USAGE } from './track-command.js';

interface Command {
  usage: string;
  /** Printed under the usage: what an option's name cannot say. */
  notes?: string[];
  run: (argv: string[], config: Config) => Promise<void>;
}

const COMMANDS: Record<string, Command> = {
  segment: { usage: SEGMENT_USAGE, run: runSegment },
  track: { usage: TRACK_USAGE, notes: TRACK_NOTES, run: runTrack },
  render: { usage: RENDER_USAGE, notes: RENDER_NOTES, run: runRender },
};

function usage(): string {
  return ['usage:', ...Object.values(COMMANDS).flatMap((c) => [`  ${c.usage}`, ...(c.notes ?? []).map((n) => `      ${n}`)])].join('\n');
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h') {
    console.log(usage());
    return name ? 0 : 2;
  }
  const command = COMMANDS[name];
  if (!command) {
    console.error(`clipmask: unknown command "${name}"\n${usage()}`);
    return 2;
  }
  try {
    await command.run(rest, loadConfig());
    return 0;
  } catch (error) {
    // Bad input and bad configuration: one line, exit 2. Anything else is a bug: show it all.
    if (error instanceof InputError || error instanceof ModelError || error instanceof ConfigError || String((error as { code?: unknown }).code).startsWith('ERR_PARSE_ARGS_')) {
      console.error(`clipmask: ${(error as Error).message}`);
      return 2;
    }
    console.error(error);
    return 1;
  }
}

process.exitCode = await main(process.argv.slice(2));
