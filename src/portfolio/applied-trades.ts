/**
 * A saved portfolio's applied trades, oldest first, validated and indexed in one pass as the bottom layer of the
 * Portfolio's trade-id window. Version 3 saves them as trade keys (`parseKeys`): the keys are the window's own ids,
 * indexed as they are read. Version 2 saved [symbol, trade id] pairs (`parse`), indexed per symbol by trade id
 * rather than by `tradeKey`: a long-running engine's window holds 100 000 pairs, and a key string made and hashed for
 * each cost more than the rest of their load (issue 16); their keys are made only when the window's ids are listed.
 */
import { ParseError } from '../domain/errors.js';
import { splitScopedKey, tradeKey, type TradeKey } from '../domain/ids.js';
import { asArray, parseId, parseString, parseUniqueList } from '../domain/parse.js';
import { ITEMS_PER_STEP, runSteps } from '../domain/steps.js';
import { ListLayer, type IdLayer } from './trade-id-window.js';

/** A pair costs a small fraction of what an order costs to parse: a step takes as many as 16 steps of orders. */
const PAIRS_PER_STEP = 16 * ITEMS_PER_STEP;

/** The applied trades of a saved portfolio, as an `IdLayer` of `tradeKey`s (distinct, oldest first). */
export class AppliedTrades implements IdLayer {
  private constructor(
    /** Each trade's symbol, by position (one string per symbol, shared). */
    private readonly symbols: readonly string[],
    /** Each trade's id, by position. */
    private readonly ids: readonly string[],
    /** Each trade's position, by symbol then trade id. */
    private readonly bySymbol: ReadonlyMap<string, ReadonlyMap<string, number>>,
  ) {}

  /**
   * Parses a saved `appliedTrades` list: accepts what a check of each pair with `parseString`/`parseId` and of their
   * keys for duplicates accepts, and throws the ParseError that check gives (it is run to name the problem).
   */
  static parse(raw: unknown, path: string): AppliedTrades {
    return runSteps(AppliedTrades.parseSteps(raw, path));
  }

  /** `parse` as steps (src/domain/steps.ts): the same layer or error, yielding every few thousand pairs. */
  static *parseSteps(raw: unknown, path: string): Generator<void, AppliedTrades> {
    return (yield* AppliedTrades.parseFast(raw)) ?? AppliedTrades.ofKeys(parseAppliedTradeKeys(raw, path));
  }

  /**
   * Parses a saved version-3 `appliedTrades` list (trade keys): accepts what a check of each key with
   * `parseTradeKey` and of the keys for duplicates accepts, and throws the ParseError that check gives (it is run to
   * name the problem).
   */
  static parseKeys(raw: unknown, path: string): IdLayer {
    return runSteps(AppliedTrades.parseKeysSteps(raw, path));
  }

  /** `parseKeys` as steps (src/domain/steps.ts): the same layer or error, yielding every few thousand keys. */
  static *parseKeysSteps(raw: unknown, path: string): Generator<void, IdLayer> {
    if (Array.isArray(raw)) {
      const items = raw as readonly unknown[];
      const position = new Map<string, number>();
      let plain = true;
      for (let i = 0; i < items.length && plain; i++) {
        if (i > 0 && i % PAIRS_PER_STEP === 0) yield;
        const key = items[i];
        // One look-up: a key seen before leaves the size as it was.
        plain = typeof key === 'string' && isPlainTradeKey(key) && position.set(key, i).size === i + 1;
      }
      // A copy: the layer outlives the parsed text, which is the caller's.
      if (plain) return new ListLayer(items.slice() as string[], position);
    }
    const keys = parseUniqueList(raw, path, parseTradeKey, (k) => [k]);
    return new ListLayer(keys, new Map(keys.map((k, i) => [k, i])));
  }

  /** Distinct trade keys, oldest first, as a layer. */
  static ofKeys(keys: readonly TradeKey[]): AppliedTrades {
    const symbols: string[] = [];
    const ids: string[] = [];
    const bySymbol = new Map<string, Map<string, number>>();
    for (let i = 0; i < keys.length; i++) {
      const { symbol, id } = splitScopedKey(keys[i]!)!;
      let positions = bySymbol.get(symbol);
      if (positions === undefined) bySymbol.set(symbol, (positions = new Map<string, number>()));
      positions.set(id, i);
      symbols.push(symbol);
      ids.push(id);
    }
    return new AppliedTrades(symbols, ids, bySymbol);
  }

