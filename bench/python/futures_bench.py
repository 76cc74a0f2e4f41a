"""Python's side of `npm run bench futures`: ProcessPoolExecutor(2) beside
Pool(2): the submit round trip against pool.apply, and executor.map against
pool.imap (chunksize 1); one JSON object."""
import json
import multiprocessing as mp
import sys
import time
from concurrent.futures import ProcessPoolExecutor


def sqr(x):
    return x * x


def rounds(call, count, n=7):
    out = []
    for _ in range(n):
        t = time.perf_counter()
        for i in range(count):
            call(i)
        out.append((time.perf_counter() - t) / count * 1e6)
    return sorted(out)[n // 2]


def rate(run, n, times=3):
    out = []
    for _ in range(times):
        t = time.perf_counter()
        run(n)
        out.append(n / (time.perf_counter() - t))
    return sorted(out)[times // 2]


if __name__ == '__main__':
    n, rts = (int(a) for a in sys.argv[1:3])
    ctx = mp.get_context('forkserver')
    out = {}
    with ProcessPoolExecutor(2, mp_context=ctx) as ex, ctx.Pool(2) as pool:
        list(ex.map(sqr, range(200)))
        pool.map(sqr, range(200))
        out['submit_rt_us'] = rounds(lambda i: ex.submit(sqr, i).result(), rts)
        out['apply_rt_us'] = rounds(lambda i: pool.apply(sqr, (i,)), rts)
        out['map_per_s'] = rate(lambda k: sum(ex.map(sqr, range(k))), n)
        out['imap_per_s'] = rate(lambda k: sum(pool.imap(sqr, range(k))), n)
    print(json.dumps(out))
