/**
 * The on-disk format of the state store (format version 1), shared by the file store and the in-memory store so
 * both accept and return exactly the same values.
 *
 * - Journal `journal.jsonl`: one record a line, `{"v":1,"seq":N,"crc":"<8 hex>","rec":<canonical JSON>}\n`.
 *   `seq` starts at 1 and grows by exactly 1 across the whole life of the store (compaction does not reset it).
 * - Snapshot `snapshot.json`: `{"v":1,"journalSeq":N,"crc":"<8 hex>","state":<canonical JSON>}\n`, where N is
 *   the seq of the last journal record folded into `state` (0 when none).
 * - The checksum is CRC-32 over the canonical JSON of `[v, seq, rec]` (resp. `[v, journalSeq, state]`), so a
 *   flipped digit in the seq or version is caught too, not only in the payload.
 *
 * Canonical JSON = JSON with object keys sorted by UTF-16 code units and no whitespace. The writer hashes exactly the
 * bytes it writes, so the reader checks the checksum over the bytes it read (`[v,seq,` + the payload's bytes + `]`),
 * without serializing anything again. Only when that does not match is the payload re-canonicalized and hashed (a
 * file whose JSON was reformatted but means the same still loads; anything else is corrupt).
 */
import { isAscii } from 'node:buffer';
import { crc32 } from 'node:zlib';
import { DeferredList, type DeferredTexts, type SliceText, type SliceTexts } from '../domain/deferred-list.js';
import { runSteps, runStepsSliced, type Pause } from '../domain/steps.js';
import { StoreCorruptError } from '../domain/errors.js';
import { StoreError } from './errors.js';
import type { JsonValue } from './port.js';
import { CutLayoutParser, LINE_BREAK, NOT_CUT } from './sliced-parse.js';

/** The format version this build writes and reads. */
export const FORMAT_VERSION = 1;

/**
 * Serializes `value` as canonical JSON, refusing anything that would not survive a JSON round trip unchanged:
 * non-finite numbers, bigint, functions, symbols, `undefined` outside an object property, sparse arrays,
 * cycles and non-plain objects (Date, Map, class instances). Object properties whose value is `undefined` are
 * omitted, as `JSON.stringify` does, so optional fields can be left unset.
 * @throws StoreError kind `invalid`, naming the offending path.
 */
export function canonicalJson(value: unknown): string {
  // One read-only pass checks that nothing would be refused and gathers every object key; the native serializer then
  // writes the text, its keys in the order of the sorted key list (a replacer list orders every object's keys:
  // ECMA-262 SerializeJSONObject uses the PropertyList when there is one). Several times faster than a walk in JS.
  const keys = new Set<string>();
  if (gather(value, 0, keys)) return JSON.stringify(value, [...keys].sort());
  // Refused by the check (or too deep to tell a cycle): the full walk writes it or names the offending path.
  return canonicalWalk(value);
}

/**
 * Items of a long array serialized at once by `canonicalPieces`, between two chances to pause. A chance costs a clock
 * read when the slicer's budget is not spent, so it is offered often: 128 orders encode in well under a millisecond
 * (512 took 2-3 ms on a loaded machine, more than the 1 ms budget: issue 16's placing rows).
 */
export const PIECE_ITEMS = 128;
/** `canonicalPieces` joins its small pieces into pieces of about this many characters. */
const PIECE_CHARS = 64 * 1024;

/**
 * `canonicalJson(value)` written as pieces whose concatenation is exactly that text, with a chance to pause
 * (`pause()`, awaited when it returns a promise) after every slice of a long array: the text of a large state is built
 * a slice per turn instead of in one. A `DeferredList` in `value` is encoded a slice at a time as it is written, and
 * stands for the array its `toJSON()` gives. `value` must not change until the promise resolves. With `lineBreaks`,
 * the text has line breaks around the slices (see `canonicalPieceStream`).
 * @throws StoreError kind `invalid`, as `canonicalJson` does (it names the path inside the slice that holds it).
 */
export async function canonicalPieces(
  value: unknown,
  pause: () => Promise<void> | undefined,
  lineBreaks = false,
): Promise<string[]> {
  const pieces: string[] = [];
  for await (const piece of canonicalPieceStream(value, pause, lineBreaks)) pieces.push(piece);
  return pieces;
}

/**
 * The pieces of `canonicalPieces`, each given as soon as it is complete and the next made only when asked for: a
 * consumer that writes each piece on (a store's compaction) never holds the text it already wrote. Held until the
 * write, the text of a large state (2.6 MiB at 10,000 orders then, 1 MiB as an order table) lived through the
 * scavenges its slicing spans, and each copied all of it (issue 16). `value` must not change until the iteration
 * ends; a refused value throws from it.
 * With `lineBreaks`, a line break follows the `[` of each array written in slices and each slice's comma, and goes
 * before its `]`: the same JSON (whitespace between tokens), which a reader can parse a slice at a time
 * (src/store/sliced-parse.ts). Without, the concatenation is exactly `canonicalJson(value)`.
 */
