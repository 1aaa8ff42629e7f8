/**
 * The handler actors of a running engine and the router that feeds them (issue 17). What the handlers remember
 * between cycles lives in XState actors, children of one `handlers` actor in the engine's actor system (so the
 * inspector shows them): a ghost actor per ghost order, a drift actor per position/balance with a streak or a delta
 * looked into, a submission actor per order whose placing answer is awaited or lost.
 *
 * How a report entry reaches its actor: planning (pure, src/handlers) gives each entry's machine its evidence on a
 * `ReconcileMemory` taken from the actors (the machine's own pure transition: it decides when "not found" is final or
 * a drift enters liquidate-only, and planning takes that proposal). When the engine keeps the cycle, `commit` pushes
 * the steps planning took into one RxJS stream, grouped by actor (`groupBy` on category and key): the first entry of
 * a key spawns its actor, the rest are sent to it, and the group ends with the actor. A discarded cycle routes
 * nothing. The actors' persisted snapshots are what the engine saves (`PersistedHandlerActors`).
 */
import { Subject, filter, groupBy, mergeMap, tap, type Subscription } from 'rxjs';
import { createActor, type AnyActorRef, type AnyStateMachine, type Snapshot } from 'xstate';
import { compareStrings } from '../domain/compare.js';
import { ParseError } from '../domain/errors.js';
import {
  asArray,
  asRecord,
  parseAmount,
  parseEnum,
  parseOptionalId,
  parseString,
  parseTimestamp,
} from '../domain/parse.js';
import { orderKey } from '../domain/types.js';
import { ReconcileMemory, type HandlerEvidence, type ReconcileMemoryOptions } from '../handlers/memory.js';
import {
  DRIFT_STATES,
  driftMachine,
  type DriftActorRef,
  type DriftContext,
  type DriftEvent,
  type DriftKind,
  type DriftState,
  type DriftStateValue,
} from '../../machines/drift.machine.js';
import {
  GHOST_STATES,
  ghostMachine,
  type GhostActorRef,
  type GhostContext,
  type GhostEvent,
  type GhostState,
  type GhostStateValue,
} from '../../machines/ghost.machine.js';
import { HANDLERS_SYSTEM_ID, handlersLogic, type HandlersActorRef } from '../../machines/handlers.machine.js';
import { submissionMachine, type SubmissionActorRef, type SubmissionEvent } from '../../machines/submission.machine.js';

export { GHOST_STATES, type GhostStateValue } from '../../machines/ghost.machine.js';
export { DRIFT_STATES, type DriftStateValue } from '../../machines/drift.machine.js';

/** An actor's persisted snapshot as saved: xstate's `getPersistedSnapshot()` less its always-empty parts. */
export interface PersistedActor<V extends string, C> {
  readonly status: 'active';
  readonly value: V;
  readonly context: C;
}

export interface GhostContextJSON {
  readonly ref: { readonly symbol: string; readonly exchangeOrderId?: string; readonly clientOrderId?: string };
  readonly firstSeenAt: number;
  readonly notFound: number;
  readonly confirmations: number;
}

export interface DriftContextJSON {
  readonly kind: DriftKind;
  readonly key: string;
  readonly cycles: number;
  readonly seenDelta?: string;
  readonly cyclesBeforeLiquidateOnly: number;
}

/** What the engine state file keeps of the handler actors (sorted by key, so equal states save equal bytes). */
export interface PersistedHandlerActors {
  readonly ghosts: readonly {
    readonly key: string;
    readonly snapshot: PersistedActor<GhostStateValue, GhostContextJSON>;
  }[];
  readonly drift: readonly {
    readonly key: string;
    readonly snapshot: PersistedActor<DriftStateValue, DriftContextJSON>;
  }[];
}

export const NO_HANDLER_ACTORS: PersistedHandlerActors = { ghosts: [], drift: [] };

/** Thresholds the actors take from the engine's policies. */
export interface HandlerThresholds {
  readonly notFoundConfirmations: number;
  readonly driftCyclesBeforeLiquidateOnly: number;
}

