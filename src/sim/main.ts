/**
 * `npm run sim`: the deterministic simulation from the command line.
 *
 *   npm run sim -- --seeds 500 [--from 1000]   run seeds from..from+N-1; progress, seeds/s, slowest seed, heap
 *   npm run sim -- --seed 42 --trace           run one seed and print its whole event trace
 *   add --streams                              worlds with the exchange's execution stream and its seeded faults
 *   add --fee-asset                            worlds whose fees are charged in BNB while the account holds some
 *   add --clock-skew                           worlds whose exchange stamps times on a clock up to 1 s off ours
 *
 * Every failing seed prints the one-line command that reproduces it. Exit code 1 when any seed failed.
 * SIM_DEBUG=1 adds each cycle's port calls and both books (ours, the exchange's) to the trace.
 */
import { reproCommand, runSeed, type SeedResult } from './run.js';

interface Args {
  seeds: number;
  from: number;
  seed: number | undefined;
  trace: boolean;
  streams: boolean;
  feeAsset: boolean;
  clockSkew: boolean;
}

function parseArgs(argv: readonly string[]): Args {
  const args: Args = {
    seeds: 100,
    from: 1,
    seed: undefined,
    trace: false,
    streams: false,
    feeAsset: false,
    clockSkew: false,
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const num = (): number => {
      const v = Number(argv[++i]);
      if (!Number.isSafeInteger(v) || v < 0) throw new Error(`${a} needs a non-negative integer`);
      return v;
    };
    if (a === '--seeds') args.seeds = num();
    else if (a === '--from') args.from = num();
    else if (a === '--seed') args.seed = num();
    else if (a === '--trace') args.trace = true;
    else if (a === '--streams') args.streams = true;
    else if (a === '--fee-asset') args.feeAsset = true;
    else if (a === '--clock-skew') args.clockSkew = true;
    else if (a === '--help' || a === '-h') {
      console.log(
        'usage: npm run sim -- --seeds N [--from S] [--streams] [--fee-asset] [--clock-skew] | --seed S [--trace] [same flags]',
      );
      process.exit(0);
    } else throw new Error(`unknown argument ${a ?? ''} (try --help)`);
  }
  return args;
}

function mb(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

function printFailure(r: SeedResult): void {
  console.log(`FAIL seed ${r.seed}: ${r.violations.length} violation(s)`);
  for (const v of r.violations.slice(0, 5))
    console.log(`  ${v.invariant} @+${((v.at - 1_700_000_000_000) / 1000).toFixed(3)}s: ${v.message.slice(0, 600)}`);
  console.log(
    `  reproduce: ${reproCommand(r.seed, r.config.stream !== undefined, r.config.market.feeAsset !== undefined, r.config.clockSkewMs !== undefined)}`,
  );
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  if (args.seed !== undefined) {
    const r = await runSeed(args.seed, { streams: args.streams, feeAsset: args.feeAsset, clockSkew: args.clockSkew });
    if (args.trace) for (const line of r.trace) console.log(line);
    console.log(
      `seed ${r.seed}: ${r.ok ? 'ok' : 'FAILED'} in ${r.wallMs.toFixed(0)} ms wall, ${(r.stats.virtualMs / 1000).toFixed(1)} s virtual; ${JSON.stringify(r.stats)}`,
    );
    if (!r.ok) printFailure(r);
    process.exitCode = r.ok ? 0 : 1;
    return;
  }
  const heapBefore = process.memoryUsage().heapUsed;
  const t0 = performance.now();
  const failed: SeedResult[] = [];
  let slowest: { seed: number; ms: number } = { seed: args.from, ms: 0 };
  let cycles = 0;
  let crashes = 0;
  const every = Math.max(1, Math.min(100, Math.round(args.seeds / 20)));
  for (let i = 0; i < args.seeds; i++) {
    const seed = args.from + i;
    const r = await runSeed(seed, { streams: args.streams, feeAsset: args.feeAsset, clockSkew: args.clockSkew });
    cycles += r.stats.cycles;
    crashes += r.stats.crashes;
    if (r.wallMs > slowest.ms) slowest = { seed, ms: r.wallMs };
    if (!r.ok) {
      failed.push(r);
      printFailure(r);
    }
    if ((i + 1) % every === 0 || i + 1 === args.seeds) {
      const secs = (performance.now() - t0) / 1000;
      console.log(
        `${i + 1}/${args.seeds} seeds, ${failed.length} failed, ${((i + 1) / secs).toFixed(1)} seeds/s, heap ${mb(process.memoryUsage().heapUsed)}`,
      );
    }
  }
  const secs = (performance.now() - t0) / 1000;
  console.log(
    `done: ${args.seeds} seeds (${args.from}..${args.from + args.seeds - 1}) in ${secs.toFixed(1)} s, ${(args.seeds / secs).toFixed(2)} seeds/s; ` +
      `${cycles} reconciliation cycles, ${crashes} crashes; slowest seed ${slowest.seed} (${slowest.ms.toFixed(0)} ms); failures ${failed.length}`,
  );
  console.log(`heap used: before ${mb(heapBefore)}, after ${mb(process.memoryUsage().heapUsed)}`);
  if (failed.length > 0) {
    console.log(`failing seeds: ${failed.map((f) => f.seed).join(', ')}`);
    process.exitCode = 1;
  }
}

// Piped into `head`: a closed stdout ends the run quietly.
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  throw e;
});

main().catch((e: unknown) => {
  console.error(e instanceof Error ? (e.stack ?? e.message) : String(e));
  process.exitCode = 2;
});