  /**
   * The layer of a list that holds only well-formed, distinct pairs; undefined at the first item that is not plainly
   * so (the general check then decides, and names the problem). Ids from JSON.parse are short strings it has already
   * hashed, so indexing them costs one map entry each; consecutive pairs of one symbol share one lookup.
   */
  private static *parseFast(raw: unknown): Generator<void, AppliedTrades | undefined> {
    if (!Array.isArray(raw)) return undefined;
    const items = raw as readonly unknown[];
    const symbols = new Array<string>(items.length);
    const ids = new Array<string>(items.length);
    const bySymbol = new Map<string, Map<string, number>>();
    let symbol = '';
    let positions: Map<string, number> | undefined;
    for (let i = 0; i < items.length; i++) {
      if (i > 0 && i % PAIRS_PER_STEP === 0) yield;
      const pair = items[i];
      if (!Array.isArray(pair) || pair.length !== 2) return undefined;
      const s: unknown = pair[0];
      const rawId: unknown = pair[1];
      const id = typeof rawId === 'string' ? rawId : typeof rawId === 'number' ? parseIdOrUndefined(rawId) : undefined;
      if (id === undefined || isBlank(id)) return undefined;
      if (positions === undefined || s !== symbol) {
        if (typeof s !== 'string' || isBlank(s)) return undefined;
        positions = bySymbol.get(s);
        if (positions === undefined) bySymbol.set(s, (positions = new Map<string, number>()));
        symbol = s;
      }
      // One lookup: an id seen before leaves the size as it was.
      const size = positions.size;
      if (positions.set(id, i).size === size) return undefined;
      symbols[i] = symbol;
      ids[i] = id;
    }
    return new AppliedTrades(symbols, ids, bySymbol);
  }

  get length(): number {
    return this.ids.length;
  }

  positionOf(key: string): number | undefined {
    const pair = splitScopedKey(key);
    return pair === undefined ? undefined : this.bySymbol.get(pair.symbol)?.get(pair.id);
  }

  idsBetween(start: number, end: number): TradeKey[] {
    const out: TradeKey[] = [];
    const to = Math.min(end, this.ids.length);
    for (let i = Math.max(0, start); i < to; i++) out.push(tradeKey(this.symbols[i]!, this.ids[i]!));
    return out;
  }
}

/**
 * The general check of a saved `appliedTrades` list (what `AppliedTrades.parse` accepts and the errors it gives): each
 * pair parsed, their keys refused when repeated. Returns the keys, oldest first.
 */
export function parseAppliedTradeKeys(raw: unknown, path: string): TradeKey[] {
  return parseUniqueList(
    raw,
    path,
    (item, p): TradeKey => {
      const pair = asArray(item, p);
      if (pair.length !== 2) throw new ParseError('invalid_type', p, item, 'must be [symbol, trade id]');
      // Index paths passed apart (built only for an error): a full trade-id window holds 100 000 pairs.
      return tradeKey(parseString(pair[0], p, '[0]'), parseId(pair[1], p, '[1]'));
    },
    (k) => [k],
  );
}

/**
 * A saved trade key (version 3's `appliedTrades` items): a string that `tradeKey` writes for a symbol `parseString`
 * and an id `parseId` accept, exactly as it writes it (a key spelled otherwise, `013:…` for `13:…`, would let one
 * trade count as two). Throws ParseError naming `path` otherwise.
 */
export function parseTradeKey(raw: unknown, path: string): TradeKey {
  const text = parseString(raw, path);
  const pair = splitScopedKey(text);
  const detail = 'must be a trade key: <symbol length>:<symbol>:<trade id>';
  if (pair === undefined) throw new ParseError('invalid_type', path, raw, detail);
  for (const [part, what] of [
    [pair.symbol, 'symbol'],
    [pair.id, 'trade id'],
  ] as const)
    if (part.trim() === '') throw new ParseError('empty_id', path, raw, `the ${what} of a trade key must not be empty`);
  const key = tradeKey(pair.symbol, pair.id);
  if (key !== text) throw new ParseError('invalid_type', path, raw, `${detail}, as written`);
  return key;
}

/**
 * Whether `key` is plainly a trade key `parseTradeKey` accepts: the symbol length in digits without a leading zero,
 * and a symbol and an id whose first characters are printable ASCII, not space. Anything else is left to it.
 */
function isPlainTradeKey(key: string): boolean {
  const colon = key.indexOf(':');
  if (colon <= 0 || colon > 6 || key.charCodeAt(0) === 0x30) return false;
  let n = 0;
  for (let i = 0; i < colon; i++) {
    const d = key.charCodeAt(i) - 0x30;
    if (d < 0 || d > 9) return false;
    n = n * 10 + d;
  }
  const symbolAt = colon + 1;
  const idAt = symbolAt + n + 1;
  return idAt < key.length && key.charCodeAt(idAt - 1) === 0x3a && isPlainAt(key, symbolAt) && isPlainAt(key, idAt);
}

/** Whether the character at `i` is printable ASCII, not space (a string starting so is not blank). */
function isPlainAt(s: string, i: number): boolean {
  const c = s.charCodeAt(i);
  return c > 0x20 && c < 0x7f;
}

/** `parseId`'s reading of a number (a safe integer, as text), or undefined where it throws. */
function parseIdOrUndefined(n: number): string | undefined {
  return Number.isSafeInteger(n) ? parseId(n, '') : undefined;
}

/** What `parseString` and `parseId` refuse as blank; a first character that is printable ASCII, not space, is not. */
function isBlank(s: string): boolean {
  const c = s.length === 0 ? 0 : s.charCodeAt(0);
  return !(c > 0x20 && c < 0x7f) && s.trim() === '';
}
