/**
 * The CLI's view of the process: where lines go and what the environment holds. Commands take it as a parameter,
 * so they never reach for `process` themselves and their output can be captured.
 */
/** Exit code of a command stopped by Ctrl-C: 128 + SIGINT, as shells report it. */
export const EXIT_INTERRUPTED = 130;

export interface CliIO {
  /** Writes one line (a newline is added) to standard output. */
  out(line: string): void;
  /** Writes one line to standard error. */
  err(line: string): void;
  /** Environment variables (credentials of `audit`). */
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Aborted on Ctrl-C (SIGINT): a command stops, cleans up, and says what it stopped. */
  readonly signal?: AbortSignal | undefined;
  /**
   * Waits `ms` of wall-clock time: `demo --inspect` paces its virtual-time story with it, so a person can watch.
   * Absent (tests), nothing is paced.
   */
  readonly sleep?: ((ms: number) => Promise<void>) | undefined;
}

/**
 * The real process: stdout, stderr and process.env. When the reader of stdout goes away (`demo | head`), output
 * stops quietly but the command runs to its end, so its cleanup (temporary directory, store lock) still happens.
 */
export function processIO(signal?: AbortSignal): CliIO {
  let stdoutGone = false;
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code !== 'EPIPE') throw e;
    stdoutGone = true;
  });
  return {
    out: (line) => {
      if (!stdoutGone && !process.stdout.destroyed) process.stdout.write(`${line}\n`);
    },
    err: (line) => void process.stderr.write(`${line}\n`),
    env: process.env,
    signal,
    sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
  };
}
