// The addon's own tests have nothing to test in a run with the addon turned
// off on purpose (CI's second pass of the whole suite, MULTIPROC_NO_NATIVE=1):
// they are skipped there, and only there, saying why. An addon that failed to
// load for any other reason (a broken build) still fails them.
import { nativeUnavailableReason } from '../../dist/cjs/native.js';

const reason = nativeUnavailableReason();

/** True in a run where MULTIPROC_NO_NATIVE turns the addon off. */
export const addonTurnedOff = reason !== null && reason.startsWith('disabled by MULTIPROC_NO_NATIVE');

/** A test's `skip` option for a test of the addon itself: false, or why it is skipped in this run. */
export function testsTheAddon(what: string): string | false {
  return addonTurnedOff && `it tests the addon itself (${what}), which this run turns off (${reason})`;
}
