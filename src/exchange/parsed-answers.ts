/**
 * Trust in `ExchangeClient.answersParsed`, kept with the answers themselves. The adapters shipped here mark each
 * open-order list they build from parsed values. Whatever is built on one of them (a subclass, a `Proxy`,
 * `Object.create`, `withOverrides`) inherits their `answersParsed: true` but cannot mark a list, so a list such a
 * wrapper makes (filtered, mapped, merged, copied) is read again. Trusting the flag alone skipped that read for the
 * wrapper's rewritten orders, and an order the books cannot hold got into them.
 */
import type { ExchangeClient } from './port.js';

/** Lists a shipped adapter built from parsed values, as it handed them out. */
const parsedLists = new WeakSet<object>();

/**
 * Carried (true) by the adapters shipped here, and so by everything built on one of them: their `answersParsed`
 * vouches only for the lists they marked. A client without it (an adapter of the bot's own) is taken at its word.
 */
export const VOUCHES_PER_LIST: unique symbol = Symbol('tesser-reconcile: answersParsed holds for marked lists only');

/** Marks `list` as built by a shipped adapter from parsed values; returns it. */
export function markParsed<T extends readonly unknown[]>(list: T): T {
  parsedLists.add(list);
  return list;
}

/** Whether `list`, as `client` answered it, is what the state file reads already (no second read needed). */
export function isParsedAnswer(client: ExchangeClient, list: readonly unknown[]): boolean {
  if (client.answersParsed !== true) return false;
  return (client as { readonly [VOUCHES_PER_LIST]?: unknown })[VOUCHES_PER_LIST] !== true || parsedLists.has(list);
}
