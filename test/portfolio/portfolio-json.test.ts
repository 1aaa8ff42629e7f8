import { describe, expect, it } from 'vitest';
import { ParseError } from '../../src/domain/errors.js';
import { inferredTradeId } from '../../src/domain/types.js';
import { splitScopedKey, tradeKey } from '../../src/domain/ids.js';
import { fundingPaymentToJSON, orderToJSON } from '../../src/domain/parse.js';
import { Portfolio } from '../../src/portfolio/portfolio.js';
import {
  ORDER_COLUMNS,
  orderRow,
  orderTableObjects,
  parsePortfolioJSON,
  type OrderTableJSON,
  type PortfolioJSON,
  type TrackedOrderJSON,
} from '../../src/portfolio/portfolio-json.js';
import { Dec } from '../../src/domain/decimal.js';
import { BTC_PERP, BTC_SPOT, ETH_SPOT, INSTRUMENTS, asVersion3, d, fill, funding, order } from './fixtures.js';

/** A persisted portfolio with something in every field, including a replay log. */
function sample(): PortfolioJSON {
  const p = Portfolio.create({
    instruments: INSTRUMENTS,
    balances: [{ asset: 'USDT', free: d('1000'), total: d('1000') }],
    orders: [
      order({ clientOrderId: 'c1', exchangeOrderId: 'o1', symbol: BTC_PERP.symbol, side: 'buy', q: '2', px: '100' }),
    ],
  });
  p.applyFill(
    fill({
      tradeId: inferredTradeId(BTC_PERP.symbol, 'o1', d('1')),
      exchangeOrderId: 'o1',
      symbol: BTC_PERP.symbol,
      side: 'buy',
      q: '1',
      px: '100',
      inferred: true,
    }),
  );
  p.applyFill(
    fill({ tradeId: 'm1', exchangeOrderId: 'manual', symbol: BTC_PERP.symbol, side: 'sell', q: '0.5', px: '101' }),
  );
  p.applyFunding(funding('f1', '-0.25'));
  p.markToMarket(new Map([[BTC_PERP.symbol, d('103')]]));
  const j = JSON.parse(JSON.stringify(p.toJSON())) as PortfolioJSON;
  // Builds before the late-trade window logged funding payments too (behind a standing inferred fill): still read.
  j.replayLog.push({ funding: fundingPaymentToJSON(funding('f0', '-0.5')) });
  return j;
}

/** A portfolio file with its orders as a list of objects (as version 3 wrote them), to edit in a test. */
type OrderList = Omit<PortfolioJSON, 'orders'> & { orders: TrackedOrderJSON[] };

/** `j` with its orders written back as a table (version 4). */
function table(j: OrderList): PortfolioJSON {
  return { ...j, orders: { columns: [...ORDER_COLUMNS], rows: j.orders.map((o) => orderRow(o, ORDER_COLUMNS)) } };
}

function expectParseError(mutate: (j: Record<string, unknown>) => void, path: string): void {
  const j = sample() as unknown as Record<string, unknown>;
  mutate(j);
  let caught: unknown;
  try {
    Portfolio.fromJSON(j);
  } catch (e) {
    caught = e;
  }
  expect(caught).toBeInstanceOf(ParseError);
  expect((caught as ParseError).path).toBe(path);
}

