/**
 * The reconciliation loop as an RxJS stream: snapshots are polled on an interval (and at once on a manual
 * trigger), cycles never overlap (exhaustMap: a slow cycle swallows ticks), a retryable exchange error pauses the
 * loop with exponential backoff instead of reaching the cycle (so it can never be read as drift), and a final
 * error fails one cycle without ending the stream. What a cycle does with a snapshot (diff, handler) is injected
 * as `runCycle`; time comes from the injected scheduler.
 */
import {
  EMPTY,
  NEVER,
  Observable,
  asyncScheduler,
  concat,
  defer,
  exhaustMap,
  finalize,
  from,
  map,
  merge,
  mergeMap,
  of,
  race,
  repeat,
  share,
  take,
  tap,
  throwIfEmpty,
  timer,
  catchError,
} from 'rxjs';
import type { ObservableInput, SchedulerLike } from 'rxjs';
import type { Millis } from '../domain/clock.js';
import { ConfigError, isRetryableError } from '../domain/errors.js';
import type { Random } from '../domain/random.js';
import type { ExchangeSnapshot } from '../domain/types.js';
import { backoffDelay, resolveBackoff } from './backoff.js';
import type { BackoffOptions } from './backoff.js';

/** What started a cycle: the interval timer or a manual request (`RECONCILE_NOW`). */
export type CycleTrigger = 'interval' | 'manual';

/** Everything the loop reports, in order, for one cycle: started → [paused … resumed] → fetched → completed | failed. */
export type CycleEvent<S = ExchangeSnapshot, R = unknown> =
  | { readonly type: 'cycleStarted'; readonly cycle: number; readonly trigger: CycleTrigger; readonly at: Millis }
  | {
      readonly type: 'paused';
      readonly cycle: number;
      readonly at: Millis;
      /** The retryable error that caused the pause. */
      readonly error: unknown;
      /** Consecutive failed fetches in this cycle so far. */
      readonly failedAttempts: number;
      readonly delayMs: number;
      readonly nextRetryAt: Millis;
    }
  | {
      readonly type: 'resumed';
      readonly cycle: number;
      readonly at: Millis;
      readonly pausedAt: Millis;
      readonly failedAttempts: number;
    }
  | { readonly type: 'snapshotFetched'; readonly cycle: number; readonly at: Millis; readonly snapshot: S }
  | { readonly type: 'cycleCompleted'; readonly cycle: number; readonly at: Millis; readonly result: R }
  | {
      readonly type: 'cycleFailed';
      readonly cycle: number;
      readonly at: Millis;
      readonly stage: 'fetch' | 'run';
      readonly error: unknown;
    };

export interface ReconcileLoopOptions<S = ExchangeSnapshot, R = unknown> {
  /** Time between interval ticks. A tick that falls inside a running cycle is dropped, not queued. */
  readonly intervalMs: number;
  /**
   * Manual requests (`RECONCILE_NOW`). When idle, a cycle starts at once; during a cycle, one more cycle runs
   * straight after it (requests coalesce); while paused, it cuts the backoff wait short.
   */
  readonly trigger$?: Observable<unknown> | undefined;
  /** Gathers one exchange snapshot (a Promise or an Observable; only its first value is used). */
  readonly fetchSnapshot: () => ObservableInput<S>;
  /** Diffs the snapshot and hands the report to the current handler; resolves with what the cycle did. */
  readonly runCycle: (
    snapshot: S,
    info: { readonly cycle: number; readonly trigger: CycleTrigger },
  ) => ObservableInput<R>;
  readonly backoff?: Partial<BackoffOptions> | undefined;
  /** Jitter source (fork one for the loop: `random.fork('reconcile-loop')`). */
  readonly random: Random;
  /** Drives every timer of the loop. Default asyncScheduler; a virtual-time scheduler in tests. */
  readonly scheduler?: SchedulerLike | undefined;
  /** Timestamps of events. Default `scheduler.now()`; pass the engine's Clock so both agree. */
  readonly now?: (() => Millis) | undefined;
  /** First cycle at subscription time (default) or only after the first interval. */
  readonly startImmediately?: boolean | undefined;
  /** Which fetch errors pause the loop. Default: typed retryable ExchangeErrors only. */
  readonly isRetryable?: ((error: unknown) => boolean) | undefined;
}

