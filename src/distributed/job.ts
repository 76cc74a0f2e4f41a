import { createHash, createHmac, createSecretKey, timingSafeEqual, type KeyObject } from 'node:crypto';
import { decode, encodeV8, jsonText } from '../codec.js';
import type { CodeRef } from '../targets.js';
import type { TaskKind } from '../pool/protocol.js';
import type { ErrorDescription } from '../pool/remote-error.js';

/**
 * What travels through Redis for one chunk: BullMQ's job data and return
 * value. Plain JSON (so BullMQ's own tools can show it), with the values
 * themselves as text (see encodeValue), under an HMAC so that a payload
 * changed in Redis is refused rather than run.
 */

/** The format version: a caller and a worker that disagree refuse each other's jobs, naming both versions. */
export const JOB_FORMAT = 4;

export interface JobData {
  /** The multiproc version of the caller, and the job format. */
  version: string;
  format: number;
  /** The task function's digest (see sealFunction): its module and source are in the queue's function record, once. */
  fn: string;
  kind: TaskKind;
  /** Per-task timeout in ms (the worker enforces it), or null. */
  timeout: number | null;
  /** [data, kwargs] as encodeValue writes them. */
  payload: string;
  /** HMAC-SHA256 of everything above. */
  mac: string;
}

/** A worker's answer, as BullMQ's return value. */
export interface JobAnswer {
  version: string;
  /**
   * Where it ran (host, worker pid, local process), for the error that names
   * it: in a failure only. Where a job completed is BullMQ's own record (its
   * `processedBy`), so a success does not carry it in each answer.
   */
  where?: string;
  micros: number;
  /** 'ok' (value: as encodeValue writes it), 'failed' (error: ErrorDescription), 'unsendable'. */
  status: 'ok' | 'failed' | 'unsendable';
  value?: string;
  error?: ErrorDescription;
  repr?: string;
  reason?: string;
  mac: string;
}

/**
 * The MAC of the small fields (as a JSON array) followed by the bulk (a
 * payload or value, megabytes for a big chunk): fed to the HMAC as it is,
 * since JSON.stringify of a long string costs ten times its hashing. A JSON
 * array's text ends where its brackets close, so no two messages run together
 * into the same bytes.
 */
function sign(key: string, parts: readonly unknown[], bulk: string): string {
  return createHmac('sha256', secretKey(key)).update(JSON.stringify(parts)).update(bulk).digest('base64');
}

/** The authkey as a KeyObject, made once: given as a string, each HMAC (two a job on each side) copied it anew. */
let lastKey: { text: string; key: KeyObject } | null = null;
function secretKey(text: string): KeyObject {
  if (lastKey?.text !== text) lastKey = { text, key: createSecretKey(Buffer.from(text)) };
  return lastKey.key;
}

function verify(key: string, parts: readonly unknown[], bulk: unknown, mac: unknown): boolean {
  if (typeof mac !== 'string' || typeof bulk !== 'string') return false;
  const expected = Buffer.from(sign(key, parts, bulk));
  const given = Buffer.from(mac);
  return expected.length === given.length && timingSafeEqual(expected, given);
}

/** The first character of an encoded value: what follows is JSON text, or the codec's bytes in base64. */
const JSON_MARK = 'j';
const BASE64_MARK = 'b';

/**
 * A value as text for a job or an answer. Plain JSON data (most arguments
 * and results: the codec checks it exactly) goes as its JSON text, with
 * none of the base64 round trip a single-item job would spend more on than
 * on its Redis commands, and a third fewer bytes; anything else (typed
 * arrays, Dates, Maps, a packed chunk of numbers) as the codec's bytes in base64.
 */
export function encodeValue(value: unknown, what: string): string {
  const text = jsonText(value);
  return text !== null ? JSON_MARK + text : BASE64_MARK + Buffer.from(encodeV8(value, what)).toString('base64');
}

export function decodeValue(text: string): unknown {
  if (text.startsWith(JSON_MARK)) return JSON.parse(text.slice(1)) as unknown;
  if (text.startsWith(BASE64_MARK)) return decode(Buffer.from(text.slice(1), 'base64'));
  throw new TypeError('not an encoded value');
}