export async function* canonicalPieceStream(
  value: unknown,
  pause: () => Promise<void> | undefined,
  lineBreaks = false,
): AsyncGenerator<string, void, undefined> {
  const cut = lineBreaks ? '\n' : '';
  let current = '';
  let given = false;
  /** Appends `text`; true when the piece is now long enough to give. */
  const put = (text: string): boolean => {
    current += text;
    return current.length >= PIECE_CHARS;
  };
  const take = (): string => {
    const piece = current;
    current = '';
    given = true;
    return piece;
  };
  async function* write(v: unknown, depth: number): AsyncGenerator<string, void, undefined> {
    const deferred = v instanceof DeferredList ? v : undefined;
    const array = Array.isArray(v) ? (v as readonly unknown[]) : undefined;
    if (deferred !== undefined || (array !== undefined && array.length > PIECE_ITEMS)) {
      const length = deferred?.length ?? array!.length;
      const memo = deferred?.memo;
      const aligned = memo?.slices !== undefined ? new AlignedSlices(memo, memo.slices) : undefined;
      if (put('[')) yield take();
      for (let from = 0; from < length;) {
        // The slice's own array text without its brackets: canonical JSON of an array is its items', comma-joined.
        let to: number;
        let text: string;
        if (aligned !== undefined) ({ to, text } = aligned.next(from));
        else {
          to = Math.min(length, from + PIECE_ITEMS);
          text =
            memo !== undefined
              ? itemsText(memo, from, to)
              : canonicalJson(deferred !== undefined ? deferred.encodeRange(from, to) : array!.slice(from, to)).slice(
                  1,
                  -1,
                );
        }
        if (put(from === 0 ? `${cut}${text}` : `,${cut}${text}`)) yield take();
        from = to;
        const waiting = pause();
        if (waiting !== undefined) await waiting;
      }
      aligned?.finish();
      if (put(`${cut}]`)) yield take();
      return;
    }
    const proto: unknown = typeof v === 'object' && v !== null && array === undefined ? Object.getPrototypeOf(v) : 0;
    if ((proto !== Object.prototype && proto !== null) || depth >= NATIVE_DEPTH || !holdsLongList(v, depth)) {
      if (put(canonicalJson(v))) yield take();
      return;
    }
    // A plain object holding a long list somewhere: its keys in canonical order, each value written in turn.
    const rec = v as Record<string, unknown>;
    let first = true;
    if (put('{')) yield take();
    for (const key of Object.keys(rec).sort()) {
      const item = rec[key];
      if (item === undefined) continue;
      if (put(`${first ? '' : ','}${JSON.stringify(key)}:`)) yield take();
      first = false;
      yield* write(item, depth + 1);
    }
    if (put('}')) yield take();
  }
  yield* write(value, 0);
  if (current !== '' || !given) yield take();
}

/**
 * The slices of a memoized list as this write cuts them, each with its text (see `SliceTexts`): where the last write's
 * slices still hold the very same items they are written as their texts; elsewhere new slices are cut, ending where
 * one of the last write's slices begins (so an order inserted or dropped anywhere re-renders the slice around it, not
 * every slice after it: cut at fixed counts, every slice after an edit shifted, and a compaction of books that changed
 * in one order near the start encoded and kept new text for all of them, issue 16), else at `PIECE_ITEMS` items.
 * The text is the same whatever the cuts (an array's canonical JSON is its items', comma-joined); only where the line
 * breaks of a written snapshot fall depends on them.
 */
class AlignedSlices {
  /** The last write's slices, by their first item. */
  private readonly starts = new Map<object, SliceText>();
  /** This write's slices, in order: the memo's once the write is done (`finish`). */
  private readonly cut: SliceText[] = [];

  constructor(
    private readonly memo: DeferredTexts,
    private readonly texts: SliceTexts,
  ) {
    for (const slice of texts.slices) if (slice.items.length > 0) this.starts.set(slice.items[0]!, slice);
  }

  /** The slice that begins at item `from`: where it ends, and its text. */
  next(from: number): { to: number; text: string } {
    const kept = this.kept(from);
    const keptTo = kept === undefined ? -1 : from + kept.items.length;
    // A slice short of full is kept where what follows is kept too (or nothing does), or where a new cut would end as
    // it does (the slice after it edited): one followed by new items is cut again with them, so the tail of a growing
    // list, or what a few drops left, does not stay in small slices.
    const to =
      kept !== undefined &&
      (kept.items.length >= PIECE_ITEMS || keptTo === this.memo.items.length || this.kept(keptTo) !== undefined)
        ? keptTo
        : this.end(from);
    if (kept !== undefined && to === keptTo) {
      this.cut.push(kept);
      return { to, text: kept.text };
    }
    const text = itemsText(this.memo, from, to, true);
    this.cut.push({ items: this.memo.items.slice(from, to), text });
    return { to, text };
  }

