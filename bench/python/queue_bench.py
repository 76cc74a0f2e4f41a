"""Python's side of `npm run bench`, Queue part: a child put()s N small ints
(or 1 MiB bytes), then the CPU time its put loop took; the parent get()s them.
Rates as one JSON object: through the queue (from the first get to the last),
and the producer's own put loop (per CPU second)."""
import json
import multiprocessing as mp
import sys
import time


def producer(q, n, size):
    item = bytes(size) if size else 0
    t = time.thread_time()  # CPU time of this thread (not the feeder's)
    for i in range(n):
        q.put(item if size else i)
    q.put(time.thread_time() - t)


def rate(n, size):
    q = mp.Queue()
    p = mp.Process(target=producer, args=(q, n, size))
    p.start()
    q.get()
    t = time.perf_counter()
    for _ in range(n - 1):
        q.get()
    elapsed = time.perf_counter() - t
    loop = q.get()
    p.join()
    return (n - 1) / elapsed, n / loop


if __name__ == '__main__':
    mp.set_start_method('fork')
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100000
    small, puts = rate(n, 0)
    mib, _ = rate(200, 1 << 20)
    print(json.dumps({'small_per_s': small, 'puts_per_s': puts, 'mib_per_s': mib}))
