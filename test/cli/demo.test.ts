/**
 * `tesser-reconcile demo`, run in process through `main()`: it exits 0 for several seeds with a verdict that the books match the
 * exchange, the story's milestones all happen (crash and restart, ghosts, a zombie, a pause, liquidate-only and
 * RESUME, fills by stream), the output of a seed is reproducible, `--json` is one parseable object per line with amounts as strings,
 * and `state show` reads back the directory the demo kept, agreeing with the exchange truth the demo printed.
 */
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Decimal } from 'decimal.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runMain, type CliResult } from './helpers.js';

const SEEDS = [1, 2, 3];
const results = new Map<number, CliResult>();
let jsonRun: CliResult;
let stateRun: CliResult;
let inspectRun: CliResult;
let stateDir: string;
let workDir: string;

beforeAll(async () => {
  workDir = await mkdtemp(join(tmpdir(), 'tesser-demo-test-'));
  stateDir = join(workDir, 'state');
  // Independent runs in virtual time (each its own exchange, timelines and directory).
  const [text, json, kept, inspected] = await Promise.all([
    Promise.all(SEEDS.map((seed) => runMain(['demo', '--seed', String(seed)]))),
    runMain(['demo', '--seed', '5', '--json']),
    runMain(['demo', '--seed', '5', '--json', '--state', stateDir]),
    runMain(['demo', '--seed', '1', '--inspect']),
  ]);
  SEEDS.forEach((seed, i) => results.set(seed, text[i]!));
  jsonRun = json;
  stateRun = kept;
  inspectRun = inspected;
}, 60_000);

afterAll(async () => {
  if (workDir !== undefined) await rm(workDir, { recursive: true, force: true });
});

