#!/usr/bin/env python3
"""The benchmark driver: runs the binaries bench/Makefile built, prints the tables, writes
bench/results/latest.{csv,png,md,txt}. Started by bench/run.sh (make bench).

Environment:
  BENCH_REPS=N         timed repetitions per workload and allocator (default 9, quick 3)
  BENCH_QUICK=1        3 repetitions, half-length traces, smaller memory and callgrind runs
  BENCH_CALLGRIND=0    skip the callgrind instruction counts
  BENCH_MEM=0          skip the memory runs
  BENCH_ALLOCS=a,b     only these allocators (mulle mulle-rel mulle-huge dlmalloc glibc mimalloc
                       jemalloc boost pmr; mulle-rel is mulle built with MULLE_DLMALLOC_RELATIVE=1,
                       mulle-huge is mulle with its region made with MSPACE_HUGE_PAGES, dlmalloc
                       is Doug Lea's dlmalloc 2.8.6 mspaces)
  BENCH_WORKLOADS=a,b  only these workloads (see: bench/build/bench_mulle list)
  BENCH_SCALE=x        multiply every trace length by x (timed runs)
  BENCH_THREADS=0      skip the threaded family (bench/threads.cpp); BENCH_THREADS=only runs
                       nothing else
  BENCH_OUT=name       results go to bench/results/<name>.*; default "latest" for the default
                       configuration, "custom" when any knob above is set
"""

import csv
import math
import os
import platform
import re
import statistics
import shutil
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
BUILD = os.path.join(HERE, "build")
RESULTS = os.path.join(HERE, "results")

ALL_ALLOCS = ["mulle", "mulle-rel", "mulle-huge", "dlmalloc", "glibc", "mimalloc", "jemalloc", "boost", "pmr"]
ALL_WORKLOADS = ["small-churn", "mixed", "realloc-grow", "lifo", "fifo", "large",
                 "teardown-free", "teardown-destroy"]
# memory is measured once per trace: both teardown rows share the teardown trace
MEM_OF = {w: w for w in ALL_WORKLOADS}
MEM_OF["teardown-destroy"] = "teardown-free"
MEM_NAME = {"teardown-free": "teardown"}

# Part 2 of the issue: the targets this benchmark checks
SPEED_VS_MIMALLOC = 1.5
MEM_TARGETS = {"mixed": 1.22, "lifo": 1.08, "fifo": 1.08, "realloc-grow": 1.30,
               "large": 1.35, "teardown-free": 1.40}

T_START = time.time()


def env_list(name, default):
    v = os.environ.get(name, "").strip()
    if not v:
        return list(default)
    items = [x.strip() for x in v.split(",") if x.strip()]
    bad = [x for x in items if x not in default]
    if bad:
        sys.exit("bench: unknown %s in %s (choose from %s)" % (", ".join(bad), name, " ".join(default)))
    return items


QUICK = os.environ.get("BENCH_QUICK", "") not in ("", "0")
REPS = int(os.environ.get("BENCH_REPS", "3" if QUICK else "9"))
SCALE = float(os.environ.get("BENCH_SCALE", "0.5" if QUICK else "1"))
DO_CG = os.environ.get("BENCH_CALLGRIND", "1") != "0" and shutil.which("valgrind") is not None
DO_MEM = os.environ.get("BENCH_MEM", "1") != "0"
ALLOCS = env_list("BENCH_ALLOCS", ALL_ALLOCS)
WORKLOADS = env_list("BENCH_WORKLOADS", ALL_WORKLOADS)
# trace lengths for the untimed runs: memory runs write every byte (large: ~1 MiB per block),
# callgrind runs are ~50x slower than native; teardown keeps its 1Mi blocks for memory
MEM_SCALE = {"large": 0.1, "teardown-free": 1.0}
MEM_SCALE_DEFAULT = 0.25
CG_SCALE = {"realloc-grow": 0.03, "large": 0.2}
CG_SCALE_DEFAULT = 0.1
CG_ALLOCS = [a for a in ("mulle", "mulle-rel", "dlmalloc", "mimalloc") if a in ALLOCS]
# mulle-rel is mulle with relative links: the same chunk layout and sizes, so the same
# memory by construction; the memory runs skip it (and turn off when nothing else is left)
MEM_ALLOCS = [a for a in ALLOCS if a != "mulle-rel"]
DO_MEM = DO_MEM and bool(MEM_ALLOCS)
# the threaded family (bench/threads.cpp, one binary per allocator): mulle is one mspace with
# MSPACE_LOCKED shared by every thread, mulle-unlocked the same workload on a plain mspace with
# one thread (the baseline of the lock); BENCH_THREADS=0 skips it, =only runs nothing else
THREADS_KNOB = os.environ.get("BENCH_THREADS", "1").strip().lower()
if THREADS_KNOB not in ("0", "1", "only"):
    sys.exit("bench: BENCH_THREADS is 0, 1 or only")
THREADS_ONLY = THREADS_KNOB == "only"
THREAD_ALLOCS = [a for a in ("mulle", "glibc", "mimalloc", "jemalloc") if a in ALLOCS]
DO_THREADS = THREADS_KNOB != "0" and bool(THREAD_ALLOCS)
if THREADS_ONLY:
    if not DO_THREADS:
        sys.exit("bench: BENCH_THREADS=only, but BENCH_ALLOCS names none of mulle, glibc, mimalloc, jemalloc")
    WORKLOADS, DO_MEM, DO_CG = [], False, False
