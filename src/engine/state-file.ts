/**
 * What the engine keeps in its StateStore, and how it is read back.
 *
 * - The snapshot (`EngineStateJSON`) is the whole durable state: the portfolio, the history cursors, the handler
 *   actors' persisted snapshots (what they remember between cycles) and the lifecycle facts that survive a restart.
 *   The engine rewrites it now and then and on stop (the policy is in persistence.ts).
 * - Journal records (`EngineJournalRecord`) are appended between snapshots. A `delta` is what a save changed; the
 *   deltas are folded into the snapshot before it is decoded (state-delta.ts), superseding the order records before
 *   the last of them. Two more kinds change state on replay:
 *   `order` (an order the strategy submitted, then its acknowledgement: written BEFORE and AFTER the exchange call,
 *   so a crash in between leaves a pending order that reconciliation resolves instead of an order we forgot) and
 *   `lifecycle` (entering or leaving liquidate-only). `reconcileAction` and `cycle` records are an audit trail only:
 *   what they did is in the next snapshot, and if the process died before it, the startup reconciliation redoes it
 *   from the exchange (fills are applied once by trade id, so nothing counts twice).
 *
 * Decoding validates everything; anything malformed is a StoreCorruptError, and the engine refuses to start.
 */
import type { Millis } from '../domain/clock.js';
import { StoreCorruptError, TesserError, errorSummary } from '../domain/errors.js';
import { amountToString, type Decimal } from '../domain/decimal.js';
import {
  asArray,
  asRecord,
  dictionary,
  isAmountWithinLimits,
  orderToJSON,
  parseAmount,
  parseEnum,
  parseId,
  parseOrder,
  parseString,
  parseTimestamp,
} from '../domain/parse.js';
import type { OrderJSON } from '../domain/parse.js';
import type { Order } from '../domain/types.js';
import type { ExchangeIdentity } from '../exchange/port.js';
import { isPortfolioError } from '../portfolio/errors.js';
import { parseIdentity } from './exchange-identity.js';
import { ReconcileMemory } from '../handlers/memory.js';
import {
  NO_HANDLER_ACTORS,
  memoryOfPersisted,
  parsePersistedHandlerActors,
  persistedFromMemory,
  type PersistedHandlerActors,
} from './handler-actors.js';
import { EMPTY_CURSORS, type CursorState, type HistoryCursor } from '../handlers/plan.js';
import { StateDeltaError, foldDeltas, isDeltaKind, type EngineDeltaRecord, type FoldedJournal } from './state-delta.js';
import { Portfolio, type PortfolioOptions } from '../portfolio/portfolio.js';
import type { PortfolioJSON } from '../portfolio/portfolio-json.js';
import type { JsonValue, LoadedState } from '../store/port.js';
import { ITEMS_PER_STEP, runSteps, runStepsSliced, type Pause } from '../domain/steps.js';

export const ENGINE_STATE_FORMAT = 'tesser-reconcile/engine-state';
/**
 * Version 3 saves the handler actors' persisted snapshots (`handlerActors`) where version 2 saved the handlers'
 * memory (`memory`, migrated on load: `persistedFromMemory`). Version 2 scopes ids by symbol (see
 * `migratePortfolioV1`). Version 1 (written up to commit d0fec8b) is migrated on load: its portfolio's unscoped trade
 * ids count for trades stamped up to its `savedAt`, ghost keys are recomputed.
 */
export const ENGINE_STATE_VERSION = 3;
/** Versions this build reads. */
const READABLE_VERSIONS: readonly number[] = [1, 2, ENGINE_STATE_VERSION];

/** The lifecycle facts kept across restarts. */
export interface PersistedLifecycleJSON {
  readonly liquidateOnly: { readonly reason: string } | null;
}

/** The compacted snapshot the engine writes. */
export interface EngineStateJSON {
  readonly format: typeof ENGINE_STATE_FORMAT;
  readonly version: number;
  readonly savedAt: Millis;
  readonly portfolio: PortfolioJSON | null;
  readonly cursors: CursorState;
  /** The handler actors (ghosts, drifts) as their persisted snapshots; version ≤ 2 had `memory` instead. */
  readonly handlerActors: PersistedHandlerActors;
  readonly lifecycle: PersistedLifecycleJSON;
  /** The exchange account this state belongs to. Optional: state written before it was recorded lacks it. */
  readonly exchange?: ExchangeIdentity;
  /**
   * Equity and drawdown as last marked before this save, for `state show` (peak equity is in the portfolio). Written
   * along with a save, never a reason for one; optional, so states written before it load.
   */
  readonly equity?: EquityAtSaveJSON | undefined;
}

