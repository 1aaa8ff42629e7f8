/**
 * The HTTP plumbing of the Bybit and OKX loopback emulators: a server on 127.0.0.1 that records every request,
 * routes `METHOD /path` to a handler, injects faults (a status with a body, a reset connection, a response that
 * never comes), and closes every socket at teardown. The venue-specific parts (envelopes, error codes) are the
 * emulators' own.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { Clock } from '../domain/clock.js';
import type { Order } from '../domain/types.js';
import { ExchangeError, type ExchangeErrorKind } from '../domain/errors.js';
import type { ExchangeClient } from '../exchange/port.js';

export type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
export type Params = Record<string, string>;

export interface RecordedRequest {
  readonly method: string;
  readonly path: string;
  /** Query string and body (JSON object or form) merged, values as strings. */
  readonly params: Readonly<Params>;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
}

export type LoopbackFault =
  | {
      readonly kind: 'status';
      readonly status: number;
      readonly body: Json | string;
      readonly headers?: Record<string, string>;
    }
  | { readonly kind: 'reset' }
  | { readonly kind: 'hang' };

/** A handler's answer: HTTP status and JSON body (venues answer most errors with 200 and a code in the body). */
export interface Answer {
  readonly status: number;
  readonly body: Json;
}

export interface LoopbackServer {
  readonly url: string;
  readonly requests: RecordedRequest[];
  /** Requests to paths no route serves (should stay empty: ccxt asked for something unexpected). */
  readonly unexpected: RecordedRequest[];
  injectFault(fault: LoopbackFault, options?: { match?: string; times?: number }): void;
  clearFaults(): void;
  close(): Promise<void>;
}

/** What every venue emulator takes: the backend it stands in front of, its clock, and its market grid. */
export interface VenueEmulatorOptions {
  readonly backend: ExchangeClient;
  readonly clock: Clock;
  /** The key private requests must carry (default 'emulator-key'). */
  readonly apiKey?: string;
  readonly tickSize?: string;
  /** Base-unit step of the backend's quantities. */
  readonly stepSize?: string;
  /** Orders this says were placed by hand (on the venue's website) show an empty client id, as the venue does. */
  readonly placedByHand?: (o: Order) => boolean;
}

/** What every venue emulator offers: its URL and key, the requests it saw, faults, and the ccxt config to reach it. */
export interface VenueEmulator {
  readonly url: string;
  readonly apiKey: string;
  readonly requests: RecordedRequest[];
  readonly unexpected: RecordedRequest[];
  injectFault(fault: LoopbackFault, options?: { match?: string; times?: number }): void;
  clearFaults(): void;
  /** ccxt constructor config that points every API of the venue at this server. */
  ccxtConfig(extra?: Record<string, unknown>): Record<string, unknown>;
  close(): Promise<void>;
}

/** The parts of a VenueEmulator that are the loopback server's own. */
export function venueHandle(server: LoopbackServer, apiKey: string): Omit<VenueEmulator, 'ccxtConfig'> {
  return {
    url: server.url,
    apiKey,
    requests: server.requests,
    unexpected: server.unexpected,
    injectFault: (f, o) => server.injectFault(f, o),
    clearFaults: () => server.clearFaults(),
    close: () => server.close(),
  };
}

