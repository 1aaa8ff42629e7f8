/**
 * Every decoder of untrusted input as a fuzz target (see fuzz.ts): the domain parsers, the state-file decoders
 * (portfolio, engine state, stored report), the ccxt converters and the store's byte-level file decoders. Each
 * target has a pool of VALID payloads built from a fixed seed and a `check` that a returned value is valid: every
 * amount a real Decimal within AMOUNT_LIMITS that round-trips through its serializer, every enum a known one, and
 * nothing that went in under its own key silently lost.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { Decimal } from 'decimal.js';
import { Dec, amountToString } from '../../src/domain/decimal.js';
import { ParseError, StoreCorruptError } from '../../src/domain/errors.js';
import {
  balanceToJSON,
  exchangeSnapshotToJSON,
  fillToJSON,
  fundingPaymentToJSON,
  isAmountWithinLimits,
  liveStateToJSON,
  orderToJSON,
  parseAmount,
  parseBalance,
  parseExchangeSnapshot,
  parseFill,
  parseFundingPayment,
  parseLiveState,
  parseOrder,
  parsePosition,
  positionToJSON,
} from '../../src/domain/parse.js';
import {
  inferredTradeId,
  type Balance,
  type Fill,
  type FundingPayment,
  type Instrument,
  type Order,
  type Position,
} from '../../src/domain/types.js';
import { diff } from '../../src/differ/diff.js';
import { reportFromJSON, reportToJSON } from '../../src/differ/report-json.js';
import type { ReconciliationReport } from '../../src/differ/report.js';
import {
  decodeEngineState,
  encodeEngineState,
  orderRecord,
  type DecodedEngineState,
} from '../../src/engine/state-file.js';
import {
  fillFromCcxt,
  fundingFromCcxt,
  linearBalancesFromCcxt,
  orderFromCcxt,
  positionFromCcxt,
  spotBalancesFromCcxt,
} from '../../src/exchange/ccxt/convert.js';
import { ReconcileMemory } from '../../src/handlers/memory.js';
import { Portfolio } from '../../src/portfolio/portfolio.js';
import { parsePortfolioJSON, type ParsedPortfolio } from '../../src/portfolio/portfolio-json.js';
import {
  canonicalJson,
  decodeJournal,
  decodeSnapshot,
  encodeJournalLine,
  encodeSnapshot,
} from '../../src/store/codec.js';
import { FileStateStore, STORE_FILES } from '../../src/store/file-store.js';
import type { JsonValue, LoadedState } from '../../src/store/port.js';
import {
  arbBalance,
  arbDecimalString,
  arbDiffInputs,
  arbExchangeSnapshot,
  arbFill,
  arbFundingPayment,
  arbId,
  arbLiveState,
  arbOrder,
  arbPosition,
  arbTimestamp,
} from './arbitraries.js';
import type { FuzzCase, FuzzTarget } from './fuzz.js';

type Json = unknown;
const SEED = 1414;
const POOL = 48;

/** `n` values of `arb` from a fixed seed, as plain JSON (what a file or a socket would hand over). */
function poolOf<T>(arb: fc.Arbitrary<T>, n = POOL): Json[] {
  return fc.sample(arb, { seed: SEED, numRuns: n }).map((x) => JSON.parse(JSON.stringify(x)) as Json);
}

const json = (x: unknown): string => JSON.stringify(x);

// ---- checks --------------------------------------------------------------------------------------------------

/** A Decimal we can trust: a real instance, finite, within the limits, and exact through its serializer. */
export function checkAmount(d: unknown, where: string): void {
  if (!(d instanceof Decimal)) throw new Error(`${where}: not a real Decimal (${typeof d})`);
  if (!Array.isArray(d.d) || !d.d.every((x) => Number.isInteger(x) && x >= 0 && x < 1e7) || (d.s !== 1 && d.s !== -1))
    throw new Error(`${where}: Decimal internals are not decimal.js's`);
  if (!isAmountWithinLimits(d)) throw new Error(`${where}: ${d.toExponential()} is outside AMOUNT_LIMITS`);
  if (!new Dec(amountToString(d)).eq(d)) throw new Error(`${where}: does not round-trip through amountToString`);
}

