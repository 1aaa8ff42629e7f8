/**
 * CcxtExchange's identity (which account a state directory is bound to): the ccxt id as the venue, and a
 * fingerprint of the API key that never reveals it, or the `accountId` the operator pins. No network: markets are
 * only loaded on first use.
 */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../../src/domain/errors.js';
import { CcxtExchange } from '../../../src/exchange/ccxt/index.js';
import { keyFingerprint } from '../../../src/exchange/ccxt/ccxt-exchange.js';

const KEY = 'vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A';

describe('CcxtExchange.identity', () => {
  it('venue is the ccxt id; account is key: + 16 hex of the key’s SHA-256, never the key', () => {
    const ex = new CcxtExchange({ id: 'binance', apiKey: KEY, secret: 's3cret', symbols: ['BTC/USDT'] });
    expect(ex.identity.venue).toBe('binance');
    expect(ex.identity.account).toBe(`key:${createHash('sha256').update(KEY).digest('hex').slice(0, 16)}`);
    expect(JSON.stringify(ex.identity)).not.toContain(KEY);
    expect(JSON.stringify(ex.identity)).not.toContain('s3cret');
  });

  it('two keys are two accounts', () => {
    const a = new CcxtExchange({ id: 'binance', apiKey: 'key-a', secret: 's', symbols: ['BTC/USDT'] });
    const b = new CcxtExchange({ id: 'binance', apiKey: 'key-b', secret: 's', symbols: ['BTC/USDT'] });
    expect(a.identity.account).not.toBe(b.identity.account);
  });

  it('a pinned accountId survives a key rotation; an empty one is a ConfigError', () => {
    const before = new CcxtExchange({
      id: 'binance',
      apiKey: 'old',
      secret: 's',
      symbols: ['BTC/USDT'],
      accountId: 'uid-42',
    });
    const after = new CcxtExchange({
      id: 'binance',
      apiKey: 'new',
      secret: 's',
      symbols: ['BTC/USDT'],
      accountId: 'uid-42',
    });
    expect(after.identity).toEqual(before.identity);
    expect(
      () => new CcxtExchange({ id: 'binance', apiKey: 'k', secret: 's', symbols: ['BTC/USDT'], accountId: ' ' }),
    ).toThrow(ConfigError);
  });

  it('keyFingerprint is undefined without a key', () => {
    expect(keyFingerprint(undefined)).toBeUndefined();
    expect(keyFingerprint('')).toBeUndefined();
  });
});
