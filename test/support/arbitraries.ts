/**
 * fast-check arbitraries for the domain model, shared by every property test: decimal amounts built from strings
 * (never from JS numbers), ids, symbols, assets, orders, positions, balances, LiveState and ExchangeSnapshot, and
 * `snapshotOf`, the exchange snapshot that agrees exactly with a local state. Sizes are kept small so 1,000 runs
 * take well under a second or two.
 */
import fc from 'fast-check';
import type { Decimal } from '../../src/domain/decimal.js';
import { Dec } from '../../src/domain/decimal.js';
import {
  ORDER_STATUSES,
  TIME_IN_FORCES,
  type Balance,
  type ExchangeSnapshot,
  type Fill,
  type FundingPayment,
  type LiveState,
  type Order,
  type OrderStatus,
  type Position,
} from '../../src/domain/types.js';

// ---- amounts -------------------------------------------------------------------------------------------------

export type Sign = 'any' | 'nonNegative' | 'positive';

export interface AmountConstraints {
  readonly sign?: Sign;
  /** Largest number of digits after the point (default 8). */
  readonly maxScale?: number;
  /** Largest magnitude in units of the smallest step (default 10^12). */
  readonly maxUnits?: bigint;
}

/** Formats `units × 10^-scale` as a plain decimal string, exactly (bigint arithmetic, no float). */
export function unitsToDecimalString(units: bigint, scale: number): string {
  const negative = units < 0n;
  const digits = (negative ? -units : units).toString().padStart(scale + 1, '0');
  const intPart = digits.slice(0, digits.length - scale);
  const frac = digits.slice(digits.length - scale);
  return `${negative ? '-' : ''}${intPart}${scale > 0 ? `.${frac}` : ''}`;
}

/** A decimal string such as "0.00120000" or "-15" (trailing zeros kept, to exercise normalization). */
export function arbDecimalString(c: AmountConstraints = {}): fc.Arbitrary<string> {
  const max = c.maxUnits ?? 10n ** 12n;
  const sign = c.sign ?? 'nonNegative';
  const min = sign === 'any' ? -max : sign === 'positive' ? 1n : 0n;
  return fc
    .tuple(fc.bigInt({ min, max }), fc.integer({ min: 0, max: c.maxScale ?? 8 }))
    .map(([u, s]) => unitsToDecimalString(u, s));
}

/** A Decimal built from a decimal string. */
export function arbAmount(c: AmountConstraints = {}): fc.Arbitrary<Decimal> {
  return arbDecimalString(c).map((s) => new Dec(s));
}

// ---- names ---------------------------------------------------------------------------------------------------

/** An id as exchanges and engines write them: 1–16 characters of [A-Za-z0-9_-], never blank. */
export const arbId: fc.Arbitrary<string> = fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9_-]{0,15}$/);

export const arbAsset: fc.Arbitrary<string> = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom('BTC', 'ETH', 'USDT', 'USDC', 'SOL', 'BNB') },
  { weight: 1, arbitrary: fc.stringMatching(/^[A-Z][A-Z0-9]{1,5}$/) },
);

/** ccxt unified symbols: spot `BASE/QUOTE` and linear perps `BASE/QUOTE:SETTLE`. */
export const arbSymbol: fc.Arbitrary<string> = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom('BTC/USDT', 'ETH/USDT', 'SOL/USDC', 'BTC/USDT:USDT', 'ETH/USDT:USDT') },
  {
    weight: 1,
    arbitrary: fc
      .tuple(arbAsset, arbAsset, fc.boolean())
      .map(([b, q, perp]) => (perp ? `${b}/${q}:${q}` : `${b}/${q}`)),
  },
);

/** Epoch milliseconds between 2020 and 2033. */
export const arbTimestamp: fc.Arbitrary<number> = fc.integer({ min: 1_577_836_800_000, max: 2_000_000_000_000 });

// ---- orders --------------------------------------------------------------------------------------------------