/**
 * Walks a returned value: Decimals are checked, functions and non-finite numbers are refused (a status that became
 * `Object.prototype.toString` is a function), Maps and plain objects are walked.
 */
export function checkTree(v: unknown, where = '$', depth = 0): void {
  if (depth > 50) throw new Error(`${where}: nested deeper than any domain value`);
  if (typeof v === 'function') throw new Error(`${where}: a function`);
  if (typeof v === 'number' && !Number.isFinite(v)) throw new Error(`${where}: ${v}`);
  if (typeof v !== 'object' || v === null) return;
  if (v instanceof Decimal) return checkAmount(v, where);
  if (v instanceof Map) {
    for (const [k, x] of v) checkTree(x, `${where}.get(${String(k)})`, depth + 1);
    return;
  }
  if (v instanceof Set) return;
  for (const k of Object.keys(v)) checkTree((v as Record<string, unknown>)[k], `${where}.${k}`, depth + 1);
}

/** `out` serialized, parsed again and serialized again is the same text (exact, nothing dropped or renamed). */
function roundTrips<T>(out: T, toJSON: (t: T) => unknown, parse: (raw: unknown) => T, what: string): void {
  checkTree(out);
  const once = json(toJSON(out));
  const twice = json(toJSON(parse(JSON.parse(once))));
  if (once !== twice) throw new Error(`${what} does not round-trip: ${once.slice(0, 300)} vs ${twice.slice(0, 300)}`);
}

/** For an unmutated payload the result serializes back to exactly the input. */
function sameAsValid(category: string, payload: Json, serialized: unknown, what: string): void {
  if (category === 'valid' && json(serialized) !== json(payload))
    throw new Error(`${what}: a valid payload did not come back unchanged`);
}

// ---- domain parsers ------------------------------------------------------------------------------------------

function parserTarget<T>(
  name: string,
  arb: fc.Arbitrary<T>,
  toJSON: (t: T) => unknown,
  parse: (raw: unknown) => T,
): FuzzTarget<T> {
  return {
    name,
    pool: () => poolOf(arb.map(toJSON)),
    run: parse,
    errorClass: ParseError,
    check: (out, payload, category) => {
      roundTrips(out, toJSON, parse, name);
      sameAsValid(category, payload, toJSON(out), name);
    },
  };
}

export const PARSER_TARGETS: readonly FuzzTarget[] = [
  parserTarget('parseOrder', arbOrder(), orderToJSON, (r) => parseOrder(r)),
  parserTarget('parseFill', arbFill, fillToJSON, (r) => parseFill(r)),
  parserTarget('parsePosition', arbPosition(), positionToJSON, (r) => parsePosition(r)),
  parserTarget('parseBalance', arbBalance(), balanceToJSON, (r) => parseBalance(r)),
  parserTarget('parseFundingPayment', arbFundingPayment, fundingPaymentToJSON, (r) => parseFundingPayment(r)),
  parserTarget('parseLiveState', arbLiveState({ maxOrders: 3 }), liveStateToJSON, (r) => parseLiveState(r)),
  parserTarget('parseExchangeSnapshot', arbExchangeSnapshot({ maxOrders: 3 }), exchangeSnapshotToJSON, (r) =>
    parseExchangeSnapshot(r),
  ),
] as FuzzTarget[];

// ---- state files ---------------------------------------------------------------------------------------------

const INSTRUMENTS: readonly Instrument[] = [
  { symbol: 'BTC/USDT', kind: 'spot', base: 'BTC', quote: 'USDT', settle: 'USDT' },
  { symbol: 'ETH/USDT', kind: 'spot', base: 'ETH', quote: 'USDT', settle: 'USDT' },
  { symbol: 'BTC/USDT:USDT', kind: 'perp', base: 'BTC', quote: 'USDT', settle: 'USDT' },
];
const SYMBOLS = INSTRUMENTS.map((i) => i.symbol);

/**
 * A portfolio with something in every field: balances, tracked orders, a standing inferred fill (so a replay log),
 * real fills of tracked and untracked orders, a funding payment, a peak equity.
 */
