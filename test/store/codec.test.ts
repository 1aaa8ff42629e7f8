/** The store's format helpers: CRC-32 and canonical JSON. */
import { crc32 as zlibCrc32 } from 'node:zlib';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { canonicalJson, decodeJournal, encodeJournalLine } from '../../src/store/codec.js';
import { crc32, crc32Hex, crc32Portable } from '../../src/store/crc32.js';

describe('crc32', () => {
  it('matches the standard check value', () => {
    expect(crc32Hex('123456789')).toBe('cbf43926');
    expect(crc32Hex('')).toBe('00000000');
    expect(crc32Portable('123456789')).toBe(0xcbf43926);
  });
  it('the table-driven fallback agrees with zlib.crc32 on arbitrary bytes and strings', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => crc32Portable(bytes) === zlibCrc32(bytes)));
    fc.assert(fc.property(fc.string({ unit: 'grapheme' }), (s) => crc32Portable(s) === zlibCrc32(Buffer.from(s, 'utf8'))));
    fc.assert(fc.property(fc.string({ unit: 'grapheme' }), (s) => crc32(s) === crc32Portable(s)));
  });
});

describe('canonicalJson', () => {
  it('does not depend on key insertion order', () => {
    expect(canonicalJson({ b: 1, a: { d: [1, { z: 0, y: 'x' }], c: null } })).toBe('{"a":{"c":null,"d":[1,{"y":"x","z":0}]},"b":1}');
  });
  it('is reproduced exactly by parse + canonicalize (what checksum verification relies on)', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (v) => {
        const text = canonicalJson(v);
        return canonicalJson(JSON.parse(text)) === text;
      }),
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
