/**
 * Fault injection for the SimulatedExchange: which port calls fail, how, and how often. A fault fires a fixed
 * number of times or with a probability drawn from the seeded PRNG, so a faulty run still reproduces exactly.
 *
 * Kinds: the four retryable errors (`network`, `timeout`, `rateLimit`, `unavailable`) fail the call before it acts;
 * `lostResponse` lets a mutating call take effect and then fails it (the origin of ghosts and zombies); `stale`
 * answers a read from the state as of `staleMs` earlier; `latency` advances the virtual clock during the call.
 * Three more are what real venues do to one item of an answer: `omitOpenOrder` (an open-order read lacks one open
 * order), `notFound` (a targeted order query answers "not found" for an order that exists: read-after-write lag),
 * and `lagTrades` (one order's trades stay out of every trade read for `lagMs`, while later trades of the symbol show).
 */
import { ConfigError, type RetryableExchangeErrorKind } from '../../domain/errors.js';
import type { Random } from '../../domain/random.js';
import { MUTATING_EXCHANGE_METHODS, type ExchangeClient } from '../port.js';

/** The methods of the port (everything but `id`). */
export type ExchangeMethod = Exclude<keyof ExchangeClient, 'id'>;

export const EXCHANGE_METHODS: readonly ExchangeMethod[] = [
  'fetchInstruments',
  'fetchOpenOrders',
  'fetchOrder',
  'fetchOrdersSince',
  'fetchTradesSince',
  'fetchOrderTrades',
  'fetchFundingSince',
  'fetchPositions',
  'fetchBalances',
  'fetchTickers',
  'cancelOrder',
  'placeOrder',
];

export type FaultKind =
  RetryableExchangeErrorKind | 'lostResponse' | 'stale' | 'latency' | 'omitOpenOrder' | 'notFound' | 'lagTrades';
export const FAULT_KINDS: readonly FaultKind[] = [
  'network',
  'timeout',
  'rateLimit',
  'unavailable',
  'lostResponse',
  'stale',
  'latency',
  'omitOpenOrder',
  'notFound',
  'lagTrades',
];

/** The one method each item fault applies to. */
const ITEM_FAULT_METHOD: Partial<Record<FaultKind, ExchangeMethod>> = {
  omitOpenOrder: 'fetchOpenOrders',
  notFound: 'fetchOrder',
  lagTrades: 'fetchTradesSince',
};

/**
 * One injected fault. `method: '*'` matches every call the kind makes sense for (`lostResponse`: mutating calls
 * only; `stale`: reads only). Give `times` (default 1) or `probability`, not both.
 */
export interface FaultSpec {
  readonly method: ExchangeMethod | '*';
  readonly kind: FaultKind;
  /** Fires on the next `times` matching calls, then is removed. */
  readonly times?: number;
  /** Fires on each matching call with this probability (seeded), forever until cleared. */
  readonly probability?: number;
  /** For `stale`: how old the answer is. */
  readonly staleMs?: number;
  /** For `latency` (required) or any other kind (optional): virtual time the call takes. */
  readonly latencyMs?: number;
  /** For `rateLimit`: the suggested wait carried by the error. */
  readonly retryAfterMs?: number;
  /** For `lostResponse`: the error the caller sees. Default `timeout`. */
  readonly lostAs?: 'network' | 'timeout';
  /** For `lagTrades`: how long the chosen order's trades stay out of trade reads. Default 5000. */
  readonly lagMs?: number;
  /** For `lagTrades`: only reads of these symbols start a lag (default: any). */
  readonly symbols?: readonly string[];
}

/** A fault currently armed. */
export interface ActiveFault {
  readonly id: string;
  readonly spec: FaultSpec;
  /** Calls it will still fire on (`undefined` for probabilistic faults). */
  readonly remaining: number | undefined;
}