const arbPortfolio: fc.Arbitrary<Portfolio> = fc
  .record({
    usdt: arbDecimalString({ sign: 'positive', maxUnits: 10n ** 12n }),
    orders: fc.uniqueArray(arbOrder({ statuses: ['open'], symbol: fc.constantFrom(...SYMBOLS) }), {
      selector: (o) => o.clientOrderId,
      maxLength: 3,
    }),
    fills: fc.array(arbFill, { maxLength: 3 }),
    funding: fc.option(arbFundingPayment, { nil: undefined }),
    mark: arbDecimalString({ sign: 'positive', maxScale: 2, maxUnits: 10n ** 8n }),
  })
  .map((r) => {
    const orders = r.orders.filter((o, i) => r.orders.findIndex((x) => x.exchangeOrderId === o.exchangeOrderId) === i);
    const p = Portfolio.create({
      instruments: INSTRUMENTS,
      balances: [{ asset: 'USDT', free: new Dec(r.usdt), total: new Dec(r.usdt) }],
      orders,
    });
    const first = orders.find((o) => o.filledQuantity.lt(o.quantity));
    if (first !== undefined) {
      const q = first.quantity.minus(first.filledQuantity);
      p.applyFill({
        ...fillOf(first, q),
        tradeId: inferredTradeId(first.symbol, first.exchangeOrderId!, first.quantity),
        inferred: true,
      });
    }
    r.fills.forEach((f, i) =>
      p.applyFill({ ...f, symbol: SYMBOLS[i % SYMBOLS.length]!, feeAsset: 'USDT', inferred: false }),
    );
    if (r.funding !== undefined) p.applyFunding({ ...r.funding, symbol: 'BTC/USDT:USDT', asset: 'USDT' });
    p.markToMarket(new Map(SYMBOLS.map((s) => [s, new Dec(r.mark)])));
    return p;
  });

function fillOf(o: Order, quantity: Decimal): Fill {
  return {
    tradeId: 'x',
    exchangeOrderId: o.exchangeOrderId!,
    clientOrderId: o.clientOrderId,
    symbol: o.symbol,
    side: o.side,
    quantity,
    price: o.price ?? new Dec(1),
    fee: new Dec(0),
    feeAsset: 'USDT',
    timestamp: o.updatedAt,
    inferred: false,
  };
}

/** Every amount of a parsed portfolio checked, and its serialization re-read. */
function checkPortfolio(p: Portfolio): void {
  // The books as they are in memory: every Decimal, the derived ones (balances after the replay log) included.
  checkTree(p.liveState());
  const j = p.toJSON();
  checkTree(j);
  // Amounts the portfolio computed from valid inputs may leave AMOUNT_LIMITS only by arithmetic on amounts near them;
  // what must hold is that re-reading its own file either works or is a typed error, quickly.
  try {
    Portfolio.fromJSON(JSON.parse(json(j)));
  } catch (e) {
    if (!(e instanceof ParseError))
      throw new Error(`re-reading a portfolio's own JSON threw ${String(e)}`, { cause: e });
  }
}

