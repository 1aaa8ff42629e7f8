/**
 * `tesser-reconcile state show` on the directory of an engine that is still running (its store open and locked),
 * with orders journaled after the last snapshot: the books, the cursors and each journal record are shown, in text
 * and JSON, and reading changes nothing in the directory (no lock taken, no torn tail repaired).
 */
import { appendFile, cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Dec } from '../../src/domain/decimal.js';
import { createEngine, type Engine } from '../../src/engine/engine.js';
import { SimulatedExchange } from '../../src/exchange/simulated/exchange.js';
import { FileStateStore } from '../../src/store/file-store.js';
import { VirtualTimeline } from '../../src/streams/virtual-time.js';
import { fingerprint, runMain } from './helpers.js';

const T0 = Date.UTC(2026, 0, 5, 9);
let dir: string;
let store: FileStateStore;
let engine: Engine;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tesser-state-show-'));
  const tl = new VirtualTimeline(T0);
  const ex = new SimulatedExchange({ seed: 11, clock: tl.clock });
  store = await FileStateStore.open(dir);
  // No timer ever fires (time is not advanced): only the startup reconciliation runs and compacts the store.
  engine = createEngine({ exchange: ex, store, clock: tl.clock, scheduler: tl.scheduler });
  expect((await engine.start()).phase).toBe('running');
  const price = ex.price('ETH/USDT').times('0.97').toDecimalPlaces(2);
  await engine.placeOrder({
    clientOrderId: 'journaled-1',
    symbol: 'ETH/USDT',
    side: 'buy',
    type: 'limit',
    quantity: new Dec('0.25'),
    price,
  });
});

afterAll(async () => {
  await store?.close();
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
});

describe('state show beside a running engine', () => {
  it('shows the books, the lock, and the order journaled after the snapshot, one line per record', async () => {
    const before = await fingerprint(dir);
    expect(Object.keys(before)).toContain('lock');
    const r = await runMain(['state', 'show', dir]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`lock: held by pid ${process.pid}`));
    expect(r.stdout).toMatch(/journal\.jsonl: \d+ bytes, 2 record\(s\) after the snapshot/);
    expect(r.stdout).toMatch(/^ {2}exchange account: seed \d+ from \d+ on simulated$/m);
    expect(r.stdout).toMatch(/^\s+USDT\s+100000\s+\d+(\.\d+)?$/m);
    expect(r.stdout).toMatch(/^\s+journaled-1\s+1\s+ETH\/USDT\s+buy limit\s+0\.25\s/m);
    expect(r.stdout).toMatch(/^journal \(2 record\(s\) after the snapshot\):$/m);
    expect(r.stdout).toMatch(
      /^\s+1\. 2026-01-05T09:00:00\.000Z order submitted: journaled-1 buy 0\.25 ETH\/USDT @ [\d.]+, pending 0$/m,
    );
    expect(r.stdout).toMatch(
      /^\s+2\. 2026-01-05T09:00:00\.000Z order acknowledged: journaled-1 #1 buy 0\.25 ETH\/USDT @ [\d.]+, open 0$/m,
    );
    expect(await fingerprint(dir)).toEqual(before);
  });

  it('--json: one object with the portfolio and the raw journal records', async () => {
    const r = await runMain(['state', 'show', dir, '--json']);
    expect(r.code).toBe(0);
    const shown = JSON.parse(r.stdout) as {
      fresh: boolean;
      replayed: number;
      journal: { kind: string; event: string }[];
      portfolio: { balances: { asset: string; total: string }[]; orders: { clientOrderId: string; status: string }[] };
      files: { lockPid: string };
    };
    expect(shown.fresh).toBe(false);
    expect(shown.replayed).toBe(2);
    expect(shown.journal.map((j) => `${j.kind}:${j.event}`)).toEqual(['order:submitted', 'order:acknowledged']);
    expect(shown.portfolio.balances.find((b) => b.asset === 'USDT')?.total).toBe('100000');
    // The orders as objects, one per order (the state file saves them as a table).
    expect(shown.portfolio.orders.length).toBeGreaterThan(0);
    expect(shown.portfolio.orders.every((o) => typeof o.clientOrderId === 'string' && o.status !== undefined)).toBe(
      true,
    );
    expect(shown.files.lockPid).toBe(String(process.pid));
  });

  it('a torn last record is reported as a warning, and left in place', async () => {
    // What a crash in the middle of an append leaves: a record without its newline.
    await appendFile(join(dir, 'journal.jsonl'), '{"v":1,"seq":99,"crc":"0');
    const before = await fingerprint(dir);
    const r = await runMain(['state', 'show', dir]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/warning: .*journal\.jsonl:3: dropped a torn last record/);
    expect(await fingerprint(dir)).toEqual(before);
  });

  it('an empty directory is a fresh state', async () => {
    const empty = await mkdtemp(join(tmpdir(), 'tesser-state-empty-'));
    try {
      const r = await runMain(['state', 'show', empty]);
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/empty: nothing was ever saved here/);
    } finally {
      await rm(empty, { recursive: true, force: true });
    }
  });
});