THREAD_REPS = 3 if QUICK else 5
THREAD_N = 2000000  # threads-churn: operations per thread; producer-consumer: blocks per pair
THREAD_WORKLOADS = ["threads-churn", "producer-consumer"]
CORES = os.cpu_count() or 1
# the core count, then 4 and 8 (2x and 4x the cores on a larger machine); threads-churn also
# runs with 1 thread, producer-consumer needs pairs
_counts = sorted({CORES, max(4, 2 * CORES), max(8, 4 * CORES)})
THREAD_COUNTS = {"threads-churn": sorted({1} | set(_counts)),
                 "producer-consumer": sorted({max(2, t + t % 2) for t in _counts})}
CORE_THREADS = {"threads-churn": CORES, "producer-consumer": max(2, CORES + CORES % 2)}
N_PHASES = 3 if DO_THREADS else 2
KNOBS = ("BENCH_REPS", "BENCH_QUICK", "BENCH_CALLGRIND", "BENCH_MEM", "BENCH_ALLOCS", "BENCH_WORKLOADS", "BENCH_SCALE",
         "BENCH_THREADS")
OUT_NAME = os.environ.get("BENCH_OUT") or ("custom" if any(os.environ.get(k) for k in KNOBS) else "latest")

IS_TTY = sys.stderr.isatty()
_progress_lock = threading.Lock()
_progress_last = [0.0]


def progress(msg, force=False):
    """One line on stderr, rewritten in place on a terminal, every few seconds otherwise."""
    with _progress_lock:
        now = time.time()
        line = "[bench %3ds] %s" % (now - T_START, msg)
        if IS_TTY:
            sys.stderr.write("\r\x1b[K" + line[:150])
            sys.stderr.flush()
        elif force or now - _progress_last[0] >= 5:
            sys.stderr.write(line + "\n")
            sys.stderr.flush()
            _progress_last[0] = now


def progress_done():
    if IS_TTY:
        with _progress_lock:
            sys.stderr.write("\r\x1b[K")
            sys.stderr.flush()


def binary(alloc):
    return os.path.join(BUILD, "bench_" + alloc)


def run(cmd):
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True)
    if p.returncode != 0:
        progress_done()
        sys.stderr.write("bench: %s failed (exit %d)\n%s%s" % (" ".join(cmd), p.returncode, p.stdout, p.stderr))
        os._exit(1)
    return p.stdout


def fields(line):
    return dict(kv.split("=", 1) for kv in line.split() if "=" in kv)


# ---- machine ---------------------------------------------------------------------------

def machine():
    cpu = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = ""
    try:
        with open("/proc/meminfo") as f:
            kb = int(f.readline().split()[1])
            mem = ", %.0f GiB RAM" % (kb / 1048576)
    except (OSError, ValueError, IndexError):
        pass
    osname = platform.system()
    try:
        with open("/etc/os-release") as f:
            for line in f:
                if line.startswith("PRETTY_NAME="):
                    osname = line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    cxx = subprocess.run(["sh", "-c", "${CXX:-g++} --version | head -1"], stdout=subprocess.PIPE,
                         universal_newlines=True).stdout.strip()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0
    return ("%s, %d cores%s; %s, Linux %s; %s; load average %.1f at start"
            % (cpu, os.cpu_count() or 0, mem, osname, platform.release(), cxx, load))


def peer_versions():
    pk = ["libmimalloc-dev", "libjemalloc-dev", "libboost-dev"]
    p = subprocess.run(["dpkg-query", "-W", "-f", "${Package} ${Version}\\n"] + pk,
                       stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, universal_newlines=True)
    glibc = platform.libc_ver()[1]
    out = ", ".join(l for l in p.stdout.strip().split("\n") if l)
    out = "glibc %s, %s" % (glibc, out) if out else "glibc %s" % glibc
    if "dlmalloc" in ALLOCS:
        try:  # written by bench/Makefile when it fetched dlmalloc.c
            with open(os.path.join(BUILD, "dlmalloc", "origin")) as f:
                out += ", dlmalloc 2.8.6 (from %s)" % f.read().strip()
        except OSError:
            out += ", dlmalloc 2.8.6"
    return out


# ---- phase 1: memory and callgrind (neither depends on CPU noise, so they run together) --

mem_results = {}   # (alloc, memworkload) -> (extra_bytes, peak_live)
rss_results = {}   # (alloc, memworkload) -> (resident after the frees, after the trim, trim ns), bytes
cg_results = {}    # (alloc, workload) -> Ir per op
cg_misses = {}     # (alloc, workload) -> first-level data cache misses per op (callgrind's model)
cg_scaling = {}    # (op, blocks) -> Ir
checksums = {}     # (mode, scale, workload) -> {checksum: [allocs]}
_ck_lock = threading.Lock()


def note_checksum(mode, scale, w, alloc, f):
    with _ck_lock:
        checksums.setdefault((mode, scale, w), {}).setdefault(f["checksum"], []).append(alloc)


def mem_job(a, w):
    sc = "%g" % (MEM_SCALE.get(w, MEM_SCALE_DEFAULT) * SCALE)
    e = fields(run([binary(a), "empty", w, sc]))
    m = fields(run([binary(a), "mem", w, sc]))
    note_checksum("mem", sc, w, a, m)
    extra = (int(m["hwm_kb"]) - int(e["hwm_kb"])) * 1024
    mem_results[(a, w)] = (extra, int(m["peak_live"]))
    base = int(e["rss_kb"])
    rss_results[(a, w)] = (max(0, int(m["rss_kb"]) - base) * 1024, max(0, int(m["trim_rss_kb"]) - base) * 1024,
                           int(m["trim_ns"]))


def callgrind_events(path):
    """The totals of a callgrind output file, by event name (Ir; with the cache model also
    D1mr, D1mw, ...)."""
    names, totals = [], []
    with open(path) as f:
        for line in f:
            if line.startswith("events:"):
                names = line.split()[1:]
            elif line.startswith("totals:"):
                totals = [int(x) for x in line.split()[1:]]
    return dict(zip(names, totals))


