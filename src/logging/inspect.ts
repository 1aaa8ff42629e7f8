/**
 * Inspection of the engine's XState actors. Two things:
 * - `logInspection(logger)`: an `inspect` observer (works offline) that writes one debug line per state change
 *   of any actor, for passing as `createEngine({ inspect })` / `createActor(m, { inspect })`.
 * - `startInspectorServer()`: the opt-in live viewer for the CLI's `--inspect`. Never started by default: an open
 *   server and inspector socket keep Node alive until `stop()`. @statelyai/inspect's own `createInspectorServer`
 *   listens on every interface (no host option), cannot report the port it got for port 0, and runs `xdg-open` by
 *   default, so the relay here is our own, bound to loopback only, with the package's `createWebSocketInspector`
 *   as the client. The viewer page embeds https://stately.ai/inspect, so viewing needs internet; relaying does not.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { InspectionEvent, Observer } from 'xstate';
import { ConfigError, TesserError } from '../domain/errors.js';
import { importPeers } from '../optional-peer.js';
import type { Logger } from './types.js';

/** An `inspect` observer that logs each actor snapshot change (state value and status) at debug level. */
export function logInspection(logger: Logger): Observer<InspectionEvent> {
  const log = logger.child({ component: 'inspect' });
  return {
    next: (event) => {
      if (event.type !== '@xstate.snapshot') return;
      const snapshot = event.snapshot as { value?: unknown; status?: string };
      // Only machine snapshots have a value; promise/callback actors would only add noise.
      if (snapshot.value === undefined) return;
      const actorId = (event.actorRef as { id?: string }).id ?? 'actor';
      log.debug(
        { event: 'actor.snapshot', actorId, value: snapshot.value, status: snapshot.status, cause: event.event.type },
        `${actorId} → ${JSON.stringify(snapshot.value)}`,
      );
    },
  };
}

/** The inspector could not be started (port taken, no websocket library, the inspector did not connect). */
export class InspectorError extends TesserError {
  override readonly name = 'InspectorError' as const;
}

const LOOPBACK_HOSTS = ['127.0.0.1', '::1'] as const;

export interface InspectorServerOptions {
  /** TCP port; 0 (default) picks a free one. */
  readonly port?: number | undefined;
  /** A loopback address only: `127.0.0.1` (default) or `::1`. Anything else is a ConfigError. */
  readonly host?: (typeof LOOPBACK_HOSTS)[number] | undefined;
  /** The viewer UI the served page embeds. Default https://stately.ai/inspect. */
  readonly viewerUrl?: string | undefined;
  /** Called with every inspection event relayed (parsed JSON); for tests and logging. */
  readonly onEvent?: ((event: unknown) => void) | undefined;
  /** How long to wait for the inspector's socket to connect. Default 5000 ms. */
  readonly connectTimeoutMs?: number | undefined;
}

export interface InspectorServer {
  /** Pass to `createActor(machine, { inspect })` or `createEngine({ inspect })`. */
  readonly inspect: Observer<InspectionEvent>;
  /** Open this in a browser to watch the actors. */
  readonly url: string;
  /** The websocket the inspector publishes to and viewers subscribe to. */
  readonly wsUrl: string;
  readonly port: number;
  /** Closes the inspector socket, every viewer connection and the server, so Node can exit. Idempotent. */
  stop(): Promise<void>;
}

/** Keeps this many recent events for a viewer that connects late. */
const REPLAY_BUFFER = 200;

/**
 * Starts a loopback-only relay (HTTP page + websocket) and a websocket inspector publishing to it. Resolves once
 * the inspector is connected, so no event is buffered forever and `stop()` never races a connecting socket (the
 * package's client reconnects every 5 s after an error, which would keep Node alive).
 */
