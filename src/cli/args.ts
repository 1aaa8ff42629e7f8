/**
 * Command-line arguments: the specs of the commands (flags, value ranges, help texts) over `node:util` parseArgs in
 * strict mode. Pure (no process, no I/O), so it is unit-tested in process. Anything not understood is a `UsageError`
 * (exit code 2): unknown flags, missing values, bad integers, missing or extra positionals, and any flag that looks
 * like a credential (keys are read from the environment only, never from argv, where they would land in shell
 * history and `ps`).
 */
import { parseArgs as nodeParseArgs, type ParseArgsConfig } from 'node:util';
import { TesserError } from '../domain/errors.js';

/** A mistake in the command line: the CLI prints it on one line and exits with code 2. */
export class UsageError extends TesserError {
  override readonly name = 'UsageError' as const;
  constructor(
    message: string,
    /** The command the mistake belongs to (for the "see --help" hint). */
    readonly command?: string | undefined,
  ) {
    super(message);
  }
}

export type FlagKind = 'boolean' | 'string' | 'int';

export interface FlagSpec {
  readonly name: string;
  readonly kind: FlagKind;
  /** Shown in --help as `--name VALUE`. */
  readonly valueName?: string | undefined;
  readonly description: string;
  /** Shown without brackets in the synopsis (the command checks it: see `requireFlag`). */
  readonly required?: boolean | undefined;
  /** Lower and upper bound of an `int` flag. */
  readonly min?: number | undefined;
  readonly max?: number | undefined;
}

export interface PositionalSpec {
  readonly name: string;
  readonly description: string;
}

export interface CommandSpec {
  /** As typed: `demo`, `audit`, `state show`. */
  readonly name: string;
  readonly summary: string;
  readonly flags: readonly FlagSpec[];
  readonly positionals: readonly PositionalSpec[];
  /** Extra lines at the end of --help. */
  readonly notes?: readonly string[] | undefined;
}

/** Environment variables the `audit` command reads its credentials from. */
export const API_KEY_ENV = 'TESSER_API_KEY';
export const API_SECRET_ENV = 'TESSER_API_SECRET';

const VERBOSE: FlagSpec = { name: 'verbose', kind: 'boolean', description: 'stack traces on errors' };

export const COMMANDS: readonly CommandSpec[] = [
  {
    name: 'demo',
    summary: 'crash, restart and runtime faults on the embedded simulated exchange, reconciled',
    positionals: [],
    flags: [
      {
        name: 'seed',
        kind: 'int',
        valueName: 'N',
        description: 'seed of the simulated market and faults (default 7)',
        min: 0,
        max: 2 ** 31 - 1,
      },
      {
        name: 'json',
        kind: 'boolean',
        description: 'JSON lines (reports, actions, transitions, verdict) instead of tables',
      },
      {
        name: 'inspect',
        kind: 'boolean',
        description:
          'relay the engine state machine to the Stately inspector (loopback); the story is paced in wall-clock time (about 45 s) and the relay stays open until Ctrl-C',
      },
      {
        name: 'state',
        kind: 'string',
        valueName: 'DIR',
        description: 'state directory to use and keep (default: a temporary one, removed)',
      },
      { name: 'verbose', kind: 'boolean', description: 'engine logs on stderr, and stack traces on errors' },
      {
        name: 'exchange',
        kind: 'string',
        valueName: 'NAME',
        description: 'simulated (default), or bybit-emulator / okx-emulator: through real ccxt and a loopback venue',
      },
    ],
    notes: [
      'Runs in virtual time: a few minutes of trading take a few seconds. Exit code 0 when the final state matches the exchange.',
    ],
  },
  {
    name: 'audit',
    summary: 'report-only reconciliation of a state directory against a real exchange (changes nothing)',
    positionals: [],
    flags: [
      {
        name: 'exchange',
        kind: 'string',
        valueName: 'ID',
        required: true,
        description: 'ccxt exchange id (docs/exchanges.md lists the usable ones)',
      },
      {
        name: 'state',
        kind: 'string',
        valueName: 'DIR',
        required: true,
        description: 'the engine state directory to audit (read only)',
      },
      {
        name: 'symbols',
        kind: 'string',
        valueName: 'A,B',
        description: "unified symbols, e.g. BTC/USDT,BTC/USDT:USDT (default: the state's instruments)",
      },
      { name: 'json', kind: 'boolean', description: 'the report and plan as JSON lines' },
      {
        name: 'url',
        kind: 'string',
        valueName: 'URL',
        description:
          'the exchange API at this loopback URL instead (127.0.0.1, localhost or ::1 only), e.g. the emulator of `npm run emulator`',
      },
      VERBOSE,
    ],
    notes: [
      `Credentials come from the environment only: ${API_KEY_ENV} and ${API_SECRET_ENV}.`,
      'To try it offline against the Binance emulator (a clone of the repository): see "audit" in docs/operations.md.',
    ],
  },
  {
    name: 'state show',
    summary: 'the persisted engine state and journal of a state directory',
    positionals: [{ name: 'DIR', description: 'the state directory' }],
    flags: [{ name: 'json', kind: 'boolean', description: 'one JSON object instead of tables' }, VERBOSE],
  },
  {
    name: 'state downgrade',
    summary: "a stopped engine's state directory rewritten for the release before this one (989d35c)",
    positionals: [{ name: 'DIR', description: 'the state directory (no engine may hold it)' }],
    flags: [VERBOSE],
    notes: [
      'The state a restart would load (the journal folded in) becomes one snapshot with an empty journal, its portfolio',
      'saved as version 3 (each order an object), which 989d35c reads; ac6dfe6 and earlier read neither. Keep a copy',
      'of the directory first. This release reads the result as it is and saves version 4 again.',
    ],
  },
];

