/**
 * The inspector example of docs/embedding.md (its second code block is this file, checked by test/docs/docs.test.ts,
 * which runs `watchEngine` in virtual time with a viewer connected to the relay). A bot in Node starts the loopback
 * relay from `tesser-reconcile/inspect` (it wires @statelyai/inspect's websocket inspector to it), passes its
 * `inspect` observer to `createEngine`, and stops the relay after the engine.
 *
 *   npm install @statelyai/inspect@^0.7.2 ws@^8.23.0      # the optional peers of the inspector
 *   npx tsx docs/inspect-example.ts                         # prints the URL to open; Ctrl-C stops it
 */
import { pathToFileURL } from 'node:url';
import { createEngine, type LifecyclePhase } from 'tesser-reconcile';
import { startInspectorServer } from 'tesser-reconcile/inspect';
import { InMemoryStateStore, SimulatedExchange, type VirtualTimeline } from 'tesser-reconcile/testing';

export interface WatchOptions {
  /** Called with the viewer page's URL and the relay's websocket once the relay is up, before the engine starts. */
  readonly onReady?: (urls: { readonly url: string; readonly wsUrl: string }) => void | Promise<void>;
  /** Resolves when the bot should stop. Default: the first SIGINT (Ctrl-C). */
  readonly waitForStop?: () => Promise<unknown>;
  /** Virtual time (tests). Default: wall-clock time. */
  readonly timeline?: VirtualTimeline;
}

/** Runs an inspected engine until `waitForStop` resolves; resolves with the phases it went through. */
export async function watchEngine(options: WatchOptions = {}): Promise<LifecyclePhase[]> {
  const waitForStop = options.waitForStop ?? (() => new Promise((resolve) => process.once('SIGINT', resolve)));
  const time =
    options.timeline === undefined ? {} : { clock: options.timeline.clock, scheduler: options.timeline.scheduler };
  const phases: LifecyclePhase[] = [];

  // Loopback only (127.0.0.1); throws MissingPeerDependencyError naming the install command without the peers.
  const inspector = await startInspectorServer();
  try {
    await (options.onReady ?? (({ url }) => console.log(`open ${url} to watch the engine's state machine`)))(inspector);
    const exchange = new SimulatedExchange({ seed: 1, clock: options.timeline?.clock ?? { now: () => Date.now() } });
    const engine = createEngine({ exchange, store: new InMemoryStateStore(), inspect: inspector.inspect, ...time });
    engine.state$.subscribe((s) => {
      if (phases.at(-1) !== s.phase) phases.push(s.phase);
    });
    try {
      await engine.start();
      await waitForStop();
    } finally {
      await engine.stop();
    }
  } finally {
    // An open relay (server and inspector socket) keeps Node alive: stop it last, after the engine's last event.
    await inspector.stop();
  }
  return phases;
}

// Run directly (not when imported by the docs test).
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  console.log((await watchEngine()).join(' → '));
}
