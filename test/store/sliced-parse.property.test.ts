/**
 * A snapshot parsed a slice at a time (src/store/sliced-parse.ts `parseSteps`, src/store/codec.ts `SnapshotReader`): always what the parse of
 * the whole text gives, value or error, whatever the text; and it pauses between the slices of the writer's layout.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { StoreCorruptError } from '../../src/domain/errors.js';
import {
  canonicalJson,
  canonicalPieceStream,
  decodeJournal,
  decodeJournalInSlices,
  decodeSnapshot,
  encodeJournalLine,
  encodeSnapshot,
  JOURNAL_LINES,
  PIECE_ITEMS,
  SnapshotReader,
  writeSnapshotPieces,
} from '../../src/store/codec.js';
import { runStepsSliced, type Pause } from '../../src/domain/steps.js';
import { parseSteps } from '../../src/store/sliced-parse.js';

/**
 * A snapshot file decoded a piece at a time as the file store decodes it (src/store/file-store.ts
 * `readSnapshotInSlices`), here from bytes in memory pushed as one chunk: `decodeSnapshot` decides what the reader
 * leaves to it.
 */
async function decodeSnapshotInSlices(bytes: Buffer, file: string, pause: Pause): Promise<unknown> {
  const reader = new SnapshotReader(bytes.length);
  await runStepsSliced(reader.push(bytes), pause);
  return reader.end() ?? decodeSnapshot(bytes, file);
}

/** The parse driven as the stores drive it, asking `pause` after each slice. */
const parseInSlices = (bytes: Buffer, from: number, to: number, pause: Pause): Promise<unknown> =>
  runStepsSliced(parseSteps(bytes, from, to), pause);

/** Values that hold long arrays (written in slices) at various places: the root, object values, nested objects. */
const arbItem = fc.oneof(
  fc.jsonValue({ maxDepth: 2 }),
  fc.record({ id: fc.string(), qty: fc.string(), fills: fc.array(fc.nat(), { maxLength: 3 }) }),
);
const arbLong = fc.array(arbItem, { minLength: PIECE_ITEMS + 1, maxLength: 3 * PIECE_ITEMS + 7 });
/** Strings that look like the parser's placeholders, to show they cannot be taken for one. */
const arbTricky = fc.constantFrom('\u00010', '\u00011', '\u0001', '\\u00010', 'a\nb', '[', ']', ',\n');
const arbHolder: fc.Arbitrary<unknown> = fc.oneof(
  arbLong,
  fc.dictionary(fc.oneof(fc.string(), arbTricky), fc.oneof(arbLong, fc.jsonValue({ maxDepth: 2 }), arbTricky), {
    maxKeys: 5,
  }),
  fc.record({ books: fc.record({ orders: arbLong, window: arbLong }), balances: fc.jsonValue({ maxDepth: 2 }) }),
  fc.record({ ['__proto__']: arbLong, other: arbTricky }),
);

async function framedText(value: unknown): Promise<string> {
  let text = '';
  for await (const piece of canonicalPieceStream(value, () => undefined, true)) text += piece;
  return text;
}

/** The outcome of a parse as a comparable value: the value, or the error's class and message. */
async function outcomeOf(parse: () => unknown): Promise<{ ok: unknown } | { error: string }> {
  try {
    return { ok: await parse() };
  } catch (e) {
    return { error: `${(e as Error).constructor.name}: ${(e as Error).message}` };
  }
}

const wholeParse = (bytes: Buffer): Promise<{ ok: unknown } | { error: string }> =>
  outcomeOf(() => JSON.parse(bytes.toString('utf8')));
const slicedParse = (bytes: Buffer): Promise<{ ok: unknown } | { error: string }> =>
  outcomeOf(() => parseInSlices(bytes, 0, bytes.length, () => undefined));

/** One edit of a text: a character put in, taken out or replaced, where cuts and structure are. */
const arbEdit = fc.record({
  at: fc.nat(),
  kind: fc.constantFrom('insert', 'delete', 'replace', 'swapLines'),
  char: fc.constantFrom('\n', ',', '[', ']', '{', '}', '"', ' ', '1', '\\', 'x', '\\u0001'),
});

