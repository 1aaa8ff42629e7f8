/**
 * The SimulatedExchange's private execution stream: every trade and order change of the account goes out, as its
 * wire message (amounts as strings), to each open connection, and is parsed on arrival like a real adapter would
 * (`parseExecutionMessage`). Delivery runs on the given RxJS scheduler (virtual time in tests and the simulator).
 *
 * Seeded faults, per message: dropped, duplicated, reordered (held back behind the next message), delayed, a
 * disconnect (then a reconnect with sequence numbers from 1 again), and a silent spell in which the connection stays
 * "connected" but delivers nothing. Each connection numbers its messages (`seq`), so a consumer can see what it lost.
 */
import { Observable, type SchedulerLike, type Subscriber } from 'rxjs';
import type { Clock, Millis } from '../../domain/clock.js';
import type { Random } from '../../domain/random.js';
import { parseExecutionMessage, type ExecutionMessageJSON } from '../execution-events.js';
import type { ExecutionEvent } from '../port.js';

/** `SimulatedExchangeOptions.stream`: the stream is on when given. Probabilities are per message, in [0, 1]. */
export interface SimulatedStreamOptions {
  /** Delivers messages and drives the market between calls (virtual time: a VirtualTimeline's scheduler). */
  readonly scheduler: SchedulerLike;
  /** Delivery delay of every message, ms (default 5). */
  readonly latencyMs?: number;
  readonly dropProbability?: number;
  readonly duplicateProbability?: number;
  /** A message is held back and delivered right after the next one. */
  readonly reorderProbability?: number;
  /** A message is delayed by up to `maxDelayMs` more (default 2 000): later messages may overtake it. */
  readonly delayProbability?: number;
  readonly maxDelayMs?: number;
  /** After a message the connection drops (`disconnected`), for `downMs` (default 3 000), then `connected` again. */
  readonly disconnectProbability?: number;
  readonly downMs?: number;
  /** After a message the connection goes silent for `silentMs` (default 10 000): connected, delivering nothing. */
  readonly silentProbability?: number;
  readonly silentMs?: number;
  /** How often the market is processed while someone listens, so trades go out when they happen (default: the tick). */
  readonly heartbeatMs?: number;
}

/** Stream options after validation. */
export interface ResolvedStreamOptions {
  readonly scheduler: SchedulerLike;
  readonly latencyMs: number;
  readonly dropProbability: number;
  readonly duplicateProbability: number;
  readonly reorderProbability: number;
  readonly delayProbability: number;
  readonly maxDelayMs: number;
  readonly disconnectProbability: number;
  readonly downMs: number;
  readonly silentProbability: number;
  readonly silentMs: number;
  readonly heartbeatMs: number | undefined;
}

type ProbabilityKey =
  | 'dropProbability'
  | 'duplicateProbability'
  | 'reorderProbability'
  | 'delayProbability'
  | 'disconnectProbability'
  | 'silentProbability';

/** Validates `stream` options, adding problems to `issues` (collected into the exchange's one ConfigError). */
export function resolveStreamOptions(
  raw: SimulatedStreamOptions | undefined,
  issues: { path: string; message: string }[],
): ResolvedStreamOptions | undefined {
  if (raw === undefined) return undefined;
  if (typeof raw !== 'object' || raw === null || typeof raw.scheduler?.schedule !== 'function') {
    issues.push({ path: 'stream.scheduler', message: 'must be an RxJS scheduler' });
    return undefined;
  }
  const prob = (k: ProbabilityKey): number => {
    const v = raw[k] ?? 0;
    if (typeof v !== 'number' || !(v >= 0 && v <= 1))
      issues.push({ path: `stream.${k}`, message: 'must be a number in [0, 1]' });
    return typeof v === 'number' ? v : 0;
  };
  const ms = (
    k: 'latencyMs' | 'maxDelayMs' | 'downMs' | 'silentMs' | 'heartbeatMs',
    dflt: number | undefined,
  ): number | undefined => {
    const v = raw[k];
    if (v === undefined) return dflt;
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < (k === 'heartbeatMs' ? 1 : 0) || v > 86_400_000)
      issues.push({ path: `stream.${k}`, message: 'must be an integer number of ms' });
    return v;
  };
  return {
    scheduler: raw.scheduler,
    latencyMs: ms('latencyMs', 5)!,
    dropProbability: prob('dropProbability'),
    duplicateProbability: prob('duplicateProbability'),
    reorderProbability: prob('reorderProbability'),
    delayProbability: prob('delayProbability'),
    maxDelayMs: ms('maxDelayMs', 2_000)!,
    disconnectProbability: prob('disconnectProbability'),
    downMs: ms('downMs', 3_000)!,
    silentProbability: prob('silentProbability'),
    silentMs: ms('silentMs', 10_000)!,
    heartbeatMs: ms('heartbeatMs', undefined),
  };
}

/** What a stream fault did, for the exchange's event history and tests. */
export type StreamFaultKind = 'drop' | 'duplicate' | 'reorder' | 'delay' | 'disconnect' | 'silent';

interface Connection {
  readonly subscriber: Subscriber<ExecutionEvent>;
  /** Bumped on each disconnect: deliveries scheduled before it are lost with the old connection. */
  epoch: number;
  seq: number;
  downUntil: Millis;
  silentUntil: Millis;
  held: ExecutionMessageJSON | undefined;
  closed: boolean;
}

