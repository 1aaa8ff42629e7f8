/**
 * Fuzz (issue 14): the portfolio file decoders, on mutations of valid payloads. Each case returns a valid value or throws the typed
 * error, in time, without touching Object.prototype; the harness is test/support/fuzz.ts.
 */
import { describeFuzz } from '../support/fuzz-suite.js';
import { STATE_FILE_TARGETS } from '../support/fuzz-targets.js';

describeFuzz(
  'the portfolio file decoders',
  STATE_FILE_TARGETS.filter((t) => t.name.includes('ortfolio')),
);
