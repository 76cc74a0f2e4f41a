"""Python's side of `npm run bench`: Process start+join and start-to-target
for each start method, printed as one JSON object (times in milliseconds)."""
import json
import multiprocessing as mp
import statistics
import sys
import time


def empty():
    pass


def stamp(conn):
    conn.send(time.time_ns())
    conn.close()


def measure(method, rounds):
    ctx = mp.get_context(method)
    # Warm the start method (starts the forkserver) outside the timing.
    p = ctx.Process(target=empty)
    p.start()
    p.join()
    start_join = []
    to_target = []
    for _ in range(rounds):
        t = time.perf_counter()
        p = ctx.Process(target=empty)
        p.start()
        p.join()
        start_join.append((time.perf_counter() - t) * 1000)
        reader, writer = ctx.Pipe(duplex=False)
        p = ctx.Process(target=stamp, args=(writer,))
        t0 = time.time_ns()
        p.start()
        got = reader.recv()
        p.join()
        writer.close()
        reader.close()
        to_target.append((got - t0) / 1e6)
    bursts = {}
    for k in BURSTS:
        times = []
        for _ in range(rounds):
            t = time.perf_counter()
            ps = [ctx.Process(target=empty) for _ in range(k)]
            for p in ps:
                p.start()
            for p in ps:
                p.join()
            times.append((time.perf_counter() - t) * 1000)
        bursts[str(k)] = statistics.median(times)
    return {'start_join': statistics.median(start_join), 'to_target': statistics.median(to_target), 'bursts': bursts}


# Start k processes, then join them all: the burst table of `npm run bench process`.
BURSTS = (1, 2, 4, 8)


if __name__ == '__main__':
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    out = {m: measure(m, rounds) for m in ('fork', 'forkserver', 'spawn')}
    print(json.dumps(out))
