/**
 * What the handlers remember between cycles: for each ghost, when it was first seen (the targeted-query queue is
 * served oldest first) and how many "not found" answers in a row it has had; for each drifting position/balance,
 * how many cycles in a row it has been beyond tolerance unexplained. Shared by the startup and runtime handlers
 * (a not-found seen at boot counts at runtime), and JSON round-trippable so the engine can persist it.
 */
import type { Millis } from '../domain/clock.js';
import { compareStrings } from '../domain/compare.js';
import {
  asArray,
  asRecord,
  parseAmount,
  parseEnum,
  parseOptionalId,
  parseString,
  parseTimestamp,
} from '../domain/parse.js';
import { ParseError } from '../domain/errors.js';
import { orderKey } from '../domain/types.js';
import type { OrderRef } from '../exchange/port.js';

export interface GhostWatch {
  readonly ref: OrderRef;
  readonly firstSeenAt: Millis;
  /** Consecutive "not found" answers (reset by any other answer, and by any retryable error). */
  readonly notFound: number;
}

export type DriftKind = 'position' | 'balance';

export interface ReconcileMemoryJSON {
  ghosts: {
    key: string;
    symbol: string;
    exchangeOrderId?: string;
    clientOrderId?: string;
    firstSeenAt: number;
    notFound: number;
  }[];
  drift: { kind: DriftKind; key: string; cycles: number }[];
  seenDeltas?: { kind: DriftKind; key: string; delta: string }[];
}

/** Mutable cross-cycle state of the handlers. Keys of ghosts are `orderKey(order)` (scoped by symbol). */
export class ReconcileMemory {
  readonly ghosts = new Map<string, GhostWatch>();
  /** `${kind}:${symbolOrAsset}` → consecutive cycles beyond tolerance. */
  readonly drift = new Map<string, number>();
  /**
   * `${kind}:${symbolOrAsset}` → the last delta reported (decimal string), for drift within tolerance: a delta we
   * have already looked into is not fetched for again, a new one is (once).
   */
  readonly seenDeltas = new Map<string, string>();

  /** Forgets every not-found count: after a retryable error, earlier answers are no longer "in a row". */
  resetNotFound(): void {
    for (const [k, g] of this.ghosts) if (g.notFound !== 0) this.ghosts.set(k, { ...g, notFound: 0 });
  }

  /** A deep copy (for `restore`). */
  copy(): ReconcileMemory {
    const m = new ReconcileMemory();
    m.restore(this);
    return m;
  }

  /** Takes every entry of `from` in place (the handlers keep their reference): a discarded cycle leaves no trace. */
  restore(from: ReconcileMemory): void {
    for (const [mine, theirs] of [
      [this.ghosts, from.ghosts],
      [this.drift, from.drift],
      [this.seenDeltas, from.seenDeltas],
    ] as const) {
      mine.clear();
      for (const [k, v] of theirs as Map<string, never>) (mine as Map<string, never>).set(k, v);
    }
  }

  driftCycles(kind: DriftKind, key: string): number {
    return this.drift.get(`${kind}:${key}`) ?? 0;
  }

  toJSON(): ReconcileMemoryJSON {
    const ghosts = [...this.ghosts.entries()]
      .sort(([a], [b]) => compareStrings(a, b))
      .map(([key, g]) => ({
        key,
        symbol: g.ref.symbol,
        ...(g.ref.exchangeOrderId !== undefined && { exchangeOrderId: g.ref.exchangeOrderId }),
        ...(g.ref.clientOrderId !== undefined && { clientOrderId: g.ref.clientOrderId }),
        firstSeenAt: g.firstSeenAt,
        notFound: g.notFound,
      }));
    const drift = [...this.drift.entries()]
      .sort(([a], [b]) => compareStrings(a, b))
      .map(([k, cycles]) => {
        const i = k.indexOf(':');
        return { kind: k.slice(0, i) as DriftKind, key: k.slice(i + 1), cycles };
      });
    const seenDeltas = [...this.seenDeltas.entries()]
      .sort(([a], [b]) => compareStrings(a, b))
      .map(([k, delta]) => {
        const i = k.indexOf(':');
        return { kind: k.slice(0, i) as DriftKind, key: k.slice(i + 1), delta };
      });
    return { ghosts, drift, seenDeltas };
  }

  /** @throws ParseError on malformed input (nothing is half-loaded: a new object is built or nothing). */
  static fromJSON(raw: unknown, path = 'reconcileMemory'): ReconcileMemory {
    const r = asRecord(raw, path);
    const m = new ReconcileMemory();
    asArray(r.ghosts, `${path}.ghosts`).forEach((g, i) => {
      const p = `${path}.ghosts[${i}]`;
      const o = asRecord(g, p);
      const exchangeOrderId = parseOptionalId(o.exchangeOrderId, `${p}.exchangeOrderId`);
      const clientOrderId = parseOptionalId(o.clientOrderId, `${p}.clientOrderId`);
      const symbol = parseString(o.symbol, `${p}.symbol`);
      parseString(o.key, `${p}.key`);
      if (exchangeOrderId === undefined && clientOrderId === undefined)
        throw new ParseError(
          'missing_field',
          `${p}.exchangeOrderId`,
          undefined,
          'a ghost needs an exchange or a client order id',
        );
      // The key is recomputed, not trusted: files written before ids were scoped keyed ghosts by the bare exchange id.
      const key = orderKey({ symbol, exchangeOrderId, clientOrderId: clientOrderId ?? '' });
      m.ghosts.set(key, {
        ref: { symbol, exchangeOrderId, clientOrderId },
        firstSeenAt: parseTimestamp(o.firstSeenAt, `${p}.firstSeenAt`),
        notFound: count(o.notFound, `${p}.notFound`),
      });
    });
    asArray(r.drift, `${path}.drift`).forEach((d, i) => {
      const p = `${path}.drift[${i}]`;
      const o = asRecord(d, p);
      const kind = parseEnum(o.kind, ['position', 'balance'] as const, `${p}.kind`);
      m.drift.set(`${kind}:${parseString(o.key, `${p}.key`)}`, count(o.cycles, `${p}.cycles`));
    });
    if (r.seenDeltas !== undefined) {
      asArray(r.seenDeltas, `${path}.seenDeltas`).forEach((d, i) => {
        const p = `${path}.seenDeltas[${i}]`;
        const o = asRecord(d, p);
        const kind = parseEnum(o.kind, ['position', 'balance'] as const, `${p}.kind`);
        m.seenDeltas.set(
          `${kind}:${parseString(o.key, `${p}.key`)}`,
          parseAmount(o.delta, `${p}.delta`, 'any').toFixed(),
        );
      });
    }
    return m;
  }
}

function count(raw: unknown, path: string): number {
  if (typeof raw !== 'number' || !Number.isSafeInteger(raw) || raw < 0)
    throw new ParseError('invalid_type', path, raw, 'must be a non-negative integer');
  return raw;
}