/** The outcome of a fetch or a cycle: its first value, or what it threw (an empty source: rxjs's EmptyError). */
type Outcome<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: unknown };

/**
 * What `then` makes of `input()`'s first value or of what it threw (also synchronously), as one observable. The
 * engine's fetch and cycle are Promises, read here with one `then` instead of rxjs's `defer`/`from`/`take`/
 * `throwIfEmpty`/`map`/`catchError`/`mergeMap` chain, a dozen subscribers and closures a cycle (issue 16: the loop's
 * own overhead was a large share of a clean cycle); the outcome arrives in the same microtask as `from(promise)`'s
 * value would. Other inputs (Observables, arrays, async iterables) take that chain.
 */
function afterFirst<T, R>(
  input: () => ObservableInput<T>,
  then: (outcome: Outcome<T>) => Observable<R>,
): Observable<R> {
  return new Observable<R>((subscriber) => {
    const go = (outcome: Outcome<T>): void => {
      // Unsubscribed meanwhile (the loop stopped): the answer goes nowhere, as with `from(promise)`.
      if (subscriber.closed) return;
      let next: Observable<R>;
      try {
        next = then(outcome);
      } catch (error) {
        subscriber.error(error);
        return;
      }
      // The same subscriber: unsubscribing from this observable unsubscribes from `next` too.
      next.subscribe(subscriber);
    };
    let source: ObservableInput<T>;
    try {
      source = input();
    } catch (error) {
      go({ ok: false, error });
      return undefined;
    }
    if (source instanceof Promise) {
      (source as Promise<T>).then(
        (value) => go({ ok: true, value }),
        (error: unknown) => go({ ok: false, error }),
      );
      return undefined;
    }
    return from(source)
      .pipe(
        take(1),
        throwIfEmpty(),
        map((value): Outcome<T> => ({ ok: true, value })),
        catchError((error: unknown) => of<Outcome<T>>({ ok: false, error })),
        mergeMap(then),
      )
      .subscribe(subscriber);
  });
}

/**
 * `event`, then what `rest` emits: `concat(of(event), rest)` (`rest` is subscribed at once, in the same turn, unless
 * the subscriber unsubscribed on `event`) without concat's inner observables and subscribers, built every cycle.
 */
function emitThen<E>(event: E, rest: Observable<E>): Observable<E> {
  return new Observable<E>((subscriber) => {
    subscriber.next(event);
    if (subscriber.closed) return undefined;
    rest.subscribe(subscriber);
    return undefined;
  });
}

/**
 * A cold observable of cycle events; each subscription runs its own loop. It errors only if `trigger$` errors;
 * failed fetches and cycles are reported as events. Unsubscribing stops timers and drops any cycle in progress
 * (an in-flight Promise is not cancelled: `runCycle` must leave state consistent on its own).
 */