/** The stream's fan-out; owned by a SimulatedExchange. */
export class SimulatedStream {
  private readonly connections = new Set<Connection>();
  private heartbeat: { unsubscribe(): void } | undefined;

  constructor(
    private readonly opts: ResolvedStreamOptions,
    private readonly rng: Random,
    private readonly clock: Clock,
    /** Processes the market up to now (SimulatedExchange.sync). */
    private readonly sync: () => void,
    private readonly tickMs: number,
    private readonly onFault: (kind: StreamFaultKind, seq: number) => void,
  ) {}

  /** A cold observable: each subscription is one connection. */
  events(): Observable<ExecutionEvent> {
    return new Observable<ExecutionEvent>((subscriber) => {
      const c: Connection = {
        subscriber,
        epoch: 0,
        seq: 0,
        downUntil: 0,
        silentUntil: 0,
        held: undefined,
        closed: false,
      };
      this.connections.add(c);
      this.startHeartbeat();
      this.later(c, this.opts.latencyMs, () => subscriber.next({ type: 'connected', at: this.clock.now() }));
      return () => {
        c.closed = true;
        this.connections.delete(c);
        if (this.connections.size === 0) this.stopHeartbeat();
      };
    });
  }

  /** Sends a message to every connection, through the faults. */
  publish(message: ExecutionMessageJSON): void {
    for (const c of this.connections) this.send(c, message);
  }

  /** Sends a raw (possibly malformed) message to every connection, with no fault and no sequence number. */
  publishRaw(raw: unknown): void {
    for (const c of this.connections)
      this.later(c, this.opts.latencyMs, () => c.subscriber.next(parseExecutionMessage(raw, this.clock.now())));
  }

  /** Drops every connection now; each comes back `connected` after `downMs`. */
  disconnect(downMs: number = this.opts.downMs): void {
    for (const c of this.connections) this.drop(c, downMs);
  }

  /** Every connection stays connected but delivers nothing for `ms`. */
  silence(ms: number = this.opts.silentMs): void {
    const until = this.clock.now() + ms;
    for (const c of this.connections) c.silentUntil = Math.max(c.silentUntil, until);
  }

  /** Open connections. */
  get size(): number {
    return this.connections.size;
  }

  private send(c: Connection, message: ExecutionMessageJSON): void {
    const now = this.clock.now();
    // A dropped connection loses what happens while it is down; its reconnect starts a new sequence.
    if (now < c.downUntil) return;
    const o = this.opts;
    const r = this.rng;
    const seq = ++c.seq;
    const msg = { ...message, seq };
    if (now < c.silentUntil) return this.onFault('silent', seq);
    if (r.chance(o.dropProbability)) return this.onFault('drop', seq);
    let delay = o.latencyMs;
    if (r.chance(o.delayProbability)) {
      delay += r.int(1, Math.max(1, o.maxDelayMs));
      this.onFault('delay', seq);
    }
    const held = c.held;
    if (held === undefined && r.chance(o.reorderProbability)) {
      c.held = msg;
      this.onFault('reorder', seq);
    } else {
      c.held = undefined;
      this.deliver(c, msg, delay);
      if (held !== undefined) this.deliver(c, held, delay);
    }
    if (r.chance(o.duplicateProbability)) {
      this.deliver(c, msg, delay);
      this.onFault('duplicate', seq);
    }
    if (r.chance(o.disconnectProbability)) {
      this.onFault('disconnect', seq);
      this.drop(c, o.downMs);
    } else if (r.chance(o.silentProbability)) {
      this.onFault('silent', seq);
      c.silentUntil = now + o.silentMs;
    }
  }

  private drop(c: Connection, downMs: number): void {
    const now = this.clock.now();
    c.epoch++;
    c.held = undefined;
    c.downUntil = now + downMs;
    c.subscriber.next({ type: 'disconnected', at: now, reason: 'simulated disconnect' });
    this.later(c, downMs, () => {
      c.seq = 0;
      c.subscriber.next({ type: 'connected', at: this.clock.now() });
    });
  }

  private deliver(c: Connection, msg: ExecutionMessageJSON, delay: number): void {
    this.later(c, delay, () => c.subscriber.next(parseExecutionMessage(msg, this.clock.now())));
  }

  /** Runs `fn` after `delay` unless the connection closed or dropped meanwhile. */
  private later(c: Connection, delay: number, fn: () => void): void {
    const epoch = c.epoch;
    this.opts.scheduler.schedule(() => {
      if (!c.closed && c.epoch === epoch) fn();
    }, delay);
  }

  private startHeartbeat(): void {
    if (this.heartbeat !== undefined) return;
    const every = this.opts.heartbeatMs ?? this.tickMs;
    const sync = this.sync;
    this.heartbeat = this.opts.scheduler.schedule(function (this: {
      schedule(state?: undefined, delay?: number): unknown;
    }) {
      sync();
      this.schedule(undefined, every);
    }, every);
  }

  private stopHeartbeat(): void {
    this.heartbeat?.unsubscribe();
    this.heartbeat = undefined;
  }
}