/** The engine state as `StateStore.load()` returns it: snapshot plus journal records. */
const arbLoadedState: fc.Arbitrary<LoadedState> = fc
  .record({
    portfolio: arbPortfolio,
    cursorSymbols: fc.uniqueArray(fc.oneof(fc.constantFrom(...SYMBOLS), arbId), { maxLength: 3 }),
    since: arbTimestamp,
    seen: fc.array(arbId, { maxLength: 3 }),
    ghosts: fc.array(fc.record({ id: arbId, at: arbTimestamp, n: fc.nat({ max: 5 }) }), { maxLength: 2 }),
    drift: fc.array(
      fc.record({
        key: fc.constantFrom(...SYMBOLS),
        cycles: fc.nat({ max: 9 }),
        delta: arbDecimalString({ sign: 'any' }),
      }),
      { maxLength: 2 },
    ),
    liquidateOnly: fc.boolean(),
    journal: fc.array(arbOrder({ statuses: ['pending'], symbol: fc.constantFrom(...SYMBOLS) }), { maxLength: 2 }),
  })
  .map((r) => {
    const memory = ReconcileMemory.fromJSON({
      ghosts: [...new Map(r.ghosts.map((g) => [g.id, g])).values()].map((g) => ({
        key: `x:${g.id}`,
        symbol: 'BTC/USDT',
        exchangeOrderId: g.id,
        firstSeenAt: g.at,
        notFound: g.n,
      })),
      drift: [...new Map(r.drift.map((d) => [d.key, d])).values()].map((d) => ({
        kind: 'position' as const,
        key: d.key,
        cycles: d.cycles,
      })),
      seenDeltas: [...new Map(r.drift.map((d) => [d.key, d])).values()].map((d) => ({
        kind: 'balance' as const,
        key: d.key,
        delta: new Dec(d.delta).toFixed(),
      })),
    });
    const cursors = {
      trades: Object.fromEntries(r.cursorSymbols.map((s) => [s, { since: r.since, seenIds: r.seen }])),
      funding: { since: r.since, seenIds: [] },
    };
    const lifecycle = { liquidateOnly: r.liquidateOnly ? { reason: 'drift' } : null };
    const snapshot = encodeEngineState({ portfolio: r.portfolio, cursors, memory, lifecycle }, r.since);
    const journal = [
      ...r.journal.map((o, i) => orderRecord('submitted', { ...o, clientOrderId: `journal-${i}` }, o.createdAt)),
      { kind: 'lifecycle', at: r.since, liquidateOnly: null },
      { kind: 'cycle', at: r.since, handler: 'runtime', cycle: 3, summary: { applyFill: 1 } },
    ];
    return {
      snapshot: JSON.parse(json(snapshot)) as JsonValue,
      journal: JSON.parse(json(journal)) as JsonValue[],
      warnings: [],
    };
  });

function checkEngineState(s: DecodedEngineState, payload: Json): void {
  if (s.portfolio !== undefined) checkPortfolio(s.portfolio);
  checkTree({ cursors: s.cursors, memory: s.memory.toJSON(), lifecycle: s.lifecycle });
  ReconcileMemory.fromJSON(JSON.parse(json(s.memory.toJSON())));
  // Nothing lost: every trade cursor that went in under its own key comes out, "__proto__" included.
  const snap = (payload as { snapshot?: { cursors?: { trades?: object } } }).snapshot;
  const inKeys = snap?.cursors?.trades === undefined ? [] : Object.keys(snap.cursors.trades);
  const outKeys = Object.keys(s.cursors.trades);
  if (s.fresh === false && snap !== undefined && json(inKeys.sort()) !== json(outKeys.sort())) {
    throw new Error(`trade cursors lost or invented: in ${json(inKeys)}, out ${json(outKeys)}`);
  }
}

export const STATE_FILE_TARGETS: readonly FuzzTarget[] = [
  {
    name: 'parsePortfolioJSON',
    pool: () =>
      poolOf(
        arbPortfolio.map((p) => p.toJSON()),
        24,
      ),
    run: (raw) => parsePortfolioJSON(raw),
    errorClass: ParseError,
    check: (out: ParsedPortfolio) => checkTree(out),
  },
  {
    name: 'Portfolio.fromJSON',
    pool: () =>
      poolOf(
        arbPortfolio.map((p) => p.toJSON()),
        24,
      ),
    run: (raw) => Portfolio.fromJSON(raw),
    errorClass: ParseError,
    check: (p: Portfolio, payload, category) => {
      checkPortfolio(p);
      sameAsValid(category, payload, p.toJSON(), 'Portfolio.fromJSON');
    },
  },
  {
    name: 'decodeEngineState',
    pool: () => poolOf(arbLoadedState, 24),
    run: (raw) => decodeEngineState(raw as LoadedState),
    errorClass: StoreCorruptError,
    check: (s: DecodedEngineState, payload) => checkEngineState(s, payload),
  },
  {
    name: 'reportFromJSON',
    pool: () =>
      poolOf(
        arbDiffInputs().map((i) => reportToJSON(diff(i.local, i.snapshot, { inFlightGraceMs: i.grace }))),
        24,
      ),
    run: (raw) => reportFromJSON(raw),
    errorClass: ParseError,
    check: (out: ReconciliationReport, payload, category) => {
      roundTrips(out, reportToJSON, (r) => reportFromJSON(r), 'reportFromJSON');
      sameAsValid(category, payload, reportToJSON(out), 'reportFromJSON');
    },
  },
] as FuzzTarget[];

