/**
 * A promise-chain mutex. The engine swaps in a new portfolio at the end of each cycle (the executor works on a
 * clone), so anything else that changes the portfolio or writes the store (an order the strategy submits, its
 * acknowledgement, a lifecycle record, the final flush) must not interleave with a cycle: each runs as one task.
 */
export class SerialQueue {
  private tail: Promise<unknown> = Promise.resolve();

  /**
   * `track` is told of every task (a VirtualTimeline uses it to hold virtual time while real I/O runs). `beforeTask`
   * (the slicer's, src/engine/slicing.ts) may hand a pause to await before a task starts: the event loop runs
   * meanwhile, and no other task of the queue.
   */
  constructor(
    private readonly track: <T>(work: Promise<T>) => Promise<T> = (work) => work,
    private readonly beforeTask: () => Promise<void> | undefined = () => undefined,
  ) {}

  /** Runs `task` after every task queued before it; resolves or rejects with its result. */
  run<T>(task: () => Promise<T> | T): Promise<T> {
    const result = this.tail.then(() => {
      const pause = this.beforeTask();
      return pause === undefined ? task() : pause.then(task);
    });
    // The queue goes on after a failed task; the failure is the caller's to handle.
    this.tail = result.catch(() => undefined);
    return this.track(result);
  }
}
