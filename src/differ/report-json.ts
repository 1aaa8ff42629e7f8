/**
 * The JSON form of a ReconciliationReport, so a report can be logged, stored and compared byte for byte, and its
 * parser, so a stored report comes back as the same typed value. Amounts are plain decimal strings; orders use the
 * domain's `OrderJSON`. `reportFromJSON(reportToJSON(r))` equals `r`.
 */
import type { Decimal } from '../domain/decimal.js';
import { amountToString } from '../domain/decimal.js';
import { ParseError } from '../domain/errors.js';
import {
  asArray,
  asRecord,
  parseAmount,
  parseBoolean,
  parseEnum,
  parseOrder,
  parseString,
  parseTimestamp,
  orderToJSON,
  type OrderJSON,
} from '../domain/parse.js';
import { ORDER_STATUSES, SIDES, type OrderStatus, type Side } from '../domain/types.js';
import type {
  BalanceDrift,
  GhostOrder,
  InFlightOrder,
  MatchedOrder,
  OrderDifferences,
  PositionDrift,
  ReconciliationReport,
  Tolerance,
  ZombieOrder,
} from './report.js';
import { isBeyondTolerance } from './tolerance.js';

/** Version of the JSON shape; bumped on any incompatible change. */
export const REPORT_JSON_VERSION = 1;

export interface ToleranceJSON {
  absolute: string;
  relative: string;
}

export interface OrderDifferencesJSON {
  /** exchange filled − local filled, always present ("0" when equal). */
  filledDelta: string;
  status?: { local: OrderStatus; exchange: OrderStatus };
  /** `null` stands for "no price" (a market order). */
  price?: { local: string | null; exchange: string | null };
  quantity?: { local: string; exchange: string };
  symbol?: { local: string; exchange: string };
  side?: { local: Side; exchange: Side };
}

export interface MatchedOrderJSON {
  matchedBy: MatchedOrder['matchedBy'];
  local: OrderJSON;
  exchange: OrderJSON;
  differences: OrderDifferencesJSON;
  differs: boolean;
  withinGrace?: boolean;
}

export interface PositionDriftJSON {
  symbol: string;
  local: string;
  exchange: string;
  delta: string;
  tolerance: ToleranceJSON;
  beyondTolerance: boolean;
}

export interface BalanceDriftJSON {
  asset: string;
  local: string;
  exchange: string;
  delta: string;
  tolerance: ToleranceJSON;
  beyondTolerance: boolean;
}

/**
 * The stored shape of a report (`version` 1). Every amount is a decimal string (`"-0.5"`, never a number or an
 * exponent); timestamps are epoch milliseconds; optional fields are omitted, never `undefined`.
 *
 * ```jsonc
 * {
 *   "version": 1,
 *   "snapshotStartedAt": 1700000000000, "snapshotCompletedAt": 1700000000450,
 *   "matched": [{ "matchedBy": "exchangeOrderId", "local": OrderJSON, "exchange": OrderJSON,
 *                 "differences": { "filledDelta": "0.25", "status"?: {"local": "open", "exchange": "open"},
 *                                  "price"?: {"local": "100" | null, "exchange": "101" | null},
 *                                  "quantity"?: {...}, "symbol"?: {...}, "side"?: {...} },
 *                 "differs": true, "withinGrace"?: false }],
 *   "ghosts":   [{ "local": OrderJSON }],
 *   "zombies":  [{ "exchange": OrderJSON }],
 *   "inFlight": [{ "local": OrderJSON, "reason": "unacknowledged" | "withinGrace" }],
 *   "positionDrifts": [{ "symbol": "BTC/USDT:USDT", "local": "1", "exchange": "1.5", "delta": "0.5",
 *                        "tolerance": { "absolute": "0.00000001", "relative": "0.000001" }, "beyondTolerance": true }],
 *   "balanceDrifts":  [{ "asset": "USDT", "local": ..., "exchange": ..., "delta": ..., "tolerance": ..., "beyondTolerance": ... }]
 * }
 * ```
 * Lists keep the report's stable order, so two reports of the same states serialize to the same text.
 */
export interface ReconciliationReportJSON {
  version: typeof REPORT_JSON_VERSION;
  snapshotStartedAt: number;
  snapshotCompletedAt: number;
  matched: MatchedOrderJSON[];
  ghosts: { local: OrderJSON }[];
  zombies: { exchange: OrderJSON }[];
  inFlight: { local: OrderJSON; reason: InFlightOrder['reason'] }[];
  positionDrifts: PositionDriftJSON[];
  balanceDrifts: BalanceDriftJSON[];
}