  /** This write's slices are the ones the next write lines up with (a write given up halfway leaves the last's). */
  finish(): void {
    this.texts.slices = this.cut;
  }

  /** The last write's slice that begins at item `from` and holds the very same items now, if any. */
  private kept(from: number): SliceText | undefined {
    const { items } = this.memo;
    const slice = from < items.length ? this.starts.get(items[from]!) : undefined;
    return slice !== undefined && sameItems(slice.items, items, from, from + slice.items.length) ? slice : undefined;
  }

  /**
   * Where a new slice from `from` ends: at the next item where one of the last write's slices begins, within
   * 2·PIECE_ITEMS (an item inserted into a full slice makes one slice one item longer), else after PIECE_ITEMS items.
   */
  private end(from: number): number {
    const length = this.memo.items.length;
    const reach = Math.min(length, from + 2 * PIECE_ITEMS);
    for (let i = from + 1; i < reach; i++) if (this.starts.has(this.memo.items[i]!)) return i;
    return Math.min(length, from + PIECE_ITEMS);
  }
}

/** Whether `items[from, to)` are the very objects of `kept`, in order. */
function sameItems(kept: readonly object[], items: readonly object[], from: number, to: number): boolean {
  if (kept.length !== to - from) return false;
  for (let i = from; i < to; i++) if (items[i] !== kept[i - from]) return false;
  return true;
}

/**
 * The canonical JSON of items `from` to `to` of a memoized list, comma-joined without brackets (what `canonicalJson` of
 * that slice writes inside them), from the items' own texts: an item whose text `memo` holds is not encoded again; the
 * others are encoded, checked and serialized together (one key list for all, as `canonicalJson` does for the slice)
 * and their texts kept. With `sliced` (a slice `AlignedSlices` keeps), each item's text is kept as its part of the slice's
 * text (a substring, which V8 makes a view of the slice's string): the slice's text and the items' are not held twice.
 */
function itemsText(memo: DeferredTexts, from: number, to: number, sliced = false): string {
  const parts = itemTexts(memo, from, to);
  const text = parts.join(',');
  if (!sliced) return text;
  let at = 0;
  for (let i = from; i < to; i++) {
    const end = at + parts[i - from]!.length;
    memo.texts.set(memo.items[i]!, text.slice(at, end));
    at = end + 1;
  }
  return text;
}

/** The texts of items `from` to `to`, in order (see `itemsText`). */
function itemTexts(memo: DeferredTexts, from: number, to: number): string[] {
  const { items, encode, texts } = memo;
  const out = new Array<string>(to - from);
  let missing: number[] | undefined;
  for (let i = from; i < to; i++) {
    const text = texts.get(items[i]!);
    if (text === undefined) (missing ??= []).push(i);
    else out[i - from] = text;
  }
  if (missing === undefined) return out;
  const encoded = missing.map((i) => encode(items[i]!));
  const keys = new Set<string>();
  let sorted: string[] | undefined;
  if (gather(encoded, 0, keys)) sorted = [...keys].sort();
  else {
    // Refused by the check: the walk over the slice throws naming the path as `canonicalJson` of the slice does (an
    // item with text was written before, so is none it could name: null in its place), or writes it, as each item.
    const slice = new Array<unknown>(to - from).fill(null);
    for (let k = 0; k < missing.length; k++) slice[missing[k]! - from] = encoded[k];
    canonicalJson(slice);
  }
  for (let k = 0; k < missing.length; k++) {
    const i = missing[k]!;
    // A key list orders the keys of every object with its own keys among them: the item's own canonical text.
    const text = sorted !== undefined ? JSON.stringify(encoded[k], sorted) : canonicalJson(encoded[k]);
    texts.set(items[i]!, text);
    out[i - from] = text;
  }
  return out;
}

/** True when `v` (a plain object) holds a `DeferredList` or a long array among its values, at most a few levels down. */
function holdsLongList(v: unknown, depth: number): boolean {
  if (typeof v !== 'object' || v === null || depth >= NATIVE_DEPTH) return false;
  if (v instanceof DeferredList || (Array.isArray(v) && v.length > PIECE_ITEMS)) return true;
  if (Array.isArray(v)) return false;
  const proto: unknown = Object.getPrototypeOf(v);
  if (proto !== Object.prototype && proto !== null) return false;
  for (const item of Object.values(v as Record<string, unknown>)) if (holdsLongList(item, depth + 1)) return true;
  return false;
}

