/**
 * Keeps the docs honest: generated parts (lifecycle diagram, bench table) are not stale, relative links and their
 * anchors resolve, policies.md lists every config key with the default the code has, operations.md names every log
 * event and plan action, the embedding example shown is the one `tsc` compiles, and that example runs (in virtual
 * time) to the ending embedding.md describes.
 */
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createMachine } from 'xstate';
import {
  GENERATED_DOCS,
  REPO_DIR,
  engineBenchBody,
  lifecycleBody,
  replaceBlock,
  type EngineBenchResult,
} from '../../docs/generate.js';
import { runBot } from '../../docs/embedding-example.js';
import { watchEngine } from '../../docs/inspect-example.js';
import { connectViewer, lifecyclePhases, type Relayed } from '../support/inspect-viewer.js';
import { lifecycleMermaid } from '../../machines/diagram.js';
import { engineMachine, DEFAULT_STARTUP_RETRY } from '../../machines/engine.machine.js';
import { LIFECYCLE_PHASES } from '../../machines/lifecycle.js';
import { amountToString } from '../../src/domain/decimal.js';
import { ConfigError } from '../../src/domain/errors.js';
import { DEFAULT_INTERVAL_MS } from '../../src/engine/engine.js';
import { DEFAULT_TICKER_EVERY_CYCLES } from '../../src/engine/equity.js';
import { DEFAULT_CONFIG, resolveConfig } from '../../src/handlers/config.js';
import { createMemoryLogger } from '../../src/logging/logger.js';
import { DEFAULT_INFERRED_REPLAY_WINDOW, DEFAULT_LATE_TRADE_WINDOW } from '../../src/portfolio/portfolio.js';
import { DEFAULT_TRADE_ID_WINDOW } from '../../src/portfolio/trade-id-window.js';
import { DEFAULT_BACKOFF } from '../../src/streams/backoff.js';
import { VirtualTimeline } from '../../src/streams/virtual-time.js';

const DOCS = join(REPO_DIR, 'docs');
const read = (path: string): string => readFileSync(path, 'utf8');
const markdownFiles = (): string[] => [
  join(REPO_DIR, 'README.md'),
  ...readdirSync(DOCS)
    .filter((f) => f.endsWith('.md'))
    .sort()
    .map((f) => join(DOCS, f)),
];

/** Fenced code blocks of a markdown text with the given info string, in order. */
function codeBlocks(md: string, lang: string): string[] {
  const out: string[] = [];
  const re = new RegExp('^```' + lang + '\\n([\\s\\S]*?)^```$', 'gm');
  for (const m of md.matchAll(re)) out.push(m[1]!);
  return out;
}

