// Run by .ci/run BEFORE ccxt is installed in the consumer project: the root loads without ccxt, and importing
// tesser-reconcile/ccxt fails with one MissingPeerDependencyError that names the install command.
import assert from 'node:assert/strict';
import { MissingPeerDependencyError } from 'tesser-reconcile';

try {
  await import('tesser-reconcile/ccxt');
  assert.fail('tesser-reconcile/ccxt loaded without ccxt installed');
} catch (e) {
  assert.ok(e instanceof MissingPeerDependencyError, `not a MissingPeerDependencyError: ${e}`);
  assert.deepEqual(e.peers, ['ccxt']);
  assert.match(e.message, /npm install ccxt@\^4\.5\.84/);
  console.log(`missing peer: ${e.message}`);
}
