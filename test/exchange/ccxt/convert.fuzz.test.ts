/**
 * Fuzz (issue 14): the ccxt converters, on mutations of valid payloads. Each case returns a valid value or throws the typed
 * error, in time, without touching Object.prototype; the harness is test/support/fuzz.ts.
 */
import { describeFuzz } from '../../support/fuzz-suite.js';
import { CCXT_TARGETS } from '../../support/fuzz-targets.js';

describeFuzz('the ccxt converters', CCXT_TARGETS);