// ---- pure conversions -----------------------------------------------------------------------------------------

function ghostContextJSON(c: GhostContext): GhostContextJSON {
  const ref = {
    symbol: c.ref.symbol,
    ...(c.ref.exchangeOrderId !== undefined && { exchangeOrderId: c.ref.exchangeOrderId }),
    ...(c.ref.clientOrderId !== undefined && { clientOrderId: c.ref.clientOrderId }),
  };
  return { ref, firstSeenAt: c.firstSeenAt, notFound: c.notFound, confirmations: c.confirmations };
}

function driftContextJSON(c: DriftContext): DriftContextJSON {
  return {
    kind: c.kind,
    key: c.key,
    cycles: c.cycles,
    ...(c.seenDelta !== undefined && { seenDelta: c.seenDelta }),
    cyclesBeforeLiquidateOnly: c.cyclesBeforeLiquidateOnly,
  };
}

/**
 * The persisted actors a memory's machine states stand for (state files written before the actors, version ≤ 2, and
 * a router that must start over from planning's states); the thresholds are the engine's at restore.
 */
export function persistedFromMemory(memory: ReconcileMemory): PersistedHandlerActors {
  return {
    ghosts: [...memory.ghostMachines().entries()]
      .sort(([a], [b]) => compareStrings(a, b))
      .map(([key, s]) => ({
        key,
        snapshot: { status: 'active' as const, value: s.value, context: ghostContextJSON(s.context) },
      })),
    drift: [...memory.driftMachines().entries()]
      .sort(([a], [b]) => compareStrings(a, b))
      .map(([key, s]) => ({
        key,
        snapshot: { status: 'active' as const, value: s.value, context: driftContextJSON(s.context) },
      })),
  };
}

/** The memory the persisted actors stand for: what planning starts from. */
export function memoryOfPersisted(p: PersistedHandlerActors, options?: ReconcileMemoryOptions): ReconcileMemory {
  return ReconcileMemory.ofStates(
    p.ghosts.map((g): [string, GhostState] => {
      const c = g.snapshot.context;
      const ref = { symbol: c.ref.symbol, exchangeOrderId: c.ref.exchangeOrderId, clientOrderId: c.ref.clientOrderId };
      return [g.key, { value: g.snapshot.value, context: { ...c, ref } }];
    }),
    p.drift.map((d): [string, DriftState] => [
      d.key,
      { value: d.snapshot.value, context: { seenDelta: undefined, ...d.snapshot.context } },
    ]),
    options,
  );
}

function count(raw: unknown, path: string): number {
  if (typeof raw !== 'number' || !Number.isSafeInteger(raw) || raw < 0)
    throw new ParseError('invalid_type', path, raw, 'must be a non-negative integer');
  return raw;
}

