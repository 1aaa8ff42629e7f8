import { describe, expect, it } from 'vitest';
import { runSteps, runStepsSliced } from '../../src/domain/steps.js';

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
