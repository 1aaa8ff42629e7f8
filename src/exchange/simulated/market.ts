/**
 * The simulated price of one symbol: a seeded random walk in Decimal, or a price the caller holds or scripts.
 * Moves are integer basis points drawn from the PRNG, so no price ever passes through a JS float.
 */
import type { Decimal } from 'decimal.js';
import { Dec } from '../../domain/decimal.js';
import type { Random } from '../../domain/random.js';

/** How a symbol's price evolves at each tick. */
export type PriceMode = 'random' | 'held' | 'scripted';

export class PricePath {
  private price: Decimal;
  private mode: PriceMode = 'random';
  private readonly script: Decimal[] = [];
  private readonly minPrice: Decimal;

  constructor(
    initial: Decimal,
    private readonly rng: Random,
    private readonly volatilityBps: number,
    private readonly priceDecimals: number,
  ) {
    this.minPrice = new Dec(1).div(new Dec(10).pow(priceDecimals));
    this.price = this.round(initial);
  }

  current(): Decimal {
    return this.price;
  }

  currentMode(): PriceMode {
    return this.mode;
  }

  /** True when a tick would change nothing (and draw nothing): held, or a random walk with zero volatility. */
  isIdle(): boolean {
    return this.script.length === 0 && (this.mode !== 'random' || this.volatilityBps === 0);
  }

  /** One market tick: the next scripted price, or a random move of at most `volatilityBps`, or nothing (held). */
  tick(): void {
    const next = this.script.shift();
    if (next !== undefined) {
      this.price = next;
      // The last scripted price stays until the caller says otherwise.
      if (this.script.length === 0) this.mode = 'held';
      return;
    }
    if (this.mode !== 'random' || this.volatilityBps === 0) return;
    const bps = this.rng.int(-this.volatilityBps, this.volatilityBps);
    this.price = this.round(this.price.times(10_000 + bps).div(10_000));
  }

  /** Sets the price now and holds it there (no random walk) until `release()` or another script. */
  set(price: Decimal): void {
    this.script.length = 0;
    this.price = this.round(price);
    this.mode = 'held';
  }

  /** Queues prices, one per tick; the last one is then held. */
  scriptPrices(prices: readonly Decimal[]): void {
    this.script.length = 0;
    for (const p of prices) this.script.push(this.round(p));
    this.mode = this.script.length > 0 ? 'scripted' : 'held';
  }

  /** Returns to the seeded random walk from the current price. */
  release(): void {
    this.script.length = 0;
    this.mode = 'random';
  }

  private round(p: Decimal): Decimal {
    const r = p.toDecimalPlaces(this.priceDecimals, Dec.ROUND_HALF_EVEN);
    // A random walk must never reach zero: a zero price would make every notional and fee vanish.
    return r.lt(this.minPrice) ? this.minPrice : r;
  }
}
