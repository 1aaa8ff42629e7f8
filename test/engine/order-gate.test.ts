/**
 * The order gate: which phases refuse what (each refusal code), how it tells an exposure increase from a reduction
 * on perpetuals and spot, counting the orders already open on the same side, and a property: an order it calls
 * `reduce` never increases |exposure|, even if it and every other open order on its side fill completely.
 */
import fc from 'fast-check';
import { describe, expect, it, vi } from 'vitest';
import { Dec } from '../../src/domain/decimal.js';
import type { Balance, Fill, Instrument, Order, Position, Side } from '../../src/domain/types.js';
import { checkOrder, exposureEffect, isOrderRefusedError, OrderRefusedError } from '../../src/engine/order-gate.js';
import type { ClientOrderIdRule, PlaceOrderRequest } from '../../src/exchange/port.js';
import { DEFAULT_INSTRUMENTS } from '../../src/exchange/simulated/options.js';
import { LIFECYCLE_PHASES, type LifecyclePhase } from '../../machines/lifecycle.js';
import { Portfolio } from '../../src/portfolio/portfolio.js';

const PERP = 'BTC/USDT:USDT';
const SPOT = 'BTC/USDT';
const d = (x: string | number): Dec => new Dec(x);

let seq = 0;
function order(
  symbol: string,
  side: Side,
  quantity: string,
  filled = '0',
  status: Order['status'] = 'open',
  clientOrderId = `o${++seq}`,
): Order {
  return {
    clientOrderId,
    exchangeOrderId: `x-${clientOrderId}`,
    symbol,
    side,
    type: 'limit',
    quantity: d(quantity),
    price: d('30000'),
    filledQuantity: d(filled),
    status,
    createdAt: 1,
    updatedAt: 1,
  };
}

function book(opts: { position?: string; btc?: string; orders?: Order[] } = {}): Portfolio {
  const balances: Balance[] = [
    { asset: 'USDT', total: d('100000'), free: d('100000') },
    { asset: 'BTC', total: d(opts.btc ?? '2'), free: d(opts.btc ?? '2') },
  ];
  const positions: Position[] =
    opts.position === undefined ? [] : [{ symbol: PERP, quantity: d(opts.position), entryPrice: d('30000') }];
  return Portfolio.create({ instruments: DEFAULT_INSTRUMENTS, balances, positions, orders: opts.orders ?? [] });
}

function req(symbol: string, side: Side, quantity: string, clientOrderId = 'new'): PlaceOrderRequest {
  return { clientOrderId, symbol, side, type: 'limit', quantity: d(quantity), price: d('30000') };
}

function refusal(
  phase: LifecyclePhase,
  portfolio: Portfolio | undefined,
  r: PlaceOrderRequest,
  rule?: ClientOrderIdRule,
): OrderRefusedError {
  try {
    checkOrder(phase, portfolio, r, rule);
  } catch (e) {
    expect(isOrderRefusedError(e)).toBe(true);
    return e as OrderRefusedError;
  }
  throw new Error(`expected ${r.clientOrderId} to be refused in ${phase}`);
}