export async function startInspectorServer(options: InspectorServerOptions = {}): Promise<InspectorServer> {
  const host = options.host ?? '127.0.0.1';
  if (!(LOOPBACK_HOSTS as readonly string[]).includes(host)) {
    throw new ConfigError([
      { path: 'inspect.host', message: `must be a loopback address (${LOOPBACK_HOSTS.join(', ')})` },
    ]);
  }
  const port = options.port ?? 0;
  if (!Number.isInteger(port) || port < 0 || port > 65_535)
    throw new ConfigError([{ path: 'inspect.port', message: 'must be an integer in [0, 65535]' }]);
  const { ws, createWebSocketInspector } = await loadInspectorPeers();
  const viewerUrl = options.viewerUrl ?? 'https://stately.ai/inspect';

  let boundPort = 0;
  const server = http.createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    res.end(viewerPage(`ws://${hostForUrl(host)}:${boundPort}`, viewerUrl));
  });
  const wss = new ws.WebSocketServer({ server });
  const recent: string[] = [];
  let firstConnection: ((socket: WsSocket) => void) | undefined;
  wss.on('connection', (socket: WsSocket) => {
    firstConnection?.(socket);
    for (const msg of recent) socket.send(msg);
    socket.on('message', (data: unknown) => {
      const msg = String(data);
      recent.push(msg);
      if (recent.length > REPLAY_BUFFER) recent.shift();
      for (const client of wss.clients)
        if (client !== socket && client.readyState === ws.WebSocket.OPEN) client.send(msg);
      if (options.onEvent !== undefined) {
        try {
          options.onEvent(JSON.parse(msg));
        } catch {
          // A hook must not take the relay down; a malformed message is simply not reported.
        }
      }
    });
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', (e) =>
      reject(new InspectorError(`inspector server could not listen on ${host}:${port}`, { cause: e })),
    );
    server.listen(port, host, () => resolve());
  });
  boundPort = (server.address() as AddressInfo).port;
  const wsUrl = `ws://${hostForUrl(host)}:${boundPort}`;

  // The inspector's own connection (the first one: the server has just started and announced no URL yet).
  let inspectorSocket: WsSocket | undefined;
  const closeServer = async (): Promise<void> => {
    // Gracefully first: the inspector's last events (the engine's `stopped`) are still in flight, and a viewer
    // receives what was relayed before its close frame. Then forcibly, for a peer that does not answer.
    const closing = [...wss.clients].map((client) => closed(client, () => client.close()));
    await settleWithin(Promise.all(closing), CLOSE_GRACE_MS);
    for (const client of wss.clients) client.terminate();
    await new Promise<void>((resolve) => wss.close(() => resolve()));
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };

  const connected = new Promise<void>((resolve) => {
    firstConnection = (socket) => {
      firstConnection = undefined;
      inspectorSocket = socket;
      resolve();
    };
  });
  const inspector = createWebSocketInspector({ url: wsUrl });
  const timeoutMs = options.connectTimeoutMs ?? 5000;
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      connected,
      new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new InspectorError(`inspector did not connect to ${wsUrl} within ${timeoutMs} ms`)),
          timeoutMs,
        );
      }),
    ]);
  } catch (e) {
    inspector.stop();
    await closeServer();
    throw e;
  } finally {
    clearTimeout(timer);
  }

  let stopped: Promise<void> | undefined;
  return {
    inspect: inspector.inspect,
    url: `http://${hostForUrl(host)}:${boundPort}`,
    wsUrl,
    port: boundPort,
    stop: () => {
      stopped ??= (async () => {
        // The inspector first (a clean close: `ws` sends its queued events before the close frame), and once the
        // relay has received and passed them all on, the viewers and the server.
        // @statelyai/inspect sends each event from a `setTimeout(0)` of its own: one more timer turn lets the events
        // of the last moments (an engine's `stopping` and `stopped`) reach its socket before it closes.
        await new Promise<void>((resolve) => setTimeout(resolve, 0));
        const socket = inspectorSocket;
        if (socket !== undefined)
          await settleWithin(
            closed(socket, () => inspector.stop()),
            CLOSE_GRACE_MS,
          );
        else inspector.stop();
        await closeServer();
      })();
      return stopped;
    },
  };
}

/** How long a stop waits for a socket's clean close before cutting it. */
const CLOSE_GRACE_MS = 2_000;

/** Resolves when `socket` has closed, after calling `close` (which starts the closing). */
function closed(socket: WsSocket, close: () => void): Promise<void> {
  // 3 = CLOSED (the `ws` readyState): an already closed socket emits no further 'close'.
  if (socket.readyState === 3) return Promise.resolve();
  const done = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  close();
  return done;
}

/** Waits for `work`, at most `ms` (real time: these are real sockets), and never rejects. */
async function settleWithin(work: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([work.catch(() => undefined), new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)))]);
  clearTimeout(timer);
}

function hostForUrl(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}

/** The page a browser opens: the hosted viewer in an iframe, fed from our websocket. */
function viewerPage(wsUrl: string, viewerUrl: string): string {
  const safe = (s: string): string => JSON.stringify(s).replace(/</g, '\\u003c');
  return `<!doctype html>
<html><head><meta charset="utf-8"><title>tesser-reconcile inspector</title>
<style>html,body,iframe{margin:0;width:100%;height:100%;border:0}</style></head>
<body><iframe id="viewer" src=${safe(viewerUrl)}></iframe>
<script>
  // Events are held until the viewer says it is ready, then forwarded as they arrive.
  const viewer = document.getElementById('viewer');
  const held = [];
  let ready = false;
  window.addEventListener('message', (e) => {
    if (e.data && e.data.type === '@statelyai.connected') {
      ready = true;
      for (const ev of held.splice(0)) viewer.contentWindow.postMessage(ev, '*');
    }
  });
  const socket = new WebSocket(${safe(wsUrl)});
  socket.onmessage = (m) => {
    const ev = JSON.parse(m.data);
    if (ready) viewer.contentWindow.postMessage(ev, '*');
    else held.push(ev);
  };
</script></body></html>`;
}

/** The slice of the `ws` package used here (it ships no types of its own). */
interface WsSocket {
  readonly readyState: number;
  send(data: string): void;
  close(): void;
  terminate(): void;
  on(event: 'message', listener: (data: unknown) => void): void;
  once(event: 'close', listener: () => void): void;
}
interface WsModule {
  WebSocketServer: new (options: { server: http.Server }) => {
    readonly clients: Set<WsSocket>;
    on(event: 'connection', listener: (socket: WsSocket) => void): void;
    close(cb: () => void): void;
  };
  WebSocket: { readonly OPEN: number };
}

/**
 * Loads the inspector's optional peers together, so one error names both when both are missing: `ws` (the Node
 * websocket that @statelyai/inspect uses; no bundled types, hence `WsModule`) and @statelyai/inspect. Lazily:
 * nothing loads them unless the inspector is started.
 */
async function loadInspectorPeers(): Promise<{
  ws: WsModule;
  createWebSocketInspector: typeof import('@statelyai/inspect').createWebSocketInspector;
}> {
  const [wsMod, inspectMod] = (await importPeers(['ws', '@statelyai/inspect'], 'the inspector (--inspect)')) as [
    WsModule & { default?: WsModule },
    typeof import('@statelyai/inspect'),
  ];
  const ws = wsMod.WebSocketServer === undefined && wsMod.default !== undefined ? wsMod.default : wsMod;
  return { ws, createWebSocketInspector: inspectMod.createWebSocketInspector };
}
