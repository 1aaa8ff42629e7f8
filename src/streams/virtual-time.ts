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

export class VirtualTimeline {
  private current: Millis;
  private seq = 0;
  private queue: Entry[] = [];

  constructor(start: Millis = 0) {
    this.current = start;
  }

  /** The domain clock (pass as the engine's `clock`). */
  readonly clock: Clock = { now: () => this.current };

  /** The RxJS scheduler (pass as the loop's / engine's `scheduler`). */
  readonly scheduler: SchedulerLike = {
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

  /** Lets pending promise work settle without moving time. */
  async settle(): Promise<void> {
    await settle();
  }

  /**
   * Moves time forward by `ms`, running every timer due on the way at its own time (timers that those timers or
   * their promises schedule within the window run too). Resolves with the new time.
   */
  async advanceBy(ms: number): Promise<Millis> {
    if (!Number.isFinite(ms) || ms < 0) throw new RangeError(`VirtualTimeline.advanceBy: ms must be finite and >= 0, got ${ms}`);
    const target = this.current + ms;
    await settle();
    for (;;) {
      const next = this.queue.find((e) => !e.cancelled);
      if (next === undefined || next.due > target) break;
      this.queue.splice(this.queue.indexOf(next), 1);
      this.current = next.due;
      next.run();
      await settle();
    }
    this.queue = this.queue.filter((e) => !e.cancelled);
    this.current = target;
    await settle();
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