/** Equity and drawdown (decimal strings) as last marked; null when that reconciliation could not price everything. */
export interface EquityAtSaveJSON {
  readonly equity: string | null;
  readonly drawdown: string | null;
}

/**
 * Equity and drawdown as a save writes them (`EquityAtSaveJSON`): exact decimal strings, null kept. A value the
 * state file would not read back (out of `AMOUNT_LIMITS`) is written as null: it is shown, never a reason to refuse
 * the directory.
 */
export function equityAtSaveToJSON(e: {
  readonly equity: Decimal | null;
  readonly drawdown: Decimal | null;
}): EquityAtSaveJSON {
  const text = (d: Decimal | null): string | null =>
    d === null || !isAmountWithinLimits(d) ? null : amountToString(d);
  return { equity: text(e.equity), drawdown: text(e.drawdown) };
}

/** Journal records the engine appends between snapshots. */
export type EngineJournalRecord =
  | {
      readonly kind: 'order';
      /** `submitted` before the exchange call; `acknowledged` / `rejected` / `unconfirmed` after it. */
      readonly event: 'submitted' | 'acknowledged' | 'rejected' | 'unconfirmed';
      readonly at: Millis;
      readonly order: OrderJSON;
      readonly reason?: string;
    }
  | { readonly kind: 'lifecycle'; readonly at: Millis; readonly liquidateOnly: { readonly reason: string } | null }
  | {
      readonly kind: 'cycle';
      readonly at: Millis;
      readonly handler: 'startup' | 'runtime';
      readonly cycle: number;
      readonly summary: Readonly<Record<string, number>>;
    }
  /** Written by the executor (see `ExecutionResult.journal`). */
  | { readonly kind: 'reconcileAction'; readonly [key: string]: unknown }
  /** What changed since the previous save (src/engine/state-delta.ts). */
  | EngineDeltaRecord;

/** The engine state as objects. `portfolio` is undefined on a fresh start (built from the exchange at boot). */
export interface EngineState {
  readonly portfolio: Portfolio | undefined;
  readonly cursors: CursorState;
  /** What the handlers remember between cycles, as planning reads it. */
  readonly memory: ReconcileMemory;
  /**
   * The handler actors' persisted snapshots (src/engine/handler-actors.ts), which is what is saved; when absent,
   * the actors `memory` stands for (`persistedFromMemory`).
   */
  readonly handlerActors?: PersistedHandlerActors | undefined;
  readonly lifecycle: PersistedLifecycleJSON;
  /** The exchange account the state belongs to (undefined: not recorded yet). */
  readonly exchange?: ExchangeIdentity | undefined;
}

/** What loading found. */
export interface DecodedEngineState extends EngineState {
  /** True when the store held nothing (first start). */
  readonly fresh: boolean;
  readonly handlerActors: PersistedHandlerActors;
  /** Journal records replayed over the snapshot. */
  readonly replayed: number;
  /** Equity and drawdown as last marked before the snapshot was saved (absent in older states). */
  readonly equityAtSave?: { readonly equity: Decimal | null; readonly drawdown: Decimal | null } | undefined;
  readonly warnings: readonly string[];
}

export function encodeEngineState(state: EngineState, savedAt: Millis, equity?: EquityAtSaveJSON): EngineStateJSON {
  return {
    format: ENGINE_STATE_FORMAT,
    version: ENGINE_STATE_VERSION,
    savedAt,
    portfolio: state.portfolio === undefined ? null : state.portfolio.toJSON(),
    cursors: state.cursors,
    handlerActors: state.handlerActors ?? persistedFromMemory(state.memory),
    lifecycle: state.lifecycle,
    ...(state.exchange !== undefined && { exchange: state.exchange }),
    ...(equity !== undefined && { equity }),
  };
}

/** An `order` journal record. */
export function orderRecord(
  event: 'submitted' | 'acknowledged' | 'rejected' | 'unconfirmed',
  order: Order,
  at: Millis,
  reason?: string,
): EngineJournalRecord {
  return { kind: 'order', event, at, order: orderToJSON(order), ...(reason !== undefined && { reason }) };
}

const WHERE = 'engine state';

/**
 * Rebuilds the engine state from what `StateStore.load()` returned (undefined = empty store).
 * @throws StoreCorruptError when the snapshot or a journal record is not valid engine state.
 */
export function decodeEngineState(
  loaded: LoadedState | undefined,
  options: PortfolioOptions = {},
  location?: string,
): DecodedEngineState {
  return runSteps(decodeSteps(loaded, options, location));
}

