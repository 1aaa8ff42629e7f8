/**
 * Engine state deltas: the `delta` journal record (what a cycle, a stream batch or a placement changed since the
 * previous save) and how a load folds the deltas into the snapshot before anything is built from it.
 *
 * A delta holds the portfolio's changes (`PortfolioDeltaJSON`), the history cursors and handler actors that changed
 * (whole entries, by symbol and by key, and the keys gone), and the lifecycle facts (always: they are tiny, and then
 * the last delta's are the newest). Folding works on the saved JSON (`PortfolioPatcher` and maps by key), so a load
 * costs the snapshot plus what the deltas changed, and the result is the snapshot a whole save would have written.
 *
 * Order records (`kind: 'order'`) before the last delta are superseded: the engine books a placement in the same
 * queued step that journals it, so the next delta holds its effect (and whatever a cycle did to the order since).
 * Only the order records after the last delta are replayed over the built portfolio, as before deltas existed.
 */
import type { Millis } from '../domain/clock.js';
import { ParseError, TesserError } from '../domain/errors.js';
import { asArray, asRecord, parseString, parseTimestamp, refuseUnknownFields } from '../domain/parse.js';
import type { ExchangeIdentity } from '../exchange/port.js';
import type { HistoryCursor } from '../handlers/plan.js';
import {
  PortfolioPatcher,
  asOptionalArray,
  sortedValues,
  strings,
  type PortfolioDeltaJSON,
} from '../portfolio/portfolio-delta.js';
import type { PersistedHandlerActors } from './handler-actors.js';
import type { EquityAtSaveJSON, PersistedLifecycleJSON } from './state-file.js';

/** One saved handler actor (a ghost or a drift), as in `PersistedHandlerActors`. */
export type PersistedActorEntry = PersistedHandlerActors['ghosts'][number] | PersistedHandlerActors['drift'][number];

/**
 * The `delta` journal record. One whose portfolio delta carries a hard reset's window or instruments (fields a release
 * before them would skip, losing the reset's window) is written as kind `resetDelta`, which such a release refuses as
 * an unknown record kind instead (see `deltaKind`).
 */
export interface EngineDeltaRecord {
  readonly kind: DeltaKind;
  /** When it was written (the `savedAt` a whole save at that moment would carry). */
  readonly at: Millis;
  readonly portfolio?: PortfolioDeltaJSON;
  readonly cursors?: {
    /** Trade cursors written, as [symbol, cursor] (pairs: a symbol is data, never an object key here). */
    readonly trades?: readonly (readonly [string, HistoryCursor])[];
    readonly removedTrades?: readonly string[];
    /** The funding cursor when it changed; null when it is gone. */
    readonly funding?: HistoryCursor | null;
  };
  readonly handlerActors?: {
    readonly ghosts?: readonly PersistedActorEntry[];
    readonly removedGhosts?: readonly string[];
    readonly drift?: readonly PersistedActorEntry[];
    readonly removedDrift?: readonly string[];
  };
  readonly lifecycle: PersistedLifecycleJSON;
  readonly exchange?: ExchangeIdentity;
  /** Equity as marked when it changed; null when the save has none (a whole save would omit it). */
  readonly equity?: EquityAtSaveJSON | null;
}

/** What folding the deltas of a journal gave. */
export interface FoldedJournal {
  /** The snapshot with every delta applied (the input snapshot when the journal holds none). */
  readonly snapshot: unknown;
  /** The records after the last delta, to replay as before; `offset` is the index of the first in the journal. */
  readonly tail: readonly unknown[];
  readonly offset: number;
  /** Deltas applied. */
  readonly deltas: number;
}

/** A journal record that does not fit the state it is folded into. */
export class StateDeltaError extends TesserError {
  override readonly name = 'StateDeltaError' as const;
  /**
   * The fault is the snapshot's, met while applying record `index` (the snapshot is read as far as the deltas need it):
   * a `ParseError` at a path in the snapshot.
   */
  readonly inSnapshot: boolean;
  constructor(
    readonly index: number,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    const c = options?.cause;
    this.inSnapshot = c instanceof ParseError && (c.path === 'snapshot' || c.path.startsWith('snapshot.'));
  }
}

