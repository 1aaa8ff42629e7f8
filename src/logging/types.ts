/**
 * The logging port: the minimal logger interface the core is written against. It imports no pino value, so
 * src/domain, src/differ, src/handlers and machines/ can take a `Logger` with a type-only import.
 */

/** One log method: a structured object with an optional message, or a bare message. */
export interface LogFn {
  (obj: object, msg?: string): void;
  (msg: string): void;
}

/** What every component logs through. A pino logger satisfies it; so does `silentLogger`. */
export interface Logger {
  trace: LogFn;
  debug: LogFn;
  info: LogFn;
  warn: LogFn;
  error: LogFn;
  fatal: LogFn;
  /** A logger whose every line carries `bindings` (e.g. `{ component: 'runtime-handler' }`). */
  child(bindings: Record<string, unknown>): Logger;
}

const noop: LogFn = () => undefined;

/** A logger that drops everything: the default wherever a logger is optional. */
export const silentLogger: Logger = {
  trace: noop,
  debug: noop,
  info: noop,
  warn: noop,
  error: noop,
  fatal: noop,
  child: () => silentLogger,
};

/** The child logger of one component; every line carries `component: name`. */
export function componentLogger(logger: Logger, component: string): Logger {
  return logger.child({ component });
}
