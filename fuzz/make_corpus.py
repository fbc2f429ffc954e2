#!/usr/bin/env python3
"""Writes the seed corpus of fuzz_mspace into fuzz/corpus/ (one small file per seed).

    python3 fuzz/make_corpus.py            (re)write fuzz/corpus/seed_*
    python3 fuzz/make_corpus.py --check    exit 1 if a committed seed differs

The encoding mirrors fuzz/fuzz_mspace.cpp: three configuration bytes (bit 0: 0 OS region,
1 caller buffer; bits 1-3 capacity index; bits 4-7 base offset), one junk byte, then
operations [opcode][slot][arguments].
"""
import pathlib
import random
import sys

OUT = pathlib.Path(__file__).resolve().parent / "corpus"

MALLOC, CALLOC, REALLOC, REALLOC_IN_PLACE, MEMALIGN, FREE = 0, 6, 7, 9, 10, 12
RESET, TRIM, STATS, INSPECT, USABLE, DOUBLE_FREE = 17, 18, 19, 20, 21, 22
FOREIGN, STACK, MISALIGNED, INTERIOR, NULL_HANDLE = 23, 24, 25, 26, 27
RECREATE, TINY_CREATE, VERIFY_ALL, FREE_MANY = 28, 29, 30, 31
LOCKED = 7 << 5   # added to RECREATE: an MSPACE_LOCKED mspace; to VERIFY_ALL: two threads on it

OS, BASE = 0, 1
# capacity index: 0 64K, 1 96K+40, 2 128K, 3 256K, 4 1M, 5 200003 (OS with offset >= 8: 40 MiB), 6 16K,
#                 7 3 MiB (OS) / up to the next caller buffer (BASE)


def cfg(kind, cap_index, offset=0):
    return kind | (cap_index << 1) | (offset << 4)


# ---- sizes (read_size) ----
def tiny(n):            # 0..31
    assert 0 <= n < 32
    return [n << 3]


def u8(n):
    return [1, n & 0xFF]


def u12(n):
    return [2, n & 0xFF, (n >> 8) & 0x0F]


def u16(n):
    return [3, n & 0xFF, (n >> 8) & 0xFF]


def u24(n):             # taken modulo capacity + 4096
    return [4, n & 0xFF, (n >> 8) & 0xFF, (n >> 16) & 0xFF]


def largest(delta=0):   # largest_free + delta
    return [5, delta & 0xFF]


def huge(d=0):          # SIZE_MAX - d
    return [6, d & 0xFF]


def max_req(delta=0):   # mspace_max_request + delta
    return [7, delta & 0xFF]


def idx(k):
    return [k & 0xFF, (k >> 8) & 0xFF]


class Seed:
    def __init__(self, c0, c1, c2, junk=0):
        self.b = [c0, c1, c2, junk]

    def op(self, code, slot, *args):
        self.b += [code, slot]
        for a in args:
            self.b += a if isinstance(a, list) else [a]
        return self

    def malloc(self, slot, size):
        return self.op(MALLOC, slot, size)

    def free(self, slot, k):
        return self.op(FREE, slot, idx(k))

    def bytes(self):
        return bytes(self.b)


