/**
 * Options of the SimulatedExchange: their public shape, their defaults, and their validation. Every problem in an
 * options object is collected into one `ConfigError`, and amounts are read as strings/Decimals (never JS numbers).
 */
import type { Decimal } from 'decimal.js';
import type { Clock, Millis } from '../../domain/clock.js';
import { Dec } from '../../domain/decimal.js';
import { ConfigError } from '../../domain/errors.js';
import type { Instrument } from '../../domain/types.js';
import { fromForeignDecimal, ownField } from '../../domain/parse.js';
import type { ClientOrderIdRule } from '../port.js';
import { resolveStreamOptions, type ResolvedStreamOptions, type SimulatedStreamOptions } from './stream.js';

/** Options of `new SimulatedExchange(...)`. Only `seed` and `clock` are required. */
export interface SimulatedExchangeOptions {
  /** Every random choice (price path, partial fills, funding rates, probabilistic faults) derives from this seed. */
  readonly seed: number | string;
  /** Time source. With an advanceable clock (e.g. `VirtualClock`), `step(ms)` and latency faults move it. */
  readonly clock: Clock;
  /** Name used in errors and `ExchangeClient.id`. Default `simulated`. */
  readonly id?: string;
  /**
   * The simulated account's fingerprint (`identity.account`), which a state directory is bound to. Default: the seed
   * and the clock's time at construction. A simulated world lives in memory, so a new object is a new account (its
   * order and trade ids start over) even with the same seed; give the same `accountId` only to continue one world.
   */
  readonly accountId?: string;
  /** Default: BTC/USDT and ETH/USDT spot, BTC/USDT:USDT linear perpetual. */
  readonly instruments?: readonly Instrument[];
  /** Starting balances (totals) by asset. Default `{ USDT: '100000', BTC: '2', ETH: '20' }`. */
  readonly balances?: Readonly<Record<string, Decimal | string>>;
  /** Starting price by symbol. Default by base asset: BTC 30000, ETH 2000, anything else 100. */
  readonly initialPrices?: Readonly<Record<string, Decimal | string>>;
  /** Fee rates as decimal fractions of notional. Default maker `0.0002`, taker `0.0005`. A negative maker rate is a rebate. */
  readonly feeRates?: { readonly maker: Decimal | string; readonly taker: Decimal | string };
  /**
   * Fees charged in a third asset, as Binance charges them in BNB when the account holds some and the discount is on:
   * each trade's fee, worked out in its settle asset, is divided by `prices[settle]` (the asset's price there) and
   * rounded to `amountDecimals`; it is taken from `asset` when that much of it is free, else from the settle asset as
   * usual (also when no price is given for the settle asset, or the fee is a rebate or rounds to zero). Off when not
   * given.
   */
  readonly feeAsset?: { readonly asset: string; readonly prices: Readonly<Record<string, Decimal | string>> };
  /** Funding period of perpetuals, aligned on multiples of it from the epoch (like 00:00/08:00/16:00 UTC). Default 8 h. */
  readonly fundingIntervalMs?: number;
  /** Market tick: prices move and resting orders match at each multiple of it. Default 1000 ms. */
  readonly tickMs?: number;
  /** Largest price move per tick, in basis points (the move is a seeded integer in [-v, v]). 0 = flat prices. Default 5. */
  readonly volatilityBps?: number;
  /** Chance that a crossing resting order fills only partly at a tick. 0 = always whole. Default 0.5. */
  readonly partialFillProbability?: number;
  /** Decimal places of prices (tick size 10^-n). Default 2. */
  readonly priceDecimals?: number;
  /** Decimal places of quantities, fees and funding amounts. Default 8. */
  readonly amountDecimals?: number;
  /** Largest absolute seeded funding rate per interval. Default `0.0001` (0.01 %). */
  readonly maxFundingRate?: Decimal | string;
  /** How far back stale reads may look; also how long the state history is kept. Default 600 000 ms. */
  readonly maxStaleMs?: number;
  /** `retryAfterMs` of injected rate-limit errors that do not set their own. Default 1000. */
  readonly defaultRetryAfterMs?: number;
  /**
   * How ids are numbered. `perSymbol` (default), as Binance does: order ids and trade ids are plain integers from 1
   * per symbol (spot and perpetual markets apart), funding payment ids plain integers from 1 too, so equal ids of
   * different symbols or kinds meet in every run. `accountWide`: one order sequence, trades `t-N`, funding `f-N`.
   */
  readonly ids?: IdScheme;
  /**
   * The private execution stream (`executionEvents()`), with its seeded faults; off when not given. See
   * `SimulatedStreamOptions`.
   */
  readonly stream?: SimulatedStreamOptions;
  /**
   * What the simulated venue accepts as a client order id, as a real venue's rule (`EXCHANGE_QUIRKS` holds Binance's,
   * Bybit's and OKX's): told to the engine as `clientOrderIdRule`, and an order under any other id is refused (kind
   * `invalid`). Default: none (any id that is not blank).
   */
  readonly clientOrderIdRule?: ClientOrderIdRule;
  /**
   * Whether every port call is recorded: in `callLog()` and as a `call` event of `history()`. Default true. False for
   * a long run that reads neither (a benchmark): both grow by every call, for as long as the exchange lives, and a
   * host that embeds it carries that growth in its heap. `lastCallFaults()` works either way.
   */
  readonly recordCalls?: boolean;
}

