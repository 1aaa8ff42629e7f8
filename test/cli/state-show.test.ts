/**
 * `tesser-reconcile state show` on the directory of an engine that is still running (its store open and locked),
 * with orders journaled after the last snapshot: the books, the cursors and each journal record are shown, in text
 * and JSON, and reading changes nothing in the directory (no lock taken, no torn tail repaired).
 */
import { createHash } from 'node:crypto';
import { appendFile, mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Dec } from '../../src/domain/decimal.js';
import { createEngine, type Engine } from '../../src/engine.js';
import { SimulatedExchange } from '../../src/exchange/simulated/exchange.js';
import { FileStateStore } from '../../src/store/file-store.js';
import { VirtualTimeline } from '../../src/streams/virtual-time.js';
import { runMain } from './helpers.js';

const T0 = Date.UTC(2026, 0, 5, 9);
let dir: string;
let store: FileStateStore;
let engine: Engine;

async function fingerprint(d: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const name of (await readdir(d)).sort()) out[name] = createHash('sha256').update(await readFile(join(d, name))).digest('hex');
  return out;
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tesser-state-show-'));
  const tl = new VirtualTimeline(T0);
  const ex = new SimulatedExchange({ seed: 11, clock: tl.clock });
  store = await FileStateStore.open(dir);
  // No timer ever fires (time is not advanced): only the startup reconciliation runs and compacts the store.
  engine = createEngine({ exchange: ex, store, clock: tl.clock, scheduler: tl.scheduler });
  expect((await engine.start()).phase).toBe('running');
  const price = ex.price('ETH/USDT').times('0.97').toDecimalPlaces(2);
  await engine.placeOrder({ clientOrderId: 'journaled-1', symbol: 'ETH/USDT', side: 'buy', type: 'limit', quantity: new Dec('0.25'), price });
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
    expect(r.stdout).toMatch(/^\s+USDT\s+100000\s+\d+(\.\d+)?$/m);
    expect(r.stdout).toMatch(/^\s+journaled-1\s+1\s+ETH\/USDT\s+buy limit\s+0\.25\s/m);
    expect(r.stdout).toMatch(/^journal \(2 record\(s\) after the snapshot\):$/m);
    expect(r.stdout).toMatch(/^\s+1\. 2026-01-05T09:00:00\.000Z order submitted: journaled-1 buy 0\.25 ETH\/USDT @ [\d.]+, pending 0$/m);
    expect(r.stdout).toMatch(/^\s+2\. 2026-01-05T09:00:00\.000Z order acknowledged: journaled-1 #1 buy 0\.25 ETH\/USDT @ [\d.]+, open 0$/m);
    expect(await fingerprint(dir)).toEqual(before);
  });

  it('--json: one object with the portfolio and the raw journal records', async () => {
    const r = await runMain(['state', 'show', dir, '--json']);
    expect(r.code).toBe(0);
    const shown = JSON.parse(r.stdout) as {
      fresh: boolean;
      replayed: number;
      journal: { kind: string; event: string }[];
      portfolio: { balances: { asset: string; total: string }[] };
      files: { lockPid: string };
    };
    expect(shown.fresh).toBe(false);
    expect(shown.replayed).toBe(2);
    expect(shown.journal.map((j) => `${j.kind}:${j.event}`)).toEqual(['order:submitted', 'order:acknowledged']);
    expect(shown.portfolio.balances.find((b) => b.asset === 'USDT')?.total).toBe('100000');
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