export interface OrderConstraints {
  readonly statuses?: readonly OrderStatus[];
  readonly symbol?: fc.Arbitrary<string>;
  /** Range of `createdAt`; `updatedAt` is within an hour after it. */
  readonly time?: { readonly min: number; readonly max: number };
}

/**
 * An order that `parseOrder` accepts and that is internally consistent: filled ≤ quantity (same scale), a price
 * exactly for limit orders, an exchange id unless pending or rejected, updatedAt ≥ createdAt.
 */
export function arbOrder(c: OrderConstraints = {}): fc.Arbitrary<Order> {
  const time = c.time ?? { min: 1_577_836_800_000, max: 2_000_000_000_000 };
  return fc
    .record({
      clientOrderId: arbId,
      exchangeOrderId: arbId,
      symbol: c.symbol ?? arbSymbol,
      side: fc.constantFrom('buy' as const, 'sell' as const),
      type: fc.constantFrom('limit' as const, 'market' as const),
      timeInForce: fc.option(fc.constantFrom(...TIME_IN_FORCES), { nil: undefined }),
      scale: fc.integer({ min: 0, max: 8 }),
      quantityUnits: fc.bigInt({ min: 1n, max: 10n ** 10n }),
      filledFraction: fc.integer({ min: 0, max: 100 }),
      price: arbDecimalString({ sign: 'positive', maxScale: 4, maxUnits: 10n ** 9n }),
      averageFillPrice: fc.option(arbDecimalString({ sign: 'positive', maxScale: 4, maxUnits: 10n ** 9n }), {
        nil: undefined,
      }),
      status: fc.constantFrom(...(c.statuses ?? ORDER_STATUSES)),
      reduceOnly: fc.option(fc.boolean(), { nil: undefined }),
      createdAt: fc.integer(time),
      updatedAfter: fc.integer({ min: 0, max: 3_600_000 }),
      expiresAfter: fc.option(fc.integer({ min: 1, max: 86_400_000 }), { nil: undefined }),
      pendingWithId: fc.boolean(),
    })
    .map((r): Order => {
      // filled = quantity × fraction / 100, truncated to the same scale so it never exceeds the quantity.
      const filledUnits = (r.quantityUnits * BigInt(r.filledFraction)) / 100n;
      const hasExchangeId =
        r.status === 'pending' || r.status === 'rejected' ? r.status === 'pending' && r.pendingWithId : true;
      return {
        clientOrderId: r.clientOrderId,
        ...(hasExchangeId && { exchangeOrderId: r.exchangeOrderId }),
        symbol: r.symbol,
        side: r.side,
        type: r.type,
        ...(r.timeInForce !== undefined && { timeInForce: r.timeInForce }),
        quantity: new Dec(unitsToDecimalString(r.quantityUnits, r.scale)),
        ...(r.type === 'limit' && { price: new Dec(r.price) }),
        filledQuantity: new Dec(unitsToDecimalString(filledUnits, r.scale)),
        ...(filledUnits > 0n && r.averageFillPrice !== undefined && { averageFillPrice: new Dec(r.averageFillPrice) }),
        status: r.status,
        ...(r.reduceOnly !== undefined && { reduceOnly: r.reduceOnly }),
        createdAt: r.createdAt,
        updatedAt: r.createdAt + r.updatedAfter,
        ...(r.expiresAfter !== undefined && { expiresAt: r.createdAt + r.expiresAfter }),
      };
    });
}

/** Drops every order whose exchange id or client id was already used by an earlier one. */
export function dedupeOrders(orders: readonly Order[]): Order[] {
  const x = new Set<string>();
  const c = new Set<string>();
  return orders.filter((o) => {
    if (c.has(o.clientOrderId) || (o.exchangeOrderId !== undefined && x.has(o.exchangeOrderId))) return false;
    c.add(o.clientOrderId);
    if (o.exchangeOrderId !== undefined) x.add(o.exchangeOrderId);
    return true;
  });
}

/** A list of orders with unique exchange ids and unique client ids. */
export function arbOrders(c: OrderConstraints & { readonly maxLength?: number } = {}): fc.Arbitrary<Order[]> {
  return fc.array(arbOrder(c), { maxLength: c.maxLength ?? 8 }).map(dedupeOrders);
}

