/**
 * The engine's state file format: encode → JSON → decode is exact, journal records replay over the snapshot
 * (orders and lifecycle change state; cycle and reconcileAction records are audit only), and every malformed
 * snapshot or record is a StoreCorruptError that returns nothing (no half-applied state), never a guess.
 */
import { ORDER_COLUMNS, type OrderTableJSON } from '../../src/portfolio/portfolio-json.js';
import { describe, expect, it } from 'vitest';
import { Dec } from '../../src/domain/decimal.js';
import { StoreCorruptError } from '../../src/domain/errors.js';
import { orderToJSON } from '../../src/domain/parse.js';
import { orderKey, type Order } from '../../src/domain/types.js';
import {
  decodeEngineState,
  decodeEngineStateSliced,
  encodeEngineState,
  ENGINE_STATE_FORMAT,
  ENGINE_STATE_VERSION,
  orderRecord,
  parseCursorState,
  type DecodedEngineState,
  type EngineState,
  type EngineStateJSON,
} from '../../src/engine/state-file.js';
import { DEFAULT_INSTRUMENTS } from '../../src/exchange/simulated/options.js';
import { ReconcileMemory } from '../../src/handlers/memory.js';
import { EMPTY_CURSORS } from '../../src/handlers/plan.js';
import { Portfolio } from '../../src/portfolio/portfolio.js';
import type { JsonValue, LoadedState } from '../../src/store/port.js';
import { countingPause } from '../support/pauses.js';

const d = (x: string): Dec => new Dec(x);
const PERP = 'BTC/USDT:USDT';
const T = 1_700_000_000_000;

function order(clientOrderId: string, over: Partial<Order> = {}): Order {
  return {
    clientOrderId,
    symbol: 'BTC/USDT',
    side: 'buy',
    type: 'limit',
    timeInForce: 'GTC',
    quantity: d('0.5'),
    price: d('29000.5'),
    filledQuantity: d('0'),
    status: 'pending',
    createdAt: T,
    updatedAt: T,
    ...over,
  };
}

/** A state with something in every part: orders, applied fills and funding, cursors, memory, liquidate-only. */
function richState(): EngineState {
  const portfolio = Portfolio.create({
    instruments: DEFAULT_INSTRUMENTS,
    balances: [
      { asset: 'USDT', total: d('100000.123456789'), free: d('100000.123456789') },
      { asset: 'BTC', total: d('2'), free: d('2') },
    ],
    positions: [{ symbol: PERP, quantity: d('-0.25'), entryPrice: d('31000') }],
  });
  portfolio.trackOrder(
    order('a', { exchangeOrderId: '11', status: 'open', symbol: PERP, side: 'buy', quantity: d('0.1') }),
  );
  portfolio.applyFill({
    tradeId: 't-1',
    exchangeOrderId: '11',
    clientOrderId: 'a',
    symbol: PERP,
    side: 'buy',
    quantity: d('0.04'),
    price: d('30500.25'),
    fee: d('0.00061'),
    feeAsset: 'USDT',
    timestamp: T + 1,
    inferred: false,
  });
  portfolio.applyFunding({ id: 'f-1', symbol: PERP, asset: 'USDT', amount: d('-0.7'), timestamp: T + 2 });
  portfolio.trackOrder(order('b'));
  portfolio.markToMarket(
    new Map([
      ['BTC/USDT', d('30000')],
      [PERP, d('30000')],
    ]),
  );
  const memory = ReconcileMemory.fromJSON({
    ghosts: [
      {
        key: orderKey({ symbol: 'ETH/USDT', exchangeOrderId: '12', clientOrderId: 'c' }),
        symbol: 'ETH/USDT',
        exchangeOrderId: '12',
        clientOrderId: 'c',
        firstSeenAt: T + 3,
        notFound: 1,
      },
    ],
    drift: [{ kind: 'position', key: PERP, cycles: 2 }],
    seenDeltas: [{ kind: 'balance', key: 'USDT', delta: '-0.00000001' }],
  });
  return {
    portfolio,
    cursors: {
      trades: { [PERP]: { since: T + 1, seenIds: ['t-1'] }, 'BTC/USDT': { since: T, seenIds: [] } },
      funding: { since: T + 2, seenIds: ['f-1'] },
    },
    memory,
    lifecycle: { liquidateOnly: { reason: 'drift on BTC/USDT:USDT' } },
  };
}

