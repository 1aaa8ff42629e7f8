/**
 * When a state directory's recorded exchange account contradicts the client's: another venue, or two known accounts
 * that differ. A missing side (an older state file, an adapter that cannot tell) never contradicts. And the
 * identity recorded for a client without one is its `id` as the venue.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ParseError } from '../../src/domain/errors.js';
import { identityConflict, identityOf, parseIdentity } from '../../src/engine/exchange-identity.js';
import type { ExchangeIdentity } from '../../src/exchange/port.js';

const name = fc.constantFrom('a', 'b', 'c');
const identity: fc.Arbitrary<ExchangeIdentity> = fc.record({
  venue: name,
  account: fc.option(name, { nil: undefined }),
});

describe('identityConflict', () => {
  it('contradicts exactly when the venues differ, or both accounts are known and differ', () => {
    fc.assert(
      fc.property(identity, identity, (s, a) => {
        const expected =
          s.venue !== a.venue || (s.account !== undefined && a.account !== undefined && s.account !== a.account);
        expect(identityConflict(s, a) !== undefined).toBe(expected);
      }),
    );
  });

  it('an identity never contradicts itself', () => {
    fc.assert(
      fc.property(identity, (i) => {
        expect(identityConflict(i, i)).toBeUndefined();
      }),
    );
  });
});

describe('identityOf / parseIdentity', () => {
  it('a client without identity is its id as the venue, account unknown', () => {
    expect(identityOf({ id: 'myvenue' })).toEqual({ venue: 'myvenue' });
    expect(identityOf({ id: 'x', identity: { venue: 'v', account: 'acc' } })).toEqual({ venue: 'v', account: 'acc' });
  });

  it('round-trips through JSON, and refuses a bad venue', () => {
    fc.assert(
      fc.property(identity, (i) => {
        const recorded = identityOf({ id: 'z', identity: i });
        expect(parseIdentity(JSON.parse(JSON.stringify(recorded)), 'x')).toEqual(recorded);
      }),
    );
    expect(() => parseIdentity({ venue: 3 }, 'snapshot.exchange')).toThrow(ParseError);
  });
});