const dataParts = (d: Omit<JobData, 'mac'>): unknown[] => [d.version, d.format, d.fn, d.kind, d.timeout];
const answerParts = (a: Omit<JobAnswer, 'mac'>): unknown[] => [a.version, a.where ?? null, a.micros, a.status, a.value === undefined, a.error ?? null, a.repr ?? null, a.reason ?? null];

/**
 * A task function as the workers of a queue find it: its module (relative to
 * their root, with `/` separators) and its name and source. Constant for a
 * pool, so it is written once to the queue's record of functions (a Redis
 * hash beside BullMQ's keys, bull:<queue>:multiproc-functions: one small
 * entry per function version, kept, as a job may wait any time), and
 * each job names it by a digest of 22 characters, where the module and the
 * source took a hundred bytes or more (a function's whole text) in every
 * job: fewer bytes to store, send, parse and sign per job. A worker reads a
 * digest it does not know once.
 */
export interface FunctionRecord {
  module: string;
  fn: CodeRef;
}

/** The hash of the queue's function records, after its BullMQ prefix (bull:<queue>:); a field per digest. */
export const FUNCTIONS_KEY = 'multiproc-functions';

const functionParts = (f: FunctionRecord): unknown[] => ['function', f.module, f.fn.name, f.fn.source];

/** 128 bits of SHA-256 of the record: its name in jobs (the record's MAC, not the digest, keeps it from being forged). */
function functionDigest(record: FunctionRecord): string {
  return createHash('sha256').update(JSON.stringify(functionParts(record))).digest('base64url').slice(0, 22);
}

/** A function's digest and its record's text (signed), for HSET in the queue's hash. */
export function sealFunction(key: string, record: FunctionRecord): { digest: string; text: string } {
  const text = JSON.stringify({ module: record.module, fn: { name: record.fn.name, source: record.fn.source }, mac: sign(key, functionParts(record), '') });
  return { digest: functionDigest(record), text };
}

/** The record a job's digest names, as a worker reads it from Redis; throws an error that says what is wrong. */
export function openFunction(key: string, digest: string, text: string | null, jobId: string | undefined): FunctionRecord {
  if (text === null) {
    throw new Error(`multiproc worker: job ${jobId} names a task function (digest ${digest}) that the queue's record of functions lacks (deleted from Redis?); refused`);
  }
  let record: Partial<FunctionRecord> & { mac?: unknown };
  try {
    record = JSON.parse(text) as typeof record;
  } catch {
    record = {};
  }
  const fn = record.fn;
  const valid =
    typeof record.module === 'string' &&
    typeof fn === 'object' &&
    fn !== null &&
    typeof fn.name === 'string' &&
    typeof fn.source === 'string' &&
    verify(key, functionParts(record as FunctionRecord), '', record.mac) &&
    functionDigest(record as FunctionRecord) === digest;
  if (!valid) {
    throw new Error(`multiproc worker: the task function of job ${jobId} (digest ${digest}) failed its integrity check in the queue's record of functions (changed in Redis, or the caller and this worker have different authkeys); refused`);
  }
  return { module: record.module!, fn: { name: fn!.name, source: fn!.source } };
}

export function sealJob(key: string, data: Omit<JobData, 'mac'>): JobData {
  return { ...data, mac: sign(key, dataParts(data), data.payload) };
}

export function sealAnswer(key: string, answer: Omit<JobAnswer, 'mac'>): JobAnswer {
  return { ...answer, mac: sign(key, answerParts(answer), answer.value ?? '') };
}

/**
 * Cancelling running jobs: BullMQ aborts a job only in the process that runs
 * it (Worker.cancelJob), so a caller publishes the ids on this Redis channel,
 * to which every worker of the queue listens. Best effort, as pub/sub is: a
 * worker that misses the message runs the chunk to its end, and the caller
 * drops the answer. Signed like jobs, so that only a holder of the authkey
 * can make a worker kill its processes.
 */
