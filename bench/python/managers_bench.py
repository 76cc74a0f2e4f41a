"""Python's side of `npm run bench`, managers part: a dict proxy's d['a'], a list
proxy's append and a Queue proxy's put then get per call, a Pipe round trip in the same process for
reference, starting a Manager to its first proxy, and 4 processes doing
10,000 dict updates each through one manager. Prints one JSON object."""
import json
import os
import resource
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
    start = resource.getrusage(resource.RUSAGE_SELF)
    for i in range(n // 2):
        d[key] = i
    half = resource.getrusage(resource.RUSAGE_SELF)
    for i in range(n // 2, n):
        d[key] = i
    end = resource.getrusage(resource.RUSAGE_SELF)
    d['cpu:' + key] = [(half.ru_utime - start.ru_utime) * 1e6, (half.ru_stime - start.ru_stime) * 1e6,
                       (end.ru_utime - half.ru_utime) * 1e6, (end.ru_stime - half.ru_stime) * 1e6,
                       half.ru_minflt - start.ru_minflt, end.ru_minflt - half.ru_minflt]


def cpu_of(pid):
    """A process's CPU time so far, [user, system] in us, from /proc (as the Node side reads it)."""
    with open(f'/proc/{pid}/stat') as f:
        stat = f.read()
    fields = stat[stat.rindex(')') + 2:].split(' ')
    tick = os.sysconf('SC_CLK_TCK')
    return [int(fields[11]) / tick * 1e6, int(fields[12]) / tick * 1e6]


def per_call(fn, n):
    for _ in range(n // 10):
        fn()
    t = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - t) / n * 1e6


def updates(m):
    """The 4-process program: wall time in ms, and CPU per update (clients' halves, the server's)."""
    d = m.dict()
    server = m._process.pid
    server_before = cpu_of(server)
    t = time.perf_counter()
    ps = [mp.Process(target=updater, args=(d, f'k{i}', N_UPDATES)) for i in range(N_WORKERS)]
    for p in ps:
        p.start()
    for p in ps:
        p.join()
    ms = (time.perf_counter() - t) * 1e3
    server_after = cpu_of(server)
    assert all(d[f'k{i}'] == N_UPDATES - 1 for i in range(N_WORKERS))
    sums = [sum(d[f'cpu:k{i}'][j] for i in range(N_WORKERS)) for j in range(6)]
    half = N_WORKERS * N_UPDATES / 2
    total = N_WORKERS * N_UPDATES
    return ms, {
        'first_user': sums[0] / half, 'first_sys': sums[1] / half,
        'second_user': sums[2] / half, 'second_sys': sums[3] / half,
        'first_faults': sums[4] / half, 'second_faults': sums[5] / half,
        'server_user': (server_after[0] - server_before[0]) / total,
        'server_sys': (server_after[1] - server_before[1]) / total,
    }


def main():
    if sys.argv[1:2] == ['first']:
        # The first Manager() of a program on the forkserver context, its forkserver started by it: one line of JSON.
        t = time.perf_counter()
        m = mp.get_context('forkserver').Manager()
        m.dict()
        print(json.dumps({'ms': (time.perf_counter() - t) * 1e3}), flush=True)
        m.shutdown()
        return
    if sys.argv[1:2] == ['updates']:
        # The 4-process program alone, each run a line of JSON (for A/B runs and profilers).
        for _ in range(int(sys.argv[2]) if len(sys.argv) > 2 else 1):
            with mp.Manager() as m:
                ms, cpu = updates(m)
            print(json.dumps({'ms': ms, 'cpu': cpu}), flush=True)
        return
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

        out['updates_ms'], out['updates_cpu'] = updates(m)
    print(json.dumps(out))


if __name__ == '__main__':
    mp.set_start_method('fork')
    main()