/** Deeper than this, the check gives up (a cycle, or an unusual value): the full walk decides and names the path. */
const NATIVE_DEPTH = 64;

/**
 * True when the native serializer writes `v` as the walk would: only plain objects, dense arrays without
 * `undefined`, finite numbers, strings, booleans and null, at most NATIVE_DEPTH deep. Adds every object key to `keys`.
 * False whenever in doubt.
 */
function gather(v: unknown, depth: number, keys: Set<string>): boolean {
  switch (typeof v) {
    case 'string':
    case 'boolean':
      return true;
    case 'number':
      return Number.isFinite(v);
    case 'object': {
      if (v === null) return true;
      if (depth >= NATIVE_DEPTH) return false;
      if (Array.isArray(v)) {
        for (let i = 0; i < v.length; i++) {
          const item: unknown = v[i];
          // undefined (or a hole) would be written as null by the native serializer: the walk refuses it.
          if (item === undefined || !gather(item, depth + 1, keys)) return false;
        }
        return true;
      }
      const proto: unknown = Object.getPrototypeOf(v);
      if (proto !== Object.prototype && proto !== null) return false;
      const rec = v as Record<string, unknown>;
      for (const key of Object.keys(rec)) {
        const item = rec[key];
        if (item === undefined) continue;
        // With "__proto__" in the key list, the native serializer reads it from every object, and one without that
        // own key inherits Object.prototype there: written as {"__proto__":{"__proto__":null}}. The walk is exact.
        if (key === '__proto__') return false;
        keys.add(key);
        if (!gather(item, depth + 1, keys)) return false;
      }
      return true;
    }
    default:
      return false;
  }
}

function canonicalWalk(value: unknown): string {
  const ancestors = new Set<object>();
  // The path to the value being written, as keys and indexes: turned into text only for an error (building it for
  // every value cost more than the serialization itself on a large state).
  const at: (string | number)[] = [];
  const where = (): string => `$${at.map((k) => (typeof k === 'number' ? `[${k}]` : `.${k}`)).join('')}`;
  const walk = (v: unknown): string => {
    switch (typeof v) {
      case 'string':
      case 'boolean':
        return JSON.stringify(v);
      case 'number':
        if (!Number.isFinite(v)) throw invalid(where(), `non-finite number ${String(v)}`);
        return JSON.stringify(v);
      case 'object': {
        if (v === null) return 'null';
        if (ancestors.has(v)) throw invalid(where(), 'cycle');
        ancestors.add(v);
        try {
          if (Array.isArray(v)) {
            const parts: string[] = [];
            for (let i = 0; i < v.length; i++) {
              at.push(i);
              if (!(i in v)) throw invalid(where(), 'hole in a sparse array');
              parts.push(walk(v[i]));
              at.pop();
            }
            return `[${parts.join(',')}]`;
          }
          const proto: unknown = Object.getPrototypeOf(v);
          if (proto !== Object.prototype && proto !== null) throw invalid(where(), 'not a plain object');
          const rec = v as Record<string, unknown>;
          const parts: string[] = [];
          // Default sort compares UTF-16 code units: deterministic and independent of insertion order.
          for (const key of Object.keys(rec).sort()) {
            const item = rec[key];
            if (item === undefined) continue;
            at.push(key);
            parts.push(`${JSON.stringify(key)}:${walk(item)}`);
            at.pop();
          }
          return `{${parts.join(',')}}`;
        } finally {
          ancestors.delete(v);
        }
      }
      default:
        throw invalid(where(), `${typeof v} is not JSON`);
    }
  };
  return walk(value);
}

function invalid(path: string, detail: string): StoreError {
  return new StoreError('invalid', `not storable as JSON at ${path}: ${detail}`);
}

/**
 * CRC-32 (IEEE 802.3, Node's `zlib.crc32`, present since Node 20.15) of `data` as exactly 8 lowercase hex digits,
 * the form on disk. A string is hashed as its UTF-8 bytes. It detects torn or bit-rotted bytes, not tampering:
 * every burst error up to 32 bits and all but ~2^-32 of the rest, in 8 characters per line.
 */
export function crc32Hex(data: Uint8Array | string): string {
  return (crc32(data) >>> 0).toString(16).padStart(8, '0');
}

/** The checksum of a payload (a string is hashed as its UTF-8 bytes): CRC-32 of `[v,seq,` + payload + `]`. */
function payloadCrc(seq: number, payload: string | Uint8Array): string {
  return payloadCrcEnd(crc32(payload, payloadCrcStart(seq)));
}