def callgrind_totals(path):
    return callgrind_events(path).get("Ir", 0)


CG_BASE = ["valgrind", "--tool=callgrind", "--instr-atstart=no", "--collect-atstart=no"]
CG_DIR = os.path.join(BUILD, "callgrind")


def cg_job(a, w):
    sc = "%g" % (CG_SCALE.get(w, CG_SCALE_DEFAULT) * SCALE)
    out = os.path.join(CG_DIR, "%s.%s.out" % (a, w))
    # the cache model (--cache-sim) adds the first-level data misses: where the times differ
    # more or less than the instructions, the misses usually say why
    r = fields(run(CG_BASE + ["--cache-sim=yes", "--toggle-collect=bench_alloc_*", "--callgrind-out-file=" + out,
                              binary(a), "callgrind", w, sc]).strip().split("\n")[-1])
    ev = callgrind_events(out)
    cg_results[(a, w)] = ev.get("Ir", 0) / int(r["ops"])
    cg_misses[(a, w)] = (ev.get("D1mr", 0) + ev.get("D1mw", 0)) / int(r["ops"])


def cg_scaling_job(op, n, size):
    out = os.path.join(CG_DIR, "scaling.%s.%d.out" % (op, n))
    run(CG_BASE + ["--toggle-collect=mspace_*", "--callgrind-out-file=" + out,
                   binary("mulle"), "scaling-cg", op, str(n), str(size)])
    cg_scaling[(op, n)] = callgrind_totals(out)


# rough cost of each job in seconds, to start the longest first
MEM_COST = {"large": 4, "teardown-free": 3}
CG_COST = {"realloc-grow": 5, "teardown-free": 3}


def phase1():
    """Memory and callgrind jobs on two workers, longest first: neither result depends on
    how busy the machine is, so they may share it; the timed runs come after, alone."""
    jobs = []  # (cost, kind, fn, args)
    if DO_MEM:
        for w in sorted(set(MEM_OF[w] for w in WORKLOADS), key=ALL_WORKLOADS.index):
            for a in MEM_ALLOCS:
                jobs.append((MEM_COST.get(w, 1), "mem", mem_job, (a, w)))
    if DO_CG:
        os.makedirs(CG_DIR, exist_ok=True)
        for w in WORKLOADS:
            for a in CG_ALLOCS:
                jobs.append((CG_COST.get(w, 2), "cg", cg_job, (a, w)))
        if "mulle" in ALLOCS:
            for op in ("reset", "destroy"):
                for n, size in ((1 << 20, 24), (1024, 32760)):
                    jobs.append((1, "cg", cg_scaling_job, (op, n, size)))
    jobs.sort(key=lambda j: -j[0])
    total = {"mem": sum(1 for j in jobs if j[1] == "mem"), "cg": sum(1 for j in jobs if j[1] == "cg")}
    done = {"mem": 0, "cg": 0}
    lock = threading.Lock()

    def show():
        parts = []
        if DO_MEM:
            parts.append("memory %d/%d" % (done["mem"], total["mem"]))
        if DO_CG:
            parts.append("callgrind %d/%d" % (done["cg"], total["cg"]))
        progress("phase 1/%d: " % N_PHASES + ", ".join(parts))

    def worker():
        while True:
            with lock:
                if not jobs:
                    return
                _, kind, fn, args = jobs.pop(0)
            fn(*args)
            with lock:
                done[kind] += 1
                show()

    show()
    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


# ---- phase 2: timing ---------------------------------------------------------------------

times = {}       # (alloc, workload) -> [ns/op]
ops_of = {}      # workload -> ops
destroy_ns = {}  # (alloc, workload) -> [ns]
faults = {}      # (alloc, workload) -> [minor page faults during the timed ops]


def time_phase():
    sc = "%g" % SCALE
    total = REPS * len(WORKLOADS) * len(ALLOCS)
    done = 0
    t0 = time.time()
    for rep in range(REPS):
        for w in WORKLOADS:
            for a in ALLOCS:  # A B C A B C: one process per measurement
                left = ""
                if done:
                    left = ", ~%ds left" % ((time.time() - t0) / done * (total - done))
                progress("phase 2/%d: timing rep %d/%d %-16s %-9s (%d/%d%s)"
                         % (N_PHASES, rep + 1, REPS, w, a, done, total, left))
                f = fields(run([binary(a), "time", w, sc]))
                note_checksum("time", sc, w, a, f)
                times.setdefault((a, w), []).append(float(f["ns_per_op"]))
                destroy_ns.setdefault((a, w), []).append(int(f["destroy_ns"]))
                faults.setdefault((a, w), []).append(int(f["minor_faults"]))
                ops_of[w] = int(f["ops"])
                done += 1
    progress("phase 2/%d: timing done (%d runs)" % (N_PHASES, total), force=True)


scaling_native = {}  # blocks -> (reset_us, destroy_us)


def scaling_phase():
    if "mulle" not in ALLOCS:
        return
    progress("mspace_reset / mspace_destroy against live blocks")
    for line in run([binary("mulle"), "scaling", "5"]).strip().split("\n"):
        f = fields(line)
        scaling_native[int(f["blocks"])] = (float(f["reset_us"]), float(f["destroy_us"]))


edge_native = {}  # alloc -> (fresh_ns, edge_ns, live)
EDGE_ALLOCS = [a for a in ("mulle", "dlmalloc", "glibc", "mimalloc", "jemalloc") if a in ALLOCS]


