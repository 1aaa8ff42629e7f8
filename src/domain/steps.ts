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

/**
 * `items` sorted by `compare` as steps: a stable merge sort, runs of `ITEMS_PER_STEP` sorted one a step, then merged
 * pairwise, yielding every `ITEMS_PER_STEP` items merged. For a sort of many items inside sliced work (a sort in one
 * call of 10,000 orders by `compare` holds the loop for milliseconds). A new array; `items` is left as it is.
 */
export function* sortSteps<T>(items: readonly T[], compare: (a: T, b: T) => number): Generator<void, T[]> {
  let runs: T[][] = [];
  for (let i = 0; i < items.length; i += ITEMS_PER_STEP) {
    if (i > 0) yield;
    runs.push(items.slice(i, i + ITEMS_PER_STEP).sort(compare));
  }
  while (runs.length > 1) {
    const merged: T[][] = [];
    for (let r = 0; r + 1 < runs.length; r += 2) merged.push(yield* mergeSteps(runs[r]!, runs[r + 1]!, compare));
    if (runs.length % 2 === 1) merged.push(runs[runs.length - 1]!);
    runs = merged;
  }
  return runs[0] ?? [];
}

/** Two sorted runs merged (the first run's item first on a tie: stable), yielding every `ITEMS_PER_STEP` items. */
function* mergeSteps<T>(a: readonly T[], b: readonly T[], compare: (a: T, b: T) => number): Generator<void, T[]> {
  const out = new Array<T>(a.length + b.length);
  let i = 0;
  let j = 0;
  let k = 0;
  while (i < a.length && j < b.length) {
    if (k > 0 && k % ITEMS_PER_STEP === 0) yield;
    out[k++] = compare(b[j]!, a[i]!) < 0 ? b[j++]! : a[i++]!;
  }
  while (i < a.length) out[k++] = a[i++]!;
  while (j < b.length) out[k++] = b[j++]!;
  return out;
}
