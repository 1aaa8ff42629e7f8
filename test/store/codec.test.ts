/** The store's format helpers: CRC-32 and canonical JSON. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DeferredList, type SliceTexts } from '../../src/domain/deferred-list.js';
import {
  canonicalJson,
  canonicalPieces,
  canonicalPieceStream,
  crc32Hex,
  decodeJournal,
  decodeSnapshot,
  encodeJournalLine,
  encodeSnapshot,
  PIECE_ITEMS,
  writeSnapshotPieces,
} from '../../src/store/codec.js';
import { StoreError } from '../../src/store/errors.js';

describe('crc32Hex (zlib.crc32)', () => {
  it('matches the standard check values, as 8 lowercase hex digits', () => {
    expect(crc32Hex('123456789')).toBe('cbf43926');
    expect(crc32Hex('')).toBe('00000000');
    // A value with leading zero nibbles keeps its width, and a value >= 2^31 stays unsigned.
    expect(crc32Hex('a')).toBe('e8b7be43');
    expect(crc32Hex(new Uint8Array([0]))).toBe('d202ef8d');
  });
  it('hashes a string as its UTF-8 bytes', () => {
    fc.assert(fc.property(fc.string({ unit: 'grapheme' }), (s) => crc32Hex(s) === crc32Hex(Buffer.from(s, 'utf8'))));
  });
  it('detects every single-bit flip (what a torn or rotted byte looks like)', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 1, maxLength: 300 }),
        fc.nat(),
        fc.integer({ min: 0, max: 7 }),
        (bytes, at, bit) => {
          const flipped = Uint8Array.from(bytes);
          flipped[at % bytes.length]! ^= 1 << bit;
          return crc32Hex(flipped) !== crc32Hex(bytes);
        },
      ),
    );
  });
});

describe('canonicalJson', () => {
  it('does not depend on key insertion order', () => {
    expect(canonicalJson({ b: 1, a: { d: [1, { z: 0, y: 'x' }], c: null } })).toBe(
      '{"a":{"c":null,"d":[1,{"y":"x","z":0}]},"b":1}',
    );
  });
  it('is reproduced exactly by parse + canonicalize (what checksum verification relies on)', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (v) => {
        const text = canonicalJson(v);
        return canonicalJson(JSON.parse(text)) === text;
      }),
    );
  });
  it('writes the same text whether keys arrive sorted (the native fast path) or in any other order', () => {
    const reorder = (v: unknown, keys: (k: string[]) => string[]): unknown => {
      if (Array.isArray(v)) return v.map((x) => reorder(x, keys));
      if (typeof v !== 'object' || v === null) return v;
      const rec = v as Record<string, unknown>;
      return Object.fromEntries(keys(Object.keys(rec)).map((k) => [k, reorder(rec[k], keys)]));
    };
    fc.assert(
      fc.property(fc.jsonValue(), (v) => {
        const sorted = canonicalJson(reorder(v, (k) => [...k].sort()));
        expect(canonicalJson(reorder(v, (k) => [...k].sort().reverse()))).toBe(sorted);
        expect(sorted).toBe(canonicalJson(v));
      }),
    );
  });
  it('refuses, with the path, what the native serializer would silently change (also under sorted keys)', () => {
    expect(() => canonicalJson({ a: [1, undefined] })).toThrow(/\$\.a\[1\]/);
    expect(() => canonicalJson({ a: 1, b: { c: Number.NaN } })).toThrow(/\$\.b\.c: non-finite/);
    expect(() => canonicalJson({ a: new Date(0) })).toThrow(/\$\.a: not a plain object/);
    expect(() => canonicalJson({ a: { toJSON: () => 1 } })).toThrow(/\$\.a\.toJSON/);
    const cyclic: Record<string, unknown> = { a: 1 };
    cyclic.b = cyclic;
    expect(() => canonicalJson(cyclic)).toThrow(/cycle/);
    expect(canonicalJson({ a: 1, b: undefined, c: [{ d: 'x' }] })).toBe('{"a":1,"c":[{"d":"x"}]}');
  });
  it('writes a "__proto__" key as an ordinary key, and no other object gains one (fast-check seed 324444772)', () => {
    // JSON.parse makes "__proto__" an own key; a prototype-free record holds it too (a symbol named so).
    const parsed = JSON.parse('{"a":{"__proto__":{"x":1},"b":2},"c":{"y":[{"z":3}]}}') as unknown;
    expect(canonicalJson(parsed)).toBe('{"a":{"__proto__":{"x":1},"b":2},"c":{"y":[{"z":3}]}}');
    const bySymbol = Object.assign(Object.create(null) as Record<string, unknown>, { other: 1 });
    Object.defineProperty(bySymbol, '__proto__', { value: 2, enumerable: true });
    expect(canonicalJson({ cursors: bySymbol, plain: { k: 'v' } })).toBe(
      '{"cursors":{"__proto__":2,"other":1},"plain":{"k":"v"}}',
    );
    fc.assert(
      fc.property(fc.jsonValue(), (v) => {
        const text = canonicalJson(JSON.parse(`{"__proto__":{},"v":${JSON.stringify(v)}}`));
        expect(JSON.parse(text)).toEqual(JSON.parse(`{"__proto__":{},"v":${canonicalJson(v)}}`));
      }),
    );
  });
});

describe('canonicalPieces and writeSnapshotPieces (a compaction in slices)', () => {
  /** Values with long arrays (sliced) at any depth, next to short ones and scalars. */
  const arbSliced = fc.letrec((tie) => ({
    value: fc.oneof(
      { depthSize: 'small' },
      fc.jsonValue({ maxDepth: 2 }),
      fc.array(fc.jsonValue({ maxDepth: 1 }), { minLength: 500, maxLength: 1300 }),
      fc.dictionary(fc.string(), tie('value'), { maxKeys: 4 }),
    ),
  })).value;

  it('the pieces joined are exactly canonicalJson, and each long array slice is a chance to pause', async () => {
    await fc.assert(
      fc.asyncProperty(arbSliced, async (v) => {
        let pauses = 0;
        const pieces = await canonicalPieces(v, () => {
          pauses++;
          return pauses % 2 === 0 ? Promise.resolve() : undefined;
        });
        expect(pieces.join('')).toBe(canonicalJson(v));
        const longest = (x: unknown): number =>
          Array.isArray(x)
            ? Math.max(x.length, ...x.map(longest))
            : typeof x === 'object' && x !== null
              ? Math.max(0, ...Object.values(x).map(longest))
              : 0;
        if (longest(v) > PIECE_ITEMS) expect(pauses).toBeGreaterThan(0);
      }),
      { numRuns: 40 },
    );
  });

  it('a DeferredList is written as the array its toJSON gives, encoded a slice at a time', async () => {
    const items = Array.from({ length: 1500 }, (_, i) => i);
    let encoded = 0;
    const list = DeferredList.of(items, (i) => {
      encoded++;
      return { z: i, a: [String(i)] };
    });
    let pauses = 0;
    const pieces = await canonicalPieces({ k: 1, list, tail: [list.length] }, () => {
      pauses++;
      // Each slice is encoded only when written: by the first pause, at most one slice was.
      if (pauses === 1) expect(encoded).toBeLessThanOrEqual(PIECE_ITEMS);
      return undefined;
    });
    expect(pieces.join('')).toBe(canonicalJson({ k: 1, list: list.toJSON(), tail: [1500] }));
    expect(pauses).toBe(Math.ceil(1500 / PIECE_ITEMS));
  });

  it('a DeferredList with a text memo writes an item it holds text for without encoding it: the same text', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.jsonValue({ maxDepth: 2 }), { minLength: 0, maxLength: 400 }),
        fc.array(fc.tuple(fc.nat(), fc.jsonValue({ maxDepth: 2 })), { maxLength: 30 }),
        async (values, changes) => {
          const texts = new WeakMap<{ v: unknown }, string>();
          let encoded = 0;
          const encode = (item: { v: unknown }): unknown => {
            encoded++;
            return { z: item.v, a: [1] };
          };
          const items = values.map((v) => ({ v }));
          const write = async (): Promise<string> => {
            encoded = 0;
            const list = DeferredList.of(items, encode, texts);
            const text = (await canonicalPieces({ list }, () => undefined)).join('');
            expect(text).toBe(canonicalJson({ list: items.map(encode) }));
            return text;
          };
          await write();
          // A changed item is a new object: only those are encoded again (the check above encodes all, after).
          const replaced = new Set<number>();
          for (const [at, v] of changes) {
            if (items.length === 0) break;
            replaced.add(at % items.length);
            items[at % items.length] = { v };
          }
          encoded = 0;
          const list = DeferredList.of(items, encode, texts);
          const text = (await canonicalPieces({ list }, () => undefined)).join('');
          expect(encoded).toBe(replaced.size);
          expect(text).toBe(canonicalJson({ list: items.map((item) => ({ z: item.v, a: [1] })) }));
        },
      ),
      { numRuns: 60 },
    );
  });

  it('a DeferredList with slice texts writes what encoding every item afresh writes, looking up only the slices edited', async () => {
    /** A text memo that counts its look-ups. */
    class CountedTexts extends WeakMap<{ v: number }, string> {
      gets = 0;
      override get(item: { v: number }): string | undefined {
        this.gets++;
        return super.get(item);
      }
    }
    type Edit = { kind: 'insert' | 'remove' | 'replace' | 'append'; at: number; v: number };
    const arbEdit = fc.record({
      kind: fc.constantFrom<Edit['kind']>('insert', 'remove', 'replace', 'append'),
      at: fc.nat(),
      v: fc.integer({ min: -1000, max: 1000 }),
    });
    await fc.assert(
      fc.asyncProperty(
        fc.nat(12 * PIECE_ITEMS),
        fc.array(fc.array(arbEdit, { maxLength: 4 }), { minLength: 1, maxLength: 8 }),
        async (n, rounds) => {
          const texts = new CountedTexts();
          const slices: SliceTexts = { slices: [] };
          const encode = (item: { v: number }): unknown => ({ v: item.v, s: ['x', item.v % 7] });
          const items = Array.from({ length: n }, (_, v) => ({ v }));
          const write = async (): Promise<number> => {
            texts.gets = 0;
            const list = DeferredList.of(items, encode, texts, slices);
            const text = (await canonicalPieces({ list }, () => undefined)).join('');
            expect(text).toBe(canonicalJson({ list: items.map(encode) }));
            return texts.gets;
          };
          await write();
          // A first write cuts slices of PIECE_ITEMS.
          expect(slices.slices.map((x) => x.items.length)).toEqual(
            Array.from({ length: Math.ceil(n / PIECE_ITEMS) }, (_, k) => Math.min(PIECE_ITEMS, n - k * PIECE_ITEMS)),
          );
          let edited = 0;
          for (const edits of rounds) {
            for (const { kind, at, v } of edits) {
              const i = items.length === 0 ? 0 : at % items.length;
              if (kind === 'append') items.push({ v });
              else if (kind === 'insert') items.splice(i, 0, { v });
              else if (items.length > 0) items.splice(i, 1, ...(kind === 'replace' ? [{ v }] : []));
            }
            edited += edits.length;
            const gets = await write();
            // Each edit re-renders the slice it lands in (up to 2·PIECE_ITEMS items once an insert makes it longer)
            // and a slice short of full before it, wherever it is: never every slice after it.
            expect(gets).toBeLessThanOrEqual(edits.length * 3 * PIECE_ITEMS);
            if (edits.length === 0) expect(gets).toBe(0);
            // The slices cover the list in order, none empty, and edits add at most one slice each.
            expect(slices.slices.flatMap((x) => x.items)).toEqual(items);
            expect(slices.slices.every((x) => x.items.length > 0 && x.items.length < 2 * PIECE_ITEMS)).toBe(true);
            expect(slices.slices.length).toBeLessThanOrEqual(Math.ceil(n / PIECE_ITEMS) + edited);
          }
        },
      ),
      { numRuns: 80 },
    );
  });

  it('an order inserted or dropped near the start of a long list re-renders the slice around it, not the slices after', async () => {
    let gets = 0;
    const memo = new WeakMap<{ v: number }, string>();
    const texts = {
      get: (item: { v: number }) => (gets++, memo.get(item)),
      set: (item: { v: number }, t: string) => memo.set(item, t),
    };
    const encode = (item: { v: number }): unknown => ({ v: item.v });
    const slices: SliceTexts = { slices: [] };
    const items = Array.from({ length: 20 * PIECE_ITEMS }, (_, v) => ({ v }));
    const write = async (): Promise<string> => {
      gets = 0;
      const list = DeferredList.of(items, encode, texts, slices);
      return (await canonicalPieces({ list }, () => undefined, true)).join('');
    };
    await write();
    items.splice(5, 0, { v: -1 });
    const inserted = await write();
    expect(JSON.parse(inserted)).toEqual({ list: items.map((x) => ({ v: x.v })) });
    // The first slice took the new order (PIECE_ITEMS + 1 items, one line); every other slice is the last write's.
    expect(gets).toBe(PIECE_ITEMS + 1);
    expect(slices.slices.map((x) => x.items.length)).toEqual([PIECE_ITEMS + 1, ...Array<number>(19).fill(PIECE_ITEMS)]);
    expect(inserted.split('\n')).toHaveLength(22);
    const before = slices.slices;
    items.splice(3 * PIECE_ITEMS + 7, 1);
    await write();
    expect(gets).toBe(PIECE_ITEMS - 1);
    expect(slices.slices.filter((x, k) => x !== before[k]).map((x) => x.items.length)).toEqual([PIECE_ITEMS - 1]);
    // An order replaced in the next slice: that slice alone (the one short of full before it is cut as it was).
    items[4 * PIECE_ITEMS + 9] = { v: -2 };
    await write();
    expect(gets).toBe(PIECE_ITEMS);
  });

  it('a DeferredList with a text memo refuses an item as one without does, naming the same path', async () => {
    const items = Array.from({ length: 300 }, (_, i) => ({ i }));
    const encode = (item: { i: number }): unknown => ({ n: item.i === 250 ? Number.NaN : item.i });
    const plain = canonicalPieces({ list: DeferredList.of(items, encode) }, () => undefined);
    const memo = canonicalPieces({ list: DeferredList.of(items, encode, new WeakMap()) }, () => undefined);
    const message = await plain.then(
      () => 'written',
      (e: Error) => e.message,
    );
    expect(message).toMatch(/non-finite/);
    await expect(memo).rejects.toThrow(message);
  });

  it('a DeferredList with a text memo writes an item the check refuses but the walk writes (a "__proto__" key) once', async () => {
    const items = [{ i: 0 }, { i: 1 }];
    let encoded = 0;
    const encode = (item: { i: number }): unknown => {
      encoded++;
      return JSON.parse(`{"b":${item.i},"__proto__":{"a":1}}`) as unknown;
    };
    const text = (await canonicalPieces({ list: DeferredList.of(items, encode, new WeakMap()) }, () => undefined)).join(
      '',
    );
    expect(encoded).toBe(2);
    expect(text).toBe(canonicalJson({ list: items.map(encode) }));
  });

  it('refuses what canonicalJson refuses, with StoreError invalid', async () => {
    const bad = { a: Array.from({ length: 600 }, (_, i) => (i === 599 ? Number.NaN : i)) };
    await expect(canonicalPieces(bad, () => undefined)).rejects.toBeInstanceOf(StoreError);
    await expect(canonicalPieces({ a: new Date(0) }, () => undefined)).rejects.toThrow(/not a plain object/);
  });

  it('canonicalPieceStream makes a piece only when asked for it: the pieces before it are not held', async () => {
    const items = Array.from({ length: 3000 }, (_, i) => i);
    let encoded = 0;
    const list = DeferredList.of(items, (i) => {
      encoded++;
      return { s: 'x'.repeat(200), i };
    });
    const stream = canonicalPieceStream({ list }, () => undefined);
    const first = await stream.next();
    // One piece is about PIECE_CHARS (64 Ki) characters: a few slices of these items, not the whole list.
    expect(first.done).toBe(false);
    expect(encoded).toBeLessThan(items.length / 2);
    const rest: string[] = [];
    for await (const piece of stream) rest.push(piece);
    expect(encoded).toBe(items.length);
    expect((first.value as string) + rest.join('')).toBe(canonicalJson({ list: list.toJSON() }));
  });

  it('writeSnapshotPieces writes the bytes of encodeSnapshot, each piece as it comes and the head last', async () => {
    await fc.assert(
      fc.asyncProperty(arbSliced, fc.nat(1000), fc.boolean(), async (v, seq, streamed) => {
        const pieces = streamed ? canonicalPieceStream(v, () => undefined) : await canonicalPieces(v, () => undefined);
        const file = Buffer.alloc(encodeSnapshot(seq, canonicalJson(v)).length * 4 + 64);
        const writes: number[] = [];
        const size = await writeSnapshotPieces(
          seq,
          pieces,
          () => undefined,
          async (bytes, position) => {
            bytes.copy(file, position);
            writes.push(position);
          },
        );
        const bytes = file.subarray(0, size);
        expect(bytes.toString('utf8')).toBe(encodeSnapshot(seq, canonicalJson(v)));
        expect(decodeSnapshot(bytes, 'snapshot.json').state).toEqual(JSON.parse(canonicalJson(v)));
        // The body and tail in order, then the head at 0 (its checksum known only once the body was hashed).
        expect(writes.at(-1)).toBe(0);
        expect(writes.slice(0, -1)).toEqual([...writes.slice(0, -1)].sort((a, b) => a - b));
        expect(writes[0]).toBeGreaterThan(0);
      }),
      { numRuns: 30 },
    );
  });
});