def edge_phase():
    """One 64-byte block taken and freed in a loop: on a fresh heap, and just past a full
    page (run, span) of its size. Each allocator's median of 5 heaps, the allocators
    alternating over 3 processes; the median of those."""
    if "mulle" not in ALLOCS:
        return
    progress("one block taken and freed in a loop, fresh and at a page's edge")
    got = {}
    for _ in range(3):
        for a in EDGE_ALLOCS:
            f = fields(run([binary(a), "edge", "5"]).strip().split("\n")[-1])
            got.setdefault(a, []).append((float(f["fresh_ns"]), float(f["edge_ns"]), int(f["live"])))
    for a, v in got.items():
        edge_native[a] = (statistics.median(x[0] for x in v), statistics.median(x[1] for x in v), v[0][2])


# ---- phase 3: threads ----------------------------------------------------------------------

thr_times = {}   # (alloc, workload, threads) -> [aggregate ns/op]
thr_ops = {}     # (workload, threads) -> ops
thr_info = {}    # "seconds", "load": the phase's length and the load average at its start


def thread_binary(alloc):
    return os.path.join(BUILD, "threads_" + alloc)


def thread_runs():
    """(workload, threads, column) in the order of one repetition; the column mulle-unlocked is
    threads_mulle with `unlocked`, threads-churn with one thread only."""
    runs = []
    for w in THREAD_WORKLOADS:
        for t in THREAD_COUNTS[w]:
            for a in THREAD_ALLOCS:
                runs.append((w, t, a))
                if a == "mulle" and w == "threads-churn" and t == 1:
                    runs.append((w, t, "mulle-unlocked"))
    return runs


def thread_phase():
    if not DO_THREADS:
        return
    sc = "%g" % SCALE
    runs = thread_runs()
    total = THREAD_REPS * len(runs)
    done = 0
    t0 = time.time()
    thr_info["load"] = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0
    label = "phase %d/%d" % (N_PHASES, N_PHASES) if not THREADS_ONLY else "threads"
    for rep in range(THREAD_REPS):
        for w, t, a in runs:  # alternating, one process per measurement
            left = ", ~%ds left" % ((time.time() - t0) / done * (total - done)) if done else ""
            progress("%s: threads rep %d/%d %-17s %d %-14s (%d/%d%s)"
                     % (label, rep + 1, THREAD_REPS, w, t, a, done, total, left))
            cmd = [thread_binary("mulle"), w, str(t), sc, "unlocked"] if a == "mulle-unlocked" else \
                  [thread_binary(a), w, str(t), sc]
            f = fields(run(cmd))
            note_checksum("threads", sc, "%s/%d" % (w, t), a, f)
            thr_times.setdefault((a, w, t), []).append(float(f["ns_per_op"]))
            thr_ops[(w, t)] = int(f["ops"])
            done += 1
    thr_info["seconds"] = time.time() - t0
    progress("%s: threads done (%d runs, %.0f s)" % (label, total, thr_info["seconds"]), force=True)


# ---- report ------------------------------------------------------------------------------

def median(v):
    s = sorted(v)
    n = len(s)
    return s[n // 2] if n % 2 else (s[n // 2 - 1] + s[n // 2]) / 2


def geomean(v):
    return math.exp(sum(math.log(x) for x in v) / len(v)) if v else float("nan")


def fmt_ns(x):
    return "%.0f" % x if x >= 100 else "%.1f" % x if x >= 10 else "%.2f" % x


def table(header, rows, first_left=True):
    widths = [max(len(str(r[i])) for r in [header] + rows) for i in range(len(header))]
    def line(r):
        cells = []
        for i, c in enumerate(r):
            cells.append(str(c).ljust(widths[i]) if i == 0 and first_left else str(c).rjust(widths[i]))
        return "  " + "  ".join(cells)
    out = [line(header), "  " + "  ".join("-" * w for w in widths)]
    out += [line(r) for r in rows]
    return "\n".join(out)


def md_table(header, rows):
    out = ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] + ["--:"] * (len(header) - 1)) + "|"]
    out += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(out)


