import { constants as bufferConstants } from 'node:buffer';

/**
 * Python's multiprocessing framing, so that bytes can cross to and from a
 * CPython peer: each message is a 4-byte big-endian signed length and the
 * payload; a payload over 0x7fffffff bytes is announced by a length of -1
 * followed by an 8-byte big-endian unsigned length.
 */
export const MAX_SHORT = 0x7fffffff;

/** The longest body a Buffer can hold here: a header announcing more is refused before a byte of it is kept. */
export const MAX_BODY = bufferConstants.MAX_LENGTH;

export function header(length: number): Buffer {
  if (length <= MAX_SHORT) {
    const h = Buffer.allocUnsafe(4);
    h.writeInt32BE(length);
    return h;
  }
  const h = Buffer.allocUnsafe(12);
  h.writeInt32BE(-1);
  h.writeBigUInt64BE(BigInt(length), 4);
  return h;
}

export type FrameEvent = { kind: 'message'; body: Buffer } | { kind: 'invalid'; reason: string };

/**
 * An incremental parser: feed it chunks as they arrive, get whole messages
 * out. It never allocates what a header announces: a body is gathered from
 * the chunks that actually arrive, and copied once, when it is complete.
 * A small message inside one chunk is a view of that chunk, not a copy.
 */
export class FrameParser {
  #chunks: Buffer[] = [];
  #buffered = 0;
  /** Length of the message being gathered, or -1 while reading a header. */
  #expected = -1;
  /** After an invalid header the stream is out of step for good: the rest is ignored. */
  #invalid = false;
  /** The whole body of a big message being gathered, once it may be allocated (see directTarget). */
  #direct: Buffer | null = null;
  /**
   * The longest body accepted: a header announcing more is invalid (the
   * stream cannot be trusted past it), so no read callback ever tries to
   * allocate what a Buffer cannot hold, or what the owner refused to hold.
   */
  limit: number = MAX_BODY;

  /** Bytes of a message that has begun but not finished (for "EOF during message"). */
  get partial(): boolean {
    return this.#buffered > 0 || this.#expected >= 0;
  }

  /** The declared length of the message being gathered, if its header has arrived. */
  get announced(): number {
    return this.#expected;
  }

