/**
 * A process kill, for tests of restarts: the engine stops where it is, with no flush and no further write, as when
 * the process dies (SIGKILL, power loss). Exported from `tesser-reconcile/testing`.
 */
import type { Engine } from './engine.js';
import type { InMemoryStateStore } from '../store/memory.js';

/**
 * Stops `engine` as a process kill would: its XState actor (and with it the reconciliation loop, its timers and
 * every child actor) stops at once, without the `stopping` flush; `store` crashes, so a write still in flight is
 * lost and any later one fails, and nothing else reaches it. Returns the store a restarted process would open: what
 * had been durably stored, and nothing more. The killed engine emits no status or report (`state$` completes);
 * its `stop()` and `whenPhase()` resolve at once with the last status, flushing nothing (its lifecycle never reaches
 * `stopped`). Build a new engine on the returned store, as a restart does.
 */
export function killEngine(engine: Engine, store: InMemoryStateStore): InMemoryStateStore {
  // The store first: a write the actor's last step started must not land after the "death".
  const reopened = store.crash();
  engine.actor.stop();
  return reopened;
}