function edited(text: string, edits: readonly { at: number; kind: string; char: string }[]): string {
  let out = text;
  for (const { at, kind, char } of edits) {
    // Aim half the edits next to a line break, where the cuts are.
    const breaks = [...out.matchAll(/\n/g)].map((m) => m.index);
    const i =
      breaks.length > 0 && at % 2 === 0 ? breaks[at % breaks.length]! + ((at >> 1) % 3) - 1 : at % (out.length + 1);
    const p = Math.max(0, Math.min(out.length, i));
    if (kind === 'insert') out = out.slice(0, p) + char + out.slice(p);
    else if (kind === 'delete') out = out.slice(0, p) + out.slice(p + 1);
    else if (kind === 'replace') out = out.slice(0, p) + char + out.slice(p + 1);
    else {
      const lines = out.split('\n');
      const a = at % lines.length;
      const b = (at >> 3) % lines.length;
      [lines[a], lines[b]] = [lines[b]!, lines[a]!];
      out = lines.join('\n');
    }
  }
  return out;
}

/** A snapshot file as the file store writes it: its state in pieces, with line breaks at the cuts. */
async function snapshotFile(value: unknown, journalSeq: number): Promise<Buffer> {
  const parts: { bytes: Buffer; at: number }[] = [];
  const length = await writeSnapshotPieces(
    journalSeq,
    canonicalPieceStream(value, () => undefined, true),
    () => undefined,
    (bytes, at) => {
      parts.push({ bytes, at });
      return Promise.resolve();
    },
  );
  const file = Buffer.alloc(length);
  for (const { bytes, at } of parts) bytes.copy(file, at);
  return file;
}

describe('parseSteps', () => {
  it("gives JSON.parse's value for the writer's layout, the same text as canonicalJson but for the line breaks, pausing at each slice", async () => {
    await fc.assert(
      fc.asyncProperty(arbHolder, async (value) => {
        const text = await framedText(value);
        expect(text.replaceAll('\n', '')).toBe(canonicalJson(value));
        const bytes = Buffer.from(text, 'utf8');
        let pauses = 0;
        const parsed = await parseInSlices(bytes, 0, bytes.length, () => {
          pauses++;
          return undefined;
        });
        expect(parsed).toEqual(JSON.parse(text));
        expect(canonicalJson(parsed)).toBe(canonicalJson(value));
        // Each long array's slices (the writer's pieces of PIECE_ITEMS) are parsed with a pause after each; a
        // value whose tricky strings make the skeleton ambiguous is parsed whole, with the same result.
        // A long array of k slices is written with k + 1 line breaks, the last one before its `]`.
        const ambiguous = text.replace(/\[\n[^]*?\n\]/g, '').includes('\\u0001');
        const slices = (text.match(/\n/g)?.length ?? 0) - (text.match(/\n\]/g)?.length ?? 0);
        // (Text that could be taken for a placeholder is found when read: the slices before it paused already.)
        if (ambiguous) expect(pauses).toBeLessThanOrEqual(slices);
        else expect(pauses).toBe(slices);
      }),
      { numRuns: 60 },
    );
  });

  it('gives exactly what JSON.parse of the whole text gives, value or error, for any edit of the layout', async () => {
    await fc.assert(
      fc.asyncProperty(arbHolder, fc.array(arbEdit, { minLength: 1, maxLength: 4 }), async (value, edits) => {
        const bytes = Buffer.from(edited(await framedText(value), edits), 'utf8');
        expect(await slicedParse(bytes)).toEqual(await wholeParse(bytes));
      }),
      { numRuns: 300 },
    );
  });

  it('reads an empty long list, a long list as the whole text, text without line breaks; refuses a list as a key', async () => {
    for (const text of [
      '{"a":[\n],"b":1}',
      '[\n1,2,\n3\n]',
      '{"a":[1,2]}',
      '[\n1\n]\n',
      '[\n1,\n]',
      '[\n,\n1\n]',
      '{[\n1\n]:2}',
      '{"a":[\n1\n],"a":[\n2\n]}',
    ]) {
      const bytes = Buffer.from(text, 'utf8');
      expect(await slicedParse(bytes)).toEqual(await wholeParse(bytes));
    }
    expect(await parseInSlices(Buffer.from('{"__proto__":[\n1,\n2\n]}'), 0, 22, () => undefined)).toEqual(
      JSON.parse('{"__proto__":[1,2]}'),
    );
  });

  it('waits on each pause it is given, so the event loop runs between slices', async () => {
    const bytes = Buffer.from(await framedText({ orders: Array.from({ length: 5 * PIECE_ITEMS }, (_, i) => i) }));
    let ticks = 0;
    const seen: number[] = [];
    const ticker = setInterval(() => ticks++, 0);
    try {
      await parseInSlices(bytes, 0, bytes.length, () => {
        seen.push(ticks);
        return new Promise((resolve) => setTimeout(resolve, 1));
      });
    } finally {
      clearInterval(ticker);
    }
    expect(seen).toHaveLength(5);
    expect(seen.at(-1)!).toBeGreaterThan(seen[0]!);
  });
});