/** @throws ParseError on anything that is not a saved handler actor (nothing is half-loaded). */
export function parsePersistedHandlerActors(raw: unknown, path = 'handlerActors'): PersistedHandlerActors {
  const r = asRecord(raw, path);
  const seen = new Set<string>();
  const unique = (key: string, p: string): string => {
    if (seen.has(key)) throw new ParseError('duplicate_id', p, key, 'two actors have this key');
    seen.add(key);
    return key;
  };
  const active = (s: Record<string, unknown>, p: string): void => {
    if (s.status !== 'active') throw new ParseError('invalid_type', `${p}.status`, s.status, "must be 'active'");
  };
  const ghosts = asArray(r.ghosts, `${path}.ghosts`).map((g, i) => {
    const p = `${path}.ghosts[${i}]`;
    const o = asRecord(g, p);
    const s = asRecord(o.snapshot, `${p}.snapshot`);
    active(s, `${p}.snapshot`);
    const c = asRecord(s.context, `${p}.snapshot.context`);
    const ref = asRecord(c.ref, `${p}.snapshot.context.ref`);
    const symbol = parseString(ref.symbol, `${p}.snapshot.context.ref.symbol`);
    const exchangeOrderId = parseOptionalId(ref.exchangeOrderId, `${p}.snapshot.context.ref.exchangeOrderId`);
    const clientOrderId = parseOptionalId(ref.clientOrderId, `${p}.snapshot.context.ref.clientOrderId`);
    if (exchangeOrderId === undefined)
      throw new ParseError(
        'missing_field',
        `${p}.snapshot.context.ref.exchangeOrderId`,
        undefined,
        'a ghost has an exchange order id',
      );
    parseString(o.key, `${p}.key`);
    // The key is recomputed, not trusted (as for the memory of earlier versions).
    const key = unique(orderKey({ symbol, exchangeOrderId, clientOrderId: clientOrderId ?? '' }), `${p}.key`);
    return {
      key,
      snapshot: {
        status: 'active' as const,
        value: parseEnum(s.value, GHOST_STATES, `${p}.snapshot.value`),
        context: {
          ref: { symbol, exchangeOrderId, ...(clientOrderId !== undefined && { clientOrderId }) },
          firstSeenAt: parseTimestamp(c.firstSeenAt, `${p}.snapshot.context.firstSeenAt`),
          notFound: count(c.notFound, `${p}.snapshot.context.notFound`),
          confirmations: count(c.confirmations, `${p}.snapshot.context.confirmations`),
        },
      },
    };
  });
  const drift = asArray(r.drift, `${path}.drift`).map((d, i) => {
    const p = `${path}.drift[${i}]`;
    const o = asRecord(d, p);
    const s = asRecord(o.snapshot, `${p}.snapshot`);
    active(s, `${p}.snapshot`);
    const c = asRecord(s.context, `${p}.snapshot.context`);
    const kind = parseEnum(c.kind, ['position', 'balance'] as const, `${p}.snapshot.context.kind`);
    const name = parseString(c.key, `${p}.snapshot.context.key`);
    parseString(o.key, `${p}.key`);
    const seenDelta =
      c.seenDelta === undefined
        ? undefined
        : parseAmount(c.seenDelta, `${p}.snapshot.context.seenDelta`, 'any').toFixed();
    return {
      key: unique(`${kind}:${name}`, `${p}.key`),
      snapshot: {
        status: 'active' as const,
        value: parseEnum(s.value, DRIFT_STATES, `${p}.snapshot.value`),
        context: {
          kind,
          key: name,
          cycles: count(c.cycles, `${p}.snapshot.context.cycles`),
          ...(seenDelta !== undefined && { seenDelta }),
          cyclesBeforeLiquidateOnly: count(
            c.cyclesBeforeLiquidateOnly,
            `${p}.snapshot.context.cyclesBeforeLiquidateOnly`,
          ),
        },
      },
    };
  });
  return { ghosts, drift };
}

// ---- routing ----------------------------------------------------------------------------------------------------

/** One routed entry: the evidence of one cycle for one actor (spawning it with `spawn` when it has none yet). */
type Routed =
  | {
      readonly category: 'ghost';
      readonly key: string;
      readonly spawn?: Snapshot<unknown>;
      readonly event: GhostEvent | undefined;
    }
  | {
      readonly category: 'drift';
      readonly key: string;
      readonly spawn?: Snapshot<unknown>;
      readonly event: DriftEvent | undefined;
    }
  | {
      readonly category: 'submission';
      readonly key: string;
      readonly spawn?: { readonly symbol: string };
      readonly event: SubmissionEvent | undefined;
    };

const addressOf = (r: Pick<Routed, 'category' | 'key'>): string => `${r.category}:${r.key}`;

/** Where the actors' state and the memory planning kept disagree (a bug: the engine logs it and takes the memory's). */
export interface HandlerDivergence {
  readonly key: string;
  readonly actor: string;
  readonly memory: string;
}

/**
 * The handler actors of one engine. `attach` gives them their parent in the engine's actor system; until then (and
 * after `stop`) nothing is routed.
 */
