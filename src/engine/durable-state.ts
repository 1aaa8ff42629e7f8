/**
 * `DurableState`: what an engine keeps from one reconciliation to the next, in one object: the books (`Portfolio`),
 * the trade-history cursors, the handler actors and planning's working copy of their states (with the two planners
 * built on it), the equity last marked, and what the store holds of the lifecycle. It is loaded from the StateStore
 * at boot and saved through its StatePersister (report-only writes nothing).
 *
 * It does not order its own changes: its callers (the reconciliations, the order API, the execution stream, the
 * lifecycle journal) each run inside the engine's SerialQueue, so no two interleave.
 */
import type { Clock } from '../domain/clock.js';
import type { ExchangeIdentity } from '../exchange/port.js';
import type { ResolvedConfig } from '../handlers/config.js';
import { ReconcileMemory } from '../handlers/memory.js';
import { EMPTY_CURSORS, type CursorState } from '../handlers/plan.js';
import { RuntimeHandler } from '../handlers/runtime.js';
import { StartupHandler } from '../handlers/startup.js';
import type { Logger } from '../logging/types.js';
import type { Portfolio, PortfolioOptions } from '../portfolio/portfolio.js';
import type { StateStore } from '../store/port.js';
import type { LoadedLifecycle } from '../../machines/engine.machine.js';
import type { EquityReading } from './equity.js';
import { ExchangeMismatchError, identityConflict } from './exchange-identity.js';
import { HandlerActors } from './handler-actors.js';
import { StatePersister, type CompactionPolicy } from './persistence.js';
import { NO_SLICING, type Slicer } from './slicing.js';
import {
  decodeEngineStateSliced,
  type EngineJournalRecord,
  equityAtSaveToJSON,
  type EquityAtSaveJSON,
  type PersistedLifecycleJSON,
} from './state-file.js';

export interface DurableStateOptions {
  readonly config: ResolvedConfig;
  readonly store: StateStore;
  readonly compaction?: Partial<CompactionPolicy> | undefined;
  /** Where a compaction's serialization lets the event loop run (src/engine/slicing.ts). */
  readonly slicer?: Slicer | undefined;
  readonly portfolioOptions?: PortfolioOptions | undefined;
  /** The account this state belongs to: recorded in each snapshot, checked at load. */
  readonly identity: ExchangeIdentity;
  readonly clock: Clock;
  readonly logger: Logger;
  /** The lifecycle as the machine holds it now (saved with the state). */
  readonly lifecycle: () => PersistedLifecycleJSON;
}

/** The engine's state that outlives a cycle (see the module comment). */
export class DurableState {
  /** The ghost, drift and submission actors (children of the engine actor once `attach`ed). */
  readonly handlerActors: HandlerActors;
  #portfolio: Portfolio | undefined;
  #cursors: CursorState = EMPTY_CURSORS;
  /**
   * Planning's working copy of the handler actors' states: taken from them; the steps planning takes on their
   * machines are routed back to them when the cycle is kept (`keep`).
   */
  #memory = new ReconcileMemory({ recordEvidence: true });
  #startupHandler: StartupHandler;
  #runtimeHandler: RuntimeHandler;
  #lifecycleOnDisk: PersistedLifecycleJSON = { liquidateOnly: null };
  #lastEquity: EquityReading | null = null;
  /** `#lastEquity` as a save writes it, kept while the reading is the same object (most cycles: `EquityMarker`). */
  #equityText: { readonly of: EquityReading; readonly json: EquityAtSaveJSON } | undefined;
  // Saves as deltas with a snapshot now and then (src/engine/persistence.ts); report-only writes nothing.
  readonly #persister: StatePersister;
  readonly #options: DurableStateOptions;

  constructor(options: DurableStateOptions) {
    this.#options = options;
    const { config } = options;
    this.handlerActors = new HandlerActors({
      notFoundConfirmations: config.notFoundConfirmations,
      driftCyclesBeforeLiquidateOnly: config.driftCyclesBeforeLiquidateOnly,
    });
    this.#startupHandler = new StartupHandler(config, this.#memory);
    this.#runtimeHandler = new RuntimeHandler(config, this.#memory);
    this.#persister = new StatePersister(options.store, config.reportOnly, options.compaction, options.slicer);
  }

  /** The books; undefined on a fresh store until the startup reconciliation built them. */
  get portfolio(): Portfolio | undefined {
    return this.#portfolio;
  }

  get cursors(): CursorState {
    return this.#cursors;
  }

  /** What the handlers remember, as planning reads and steps it. */
  get memory(): ReconcileMemory {
    return this.#memory;
  }

  /** Plans the boot's hard reset on `memory`. */
  get startupHandler(): StartupHandler {
    return this.#startupHandler;
  }

  /** Plans a runtime cycle's repairs on `memory`. */
  get runtimeHandler(): RuntimeHandler {
    return this.#runtimeHandler;
  }

  /** Equity as the last reconciliation marked it. */
  get lastEquity(): EquityReading | null {
    return this.#lastEquity;
  }

