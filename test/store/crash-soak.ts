/**
 * Long crash-safety soak for FileStateStore: the crash test's campaign with many more SIGKILLs.
 * Run: npx tsx test/store/crash-soak.ts --kills 2000 [--seed S] [--lanes 2] [--compact-every 8]
 * Exits 1 with the first violated guarantee, 0 with statistics when every reload was correct.
 */
import { parseArgs } from 'node:util';
import { runCrashCampaign } from './fixtures/crash-driver.js';

const { values } = parseArgs({
  options: {
    kills: { type: 'string', default: '2000' },
    seed: { type: 'string', default: 'crash-soak' },
    lanes: { type: 'string', default: '2' },
    'compact-every': { type: 'string', default: '8' },
  },
});

function positiveInt(name: string, text: string): number {
  if (!/^[1-9][0-9]*$/.test(text)) {
    process.stderr.write(`--${name} must be a positive integer, got ${JSON.stringify(text)}\n`);
    process.exit(2);
  }
  return Number.parseInt(text, 10);
}

const kills = positiveInt('kills', values.kills);
const lanes = positiveInt('lanes', values.lanes);
const compactEvery = positiveInt('compact-every', values['compact-every']);
process.stdout.write(`crash soak: ${kills} kills over ${lanes} lane(s), seed ${JSON.stringify(values.seed)}\n`);
try {
  const stats = await runCrashCampaign({
    kills,
    lanes,
    compactEvery,
    seed: values.seed,
    log: (line) => process.stdout.write(`${line}\n`),
  });
  process.stdout.write(`ok ${JSON.stringify(stats)}\n`);
} catch (e) {
  process.stderr.write(`FAILED: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exit(1);
}
