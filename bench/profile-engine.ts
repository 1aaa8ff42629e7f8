/**
 * A CPU profile of clean engine cycles (not a bench module: it measures nothing it reports as a figure). Boots the
 * same engine as bench/engine.ts (createEngine on a SimulatedExchange with no latency, N tracked resting orders),
 * warms up, then profiles `--cycles` clean cycles only (node:inspector), and prints the functions with the most self
 * time, plus GC and wall time per cycle. `--fresh` hands out fresh objects per read, as ccxt does. `--placing`
 * profiles the bench's placing rows instead: an order placed through the engine before each cycle, a compaction every
 * 16 journal records, the default slicer. `--spans K` prints the K longest on-CPU spans of the event loop (a 1 ms
 * timer reads the main thread's CPU time at each firing; a span is the gap between two firings) and what the profile
 * sampled within each (samples counted as `--interval` µs each, default 100: the profiler's own cost is in the spans).
 * `--prune` profiles the engine bench's prune rows: 86,400 cancelled orders, and `--cycles` times the clock moved on by
 * an eighth of a day, then the 12 cycles a prune takes there. `--heap` samples what the cycles allocate, by function;
 * `--live` only what is still reachable when the profile stops (what they kept: a scavenge copies it). `--scavenges`
 * runs no profiler: the scavenges of the cycles, then of a loop making only garbage for as long (`scavenges`), after
 * the heap's size and parts; `--ballast MB` holds that much more heap first (small objects nothing writes again).
 * `--lifetimes A,B,C,D` tells how long the objects made between cycles A and B lived (`lifetimes`).
 *
 *   npx tsx bench/profile-engine.ts --orders 10000 --cycles 200 --fresh [--out /tmp/x.cpuprofile]
 *   npx tsx bench/profile-engine.ts --orders 1000 --cycles 300 --placing --spans 5
 *   npx tsx bench/profile-engine.ts --orders 1000 --cycles 3 --prune --spans 5
 *   npx tsx bench/profile-engine.ts --orders 1000 --cycles 1100 --filling --heap
 *   npx tsx bench/profile-engine.ts --orders 1000 --cycles 2000 --closed --heap
 *   npx tsx bench/profile-engine.ts --orders 1000 --cycles 2000 --closed --live
 *   npx tsx bench/profile-engine.ts --orders 1000 --cycles 3000 --closed --scavenges [--ballast 150]
 *   npx tsx bench/profile-engine.ts --orders 1000 --closed --lifetimes 0,30,60,400
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Session } from 'node:inspector/promises';
import { constants, PerformanceObserver } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { writeHeapSnapshot } from 'node:v8';
import {
  boot,
  CLOSED_ORDERS,
  freshCopies,
  FULL_WINDOW,
  PLACING_JOURNAL_RECORDS,
  PRUNE_EVERY_MS,
  threadCpuMs,
} from './engine.js';
import { listArg, makeWorld, now, PERP, saveWorld, valueOf } from './support.js';
import { Dec } from '../src/domain/decimal.js';
import type { Order } from '../src/domain/types.js';
import type { SimulatedExchange } from '../src/exchange/simulated/exchange.js';
import { InMemoryStateStore } from '../src/store/memory.js';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface HeapNode {
  callFrame: ProfileNode['callFrame'];
  selfSize: number;
  children: HeapNode[];
}
interface Profile {
  nodes: ProfileNode[];
  startTime: number;
  samples: number[];
  timeDeltas: number[];
}

function frameName(f: ProfileNode['callFrame']): string {
  return `${f.functionName || '(anonymous)'} ${f.url.replace(/^.*\/(src|bench|node_modules)\//, '$1/')}:${f.lineNumber + 1}`;
}

/** Self time per function (ms), highest first; with `inclusive`, time with everything it called. */
function times(p: Profile, inclusive: boolean): [string, number][] {
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const total = new Map<string, number>();
  p.samples.forEach((id, i) => {
    const ms = (p.timeDeltas[i] ?? 0) / 1000;
    const seen = new Set<string>();
    for (let at: number | undefined = id; at !== undefined; at = inclusive ? parent.get(at) : undefined) {
      const key = frameName(byId.get(at)!.callFrame);
      if (!seen.has(key)) total.set(key, (total.get(key) ?? 0) + ms);
      seen.add(key);
    }
  });
  return [...total].sort((a, b) => b[1] - a[1]);
}

