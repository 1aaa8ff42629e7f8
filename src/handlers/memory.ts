/**
 * What the handlers remember between cycles, held as the states of the handler machines: a ghost machine per ghost
 * (machines/ghost.machine.ts: first-seen time, not-found streak) and a drift machine per position/balance
 * (machines/drift.machine.ts: streak, delta last looked into). Planning gives each machine its evidence (`tellGhost`,
 * `tellDrift`: the machine's own pure transition) and takes the machine's proposal from the state it lands in: a
 * ghost closed as not found once its machine is `closing`, liquidate-only once a drift's machine is `liquidateOnly`.
 *
 * Shared by the startup and runtime handlers (a not-found seen at boot counts at runtime). In the engine each step is
 * also kept as evidence (`takeEvidence`) that the engine routes to the real actors when it keeps the cycle, so the
 * actors go through the very transitions planning took. JSON round-trippable in the format state files had before
 * the actors (version ≤ 2).
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
import { driftStep, type DriftEvent, type DriftKind, type DriftState } from '../../machines/drift.machine.js';
import { ghostStep, type GhostEvent, type GhostState } from '../../machines/ghost.machine.js';

export type { DriftKind } from '../../machines/drift.machine.js';

/** A ghost as planning reads it (a view of its machine's context). */
export interface GhostWatch {
  readonly ref: OrderRef;
  readonly firstSeenAt: Millis;
  /** Consecutive "not found" answers (reset by any other answer, and by any retryable error). */
  readonly notFound: number;
}

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

/**
 * One step planning took on a handler machine, in order: `spawn` starts its actor in that state (the first entry of
 * a key), `event` is sent to it. An event that ends the machine ends the actor.
 */
export type HandlerEvidence =
  | {
      readonly category: 'ghost';
      readonly key: string;
      readonly spawn?: GhostState | undefined;
      readonly event?: GhostEvent | undefined;
    }
  | {
      readonly category: 'drift';
      readonly key: string;
      readonly spawn?: DriftState | undefined;
      readonly event?: DriftEvent | undefined;
    };

export interface ReconcileMemoryOptions {
  /** Keep every step as evidence for `takeEvidence` (the engine's memory, whose actors take the same steps). */
  readonly recordEvidence?: boolean | undefined;
}

/** The handler machines' states, keyed: ghosts by `orderKey(order)` (scoped by symbol), drifts by `${kind}:${name}`. */
export class ReconcileMemory {
  private readonly ghostStates = new Map<string, GhostState>();
  private readonly driftStates = new Map<string, DriftState>();
  private evidence: HandlerEvidence[] = [];
  private readonly recording: boolean;

  constructor(options?: ReconcileMemoryOptions) {
    this.recording = options?.recordEvidence === true;
  }

  /** A memory holding these machine states (the engine's, taken from its actors). */
  static ofStates(
    ghosts: Iterable<readonly [string, GhostState]>,
    drifts: Iterable<readonly [string, DriftState]>,
    options?: ReconcileMemoryOptions,
  ): ReconcileMemory {
    const m = new ReconcileMemory(options);
    for (const [k, s] of ghosts) m.ghostStates.set(k, s);
    for (const [k, s] of drifts) m.driftStates.set(k, s);
    return m;
  }

  // ---- ghosts -----------------------------------------------------------------------------------------------

  /** Every ghost watched (a view: built on each call). */
  get ghosts(): ReadonlyMap<string, GhostWatch> {
    const out = new Map<string, GhostWatch>();
    for (const [k, s] of this.ghostStates) out.set(k, watchOf(s));
    return out;
  }

  /** Every watched ghost's machine state. */
  ghostMachines(): ReadonlyMap<string, GhostState> {
    return this.ghostStates;
  }

  /** The ghost's watch, if it is watched. */
  ghost(key: string): GhostWatch | undefined {
    const s = this.ghostStates.get(key);
    return s === undefined ? undefined : watchOf(s);
  }

  /** Starts watching a ghost first listed now (its machine starts `suspected`); a watched one is left as it is. */
  watchGhost(key: string, ref: OrderRef, firstSeenAt: Millis, confirmations: number): void {
    if (this.ghostStates.has(key)) return;
    const state: GhostState = { value: 'suspected', context: { ref, firstSeenAt, confirmations, notFound: 0 } };
    this.ghostStates.set(key, state);
    this.record({ category: 'ghost', key, spawn: state });
  }

  /** The report no longer lists it (`GONE`): its machine ends. */
  forgetGhost(key: string): void {
    if (!this.ghostStates.delete(key)) return;
    this.record({ category: 'ghost', key, event: { type: 'GONE' } });
  }

