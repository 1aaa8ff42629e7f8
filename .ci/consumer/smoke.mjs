// Run by .ci/run with plain node in a project that installed the packed tarball (no tsx there): every entry point
// loads from dist/, and the embedding example (compiled there by tsc into out/) runs a bot in virtual time.
import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Dec, createEngine, FileStateStore, TesserError } from 'tesser-reconcile';
import { VirtualTimeline, createMemoryLogger } from 'tesser-reconcile/testing';
import { engineMachine, lifecycleModel } from 'tesser-reconcile/machines';
import { diff } from 'tesser-reconcile/differ';
import { StartupHandler } from 'tesser-reconcile/handlers';
import { logInspection, startInspectorServer } from 'tesser-reconcile/inspect';
import { runBot } from './out/embedding-example.js';

assert.equal(typeof createEngine, 'function');
assert.equal(typeof FileStateStore.open, 'function');
assert.ok(new TesserError('x') instanceof Error);
assert.equal(new Dec('0.1').plus('0.2').toString(), '0.3');
assert.equal(typeof engineMachine.id, 'string');
assert.equal(typeof lifecycleModel, 'object');
assert.equal(typeof diff, 'function');
assert.equal(typeof StartupHandler, 'function');
assert.equal(typeof startInspectorServer, 'function');
assert.equal(typeof logInspection, 'function');

const dir = await mkdtemp(join(tmpdir(), 'tesser-consumer-'));
try {
  const tl = new VirtualTimeline(Date.UTC(2026, 0, 1));
  const log = createMemoryLogger({ level: 'info' });
  const summary = await runBot({
    stateDir: join(dir, 'state'),
    timeline: tl,
    logger: log.logger,
    waitForStop: () => tl.advanceBy(60_000),
  });
  assert.deepEqual(summary.phases, [
    'loading',
    'startupReconcile',
    'running',
    'liquidateOnly',
    'running',
    'stopping',
    'stopped',
  ]);
  assert.deepEqual((await readdir(join(dir, 'state'))).sort(), ['journal.jsonl', 'snapshot.json']);
  console.log(`smoke: every entry point loads; the embedding example ran: ${summary.phases.join(' → ')}`);
} finally {
  await rm(dir, { recursive: true, force: true });
}