describe('decodeJournal', () => {
  it('round-trips what encodeJournalLine writes', () => {
    fc.assert(
      fc.property(fc.array(fc.jsonValue({ maxDepth: 2 }), { maxLength: 20 }), (values) => {
        const text = values.map((v, i) => encodeJournalLine(i + 1, canonicalJson(v))).join('');
        const decoded = decodeJournal(Buffer.from(text, 'utf8'), 'j', undefined);
        expect(decoded.records).toEqual(values.map((v) => JSON.parse(JSON.stringify(v))));
        expect(decoded.lastSeq).toBe(values.length);
        expect(decoded.tornWarning).toBeUndefined();
      }),
    );
  });
  it('treats any strict prefix of a final record as a torn tail, never as corruption', () => {
    const head = encodeJournalLine(1, '{"a":1}');
    const last = encodeJournalLine(2, canonicalJson({ text: 'ünïcödé €', n: 2 }));
    const bytes = Buffer.from(last, 'utf8');
    for (let cut = 0; cut < bytes.length; cut++) {
      const decoded = decodeJournal(Buffer.concat([Buffer.from(head), bytes.subarray(0, cut)]), 'j', undefined);
      expect(decoded.records).toEqual([{ a: 1 }]);
      expect(decoded.validLength).toBe(Buffer.byteLength(head));
      expect(decoded.tornWarning === undefined).toBe(cut === 0);
    }
  });
});

