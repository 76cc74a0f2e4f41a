import { debuglog, format } from 'node:util';
import { current } from './current.js';
import { invalidArgValue } from './errors.js';

/**
 * Python's multiprocessing logging (`multiprocessing.util`): one logger,
 * silent until `logToStderr()` or a handler is added, with Python's levels
 * (SUBDEBUG 5 and SUBWARNING 25 beside the usual ones) and Python's line
 * format `[INFO/MainProcess] message`. Independently, `NODE_DEBUG=multiproc`
 * prints every message through `util.debuglog`, Node's own convention.
 */

const LEVELS = { NOTSET: 0, SUBDEBUG: 5, DEBUG: 10, INFO: 20, SUBWARNING: 25, WARNING: 30, ERROR: 40, CRITICAL: 50 } as const;

/** A level by Python's name, or its number (`logging.DEBUG` is 10). */
export type LogLevel = keyof typeof LEVELS | number;

export interface LogRecord {
  /** The level's number. */
  level: number;
  /** `'INFO'`, `'DEBUG'`..., or `'Level 15'` for a number with no name. */
  levelName: string;
  message: string;
  /** The name of the process that logs (Python's `processName`). */
  processName: string;
  pid: number;
  /** Milliseconds since the epoch. */
  time: number;
}

export type LogHandler = (record: LogRecord) => void;

export interface Logger {
  /** `'multiprocessing'`, as Python's. */
  readonly name: string;
  /** Messages below this level are dropped; 0 (NOTSET) means WARNING, as Python's root logger. */
  readonly level: number;
  setLevel(level: LogLevel): void;
  getEffectiveLevel(): number;
  isEnabledFor(level: LogLevel): boolean;
  addHandler(handler: LogHandler): void;
  removeHandler(handler: LogHandler): void;
  /** A message from `format`-style arguments (`%s`, `%d`...), as Python's `logger.log(level, msg, *args)`. */
  log(level: LogLevel, message: string, ...args: unknown[]): void;
  subDebug(message: string, ...args: unknown[]): void;
  debug(message: string, ...args: unknown[]): void;
  info(message: string, ...args: unknown[]): void;
  subWarning(message: string, ...args: unknown[]): void;
  warning(message: string, ...args: unknown[]): void;
  error(message: string, ...args: unknown[]): void;
  critical(message: string, ...args: unknown[]): void;
}

function levelNumber(level: LogLevel): number {
  if (typeof level === 'number' && Number.isInteger(level) && level >= 0) return level;
  if (typeof level === 'string' && Object.hasOwn(LEVELS, level)) return LEVELS[level];
  throw invalidArgValue('"level" argument', `a level name (${Object.keys(LEVELS).join(', ')}) or a non-negative integer`, level);
}

function levelName(level: number): string {
  for (const [name, value] of Object.entries(LEVELS)) if (value === level) return name;
  return `Level ${level}`;
}

const nodeDebug = debuglog('multiproc');

class MultiprocLogger implements Logger {
  readonly name = 'multiprocessing';
  level: number = LEVELS.NOTSET;
  readonly #handlers: LogHandler[] = [];

  setLevel(level: LogLevel): void {
    this.level = levelNumber(level);
  }

  getEffectiveLevel(): number {
    return this.level === LEVELS.NOTSET ? LEVELS.WARNING : this.level;
  }

  isEnabledFor(level: LogLevel): boolean {
    return levelNumber(level) >= this.getEffectiveLevel();
  }

  addHandler(handler: LogHandler): void {
    if (typeof handler !== 'function') throw new TypeError('a log handler must be a function of a LogRecord');
    if (!this.#handlers.includes(handler)) this.#handlers.push(handler);
  }

  removeHandler(handler: LogHandler): void {
    const at = this.#handlers.indexOf(handler);
    if (at >= 0) this.#handlers.splice(at, 1);
  }

  /** True when a message at `level` goes anywhere: the lifecycle calls check this first, so silence costs nothing. */
  wants(level: number): boolean {
    return nodeDebug.enabled || (this.#handlers.length > 0 && level >= this.getEffectiveLevel());
  }

  log(level: LogLevel, message: string, ...args: unknown[]): void {
    const number = levelNumber(level);
    if (!this.wants(number)) return;
    const text = args.length > 0 ? format(message, ...args) : message;
    if (nodeDebug.enabled) nodeDebug('[%s/%s] %s', levelName(number), current.name, text);
    if (number < this.getEffectiveLevel()) return;
    const record: LogRecord = { level: number, levelName: levelName(number), message: text, processName: current.name, pid: process.pid, time: Date.now() };
    for (const handler of this.#handlers) handler(record);
  }

  subDebug(message: string, ...args: unknown[]): void {
    this.log(LEVELS.SUBDEBUG, message, ...args);
  }

  debug(message: string, ...args: unknown[]): void {
    this.log(LEVELS.DEBUG, message, ...args);
  }

  info(message: string, ...args: unknown[]): void {
    this.log(LEVELS.INFO, message, ...args);
  }

  subWarning(message: string, ...args: unknown[]): void {
    this.log(LEVELS.SUBWARNING, message, ...args);
  }

  warning(message: string, ...args: unknown[]): void {
    this.log(LEVELS.WARNING, message, ...args);
  }

  error(message: string, ...args: unknown[]): void {
    this.log(LEVELS.ERROR, message, ...args);
  }

  critical(message: string, ...args: unknown[]): void {
    this.log(LEVELS.CRITICAL, message, ...args);
  }
}

const logger = new MultiprocLogger();

/** Python's `multiprocessing.get_logger()`: the library's logger, silent until a handler is added. */
export function getLogger(): Logger {
  return logger;
}

// Children inherit this variable (fresh ones at once; forkserver spares started after it was set), and log as their parent does.
const INHERITED_LEVEL = 'MULTIPROC_LOG_LEVEL';
let stderrHandler: LogHandler | null = null;

/**
 * Python's `multiprocessing.log_to_stderr(level)`: lines like
 * `[INFO/Process-1] process exiting with exitcode 0` on stderr, from this
 * process and the children it starts from now on. Returns the logger.
 */
export function logToStderr(level?: LogLevel | null): Logger {
  if (level !== undefined && level !== null) logger.setLevel(level);
  if (stderrHandler === null) {
    stderrHandler = (record) => void process.stderr.write(`[${record.levelName}/${record.processName}] ${record.message}\n`);
    logger.addHandler(stderrHandler);
    // As Python's util._exit_function, the last line of a process that logs.
    process.once('exit', (code) => logger.info('process shutting down (exit code %d)', code));
  }
  process.env[INHERITED_LEVEL] = String(logger.getEffectiveLevel());
  return logger;
}

/**
 * @internal the one-line lifecycle calls of process.ts and pool/: nothing is
 * formatted unless someone listens. Arguments that cost something to get
 * (a forked child's pid is read from the forkserver when first asked for)
 * come as one function, called only then.
 */
export function lifecycle(level: 'debug' | 'info' | 'subDebug', message: string, ...args: unknown[] | [() => unknown[]]): void {
  const number = level === 'info' ? LEVELS.INFO : level === 'debug' ? LEVELS.DEBUG : LEVELS.SUBDEBUG;
  if (!logger.wants(number)) return;
  const [first] = args;
  logger.log(number, message, ...(args.length === 1 && typeof first === 'function' ? (first as () => unknown[])() : args));
}

const inherited = process.env[INHERITED_LEVEL];
if (inherited !== undefined && /^\d+$/.test(inherited)) logToStderr(Number(inherited));