/** What happens to one call, decided before it runs. */
export interface FaultPlan {
  /** Fail before acting. */
  readonly error?:
    { readonly kind: RetryableExchangeErrorKind; readonly retryAfterMs?: number | undefined } | undefined;
  /** Act, then fail with this kind. */
  readonly lostAs?: 'network' | 'timeout' | undefined;
  readonly staleMs?: number | undefined;
  readonly latencyMs: number;
  /** `omitOpenOrder` / `notFound` fired. */
  readonly omitOpenOrder?: boolean | undefined;
  readonly notFound?: boolean | undefined;
  /** `lagTrades` fired: hide one order's trades for this long (on a read of one of `lagSymbols`, when given). */
  readonly lagMs?: number | undefined;
  readonly lagSymbols?: readonly string[] | undefined;
  /** A seeded draw in [0, 1) for the item faults' choice of item. */
  readonly pick: number;
  /** Kinds that fired, in injection order: the call log records them. */
  readonly fired: readonly FaultKind[];
}

interface Armed {
  readonly id: string;
  readonly spec: FaultSpec;
  remaining: number | undefined;
}

const MUTATING: ReadonlySet<string> = new Set(MUTATING_EXCHANGE_METHODS);
const ERROR_KINDS: ReadonlySet<FaultKind> = new Set<FaultKind>(['network', 'timeout', 'rateLimit', 'unavailable']);

export function isMutatingMethod(m: ExchangeMethod): boolean {
  return MUTATING.has(m);
}

export class FaultInjector {
  private armed: Armed[] = [];
  private nextId = 1;

  constructor(
    private readonly rng: Random,
    private readonly maxStaleMs: number,
    private readonly defaultRetryAfterMs: number,
  ) {}

  /** Arms a fault; returns its id (for `clear`). Throws `ConfigError` for a spec that cannot work. */
  add(spec: FaultSpec): string {
    const s = this.validate(spec);
    const id = `fault-${this.nextId++}`;
    this.armed.push({ id, spec: s, remaining: s.probability === undefined ? (s.times ?? 1) : undefined });
    return id;
  }

  /** Removes one fault by id, or all of them. */
  clear(id?: string): void {
    this.armed = id === undefined ? [] : this.armed.filter((a) => a.id !== id);
  }

  active(): ActiveFault[] {
    return this.armed.map((a) => ({ id: a.id, spec: { ...a.spec }, remaining: a.remaining }));
  }

  /** Decides (and consumes) the faults of one call to `method`. At most one error-like fault fires per call. */
  plan(method: ExchangeMethod): FaultPlan {
    const mutating = isMutatingMethod(method);
    let error: FaultPlan['error'];
    let lostAs: FaultPlan['lostAs'];
    let staleMs: number | undefined;
    let latencyMs = 0;
    let omitOpenOrder: boolean | undefined;
    let notFound: boolean | undefined;
    let lagMs: number | undefined;
    let lagSymbols: readonly string[] | undefined;
    const fired: FaultKind[] = [];
    for (const a of this.armed) {
      const { spec } = a;
      if (spec.method !== '*' && spec.method !== method) continue;
      const only = ITEM_FAULT_METHOD[spec.kind];
      if (only !== undefined && only !== method) continue;
      if (spec.kind === 'lostResponse' && !mutating) continue;
      if (spec.kind === 'stale' && (mutating || method === 'fetchInstruments')) continue;
      // A second failure for the same call would be unobservable, so it waits (unconsumed) for a later call.
      const failing = ERROR_KINDS.has(spec.kind) || spec.kind === 'lostResponse';
      if (failing && (error !== undefined || lostAs !== undefined)) continue;
      if (spec.kind === 'stale' && staleMs !== undefined) continue;
      if (a.remaining !== undefined) {
        if (a.remaining <= 0) continue;
        a.remaining -= 1;
      } else if (!this.rng.chance(spec.probability ?? 0)) continue;
      fired.push(spec.kind);
      latencyMs += spec.latencyMs ?? 0;
      if (spec.kind === 'lostResponse') lostAs = spec.lostAs ?? 'timeout';
      else if (spec.kind === 'stale') staleMs = spec.staleMs;
      else if (spec.kind === 'omitOpenOrder') omitOpenOrder = true;
      else if (spec.kind === 'notFound') notFound = true;
      else if (spec.kind === 'lagTrades') {
        lagMs = spec.lagMs ?? 5_000;
        lagSymbols = spec.symbols;
      } else if (spec.kind !== 'latency') {
        error = {
          kind: spec.kind,
          retryAfterMs: spec.kind === 'rateLimit' ? (spec.retryAfterMs ?? this.defaultRetryAfterMs) : undefined,
        };
      }
    }
    this.armed = this.armed.filter((a) => a.remaining === undefined || a.remaining > 0);
    // Drawn only when an item fault fired, so arming none leaves every other seeded draw where it was.
    const pick = omitOpenOrder === true || notFound === true || lagMs !== undefined ? this.rng.next() : 0;
    return { error, lostAs, staleMs, latencyMs, omitOpenOrder, notFound, lagMs, lagSymbols, pick, fired };
  }

