/**
 * A viewer of the inspector relay, as the served page is: a `ws` client of the relay's websocket that parses every
 * message. Also what tests look for in what was relayed: the lifecycle machine's snapshots and their state values.
 */
import { engineMachine } from '../../machines/engine.machine.js';
import type { StateValue } from 'xstate';
import { phaseOf } from '../../machines/lifecycle.js';

/** One relayed inspection event, as @statelyai/inspect's websocket inspector serializes it. */
export interface Relayed {
  readonly type?: string;
  readonly sessionId?: string;
  readonly rootId?: string;
  readonly snapshot?: { readonly value?: unknown; readonly status?: string; readonly machine?: unknown };
  readonly definition?: string;
  readonly event?: { readonly type?: string };
}

/** Connects to `wsUrl` and resolves once open; `onEvent` gets every relayed message. */
export async function connectViewer(wsUrl: string, onEvent: (e: Relayed) => void): Promise<{ terminate(): void }> {
  const { WebSocket } = (await import('ws' as string)) as { WebSocket: new (url: string) => ViewerSocket };
  const socket = new WebSocket(wsUrl);
  socket.on('message', (d: unknown) => onEvent(JSON.parse(String(d)) as Relayed));
  await new Promise<void>((resolve, reject) => {
    socket.once('open', () => resolve());
    socket.once('error', (e: unknown) => reject(e instanceof Error ? e : new Error(String(e))));
  });
  return socket;
}

interface ViewerSocket {
  on(event: 'message', listener: (data: unknown) => void): void;
  once(event: 'open' | 'error', listener: (arg?: unknown) => void): void;
  terminate(): void;
}

/**
 * The lifecycle phases of the engine machine's relayed snapshots, in relay order (one per snapshot: `running`
 * repeats once per cycle). The machine's snapshots are those of the session that a relayed `@xstate.actor` event
 * announces with the engine machine's definition (its id).
 */
export function lifecyclePhases(events: readonly Relayed[]): string[] {
  const sessions = new Set(
    events
      .filter(
        (e) =>
          e.type === '@xstate.actor' &&
          typeof e.definition === 'string' &&
          e.definition.includes(`"id":"${engineMachine.id}"`),
      )
      .map((e) => e.sessionId),
  );
  return events
    .filter((e) => e.type === '@xstate.snapshot' && sessions.has(e.sessionId))
    .map((e) => phaseOf(e.snapshot?.value as StateValue));
}
