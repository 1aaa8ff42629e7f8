import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compareStrings, definedOnly } from '../../src/domain/compare.js';
import { errorSummary, ParseError } from '../../src/domain/errors.js';

describe('compareStrings', () => {
  it('is the code-unit order of <, whatever the locale: "B" before "a", "a" before "b"', () => {
    expect(['b', 'a', 'B', 'ä', ''].sort(compareStrings)).toEqual(['', 'B', 'a', 'b', 'ä']);
  });

  it('is a total order that agrees with < and ===', () => {
    fc.assert(
      fc.property(fc.string(), fc.string(), (a, b) => {
        const c = compareStrings(a, b);
        expect(Math.sign(c)).toBe(a < b ? -1 : a === b ? 0 : 1);
        expect(Math.sign(compareStrings(b, a)) + Math.sign(c)).toBe(0);
      }),
    );
  });
});

describe('definedOnly', () => {
  it('drops exactly the undefined fields, so spreading it keeps the defaults', () => {
    fc.assert(
      fc.property(
        fc.dictionary(fc.string({ minLength: 1, maxLength: 4 }), fc.option(fc.integer(), { nil: undefined })),
        (o) => {
          const out = definedOnly(o);
          expect(Object.keys(out).sort(compareStrings)).toEqual(
            Object.keys(o)
              .filter((k) => o[k] !== undefined)
              .sort(compareStrings),
          );
          for (const [k, v] of Object.entries(out)) expect(v).toBe(o[k]);
        },
      ),
    );
    expect({ a: 1, b: 2, ...definedOnly<{ a?: number; b?: number }>({ a: undefined, b: 3 }) }).toEqual({ a: 1, b: 3 });
  });

  it('is empty for an absent object', () => {
    expect(definedOnly(undefined)).toEqual({});
  });
});

describe('errorSummary', () => {
  it('says the name and message of an Error, the string of anything else', () => {
    expect(errorSummary(new TypeError('boom'))).toBe('TypeError: boom');
    expect(errorSummary(new ParseError('invalid_type', 'x', 1, 'bad'))).toMatch(/^ParseError: /);
    expect(errorSummary('plain')).toBe('plain');
    expect(errorSummary(42)).toBe('42');
    expect(errorSummary(undefined)).toBe('undefined');
    expect(errorSummary({ code: -1021, msg: 'timestamp' })).toBe('{"code":-1021,"msg":"timestamp"}');
    const cyclic: Record<string, unknown> = {};
    cyclic['self'] = cyclic;
    expect(errorSummary(cyclic)).toBe('[object Object]');
  });
});