export class HandlerActors {
  private container: HandlersActorRef | undefined;
  private readonly ghosts = new Map<string, GhostActorRef>();
  private readonly drifts = new Map<string, DriftActorRef>();
  private readonly submissions = new Map<string, SubmissionActorRef>();
  private readonly entries = new Subject<Routed>();
  /** Addresses whose actor finished: closes that actor's group. */
  private readonly finished = new Subject<string>();
  private readonly routing: Subscription;

  constructor(private readonly thresholds: HandlerThresholds) {
    this.routing = this.entries
      .pipe(
        groupBy((r) => addressOf(r), { duration: (group) => this.finished.pipe(filter((a) => a === group.key)) }),
        mergeMap((group) => group.pipe(tap((r) => this.deliver(r)))),
      )
      .subscribe();
  }

  /** Spawns the `handlers` container as a child of the engine actor (call once, after the engine actor exists). */
  attach(engineActor: AnyActorRef): void {
    if (this.container !== undefined) return;
    this.container = createActor(handlersLogic, {
      parent: engineActor,
      id: HANDLERS_SYSTEM_ID,
      systemId: HANDLERS_SYSTEM_ID,
    });
    this.container.start();
  }

  /** Replaces every ghost and drift actor by the saved ones (at load). */
  restore(saved: PersistedHandlerActors): void {
    for (const [k, a] of this.ghosts) this.end('ghost', k, a);
    for (const [k, a] of this.drifts) this.end('drift', k, a);
    for (const g of saved.ghosts) {
      const context = { ...g.snapshot.context, confirmations: this.thresholds.notFoundConfirmations };
      this.entries.next({
        category: 'ghost',
        key: g.key,
        spawn: restorable(g.snapshot.value, context),
        event: undefined,
      });
    }
    for (const d of saved.drift) {
      const context = {
        seenDelta: undefined,
        ...d.snapshot.context,
        cyclesBeforeLiquidateOnly: this.thresholds.driftCyclesBeforeLiquidateOnly,
      };
      this.entries.next({
        category: 'drift',
        key: d.key,
        spawn: restorable(d.snapshot.value, context),
        event: undefined,
      });
    }
  }

  /** The actors' persisted snapshots, sorted by key. */
  persisted(): PersistedHandlerActors {
    const pick = <V extends string, C, J>(a: { getPersistedSnapshot(): unknown }, toJSON: (c: C) => J) => {
      const s = a.getPersistedSnapshot() as { value: V; context: C };
      return { status: 'active' as const, value: s.value, context: toJSON(s.context) };
    };
    // By key; an empty map (most cycles) is neither copied nor sorted.
    const byKey = <A, E>(actors: ReadonlyMap<string, A>, entry: (key: string, actor: A) => E): E[] =>
      actors.size === 0
        ? []
        : [...actors.entries()].sort(([a], [b]) => compareStrings(a, b)).map(([key, actor]) => entry(key, actor));
    return {
      ghosts: byKey(this.ghosts, (key, a) => ({
        key,
        snapshot: pick<GhostStateValue, GhostContext, GhostContextJSON>(a, ghostContextJSON),
      })),
      drift: byKey(this.drifts, (key, a) => ({
        key,
        snapshot: pick<DriftStateValue, DriftContext, DriftContextJSON>(a, driftContextJSON),
      })),
    };
  }

  /** The memory planning starts from: the actors' states (a fresh object, recording the steps planning takes). */
  memory(): ReconcileMemory {
    const options = { recordEvidence: true };
    return ReconcileMemory.ofStates(
      [...this.ghosts].map(([k, a]): [string, GhostState] => {
        const s = a.getSnapshot();
        return [k, { value: s.value as GhostStateValue, context: s.context }];
      }),
      [...this.drifts].map(([k, a]): [string, DriftState] => {
        const s = a.getSnapshot();
        return [k, { value: s.value as DriftStateValue, context: s.context }];
      }),
      options,
    );
  }