/** The running CRC-32 before a payload's first byte, for a payload hashed piece by piece. */
const payloadCrcStart = (seq: number): number => crc32(`[${FORMAT_VERSION},${seq},`);

/** The checksum as written, from the running CRC-32 after a payload's last byte. */
const payloadCrcEnd = (crc: number): string => (crc32(']', crc) >>> 0).toString(16).padStart(8, '0');

/** A snapshot file's text before its state (the same length whatever the checksum: always 8 hex digits). */
const snapshotHead = (journalSeq: number, crc: string): string =>
  `{"v":${FORMAT_VERSION},"journalSeq":${journalSeq},"crc":"${crc}","state":`;

/**
 * The checksum of a payload as it lies in the file: `text` must be exactly `head` + payload + `tail` (the layout the
 * encoder writes); undefined when it is not. `text` is a string or the file's bytes (hashed as they are, no decoding).
 */
function crcOfWritten(text: string | Buffer, head: string, tail: string, seq: number): string | undefined {
  const len = text.length;
  if (len < head.length + tail.length) return undefined;
  // head and tail are ASCII, so characters and bytes agree for them.
  if (
    typeof text === 'string'
      ? !text.startsWith(head) || !text.endsWith(tail)
      : text.toString('latin1', 0, head.length) !== head || text.toString('latin1', len - tail.length) !== tail
  )
    return undefined;
  return payloadCrc(seq, text.slice(head.length, len - tail.length));
}

/** One journal line, newline included, for a record already in canonical JSON. */
export function encodeJournalLine(seq: number, canonicalRec: string): string {
  return `{"v":${FORMAT_VERSION},"seq":${seq},"crc":"${payloadCrc(seq, canonicalRec)}","rec":${canonicalRec}}\n`;
}

/** The whole snapshot file for a state already in canonical JSON. */
export function encodeSnapshot(journalSeq: number, canonicalState: string): string {
  return encodeSnapshotBytes(journalSeq, canonicalState).toString('utf8');
}

/**
 * The whole snapshot file as the bytes written (what `encodeSnapshot` spells). The state is encoded to UTF-8 once,
 * straight into the file's buffer, and its checksum taken over those bytes: a large state is neither encoded twice
 * (once to hash it, once to write it) nor copied into a second string with its head and tail.
 */
export function encodeSnapshotBytes(journalSeq: number, canonicalState: string): Buffer {
  // The head's length does not depend on the checksum's value: the state goes in first.
  const at = snapshotHead(journalSeq, '00000000').length;
  const size = Buffer.byteLength(canonicalState, 'utf8');
  const bytes = Buffer.allocUnsafe(at + size + 2);
  bytes.write(canonicalState, at, size, 'utf8');
  bytes.write(snapshotHead(journalSeq, payloadCrc(journalSeq, bytes.subarray(at, at + size))), 0, at, 'latin1');
  bytes.write('}\n', at + size, 2, 'latin1');
  return bytes;
}

/**
 * Writes the snapshot file for a state given as canonical JSON pieces (`canonicalPieceStream`, or a list) through
 * `write(bytes, position)`: each piece's bytes as soon as the piece comes (none is kept), then the tail, and last the
 * head at position 0, once the checksum over the state's bytes is known (the head's length does not depend on it).
 * The file's bytes are exactly `encodeSnapshot(journalSeq, pieces.join(''))`; returns their length. A chance to pause
 * after each piece. An error of `pieces` or of `write` is thrown as it is, with the file written so far unfinished.
 */
export async function writeSnapshotPieces(
  journalSeq: number,
  pieces: AsyncIterable<string> | Iterable<string>,
  pause: () => Promise<void> | undefined,
  write: (bytes: Buffer, position: number) => Promise<void>,
): Promise<number> {
  let at = snapshotHead(journalSeq, '00000000').length;
  let crc = payloadCrcStart(journalSeq);
  for await (const piece of pieces) {
    // Pieces split the text between JSON tokens, never inside a string: each is valid UTF-16 on its own.
    const bytes = Buffer.from(piece, 'utf8');
    crc = crc32(bytes, crc);
    await write(bytes, at);
    at += bytes.length;
    const waiting = pause();
    if (waiting !== undefined) await waiting;
  }
  await write(Buffer.from('}\n', 'latin1'), at);
  await write(Buffer.from(snapshotHead(journalSeq, payloadCrcEnd(crc)), 'latin1'), 0);
  return at + 2;
}

export interface DecodedSnapshot {
  readonly journalSeq: number;
  readonly state: JsonValue;
}

