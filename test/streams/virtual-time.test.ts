/**
 * Tests of VirtualTimeline: timers of RxJS and XState run at their due times in order (FIFO at equal times),
 * cancelled timers never run, periodic RxJS timers reschedule, and promise work settles between timers.
 */
import { describe, expect, it } from 'vitest';
import { interval, take, timer } from 'rxjs';
import { VirtualTimeline } from '../../src/streams/virtual-time.js';

describe('VirtualTimeline', () => {
  it('runs XState-clock and RxJS timers in due order, FIFO at equal times, on one clock', async () => {
    const t = new VirtualTimeline(100);
    const log: string[] = [];
    t.xstateClock.setTimeout(() => log.push(`x50@${t.now()}`), 50);
    timer(50, t.scheduler).subscribe(() => log.push(`r50@${t.clock.now()}`));
    timer(10, t.scheduler).subscribe(() => log.push(`r10@${t.scheduler.now()}`));
    const id = t.xstateClock.setTimeout(() => log.push('cancelled'), 20);
    t.xstateClock.clearTimeout(id);
    expect(await t.advanceBy(49)).toBe(149);
    expect(log).toEqual(['r10@110']);
    await t.advanceBy(1);
    expect(log).toEqual(['r10@110', 'x50@150', 'r50@150']);
    expect(t.pending).toBe(0);
  });

  it('reschedules periodic timers and cancels them on unsubscribe', async () => {
    const t = new VirtualTimeline();
    const ticks: number[] = [];
    const sub = interval(1000, t.scheduler).subscribe(() => ticks.push(t.now()));
    await t.advanceBy(3500);
    expect(ticks).toEqual([1000, 2000, 3000]);
    sub.unsubscribe();
    expect(t.pending).toBe(0);
    await t.advanceBy(5000);
    expect(ticks).toHaveLength(3);
  });

  it('lets promise work done inside a timer settle, including timers it schedules within the window', async () => {
    const t = new VirtualTimeline();
    const log: number[] = [];
    t.xstateClock.setTimeout(() => {
      void Promise.resolve().then(() => {
        log.push(t.now());
        timer(5, t.scheduler)
          .pipe(take(1))
          .subscribe(() => log.push(t.now()));
      });
    }, 10);
    await t.advanceBy(20);
    expect(log).toEqual([10, 15]);
  });

  it('holds virtual time while tracked real work (e.g. a file write) is pending', async () => {
    const t = new VirtualTimeline();
    const log: string[] = [];
    // Real I/O: resolves after several macrotasks, which a plain settle() would not wait for.
    const slowIo = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 20));
    timer(10, t.scheduler)
      .pipe(take(1))
      .subscribe(() => {
        void t.scheduler.track(slowIo()).then(() => log.push(`io done at ${t.now()}`));
      });
    timer(11, t.scheduler)
      .pipe(take(1))
      .subscribe(() => log.push(`next timer at ${t.now()}`));
    await t.advanceBy(20);
    expect(log).toEqual(['io done at 10', 'next timer at 11']);
  });

  it('rejects negative or non-finite steps', async () => {
    const t = new VirtualTimeline();
    await expect(t.advanceBy(-1)).rejects.toThrow(RangeError);
    await expect(t.advanceBy(Number.NaN)).rejects.toThrow(RangeError);
  });
});
