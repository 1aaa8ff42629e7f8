/**
 * Marble tests of the reconciliation loop under rxjs's TestScheduler (1 frame = 1 virtual ms): cycles never
 * overlap, manual triggers start a cycle at once (and coalesce when busy), backoff timings are exact under a
 * seeded jitter, a pause ends in a resume, a retryable error never reaches runCycle, and failures do not end
 * the stream.
 */
import { describe, expect, it } from 'vitest';
import { Subject, VirtualAction, VirtualTimeScheduler, finalize, of, takeWhile, throwError } from 'rxjs';
import type { ObservableInput } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { ExchangeError } from '../../src/domain/errors.js';
import { createRandom } from '../../src/domain/random.js';
import type { Random } from '../../src/domain/random.js';
import { backoffDelay, resolveBackoff } from '../../src/streams/backoff.js';
import { reconcileLoop } from '../../src/streams/reconcile-loop.js';
import { VirtualTimeline } from '../../src/streams/virtual-time.js';
import type { CycleEvent } from '../../src/streams/reconcile-loop.js';

type Snap = { readonly id: string };
type Ev = CycleEvent<Snap, string>;

const newScheduler = (): TestScheduler => new TestScheduler((actual, expected) => expect(actual).toEqual(expected));

/** A Random whose every draw is `u`, so jittered delays are known constants. */
const fixedRandom = (u: number): Random => {
  const r: Random = { next: () => u, int: (a) => a, chance: () => false, pick: (xs) => xs[0]!, fork: () => r };
  return r;
};

const started = (cycle: number, at: number, trigger: 'interval' | 'manual' = 'interval'): Ev => ({
  type: 'cycleStarted',
  cycle,
  trigger,
  at,
});
const fetched = (cycle: number, at: number, snapshot: Snap): Ev => ({ type: 'snapshotFetched', cycle, at, snapshot });
const completed = (cycle: number, at: number, result: string): Ev => ({ type: 'cycleCompleted', cycle, at, result });

