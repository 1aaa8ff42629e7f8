/**
 * A compaction writes each tracked order's text from an earlier compaction when the order is unchanged since
 * (`toDeferredJSON`, issue 16): what it writes must be exactly what encoding every order afresh writes.
 */
import fc from 'fast-check';
import { describe, expect, it, vi } from 'vitest';
import { Dec } from '../../src/domain/decimal.js';
import type { Balance, Side, TerminalOrderStatus } from '../../src/domain/types.js';
import { trackedOrderToJSON } from '../../src/portfolio/portfolio-delta.js';
import { Portfolio } from '../../src/portfolio/portfolio.js';
import { canonicalJson, canonicalPieceStream, encodeSnapshot, writeSnapshotPieces } from '../../src/store/codec.js';
import { INSTRUMENTS, d, order } from './fixtures.js';

// Counts the orders a compaction encodes (portfolio.ts calls the module's export).
vi.mock('../../src/portfolio/portfolio-delta.js', async (original) => {
  const m = await original<typeof import('../../src/portfolio/portfolio-delta.js')>();
  return { ...m, trackedOrderToJSON: vi.fn(m.trackedOrderToJSON) };
});
const encodedOrders = vi.mocked(trackedOrderToJSON);

const START: Balance[] = ['BTC', 'ETH', 'USDC', 'USDT'].map((asset) => ({ asset, free: d('1000'), total: d('1000') }));
const T0 = 1_700_000_000_000;

type Op =
  | { type: 'place'; inst: number; side: Side; q: number; px: number; at: number }
  | { type: 'ack'; order: number }
  | { type: 'fill'; order: number; q: number; px: number }
  | { type: 'close'; order: number; status: TerminalOrderStatus }
  | { type: 'prune'; at: number }
  | { type: 'clone'; keep: boolean }
  | { type: 'compact' };

const arbOp: fc.Arbitrary<Op> = fc.oneof(
  fc.record({
    type: fc.constant('place' as const),
    inst: fc.nat(3),
    side: fc.constantFrom<Side>('buy', 'sell'),
    q: fc.integer({ min: 1, max: 9 }),
    px: fc.integer({ min: 1, max: 50 }),
    at: fc.nat(20),
  }),
  fc.record({ type: fc.constant('ack' as const), order: fc.nat(40) }),
  fc.record({
    type: fc.constant('fill' as const),
    order: fc.nat(40),
    q: fc.integer({ min: 1, max: 4 }),
    px: fc.integer({ min: 1, max: 50 }),
  }),
  fc.record({
    type: fc.constant('close' as const),
    order: fc.nat(40),
    status: fc.constantFrom<TerminalOrderStatus>('cancelled', 'expired'),
  }),
  fc.record({ type: fc.constant('prune' as const), at: fc.nat(30) }),
  fc.record({ type: fc.constant('clone' as const), keep: fc.boolean() }),
  fc.constant({ type: 'compact' as const }),
);

/** The snapshot file a sliced compaction writes of `p`'s books, and how many orders it encoded to write it. */
async function compacted(p: Portfolio, seq: number): Promise<{ file: string; encoded: number }> {
  encodedOrders.mockClear();
  const writes: [Buffer, number][] = [];
  const size = await writeSnapshotPieces(
    seq,
    canonicalPieceStream({ portfolio: p.toDeferredJSON() }, () => undefined),
    () => undefined,
    async (bytes, position) => {
      writes.push([Buffer.from(bytes), position]);
    },
  );
  const file = Buffer.alloc(size);
  for (const [bytes, position] of writes) bytes.copy(file, position);
  return { file: file.toString('utf8'), encoded: encodedOrders.mock.calls.length };
}

describe('a compaction reuses the text of orders unchanged since an earlier one', () => {
  it('writes the file a fresh encoding writes, under random changes, encoding only orders new since', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(arbOp, { minLength: 1, maxLength: 60 }), async (ops) => {
        let p = Portfolio.create({ instruments: INSTRUMENTS, balances: START });
        let placed = 0;
        let seq = 0;
        for (const op of ops) {
          switch (op.type) {
            case 'place': {
              const i = placed++;
              p.trackOrder(
                order({
                  clientOrderId: `c${i}`,
                  symbol: INSTRUMENTS[op.inst]!.symbol,
                  side: op.side,
                  q: String(op.q),
                  px: String(op.px),
                  status: 'pending',
                  createdAt: T0 + op.at,
                  updatedAt: T0 + op.at,
                }),
              );
              break;
            }
            case 'ack': {
              const o = p.findOrder({ clientOrderId: `c${op.order}` });
              if (o !== undefined) p.trackOrder({ ...o, exchangeOrderId: `x${op.order}`, status: 'open' });
              break;
            }
            case 'fill': {
              const o = p.findOrder({ clientOrderId: `c${op.order}` });
              if (o?.exchangeOrderId === undefined || o.status !== 'open') break;
              p.applyFill({
                tradeId: `t${seq}-${op.order}-${op.q}`,
                exchangeOrderId: o.exchangeOrderId,
                clientOrderId: o.clientOrderId,
                symbol: o.symbol,
                side: o.side,
                quantity: new Dec(op.q).div(8),
                price: new Dec(op.px),
                fee: d('0.01'),
                feeAsset: 'USDT',
                timestamp: T0 + 21,
                inferred: false,
              });
              break;
            }
            case 'close': {
              const o = p.findOrder({ clientOrderId: `c${op.order}` });
              if (o !== undefined) p.closeOrder(o, o.exchangeOrderId === undefined ? 'rejected' : op.status, T0 + 25);
              break;
            }
            case 'prune':
              p.pruneClosedOrders(T0 + op.at);
              break;
            case 'clone': {
              const c = p.clone();
              if (op.keep) p = c;
              else c.pruneClosedOrders(T0 + 1_000);
              break;
            }
            case 'compact': {
              seq++;
              const fresh = encodeSnapshot(seq, canonicalJson({ portfolio: p.toJSON() }));
              const first = await compacted(p, seq);
              expect(first.file).toBe(fresh);
              // Nothing changed since: no order is encoded again, and the file is the same.
              const again = await compacted(p, seq);
              expect(again.file).toBe(fresh);
              expect(again.encoded).toBe(0);
              break;
            }
          }
        }
      }),
      { numRuns: 150 },
    );
  });
});
