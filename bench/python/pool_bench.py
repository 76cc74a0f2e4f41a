"""Python's side of `npm run bench`, Pool part: Pool(2) throughput at chunksize 1
and with default chunking, the apply round trip, pool creation to first result,
and a CPU-bound map against serial; one JSON object."""
import json
import multiprocessing as mp
import sys
import time


def sqr(x):
    return x * x


def fib(n):
    return n if n < 2 else fib(n - 1) + fib(n - 2)


def first_result(method):
    ctx = mp.get_context(method)
    t = time.perf_counter()
    with ctx.Pool(2) as pool:
        pool.apply(sqr, (1,))
        elapsed = time.perf_counter() - t
    return elapsed * 1000


if __name__ == '__main__':
    n, m, rts, fib_n, fib_count = (int(a) for a in sys.argv[1:6])
    mp.set_start_method('fork')
    out = {}
    # Forkserver: the server is started by an earlier pool, as multiproc's spares are.
    first_result('forkserver')
    out['first_forkserver_ms'] = min(first_result('forkserver') for _ in range(3))
    out['first_fork_ms'] = min(first_result('fork') for _ in range(3))
    with mp.Pool(2) as pool:
        pool.map(sqr, range(100))
        rates = []
        for _ in range(3):
            t = time.perf_counter()
            pool.map(sqr, range(n), 1)
            rates.append(n / (time.perf_counter() - t))
        out['chunk1_per_s'] = sorted(rates)[1]
        data = list(range(m))
        rates = []
        for _ in range(3):
            t = time.perf_counter()
            pool.map(sqr, data)
            rates.append(m / (time.perf_counter() - t))
        out['chunked_per_s'] = sorted(rates)[1]
        rounds = []
        for _ in range(7):
            t = time.perf_counter()
            for i in range(rts // 7):
                pool.apply(sqr, (i,))
            rounds.append((time.perf_counter() - t) / (rts // 7) * 1e6)
        out['apply_rt_us'] = sorted(rounds)[3]
        t = time.perf_counter()
        for _ in range(fib_count):
            fib(fib_n)
        serial = time.perf_counter() - t
        t = time.perf_counter()
        pool.map(fib, [fib_n] * fib_count, 1)
        out['cpu_speedup'] = serial / (time.perf_counter() - t)
    print(json.dumps(out))