// ---- positions, balances, fills, funding ---------------------------------------------------------------------

export function arbPosition(symbol: fc.Arbitrary<string> = arbSymbol): fc.Arbitrary<Position> {
  return fc
    .record({
      symbol,
      quantity: arbAmount({ sign: 'any', maxUnits: 10n ** 10n }),
      entryPrice: arbAmount({ sign: 'positive', maxScale: 4 }),
    })
    .map((p) => (p.quantity.isZero() ? { ...p, entryPrice: new Dec(0) } : p));
}

export function arbBalance(asset: fc.Arbitrary<string> = arbAsset): fc.Arbitrary<Balance> {
  return fc
    .record({ asset, total: arbDecimalString({ sign: 'any' }), lockedPercent: fc.integer({ min: 0, max: 100 }) })
    .map(({ asset: a, total, lockedPercent }) => {
      const t = new Dec(total);
      // free = total × (100 − locked)/100, exact (Decimal arithmetic; the divisor is a power of ten).
      const free = t.times(100 - lockedPercent).div(100);
      // Decimal keeps the sign of zero (-1 × 0 = -0); a parser never produces -0, so neither do we.
      return { asset: a, total: t, free: free.isZero() ? new Dec(0) : free };
    });
}

export function arbPositions(maxLength = 5): fc.Arbitrary<Position[]> {
  return fc.uniqueArray(arbPosition(), { selector: (p) => p.symbol, maxLength });
}

export function arbBalances(maxLength = 5): fc.Arbitrary<Balance[]> {
  return fc.uniqueArray(arbBalance(), { selector: (b) => b.asset, maxLength });
}

export const arbFill: fc.Arbitrary<Fill> = fc
  .record({
    tradeId: arbId,
    exchangeOrderId: arbId,
    clientOrderId: fc.option(arbId, { nil: undefined }),
    symbol: arbSymbol,
    side: fc.constantFrom('buy' as const, 'sell' as const),
    quantity: arbAmount({ sign: 'positive' }),
    price: arbAmount({ sign: 'positive', maxScale: 4 }),
    fee: arbAmount({ sign: 'any', maxUnits: 10n ** 6n }),
    feeAsset: arbAsset,
    timestamp: arbTimestamp,
    inferred: fc.boolean(),
  })
  .map(({ clientOrderId, ...f }) => ({ ...f, ...(clientOrderId !== undefined && { clientOrderId }) }));

export const arbFundingPayment: fc.Arbitrary<FundingPayment> = fc.record({
  id: arbId,
  symbol: arbSymbol,
  asset: arbAsset,
  amount: arbAmount({ sign: 'any', maxUnits: 10n ** 8n }),
  timestamp: arbTimestamp,
});

// ---- states --------------------------------------------------------------------------------------------------

export function arbLiveState(c: OrderConstraints & { readonly maxOrders?: number } = {}): fc.Arbitrary<LiveState> {
  return fc.record({
    orders: arbOrders({ ...c, maxLength: c.maxOrders ?? 8 }),
    positions: arbPositions(),
    balances: arbBalances(),
  });
}

/** An exchange snapshot on its own (open orders only; window of up to 2 s). */
export function arbExchangeSnapshot(c: { readonly maxOrders?: number } = {}): fc.Arbitrary<ExchangeSnapshot> {
  return fc
    .record({
      openOrders: arbOrders({ statuses: ['open'], maxLength: c.maxOrders ?? 8 }),
      positions: arbPositions(),
      balances: arbBalances(),
      startedAt: arbTimestamp,
      window: fc.integer({ min: 0, max: 2_000 }),
    })
    .map(({ window, ...s }) => ({ ...s, completedAt: s.startedAt + window }));
}

/**
 * The snapshot an exchange would return if it agreed exactly with `state`: the acknowledged open orders (as
 * separate objects with equal but distinct Decimals, as a parser would make them), the same positions minus flat
 * ones (exchanges do not list flat positions), the same balances.
 */
