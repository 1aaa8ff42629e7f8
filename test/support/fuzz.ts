/**
 * The fuzz harness for untrusted input (issue 14), shared by the fuzz tests in `npm test` and the long run
 * (`npm run fuzz`): mutations of VALID payloads by category, and the oracle every call is held to. A call either
 * returns a value its target's `check` accepts, or throws the target's typed error (with no native error anywhere
 * in its `cause` chain); it never takes longer than the time limit, and it never changes Object.prototype or
 * Array.prototype. Payload trees are JSON-shaped (objects, arrays, strings, numbers) as JSON.parse or ccxt make them;
 * the mutations add what neither should, but a hostile peer or disk could send: NaN, fake decimals, 100k strings.
 */
import fc from 'fast-check';
import { TesserError, errorSummary } from '../../src/domain/errors.js';

// ---- mutation categories -------------------------------------------------------------------------------------

export const MUTATION_CATEGORIES = [
  'valid', // the payload as generated: must be accepted and round-trip
  'wrongType', // a value of another JSON type
  'nonFinite', // NaN, ±Infinity, as numbers and strings
  'exponent', // huge and tiny exponents, values at and beyond the amount limits
  'longString', // 100k-character strings, digit runs with junk at the end
  'digitJunk', // almost-decimals: two points, separators, other scripts' digits
  'protoKey', // an own "__proto__" / "constructor" / "toString" key added to an object
  'protoValue', // "__proto__", "constructor", "toString" as values; objects whose toString is not callable
  'decimalShaped', // objects shaped like decimal.js internals, with or without its toStringTag
  'nested', // values wrapped, deep nesting, long arrays of junk, duplicated entries
  'drop', // a field or element removed
] as const;
export type MutationCategory = (typeof MUTATION_CATEGORIES)[number];

type Json = unknown;

const LONG = 100_000;
// Built once: generating 100k-character strings per case would dominate the run time.
const LONG_STRINGS: readonly string[] = [
  '1'.repeat(LONG),
  `${'1'.repeat(LONG)}x`,
  `${' '.repeat(LONG)}1`,
  `${'0'.repeat(LONG)}1`,
  `0.${'0'.repeat(LONG)}1`,
  `${'1'.repeat(LONG / 2)}.${'1'.repeat(LONG / 2)}e`,
  `1e${'9'.repeat(LONG)}`,
  'a'.repeat(LONG),
  `${'9'.repeat(LONG)}e-${'9'.repeat(100)}`,
];

const DECIMAL_TAG = '[object Decimal]';
const DECIMAL_SHAPED: readonly (() => Json)[] = [
  () => ({ toStringTag: DECIMAL_TAG, s: 1, e: 0, d: ['x'] }),
  () => ({ toStringTag: DECIMAL_TAG, s: 1, e: 0, d: {} }),
  () => ({ toStringTag: DECIMAL_TAG, s: 'HuI', e: 0, d: [1] }),
  () => ({ toStringTag: DECIMAL_TAG, s: 1, e: 10_000_000, d: [1] }),
  () => ({ toStringTag: DECIMAL_TAG, s: 1, e: -9e15, d: [1] }),
  () => ({ toStringTag: DECIMAL_TAG, s: Number.NaN, e: Number.NaN, d: null }),
  () => ({ toStringTag: DECIMAL_TAG }),
  () => ({ s: 1, e: 0, d: [1] }),
  () => ({ toStringTag: DECIMAL_TAG, s: 1, e: 0, d: [1], constructor: { precision: 1e9 } }),
  () => ({ toStringTag: DECIMAL_TAG, s: -1, e: 2, d: [123] }),
];

const PROTO_NAMES = [
  '__proto__',
  'constructor',
  'prototype',
  'toString',
  'valueOf',
  'hasOwnProperty',
  '__defineGetter__',
] as const;

/** Values of each category; a function gets the value it replaces. */
const VALUES: Readonly<
  Record<Exclude<MutationCategory, 'valid' | 'protoKey' | 'drop' | 'nested'>, readonly ((orig: Json) => Json)[]>
