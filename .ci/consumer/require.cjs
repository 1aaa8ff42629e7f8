// Run by .ci/run: a CommonJS caller can require() the ESM package root on Node >= 20.19 (no top-level await there).
// `tesser-reconcile/ccxt` awaits its optional peer at the top level, so it is loaded with import(), even from CJS.
// A CommonJS bot's own `require('decimal.js')` is decimal.js's CommonJS build, a class apart from the ES module the
// package uses: an order made of such amounts is placed with the same values.
const assert = require('node:assert/strict');
const root = require('tesser-reconcile');
const { SimulatedExchange, InMemoryStateStore } = require('tesser-reconcile/testing');
const Decimal = require('decimal.js');
assert.equal(typeof root.createEngine, 'function');
assert.equal(new Decimal('1') instanceof root.Dec, false);

async function ownDecimals() {
  const exchange = new SimulatedExchange({ seed: 42, clock: { now: () => Date.now() } });
  const engine = root.createEngine({ exchange, store: new InMemoryStateStore(), intervalMs: 3_600_000 });
  await engine.start();
  try {
    const order = await engine.placeOrder({
      clientOrderId: 'cjs-1',
      symbol: 'BTC/USDT',
      side: 'buy',
      type: 'limit',
      quantity: new Decimal('0.01'),
      price: new Decimal('1000.5'),
    });
    assert.equal(order.status, 'open');
    assert.deepEqual([order.quantity.toFixed(), order.price.toFixed()], ['0.01', '1000.5']);
  } finally {
    await engine.stop();
  }
}

ownDecimals()
  .then(() => import('tesser-reconcile/ccxt'))
  .then((ccxt) => {
    assert.equal(typeof ccxt.CcxtExchange, 'function');
    console.log(
      "require: the root loads with require(), an order of require('decimal.js') amounts is placed; /ccxt with import()",
    );
  })
  .catch((e) => {
    console.error(e);
    process.exit(1);
  });
