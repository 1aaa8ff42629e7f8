// Run by .ci/run: a CommonJS caller can require() the ESM package root on Node >= 20.19 (no top-level await there).
// `tesser-reconcile/ccxt` awaits its optional peer at the top level, so it is loaded with import(), even from CJS.
const assert = require('node:assert/strict');
const root = require('tesser-reconcile');
assert.equal(typeof root.createEngine, 'function');
import('tesser-reconcile/ccxt').then((ccxt) => {
  assert.equal(typeof ccxt.CcxtExchange, 'function');
  console.log('require: the root loads with require(); /ccxt with import()');
});