/** See `SimulatedExchangeOptions.ids`. */
export type IdScheme = 'perSymbol' | 'accountWide';

/** Options after validation, amounts as Decimal. */
export interface ResolvedOptions {
  readonly seed: number | string;
  readonly clock: Clock;
  readonly id: string;
  readonly accountId: string | undefined;
  readonly instruments: readonly Instrument[];
  readonly balances: ReadonlyMap<string, Decimal>;
  readonly initialPrices: ReadonlyMap<string, Decimal>;
  readonly makerRate: Decimal;
  readonly takerRate: Decimal;
  readonly feeAsset: { readonly asset: string; readonly prices: ReadonlyMap<string, Decimal> } | undefined;
  readonly fundingIntervalMs: Millis;
  readonly tickMs: Millis;
  readonly volatilityBps: number;
  readonly partialFillProbability: number;
  readonly priceDecimals: number;
  readonly amountDecimals: number;
  readonly maxFundingRate: Decimal;
  readonly maxStaleMs: Millis;
  readonly defaultRetryAfterMs: number;
  readonly ids: IdScheme;
  readonly stream: ResolvedStreamOptions | undefined;
  readonly recordCalls: boolean;
  readonly clientOrderIdRule: ClientOrderIdRule | undefined;
}

export const DEFAULT_INSTRUMENTS: readonly Instrument[] = [
  { symbol: 'BTC/USDT', kind: 'spot', base: 'BTC', quote: 'USDT', settle: 'USDT' },
  { symbol: 'ETH/USDT', kind: 'spot', base: 'ETH', quote: 'USDT', settle: 'USDT' },
  { symbol: 'BTC/USDT:USDT', kind: 'perp', base: 'BTC', quote: 'USDT', settle: 'USDT' },
];

export const DEFAULT_BALANCES: Readonly<Record<string, string>> = { USDT: '100000', BTC: '2', ETH: '20' };

const DEFAULT_PRICE_BY_BASE: Readonly<Record<string, string>> = { BTC: '30000', ETH: '2000' };

type Issue = { path: string; message: string };

