// Python's multiprocessing logging (get_logger, log_to_stderr, its levels and
// line format) and NODE_DEBUG=multiproc, on real processes and pools.
import assert from 'node:assert/strict';
import { afterEach, test } from 'node:test';
import { getLogger, type LogRecord } from 'multiproc';
import { assertNoneLeftBehind } from './helpers/cleanup.js';
import { PROGRAMS, run, withoutNoAddonLine } from './helpers/run.js';

afterEach(() => assertNoneLeftBehind());

const program = `${PROGRAMS}logging.ts`;

test('logToStderr("DEBUG"): process and pool lifecycles in Python\'s format, from the parent and from its children', async () => {
  const outcome = await run(['--import', 'tsx', program, 'stderr'], { timeoutMs: 30_000 });
  assert.equal(outcome.code, 0, outcome.stderr);
  assert.equal(outcome.stdout, '49\n');
  const lines = outcome.stderr.split('\n').filter((line) => line !== '');
  const expected = [
    /^\[INFO\/MainProcess\] started Process-1 \(pid \d+, forkserver\)$/,
    /^\[INFO\/Process-1\] process shutting down \(exit code 0\)$/,
    /^\[INFO\/MainProcess\] Process-1 \(pid \d+\) exited with exitcode 0$/,
    /^\[INFO\/MainProcess\] started fresh \(pid \d+, spawn\)$/,
    /^\[INFO\/fresh\] process shutting down \(exit code 0\)$/,
    /^\[INFO\/MainProcess\] fresh \(pid \d+\) exited with exitcode 0$/,
    /^\[DEBUG\/MainProcess\] added worker ForkServerPoolWorker-3, pid \d+$/,
    /^\[DEBUG\/MainProcess\] closing pool$/,
    /^\[DEBUG\/MainProcess\] joining pool$/,
    /^\[INFO\/ForkServerPoolWorker-3\] process shutting down \(exit code 0\)$/,
    /^\[DEBUG\/MainProcess\] cleaning up worker ForkServerPoolWorker-3, pid \d+ \(exited with code 0\)$/,
    /^\[INFO\/MainProcess\] process shutting down \(exit code 0\)$/,
  ];
  for (const pattern of expected) assert.ok(lines.some((line) => pattern.test(line)), `${pattern} in:\n${outcome.stderr}`);
  // In order where one process says it: the parent's own lines.
  const ours = lines.filter((line) => line.includes('/MainProcess]'));
  assert.match(ours[0]!, /started Process-1/);
  assert.match(ours.at(-1)!, /process shutting down/);
});

test('silent unless enabled; NODE_DEBUG=multiproc prints every message through util.debuglog', async () => {
  const silent = await run(['--import', 'tsx', program, 'silent'], { timeoutMs: 30_000 });
  assert.equal(silent.code, 0, silent.stderr);
  assert.equal(withoutNoAddonLine(silent.stderr), '');
  const debug = await run(['--import', 'tsx', program, 'silent'], { timeoutMs: 30_000, env: { NODE_DEBUG: 'multiproc' } });
  assert.equal(debug.code, 0, debug.stderr);
  assert.match(debug.stderr, /^MULTIPROC \d+: \[INFO\/MainProcess\] started Process-1 \(pid \d+, forkserver\)$/m);
  assert.match(debug.stderr, /^MULTIPROC \d+: \[DEBUG\/MainProcess\] closing pool$/m);
  assert.doesNotMatch(debug.stderr, /^\[/m);
});

test('getLogger(): Python\'s levels, effective level WARNING until set, handlers get records, format-style arguments', () => {
  const logger = getLogger();
  assert.equal(logger, getLogger());
  assert.equal(logger.name, 'multiprocessing');
  assert.equal(logger.getEffectiveLevel(), 30);
  const records: LogRecord[] = [];
  const handler = (record: LogRecord): void => void records.push(record);
  logger.addHandler(handler);
  try {
    logger.info('not shown');
    logger.warning('shown %d of %s', 1, 'two');
    logger.setLevel('SUBDEBUG');
    assert.equal(logger.isEnabledFor('DEBUG'), true);
    logger.subDebug('fine');
    logger.log(15, 'between');
    assert.deepEqual(
      records.map(({ level, levelName, message, processName, pid }) => ({ level, levelName, message, processName, pid })),
      [
        { level: 30, levelName: 'WARNING', message: 'shown 1 of two', processName: 'MainProcess', pid: process.pid },
        { level: 5, levelName: 'SUBDEBUG', message: 'fine', processName: 'MainProcess', pid: process.pid },
        { level: 15, levelName: 'Level 15', message: 'between', processName: 'MainProcess', pid: process.pid },
      ],
    );
    assert.throws(() => logger.setLevel('LOUD' as never), { name: 'RangeError', message: /level name \(NOTSET, SUBDEBUG, DEBUG, INFO, SUBWARNING, WARNING, ERROR, CRITICAL\)/ });
  } finally {
    logger.removeHandler(handler);
    logger.setLevel('NOTSET');
  }
});
