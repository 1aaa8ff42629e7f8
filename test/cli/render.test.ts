/**
 * Text rendering, in process: word wrapping, table layout, relative times, and the report table built from a real
 * differ report and a plan (categories, what was done to each row, and why).
 */
import { describe, expect, it } from 'vitest';
import { Dec } from '../../src/domain/decimal.js';
import type { Fill, Order } from '../../src/domain/types.js';
import type { ReconciliationReport } from '../../src/differ/report.js';
import type { ActionOutcome } from '../../src/handlers/executor.js';
import type { Plan, PlanAction } from '../../src/handlers/plan.js';
import {
  REPORT_COLUMNS,
  actionLabel,
  relativeTime,
  renderReport,
  renderTable,
  reportRows,
  wrapText,
} from '../../src/cli/render.js';

const T = 1_767_603_600_000;
const TOL = { absolute: new Dec('0.00000001'), relative: new Dec('0.000001') };

function order(over: Partial<Order> & Pick<Order, 'clientOrderId'>): Order {
  return {
    exchangeOrderId: '1',
    symbol: 'BTC/USDT',
    side: 'buy',
    type: 'limit',
    quantity: new Dec('0.5'),
    price: new Dec('30000'),
    filledQuantity: new Dec('0'),
    status: 'open',
    createdAt: T,
    updatedAt: T,
    ...over,
  };
}

function fill(over: Partial<Fill> & Pick<Fill, 'tradeId' | 'exchangeOrderId'>): Fill {
  return {
    symbol: 'BTC/USDT',
    side: 'buy',
    quantity: new Dec('0.25'),
    price: new Dec('30000'),
    fee: new Dec('0'),
    feeAsset: 'USDT',
    timestamp: T,
    inferred: false,
    ...over,
  };
}

function emptyReport(over: Partial<ReconciliationReport> = {}): ReconciliationReport {
  return {
    snapshotStartedAt: T,
    snapshotCompletedAt: T,
    matched: [],
    ghosts: [],
    zombies: [],
    inFlight: [],
    positionDrifts: [],
    balanceDrifts: [],
    ...over,
  };
}

function plan(actions: PlanAction[], over: Partial<Plan> = {}): Plan {
  return {
    handler: 'runtime',
    mode: 'execute',
    outcome: 'ready',
    snapshotStartedAt: T,
    snapshotCompletedAt: T,
    plannedAt: T,
    actions,
    requestsUsed: 0,
    queriesUsed: 0,
    deferred: [],
    ...over,
  };
}

function done(actions: PlanAction[], status: ActionOutcome['status'] = 'done'): ActionOutcome[] {
  return actions.map((action, index) => ({ index, action, status }));
}

describe('wrapText', () => {
  it('breaks at spaces within the width', () => {
    expect(wrapText('the quick brown fox jumps', 10)).toEqual(['the quick', 'brown fox', 'jumps']);
  });
  it('cuts a word longer than the width without losing characters', () => {
    expect(wrapText('0.123456789012 x', 5)).toEqual(['0.123', '45678', '9012', 'x']);
    expect(wrapText('abcdefghij', 4).join('')).toBe('abcdefghij');
  });
  it('keeps explicit newlines and empty text', () => {
    expect(wrapText('a\nb', 10)).toEqual(['a', 'b']);
    expect(wrapText('', 10)).toEqual(['']);
  });
  it('refuses a width below 1', () => {
    expect(() => wrapText('x', 0)).toThrow(RangeError);
  });
});

describe('renderTable', () => {
  it('aligns columns under a header and a rule, wraps cells, trims line ends', () => {
    const text = renderTable(
      [{ header: 'name' }, { header: 'amount', align: 'right' }, { header: 'note', maxWidth: 8 }],
      [
        ['BTC', '2.05', 'short'],
        ['USDT', '99581.1', 'a longer note here'],
      ],
    );
    expect(text.split('\n')).toEqual([
      'name   amount  note',
      '----  -------  --------',
      'BTC      2.05  short',
      'USDT  99581.1  a longer',
      '               note',
      '               here',
    ]);
  });
  it('indents every line', () => {
    expect(
      renderTable([{ header: 'a' }], [['x']], '  ')
        .split('\n')
        .every((l) => l.startsWith('  ')),
    ).toBe(true);
  });
});

describe('relativeTime', () => {
  it('formats virtual offsets the same on every machine', () => {
    expect(relativeTime(0)).toBe('+0.000s');
    expect(relativeTime(2_500)).toBe('+2.500s');
    expect(relativeTime(65_250)).toBe('+1m05.250s');
    expect(relativeTime(-1_000)).toBe('-1.000s');
  });
});

