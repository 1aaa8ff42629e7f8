/**
 * JSON text parsed a piece at a time, for a state too large to parse in one turn of the event loop.
 *
 * The snapshot writer (`canonicalPieceStream` with `lineBreaks`) puts a line break after the `[` of every long array
 * it writes in slices, after the comma that ends each slice, and before the `]`:
 *
 *     {"books":[\n{..},{..},\n{..}\n],"x":1}
 *
 * Whitespace between tokens is allowed anywhere in JSON, so the text is still the same JSON (any JSON reader reads
 * it, the checksum covers the line breaks as written), and a raw line break never occurs inside a JSON string, so
 * each one is such a cut. Between the cuts lie the long arrays' slices, each parsed on its own, and the rest (the
 * skeleton), parsed once with a placeholder where each long array was. Text in any other layout (no line breaks, or
 * line breaks elsewhere: a file someone reformatted) is parsed whole, in one call: the result, or the error, is always
 * exactly `JSON.parse`'s of the whole text.
 */
import { isAscii } from 'node:buffer';

/**
 * `JSON.parse` of `bytes[from, to)` (UTF-8) as steps (src/domain/steps.ts): it yields after each slice of a long array
 * written with line breaks (see above), where a caller driving it with `runStepsSliced` may pause. Throws what
 * `JSON.parse` of the whole text throws.
 */
export function* parseSteps(bytes: Buffer, from: number, to: number): Generator<void, unknown> {
  const cut = bytes.indexOf(LINE_BREAK, from);
  if (cut < 0 || cut >= to) return JSON.parse(textOf(bytes, from, to)) as unknown;
  const parsed = yield* cutSteps(bytes, from, to);
  // Not in the writer's layout: the whole text decides, as it would have without the cuts.
  return parsed === NOT_CUT ? (JSON.parse(textOf(bytes, from, to)) as unknown) : parsed.value;
}

const LINE_BREAK = 0x0a;
const OPEN = 0x5b; // [
const CLOSE = 0x5d; // ]
const COMMA = 0x2c; // ,
/**
 * The placeholder of long array `i` in the skeleton: a string no text of the skeleton can hold, since the skeleton is
 * checked to spell no U+0001 (JSON can only write it as this escape: a raw control character is not JSON).
 */
const PLACEHOLDER_ESCAPE = '\\u0001';
const placeholder = (i: number): string => `"${PLACEHOLDER_ESCAPE}${i}"`;
const placeholderValue = (i: number): string => `\u0001${i}`;

const NOT_CUT = Symbol('not in the layout of cuts');

/**
 * The value of a text in the writer's layout of cuts, or NOT_CUT when the text is not in it. Every check that could
 * make the pieces mean something other than the whole text sends it to NOT_CUT: then the whole text is parsed.
 */
function* cutSteps(bytes: Buffer, from: number, to: number): Generator<void, { value: unknown } | typeof NOT_CUT> {
  const skeleton: string[] = [];
  const lists: unknown[][] = [];
  let start = from;
  let list: unknown[] | undefined;
  for (;;) {
    const found = bytes.indexOf(LINE_BREAK, start);
    const end = found < 0 || found >= to ? to : found;
    const last = end === to;
    if (list === undefined) {
      // Skeleton: either the end of the text, or it opens a long array whose slices follow.
      if (!last && (end === start || bytes[end - 1] !== OPEN)) return NOT_CUT;
      const text = textOf(bytes, start, last ? end : end - 1);
      if (text.includes(PLACEHOLDER_ESCAPE)) return NOT_CUT;
      skeleton.push(text);
      if (last) break;
      skeleton.push(placeholder(lists.length));
      list = [];
      lists.push(list);
    } else if (end > start && bytes[start] === CLOSE) {
      // The long array's `]` (the slice before it was checked to end without a comma): the skeleton goes on after it.
      list = undefined;
      start += 1;
      continue;
    } else {
      // A slice: values, then a comma exactly when another slice follows (not the `]`).
      if (last) return NOT_CUT;
      const comma = bytes[end - 1] === COMMA;
      const next = bytes[end + 1];
      if (comma === (next === CLOSE)) return NOT_CUT;
      let items: unknown;
      try {
        items = JSON.parse(`[${textOf(bytes, start, comma ? end - 1 : end)}]`);
      } catch {
        return NOT_CUT;
      }
      // An empty slice (only whitespace) would be a stray comma in the whole text.
      if (!Array.isArray(items) || items.length === 0) return NOT_CUT;
      for (const item of items) list.push(item);
      yield;
    }
    start = end + 1;
  }
  let root: unknown;
  try {
    root = JSON.parse(skeleton.join(''));
  } catch {
    return NOT_CUT;
  }
  const holder = { root };
  const placed = place(holder, lists);
  return placed === lists.length ? { value: holder.root } : NOT_CUT;
}

/**
 * Puts each long array where its placeholder is in the parsed skeleton (`holder.root` and what it holds); returns how
 * many were placed, each at most once. A placeholder that became an object key, or was lost to a duplicate key, is
 * not placed: the count tells.
 */
function place(holder: { root: unknown }, lists: unknown[][]): number {
  const used = new Array<boolean>(lists.length).fill(false);
  let placed = 0;
  const at = (value: unknown): unknown[] | undefined => {
    if (typeof value !== 'string' || value.charCodeAt(0) !== 1) return undefined;
    const i = Number(value.slice(1));
    if (placeholderValue(i) !== value || i >= lists.length || used[i] === true) return undefined;
    used[i] = true;
    placed++;
    return lists[i];
  };
  const walk = (value: unknown): void => {
    if (typeof value !== 'object' || value === null) return;
    if (Array.isArray(value)) {
      for (let i = 0; i < value.length; i++) {
        const list = at(value[i]);
        if (list !== undefined) value[i] = list;
        else walk(value[i]);
      }
      return;
    }
    const rec = value as Record<string, unknown>;
    for (const key of Object.keys(rec)) {
      const list = at(rec[key]);
      // An own "__proto__" key set by assignment would set the prototype: defined as the data property it is.
      if (list !== undefined)
        Object.defineProperty(rec, key, { value: list, writable: true, enumerable: true, configurable: true });
      else walk(rec[key]);
    }
  };
  const list = at(holder.root);
  if (list !== undefined) holder.root = list;
  else walk(holder.root);
  return placed;
}

/** `bytes[from, to)` as text (UTF-8; ASCII copied as Latin-1, the same text, without decoding byte by byte). */
function textOf(bytes: Buffer, from: number, to: number): string {
  const part = bytes.subarray(from, to);
  return isAscii(part) ? part.toString('latin1') : part.toString('utf8');
}