describe('refusals by phase', () => {
  const p = book({ position: '1' });
  const increase = req(PERP, 'buy', '0.1', 'inc');
  const reduce = req(PERP, 'sell', '0.1', 'red');

  it('loading and startupReconcile: notReady, even with a loaded portfolio', () => {
    for (const phase of ['loading', 'startupReconcile'] as const) {
      for (const r of [increase, reduce]) {
        const e = refusal(phase, p, r);
        expect(e).toBeInstanceOf(OrderRefusedError);
        expect(e).toMatchObject({ name: 'OrderRefusedError', code: 'notReady', phase, clientOrderId: r.clientOrderId });
        expect(e.message).toContain(phase);
      }
    }
  });

  it('stopping, stopped, failed: notRunning, with or without a portfolio', () => {
    for (const phase of ['stopping', 'stopped', 'failed'] as const) {
      expect(refusal(phase, p, reduce)).toMatchObject({ code: 'notRunning', phase });
      expect(refusal(phase, undefined, reduce)).toMatchObject({ code: 'notRunning', phase });
    }
  });

  it('running without a portfolio: notReady', () => {
    expect(refusal('running', undefined, increase)).toMatchObject({ code: 'notReady' });
  });

  it('an unknown symbol: unknownInstrument', () => {
    expect(refusal('running', p, req('DOGE/USDT', 'buy', '1'))).toMatchObject({ code: 'unknownInstrument' });
    expect(refusal('liquidateOnly', p, req('DOGE/USDT', 'sell', '1'))).toMatchObject({ code: 'unknownInstrument' });
  });

  it('liquidateOnly: an increase is refused (liquidateOnly), a reduction passes', () => {
    expect(refusal('liquidateOnly', p, increase)).toMatchObject({ code: 'liquidateOnly', phase: 'liquidateOnly' });
    expect(checkOrder('liquidateOnly', p, reduce)).toBe('reduce');
  });

  it('running: everything known passes, with its effect', () => {
    expect(checkOrder('running', p, increase)).toBe('increase');
    expect(checkOrder('running', p, reduce)).toBe('reduce');
  });

  it('only running and liquidateOnly let anything through', () => {
    const passes = LIFECYCLE_PHASES.filter((phase) => {
      try {
        checkOrder(phase, p, reduce);
        return true;
      } catch {
        return false;
      }
    });
    expect(passes).toEqual(['running', 'liquidateOnly']);
  });
});

describe('client order ids', () => {
  const p = book({
    position: '1',
    orders: [order(PERP, 'buy', '0.1', '0', 'open', 'taken'), order(SPOT, 'buy', '0.1', '0', 'cancelled', 'done')],
  });
  const okx: ClientOrderIdRule = { maxLength: 32, char: /[A-Za-z0-9]/, chars: 'letters and digits' };

  it('an id the rule refuses: invalidClientOrderId in every phase, saying why', () => {
    for (const phase of LIFECYCLE_PHASES) {
      const dash = refusal(phase, p, req(PERP, 'sell', '0.1', 'quote-1'), okx);
      expect(dash).toMatchObject({ code: 'invalidClientOrderId', phase, clientOrderId: 'quote-1' });
      expect(dash.message).toContain('"-"');
      const long = refusal(phase, p, req(PERP, 'sell', '0.1', 'a'.repeat(33)), okx);
      expect(long).toMatchObject({ code: 'invalidClientOrderId' });
      expect(long.message).toContain('33 characters');
    }
    expect(checkOrder('running', p, req(PERP, 'sell', '0.1', `Quote1${'a'.repeat(26)}`), okx)).toBe('reduce');
  });

  it('an empty id: invalidClientOrderId with or without a rule', () => {
    expect(refusal('running', p, req(PERP, 'sell', '0.1', ''))).toMatchObject({ code: 'invalidClientOrderId' });
    expect(refusal('running', p, req(PERP, 'sell', '0.1', ''), okx).message).toContain('is empty');
  });

  it('without a rule any id that is not empty passes the id check', () => {
    expect(checkOrder('running', p, req(PERP, 'sell', '0.1', 'quote-1 é/:'))).toBe('reduce');
  });

  it('an id a tracked order has, open or terminal: duplicateClientOrderId', () => {
    for (const id of ['taken', 'done'])
      expect(refusal('running', p, req(PERP, 'sell', '0.1', id))).toMatchObject({
        code: 'duplicateClientOrderId',
        clientOrderId: id,
      });
  });
});

