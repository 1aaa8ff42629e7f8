/**
 * The wire form of execution-stream messages and their parser. An adapter turns what its venue sends (a websocket
 * frame) into an `ExecutionMessageJSON` (amounts as strings) and hands it to `parseExecutionMessage`, which reads the
 * strings straight into Decimal and never throws: a message it cannot read becomes a `malformed` event carrying a
 * `StreamMessageError`, which the engine logs and treats as lost information (it changes nothing).
 */
import type { Millis } from '../domain/clock.js';
import { ParseError, TesserError } from '../domain/errors.js';
import {
  asRecord,
  fillToJSON,
  orderToJSON,
  parseEnum,
  parseFill,
  parseOrder,
  type FillJSON,
  type OrderJSON,
} from '../domain/parse.js';
import type { Fill, Order } from '../domain/types.js';
import type { ExecutionEvent } from './port.js';

/** One trade or order message as a venue adapter sends it to the parser. */
export type ExecutionMessageJSON =
  | { readonly kind: 'trade'; readonly seq?: number | undefined; readonly fill: FillJSON }
  | { readonly kind: 'order'; readonly seq?: number | undefined; readonly order: OrderJSON };

/** Why a stream message was refused. */
export type StreamMessageErrorKind = 'malformed';

/** A stream message that could not be read; `raw` is what arrived, `cause` the parse failure. */
export class StreamMessageError extends TesserError {
  override readonly name = 'StreamMessageError' as const;
  readonly kind: StreamMessageErrorKind = 'malformed';
  constructor(
    message: string,
    readonly raw: unknown,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** Whether `e` is a StreamMessageError. */
export function isStreamMessageError(e: unknown): e is StreamMessageError {
  return e instanceof StreamMessageError;
}

/** The wire form of a trade message. */
export function tradeMessage(fill: Fill, seq?: number): ExecutionMessageJSON {
  return { kind: 'trade', ...(seq !== undefined && { seq }), fill: fillToJSON(fill) };
}

/** The wire form of an order message. */
export function orderMessage(order: Order, seq?: number): ExecutionMessageJSON {
  return { kind: 'order', ...(seq !== undefined && { seq }), order: orderToJSON(order) };
}

/** Parses one message; anything unreadable is a `malformed` event (never an exception). */
export function parseExecutionMessage(raw: unknown, receivedAt: Millis): ExecutionEvent {
  try {
    const r = asRecord(raw, 'message');
    const kind = parseEnum(r.kind, ['trade', 'order'] as const, 'message.kind');
    const seq = r.seq === undefined ? undefined : parseSeq(r.seq);
    if (kind === 'trade') {
      const fill = parseFill(r.fill, 'message.fill');
      // A stream reports real trades only; an inferred fill is ours to make, never the exchange's to send.
      if (fill.inferred)
        throw new ParseError('inconsistent', 'message.fill.inferred', true, 'a streamed trade cannot be inferred');
      return { type: 'trade', ...(seq !== undefined && { seq }), receivedAt, fill };
    }
    return {
      type: 'order',
      ...(seq !== undefined && { seq }),
      receivedAt,
      order: parseOrder(r.order, 'message.order'),
    };
  } catch (e) {
    const detail = e instanceof Error ? e.message : String(e);
    return {
      type: 'malformed',
      at: receivedAt,
      error: new StreamMessageError(`execution stream message refused: ${detail}`, raw, { cause: e }),
    };
  }
}

function parseSeq(raw: unknown): number {
  if (typeof raw !== 'number' || !Number.isSafeInteger(raw) || raw < 1)
    throw new ParseError('invalid_type', 'message.seq', raw, 'must be an integer >= 1');
  return raw;
}