/** Validates and completes the options; throws one `ConfigError` listing every problem. */
export function resolveOptions(raw: SimulatedExchangeOptions): ResolvedOptions {
  const issues: Issue[] = [];
  const o = (typeof raw === 'object' && raw !== null ? raw : {}) as Partial<SimulatedExchangeOptions>;
  if (typeof raw !== 'object' || raw === null) issues.push({ path: 'options', message: 'must be an object' });

  const seed = o.seed;
  if (!((typeof seed === 'number' && Number.isFinite(seed)) || (typeof seed === 'string' && seed !== ''))) {
    issues.push({ path: 'seed', message: 'must be a finite number or a non-empty string' });
  }
  const clock = o.clock;
  if (typeof clock !== 'object' || clock === null || typeof clock.now !== 'function')
    issues.push({ path: 'clock', message: 'must have a now() method' });
  const id = o.id ?? 'simulated';
  if (typeof id !== 'string' || id.trim() === '') issues.push({ path: 'id', message: 'must be a non-empty string' });
  const accountId = o.accountId;
  if (accountId !== undefined && (typeof accountId !== 'string' || accountId.trim() === ''))
    issues.push({ path: 'accountId', message: 'must be a non-empty string' });

  const instruments = resolveInstruments(o.instruments, issues);
  const symbols = new Set(instruments.map((i) => i.symbol));

  const balances = new Map<string, Decimal>();
  const rawBalances = o.balances ?? DEFAULT_BALANCES;
  if (typeof rawBalances !== 'object' || rawBalances === null)
    issues.push({ path: 'balances', message: 'must be an object of asset → amount' });
  else {
    for (const asset of Object.keys(rawBalances).sort()) {
      const amount = readAmount(rawBalances[asset], `balances.${asset}`, issues, 'nonNegative');
      if (asset.trim() === '') issues.push({ path: 'balances', message: 'asset names must not be empty' });
      else if (amount !== undefined) balances.set(asset, amount);
    }
  }

  const initialPrices = new Map<string, Decimal>();
  const rawPrices = o.initialPrices ?? {};
  if (typeof rawPrices !== 'object' || rawPrices === null)
    issues.push({ path: 'initialPrices', message: 'must be an object of symbol → price' });
  else {
    for (const symbol of Object.keys(rawPrices)) {
      if (!symbols.has(symbol)) issues.push({ path: `initialPrices.${symbol}`, message: 'unknown symbol' });
      const p = readAmount(rawPrices[symbol], `initialPrices.${symbol}`, issues, 'positive');
      if (p !== undefined) initialPrices.set(symbol, p);
    }
  }
  for (const inst of instruments) {
    if (!initialPrices.has(inst.symbol))
      initialPrices.set(
        inst.symbol,
        new Dec((ownField(DEFAULT_PRICE_BY_BASE, inst.base) as string | undefined) ?? '100'),
      );
  }

  const fee = o.feeRates ?? { maker: '0.0002', taker: '0.0005' };
  const makerRate = readAmount(fee.maker, 'feeRates.maker', issues, 'any');
  const takerRate = readAmount(fee.taker, 'feeRates.taker', issues, 'nonNegative');
  if (makerRate !== undefined && makerRate.abs().gte(1))
    issues.push({ path: 'feeRates.maker', message: 'must be a fraction, |rate| < 1' });
  if (takerRate !== undefined && takerRate.gte(1))
    issues.push({ path: 'feeRates.taker', message: 'must be a fraction < 1' });

  const feeAsset = resolveFeeAsset(o.feeAsset, issues);

  const tickMs = readInt(o.tickMs, 'tickMs', 1000, 1, 86_400_000, issues);
  const fundingIntervalMs = readInt(
    o.fundingIntervalMs,
    'fundingIntervalMs',
    8 * 3_600_000,
    1,
    366 * 86_400_000,
    issues,
  );
  const volatilityBps = readInt(o.volatilityBps, 'volatilityBps', 5, 0, 1000, issues);
  const priceDecimals = readInt(o.priceDecimals, 'priceDecimals', 2, 0, 18, issues);
  const amountDecimals = readInt(o.amountDecimals, 'amountDecimals', 8, 0, 18, issues);
  const maxStaleMs = readInt(o.maxStaleMs, 'maxStaleMs', 600_000, 0, 86_400_000, issues);
  const defaultRetryAfterMs = readInt(o.defaultRetryAfterMs, 'defaultRetryAfterMs', 1000, 0, 86_400_000, issues);
  const partialFillProbability = o.partialFillProbability ?? 0.5;
  if (typeof partialFillProbability !== 'number' || !(partialFillProbability >= 0 && partialFillProbability <= 1)) {
    issues.push({ path: 'partialFillProbability', message: 'must be a number in [0, 1]' });
  }
  const maxFundingRate = readAmount(o.maxFundingRate ?? '0.0001', 'maxFundingRate', issues, 'nonNegative');
  const ids = o.ids ?? 'perSymbol';
  if (ids !== 'perSymbol' && ids !== 'accountWide')
    issues.push({ path: 'ids', message: "must be 'perSymbol' or 'accountWide'" });
  const stream = resolveStreamOptions(o.stream, issues);
  const recordCalls = o.recordCalls ?? true;
  if (typeof recordCalls !== 'boolean') issues.push({ path: 'recordCalls', message: 'must be a boolean' });

  const clientOrderIdRule = o.clientOrderIdRule;
  if (
    clientOrderIdRule !== undefined &&
    (typeof clientOrderIdRule !== 'object' ||
      clientOrderIdRule === null ||
      !Number.isSafeInteger(clientOrderIdRule.maxLength) ||
      clientOrderIdRule.maxLength < 1 ||
      !(clientOrderIdRule.char instanceof RegExp) ||
      clientOrderIdRule.char.global ||
      clientOrderIdRule.char.sticky ||
      typeof clientOrderIdRule.chars !== 'string')
  )
    issues.push({
      path: 'clientOrderIdRule',
      message: 'must be { maxLength: an integer >= 1, char: a RegExp without the g or y flag, chars: a string }',
    });

  if (issues.length > 0) throw new ConfigError(issues);
  return {
    seed: seed as number | string,
    clock: clock as Clock,
    id,
    accountId,
    instruments,
    balances,
    initialPrices,
    makerRate: makerRate as Decimal,
    takerRate: takerRate as Decimal,
    feeAsset,
    fundingIntervalMs,
    tickMs,
    volatilityBps,
    partialFillProbability,
    priceDecimals,
    amountDecimals,
    maxFundingRate: maxFundingRate as Decimal,
    maxStaleMs,
    defaultRetryAfterMs,
    ids,
    stream,
    recordCalls,
    clientOrderIdRule,
  };
}

