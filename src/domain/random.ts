/**
 * A small seeded PRNG (sfc32 seeded through splitmix32). Everything random in the library (simulated markets,
 * injected faults, backoff jitter) draws from one of these, so any run reproduces from its seed.
 */

export interface Random {
  /** Uniform in [0, 1). */
  next(): number;
  /** Uniform integer in [min, max] (inclusive). */
  int(min: number, max: number): number;
  /** True with probability p. */
  chance(p: number): boolean;
  pick<T>(items: readonly T[]): T;
  /** An independent stream derived from this one, so adding draws in one component does not shift another. */
  fork(label: string): Random;
}

export function createRandom(seed: number | string): Random {
  const s = typeof seed === 'string' ? hashString(seed) : seed >>> 0;
  let state = s;
  const split = (): number => {
    state = (state + 0x9e3779b9) >>> 0;
    let z = state;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  };
  let a = split();
  let b = split();
  let c = split();
  let d = split();
  const nextU32 = (): number => {
    const t = (((a + b) >>> 0) + d) >>> 0;
    d = (d + 1) >>> 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) >>> 0;
    c = (c << 21) | (c >>> 11);
    c = (c + t) >>> 0;
    return t;
  };
  for (let i = 0; i < 12; i++) nextU32();
  const rng: Random = {
    next: () => nextU32() / 4294967296,
    int: (min, max) => {
      if (!Number.isInteger(min) || !Number.isInteger(max) || max < min)
        throw new RangeError(`Random.int: bad range [${min}, ${max}]`);
      return min + Math.floor(rng.next() * (max - min + 1));
    },
    chance: (p) => rng.next() < p,
    pick: (items) => {
      if (items.length === 0) throw new RangeError('Random.pick: empty list');
      return items[rng.int(0, items.length - 1)] as (typeof items)[number];
    },
    fork: (label) => createRandom((nextU32() ^ hashString(label)) >>> 0),
  };
  return rng;
}

function hashString(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}
