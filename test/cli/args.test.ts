/**
 * The argument parser, in process: commands and subcommands, flag forms, typed values and their bounds, positionals,
 * credentials refused wherever they appear, and the help texts (hidden flags left out).
 */
import { describe, expect, it } from 'vitest';
import {
  COMMANDS,
  UsageError,
  commandHelp,
  intFlag,
  isCredentialFlag,
  listFlag,
  parseArgs,
  requireFlag,
  stringFlag,
  topHelp,
  type ParsedArgs,
  type ParsedCommand,
} from '../../src/cli/args.js';

function command(argv: string[]): ParsedCommand {
  const p: ParsedArgs = parseArgs(argv);
  if (p.kind !== 'command') throw new Error(`expected a command, got ${p.kind}`);
  return p;
}

function usageError(argv: string[]): UsageError {
  try {
    parseArgs(argv);
  } catch (e) {
    if (e instanceof UsageError) return e;
    throw e;
  }
  throw new Error(`expected a UsageError for ${JSON.stringify(argv)}`);
}

describe('parseArgs', () => {
  it('top-level help and version', () => {
    expect(parseArgs([]).kind).toBe('help');
    expect(parseArgs(['--help']).kind).toBe('help');
    expect(parseArgs(['-h']).kind).toBe('help');
    expect(parseArgs(['--version']).kind).toBe('version');
    expect(parseArgs(['-v']).kind).toBe('version');
    expect(parseArgs(['help']).kind).toBe('help');
  });

  it("`help COMMAND` is the command's --help", () => {
    const demo = command(['help', 'demo']);
    expect(demo.command.name).toBe('demo');
    expect(demo.help).toBe(true);
    expect(command(['help', 'state', 'show']).command.name).toBe('state show');
    expect(usageError(['help', 'frob']).message).toMatch(/unknown command 'frob'/);
  });

  it('demo flags: int, boolean and string, in both --flag value and --flag=value forms', () => {
    const p = command(['demo', '--seed', '42', '--json', '--state=/tmp/x', '--verbose']);
    expect(p.command.name).toBe('demo');
    expect(intFlag(p, 'seed')).toBe(42);
    expect(p.flags.json).toBe(true);
    expect(p.flags.inspect).toBeUndefined();
    expect(stringFlag(p, 'state')).toBe('/tmp/x');
    expect(p.help).toBe(false);
  });

  it('a two-word command takes its positional', () => {
    const p = command(['state', 'show', './dir', '--json']);
    expect(p.command.name).toBe('state show');
    expect(p.positionals).toEqual(['./dir']);
    // After `--`, a dash-led word is a positional.
    expect(command(['state', 'show', '--', '-odd-dir']).positionals).toEqual(['-odd-dir']);
  });

  it('--help on a command skips its positional checks', () => {
    const p = command(['state', 'show', '--help']);
    expect(p.help).toBe(true);
    expect(p.positionals).toEqual([]);
  });

  it.each([
    [['demo', '--seed', 'ten'], /--seed must be an integer, got 'ten'/],
    [['demo', '--seed', '1e3'], /must be an integer/],
    [['demo', '--seed', '0x10'], /must be an integer/],
    [['demo', '--seed=-1'], /in \[0, 2147483647\]/],
    [['demo', '--seed', '-1'], /--seed needs a value \(N\) \(a negative number goes as --seed=-1\)/],
    [['demo', '--seed', '99999999999'], /in \[0, 2147483647\]/],
    [['demo', '--seed'], /--seed needs a value \(N\)/],
    [['demo', '--state', '--json'], /--state needs a value \(DIR\)/],
    [['demo', '--state='], /--state needs a non-empty value/],
    [['demo', '--json=true'], /--json takes no value/],
    [['demo', '--json', '--json'], /given more than once/],
    [['demo', '--jsn'], /unknown option --jsn/],
    [['demo', '-j'], /unknown option -j/],
    [['demo', 'extra'], /unexpected argument 'extra'/],
    [['state', 'show'], /missing argument DIR/],
    [['state', 'show', 'a', 'b'], /unexpected argument 'b'/],
    [['state'], /'state' needs a subcommand/],
    [['state', 'drop'], /unknown subcommand 'state drop'/],
    [['nope'], /unknown command 'nope'/],
    [['--json'], /a command comes first/],
  ])('%j is a usage error: %s', (argv, message) => {
    expect(usageError(argv).message).toMatch(message);
  });

  it('usage errors name their command, for the --help hint', () => {
    expect(usageError(['demo', '--nope']).command).toBe('demo');
    expect(usageError(['state', 'show']).command).toBe('state show');
    expect(usageError(['nope']).command).toBeUndefined();
  });

  it('credential flags are refused anywhere, before anything else, without echoing the value', () => {
    for (const argv of [
      ['audit', '--key', 'AKIA-secret-value'],
      ['audit', '--api-key=AKIA-secret-value'],
      ['audit', '--apiKey', 'x'],
      ['audit', '--secret', 'x'],
      ['audit', '--API_SECRET=x'],
      ['demo', '--password', 'x'],
      ['--token=x'],
      // Even after an unknown command: the credential is the more important message.
      ['frob', '--passphrase', 'x'],
    ]) {
      const e = usageError(argv);
      expect(e.message).toMatch(
        /is not accepted: API credentials are read from the environment only \(TESSER_API_KEY, TESSER_API_SECRET\)/,
      );
      expect(e.message).not.toMatch(/AKIA-secret-value/);
    }
    expect(usageError(['audit', '--key=1']).command).toBe('audit');
  });

  it('isCredentialFlag looks at flag names only', () => {
    expect(isCredentialFlag('--key')).toBe(true);
    expect(isCredentialFlag('--Api-Secret=1')).toBe(true);
    expect(isCredentialFlag('key')).toBe(false);
    expect(isCredentialFlag('--keys')).toBe(false);
    expect(isCredentialFlag('--state')).toBe(false);
  });
});

