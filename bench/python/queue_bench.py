"""Python's side of `npm run bench`, Queue part: a child put()s N small ints
(or 1 MiB bytes), the parent get()s them; one-way rates as one JSON object."""
import json
import multiprocessing as mp
import sys
import time


def producer(q, n, size):
    item = bytes(size) if size else 0
    for i in range(n):
        q.put(item if size else i)


def rate(n, size):
    q = mp.Queue()
    p = mp.Process(target=producer, args=(q, n, size))
    p.start()
    q.get()
    t = time.perf_counter()
    for _ in range(n - 1):
        q.get()
    elapsed = time.perf_counter() - t
    p.join()
    return (n - 1) / elapsed


if __name__ == '__main__':
    mp.set_start_method('fork')
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100000
    print(json.dumps({'small_per_s': rate(n, 0), 'mib_per_s': rate(200, 1 << 20)}))