def report(mach, peers, elapsed_measure):
    out = []
    md = []
    p = out.append
    med = {k: median(v) for k, v in times.items()}

    p("mulle_dlmalloc benchmark, %s" % time.strftime("%Y-%m-%d %H:%M"))
    p("machine: %s" % mach)
    p("peers:   %s" % peers)
    p("runs:    median of %d processes per cell, alternating allocators; traces identical for every "
      "allocator (checksums compared)%s" % (REPS if times else THREAD_REPS,
                                             "; BENCH_SCALE=%g" % SCALE if SCALE != 1 else ""))
    p("")

    # ns/op
    if times:
        hdr = ["ns/op median [min-max]"] + ALLOCS
        rows = []
        for w in WORKLOADS:
            r = [w]
            for a in ALLOCS:
                v = times[(a, w)]
                r.append("%s [%s-%s]" % (fmt_ns(median(v)), fmt_ns(min(v)), fmt_ns(max(v))))
            rows.append(r)
        p("Time per operation, ns (lower is better); teardown rows: per block, its malloc and its release")
        p(table(hdr, rows))
        p("")
        md.append(md_table(["ns/op, median [min-max]"] + ALLOCS, rows))

    # ratio vs mimalloc
    if "mimalloc" in ALLOCS and times:
        hdr = ["ns/op / mimalloc's"] + ALLOCS
        rows = []
        for w in WORKLOADS:
            rows.append([w] + ["%.2f" % (med[(a, w)] / med[("mimalloc", w)]) for a in ALLOCS])
        gm = {a: geomean([med[(a, w)] for w in WORKLOADS]) for a in ALLOCS}
        rows.append(["geomean ns/op"] + [fmt_ns(gm[a]) for a in ALLOCS])
        rows.append(["geomean / mimalloc's"] + ["%.2f" % (gm[a] / gm["mimalloc"]) for a in ALLOCS])
        p("Relative to mimalloc heaps (medians)")
        p(table(hdr, rows))
        p("")
        md.append("\n" + md_table(["ns/op / mimalloc's"] + ALLOCS, rows))

    # page faults
    if times:
        hdr = ["page faults per 1000 ops"] + ALLOCS
        rows = [[w] + ["%.1f" % (median(faults[(a, w)]) * 1000.0 / ops_of[w]) for a in ALLOCS] for w in WORKLOADS]
        p("Minor page faults during the timed operations (median), per 1000 operations: time that callgrind does "
          "not see")
        p(table(hdr, rows))
        p("")
        md.append("\n" + md_table(hdr, rows))

    # memory
    mem_rows = []
    if DO_MEM:
        hdr = ["peak resident / peak live", "peak live"] + MEM_ALLOCS + ["target"]
        seen = []
        for w in WORKLOADS:
            mw = MEM_OF[w]
            if mw in seen:
                continue
            seen.append(mw)
            live = mem_results[(MEM_ALLOCS[0], mw)][1]
            r = [MEM_NAME.get(mw, mw), "%.1f MiB" % (live / 1048576)]
            for a in MEM_ALLOCS:
                extra, pl = mem_results[(a, mw)]
                r.append("%.3f" % (extra / pl))
            r.append("<= %.2f" % MEM_TARGETS[mw] if mw in MEM_TARGETS else "-")
            mem_rows.append(r)
        p("Memory: (peak resident of a child that writes every allocated byte - an empty child's) / peak live bytes")
        p(table(hdr, mem_rows))
        p("")
        md.append("\n" + md_table(hdr, mem_rows))

        # what stays resident once every block is freed, before and after the trim call
        hdr = ["resident after all frees, MiB: as left / after trim (trim time)"] + MEM_ALLOCS
        rows = []
        for mw in seen:
            r = [MEM_NAME.get(mw, mw)]
            for a in MEM_ALLOCS:
                left, trimmed, ns = rss_results[(a, mw)]
                r.append("%.1f / %.1f (%s)" % (left / 1048576, trimmed / 1048576,
                                                "%.0f us" % (ns / 1000) if ns >= 1000 else "%d ns" % ns))
            rows.append(r)
        p("Resident set above an empty child's once the workload freed every block, as the allocator left it and after")
        p("its call to give memory back: mspace_trim(ms, 0), dlmalloc's mspace_trim, malloc_trim(0),")
        p("mi_heap_collect(heap, true), jemalloc's arena purge (boost and pmr have none)")
        p(table(hdr, rows))
        p("")
        md.append("\nResident set above an empty child's once the workload freed every block, as the allocator left it and"
                  " after its call to give memory back (mspace_trim(ms, 0), dlmalloc's mspace_trim, malloc_trim(0),"
                  " mi_heap_collect(heap, true), jemalloc's arena purge; boost and pmr have none):\n")
        md.append(md_table(hdr, rows))

    # callgrind
    if DO_CG and cg_results:
        # ratio columns: mulle against the reference, and what the relative links cost
        pairs = [(x, y) for x, y in (("mulle", "mimalloc"), ("mulle", "dlmalloc"), ("mulle-rel", "mulle"))
                 if x in CG_ALLOCS and y in CG_ALLOCS]

        def per_op_table(title, values, fmt, caption):
            """A row per workload of values[(alloc, workload)], the ratio columns, and the
            geometric means (the ratio of the geometric means is the geometric mean of the
            ratios)."""
            hdr = [title] + CG_ALLOCS + ["%s / %s" % xy for xy in pairs]
            rows = []
            for w in WORKLOADS:
                r = [w] + [fmt % values[(a, w)] for a in CG_ALLOCS]
                r += ["%.3f" % (values[(x, w)] / values[(y, w)]) for x, y in pairs]
                rows.append(r)
            gm = {a: geomean([values[(a, w)] for w in WORKLOADS]) for a in CG_ALLOCS}
            rows.append(["geomean"] + [fmt % gm[a] for a in CG_ALLOCS] + ["%.3f" % (gm[x] / gm[y]) for x, y in pairs])
            p(caption)
            p(table(hdr, rows))
            p("")
            md.append("\n" + md_table(hdr, rows))

        per_op_table("callgrind Ir/op", cg_results, "%.0f",
                     "Instructions per operation inside the allocator calls (callgrind, shortened traces; "
                     "exact, unaffected by machine noise)%s"
                     % ("; mulle-rel: mulle with MULLE_DLMALLOC_RELATIVE=1" if "mulle-rel" in CG_ALLOCS else ""))
        per_op_table("D1 misses/op", cg_misses, "%.2f",
                     "First-level data cache misses (reads and writes) per operation inside the allocator calls, in "
                     "callgrind's model of this machine's caches (the same shortened traces; exact for the model)")

    # mulle against dlmalloc 2.8.6, the algorithm it follows, on the same kind of region
    if "mulle" in ALLOCS and "dlmalloc" in ALLOCS and times:
        with_mem = DO_MEM and "dlmalloc" in MEM_ALLOCS
        with_cg = DO_CG and "dlmalloc" in CG_ALLOCS and "mulle" in CG_ALLOCS
        hdr = ["mulle / dlmalloc", "ns/op mulle", "ns/op dlmalloc", "time"]
        hdr += ["memory"] if with_mem else []
        hdr += ["Ir/op", "D1 misses"] if with_cg else []
        rows = []
        tr, mr, cr, dr = [], {}, [], []
        for w in WORKLOADS:
            m, d = med[("mulle", w)], med[("dlmalloc", w)]
            tr.append(m / d)
            r = [w, fmt_ns(m), fmt_ns(d), "%.2f" % (m / d)]
            if with_mem:  # the same peak live: the ratio of the memory ratios is that of the resident bytes
                mw = MEM_OF[w]
                mr[mw] = mem_results[("mulle", mw)][0] / mem_results[("dlmalloc", mw)][0]
                r.append("%.3f" % mr[mw])
            if with_cg:
                cr.append(cg_results[("mulle", w)] / cg_results[("dlmalloc", w)])
                dr.append(cg_misses[("mulle", w)] / cg_misses[("dlmalloc", w)])
                r += ["%.3f" % cr[-1], "%.3f" % dr[-1]]
            rows.append(r)
        r = ["geomean", fmt_ns(geomean([med[("mulle", w)] for w in WORKLOADS])),
             fmt_ns(geomean([med[("dlmalloc", w)] for w in WORKLOADS])), "%.2f" % geomean(tr)]
        r += ["%.3f" % geomean(list(mr.values()))] if with_mem else []  # each trace once (teardown)
        r += ["%.3f" % geomean(cr), "%.3f" % geomean(dr)] if with_cg else []
        rows.append(r)
        p("mulle_dlmalloc / dlmalloc 2.8.6 (Doug Lea's, mspaces over the same kind of region), per workload: "
          "time (medians), memory (peak resident), callgrind instructions and first-level data cache misses; "
          "below 1 is better for mulle")
        p(table(hdr, rows))
        p("")
        md.append("\n" + md_table(hdr, rows))

    # threads
    thr = {k: median(v) for k, v in thr_times.items()}
    if thr_times:
        cols = [("mulle", "mulle (locked)"), ("mulle-unlocked", "mulle unlocked")] if "mulle" in THREAD_ALLOCS else []
        cols += [(a, a) for a in THREAD_ALLOCS if a != "mulle"]
        hdr = ["aggregate ns/op median [min-max]", "threads"] + [c[1] for c in cols]
        rows = []
        for w in THREAD_WORKLOADS:
            for t in THREAD_COUNTS[w]:
                r = [w, str(t)]
                for a, _ in cols:
                    v = thr_times.get((a, w, t))
                    r.append("%s [%s-%s]" % (fmt_ns(median(v)), fmt_ns(min(v)), fmt_ns(max(v))) if v else "-")
                rows.append(r)
        head = ["Threads: aggregate ns/op (medians): wall time / every malloc and free of every thread, lower is "
                "better; median [min-max]",
                "of %d processes, alternating. threads-churn: %d replacements per thread in its 256 slots; "
                "producer-consumer: %d blocks" % (THREAD_REPS, THREAD_N * SCALE, THREAD_N * SCALE),
                "per pair, freed by the other thread.%s" % (" mulle (locked): one MSPACE_LOCKED mspace for every "
                                                            "thread; mulle unlocked: mspace_create," if cols and
                                                            cols[0][0] == "mulle" else ""),
                "%s%d cores; load average %.1f at the start of this phase, which took %.0f s"
                % ("1 thread. " if cols and cols[0][0] == "mulle" else "", CORES, thr_info.get("load", 0),
                   thr_info.get("seconds", 0))]
        out.extend(head)
        p(table(hdr, rows))
        p("")
        md.append("\n" + " ".join(head) + ":\n\n" + md_table(hdr, rows))

    # reset / destroy scaling
    scal_lines = []
    if scaling_native:
        many, few = 1 << 20, 1024
        for i, op in enumerate(("reset", "destroy")):
            s = "  mspace_%-7s 1Mi blocks of 24 B: %7.0f us   1Ki blocks of 32 KiB: %7.0f us" % (
                op, scaling_native[many][i], scaling_native[few][i])
            if (op, many) in cg_scaling:
                s += "   Ir %d vs %d" % (cg_scaling[(op, many)], cg_scaling[(op, few)])
            scal_lines.append(s)
        p("mspace_reset / mspace_destroy with the same 32 MiB written, in many or few blocks (median of 5)")
        out.extend(scal_lines)
        p("")
    if edge_native:
        edge_lines = ["  one 64 B block taken and freed in a loop, ns a pair: on a fresh heap / just past a full page"]
        edge_lines.append("  " + "   ".join("%s %.1f / %.1f (%d live)" % (a, f, e, live)
                                             for a, (f, e, live) in edge_native.items()))
        p("one block taken and freed in a loop (median of 3 processes of 5 heaps each)")
        out.extend(edge_lines)
        p("")
        scal_lines.extend(edge_lines)

    # Part 2 targets
    checks = []
    if "mulle" in ALLOCS:
        def chk(ok, text):
            checks.append("  [%s] %s" % ("met   " if ok else "MISSED", text))
        if "mimalloc" in ALLOCS and times:
            for w in WORKLOADS:
                m, r = med[("mulle", w)], med[("mimalloc", w)]
                chk(m <= SPEED_VS_MIMALLOC * r, "%-16s ns/op <= 1.5 x mimalloc: %s vs %s (x%.2f)"
                    % (w, fmt_ns(m), fmt_ns(SPEED_VS_MIMALLOC * r), m / r))
            gmm = geomean([med[("mulle", w)] for w in WORKLOADS])
            gmr = geomean([med[("mimalloc", w)] for w in WORKLOADS])
            chk(gmm <= gmr, "geometric mean ns/op <= mimalloc's: %s vs %s (x%.2f)" % (fmt_ns(gmm), fmt_ns(gmr), gmm / gmr))
        for peer in ("glibc", "boost"):
            if peer in ALLOCS:
                for w in WORKLOADS:
                    m, r = med[("mulle", w)], med[(peer, w)]
                    chk(m < r, "%-16s faster than %s: %s vs %s ns/op (x%.2f)" % (w, peer, fmt_ns(m), fmt_ns(r), m / r))
        if DO_MEM:
            for mw in [w for w in ALL_WORKLOADS if w in MEM_TARGETS and (("mulle", w) in mem_results)]:
                extra, pl = mem_results[("mulle", mw)]
                chk(extra / pl <= MEM_TARGETS[mw], "%-16s memory <= %.2f: %.3f"
                    % (MEM_NAME.get(mw, mw), MEM_TARGETS[mw], extra / pl))
            if ("mulle", "small-churn") in mem_results:
                extra, pl = mem_results[("mulle", "small-churn")]
                checks.append("  [info  ] small-churn      memory (no target): %.3f" % (extra / pl))
        if scaling_native:
            for i, op in enumerate(("reset", "destroy")):
                many, few = scaling_native[1 << 20][i], scaling_native[1024][i]
                ok = many <= 1.5 * few + 50
                text = "mspace_%-8s time independent of live blocks: %.0f us (1Mi blocks) vs %.0f us (1Ki), x%.2f" % (
                    op, many, few, many / few if few else float("inf"))
                if (op, 1 << 20) in cg_scaling:
                    a, b = cg_scaling[(op, 1 << 20)], cg_scaling[(op, 1024)]
                    ok = ok and a <= b + 64
                    text += "; Ir %d vs %d" % (a, b)
                chk(ok, text)
        if thr_times:
            for w in THREAD_WORKLOADS:
                t = CORE_THREADS[w]
                for peer in ("mimalloc", "glibc"):
                    if ("mulle", w, t) in thr and (peer, w, t) in thr:
                        m, r = thr[("mulle", w, t)], thr[(peer, w, t)]
                        chk(m <= 1.2 * r, "%-17s %d threads: aggregate ns/op <= 1.2 x %s: %s vs %s (x%.2f)"
                            % (w, t, peer, fmt_ns(m), fmt_ns(1.2 * r), m / r))
            t = CORE_THREADS["threads-churn"]
            if t > 1 and ("mulle", "threads-churn", t) in thr and ("mulle", "threads-churn", 1) in thr:
                m, r = thr[("mulle", "threads-churn", t)], thr[("mulle", "threads-churn", 1)]
                chk(m <= 0.6 * r, "threads-churn     %d threads: aggregate ns/op <= 0.6 x 1 thread's: %s vs %s (x%.2f)"
                    % (t, fmt_ns(m), fmt_ns(0.6 * r), m / r))
            if ("mulle", "threads-churn", 1) in thr and ("mulle-unlocked", "threads-churn", 1) in thr:
                m, r = thr[("mulle", "threads-churn", 1)], thr[("mulle-unlocked", "threads-churn", 1)]
                chk(m <= 1.1 * r, "threads-churn     1 thread: MSPACE_LOCKED ns/op <= 1.1 x unlocked: %s vs %s (x%.2f)"
                    % (fmt_ns(m), fmt_ns(1.1 * r), m / r))
        met = sum(1 for c in checks if "[met" in c)
        missed = sum(1 for c in checks if "[MISSED" in c)
        p("Part 2 targets (mulle_dlmalloc, medians of this run): %d met, %d missed" % (met, missed))
        out.extend(checks)
        p("")

    p("measured in %.0f s; results in bench/results/%s.{csv,png,md,txt}" % (elapsed_measure, OUT_NAME))
    return out, md, mem_rows, scal_lines, checks