describe('perpetual: increase vs reduce', () => {
  it('long: a sell up to the position reduces; beyond it (a flip) or a buy increases', () => {
    const p = book({ position: '1' });
    expect(exposureEffect(p, req(PERP, 'sell', '0.5'))).toBe('reduce');
    expect(exposureEffect(p, req(PERP, 'sell', '1'))).toBe('reduce');
    expect(exposureEffect(p, req(PERP, 'sell', '1.00000001'))).toBe('increase');
    expect(exposureEffect(p, req(PERP, 'buy', '0.00000001'))).toBe('increase');
  });

  it('short: a buy up to the position reduces; a sell increases', () => {
    const p = book({ position: '-0.3' });
    expect(exposureEffect(p, req(PERP, 'buy', '0.3'))).toBe('reduce');
    expect(exposureEffect(p, req(PERP, 'buy', '0.31'))).toBe('increase');
    expect(exposureEffect(p, req(PERP, 'sell', '0.1'))).toBe('increase');
  });

  it('flat: every order increases', () => {
    const p = book();
    expect(exposureEffect(p, req(PERP, 'sell', '0.1'))).toBe('increase');
    expect(exposureEffect(p, req(PERP, 'buy', '0.1'))).toBe('increase');
  });

  it('counts the remaining quantity of open orders on the same side and symbol', () => {
    const p = book({
      position: '1',
      orders: [
        order(PERP, 'sell', '0.6', '0.3'), // 0.3 remaining
        order(PERP, 'buy', '5'), // other side: not counted
        order(SPOT, 'sell', '1'), // other symbol: not counted
        order(PERP, 'sell', '0.5', '0.5', 'filled'), // closed: not counted
        order(PERP, 'sell', '0.9', '0', 'cancelled'), // closed: not counted
      ],
    });
    expect(exposureEffect(p, req(PERP, 'sell', '0.7'))).toBe('reduce');
    expect(exposureEffect(p, req(PERP, 'sell', '0.70000001'))).toBe('increase');
    expect(checkOrder('liquidateOnly', p, req(PERP, 'sell', '0.7'))).toBe('reduce');
    expect(refusal('liquidateOnly', p, req(PERP, 'sell', '0.8'))).toMatchObject({ code: 'liquidateOnly' });
  });

  it('an order that plainly increases (flat, along the position, any spot buy) walks no open orders', () => {
    const p = book({ position: '1', orders: [order(PERP, 'sell', '0.3'), order(SPOT, 'buy', '0.3')] });
    const open = vi.spyOn(p, 'openOrders');
    expect(exposureEffect(p, req(PERP, 'buy', '0.1'))).toBe('increase');
    expect(exposureEffect(p, req(SPOT, 'buy', '0.1'))).toBe('increase');
    expect(exposureEffect(book(), req(PERP, 'sell', '0.1'))).toBe('increase');
    expect(open).not.toHaveBeenCalled();
    expect(exposureEffect(p, req(PERP, 'sell', '0.8'))).toBe('increase');
    expect(open).toHaveBeenCalledTimes(1);
  });

  it('an order already tracked under the same client id is not counted against itself', () => {
    const p = book({ position: '1', orders: [order(PERP, 'sell', '0.8', '0', 'pending', 'same')] });
    expect(exposureEffect(p, req(PERP, 'sell', '0.8', 'same'))).toBe('reduce');
    expect(exposureEffect(p, req(PERP, 'sell', '0.8', 'other'))).toBe('increase');
  });
});

describe('spot: increase vs reduce', () => {
  it('any buy increases; a sell up to the base held reduces', () => {
    const p = book({ btc: '2' });
    expect(exposureEffect(p, req(SPOT, 'buy', '0.00000001'))).toBe('increase');
    expect(exposureEffect(p, req(SPOT, 'sell', '2'))).toBe('reduce');
    expect(exposureEffect(p, req(SPOT, 'sell', '2.00000001'))).toBe('increase');
    expect(exposureEffect(book({ btc: '0' }), req(SPOT, 'sell', '0.1'))).toBe('increase');
  });

  it('counts the other open sells of the base', () => {
    const p = book({ btc: '2', orders: [order(SPOT, 'sell', '1.5'), order(SPOT, 'buy', '1')] });
    expect(exposureEffect(p, req(SPOT, 'sell', '0.5'))).toBe('reduce');
    expect(exposureEffect(p, req(SPOT, 'sell', '0.51'))).toBe('increase');
    expect(refusal('liquidateOnly', p, req(SPOT, 'sell', '0.51'))).toMatchObject({ code: 'liquidateOnly' });
  });
});

// ---- the property --------------------------------------------------------------------------------------------

