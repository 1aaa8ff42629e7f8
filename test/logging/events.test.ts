/**
 * Tests of the structured reconciliation log lines: exactly one line per report (level by drift, counts, drift
 * amounts as exact strings, bounded id lists) and one per action, always with its reason.
 */
import { describe, expect, it } from 'vitest';
import { Dec } from '../../src/domain/decimal.js';
import type { Order } from '../../src/domain/types.js';
import type { ReconciliationReport } from '../../src/differ/report.js';
import { MAX_IDS_PER_LINE, logAction, logReport } from '../../src/logging/events.js';
import { createMemoryLogger } from '../../src/logging/logger.js';

const order = (id: string): Order => ({
  clientOrderId: `c-${id}`,
  exchangeOrderId: `x-${id}`,
  symbol: 'BTC/USDT',
  side: 'buy',
  type: 'limit',
  quantity: new Dec('1'),
  price: new Dec('100'),
  filledQuantity: new Dec('0'),
  status: 'open',
  createdAt: 0,
  updatedAt: 0,
});

const tol = { absolute: new Dec('0.0001'), relative: new Dec('0') };

function report(over: Partial<ReconciliationReport> = {}): ReconciliationReport {
  return {
    snapshotStartedAt: 10,
    snapshotCompletedAt: 20,
    matched: [],
    ghosts: [],
    zombies: [],
    inFlight: [],
    positionDrifts: [],
    balanceDrifts: [],
    ...over,
  };
}

describe('logReport', () => {
  it('writes one info line for a clean report', () => {
    const { logger, lines } = createMemoryLogger();
    logReport(logger, report(), { phase: 'runtime', cycle: 4, mode: 'running' });
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({
      level: 30,
      event: 'reconciliation.report',
      phase: 'runtime',
      cycle: 4,
      mode: 'running',
      drift: false,
      driftBeyondTolerance: false,
    });
    expect((lines[0] as any).summary.ghosts).toBe(0);
  });

  it('writes one warn line with exact drift amounts and bounded id lists when drift is beyond tolerance', () => {
    const { logger, lines } = createMemoryLogger();
    const ghosts = Array.from({ length: MAX_IDS_PER_LINE + 5 }, (_, i) => ({ local: order(String(i)) }));
    logReport(
      logger,
      report({
        ghosts,
        zombies: [{ exchange: order('z') }],
        positionDrifts: [
          {
            symbol: 'BTC/USDT',
            local: new Dec('0.1'),
            exchange: new Dec('0.30000000000000000001'),
            delta: new Dec('0.20000000000000000001'),
            tolerance: tol,
            beyondTolerance: true,
          },
        ],
      }),
      { phase: 'startup' },
    );
    expect(lines).toHaveLength(1);
    const line = lines[0] as any;
    expect(line.level).toBe(40);
    expect(line.driftBeyondTolerance).toBe(true);
    expect(line.ghosts).toMatchObject({ count: MAX_IDS_PER_LINE + 5, truncated: true });
    expect(line.ghosts.ids).toHaveLength(MAX_IDS_PER_LINE);
    expect(line.zombies.ids).toEqual(['x-z']);
    expect(line.positionDrifts[0]).toEqual({
      symbol: 'BTC/USDT',
      local: '0.1',
      exchange: '0.30000000000000000001',
      delta: '0.20000000000000000001',
      beyondTolerance: true,
    });
    expect(line.msg).toContain(`${MAX_IDS_PER_LINE + 5} ghosts`);
  });
});

describe("logReport with the runtime plan's unexplained drift", () => {
  const drifting = report({
    positionDrifts: [
      {
        symbol: 'BTC/USDT',
        local: new Dec('0.1'),
        exchange: new Dec('0.3'),
        delta: new Dec('0.2'),
        tolerance: tol,
        beyondTolerance: true,
      },
    ],
  });

  it('info when the plan explains every drift beyond tolerance (our own fill, read before its trade was applied)', () => {
    const { logger, lines } = createMemoryLogger();
    logReport(logger, drifting, { phase: 'runtime', cycle: 2, unexplainedDrift: [] });
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ level: 30, driftBeyondTolerance: true, driftUnexplained: [] });
  });

  it('warn when some is left unexplained, listing it', () => {
    const { logger, lines } = createMemoryLogger();
    logReport(logger, drifting, { phase: 'runtime', cycle: 2, unexplainedDrift: ['position:BTC/USDT'] });
    expect(lines[0]).toMatchObject({ level: 40, driftBeyondTolerance: true, driftUnexplained: ['position:BTC/USDT'] });
  });

  it('without a plan to say (a startup, an unreachable exchange): warn on drift beyond tolerance, no driftUnexplained', () => {
    const { logger, lines } = createMemoryLogger();
    logReport(logger, drifting, { phase: 'runtime', cycle: 2 });
    expect(lines[0]).toMatchObject({ level: 40, driftBeyondTolerance: true });
    expect(lines[0]).not.toHaveProperty('driftUnexplained');
  });
});

describe('logAction', () => {
  it('writes one line per action with its reason and outcome; failures at error level', () => {
    const { logger, lines } = createMemoryLogger();
    logAction(logger, { action: 'cancelZombie', reason: 'zombie policy cancel', symbol: 'BTC/USDT', orderId: 'x-1' });
    logAction(logger, { action: 'cancelZombie', reason: 'zombie policy cancel', outcome: 'dryRun' });
    logAction(logger, {
      action: 'applyFill',
      reason: 'ghost filled while away',
      outcome: 'failed',
      error: new Error('boom'),
      details: { tradeId: 't1', quantity: '0.5' },
    });
    expect(lines).toHaveLength(3);
    expect(lines[0]).toMatchObject({
      level: 30,
      event: 'reconciliation.action',
      action: 'cancelZombie',
      reason: 'zombie policy cancel',
      outcome: 'done',
      symbol: 'BTC/USDT',
      orderId: 'x-1',
    });
    expect(lines[1]).toMatchObject({ outcome: 'dryRun', msg: 'cancelZombie (dryRun): zombie policy cancel' });
    expect(lines[2]).toMatchObject({
      level: 50,
      outcome: 'failed',
      details: { tradeId: 't1', quantity: '0.5' },
      err: { type: 'Error', message: 'boom' },
    });
  });
});