// ---- ccxt converters -----------------------------------------------------------------------------------------

const CCXT_STATUS = {
  open: 'open',
  filled: 'closed',
  cancelled: 'canceled',
  expired: 'expired',
  rejected: 'rejected',
  pending: 'open',
} as const;

/** An order as ccxt (number = String) hands it over for Binance, with the raw fields we read. */
function ccxtOrder(o: Order): Json {
  return {
    id: o.exchangeOrderId ?? '1',
    clientOrderId: o.clientOrderId,
    symbol: o.symbol,
    side: o.side,
    type: o.type,
    timeInForce: o.timeInForce,
    amount: o.quantity.toFixed(),
    filled: o.filledQuantity.toFixed(),
    price: o.price?.toFixed(),
    average: o.averageFillPrice?.toFixed(),
    status: CCXT_STATUS[o.status],
    timestamp: o.createdAt,
    lastUpdateTimestamp: o.updatedAt,
    reduceOnly: o.reduceOnly ?? false,
    info: {
      orderId: o.exchangeOrderId,
      price: o.price?.toFixed() ?? '0',
      cummulativeQuoteQty: o.filledQuantity.times(o.price ?? 1).toFixed(),
      updateTime: String(o.updatedAt),
      ...(o.timeInForce === 'GTD' && o.expiresAt !== undefined && { goodTillDate: o.expiresAt }),
    },
  };
}

function ccxtTrade(f: Fill): Json {
  return {
    id: f.tradeId,
    order: f.exchangeOrderId,
    symbol: f.symbol,
    side: f.side,
    amount: f.quantity.toFixed(),
    price: f.price.toFixed(),
    cost: f.quantity.times(f.price).toFixed(),
    timestamp: f.timestamp,
    fee: { cost: f.fee.toFixed(), currency: f.feeAsset },
    info: { id: f.tradeId, commissionAsset: f.feeAsset },
  };
}

function ccxtSpotBalance(bs: readonly Balance[]): Json {
  const out: Record<string, unknown> = {
    info: {
      balances: bs.map((b) => ({ asset: b.asset, free: b.free.toFixed(), locked: b.total.minus(b.free).toFixed() })),
    },
  };
  out.free = Object.fromEntries(bs.map((b) => [b.asset, b.free.toFixed()]));
  out.used = Object.fromEntries(bs.map((b) => [b.asset, b.total.minus(b.free).toFixed()]));
  out.total = Object.fromEntries(bs.map((b) => [b.asset, b.total.toFixed()]));
  for (const b of bs)
    out[b.asset] = { free: b.free.toFixed(), used: b.total.minus(b.free).toFixed(), total: b.total.toFixed() };
  return out;
}

function ccxtLinearBalance(bs: readonly Balance[]): Json {
  return {
    info: {
      assets: bs.map((b) => ({
        asset: b.asset,
        walletBalance: b.total.toFixed(),
        availableBalance: b.free.toFixed(),
        marginBalance: b.total.toFixed(),
      })),
    },
  };
}

function ccxtPosition(p: Position): Json {
  return {
    symbol: p.symbol,
    contracts: p.quantity.abs().toFixed(),
    side: p.quantity.isNegative() ? 'short' : 'long',
    entryPrice: p.entryPrice.toFixed(),
    info: { positionSide: 'BOTH', positionAmt: p.quantity.toFixed(), entryPrice: p.entryPrice.toFixed() },
  };
}

function ccxtFunding(f: FundingPayment): Json {
  return {
    id: f.id,
    symbol: f.symbol,
    code: f.asset,
    amount: f.amount.toFixed(),
    timestamp: f.timestamp,
    info: { income: f.amount.toFixed(), tranId: f.id },
  };
}

/** A converter's balances: each valid as a parsed Balance, and every nonzero asset that went in, out. */
function checkBalances(out: Balance[], payloadAssets: readonly string[]): void {
  out.forEach((b) => roundTrips(b, balanceToJSON, (r) => parseBalance(r), 'balance'));
  const outAssets = new Set(out.map((b) => b.asset));
  for (const a of payloadAssets)
    if (!outAssets.has(a)) throw new Error(`asset ${JSON.stringify(a)} with a nonzero amount was lost`);
}