/** A gap between two firings of the probe's 1 ms timer: from, to (µs, the profile's monotonic clock), CPU ms. */
interface Span {
  readonly from: number;
  readonly to: number;
  readonly cpuMs: number;
}

/** The main thread's CPU time within each gap of a 1 ms timer (see bench/engine.ts, StallProbe). */
function spanProbe(): { stop(): Span[] } {
  const spans: Span[] = [];
  const clock = (): number => Number(process.hrtime.bigint()) / 1000;
  let last = clock();
  let lastCpu = threadCpuMs();
  let timer: NodeJS.Timeout;
  const tick = (): void => {
    const t = clock();
    const c = threadCpuMs();
    spans.push({ from: last, to: t, cpuMs: c - lastCpu });
    last = t;
    lastCpu = c;
    timer = setTimeout(tick, 1);
  };
  timer = setTimeout(tick, 1);
  return {
    stop() {
      clearTimeout(timer);
      return spans;
    },
  };
}

/**
 * The `k` spans with the most samples (CPU time as the profiler saw it: a thread waiting for a CPU is not sampled, so
 * this holds on a loaded machine too), each with the functions sampled within it (self time, and ours inclusive).
 */
function printSpans(p: Profile, spans: readonly Span[], k: number, intervalUs: number): void {
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const at: number[] = [];
  let t = p.startTime;
  for (const d of p.timeDeltas) at.push((t += d));
  // Samples are in time order, as are the spans: one pass files each sample in its span.
  const inSpan: number[][] = spans.map(() => []);
  let j = 0;
  for (let i = 0; i < at.length; i++) {
    while (j < spans.length && at[i]! > spans[j]!.to) j++;
    if (j === spans.length) break;
    if (at[i]! > spans[j]!.from) inSpan[j]!.push(i);
  }
  const idle = (i: number): boolean => /^\((idle|program)\)/.test(frameName(byId.get(p.samples[i]!)!.callFrame));
  const busy = inSpan.map((xs) => xs.filter((i) => !idle(i)).length);
  const top = spans
    .map((s, i) => ({ s, i }))
    .sort((a, b) => busy[b.i]! - busy[a.i]!)
    .slice(0, k);
  // A sample stands for one interval on the CPU: its time delta also counts the time the thread waited for one.
  const ms = intervalUs / 1000;
  for (const { s, i: si } of top) {
    const self = new Map<string, number>();
    const ours = new Map<string, number>();
    for (const i of inSpan[si]!) {
      const id = p.samples[i]!;
      const name = frameName(byId.get(id)!.callFrame);
      self.set(name, (self.get(name) ?? 0) + ms);
      const seen = new Set<string>();
      for (let n: number | undefined = id; n !== undefined; n = parent.get(n)) {
        const key = frameName(byId.get(n)!.callFrame);
        if (!key.includes(' src/') || seen.has(key)) continue;
        seen.add(key);
        ours.set(key, (ours.get(key) ?? 0) + ms);
      }
    }
    console.log(
      `span of ${((s.to - s.from) / 1000).toFixed(1)} ms wall, ${(busy[si]! * ms).toFixed(1)} ms sampled busy (thread CPU clock: ${s.cpuMs.toFixed(1)}):`,
    );
    const list = (m: Map<string, number>, n: number): string =>
      [...m]
        .sort((a, b) => b[1] - a[1])
        .slice(0, n)
        .map(([f, v]) => `    ${v.toFixed(2)} ${f}`)
        .join('\n');
    console.log(`  self:\n${list(self, 8)}\n  ours, inclusive:\n${list(ours, 14)}`);
  }
}

/**
 * `--scavenges`: no profiler. The scavenges (minor GCs, as `PerformanceObserver` reports them) of `cycles` cycles,
 * then of a loop that makes only garbage (a 1,000-entry map a turn) for as long, in the same process: what a scavenge
 * costs with next to nothing surviving once the young generation has the size this heap gave it, against what the
 * cycles' survivors add.
 */