> = {
  wrongType: [0, 1.5, -1, 1e21, 2 ** 53, -0, true, false, null, [], {}, '', ' ', 'x', [1, '2'], { a: 1 }, '\u0000'].map(
    (v) => () => clone(v),
  ),
  nonFinite: [
    Number.NaN,
    Number.POSITIVE_INFINITY,
    Number.NEGATIVE_INFINITY,
    'NaN',
    'Infinity',
    '-Infinity',
    '+Infinity',
    'inf',
    '-0',
  ].map((v) => () => v),
  exponent: [
    ...[
      '1e10000000',
      '1e8999999999999999',
      '1e-9000000000000000',
      '1e99999999999999999',
      `1e-${'9'.repeat(250)}`,
      '0e99999999999999',
      '1e64',
      '1e63',
      '9.999e63',
      '1e-64',
      '1e-65',
      '-1e64',
      '1E+63',
      `1e${'0'.repeat(200)}5`,
      '1'.repeat(64),
      '1'.repeat(65),
      `0.${'0'.repeat(63)}1`,
      `0.${'0'.repeat(64)}1`,
      `${'1'.repeat(64)}e-64`,
    ].map((v) => () => v),
    (orig) => `${typeof orig === 'string' ? orig : '1'}e1000`,
    (orig) => `${typeof orig === 'string' ? orig : '1'}e-1000`,
  ],
  longString: LONG_STRINGS.map((v) => () => v),
  digitJunk: [
    ...[
      '12.3.4',
      '1e',
      '--1',
      '+-1',
      '1_000',
      '0x10',
      '0b1',
      '1e+',
      '.',
      '+.',
      '.e1',
      '1,5',
      '١٢',
      '１',
      '1e1.5',
      ' - 1',
      '1/2',
      '∞',
      '1 2',
      '1\u00002',
      '\t1\n',
    ].map((v) => () => v),
    (orig) => `${String(orig)}x`,
    (orig) => `x${String(orig)}`,
    (orig) => `${String(orig)}${String(orig)}`,
    (orig) => `${'1'.repeat(10_000)}${String(orig)}`,
  ],
  protoValue: [
    ...PROTO_NAMES.map((v) => () => v),
    () => ({ toString: 1 }),
    () => ({ valueOf: 1, toString: 'x' }),
    () => ({ __proto__: { polluted: true } }),
    () => JSON.parse('{"__proto__":{"polluted":true}}') as Json,
  ],
  decimalShaped: DECIMAL_SHAPED,
};

const NESTED: readonly ((orig: Json) => Json)[] = [
  (orig) => [orig],
  (orig) => ({ value: orig }),
  () => deep(2_000, (x) => [x]),
  () => deep(2_000, (x) => ({ a: x })),
  () => Array.from({ length: 10_000 }, (_, i) => (i % 2 === 0 ? 'x' : { junk: i })),
  (orig) => (Array.isArray(orig) ? [...orig, ...orig] : orig), // duplicated entries
  (orig) => (Array.isArray(orig) && orig.length > 0 ? [orig[0], ...orig] : [orig, orig]),
];

function deep(depth: number, wrap: (x: Json) => Json): Json {
  let x: Json = 'bottom';
  for (let i = 0; i < depth; i++) x = wrap(x);
  return x;
}

function clone<T>(v: T): T {
  return v === undefined ? v : (JSON.parse(JSON.stringify(v)) as T);
}

/** Most nodes a mutation may land on: deeper or later ones (in a 10k-element junk array) are left alone. */
const MAX_NODES = 512;
const MAX_DEPTH = 32;

/** A node of a JSON tree: its value and how to replace it in its parent (the root has no parent). */
interface Node {
  readonly value: Json;
  readonly parent: object | undefined;
  readonly key: string | number;
}

/** Nodes of a JSON tree in breadth-first order (root first), at most MAX_NODES of them, none deeper than MAX_DEPTH. */
function nodes(root: Json): Node[] {
  const out: Node[] = [{ value: root, parent: undefined, key: '' }];
  const depth: number[] = [0];
  for (let i = 0; i < out.length && out.length < MAX_NODES; i++) {
    const { value } = out[i]!;
    if (typeof value !== 'object' || value === null || depth[i]! >= MAX_DEPTH) continue;
    const keys: (string | number)[] = Array.isArray(value) ? value.map((_, j) => j) : Object.keys(value);
    for (const k of keys) {
      if (out.length >= MAX_NODES) break;
      out.push({ value: (value as Record<string | number, Json>)[k], parent: value, key: k });
      depth.push(depth[i]! + 1);
    }
  }
  return out;
}

