/**
 * Runs the CLI two ways. `runMain` calls `main()` in this process with captured output (fast, and what most tests
 * use: no child process to spawn, no ccxt to load again per case). `runCli` runs it as a child process
 * (`node --import tsx src/cli/main.ts ...`), the way a user runs it, for what only a real process shows: exit
 * codes set by the process, signals, the shebang entry. Both asynchronous: the audit tests serve a loopback emulator
 * from this very process, which must keep answering while the command runs.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { main } from '../../src/cli/main.js';

export const REPO = fileURLToPath(new URL('../../', import.meta.url));
export const MAIN = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));

export interface CliResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Environment of the child: PATH and HOME only (no credentials leak in from the outer shell), plus `env`. */
function childEnv(env: Record<string, string>): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH, HOME: process.env.HOME, ...env };
}

/** `main(args)` in process; `env` is all the environment the command sees. */
export async function runMain(
  args: readonly string[],
  options: { env?: Record<string, string>; signal?: AbortSignal } = {},
): Promise<CliResult> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(args, {
    out: (l) => out.push(`${l}\n`),
    err: (l) => err.push(`${l}\n`),
    env: options.env ?? {},
    signal: options.signal,
  });
  return { code, stdout: out.join(''), stderr: err.join('') };
}

/** The CLI as a child process. No timeout of its own: the test's (generous) timeout bounds it. */
export function runCli(args: readonly string[], options: { env?: Record<string, string> } = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', MAIN, ...args],
      { cwd: REPO, env: childEnv(options.env ?? {}), maxBuffer: 64 * 1024 * 1024 },
      (error, stdout, stderr) => {
        if (error !== null && typeof error.code !== 'number') {
          reject(new Error(`the CLI could not run: ${error.message}`, { cause: error }));
          return;
        }
        resolve({ code: error === null ? 0 : (error.code as number), stdout, stderr });
      },
    );
  });
}

/** Every file of a directory with its hash: what a read-only command, or one that refuses, must leave as it was. */
export async function fingerprint(d: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const name of (await readdir(d)).sort())
    out[name] = createHash('sha256')
      .update(await readFile(join(d, name)))
      .digest('hex');
  return out;
}