async function scavenges(cycles: number, cycle: () => Promise<void>): Promise<void> {
  const summary = (label: string, ms: number[], span: number): void => {
    const s = [...ms].sort((a, b) => a - b);
    const at = (q: number): string => (s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? 0).toFixed(2);
    console.log(
      `${label}: ${s.length} scavenges in ${span.toFixed(0)} ms, median ${at(0.5)} ms, p90 ${at(0.9)}, longest ${at(1)}`,
    );
  };
  const minor: number[] = [];
  const obs = new PerformanceObserver((list) => {
    for (const e of list.getEntries())
      if ((e as { detail?: { kind?: number } }).detail?.kind === constants.NODE_PERFORMANCE_GC_MINOR)
        minor.push(e.duration);
  });
  obs.observe({ entryTypes: ['gc'] });
  const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
  let t = now();
  for (let i = 0; i < cycles; i++) {
    await cycle();
    await turn();
  }
  const span = now() - t;
  obs.takeRecords();
  summary(`${cycles} cycles`, minor.splice(0), span);
  t = now();
  let sink = 0;
  while (now() - t < span) {
    const garbage = new Map<string, number>();
    for (let i = 0; i < 1_000; i++) garbage.set(`k${i}`, i);
    sink += garbage.size;
    await turn();
  }
  await new Promise((resolve) => setTimeout(resolve, 20));
  summary(`only garbage (${sink > 0 ? 'maps' : ''}), as long`, minor.splice(0), now() - t);
  obs.disconnect();
}

/**
 * `--lifetimes A,B,C,D`: heap snapshots after A, B, C and D cycles, then how long what the cycles from A to B made
 * lived (bench/heap-lifetimes.ts, in a process of its own with room to parse them). The files are removed after.
 */