/** What a store hands back after `compact(encode(state))` and some appends: plain JSON. */
function loaded(snapshot: unknown, journal: unknown[] = [], warnings: string[] = []): LoadedState {
  return JSON.parse(JSON.stringify({ snapshot, journal, warnings })) as LoadedState;
}

const encoded = (s: EngineState = richState(), at = T + 10): EngineStateJSON =>
  JSON.parse(JSON.stringify(encodeEngineState(s, at))) as EngineStateJSON;

describe('encode / decode', () => {
  it('carries the equity and drawdown last marked before a save (absent in older states), exactly', () => {
    const withEquity = JSON.stringify(
      encodeEngineState(richState(), T + 10, { equity: '199876.123456789', drawdown: '0.0012' }),
    );
    const back = decodeEngineState(loaded(JSON.parse(withEquity)));
    expect([back.equityAtSave?.equity?.toFixed(), back.equityAtSave?.drawdown?.toFixed()]).toEqual([
      '199876.123456789',
      '0.0012',
    ]);
    const unmarked = decodeEngineState(
      loaded(JSON.parse(JSON.stringify(encodeEngineState(richState(), T + 10, { equity: null, drawdown: null })))),
    );
    expect(unmarked.equityAtSave).toEqual({ equity: null, drawdown: null });
    expect(decodeEngineState(loaded(encoded())).equityAtSave).toBeUndefined();
  });

  it('round-trips exactly: decode(encode(s)) encodes to the same JSON text', () => {
    const state = richState();
    const first = JSON.stringify(encodeEngineState(state, T + 10));
    const back = decodeEngineState(loaded(JSON.parse(first)));
    expect(back).toMatchObject({ fresh: false, replayed: 0, warnings: [] });
    expect(JSON.stringify(encodeEngineState(back, T + 10))).toBe(first);
    // And the objects behind the text agree.
    const p = back.portfolio!;
    expect(p.realizedPnl.eq(state.portfolio!.realizedPnl)).toBe(true);
    expect(p.peakEquity.eq(state.portfolio!.peakEquity)).toBe(true);
    expect(p.hasAppliedTrade({ symbol: PERP, tradeId: 't-1' })).toBe(true);
    expect(p.preservedMetrics().appliedFundingIds).toEqual(['f-1']);
    expect(p.position(PERP).quantity.toFixed()).toBe('-0.21');
    expect(back.cursors).toEqual(state.cursors);
    expect(back.memory.toJSON()).toEqual(state.memory.toJSON());
    expect(back.lifecycle).toEqual({ liquidateOnly: { reason: 'drift on BTC/USDT:USDT' } });
  });

  it('writes the format name, the version and the save time', () => {
    const s = encodeEngineState(richState(), 42);
    expect(s).toMatchObject({ format: ENGINE_STATE_FORMAT, version: ENGINE_STATE_VERSION, savedAt: 42 });
  });

  it('a state saved before any portfolio existed round-trips with no portfolio', () => {
    const empty: EngineState = {
      portfolio: undefined,
      cursors: EMPTY_CURSORS,
      memory: new ReconcileMemory(),
      lifecycle: { liquidateOnly: null },
    };
    const back = decodeEngineState(loaded(encodeEngineState(empty, 1)));
    expect(back).toMatchObject({ fresh: false, portfolio: undefined, lifecycle: { liquidateOnly: null } });
    expect(back.cursors).toEqual({ trades: {} });
  });

  it('an empty store is a fresh start', () => {
    expect(decodeEngineState(undefined)).toMatchObject({ fresh: true, portfolio: undefined, replayed: 0 });
    expect(decodeEngineState({ snapshot: undefined, journal: [], warnings: ['torn tail dropped'] })).toMatchObject({
      fresh: true,
      warnings: ['torn tail dropped'],
    });
  });

  it("passes the store's warnings on", () => {
    expect(decodeEngineState(loaded(encoded(), [], ['w1'])).warnings).toEqual(['w1']);
  });
});

