import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ITEMS_PER_STEP, runSteps, runStepsSliced, sortSteps } from '../../src/domain/steps.js';
import { drainSteps } from '../support/steps.js';

/** Yields `n` times, noting each step in `log`, and returns `n`. */
function* counted(n: number, log: string[]): Generator<void, number> {
  for (let i = 0; i < n; i++) {
    log.push(`step ${i}`);
    yield;
  }
  log.push('end');
  return n;
}

describe('runSteps', () => {
  it('runs every step in this turn and returns the result', () => {
    const log: string[] = [];
    expect(runSteps(counted(3, log))).toBe(3);
    expect(log).toEqual(['step 0', 'step 1', 'step 2', 'end']);
  });
});

describe('runStepsSliced', () => {
  it('asks the pause at each safe point and waits for a promise it returns before the next step', async () => {
    const log: string[] = [];
    let asked = 0;
    const result = await runStepsSliced(counted(3, log), () => {
      log.push(`pause ${asked}`);
      // Every other safe point lets the loop run: the next step comes only after the promise resolves.
      return asked++ % 2 === 0
        ? new Promise<void>((resolve) =>
            setImmediate(() => {
              log.push('resumed');
              resolve();
            }),
          )
        : undefined;
    });
    expect(result).toBe(3);
    expect(log).toEqual(['step 0', 'pause 0', 'resumed', 'step 1', 'pause 1', 'step 2', 'pause 2', 'resumed', 'end']);
  });
});

describe('sortSteps', () => {
  it("gives Array.prototype.sort's stable order, in steps of at most ITEMS_PER_STEP items", () => {
    // Few keys, so that ties are many: the objects' order among equal keys is the input's.
    const item = fc.record({ key: fc.integer({ min: 0, max: 20 }), id: fc.nat() });
    fc.assert(
      fc.property(fc.array(item, { maxLength: 5 * ITEMS_PER_STEP, size: 'max' }), (items) => {
        const byKey = (a: { key: number }, b: { key: number }): number => a.key - b.key;
        const { value, yields } = drainSteps(sortSteps(items, byKey));
        const expected = [...items].sort(byKey);
        expect(value).toHaveLength(expected.length);
        value.forEach((x, i) => expect(x).toBe(expected[i]));
        // A step sorts one run or merges at most ITEMS_PER_STEP items: about 2 n log(n / run) / run steps in all.
        if (items.length > ITEMS_PER_STEP) expect(yields).toBeGreaterThan(items.length / ITEMS_PER_STEP - 1);
      }),
      // Shrinking arrays this long takes minutes: the first counterexample is reported as it is.
      { numRuns: 200, endOnFailure: true },
    );
  });
});
