/** `withOverrides`: replaced members are the given ones; every other member runs on the target, whose state stays one. */
import { describe, expect, it } from 'vitest';
import { withOverrides } from '../../src/exchange/with-overrides.js';

class Counter {
  n = 0;
  bump(): number {
    this.n++;
    return this.n;
  }
  name(): string {
    return 'counter';
  }
}

describe('withOverrides', () => {
  it('serves the replaced member and runs every other one on the target itself', () => {
    const c = new Counter();
    const w = withOverrides(c, { name: () => 'replaced' });
    expect(w.name()).toBe('replaced');
    expect(w.bump()).toBe(1);
    expect(c.bump()).toBe(2);
    expect(w.n).toBe(2);
    expect(Object.hasOwn(w, 'n')).toBe(true); // the target's own field, not a copy's
    // What Object.create would have done: the copy's writes shadow the target's state.
    const copy = Object.create(c) as Counter;
    copy.bump();
    expect(c.n).toBe(2);
  });
});