  /**
   * Gives a watched ghost's machine one piece of evidence and returns where the machine went (its proposal:
   * `proposesClose`), with `confirmations` the policy's threshold now. Undefined for a ghost not watched.
   */
  tellGhost(key: string, event: GhostEvent, confirmations: number): GhostState | undefined {
    const before = this.ghostStates.get(key);
    if (before === undefined) return undefined;
    const next = ghostStep({ value: before.value, context: { ...before.context, confirmations } }, event);
    if (next === undefined) this.ghostStates.delete(key);
    else this.ghostStates.set(key, next);
    this.record({ category: 'ghost', key, event });
    return next;
  }

  /** A retryable error: earlier not-found answers are no longer "in a row" (`STREAK_BROKEN` to every streak). */
  resetNotFound(): void {
    for (const [k, s] of [...this.ghostStates])
      if (s.context.notFound !== 0) this.tellGhost(k, { type: 'STREAK_BROKEN' }, s.context.confirmations);
  }

  // ---- drift --------------------------------------------------------------------------------------------------

  /** `${kind}:${name}` → consecutive cycles beyond tolerance, for every drift with a streak (a view). */
  get drift(): ReadonlyMap<string, number> {
    const out = new Map<string, number>();
    for (const [k, s] of this.driftStates) if (s.context.cycles > 0) out.set(k, s.context.cycles);
    return out;
  }

  /** `${kind}:${name}` → the delta last looked into (decimal string): a delta looked into is not fetched for again. */
  get seenDeltas(): ReadonlyMap<string, string> {
    const out = new Map<string, string>();
    for (const [k, s] of this.driftStates) if (s.context.seenDelta !== undefined) out.set(k, s.context.seenDelta);
    return out;
  }

  /** Every remembered drift's machine state. */
  driftMachines(): ReadonlyMap<string, DriftState> {
    return this.driftStates;
  }

  driftCycles(kind: DriftKind, key: string): number {
    return this.driftStates.get(`${kind}:${key}`)?.context.cycles ?? 0;
  }

  /** Whether any drift has a streak. */
  hasDriftStreak(): boolean {
    for (const s of this.driftStates.values()) if (s.context.cycles > 0) return true;
    return false;
  }

  /**
   * Gives the drift machine of `key` (`${kind}:${name}`) one cycle's verdict and returns where it went (its proposal:
   * `proposesLiquidateOnly`), with `cyclesBeforeLiquidateOnly` the policy's threshold now. A drift with nothing left
   * to remember (no streak, no delta looked into) is forgotten; a verdict that changes nothing spawns no machine.
   */
  tellDrift(key: string, event: DriftEvent, cyclesBeforeLiquidateOnly: number): DriftState | undefined {
    let before = this.driftStates.get(key);
    if (before === undefined) {
      const starts = event.type === 'BEYOND_TOLERANCE' || (event.type === 'LOOKED_INTO' && event.delta !== undefined);
      if (!starts) return undefined;
      const i = key.indexOf(':');
      before = {
        value: 'clean',
        context: {
          kind: key.slice(0, i) as DriftKind,
          key: key.slice(i + 1),
          cycles: 0,
          seenDelta: undefined,
          cyclesBeforeLiquidateOnly,
        },
      };
      this.record({ category: 'drift', key, spawn: before });
    }
    let next = driftStep({ value: before.value, context: { ...before.context, cyclesBeforeLiquidateOnly } }, event);
    this.record({ category: 'drift', key, event });
    if (next !== undefined && next.context.cycles === 0 && next.context.seenDelta === undefined) {
      next = driftStep(next, { type: 'FORGET' });
      this.record({ category: 'drift', key, event: { type: 'FORGET' } });
    }
    if (next === undefined) this.driftStates.delete(key);
    else this.driftStates.set(key, next);
    return next;
  }

  /** The deltas looked into this cycle replace the last ones (`LOOKED_INTO` where one changed). */
  lookedInto(deltas: ReadonlyMap<string, string>, cyclesBeforeLiquidateOnly: number): void {
    const keys = new Set([...this.driftStates.keys(), ...deltas.keys()]);
    for (const key of [...keys].sort(compareStrings)) {
      const delta = deltas.get(key);
      if (this.driftStates.get(key)?.context.seenDelta !== delta)
        this.tellDrift(key, { type: 'LOOKED_INTO', delta }, cyclesBeforeLiquidateOnly);
    }
  }

  /** Ends every streak (`EXPLAINED`): a hard reset removed every drift. */
  endStreaks(cyclesBeforeLiquidateOnly: number): void {
    for (const [key, s] of [...this.driftStates])
      if (s.context.cycles > 0) this.tellDrift(key, { type: 'EXPLAINED' }, cyclesBeforeLiquidateOnly);
  }

  // ---- evidence, copies, JSON ---------------------------------------------------------------------------------

  private record(e: HandlerEvidence): void {
    if (this.recording) this.evidence.push(e);
  }

  /** The steps taken since the last call (empty unless `recordEvidence`), oldest first. */
  takeEvidence(): HandlerEvidence[] {
    const out = this.evidence;
    this.evidence = [];
    return out;
  }

