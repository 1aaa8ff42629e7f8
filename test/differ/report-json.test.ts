import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Dec } from '../../src/domain/decimal.js';
import { ParseError } from '../../src/domain/errors.js';
import type { Order } from '../../src/domain/types.js';
import { diff } from '../../src/differ/diff.js';
import { reportFromJSON, reportToJSON, type ReconciliationReportJSON } from '../../src/differ/report-json.js';
import { arbDiffInputs } from '../support/arbitraries.js';

const T0 = 1_700_000_000_000;
const order = (p: Partial<Order> = {}): Order => ({
  clientOrderId: 'c1',
  exchangeOrderId: 'x1',
  symbol: 'BTC/USDT',
  side: 'buy',
  type: 'limit',
  quantity: new Dec('2'),
  price: new Dec('100'),
  filledQuantity: new Dec('0'),
  status: 'open',
  createdAt: T0 - 60_000,
  updatedAt: T0 - 60_000,
  ...p,
});

/** A report with an entry in every category. */
function sampleReport() {
  return diff(
    {
      orders: [
        order({ filledQuantity: new Dec('0.5') }),
        order({ clientOrderId: 'g', exchangeOrderId: 'xg' }),
        order({ clientOrderId: 'p', exchangeOrderId: undefined, status: 'pending', type: 'market', price: undefined }),
      ],
      positions: [{ symbol: 'BTC/USDT:USDT', quantity: new Dec('1'), entryPrice: new Dec('100') }],
      balances: [{ asset: 'USDT', total: new Dec('1000'), free: new Dec('1000') }],
    },
    {
      openOrders: [
        order({ filledQuantity: new Dec('1.25'), price: new Dec('101') }),
        order({ clientOrderId: 'z', exchangeOrderId: 'xz' }),
      ],
      positions: [{ symbol: 'BTC/USDT:USDT', quantity: new Dec('-0.5'), entryPrice: new Dec('100') }],
      balances: [{ asset: 'USDT', total: new Dec('999.99999999'), free: new Dec('999') }],
      startedAt: T0,
      completedAt: T0 + 250,
    },
  );
}

const viaText = (j: ReconciliationReportJSON): Record<string, unknown> =>
  JSON.parse(JSON.stringify(j)) as Record<string, unknown>;

function parseErrorOf(f: () => unknown): ParseError {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(ParseError);
    return e as ParseError;
  }
  throw new Error('expected a ParseError');
}

describe('reportToJSON', () => {
  it('writes the documented shape with amounts as strings', () => {
    const j = reportToJSON(sampleReport());
    expect(j.version).toBe(1);
    expect([j.snapshotStartedAt, j.snapshotCompletedAt]).toEqual([T0, T0 + 250]);
    expect(j.matched[0]).toMatchObject({
      matchedBy: 'exchangeOrderId',
      differences: { filledDelta: '0.75', price: { local: '100', exchange: '101' } },
      differs: true,
      withinGrace: false,
    });
    expect(j.matched[0]!.local.filledQuantity).toBe('0.5');
    expect(j.ghosts.map((g) => g.local.clientOrderId)).toEqual(['g']);
    expect(j.zombies.map((z) => z.exchange.clientOrderId)).toEqual(['z']);
    expect(j.inFlight).toEqual([{ local: expect.objectContaining({ clientOrderId: 'p' }), reason: 'unacknowledged' }]);
    expect(j.positionDrifts).toEqual([
      {
        symbol: 'BTC/USDT:USDT',
        local: '1',
        exchange: '-0.5',
        delta: '-1.5',
        tolerance: { absolute: '0.00000001', relative: '0.000001' },
        beyondTolerance: true,
      },
    ]);
    expect(j.balanceDrifts[0]).toMatchObject({ asset: 'USDT', delta: '-0.00000001', beyondTolerance: false });
  });
  it('contains no numbers other than timestamps and no undefined values', () => {
    const text = JSON.stringify(reportToJSON(sampleReport()));
    const numbers = [...text.matchAll(/"(\w+)":(-?\d)/g)].map((m) => m[1]);
    expect(new Set(numbers)).toEqual(
      new Set(['snapshotStartedAt', 'snapshotCompletedAt', 'createdAt', 'updatedAt', 'version']),
    );
    expect(text).not.toContain('undefined');
  });
  it('serializes a missing price in a difference as null', () => {
    const r = diff(
      { orders: [order({ type: 'market', price: undefined })], positions: [], balances: [] },
      { openOrders: [order()], positions: [], balances: [], startedAt: T0, completedAt: T0 },
    );
    expect(reportToJSON(r).matched[0]!.differences.price).toEqual({ local: null, exchange: '100' });
    expect(reportFromJSON(viaText(reportToJSON(r)))).toEqual(r);
  });
});

