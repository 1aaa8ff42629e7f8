/**
 * The ccxt module, loaded once for the whole adapter. Every file of `tesser-reconcile/ccxt` takes ccxt from here
 * (types come from `import type`, which is erased): a static `import ... from 'ccxt'` would make a missing ccxt fail
 * while Node links the modules, before any of our code could say what to install. The top-level await means this
 * subpath can be loaded with `import`, not with `require()` (the package root has none and can be required).
 */
import type * as Ccxt from 'ccxt';
import { importPeer } from '../../optional-peer.js';

/** The ccxt module (its default export holds the exchange classes by id; the error classes are named exports). */
export const ccxtLib: typeof Ccxt = await importPeer<typeof Ccxt>('ccxt', 'tesser-reconcile/ccxt');
