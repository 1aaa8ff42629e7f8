/**
 * `clientOrderIdProblem`: an id is accepted exactly when it is not blank, no longer than the rule's `maxLength`, and
 * every character matches the rule's `char`; a refusal names the length or the first character refused.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { clientOrderIdProblem, type ClientOrderIdRule } from '../../src/exchange/port.js';
import { EXCHANGE_QUIRKS } from '../../src/exchange/ccxt/quirks.js';

const ALPHABET = [...'azAZ09', '-', '_', '.', ':', '/', ' ', 'é', '#', '+'];
const rules = fc.record({
  maxLength: fc.integer({ min: 1, max: 40 }),
  allowed: fc.subarray(ALPHABET, { minLength: 1 }),
});
const toRule = (r: { maxLength: number; allowed: string[] }): ClientOrderIdRule => ({
  maxLength: r.maxLength,
  // One character out of the allowed list, as the venues' rules are written (punctuation escaped).
  char: new RegExp(`[${r.allowed.map((c) => (/[A-Za-z0-9 é]/.test(c) ? c : `\\${c}`)).join('')}]`),
  chars: r.allowed.join(' '),
});

describe('clientOrderIdProblem', () => {
  it('accepts an id of allowed characters up to maxLength, refuses a longer one, naming its length', () => {
    fc.assert(
      fc.property(rules, fc.integer({ min: 1, max: 60 }), fc.nat(), (r, length, pick) => {
        const rule = toRule(r);
        const id = Array.from({ length }, (_, i) => r.allowed[(pick + i) % r.allowed.length]).join('');
        const problem = clientOrderIdProblem(id, rule);
        if (id.trim() === '') expect(problem).toBe('is blank');
        else if (length <= r.maxLength) expect(problem).toBeUndefined();
        else expect(problem).toContain(`${length} characters long, more than the ${r.maxLength}`);
      }),
    );
  });

  it('refuses an id holding one character the rule does not allow, naming it', () => {
    fc.assert(
      fc.property(rules, fc.nat(), fc.nat(), (r, at, pick) => {
        const refused = ALPHABET.filter((c) => !r.allowed.includes(c));
        fc.pre(refused.length > 0);
        const rule = toRule(r);
        const bad = refused[pick % refused.length]!;
        const chars = Array.from({ length: r.maxLength }, (_, i) => r.allowed[i % r.allowed.length]!);
        chars[at % r.maxLength] = bad;
        const id = chars.join('');
        expect(clientOrderIdProblem(id, rule)).toBe(
          id.trim() === '' ? 'is blank' : `holds ${JSON.stringify(bad)}: the exchange accepts only ${rule.chars}`,
        );
      }),
    );
  });

  it('refuses a blank id under any rule, and without one; accepts anything else without one', () => {
    const blank = fc.string({ unit: fc.constantFrom(' ', '\t', '\n', '\u00a0'), minLength: 1 });
    fc.assert(
      fc.property(fc.option(rules, { nil: undefined }), blank, (r, spaces) => {
        const rule = r === undefined ? undefined : toRule(r);
        expect(clientOrderIdProblem('', rule)).toBe('is empty');
        expect(clientOrderIdProblem(spaces, rule)).toBe('is blank');
      }),
    );
    fc.assert(
      fc.property(
        fc.string({ minLength: 1 }).filter((id) => id.trim() !== ''),
        (id) => {
          expect(clientOrderIdProblem(id, undefined)).toBeUndefined();
        },
      ),
    );
  });

  it("the venues' rules as their documentation states them", () => {
    const rule = (id: string): ClientOrderIdRule => EXCHANGE_QUIRKS[id]!.clientOrderIdRule!;
    const ok = (id: string, venue: string): boolean => clientOrderIdProblem(id, rule(venue)) === undefined;
    for (const venue of ['binance', 'binanceusdm']) {
      expect(ok(`a.Z:/9_-${'x'.repeat(28)}`, venue)).toBe(true);
      expect(ok('x'.repeat(37), venue)).toBe(false);
      for (const c of [' ', '#', '+', 'é']) expect(ok(`a${c}b`, venue)).toBe(false);
    }
    expect(ok(`aZ9_-${'x'.repeat(31)}`, 'bybit')).toBe(true);
    expect(ok('x'.repeat(37), 'bybit')).toBe(false);
    for (const c of ['.', ':', '/', ' ']) expect(ok(`a${c}b`, 'bybit')).toBe(false);
    expect(ok(`aZ9${'x'.repeat(29)}`, 'okx')).toBe(true);
    expect(ok('x'.repeat(33), 'okx')).toBe(false);
    for (const c of ['-', '_', '.', ':', '/', ' ']) expect(ok(`a${c}b`, 'okx')).toBe(false);
  });
});