describe('journal replay', () => {
  it('order records: submitted, then acknowledged, then a rejected one; the last word counts', () => {
    const submitted = order('n1');
    const ack: Order = { ...submitted, exchangeOrderId: '99', status: 'open', updatedAt: T + 20 };
    const refused = order('n2', { symbol: 'ETH/USDT', side: 'sell' });
    const journal = [
      orderRecord('submitted', submitted, T + 10),
      { kind: 'cycle', at: T + 11, handler: 'runtime', cycle: 3, summary: { ghosts: 0 } },
      orderRecord('acknowledged', ack, T + 20),
      { kind: 'reconcileAction', handler: 'runtime', index: 0, status: 'done', action: { type: 'applyFill' } },
      orderRecord('submitted', refused, T + 30),
      orderRecord('rejected', { ...refused, status: 'rejected', updatedAt: T + 31 }, T + 31, 'insufficient funds'),
    ];
    const s = decodeEngineState(loaded(encoded(), journal));
    expect(s.replayed).toBe(4); // audit-only records are not replayed
    expect(s.portfolio!.findOrder({ clientOrderId: 'n1' })).toMatchObject({
      exchangeOrderId: '99',
      status: 'open',
      updatedAt: T + 20,
    });
    expect(s.portfolio!.findOrder({ exchangeOrderId: '99' })?.clientOrderId).toBe('n1');
    expect(s.portfolio!.findOrder({ clientOrderId: 'n2' })?.status).toBe('rejected');
    // What was in the snapshot is still there.
    expect(s.portfolio!.findOrder({ clientOrderId: 'a' })?.filledQuantity.toFixed()).toBe('0.04');
  });

  it('an unconfirmed submission stays pending', () => {
    const o = order('u1');
    const s = decodeEngineState(
      loaded(encoded(), [orderRecord('submitted', o, T + 10), orderRecord('unconfirmed', o, T + 11, 'timeout')]),
    );
    expect(s.portfolio!.findOrder({ clientOrderId: 'u1' })).toMatchObject({ status: 'pending' });
    expect(s.portfolio!.findOrder({ clientOrderId: 'u1' })?.exchangeOrderId).toBeUndefined();
  });

  it('a pending record does not take back what the snapshot knew later (sim seed 16378: pending for good)', () => {
    // A cycle found the order (id 63, open) while the placing call waited; the call's lost answer came after that.
    const state = richState();
    state.portfolio!.trackOrder(order('s57', { exchangeOrderId: '63', status: 'open' }));
    const s = decodeEngineState(loaded(encoded(state), [orderRecord('unconfirmed', order('s57'), T + 11, 'timeout')]));
    expect(s.portfolio!.findOrder({ clientOrderId: 's57' })).toMatchObject({ status: 'open', exchangeOrderId: '63' });
  });

  it('lifecycle records: entering and leaving liquidate-only; the last one wins over the snapshot', () => {
    const enter = { kind: 'lifecycle', at: T + 10, liquidateOnly: { reason: 'manual stop-out' } };
    const leave = { kind: 'lifecycle', at: T + 20, liquidateOnly: null };
    const base = encoded(); // liquidate-only in the snapshot
    expect(decodeEngineState(loaded(base, [leave])).lifecycle).toEqual({ liquidateOnly: null });
    expect(decodeEngineState(loaded(base, [leave, enter])).lifecycle).toEqual({
      liquidateOnly: { reason: 'manual stop-out' },
    });
    expect(decodeEngineState(loaded(undefined, [enter])).lifecycle).toEqual({
      liquidateOnly: { reason: 'manual stop-out' },
    });
  });

  it('a journal with only audit records changes nothing', () => {
    const s = decodeEngineState(
      loaded(encoded(), [{ kind: 'cycle', at: 1, handler: 'startup', cycle: 0, summary: {} }]),
    );
    expect(s.replayed).toBe(0);
    expect(JSON.stringify(encodeEngineState(s, T + 10))).toBe(JSON.stringify(encoded()));
  });
});

// ---- malformed input -------------------------------------------------------------------------------------------

type Mutable = Record<string, unknown>;
const withSnapshot = (edit: (s: Mutable) => void): LoadedState => {
  const s = encoded() as unknown as Mutable;
  edit(s);
  return loaded(s);
};

const good = orderRecord('submitted', order('ok'), T + 10) as unknown as Mutable;