  /** The bytes still missing from the header or the body under way: what to read so as to take one message and not a byte more. */
  get missing(): number {
    if (this.#expected >= 0) return this.#expected - this.#buffered;
    // Past a first 4 bytes of -1 (the only ones kept as a header), 8 more announce a long body.
    return this.#buffered < 4 ? 4 - this.#buffered : 12 - this.#buffered;
  }

  /** The bytes of the message under way, as they came on the wire: its header, then the part of its body that arrived. */
  unfinished(): Buffer[] {
    if (this.#invalid || !this.partial) return [];
    if (this.#expected < 0) return [...this.#chunks];
    return [header(this.#expected), ...(this.#direct === null ? this.#chunks : [this.#direct.subarray(0, this.#buffered)])];
  }

  /** Drops the message under way (see `unfinished`): another process reads the rest of it. */
  dropUnfinished(): void {
    if (this.#invalid) return;
    this.#chunks = [];
    this.#direct = null;
    this.#buffered = 0;
    this.#expected = -1;
  }

  /**
   * Where the next bytes of a big message should be read to spare a copy:
   * its own body buffer, from the first byte still missing, once at least
   * `min` bytes are missing and half of the message has arrived (so a header
   * that lies costs at most twice the bytes really sent). Null: read anywhere
   * and `push`. Bytes read there are reported with `pushDirect`.
   */
  directTarget(min: number): Buffer | null {
    if (this.#expected < 0 || this.#invalid) return null;
    if (this.#direct === null) {
      if (this.#expected - this.#buffered < min || this.#buffered * 2 < this.#expected) return null;
      // Every buffered byte belongs to this body: a whole one would have been emitted.
      const body = Buffer.allocUnsafe(this.#expected);
      let at = 0;
      for (const chunk of this.#chunks) at += chunk.copy(body, at);
      this.#chunks = [];
      this.#direct = body;
    }
    return this.#direct.subarray(this.#buffered);
  }

  /** `n` bytes arrived in the buffer that `directTarget` gave. */
  pushDirect(n: number, emit: (event: FrameEvent) => void): void {
    this.#buffered += n;
    if (this.#buffered < this.#expected) return;
    const body = this.#direct!;
    this.#direct = null;
    this.#buffered = 0;
    this.#expected = -1;
    emit({ kind: 'message', body });
  }

  push(chunk: Buffer, emit: (event: FrameEvent) => void): void {
    if (chunk.length === 0 || this.#invalid) return;
    if (this.#direct !== null) {
      // Bytes that came some other way while a body is allocated: they go into it.
      const used = chunk.copy(this.#direct, this.#buffered, 0, Math.min(chunk.length, this.#expected - this.#buffered));
      this.pushDirect(used, emit);
      if (used === chunk.length) return;
      chunk = chunk.subarray(used);
    }
    if (this.#buffered === 0 && this.#expected < 0) {
      // The usual case: a chunk that begins with a header and holds whole
      // messages. Their bodies are views of it, with no bookkeeping.
      let at = 0;
      while (chunk.length - at >= 4) {
        const length = chunk.readInt32BE(at);
        if (length < 0 || length > this.limit || chunk.length - at - 4 < length) break;
        emit({ kind: 'message', body: chunk.subarray(at + 4, at + 4 + length) });
        at += 4 + length;
      }
      if (at === chunk.length) return;
      if (at > 0) chunk = chunk.subarray(at);
    }
    this.#chunks.push(chunk);
    this.#buffered += chunk.length;
    for (;;) {
      if (this.#expected < 0) {
        if (this.#buffered < 4) return;
        const first = this.#peek(12);
        const short = first.readInt32BE(0);
        if (short >= 0) {
          this.#consume(4);
          this.#expected = short;
        } else if (short === -1) {
          if (this.#buffered < 12) return;
          const long = first.readBigUInt64BE(4);
          if (long > BigInt(Number.MAX_SAFE_INTEGER)) return this.#refuse(`a message header announces ${long} bytes`, emit);
          this.#consume(12);
          this.#expected = Number(long);
        } else {
          return this.#refuse(`a message header has the negative length ${short}`, emit);
        }
        if (this.#expected > this.limit) {
          const most = this.limit === MAX_BODY ? `the most a Buffer holds here (${MAX_BODY})` : `the maximum message size of ${this.limit} bytes`;
          return this.#refuse(`a message header announces ${this.#expected} bytes, over ${most}`, emit);
        }
      }
      if (this.#buffered < this.#expected) return;
      const body = this.#take(this.#expected);
      this.#expected = -1;
      emit({ kind: 'message', body });
    }
  }

  /** The stream is out of step for good: what is buffered goes, and the rest will be ignored. */
  #refuse(reason: string, emit: (event: FrameEvent) => void): void {
    this.#invalid = true;
    this.#chunks = [];
    this.#buffered = 0;
    this.#expected = -1;
    emit({ kind: 'invalid', reason });
  }

  #peek(n: number): Buffer {
    const head = this.#chunks[0]!;
    if (head.length >= n || this.#chunks.length === 1) return head;
    return Buffer.concat(this.#chunks, Math.min(n, this.#buffered));
  }

  #consume(n: number): void {
    this.#take(n);
  }

  /** Removes the first n buffered bytes; one copy at most, none when they lie in one chunk. */
  #take(n: number): Buffer {
    this.#buffered -= n;
    const head = this.#chunks[0];
    if (n === 0) return Buffer.alloc(0);
    if (head !== undefined && head.length >= n) {
      if (head.length === n) this.#chunks.shift();
      else this.#chunks[0] = head.subarray(n);
      return head.subarray(0, n);
    }
    const out = Buffer.allocUnsafe(n);
    let offset = 0;
    while (offset < n) {
      const chunk = this.#chunks[0]!;
      const used = Math.min(chunk.length, n - offset);
      chunk.copy(out, offset, 0, used);
      offset += used;
      if (used === chunk.length) this.#chunks.shift();
      else this.#chunks[0] = chunk.subarray(used);
    }
    return out;
  }
}
