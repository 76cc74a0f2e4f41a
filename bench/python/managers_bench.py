"""Python's side of `npm run bench`, managers part: a dict proxy's d['a'], a list
proxy's append and a Queue proxy's put then get per call, a Pipe round trip in the same process for
reference, starting a Manager to its first proxy, and 4 processes doing
10,000 dict updates each through one manager. Prints one JSON object."""
import json
import multiprocessing as mp
import statistics
import sys
import time

N_CALLS = 5_000
N_UPDATES = 10_000
N_WORKERS = 4


def echo(conn):
    while True:
        msg = conn.recv()
        if msg is None:
            return
        conn.send(msg)


def updater(d, key, n):
    for i in range(n):
        d[key] = i


def per_call(fn, n):
    for _ in range(n // 10):
        fn()
    t = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - t) / n * 1e6


def main():
    out = {}
    starts = []
    for _ in range(5):
        t = time.perf_counter()
        m = mp.Manager()
        m.dict()
        starts.append((time.perf_counter() - t) * 1e3)
        m.shutdown()
    out['start_ms'] = statistics.median(starts)

    with mp.Manager() as m:
        d = m.dict({'a': 1})
        l = m.list()
        a, b = mp.Pipe()
        p = mp.Process(target=echo, args=(b,))
        p.start()
        msg = [1, 5, 'get', ['a']]

        def rt():
            a.send(msg)
            a.recv()

        out['pipe_us'] = per_call(rt, N_CALLS)
        out['dict_get_us'] = per_call(lambda: d['a'], N_CALLS)
        out['list_append_us'] = per_call(lambda: l.append(1), N_CALLS)
        q = m.Queue()

        def put_get():
            q.put(1)
            q.get()

        out['queue_put_get_us'] = per_call(put_get, N_CALLS)
        a.send(None)
        p.join()

        t = time.perf_counter()
        ps = [mp.Process(target=updater, args=(d, f'k{i}', N_UPDATES)) for i in range(N_WORKERS)]
        for p in ps:
            p.start()
        for p in ps:
            p.join()
        out['updates_ms'] = (time.perf_counter() - t) * 1e3
        assert all(d[f'k{i}'] == N_UPDATES - 1 for i in range(N_WORKERS))
    print(json.dumps(out))


if __name__ == '__main__':
    mp.set_start_method('fork')
    main()