async function lifetimes(marks: readonly number[], cycle: () => Promise<void>): Promise<void> {
  if (marks.length !== 4 || marks.some((m, i) => i > 0 && m <= marks[i - 1]!))
    throw new Error('--lifetimes takes four cycle counts, each above the one before');
  const dir = mkdtempSync(join(tmpdir(), 'profile-engine-'));
  try {
    const files: string[] = [];
    for (let i = 0; i <= marks[3]!; i++) {
      if (marks.includes(i)) files.push(writeHeapSnapshot(join(dir, `${i}.heapsnapshot`)));
      if (i < marks[3]!) {
        await cycle();
        await new Promise((resolve) => setImmediate(resolve));
      }
    }
    console.log(`heap snapshots after cycles ${marks.join(', ')} (A, B, C, D):`);
    const script = fileURLToPath(new URL('./heap-lifetimes.ts', import.meta.url));
    const r = spawnSync(process.execPath, [...process.execArgv, '--max-old-space-size=8192', script, ...files], {
      stdio: 'inherit',
    });
    if (r.status !== 0) throw new Error(`heap-lifetimes exited with ${r.status}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Cycles a prune of the engine bench's takes: a cycle drops at most an eighth of what is due, the last one none. */
const PRUNE_CYCLES = 12;

/** What `--ballast` holds, for as long as the process runs. */
const BALLAST: object[][] = [];

/** Holds about `mb` MB more heap in small objects (measured after a GC, not estimated). */
async function makeBallast(mb: number, heapMb: () => Promise<number>): Promise<{ mb: number; objects: number }> {
  if (mb <= 0) return { mb: 0, objects: 0 };
  const start = await heapMb();
  let objects = 0;
  while ((await heapMb()) - start < mb)
    for (let k = 0; k < 100; k++) {
      const chunk: object[] = [];
      for (let i = 0; i < 1_000; i++) chunk.push({ id: `ballast-${objects + i}`, n: objects + i, pair: [i, k] });
      BALLAST.push(chunk);
      objects += 1_000;
    }
  return { mb: (await heapMb()) - start, objects };
}

interface Modes {
  readonly fresh: boolean;
  readonly filling: boolean;
  readonly closed: boolean;
  readonly placing: boolean;
  readonly prune: boolean;
}

/**
 * The world the modes run (the engine bench's rows') and the engine booted on it, with the heap each holds after GC.
 * The world's own portfolio, what the store was seeded from, is not kept (a third of this heap with a day's cancelled
 * quotes): the bench's rows keep none either.
 */
async function setUp(n: number, m: Modes, heapMb: () => Promise<number>) {
  const before = await heapMb();
  const seeded = async () => {
    const world = m.prune
      ? await makeWorld(n, 0, CLOSED_ORDERS, 1_000)
      : await makeWorld(n, m.filling ? FULL_WINDOW : 0, m.closed ? CLOSED_ORDERS : 0);
    const store = new InMemoryStateStore();
    await saveWorld(store, world);
    return { tl: world.tl, ex: world.ex as SimulatedExchange, store };
  };
  const { tl, ex, store } = await seeded();
  const worldMb = (await heapMb()) - before;
  const { running } = await boot(
    m.fresh ? { tl, ex: freshCopies(ex) } : { tl, ex },
    store,
    undefined,
    m.placing && !m.filling && !m.closed ? { maxJournalRecords: PLACING_JOURNAL_RECORDS } : undefined,
  );
  const engineMb = (await heapMb()) - before - worldMb;
  return { tl, ex, running, worldMb, engineMb };
}

async function main(args: readonly string[]): Promise<void> {
  const n = listArg(args, '--orders')?.[0] ?? 1000;
  const cycles = listArg(args, '--cycles')?.[0] ?? 500;
  const fresh = args.includes('--fresh');
  // `--filling`: the engine bench's filling rows: placing, the trade-id window full, the last quote filled, not left.
  const filling = args.includes('--filling');
  // `--closed`: the engine bench's placing-closed rows: placing, a day's cancelled quotes in the books from the start,
  // the default compaction policy.
  const closed = args.includes('--closed');
  const placing = filling || closed || args.includes('--placing');
  const prune = args.includes('--prune');
  const spansK = listArg(args, '--spans')?.[0];
  const out = valueOf(args, '--out');
  const session = new Session();
  session.connect();
  const heapMb = async (): Promise<number> => {
    await session.post('HeapProfiler.collectGarbage');
    return process.memoryUsage().heapUsed / 2 ** 20;
  };
  // `--ballast MB`: that much more heap held (small objects, none written again), to see what a heap's size alone does.
  const held = await makeBallast(listArg(args, '--ballast')?.[0] ?? 0, heapMb);
  const { tl, ex, running, worldMb, engineMb } = await setUp(n, { fresh, filling, closed, placing, prune }, heapMb);
  let placed = 0;
  let quoted: Order | undefined;
  const cycle = async (): Promise<void> => {
    if (filling && quoted !== undefined) {
      ex.fillOrder({ symbol: PERP, exchangeOrderId: quoted.exchangeOrderId! });
      await tl.advanceBy(1);
    }
    if (placing)
      quoted = await running.engine.placeOrder({
        clientOrderId: `profile-placed-${placed++}`,
        symbol: PERP,
        side: 'buy',
        type: 'limit',
        quantity: new Dec('0.001'),
        price: new Dec('15000'),
      });
    await running.cycle();
  };
  // `--prune`: the engine bench's prune rows instead; the clock moved on by an eighth of a day before each of
  // `--cycles` prunes, then its cycles (the exchange's own expiry of its history runs in the profile too).
  const pruneCycles = async (): Promise<number> => {
    await tl.advanceBy(PRUNE_EVERY_MS);
    ex.sync();
    // As many cycles as the bench's prunes take (12 each), with nothing of the harness's between them: counting the
    // books' closed orders would run work of the books' views that a cycle would otherwise do.
    for (let k = 0; k < PRUNE_CYCLES; k++) {
      await running.cycle();
      await new Promise((resolve) => setImmediate(resolve));
    }
    return PRUNE_CYCLES;
  };
  for (let i = 0; i < (prune ? 200 : Math.max(20, cycles / 5)); i++) await cycle();
  const marks = listArg(args, '--lifetimes');
  if (marks !== undefined) {
    await lifetimes(marks, cycle);
    await running.engine.stop();
    return;
  }
  if (args.includes('--scavenges')) {
    console.log(
      `heap after GC: ${(await heapMb()).toFixed(0)} MB; of it the simulated exchange and the store ${worldMb.toFixed(0)}, the engine ${engineMb.toFixed(0)}, ballast ${held.mb.toFixed(0)} (${held.objects} objects)`,
    );
    await scavenges(cycles, cycle);
    await running.engine.stop();
    return;
  }
  await session.post('Profiler.enable');
  const intervalUs = listArg(args, '--interval')?.[0] ?? 100;
  await session.post('Profiler.setSamplingInterval', { interval: intervalUs });
  const pauses: number[] = [];
  const obs = new PerformanceObserver((list) => list.getEntries().forEach((e) => pauses.push(e.duration)));
  obs.observe({ entryTypes: ['gc'] });
  // `--live`: only what is still reachable when the profile stops (what the cycles kept, as a day's cancelled quotes).
  const live = args.includes('--live');
  const heap = live || args.includes('--heap');
  if (heap)
    await session.post('HeapProfiler.startSampling', {
      samplingInterval: 1024,
      includeObjectsCollectedByMajorGC: !live,
      includeObjectsCollectedByMinorGC: !live,
    } as never);
  await session.post('Profiler.start');
  const probe = spansK === undefined ? undefined : spanProbe();
  const t = now();
  let ran = 0;
  for (let i = 0; i < cycles; i++) {
    if (prune) {
      ran += await pruneCycles();
      continue;
    }
    await cycle();
    await new Promise((resolve) => setImmediate(resolve));
    ran++;
  }
  const ms = now() - t;
  const spans = probe?.stop();
  const { profile } = (await session.post('Profiler.stop')) as { profile: Profile };
  obs.takeRecords().forEach((e) => pauses.push(e.duration));
  if (heap) {
    const sampled = (await session.post('HeapProfiler.stopSampling')) as { profile: { head: HeapNode } };
    const bytes = new Map<string, number>();
    const name = frameName;
    // Builtins (no url) are named with their nearest caller that has one (`next < Map < copyOf src/...`).
    const walk = (node: HeapNode, parent: string): void => {
      const own = name(node.callFrame);
      const key = node.callFrame.url === '' ? `${own} < ${parent}` : own;
      bytes.set(key, (bytes.get(key) ?? 0) + node.selfSize);
      for (const c of node.children) walk(c, node.callFrame.url === '' ? key : own);
    };
    walk(sampled.profile.head, '');
    const all = [...bytes].sort((a, b) => b[1] - a[1]);
    const sum = all.reduce((s, [, v]) => s + v, 0);
    console.log(`${live ? 'kept' : 'allocated'} ${(sum / ran / 1024).toFixed(1)} KiB a cycle (sampled), by function:`);
    for (const [k, v] of all.slice(0, 25))
      console.log(`${((v / sum) * 100).toFixed(1).padStart(5)}% ${(v / ran / 1024).toFixed(1)} KiB/cycle  ${k}`);
  }
  obs.disconnect();
  await running.engine.stop();
  if (out !== undefined) writeFileSync(out, JSON.stringify(profile));
  const total = times(profile, args.includes('--inclusive'));
  const sum = times(profile, false).reduce((s, [, v]) => s + v, 0);
  console.log(
    `${n} orders${fresh ? ', fresh objects' : ''}${placing ? ', placing' : ''}${prune ? `, ${cycles} prunes in ${ran} cycles` : ''}: ${(ms / ran).toFixed(3)} ms a cycle (profiled), GC ${(pauses.reduce((a, b) => a + b, 0) / ran).toFixed(3)} ms a cycle`,
  );
  // `--callers RE`: self time of frames matching RE, by the nearest caller in our own code (src/).
  const callers = valueOf(args, '--callers');
  if (callers !== undefined) {
    const re = new RegExp(callers);
    const byId = new Map(profile.nodes.map((node) => [node.id, node]));
    const parent = new Map<number, number>();
    for (const node of profile.nodes) for (const c of node.children ?? []) parent.set(c, node.id);
    const by = new Map<string, number>();
    profile.samples.forEach((id, i) => {
      if (!re.test(frameName(byId.get(id)!.callFrame))) return;
      let at = parent.get(id);
      while (at !== undefined && !frameName(byId.get(at)!.callFrame).includes(' src/')) at = parent.get(at);
      const key = at === undefined ? '(none)' : frameName(byId.get(at)!.callFrame);
      by.set(key, (by.get(key) ?? 0) + (profile.timeDeltas[i] ?? 0) / 1000);
    });
    for (const [k, v] of [...by].sort((a, b) => b[1] - a[1]).slice(0, 15))
      console.log(`  ${(v / ran).toFixed(4)} ms/cycle from ${k}`);
  }
  // Self time by where the code lives: our modules by directory, libraries by package.
  const areas = new Map<string, number>();
  for (const [k, v] of times(profile, false)) {
    const file = k.split(' ')[1] ?? '';
    const area = /^node_modules\//.test(file)
      ? file.split('/')[1]!
      : /^(src|bench)\//.test(file)
        ? file.split('/').slice(0, 2).join('/')
        : k.split(' ')[0]!;
    areas.set(area, (areas.get(area) ?? 0) + v);
  }
  console.log(
    [...areas]
      .sort((a, b) => b[1] - a[1])
      .slice(0, 16)
      .map(([a, v]) => `${a} ${(v / ran).toFixed(3)}`)
      .join(', '),
  );
  for (const [k, v] of total.slice(0, listArg(args, '--top')?.[0] ?? 40))
    console.log(`${((v / sum) * 100).toFixed(1).padStart(5)}% ${(v / ran).toFixed(4)} ms/cycle  ${k}`);
  if (spans !== undefined && spansK !== undefined) printSpans(profile, spans, spansK, intervalUs);
}

await main(process.argv.slice(2));
