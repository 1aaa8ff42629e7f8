/**
 * Fuzz (issue 14): the store's file decoders (bytes, and FileStateStore.load on real files), on mutations of valid payloads. Each case returns a valid value or throws the typed
 * error, in time, without touching Object.prototype; the harness is test/support/fuzz.ts.
 */
import { describeFuzz } from '../support/fuzz-suite.js';
import { STORE_TARGETS } from '../support/fuzz-targets.js';

describeFuzz("the store's file decoders (bytes, and FileStateStore.load on real files)", STORE_TARGETS);
