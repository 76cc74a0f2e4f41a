// A large Float64Array in a SharedMemory segment: workers sum their quarter
// of it in place (nothing is copied to them) and write the partial sums back.
import { isMainModule, Process, SharedMemory } from 'multiproc';

const LENGTH = 1 << 22; // 4M doubles: 32 MiB

function sumPart(shm: SharedMemory, part: number, parts: number, sums: SharedMemory): void {
  const values = new Float64Array(shm.buf.buffer, shm.buf.byteOffset, LENGTH);
  const from = (LENGTH / parts) * part;
  let sum = 0;
  for (let i = from; i < from + LENGTH / parts; i++) sum += values[i]!;
  new Float64Array(sums.buf.buffer, sums.buf.byteOffset, parts)[part] = sum;
  shm.close();
  sums.close();
}

if (isMainModule(import.meta)) {
  const shm = new SharedMemory({ create: true, size: LENGTH * 8 });
  const sums = new SharedMemory({ create: true, size: 4 * 8 });
  try {
    const values = new Float64Array(shm.buf.buffer, shm.buf.byteOffset, LENGTH);
    for (let i = 0; i < LENGTH; i++) values[i] = i;
    const workers = [0, 1, 2, 3].map((part) => new Process({ target: sumPart, args: [shm, part, 4, sums] }));
    for (const w of workers) w.start();
    for (const w of workers) await w.join();
    const partials = new Float64Array(sums.buf.buffer, sums.buf.byteOffset, 4);
    console.log(`sum of 0..${LENGTH - 1} by 4 workers: ${partials.reduce((a, b) => a + b, 0)} (expected ${(LENGTH * (LENGTH - 1)) / 2})`);
  } finally {
    for (const s of [shm, sums]) {
      s.close();
      s.unlink(); // the name goes; without this the resource tracker would unlink it at exit, with a warning
    }
  }
}