/** Serializes a report (see `ReconciliationReportJSON` for the shape). */
export function reportToJSON(report: ReconciliationReport): ReconciliationReportJSON {
  return {
    version: REPORT_JSON_VERSION,
    snapshotStartedAt: report.snapshotStartedAt,
    snapshotCompletedAt: report.snapshotCompletedAt,
    matched: report.matched.map((m) => ({
      matchedBy: m.matchedBy,
      local: orderToJSON(m.local),
      exchange: orderToJSON(m.exchange),
      differences: differencesToJSON(m.differences),
      differs: m.differs,
      ...(m.withinGrace !== undefined && { withinGrace: m.withinGrace }),
    })),
    ghosts: report.ghosts.map((g) => ({ local: orderToJSON(g.local) })),
    zombies: report.zombies.map((z) => ({ exchange: orderToJSON(z.exchange) })),
    inFlight: report.inFlight.map((f) => ({ local: orderToJSON(f.local), reason: f.reason })),
    positionDrifts: report.positionDrifts.map((d) => ({
      symbol: d.symbol,
      local: amountToString(d.local),
      exchange: amountToString(d.exchange),
      delta: amountToString(d.delta),
      tolerance: toleranceToJSON(d.tolerance),
      beyondTolerance: d.beyondTolerance,
    })),
    balanceDrifts: report.balanceDrifts.map((d) => ({
      asset: d.asset,
      local: amountToString(d.local),
      exchange: amountToString(d.exchange),
      delta: amountToString(d.delta),
      tolerance: toleranceToJSON(d.tolerance),
      beyondTolerance: d.beyondTolerance,
    })),
  };
}

/**
 * Parses a stored report. Checks types and the arithmetic the report states (`delta = exchange − local`, `beyondTolerance` given the tolerance,
 * `filledDelta` = exchange filled − local filled, `differs` consistent with the differences).
 * @throws ParseError naming the path of the first bad field.
 */
export function reportFromJSON(raw: unknown, path = 'report'): ReconciliationReport {
  const r = asRecord(raw, path);
  if (r.version !== REPORT_JSON_VERSION) {
    throw new ParseError(
      r.version === undefined ? 'missing_field' : 'unknown_enum',
      `${path}.version`,
      r.version,
      `unsupported report version (expected ${REPORT_JSON_VERSION})`,
    );
  }
  const snapshotStartedAt = parseTimestamp(r.snapshotStartedAt, `${path}.snapshotStartedAt`);
  const snapshotCompletedAt = parseTimestamp(r.snapshotCompletedAt, `${path}.snapshotCompletedAt`);
  return {
    snapshotStartedAt,
    snapshotCompletedAt,
    matched: list(r.matched, `${path}.matched`, parseMatched),
    ghosts: list(r.ghosts, `${path}.ghosts`, (x, p): GhostOrder => ({
      local: parseOrder(asRecord(x, p).local, `${p}.local`),
    })),
    zombies: list(r.zombies, `${path}.zombies`, (x, p): ZombieOrder => ({
      exchange: parseOrder(asRecord(x, p).exchange, `${p}.exchange`),
    })),
    inFlight: list(r.inFlight, `${path}.inFlight`, (x, p): InFlightOrder => {
      const o = asRecord(x, p);
      return {
        local: parseOrder(o.local, `${p}.local`),
        reason: parseEnum(o.reason, ['unacknowledged', 'withinGrace'] as const, `${p}.reason`),
      };
    }),
    positionDrifts: list(r.positionDrifts, `${path}.positionDrifts`, (x, p): PositionDrift => {
      const o = asRecord(x, p);
      return { symbol: parseString(o.symbol, `${p}.symbol`), ...parseDrift(o, p) };
    }),
    balanceDrifts: list(r.balanceDrifts, `${path}.balanceDrifts`, (x, p): BalanceDrift => {
      const o = asRecord(x, p);
      return { asset: parseString(o.asset, `${p}.asset`), ...parseDrift(o, p) };
    }),
  };
}

// ---- helpers -------------------------------------------------------------------------------------------------

function differencesToJSON(d: OrderDifferences): OrderDifferencesJSON {
  return {
    filledDelta: amountToString(d.filledDelta),
    ...(d.status !== undefined && { status: { local: d.status.local, exchange: d.status.exchange } }),
    ...(d.price !== undefined && {
      price: { local: optionalAmount(d.price.local), exchange: optionalAmount(d.price.exchange) },
    }),
    ...(d.quantity !== undefined && {
      quantity: { local: amountToString(d.quantity.local), exchange: amountToString(d.quantity.exchange) },
    }),
    ...(d.symbol !== undefined && { symbol: { local: d.symbol.local, exchange: d.symbol.exchange } }),
    ...(d.side !== undefined && { side: { local: d.side.local, exchange: d.side.exchange } }),
  };
}

function optionalAmount(x: Decimal | undefined): string | null {
  return x === undefined ? null : amountToString(x);
}