export type FlagValue = string | number | boolean;

export interface ParsedCommand {
  readonly command: CommandSpec;
  readonly flags: Readonly<Record<string, FlagValue>>;
  readonly positionals: readonly string[];
  /** `--help` or `-h` was given: print the command's help, nothing else. */
  readonly help: boolean;
}

/** The whole command line: a command, or a request for the top-level help / version. */
export type ParsedArgs =
  { readonly kind: 'help' } | { readonly kind: 'version' } | ({ readonly kind: 'command' } & ParsedCommand);

// Flag names (normalised: lower case, no dashes or underscores) that would carry a credential.
const CREDENTIAL_FLAGS = new Set([
  'key',
  'apikey',
  'secret',
  'apisecret',
  'secretkey',
  'password',
  'passphrase',
  'token',
  'privatekey',
  'uid',
]);

/** True when `arg` is a flag meant to carry a secret (`--key`, `--api-secret=…`, `--apiKey`). */
export function isCredentialFlag(arg: string): boolean {
  if (!arg.startsWith('-')) return false;
  const name = arg.replace(/^-+/, '').split('=')[0] ?? '';
  return CREDENTIAL_FLAGS.has(name.toLowerCase().replace(/[-_]/g, ''));
}

/** Finds the command named by the first words of argv (`state show` takes two). */
function findCommand(argv: readonly string[]): { spec: CommandSpec; rest: readonly string[] } | undefined {
  for (const spec of COMMANDS) {
    const words = spec.name.split(' ');
    if (words.every((w, i) => argv[i] === w)) return { spec, rest: argv.slice(words.length) };
  }
  return undefined;
}

const commandList = (): string => COMMANDS.map((c) => c.name).join(', ');

/**
 * Parses argv (without node and the script): `tesser-reconcile <command> ...`, `help [command]`, `--help`/`-h`,
 * `--version`/`-v`. The flags of a command go through `node:util` parseArgs in strict mode.
 * @throws UsageError for anything it does not understand.
 */
export function parseArgs(argv: readonly string[]): ParsedArgs {
  const found = findCommand(argv);
  // Checked first and everywhere, so a secret is refused before anything else could echo it.
  const credential = argv.find(isCredentialFlag);
  if (credential !== undefined) {
    const name = credential.split('=')[0];
    throw new UsageError(
      `${name} is not accepted: API credentials are read from the environment only (${API_KEY_ENV}, ${API_SECRET_ENV}), never from the command line`,
      found?.spec.name,
    );
  }
  const first = argv[0];
  if (first === 'help' && argv.length > 1) {
    // `help demo` is `demo --help`.
    const topic = findCommand(argv.slice(1));
    if (topic === undefined || topic.rest.length > 0)
      throw new UsageError(`unknown command '${argv.slice(1).join(' ')}' (commands: ${commandList()})`);
    return { kind: 'command', command: topic.spec, flags: {}, positionals: [], help: true };
  }
  if (first === undefined || first === '--help' || first === '-h' || first === 'help') return { kind: 'help' };
  if (first === '--version' || first === '-v' || first === '-V') return { kind: 'version' };
  if (found === undefined) {
    if (first === 'state') {
      const sub = argv[1];
      if (sub === undefined || sub === '--help' || sub === '-h')
        throw new UsageError("'state' needs a subcommand: state show DIR", 'state show');
      throw new UsageError(`unknown subcommand 'state ${sub}' (available: state show)`, 'state show');
    }
    if (first.startsWith('-'))
      throw new UsageError(`a command comes first, got option ${first} (commands: ${commandList()})`);
    throw new UsageError(`unknown command '${first}' (commands: ${commandList()})`);
  }
  return { kind: 'command', ...parseCommand(found.spec, found.rest) };
}

