/**
 * Fuzz (issue 14): the engine state decoder, on mutations of valid payloads. Each case returns a valid value or throws the typed
 * error, in time, without touching Object.prototype; the harness is test/support/fuzz.ts.
 */
import { describeFuzz } from '../support/fuzz-suite.js';
import { STATE_FILE_TARGETS } from '../support/fuzz-targets.js';

describeFuzz(
  'the engine state decoder',
  STATE_FILE_TARGETS.filter((t) => t.name === 'decodeEngineState'),
);
