/** A pause for work run in steps (src/domain/steps.ts) that takes a macrotask turn at every step, counted. */
export function countingPause(): { readonly pause: () => Promise<void>; readonly count: () => number } {
  let n = 0;
  return {
    pause: () => {
      n++;
      return new Promise((resolve) => setImmediate(resolve));
    },
    count: () => n,
  };
}
