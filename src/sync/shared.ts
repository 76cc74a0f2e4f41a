import { registerReducer, type HandleSink, type HandleSource } from '../reduction.js';
import { SharedRegion } from '../shared/region.js';

/**
 * What every primitive of ./ has in common: its state is a few Int32 words
 * in a SharedRegion of its own (an anonymous memfd: nothing to leak, even
 * after kill -9), it travels to a child as that region's fd plus a little
 * plain data, and its fd is closed when the object is garbage-collected.
 */

// The region a constructor must adopt instead of creating one: set only
// while a rule rebuilds an object received from a parent process.
let adopting: SharedRegion | null = null;

const closeWhenCollected = new FinalizationRegistry<SharedRegion>((region) => region.close());

/** The region of a new primitive: a fresh one of `words` zeroed words, or the one being rebuilt. */
export function regionFor(owner: object, words: number): { region: SharedRegion; fresh: boolean } {
  const region = adopting ?? SharedRegion.create(words * 4);
  const fresh = adopting === null;
  adopting = null;
  closeWhenCollected.register(owner, region);
  return { region, fresh };
}

/** Runs `make` (which calls a constructor) so that the constructor adopts `region`. */
export function adopt<T>(region: SharedRegion, make: () => T): T {
  adopting = region;
  try {
    return make();
  } finally {
    adopting = null;
  }
}

export interface PrimitiveRule<T extends object> {
  readonly name: string;
  matches(value: object): value is T;
  /** The region that carries the object, and any other plain data it needs. */
  parts(value: T, handles: HandleSink): { region: SharedRegion; extra?: unknown };
  rebuild(region: SharedRegion, extra: unknown, handles: HandleSource): T;
}

const rules = new Map<string, PrimitiveRule<object>>();

/** The plain form of a primitive for a child (also for primitives nested in another: a Condition's lock). */
export function reducePrimitive(value: object, handles: HandleSink): { kind: string; fd: number; size: number; extra: unknown } {
  for (const rule of rules.values()) {
    if (rule.matches(value)) {
      const { region, extra } = rule.parts(value, handles);
      return { kind: rule.name, fd: handles.pass(region.fd), size: region.size, extra };
    }
  }
  throw new TypeError(`multiproc: ${value.constructor.name} is not a synchronisation primitive that can travel`);
}

export function rebuildPrimitive(state: unknown, handles: HandleSource): object {
  const { kind, fd, size, extra } = state as { kind: string; fd: number; size: number; extra: unknown };
  const rule = rules.get(kind);
  if (rule === undefined) throw new TypeError(`multiproc: no rule to rebuild a ${kind} in this process`);
  return rule.rebuild(SharedRegion.fromFd(handles.fd(fd), size), extra, handles);
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
