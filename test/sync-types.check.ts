// Compile-time checks (run by `npm run typecheck`, not executed): shared
// values and arrays are typed from their typecode.
import { RawArray, RawValue, SharedArray, Value, type SharedValue, type SynchronizedValue } from 'multiproc';

const i: SynchronizedValue<'i'> = Value('i', 0);
const n: number = i.value;
const q: bigint = Value('q', 1n).value;
const c: Buffer = Value('c', 'x').value;
const raw: SharedValue<'d'> = Value('d', 1.5, { lock: false });
const d: Float64Array = SharedArray('d', 10);
const d2: Float64Array = SharedArray('d', 10).getObj();
const u: BigUint64Array = RawArray('u64', [1n, 2n]);
const b: Uint8Array = RawArray('c', 'hi');
const bytes: Buffer = RawArray('c', 'hi').value;
const r: number = RawValue('f32', 2).value;
void [n, q, c, raw, d, d2, u, b, bytes, r];

// @ts-expect-error: a bigint type takes bigints
Value('q', 'x');
// @ts-expect-error: a number type does not take a string
Value('i', 'x');
// @ts-expect-error: an unknown typecode
Value('z', 1);
// @ts-expect-error: a raw array has no lock
RawArray('d', 3).getLock();
// @ts-expect-error: a lock-free Value has no lock
Value('i', 0, { lock: false }).getLock();