export function snapshotOf(
  state: LiveState,
  window: { readonly startedAt: number; readonly completedAt?: number },
): ExchangeSnapshot {
  return {
    openOrders: state.orders.filter((o) => o.status === 'open' && o.exchangeOrderId !== undefined).map(copyOrder),
    positions: state.positions
      .filter((p) => !p.quantity.isZero())
      .map((p) => ({ ...p, quantity: new Dec(p.quantity.toFixed()) })),
    balances: state.balances.map((b) => ({ ...b, total: new Dec(b.total.toFixed()), free: new Dec(b.free.toFixed()) })),
    startedAt: window.startedAt,
    completedAt: window.completedAt ?? window.startedAt,
  };
}

/** A copy of an order with fresh Decimal instances (so tests never rely on object identity). */
export function copyOrder(o: Order): Order {
  return {
    ...o,
    quantity: new Dec(o.quantity.toFixed()),
    filledQuantity: new Dec(o.filledQuantity.toFixed()),
    ...(o.price !== undefined && { price: new Dec(o.price.toFixed()) }),
  };
}

// ---- differ inputs -------------------------------------------------------------------------------------------

export type DiffInputAction = 'keep' | 'changeFill' | 'drop' | 'reuseClientId' | 'foreignClientId';

/** A local state, an exchange snapshot, and a grace window to diff them with. */
export interface DiffInputs {
  readonly local: LiveState;
  readonly snapshot: ExchangeSnapshot;
  readonly grace: number;
}

/**
 * A local state and an exchange snapshot that overlap in every way the differ must handle: shared exchange ids,
 * client-id-only matches, dropped orders, changed fills, client ids reused under a new exchange id, exchange orders
 * whose client id belongs to another local order, and unrelated exchange orders.
 */
export function arbDiffInputs(
  c: { readonly time?: { readonly min: number; readonly max: number }; readonly startedAt?: number } = {},
): fc.Arbitrary<DiffInputs> {
  const time = c.time;
  const startedAt = c.startedAt ?? (time === undefined ? 1_700_000_000_000 : time.max);
  return fc
    .record({
      local: arbLiveState({ ...(time !== undefined && { time }), maxOrders: 10 }),
      actions: fc.array(
        fc.constantFrom<DiffInputAction>('keep', 'changeFill', 'drop', 'reuseClientId', 'foreignClientId'),
        { minLength: 10, maxLength: 10 },
      ),
      extra: arbOrders({ statuses: ['open'], ...(time !== undefined && { time }), maxLength: 4 }),
      remote: arbLiveState({ maxOrders: 0 }),
      grace: fc.integer({ min: 0, max: 600_000 }),
    })
    .map(({ local, actions, extra, remote, grace }) => {
      const n = local.orders.length;
      const remoteOrders: Order[] = [];
      local.orders.forEach((o, i) => {
        const open = (p: Partial<Order>): Order => ({
          ...copyOrder(o),
          status: 'open',
          exchangeOrderId: o.exchangeOrderId ?? `~ack${i}`,
          ...p,
        });
        switch (actions[i % actions.length]!) {
          case 'keep':
            remoteOrders.push(open({}));
            break;
          case 'changeFill':
            remoteOrders.push(open({ filledQuantity: o.filledQuantity.isZero() ? o.quantity : new Dec(0) }));
            break;
          case 'drop':
            break;
          case 'reuseClientId':
            remoteOrders.push(open({ exchangeOrderId: `~reuse${i}` }));
            break;
          case 'foreignClientId':
            remoteOrders.push(open({ clientOrderId: local.orders[(i + 1) % n]!.clientOrderId }));
            break;
        }
      });
      const snapshot: ExchangeSnapshot = {
        openOrders: dedupeOrders([...remoteOrders, ...extra]),
        positions: remote.positions,
        balances: remote.balances,
        startedAt,
        completedAt: startedAt + 500,
      };
      return { local, snapshot, grace };
    });
}
