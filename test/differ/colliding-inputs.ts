/**
 * Inputs for the differ's property tests whose ids collide in every way (`collidingInputs`), and what they share.
 */
import fc from 'fast-check';
import { Dec } from '../../src/domain/decimal.js';
import { ParseError } from '../../src/domain/errors.js';
import type { ReconciliationReport } from '../../src/differ/report.js';
import { reportToJSON } from '../../src/differ/report-json.js';
import { orderIdKey } from '../../src/domain/ids.js';
import { createRandom } from '../../src/domain/random.js';
import { ORDER_STATUSES, type ExchangeSnapshot, type LiveState, type Order } from '../../src/domain/types.js';
import { arbBalances, arbId, arbPositions, copyOrder } from '../support/arbitraries.js';

export const T0 = 1_700_000_000_000;
// Local orders span the two hours before the snapshot, so some fall inside the grace window and most do not.
export const TIME = { min: T0 - 7_200_000, max: T0 + 1_000 };

/** The (symbol, exchange id) key an order matches by. */
export function xkey(o: Order): string {
  return orderIdKey(o.symbol, o.exchangeOrderId!);
}

/** Fisher–Yates with a seeded PRNG, so a failing case reproduces. */
export function shuffled<T>(items: readonly T[], seed: number): T[] {
  const rng = createRandom(seed);
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = rng.int(0, i);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

// ---- inputs where ids collide ------------------------------------------------------------------------------

/** Few symbols, so exchange ids collide across them; two differ only after the first character. */
const SYMBOLS = ['A/USDT', 'B/USDT', 'B/USDT:USDT', 'Ä/€'] as const;

/**
 * Exchange ids as venues write them (digits, of any length, with shared prefixes past 15 characters) and as they
 * do not (empty, signs, letters, non-ASCII digits), so every way of ordering ids meets its edge cases.
 */
const arbExchangeId: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom('', '0', '00', '007', '1', '9', '10', '-1', '1-', ':', '/', 'a', 'A1', '\u0661\u0662', '1.5'),
  fc.constantFrom('123456789012345', '1234567890123450', '1234567890123456', '123456789012345600', '9'.repeat(20)),
  fc.stringMatching(/^[0-9]{1,20}$/),
  fc.stringMatching(/^12345678901234[0-9]{0,4}$/),
  arbId,
);
const arbClientId: fc.Arbitrary<string> = fc.oneof(
  { weight: 1, arbitrary: fc.constantFrom('c1', 'c2', 'c3', 'c4', '') },
  { weight: 6, arbitrary: arbId },
);
/** Equal values written differently, each order getting its own Decimal instances. */
const AMOUNTS = ['0', '1', '1.0', '2.5', '2.50', '0.001'] as const;

const arbRawOrder = fc.record({
  symbol: fc.constantFrom(...SYMBOLS),
  exchangeOrderId: fc.option(arbExchangeId, { nil: undefined, freq: 5 }),
  clientOrderId: arbClientId,
  side: fc.constantFrom('buy' as const, 'sell' as const),
  status: fc.oneof(
    { weight: 4, arbitrary: fc.constant('open' as const) },
    { weight: 2, arbitrary: fc.constantFrom(...ORDER_STATUSES) },
  ),
  quantity: fc.constantFrom(...AMOUNTS),
  filled: fc.constantFrom(...AMOUNTS),
  price: fc.option(fc.constantFrom(...AMOUNTS), { nil: undefined }),
  // Often exactly at a grace window's edge (the graces below), where in flight turns into ghost.
  createdAt: fc.oneof(
    fc.integer(TIME),
    fc.constantFrom(T0 - 600_001, T0 - 600_000, T0 - 5_001, T0 - 5_000, T0 - 1, T0),
  ),
  updatedAfter: fc.constantFrom(0, 0, 1, 300_000, 3_600_000),
});

function orderOf(r: typeof arbRawOrder extends fc.Arbitrary<infer R> ? R : never): Order {
  return {
    clientOrderId: r.clientOrderId,
    ...(r.exchangeOrderId !== undefined && { exchangeOrderId: r.exchangeOrderId }),
    symbol: r.symbol,
    side: r.side,
    type: r.price === undefined ? 'market' : 'limit',
    quantity: new Dec(r.quantity),
    ...(r.price !== undefined && { price: new Dec(r.price) }),
    filledQuantity: new Dec(r.filled),
    status: r.status,
    createdAt: r.createdAt,
    updatedAt: r.createdAt + r.updatedAfter,
  };
}

/** What the exchange lists for a local order. */
type Echo = 'same' | 'sameObject' | 'fill' | 'drop' | 'newId' | 'otherSymbol' | 'otherClientId' | 'noId';

