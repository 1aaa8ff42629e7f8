import { describe, expect, it } from 'vitest';
import { Dec, amountToString, sumAmounts } from '../../src/domain/decimal.js';

describe('decimal', () => {
  it('10,000 fills of 0.0001 sum to exactly 1', () => {
    const xs = Array.from({ length: 10_000 }, () => new Dec('0.0001'));
    expect(sumAmounts(xs).eq(1)).toBe(true);
  });
  it('serializes tiny and huge amounts in plain notation', () => {
    expect(amountToString(new Dec('0.000000000000000001'))).toBe('0.000000000000000001');
    expect(amountToString(new Dec('123456789012345678901234567890'))).toBe('123456789012345678901234567890');
  });
});
