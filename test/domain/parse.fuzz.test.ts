/**
 * Fuzz (issue 14): the domain parsers, on mutations of valid payloads. Each case returns a valid value or throws the typed
 * error, in time, without touching Object.prototype; the harness is test/support/fuzz.ts.
 */
import { describeFuzz } from '../support/fuzz-suite.js';
import { PARSER_TARGETS } from '../support/fuzz-targets.js';

describeFuzz('the domain parsers', PARSER_TARGETS);
