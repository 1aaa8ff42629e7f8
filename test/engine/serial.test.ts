/**
 * SerialQueue: tasks run one at a time in the order they were queued (an async task finishes before the next one
 * starts), each caller gets its own task's result or error, and a failed task does not stop the queue.
 */
import { describe, expect, it } from 'vitest';
import { SerialQueue } from '../../src/engine/serial.js';

interface Deferred<T> {
  readonly promise: Promise<T>;
  resolve(v: T): void;
  reject(e: unknown): void;
}

function deferred<T = void>(): Deferred<T> {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** Lets every queued promise job run. */
const flush = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('SerialQueue', () => {
  it('runs tasks in order, never two at once, even when an earlier one takes longer', async () => {
    const q = new SerialQueue();
    const log: string[] = [];
    let running = 0;
    const gates = [deferred(), deferred(), deferred()];
    const task = (i: number) => async (): Promise<number> => {
      running++;
      expect(running).toBe(1);
      log.push(`start ${i}`);
      await gates[i]!.promise;
      log.push(`end ${i}`);
      running--;
      return i * 10;
    };
    const results = [q.run(task(0)), q.run(task(1)), q.run(task(2))];
    await flush();
    expect(log).toEqual(['start 0']);
    // Finishing later tasks' gates first changes nothing: each waits for the one before.
    gates[2]!.resolve();
    gates[1]!.resolve();
    await flush();
    expect(log).toEqual(['start 0']);
    gates[0]!.resolve();
    expect(await Promise.all(results)).toEqual([0, 10, 20]);
    expect(log).toEqual(['start 0', 'end 0', 'start 1', 'end 1', 'start 2', 'end 2']);
  });

  it('does not start a task synchronously, even on an idle queue', async () => {
    const q = new SerialQueue();
    let ran = false;
    const p = q.run(() => {
      ran = true;
      return 'sync';
    });
    expect(ran).toBe(false);
    expect(await p).toBe('sync');
    expect(ran).toBe(true);
  });

  it('a failed task rejects its own caller only; the queue goes on with the next task', async () => {
    const q = new SerialQueue();
    const order: string[] = [];
    const boom = new Error('boom');
    const a = q.run(async () => {
      order.push('a');
      return 'a';
    });
    const b = q.run(async () => {
      order.push('b');
      throw boom;
    });
    const c = q.run(() => {
      order.push('c');
      throw new TypeError('sync throw');
    });
    const dd = q.run(async () => {
      order.push('d');
      return 'd';
    });
    await expect(a).resolves.toBe('a');
    await expect(b).rejects.toBe(boom);
    await expect(c).rejects.toBeInstanceOf(TypeError);
    await expect(dd).resolves.toBe('d');
    expect(order).toEqual(['a', 'b', 'c', 'd']);
  });

  it('a task queued after a failure that nobody awaited still runs, and no rejection leaks from the queue itself', async () => {
    const q = new SerialQueue();
    const failed = q.run(() => Promise.reject(new Error('ignored by its caller')));
    failed.catch(() => undefined);
    const gate = deferred<string>();
    const next = q.run(() => gate.promise);
    await flush();
    gate.resolve('still running');
    await expect(next).resolves.toBe('still running');
  });

  it('a task can queue another; it runs after everything already queued', async () => {
    const q = new SerialQueue();
    const order: string[] = [];
    let inner: Promise<void> | undefined;
    const outer = q.run(async () => {
      order.push('outer');
      inner = q.run(() => {
        order.push('inner');
      });
    });
    const later = q.run(() => {
      order.push('later');
    });
    await outer;
    await later;
    await inner;
    expect(order).toEqual(['outer', 'later', 'inner']);
  });
});
