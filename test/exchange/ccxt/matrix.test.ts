/**
 * Every ccxt exchange id, offline (construction only, no network): the adapter constructs for each id the matrix
 * (docs/exchanges.md) calls usable, with placeholder credentials for whatever ccxt's `requiredCredentials` name, and
 * refuses every other with an UnsupportedExchangeError naming what is missing.
 */
import ccxt, { type Exchange } from 'ccxt';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../../src/domain/errors.js';
import { CcxtExchange, UnsupportedExchangeError, assessCcxtExchange } from '../../../src/exchange/ccxt/index.js';
import { exchangeMatrix } from '../../../src/exchange/ccxt/matrix.js';
import { EXCHANGE_QUIRKS, quirksOf } from '../../../src/exchange/ccxt/quirks.js';

const CREDENTIALS = [
  'apiKey',
  'secret',
  'uid',
  'accountId',
  'login',
  'password',
  'twofa',
  'privateKey',
  'walletAddress',
  'token',
];
/** A placeholder for each credential (a hex string, so key-shaped checks at construction, if any, pass). */
const placeholders = Object.fromEntries(CREDENTIALS.map((k) => [k, `0x${'1'.repeat(64)}`]));

describe('the exchange matrix, over every ccxt id', () => {
  const rows = exchangeMatrix();

  it('covers every ccxt exchange id, and at least 60 are usable', () => {
    expect(rows.map((r) => r.id)).toEqual(ccxt.exchanges);
    expect(rows.filter((r) => r.usable).length).toBeGreaterThanOrEqual(60);
  });

  it('constructs for every usable id and kind, and refuses the rest naming the missing capabilities', () => {
    for (const r of rows) {
      for (const [kind, plan, symbol] of [
        ['spot', r.spot, 'BTC/USDT'],
        ['perpetuals', r.perp, 'BTC/USDT:USDT'],
      ] as const) {
        const make = () => new CcxtExchange({ id: r.id, credentials: placeholders, symbols: [symbol] });
        if (plan.usable) {
          expect(make, `${r.id} ${kind}`).not.toThrow();
        } else {
          let e: unknown;
          try {
            make();
          } catch (err) {
            e = err;
          }
          expect(e, `${r.id} ${kind}`).toBeInstanceOf(UnsupportedExchangeError);
          expect((e as UnsupportedExchangeError).missing).toEqual([`${kind}: ${plan.missing.join(', ')}`]);
        }
      }
    }
  });

  it('the assessment of one id is the matrix row; an unknown id has none', () => {
    expect(assessCcxtExchange('bybit')).toEqual(rows.find((r) => r.id === 'bybit'));
    expect(assessCcxtExchange('nosuch')).toBeUndefined();
  });
});

describe('construction per exchange', () => {
  it('keys are what ccxt requires: OKX needs its passphrase, Hyperliquid a wallet and no API key', () => {
    const e = (() => {
      try {
        new CcxtExchange({ id: 'okx', apiKey: 'k', secret: 's', symbols: ['BTC/USDT'] });
      } catch (err) {
        return err;
      }
      return undefined;
    })();
    expect(e).toBeInstanceOf(ConfigError);
    expect((e as ConfigError).issues.map((i) => i.path)).toEqual(['credentials.password']);
    expect(
      () =>
        new CcxtExchange({
          id: 'okx',
          apiKey: 'k',
          secret: 's',
          credentials: { password: 'p' },
          symbols: ['BTC/USDT', 'BTC/USDT:USDT'],
        }),
    ).not.toThrow();
    expect(
      () =>
        new CcxtExchange({
          id: 'hyperliquid',
          credentials: { walletAddress: placeholders.walletAddress!, privateKey: placeholders.privateKey! },
          symbols: ['BTC/USDC:USDC'],
        }),
    ).not.toThrow();
  });

  it('an exchange whose wallet layout is unknown trades spot or perpetuals, and both only when told', () => {
    const both = ['BTC/USDT', 'BTC/USDT:USDT'];
    expect(() => new CcxtExchange({ id: 'gate', apiKey: 'k', secret: 's', symbols: both })).toThrow(/accountKind/);
    expect(
      () => new CcxtExchange({ id: 'gate', apiKey: 'k', secret: 's', symbols: both, accountKind: 'separate' }),
    ).not.toThrow();
    expect(() => new CcxtExchange({ id: 'gate', apiKey: 'k', secret: 's', symbols: ['BTC/USDT:USDT'] })).not.toThrow();
  });

  it('only Binance gets market-family options (its words); a ready-made instance keeps its own options', () => {
    expect(quirksOf('binance').ccxtOptions?.(new Set(['perp']))).toEqual({
      fetchMarkets: { types: ['linear'] },
      fetchCurrencies: false,
    });
    expect(
      Object.keys(EXCHANGE_QUIRKS)
        .filter((id) => quirksOf(id).ccxtOptions !== undefined)
        .sort(),
    ).toEqual(['binance', 'binanceusdm']);
    const okx = new (ccxt as unknown as Record<string, new (c: object) => Exchange>).okx!({
      apiKey: 'k',
      secret: 's',
      password: 'p',
    });
    const before = JSON.stringify(okx.options);
    new CcxtExchange({ exchange: okx, symbols: ['BTC/USDT', 'BTC/USDT:USDT'] });
    expect(JSON.stringify(okx.options)).toBe(before);
  });
});