function resolveFeeAsset(raw: SimulatedExchangeOptions['feeAsset'], issues: Issue[]): ResolvedOptions['feeAsset'] {
  if (raw === undefined) return undefined;
  if (typeof raw !== 'object' || raw === null) {
    issues.push({ path: 'feeAsset', message: 'must be an object { asset, prices }' });
    return undefined;
  }
  const asset = raw.asset;
  if (typeof asset !== 'string' || asset.trim() === '')
    issues.push({ path: 'feeAsset.asset', message: 'must be a non-empty string' });
  const prices = new Map<string, Decimal>();
  if (typeof raw.prices !== 'object' || raw.prices === null)
    issues.push({ path: 'feeAsset.prices', message: 'must be an object of settle asset → price' });
  else
    for (const settle of Object.keys(raw.prices).sort()) {
      const p = readAmount(raw.prices[settle], `feeAsset.prices.${settle}`, issues, 'positive');
      if (p !== undefined) prices.set(settle, p);
    }
  return { asset, prices };
}

function resolveInstruments(raw: readonly Instrument[] | undefined, issues: Issue[]): Instrument[] {
  if (raw === undefined) return DEFAULT_INSTRUMENTS.map((i) => ({ ...i }));
  if (!Array.isArray(raw) || raw.length === 0) {
    issues.push({ path: 'instruments', message: 'must be a non-empty array' });
    return [];
  }
  const out: Instrument[] = [];
  const seen = new Set<string>();
  raw.forEach((inst: Instrument, i) => {
    const path = `instruments[${i}]`;
    if (typeof inst !== 'object' || inst === null) {
      issues.push({ path, message: 'must be an object' });
      return;
    }
    const fields = ['symbol', 'base', 'quote', 'settle'] as const;
    const bad = fields.filter((f) => typeof inst[f] !== 'string' || inst[f].trim() === '');
    for (const f of bad) issues.push({ path: `${path}.${f}`, message: 'must be a non-empty string' });
    if (inst.kind !== 'spot' && inst.kind !== 'perp')
      issues.push({ path: `${path}.kind`, message: "must be 'spot' or 'perp'" });
    if (bad.length > 0) return;
    // Only linear instruments are simulated: PnL, fees and funding all settle in the quote asset.
    if (inst.settle !== inst.quote)
      issues.push({ path: `${path}.settle`, message: 'must equal quote (only linear instruments are simulated)' });
    if (inst.base === inst.quote) issues.push({ path: `${path}.base`, message: 'must differ from quote' });
    if (seen.has(inst.symbol)) issues.push({ path: `${path}.symbol`, message: `duplicate symbol ${inst.symbol}` });
    seen.add(inst.symbol);
    out.push({ symbol: inst.symbol, kind: inst.kind, base: inst.base, quote: inst.quote, settle: inst.settle });
  });
  return out;
}

function readAmount(
  raw: unknown,
  path: string,
  issues: Issue[],
  rule: 'any' | 'nonNegative' | 'positive',
): Decimal | undefined {
  let d: Decimal;
  const foreign = fromForeignDecimal(raw);
  if (raw instanceof Dec)
    d = new Dec(raw); // a real instance only: isDecimal trusts any object with its toStringTag
  // Another decimal.js copy's (a CommonJS test's own require('decimal.js')), read through its text.
  else if (foreign !== undefined) d = foreign;
  else if (typeof raw === 'string' && /^[+-]?(\d+\.?\d*|\.\d+)$/.test(raw.trim())) d = new Dec(raw.trim());
  else {
    issues.push({
      path,
      message:
        typeof raw === 'number'
          ? 'amounts must be decimal strings or Decimals, never JS numbers'
          : 'must be a decimal string',
    });
    return undefined;
  }
  if (!d.isFinite()) issues.push({ path, message: 'must be finite' });
  else if (rule === 'nonNegative' && d.isNegative() && !d.isZero())
    issues.push({ path, message: 'must not be negative' });
  else if (rule === 'positive' && !d.gt(0)) issues.push({ path, message: 'must be greater than zero' });
  else return d.isZero() ? new Dec(0) : d;
  return undefined;
}

function readInt(raw: unknown, path: string, dflt: number, min: number, max: number, issues: Issue[]): number {
  if (raw === undefined) return dflt;
  if (typeof raw !== 'number' || !Number.isSafeInteger(raw) || raw < min || raw > max) {
    issues.push({ path, message: `must be an integer in [${min}, ${max}]` });
    return dflt;
  }
  return raw;
}
