import { closeSync, fstatSync } from 'node:fs';
import { registerReducer, type HandleSink, type HandleSource } from '../reduction.js';
import { requireNative } from '../native.js';
import { SharedRegion } from '../shared/region.js';

/**
 * Where the primitives of ./ and the shared ctypes keep their state: blocks
 * of arenas, anonymous memfds of 1 MiB mapped shared (as CPython's heap
 * arenas: nothing to leak, even after kill -9). One fd per arena, not per
 * object, so that a program may make many thousands of locks; a block is
 * never reused (a child may still use it), so an arena is freed when every
 * object in it is gone, here and in the children (the kernel frees the
 * memory with the last fd and mapping). A large Array gets its own region.
 *
 * An object travels to a child as its arena's fd, its block's offset and
 * size, and a little plain data; a child maps each arena once, however many
 * objects of it arrive.
 */
const ARENA_BYTES = 1 << 20;
const OWN_REGION_BYTES = ARENA_BYTES / 4;

/** A piece of an arena (or a region of its own), 8-byte aligned and zero-filled when new. */
export class Block {
  constructor(
    readonly region: SharedRegion,
    readonly offset: number,
    readonly size: number,
  ) {}

  get buffer(): ArrayBuffer {
    return this.region.buffer;
  }

  int32(): Int32Array {
    return new Int32Array(this.region.buffer, this.offset, this.size >> 2);
  }
}

let arena: { region: SharedRegion; used: number } | null = null;
// The region a constructor must adopt instead of allocating: set only while
// a rule rebuilds an object received from a parent process.
let adopting_: Block | null = null;

// An arena's fd closes when nothing refers to the arena any more (its blocks hold it).
const closeWhenCollected = new FinalizationRegistry<number>((fd) => {
  try {
    closeSync(fd);
  } catch {
    // closed already
  }
});
/** Arenas this process mapped from a parent's fds, by inode: each is mapped once. */
const mapped = new Map<number, WeakRef<SharedRegion>>();

function newRegion(bytes: number): SharedRegion {
  const region = SharedRegion.create(bytes);
  closeWhenCollected.register(region, region.fd);
  return region;
}

/**
 * A block of `words` 32-bit words (or `bytes`) for a new object, or the
 * block being rebuilt. `owner` (or its class) names the object in the error
 * raised where the native addon, which maps shared memory, cannot load.
 */
export function regionFor(owner: object | string, words: number, bytes = words * 4): { region: Block; fresh: boolean } {
  if (adopting_ !== null) {
    const region = adopting_;
    adopting_ = null;
    return { region, fresh: false };
  }
  requireNative(typeof owner === 'string' ? owner : owner.constructor.name);
  const size = Math.max(8, Math.ceil(bytes / 8) * 8);
  if (size > OWN_REGION_BYTES) return { region: new Block(newRegion(size), 0, size), fresh: true };
  if (arena === null || arena.used + size > ARENA_BYTES) arena = { region: newRegion(ARENA_BYTES), used: 0 };
  const block = new Block(arena.region, arena.used, size);
  arena.used += size;
  return { region: block, fresh: true };
}

/** Whether a constructor is rebuilding an object received from a parent (then it has its memory already). */
export function adopting(): boolean {
  return adopting_ !== null;
}

/** Runs `make` (which calls a constructor) so that the constructor adopts `block`. */
export function adopt<T>(block: Block, make: () => T): T {
  adopting_ = block;
  try {
    return make();
  } finally {
    adopting_ = null;
  }
}

export interface PrimitiveRule<T extends object> {
  readonly name: string;
  matches(value: object): value is T;
  /** The block that carries the object, and any other plain data it needs. */
  parts(value: T, handles: HandleSink): { region: Block; extra?: unknown };
  rebuild(region: Block, extra: unknown, handles: HandleSource): T;
}

const rules = new Map<string, PrimitiveRule<object>>();

interface Reduced {
  kind: string;
  fd: number;
  regionSize: number;
  offset: number;
  size: number;
  extra: unknown;
}

/** The plain form of a primitive for a child (also for primitives nested in another: a Condition's lock). */
export function reducePrimitive(value: object, handles: HandleSink): Reduced {
  for (const rule of rules.values()) {
    if (rule.matches(value)) {
      const { region, extra } = rule.parts(value, handles);
      return { kind: rule.name, fd: handles.pass(region.region.fd), regionSize: region.region.size, offset: region.offset, size: region.size, extra };
    }
  }
  throw new TypeError(`multiproc: ${value.constructor.name} is not a synchronisation primitive that can travel`);
}

/** The region behind an fd received from a parent: the one mapped already when this process has it. */
function regionOf(fd: number, size: number): SharedRegion {
  const inode = fstatSync(fd).ino;
  const known = mapped.get(inode)?.deref();
  if (known !== undefined && !known.closed) {
    closeSync(fd);
    return known;
  }
  const region = SharedRegion.fromFd(fd, size);
  closeWhenCollected.register(region, fd);
  mapped.set(inode, new WeakRef(region));
  return region;
}

export function rebuildPrimitive(state: unknown, handles: HandleSource): object {
  const { kind, fd, regionSize, offset, size, extra } = state as Reduced;
  const rule = rules.get(kind);
  if (rule === undefined) throw new TypeError(`multiproc: no rule to rebuild a ${kind} in this process`);
  return rule.rebuild(new Block(regionOf(handles.fd(fd), regionSize), offset, size), extra, handles);
}

export function registerPrimitive<T extends object>(rule: PrimitiveRule<T>): void {
  rules.set(rule.name, rule as unknown as PrimitiveRule<object>);
  registerReducer<T>({
    name: `sync:${rule.name}`,
    matches: rule.matches,
    reduce: (value, handles) => reducePrimitive(value, handles),
    rebuild: (state, handles) => rebuildPrimitive(state, handles) as T,
  });
}
