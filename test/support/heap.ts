/**
 * The garbage collector for tests that check what is collected or how much heap is held: V8's `gc`, exposed at run
 * time (vitest's workers do not start with `--expose-gc`).
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

let exposed: (() => void) | undefined;

/** A full collection now. */
export function collectGarbage(): void {
  if (exposed === undefined) {
    setFlagsFromString('--expose-gc');
    exposed = runInNewContext('gc') as () => void;
  }
  exposed();
}

/**
 * The heap in use after a turn of the event loop (work queued for it done, a WeakRef's target released) and two full
 * collections (the second takes what the first's finalizers freed), in bytes.
 */
export async function heapAfterGc(): Promise<number> {
  await new Promise((resolve) => setImmediate(resolve));
  collectGarbage();
  collectGarbage();
  return process.memoryUsage().heapUsed;
}