/** Assets of a spot-balance payload with a nonzero total, read as own keys (what the converter must keep). */
function spotAssets(payload: Json): string[] {
  const p = payload as Record<string, unknown>;
  const totals = p.total;
  if (typeof totals !== 'object' || totals === null) return [];
  const nonzero = (x: unknown): boolean => typeof x === 'string' && !parseAmount(x, 'x', 'any').isZero();
  return Object.keys(totals).filter((a) => {
    const e = Object.prototype.hasOwnProperty.call(p, a) ? (p[a] as { total?: unknown; free?: unknown }) : undefined;
    return typeof e === 'object' && e !== null && (nonzero(e.total) || nonzero(e.free));
  });
}

export const CCXT_TARGETS: readonly FuzzTarget[] = [
  {
    name: 'orderFromCcxt',
    pool: () => poolOf(arbOrder({ statuses: ['open', 'filled', 'cancelled', 'expired', 'rejected'] }).map(ccxtOrder)),
    run: (raw) => orderFromCcxt(raw),
    errorClass: ParseError,
    check: (o: Order) => roundTrips(o, orderToJSON, (r) => parseOrder(r), 'orderFromCcxt → parseOrder'),
  },
  {
    name: 'fillFromCcxt',
    pool: () => poolOf(arbFill.map(ccxtTrade)),
    run: (raw) => fillFromCcxt(raw, 'USDT'),
    errorClass: ParseError,
    check: (f: Fill) => roundTrips(f, fillToJSON, (r) => parseFill(r), 'fillFromCcxt → parseFill'),
  },
  {
    name: 'spotBalancesFromCcxt',
    pool: () => poolOf(fc.uniqueArray(arbBalance(), { selector: (b) => b.asset, maxLength: 4 }).map(ccxtSpotBalance)),
    run: (raw) => spotBalancesFromCcxt(raw),
    errorClass: ParseError,
    check: (out: Balance[], payload) => checkBalances(out, spotAssets(payload)),
  },
  {
    name: 'linearBalancesFromCcxt',
    pool: () => poolOf(fc.uniqueArray(arbBalance(), { selector: (b) => b.asset, maxLength: 4 }).map(ccxtLinearBalance)),
    run: (raw) => linearBalancesFromCcxt(raw),
    errorClass: ParseError,
    check: (out: Balance[]) => checkBalances(out, []),
  },
  {
    name: 'positionFromCcxt',
    pool: () => poolOf(arbPosition().map(ccxtPosition)),
    run: (raw) => positionFromCcxt(raw),
    errorClass: ParseError,
    check: (p: Position) => roundTrips(p, positionToJSON, (r) => parsePosition(r), 'positionFromCcxt → parsePosition'),
  },
  {
    name: 'fundingFromCcxt',
    pool: () => poolOf(arbFundingPayment.map(ccxtFunding)),
    run: (raw) => fundingFromCcxt(raw),
    errorClass: ParseError,
    check: (f: FundingPayment) =>
      roundTrips(f, fundingPaymentToJSON, (r) => parseFundingPayment(r), 'fundingFromCcxt → parseFundingPayment'),
  },
] as FuzzTarget[];

// ---- the store's files ---------------------------------------------------------------------------------------

/** The two files of a store directory as bytes, and what they hold. */
interface StoreFiles {
  readonly snapshot: Buffer;
  readonly journal: Buffer;
  readonly state: JsonValue;
  readonly records: readonly JsonValue[];
}

/** Engine state written the way FileStateStore writes it: a snapshot at journal seq 7 and records 8, 9, ... */
function storeFilesOf(loaded: LoadedState): StoreFiles {
  const seq = 7;
  const state = loaded.snapshot as JsonValue;
  const snapshot = Buffer.from(encodeSnapshot(seq, canonicalJson(state)));
  const journal = Buffer.from(loaded.journal.map((r, i) => encodeJournalLine(seq + 1 + i, canonicalJson(r))).join(''));
  return { snapshot, journal, state, records: loaded.journal };
}

