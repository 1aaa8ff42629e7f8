import { describe, expect, it } from 'vitest';
import { heapObjects, lifetimes, printLifetimes, type HeapSnapshotJson } from '../../bench/heap-lifetimes.js';

const FIELDS = ['type', 'name', 'id', 'self_size', 'edge_count'];
const TYPES = ['hidden', 'array', 'string', 'object', 'code', 'closure', 'regexp', 'number', 'native', 'synthetic'];

/** A snapshot in V8's layout holding these objects (type, constructor name, id, size). */
function snapshot(objects: readonly (readonly [string, string, number, number])[]): HeapSnapshotJson {
  const strings: string[] = [];
  const str = (s: string): number => (strings.includes(s) ? strings.indexOf(s) : strings.push(s) - 1);
  const nodes = objects.flatMap(([type, name, id, size]) => [TYPES.indexOf(type), str(name), id, size, 0]);
  return { snapshot: { meta: { node_fields: FIELDS, node_types: [TYPES, 'string'] } }, nodes, strings };
}

describe('heap lifetimes', () => {
  it('reads each object by id, pools strings and numbers, and leaves out what is not on the JS heap', () => {
    const objects = heapObjects(
      snapshot([
        ['object', 'Decimal', 1, 32],
        ['string', 'bench-placed-1', 3, 40],
        ['number', 'heap number', 5, 16],
        ['native', 'Node / Message', 7, 128],
        ['synthetic', '(GC roots)', 9, 0],
      ]),
    );
    expect([...objects]).toEqual([
      [1, { kind: 'object:Decimal', bytes: 32 }],
      [3, { kind: 'string:(string)', bytes: 40 }],
      [5, { kind: 'number:(number)', bytes: 16 }],
    ]);
  });

  it('refuses a snapshot whose nodes lack a field it reads, naming the field', () => {
    const s = snapshot([['object', 'Decimal', 1, 32]]);
    const noSize = {
      ...s,
      snapshot: { meta: { ...s.snapshot.meta, node_fields: ['type', 'name', 'id', 'size', 'edge_count'] } },
    };
    expect(() => heapObjects(noSize)).toThrow("its nodes have no 'self_size' field");
  });

  it('splits what B holds and A did not by whether C and D still hold it', () => {
    const engine = ['object', 'Engine', 1, 100] as const;
    const actor = ['object', 'Actor', 11, 50] as const;
    const map = ['object', 'Map', 13, 30] as const;
    const decimals = [['object', 'Decimal', 15, 32] as const, ['object', 'Decimal', 17, 32] as const];
    const at = (...objects: (readonly [string, string, number, number])[]) => heapObjects(snapshot(objects));
    const [a, b, c, d] = [
      at(engine),
      at(engine, actor, map, ...decimals),
      at(engine, map, ...decimals),
      at(engine, ...decimals),
    ];
    const [gone, medium, kept] = lifetimes(a!, b!, c!, d!);
    expect(gone).toMatchObject({ objects: 1, bytes: 50, kinds: [{ kind: 'object:Actor', objects: 1, bytes: 50 }] });
    expect(medium).toMatchObject({ objects: 1, bytes: 30, kinds: [{ kind: 'object:Map', objects: 1, bytes: 30 }] });
    expect(kept).toMatchObject({ objects: 2, bytes: 64, kinds: [{ kind: 'object:Decimal', objects: 2, bytes: 64 }] });
    expect(printLifetimes([gone!, medium!, kept!])).toEqual([
      'made between A and B, gone by C: 1 objects, 0.0 KiB',
      '       0.0 KiB       1  object:Actor',
      'made between A and B, there at C, gone by D: 1 objects, 0.0 KiB',
      '       0.0 KiB       1  object:Map',
      'made between A and B, there at D: 2 objects, 0.1 KiB',
      '       0.1 KiB       2  object:Decimal',
    ]);
  });
});
