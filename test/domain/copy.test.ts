import { describe, expect, it } from 'vitest';
import { withFields } from '../../src/domain/copy.js';

describe('withFields', () => {
  it('is the spread copy: the same own properties in the same order, the base untouched', () => {
    const base = Object.freeze({ a: 1, b: 'x', c: undefined as number | undefined });
    const copy = withFields(base, { b: 'y', d: 4 });
    expect(copy).toEqual({ ...base, b: 'y', d: 4 });
    expect(Object.keys(copy)).toEqual(Object.keys({ ...base, b: 'y', d: 4 }));
    expect(copy).not.toBe(base);
    expect(base).toEqual({ a: 1, b: 'x', c: undefined });
  });
});