describe('checksums over the bytes written', () => {
  // A payload written in another key order (not canonical) is told apart by which checksum it carries: one over its
  // bytes as they lie in the file loads without re-serializing; one over anything else is corruption.
  const payload = '{"b":1,"a":"x"}';
  const rawCrc = (seq: number): string => crc32Hex(`[1,${seq},${payload}]`);

  it('a snapshot loads when its checksum is the one of its bytes as written', () => {
    const file = `{"v":1,"journalSeq":3,"crc":"${rawCrc(3)}","state":${payload}}\n`;
    expect(decodeSnapshot(Buffer.from(file), 's')).toEqual({ journalSeq: 3, state: { a: 'x', b: 1 } });
    // The same bytes under the checksum of another seq (or flipped payload bytes) are corrupt.
    expect(() => decodeSnapshot(Buffer.from(file.replace('"journalSeq":3', '"journalSeq":4')), 's')).toThrow(
      /checksum mismatch/,
    );
    expect(() => decodeSnapshot(Buffer.from(file.replace('"x"', '"y"')), 's')).toThrow(/checksum mismatch/);
  });

  it('a journal line loads when its checksum is the one of its bytes as written', () => {
    const line = `{"v":1,"seq":1,"crc":"${rawCrc(1)}","rec":${payload}}\n`;
    expect(decodeJournal(Buffer.from(line), 'j', undefined).records).toEqual([{ a: 'x', b: 1 }]);
    expect(() => decodeJournal(Buffer.from(line.replace('"x"', '"y"')), 'j', undefined)).toThrow(/checksum mismatch/);
  });

  it('what the encoders write carries the checksum of its own bytes, and reformatted JSON with the canonical checksum still loads', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 3 }), fc.nat({ max: 1000 }), (v, seq) => {
        const canonical = canonicalJson(v);
        const snap = encodeSnapshot(seq, canonical);
        expect(snap).toContain(`"crc":"${crc32Hex(`[1,${seq},${canonical}]`)}"`);
        expect(decodeSnapshot(Buffer.from(snap), 's').state).toEqual(JSON.parse(canonical));
        const spaced = snap.replace(
          `"state":${canonical}}`,
          () => `"state": ${JSON.stringify(JSON.parse(canonical), null, 1)} }`,
        );
        expect(decodeSnapshot(Buffer.from(spaced), 's').state).toEqual(JSON.parse(canonical));
      }),
    );
  });
});
