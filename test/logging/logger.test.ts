/**
 * Tests of the pino logger: redaction of secret keys at any depth (objects, arrays, Error causes, child bindings,
 * messages), scrubbing of literal secret values, component child loggers, and the memory logger itself.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { ExchangeError } from '../../src/domain/errors.js';
import { Dec } from '../../src/domain/decimal.js';
import { createMemoryLogger } from '../../src/logging/logger.js';
import { REDACTED, createRedactor, isSecretKey } from '../../src/logging/redact.js';
import { componentLogger, silentLogger } from '../../src/logging/types.js';

const API_KEY = 'AKIA-test-api-key-7d1f0c2e';
const SECRET = 's3cr3t-value-b94f1d08aa';

describe('isSecretKey', () => {
  it('recognizes credential-like keys in any casing or separator style', () => {
    for (const k of [
      'apiKey',
      'api_key',
      'API-KEY',
      'X-MBX-APIKEY',
      'secret',
      'apiSecret',
      'password',
      'passphrase',
      'privateKey',
      'private_key',
      'token',
      'accessToken',
      'Authorization',
      'signature',
      'OK-ACCESS-SIGN',
      'cookie',
      'twofa',
    ]) {
      expect(isSecretKey(k), k).toBe(true);
    }
  });
  it('leaves ordinary keys alone', () => {
    for (const k of [
      'symbol',
      'quantity',
      'price',
      'clientOrderId',
      'reason',
      'component',
      'kind',
      'message',
      'seed',
    ]) {
      expect(isSecretKey(k), k).toBe(false);
    }
  });
});

describe('createLogger redaction', () => {
  it('censors secret keys at every depth, inside arrays and maps', () => {
    const { logger, lines, raw } = createMemoryLogger();
    logger.info(
      {
        apiKey: API_KEY,
        exchange: {
          config: { credentials2: { nested: { deeper: { deepest: { secret: SECRET, keep: 'visible' } } } } },
          accounts: [{ id: 'a1', password: 'hunter2-hunter2' }, [{ token: 'tok-123456' }]],
          headers: new Map([['X-MBX-APIKEY', API_KEY]]),
        },
      },
      'connected',
    );
    expect(raw.join('\n')).not.toContain(API_KEY);
    expect(raw.join('\n')).not.toContain(SECRET);
    expect(raw.join('\n')).not.toContain('hunter2');
    expect(raw.join('\n')).not.toContain('tok-123456');
    const line = lines[0] as any;
    expect(line.apiKey).toBe(REDACTED);
    expect(line.exchange.config.credentials2.nested.deeper.deepest).toEqual({ secret: REDACTED, keep: 'visible' });
    expect(line.exchange.accounts[0]).toEqual({ id: 'a1', password: REDACTED });
    expect(line.exchange.accounts[1][0]).toEqual({ token: REDACTED });
    expect(line.exchange.headers['X-MBX-APIKEY']).toBe(REDACTED);
    expect(line.msg).toBe('connected');
  });

  it('redacts inside Error causes (err key and Error as the only argument)', () => {
    const { logger, lines, raw } = createMemoryLogger();
    const root = Object.assign(new Error('socket hang up'), {
      request: { headers: { Authorization: `Bearer ${API_KEY}` } },
    });
    const err = new ExchangeError('network', 'fetchOpenOrders failed', {
      cause: root,
      exchange: 'binance',
      operation: 'fetchOpenOrders',
    });
    logger.error({ err }, 'cycle failed');
    logger.error(new Error('outer', { cause: { config: { secret: SECRET } } }));
    expect(raw.join('\n')).not.toContain(API_KEY);
    expect(raw.join('\n')).not.toContain(SECRET);
    const first = lines[0] as any;
    expect(first.err.type).toBe('ExchangeError');
    expect(first.err.kind).toBe('network');
    expect(first.err.message).toBe('fetchOpenOrders failed');
    expect(first.err.cause.message).toBe('socket hang up');
    expect(first.err.cause.request.headers.Authorization).toBe(REDACTED);
    const second = lines[1] as any;
    expect(second.msg).toBe('outer');
    expect(second.err.cause.config.secret).toBe(REDACTED);
  });

  it('scrubs configured secret values from messages, error messages and any string', () => {
    const { logger, raw, lines } = createMemoryLogger({ secretValues: [API_KEY, SECRET] });
    logger.warn(
      { url: `https://api.example.com/v3/order?apiKey=${API_KEY}&x=1`, note: [`sig ${SECRET}`] },
      `retrying with key ${API_KEY}`,
    );
    logger.error({ err: new Error(`401 for key ${API_KEY}`) });
    expect(raw.join('\n')).not.toContain(API_KEY);
    expect(raw.join('\n')).not.toContain(SECRET);
    expect((lines[0] as any).msg).toBe(`retrying with key ${REDACTED}`);
    expect((lines[0] as any).url).toBe(`https://api.example.com/v3/order?apiKey=${REDACTED}&x=1`);
  });

  it('redacts child bindings and keeps the component on every line', () => {
    const { logger, lines, raw } = createMemoryLogger();
    const child = componentLogger(logger, 'runtime-handler').child({ exchangeConfig: { secret: SECRET } });
    child.info({ cycle: 3 }, 'cycle done');
    expect(raw.join('\n')).not.toContain(SECRET);
    expect(lines[0]).toMatchObject({
      component: 'runtime-handler',
      exchangeConfig: { secret: REDACTED },
      cycle: 3,
      msg: 'cycle done',
    });
  });

  it('writes Decimals as exact strings and survives cycles', () => {
    const { logger, lines } = createMemoryLogger();
    const loop: Record<string, unknown> = { name: 'loop' };
    loop['self'] = loop;
    logger.info({ qty: new Dec('0.10000000000000000001'), loop });
    expect(lines[0]).toMatchObject({ qty: '0.10000000000000000001', loop: { name: 'loop', self: '[Circular]' } });
  });

  it('respects the level and the injected time source', () => {
    const { logger, lines } = createMemoryLogger({ level: 'warn', now: () => 1234 });
    logger.info('dropped');
    logger.warn('kept');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ msg: 'kept', time: 1234, level: 40, name: 'tesser-reconcile' });
  });

  it('silentLogger accepts every call and its children are silent too', () => {
    expect(() => {
      silentLogger.info({ a: 1 }, 'x');
      silentLogger.child({ c: 1 }).error('y');
    }).not.toThrow();
  });

  it('keeps a "__proto__" key of a logged payload as a key (redacted inside), never as the copy’s prototype', () => {
    const payload = JSON.parse('{"__proto__": {"apiKey": "PLANTED-SECRET-XYZ", "x": 1}}') as unknown;
    const out = createRedactor().redactValue(payload) as object;
    expect(Object.getPrototypeOf(out)).toBe(Object.prototype);
    expect(JSON.stringify(out)).toBe(`{"__proto__":{"apiKey":"${REDACTED}","x":1}}`);
  });

  it('property: a secret planted under a secret key at any depth never reaches the output', () => {
    const secretKey = fc.constantFrom(
      'apiKey',
      'secret',
      'password',
      'passphrase',
      'privateKey',
      'token',
      'authorization',
      'signature',
    );
    const plainKey = fc.constantFrom('a', 'data', 'items', 'config', 'nested', 'x');
    fc.assert(
      fc.property(fc.array(fc.tuple(plainKey, fc.boolean()), { maxLength: 10 }), secretKey, (path, key) => {
        // Build an object nesting the secret along `path`; `true` steps go through an array.
        let value: unknown = { [key]: 'PLANTED-SECRET-XYZ' };
        for (const [k, viaArray] of [...path].reverse()) value = { [k]: viaArray ? [0, value] : value };
        const redactor = createRedactor();
        expect(JSON.stringify(redactor.redactValue(value))).not.toContain('PLANTED-SECRET-XYZ');
      }),
    );
  });
});