const malformed: readonly [string, () => LoadedState, RegExp][] = [
  ['the snapshot is not an object', () => loaded([1, 2]), /snapshot/],
  ['the snapshot is a string', () => loaded('state'), /snapshot/],
  ['another format', () => withSnapshot((s) => (s.format = 'something-else')), /format/],
  ['no format', () => withSnapshot((s) => delete s.format), /format/],
  ['an unknown version', () => withSnapshot((s) => (s.version = 4)), /version 4 is not supported/],
  ['a version as a string', () => withSnapshot((s) => (s.version = '1')), /version/],
  [
    'a portfolio with a bad amount',
    () => withSnapshot((s) => ((s.portfolio as Mutable).peakEquity = 'lots')),
    /peakEquity/,
  ],
  [
    'a portfolio of another version',
    () => withSnapshot((s) => ((s.portfolio as Mutable).version = 9)),
    /not valid engine state/,
  ],
  ['no portfolio key', () => withSnapshot((s) => delete s.portfolio), /not valid engine state/],
  ['cursors missing', () => withSnapshot((s) => delete s.cursors), /cursors/],
  [
    'a cursor with a negative since',
    () => withSnapshot((s) => (s.cursors = { trades: { [PERP]: { since: -1, seenIds: [] } } })),
    /cursors\.trades/,
  ],
  [
    'a cursor whose seenIds is not a list',
    () => withSnapshot((s) => (s.cursors = { trades: {}, funding: { since: 1, seenIds: 'f-1' } })),
    /cursors\.funding/,
  ],
  [
    'a drift actor with a negative count',
    () =>
      withSnapshot(
        (s) =>
          ((s.handlerActors as { drift: { snapshot: { context: Mutable } }[] }).drift[0]!.snapshot.context.cycles = -1),
      ),
    /handlerActors\.drift\[0\]\.snapshot\.context\.cycles/,
  ],
  [
    'a ghost actor in a state the machine has not',
    () =>
      withSnapshot(
        (s) => ((s.handlerActors as { ghosts: { snapshot: Mutable }[] }).ghosts[0]!.snapshot.value = 'teleported'),
      ),
    /handlerActors\.ghosts\[0\]\.snapshot\.value/,
  ],
  [
    'a ghost actor saved finished',
    () =>
      withSnapshot(
        (s) => ((s.handlerActors as { ghosts: { snapshot: Mutable }[] }).ghosts[0]!.snapshot.status = 'done'),
      ),
    /handlerActors\.ghosts\[0\]\.snapshot\.status/,
  ],
  [
    'two drift actors with one key',
    () =>
      withSnapshot((s) => {
        const h = s.handlerActors as { drift: unknown[] };
        h.drift = [h.drift[0], h.drift[0]];
      }),
    /two actors have this key/,
  ],
  ['handler actors missing', () => withSnapshot((s) => delete s.handlerActors), /handlerActors/],
  [
    'version 2 memory with a negative count',
    () =>
      withSnapshot((s) => {
        s.version = 2;
        s.memory = { ghosts: [], drift: [{ kind: 'position', key: PERP, cycles: -1 }] };
      }),
    /snapshot\.memory\.drift/,
  ],
  ['version 2 memory missing', () => withSnapshot((s) => (s.version = 2)), /memory/],
  ['lifecycle missing', () => withSnapshot((s) => delete s.lifecycle), /lifecycle/],
  [
    'an equity at save that is a number',
    () => withSnapshot((s) => (s.equity = { equity: 1000, drawdown: null })),
    /snapshot\.equity\.equity/,
  ],
  [
    'a liquidate-only reason that is not a string',
    () => withSnapshot((s) => (s.lifecycle = { liquidateOnly: { reason: 5 } })),
    /lifecycle\.liquidateOnly\.reason/,
  ],
  ['a journal record that is not an object', () => loaded(encoded(), ['order']), /journal record 1/],
  ['a journal record with no kind', () => loaded(encoded(), [{ at: 1 }]), /journal\[0\]\.kind/],
  ['an unknown record kind', () => loaded(encoded(), [{ kind: 'teleport' }]), /unknown record kind/],
  [
    'an order record with an unknown event',
    () => loaded(encoded(), [{ ...good, event: 'filled' }]),
    /journal\[0\]\.event/,
  ],
  [
    'an order record with a malformed order',
    () => loaded(encoded(), [{ ...good, order: { ...orderToJSON(order('x')), quantity: '-1' } }]),
    /journal\[0\]\.order/,
  ],
  [
    'an order record with no order',
    () => loaded(encoded(), [{ kind: 'order', event: 'submitted', at: 1 }]),
    /journal\[0\]\.order/,
  ],
  ['an order record before any portfolio was saved', () => loaded(undefined, [good]), /before any portfolio/],
  [
    'a lifecycle record without liquidateOnly',
    () => loaded(encoded(), [{ kind: 'lifecycle', at: 1 }]),
    /journal\[0\]\.liquidateOnly/,
  ],
  [
    'a bad record after good ones',
    () =>
      loaded(encoded(), [
        good,
        { kind: 'lifecycle', at: 1, liquidateOnly: null },
        { kind: 'lifecycle', liquidateOnly: 'yes' },
      ]),
    /journal record 3/,
  ],
];