def write_csv(path):
    med = {k: median(v) for k, v in times.items()}
    with open(path, "w", newline="") as f:
        wr = csv.writer(f)
        wr.writerow(["workload", "allocator", "ops", "reps", "ns_per_op_median", "ns_per_op_min", "ns_per_op_max",
                     "ratio_vs_mimalloc", "destroy_ns_median", "peak_resident_bytes", "peak_live_bytes",
                     "memory_ratio", "callgrind_ir_per_op", "minor_faults_median", "ratio_vs_dlmalloc", "threads",
                     "callgrind_d1_misses_per_op"])
        for w in WORKLOADS:
            for a in ALLOCS:
                v = times[(a, w)]
                ratio = "%.4f" % (med[(a, w)] / med[("mimalloc", w)]) if "mimalloc" in ALLOCS else ""
                ratio_dl = "%.4f" % (med[(a, w)] / med[("dlmalloc", w)]) if "dlmalloc" in ALLOCS else ""
                mr = mem_results.get((a, MEM_OF[w]))
                cg = cg_results.get((a, w))
                cm = cg_misses.get((a, w))
                wr.writerow([w, a, ops_of[w], len(v), "%.3f" % median(v), "%.3f" % min(v), "%.3f" % max(v), ratio,
                             "%d" % median(destroy_ns[(a, w)]) if w == "teardown-destroy" else "",
                             mr[0] if mr else "", mr[1] if mr else "", "%.4f" % (mr[0] / mr[1]) if mr else "",
                             "%.1f" % cg if cg is not None else "", "%d" % median(faults[(a, w)]), ratio_dl, 1,
                             "%.2f" % cm if cm is not None else ""])
        # the threaded family: aggregate ns/op; mulle is the locked mspace, mulle-unlocked the baseline
        for w in THREAD_WORKLOADS:
            for t in THREAD_COUNTS[w]:
                for a in ["mulle", "mulle-unlocked"] + [x for x in THREAD_ALLOCS if x != "mulle"]:
                    v = thr_times.get((a, w, t))
                    if not v:
                        continue
                    r = thr_times.get(("mimalloc", w, t))
                    ratio = "%.4f" % (median(v) / median(r)) if r else ""
                    wr.writerow([w, a, thr_ops[(w, t)], len(v), "%.3f" % median(v), "%.3f" % min(v), "%.3f" % max(v),
                                 ratio, "", "", "", "", "", "", "", t, ""])