export const BYTE_CATEGORIES = [
  'valid',
  'flipByte',
  'setByte',
  'insertBytes',
  'deleteBytes',
  'truncate',
  'spliceLines',
  'replaceRange',
] as const;

const JUNK_BYTES: readonly string[] = [
  '\u0000',
  '"',
  '\\',
  '{',
  '}',
  ']',
  ',',
  '\n',
  '\r\n',
  '1e999',
  '"__proto__":',
  '\u00ff',
  '\ud800',
  '9'.repeat(400),
  ' ',
];

interface ByteCase {
  readonly file: 'snapshot' | 'journal';
  readonly at: number;
  readonly len: number;
  readonly byte: number;
  readonly junk: number;
}

/** A byte-level mutation of one of the two files. */
function mutateBytes(files: StoreFiles, category: string, m: ByteCase): StoreFiles {
  const buf = Buffer.from(files[m.file]);
  const at = buf.length === 0 ? 0 : m.at % buf.length;
  const junk = Buffer.from(JUNK_BYTES[m.junk % JUNK_BYTES.length]!);
  let out: Buffer;
  switch (category) {
    case 'flipByte':
      if (buf.length > 0) buf[at] = buf[at]! ^ (1 << (m.byte % 8));
      out = buf;
      break;
    case 'setByte':
      if (buf.length > 0) buf[at] = m.byte % 256;
      out = buf;
      break;
    case 'insertBytes':
      out = Buffer.concat([buf.subarray(0, at), junk, buf.subarray(at)]);
      break;
    case 'deleteBytes':
      out = Buffer.concat([buf.subarray(0, at), buf.subarray(at + 1 + (m.len % 16))]);
      break;
    case 'truncate':
      out = buf.subarray(0, at);
      break;
    case 'spliceLines': {
      // Reorders, repeats or drops whole lines (a journal replayed out of order, a record written twice).
      const lines = buf.toString('latin1').split('\n');
      const i = m.at % lines.length;
      const j = m.len % lines.length;
      const op = m.byte % 3;
      if (op === 0) [lines[i], lines[j]] = [lines[j]!, lines[i]!];
      else if (op === 1) lines.splice(i, 0, lines[j]!);
      else lines.splice(i, 1);
      out = Buffer.from(lines.join('\n'), 'latin1');
      break;
    }
    case 'replaceRange':
      out = Buffer.concat([buf.subarray(0, at), junk, buf.subarray(at + junk.length)]);
      break;
    default:
      out = buf;
  }
  return { ...files, [m.file]: out };
}

function arbByteCase(pool: readonly Json[]): fc.Arbitrary<FuzzCase> {
  return fc
    .record({
      base: fc.nat({ max: pool.length - 1 }),
      category: fc.constantFrom(...BYTE_CATEGORIES),
      m: fc.record({
        file: fc.constantFrom('snapshot' as const, 'journal' as const),
        at: fc.nat(),
        len: fc.nat(),
        byte: fc.nat(),
        junk: fc.nat(),
      }),
    })
    .map(({ base, category, m }) => ({
      category,
      payload: category === 'valid' ? pool[base] : mutateBytes(pool[base] as StoreFiles, category, m),
    }));
}

/** What the bytes load as: a snapshot and journal records exactly as written, or a typed error; never a change. */
function checkLoadedFiles(
  snapshot: JsonValue | undefined,
  records: readonly JsonValue[],
  torn: boolean,
  files: StoreFiles,
  original: StoreFiles | undefined,
): void {
  if (original === undefined) return;
  if (canonicalJson(snapshot) !== canonicalJson(original.state))
    throw new Error('the snapshot loaded with different content');
  const prefix = original.records.slice(0, records.length);
  if (canonicalJson(records) !== canonicalJson(prefix) || records.length > original.records.length)
    throw new Error('journal records loaded with different content');
  // Fewer records is fine only as a torn tail, or when whole trailing records were cut (nothing tells those apart).
  if (
    records.length < original.records.length &&
    !torn &&
    !original.journal.subarray(0, files.journal.length).equals(files.journal)
  ) {
    throw new Error(
      `journal records lost without a torn-tail warning (${records.length} of ${original.records.length})`,
    );
  }
}