export function reconcileLoop<S = ExchangeSnapshot, R = unknown>(
  options: ReconcileLoopOptions<S, R>,
): Observable<CycleEvent<S, R>> {
  if (!Number.isFinite(options.intervalMs) || options.intervalMs <= 0) {
    throw new ConfigError([{ path: 'intervalMs', message: 'must be a finite number > 0' }]);
  }
  const backoff = resolveBackoff(options.backoff);
  const intervalMs = options.intervalMs;
  const isRetryable = options.isRetryable ?? isRetryableError;
  type Ev = CycleEvent<S, R>;

  return defer(() => {
    const scheduler = options.scheduler ?? asyncScheduler;
    const now = options.now ?? (() => scheduler.now());
    // Shared so the tick stream and a cycle waiting out a backoff see the same requests.
    const manual$ = (options.trigger$ ?? NEVER).pipe(
      map((): CycleTrigger => 'manual'),
      share(),
    );
    const interval$ = timer(options.startImmediately === false ? intervalMs : 0, intervalMs, scheduler).pipe(
      map((): CycleTrigger => 'interval'),
    );
    let cycle = 0;
    let busy = false;
    let pendingManual = false;

    const runCycle = (n: number, trigger: CycleTrigger, snapshot: S): Observable<Ev> =>
      afterFirst(
        () => options.runCycle(snapshot, { cycle: n, trigger }),
        (r): Observable<Ev> =>
          of<Ev>(
            r.ok
              ? { type: 'cycleCompleted', cycle: n, at: now(), result: r.value }
              : { type: 'cycleFailed', cycle: n, at: now(), stage: 'run', error: r.error },
          ),
      );

    /** The `resumed` event when the fetch before this one had failed. */
    const resumed = (n: number, failed: number, pausedAt: Millis | undefined): Ev | undefined =>
      failed > 0 && pausedAt !== undefined
        ? { type: 'resumed', cycle: n, at: now(), pausedAt, failedAttempts: failed }
        : undefined;
    /** `rest` after `first`, if any. */
    const after = (first: Ev | undefined, rest: Observable<Ev>): Observable<Ev> =>
      first === undefined ? rest : emitThen(first, rest);

    const attempt = (n: number, trigger: CycleTrigger, failed: number, pausedAt: Millis | undefined): Observable<Ev> =>
      // Only fetch errors are caught here; runCycle's own errors are handled in runCycle.
      afterFirst(
        () => options.fetchSnapshot(),
        (r): Observable<Ev> => {
          if (r.ok) {
            // Built in order: the resumed event's time is read before the fetched one's.
            const back = resumed(n, failed, pausedAt);
            return after(
              back,
              emitThen<Ev>(
                { type: 'snapshotFetched', cycle: n, at: now(), snapshot: r.value },
                runCycle(n, trigger, r.value),
              ),
            );
          }
          if (!isRetryable(r.error)) {
            const back = resumed(n, failed, pausedAt);
            return after(back, of<Ev>({ type: 'cycleFailed', cycle: n, at: now(), stage: 'fetch', error: r.error }));
          }
          const failedAttempts = failed + 1;
          const retryAfterMs = (r.error as { retryAfterMs?: unknown }).retryAfterMs;
          const delayMs = backoffDelay(
            failedAttempts,
            backoff,
            options.random,
            typeof retryAfterMs === 'number' ? retryAfterMs : undefined,
          );
          const at = now();
          const wait$ = race(
            timer(delayMs, scheduler),
            // A manual request while paused means "retry now"; it is consumed here, not queued as another cycle.
            manual$.pipe(
              take(1),
              tap(() => {
                pendingManual = false;
              }),
            ),
          );
          return concat(
            of<Ev>({
              type: 'paused',
              cycle: n,
              at,
              error: r.error,
              failedAttempts,
              delayMs,
              nextRetryAt: at + delayMs,
            }),
            wait$.pipe(mergeMap(() => attempt(n, trigger, failedAttempts, pausedAt ?? at))),
          );
        },
      );

    const oneCycle = (trigger: CycleTrigger): Observable<Ev> =>
      defer(() => {
        const n = ++cycle;
        return emitThen<Ev>({ type: 'cycleStarted', cycle: n, trigger, at: now() }, attempt(n, trigger, 0, undefined));
      });

    // A run of cycles: the triggering one, then one more for each batch of manual requests that came during it.
    // `repeat` resubscribes the same one-cycle observable in place: a recursive concat would nest one more level of
    // subscribers per chained cycle, and requests arriving back to back would grow that chain (and the heap) forever.
    const session = (first: CycleTrigger): Observable<Ev> =>
      defer(() => {
        busy = true;
        let trigger = first;
        return defer(() => oneCycle(trigger)).pipe(
          repeat({
            delay: () => {
              if (!pendingManual) return EMPTY; // completes the session
              pendingManual = false;
              trigger = 'manual';
              return of(0);
            },
          }),
          finalize(() => {
            busy = false;
          }),
        );
      });

    return merge(interval$, manual$).pipe(
      tap((trigger) => {
        // exhaustMap drops what arrives while busy; remember a manual request so it is served after this cycle.
        if (busy && trigger === 'manual') pendingManual = true;
      }),
      exhaustMap(session),
    );
  });
}