describe('PortfolioJSON', () => {
  it('is versioned, keeps amounts as strings, and round-trips through JSON text', () => {
    const j = sample();
    expect(j.version).toBe(4);
    expect(j.replayLog.map((e) => Object.keys(e)[0])).toEqual(['fill', 'fill', 'funding']);
    expect(typeof j.peakEquity).toBe('string');
    expect(j.balances.every((b) => typeof b.total === 'string')).toBe(true);
    expect(Portfolio.fromJSON(j).toJSON()).toEqual(j);
  });

  it('refuses an unknown version', () => {
    expectParseError((j) => (j.version = 5), 'portfolio.version');
    expectParseError((j) => delete j.version, 'portfolio.version');
  });

  it('writes applied trades as trade keys (version 3) and reads version 2, whose pairs hold the same trades', () => {
    const j = sample();
    expect(j.appliedTrades.length).toBeGreaterThan(1);
    expect(j.appliedTrades.every((k) => splitScopedKey(k) !== undefined)).toBe(true);
    const v2 = {
      ...j,
      version: 2,
      orders: orderTableObjects(j.orders),
      appliedTrades: j.appliedTrades.map((k) => {
        const { symbol, id } = splitScopedKey(k)!;
        return [symbol, id];
      }),
    };
    const p = Portfolio.fromJSON(JSON.parse(JSON.stringify(v2)));
    expect(p.preservedMetrics().appliedTrades).toEqual(Portfolio.fromJSON(j).preservedMetrics().appliedTrades);
    expect(p.toJSON()).toEqual(j);
    // Each version reads its own form only.
    expectParseError((x) => (x.appliedTrades = v2.appliedTrades as never), 'portfolio.appliedTrades[0]');
    expectParseError((x) => ((x.version as number) = 2), 'portfolio.appliedTrades[0]');
  });

  it('refuses an applied trade key that is not one as written', () => {
    const bad = (key: unknown) => (j: Record<string, unknown>) => ((j.appliedTrades as unknown[])[1] = key);
    const [, second] = sample().appliedTrades;
    const { symbol, id } = splitScopedKey(second!)!;
    // A leading zero in the length (the same trade, spelled so it would count twice), a length that does not fit, a
    // blank symbol or id, no key at all.
    for (const key of [
      `0${second!}`,
      `${symbol.length + 1}:${symbol}:${id}`,
      `1: :${id}`,
      `${second!.split(':')[0]}:${symbol}:`,
    ])
      expectParseError(bad(key), 'portfolio.appliedTrades[1]');
    for (const key of ['', 'BTC/USDT', 7, null, [symbol, id]]) expectParseError(bad(key), 'portfolio.appliedTrades[1]');
    // Outside the fast path's plain characters the general check decides: a symbol starting with a non-ASCII letter.
    const p = Portfolio.fromJSON({
      ...sample(),
      appliedTrades: [tradeKey('é/USDT', '1'), tradeKey(BTC_PERP.symbol, 'x')],
    });
    expect(p.preservedMetrics().appliedTrades).toEqual([tradeKey('é/USDT', '1'), tradeKey(BTC_PERP.symbol, 'x')]);
  });

  it('refuses amounts written as JS numbers', () => {
    expectParseError((j) => (j.peakEquity = 5), 'portfolio.peakEquity');
    expectParseError((j) => ((j.balances as { total: unknown }[])[0]!.total = 1000), 'portfolio.balances[0].total');
  });

  it('reads a replay log that starts with a real event (no build writes one; accepted all the same)', () => {
    const j = sample();
    j.replayLog.shift();
    const p = Portfolio.fromJSON(j);
    expect(p.standingInferredFills()).toEqual([]);
    // Written back with those entries folded into the settled book: the same books, no log.
    const again = Portfolio.fromJSON(JSON.parse(JSON.stringify(p.toJSON())));
    expect(again.toJSON().replayLog).toEqual([]);
    expect([again.balances(), again.positions(), again.realizedPnl]).toEqual([
      p.balances(),
      p.positions(),
      p.realizedPnl,
    ]);
  });

  it('refuses a settled perpetual trade of a symbol that is no perpetual, or twice the same symbol', () => {
    const stamp = { symbol: BTC_PERP.symbol, timestamp: 1_700_000_000_000, tradeId: '7' };
    expectParseError(
      (j) => (j.settledPerpTrades = [{ ...stamp, symbol: 'BTC/USDT' }]),
      'portfolio.settledPerpTrades[0].symbol',
    );
    expectParseError((j) => (j.settledPerpTrades = [stamp, stamp]), 'portfolio.settledPerpTrades[1]');
    expectParseError(
      (j) => (j.settledPerpTrades = [{ ...stamp, timestamp: '1' }]),
      'portfolio.settledPerpTrades[0].timestamp',
    );
  });

  it('refuses a replay-log entry that is neither a fill nor a funding payment', () => {
    expectParseError((j) => (j.replayLog as unknown[]).push({}), 'portfolio.replayLog[3].fill');
  });

  it('refuses duplicate applied trade ids and an order filled beyond its quantity', () => {
    expectParseError(
      (j) => (j.appliedTrades as string[]).push((j.appliedTrades as string[])[1]!),
      'portfolio.appliedTrades[2]',
    );
    expectParseError(
      (j) => ((j.orders as OrderTableJSON).rows[0]![ORDER_COLUMNS.indexOf('filledQuantity')] = '3'),
      'portfolio.orders.rows[0].filledQuantity',
    );
  });

  it('writes the orders as a table (version 4): the field names once, a row of cells per order', () => {
    const j = sample();
    expect(j.orders.columns).toEqual([...ORDER_COLUMNS]);
    const [row] = j.orders.rows;
    // The row leaves off its absent trailing fields; an absent field before a present one is a null cell.
    expect(row!.length).toBeLessThan(ORDER_COLUMNS.length);
    expect(row!.at(-1)).not.toBeNull();
    const { fillNotional, ...fields } = orderTableObjects(j.orders)[0]!;
    expect(fields).toEqual(orderToJSON(Portfolio.fromJSON(j).orders()[0]!));
    // The inferred fill of 1 at 100.
    expect(fillNotional).toBe('100');
  });

  it('reads a table by the columns it names, in any order; a null cell is an absent field', () => {
    const j = sample();
    const list = orderTableObjects(j.orders);
    const reversed = [...ORDER_COLUMNS].reverse();
    const p = Portfolio.fromJSON({ ...j, orders: { columns: reversed, rows: list.map((o) => orderRow(o, reversed)) } });
    expect(p.toJSON()).toEqual(j);
    const padded = j.orders.rows.map((r) => [...r, ...new Array<null>(ORDER_COLUMNS.length - r.length).fill(null)]);
    expect(Portfolio.fromJSON({ ...j, orders: { columns: j.orders.columns, rows: padded } }).toJSON()).toEqual(j);
  });

  it('reads version 3, whose orders are objects, as the same books', () => {
    const j = sample();
    expect(Portfolio.fromJSON(asVersion3(j)).toJSON()).toEqual(j);
    // Each version reads its own form of the orders only.
    expectParseError((x) => (x.version = 3), 'portfolio.orders');
    expectParseError((x) => (x.orders = orderTableObjects(j.orders)), 'portfolio.orders');
  });

  it('refuses a table whose columns are not the order fields, each once, or a row longer than its columns', () => {
    const columns = (f: (c: string[]) => void) => (j: Record<string, unknown>) =>
      f((j.orders as OrderTableJSON).columns);
    expectParseError(
      columns((c) => (c[3] = 'colour')),
      'portfolio.orders.columns[3]',
    );
    expectParseError(
      columns((c) => (c[3] = c[2]!)),
      'portfolio.orders.columns[3]',
    );
    expectParseError(
      columns((c) => c.pop()),
      'portfolio.orders.columns',
    );
    expectParseError(
      columns((c) => c.push('symbol')),
      'portfolio.orders.columns[17]',
    );
    expectParseError(
      (j) => (j.orders as OrderTableJSON).rows[0]!.push(...new Array<null>(ORDER_COLUMNS.length).fill(null)),
      'portfolio.orders.rows[0]',
    );
    expectParseError((j) => ((j.orders as OrderTableJSON).rows[0] = {} as never), 'portfolio.orders.rows[0]');
    expectParseError(
      (j) => ((j.orders as OrderTableJSON).rows[0]![0] = null),
      'portfolio.orders.rows[0].clientOrderId',
    );
  });

  it('refuses a replay-log fill on an unknown instrument', () => {
    expectParseError(
      (j) => ((j.replayLog as { fill: { symbol: string } }[])[1]!.fill.symbol = 'NOPE/USDT'),
      'portfolio.replayLog[1]',
    );
  });

  it('keeps only the newest ids when restored with a smaller window', () => {
    const p = Portfolio.fromJSON(sample(), { tradeIdWindow: 1 });
    expect(p.preservedMetrics().appliedTrades).toEqual([tradeKey(BTC_PERP.symbol, 'm1')]);
  });
});