function toleranceToJSON(t: Tolerance): ToleranceJSON {
  return { absolute: amountToString(t.absolute), relative: amountToString(t.relative) };
}

function list<T>(raw: unknown, path: string, item: (x: unknown, itemPath: string) => T): T[] {
  return asArray(raw, path).map((x, i) => item(x, `${path}[${i}]`));
}

function parseMatched(raw: unknown, path: string): MatchedOrder {
  const r = asRecord(raw, path);
  const local = parseOrder(r.local, `${path}.local`);
  const exchange = parseOrder(r.exchange, `${path}.exchange`);
  const d = asRecord(r.differences, `${path}.differences`);
  const dp = `${path}.differences`;
  const filledDelta = parseAmount(d.filledDelta, `${dp}.filledDelta`, 'any');
  if (!filledDelta.eq(exchange.filledQuantity.minus(local.filledQuantity))) {
    throw new ParseError(
      'inconsistent',
      `${dp}.filledDelta`,
      d.filledDelta,
      'must equal exchange.filledQuantity − local.filledQuantity',
    );
  }
  const differences: { -readonly [K in keyof OrderDifferences]: OrderDifferences[K] } = { filledDelta };
  if (d.status !== undefined) {
    const s = asRecord(d.status, `${dp}.status`);
    differences.status = {
      local: parseEnum(s.local, ORDER_STATUSES, `${dp}.status.local`),
      exchange: parseEnum(s.exchange, ORDER_STATUSES, `${dp}.status.exchange`),
    };
  }
  if (d.price !== undefined) {
    const s = asRecord(d.price, `${dp}.price`);
    const price = (v: unknown, p: string): Decimal | undefined =>
      v === null ? undefined : parseAmount(v, p, 'positive');
    differences.price = {
      local: price(s.local, `${dp}.price.local`),
      exchange: price(s.exchange, `${dp}.price.exchange`),
    };
  }
  if (d.quantity !== undefined) {
    const s = asRecord(d.quantity, `${dp}.quantity`);
    differences.quantity = {
      local: parseAmount(s.local, `${dp}.quantity.local`, 'positive'),
      exchange: parseAmount(s.exchange, `${dp}.quantity.exchange`, 'positive'),
    };
  }
  if (d.symbol !== undefined) {
    const s = asRecord(d.symbol, `${dp}.symbol`);
    differences.symbol = {
      local: parseString(s.local, `${dp}.symbol.local`),
      exchange: parseString(s.exchange, `${dp}.symbol.exchange`),
    };
  }
  if (d.side !== undefined) {
    const s = asRecord(d.side, `${dp}.side`);
    differences.side = {
      local: parseEnum(s.local, SIDES, `${dp}.side.local`),
      exchange: parseEnum(s.exchange, SIDES, `${dp}.side.exchange`),
    };
  }
  const differs = parseBoolean(r.differs, `${path}.differs`);
  const anyDifference = !filledDelta.isZero() || Object.keys(differences).length > 1;
  if (differs !== anyDifference)
    throw new ParseError('inconsistent', `${path}.differs`, differs, `must be ${anyDifference} given the differences`);
  return {
    matchedBy: parseEnum(r.matchedBy, ['exchangeOrderId', 'clientOrderId'] as const, `${path}.matchedBy`),
    local,
    exchange,
    differences,
    differs,
    ...(r.withinGrace !== undefined && { withinGrace: parseBoolean(r.withinGrace, `${path}.withinGrace`) }),
  };
}

function parseDrift(o: Record<string, unknown>, p: string): Omit<PositionDrift, 'symbol'> {
  const local = parseAmount(o.local, `${p}.local`, 'any');
  const exchange = parseAmount(o.exchange, `${p}.exchange`, 'any');
  const delta = parseAmount(o.delta, `${p}.delta`, 'any');
  if (!delta.eq(exchange.minus(local)))
    throw new ParseError('inconsistent', `${p}.delta`, o.delta, 'must equal exchange − local');
  const t = asRecord(o.tolerance, `${p}.tolerance`);
  const tolerance: Tolerance = {
    absolute: parseAmount(t.absolute, `${p}.tolerance.absolute`),
    relative: parseAmount(t.relative, `${p}.tolerance.relative`),
  };
  const beyondTolerance = parseBoolean(o.beyondTolerance, `${p}.beyondTolerance`);
  if (beyondTolerance !== isBeyondTolerance(delta, local, exchange, tolerance)) {
    throw new ParseError(
      'inconsistent',
      `${p}.beyondTolerance`,
      beyondTolerance,
      `must be ${!beyondTolerance} given delta and tolerance`,
    );
  }
  return { local, exchange, delta, tolerance, beyondTolerance };
}
