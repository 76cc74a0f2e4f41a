/** Errors of the synchronisation primitives, with Python's names where Python has them. */

/** A Barrier was aborted, reset, timed out or its action failed (Python's `threading.BrokenBarrierError`). */
export class BrokenBarrierError extends Error {
  override name = 'BrokenBarrierError';
}

/**
 * A robust lock was taken over from a process that died holding it (what a
 * robust pthread mutex reports as EOWNERDEAD). The caller now holds the lock:
 * the state it guards may be half-updated, so check or repair it, then release.
 */
export class OwnerDiedError extends Error {
  override name = 'OwnerDiedError';
  /** The pid of the process that died holding the lock. */
  readonly ownerPid: number;

  constructor(what: string, ownerPid: number) {
    super(
      `the process ${ownerPid} that held this ${what} died without releasing it; you hold the ${what} now: ` +
        'check or repair the state it guards, then release() it',
    );
    this.ownerPid = ownerPid;
  }
}