  /**
   * Routes a kept cycle to the actors: every step planning took on `working`'s machines, in order, to the actor of
   * its key. Returns where an actor did not land where planning's machine did (none, unless there is a bug); such an
   * actor is replaced by planning's state, so the two never stay apart.
   */
  commit(working: ReconcileMemory): HandlerDivergence[] {
    for (const e of working.takeEvidence()) this.entries.next(routedOf(e));
    return this.reconcileWith(working);
  }

  /** Checks every actor against `working`; any that disagrees is replaced by planning's state. */
  private reconcileWith(working: ReconcileMemory): HandlerDivergence[] {
    const out: HandlerDivergence[] = [];
    divergences(this.ghosts, working.ghostMachines(), GHOST_FIELDS, out);
    divergences(this.drifts, working.driftMachines(), DRIFT_FIELDS, out);
    if (out.length > 0) this.restore(persistedFromMemory(working));
    return out;
  }

  // ---- submissions ----------------------------------------------------------------------------------------------

  /** An order is about to be sent: its actor waits for the answer (`submitted`). */
  submitted(clientOrderId: string, symbol: string): void {
    this.entries.next({ category: 'submission', key: clientOrderId, spawn: { symbol }, event: undefined });
  }

  /**
   * What became of a submission: its answer, or evidence found by a lookup. Unknown ids are spawned answer-lost.
   * Returns where its machine went: `neverArrived` is its proposal to close the order as rejected.
   */
  submission(
    clientOrderId: string,
    symbol: string,
    event: SubmissionEvent,
  ): { readonly value: string; readonly notFound: number } | undefined {
    if (!this.submissions.has(clientOrderId))
      this.entries.next({
        category: 'submission',
        key: clientOrderId,
        spawn: { symbol },
        event: { type: 'ANSWER_LOST' },
      });
    const actor = this.submissions.get(clientOrderId);
    this.entries.next({ category: 'submission', key: clientOrderId, event });
    // Routing is synchronous: the actor has taken the event (and, in a final state, has been ended).
    const s = actor?.getSnapshot();
    return s === undefined ? undefined : { value: String(s.value), notFound: s.context.notFound };
  }

  /** Whether the order's placing call is still waiting for its answer (then "not found" says nothing about it). */
  isPlacing(clientOrderId: string): boolean {
    return this.submissions.get(clientOrderId)?.getSnapshot().value === 'submitted';
  }

  /** Unconfirmed submissions (client ids), for the per-cycle lookups. */
  unconfirmed(): string[] {
    return [...this.submissions.entries()].filter(([, a]) => a.getSnapshot().value === 'unconfirmed').map(([k]) => k);
  }

  /** A retryable error: no unconfirmed submission's not-found answers are "in a row" any more. */
  breakSubmissionStreaks(): void {
    for (const [k, a] of this.submissions) {
      const s = a.getSnapshot();
      if (s.value === 'unconfirmed' && s.context.notFound > 0)
        this.entries.next({ category: 'submission', key: k, event: { type: 'STREAK_BROKEN' } });
    }
  }

  /** The actors by category (for tests and tools): key → actor. */
  actors(): {
    readonly ghosts: ReadonlyMap<string, GhostActorRef>;
    readonly drift: ReadonlyMap<string, DriftActorRef>;
    readonly submissions: ReadonlyMap<string, SubmissionActorRef>;
  } {
    return { ghosts: this.ghosts, drift: this.drifts, submissions: this.submissions };
  }

  /** Stops every actor and the router. */
  stop(): void {
    this.routing.unsubscribe();
    for (const map of [this.ghosts, this.drifts, this.submissions] as Map<string, AnyActorRef>[]) {
      for (const a of map.values()) this.stopActor(a);
      map.clear();
    }
  }

  /** xstate lets only a parent stop its child: the container does it. */
  private stopActor(actor: AnyActorRef): void {
    if (statusOf(actor) !== 'active') return;
    if (this.container === undefined) actor.stop();
    else this.container.send({ type: 'STOP_CHILD', child: actor });
  }