describe('malformed state is a StoreCorruptError, and nothing is half-applied', () => {
  for (const [name, make, pattern] of malformed) {
    it(name, () => {
      const input = make();
      const before = JSON.stringify(input);
      let thrown: unknown;
      let result: unknown;
      try {
        result = decodeEngineState(input);
      } catch (e) {
        thrown = e;
      }
      // No partial state comes back: it throws, and the input it was given is untouched.
      expect(result).toBeUndefined();
      expect(thrown).toBeInstanceOf(StoreCorruptError);
      expect((thrown as Error).message).toMatch(pattern);
      expect((thrown as Error).message).toMatch(/^engine state: /);
      expect((thrown as Error).cause).toBeDefined();
      expect(JSON.stringify(input)).toBe(before);
    });
  }

  it('the valid prefix of a journal decodes; the same journal with a bad tail record does not', () => {
    const journal: JsonValue[] = [good as JsonValue, { kind: 'lifecycle', at: 1, liquidateOnly: null }];
    expect(decodeEngineState(loaded(encoded(), journal)).replayed).toBe(2);
    expect(() =>
      decodeEngineState(loaded(encoded(), [...journal, { kind: 'order', event: 'submitted', at: 2, order: null }])),
    ).toThrow(StoreCorruptError);
  });
});

describe('parseCursorState', () => {
  it('accepts what the handlers write and refuses the rest', () => {
    const c = { trades: { [PERP]: { since: 5, seenIds: ['t-1', 't-2'] } }, funding: { since: 3, seenIds: [] } };
    expect(parseCursorState(JSON.parse(JSON.stringify(c)))).toEqual(c);
    expect(parseCursorState({ trades: {} })).toEqual({ trades: {} });
    expect(() => parseCursorState({ trades: { x: { since: 1.5, seenIds: [] } } })).toThrow(/cursors\.trades\.x\.since/);
    expect(() => parseCursorState({ trades: { x: { since: 1, seenIds: [''] } } })).toThrow(/seenIds\[0\]/);
    expect(() => parseCursorState({})).toThrow(/cursors\.trades/);
  });
});

describe('an order record the books refuse is skipped, never fatal (the directory must load)', () => {
  it('a contradicting acknowledgement: skipped with a warning naming it; the order stays as the snapshot had it', () => {
    const state = decodeEngineState(
      loaded(encoded(), [orderRecord('acknowledged', order('a', { exchangeOrderId: '777', status: 'open' }), T + 10)]),
    );
    expect(state.warnings).toHaveLength(1);
    expect(state.warnings[0]).toMatch(/journal record 1 \(order a, acknowledged\) skipped/);
    expect(state.replayed).toBe(1);
    expect(state.portfolio!.findOrder({ exchangeOrderId: '777' })).toBeUndefined();
  });
});

