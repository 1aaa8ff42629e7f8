/**
 * `isParsedAnswer`: a shipped adapter's `answersParsed` vouches for the open-order lists it hands out itself, and for
 * nothing a subclass or wrapper of it makes; an adapter of the bot's own that declares the flag is taken at its word.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { VirtualClock } from '../../src/domain/clock.js';
import { Dec } from '../../src/domain/decimal.js';
import type { Instrument, Order } from '../../src/domain/types.js';
import { isParsedAnswer, markParsed } from '../../src/exchange/parsed-answers.js';
import type { ExchangeClient } from '../../src/exchange/port.js';
import { SimulatedExchange } from '../../src/exchange/simulated.js';
import { withOverrides } from '../../src/exchange/with-overrides.js';
import { StaticBackend } from '../support/binance-emulator/static-backend.js';
import { T0, order, wire, type Wired } from './ccxt/helpers.js';

const PERP = 'BTC/USDT:USDT';

function simulator(): SimulatedExchange {
  const ex = new SimulatedExchange({ seed: 7, clock: new VirtualClock(T0) });
  ex.placeManualOrder({ symbol: PERP, side: 'buy', type: 'limit', quantity: new Dec('0.1'), price: new Dec('1000') });
  return ex;
}

/** An adapter of the bot's own: not built on a shipped one. */
function ownAdapter(answersParsed: boolean | undefined, list: readonly Order[]): ExchangeClient {
  return {
    id: 'own',
    ...(answersParsed !== undefined && { answersParsed }),
    fetchOpenOrders: () => Promise.resolve(list),
  } as unknown as ExchangeClient;
}

describe('isParsedAnswer: the simulator', () => {
  it('its own list, straight or through a wrapper that passes it on, needs no second read', async () => {
    const ex = simulator();
    const own = await ex.fetchOpenOrders();
    expect(own).toHaveLength(1);
    expect(isParsedAnswer(ex, own)).toBe(true);
    const passing = withOverrides(ex, { fetchPositions: () => Promise.resolve([]) });
    expect(isParsedAnswer(passing, await passing.fetchOpenOrders())).toBe(true);
  });

  it('a list a wrapper, a subclass or Object.create makes is read again, though each inherits answersParsed', async () => {
    const ex = simulator();
    const mapped = withOverrides(ex, {
      fetchOpenOrders: async (s) => (await ex.fetchOpenOrders(s)).map((o) => ({ ...o })),
    });
    expect(mapped.answersParsed).toBe(true);
    expect(isParsedAnswer(mapped, await mapped.fetchOpenOrders())).toBe(false);

    class Filtering extends SimulatedExchange {
      override async fetchOpenOrders(symbols?: readonly string[]): Promise<readonly Order[]> {
        return (await super.fetchOpenOrders(symbols)).filter(() => true);
      }
    }
    const sub = new Filtering({ seed: 7, clock: new VirtualClock(T0) });
    expect(sub.answersParsed).toBe(true);
    expect(isParsedAnswer(sub, await sub.fetchOpenOrders())).toBe(false);

    const derived = Object.create(ex) as SimulatedExchange;
    expect(derived.answersParsed).toBe(true);
    expect(isParsedAnswer(derived, [...(await ex.fetchOpenOrders())])).toBe(false);
  });

  it('the same list is not trusted through another client, nor a marked list through one that does not vouch', async () => {
    const ex = simulator();
    const own = await ex.fetchOpenOrders();
    expect(isParsedAnswer(ownAdapter(false, own), own)).toBe(false);
    expect(isParsedAnswer(ownAdapter(undefined, own), own)).toBe(false);
    expect(isParsedAnswer(withOverrides(ex, { answersParsed: false }), own)).toBe(false);
  });
});

describe("isParsedAnswer: an adapter of the bot's own", () => {
  it('declaring answersParsed is taken at its word for any list; not declaring it, never', () => {
    const list = [order({ clientOrderId: 'c1', exchangeOrderId: '1' })];
    expect(isParsedAnswer(ownAdapter(true, list), list)).toBe(true);
    expect(isParsedAnswer(ownAdapter(true, list), [...list])).toBe(true);
    expect(isParsedAnswer(ownAdapter(undefined, list), markParsed([...list]))).toBe(false);
  });
});

describe('isParsedAnswer: the ccxt adapter (over the loopback Binance emulator)', () => {
  let w: Wired | undefined;
  afterEach(async () => {
    await w?.close();
    w = undefined;
  });

  it('marks the open-order list it parsed; a wrapper mapping it is read again', async () => {
    const clock = new VirtualClock(T0);
    const inst: Instrument = { symbol: PERP, kind: 'perp', base: 'BTC', quote: 'USDT', settle: 'USDT' };
    const backend = new StaticBackend(
      {
        instruments: [inst],
        orders: [order({ clientOrderId: 'c1', exchangeOrderId: '11', symbol: PERP })],
        fills: [],
        funding: [],
        positions: [],
        balances: [],
      },
      clock,
    );
    w = await wire(backend, clock, [PERP], { emulator: { stepSize: '0.000000000001' } });
    const client = w.client;
    const list = await client.fetchOpenOrders();
    expect(list.map((o) => o.exchangeOrderId)).toEqual(['11']);
    expect(isParsedAnswer(client, list)).toBe(true);
    const mapped = withOverrides(client, {
      fetchOpenOrders: async (s) => (await client.fetchOpenOrders(s)).map((o) => ({ ...o })),
    });
    expect(mapped.answersParsed).toBe(true);
    expect(isParsedAnswer(mapped, await mapped.fetchOpenOrders())).toBe(false);
  });
});
