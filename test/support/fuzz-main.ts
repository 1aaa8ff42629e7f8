/**
 * The long fuzz run of untrusted input (issue 14): `npm run fuzz -- --runs 10000 [--seed 14] [--target parseOrder]
 * [--slow-ms 50]`. Every target of fuzz-targets.ts gets `runs` cases (FileStateStore.load, which writes real files,
 * a tenth of them) and every call is held to `--slow-ms`. Prints, per target, the counts per mutation category
 * (accepted / rejected), the slowest call and the violations, each with its payload; exits 1 when there is one.
 */
import { parseArgs } from 'node:util';
import { collectFuzz, quantileMs, type Violation } from './fuzz.js';
import { loadavg } from 'node:os';
import { ALL_TARGETS } from './fuzz-targets.js';

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '10000' },
    seed: { type: 'string', default: '14' },
    target: { type: 'string' },
    'slow-ms': { type: 'string', default: '50' },
  },
  strict: true,
});
const runs = Number(values.runs);
const seed = Number(values.seed);
const slowMs = Number(values['slow-ms']);
if (!Number.isSafeInteger(runs) || runs < 1 || !Number.isSafeInteger(seed) || !(slowMs > 0)) {
  console.error('usage: npm run fuzz -- [--runs N] [--seed S] [--target NAME] [--slow-ms MS]');
  process.exit(2);
}
const targets = ALL_TARGETS.filter((t) => values.target === undefined || t.name.includes(values.target));

console.log(`fuzz: ${targets.length} targets, ${runs} cases each (seed ${seed}), every call held to ${slowMs} ms`);
const all: { violation: Violation; payload: string }[] = [];
const started = performance.now();
for (const target of targets) {
  const t0 = performance.now();
  const { stats, violations } = await collectFuzz(target, { runs, seed, slowMs });
  all.push(...violations);
  const per = [...stats.counts.entries()].map(([c, n]) => `${c} ${n.accepted}/${n.rejected}`).join(', ');
  const accepted = [...stats.counts.values()].reduce((a, n) => a + n.accepted, 0);
  console.log(
    `\n${target.name}: ${stats.calls} calls (${accepted} accepted, ${stats.calls - accepted} rejected), ${violations.length} violations, ` +
      `${((performance.now() - t0) / 1000).toFixed(1)} s\n  time per call: median ${quantileMs(stats, 0.5).toFixed(2)} ms, p99 ${quantileMs(stats, 0.99).toFixed(2)} ms, ` +
      `slowest ${stats.slowestMs.toFixed(1)} ms (${stats.retimed} calls over ${slowMs} ms at first, timed again; load average ${loadavg()[0]!.toFixed(1)})`,
  );
  console.log(`  per category (accepted/rejected): ${per}`);
}
console.log(`\n${all.length} violations in ${((performance.now() - started) / 1000).toFixed(1)} s`);
for (const { violation: v, payload } of all.slice(0, 50))
  console.log(`- ${v.target} [${v.category}] ${v.kind}: ${v.detail}\n    payload: ${payload.slice(0, 400)}`);
process.exit(all.length === 0 ? 0 : 1);