describe('flag helpers', () => {
  it('requireFlag names the missing flag and its value', () => {
    const p = command(['audit', '--exchange', 'binance']);
    expect(requireFlag(p, 'exchange')).toBe('binance');
    expect(() => requireFlag(p, 'state')).toThrow(/missing --state DIR/);
  });

  it('listFlag splits, trims, and refuses empty or repeated items', () => {
    expect(listFlag(command(['audit', '--symbols', 'BTC/USDT, BTC/USDT:USDT']), 'symbols')).toEqual([
      'BTC/USDT',
      'BTC/USDT:USDT',
    ]);
    expect(listFlag(command(['audit']), 'symbols')).toBeUndefined();
    expect(() => listFlag(command(['audit', '--symbols', 'A/B,']), 'symbols')).toThrow(/empty item/);
    expect(() => listFlag(command(['audit', '--symbols', 'A/B,A/B']), 'symbols')).toThrow(/lists A\/B twice/);
  });
});

describe('help texts', () => {
  it('the top help lists every command', () => {
    const h = topHelp();
    for (const c of COMMANDS) expect(h).toContain(`  ${c.name}`);
  });

  it('each command help shows every option and the required flags', () => {
    for (const c of COMMANDS) {
      const h = commandHelp(c);
      expect(h).toMatch(new RegExp(`^usage: tesser-reconcile ${c.name}`));
      for (const f of c.flags) expect(h).toContain(`--${f.name}`);
    }
    const audit = commandHelp(COMMANDS.find((c) => c.name === 'audit')!);
    expect(audit).toMatch(/^usage: tesser-reconcile audit --exchange ID --state DIR \[--symbols A,B\]/);
    expect(audit).toContain('TESSER_API_KEY');
    // --url is documented, with its loopback-only rule and where to find the emulator.
    expect(audit).toMatch(
      /--url URL\s+the exchange API at this loopback URL instead \(127\.0\.0\.1, localhost or ::1 only\)/,
    );
    expect(audit).toMatch(/docs\/operations\.md/);
  });
});