/** Keeps the first order holding each (symbol, exchange id) and each client id. */
function scopedUnique(orders: readonly Order[]): Order[] {
  const seen = new Set<string>();
  return orders.filter((o) => {
    const keys = [`c:${o.clientOrderId}`, ...(o.exchangeOrderId === undefined ? [] : [`x:${xkey(o)}`])];
    if (keys.some((k) => seen.has(k))) return false;
    for (const k of keys) seen.add(k);
    return true;
  });
}

/**
 * A local state and a snapshot whose ids collide in every way: the same exchange id on several symbols, client ids
 * reused under new exchange ids or by other orders, orders the exchange lists with no exchange id, the very same
 * order object on both sides; ghosts, zombies and in-flight orders mixed. Usually each side's ids are unique; with
 * `duplicates`, a side may repeat a (symbol, exchange id), a client id, a position's symbol or a balance's asset.
 */
export const arbCollidingInputs = collidingInputs({
  local: { maxLength: 40, size: 'medium' },
  extra: { maxLength: 12 },
});

/** `arbCollidingInputs` with these many local orders and unrelated exchange orders. */
export function collidingInputs(sizes: { local: fc.ArrayConstraints; extra: fc.ArrayConstraints }) {
  return fc
    .record({
      local: fc.array(arbRawOrder, sizes.local),
      echoes: fc.array(
        // 'same' thrice as often: most orders agree.
        fc.constantFrom<Echo>(
          'same',
          'same',
          'same',
          'sameObject',
          'fill',
          'drop',
          'newId',
          'otherSymbol',
          'otherClientId',
          'noId',
        ),
        { minLength: 1, maxLength: 30 },
      ),
      extra: fc.array(arbRawOrder, { size: 'medium', ...sizes.extra }),
      positions: fc.tuple(arbPositions(3), arbPositions(3)),
      balances: fc.tuple(arbBalances(3), arbBalances(3)),
      duplicates: fc.boolean(),
      seed: fc.integer(),
      grace: fc.constantFrom(0, 1, 5_000, 600_000),
    })
    .map(({ local, echoes, extra, positions, balances, duplicates, seed, grace }) => {
      const unique = (os: Order[]): Order[] => (duplicates ? os : scopedUnique(os));
      const localOrders = unique(local.map(orderOf));
      const remote: Order[] = [];
      localOrders.forEach((o, i) => {
        const open: Order = { ...copyOrder(o), status: 'open' };
        const other = localOrders[(i + 1) % localOrders.length]!;
        switch (echoes[i % echoes.length]!) {
          case 'same':
            return remote.push(open);
          case 'sameObject':
            return remote.push(o);
          case 'fill':
            return remote.push({ ...open, filledQuantity: new Dec(o.filledQuantity.plus('0.5')) });
          case 'drop':
            return;
          case 'newId':
            return remote.push({ ...open, exchangeOrderId: `${o.exchangeOrderId ?? ''}9` });
          case 'otherSymbol':
            return remote.push({
              ...open,
              symbol: SYMBOLS[(SYMBOLS.indexOf(o.symbol as never) + 1) % SYMBOLS.length]!,
            });
          case 'otherClientId':
            return remote.push({ ...open, clientOrderId: other.clientOrderId });
          case 'noId': {
            const { exchangeOrderId: _, ...rest } = open;
            return remote.push(rest);
          }
        }
      });
      const withDuplicate = <T>(items: T[]): T[] => (duplicates && items.length > 0 ? [...items, items[0]!] : items);
      const l: LiveState = {
        orders: localOrders,
        positions: withDuplicate(positions[0]),
        balances: withDuplicate(balances[0]),
      };
      const snapshot: ExchangeSnapshot = {
        openOrders: shuffled(
          unique([...remote, ...extra.map(orderOf).map((o) => ({ ...o, status: 'open' as const }))]),
          seed,
        ),
        positions: positions[1],
        balances: balances[1],
        startedAt: T0,
        completedAt: T0 + 500,
      };
      return { local: l, snapshot, grace };
    });
}

/** A diff's outcome as plain data: the report's JSON and which input objects it lists, or the error it threw. */
export function outcome(f: () => ReconciliationReport, local: LiveState, snapshot: ExchangeSnapshot): unknown {
  let r: ReconciliationReport;
  try {
    r = f();
  } catch (e) {
    if (!(e instanceof ParseError)) throw e;
    return { error: { name: e.name, code: e.code, path: e.path, value: e.value, message: e.message } };
  }
  const l = (o: Order): number => local.orders.indexOf(o);
  const x = (o: Order): number => snapshot.openOrders.indexOf(o);
  return {
    json: JSON.stringify(reportToJSON(r)),
    objects: [
      r.matched.map((m) => [l(m.local), x(m.exchange)]),
      r.ghosts.map((g) => l(g.local)),
      r.zombies.map((z) => x(z.exchange)),
      r.inFlight.map((f) => l(f.local)),
    ],
  };
}
