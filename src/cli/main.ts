#!/usr/bin/env node
/**
 * The CLI entry point: parses the command line, dispatches to a command, and turns every failure into ONE line on
 * stderr with an exit code (2: the command line is wrong; 1: the command failed at run time). Stack traces only
 * with --verbose. Runs itself when executed directly: built, it is the package's bin (`dist/src/cli/main.js`, plain
 * node); in the repository, `tsx src/cli/main.ts demo` runs it from source.
 */
import { realpathSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { ConfigError, ExchangeError, StoreCorruptError, TesserError, errorSummary } from '../domain/errors.js';
import { StoreError } from '../store/errors.js';
import {
  UsageError,
  booleanFlag,
  commandHelp,
  intFlag,
  listFlag,
  parseArgs,
  requireFlag,
  stringFlag,
  topHelp,
} from './args.js';
import { runAudit } from './audit.js';
import { demoExchange, runDemo } from './demo.js';
import { EXIT_INTERRUPTED, processIO, type CliIO } from './io.js';
import { runStateDowngrade } from './state-downgrade.js';
import { runStateShow } from './state-show.js';

const PROGRAM = 'tesser-reconcile';
export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;
export { EXIT_INTERRUPTED };

/** The command was stopped by Ctrl-C (SIGINT) before it finished. */
export class InterruptedError extends TesserError {
  override readonly name = 'InterruptedError' as const;
}

/** `work`, or an InterruptedError as soon as `signal` aborts (for commands with nothing to clean up). */
function unlessInterrupted<T>(work: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (signal === undefined) return work;
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(new InterruptedError('interrupted (Ctrl-C)'));
    if (signal.aborted) onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

/** One line saying what went wrong, in the user's terms (no stack, no newlines). */
export function describeError(e: unknown): string {
  let msg: string;
  // ConfigError's own message already says "invalid config: ..."; a second prefix would only repeat it.
  if (e instanceof ConfigError) msg = e.message;
  else if (e instanceof ExchangeError) {
    const what = e.retryable
      ? `exchange unreachable (${e.kind})`
      : e.kind === 'auth'
        ? 'exchange refused the credentials (auth)'
        : `exchange error (${e.kind})`;
    msg = `${what}: ${e.message}`;
  } else if (e instanceof StoreCorruptError) msg = `corrupt state directory: ${e.message}`;
  else if (e instanceof StoreError) msg = `state store error (${e.kind}): ${e.message}`;
  else if (e instanceof TesserError) msg = e.message;
  else if (e instanceof Error) msg = `${e.name}: ${e.message}`;
  else msg = String(e);
  return msg.replace(/\s*\n\s*/g, ' ');
}

/** The stack of an error and of each cause, for --verbose. */
function stackOf(e: unknown): string {
  const parts: string[] = [];
  for (let cur: unknown = e, depth = 0; cur !== undefined && depth < 8; depth++) {
    parts.push(cur instanceof Error ? (cur.stack ?? errorSummary(cur)) : errorSummary(cur));
    cur = cur instanceof Error ? cur.cause : undefined;
    if (cur !== undefined) parts.push('caused by:');
  }
  return parts.join('\n');
}

/** The package's version, from the nearest package.json above this file (src/cli/ from source, dist/src/cli/ built). */
async function version(): Promise<string> {
  for (let dir = new URL('./', import.meta.url); ; dir = new URL('../', dir)) {
    try {
      const pkg = JSON.parse(await readFile(new URL('package.json', dir), 'utf8')) as {
        name?: unknown;
        version?: unknown;
      };
      if (pkg.name === PROGRAM) return String(pkg.version);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
    if (dir.pathname === '/') return 'unknown';
  }
}

/**
 * Runs one command line (argv without node and the script) against `io`; resolves with the exit code.
 * Never throws and never prints a stack trace unless `--verbose` is among the arguments.
 */
export async function main(argv: readonly string[], io: CliIO): Promise<number> {
  // Known before parsing, so even a usage error can be explained with a stack when asked for.
  const verbose = argv.includes('--verbose');
  let command: string | undefined;
  try {
    const parsed = parseArgs(argv);
    if (parsed.kind === 'help') {
      // No arguments at all is a mistake (stderr, 2); asking for help is not (stdout, 0).
      if (argv.length === 0) {
        io.err(topHelp().trimEnd());
        return EXIT_USAGE;
      }
      io.out(topHelp().trimEnd());
      return EXIT_OK;
    }
    if (parsed.kind === 'version') {
      io.out(await version());
      return EXIT_OK;
    }
    command = parsed.command.name;
    if (parsed.help) {
      io.out(commandHelp(parsed.command).trimEnd());
      return EXIT_OK;
    }
    switch (command) {
      case 'demo':
        return await runDemo(
          {
            seed: intFlag(parsed, 'seed') ?? 7,
            json: booleanFlag(parsed, 'json'),
            inspect: booleanFlag(parsed, 'inspect'),
            stateDir: stringFlag(parsed, 'state'),
            verbose,
            exchange: demoExchange(stringFlag(parsed, 'exchange')),
          },
          io,
        );
      case 'audit':
        return await unlessInterrupted(
          runAudit(
            {
              exchange: requireFlag(parsed, 'exchange'),
              stateDir: requireFlag(parsed, 'state'),
              symbols: listFlag(parsed, 'symbols'),
              url: stringFlag(parsed, 'url'),
              json: booleanFlag(parsed, 'json'),
            },
            io,
          ),
          io.signal,
        );
      case 'state show':
        return await unlessInterrupted(
          runStateShow({ dir: parsed.positionals[0] as string, json: booleanFlag(parsed, 'json') }, io),
          io.signal,
        );
      case 'state downgrade':
        return await unlessInterrupted(runStateDowngrade({ dir: parsed.positionals[0] as string }, io), io.signal);
      default:
        throw new UsageError(`unknown command '${command}'`);
    }
  } catch (e) {
    if (e instanceof UsageError) {
      const cmd = e.command ?? command;
      io.err(`${PROGRAM}: ${describeError(e)} (see '${PROGRAM}${cmd === undefined ? '' : ` ${cmd}`} --help')`);
      if (verbose) io.err(stackOf(e));
      return EXIT_USAGE;
    }
    if (e instanceof InterruptedError) {
      io.err(`${PROGRAM}${command === undefined ? '' : ` ${command}`}: ${e.message}`);
      return EXIT_INTERRUPTED;
    }
    io.err(
      `${PROGRAM}${command === undefined ? '' : ` ${command}`}: ${describeError(e)}${verbose ? '' : ' (--verbose for details)'}`,
    );
    if (verbose) io.err(stackOf(e));
    return EXIT_FAILURE;
  }
}

/**
 * Runs `main` on this process's arguments and sets the exit code. The first Ctrl-C asks the command to stop (the
 * demo stops its engine, removes its temporary directory and releases the store lock, then says what it stopped);
 * a second one exits at once.
 */
export async function runAsProcess(): Promise<void> {
  const controller = new AbortController();
  const onSigint = (): void => {
    if (controller.signal.aborted) process.exit(EXIT_INTERRUPTED);
    controller.abort();
  };
  process.on('SIGINT', onSigint);
  const code = await main(process.argv.slice(2), processIO(controller.signal));
  process.off('SIGINT', onSigint);
  process.exitCode = code;
  // An interrupted audit may leave a request open that would keep Node alive until its timeout.
  if (controller.signal.aborted) process.exit(code);
}

/** True when this module is the script Node was started with (not imported by the bin wrapper or a test). */
function isEntryPoint(): boolean {
  const script = process.argv[1];
  if (script === undefined) return false;
  try {
    return realpathSync(script) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isEntryPoint()) await runAsProcess();
