/**
 * Test harness for the real engine machine: every actor is a fake whose outcome the test chooses (pending
 * deferreds for loadState / startupReconcile / flush, a callback loop that records what it receives and lets
 * the test send cycle events back), under a SimulatedClock. `apply(modelEvent)` turns an abstract event of
 * the lifecycle model into the matching outcome, so model paths replay against the real machine.
 */
import { SimulatedClock, createActor, fromCallback, fromPromise } from 'xstate';
import type { AnyEventObject, InspectionEvent, Observer } from 'xstate';
import { ExchangeError, StoreCorruptError } from '../../src/domain/errors.js';
import type { ReportSummary } from '../../src/differ/report.js';
import { engineMachine } from '../../machines/engine.machine.js';
import type {
  CycleDigest,
  EngineCommand,
  EngineInput,
  FlushInput,
  LoadedLifecycle,
  LoopEvent,
  LoopInput,
  LoopMessage,
  StartupInput,
} from '../../machines/engine.machine.js';
import type { LifecycleModelEventType } from '../../machines/lifecycle.model.js';

interface Pending<T> {
  readonly resolve: (v: T) => void;
  readonly reject: (e: unknown) => void;
  alive: boolean;
}

const EMPTY_SUMMARY: ReportSummary = {
  matched: 0,
  matchedDiffering: 0,
  ghosts: 0,
  zombies: 0,
  inFlight: 0,
  positionDrifts: 0,
  positionDriftsBeyondTolerance: 0,
  balanceDrifts: 0,
  balanceDriftsBeyondTolerance: 0,
};

export function digest(cycle: number, kind: 'clean' | 'repaired' | 'unexplained', at = 0): CycleDigest {
  const beyond = kind !== 'clean';
  return {
    at,
    cycle,
    summary: { ...EMPTY_SUMMARY, positionDrifts: beyond ? 1 : 0, positionDriftsBeyondTolerance: beyond ? 1 : 0 },
    driftBeyondTolerance: beyond,
    liquidateOnlyReason: kind === 'unexplained' ? 'BTC-USDT position off by 0.5 and no missed fill explains it' : null,
    actions: kind === 'repaired' ? 2 : 0,
  };
}

/** Waits until every pending promise job (actor completions and their transitions) has run. */
export const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

export interface HarnessOptions {
  readonly input?: EngineInput | undefined;
  readonly inspect?: Observer<InspectionEvent> | ((e: InspectionEvent) => void) | undefined;
  /** Makes the fake loop throw when started (an invoke error rather than a LOOP_CRASHED event). */
  readonly loopThrowsOnStart?: boolean | undefined;
}

/** What the fakes of the harness being built delegate to (tests in a file run one at a time). */
interface Wiring {
  load(signal: AbortSignal): Promise<LoadedLifecycle>;
  startup(input: StartupInput, signal: AbortSignal): Promise<CycleDigest>;
  loop(args: {
    sendBack: (e: AnyEventObject) => void;
    receive: (listener: (m: LoopMessage) => void) => void;
    input: LoopInput;
  }): () => void;
  flush(input: FlushInput, signal: AbortSignal): Promise<void>;
}
let current: Wiring | undefined;
const wiring = (): Wiring => {
  if (current === undefined) throw new Error('harness: no harness created');
  return current;
};

// Provided once: provide() rebuilds the machine's state nodes, which costs more than a whole path replay.
const fakeMachine = engineMachine.provide({
  actors: {
    loadState: fromPromise<LoadedLifecycle>(({ signal }) => wiring().load(signal)),
    startupReconcile: fromPromise<CycleDigest, StartupInput>(({ input, signal }) => wiring().startup(input, signal)),
    reconcileLoop: fromCallback<LoopMessage, LoopInput>(({ sendBack, receive, input }) =>
      wiring().loop({ sendBack, receive, input }),
    ),
    flush: fromPromise<void, FlushInput>(({ input, signal }) => wiring().flush(input, signal)),
  },
});