describe('reconcileLoop', () => {
  it('never overlaps cycles: a slow cycle swallows the ticks that fall inside it', () => {
    newScheduler().run(({ cold, expectObservable, flush }) => {
      const s: Snap = { id: 's' };
      let active = 0;
      let maxActive = 0;
      let fetches = 0;
      const loop$ = reconcileLoop<Snap, string>({
        intervalMs: 10,
        fetchSnapshot: () => {
          fetches++;
          return cold('-(s|)', { s });
        },
        runCycle: () => {
          active++;
          maxActive = Math.max(maxActive, active);
          return cold('24ms (r|)', { r: 'ok' }).pipe(
            finalize(() => {
              active--;
            }),
          );
        },
        random: fixedRandom(0),
      });
      // Fetch 0→1, cycle 1→25; ticks at 10 and 20 are dropped; next cycle at the tick of 30.
      expectObservable(loop$, '^ 64ms !').toBe('a b 23ms c 4ms d e 23ms f 4ms g h', {
        a: started(1, 0),
        b: fetched(1, 1, s),
        c: completed(1, 25, 'ok'),
        d: started(2, 30),
        e: fetched(2, 31, s),
        f: completed(2, 55, 'ok'),
        g: started(3, 60),
        h: fetched(3, 61, s),
      });
      flush();
      expect(maxActive).toBe(1);
      expect(fetches).toBe(3);
    });
  });

  it('RECONCILE_NOW starts a cycle at once when idle', () => {
    newScheduler().run(({ cold, hot, expectObservable }) => {
      const s: Snap = { id: 's' };
      const trigger$ = hot('30ms x', { x: undefined });
      const loop$ = reconcileLoop<Snap, string>({
        intervalMs: 100,
        trigger$,
        fetchSnapshot: () => cold('(s|)', { s }),
        runCycle: () => cold('(r|)', { r: 'ok' }),
        random: fixedRandom(0),
      });
      expectObservable(loop$, '^ 50ms !').toBe('(abc) 25ms (def)', {
        a: started(1, 0),
        b: fetched(1, 0, s),
        c: completed(1, 0, 'ok'),
        d: started(2, 30, 'manual'),
        e: fetched(2, 30, s),
        f: completed(2, 30, 'ok'),
      });
    });
  });

  it('manual requests during a cycle coalesce into one cycle right after it', () => {
    newScheduler().run(({ cold, hot, expectObservable }) => {
      const s: Snap = { id: 's' };
      const trigger$ = hot('5ms x 3ms x 3ms x', { x: 1 });
      const loop$ = reconcileLoop<Snap, string>({
        intervalMs: 1000,
        trigger$,
        fetchSnapshot: () => cold('(s|)', { s }),
        runCycle: () => cold('20ms (r|)', { r: 'ok' }),
        random: fixedRandom(0),
      });
      expectObservable(loop$, '^ 100ms !').toBe('(ab) 16ms (cde) 15ms f', {
        a: started(1, 0),
        b: fetched(1, 0, s),
        c: completed(1, 20, 'ok'),
        d: started(2, 20, 'manual'),
        e: fetched(2, 20, s),
        f: completed(2, 40, 'ok'),
      });
    });
  });

  it('pauses on retryable errors with exact backoff timings, then resumes; runCycle only ever sees a snapshot', () => {
    newScheduler().run(({ cold, expectObservable, flush }) => {
      const s: Snap = { id: 's' };
      const down = new ExchangeError('network', 'ECONNRESET');
      const limited = new ExchangeError('rateLimit', '429', { retryAfterMs: 500 });
      const errors = [down, down, limited];
      const seen: unknown[] = [];
      const loop$ = reconcileLoop<Snap, string>({
        intervalMs: 10_000,
        fetchSnapshot: () => {
          const e = errors.shift();
          return e === undefined ? cold('(s|)', { s }) : cold('#', undefined, e);
        },
        runCycle: (snap) => {
          seen.push(snap);
          return of('ok');
        },
        backoff: { initialMs: 100, factor: 2, maxMs: 1000, jitter: 0.5 },
        random: fixedRandom(0.5),
      });
      // Delays: 100×0.75 = 75, 200×0.75 = 150, then 400×0.75 = 300 raised to the server's retryAfterMs 500.
      expectObservable(loop$, '^ 1000ms !').toBe('(ab) 71ms c 149ms d 499ms (efg)', {
        a: started(1, 0),
        b: { type: 'paused', cycle: 1, at: 0, error: down, failedAttempts: 1, delayMs: 75, nextRetryAt: 75 },
        c: { type: 'paused', cycle: 1, at: 75, error: down, failedAttempts: 2, delayMs: 150, nextRetryAt: 225 },
        d: { type: 'paused', cycle: 1, at: 225, error: limited, failedAttempts: 3, delayMs: 500, nextRetryAt: 725 },
        e: { type: 'resumed', cycle: 1, at: 725, pausedAt: 0, failedAttempts: 3 },
        f: fetched(1, 725, s),
        g: completed(1, 725, 'ok'),
      });
      flush();
      expect(seen).toEqual([s]);
    });
  });

  it('backoff under a seeded jitter is exact and reproducible', () => {
    const options = resolveBackoff({ initialMs: 200, factor: 3, maxMs: 5000, jitter: 1 });
    const ref = createRandom(7).fork('loop');
    const expectedDelays = [1, 2, 3, 4, 5].map((n) => backoffDelay(n, options, ref));
    const bases = [200, 600, 1800, 5000, 5000];
    expectedDelays.forEach((d, i) => {
      expect(d).toBeGreaterThanOrEqual(0);
      expect(d).toBeLessThanOrEqual(bases[i]!);
    });
    // Jitter actually moves the delays off the deterministic bases.
    expect(expectedDelays).not.toEqual(bases);

    newScheduler().run(({ cold, flush }) => {
      const down = new ExchangeError('timeout', 'timed out');
      let failures = 5;
      const events: Ev[] = [];
      reconcileLoop<Snap, string>({
        intervalMs: 100_000,
        fetchSnapshot: () => (failures-- > 0 ? cold('#', undefined, down) : cold('(s|)', { s: { id: 's' } })),
        runCycle: () => of('ok'),
        backoff: options,
        random: createRandom(7).fork('loop'),
      })
        // The interval never ends; stop at the first completed cycle so flush() terminates.
        .pipe(takeWhile((e) => e.type !== 'cycleCompleted', true))
        .subscribe((e) => events.push(e));
      flush();
      const pauses = events.filter((e) => e.type === 'paused');
      expect(pauses.map((p) => p.delayMs)).toEqual(expectedDelays);
      let t = 0;
      for (const p of pauses) {
        expect(p.at).toBe(t);
        t += p.delayMs;
      }
      expect(events.at(-1)).toEqual(completed(1, t, 'ok'));
    });
  });

  it('a manual request while paused retries at once and is not queued as another cycle', () => {
    newScheduler().run(({ cold, hot, expectObservable }) => {
      const s: Snap = { id: 's' };
      const down = new ExchangeError('unavailable', '503');
      let calls = 0;
      const trigger$ = hot('20ms x', { x: 1 });
      const loop$ = reconcileLoop<Snap, string>({
        intervalMs: 10_000,
        trigger$,
        fetchSnapshot: () => (calls++ === 0 ? cold('#', undefined, down) : cold('(s|)', { s })),
        runCycle: () => of('ok'),
        backoff: { initialMs: 1000, jitter: 0 },
        random: fixedRandom(0),
      });
      expectObservable(loop$, '^ 500ms !').toBe('(ab) 16ms (cde)', {
        a: started(1, 0),
        b: { type: 'paused', cycle: 1, at: 0, error: down, failedAttempts: 1, delayMs: 1000, nextRetryAt: 1000 },
        c: { type: 'resumed', cycle: 1, at: 20, pausedAt: 0, failedAttempts: 1 },
        d: fetched(1, 20, s),
        e: completed(1, 20, 'ok'),
      });
    });
  });

  it('a final fetch error or a failing cycle is reported and the loop goes on', () => {
    newScheduler().run(({ cold, expectObservable }) => {
      const s: Snap = { id: 's' };
      const auth = new ExchangeError('auth', 'invalid key');
      const boom = new Error('handler bug');
      let fetches = 0;
      let runs = 0;
      const loop$ = reconcileLoop<Snap, string>({
        intervalMs: 10,
        fetchSnapshot: () => (fetches++ === 0 ? cold('#', undefined, auth) : cold('(s|)', { s })),
        runCycle: () => (runs++ === 0 ? cold('#', undefined, boom) : cold('(r|)', { r: 'ok' })),
        random: fixedRandom(0),
      });
      expectObservable(loop$, '^ 25ms !').toBe('(ab) 6ms (cde) 5ms (fgh)', {
        a: started(1, 0),
        b: { type: 'cycleFailed', cycle: 1, at: 0, stage: 'fetch', error: auth },
        c: started(2, 10),
        d: fetched(2, 10, s),
        e: { type: 'cycleFailed', cycle: 2, at: 10, stage: 'run', error: boom },
        f: started(3, 20),
        g: fetched(3, 20, s),
        h: completed(3, 20, 'ok'),
      });
    });
  });

  it('an unknown (untyped) error is final, never a pause', () => {
    newScheduler().run(({ cold, expectObservable }) => {
      const weird = new Error('ECONNRESET but untyped');
      const loop$ = reconcileLoop<Snap, string>({
        intervalMs: 100,
        fetchSnapshot: () => cold('#', undefined, weird),
        runCycle: () => of('never'),
        random: fixedRandom(0),
      });
      expectObservable(loop$, '^ 50ms !').toBe('(ab)', {
        a: started(1, 0),
        b: { type: 'cycleFailed', cycle: 1, at: 0, stage: 'fetch', error: weird },
      });
    });
  });

  it('accepts Promise-returning fetch and cycle functions (how the engine calls it)', async () => {
    const scheduler = new VirtualTimeScheduler(VirtualAction, 500);
    const trigger$ = new Subject<void>();
    const events: Ev[] = [];
    const sub = reconcileLoop<Snap, string>({
      intervalMs: 1000,
      trigger$,
      fetchSnapshot: async () => ({ id: 'p' }),
      runCycle: async (snap) => `ran ${snap.id}`,
      random: fixedRandom(0),
      scheduler,
    }).subscribe((e) => events.push(e));
    scheduler.flush();
    await new Promise((r) => setImmediate(r));
    expect(events.map((e) => e.type)).toEqual(['cycleStarted', 'snapshotFetched', 'cycleCompleted']);
    expect(events[2]).toMatchObject({ result: 'ran p' });
    sub.unsubscribe();
  });

  it('rejects a bad configuration with a ConfigError', () => {
    expect(() =>
      reconcileLoop({ intervalMs: 0, fetchSnapshot: async () => 1, runCycle: async () => 1, random: fixedRandom(0) }),
    ).toThrow(/intervalMs/);
    expect(() =>
      reconcileLoop({
        intervalMs: 10,
        backoff: { jitter: 2, factor: 0.5 },
        fetchSnapshot: async () => 1,
        runCycle: async () => 1,
        random: fixedRandom(0),
      }),
    ).toThrow(/jitter.*|factor/);
  });

  it('cycles chained by requests that arrive during each cycle do not nest: the subscriber chain stays the same depth', () => {
    // A leak of the chained-session kind grows the chain of subscribers by a level per cycle; every emission travels
    // that chain, so the synchronous stack depth at which an event reaches the subscriber measures it exactly.
    const trigger$ = new Subject<void>();
    let current: Subject<string> | undefined;
    const depths: number[] = [];
    const previousLimit = Error.stackTraceLimit;
    Error.stackTraceLimit = Infinity;
    const sub = reconcileLoop<Snap, string>({
      intervalMs: 1e9,
      startImmediately: false,
      trigger$,
      fetchSnapshot: () => of({ id: 's' }),
      runCycle: () => (current = new Subject<string>()),
      random: fixedRandom(0),
      scheduler: new VirtualTimeScheduler(VirtualAction, 1e12),
    }).subscribe((e) => {
      if (e.type === 'cycleCompleted') depths.push((new Error().stack ?? '').split('\n').length);
    });
    try {
      trigger$.next();
      for (let i = 0; i < 60; i++) {
        trigger$.next(); // arrives while the cycle runs: one more cycle right after it, in the same session
        current!.next('ok');
      }
    } finally {
      Error.stackTraceLimit = previousLimit;
      sub.unsubscribe();
    }
    expect(depths).toHaveLength(60);
    expect(depths.at(-1)).toBe(depths[0]);
  });
});