describe('generated docs', () => {
  for (const g of GENERATED_DOCS) {
    it(`${g.file.slice(REPO_DIR.length + 1)} is up to date (npm run docs)`, async () => {
      const current = read(g.file);
      expect(await g.regenerate(current)).toBe(current);
    });
  }

  it('the committed lifecycle diagram shows every phase, command and actor of the machine', () => {
    const doc = read(join(DOCS, 'architecture.md'));
    expect(doc).toContain(lifecycleBody());
    const diagram = lifecycleMermaid();
    for (const phase of LIFECYCLE_PHASES) expect(diagram).toMatch(new RegExp(`\\b${phase}\\b`));
    for (const event of ['STOP', 'RESUME', 'RECONCILE_NOW', 'ENTER_LIQUIDATE_ONLY', 'CYCLE_COMPLETED', 'LOOP_CRASHED'])
      expect(diagram).toContain(event);
    for (const actor of ['loadState', 'startupReconcile', 'reconcileLoop', 'flush'])
      expect(diagram).toContain(`invoke ${actor}`);
    expect(diagram).toContain('after startupRetryDelay');
    expect(lifecycleMermaid(engineMachine)).toBe(diagram);
  });

  it('the diagram generator renders nesting, guards, delays, done/error and final states', () => {
    const m = createMachine({
      id: 'm',
      initial: 'a',
      states: {
        a: {
          invoke: { id: 'job', src: 'job', onDone: 'b', onError: 'z' },
          on: { PING: { actions: () => undefined } },
        },
        b: {
          initial: 'b1',
          states: {
            b1: { after: { 250: 'b2' } },
            b2: { on: { GO: [{ guard: 'ok', target: '#m.z' }, { target: 'b1' }] } },
          },
        },
        z: { type: 'final' },
      },
    });
    expect(lifecycleMermaid(m)).toBe(
      [
        'stateDiagram-v2',
        '    [*] --> a',
        '    state a',
        '    a : invoke job',
        '    a : on PING',
        '    state b {',
        '        [*] --> b_b1',
        '        state "b1" as b_b1',
        '        state "b2" as b_b2',
        '    }',
        '    state z',
        '    z --> [*]',
        '    a --> b : done job',
        '    a --> z : error job',
        '    b_b1 --> b_b2 : after 250 ms',
        '    b_b2 --> z : GO [ok]',
        '    b_b2 --> b_b1 : GO [else]',
        '',
      ].join('\n'),
    );
  });

  it('the engine table says how isolated cycle rows were run, with the worst process, and p99 only on stall rows', () => {
    const clean = (maxStallMs: number, extra: object) => ({
      openOrders: 1_000,
      appliedTradeIds: 0,
      cyclesPerSecond: 2_500,
      ratioToBaseline: 5,
      maxStallMs,
      p99StallMs: 1.5,
      idleMaxStallMs: 1.2,
      idleP99StallMs: 1.1,
      gcMsPerCycle: 0.02,
      maxStallCpuMs: 1.8,
      idleMaxStallCpuMs: 1.3,
      gcOfMaxStallMs: 0.7,
      maxStallWithoutGcMs: 1.1,
      ...extra,
    });
    const result = (c: object): EngineBenchResult => ({
      generatedAt: '2026-12-05T00:00:00.000Z',
      environment: {
        node: 'v20',
        platform: 'linux x64',
        cpu: 'cpu',
        cpuCount: 2,
        loadAverageAtStart: [1, 1, 1],
      },
      clean: [c as EngineBenchResult['clean'][number]],
      boot: [],
      heap: [],
      bytesPerTrackedOrder: 400,
    });
    const isolated = engineBenchBody(
      result(clean(3, { rounds: 3, worstRoundMaxStallMs: 4.5, worstRoundMaxStallCpuMs: 2.5 })),
      result(clean(1.9, { rounds: 3, worstRoundMaxStallMs: 2.4, worstRoundMaxStallCpuMs: 1.9 })),
    );
    const lines = isolated.split('\n');
    expect(lines[2]).toMatch(/^Cycle rows: each tree's row ran in 3 processes of its own/);
    expect(isolated).toContain('| the worst of 3 processes: longest stall ms, 1,000 orders | 4.5 | 2.4 |  |  |');
    expect(isolated).toContain('| the worst of 3 processes: on CPU at most ms, 1,000 orders | 2.5 | 1.9 |  |  |');
    expect(isolated).toContain(
      '| longest event-loop stall ms (p99), 1,000 orders | 3.0 (1.5) | 1.9 (1.5) | ≤ 2 | met |',
    );
    expect(isolated).toContain(
      '| the same loop without cycles: longest stall ms (p99), 1,000 orders | 1.2 (1.1) | 1.2 (1.1) |',
    );
    expect(isolated).toContain('| GC pauses within the longest stall ms, 1,000 orders | 0.7 | 0.7 |  |  |');
    const shared = engineBenchBody(result(clean(3, {})), result(clean(1.9, {})));
    expect(shared).not.toContain('Cycle rows:');
    expect(shared).not.toContain('the worst of');
  });

  it('replaceBlock refuses a document without exactly one marker pair', () => {
    expect(() => replaceBlock('no markers', 'lifecycle', 'x')).toThrow(/exactly one/);
    const twice = '<!-- x:begin -->\n<!-- x:end -->\n<!-- x:begin -->\n<!-- x:end -->';
    expect(() => replaceBlock(twice, 'x', 'y')).toThrow(/exactly one/);
    expect(replaceBlock('a\n<!-- x:begin -->\nold\n<!-- x:end -->\nb', 'x', 'new')).toBe(
      'a\n<!-- x:begin -->\nnew\n<!-- x:end -->\nb',
    );
  });
});

/** GitHub's heading anchor: lower case, punctuation dropped, spaces to hyphens. */
function slug(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/`/g, '')
    .replace(/[^\p{L}\p{N} _-]/gu, '')
    .replace(/ /g, '-');
}

function anchorsOf(md: string): Set<string> {
  const withoutCode = md.replace(/^```[\s\S]*?^```$/gm, '');
  return new Set([...withoutCode.matchAll(/^#{1,6} (.+)$/gm)].map((m) => slug(m[1]!)));
}

describe('links', () => {
  it('every relative link in README.md and docs/*.md points to an existing file (and heading)', () => {
    const broken: string[] = [];
    let checked = 0;
    for (const file of markdownFiles()) {
      const md = read(file);
      // Links inside code are not links.
      const text = md.replace(/^```[\s\S]*?^```$/gm, '').replace(/`[^`\n]*`/g, '');
      for (const m of text.matchAll(/\[[^\]]*\]\(([^)\s]+)\)/g)) {
        const target = m[1]!;
        if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue; // https:, mailto:, …
        checked++;
        const [path, anchor] = target.split('#') as [string, string | undefined];
        const resolved = path === '' ? file : resolve(dirname(file), path);
        const where = `${file.slice(REPO_DIR.length + 1)} → ${target}`;
        if (!existsSync(resolved)) {
          broken.push(`${where}: no such file`);
          continue;
        }
        if (anchor !== undefined && resolved.endsWith('.md') && !anchorsOf(read(resolved)).has(anchor))
          broken.push(`${where}: no such heading`);
      }
    }
    expect(broken).toEqual([]);
    expect(checked).toBeGreaterThan(5);
  });

  it('the README links to every doc', () => {
    const readme = read(join(REPO_DIR, 'README.md'));
    for (const f of readdirSync(DOCS).filter((f) => f.endsWith('.md'))) expect(readme).toContain(`](docs/${f})`);
  });
});