function storePool(): Json[] {
  return fc.sample(arbLoadedState, { seed: SEED, numRuns: 16 }).map(storeFilesOf);
}

/** Runs the engine's decoding of the files' content, as `createEngine` does after `store.load()`. */
function decodeFiles(files: StoreFiles): {
  decoded: DecodedEngineState;
  snapshot: JsonValue | undefined;
  records: readonly JsonValue[];
  torn: boolean;
} {
  const snap = decodeSnapshot(files.snapshot, STORE_FILES.snapshot);
  const journal = decodeJournal(files.journal, STORE_FILES.journal, snap.journalSeq);
  const loaded: LoadedState = {
    snapshot: snap.state,
    journal: journal.records,
    warnings: journal.tornWarning === undefined ? [] : [journal.tornWarning],
  };
  return {
    decoded: decodeEngineState(loaded),
    snapshot: snap.state,
    records: journal.records,
    torn: journal.tornWarning !== undefined,
  };
}

let storeDir: string | undefined;
let store: FileStateStore | undefined;

export const STORE_TARGETS: readonly FuzzTarget[] = [
  {
    name: 'store file decoders',
    pool: storePool,
    arbCase: arbByteCase,
    run: (payload) => ({ files: payload as StoreFiles, ...decodeFiles(payload as StoreFiles) }),
    errorClass: StoreCorruptError,
    check: (out: {
      files: StoreFiles;
      decoded: DecodedEngineState;
      snapshot: JsonValue | undefined;
      records: readonly JsonValue[];
      torn: boolean;
    }) => {
      checkLoadedFiles(out.snapshot, out.records, out.torn, out.files, originalOf(out.files));
      checkEngineState(out.decoded, { snapshot: out.snapshot });
    },
  },
  {
    name: 'FileStateStore.load',
    weight: 0.1,
    pool: storePool,
    arbCase: arbByteCase,
    run: async (payload) => {
      const files = payload as StoreFiles;
      storeDir ??= mkdtempSync(join(tmpdir(), 'tesser-fuzz-'));
      store ??= await FileStateStore.open(storeDir);
      writeFileSync(join(storeDir, STORE_FILES.snapshot), files.snapshot);
      writeFileSync(join(storeDir, STORE_FILES.journal), files.journal);
      // Half the cases read in slices (as the engine's boot does), half in one piece: the same typed errors.
      const loaded = await store.load(files.snapshot.length % 2 === 1 ? () => undefined : undefined);
      return { files, loaded, decoded: decodeEngineState(loaded) };
    },
    errorClass: StoreCorruptError,
    check: (out: { files: StoreFiles; loaded: LoadedState | undefined; decoded: DecodedEngineState }) => {
      const torn = (out.loaded?.warnings.length ?? 0) > 0;
      checkLoadedFiles(out.loaded?.snapshot, out.loaded?.journal ?? [], torn, out.files, originalOf(out.files));
      checkEngineState(out.decoded, { snapshot: out.loaded?.snapshot });
    },
    dispose: async () => {
      await store?.close();
      if (storeDir !== undefined) rmSync(storeDir, { recursive: true, force: true });
      store = undefined;
      storeDir = undefined;
    },
  },
] as FuzzTarget[];

const ORIGINALS = new WeakMap<object, StoreFiles>();

/** The valid files a mutated case came from: mutations keep `state` and `records` of the original. */
function originalOf(files: StoreFiles): StoreFiles | undefined {
  const key = files.records as object;
  const known = ORIGINALS.get(key);
  if (known !== undefined) return known;
  const original: StoreFiles = {
    snapshot: Buffer.from(encodeSnapshot(7, canonicalJson(files.state))),
    journal: Buffer.from(files.records.map((r, i) => encodeJournalLine(8 + i, canonicalJson(r))).join('')),
    state: files.state,
    records: files.records,
  };
  ORIGINALS.set(key, original);
  return original;
}

/** Every target, in the order the long run reports them. */
export const ALL_TARGETS: readonly FuzzTarget[] = [
  ...PARSER_TARGETS,
  ...STATE_FILE_TARGETS,
  ...CCXT_TARGETS,
  ...STORE_TARGETS,
];
