/**
 * The garbage collector for tests that check what is collected or how much heap is held: V8's `gc`, exposed at run
 * time (vitest's workers do not start with `--expose-gc`).
 */
import { getHeapSpaceStatistics, setFlagsFromString } from 'node:v8';
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
 * collections (the second takes what the first's finalizers freed), in bytes, compiled code left out: what the tests
 * bound is the data a run keeps, and V8 compiles and optimizes on background threads when it gets to them, so on a
 * loaded machine code for the measured loop kept arriving after any warm-up (a quote test read 171 bytes a quote kept
 * in CI, 21-50 on its own).
 */
export async function heapAfterGc(): Promise<number> {
  await new Promise((resolve) => setImmediate(resolve));
  collectGarbage();
  collectGarbage();
  let used = 0;
  for (const space of getHeapSpaceStatistics()) if (!CODE_SPACES.has(space.space_name)) used += space.space_used_size;
  return used;
}

/** V8's heap spaces holding compiled code (`getHeapSpaceStatistics` names). */
const CODE_SPACES: ReadonlySet<string> = new Set(['code_space', 'code_large_object_space']);
