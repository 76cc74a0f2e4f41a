"""Python's side of `npm run bench`, Pipe part: mp.Pipe ping-pong round trip
of a small object, and one-way send_bytes bandwidth for 1 MiB and 16 MiB
messages, printed as one JSON object (us and MiB/s); with the argument
`pingpong` after the count, the round trip alone (`pingpong-two-vcpus`:
this process on vCPU 0, its echo on vCPU 1)."""
import json
import os
import multiprocessing as mp
import sys
import time

SMALL = {'a': 1, 'b': 'hello', 'c': [1, 2, 3]}


def echo(conn, other, vcpu=None):
    if vcpu is not None:
        os.sched_setaffinity(0, {vcpu})
    other.close()  # the parent's end, inherited by fork: close it, or EOF never comes
    while True:
        try:
            conn.send(conn.recv())
        except EOFError:
            return


def blast(conn, other, size, count):
    other.close()
    payload = bytes(size)
    conn.recv()
    for _ in range(count):
        conn.send_bytes(payload)
    conn.close()


def pingpong(n, two_vcpus=False):
    if two_vcpus:
        os.sched_setaffinity(0, {0})  # and the echo on vCPU 1
    a, b = mp.Pipe()
    p = mp.Process(target=echo, args=(b, a, 1 if two_vcpus else None))
    p.start()
    b.close()
    for _ in range(500):
        a.send(SMALL)
        a.recv()
    t = time.perf_counter()
    for _ in range(n):
        a.send(SMALL)
        a.recv()
    rt = (time.perf_counter() - t) / n * 1e6
    a.close()
    p.join()
    return rt


def bandwidth(size, count):
    a, b = mp.Pipe()
    p = mp.Process(target=blast, args=(b, a, size, count))
    p.start()
    b.close()
    a.send('go')
    t = time.perf_counter()
    for _ in range(count):
        a.recv_bytes()
    mib = size * count / (time.perf_counter() - t) / 2**20
    p.join()
    return mib


if __name__ == '__main__':
    mp.set_start_method('fork')
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 5000
    if sys.argv[2:] in (['pingpong'], ['pingpong-two-vcpus']):
        print(json.dumps({'pingpong_us': pingpong(n, sys.argv[2] == 'pingpong-two-vcpus')}))
    else:
        print(json.dumps({'pingpong_us': pingpong(n), 'mib_1': bandwidth(1 << 20, 200), 'mib_16': bandwidth(16 << 20, 20)}))