def chart(path, mach):
    if not times:
        return None
    if not shutil.which("gnuplot"):
        return "gnuplot not found: no chart (apt-get install gnuplot-nox)"
    term = "pngcairo size 1400,900 font 'sans,10'"
    if subprocess.run(["gnuplot", "-e", "set terminal pngcairo"], stderr=subprocess.DEVNULL).returncode != 0:
        term = "png size 1400,900"
    tdat = os.path.join(BUILD, "chart_time.dat")
    mdat = os.path.join(BUILD, "chart_mem.dat")
    with open(tdat, "w") as f:
        for w in WORKLOADS:
            cols = [w]
            for a in ALLOCS:
                v = times[(a, w)]
                cols += ["%.4g" % median(v), "%.4g" % min(v), "%.4g" % max(v)]
            f.write(" ".join(cols) + "\n")
    mem_ws = []
    if DO_MEM:
        for w in WORKLOADS:
            if MEM_OF[w] not in mem_ws:
                mem_ws.append(MEM_OF[w])
        with open(mdat, "w") as f:
            for mw in mem_ws:
                label = MEM_NAME.get(mw, mw)
                if mw in MEM_TARGETS:
                    label += "\\n(target <= %.2f)" % MEM_TARGETS[mw]
                f.write('"%s" %s\n' % (label, " ".join("%.4f" % (mem_results[(a, mw)][0] / mem_results[(a, mw)][1])
                                                         for a in MEM_ALLOCS)))
    colors = {"mulle": "#d62728", "mulle-rel": "#f4a5a5", "mulle-huge": "#e377c2", "dlmalloc": "#8c564b", "glibc": "#7f7f7f", "mimalloc": "#1f77b4", "jemalloc": "#2ca02c",
              "boost": "#9467bd", "pmr": "#ff7f0e"}
    g = []
    g.append("set terminal %s" % term)
    g.append("set output '%s'" % path)
    g.append("set termoption noenhanced")
    g.append("set multiplot layout %d,1 title \"mulle_dlmalloc benchmark, %s\\n%s\""
             % (2 if DO_MEM else 1, time.strftime("%Y-%m-%d"), mach.replace('"', "'")))
    g.append("set style data histogram")
    g.append("set style histogram errorbars gap 1 lw 1")
    g.append("set style fill solid 0.85 border -1")
    g.append("set key outside right top")
    g.append("set grid ytics")
    g.append("set logscale y")
    g.append("set ylabel 'ns/op (median, min-max; log scale)'")
    g.append("set xtics nomirror")
    g.append("set title 'time per operation (lower is better)'")
    parts = []
    for i, a in enumerate(ALLOCS):
        parts.append("'%s' using %d:%d:%d:xtic(1) title '%s' lc rgb '%s'"
                     % (tdat, 2 + 3 * i, 3 + 3 * i, 4 + 3 * i, a, colors[a]))
    g.append("plot " + ", ".join(parts))
    if DO_MEM:
        g.append("unset logscale y")
        g.append("set style histogram clustered gap 1")
        g.append("set yrange [0:*]")
        g.append("set ylabel 'peak resident / peak live'")
        g.append("set bmargin 4")
        g.append("set title 'memory (lower is better; 1.0 = no overhead)'")
        parts = []
        for i, a in enumerate(MEM_ALLOCS):
            parts.append("'%s' using %d:xtic(1) title '%s' lc rgb '%s'" % (mdat, 2 + i, a, colors[a]))
        g.append("plot " + ", ".join(parts) + ", 1 notitle dt 2 lc rgb 'black'")
    g.append("unset multiplot")
    p = subprocess.run(["gnuplot"], input="\n".join(g) + "\n", stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       universal_newlines=True)
    if p.returncode != 0:
        return "gnuplot failed: " + p.stderr.strip()
    return None


