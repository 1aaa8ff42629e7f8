/**
 * Driving long synchronous work written as a generator that yields at its safe points (the differ, the open-order
 * interner): all at once, or in slices with a pause asked at each safe point so the event loop may run (issue 16).
 */

/** Asked at a safe point: a promise to await before going on (the loop runs meanwhile), or undefined: go on at once. */
export type Pause = () => Promise<void> | undefined;

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