describe('a snapshot read in one chunk (SnapshotReader, then decodeSnapshot for what it leaves)', () => {
  it("gives decodeSnapshot's snapshot for files with and without line breaks, pausing while it checks and parses", async () => {
    await fc.assert(
      fc.asyncProperty(arbHolder, fc.nat({ max: 1e6 }), async (value, seq) => {
        for (const file of [await snapshotFile(value, seq), Buffer.from(encodeSnapshot(seq, canonicalJson(value)))]) {
          let pauses = 0;
          const sliced = await decodeSnapshotInSlices(file, 'snapshot.json', () => {
            pauses++;
            return undefined;
          });
          expect(sliced).toEqual(decodeSnapshot(file, 'snapshot.json'));
          expect(pauses).toBeGreaterThan(0);
        }
      }),
      { numRuns: 30 },
    );
  });

  it('throws the same StoreCorruptError as decodeSnapshot, or gives the same snapshot, for any edit of the file', async () => {
    await fc.assert(
      fc.asyncProperty(arbHolder, fc.array(arbEdit, { minLength: 1, maxLength: 3 }), async (value, edits) => {
        const file = Buffer.from(edited((await snapshotFile(value, 12)).toString('utf8'), edits), 'utf8');
        const whole = await outcomeOf(() => decodeSnapshot(file, 'snapshot.json'));
        const sliced = await outcomeOf(() => decodeSnapshotInSlices(file, 'snapshot.json', () => undefined));
        expect(sliced).toEqual(whole);
        if ('error' in whole) expect(whole.error).toMatch(new RegExp(`^${StoreCorruptError.name}`));
      }),
      { numRuns: 200 },
    );
  });
});

