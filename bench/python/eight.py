"""The same program as bench/programs/eight.ts: eight processes started, then joined."""
import multiprocessing as mp
import sys


def work(i):
    return i * i


if __name__ == '__main__':
    if len(sys.argv) > 1:
        mp.set_start_method(sys.argv[1])
    ps = [mp.Process(target=work, args=(i,)) for i in range(8)]
    for p in ps:
        p.start()
    for p in ps:
        p.join()