export function createHarness(options: HarnessOptions = {}) {
  const clock = new SimulatedClock();
  const loads: Pending<LoadedLifecycle>[] = [];
  const startups: Pending<CycleDigest>[] = [];
  const flushes: Pending<void>[] = [];
  const startupInputs: StartupInput[] = [];
  const flushInputs: FlushInput[] = [];
  const loopInputs: LoopInput[] = [];
  const loopMessages: LoopMessage[] = [];
  let loopSendBack: ((e: LoopEvent) => void) | null = null;
  let loopStarts = 0;
  let loopStops = 0;
  let cycle = 0;

  const pending = <T>(list: Pending<T>[], signal: AbortSignal): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      const p: Pending<T> = { resolve, reject, alive: true };
      // A stopped invoke (the machine left the state) must not be settled by a later abstract event.
      signal.addEventListener('abort', () => {
        p.alive = false;
      });
      list.push(p);
    });
  const live = <T>(list: Pending<T>[]): Pending<T> | undefined => {
    const p = list.at(-1);
    return p?.alive === true ? p : undefined;
  };
  const settleOne = <T>(list: Pending<T>[], how: { ok: T } | { error: unknown }): void => {
    const p = live(list);
    if (p === undefined) return;
    p.alive = false;
    if ('ok' in how) p.resolve(how.ok);
    else p.reject(how.error);
  };

  current = {
    load: (signal) => pending(loads, signal),
    startup: (input, signal) => {
      startupInputs.push(input);
      return pending(startups, signal);
    },
    loop: ({ sendBack, receive, input }) => {
      if (options.loopThrowsOnStart === true) throw new Error('loop wiring bug');
      loopStarts++;
      loopInputs.push(input);
      loopSendBack = sendBack as (e: LoopEvent) => void;
      receive((m) => loopMessages.push(m));
      return () => {
        loopStops++;
        loopSendBack = null;
      };
    },
    flush: (input, signal) => {
      flushInputs.push(input);
      return pending(flushes, signal);
    },
  };

  const actor = createActor(fakeMachine, {
    clock,
    input: options.input,
    ...(options.inspect === undefined ? {} : { inspect: options.inspect }),
  });
  // An unobserved actor error would crash the process; record it instead so a test can assert on it.
  const actorErrors: unknown[] = [];
  actor.subscribe({ error: (e) => actorErrors.push(e) });

  // Like an engine would, do not send to an actor that reached a final state (xstate warns and ignores it).
  const send = (e: EngineCommand): void => {
    if (actor.getSnapshot().status === 'active') actor.send(e);
  };
  const maxRetryWait = (): number => actor.getSnapshot().context.startupRetry.maxMs;

  /** Performs one abstract model event on the real machine, then lets it settle. */
  async function apply(event: LifecycleModelEventType): Promise<void> {
    switch (event) {
      case 'LOAD_FRESH':
        settleOne(loads, { ok: { fresh: true, liquidateOnly: null } });
        break;
      case 'LOAD_LIQUIDATE_ONLY':
        settleOne(loads, { ok: { fresh: false, liquidateOnly: { reason: 'restored: drift at last run' } } });
        break;
      case 'LOAD_CORRUPT':
        settleOne(loads, { error: new StoreCorruptError('state/snapshot.json', 3, 'checksum mismatch') });
        break;
      case 'STARTUP_OK':
        settleOne(startups, { ok: digest(0, 'clean') });
        break;
      case 'STARTUP_UNEXPLAINED':
        settleOne(startups, { ok: digest(0, 'unexplained') });
        break;
      case 'STARTUP_RETRYABLE':
        settleOne(startups, { error: new ExchangeError('network', 'ECONNREFUSED', { operation: 'fetchOpenOrders' }) });
        break;
      case 'STARTUP_FATAL':
        settleOne(startups, { error: new ExchangeError('auth', 'invalid API key', { operation: 'fetchBalances' }) });
        break;
      case 'RETRY_DUE':
        clock.increment(maxRetryWait());
        break;
      case 'CYCLE_CLEAN':
        loopSendBack?.({ type: 'CYCLE_COMPLETED', digest: digest(++cycle, 'clean') });
        break;
      case 'CYCLE_REPAIRED':
        loopSendBack?.({ type: 'CYCLE_COMPLETED', digest: digest(++cycle, 'repaired') });
        break;
      case 'CYCLE_UNEXPLAINED':
        loopSendBack?.({ type: 'CYCLE_COMPLETED', digest: digest(++cycle, 'unexplained') });
        break;
      case 'LOOP_CRASHED':
        loopSendBack?.({ type: 'LOOP_CRASHED', reason: 'TypeError: x is undefined' });
        break;
      case 'FLUSH_OK':
        settleOne(flushes, { ok: undefined });
        break;
      case 'FLUSH_FAILED':
        settleOne(flushes, { error: new Error('EIO: fsync failed') });
        break;
      case 'STOP':
        send({ type: 'STOP' });
        break;
      case 'RESUME':
        send({ type: 'RESUME' });
        break;
      case 'RECONCILE_NOW':
        send({ type: 'RECONCILE_NOW' });
        break;
      case 'ENTER_LIQUIDATE_ONLY':
        send({ type: 'ENTER_LIQUIDATE_ONLY', reason: 'operator request' });
        break;
    }
    await settle();
  }

  return {
    actor,
    /** The machine with the fake actors provided (shared by all harnesses). */
    machine: fakeMachine,
    clock,
    apply,
    /** Sends a loop event as the loop actor would (no-op when no loop is running). */
    loopSend: (e: LoopEvent | AnyEventObject) => loopSendBack?.(e as LoopEvent),
    startupInputs,
    flushInputs,
    loopInputs,
    loopMessages,
    actorErrors,
    get loopStarts() {
      return loopStarts;
    },
    get loopStops() {
      return loopStops;
    },
    get loopRunning() {
      return loopSendBack !== null;
    },
    /** Starts the actor and lets the initial invoke run. */
    async start(): Promise<void> {
      actor.start();
      await settle();
    },
  };
}