export async function startLoopback(
  route: (req: RecordedRequest) => Promise<Answer> | undefined,
  notFound: (req: RecordedRequest) => Answer,
): Promise<LoopbackServer> {
  const requests: RecordedRequest[] = [];
  const unexpected: RecordedRequest[] = [];
  let faults: { fault: LoopbackFault; match: string | undefined; remaining: number }[] = [];
  const sockets = new Set<Socket>();
  const hung = new Set<ServerResponse>();

  const server: Server = createServer((req, res) => {
    void serve(req, res);
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });

  async function serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const body = await readBody(req);
    const params: Params = Object.fromEntries(url.searchParams.entries());
    if (body !== '') {
      const t = body.trimStart();
      if (t.startsWith('{') || t.startsWith('[')) {
        // A JSON array is a batch (OKX places single orders through batch-orders): its one element's fields.
        const parsed = JSON.parse(body) as unknown;
        const obj = (Array.isArray(parsed) ? (parsed.length === 1 ? parsed[0] : {}) : parsed) as Record<
          string,
          unknown
        >;
        for (const [k, v] of Object.entries(obj)) params[k] = typeof v === 'string' ? v : JSON.stringify(v);
      } else for (const [k, v] of new URLSearchParams(body)) params[k] = v;
    }
    const record: RecordedRequest = { method: req.method ?? 'GET', path: url.pathname, params, headers: req.headers };
    requests.push(record);
    const key = `${record.method} ${record.path}`;
    const rule = faults.find((f) => f.remaining > 0 && (f.match === undefined || key.includes(f.match)));
    if (rule !== undefined) {
      rule.remaining--;
      faults = faults.filter((f) => f.remaining > 0);
      const fault = rule.fault;
      if (fault.kind === 'hang') {
        hung.add(res); // answered never; destroyed at close()
        return;
      }
      if (fault.kind === 'reset') {
        req.socket.destroy();
        return;
      }
      send(res, fault.status, fault.body, fault.headers);
      return;
    }
    const pending = route(record);
    if (pending === undefined) {
      unexpected.push(record);
      const a = notFound(record);
      send(res, a.status, a.body);
      return;
    }
    try {
      const a = await pending;
      send(res, a.status, a.body);
    } catch (e) {
      // A handler bug: a 500 the client maps to a retryable error, never a silent success.
      send(res, 500, `emulator error: ${e instanceof Error ? e.message : String(e)}`);
    }
  }

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    unexpected,
    injectFault(fault, o = {}) {
      faults.push({ fault, match: o.match, remaining: o.times ?? 1 });
    },
    clearFaults() {
      faults = [];
    },
    async close() {
      for (const res of hung) res.destroy();
      hung.clear();
      server.closeAllConnections();
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function send(res: ServerResponse, status: number, body: Json | string, headers: Record<string, string> = {}): void {
  if (res.destroyed) return;
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  const type = typeof body === 'string' ? 'text/html' : 'application/json';
  res.writeHead(status, { 'Content-Type': type, ...headers }).end(text);
}

/** The whole body of a request, as text. */
export function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let s = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (s += c));
    req.on('end', () => resolve(s));
    req.on('error', reject);
  });
}

/** Every item of a paged backend query. */
export async function drainPages<T>(
  page: (cursor: string | undefined) => Promise<{ items: readonly T[]; nextCursor?: string | undefined }>,
): Promise<T[]> {
  const out: T[] = [];
  let cursor: string | undefined;
  for (let guard = 0; guard < 10_000; guard++) {
    const p = await page(cursor);
    out.push(...p.items);
    if (p.nextCursor === undefined) return out;
    cursor = p.nextCursor;
  }
  throw new Error('emulator: backend paging did not end');
}

/**
 * Wire ids for backend ids: each (scope, backend id) gets one id minted on first sight, kept for the emulator's
 * life, and mapped back on requests. Bybit shows UUIDs (`uuidIds`); OKX numbers orders, trades and bills across the
 * whole account (`sequentialIds`), while the simulator's ids are per symbol.
 */
export class WireIds {
  readonly #toWire = new Map<string, string>();
  readonly #fromWire = new Map<string, string>();
  constructor(private readonly mint: (key: string) => string) {}
  wire(scope: string, id: string): string {
    const key = `${scope}\u0000${id}`;
    let w = this.#toWire.get(key);
    if (w === undefined) {
      w = this.mint(key);
      this.#toWire.set(key, w);
      this.#fromWire.set(w, id);
    }
    return w;
  }
  backend(wire: string): string | undefined {
    return this.#fromWire.get(wire);
  }
}

/** UUIDs derived from a hash of the scope and id: the same backend id always gets the same UUID. */
export function uuidIds(hash: (s: string) => string): WireIds {
  return new WireIds((key) => {
    const h = hash(key);
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}`;
  });
}

/** Decimal integers from `base` upwards, in the order ids are first seen. */
export function sequentialIds(base: bigint): WireIds {
  let next = base;
  return new WireIds(() => (next++).toString());
}

/**
 * A venue's error code and message for each backend error kind (`duplicate`: a reused client id; `other`: anything
 * unexpected, a retryable "system error" on every venue).
 */
export type VenueErrorTable<C> = Readonly<
  Record<
    Exclude<ExchangeErrorKind, 'network' | 'timeout' | 'unavailable'> | 'duplicate' | 'other',
    readonly [C, string]
  >
>;

/** A backend error as the venue reports it: by kind from its table (the message appended where it says why). */
export function venueError<C>(e: unknown, table: VenueErrorTable<C>): [C, string] {
  if (!(e instanceof ExchangeError))
    return [table.other[0], `${table.other[1]} ${e instanceof Error ? e.message : String(e)}`];
  if (e.kind === 'invalid' && /duplicate/i.test(e.message)) return [...table.duplicate];
  if (e.kind === 'invalid' || e.kind === 'unsupported') return [table[e.kind][0], `${table[e.kind][1]}: ${e.message}`];
  const row = e.kind === 'network' || e.kind === 'timeout' || e.kind === 'unavailable' ? table.other : table[e.kind];
  return [...row];
}