  /**
   * Reads the store into this state; what the machine needs to know of it is returned. A corrupt store throws
   * StoreCorruptError, another account's state ExchangeMismatchError: nothing is asked or written then.
   */
  async load(): Promise<LoadedLifecycle> {
    const { store, config, logger, identity, slicer = NO_SLICING } = this.#options;
    // The store's parse, the decode (O(n) in the books) and what follows each take a turn of their own when long.
    slicer.start();
    // The store may check and parse a large snapshot in slices too (`StateStore.loadsInSlices`).
    const loaded = await store.load(() => slicer.pause());
    await slicer.pause();
    // The decode pauses within too: at 10,000 orders it is tens of milliseconds before the code is optimized.
    const state = await decodeEngineStateSliced(loaded, this.#options.portfolioOptions ?? {}, store.location, () =>
      slicer.pause(),
    );
    await slicer.pause();
    if (state.exchange !== undefined && identityConflict(state.exchange, identity) !== undefined)
      throw new ExchangeMismatchError(store.location, state.exchange, identity);
    for (const w of state.warnings) logger.warn({ event: 'store.warning', warning: w }, `state store: ${w}`);
    this.#portfolio = state.portfolio;
    this.#cursors = state.cursors;
    this.handlerActors.restore(state.handlerActors);
    this.#memory = this.handlerActors.memory();
    this.#startupHandler = new StartupHandler(config, this.#memory);
    this.#runtimeHandler = new RuntimeHandler(config, this.#memory);
    this.#lifecycleOnDisk = state.lifecycle;
    // What the store holds is what the first save builds on: a warm restart's hard reset (done on these books) is
    // then saved as a delta rather than the whole state again.
    this.#persister.seedLoaded(loaded, state);
    logger.info(
      {
        event: 'engine.loaded',
        fresh: state.fresh,
        replayed: state.replayed,
        orders: this.#portfolio?.orderCount ?? 0,
      },
      state.fresh ? 'fresh start: empty state store' : `state loaded (${state.replayed} journal records replayed)`,
    );
    return { fresh: state.fresh, liquidateOnly: state.lifecycle.liquidateOnly };
  }

  /** The executor's books and cursors become the engine's (its copy, or the rebuilt books of a hard reset). */
  adopt(portfolio: Portfolio, cursors: CursorState): void {
    this.#portfolio = portfolio;
    this.#cursors = cursors;
  }

  /** The equity a reconciliation marked (saved with the next save, shown in the status). */
  marked(equity: EquityReading): void {
    this.#lastEquity = equity;
  }

  /**
   * Routes the steps planning took on `memory`'s machines to the handler actors: the cycle is kept (a discarded one
   * first takes the actors' states back, so nothing is routed). Idempotent: a second call routes nothing.
   */
  keep(): void {
    for (const d of this.handlerActors.commit(this.#memory)) {
      this.#options.logger.error(
        { event: 'handlers.diverged', key: d.key, actor: d.actor, memory: d.memory },
        `handler actor ${d.key} (${d.actor}) disagreed with the plan's memory (${d.memory}); the memory's is kept`,
      );
    }
  }

  /** A discarded plan: planning's working memory goes back to what the actors hold. */
  discard(): void {
    this.#memory.restore(this.handlerActors.memory());
  }

  /**
   * Saves the state when it differs from what was last written: as a delta record, or whole now and then, and whole
   * when `final` (a clean stop). A store failure is rethrown. Report-only writes nothing at all: its books, cursors
   * and memory live in RAM (the directory stays byte for byte as it was).
   */
  async persist(final = false): Promise<void> {
    const lifecycle = this.#options.lifecycle();
    // Equity moves with every price: it rides along with a save that is due, and is never the reason for one.
    const e = this.#lastEquity;
    if (e !== null && this.#equityText?.of !== e)
      this.#equityText = {
        of: e,
        json: equityAtSaveToJSON(e),
      };
    const equity = e === null ? undefined : this.#equityText!.json;
    const state = {
      portfolio: this.#portfolio,
      cursors: this.#cursors,
      memory: this.#memory,
      handlerActors: this.handlerActors.persisted(),
      lifecycle,
      exchange: this.#options.identity,
    };
    const outcome = await this.#persister.save(state, this.#options.clock.now(), equity, { final });
    if (outcome === 'delta' || outcome === 'compacted') this.#lifecycleOnDisk = lifecycle;
  }

  /** Journals a record that is not a save (an order placement, a lifecycle change); report-only writes nothing. */
  async append(record: EngineJournalRecord): Promise<void> {
    await this.#persister.append(record);
  }

  /**
   * Whether the machine's liquidate-only state differs from what the store holds; if so it is taken as written
   * from now on, and the caller journals it (`append`), so a crash cannot forget it.
   */
  lifecycleChanged(liquidateOnly: PersistedLifecycleJSON['liquidateOnly']): boolean {
    if (JSON.stringify(liquidateOnly) === JSON.stringify(this.#lifecycleOnDisk.liquidateOnly)) return false;
    this.#lifecycleOnDisk = { liquidateOnly };
    return true;
  }
}