  /** Delivers one routed entry: spawns the actor on its first entry, sends the event, ends a finished actor. */
  private deliver(r: Routed): void {
    const map = (r.category === 'ghost' ? this.ghosts : r.category === 'drift' ? this.drifts : this.submissions) as Map<
      string,
      AnyActorRef
    >;
    let actor = map.get(r.key);
    if (actor === undefined) {
      if (r.spawn === undefined) return;
      actor = this.spawn(r);
      map.set(r.key, actor);
    }
    if (r.event !== undefined) actor.send(r.event);
    if (statusOf(actor) === 'done') this.end(r.category, r.key, actor);
  }

  private spawn(r: Routed): AnyActorRef {
    const parent = this.container;
    const id = addressOf(r);
    let actor: AnyActorRef;
    // Each literal written out (no `{ ...options, input }`): see src/domain/copy.ts.
    if (r.category === 'submission') {
      actor = createActor(submissionMachine, {
        id,
        ...(parent !== undefined && { parent }),
        input: { clientOrderId: r.key, symbol: r.spawn!.symbol, confirmations: this.thresholds.notFoundConfirmations },
      });
    } else {
      const machine: AnyStateMachine = r.category === 'ghost' ? ghostMachine : driftMachine;
      actor = createActor(machine, { id, ...(parent !== undefined && { parent }), snapshot: r.spawn });
    }
    actor.start();
    return actor;
  }

  private end(category: Routed['category'], key: string, actor: AnyActorRef): void {
    const map = (category === 'ghost' ? this.ghosts : category === 'drift' ? this.drifts : this.submissions) as Map<
      string,
      AnyActorRef
    >;
    if (map.get(key) === actor) map.delete(key);
    this.stopActor(actor);
    this.finished.next(addressOf({ category, key }));
  }
}

/** A step planning took, as the router's entry. */
function routedOf(e: HandlerEvidence): Routed {
  const spawn = e.spawn === undefined ? undefined : restorable(e.spawn.value, e.spawn.context);
  return e.category === 'ghost'
    ? { category: 'ghost', key: e.key, event: e.event, ...(spawn !== undefined && { spawn }) }
    : { category: 'drift', key: e.key, event: e.event, ...(spawn !== undefined && { spawn }) };
}

const statusOf = (actor: AnyActorRef): Snapshot<unknown>['status'] => (actor.getSnapshot() as Snapshot<unknown>).status;

/** A snapshot an actor can be created from, for a saved state value and context. */
function restorable(value: string, context: object): Snapshot<unknown> {
  return {
    status: 'active',
    value,
    context,
    children: {},
    historyValue: {},
    output: undefined,
    error: undefined,
  } as unknown as Snapshot<unknown>;
}

const GHOST_FIELDS = ['notFound', 'firstSeenAt'] as const;
const DRIFT_FIELDS = ['cycles', 'seenDelta'] as const;

/** A machine's state as `reconcileWith` compares it: its value and the `fields` of its context, as text. */
function machineText(s: { value: unknown; context: object } | undefined, fields: readonly string[]): string {
  return s === undefined
    ? 'none'
    : `${String(s.value)}: ${fields.map((f) => `${f} ${String((s.context as Record<string, string | number | undefined>)[f] ?? '-')}`).join(', ')}`;
}

/** Adds to `out` each key whose actor and planning machine differ (one of them missing included). */
function divergences(
  mine: ReadonlyMap<string, { getSnapshot(): { value: unknown; context: object } }>,
  theirs: ReadonlyMap<string, { value: unknown; context: object }>,
  fields: readonly string[],
  out: HandlerDivergence[],
): void {
  // Most cycles have no ghost and no drift: nothing to compare, nothing to build.
  if (mine.size === 0 && theirs.size === 0) return;
  for (const key of new Set([...mine.keys(), ...theirs.keys()])) {
    const actor = machineText(mine.get(key)?.getSnapshot(), fields);
    const memory = machineText(theirs.get(key), fields);
    if (actor !== memory) out.push({ key, actor, memory });
  }
}