/** Sets as JSON.parse would: an own data property, even for "__proto__". */
function setOwn(target: object, key: string | number, value: Json): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}

/** One mutation: where (an index into the tree's paths) and which value of the category (an index). */
export interface Mutation {
  readonly pick: number;
  readonly variant: number;
}

/** Applies `category` mutations to a deep copy of `base` (which is never changed). */
export function mutate(base: Json, category: MutationCategory, mutations: readonly Mutation[]): Json {
  let root = clone(base);
  for (const m of mutations) {
    if (category === 'valid') break;
    const all = nodes(root);
    if (category === 'protoKey') {
      const objects = all.filter((n) => isPlainObject(n.value));
      if (objects.length === 0) continue;
      const target = objects[m.pick % objects.length]!.value as object;
      const name = PROTO_NAMES[m.variant % PROTO_NAMES.length]!;
      const value = ([{ polluted: true }, 'x', 1, { toString: 1 }, null, [], {}] as Json[])[
        Math.floor(m.variant / PROTO_NAMES.length) % 7
      ];
      setOwn(target, name, clone(value));
      continue;
    }
    const inner = all.filter((n) => n.parent !== undefined);
    if (category === 'drop') {
      if (inner.length === 0) continue;
      const n = inner[m.pick % inner.length]!;
      if (Array.isArray(n.parent)) n.parent.splice(n.key as number, 1);
      else delete (n.parent as Record<string, Json>)[n.key];
      continue;
    }
    // Leaves (amounts, ids, enums) are where parsers decide most; weight them over whole subtrees.
    const leaves = all.filter((n) => typeof n.value !== 'object' || n.value === null);
    const pool = m.variant % 3 !== 0 && leaves.length > 0 ? leaves : all;
    const n = pool[m.pick % pool.length]!;
    const makers = category === 'nested' ? NESTED : VALUES[category];
    const value = makers[Math.floor(m.variant / 3) % makers.length]!(n.value);
    if (n.parent === undefined) root = value;
    else setOwn(n.parent, n.key, value);
  }
  return root;
}