describe('the window of the last hard reset', () => {
  const reset = (startedAt: number, completedAt: number): Portfolio =>
    Portfolio.fromExchangeState(
      {
        instruments: INSTRUMENTS,
        positions: [],
        balances: [],
        orders: [],
        snapshotStartedAt: startedAt,
        snapshotCompletedAt: completedAt,
      },
      Portfolio.create({ instruments: INSTRUMENTS }).preservedMetrics(),
    );

  it('round-trips; a one-millisecond window is written as its start alone (the form of earlier files)', () => {
    const slow = reset(1_000, 1_900);
    expect(slow.lastResetWindow()).toEqual({ startedAt: 1_000, completedAt: 1_900 });
    const j = JSON.parse(JSON.stringify(slow.toJSON())) as PortfolioJSON;
    expect([j.reflectedBefore, j.reflectedThrough]).toEqual([1_000, 1_900]);
    expect(Portfolio.fromJSON(j).lastResetWindow()).toEqual({ startedAt: 1_000, completedAt: 1_900 });
    const instant = JSON.parse(JSON.stringify(reset(1_000, 1_000).toJSON())) as PortfolioJSON;
    expect('reflectedThrough' in instant).toBe(false);
    expect(Portfolio.fromJSON(instant).lastResetWindow()).toEqual({ startedAt: 1_000, completedAt: 1_000 });
    expect(Portfolio.create({ instruments: INSTRUMENTS }).lastResetWindow()).toBeUndefined();
  });

  it('refuses an end before the start, or without one', () => {
    expectParseError(
      (j) => Object.assign(j, { reflectedBefore: 2_000, reflectedThrough: 1_999 }),
      'portfolio.reflectedThrough',
    );
    expectParseError((j) => Object.assign(j, { reflectedThrough: 1_999 }), 'portfolio.reflectedThrough');
  });
});