describe('reportRows', () => {
  it('a ghost settled by its trades: one row with the fill and the close, and why', () => {
    const ghost = order({ clientOrderId: 's-1', exchangeOrderId: '7' });
    const actions: PlanAction[] = [
      {
        type: 'applyFill',
        cause: 'missedTrade',
        reason: 'trade t-3 of order s-1 not applied yet',
        fill: fill({ tradeId: 't-3', exchangeOrderId: '7', clientOrderId: 's-1', quantity: new Dec('0.5') }),
      },
      {
        type: 'closeOrder',
        cause: 'filledByTrades',
        reason: 'ghost s-1: its trades add up to its quantity',
        ref: { symbol: 'BTC/USDT', exchangeOrderId: '7' },
        status: 'filled',
        at: T,
      },
    ];
    const { rows, inSync } = reportRows({
      report: emptyReport({ ghosts: [{ local: ghost }] }),
      plan: plan(actions),
      outcomes: done(actions),
    });
    expect(inSync).toBe(0);
    expect(rows).toEqual([
      {
        category: 'ghost',
        subject: 's-1 BTC/USDT buy @ 30000',
        local: 'open 0/0.5',
        exchange: 'not open',
        action: 'apply fill 0.5 @ 30000; close as filled',
        reason: 'ghost s-1: its trades add up to its quantity',
      },
    ]);
  });

  it('several fills of one order fold into one label; failed outcomes are shown', () => {
    const local = order({ clientOrderId: 's-2', exchangeOrderId: '8' });
    const exchange = { ...local, filledQuantity: new Dec('0.5'), status: 'filled' as const };
    const actions: PlanAction[] = [
      { type: 'applyFill', cause: 'missedTrade', reason: 'r1', fill: fill({ tradeId: 't-1', exchangeOrderId: '8' }) },
      { type: 'applyFill', cause: 'missedTrade', reason: 'r2', fill: fill({ tradeId: 't-2', exchangeOrderId: '8' }) },
    ];
    const outcomes: ActionOutcome[] = [
      { index: 0, action: actions[0]!, status: 'done' },
      { index: 1, action: actions[1]!, status: 'rejected' },
    ];
    const report = emptyReport({
      matched: [
        { matchedBy: 'exchangeOrderId', local, exchange, differences: { filledDelta: new Dec('0.5') }, differs: true },
      ],
    });
    const [row] = reportRows({ report, plan: plan(actions), outcomes }).rows;
    expect(row).toMatchObject({
      category: 'matched',
      local: 'open 0/0.5',
      exchange: 'filled 0.5/0.5',
      action: 'apply 2 fills (0.5) (rejected)',
    });
  });

  it('orders in sync are counted, not listed; a zombie and an in-flight order are', () => {
    const same = order({ clientOrderId: 'same', exchangeOrderId: '1' });
    const zombie = order({
      clientOrderId: 'manual-1',
      exchangeOrderId: '9',
      symbol: 'ETH/USDT',
      price: new Dec('1900'),
    });
    const young = order({ clientOrderId: 's-5', exchangeOrderId: undefined, status: 'pending' });
    const actions: PlanAction[] = [
      { type: 'adoptOrder', cause: 'zombiePolicy', reason: 'order 9 is not ours; policy adopt', order: zombie },
    ];
    const report = emptyReport({
      matched: [
        {
          matchedBy: 'exchangeOrderId',
          local: same,
          exchange: same,
          differences: { filledDelta: new Dec(0) },
          differs: false,
        },
      ],
      zombies: [{ exchange: zombie }],
      inFlight: [{ local: young, reason: 'unacknowledged' }],
    });
    const { rows, inSync } = reportRows({ report, plan: plan(actions), outcomes: done(actions) });
    expect(inSync).toBe(1);
    expect(rows.map((r) => [r.category, r.action])).toEqual([
      ['zombie', 'adopt'],
      ['in flight', 'wait'],
    ]);
    expect(rows[0]!.local).toBe('not tracked');
    expect(rows[1]!.reason).toMatch(/no answer from the exchange yet/);
  });

  it('drifts say what answered them: a hard reset, fills, liquidate-only, or nothing yet', () => {
    const position = {
      symbol: 'BTC/USDT:USDT',
      local: new Dec('0.2'),
      exchange: new Dec('0'),
      delta: new Dec('-0.2'),
      tolerance: TOL,
      beyondTolerance: true,
    };
    const balance = {
      asset: 'USDT',
      local: new Dec('100'),
      exchange: new Dec('90'),
      delta: new Dec('-10'),
      tolerance: TOL,
      beyondTolerance: true,
    };
    const report = emptyReport({ positionDrifts: [position], balanceDrifts: [balance] });

    const watch = reportRows({ report, plan: plan([]), outcomes: [] }).rows;
    expect(watch.map((r) => [r.category, r.subject, r.local, r.exchange, r.action])).toEqual([
      ['position', 'BTC/USDT:USDT', '0.2', '0', 'watch'],
      ['balance', 'USDT', '100', '90', 'watch'],
    ]);

    const enter: PlanAction = {
      type: 'enterLiquidateOnly',
      cause: 'unexplainedDrift',
      reason: 'drift no fill or funding explains',
      drifts: [
        {
          kind: 'position',
          key: 'BTC/USDT:USDT',
          local: new Dec('0.2'),
          exchange: new Dec('0'),
          delta: new Dec('-0.2'),
          cycles: 2,
        },
      ],
    };
    const entering = reportRows({
      report,
      plan: plan([enter]),
      outcomes: done([enter], 'noted'),
      mode: 'running',
    }).rows;
    expect(entering[0]).toMatchObject({
      action: 'enter liquidate-only',
      reason: 'no fill or funding explains it, 2 cycles in a row',
    });
    expect(entering.at(-1)).toMatchObject({ category: 'lifecycle', action: 'enter liquidate-only' });
    // Already in liquidate-only: the request only keeps it, and no lifecycle row repeats the drift rows.
    const staying = reportRows({
      report,
      plan: plan([enter]),
      outcomes: done([enter], 'noted'),
      mode: 'liquidateOnly',
    }).rows;
    expect(staying[0]!.action).toBe('stay in liquidate-only');
    expect(staying.some((r) => r.category === 'lifecycle')).toBe(false);

    const liq: PlanAction = {
      type: 'applyFill',
      cause: 'untrackedTrade',
      reason: 'trade t-4 of order 9, which we do not track',
      fill: fill({
        tradeId: 't-4',
        exchangeOrderId: '9',
        clientOrderId: 'liquidation-1',
        symbol: 'BTC/USDT:USDT',
        side: 'sell',
        quantity: new Dec('0.2'),
      }),
    };
    const repaired = reportRows({ report, plan: plan([liq]), outcomes: done([liq]) }).rows;
    expect(repaired.map((r) => r.action)).toEqual([
      'fills/funding applied',
      'fills/funding applied',
      'apply fill 0.2 @ 30000',
    ]);
    expect(repaired[2]).toMatchObject({
      category: 'trade',
      subject: 't-4 BTC/USDT:USDT',
      exchange: 'sell 0.2 @ 30000 (liquidation-1)',
    });

    const rebuild: PlanAction = {
      type: 'rebuildPortfolio',
      cause: 'startupHardReset',
      reason: 'boot',
      instruments: [],
      positions: [],
      balances: [],
      orderUpdates: [],
      recordTrades: [],
    };
    const reset = reportRows({ report, plan: plan([rebuild], { handler: 'startup' }), outcomes: done([rebuild]) }).rows;
    expect(reset.map((r) => r.action)).toEqual([
      'hard reset from exchange',
      'hard reset from exchange',
      'hard reset from exchange',
    ]);
    expect(reset[2]!.category).toBe('books');
  });

  it('history cursor moves are left out of the table', () => {
    const cursor: PlanAction = {
      type: 'advanceTradeCursor',
      cause: 'historyCursor',
      reason: 'x',
      symbol: 'BTC/USDT',
      cursor: { since: T, seenIds: [] },
    };
    expect(reportRows({ report: emptyReport(), plan: plan([cursor]), outcomes: done([cursor]) }).rows).toEqual([]);
    expect(actionLabel(cursor)).toBe('advance history cursor');
  });
});

describe('renderReport', () => {
  it('a clean report is one line', () => {
    expect(renderReport({ report: emptyReport(), plan: plan([]), outcomes: [] })).toBe(
      '  no drift; 0 open orders in sync',
    );
  });
  it('a report with rows is a table with every column', () => {
    const ghost = order({ clientOrderId: 's-1' });
    const text = renderReport({ report: emptyReport({ ghosts: [{ local: ghost }] }), plan: plan([]), outcomes: [] });
    const header = text.split('\n')[0]!;
    for (const c of REPORT_COLUMNS) expect(header).toContain(c.header);
    expect(text).toMatch(/ghost\s+s-1 BTC\/USDT buy @ 30000\s+open 0\/0\.5\s+not open\s+wait for confirmation/);
  });
});