def seeds():
    s = {}

    x = Seed(cfg(OS, 0), cfg(BASE, 2, 3), cfg(BASE, 6, 8), 0xA5)
    for slot in range(3):
        for size in (tiny(0), tiny(1), tiny(24), u8(100), u12(1000), u16(5000), u8(255)):
            x.malloc(slot, size)
    x.free(0, 2).free(1, 0).free(2, 5).op(INSPECT, 0).op(INSPECT, 1).op(STATS, 2)
    x.op(USABLE, 0, idx(1)).op(VERIFY_ALL, 0)
    s["malloc_free"] = x

    x = Seed(cfg(BASE, 0), cfg(OS, 1), cfg(BASE, 3, 1))
    x.op(CALLOC, 0, 2 * 10, u8(7)).op(CALLOC, 1, 2 * 63, u12(200)).op(CALLOC, 2, 0, u8(5))
    x.op(CALLOC, 0, 1, 0).op(CALLOC, 1, 1 | (5 << 1), 3).op(CALLOC, 2, 1 | (1 << 5), 0)
    x.op(CALLOC, 0, 2 * 4, largest(0)).op(INSPECT, 0)
    s["calloc"] = x

    x = Seed(cfg(OS, 2), cfg(BASE, 0, 5), cfg(OS, 0))
    for slot in range(3):
        x.malloc(slot, u8(40)).malloc(slot, u8(200)).malloc(slot, u12(700))
        x.op(REALLOC, slot, 1, idx(0), u12(2000))      # grow
        x.op(REALLOC, slot, 1, idx(1), tiny(8))        # shrink
        x.op(REALLOC, slot, 1, idx(2), u16(20000))     # grow, maybe move
        x.op(REALLOC, slot, 0, u8(64))                 # realloc(NULL)
        x.op(REALLOC, slot, 1, idx(0), tiny(0))        # to a minimum block
        x.op(REALLOC, slot, 1, idx(1), huge(0))        # fails
        x.op(REALLOC, slot, 1, idx(2), largest(1))     # just too large
    x.op(INSPECT, 0).op(VERIFY_ALL, 0)
    s["realloc"] = x

    x = Seed(cfg(BASE, 2), cfg(OS, 0), cfg(BASE, 0, 15))
    for slot in range(3):
        x.malloc(slot, u8(100)).malloc(slot, u8(100)).malloc(slot, u8(100))
        x.free(slot, 1)
        x.op(REALLOC_IN_PLACE, slot, 1, idx(0), u8(180))   # into the freed neighbour
        x.op(REALLOC_IN_PLACE, slot, 1, idx(1), u12(3000)) # into the top
        x.op(REALLOC_IN_PLACE, slot, 1, idx(0), tiny(3))   # shrink
        x.op(REALLOC_IN_PLACE, slot, 1, idx(0), u16(60000))
        x.op(REALLOC_IN_PLACE, slot, 0, u8(10))            # NULL
    s["realloc_in_place"] = x

    x = Seed(cfg(OS, 4), cfg(BASE, 4, 7), cfg(BASE, 0))
    for slot in range(3):
        for k in (0, 1, 3, 4, 5, 6, 8, 12, 16, 17):
            x.op(MEMALIGN, slot, k, u8(100 + k))
        for k in range(12):
            x.op(MEMALIGN, slot, 0x80 | k, u8(50))
        x.op(MEMALIGN, slot, 20, u8(10)).op(MEMALIGN, slot, 22, tiny(1))
        x.op(FREE, slot, idx(3)).op(DOUBLE_FREE, slot, idx(0), 0, tiny(0))
    x.op(INSPECT, 1)
    s["memalign"] = x

    x = Seed(cfg(BASE, 3, 2), cfg(OS, 3), cfg(BASE, 1))
    for slot in range(3):
        for k in range(20):
            x.malloc(slot, u12(100 * k + 1))
        x.op(RESET, slot).op(STATS, slot).malloc(slot, max_req(0)).op(RESET, slot)
        x.malloc(slot, u8(30)).op(INSPECT, slot)
    s["reset"] = x

    x = Seed(cfg(OS, 4), cfg(BASE, 4), cfg(OS, 7))
    for slot in range(3):
        x.malloc(slot, u24(400000)).malloc(slot, u8(10)).free(slot, 0)
        x.op(TRIM, slot, 1, idx(1000)).op(TRIM, slot, 0).op(TRIM, slot, 3 | 4, 0)
        x.op(TRIM, slot, 3, 0xF0).op(TRIM, slot, 2, 0, 0, 1)
    x.malloc(2, max_req(0)).free(2, 1).free(2, 0)      # auto-trim past 2 MiB
    x.op(STATS, 2)
    s["trim"] = x

    x = Seed(cfg(BASE, 0), cfg(BASE, 6), cfg(OS, 5))
    for slot in range(3):
        x.op(STATS, slot).malloc(slot, largest(0)).op(STATS, slot).free(slot, 0)
        x.malloc(slot, largest(0xFF)).malloc(slot, largest(1)).op(STATS, slot)
        x.malloc(slot, u8(100)).free(slot, 0).op(STATS, slot)
    s["stats_largest_free"] = x

    x = Seed(cfg(OS, 0), cfg(BASE, 0), cfg(BASE, 2, 9))
    for slot in range(3):
        for k in range(8):
            x.malloc(slot, u8(40 + 30 * k))
        x.free(slot, 7)                                  # next to the top
        x.op(DOUBLE_FREE, slot, idx(0), 0, tiny(0))
        x.op(DOUBLE_FREE, slot, idx(0), 2, u8(100))      # realloc
        x.op(DOUBLE_FREE, slot, idx(0), 3, u8(10))       # realloc_in_place
        x.free(slot, 3).free(slot, 3)                    # neighbours coalesce
        x.op(DOUBLE_FREE, slot, idx(0), 0, tiny(0)).op(DOUBLE_FREE, slot, idx(1), 1, tiny(0))
        x.op(DOUBLE_FREE, slot, idx(2), 0, tiny(0))
    s["double_free"] = x

    x = Seed(cfg(BASE, 7), cfg(BASE, 7), cfg(OS, 0))   # two caller buffers back to back
    for slot in range(3):
        x.malloc(slot, u8(100)).malloc(slot, u12(1000))
    for slot in range(3):
        for v in range(4):
            x.op(FOREIGN, slot, v & 1, idx(v), v, u8(50))
    s["foreign"] = x

    x = Seed(cfg(OS, 0), cfg(BASE, 1, 4), cfg(BASE, 0))
    for slot in range(3):
        x.malloc(slot, u8(64))
        for v in range(4):
            x.op(STACK, slot, 0x11 * v, v * 3, v, u8(8))
    s["stack"] = x

    x = Seed(cfg(BASE, 0, 1), cfg(OS, 0), cfg(BASE, 2))
    for slot in range(3):
        x.malloc(slot, u8(100)).malloc(slot, u12(600))
        for k in range(8):
            x.op(MISALIGNED, slot, k, idx(k), k % 4, u8(16))
    s["misaligned"] = x

    x = Seed(cfg(OS, 0), cfg(BASE, 0), cfg(BASE, 3, 6))
    for slot in range(3):
        x.malloc(slot, u8(200)).malloc(slot, u8(30)).malloc(slot, u12(1000))
        for k in range(6):
            x.op(INTERIOR, slot, k, idx(k), k % 4, u8(16))
    s["interior"] = x

    x = Seed(cfg(BASE, 0), cfg(OS, 0), cfg(BASE, 0))
    x.op(NULL_HANDLE, 0).malloc(0, u8(10)).op(NULL_HANDLE, 1).op(FREE, 2, idx(0))
    s["null_handle"] = x

    x = Seed(cfg(OS, 0), cfg(BASE, 0), cfg(BASE, 0))
    x.malloc(0, u8(10)).malloc(1, u8(10))
    x.op(RECREATE, 0, cfg(BASE, 5, 11), 0x33).op(RECREATE, 1, cfg(OS, 6), 0)
    x.malloc(0, u12(3000)).malloc(1, u12(3000))
    for cap in (1, 100, 700, 800, 900, 1000, 1100, 2047, 2048, 3000):
        x.op(TINY_CREATE, 2, BASE | (3 << 4), idx(cap - 1), 0xEE)
        x.malloc(2, tiny(0)).malloc(2, largest(0)).op(STATS, 2).op(INSPECT, 2)
    x.op(TINY_CREATE, 0, OS, idx(99), 0).malloc(0, u8(100)).op(STATS, 0)
    s["create"] = x

    x = Seed(cfg(OS, 4), cfg(BASE, 4), cfg(BASE, 0))
    for slot in range(3):
        for k in range(40):
            x.malloc(slot, u12(256 + 24 * k if k % 3 else 8 * k))
        x.op(FREE_MANY, slot, 1).op(INSPECT, slot).op(FREE_MANY, slot, 4 | 2)
        for k in range(10):
            x.malloc(slot, u12(300 + 50 * k))
        x.op(FREE_MANY, slot, 0)
    s["tree_bins"] = x

    x = Seed(cfg(OS, 6), cfg(BASE, 6, 5), cfg(BASE, 0))
    for slot in range(3):
        x.malloc(slot, max_req(0)).malloc(slot, tiny(0)).free(slot, 0)
        x.malloc(slot, max_req(1)).malloc(slot, max_req(0xF0)).malloc(slot, huge(0))
        x.malloc(slot, huge(9)).malloc(slot, u24(0xFFFFFF)).op(STATS, slot)
    s["capacity_edges"] = x

    x = Seed(cfg(OS, 7), cfg(BASE, 4), cfg(OS, 0))
    x.malloc(0, u24(2500000)).malloc(0, u8(1)).free(0, 0).op(STATS, 0)
    x.op(DOUBLE_FREE, 0, idx(0), 0, tiny(0)).malloc(0, u24(2000000)).op(RESET, 0)
    s["auto_trim"] = x

    # locked mspaces: the fronts' slots (up to 512 bytes), misuse, detach and attach, and
    # two threads at once (do_threads: the selection of handed blocks, then each thread's
    # steps as [kind, k, size])
    def thread_size(n):
        if n < 64:
            return [n << 2]
        if n < 256:
            return [1, n]
        if n <= 1020 and n % 4 == 0:
            return [2, n // 4]
        return [3, n & 0xFF, (n >> 8) & 0x3F]

    def script(rnd, count):
        out = [count - 1]
        for _ in range(count):
            out += [rnd.randrange(4), rnd.randrange(256)]
            out += thread_size(rnd.choice([8, 24, 40, 100, 200, 256, 300, 480, 512, 1000, 3000, 9000]))
        return out

    rnd = random.Random(20261207)
    x = Seed(cfg(OS, 0), cfg(BASE, 0), cfg(BASE, 0))
    x.op(RECREATE + LOCKED, 0, cfg(OS, 4), 0).op(RECREATE + LOCKED, 1, cfg(BASE, 4, 3), 0x5A)
    for slot in (0, 1):
        for size in (tiny(1), u8(24), u8(100), u8(255), u12(300), u12(512), u12(513), u12(3000), u16(20000)):
            x.malloc(slot, size)
        x.free(slot, 1).op(REALLOC, slot, 1, idx(2), u12(400)).op(STATS, slot)
        x.op(DOUBLE_FREE, slot, idx(0), 0, tiny(0)).op(INTERIOR, slot, 1, idx(3), 0, u8(16))
        x.op(FOREIGN, slot, 0, idx(0), 0, u8(8)).op(VERIFY_ALL, slot)   # a caller buffer reattaches
        for _ in range(3):
            x.op(VERIFY_ALL + LOCKED, slot, rnd.randrange(16)).b += script(rnd, 24) + script(rnd, 24)
        x.op(INSPECT, slot).op(FREE_MANY, slot, 1).op(STATS, slot).op(TRIM, slot, 0)
        x.op(VERIFY_ALL + LOCKED, slot, 0).b += script(rnd, 32) + script(rnd, 32)
        x.op(RESET, slot).op(STATS, slot)
    s["locked_threads"] = x

    x = Seed(cfg(BASE, 6), cfg(OS, 0), cfg(OS, 0))
    x.op(RECREATE + LOCKED, 0, cfg(BASE, 6, 1), 0)   # 16 KiB: the threads fill it
    for _ in range(6):
        x.op(VERIFY_ALL + LOCKED, 0, rnd.randrange(16)).b += script(rnd, 32) + script(rnd, 32)
        x.op(STATS, 0)
    s["locked_threads_full"] = x

    # random mixes on locked mspaces, two threads among the operations
    for i in range(4):
        x = Seed(cfg(OS, 4), cfg(BASE, 3, i), cfg(OS, 2))
        x.op(RECREATE + LOCKED, 0, cfg(OS, 4 if i % 2 else 3), 0).op(RECREATE + LOCKED, 1, cfg(BASE, 4, i), 0x11)
        for _ in range(60):
            slot, kind = rnd.randrange(2), rnd.randrange(8)
            if kind == 0:
                x.op(VERIFY_ALL + LOCKED, slot, rnd.randrange(16)).b += script(rnd, 8 + rnd.randrange(24)) + script(rnd, 8 + rnd.randrange(24))
            elif kind <= 3:
                x.malloc(slot, u12(rnd.choice([8, 40, 130, 256, 300, 500, 700, 2000, 4000])))
            elif kind == 4:
                x.free(slot, rnd.randrange(64))
            elif kind == 5:
                x.op(REALLOC, slot, 1, idx(rnd.randrange(64)), u12(rnd.randrange(4096)))
            elif kind == 6:
                x.op(MEMALIGN, slot, rnd.randrange(13), u8(rnd.randrange(256)))
            else:
                x.op(rnd.choice([STATS, INSPECT, TRIM]), slot, 0)
        s["locked_mix_%d" % i] = x

    # a few random mixes
    rnd = random.Random(20260501)
    for i in range(4):
        x = Seed(rnd.randrange(256), rnd.randrange(256), rnd.randrange(256), rnd.randrange(256))
        for _ in range(60):
            code = rnd.choice([0, 0, 0, 1, 6, 7, 9, 10, 12, 12, 13, 18, 19, 20, 22, 22, 23, 25, 26, 31])
            x.b += [code, rnd.randrange(3)] + [rnd.randrange(256) for _ in range(5)]
        s["mix_%d" % i] = x
    return s


def main():
    check = "--check" in sys.argv
    OUT.mkdir(exist_ok=True)
    bad = 0
    for name, seed in seeds().items():
        path = OUT / ("seed_" + name)
        data = seed.bytes()
        if check:
            if not path.exists() or path.read_bytes() != data:
                print("differs:", path)
                bad += 1
        else:
            path.write_bytes(data)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
