/**
 * Runs the CLI as a child process (`node --import tsx src/cli/main.ts ...`), the way a user runs it, and captures
 * its exit code and output. Asynchronous on purpose: the audit tests serve a loopback emulator from this very
 * process, which must keep answering while the child runs.
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const REPO = fileURLToPath(new URL('../../', import.meta.url));
export const MAIN = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
export const BIN = fileURLToPath(new URL('../../bin/tesser-reconcile.js', import.meta.url));

export interface CliResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Environment of the child: PATH and HOME only (no credentials leak in from the outer shell), plus `env`. */
function childEnv(env: Record<string, string>): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH, HOME: process.env.HOME, ...env };
}

export function runCli(args: readonly string[], options: { env?: Record<string, string>; viaBin?: boolean } = {}): Promise<CliResult> {
  const argv = options.viaBin === true ? [BIN, ...args] : ['--import', 'tsx', MAIN, ...args];
  return new Promise((resolve, reject) => {
    execFile(process.execPath, argv, { cwd: REPO, env: childEnv(options.env ?? {}), maxBuffer: 64 * 1024 * 1024, timeout: 60_000 }, (error, stdout, stderr) => {
      if (error !== null && typeof error.code !== 'number') {
        reject(error);
        return;
      }
      resolve({ code: error === null ? 0 : (error.code as number), stdout, stderr });
    });
  });
}
