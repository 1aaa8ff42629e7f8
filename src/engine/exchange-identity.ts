/**
 * Which exchange account a state directory belongs to. The engine records the identity its exchange client gives
 * (`ExchangeClient.identity`, else the venue named by `ExchangeClient.id`) in the snapshot it writes, and at boot
 * refuses a client that is definitely another account: another venue, or another account fingerprint when both
 * are known. A missing fingerprint on either side (an older state file, an adapter that cannot tell) is not a
 * contradiction, and the next snapshot records the fingerprint the client gives.
 */
import { TesserError } from '../domain/errors.js';
import { asRecord, parseString } from '../domain/parse.js';
import type { ExchangeClient, ExchangeIdentity } from '../exchange/port.js';

/** The identity the engine records for `client`. */
export function identityOf(client: Pick<ExchangeClient, 'id' | 'identity'>): ExchangeIdentity {
  const i = client.identity;
  if (i === undefined) return { venue: client.id };
  return { venue: i.venue, ...(i.account !== undefined && { account: i.account }) };
}

/** Why `actual` is not the account `stored` belongs to, or undefined when nothing contradicts. */
export function identityConflict(stored: ExchangeIdentity, actual: ExchangeIdentity): string | undefined {
  if (stored.venue !== actual.venue)
    return `venue ${JSON.stringify(stored.venue)}, not ${JSON.stringify(actual.venue)}`;
  if (stored.account !== undefined && actual.account !== undefined && stored.account !== actual.account) {
    return `account ${JSON.stringify(stored.account)} on ${stored.venue}, not ${JSON.stringify(actual.account)}`;
  }
  return undefined;
}

/** Parses a persisted identity. @throws ParseError naming the bad field. */
export function parseIdentity(raw: unknown, path: string): ExchangeIdentity {
  const r = asRecord(raw, path);
  const venue = parseString(r.venue, `${path}.venue`);
  return r.account === undefined ? { venue } : { venue, account: parseString(r.account, `${path}.account`) };
}

/**
 * The state directory belongs to another exchange account than the client the engine was given. Thrown at boot,
 * before anything is asked of the exchange or written: the directory is left exactly as it was.
 */
export class ExchangeMismatchError extends TesserError {
  override readonly name = 'ExchangeMismatchError' as const;
  readonly code = 'exchangeMismatch' as const;
  constructor(
    readonly location: string | undefined,
    readonly stored: ExchangeIdentity,
    readonly actual: ExchangeIdentity,
  ) {
    super(
      `the state ${location === undefined ? 'store' : `in ${location}`} belongs to ${describeIdentity(stored)}, but the exchange client is ${describeIdentity(actual)} ` +
        `(${identityConflict(stored, actual) ?? 'different'}): refusing to start; use the state directory of this account, or a new one ` +
        `(a new or mistyped API key changes a key fingerprint: see "A state directory and its exchange account" in docs/operations.md)`,
    );
  }
}

function describeIdentity(i: ExchangeIdentity): string {
  return i.account === undefined ? `venue ${i.venue}` : `account ${i.account} on ${i.venue}`;
}