def main():
    for path in ([binary(a) for a in ALLOCS] if not THREADS_ONLY else []) + \
                ([thread_binary(a) for a in THREAD_ALLOCS] if DO_THREADS else []):
        if not os.access(path, os.X_OK):
            sys.exit("bench: %s missing; build with make -C bench" % path)
    mach = machine()
    peers = peer_versions()
    os.makedirs(RESULTS, exist_ok=True)

    if not THREADS_ONLY:
        phase1()
        time_phase()
        scaling_phase()
        edge_phase()
    thread_phase()
    progress_done()

    # every allocator must have run the same trace
    for (mode, sc, w), by in checksums.items():
        if len(by) != 1:
            sys.exit("bench: the %s trace of %s differs between binaries: %s" % (mode, w, by))

    elapsed = time.time() - T_START
    out, md, mem_rows, scal_lines, checks = report(mach, peers, elapsed)
    write_csv(os.path.join(RESULTS, OUT_NAME + ".csv"))
    err = chart(os.path.join(RESULTS, OUT_NAME + ".png"), mach)
    if err:
        out.append(err)
    text = "\n".join(out) + "\n"
    sys.stdout.write(text)
    with open(os.path.join(RESULTS, OUT_NAME + ".txt"), "w") as f:
        f.write(text)
    with open(os.path.join(RESULTS, OUT_NAME + ".md"), "w") as f:
        f.write("## Benchmark\n\n")
        f.write("`make bench`, %s, on %s. Peers: %s. Median of %d processes per cell, the allocators "
                "alternating; traces identical for every allocator. Teardown rows count one block "
                "(its malloc and its release) as an operation.\n\n" % (time.strftime("%Y-%m-%d"), mach, peers, REPS))
        if times:
            f.write("![benchmark](%s.png)\n\n" % OUT_NAME)
        f.write("\n\n".join(md).lstrip("\n") + "\n\n")
        if scal_lines:
            f.write("```\n" + "\n".join(s.strip() for s in scal_lines) + "\n```\n\n")
        if checks:
            f.write("Part 2 targets:\n\n```\n" + "\n".join(c.strip() for c in checks) + "\n```\n")


if __name__ == "__main__":
    main()