export const cancelChannel = (queue: string): string => `multiproc:cancel:${queue}`;

export function sealCancel(key: string, jobIds: string[]): string {
  return JSON.stringify({ jobIds, mac: sign(key, ['cancel', ...jobIds], '') });
}

/** The job ids of a cancel message, or null if it is malformed or not signed with this key. */
export function openCancel(key: string, text: string): string[] | null {
  try {
    const message = JSON.parse(text) as { jobIds?: unknown; mac?: unknown };
    const ids = message.jobIds;
    if (!Array.isArray(ids) || !ids.every((id): id is string => typeof id === 'string')) return null;
    return verify(key, ['cancel', ...ids], '', message.mac) ? ids : null;
  } catch {
    return null;
  }
}

/** Checks a job's data as a worker receives it; throws an error that says what is wrong and how to fix it. */
export function openJob(key: string, raw: unknown, ownVersion: string, jobId: string | undefined): JobData {
  const data = raw as Partial<JobData> | null;
  if (data === null || typeof data !== 'object' || typeof data.version !== 'string' || typeof data.payload !== 'string' || data.fn === undefined) {
    throw new Error(`multiproc worker: job ${jobId} is not a multiproc task (its data lacks version, fn or payload): was it added by another program to this queue?`);
  }
  if (data.version !== ownVersion || data.format !== JOB_FORMAT) {
    throw new Error(`multiproc worker: job ${jobId} comes from multiproc ${data.version} (job format ${data.format}), this worker runs multiproc ${ownVersion} (job format ${JOB_FORMAT}); run the same multiproc version on callers and workers`);
  }
  if (typeof data.fn !== 'string' || !verify(key, dataParts(data as JobData), data.payload, data.mac)) {
    throw new Error(`multiproc worker: job ${jobId} failed its integrity check (changed in Redis, or the caller and this worker have different authkeys); refused`);
  }
  return data as JobData;
}

/** Checks an answer as the caller receives it. */
export function openAnswer(key: string, raw: unknown, ownVersion: string, jobId: string): JobAnswer {
  const answer = raw as Partial<JobAnswer> | null;
  if (answer === null || typeof answer !== 'object' || typeof answer.status !== 'string') {
    throw new Error(`multiproc: the result of job ${jobId} is not a multiproc answer; was the job run by another program's worker on this queue?`);
  }
  if (answer.version !== ownVersion) {
    throw new Error(`multiproc: job ${jobId} was run by a worker of multiproc ${answer.version}, this program runs multiproc ${ownVersion}; run the same multiproc version on callers and workers`);
  }
  if (!verify(key, answerParts(answer as JobAnswer), answer.value ?? '', answer.mac)) {
    throw new Error(`multiproc: the result of job ${jobId} failed its integrity check (changed in Redis, or the worker has a different authkey); refused`);
  }
  return answer as JobAnswer;
}

/** Queue names: BullMQ refuses ':'; keep them to what reads well in a Redis key and a shell. */
export function checkQueueName(name: unknown): string {
  if (typeof name !== 'string' || !/^[A-Za-z0-9_.-]{1,100}$/.test(name)) {
    throw new TypeError(`multiproc: the queue name ${JSON.stringify(name)} is not valid: use 1 to 100 letters, digits, '_', '.' or '-' (for example "multiproc" or "images-2")`);
  }
  return name;
}

/** Parses and checks a redis:// URL; throws a clear error for anything else. */
export function checkRedisUrl(url: unknown): URL {
  let parsed: URL | null = null;
  try {
    parsed = typeof url === 'string' ? new URL(url) : null;
  } catch {
    parsed = null;
  }
  if (parsed === null || (parsed.protocol !== 'redis:' && parsed.protocol !== 'rediss:') || parsed.hostname === '') {
    throw new TypeError(`multiproc: ${JSON.stringify(url)} is not a Redis URL; write it as redis://host:6379/0 (rediss:// for TLS)`);
  }
  return parsed;
}

/** The version of this multiproc (callers and workers compare it). */
export function multiprocVersion(): string {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return (require('../../../package.json') as { version: string }).version;
}