describe('reconcileLoop with Promise inputs (the engine fetches and runs cycles as async functions)', () => {
  /** Each cycle's fetch and run, as one outcome each: resolve, reject, or throw before returning anything. */
  type Step = { readonly fetch: 'ok' | 'reject' | 'throw' | 'retryable'; readonly run?: 'ok' | 'reject' | 'throw' };
  const script: readonly Step[] = [
    { fetch: 'ok', run: 'ok' },
    { fetch: 'reject' },
    { fetch: 'throw' },
    { fetch: 'ok', run: 'reject' },
    { fetch: 'ok', run: 'throw' },
    { fetch: 'retryable' },
    { fetch: 'ok', run: 'ok' },
  ];

  /**
   * Runs the script through a loop whose inputs are Promises (`promises`) or Observables of the same outcomes, on a
   * virtual timeline (the retryable error waits out a backoff), one RECONCILE_NOW per step; the events it emitted.
   */
  async function run(promises: boolean): Promise<Ev[]> {
    const tl = new VirtualTimeline(0);
    const trigger$ = new Subject<void>();
    const events: Ev[] = [];
    let fetches = 0;
    let runs = 0;
    const answer = <T>(kind: string, value: T, error: unknown): ObservableInput<T> => {
      if (kind === 'throw') throw error;
      if (kind === 'ok') return promises ? Promise.resolve(value) : of(value);
      return promises ? Promise.reject(error) : throwError(() => error);
    };
    const sub = reconcileLoop<Snap, string>({
      intervalMs: 1e9,
      startImmediately: false,
      trigger$,
      fetchSnapshot: () => {
        const step = script[Math.min(fetches, script.length - 1)]!;
        const n = ++fetches;
        const kind = step.fetch === 'retryable' ? 'reject' : step.fetch;
        const error =
          step.fetch === 'retryable' ? new ExchangeError('network', `down ${n}`) : new Error(`fetch ${n} failed`);
        return answer(kind, { id: `s${n}` }, error);
      },
      runCycle: (snapshot) => {
        const step = script[runs++ === 5 ? 6 : Math.min(fetches - 1, script.length - 1)]!;
        return answer(step.run ?? 'ok', `r-${snapshot.id}`, new Error(`run of ${snapshot.id} failed`));
      },
      random: fixedRandom(0),
      scheduler: tl.scheduler,
      now: () => tl.now(),
    }).subscribe((e) => events.push(e));
    try {
      for (let i = 0; i < script.length - 1; i++) {
        trigger$.next();
        await tl.advanceBy(0);
        await tl.settle();
      }
      // The retryable fetch paused the loop: its backoff ends in a fetch that answers.
      await tl.advanceBy(60_000);
    } finally {
      sub.unsubscribe();
    }
    return events;
  }

  it('emits the events the same outcomes as Observables give: results, rejections, synchronous throws, a pause', async () => {
    const viaPromises = await run(true);
    const viaObservables = await run(false);
    expect(viaPromises.map((e) => e.type)).toEqual([
      ...['cycleStarted', 'snapshotFetched', 'cycleCompleted'],
      ...['cycleStarted', 'cycleFailed'],
      ...['cycleStarted', 'cycleFailed'],
      ...['cycleStarted', 'snapshotFetched', 'cycleFailed'],
      ...['cycleStarted', 'snapshotFetched', 'cycleFailed'],
      ...['cycleStarted', 'paused', 'resumed', 'snapshotFetched', 'cycleCompleted'],
    ]);
    expect(viaPromises).toEqual(viaObservables);
  });

  it('drops the answer of a Promise still pending when the loop is unsubscribed', async () => {
    const events: Ev[] = [];
    let resolveFetch: (s: Snap) => void = () => undefined;
    let runs = 0;
    const trigger$ = new Subject<void>();
    const sub = reconcileLoop<Snap, string>({
      intervalMs: 1e9,
      startImmediately: false,
      trigger$,
      fetchSnapshot: () => new Promise<Snap>((resolve) => (resolveFetch = resolve)),
      runCycle: async () => {
        runs++;
        return 'r';
      },
      random: fixedRandom(0),
      scheduler: new VirtualTimeScheduler(VirtualAction, 1e12),
    }).subscribe((e) => events.push(e));
    trigger$.next();
    sub.unsubscribe();
    resolveFetch({ id: 'late' });
    await new Promise((resolve) => setImmediate(resolve));
    expect(events.map((e) => e.type)).toEqual(['cycleStarted']);
    expect(runs).toBe(0);
  });
});