/** Parses and verifies a snapshot file. @throws StoreCorruptError naming `file`, line 1. */
export function decodeSnapshot(bytes: Buffer, file: string): DecodedSnapshot {
  const fail = (detail: string, cause?: unknown): StoreCorruptError =>
    new StoreCorruptError(file, 1, detail, cause === undefined ? undefined : { cause });
  let parsed: unknown;
  try {
    parsed = JSON.parse(textOf(bytes));
  } catch (e) {
    throw fail(bytes.length === 0 ? 'empty snapshot file' : 'snapshot is not valid JSON', e);
  }
  const obj = asObject(parsed);
  if (obj === undefined) throw fail('snapshot is not a JSON object');
  checkVersion(obj.v, fail);
  const journalSeq = obj.journalSeq;
  if (typeof journalSeq !== 'number' || !Number.isSafeInteger(journalSeq) || journalSeq < 0) {
    throw fail(`bad journalSeq ${JSON.stringify(journalSeq)}`);
  }
  if (!('state' in obj)) throw fail('snapshot has no state');
  const state = obj.state as JsonValue;
  if (typeof obj.crc !== 'string') throw fail('snapshot has no checksum');
  const head = `{"v":${FORMAT_VERSION},"journalSeq":${journalSeq},"crc":${JSON.stringify(obj.crc)},"state":`;
  if (crcOfWritten(bytes, head, '}\n', journalSeq) === obj.crc) return { journalSeq, state };
  const expected = checksumOf(journalSeq, state, fail);
  if (obj.crc !== expected)
    throw fail(`snapshot checksum mismatch (file says ${obj.crc}, content hashes to ${expected})`);
  return { journalSeq, state };
}

/** A snapshot file's head as the encoder writes it: the version, the journal's seq and the checksum. */
const SNAPSHOT_HEAD = new RegExp(
  `^\\{"v":${FORMAT_VERSION},"journalSeq":(0|[1-9][0-9]{0,15}),"crc":"([0-9a-f]{8})","state":`,
);
/** A snapshot's first bytes, which hold its head (`SNAPSHOT_HEAD`: at most 62 bytes) whole. */
const HEAD_BYTES = 96;
/** Bytes hashed between two chances to pause (well under a millisecond). */
const CRC_STRETCH = 1 << 20;

/**
 * A snapshot file decoded as it is read: its bytes pushed in file order, a chunk at a time (`push`, as steps that
 * yield after each stretch of the checksum and each slice of the state), then `end()`. A chunk's buffer may be reused
 * once its steps are done: no line is kept, a line cut by a chunk's end is carried over as bytes (so no character is
 * cut either). A file read this way never sits whole in memory, and its reader's buffer is mapped once (issue 16: on
 * the project's VMs a fresh 26 MiB buffer, 100,000 orders before the order table, cost more to fault in than the bytes
 * cost to read and hash).
 *
 * `end()` gives `decodeSnapshot`'s result for a file exactly as the encoder writes it: its head, `size` bytes (what
 * `stat` said), a checksum that matches, and a state in the layout of cuts (or with no line break at all). Otherwise
 * undefined, and the caller lets `decodeSnapshot` decide over the whole file (which also names what is wrong). The
 * checksum is known only at the end, so a corrupt file is parsed as far as it goes first; nothing parsed is used then.
 */
export class SnapshotReader {
  /** The file offset of the next byte pushed. */
  private at = 0;
  /** The state's bytes: `[from, to)` (from: the head's length, once read). */
  private from = 0;
  private readonly to: number;
  private journalSeq = 0;
  /** The checksum the head names, and the running CRC-32 of what it covers. */
  private written = '';
  private crc = 0;
  /** The bytes after the state seen so far (the encoder's `}\n`), as Latin-1. */
  private tail = '';
  private failed = false;
  /** The state's last line was fed. */
  private finished = false;
  private readonly parser = new CutLayoutParser();
  /** The file's first bytes, until the head is read. */
  private head: Buffer | undefined = Buffer.alloc(0);
  /** The start of a line cut by the end of the chunk before: `carry[0, carried)`. */
  private carry = Buffer.allocUnsafe(0);
  private carried = 0;

  constructor(private readonly size: number) {
    this.to = size - 2;
  }

  *push(chunk: Buffer): Generator<void, void> {
    let at = this.at;
    this.at += chunk.length;
    if (this.failed) return;
    if (this.head !== undefined) {
      // The head first, whole (the chunks it spans may be tiny); then its bytes are taken as the file's first.
      const taken = Math.min(chunk.length, HEAD_BYTES - this.head.length);
      const head = (this.head = Buffer.concat([this.head, chunk.subarray(0, taken)]));
      if (head.length < HEAD_BYTES && this.at < this.size) return;
      this.head = undefined;
      if (!this.readHead(head)) return;
      yield* this.take(head, 0);
      chunk = chunk.subarray(taken);
      at += taken;
    }
    yield* this.take(chunk, at);
  }

