/**
 * Every bad input, run in process through `main()` (the one child process checks `--version` through the real entry point): its one-line message on stderr, its exit code (2 for the command line,
 * 1 for a failure at run time), nothing on stdout, and no stack trace unless --verbose. Plus --help for every
 * command (stdout, exit 0), hidden flags left out of it.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/domain/errors.js';
import { describeError } from '../../src/cli/main.js';
import { runCli, runMain } from './helpers.js';

let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tesser-cli-errors-'));
  await mkdir(join(dir, 'corrupt'));
  // A journal line that is not JSON, in the middle of the file: corruption, not a torn tail.
  await writeFile(join(dir, 'corrupt', 'journal.jsonl'), 'not json\n{"also":"bad"}\n');
  await mkdir(join(dir, 'used'));
  await writeFile(join(dir, 'used', 'snapshot.json'), '{}');
  await writeFile(join(dir, 'a-file'), 'x');
  await mkdir(join(dir, 'other'));
  await writeFile(join(dir, 'other', 'notes.txt'), 'not engine state');
});

afterAll(async () => {
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
});

interface Case {
  readonly name: string;
  readonly args: () => string[];
  readonly code: 1 | 2;
  readonly message: RegExp;
  /** What is printed before the error (a corrupt directory is shown as far as it can be read); default nothing. */
  readonly stdout?: RegExp;
}

const CASES: readonly Case[] = [
  {
    name: 'an unknown command',
    args: () => ['frobnicate'],
    code: 2,
    message: /^tesser-reconcile: unknown command 'frobnicate' \(commands: demo, audit, state show, state downgrade\)/,
  },
  {
    name: 'an option before any command',
    args: () => ['--seed', '3'],
    code: 2,
    message: /a command comes first, got option --seed/,
  },
  {
    name: 'an unknown option',
    args: () => ['demo', '--fast'],
    code: 2,
    message: /unknown option --fast \(see 'tesser-reconcile demo --help'\)/,
  },
  { name: 'a short unknown option', args: () => ['demo', '-x'], code: 2, message: /unknown option -x/ },
  {
    name: 'a seed that is not an integer',
    args: () => ['demo', '--seed', '1.5'],
    code: 2,
    message: /--seed must be an integer, got '1\.5'/,
  },
  {
    name: 'a negative seed',
    args: () => ['demo', '--seed=-4'],
    code: 2,
    message: /--seed must be an integer in \[0, 2147483647\], got '-4'/,
  },
  { name: 'a seed without its value', args: () => ['demo', '--seed'], code: 2, message: /--seed needs a value \(N\)/ },
  {
    name: 'a flag where a value should be',
    args: () => ['demo', '--state', '--json'],
    code: 2,
    message: /--state needs a value \(DIR\)/,
  },
  {
    name: 'a flag given twice',
    args: () => ['demo', '--json', '--json'],
    code: 2,
    message: /--json given more than once/,
  },
  { name: 'a value for a boolean flag', args: () => ['demo', '--json=yes'], code: 2, message: /--json takes no value/ },
  { name: 'an extra argument', args: () => ['demo', 'now'], code: 2, message: /unexpected argument 'now'/ },
  {
    name: 'a demo state dir that is not empty',
    args: () => ['demo', '--state', join(dir, 'used')],
    code: 2,
    message: /--state .*used is not empty/,
  },
  {
    name: 'a demo state dir that is a file',
    args: () => ['demo', '--state', join(dir, 'a-file')],
    code: 2,
    message: /--state .*a-file is not a directory/,
  },
  {
    name: "'state' without a subcommand",
    args: () => ['state'],
    code: 2,
    message: /'state' needs a subcommand: state show DIR/,
  },
  {
    name: 'an unknown state subcommand',
    args: () => ['state', 'rm', dir],
    code: 2,
    message: /unknown subcommand 'state rm'/,
  },
  { name: 'state show without DIR', args: () => ['state', 'show'], code: 2, message: /missing argument DIR/ },
  {
    name: 'state show with two dirs',
    args: () => ['state', 'show', dir, dir],
    code: 2,
    message: /unexpected argument/,
  },
  {
    name: 'audit without --exchange',
    args: () => ['audit', '--state', dir],
    code: 2,
    message: /missing --exchange ID/,
  },
  {
    name: 'audit without --state',
    args: () => ['audit', '--exchange', 'binance'],
    code: 2,
    message: /missing --state DIR/,
  },
  {
    name: 'audit with a secret on the command line',
    args: () => ['audit', '--exchange', 'binance', '--state', dir, '--secret=abc'],
    code: 2,
    message: /--secret is not accepted: API credentials are read from the environment only/,
  },
  {
    name: 'audit with an empty symbol',
    args: () => ['audit', '--exchange', 'binance', '--state', dir, '--symbols', 'BTC/USDT,,ETH/USDT'],
    code: 2,
    message: /--symbols has an empty item/,
  },
  {
    name: 'audit with no key in the environment',
    args: () => ['audit', '--exchange', 'binance', '--state', dir],
    code: 2,
    message: /missing credentials: set TESSER_API_KEY and TESSER_API_SECRET in the environment/,
  },
  {
    name: 'state show on a missing dir',
    args: () => ['state', 'show', join(dir, 'nope')],
    code: 1,
    message: /^tesser-reconcile state show: state directory .*nope does not exist \(--verbose for details\)$/,
  },
  {
    name: 'state show on a file',
    args: () => ['state', 'show', join(dir, 'a-file')],
    code: 1,
    message: /a-file is not a directory/,
  },
  {
    name: 'state show on a corrupt dir',
    args: () => ['state', 'show', join(dir, 'corrupt')],
    code: 1,
    message: /^tesser-reconcile state show: corrupt state directory: .*journal\.jsonl:1: record is not valid JSON/,
    stdout: /CORRUPT: .*journal\.jsonl:1: record is not valid JSON/,
  },
  {
    name: 'state show on a snapshot that is not engine state',
    args: () => ['state', 'show', join(dir, 'used')],
    code: 1,
    message: /corrupt state directory: .*snapshot\.json:1/,
    stdout: /CORRUPT: .*snapshot\.json:1/,
  },
  {
    name: 'state show on an empty path',
    args: () => ['state', 'show', ''],
    code: 2,
    message: /DIR is empty \(see 'tesser-reconcile state show --help'\)/,
  },
  {
    name: 'state show on a directory that is not a state directory',
    args: () => ['state', 'show', join(dir, 'other')],
    code: 1,
    message: /other is not a state directory: it holds 1 file\(s\) but no snapshot\.json, journal\.jsonl or lock/,
  },
];

