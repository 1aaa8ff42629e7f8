/**
 * `npm run emulator`: try `tesser-reconcile audit` offline. Serves the loopback Binance emulator in front of a
 * SimulatedExchange, writes a state directory that has drifted from it (a ghost, a zombie, balance drift: see
 * audit-scenario.ts), prints the audit command to run in another terminal, and serves until Ctrl-C.
 *
 *   npm run emulator -- [--state DIR] [--port N] [--seed N]
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { AUDIT_SYMBOLS, prepareAuditScenario } from './audit-scenario.js';

const { values } = parseArgs({
  options: {
    state: { type: 'string' },
    port: { type: 'string', default: '0' },
    seed: { type: 'string', default: '3' },
    help: { type: 'boolean', short: 'h' },
  },
  strict: true,
});
if (values.help === true) {
  console.log(
    'usage: npm run emulator -- [--state DIR] [--port N] [--seed N]   (DIR: empty or missing; default a temporary one, removed at exit)',
  );
  process.exit(0);
}
const port = Number(values.port);
const seed = Number(values.seed);
if (!Number.isInteger(port) || port < 0 || port > 65_535 || !Number.isInteger(seed) || seed < 0) {
  console.error('emulator: --port must be an integer in [0, 65535] and --seed a non-negative integer');
  process.exit(2);
}
const temporary = values.state === undefined;
const dir = values.state ?? (await mkdtemp(join(tmpdir(), 'tesser-emulator-state-')));
const { emu } = await prepareAuditScenario({ dir, seed, port });

console.log(`Binance emulator (spot + USD-M) on ${emu.url}, backed by a SimulatedExchange (seed ${seed}).`);
console.log(
  `State directory ${dir}: written by an engine, then the exchange moved on (a ghost, a zombie, balance drift).`,
);
console.log('');
console.log('In another terminal:');
console.log(
  `  TESSER_API_KEY=${emu.apiKey} TESSER_API_SECRET=any npx tsx src/cli/main.ts audit --exchange binance --state ${dir} --url ${emu.url}`,
);
console.log(
  `(--symbols defaults to the state's instruments: ${AUDIT_SYMBOLS.join(', ')}). Ctrl-C here stops the emulator.`,
);

const stop = (): void => {
  void (async () => {
    await emu.close();
    if (temporary) await rm(dir, { recursive: true, force: true });
    console.log(`\nemulator stopped${temporary ? `; removed ${dir}` : ''}`);
  })();
};
process.once('SIGINT', stop);
process.once('SIGTERM', stop);
