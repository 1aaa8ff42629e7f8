/**
 * The bridge between the RxJS reconciliation loop and the lifecycle machine: an XState callback actor to provide
 * as `reconcileLoop`. It subscribes to the loop while `active`, forwards RECONCILE_NOW into the loop's trigger,
 * tracks the mode (running / liquidate-only) for the cycle to route its report, and turns cycle events into
 * machine events (pause and resume included). A loop that errors or completes is reported as LOOP_CRASHED.
 */
import { Subject } from 'rxjs';
import type { Observable } from 'rxjs';
import { fromCallback } from 'xstate';
import type { CycleDigest, LoopEvent, LoopInput, LoopMessage } from '../../machines/engine.machine.js';
import { errorSummary } from '../domain/errors.js';
import type { CycleEvent } from './reconcile-loop.js';

export type LoopMode = LoopInput['mode'];

export interface LoopActorOptions<S, R> {
  /**
   * Builds the loop for one activation: typically `reconcileLoop({ trigger$, runCycle: (s) => run(s, mode()), ... })`.
   * `mode()` is the current lifecycle mode, read when a cycle runs, so the report goes to the right handler.
   */
  readonly createLoop: (context: {
    readonly trigger$: Observable<void>;
    readonly mode: () => LoopMode;
  }) => Observable<CycleEvent<S, R>>;
  /** The small digest the machine keeps of a completed cycle's result. */
  readonly digest: (result: R, event: Extract<CycleEvent<S, R>, { type: 'cycleCompleted' }>) => CycleDigest;
  /** Also called with every cycle event (e.g. to log it or feed `reports$`). */
  readonly onCycleEvent?: ((event: CycleEvent<S, R>, mode: LoopMode) => void) | undefined;
}

/** Maps a loop event to the machine event it stands for; started/fetched are not machine events. */
export function toLoopEvent<S, R>(
  event: CycleEvent<S, R>,
  digest: (result: R, e: Extract<CycleEvent<S, R>, { type: 'cycleCompleted' }>) => CycleDigest,
): LoopEvent | undefined {
  switch (event.type) {
    case 'cycleCompleted':
      return { type: 'CYCLE_COMPLETED', digest: digest(event.result, event) };
    case 'cycleFailed':
      return {
        type: 'CYCLE_FAILED',
        cycle: event.cycle,
        at: event.at,
        stage: event.stage,
        reason: errorSummary(event.error),
      };
    case 'paused':
      return {
        type: 'EXCHANGE_UNREACHABLE',
        at: event.at,
        reason: errorSummary(event.error),
        nextRetryAt: event.nextRetryAt,
      };
    case 'resumed':
      return { type: 'EXCHANGE_REACHABLE', at: event.at };
    case 'cycleStarted':
    case 'snapshotFetched':
      return undefined;
  }
}

/** The `reconcileLoop` actor logic for `engineMachine.provide({ actors: { reconcileLoop } })`. */
export function reconcileLoopActor<S, R>(options: LoopActorOptions<S, R>) {
  return fromCallback<LoopMessage, LoopInput>(({ sendBack, receive, input }) => {
    let mode: LoopMode = input.mode;
    const trigger$ = new Subject<void>();
    receive((message) => {
      if (message.type === 'MODE') mode = message.mode;
      else trigger$.next();
    });
    const subscription = options.createLoop({ trigger$: trigger$.asObservable(), mode: () => mode }).subscribe({
      next: (event) => {
        options.onCycleEvent?.(event, mode);
        const machineEvent = toLoopEvent(event, options.digest);
        if (machineEvent !== undefined) sendBack(machineEvent);
      },
      error: (error: unknown) => sendBack({ type: 'LOOP_CRASHED', reason: errorSummary(error) } satisfies LoopEvent),
      // The loop is endless by design; its end is as much a bug as an error.
      complete: () =>
        sendBack({
          type: 'LOOP_CRASHED',
          reason: 'the reconciliation loop completed unexpectedly',
        } satisfies LoopEvent),
    });
    return () => {
      subscription.unsubscribe();
      trigger$.complete();
    };
  });
}
