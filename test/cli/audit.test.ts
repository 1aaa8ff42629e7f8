/**
 * `tesser-reconcile audit`, run in process through `main()` (ccxt loads once per test file, not once per case: each
 * child process used to spend ~4 s of CPU loading it), against the loopback Binance emulator, backed by a SimulatedExchange
 * in this process: it reports the drift (a ghost, a zombie, balances) and the plan, and it changes nothing: no
 * mutating call reaches the emulator or the exchange behind it, and the state directory is left byte for byte.
 * Also its failures: a missing key, a refused key, an unreachable exchange, a non-loopback --url, a corrupt dir.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { VirtualClock } from '../../src/domain/clock.js';
import { createEngine } from '../../src/engine/engine.js';
import { SimulatedExchange } from '../../src/exchange/simulated/exchange.js';
import { FileStateStore } from '../../src/store/file-store.js';
import { AUDIT_SYMBOLS, prepareAuditScenario } from '../support/binance-emulator/audit-scenario.js';
import type { BinanceEmulator } from '../support/binance-emulator/server.js';
import { fingerprint, runMain } from './helpers.js';

const SYMBOLS = [...AUDIT_SYMBOLS];

let dir: string;
let ex: SimulatedExchange;
let emu: BinanceEmulator;
let ghostId: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tesser-audit-'));
  ({ emu, ex, ghostId } = await prepareAuditScenario({ dir }));
}, 60_000);

afterAll(async () => {
  await emu?.close();
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
});

const keys = (): Record<string, string> => ({ TESSER_API_KEY: emu.apiKey, TESSER_API_SECRET: 'emulator-secret' });

// Every case reads the same directory (reads only) through its own ccxt client: they run side by side.
describe.concurrent('audit against the emulator', () => {
  it('reports the ghost, the zombie and the balance drift, and calls no mutating method', async () => {
    const before = await fingerprint(dir);
    const requestsBefore = emu.requests.length;
    const callsBefore = ex.callLog().length;
    const r = await runMain(
      ['audit', '--exchange', 'binance', '--state', dir, '--url', emu.url, '--symbols', SYMBOLS.join(',')],
      { env: keys() },
    );
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/report-only/);
    expect(r.stdout).toMatch(/ghost\s+rest-1 BTC\/USDT buy/);
    expect(r.stdout).toMatch(/zombie\s+manual-1 ETH\/USDT buy/);
    expect(r.stdout).toMatch(/balance\s+BTC\s/);
    expect(r.stdout).toMatch(/summary: .*1 ghosts, 1 zombies/);

    const requests = emu.requests.slice(requestsBefore);
    expect(requests.length).toBeGreaterThan(0);
    expect(requests.filter((q) => q.method !== 'GET')).toEqual([]);
    const calls = ex.callLog().slice(callsBefore);
    expect(calls.length).toBeGreaterThan(0);
    expect(calls.filter((c) => c.method === 'placeOrder' || c.method === 'cancelOrder' || c.effect)).toEqual([]);
    expect(emu.unexpected).toEqual([]);
    // No lock file left behind, no byte changed.
    expect(await fingerprint(dir)).toEqual(before);
  }, 120_000);

  it('--json: one object per line, the plan in report-only mode, amounts as strings', async () => {
    const requestsBefore = emu.requests.length;
    const r = await runMain(['audit', '--exchange', 'binance', '--state', dir, '--url', emu.url, '--json'], {
      env: keys(),
    });
    expect(r.code).toBe(0);
    const lines = r.stdout
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines[0]).toMatchObject({ type: 'audit', exchange: 'binance', mode: 'reportOnly' });
    // Without --symbols, the instruments of the saved portfolio are audited.
    expect([...(lines[0]!.symbols as string[])].sort()).toEqual([...SYMBOLS].sort());
    const report = lines.find((l) => l.type === 'report') as {
      report: { ghosts: { local: { exchangeOrderId: string } }[]; balanceDrifts: { local: unknown }[] };
    };
    expect(report.report.ghosts.map((g) => g.local.exchangeOrderId)).toEqual([ghostId]);
    expect(report.report.balanceDrifts.every((d) => typeof d.local === 'string')).toBe(true);
    const actions = lines.filter((l) => l.type === 'action');
    expect(actions.length).toBeGreaterThan(0);
    expect(actions.every((a) => a.outcome === 'skipped')).toBe(true);
    expect(emu.requests.slice(requestsBefore).filter((q) => q.method !== 'GET')).toEqual([]);
  }, 120_000);
});

describe.concurrent('audit failures: one line on stderr, exit code', () => {
  it('a missing key env var is a usage error (2), before any network', async () => {
    const r = await runMain(['audit', '--exchange', 'binance', '--state', dir, '--url', emu.url], {
      env: { TESSER_API_KEY: 'k' },
    });
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/missing credentials: set TESSER_API_SECRET in the environment/);
    expect(r.stdout).toBe('');
  });

  it('a key on the command line is refused (2), and never echoed', async () => {
    const r = await runMain(['audit', '--exchange', 'binance', '--state', dir, '--api-key', 'sekrit-value'], {
      env: keys(),
    });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--api-key is not accepted: API credentials are read from the environment only/);
    expect(r.stderr).not.toMatch(/sekrit-value/);
  });

  it('a refused key is a runtime failure (1), without a stack trace', async () => {
    const r = await runMain(['audit', '--exchange', 'binance', '--state', dir, '--url', emu.url], {
      env: { TESSER_API_KEY: 'wrong', TESSER_API_SECRET: 's' },
    });
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/^tesser-reconcile audit: exchange refused the credentials \(auth\)/);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  }, 120_000);

  it('an unreachable exchange is a runtime failure (1): the one-line message first, the stack only with --verbose', async () => {
    const r = await runMain(
      ['audit', '--exchange', 'binance', '--state', dir, '--url', 'http://127.0.0.1:9', '--verbose'],
      { env: keys() },
    );
    expect(r.code).toBe(1);
    expect(r.stderr.split('\n')[0]).toMatch(/^tesser-reconcile audit: exchange unreachable \(network\): /);
    expect(r.stderr).toMatch(/\n\s+at /);
  }, 120_000);

  it('a --url off loopback is a usage error (2): keys never go to another host', async () => {
    const r = await runMain(['audit', '--exchange', 'binance', '--state', dir, '--url', 'https://api.binance.com'], {
      env: keys(),
    });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--url must be an http\(s\) URL on a loopback host/);
  });

  it('an unsupported exchange id is a usage error (2)', async () => {
    // paymium has no open-orders or trade-history method in ccxt (docs/exchanges.md); nosuch is no ccxt id at all.
    for (const id of ['paymium', 'nosuch']) {
      const r = await runMain(['audit', '--exchange', id, '--state', dir, '--url', emu.url], { env: keys() });
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(new RegExp(`--exchange ${id} is not supported \\(see docs/exchanges.md`));
    }
  }, 120_000);

  it('a corrupt state directory is a runtime failure (1) naming the file, and is not touched', async () => {
    const bad = await mkdtemp(join(tmpdir(), 'tesser-audit-bad-'));
    try {
      await writeFile(join(bad, 'snapshot.json'), '{"v":1,"journalSeq":0,"crc":"00000000","state":{}}\n');
      const before = await fingerprint(bad);
      const r = await runMain(['audit', '--exchange', 'binance', '--state', bad, '--url', emu.url], { env: keys() });
      expect(r.code).toBe(1);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(/corrupt state directory: .*snapshot\.json:1: snapshot checksum mismatch/);
      expect(await fingerprint(bad)).toEqual(before);
    } finally {
      await rm(bad, { recursive: true, force: true });
    }
  });

  it('a state directory of another exchange account is refused (1), named, and not touched', async () => {
    const other = await mkdtemp(join(tmpdir(), 'tesser-audit-other-'));
    try {
      // Written by an engine on the simulated exchange directly: venue `simulated`, not `binance`.
      const store = await FileStateStore.open(other);
      const clock = new VirtualClock(Date.UTC(2026, 0, 5));
      const engine = createEngine({
        exchange: new SimulatedExchange({ seed: 4, clock }),
        store,
        clock,
        intervalMs: 3_600_000,
      });
      expect((await engine.start()).phase).toBe('running');
      await engine.stop();
      await store.close();
      const before = await fingerprint(other);
      const r = await runMain(
        ['audit', '--exchange', 'binance', '--state', other, '--url', emu.url, '--symbols', 'BTC/USDT'],
        { env: keys() },
      );
      expect(r.code).toBe(1);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(
        /belongs to account .* on simulated, but the exchange client is account key:[0-9a-f]{16} on binance/,
      );
      expect(r.stderr).not.toContain(emu.apiKey);
      expect(await fingerprint(other)).toEqual(before);
    } finally {
      await rm(other, { recursive: true, force: true });
    }
  }, 120_000);
});