  private validate(spec: FaultSpec): FaultSpec {
    const issues: { path: string; message: string }[] = [];
    if (typeof spec !== 'object' || spec === null)
      throw new ConfigError([{ path: 'fault', message: 'must be an object' }]);
    const { method, kind } = spec;
    if (method !== '*' && !EXCHANGE_METHODS.includes(method))
      issues.push({ path: 'fault.method', message: `must be '*' or one of ${EXCHANGE_METHODS.join(', ')}` });
    if (!FAULT_KINDS.includes(kind))
      issues.push({ path: 'fault.kind', message: `must be one of ${FAULT_KINDS.join(', ')}` });
    if (spec.times !== undefined && spec.probability !== undefined)
      issues.push({ path: 'fault', message: 'give times or probability, not both' });
    if (spec.times !== undefined && (!Number.isSafeInteger(spec.times) || spec.times < 1))
      issues.push({ path: 'fault.times', message: 'must be an integer >= 1' });
    if (
      spec.probability !== undefined &&
      !(typeof spec.probability === 'number' && spec.probability > 0 && spec.probability <= 1)
    ) {
      issues.push({ path: 'fault.probability', message: 'must be a number in (0, 1]' });
    }
    if (spec.latencyMs !== undefined && (!Number.isSafeInteger(spec.latencyMs) || spec.latencyMs < 0))
      issues.push({ path: 'fault.latencyMs', message: 'must be an integer >= 0' });
    if (kind === 'latency' && spec.latencyMs === undefined)
      issues.push({ path: 'fault.latencyMs', message: 'is required for a latency fault' });
    if (kind === 'stale') {
      if (
        spec.staleMs === undefined ||
        !Number.isSafeInteger(spec.staleMs) ||
        spec.staleMs <= 0 ||
        spec.staleMs > this.maxStaleMs
      ) {
        issues.push({ path: 'fault.staleMs', message: `must be an integer in [1, maxStaleMs=${this.maxStaleMs}]` });
      }
      if (
        method !== '*' &&
        EXCHANGE_METHODS.includes(method) &&
        (isMutatingMethod(method) || method === 'fetchInstruments')
      ) {
        issues.push({ path: 'fault.method', message: 'stale reads apply to read methods only' });
      }
    } else if (spec.staleMs !== undefined) issues.push({ path: 'fault.staleMs', message: 'only for kind stale' });
    if (kind === 'lostResponse' && method !== '*' && EXCHANGE_METHODS.includes(method) && !isMutatingMethod(method)) {
      issues.push({
        path: 'fault.method',
        message: 'a lost response applies to mutating methods only (placeOrder, cancelOrder)',
      });
    }
    if (
      spec.lostAs !== undefined &&
      (kind !== 'lostResponse' || (spec.lostAs !== 'network' && spec.lostAs !== 'timeout'))
    ) {
      issues.push({ path: 'fault.lostAs', message: "only for kind lostResponse, and 'network' or 'timeout'" });
    }
    const only = ITEM_FAULT_METHOD[kind];
    if (only !== undefined && method !== '*' && method !== only)
      issues.push({ path: 'fault.method', message: `a ${kind} fault applies to ${only} only` });
    if (spec.lagMs !== undefined && (kind !== 'lagTrades' || !Number.isSafeInteger(spec.lagMs) || spec.lagMs < 1)) {
      issues.push({ path: 'fault.lagMs', message: 'only for kind lagTrades, an integer >= 1' });
    }
    if (
      spec.retryAfterMs !== undefined &&
      (kind !== 'rateLimit' || !Number.isSafeInteger(spec.retryAfterMs) || spec.retryAfterMs < 0)
    ) {
      issues.push({ path: 'fault.retryAfterMs', message: 'only for kind rateLimit, an integer >= 0' });
    }
    if (issues.length > 0) throw new ConfigError(issues);
    return { ...spec };
  }
}