// The cases are independent, so they run side by side.
describe.concurrent('bad input: one line on stderr, exit code', () => {
  it.each(CASES)('$name → exit $code', async (c) => {
    const r = await runMain(c.args());
    expect(r.code).toBe(c.code);
    if (c.stdout === undefined) expect(r.stdout).toBe('');
    else expect(r.stdout).toMatch(c.stdout);
    const lines = r.stderr.trimEnd().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(c.message);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });

  it('--verbose adds the stack trace (and the cause) to a runtime failure', async () => {
    const r = await runMain(['state', 'show', join(dir, 'corrupt'), '--verbose']);
    expect(r.code).toBe(1);
    expect(r.stderr.split('\n')[0]).toMatch(/corrupt state directory/);
    expect(r.stderr).toMatch(/StoreCorruptError: .*journal\.jsonl:1/);
    expect(r.stderr).toMatch(/\n\s+at /);
  });

  it('no arguments: the help on stderr, exit 2', async () => {
    const r = await runMain([]);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^tesser-reconcile: keeps a trading engine's local state/);
    expect(r.stderr).toMatch(/^\s+state show\s/m);
  });
});

describe.concurrent('--help', () => {
  it.each([['demo'], ['audit'], ['state', 'show']])(
    '%s --help: usage on stdout, exit 0',
    async (...words: string[]) => {
      const r = await runMain([...words, '--help']);
      expect(r.code).toBe(0);
      expect(r.stderr).toBe('');
      expect(r.stdout).toMatch(new RegExp(`^usage: tesser-reconcile ${words.join(' ')}`));
      expect(r.stdout).toMatch(/--help\s+this help/);
    },
  );

  it('help COMMAND is COMMAND --help; audit --help documents --url (loopback only)', async () => {
    const [viaHelp, viaFlag] = await Promise.all([runMain(['help', 'audit']), runMain(['audit', '--help'])]);
    expect(viaHelp).toEqual(viaFlag);
    expect(viaFlag.stdout).toMatch(/\[--url URL\]/);
    expect(viaFlag.stdout).toMatch(/127\.0\.0\.1, localhost or ::1 only/);
  });

  it('an error message never repeats its prefix', () => {
    const config = describeError(new ConfigError([{ path: 'symbols[0]', message: 'not a unified symbol' }]));
    expect(config).toBe('invalid config: symbols[0]: not a unified symbol');
  });

  it('--help at the top lists the commands; --version prints the package version', async () => {
    const [help, version] = await Promise.all([runMain(['--help']), runCli(['--version'])]);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^\s+demo\s+.*\n\s+audit\s+.*\n\s+state show\s+/m);
    expect(version.code).toBe(0);
    expect(version.stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
    expect((await runMain(['-v'])).stdout).toBe(version.stdout);
    // A child process (the real shebang entry point): generous, as CI machines are loaded.
  }, 120_000);
});