describe('demo (text)', () => {
  it.each(SEEDS)('seed %i exits 0 with an OK verdict and every milestone of the story', (seed) => {
    const r = results.get(seed)!;
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const out = r.stdout;
    expect(out).toMatch(/verdict: OK: the engine's books match the exchange exactly \(\d+ checks\), engine stopped/);
    expect(out).not.toMatch(/\bNO\s*$/m);
    // The crash and the restart's repairs.
    expect(out).toMatch(/process 1 killed without flushing/);
    expect(out).toMatch(/startup reconciliation:/);
    expect(out).toMatch(/^\s+ghost\s+s1 /m);
    expect(out).toMatch(/^\s+zombie\s+manual-1 .*adopt/m);
    expect(out).toMatch(/^\s+books\s+portfolio .*hard reset from exchange/m);
    // Runtime incidents.
    expect(out).toMatch(/reconciliation paused/);
    expect(out).toMatch(/reconciliation resumed/);
    expect(out).toMatch(/close as cancelled/);
    expect(out).toMatch(/lifecycle: running -> liquidateOnly/);
    expect(out).toMatch(/refused: the engine is in liquidate-only/);
    expect(out).toMatch(/apply fill .*\n?.*liquidation-1|liquidation-1[\s\S]*apply fill/);
    expect(out).toMatch(/lifecycle: liquidateOnly -> running/);
    expect(out).toMatch(/lifecycle: stopping -> stopped/);
    // Fills by the execution stream, once it is connected and in sync.
    expect(out).toMatch(/execution stream in sync after a reconciliation/);
    expect(out).toMatch(
      /engine: fill by stream: buy 0\.01 BTC\/USDT .*\(trade \d+ of s\d+\), in the books and published 40 ms after the trade/,
    );
    expect(out).toMatch(/stream: 2 fill\(s\) applied first by the stream/);
    // No epoch milliseconds: a time is relative to the run's start, or an ISO timestamp (the snapshot of a reset).
    expect(out).not.toMatch(/\b1\d{12}\b/);
    expect(out).toMatch(/exchange snapshot of 2026-01-05T09:00:00\.000Z/);
  });

  it.each(SEEDS)(
    'seed %i marks equity from exchange prices; the peak from before the crash survives the hard reset, with the loss measured against it',
    (seed) => {
      const out = results.get(seed)!.stdout;
      const equity =
        /^\[\s*[^\]]+\] engine: equity ([\d,.]+) USDT, peak equity ([\d,.]+) USDT, drawdown ([\d.]+) %(.*)$/gm;
      const steps = [...out.matchAll(equity)].map((m) => ({
        equity: m[1]!,
        peak: m[2]!,
        drawdown: Number(m[3]),
        rest: m[4]!,
      }));
      expect(steps).toHaveLength(2);
      const [before, after] = steps as [(typeof steps)[0], (typeof steps)[0]];
      expect(before.rest).toMatch(/marked from the exchange's prices/);
      expect(out).toMatch(/exchange: the market falls 3 %/);
      expect(after.peak).toBe(before.peak);
      expect(after.drawdown).toBeGreaterThan(1);
      expect(after.rest).toMatch(/the peak equity of process 1 survived the crash and the hard reset/);
      expect(out).toMatch(
        /^equity [\d,.]+ USDT, peak equity [\d,.]+ USDT, drawdown [\d.]+ % at the last reconciliation$/m,
      );
    },
  );

  it('the verdict table compares balances, a position and open orders, all agreeing', () => {
    const out = results.get(1)!.stdout;
    const verdict = out.slice(out.indexOf('== verdict'));
    expect(verdict).toMatch(/^\s+balance\s+USDT\s.*\syes$/m);
    expect(verdict).toMatch(/^\s+position\s+BTC\/USDT:USDT\s.*\syes$/m);
    expect(verdict).toMatch(/^\s+openOrder\s+ETH\/USDT #\d+ manual-1\s.*\syes$/m);
    expect(verdict).toMatch(/^\s+persisted\s+state directory\s.*\syes$/m);
  });

  it('--inspect relays to a loopback inspector (announced on stderr), shuts it down, and changes no output', () => {
    expect(inspectRun.code).toBe(0);
    expect(inspectRun.stderr).toMatch(/^inspector: open http:\/\/127\.0\.0\.1:\d+ /);
    expect(inspectRun.stdout).toBe(results.get(1)!.stdout);
  });

  it('different seeds tell different stories', () => {
    expect(results.get(1)!.stdout).not.toBe(results.get(2)!.stdout);
  });
});

interface Line {
  type: string;
  [k: string]: unknown;
}

describe('demo --json', () => {
  const lines = (): Line[] =>
    jsonRun.stdout
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l) as Line);

  it('exits 0 and every line is one JSON object', () => {
    expect(jsonRun.code).toBe(0);
    expect(jsonRun.stderr).toBe('');
    for (const l of jsonRun.stdout.trimEnd().split('\n')) expect(() => JSON.parse(l) as unknown).not.toThrow();
    expect(new Set(lines().map((l) => l.type))).toEqual(
      new Set(['chapter', 'step', 'transition', 'report', 'action', 'verdict']),
    );
  });

  it('reports and actions carry amounts as strings', () => {
    const reports = lines().filter((l) => l.type === 'report') as unknown as {
      handler: string;
      report: { balanceDrifts: { local: unknown; exchange: unknown; delta: unknown }[] };
    }[];
    expect(reports.filter((r) => r.handler === 'startup')).toHaveLength(2);
    const drifts = reports.flatMap((r) => r.report.balanceDrifts);
    expect(drifts.length).toBeGreaterThan(0);
    for (const d of drifts) for (const v of [d.local, d.exchange, d.delta]) expect(v).toMatch(/^-?\d+(\.\d+)?$/);
    const fills = lines().filter(
      (l) => l.type === 'action' && (l.action as { type: string }).type === 'applyFill',
    ) as unknown as { action: { fill: { quantity: unknown; price: unknown } } }[];
    expect(fills.length).toBeGreaterThan(0);
    for (const f of fills) {
      expect(typeof f.action.fill.quantity).toBe('string');
      expect(typeof f.action.fill.price).toBe('string');
    }
  });

  it('the verdict line agrees on every check', () => {
    const verdict = lines().find((l) => l.type === 'verdict') as unknown as {
      ok: boolean;
      phase: string;
      checks: { kind: string; local: string; exchange: string; ok: boolean }[];
    };
    expect(verdict.ok).toBe(true);
    expect(verdict.phase).toBe('stopped');
    for (const c of verdict.checks.filter((x) => x.kind !== 'persisted')) expect(c.local).toBe(c.exchange);
    expect(verdict.checks.every((c) => c.ok)).toBe(true);
  });

  it('reports carry equity, peak equity and drawdown as decimal strings; the restart measures its drawdown against the earlier peak', () => {
    const reports = lines().filter((l) => l.type === 'report') as unknown as {
      process: number;
      handler: string;
      equity: string | null;
      peakEquity: string;
      drawdown: string | null;
    }[];
    for (const r of reports) {
      expect(r.peakEquity).toMatch(/^\d+(\.\d+)?$/);
      if (r.equity !== null) expect(r.drawdown).toMatch(/^\d+(\.\d+)?$/);
    }
    const lastOfProcess1 = reports.filter((r) => r.process === 1).at(-1)!;
    const restart = reports.find((r) => r.process === 2 && r.handler === 'startup')!;
    expect(restart.peakEquity).toBe(lastOfProcess1.peakEquity);
    const peak = new Decimal(restart.peakEquity);
    expect(new Decimal(restart.equity!).lt(peak)).toBe(true);
    expect(new Decimal(restart.drawdown!).eq(peak.minus(restart.equity!).div(peak))).toBe(true);
    const verdict = lines().find((l) => l.type === 'verdict')!;
    expect(verdict.peakEquity).toBe(reports.at(-1)!.peakEquity);
  });

  it('a seed reproduces byte for byte (the bin entry and --state change nothing in the story)', () => {
    expect(stateRun.code).toBe(0);
    expect(stateRun.stdout).toBe(jsonRun.stdout);
  });
});