/** Rows `| \`key\` | \`default\` | … |` of every table in a markdown text: key → the default, parsed as JSON. */
function documentedDefaults(md: string): Map<string, unknown> {
  const out = new Map<string, unknown>();
  for (const line of md.split('\n')) {
    const cells = line.split('|').map((c) => c.trim());
    const key = /^`([^`]+)`$/.exec(cells[1] ?? '')?.[1];
    const value = /`([^`]+)`/.exec(cells[2] ?? '')?.[1];
    if (key === undefined || value === undefined) continue;
    expect(out.has(key), `${key} is documented twice`).toBe(false);
    out.set(key, JSON.parse(value));
  }
  return out;
}

/** The top-level keys resolveConfig accepts, read from its own error message (its KEYS list is not exported). */
function configKeys(): string[] {
  try {
    resolveConfig({ __notAKey: true });
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    const allowed = /allowed: ([^)]+)\)/.exec(e.issues[0]?.message ?? '')?.[1];
    if (allowed !== undefined) return allowed.split(', ');
  }
  throw new Error('resolveConfig did not list its keys');
}

describe('docs/policies.md', () => {
  const documented = documentedDefaults(read(join(DOCS, 'policies.md')));
  const d = DEFAULT_CONFIG;
  const tol = (t: { absolute: { toFixed(): string }; relative: { toFixed(): string } }) => ({
    absolute: t.absolute.toFixed(),
    relative: t.relative.toFixed(),
  });
  const expected: Record<string, unknown> = {
    'zombiePolicy.default': d.zombiePolicy.default,
    'zombiePolicy.perSymbol': Object.fromEntries(d.zombiePolicy.perSymbol),
    inFlightGraceMs: d.diffOptions.inFlightGraceMs,
    'tolerances.default.absolute': amountToString(d.diffOptions.tolerances.default.absolute),
    'tolerances.default.relative': amountToString(d.diffOptions.tolerances.default.relative),
    'tolerances.positions': Object.fromEntries([...d.diffOptions.tolerances.positions].map(([k, t]) => [k, tol(t)])),
    'tolerances.balances': Object.fromEntries([...d.diffOptions.tolerances.balances].map(([k, t]) => [k, tol(t)])),
    notFoundConfirmations: d.notFoundConfirmations,
    maxQueriesPerCycle: d.maxQueriesPerCycle,
    driftCyclesBeforeLiquidateOnly: d.driftCyclesBeforeLiquidateOnly,
    tradeLookbackMs: d.tradeLookbackMs,
    maxHistoryPagesPerCycle: d.maxHistoryPagesPerCycle,
    maxClockSkewMs: d.maxClockSkewMs,
    reportOnly: d.reportOnly,
    // Engine options (createEngine in src/engine/engine.ts and the modules whose defaults it uses).
    intervalMs: DEFAULT_INTERVAL_MS,
    'backoff.initialMs': DEFAULT_BACKOFF.initialMs,
    'backoff.maxMs': DEFAULT_BACKOFF.maxMs,
    'backoff.factor': DEFAULT_BACKOFF.factor,
    'backoff.jitter': DEFAULT_BACKOFF.jitter,
    'startupRetry.initialMs': DEFAULT_STARTUP_RETRY.initialMs,
    'startupRetry.maxMs': DEFAULT_STARTUP_RETRY.maxMs,
    'startupRetry.factor': DEFAULT_STARTUP_RETRY.factor,
    'startupRetry.maxAttempts': DEFAULT_STARTUP_RETRY.maxAttempts,
    // createEngine: `closedOrderRetentionMs ?? config.tradeLookbackMs`.
    closedOrderRetentionMs: d.tradeLookbackMs,
    'portfolioOptions.tradeIdWindow': DEFAULT_TRADE_ID_WINDOW,
    'portfolioOptions.inferredReplayWindow': DEFAULT_INFERRED_REPLAY_WINDOW,
    'portfolioOptions.lateTradeWindow': DEFAULT_LATE_TRADE_WINDOW,
    tickerEveryCycles: DEFAULT_TICKER_EVERY_CYCLES,
  };

  it('lists every key resolveConfig accepts', () => {
    const keys = configKeys();
    expect(keys.length).toBeGreaterThanOrEqual(9);
    for (const k of keys)
      expect(
        [...documented.keys()].some((doc) => doc === k || doc.startsWith(`${k}.`)),
        `policies.md lacks ${k}`,
      ).toBe(true);
  });

  it('documents exactly the defaults the code has', () => {
    expect(Object.fromEntries(documented)).toEqual(expected);
  });

  it('its example config is accepted by resolveConfig', () => {
    const [example] = codeBlocks(read(join(DOCS, 'policies.md')), 'json');
    expect(example).toBeDefined();
    expect(() => resolveConfig(JSON.parse(example!))).not.toThrow();
  });
});