describe('reconcileLoop, a subscriber that stops on an event', () => {
  it('reads nothing further: no fetch after it stopped on cycleStarted, no cycle after it stopped on snapshotFetched', async () => {
    const s: Snap = { id: 's' };
    let fetches = 0;
    let cycles = 0;
    // Flushed up to frame 5 only: the first tick, not the interval ones.
    const scheduler = new VirtualTimeScheduler(VirtualAction, 5);
    const loop = (): ReturnType<typeof reconcileLoop<Snap, string>> =>
      reconcileLoop<Snap, string>({
        intervalMs: 10,
        fetchSnapshot: () => {
          fetches++;
          return Promise.resolve(s);
        },
        runCycle: () => {
          cycles++;
          return Promise.resolve('ok');
        },
        random: fixedRandom(0.5),
        scheduler,
        startImmediately: true,
      });
    const untilType = async (type: Ev['type']): Promise<Ev[]> => {
      const seen: Ev[] = [];
      const sub = loop()
        .pipe(takeWhile((e) => e.type !== type, true))
        .subscribe((e) => seen.push(e));
      // The first tick (time 0), then the fetch's and the cycle's promises.
      scheduler.flush();
      await new Promise((resolve) => setImmediate(resolve));
      sub.unsubscribe();
      return seen;
    };
    expect((await untilType('cycleStarted')).map((e) => e.type)).toEqual(['cycleStarted']);
    expect(fetches).toBe(0);
    expect((await untilType('snapshotFetched')).map((e) => e.type)).toEqual(['cycleStarted', 'snapshotFetched']);
    expect([fetches, cycles]).toEqual([1, 0]);
  });
});
