/**
 * Time as a port. The core never reads the wall clock: it is handed a `Clock` (or a timestamp as data), so a
 * whole run can be replayed in virtual time.
 */

/** Milliseconds since the Unix epoch. */
export type Millis = number;

export interface Clock {
  now(): Millis;
}

/** `2026-01-05T09:02:26.000Z`: how a timestamp reads in messages and human output (never raw epoch ms). */
export function isoTime(ms: Millis): string {
  return Number.isFinite(ms) && Math.abs(ms) <= 8.64e15 ? new Date(ms).toISOString() : String(ms);
}

/** A clock that moves only when told to: the default for tests, the demo and the simulator. */
export class VirtualClock implements Clock {
  private current: Millis;
  constructor(start: Millis = 0) {
    this.current = start;
  }
  now(): Millis {
    return this.current;
  }
  /** Moves time forward; time never goes backwards. */
  advance(ms: number): Millis {
    if (!Number.isFinite(ms) || ms < 0)
      throw new RangeError(`VirtualClock.advance: ms must be finite and >= 0, got ${ms}`);
    this.current += ms;
    return this.current;
  }
  set(to: Millis): void {
    if (to < this.current) throw new RangeError(`VirtualClock.set: time cannot go backwards (${to} < ${this.current})`);
    this.current = to;
  }
}