  /** The file's bytes `chunk`, from offset `at`, once the head is known: checksum, lines, the tail. */
  private *take(chunk: Buffer, at: number): Generator<void, void> {
    if (this.failed || chunk.length === 0) return;
    for (let p = Math.max(this.to, at); p < Math.min(this.size, at + chunk.length); p++)
      this.tail += String.fromCharCode(chunk[p - at]!);
    // This chunk's part of the state: [s, e).
    const s = Math.max(this.from - at, 0);
    const e = Math.min(this.to - at, chunk.length);
    if (this.finished || s > e) return;
    for (let p = s; p < e; p += CRC_STRETCH) {
      this.crc = crc32(chunk.subarray(p, Math.min(e, p + CRC_STRETCH)), this.crc);
      yield;
    }
    const holdsEnd = at + e === this.to;
    for (let start = s; ;) {
      const found = chunk.indexOf(LINE_BREAK, start);
      const end = found < 0 || found >= e ? e : found;
      const last = end === e && holdsEnd;
      if (end === e && !last) {
        this.carryOn(chunk, start, end);
        return;
      }
      let fed: ReturnType<CutLayoutParser['line']>;
      if (this.carried > 0) {
        this.carryOn(chunk, start, end);
        fed = this.parser.line(this.carry, 0, this.carried, last);
        this.carried = 0;
      } else fed = this.parser.line(chunk, start, end, last);
      if (fed === 'not cut') {
        this.failed = true;
        return;
      }
      if (last) {
        this.finished = true;
        return;
      }
      if (fed === 'slice') yield;
      start = end + 1;
    }
  }

  /** The decoded snapshot, or undefined when the file is not exactly as the encoder writes it (see the class). */
  end(): DecodedSnapshot | undefined {
    if (this.failed || !this.finished || this.at !== this.size || this.tail !== '}\n') return undefined;
    if (payloadCrcEnd(this.crc) !== this.written) return undefined;
    const parsed = this.parser.value();
    return parsed === NOT_CUT ? undefined : { journalSeq: this.journalSeq, state: parsed.value as JsonValue };
  }

  /** The head, from the file's first bytes (HEAD_BYTES, or the whole file). False: not the encoder's head. */
  private readHead(bytes: Buffer): boolean {
    const head = SNAPSHOT_HEAD.exec(bytes.toString('latin1'));
    const journalSeq = Number(head?.[1]);
    if (head === null || !Number.isSafeInteger(journalSeq) || this.to < head[0].length) {
      this.failed = true;
      return false;
    }
    this.from = head[0].length;
    this.journalSeq = journalSeq;
    this.written = head[2]!;
    this.crc = payloadCrcStart(journalSeq);
    return true;
  }

  /** Appends `chunk[start, end)` to the carried line. */
  private carryOn(chunk: Buffer, start: number, end: number): void {
    const n = this.carried + end - start;
    if (this.carry.length < n) {
      const larger = Buffer.allocUnsafe(Math.max(n, 2 * this.carry.length));
      this.carry.copy(larger, 0, 0, this.carried);
      this.carry = larger;
    }
    chunk.copy(this.carry, this.carried, start, end);
    this.carried = n;
  }
}

export interface DecodedJournal {
  /** Records with seq > the snapshot's journalSeq, in order. */
  readonly records: JsonValue[];
  /** Seq of the last complete record (or the snapshot's journalSeq when that is larger or there is none). */
  readonly lastSeq: number;
  /** Bytes up to and including the last newline: everything after it is a torn tail. */
  readonly validLength: number;
  /** Complete records already folded into the snapshot (a crash between snapshot rename and journal reset). */
  readonly staleCount: number;
  /** Present when the file ended in an incomplete record, which was dropped. */
  readonly tornWarning: string | undefined;
}

/**
 * Parses and verifies a journal. `snapshotSeq` is the journalSeq of the snapshot on disk (undefined when there
 * is none). Only a final segment with no trailing newline counts as torn: it can only come from an append that
 * never returned, because each record is written with its newline in one write and then fsynced. Any other
 * defect is corruption.
 * @throws StoreCorruptError naming `file` and the 1-based line.
 */
export function decodeJournal(bytes: Buffer, file: string, snapshotSeq: number | undefined): DecodedJournal {
  return runSteps(journalSteps(bytes, file, snapshotSeq));
}

/** Journal lines read between two chances to pause in `decodeJournalInSlices` (a few hundred microseconds). */
export const JOURNAL_LINES = 64;

/**
 * `decodeJournal` with a chance to pause (`pause()`, awaited when it returns a promise) every few records: a journal
 * that grew long (a crash before the next compaction) is read over several turns. The same result and errors.
 */