/** Quantities in 0.01 lots, so sums stay exact and small. */
const lots = (n: number): string => new Dec(n).div(100).toFixed();

interface Case {
  readonly kind: 'perp' | 'spot';
  readonly held: number; // position (signed lots) or base balance (lots >= 0)
  readonly open: readonly { side: Side; qty: number; filled: number; symbolIsOther: boolean }[];
  readonly side: Side;
  readonly qty: number;
}

const arbCase: fc.Arbitrary<Case> = fc.record({
  kind: fc.constantFrom('perp' as const, 'spot' as const),
  held: fc.integer({ min: -300, max: 300 }),
  open: fc.array(
    fc
      .record({
        side: fc.constantFrom('buy' as const, 'sell' as const),
        qty: fc.integer({ min: 1, max: 200 }),
        filledPart: fc.integer({ min: 0, max: 9 }),
        symbolIsOther: fc.boolean(),
      })
      .map((o) => ({
        side: o.side,
        qty: o.qty,
        filled: Math.floor((o.qty * o.filledPart) / 10),
        symbolIsOther: o.symbolIsOther,
      })),
    { maxLength: 6 },
  ),
  side: fc.constantFrom('buy' as const, 'sell' as const),
  qty: fc.integer({ min: 1, max: 400 }),
});

/** |exposure| of the instrument: |position| on the perp, the base balance on spot. */
function exposure(p: Portfolio, inst: Instrument): Dec {
  return inst.kind === 'perp' ? p.position(inst.symbol).quantity.abs() : p.balance(inst.base).total.abs();
}

function fullFill(o: Order, inst: Instrument, n: number): Fill {
  return {
    tradeId: `fill-${n}`,
    exchangeOrderId: o.exchangeOrderId!,
    clientOrderId: o.clientOrderId,
    symbol: o.symbol,
    side: o.side,
    quantity: o.quantity.minus(o.filledQuantity),
    price: d('30000'),
    fee: d('0'),
    feeAsset: inst.quote,
    timestamp: 2,
    inferred: false,
  };
}

describe('property', () => {
  it("an order the gate calls 'reduce' never increases |exposure|, even filled in full with every other open order on its side", () => {
    let reduces = 0;
    fc.assert(
      fc.property(arbCase, (c) => {
        const symbol = c.kind === 'perp' ? PERP : SPOT;
        const other = c.kind === 'perp' ? SPOT : PERP;
        const inst = DEFAULT_INSTRUMENTS.find((i) => i.symbol === symbol)!;
        const held = c.kind === 'spot' ? Math.abs(c.held) : c.held;
        const open = c.open.map((o, i) =>
          order(o.symbolIsOther ? other : symbol, o.side, lots(o.qty), lots(o.filled), 'open', `open${i}`),
        );
        const p =
          c.kind === 'perp'
            ? book({ position: lots(held), btc: '0', orders: open })
            : book({ btc: lots(held), orders: open });
        const r = req(symbol, c.side, lots(c.qty), 'candidate');
        if (exposureEffect(p, r) !== 'reduce') return;
        reduces++;
        expect(checkOrder('liquidateOnly', p, r)).toBe('reduce');
        // Worst case: the candidate and every open order on its side (and symbol) fill completely.
        const after = p.clone();
        const candidate = order(symbol, r.side, r.quantity.toFixed(), '0', 'open', 'candidate');
        after.trackOrder(candidate);
        const filling = [candidate, ...open.filter((o) => o.symbol === symbol && o.side === r.side)];
        filling.forEach((o, n) => expect(after.applyFill(fullFill(o, inst, n)).outcome).toBe('applied'));
        expect(exposure(after, inst).lte(exposure(p, inst))).toBe(true);
        // Never through zero to the other side either.
        if (inst.kind === 'perp')
          expect(after.position(symbol).quantity.times(p.position(symbol).quantity).gte(0)).toBe(true);
        else expect(after.balance(inst.base).total.gte(0)).toBe(true);
      }),
      { numRuns: 400, seed: 20240601 },
    );
    // The property is about reductions: make sure the generator produces enough of them to mean something.
    expect(reduces).toBeGreaterThan(50);
  });
});
