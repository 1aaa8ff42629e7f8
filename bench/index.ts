/**
 * `npm run bench`: runs the benchmark modules in sequence. Benchmarks print (and write JSON results under
 * bench/results/); they never assert. Each bench is a module in BENCHES; add new ones there.
 *
 *   npx tsx bench/index.ts                  # every bench
 *   npx tsx bench/index.ts --only diff      # one bench (repeatable, or comma-separated)
 *   npx tsx bench/index.ts --list           # names and descriptions (also --help, -h: it runs nothing)
 * Flags after the bench selection are handed to each module (e.g. `--sizes 1000,10000 --no-write` for diff).
 */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { bootBench } from './boot.js';
import { ccxtBench } from './ccxt.js';
import { cycleBench } from './cycle.js';
import { diffBench } from './diff.js';
import { engineBench } from './engine.js';
import { flagProblem, type BenchFlags } from './flags.js';
import { persistBench } from './persist.js';
import { readsBench } from './reads.js';
import { streamBench } from './stream.js';

/** What a bench module receives. */
export interface BenchContext {
  /** Command-line arguments not consumed by the runner. */
  readonly args: readonly string[];
  /** Directory for JSON results (bench/results). */
  readonly resultsDir: string;
  readonly log: (line: string) => void;
}

/** One benchmark, runnable on its own with `--only <name>`. */
export interface BenchModule {
  readonly name: string;
  readonly description: string;
  /** The flags it reads (`npm run bench` refuses any other before running anything). */
  readonly flags: BenchFlags;
  run(ctx: BenchContext): Promise<void>;
}

const BENCHES: readonly BenchModule[] = [
  diffBench,
  cycleBench,
  engineBench,
  bootBench,
  streamBench,
  persistBench,
  readsBench,
  ccxtBench,
];

async function main(argv: readonly string[]): Promise<void> {
  const only: string[] = [];
  const rest: string[] = [];
  let list = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--only') only.push(...(argv[++i] ?? '').split(',').filter((s) => s !== ''));
    else if (a.startsWith('--only='))
      only.push(
        ...a
          .slice('--only='.length)
          .split(',')
          .filter((s) => s !== ''),
      );
    // `--help` lists too: handed to the modules, which ignore flags they do not know, it ran every bench and
    // rewrote bench/results.
    else if (a === '--list' || a === '--help' || a === '-h') list = true;
    else rest.push(a);
  }
  if (list) {
    console.log('npm run bench [-- --only NAME[,NAME]] [flags for the benches]; the benches:');
    for (const b of BENCHES) {
      console.log(`${b.name.padEnd(12)} ${b.description}`);
      console.log(`${''.padEnd(12)} flags: ${Object.keys(b.flags).join(' ')}`);
    }
    return;
  }
  const unknown = only.filter((n) => !BENCHES.some((b) => b.name === n));
  if (unknown.length > 0) {
    console.error(`unknown bench: ${unknown.join(', ')} (available: ${BENCHES.map((b) => b.name).join(', ')})`);
    process.exitCode = 2;
    return;
  }
  const selected = only.length === 0 ? BENCHES : BENCHES.filter((b) => only.includes(b.name));
  const problem = flagProblem(
    rest,
    selected.map((b) => b.flags),
  );
  if (problem !== undefined) {
    console.error(`npm run bench: ${problem}; nothing was run`);
    process.exitCode = 2;
    return;
  }
  const resultsDir = join(dirname(fileURLToPath(import.meta.url)), 'results');
  for (const b of selected) {
    console.log(`\n== ${b.name}: ${b.description}`);
    await b.run({ args: rest, resultsDir, log: (line) => console.log(line) });
  }
}

await main(process.argv.slice(2));