function isPlainObject(v: Json): v is object {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A mutated payload from a pool of valid ones: the category, how many mutations (1–3), where and which. */
export interface FuzzCase {
  readonly category: string;
  readonly payload: Json;
}

export function arbFuzzCase(pool: readonly Json[]): fc.Arbitrary<FuzzCase> {
  return fc
    .record({
      base: fc.nat({ max: pool.length - 1 }),
      category: fc.constantFrom(...MUTATION_CATEGORIES),
      mutations: fc.array(fc.record({ pick: fc.nat(), variant: fc.nat() }), { minLength: 1, maxLength: 3 }),
    })
    .map(({ base, category, mutations }) => ({ category, payload: mutate(pool[base], category, mutations) }));
}

// ---- the oracle ----------------------------------------------------------------------------------------------

/** What is fuzzed: a pool of valid payloads, the call, the typed error it may throw, and what a result must be. */
export interface FuzzTarget<T = unknown> {
  readonly name: string;
  /** Valid payloads (JSON-shaped), built once from a fixed seed. */
  readonly pool: () => readonly Json[];
  /** The call under test; may be async for the file store. */
  readonly run: (payload: Json) => T | Promise<T>;
  /** The library's typed error this call may throw. */
  readonly errorClass: abstract new (...args: never[]) => Error;
  /** Throws (a plain Error saying what is wrong) when a returned value is not valid. */
  readonly check: (result: Awaited<T>, payload: Json, category: string) => void;
  /** Cases other than JSON-tree mutations (the store's byte-level ones); default `arbFuzzCase`. */
  readonly arbCase?: (pool: readonly Json[]) => fc.Arbitrary<FuzzCase>;
  /** Share of the runs (default 1): a slow target (real files) runs fewer. */
  readonly weight?: number;
  /** Releases what `run` set up (a temporary directory). */
  readonly dispose?: () => Promise<void>;
}

export type Outcome = 'accepted' | 'rejected';

export interface Violation {
  readonly target: string;
  readonly category: string;
  readonly kind: 'native' | 'untyped' | 'invalid' | 'slow' | 'polluted' | 'refusedValid';
  readonly detail: string;
}

/** Counts per category and outcome, plus the slowest call. */
export interface TargetStats {
  readonly counts: Map<string, { accepted: number; rejected: number }>;
  slowestMs: number;
  calls: number;
  /** Calls whose first timing went over the limit and were timed again (machine load, GC, JIT). */
  retimed: number;
  /** Every call's (fastest) time, for percentiles. */
  readonly times: number[];
}

export function newStats(): TargetStats {
  return { counts: new Map(), slowestMs: 0, calls: 0, retimed: 0, times: [] };
}

/** Errors JSON.parse raises on bad bytes: the store's decoder reports them as the cause of a StoreCorruptError. */
const EXPECTED_NATIVE_CAUSES: ReadonlySet<string> = new Set(['SyntaxError']);

/** The first error in `e`'s cause chain that is not one of ours (after the top one), if any. */
export function nativeInCauseChain(e: unknown): Error | undefined {
  let cur: unknown = e instanceof Error ? e.cause : undefined;
  for (let depth = 0; cur !== undefined && depth < 20; depth++) {
    if (!(cur instanceof TesserError)) {
      return cur instanceof Error && EXPECTED_NATIVE_CAUSES.has(cur.name)
        ? undefined
        : cur instanceof Error
          ? cur
          : new Error(`non-error cause ${errorSummary(cur)}`);
    }
    cur = cur.cause;
  }
  return undefined;
}

/** Own properties of Object.prototype and Array.prototype as found before any case ran. */
const PRISTINE: readonly (readonly [object, ReadonlyMap<string, PropertyDescriptor | undefined>])[] = [
  Object.prototype,
  Array.prototype,
].map(
  (o) => [o, new Map(Object.getOwnPropertyNames(o).map((k) => [k, Object.getOwnPropertyDescriptor(o, k)]))] as const,
);

/** What a case did to the shared prototypes, if anything (a property added, or one replaced). */
function polluted(): string | undefined {
  for (const [o, props] of PRISTINE) {
    const name = o === Object.prototype ? 'Object.prototype' : 'Array.prototype';
    const now = Object.getOwnPropertyNames(o);
    if (now.length !== props.size) return `${name} gained ${now.filter((k) => !props.has(k)).join(', ')}`;
    for (const [k, d] of props) {
      const cur = Object.getOwnPropertyDescriptor(o, k);
      if (cur?.value !== d?.value || cur?.get !== d?.get || cur?.set !== d?.set) return `${name}.${k} was replaced`;
    }
  }
  return undefined;
}

/**
 * Runs one case through a target and classifies it. Returns the violation, if any (the caller decides whether it
 * fails the run); `slowMs` is the time above which a call counts as a violation.
 */
export async function runCase(
  target: FuzzTarget,
  c: FuzzCase,
  stats: TargetStats,
  slowMs: number,
): Promise<Violation | undefined> {
  const v = (kind: Violation['kind'], detail: string): Violation => ({
    target: target.name,
    category: c.category,
    kind,
    detail,
  });
  const t0 = performance.now();
  let result: unknown;
  let error: unknown;
  let threw = false;
  try {
    result = await target.run(c.payload);
  } catch (e) {
    threw = true;
    error = e;
  }
  let ms = performance.now() - t0;
  if (ms > slowMs) stats.retimed++;
  // A call over the limit is timed twice more and judged by its fastest run: a garbage-collection pause or a JIT
  // compile is not the call's doing, while a hang or a quadratic input is slow every time.
  for (let retry = 0; retry < 2 && ms > slowMs; retry++) {
    const t1 = performance.now();
    try {
      await target.run(c.payload);
    } catch {
      // the outcome was classified above; only the time matters here
    }
    ms = Math.min(ms, performance.now() - t1);
  }
  stats.calls++;
  stats.slowestMs = Math.max(stats.slowestMs, ms);
  stats.times.push(ms);
  const pollution = polluted();
  if (pollution !== undefined) return v('polluted', pollution);
  let count = stats.counts.get(c.category);
  if (count === undefined) stats.counts.set(c.category, (count = { accepted: 0, rejected: 0 }));
  if (threw) {
    count.rejected++;
    if (!(error instanceof target.errorClass)) {
      return v(
        error instanceof TesserError ? 'untyped' : 'native',
        `threw ${error instanceof Error ? `${error.name}: ${error.message.slice(0, 300)}` : String(error)}`,
      );
    }
    const native = nativeInCauseChain(error);
    if (native !== undefined)
      return v('native', `${(error as Error).name} caused by ${native.name}: ${native.message.slice(0, 300)}`);
    if (c.category === 'valid')
      return v('refusedValid', `a valid payload was refused: ${(error as Error).message.slice(0, 300)}`);
  } else {
    count.accepted++;
    try {
      target.check(result as never, c.payload, c.category);
    } catch (e) {
      return v('invalid', e instanceof Error ? e.message : String(e));
    }
  }
  if (ms > slowMs) return v('slow', `${ms.toFixed(1)} ms (limit ${slowMs} ms)`);
  return undefined;
}

/** A readable one-line description of a payload (long strings cut), for failure messages. */
export function describePayload(p: Json): string {
  const seen = new WeakSet<object>();
  const s = JSON.stringify(p, (_k, v: unknown) => {
    if (typeof v === 'string' && v.length > 60) return `${v.slice(0, 30)}…(${v.length} chars)`;
    if (typeof v === 'number' && !Number.isFinite(v)) return String(v);
    if (typeof v === 'object' && v !== null) {
      if (seen.has(v)) return '[seen]';
      seen.add(v);
    }
    return v;
  });
  return s.length > 2_000 ? `${s.slice(0, 2_000)}…` : s;
}

// ---- drivers -------------------------------------------------------------------------------------------------

/** A case that prints itself briefly in fast-check's reports (its payloads hold 100k-character strings). */
function printable(c: FuzzCase): FuzzCase {
  return Object.assign(c, {
    [fc.toStringMethod]: () => `{category: ${c.category}, payload: ${describePayload(c.payload)}}`,
  });
}

/**
 * Fuzzes one target, `runs` cases from `seed`, failing (after fast-check shrinks it to the smallest case) at the first
 * violation: for `npm test`.
 */
export async function assertFuzz(
  target: FuzzTarget,
  options: { readonly runs: number; readonly slowMs: number; readonly seed?: number },
): Promise<TargetStats> {
  const stats = newStats();
  const pool = target.pool();
  try {
    await fc.assert(
      fc.asyncProperty((target.arbCase ?? arbFuzzCase)(pool).map(printable), async (c) => {
        const v = await runCase(target, c, stats, options.slowMs);
        if (v !== undefined) throw new Error(`${v.kind} (${v.category}): ${v.detail}`);
      }),
      { numRuns: Math.max(1, Math.round(options.runs * (target.weight ?? 1))), seed: options.seed ?? 14 },
    );
  } finally {
    await target.dispose?.();
  }
  return stats;
}

/** Fuzzes one target without stopping: every violation is collected (with its payload) for the long run's report. */
export async function collectFuzz(
  target: FuzzTarget,
  options: { readonly runs: number; readonly slowMs: number; readonly seed: number },
): Promise<{ stats: TargetStats; violations: { violation: Violation; payload: string }[] }> {
  const stats = newStats();
  const violations: { violation: Violation; payload: string }[] = [];
  const pool = target.pool();
  try {
    await fc.check(
      fc.asyncProperty((target.arbCase ?? arbFuzzCase)(pool), async (c) => {
        const v = await runCase(target, c, stats, options.slowMs);
        if (v !== undefined && violations.length < 1_000)
          violations.push({ violation: v, payload: describePayload(c.payload) });
        return true;
      }),
      { numRuns: Math.max(1, Math.round(options.runs * (target.weight ?? 1))), seed: options.seed },
    );
  } finally {
    await target.dispose?.();
  }
  return { stats, violations };
}

/** The `q` quantile (0..1) of a target's call times, in ms. */
export function quantileMs(stats: TargetStats, q: number): number {
  const sorted = [...stats.times].sort((a, b) => a - b);
  return sorted.length === 0 ? 0 : sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}