export function decodeJournalInSlices(
  bytes: Buffer,
  file: string,
  snapshotSeq: number | undefined,
  pause: Pause,
): Promise<DecodedJournal> {
  return runStepsSliced(journalSteps(bytes, file, snapshotSeq), pause);
}

/** `decodeJournal`'s work, yielding after every JOURNAL_LINES lines. */
function* journalSteps(
  bytes: Buffer,
  file: string,
  snapshotSeq: number | undefined,
): Generator<void, DecodedJournal, undefined> {
  // 0x0a never occurs inside a multi-byte UTF-8 sequence, so cutting at the last newline byte is safe.
  const validLength = bytes.lastIndexOf(0x0a) + 1;
  const complete = textOf(bytes.subarray(0, validLength));
  const lines = complete.length === 0 ? [] : complete.slice(0, -1).split('\n');
  const base = snapshotSeq ?? 0;
  const records: JsonValue[] = [];
  let prevSeq: number | undefined;
  let staleCount = 0;
  for (let i = 0; i < lines.length; i++) {
    if (i > 0 && i % JOURNAL_LINES === 0) yield;
    const lineNo = i + 1;
    const fail = (detail: string, cause?: unknown): StoreCorruptError =>
      new StoreCorruptError(file, lineNo, detail, cause === undefined ? undefined : { cause });
    const text = lines[i] ?? '';
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (e) {
      throw fail(text.length === 0 ? 'empty line' : 'record is not valid JSON', e);
    }
    const obj = asObject(parsed);
    if (obj === undefined) throw fail('record is not a JSON object');
    checkVersion(obj.v, fail);
    const seq = obj.seq;
    if (typeof seq !== 'number' || !Number.isSafeInteger(seq) || seq < 1) throw fail(`bad seq ${JSON.stringify(seq)}`);
    if (!('rec' in obj)) throw fail('record has no rec');
    if (typeof obj.crc !== 'string') throw fail('record has no checksum');
    const rec = obj.rec as JsonValue;
    const written = crcOfWritten(
      text,
      `{"v":${FORMAT_VERSION},"seq":${seq},"crc":${JSON.stringify(obj.crc)},"rec":`,
      '}',
      seq,
    );
    const expected = written === obj.crc ? written : checksumOf(seq, rec, fail);
    if (obj.crc !== expected) throw fail(`checksum mismatch (line says ${obj.crc}, content hashes to ${expected})`);
    if (prevSeq === undefined) {
      // The first record must continue the snapshot (or start at 1): a larger seq means records were lost.
      if (seq > base + 1) {
        throw fail(
          snapshotSeq === undefined
            ? `journal starts at seq ${seq} but there is no snapshot (expected seq 1)`
            : `journal starts at seq ${seq} but the snapshot covers only up to ${snapshotSeq}`,
        );
      }
    } else if (seq !== prevSeq + 1) {
      throw fail(
        seq <= prevSeq ? `seq ${seq} repeats or goes back (previous ${prevSeq})` : `seq gap: ${prevSeq} then ${seq}`,
      );
    }
    prevSeq = seq;
    if (seq <= base) staleCount++;
    else records.push(rec);
  }
  const tornBytes = bytes.length - validLength;
  const tornWarning =
    tornBytes > 0
      ? `${file}:${lines.length + 1}: dropped a torn last record (${tornBytes} bytes without a trailing newline; its append never completed)`
      : undefined;
  return { records, lastSeq: Math.max(base, prevSeq ?? 0), validLength, staleCount, tornWarning };
}

/** Recomputes a checksum; a parsed value that cannot be re-serialized (e.g. 1e999 became Infinity) is corrupt. */
function checksumOf(
  seq: number,
  value: JsonValue,
  fail: (detail: string, cause?: unknown) => StoreCorruptError,
): string {
  try {
    return payloadCrc(seq, canonicalJson(value));
  } catch (e) {
    throw fail('content cannot be re-serialized', e);
  }
}

/**
 * The bytes as text (UTF-8). ASCII bytes, what the files almost always are, are read as Latin-1, which for them is
 * the same text, copied rather than decoded byte by byte.
 */
function textOf(bytes: Buffer): string {
  return isAscii(bytes) ? bytes.toString('latin1') : bytes.toString('utf8');
}

function asObject(v: unknown): Record<string, unknown> | undefined {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
}

function checkVersion(v: unknown, fail: (detail: string, cause?: unknown) => StoreCorruptError): void {
  if (v === FORMAT_VERSION) return;
  if (typeof v === 'number' && Number.isInteger(v) && v > 0) {
    const detail = `unsupported format version ${v} (this build reads version ${FORMAT_VERSION})`;
    throw fail(detail, new StoreError('version', detail));
  }
  throw fail(`bad format version ${JSON.stringify(v)}`);
}
