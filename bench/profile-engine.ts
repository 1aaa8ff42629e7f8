/**
 * A CPU profile of clean engine cycles (not a bench module: it measures nothing it reports as a figure). Boots the
 * same engine as bench/engine.ts (createEngine on a SimulatedExchange with no latency, N tracked resting orders),
 * warms up, then profiles `--cycles` clean cycles only (node:inspector), and prints the functions with the most self
 * time, plus GC and wall time per cycle. `--fresh` hands out fresh objects per read, as ccxt does.
 *
 *   npx tsx bench/profile-engine.ts --orders 10000 --cycles 200 --fresh [--out /tmp/x.cpuprofile]
 */
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { PerformanceObserver } from 'node:perf_hooks';
import { boot, freshCopies } from './engine.js';
import { listArg, makeWorld, now, saveWorld, valueOf } from './support.js';
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

async function main(args: readonly string[]): Promise<void> {
  const n = listArg(args, '--orders')?.[0] ?? 1000;
  const cycles = listArg(args, '--cycles')?.[0] ?? 500;
  const fresh = args.includes('--fresh');
  const out = valueOf(args, '--out');
  const world = await makeWorld(n);
  const store = new InMemoryStateStore();
  await saveWorld(store, world);
  const { running } = await boot(fresh ? { tl: world.tl, ex: freshCopies(world.ex) } : world, store);
  for (let i = 0; i < Math.max(20, cycles / 5); i++) await running.cycle();
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.setSamplingInterval', { interval: 100 });
  const pauses: number[] = [];
  const obs = new PerformanceObserver((list) => list.getEntries().forEach((e) => pauses.push(e.duration)));
  obs.observe({ entryTypes: ['gc'] });
  const heap = args.includes('--heap');
  if (heap)
    await session.post('HeapProfiler.startSampling', {
      samplingInterval: 1024,
      includeObjectsCollectedByMajorGC: true,
      includeObjectsCollectedByMinorGC: true,
    } as never);
  await session.post('Profiler.start');
  const t = now();
  for (let i = 0; i < cycles; i++) {
    await running.cycle();
    await new Promise((resolve) => setImmediate(resolve));
  }
  const ms = now() - t;
  const { profile } = (await session.post('Profiler.stop')) as { profile: Profile };
  obs.takeRecords().forEach((e) => pauses.push(e.duration));
  if (heap) {
    const sampled = (await session.post('HeapProfiler.stopSampling')) as { profile: { head: HeapNode } };
    const bytes = new Map<string, number>();
    const name = frameName;
    // Builtins (no url) are named with their caller, which says where the allocation comes from.
    const walk = (node: HeapNode, parent: string): void => {
      const own = name(node.callFrame);
      const key = node.callFrame.url === '' ? `${own} < ${parent}` : own;
      bytes.set(key, (bytes.get(key) ?? 0) + node.selfSize);
      for (const c of node.children) walk(c, own);
    };
    walk(sampled.profile.head, '');
    const all = [...bytes].sort((a, b) => b[1] - a[1]);
    const sum = all.reduce((s, [, v]) => s + v, 0);
    console.log(`allocated ${(sum / cycles / 1024).toFixed(1)} KiB a cycle (sampled), by function:`);
    for (const [k, v] of all.slice(0, 25))
      console.log(`${((v / sum) * 100).toFixed(1).padStart(5)}% ${(v / cycles / 1024).toFixed(1)} KiB/cycle  ${k}`);
  }
  obs.disconnect();
  await running.engine.stop();
  if (out !== undefined) writeFileSync(out, JSON.stringify(profile));
  const total = times(profile, args.includes('--inclusive'));
  const sum = times(profile, false).reduce((s, [, v]) => s + v, 0);
  console.log(
    `${n} orders${fresh ? ', fresh objects' : ''}: ${(ms / cycles).toFixed(3)} ms a cycle (profiled), GC ${(pauses.reduce((a, b) => a + b, 0) / cycles).toFixed(3)} ms a cycle`,
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
      console.log(`  ${(v / cycles).toFixed(4)} ms/cycle from ${k}`);
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
      .map(([a, v]) => `${a} ${(v / cycles).toFixed(3)}`)
      .join(', '),
  );
  for (const [k, v] of total.slice(0, listArg(args, '--top')?.[0] ?? 40))
    console.log(`${((v / sum) * 100).toFixed(1).padStart(5)}% ${(v / cycles).toFixed(4)} ms/cycle  ${k}`);
}

await main(process.argv.slice(2));
