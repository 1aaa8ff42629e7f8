/**
 * Driving long synchronous work written as a generator that yields at its safe points (the differ, the open-order
 * interner): all at once, or in slices with a pause asked at each safe point so the event loop may run (issue 16).
 */

/** Asked at a safe point: a promise to await before going on (the loop runs meanwhile), or undefined: go on at once. */
export type Pause = () => Promise<void> | undefined;

/**
 * How many items (orders, journal records) a long loop handles between two safe points: a few hundred orders take
 * well under a millisecond even before the code is optimized, and a safe point costs a clock read when the slicer's
 * budget is not spent, so a loop of 100,000 orders asks a few hundred times.
 */
export const ITEMS_PER_STEP = 256;

/** Runs `steps` to its end in this turn and returns its result. */
export function runSteps<T>(steps: Generator<void, T>): T {
  for (;;) {
    const r = steps.next();
    if (r.done === true) return r.value;
  }
}

/** Runs `steps` to its end, asking `pause` at each safe point it yields, and resolves to its result. */
export async function runStepsSliced<T>(steps: Generator<void, T>, pause: Pause): Promise<T> {
  for (;;) {
    const r = steps.next();
    if (r.done === true) return r.value;
    const waiting = pause();
    if (waiting !== undefined) await waiting;
  }
}