  /** A deep copy of the states (no evidence). */
  copy(): ReconcileMemory {
    const m = new ReconcileMemory({ recordEvidence: this.recording });
    m.restore(this);
    return m;
  }

  /**
   * Takes every state of `from` in place (the handlers keep their reference) and drops the evidence not taken: a
   * discarded cycle leaves no trace.
   */
  restore(from: ReconcileMemory): void {
    this.ghostStates.clear();
    this.driftStates.clear();
    for (const [k, s] of from.ghostStates) this.ghostStates.set(k, s);
    for (const [k, s] of from.driftStates) this.driftStates.set(k, s);
    this.evidence = [];
  }

  toJSON(): ReconcileMemoryJSON {
    const ghosts = [...this.ghostStates.entries()]
      .sort(([a], [b]) => compareStrings(a, b))
      .map(([key, { context: g }]) => ({
        key,
        symbol: g.ref.symbol,
        ...(g.ref.exchangeOrderId !== undefined && { exchangeOrderId: g.ref.exchangeOrderId }),
        ...(g.ref.clientOrderId !== undefined && { clientOrderId: g.ref.clientOrderId }),
        firstSeenAt: g.firstSeenAt,
        notFound: g.notFound,
      }));
    const drifts = [...this.driftStates.values()].sort((a, b) =>
      compareStrings(`${a.context.kind}:${a.context.key}`, `${b.context.kind}:${b.context.key}`),
    );
    const drift = drifts
      .filter((s) => s.context.cycles > 0)
      .map(({ context: c }) => ({ kind: c.kind, key: c.key, cycles: c.cycles }));
    const seenDeltas = drifts
      .filter((s) => s.context.seenDelta !== undefined)
      .map(({ context: c }) => ({ kind: c.kind, key: c.key, delta: c.seenDelta! }));
    return { ghosts, drift, seenDeltas };
  }

  /**
   * A ghost with a not-found streak is `confirming`, a drift with a streak `drifting` (the thresholds are the
   * handlers' at their next step). @throws ParseError on malformed input (nothing is half-loaded).
   */
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
      const notFound = count(o.notFound, `${p}.notFound`);
      m.ghostStates.set(key, {
        value: notFound > 0 ? 'confirming' : 'suspected',
        context: {
          ref: { symbol, exchangeOrderId, clientOrderId },
          firstSeenAt: parseTimestamp(o.firstSeenAt, `${p}.firstSeenAt`),
          notFound,
          confirmations: 0,
        },
      });
    });
    const drift = (kind: DriftKind, name: string): DriftState => {
      const k = `${kind}:${name}`;
      const s = m.driftStates.get(k) ?? {
        value: 'clean' as const,
        context: { kind, key: name, cycles: 0, seenDelta: undefined, cyclesBeforeLiquidateOnly: 0 },
      };
      m.driftStates.set(k, s);
      return s;
    };
    asArray(r.drift, `${path}.drift`).forEach((d, i) => {
      const p = `${path}.drift[${i}]`;
      const o = asRecord(d, p);
      const kind = parseEnum(o.kind, ['position', 'balance'] as const, `${p}.kind`);
      const name = parseString(o.key, `${p}.key`);
      const cycles = count(o.cycles, `${p}.cycles`);
      const s = drift(kind, name);
      m.driftStates.set(`${kind}:${name}`, {
        value: cycles > 0 ? 'drifting' : 'clean',
        context: { ...s.context, cycles },
      });
    });
    if (r.seenDeltas !== undefined) {
      asArray(r.seenDeltas, `${path}.seenDeltas`).forEach((d, i) => {
        const p = `${path}.seenDeltas[${i}]`;
        const o = asRecord(d, p);
        const kind = parseEnum(o.kind, ['position', 'balance'] as const, `${p}.kind`);
        const name = parseString(o.key, `${p}.key`);
        const s = drift(kind, name);
        const seenDelta = parseAmount(o.delta, `${p}.delta`, 'any').toFixed();
        m.driftStates.set(`${kind}:${name}`, { ...s, context: { ...s.context, seenDelta } });
      });
    }
    // A drift listed with no streak and no delta has nothing to remember (as the machine forgets it).
    for (const [k, s] of [...m.driftStates])
      if (s.context.cycles === 0 && s.context.seenDelta === undefined) m.driftStates.delete(k);
    return m;
  }
}

function watchOf(s: GhostState): GhostWatch {
  return { ref: s.context.ref, firstSeenAt: s.context.firstSeenAt, notFound: s.context.notFound };
}

function count(raw: unknown, path: string): number {
  if (typeof raw !== 'number' || !Number.isSafeInteger(raw) || raw < 0)
    throw new ParseError('invalid_type', path, raw, 'must be a non-negative integer');
  return raw;
}