describe('docs/operations.md', () => {
  const ops = read(join(DOCS, 'operations.md'));

  it('shows how to try audit offline: `npm run emulator` exists and runs the emulator entry point, audit shows --url', () => {
    expect(ops).toMatch(/npm run emulator/);
    expect(ops).toMatch(/--url URL/);
    const scripts = (JSON.parse(read(join(REPO_DIR, 'package.json'))) as { scripts: Record<string, string> }).scripts;
    const entry = /^tsx (\S+)$/.exec(scripts.emulator ?? '')?.[1];
    expect(entry).toBe('test/support/binance-emulator/main.ts');
    expect(existsSync(join(REPO_DIR, entry!))).toBe(true);
  });

  it('names every event the engine logs', () => {
    // Every module of src/engine/ (createEngine's parts each log their own events) and the shared log helpers.
    const engineModules = readdirSync(join(REPO_DIR, 'src/engine'))
      .filter((f) => f.endsWith('.ts'))
      .map((f) => `src/engine/${f}`);
    const sources = [...engineModules, 'src/logging/events.ts'].map((f) => read(join(REPO_DIR, f))).join('\n');
    // A log line's `event: 'name'`, not a union type naming journal events (`event: 'submitted' | ...`).
    const events = new Set([...sources.matchAll(/event: '([a-zA-Z.]+)'(?! \|)/g)].map((m) => m[1]!));
    expect(events.size).toBeGreaterThan(8);
    expect([...events].filter((e) => !ops.includes(`\`${e}\``))).toEqual([]);
  });

  it('names every plan action', () => {
    const actions = [...read(join(REPO_DIR, 'src/handlers/plan.ts')).matchAll(/readonly type: '([a-zA-Z]+)'/g)].map(
      (m) => m[1]!,
    );
    expect(actions.length).toBeGreaterThan(8);
    expect(actions.filter((a) => !ops.includes(`\`${a}\``))).toEqual([]);
  });
});

