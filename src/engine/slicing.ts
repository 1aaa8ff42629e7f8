/**
 * Slicing long synchronous work so the embedding bot's event loop keeps running (issue 16: no event-loop stall over
 * 10 ms at 10,000 orders). A `Slicer` is asked at safe points (between the stages of a cycle, between the pieces of a
 * compaction's serialization) whether to let the loop run; it answers with a promise to await (a macrotask turn) or
 * `undefined` (go on at once). The work it slices always runs as one task of the engine's queue (serial.ts), so
 * nothing else changes the books or writes the store while it waits: a pause never exposes a half-updated book and
 * never lets another write in between, it only lets the bot's own callbacks (timers, sockets) run.
 */
import { performance } from 'node:perf_hooks';

/** Decides, at a safe point of long synchronous work, whether to let the event loop run. */
export interface Slicer {
  /**
   * A long piece of work begins in this turn. Its time counts from the turn's start when the turn already ran other
   * work (a placement answered at once, the snapshot's interning, then the cycle): the budget is the turn's, not each
   * piece's, or two pieces under budget each would hold the loop for twice the budget.
   */
  start(): void;
  /** A promise to await before going on (the loop runs meanwhile), or undefined: go on without a pause. */
  pause(): Promise<void> | undefined;
  /**
   * Asked before each task of the engine's queue (a placement, its acknowledgement, a cycle, an execution event): a
   * promise to await before the task starts when the turn it would run in already took the budget (a placement
   * answered at once, then a cycle, all in one turn), or undefined. Optional: a slicer without it never pauses there.
   */
  beforeTask?(): Promise<void> | undefined;
}

/** One macrotask turn: timers, I/O callbacks and other immediates queued before it run first. */
export const macrotaskTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** The default time budget of a synchronous span between two pauses (ms). */
export const DEFAULT_SLICE_MS = 1;

/**
 * Pauses once at least `budgetMs` passed since the turn the work runs in started (or since the last pause): work
 * shorter than the budget runs straight through and costs a clock read per safe point. The number of pauses depends on the machine's speed, never
 * what the work does (the queue holds everything else off meanwhile).
 */
export function budgetSlicer(
  budgetMs = DEFAULT_SLICE_MS,
  turn: () => Promise<void> = macrotaskTurn,
  now: () => number = () => performance.now(),
): Slicer {
  let since = now();
  // When the event loop's turn in progress started, as far as the slicer saw: its first call in a turn (the queue
  // asks it before each task, a cycle at its start) or the end of a pause. The turn is over at the loop's next check
  // phase (a real immediate whatever `turn` is: it only notes the turn, it holds nothing up).
  let turnStart = since;
  let inTurn = false;
  let turnId = 0;
  const mark = (t: number): void => {
    if (inTurn) return;
    inTurn = true;
    turnStart = t;
    const id = ++turnId;
    setImmediate(() => {
      if (turnId === id) inTurn = false;
    });
  };
  const resume = (): Promise<void> =>
    turn().then(() => {
      since = now();
      inTurn = false;
      mark(since);
    });
  return {
    start() {
      mark(now());
      since = turnStart;
    },
    pause() {
      if (now() - since < budgetMs) return undefined;
      return resume();
    },
    beforeTask() {
      const t = now();
      if (!inTurn) {
        mark(t);
        return undefined;
      }
      return t - turnStart < budgetMs ? undefined : resume();
    },
  };
}

/** Never pauses: everything runs in one turn (what the engine did before slicing). */
export const NO_SLICING: Slicer = Object.freeze({ start: () => undefined, pause: () => undefined });

/** Pauses at every safe point (tests and the simulator: the most interleaving, and deterministic). */
export function everyPointSlicer(turn: () => Promise<void> = macrotaskTurn): Slicer {
  return { start: () => undefined, pause: () => turn() };
}