describe('reportFromJSON', () => {
  it('reads back exactly what was written, through JSON text', () => {
    const r = sampleReport();
    expect(reportFromJSON(viaText(reportToJSON(r)))).toEqual(r);
  });
  it('round-trips any report (property)', () => {
    fc.assert(
      fc.property(
        arbDiffInputs({ time: { min: T0 - 7_200_000, max: T0 }, startedAt: T0 }),
        ({ local, snapshot, grace }) => {
          const r = diff(local, snapshot, { inFlightGraceMs: grace });
          const text = JSON.stringify(reportToJSON(r));
          const back = reportFromJSON(JSON.parse(text));
          expect(back).toEqual(r);
          expect(JSON.stringify(reportToJSON(back))).toBe(text);
        },
      ),
      { numRuns: 1_000 },
    );
  });
  it('rejects an unknown version', () => {
    const j = { ...viaText(reportToJSON(sampleReport())), version: 2 };
    expect(parseErrorOf(() => reportFromJSON(j)).path).toBe('report.version');
  });
  it('rejects amounts written as numbers, naming the path', () => {
    const j = viaText(reportToJSON(sampleReport())) as unknown as ReconciliationReportJSON;
    (j.positionDrifts[0] as unknown as Record<string, unknown>).delta = -1.5;
    const e = parseErrorOf(() => reportFromJSON(j));
    expect([e.code, e.path, e.value]).toEqual(['invalid_type', 'report.positionDrifts[0].delta', -1.5]);
  });
  it('rejects a delta that is not exchange − local, and a beyondTolerance that contradicts the tolerance', () => {
    const j = viaText(reportToJSON(sampleReport())) as unknown as ReconciliationReportJSON;
    j.positionDrifts[0]!.delta = '-1';
    expect(parseErrorOf(() => reportFromJSON(j))).toMatchObject({
      code: 'inconsistent',
      path: 'report.positionDrifts[0].delta',
    });
    const k = viaText(reportToJSON(sampleReport())) as unknown as ReconciliationReportJSON;
    k.balanceDrifts[0]!.beyondTolerance = true;
    expect(parseErrorOf(() => reportFromJSON(k))).toMatchObject({
      code: 'inconsistent',
      path: 'report.balanceDrifts[0].beyondTolerance',
    });
  });
  it('rejects a filledDelta or differs flag that contradicts the orders', () => {
    const j = viaText(reportToJSON(sampleReport())) as unknown as ReconciliationReportJSON;
    j.matched[0]!.differences.filledDelta = '0.5';
    expect(parseErrorOf(() => reportFromJSON(j))).toMatchObject({
      code: 'inconsistent',
      path: 'report.matched[0].differences.filledDelta',
    });
    const k = viaText(reportToJSON(sampleReport())) as unknown as ReconciliationReportJSON;
    k.matched[0]!.differs = false;
    expect(parseErrorOf(() => reportFromJSON(k))).toMatchObject({
      code: 'inconsistent',
      path: 'report.matched[0].differs',
    });
  });
  it('rejects bad enums and bad orders inside entries', () => {
    const j = viaText(reportToJSON(sampleReport())) as unknown as ReconciliationReportJSON;
    (j.inFlight[0] as { reason: string }).reason = 'late';
    expect(parseErrorOf(() => reportFromJSON(j)).path).toBe('report.inFlight[0].reason');
    const k = viaText(reportToJSON(sampleReport())) as unknown as ReconciliationReportJSON;
    k.ghosts[0]!.local.quantity = 'NaN';
    expect(parseErrorOf(() => reportFromJSON(k)).path).toBe('report.ghosts[0].local.quantity');
    expect(parseErrorOf(() => reportFromJSON(null)).path).toBe('report');
  });
});