describe('SnapshotReader (a snapshot file decoded as it is read, a chunk at a time)', () => {
  /** The file cut into chunks of the given sizes (cycled), each pushed into one reused buffer, as the file store does. */
  function readInChunks(file: Buffer, sizes: readonly number[]): { decoded: unknown; pauses: number } {
    const reader = new SnapshotReader(file.length);
    const buffer = Buffer.alloc(Math.max(...sizes));
    let pauses = 0;
    for (let at = 0, k = 0; at < file.length; k++) {
      const n = Math.min(sizes[k % sizes.length]!, file.length - at);
      file.copy(buffer, 0, at, at + n);
      const steps = reader.push(buffer.subarray(0, n));
      while (steps.next().done !== true) pauses++;
      // The chunk's buffer is reused: anything the reader kept of it would now be overwritten.
      buffer.fill(0x7b);
      at += n;
    }
    return { decoded: reader.end(), pauses };
  }
  const arbChunks = fc.array(fc.integer({ min: 1, max: 97 }), { minLength: 1, maxLength: 6 });

  it('decodes the files the writer lays out with line breaks itself, in chunks of any size, as decodeSnapshot does', async () => {
    let decodedByReader = 0;
    await fc.assert(
      fc.asyncProperty(arbHolder, fc.nat({ max: 1e6 }), arbChunks, async (value, seq, sizes) => {
        const file = await snapshotFile(value, seq);
        const { decoded, pauses } = readInChunks(file, sizes);
        const whole = decodeSnapshot(file, 'snapshot.json');
        // A skeleton spelling the placeholders' escape (a string holding U+0001) is left to decodeSnapshot; any
        // other file is decoded by the reader itself, pausing after each slice.
        if (file.includes('\\u0001')) {
          expect(decoded === undefined || JSON.stringify(decoded) === JSON.stringify(whole)).toBe(true);
          return;
        }
        expect(decoded).toEqual(whole);
        // At least a pause after the checksum and one after each slice (a line ending in a comma ends one).
        expect(pauses).toBeGreaterThanOrEqual(1 + (file.toString('latin1').match(/,\n/g)?.length ?? 0));
        decodedByReader++;
      }),
      { numRuns: 60 },
    );
    expect(decodedByReader).toBeGreaterThan(20);
  });

  it('never gives a snapshot decodeSnapshot would not give, for any edit of the file, whatever the chunks', async () => {
    let refused = 0;
    await fc.assert(
      fc.asyncProperty(
        arbHolder,
        fc.array(arbEdit, { minLength: 1, maxLength: 3 }),
        arbChunks,
        async (value, edits, sizes) => {
          const original = await snapshotFile(value, 12);
          const file = Buffer.from(edited(original.toString('utf8'), edits), 'utf8');
          const { decoded } = readInChunks(file, sizes);
          if (decoded === undefined) {
            refused++;
            return;
          }
          // Only what the checksum covers unchanged gets here (an edit that gave the same bytes back: a line swapped
          // with itself, a character replaced by itself), or what decodeSnapshot itself would give.
          expect(decoded).toEqual(decodeSnapshot(file, 'snapshot.json'));
        },
      ),
      { numRuns: 300 },
    );
    // The edits reach the reader's checks: most edited files are refused (left to decodeSnapshot).
    expect(refused).toBeGreaterThan(150);
  });

  it('leaves a file of another size than announced, or cut short, to decodeSnapshot', async () => {
    const file = await snapshotFile({ books: Array.from({ length: 3 * PIECE_ITEMS }, (_, i) => ({ i })) }, 3);
    expect(readInChunks(file, [50]).decoded).toEqual(decodeSnapshot(file, 'snapshot.json'));
    const announced = (size: number, bytes: Buffer): unknown => {
      const reader = new SnapshotReader(size);
      const steps = reader.push(bytes);
      while (steps.next().done !== true);
      return reader.end();
    };
    expect(announced(file.length + 1, file)).toBeUndefined();
    expect(announced(file.length, file.subarray(0, file.length - 1))).toBeUndefined();
    expect(announced(file.length - 1, file.subarray(0, file.length - 1))).toBeUndefined();
    expect(announced(0, Buffer.alloc(0))).toBeUndefined();
  });
});

describe('decodeJournalInSlices', () => {
  it("gives decodeJournal's result or its StoreCorruptError for any edit of a journal, pausing every JOURNAL_LINES lines", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.jsonValue({ maxDepth: 2 }), { maxLength: 3 * JOURNAL_LINES + 5 }),
        fc.array(arbEdit, { maxLength: 2 }),
        fc.option(fc.nat({ max: 5 }), { nil: undefined }),
        async (records, edits, snapshotSeq) => {
          const text = records.map((r, i) => encodeJournalLine(i + 1, canonicalJson(r))).join('');
          const file = Buffer.from(edited(text, edits), 'utf8');
          let pauses = 0;
          const whole = await outcomeOf(() => decodeJournal(file, 'journal.jsonl', snapshotSeq));
          const sliced = await outcomeOf(() =>
            decodeJournalInSlices(file, 'journal.jsonl', snapshotSeq, () => {
              pauses++;
              return undefined;
            }),
          );
          expect(sliced).toEqual(whole);
          if ('ok' in whole) {
            const lines = file.toString('utf8').split('\n').length - 1;
            expect(pauses).toBe(Math.max(0, Math.ceil(lines / JOURNAL_LINES) - 1));
          }
        },
      ),
      { numRuns: 150 },
    );
  });
});
