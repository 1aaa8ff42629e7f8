/**
 * One virtual timeline for everything time-driven in the engine: the domain `Clock`, an RxJS `SchedulerLike` (the
 * reconciliation loop's timers) and an XState clock (the machine's delays) all read and schedule on the same
 * virtual time, and `advanceBy(ms)` runs every timer that falls due, in time order, letting promise work settle
 * between timers. So a whole engine run (promises included) is deterministic and takes no wall-clock time.
 */
import { Subscription } from 'rxjs';
import type { SchedulerAction, SchedulerLike } from 'rxjs';
import type { Clock, Millis } from '../domain/clock.js';

/** The clock shape XState's `createActor(m, { clock })` takes. */
export interface XStateClock {
  setTimeout(fn: (...args: unknown[]) => void, timeout: number): unknown;
  clearTimeout(id: unknown): void;
}

interface Entry {
  readonly seq: number;
  readonly due: Millis;
  readonly run: () => void;
  cancelled: boolean;
}

/** Lets queued promise jobs (and what they schedule in turn) run: one macrotask turn. */
const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** A scheduler that can be told of real asynchronous work (file I/O, sockets) that its time must wait for. */
export interface WorkTrackingScheduler extends SchedulerLike {
  track<T>(work: Promise<T>): Promise<T>;
}

export function isWorkTrackingScheduler(s: SchedulerLike): s is WorkTrackingScheduler {
  return typeof (s as Partial<WorkTrackingScheduler>).track === 'function';
}

export class VirtualTimeline {
  private current: Millis;
  private seq = 0;
  private queue: Entry[] = [];
  private readonly inFlight = new Set<Promise<unknown>>();

  constructor(start: Millis = 0) {
    this.current = start;
  }

  /** The domain clock (pass as the engine's `clock`). */
  readonly clock: Clock = { now: () => this.current };

  /**
   * The RxJS scheduler (pass as the loop's / engine's `scheduler`). Its `track` holds virtual time while the given
   * real work is pending, so a run with a FileStateStore (real fsync) is as deterministic as one in memory.
   */
  readonly scheduler: WorkTrackingScheduler = {
    track: <T>(work: Promise<T>): Promise<T> => this.track(work),
    now: () => this.current,
    schedule: <T>(work: (this: SchedulerAction<T>, state?: T) => void, delay = 0, state?: T): Subscription => {
      const action = new VirtualAction<T>(this, work);
      return action.schedule(state, delay);
    },
  };

  /** The XState clock (pass as `createActor(machine, { clock })`). */
  readonly xstateClock: XStateClock = {
    setTimeout: (fn, timeout) => this.enqueue(Math.max(0, timeout), () => fn()),
    clearTimeout: (id) => {
      (id as Entry).cancelled = true;
    },
  };

  now(): Millis {
    return this.current;
  }

  /** Timers still waiting. */
  get pending(): number {
    return this.queue.filter((e) => !e.cancelled).length;
  }

  /** @internal */
  enqueue(delay: number, run: () => void): Entry {
    if (!Number.isFinite(delay) || delay < 0) throw new RangeError(`VirtualTimeline: bad delay ${delay}`);
    const entry: Entry = { seq: this.seq++, due: this.current + delay, run, cancelled: false };
    // Sorted by due time, then by scheduling order, so equal-time timers run first-in first-out.
    let i = this.queue.length;
    while (i > 0 && this.queue[i - 1]!.due > entry.due) i--;
    this.queue.splice(i, 0, entry);
    return entry;
  }

  /** Registers real asynchronous work: `advanceBy` and `settle` do not move on while it is pending. */
  track<T>(work: Promise<T>): Promise<T> {
    const tracked: Promise<unknown> = work.then(
      () => this.inFlight.delete(tracked),
      () => this.inFlight.delete(tracked),
    );
    this.inFlight.add(tracked);
    return work;
  }

  /** Lets pending promise work (and tracked real work) settle without moving time. */
  async settle(): Promise<void> {
    await settle();
    while (this.inFlight.size > 0) {
      await Promise.all([...this.inFlight]);
      await settle();
    }
  }

  /**
   * Moves time forward by `ms`, running every timer due on the way at its own time (timers that those timers or
   * their promises schedule within the window run too). Resolves with the new time.
   */
  async advanceBy(ms: number): Promise<Millis> {
    if (!Number.isFinite(ms) || ms < 0)
      throw new RangeError(`VirtualTimeline.advanceBy: ms must be finite and >= 0, got ${ms}`);
    const target = this.current + ms;
    await this.settle();
    for (;;) {
      const next = this.queue.find((e) => !e.cancelled);
      if (next === undefined || next.due > target) break;
      this.queue.splice(this.queue.indexOf(next), 1);
      this.current = next.due;
      next.run();
      await this.settle();
    }
    this.queue = this.queue.filter((e) => !e.cancelled);
    this.current = target;
    await this.settle();
    return this.current;
  }
}

/** An RxJS scheduler action on a VirtualTimeline; rescheduling replaces its pending run, as RxJS actions do. */
class VirtualAction<T> extends Subscription implements SchedulerAction<T> {
  private entry: Entry | undefined;

  constructor(
    private readonly timeline: VirtualTimeline,
    private readonly work: (this: SchedulerAction<T>, state?: T) => void,
  ) {
    super(() => {
      if (this.entry !== undefined) this.entry.cancelled = true;
    });
  }

  schedule(state?: T, delay = 0): Subscription {
    if (this.closed) return this;
    if (this.entry !== undefined) this.entry.cancelled = true;
    this.entry = this.timeline.enqueue(delay, () => {
      this.entry = undefined;
      if (!this.closed) this.work.call(this, state);
    });
    return this;
  }
}
