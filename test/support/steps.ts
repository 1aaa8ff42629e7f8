/** Runs work written as steps (src/domain/steps.ts) to its end without pausing: its value and how many times it yielded. */
export function drainSteps<T>(steps: Generator<void, T>): { value: T; yields: number } {
  let yields = 0;
  let r = steps.next();
  for (; r.done !== true; r = steps.next()) yields++;
  return { value: r.value, yields };
}