export type DeltaKind = 'delta' | 'resetDelta';

/** Whether a journal record's kind is a delta's. */
export function isDeltaKind(kind: unknown): kind is DeltaKind {
  return kind === 'delta' || kind === 'resetDelta';
}

/** The kind a delta record is written as: `resetDelta` when an older reader would silently drop part of it. */
export function deltaKind(portfolio: PortfolioDeltaJSON | undefined): DeltaKind {
  return portfolio?.reflected !== undefined || portfolio?.instruments !== undefined ? 'resetDelta' : 'delta';
}

const KNOWN_KINDS = new Set(['order', 'lifecycle', 'cycle', 'reconcileAction', 'delta', 'resetDelta']);

/** The fields a delta record may have: one this release does not know (a newer writer's) is refused, never skipped. */
const DELTA_RECORD_FIELDS: ReadonlySet<string> = new Set(
  Object.keys({
    kind: true,
    at: true,
    portfolio: true,
    cursors: true,
    handlerActors: true,
    lifecycle: true,
    exchange: true,
    equity: true,
  } satisfies Record<keyof EngineDeltaRecord, true>),
);

/**
 * Folds the journal's deltas into `snapshot` (raw JSON as loaded). Records before the last delta are checked for a
 * known kind and otherwise superseded (see the module comment).
 * @throws StateDeltaError (with the record's index) when a delta is malformed or does not fit.
 */
export function foldDeltas(snapshot: unknown, journal: readonly unknown[]): FoldedJournal {
  let last = -1;
  for (let i = journal.length - 1; i >= 0; i--) {
    const r = journal[i];
    if (typeof r === 'object' && r !== null && isDeltaKind((r as { kind?: unknown }).kind)) {
      last = i;
      break;
    }
  }
  if (last < 0) return { snapshot, tail: journal, offset: 0, deltas: 0 };
  let patcher: EngineStatePatcher | undefined;
  let deltas = 0;
  for (let i = 0; i <= last; i++) {
    const path = `journal[${i}]`;
    try {
      const r = asRecord(journal[i], path);
      const kind = parseString(r.kind, `${path}.kind`);
      if (!KNOWN_KINDS.has(kind)) throw new TesserError(`${path}.kind: unknown record kind ${JSON.stringify(kind)}`);
      if (!isDeltaKind(kind)) continue;
      if (snapshot === undefined) throw new TesserError(`${path}: a delta with no snapshot to apply it to`);
      patcher ??= new EngineStatePatcher(snapshot);
      patcher.apply(r, path);
      deltas++;
    } catch (e) {
      if (e instanceof StateDeltaError) throw e;
      throw new StateDeltaError(i, e instanceof Error ? e.message : String(e), { cause: e });
    }
  }
  return { snapshot: patcher!.result(), tail: journal.slice(last + 1), offset: last + 1, deltas };
}

/** A saved `EngineStateJSON` (version 3) with deltas applied at the JSON level. */
class EngineStatePatcher {
  private readonly state: Record<string, unknown>;
  private portfolio: PortfolioPatcher | undefined;
  private trades: Map<string, unknown> | undefined;
  private ghosts: Map<string, unknown> | undefined;
  private drift: Map<string, unknown> | undefined;

  constructor(snapshot: unknown) {
    const s = asRecord(snapshot, 'snapshot');
    if (s.version !== 3) {
      throw new TesserError(`deltas apply to a version-3 snapshot, not version ${JSON.stringify(s.version)}`);
    }
    this.state = { ...s };
  }