describe('state show on a corrupt directory', () => {
  it('prints what it can read (the snapshot, the records before the bad line), names the bad file and line, exits 1', async () => {
    const copy = await mkdtemp(join(tmpdir(), 'tesser-state-corrupt-'));
    try {
      // The running engine's directory as it stands (snapshot + 2 journal records), with a third record that rotted.
      await cp(dir, copy, { recursive: true });
      await rm(join(copy, 'lock'), { force: true });
      const journal = (await readFile(join(copy, 'journal.jsonl'), 'utf8'))
        .split('\n')
        .filter((l) => l.startsWith('{"v":1,"seq":') && l.endsWith('}'));
      expect(journal.length).toBeGreaterThanOrEqual(2);
      await writeFile(
        join(copy, 'journal.jsonl'),
        `${journal.slice(0, 2).join('\n')}\n${journal[1]!.replace('"pending"', '"pendinX"').replace('"open"', '"opeX"')}\n`,
      );
      const before = await fingerprint(copy);
      const r = await runMain(['state', 'show', copy]);
      expect(r.code).toBe(1);
      expect(r.stdout).toMatch(/CORRUPT: .*journal\.jsonl:3: /);
      // What could be read: the snapshot's books and the two good records.
      expect(r.stdout).toMatch(/^\s+USDT\s+100000\s/m);
      expect(r.stdout).toMatch(/^journal \(2 record\(s\) after the snapshot\):$/m);
      expect(r.stdout).toMatch(/order acknowledged: journaled-1 #1/);
      expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(/^tesser-reconcile state show: corrupt state directory: .*journal\.jsonl:3: /);
      expect(await fingerprint(copy)).toEqual(before);
    } finally {
      await rm(copy, { recursive: true, force: true });
    }
  });
});

describe('journalLine', () => {
  it('counts what a delta record changed instead of printing it', async () => {
    const { journalLine } = await import('../../src/cli/state-show.js');
    const line = journalLine(
      {
        kind: 'delta',
        at: 1_700_000_000_000,
        portfolio: { orders: [{}, {}], appliedTrades: { added: [['BTC/USDT', '1']], size: 1 } },
        cursors: { trades: [['BTC/USDT', { since: 1, seenIds: [] }]] },
        lifecycle: { liquidateOnly: null },
      },
      0,
    );
    expect(line).toBe('  1. 2023-11-14T22:13:20.000Z delta: 2 orders, 1 trades, 1 trade cursors');
    expect(journalLine({ kind: 'delta', at: 1_700_000_000_000, lifecycle: { liquidateOnly: null } }, 1)).toContain(
      'delta: small parts only',
    );
  });
});