describe('untrusted portfolio files (issue 14)', () => {
  it('an object claiming to be a Decimal with sign "HuI" is a ParseError, not a stack overflow', () => {
    expectParseError(
      (j) =>
        ((j.balances as { total: unknown }[])[0]!.total = { toStringTag: '[object Decimal]', s: 'HuI', e: 0, d: [1] }),
      'portfolio.balances[0].total',
    );
  });
  it('a file whose amounts are each in range but whose books add up beyond AMOUNT_LIMITS is a ParseError', () => {
    expectParseError((j) => {
      const usdt = (j.balances as { asset: string; free: string; total: string }[]).find((b) => b.asset === 'USDT')!;
      usdt.free = usdt.total = '-9e63';
      (j.replayLog as { funding?: { amount: string } }[])[2]!.funding!.amount = '-9.9e63';
    }, 'portfolio.balances(USDT).free');
  });
  it('an exponent bomb is a ParseError', () => {
    expectParseError((j) => (j.peakEquity = '1e8999999999999999'), 'portfolio.peakEquity');
  });
});

describe('loading many orders (issue 16)', () => {
  /** The sample with its order copied under new ids: c2/o2, c3/o3, ..., its orders as objects to edit (`table`). */
  function withOrders(count: number): OrderList {
    const j = sample();
    const orders = orderTableObjects(j.orders);
    const first = orders[0]!;
    for (let k = 2; k <= count; k++) orders.push({ ...first, clientOrderId: `c${k}`, exchangeOrderId: `o${k}` });
    return { ...j, orders };
  }
  /** The ParseError with these fields (`toThrow` with it). */
  const parseError = (fields: Record<string, unknown>): unknown =>
    expect.objectContaining({ name: 'ParseError', ...fields });
  const duplicateOf = (i: number, key: string, prev: number): unknown =>
    parseError({
      code: 'duplicate_id',
      path: `portfolio.orders.rows[${i}]`,
      value: key,
      message: expect.stringContaining(`duplicate of portfolio.orders.rows[${prev}]`),
    });

  it('refuses two orders with one client id or one exchange order id, naming both indexes', () => {
    const byClient = withOrders(4);
    byClient.orders[3] = { ...byClient.orders[3]!, clientOrderId: 'c2' };
    expect(() => Portfolio.fromJSON(table(byClient))).toThrow(duplicateOf(3, 'c:c2', 1));
    const byExchange = withOrders(4);
    byExchange.orders[2] = { ...byExchange.orders[2]!, exchangeOrderId: 'o1' };
    const key = `x:${String(BTC_PERP.symbol.length)}:${BTC_PERP.symbol}:o1`;
    expect(() => Portfolio.fromJSON(table(byExchange))).toThrow(duplicateOf(2, key, 0));
    // The same exchange order id on another symbol is another order.
    byExchange.orders[2] = { ...byExchange.orders[2]!, symbol: 'BTC/USDT' };
    expect(Portfolio.fromJSON(table(byExchange)).orders()).toHaveLength(4);
  });

  it('reports a duplicate before anything wrong after it, in the orders or later in the file', () => {
    const j = withOrders(4);
    j.orders[1] = { ...j.orders[1]!, clientOrderId: 'c1' };
    const badOrder = structuredClone(j);
    badOrder.orders[3] = { ...badOrder.orders[3]!, quantity: 'x' };
    expect(() => Portfolio.fromJSON(table(badOrder))).toThrow(duplicateOf(1, 'c:c1', 0));
    const badLater = structuredClone(j);
    (badLater as { appliedFundingIds: unknown[] }).appliedFundingIds.push(7.5);
    expect(() => Portfolio.fromJSON(table(badLater))).toThrow(duplicateOf(1, 'c:c1', 0));
    // Without the duplicate, each fault is reported where it is.
    const clean = withOrders(4);
    clean.orders[3] = { ...clean.orders[3]!, quantity: 'x' };
    expect(() => Portfolio.fromJSON(table(clean))).toThrow(parseError({ path: 'portfolio.orders.rows[3].quantity' }));
    // An order that does not parse, BEFORE a duplicate, is what is reported.
    const early = withOrders(4);
    early.orders[0] = { ...early.orders[0]!, quantity: 'x' };
    early.orders[3] = { ...early.orders[3]!, clientOrderId: 'c2' };
    expect(() => Portfolio.fromJSON(table(early))).toThrow(parseError({ path: 'portfolio.orders.rows[0].quantity' }));
  });

  it('orderCount is the number of orders the books track, without listing them', () => {
    const p = Portfolio.fromJSON(table(withOrders(5)));
    expect(p.orderCount).toBe(5);
    p.trackOrder(order({ clientOrderId: 'c9', symbol: BTC_PERP.symbol, side: 'buy', q: '1', px: '100' }));
    expect(p.orderCount).toBe(6);
    expect(p.orders()).toHaveLength(6);
  });

  it('parsePortfolioJSON on its own still refuses a duplicate order', () => {
    const j = withOrders(3);
    j.orders[2] = { ...j.orders[2]!, clientOrderId: 'c1' };
    expect(() => parsePortfolioJSON(table(j))).toThrow(duplicateOf(2, 'c:c1', 0));
  });

  it('an amount string seen before is checked against each field rule again', () => {
    // "0" is read first as a filled quantity (allowed), then as a price (must be positive).
    const j = withOrders(2);
    j.orders[0] = { ...j.orders[0]!, filledQuantity: '0' };
    j.orders[1] = { ...j.orders[1]!, price: '0' };
    expect(() => Portfolio.fromJSON(table(j))).toThrow(
      parseError({
        code: 'non_positive_amount',
        path: 'portfolio.orders.rows[1].price',
      }),
    );
  });

  it('orders given in code (not parsed from a file) are still checked for a fill beyond their quantity', () => {
    const base = { symbol: BTC_PERP.symbol, side: 'buy' as const, q: '2', px: '100' };
    const over = order({ ...base, clientOrderId: 'c2', exchangeOrderId: 'o2', filledQuantity: d('3') });
    const ok = order({ ...base, clientOrderId: 'c1', exchangeOrderId: 'o1' });
    expect(() => Portfolio.create({ instruments: INSTRUMENTS, orders: [ok, over] })).toThrow(
      parseError({
        code: 'inconsistent',
        path: 'orders.filledQuantity',
      }),
    );
    // A duplicate before it is reported first.
    expect(() => Portfolio.create({ instruments: INSTRUMENTS, orders: [ok, ok, over] })).toThrow(
      parseError({
        code: 'duplicate_id',
        path: 'orders[1]',
      }),
    );
  });

  it("what open spot orders lock, when many share their amounts, is the sum of each order's own term", () => {
    // Shared sizes and prices (one Decimal each once loaded), partly filled ones, a market buy, closed and perp orders.
    const sizes = ['0.001', '0.001', '1.5', '0.123456789012345678901234567890123'];
    const prices = ['15000', '15000', '98765.4321', '1234567890.12345678901234567890123456789012345'];
    const orders = Array.from({ length: 64 }, (_, k) => {
      const symbol = [BTC_SPOT.symbol, ETH_SPOT.symbol, BTC_PERP.symbol][k % 3]!;
      const q = sizes[k % 4]!;
      return order({
        clientOrderId: `c${k}`,
        exchangeOrderId: `o${k}`,
        symbol,
        side: k % 5 < 2 ? 'sell' : 'buy',
        q,
        ...(k % 11 !== 0 && { px: prices[(k >> 2) % 4]! }),
        ...(k % 7 === 0 && { filledQuantity: d(q).div(2) }),
        ...(k % 13 === 0 && { status: 'cancelled' as const }),
      });
    });
    const books = Portfolio.create({
      instruments: INSTRUMENTS,
      balances: ['BTC', 'ETH', 'USDT'].map((asset) => ({ asset, free: d('1e12'), total: d('1e12') })),
      orders,
    });
    const loaded = Portfolio.fromJSON(JSON.parse(JSON.stringify(books.toJSON())));
    const Exact = Dec.clone({ precision: 1e9 });
    const locked = new Map<string, InstanceType<typeof Exact>>();
    for (const o of orders) {
      const instrument = INSTRUMENTS.find((i) => i.symbol === o.symbol)!;
      if (o.status !== 'open' || instrument.kind !== 'spot') continue;
      const remaining = new Exact(o.quantity).minus(o.filledQuantity);
      const [asset, term] =
        o.side === 'sell' ? [instrument.base, remaining] : [instrument.quote, o.price && remaining.times(o.price)];
      if (term !== undefined) locked.set(asset, (locked.get(asset) ?? new Exact(0)).plus(term));
    }
    const expected = ['BTC', 'ETH', 'USDT'].map((asset) => [
      asset,
      d('1e12')
        .minus(new Dec(locked.get(asset) ?? 0).toSignificantDigits())
        .toFixed(),
    ]);
    expect(loaded.balances().map((b) => [b.asset, b.free.toFixed()])).toEqual(expected);
    expect(books.balances().map((b) => [b.asset, b.free.toFixed()])).toEqual(expected);
  });
  it('orders holding equal amount strings share one Decimal, equal to a fresh parse of it', () => {
    const j = withOrders(3);
    const [a, b, c] = Portfolio.fromJSON(table(j)).orders();
    expect(a!.quantity).toBe(b!.quantity);
    expect(b!.price).toBe(c!.price);
    expect(a!.quantity.toFixed()).toBe(j.orders[0]!.quantity);
    expect(a!.quantity.eq(d(j.orders[0]!.quantity))).toBe(true);
  });
});
