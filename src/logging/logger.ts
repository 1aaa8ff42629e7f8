/**
 * The pino adapter of the `Logger` port: JSON lines, one child logger per component, secrets redacted at any depth
 * (keys such as apiKey/secret/password/token/signature, and the literal values of configured credentials) in
 * the logged object, the message and the child bindings alike.
 */
import { pino } from 'pino';
import type { DestinationStream, Level, Logger as PinoLogger, LoggerOptions } from 'pino';
import { createRedactor } from './redact.js';
import type { LogFn, Logger } from './types.js';

export interface CreateLoggerOptions {
  /** Minimum level written. Default `info`. `silent` writes nothing. */
  readonly level?: Level | 'silent' | undefined;
  /** The `name` field of every line. Default `tesser-reconcile`. */
  readonly name?: string | undefined;
  /** Where lines go. Default: stdout (synchronous). */
  readonly destination?: DestinationStream | undefined;
  /** Literal secrets (API key, secret, passphrase) to scrub from every string that reaches a line. */
  readonly secretValues?: readonly string[] | undefined;
  /** Key names to censor beyond the built-in list. */
  readonly redactKeys?: readonly string[] | undefined;
  /** Fields on every line (e.g. `{ exchange: 'binance' }`). Redacted like anything else. */
  readonly base?: Record<string, unknown> | undefined;
  /** Timestamp source, e.g. a VirtualClock's `now`, so lines of a virtual-time run carry virtual times. */
  readonly now?: (() => number) | undefined;
}

/** A pino-backed logger with redaction. Returned as the `Logger` port so callers never depend on pino. */
export function createLogger(options: CreateLoggerOptions = {}): Logger {
  const redactor = createRedactor({ secretValues: options.secretValues, extraKeys: options.redactKeys });
  const redactObject = (o: Record<string, unknown>): Record<string, unknown> =>
    redactor.redactValue(o) as Record<string, unknown>;
  const now = options.now;
  const config: LoggerOptions = {
    level: options.level ?? 'info',
    // No pid/hostname: they say nothing useful here and make lines differ between runs of the same seed.
    base: { name: options.name ?? 'tesser-reconcile', ...redactObject(options.base ?? {}) },
    formatters: { log: redactObject },
    serializers: {
      // The message string is not part of the object handed to formatters.log: scrub it separately.
      msg: (m: unknown) => (typeof m === 'string' ? redactor.scrubString(m) : m),
      // formatters.log already turned errors into plain objects (cause chain included); pino's own err
      // serializer would re-wrap them and lose the type.
      err: (e: unknown) => e,
    },
    ...(now === undefined ? {} : { timestamp: () => `,"time":${now()}` }),
  };
  const logger = options.destination === undefined ? pino(config) : pino(config, options.destination);
  return wrap(logger, redactObject);
}

/**
 * Exposes a pino logger through the port. `child` redacts its bindings here because pino applies
 * `formatters.bindings` to the root logger's bindings only, not to those of `child()`.
 */
function wrap(p: PinoLogger, redactObject: (o: Record<string, unknown>) => Record<string, unknown>): Logger {
  const method = (level: Level): LogFn => p[level].bind(p) as LogFn;
  return {
    trace: method('trace'),
    debug: method('debug'),
    info: method('info'),
    warn: method('warn'),
    error: method('error'),
    fatal: method('fatal'),
    child: (bindings) => wrap(p.child(redactObject(bindings)), redactObject),
  };
}

/** One captured line: the parsed JSON, and `raw` (the exact text written), for asserting absence of secrets. */
export interface MemoryLogger {
  readonly logger: Logger;
  /** Parsed lines, in order. */
  readonly lines: Record<string, unknown>[];
  /** The raw text of each line, exactly as pino wrote it. */
  readonly raw: string[];
  /** Drops what was captured so far. */
  clear(): void;
}

/**
 * A logger that keeps its lines in memory (synchronously: a line is in `lines` as soon as the call returns).
 * For tests of anything that logs; takes the same options as `createLogger` (level defaults to `trace`).
 */
export function createMemoryLogger(options: Omit<CreateLoggerOptions, 'destination'> = {}): MemoryLogger {
  const lines: Record<string, unknown>[] = [];
  const raw: string[] = [];
  const destination: DestinationStream = {
    write(chunk: string): void {
      for (const text of chunk.split('\n')) {
        if (text === '') continue;
        raw.push(text);
        lines.push(JSON.parse(text) as Record<string, unknown>);
      }
    },
  };
  const logger = createLogger({ level: 'trace', ...options, destination });
  return {
    logger,
    lines,
    raw,
    clear: () => {
      lines.length = 0;
      raw.length = 0;
    },
  };
}
