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

export const LINE_BREAK = 0x0a;
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

export const NOT_CUT = Symbol('not in the layout of cuts');

/** `bytes[from, to)` fed to a `CutLayoutParser` line by line, yielding after each slice. */
function* cutSteps(bytes: Buffer, from: number, to: number): Generator<void, { value: unknown } | typeof NOT_CUT> {
  const parser = new CutLayoutParser();
  for (let start = from; ;) {
    const found = bytes.indexOf(LINE_BREAK, start);
    const end = found < 0 || found >= to ? to : found;
    const fed = parser.line(bytes, start, end, end === to);
    if (fed === 'not cut') return NOT_CUT;
    if (end === to) return parser.value();
    if (fed === 'slice') yield;
    start = end + 1;
  }
}

/**
 * The writer's layout of cuts read one line at a time (the text between two line breaks, or an end of the text), so
 * a caller may hand over the lines of a file as it reads them. Every check that could make the pieces mean something
 * other than the whole text ends in 'not cut' (and `value()` in NOT_CUT): then the whole text must be parsed. No line
 * is kept: the bytes may be reused once `line` returns.
 */
export class CutLayoutParser {
  private readonly skeleton: string[] = [];
  private readonly lists: unknown[][] = [];
  /** The long array whose slices are being read, if any. */
  private list: unknown[] | undefined;
  /** Whether the last slice of `list` ended with a comma (undefined: none yet): exactly when another slice follows. */
  private comma: boolean | undefined;
  private failed = false;
  private ended = false;
  /** `[`, a slice's values, `]`: the bytes parsed as one array (one string, no copy of a concatenation). */
  private framed = Buffer.allocUnsafe(0);

  /**
   * Feeds `bytes[start, end)`, one line without its line break; `last` when the text ends there (no line break after
   * it). Says whether the line was a long array's slice (a chance to pause after it) or 'not cut' (stop feeding).
   */
  line(bytes: Buffer, start: number, end: number, last: boolean): 'slice' | 'other' | 'not cut' {
    if (this.failed || this.ended) return this.fail();
    for (;;) {
      if (this.list === undefined) {
        // Skeleton: either the end of the text, or it opens a long array whose slices follow.
        if (!last && (end === start || bytes[end - 1] !== OPEN)) return this.fail();
        const text = textOf(bytes, start, last ? end : end - 1);
        if (text.includes(PLACEHOLDER_ESCAPE)) return this.fail();
        this.skeleton.push(text);
        if (last) {
          this.ended = true;
          return 'other';
        }
        this.skeleton.push(placeholder(this.lists.length));
        this.list = [];
        this.lists.push(this.list);
        this.comma = undefined;
        return 'other';
      }
      if (end > start && bytes[start] === CLOSE) {
        // The long array's `]`, after a slice that ended without a comma (a comma there is a stray one in the whole
        // text): the skeleton goes on after it, on this line.
        if (this.comma === true) return this.fail();
        this.list = undefined;
        start += 1;
        continue;
      }
      // A slice: values, then a comma exactly when another slice follows (not the `]`); the text cannot end in one.
      if (last || this.comma === false) return this.fail();
      const comma = bytes[end - 1] === COMMA;
      let items: unknown;
      try {
        items = JSON.parse(this.frame(bytes, start, comma ? end - 1 : end));
      } catch {
        return this.fail();
      }
      // An empty slice (only whitespace) would be a stray comma in the whole text.
      if (!Array.isArray(items) || items.length === 0) return this.fail();
      for (const item of items) this.list.push(item);
      this.comma = comma;
      return 'slice';
    }
  }

  /** The value of the whole text once its last line was fed, or NOT_CUT. */
  value(): { value: unknown } | typeof NOT_CUT {
    if (this.failed || !this.ended) return NOT_CUT;
    let root: unknown;
    try {
      root = JSON.parse(this.skeleton.join(''));
    } catch {
      return NOT_CUT;
    }
    const holder = { root };
    const placed = place(holder, this.lists);
    return placed === this.lists.length ? { value: holder.root } : NOT_CUT;
  }

  private fail(): 'not cut' {
    this.failed = true;
    return 'not cut';
  }

  /** `[` + `bytes[start, end)` + `]` as text. */
  private frame(bytes: Buffer, start: number, end: number): string {
    const n = end - start + 2;
    if (this.framed.length < n) this.framed = Buffer.allocUnsafe(Math.max(n, 2 * this.framed.length));
    this.framed[0] = OPEN;
    bytes.copy(this.framed, 1, start, end);
    this.framed[n - 1] = CLOSE;
    return textOf(this.framed, 0, n);
  }
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