describe('state show on the directory the demo kept', () => {
  it('prints the persisted books, cursors and journal', async () => {
    expect((await readdir(stateDir)).sort()).toEqual(['journal.jsonl', 'snapshot.json']);
    const r = await runMain(['state', 'show', stateDir]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^state directory: /);
    expect(r.stdout).toMatch(/^balances:/m);
    expect(r.stdout).toMatch(/^positions:/m);
    expect(r.stdout).toMatch(/^open orders \(\d+\):/m);
    expect(r.stdout).toMatch(/^\s+manual-1\s/m);
    expect(r.stdout).toMatch(/^history cursors:/m);
    expect(r.stdout).toMatch(/^journal: empty/m);
    expect(r.stdout).toMatch(
      /^equity: \d+(\.\d+)? USDT; drawdown from the peak: \d+(\.\d+)? % \(last marked before the save at /m,
    );
    expect(r.stdout).toMatch(/lifecycle: normal/);
  });

  it('shows a peak equity equal to the highest equity the run marked', async () => {
    const marked = stateRun.stdout
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l) as Line)
      .filter((l) => l.type === 'report' && l.executed === true && l.equity !== null)
      .map((l) => new Decimal(l.equity as string));
    expect(marked.length).toBeGreaterThan(10);
    const highest = Decimal.max(...marked);
    const text = await runMain(['state', 'show', stateDir]);
    expect(text.stdout).toMatch(new RegExp(`; peak equity: ${highest.toFixed().replace('.', '\\.')} USDT$`, 'm'));
    const json = JSON.parse((await runMain(['state', 'show', stateDir, '--json'])).stdout) as {
      portfolio: { peakEquity: string };
    };
    expect(new Decimal(json.portfolio.peakEquity).eq(highest)).toBe(true);
  });

  it('--json: the persisted balances and position equal the exchange truth of the verdict', async () => {
    const r = await runMain(['state', 'show', stateDir, '--json']);
    expect(r.code).toBe(0);
    const shown = JSON.parse(r.stdout) as {
      fresh: boolean;
      portfolio: { balances: { asset: string; total: string }[]; positions: { symbol: string; quantity: string }[] };
    };
    expect(shown.fresh).toBe(false);
    const verdict = JSON.parse(stateRun.stdout.trimEnd().split('\n').at(-1)!) as {
      checks: { kind: string; key: string; exchange: string }[];
    };
    for (const c of verdict.checks.filter((x) => x.kind === 'balance')) {
      const total = c.exchange.split(' ')[0];
      expect(shown.portfolio.balances.find((b) => b.asset === c.key)?.total).toBe(total);
    }
    for (const c of verdict.checks.filter((x) => x.kind === 'position')) {
      const qty = c.exchange.split(' ')[0];
      expect(shown.portfolio.positions.find((p) => p.symbol === c.key)?.quantity ?? '0').toBe(qty);
    }
  });
});
