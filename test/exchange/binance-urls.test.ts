import { describe, expect, it } from 'vitest';
import { binanceApiUrls } from '../../src/exchange/binance-urls.js';

describe('binanceApiUrls', () => {
  it('puts every API family under the base at its real path, trailing slashes dropped', () => {
    const urls = binanceApiUrls('http://127.0.0.1:8080//');
    expect(urls['public']).toBe('http://127.0.0.1:8080/api/v3');
    expect(urls['fapiPrivateV2']).toBe('http://127.0.0.1:8080/fapi/v2');
    for (const u of Object.values(urls)) expect(u).toMatch(/^http:\/\/127\.0\.0\.1:8080\/[a-z]/);
  });
});