describe('the embedding example', () => {
  const source = read(join(DOCS, 'embedding-example.ts'));

  it('docs/embedding.md shows docs/embedding-example.ts verbatim', () => {
    expect(codeBlocks(read(join(DOCS, 'embedding.md')), 'ts')[0]).toBe(source);
  });

  it('the README shows the example’s readme region verbatim', () => {
    const region = /\/\/ #region readme\n([\s\S]*?)\n\s*\/\/ #endregion readme/.exec(source)?.[1];
    expect(region).toBeDefined();
    const dedented = region!
      .split('\n')
      .map((l) => l.replace(/^ {2}/, ''))
      .join('\n');
    expect(codeBlocks(read(join(REPO_DIR, 'README.md')), 'ts')[0]).toBe(`${dedented}\n`);
  });

  const dirs: string[] = [];
  afterAll(async () => {
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });

  it('runs in virtual time and ends as embedding.md documents', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tesser-embedding-'));
    dirs.push(dir);
    const stateDir = join(dir, 'state');
    const t0 = Date.UTC(2026, 0, 1);
    const tl = new VirtualTimeline(t0);
    const log = createMemoryLogger({ level: 'info' });
    const summary = await runBot({
      stateDir,
      timeline: tl,
      logger: log.logger,
      waitForStop: () => tl.advanceBy(60_000),
    });

    expect(summary.phases).toEqual([
      'loading',
      'startupReconcile',
      'running',
      'liquidateOnly',
      'running',
      'stopping',
      'stopped',
    ]);
    expect(summary.placed).toEqual([`bot-${t0}-1`]);
    expect(summary.refused).toEqual([`bot-${t0}-2: liquidateOnly`]);
    expect(summary.openAtStop).toEqual([`bot-${t0}-1`]);
    // The startup report and at least one runtime cycle (how many depends on real file I/O under virtual time).
    expect(summary.reports).toBeGreaterThanOrEqual(2);
    expect(readdirSync(stateDir).sort()).toEqual(['journal.jsonl', 'snapshot.json']);
    const events = log.lines.map((l) => l.event);
    expect(events).toContain('reconciliation.report');
    expect(events.filter((e) => e === 'lifecycle.transition')).toHaveLength(6);
  });
});

describe('the inspector example', () => {
  const source = read(join(DOCS, 'inspect-example.ts'));

  it('docs/embedding.md shows docs/inspect-example.ts verbatim', () => {
    expect(codeBlocks(read(join(DOCS, 'embedding.md')), 'ts')).toContain(source);
  });

  it('relays the lifecycle machine to a viewer: its snapshots, with every state value the engine went through', async () => {
    const tl = new VirtualTimeline(Date.UTC(2026, 0, 1));
    const relayed: Relayed[] = [];
    let viewer: { terminate(): void } | undefined;
    const phases = await watchEngine({
      timeline: tl,
      // A viewer (the page's websocket) connects before the engine starts, as a person's browser would.
      onReady: async ({ wsUrl }) => {
        viewer = await connectViewer(wsUrl, (e) => relayed.push(e));
      },
      waitForStop: () => tl.advanceBy(5_000),
    });
    viewer?.terminate();
    expect(phases).toEqual(['loading', 'startupReconcile', 'running', 'stopping', 'stopped']);
    // Every phase, in order, each transition as it happened (running repeats: one snapshot per cycle).
    expect(dedupe(lifecyclePhases(relayed))).toEqual(['loading', 'startupReconcile', 'running', 'stopping', 'stopped']);
  });
});

/** `xs` without consecutive repeats. */
function dedupe<T>(xs: readonly T[]): T[] {
  return xs.filter((x, i) => i === 0 || xs[i - 1] !== x);
}
