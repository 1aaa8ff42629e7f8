import { describe, expect, it } from 'vitest';
import { ExchangeError, TesserError } from '../../src/domain/errors.js';
import { read, UnreachableError } from '../../src/handlers/cycle.js';

describe('read (a cycle reads the exchange through it)', () => {
  it('turns a retryable failure into UnreachableError, named so, with the exchange error as cause', async () => {
    const timeout = new ExchangeError('timeout', 'fetchOpenOrders timed out');
    const e: unknown = await read(() => Promise.reject(timeout)).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(UnreachableError);
    expect(e).toBeInstanceOf(TesserError);
    expect((e as UnreachableError).name).toBe('UnreachableError');
    expect((e as UnreachableError).cause).toBe(timeout);
    expect((e as UnreachableError).error).toBe(timeout);
  });

  it('lets a final failure through unchanged and returns a value as is', async () => {
    const notFound = new ExchangeError('notFound', 'no such order');
    await expect(read(() => Promise.reject(notFound))).rejects.toBe(notFound);
    await expect(read(() => Promise.resolve(7))).resolves.toBe(7);
  });
});