/**
 * `decodeEngineState` with `pause` asked every few hundred orders or journal records (the engine's boot: its
 * slicer's), so that decoding large books need not hold the event loop for one turn: the same state or the same
 * StoreCorruptError. `loaded` must not change until it resolves.
 */
export function decodeEngineStateSliced(
  loaded: LoadedState | undefined,
  options: PortfolioOptions,
  location: string | undefined,
  pause: Pause,
): Promise<DecodedEngineState> {
  return runStepsSliced(decodeSteps(loaded, options, location), pause);
}

/** The decode, yielding at its safe points (it changes nothing outside the state it builds). */
function* decodeSteps(
  loaded: LoadedState | undefined,
  options: PortfolioOptions,
  location: string | undefined,
): Generator<void, DecodedEngineState> {
  const where = location === undefined ? WHERE : `${WHERE} in ${location}`;
  // Any StateStore may be a third party's: what it hands back is checked like the files themselves.
  if (loaded !== undefined && (typeof loaded !== 'object' || loaded === null || !Array.isArray(loaded.journal))) {
    throw new StoreCorruptError(where, undefined, 'the store returned no journal list');
  }
  const rawWarnings: unknown = loaded?.warnings;
  const warnings: readonly string[] = Array.isArray(rawWarnings) ? rawWarnings.map((w: unknown) => String(w)) : [];
  if (loaded === undefined || (loaded.snapshot === undefined && loaded.journal.length === 0)) {
    return {
      fresh: true,
      portfolio: undefined,
      cursors: EMPTY_CURSORS,
      handlerActors: NO_HANDLER_ACTORS,
      memory: new ReconcileMemory(),
      lifecycle: { liquidateOnly: null },
      exchange: undefined,
      replayed: 0,
      warnings,
    };
  }
  let portfolio: Portfolio | undefined;
  let cursors: CursorState = EMPTY_CURSORS;
  let handlerActors: PersistedHandlerActors = NO_HANDLER_ACTORS;
  let lifecycle: PersistedLifecycleJSON = { liquidateOnly: null };
  let exchange: ExchangeIdentity | undefined;
  const skipped: string[] = [];
  let equityAtSave: DecodedEngineState['equityAtSave'];
  // Deltas are folded into the snapshot first (state-delta.ts): what is decoded below is what a whole save holds.
  let folded: FoldedJournal;
  try {
    folded = foldDeltas(loaded.snapshot, loaded.journal);
  } catch (e) {
    if (!(e instanceof StateDeltaError)) throw e;
    // The snapshot is read as far as the deltas need it: a fault of its own is its, not the record's being applied.
    const what = e.inSnapshot
      ? `the snapshot is not valid engine state (read to apply journal record ${e.index + 1})`
      : `journal record ${e.index + 1} is not valid`;
    throw new StoreCorruptError(where, undefined, `${what}: ${errorSummary(e)}`, { cause: e });
  }
  try {
    if (folded.snapshot !== undefined) {
      const s = asRecord(folded.snapshot, 'snapshot');
      if (s.format !== ENGINE_STATE_FORMAT)
        throw new TesserError(`snapshot.format is ${JSON.stringify(s.format)}, not ${ENGINE_STATE_FORMAT}`);
      if (typeof s.version !== 'number' || !READABLE_VERSIONS.includes(s.version)) {
        throw new TesserError(
          `snapshot.version ${JSON.stringify(s.version)} is not supported (this build reads ${READABLE_VERSIONS.join(' and ')})`,
        );
      }
      const legacySavedAt = s.version === 1 ? parseTimestamp(s.savedAt, 'snapshot.savedAt') : undefined;
      yield;
      portfolio =
        s.portfolio === null ? undefined : yield* Portfolio.fromJSONSteps(s.portfolio, { ...options, legacySavedAt });
      yield;
      cursors = parseCursorState(s.cursors, 'snapshot.cursors');
      handlerActors =
        s.version >= 3
          ? parsePersistedHandlerActors(s.handlerActors, 'snapshot.handlerActors')
          : persistedFromMemory(ReconcileMemory.fromJSON(s.memory, 'snapshot.memory'));
      lifecycle = parseLifecycle(s.lifecycle, 'snapshot.lifecycle');
      if (s.exchange !== undefined) exchange = parseIdentity(s.exchange, 'snapshot.exchange');
      if (s.equity !== undefined) {
        const e = asRecord(s.equity, 'snapshot.equity');
        const amount = (v: unknown, path: string): Decimal | null => (v === null ? null : parseAmount(v, path, 'any'));
        equityAtSave = {
          equity: amount(e.equity, 'snapshot.equity.equity'),
          drawdown: amount(e.drawdown, 'snapshot.equity.drawdown'),
        };
      }
    }
  } catch (e) {
    throw new StoreCorruptError(where, undefined, `the snapshot is not valid engine state: ${errorSummary(e)}`, {
      cause: e,
    });
  }
  let replayed = folded.deltas;
  for (const [j, raw] of folded.tail.entries()) {
    if (j > 0 && j % ITEMS_PER_STEP === 0) yield;
    const i = folded.offset + j;
    const path = `journal[${i}]`;
    try {
      const r = asRecord(raw, path);
      const kind = parseString(r.kind, `${path}.kind`);
      if (kind === 'order') {
        parseEnum(r.event, ['submitted', 'acknowledged', 'rejected', 'unconfirmed'] as const, `${path}.event`);
        const order = parseOrder(r.order, `${path}.order`);
        if (portfolio === undefined) throw new TesserError(`${path}: an order record before any portfolio was saved`);
        const known = portfolio.findOrder({ clientOrderId: order.clientOrderId });
        // A pending copy (submitted, unconfirmed) never takes back what was known later: an exchange id or a status a
        // reconciliation cycle found while the placing call was still waiting for its (lost) answer.
        const stale =
          order.status === 'pending' &&
          known !== undefined &&
          (known.status !== 'pending' || known.exchangeOrderId !== undefined);
        if (!stale) {
          try {
            portfolio.trackOrder(order);
          } catch (e) {
            // A record the books refuse (an exchange id another order holds: earlier builds journaled the
            // acknowledgement before checking it) is skipped, never fatal: the directory must load. The order stays
            // as the earlier records left it, and the startup reconciliation settles it from the exchange.
            if (!isPortfolioError(e)) throw e;
            skipped.push(
              `journal record ${i + 1} (order ${order.clientOrderId}, ${String(r.event)}) skipped: ${e.message}`,
            );
          }
        }
        replayed++;
      } else if (kind === 'lifecycle') {
        lifecycle = parseLifecycle(r, path);
        replayed++;
      } else if (isDeltaKind(kind)) {
        // Unreachable: `tail` follows the last delta.
        throw new TesserError(`${path}: a delta after the last delta`);
      } else if (kind !== 'cycle' && kind !== 'reconcileAction') {
        throw new TesserError(`${path}.kind: unknown record kind ${JSON.stringify(kind)}`);
      }
    } catch (e) {
      throw new StoreCorruptError(where, undefined, `journal record ${i + 1} is not valid: ${errorSummary(e)}`, {
        cause: e,
      });
    }
  }
  return {
    fresh: false,
    portfolio,
    cursors,
    handlerActors,
    memory: memoryOfPersisted(handlerActors),
    lifecycle,
    exchange,
    replayed,
    warnings: [...warnings, ...skipped],
    ...(equityAtSave !== undefined && { equityAtSave }),
  };
}

