"""Python's side of `npm run bench`, sync part: mp.Lock uncontended and
contended by 2 processes, an mp.Semaphore ping-pong between two processes,
and 8 MiB of doubles to a child through shared_memory and over a Pipe (the
child sums them and answers). Prints one JSON object."""
import json
import multiprocessing as mp
import statistics
import sys
import time
from multiprocessing import resource_tracker, shared_memory

N_LOCK = 1_000_000
N_INC = 200_000
N_PING = 20_000
MIB8 = 8 << 20


def incrementer(lock, counter, n, barrier, times, slot):
    barrier.wait()
    t = time.perf_counter()
    for _ in range(n):
        lock.acquire()
        counter.value += 1
        lock.release()
    times[slot] = time.perf_counter() - t


def ponger(ping, pong, n):
    for _ in range(n):
        ping.acquire()
        pong.release()


def summer(conn):
    while True:
        msg = conn.recv()
        if msg is None:
            return
        if msg == 'shm':
            shm = shared_memory.SharedMemory(name=conn.recv())
            # 3.11 registers attaches too, and its tracker would unlink the parent's segment (gh-82300).
            resource_tracker.unregister(shm._name, 'shared_memory')
            conn.send(sum(shm.buf.cast('d')))
            shm.close()
        else:
            data = conn.recv_bytes()
            conn.send(sum(memoryview(data).cast('d')))


def main():
    out = {}
    lock = mp.Lock()
    t = time.perf_counter()
    for _ in range(N_LOCK):
        lock.acquire()
        lock.release()
    out['uncontended_ns'] = (time.perf_counter() - t) / N_LOCK * 1e9

    counter = mp.Value('d', 0, lock=False)
    times = mp.Array('d', 2, lock=False)
    barrier = mp.Barrier(2)
    ps = [mp.Process(target=incrementer, args=(lock, counter, N_INC, barrier, times, i)) for i in range(2)]
    for p in ps:
        p.start()
    for p in ps:
        p.join()
    assert counter.value == 2 * N_INC
    out['contended_ns'] = max(times) / (2 * N_INC) * 1e9

    ping, pong = mp.Semaphore(0), mp.Semaphore(0)
    p = mp.Process(target=ponger, args=(ping, pong, N_PING + 100))
    p.start()
    for _ in range(100):
        ping.release()
        pong.acquire()
    t = time.perf_counter()
    for _ in range(N_PING):
        ping.release()
        pong.acquire()
    out['pingpong_us'] = (time.perf_counter() - t) / N_PING * 1e6
    p.join()

    a, b = mp.Pipe()
    p = mp.Process(target=summer, args=(b,))
    p.start()
    shm = shared_memory.SharedMemory(create=True, size=MIB8)
    shm.buf.cast('d')[:] = memoryview(bytes(MIB8)).cast('d')
    payload = bytes(shm.buf)
    shm_times, pipe_times = [], []
    for _ in range(7):
        t = time.perf_counter()
        a.send('shm')
        a.send(shm.name)
        a.recv()
        shm_times.append(time.perf_counter() - t)
        t = time.perf_counter()
        a.send('pipe')
        a.send_bytes(payload)
        a.recv()
        pipe_times.append(time.perf_counter() - t)
    a.send(None)
    p.join()
    shm.close()
    shm.unlink()
    out['shm_ms'] = statistics.median(shm_times) * 1e3
    out['pipe_ms'] = statistics.median(pipe_times) * 1e3
    print(json.dumps(out))


if __name__ == '__main__':
    mp.set_start_method('fork')
    main()