/** The state-file examples of issue 14: nothing lost under a hostile key, no hang on an exponent bomb. */
describe('untrusted state files (issue 14)', () => {
  it('keeps a trade cursor keyed "__proto__" (it used to become the prototype and vanish)', () => {
    const json = encodeEngineState(richState(), T) as unknown as { cursors: { trades: Record<string, unknown> } };
    const text = JSON.stringify(json).replace('"trades":{', '"trades":{"__proto__":{"since":5,"seenIds":["z"]},');
    const s = decodeEngineState({ snapshot: JSON.parse(text) as JsonValue, journal: [], warnings: [] });
    expect(Object.keys(s.cursors.trades)).toContain('__proto__');
    expect(Object.getOwnPropertyDescriptor(s.cursors.trades, '__proto__')?.value).toEqual({ since: 5, seenIds: ['z'] });
    expect(s.cursors.trades['toString']).toBeUndefined();
    expect(({} as Record<string, unknown>)['since']).toBeUndefined();
  });

  it('an exponent bomb in the handlers memory is a StoreCorruptError at once, not a hang in toFixed', () => {
    const json = JSON.parse(JSON.stringify(encodeEngineState(richState(), T))) as {
      handlerActors: { drift: { snapshot: { context: { seenDelta?: string } } }[] };
    };
    json.handlerActors.drift.find((d) => d.snapshot.context.seenDelta !== undefined)!.snapshot.context.seenDelta =
      '1e10000000';
    let caught: unknown;
    try {
      decodeEngineState(loaded(json));
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(StoreCorruptError);
    expect((caught as Error).message).toMatch(
      /snapshot\.handlerActors\.drift\[0\]\.snapshot\.context\.seenDelta: out of range/,
    );
  });

  it('a store that hands back no journal list is a StoreCorruptError, not a TypeError', () => {
    expect(() => decodeEngineState({ snapshot: null, warnings: [] } as unknown as LoadedState)).toThrow(
      StoreCorruptError,
    );
  });
});

describe('decodeEngineStateSliced (the boot decodes in slices)', () => {
  const sliced = (input: LoadedState | undefined, pause = countingPause().pause) =>
    decodeEngineStateSliced(input, {}, undefined, pause);
  const encodedAgain = (s: DecodedEngineState): string =>
    JSON.stringify(encodeEngineState({ ...s, handlerActors: s.handlerActors }, T + 10));

  /** Books of 600 tracked orders and a journal of 300 order records after them (past a slice each). */
  function large(): LoadedState {
    const state = richState();
    for (let i = 0; i < 600; i++)
      state.portfolio!.trackOrder(order(`o${i}`, { exchangeOrderId: String(100 + i), status: 'open' }));
    const journal: JsonValue[] = [];
    for (let i = 0; i < 300; i++)
      journal.push(orderRecord('submitted', order(`j${i}`), T + 20 + i) as unknown as JsonValue);
    journal.push({ kind: 'lifecycle', at: T + 400, liquidateOnly: null });
    return loaded(encoded(state), journal);
  }

  it('decodes what decodeEngineState decodes, pausing within the orders and the journal', async () => {
    const input = large();
    const want = decodeEngineState(input);
    const steps = countingPause();
    const got = await sliced(input, steps.pause);
    expect(encodedAgain(got)).toBe(encodedAgain(want));
    expect(got.portfolio!.orders()).toEqual(want.portfolio!.orders());
    expect([got.replayed, got.fresh, got.warnings]).toEqual([want.replayed, want.fresh, want.warnings]);
    expect(got.lifecycle).toEqual(want.lifecycle);
    // Two orders' slices, the portfolio's construction, one journal slice.
    expect(steps.count()).toBeGreaterThanOrEqual(4);
    expect(await sliced(undefined)).toEqual(decodeEngineState(undefined));
  });

  /** Sets field `column` of the snapshot's order `i` (a row of its order table). */
  const setOrderField = (l: LoadedState, i: number, column: (typeof ORDER_COLUMNS)[number], value: string): void => {
    const table = ((l.snapshot as Mutable).portfolio as Mutable).orders as OrderTableJSON;
    table.rows[i]![ORDER_COLUMNS.indexOf(column)] = value;
  };

  it('refuses what decodeEngineState refuses, with the same error, the input untouched', async () => {
    const bad: [string, (l: LoadedState) => void][] = [
      ['an order of the snapshot', (l) => setOrderField(l, 400, 'quantity', 'x')],
      ['a journal record', (l) => ((l.journal[270] as Mutable).order = null)],
      ['two orders under one id', (l) => setOrderField(l, 500, 'clientOrderId', 'o3')],
    ];
    const cases: [string, LoadedState][] = [
      ...bad.map(([name, spoil]): [string, LoadedState] => {
        const l = large();
        spoil(l);
        return [name, l];
      }),
      ...malformed.map(([name, make]): [string, LoadedState] => [name, make() as LoadedState]),
    ];
    for (const [name, input] of cases) {
      const before = JSON.stringify(input);
      let want: unknown;
      try {
        decodeEngineState(input);
      } catch (e) {
        want = e;
      }
      expect(want, name).toBeInstanceOf(StoreCorruptError);
      const got = await sliced(input).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(got, name).toBeInstanceOf(StoreCorruptError);
      expect((got as Error).message, name).toBe((want as Error).message);
      expect(JSON.stringify(input), name).toBe(before);
    }
  });
});