function parseLifecycle(raw: unknown, path: string): PersistedLifecycleJSON {
  const r = asRecord(raw, path);
  if (r.liquidateOnly === null) return { liquidateOnly: null };
  const l = asRecord(r.liquidateOnly, `${path}.liquidateOnly`);
  return { liquidateOnly: { reason: parseString(l.reason, `${path}.liquidateOnly.reason`) } };
}

function parseCursor(raw: unknown, path: string): HistoryCursor {
  const r = asRecord(raw, path);
  return {
    since: parseTimestamp(r.since, `${path}.since`),
    seenIds: asArray(r.seenIds, `${path}.seenIds`).map((id, i) => parseId(id, `${path}.seenIds[${i}]`)),
  };
}

/** Validates persisted history cursors. @throws ParseError naming the bad field. */
export function parseCursorState(raw: unknown, path = 'cursors'): CursorState {
  const r = asRecord(raw, path);
  // Prototype-free: a symbol is input, and on `{}` a cursor keyed "__proto__" would vanish into the prototype.
  const trades = dictionary(
    Object.entries(asRecord(r.trades, `${path}.trades`)).map(
      ([symbol, c]) => [symbol, parseCursor(c, `${path}.trades.${symbol}`)] as const,
    ),
  );
  return { trades, ...(r.funding !== undefined && { funding: parseCursor(r.funding, `${path}.funding`) }) };
}

/** The state as the store's JSON type (amounts are already strings). */
export function asJson(value: EngineStateJSON | EngineJournalRecord): JsonValue {
  return value as unknown as JsonValue;
}
