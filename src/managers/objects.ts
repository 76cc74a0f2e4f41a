/**
 * The server's objects and who holds them. Every proxy is one reference,
 * counted where it lives: on the connection of the process that holds it
 * (so that a process that dies, or disconnects, drops all of its references
 * at once: Python's server keeps them forever), in transit (a proxy on its
 * way to another process in a Queue item or a Process's args), or inside
 * the server itself (a proxy stored in a managed dict). An object whose count
 * falls to zero is freed.
 */
export interface Entry {
  readonly id: number;
  readonly typeid: string;
  readonly referent: object;
  readonly exposed: ReadonlySet<string>;
  readonly methodToTypeid: Readonly<Record<string, string>> | null;
  count: number;
}

/** Holder of references: a connection's id, or one of these. */
export const TRANSIT = -1;
export const INTERNAL = -2;

export class ObjectTable {
  readonly #entries = new Map<number, Entry>();
  /** Per holder, per object: how many references it holds. */
  readonly #held = new Map<number, Map<number, number>>();
  #nextId = 1;
  /** Called with each freed referent (a managed Pool is terminated, waiters are woken). */
  onFree: (referent: object) => void = () => undefined;

  get size(): number {
    return this.#entries.size;
  }

  get(id: number): Entry | undefined {
    return this.#entries.get(id);
  }

  /** Adds a new object with no reference yet; the caller adds the first. */
  add(typeid: string, referent: object, exposed: readonly string[], methodToTypeid: Readonly<Record<string, string>> | null): Entry {
    const entry: Entry = { id: this.#nextId++, typeid, referent, exposed: new Set(exposed), methodToTypeid, count: 0 };
    this.#entries.set(entry.id, entry);
    return entry;
  }

  incref(holder: number, id: number): void {
    const entry = this.#entries.get(id);
    if (entry === undefined) throw freed(id);
    this.#move(holder, id, 1);
    entry.count += 1;
  }

  decref(holder: number, id: number): void {
    const entry = this.#entries.get(id);
    if (entry === undefined) return;
    this.#move(holder, id, -1);
    entry.count -= 1;
    if (entry.count <= 0) this.#free(entry);
  }

  /**
   * A proxy that travelled has arrived and connected: its reference moves from
   * transit to its connection. Out of order (it came before the sender's
   * incref) the transit count goes below zero until the incref catches up.
   */
  claim(holder: number, id: number): void {
    if (!this.#entries.has(id)) throw freed(id);
    this.#move(TRANSIT, id, -1);
    this.#move(holder, id, 1);
  }

  /** Everything a holder held is dropped: its process has disconnected. */
  dropHolder(holder: number): void {
    const held = this.#held.get(holder);
    this.#held.delete(holder);
    if (held === undefined) return;
    for (const [id, n] of held) {
      const entry = this.#entries.get(id);
      if (entry === undefined) continue;
      entry.count -= n;
      if (entry.count <= 0) this.#free(entry);
    }
  }

  /** Frees every object (the server shuts down). */
  clear(): void {
    for (const entry of [...this.#entries.values()]) this.#free(entry);
    this.#held.clear();
  }

  debugInfo(): Array<{ id: number; typeid: string; refcount: number }> {
    return [...this.#entries.values()].map((e) => ({ id: e.id, typeid: e.typeid, refcount: e.count }));
  }

  #move(holder: number, id: number, delta: number): void {
    let held = this.#held.get(holder);
    if (held === undefined) this.#held.set(holder, (held = new Map()));
    const n = (held.get(id) ?? 0) + delta;
    if (n === 0) held.delete(id);
    else held.set(id, n);
  }

  #free(entry: Entry): void {
    if (!this.#entries.delete(entry.id)) return;
    for (const held of this.#held.values()) held.delete(entry.id);
    this.onFree(entry.referent);
  }
}

function freed(id: number): Error {
  return Object.assign(new ReferenceError(`the manager holds no object ${id}: it was freed when its last proxy was released, or it belongs to an earlier server`), {
    remote: true,
  });
}