type NodeOptions = NonNullable<ParseArgsConfig['options']>;

/** The spec as `node:util` parseArgs options (ints are strings there; they are checked below). */
function nodeOptions(spec: CommandSpec): NodeOptions {
  const options: NodeOptions = { help: { type: 'boolean', short: 'h' } };
  for (const f of spec.flags) options[f.name] = { type: f.kind === 'boolean' ? 'boolean' : 'string' };
  return options;
}

/** An option-like word (`-x`, `--json`) where a value should be: parseArgs refuses it as ambiguous. */
const optionLike = (v: string): boolean => v.length > 1 && v.startsWith('-');

/**
 * Our message for a command line that strict parseArgs refused, found from the tokens of a lenient parse (which
 * locate the offending option). Node's own message is the fallback.
 */
function explainRefusal(spec: CommandSpec, args: readonly string[], error: Error): string {
  const { tokens } = nodeParseArgs({
    args: [...args],
    options: nodeOptions(spec),
    strict: false,
    allowPositionals: true,
    tokens: true,
  });
  for (const t of tokens) {
    if (t.kind !== 'option') continue;
    const flag = spec.flags.find((f) => f.name === t.name);
    if (flag === undefined) {
      if (t.name !== 'help') return `unknown option ${t.rawName}`;
      if (t.value !== undefined) return `${t.rawName} takes no value`;
      continue;
    }
    if (flag.kind === 'boolean' && t.value !== undefined) return `--${flag.name} takes no value`;
    if (flag.kind !== 'boolean' && (t.value === undefined || (t.inlineValue !== true && optionLike(t.value)))) {
      const hint =
        t.value !== undefined && /^-\d/.test(t.value) ? ` (a negative number goes as --${flag.name}=${t.value})` : '';
      return `--${flag.name} needs a value (${flag.valueName ?? 'VALUE'})${hint}`;
    }
  }
  return error.message;
}

/** Parses the arguments after the command words. @throws UsageError */
export function parseCommand(spec: CommandSpec, args: readonly string[]): ParsedCommand {
  const bad = (m: string): UsageError => new UsageError(m, spec.name);
  let parsed: ReturnType<
    typeof nodeParseArgs<{ options: NodeOptions; allowPositionals: true; tokens: true; strict: true }>
  >;
  try {
    parsed = nodeParseArgs({
      args: [...args],
      options: nodeOptions(spec),
      strict: true,
      allowPositionals: true,
      tokens: true,
    });
  } catch (e) {
    // parseArgs' own errors are TypeErrors with an ERR_PARSE_ARGS_* code; anything else is a bug, not usage.
    if (!String((e as { code?: unknown }).code).startsWith('ERR_PARSE_ARGS_')) throw e;
    throw bad(explainRefusal(spec, args, e as Error));
  }
  const flags: Record<string, FlagValue> = {};
  // What strict mode leaves to us: a flag given twice (parseArgs keeps the last), empty values, integer ranges.
  for (const t of parsed.tokens) {
    if (t.kind !== 'option' || t.name === 'help') continue;
    const flag = spec.flags.find((f) => f.name === t.name)!;
    if (Object.hasOwn(flags, t.name)) throw bad(`--${t.name} given more than once`);
    if (flag.kind === 'boolean') {
      flags[t.name] = true;
      continue;
    }
    const raw = t.value ?? '';
    if (raw === '') throw bad(`--${t.name} needs a non-empty value`);
    flags[t.name] = flag.kind === 'int' ? parseIntFlag(flag, raw, bad) : raw;
  }
  const help = parsed.values.help === true;
  const positionals = parsed.positionals;
  if (!help) {
    if (positionals.length > spec.positionals.length)
      throw bad(`unexpected argument '${positionals[spec.positionals.length]}'`);
    const missing = spec.positionals[positionals.length];
    if (missing !== undefined) throw bad(`missing argument ${missing.name} (${missing.description})`);
    // `state show ""` (an unset shell variable) must not quietly mean the current directory.
    const empty = positionals.findIndex((p) => p === '');
    if (empty !== -1) throw bad(`${spec.positionals[empty]?.name ?? 'an argument'} is empty`);
  }
  return { command: spec, flags, positionals, help };
}

