// A Queue's frames in its pipe, and the shared words that keep count of
// them: how writers put frames in without blocking, and how the next holder
// of a lock repairs the stream when a process dies in the middle of a frame.
import type { PipeEnd } from './queue-pipe.js';

// The queue's shared words (Int32, in one SharedRegion that every holder maps).
export const READ_LOCK = 0; // a QueueLock: the holder's pid, 0 when free
export const WRITE_LOCK = 1;
export const STARTED = 2; // frames whose writing has begun, in pipe order (wrapping)
export const TAKEN = 3; // frames taken out by getters (wrapping)
export const FREE = 4; // free slots when bounded: a semaphore
export const UNFINISHED = 5; // JoinableQueue: puts not yet matched by taskDone
export const COMPLETE = 6; // frames wholly in the pipe: writers finish in order, under the write lock
export const READABLE = 7; // bytes of whole frames in the pipe that no reader has read yet
// What a process that dies holding a lock leaves for the next holder to repair:
export const FRAME_LENGTH = 8; // the writer's frame number COMPLETE: its length as readers will parse it, or -1 if not begun
export const FRAME_WRITTEN = 9; // ... and how many of its bytes (header included) are in the pipe
export const READ_LEFT = 10; // the reader's frame: bytes of its body still in the pipe (0 between frames)
export const TORN_FROM = 11; // frames [TORN_FROM, TORN_TO), numbered as STARTED counts, were completed with
export const TORN_TO = 12; // zeros after their writer died: lost, and reported as such to their getter
// The staging area: bytes of whole frames that a reader took out of the pipe
// ahead, in one read, for whichever process takes the read lock next.
export const STAGE_AT = 13; // the first staged byte not yet taken
export const STAGE_END = 14; // the end of the staged bytes
const WORDS = 16;
export const STAGE_OFFSET = WORDS * 4;
export const STAGE_BYTES = 16 * 1024;
/** The size of a queue's shared region: its words, then the staging area. */
export const REGION_BYTES = STAGE_OFFSET + STAGE_BYTES;

/**
 * Writes whole frames without blocking, waiting for room from the event
 * loop. After every write the shared words say how far the stream got
 * (frames complete, and the bytes in the pipe of the next one), so that if
 * this process dies here, whoever takes the write lock over can complete
 * the stream (completeTornBatch). Only a kill between a write and the few
 * instructions after it escapes this.
 */
export async function writeFrames(w: Int32Array, writer: PipeEnd, frames: Buffer[], bytes: number): Promise<void> {
  const data = frames.length === 1 ? frames[0]! : Buffer.concat(frames, bytes);
  let next = 0; // the first frame not wholly written
  let start = 0; // where it starts in data
  Atomics.store(w, FRAME_WRITTEN, 0);
  Atomics.store(w, FRAME_LENGTH, frames[0]!.length - 4);
  for (let at = 0; at < data.length; ) {
    const n = writer.writeSome(data, at);
    if (n === 0) {
      await writer.ready(null);
      continue;
    }
    at += n;
    let done = 0;
    const from = start;
    while (next < frames.length && start + frames[next]!.length <= at) {
      start += frames[next++]!.length;
      done += 1;
    }
    if (next < frames.length) {
      Atomics.store(w, FRAME_WRITTEN, at - start);
      if (done > 0) Atomics.store(w, FRAME_LENGTH, frames[next]!.length - 4);
    } else {
      Atomics.store(w, FRAME_LENGTH, -1);
    }
    if (done > 0) {
      Atomics.add(w, READABLE, start - from);
      Atomics.add(w, COMPLETE, done);
    }
  }
}

/**
 * Holding the write lock taken over from a writer that died mid-batch:
 * completes its frames with zeros, as readers will parse them (a header cut
 * short reads as its bytes so far and zeros after; a frame not begun becomes
 * an empty one), and marks them torn, so that their getters learn they are
 * lost instead of decoding garbage, and the stream goes on in step.
 */
export async function completeTornBatch(w: Int32Array, writer: PipeEnd): Promise<void> {
  if (((Atomics.load(w, STARTED) - Atomics.load(w, COMPLETE)) | 0) <= 0) return;
  let from = Atomics.load(w, COMPLETE);
  const length = Atomics.load(w, FRAME_LENGTH);
  if (length >= 0 && Atomics.load(w, FRAME_WRITTEN) === length + 4) from = (from + 1) | 0; // whole: killed just after the write
  // Ranges not yet all taken merge (a second death before a getter caught up).
  if (((Atomics.load(w, TAKEN) - Atomics.load(w, TORN_TO)) | 0) >= 0) Atomics.store(w, TORN_FROM, from);
  Atomics.store(w, TORN_TO, Atomics.load(w, STARTED));
  const zeros = Buffer.alloc(64 * 1024);
  while (((Atomics.load(w, STARTED) - Atomics.load(w, COMPLETE)) | 0) > 0) {
    let frameLength = Atomics.load(w, FRAME_LENGTH);
    let written = Atomics.load(w, FRAME_WRITTEN);
    if (frameLength < 0) written = 0;
    if (written < 4) {
      const head = Buffer.alloc(4);
      head.writeUInt32BE(Math.max(frameLength, 0) >>> 0);
      head.fill(0, written);
      frameLength = head.readUInt32BE(0);
      Atomics.store(w, FRAME_WRITTEN, written);
      Atomics.store(w, FRAME_LENGTH, frameLength);
    }
    for (let left = frameLength + 4 - written; left > 0; ) {
      const n = writer.writeSome(zeros, 0, Math.min(left, zeros.length));
      if (n === 0) {
        await writer.ready(null);
        continue;
      }
      left -= n;
      Atomics.add(w, FRAME_WRITTEN, n);
    }
    Atomics.store(w, FRAME_LENGTH, -1);
    Atomics.store(w, FRAME_WRITTEN, 0);
    Atomics.add(w, READABLE, frameLength + 4);
    Atomics.add(w, COMPLETE, 1);
  }
}

/**
 * Holding both locks, with the writer dead and its bytes read up to the
 * end of the pipe: every frame of its batch is lost; the stream resumes in
 * step. Returns how many items were lost: the one being read and those after it.
 */
export function dropTornBatch(w: Int32Array, reader: PipeEnd): number {
  const drain = Buffer.allocUnsafe(64 * 1024);
  while (reader.readSome(drain, 0, drain.length) > 0);
  const started = Atomics.load(w, STARTED);
  const unread = (started - Atomics.load(w, TAKEN)) | 0;
  Atomics.store(w, COMPLETE, started);
  Atomics.store(w, TAKEN, started);
  Atomics.store(w, FRAME_LENGTH, -1);
  Atomics.store(w, FRAME_WRITTEN, 0);
  Atomics.store(w, READ_LEFT, 0);
  Atomics.store(w, READABLE, 0);
  Atomics.store(w, STAGE_AT, 0);
  Atomics.store(w, STAGE_END, 0);
  return 1 + Math.max(0, unread);
}

export function isTorn(w: Int32Array, number: number): boolean {
  return ((number - Atomics.load(w, TORN_FROM)) | 0) >= 0 && ((Atomics.load(w, TORN_TO) - number) | 0) > 0;
}
