/**
 * How long the objects a stretch of cycles made lived, from four V8 heap snapshots of one process (taken at cycles
 * A < B < C < D by `bench/profile-engine.ts --lifetimes`): the objects first seen at B (made between A and B, still
 * reachable at B), split into those gone by C, those still there at C but gone by D, and those still there at D. A
 * snapshot holds only what is reachable (it collects garbage first), so these are lifetimes by reachability: what a
 * scavenge copies is what is reachable then, or what a dead old object not yet collected still points at.
 *
 *   npx tsx bench/heap-lifetimes.ts A.heapsnapshot B.heapsnapshot C.heapsnapshot D.heapsnapshot
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** The parts of a `.heapsnapshot` file read here. */
export interface HeapSnapshotJson {
  readonly snapshot: { readonly meta: { readonly node_fields: string[]; readonly node_types: unknown[] } };
  readonly nodes: readonly number[];
  readonly strings: readonly string[];
}

/** Each object's kind (`type:constructor`, strings and numbers pooled) and size, by its id (stable within a process). */
export type HeapObjects = Map<number, { readonly kind: string; readonly bytes: number }>;

export function heapObjects(s: HeapSnapshotJson): HeapObjects {
  const fields = s.snapshot.meta.node_fields;
  const types = s.snapshot.meta.node_types[0] as string[];
  const [type, name, id, size] = ['type', 'name', 'id', 'self_size'].map((f) => {
    const at = fields.indexOf(f);
    // Another V8's layout without one of them would be read as garbage, not refused, without this.
    if (at < 0) throw new Error(`not a V8 heap snapshot this reads: its nodes have no '${f}' field`);
    return at;
  }) as [number, number, number, number];
  const out: HeapObjects = new Map();
  for (let k = 0; k < s.nodes.length; k += fields.length) {
    const t = types[s.nodes[k + type]!]!;
    // Node's own native objects and the snapshot's synthetic roots are not on the JS heap (a scavenge never copies them).
    if (t === 'native' || t === 'synthetic') continue;
    const n = /string$/.test(t)
      ? '(string)'
      : t === 'number'
        ? '(number)'
        : s.strings[s.nodes[k + name]!]!.slice(0, 60);
    out.set(s.nodes[k + id]!, { kind: `${t}:${n}`, bytes: s.nodes[k + size]! });
  }
  return out;
}

export interface LifetimeGroup {
  readonly label: string;
  readonly objects: number;
  readonly bytes: number;
  /** By kind, the most bytes first. */
  readonly kinds: readonly { readonly kind: string; readonly objects: number; readonly bytes: number }[];
}

/** The objects first seen at `b`, by whether `c` and `d` still hold them. */
export function lifetimes(a: HeapObjects, b: HeapObjects, c: HeapObjects, d: HeapObjects): LifetimeGroup[] {
  const groups = [
    { label: 'gone by C', test: (id: number) => !c.has(id) },
    { label: 'there at C, gone by D', test: (id: number) => c.has(id) && !d.has(id) },
    { label: 'there at D', test: (id: number) => c.has(id) && d.has(id) },
  ];
  return groups.map(({ label, test }) => {
    const kinds = new Map<string, { objects: number; bytes: number }>();
    let objects = 0;
    let bytes = 0;
    for (const [id, o] of b) {
      if (a.has(id) || !test(id)) continue;
      const k = kinds.get(o.kind) ?? { objects: 0, bytes: 0 };
      k.objects++;
      k.bytes += o.bytes;
      kinds.set(o.kind, k);
      objects++;
      bytes += o.bytes;
    }
    const sorted = [...kinds].map(([kind, k]) => ({ kind, ...k })).sort((x, y) => y.bytes - x.bytes);
    return { label, objects, bytes, kinds: sorted };
  });
}

export function printLifetimes(groups: readonly LifetimeGroup[], top = 12): string[] {
  const lines: string[] = [];
  for (const g of groups) {
    lines.push(`made between A and B, ${g.label}: ${g.objects} objects, ${(g.bytes / 1024).toFixed(1)} KiB`);
    for (const k of g.kinds.slice(0, top))
      lines.push(`  ${(k.bytes / 1024).toFixed(1).padStart(8)} KiB ${String(k.objects).padStart(7)}  ${k.kind}`);
  }
  return lines;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const files = process.argv.slice(2);
  if (files.length !== 4) {
    console.error('usage: npx tsx bench/heap-lifetimes.ts A.heapsnapshot B.heapsnapshot C.heapsnapshot D.heapsnapshot');
    process.exit(2);
  }
  // One file parsed at a time: a snapshot of a 130 MB heap is about 240 MB of JSON.
  const [a, b, c, d] = files.map((f) => heapObjects(JSON.parse(readFileSync(f, 'utf8')) as HeapSnapshotJson)) as [
    HeapObjects,
    HeapObjects,
    HeapObjects,
    HeapObjects,
  ];
  for (const line of printLifetimes(lifetimes(a, b, c, d))) console.log(line);
}