function parseIntFlag(flag: FlagSpec, raw: string, bad: (m: string) => UsageError): number {
  // Digits only: `1e3`, `0x10`, ` 7` and `7.0` are all refused rather than guessed at.
  if (!/^-?\d+$/.test(raw)) throw bad(`--${flag.name} must be an integer, got '${raw}'`);
  const n = Number(raw);
  const min = flag.min ?? Number.MIN_SAFE_INTEGER;
  const max = flag.max ?? Number.MAX_SAFE_INTEGER;
  if (!Number.isSafeInteger(n) || n < min || n > max)
    throw bad(`--${flag.name} must be an integer in [${min}, ${max}], got '${raw}'`);
  return n;
}

/** The value of a string flag, if given. */
export function stringFlag(p: ParsedCommand, name: string): string | undefined {
  const v = p.flags[name];
  return typeof v === 'string' ? v : undefined;
}

/** True when a boolean flag was given. */
export function booleanFlag(p: ParsedCommand, name: string): boolean {
  return p.flags[name] === true;
}

/** The value of an int flag, if given. */
export function intFlag(p: ParsedCommand, name: string): number | undefined {
  const v = p.flags[name];
  return typeof v === 'number' ? v : undefined;
}

/** A required string flag. @throws UsageError when missing. */
export function requireFlag(p: ParsedCommand, name: string): string {
  const v = stringFlag(p, name);
  if (v === undefined) {
    const f = p.command.flags.find((x) => x.name === name);
    throw new UsageError(`missing --${name} ${f?.valueName ?? 'VALUE'}`, p.command.name);
  }
  return v;
}

/** A comma-separated list flag (`--symbols A,B`): trimmed, non-empty, no duplicates. @throws UsageError */
export function listFlag(p: ParsedCommand, name: string): string[] | undefined {
  const v = stringFlag(p, name);
  if (v === undefined) return undefined;
  const items = v.split(',').map((s) => s.trim());
  if (items.some((s) => s === '')) throw new UsageError(`--${name} has an empty item in '${v}'`, p.command.name);
  const dup = items.find((s, i) => items.indexOf(s) !== i);
  if (dup !== undefined) throw new UsageError(`--${name} lists ${dup} twice`, p.command.name);
  return items;
}

const PROGRAM = 'tesser-reconcile';

/** The top-level help. */
export function topHelp(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length));
  return [
    `${PROGRAM}: keeps a trading engine's local state in agreement with an exchange's (RFC-005).`,
    '',
    `usage: ${PROGRAM} <command> [options]`,
    '',
    'commands:',
    ...COMMANDS.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    '',
    `Run '${PROGRAM} help <command>' (or '${PROGRAM} <command> --help') for a command's options;`,
    `'${PROGRAM} --version' (or -v) prints the version.`,
    '',
  ].join('\n');
}

/** The help of one command. */
export function commandHelp(spec: CommandSpec): string {
  const shown = spec.flags;
  const label = (f: FlagSpec): string =>
    f.kind === 'boolean' ? `--${f.name}` : `--${f.name} ${f.valueName ?? 'VALUE'}`;
  const width = Math.max(...shown.map((f) => label(f).length), ...spec.positionals.map((p) => p.name.length), 6);
  const synopsis = [
    PROGRAM,
    spec.name,
    ...spec.positionals.map((p) => p.name),
    ...shown.map((f) => (f.required === true ? label(f) : `[${label(f)}]`)),
  ].join(' ');
  return [
    `usage: ${synopsis}`,
    '',
    spec.summary,
    '',
    ...(spec.positionals.length > 0
      ? ['arguments:', ...spec.positionals.map((p) => `  ${p.name.padEnd(width)}  ${p.description}`), '']
      : []),
    'options:',
    ...shown.map((f) => `  ${label(f).padEnd(width)}  ${f.description}`),
    `  ${'--help'.padEnd(width)}  this help`,
    ...(spec.notes !== undefined ? ['', ...spec.notes] : []),
    '',
  ].join('\n');
}