  apply(r: Record<string, unknown>, path: string): void {
    refuseUnknownFields(r, DELTA_RECORD_FIELDS, path);
    this.state.savedAt = parseTimestamp(r.at, `${path}.at`);
    if (r.portfolio !== undefined) {
      if (this.state.portfolio === null || this.state.portfolio === undefined)
        throw new TesserError(`${path}.portfolio: a portfolio delta, but no portfolio was saved`);
      this.portfolio ??= new PortfolioPatcher(this.state.portfolio, 'snapshot.portfolio');
      this.portfolio.apply(r.portfolio, `${path}.portfolio`);
    }
    if (r.cursors !== undefined) {
      const c = asRecord(r.cursors, `${path}.cursors`);
      const saved = asRecord(this.state.cursors, 'snapshot.cursors');
      this.trades ??= new Map(Object.entries(asRecord(saved.trades, 'snapshot.cursors.trades')));
      for (const s of strings(c.removedTrades, `${path}.cursors.removedTrades`)) this.trades.delete(s);
      asOptionalArray(c.trades, `${path}.cursors.trades`).forEach((pair, i) => {
        const p = `${path}.cursors.trades[${i}]`;
        const [symbol, cursor] = asArray(pair, p);
        this.trades!.set(parseString(symbol, `${p}[0]`), asRecord(cursor, `${p}[1]`));
      });
      if (c.funding !== undefined) {
        const { funding: _, ...rest } = saved;
        this.state.cursors =
          c.funding === null ? rest : { ...rest, funding: asRecord(c.funding, `${path}.cursors.funding`) };
      }
    }
    if (r.handlerActors !== undefined) {
      const h = asRecord(r.handlerActors, `${path}.handlerActors`);
      const saved = asRecord(this.state.handlerActors, 'snapshot.handlerActors');
      this.ghosts = patchByKey(this.ghosts, saved.ghosts, h.ghosts, h.removedGhosts, `${path}.handlerActors.ghosts`);
      this.drift = patchByKey(this.drift, saved.drift, h.drift, h.removedDrift, `${path}.handlerActors.drift`);
    }
    // Checked as the snapshot's own lifecycle is, when the folded snapshot is decoded.
    this.state.lifecycle = asRecord(r.lifecycle, `${path}.lifecycle`);
    if (r.exchange !== undefined) this.state.exchange = asRecord(r.exchange, `${path}.exchange`);
    if (r.equity === null) delete this.state.equity;
    else if (r.equity !== undefined) this.state.equity = asRecord(r.equity, `${path}.equity`);
  }

  result(): Record<string, unknown> {
    const out = { ...this.state };
    if (this.portfolio !== undefined) out.portfolio = this.portfolio.result();
    if (this.trades !== undefined) {
      // fromEntries defines own properties, so even a symbol named "__proto__" stays a key.
      out.cursors = { ...asRecord(out.cursors, 'snapshot.cursors'), trades: Object.fromEntries(this.trades) };
    }
    if (this.ghosts !== undefined || this.drift !== undefined) {
      const saved = asRecord(out.handlerActors, 'snapshot.handlerActors');
      out.handlerActors = {
        ...saved,
        ...(this.ghosts !== undefined && { ghosts: sortedValues(this.ghosts) }),
        ...(this.drift !== undefined && { drift: sortedValues(this.drift) }),
      };
    }
    return out;
  }
}

function patchByKey(
  current: Map<string, unknown> | undefined,
  saved: unknown,
  set: unknown,
  removed: unknown,
  path: string,
): Map<string, unknown> | undefined {
  if (set === undefined && removed === undefined) return current;
  const keyOf = (e: unknown, p: string): string => parseString(asRecord(e, p).key, `${p}.key`);
  const map = current ?? new Map(asArray(saved, path).map((e, i) => [keyOf(e, `${path}[${i}]`), e] as const));
  for (const k of strings(removed, `${path}.removed`)) map.delete(k);
  asOptionalArray(set, path).forEach((e, i) => map.set(keyOf(e, `${path}[${i}]`), e));
  return map;
}
