/**
 * The execution-stream wire parser: amounts straight from strings into Decimal, and every unreadable message a typed
 * `malformed` event (never an exception).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Dec } from '../../src/domain/decimal.js';
import { fillToJSON, orderToJSON } from '../../src/domain/parse.js';
import {
  isStreamMessageError,
  orderMessage,
  parseExecutionMessage,
  StreamMessageError,
  tradeMessage,
} from '../../src/exchange/execution-events.js';
import { arbFill, arbOrder } from '../support/arbitraries.js';

const FILL = {
  tradeId: '17',
  exchangeOrderId: '1001',
  clientOrderId: 'c1',
  symbol: 'BTC/USDT',
  side: 'buy',
  quantity: '0.10000000000000000001',
  price: '30000.5',
  fee: '-0.01',
  feeAsset: 'USDT',
  timestamp: 1_700_000_000_000,
  inferred: false,
};

function malformed(raw: unknown): StreamMessageError {
  const e = parseExecutionMessage(raw, 5);
  expect(e.type).toBe('malformed');
  if (e.type !== 'malformed') throw new Error('unreachable');
  expect(isStreamMessageError(e.error)).toBe(true);
  return e.error as StreamMessageError;
}

describe('parseExecutionMessage', () => {
  it('reads a trade message into Decimal without losing a digit, with its sequence number and arrival time', () => {
    const e = parseExecutionMessage({ kind: 'trade', seq: 3, fill: FILL }, 42);
    expect(e.type).toBe('trade');
    if (e.type !== 'trade') return;
    expect(e.seq).toBe(3);
    expect(e.receivedAt).toBe(42);
    expect(e.fill.quantity).toBeInstanceOf(Dec);
    expect(e.fill.quantity.toFixed()).toBe('0.10000000000000000001');
    expect(e.fill.fee.toFixed()).toBe('-0.01');
  });

  it('round-trips any fill and any order through its wire form', () => {
    fc.assert(
      fc.property(arbFill, fc.integer({ min: 1, max: 1_000_000 }), (f, seq) => {
        const fill = { ...f, inferred: false };
        const e = parseExecutionMessage(JSON.parse(JSON.stringify(tradeMessage(fill, seq))), 1);
        expect(e.type).toBe('trade');
        if (e.type === 'trade') expect(fillToJSON(e.fill)).toEqual(fillToJSON(fill));
      }),
    );
    fc.assert(
      fc.property(arbOrder(), (o) => {
        const e = parseExecutionMessage(JSON.parse(JSON.stringify(orderMessage(o))), 1);
        expect(e.type).toBe('order');
        if (e.type === 'order') expect(orderToJSON(e.order)).toEqual(orderToJSON(o));
      }),
    );
  });

  it('refuses a JS number where an amount belongs, naming the field, with the parse error as cause', () => {
    const err = malformed({ kind: 'trade', fill: { ...FILL, quantity: 0.1 } });
    expect(err.name).toBe('StreamMessageError');
    expect(err.kind).toBe('malformed');
    expect(err.message).toContain('message.fill.quantity');
    expect((err.cause as Error).name).toBe('ParseError');
  });

  it('refuses an inferred trade, an unknown kind, a bad sequence number and a non-object', () => {
    expect(malformed({ kind: 'trade', fill: { ...FILL, inferred: true } }).message).toContain('inferred');
    expect(malformed({ kind: 'balance' }).message).toContain('message.kind');
    expect(malformed({ kind: 'trade', seq: 0, fill: FILL }).message).toContain('message.seq');
    expect(malformed({ kind: 'trade', seq: 1.5, fill: FILL }).message).toContain('message.seq');
    expect(malformed('{"kind":"trade"}').raw).toBe('{"kind":"trade"}');
    expect(malformed(null).kind).toBe('malformed');
  });
});
