/* bench.cpp — one benchmark program, built once per allocator.

   The allocator is chosen at compile time (-DALLOC_MULLE, -DALLOC_DLMALLOC, -DALLOC_GLIBC,
   -DALLOC_MIMALLOC, -DALLOC_JEMALLOC, -DALLOC_BOOST, -DALLOC_PMR; mulle-rel is -DALLOC_MULLE
   with -DMULLE_DLMALLOC_RELATIVE=1, mulle-huge -DALLOC_MULLE with -DBENCH_HUGE_PAGES=1, its
   region made with MSPACE_HUGE_PAGES). Debian's libmimalloc and libjemalloc replace the
   process's malloc when linked, and dlmalloc 2.8.6 defines the same mspace_* names as
   mulle_dlmalloc, so every allocator gets a binary of its own and bench/run.py runs them one
   process per measurement.

   A workload is a trace of operations (malloc into a slot, free a slot, realloc a slot,
   destroy the heap) generated in memory from a fixed seed before anything is timed. The
   generator is the same code in every binary and prints a checksum of the trace, which the
   driver compares across binaries: every allocator runs exactly the same operations.
   Every block gets its first and last byte written; both are checked before the block is
   freed or reallocated, and after a realloc the old bytes must have survived.

   Modes (argv[1]):
     time W [scale]       run workload W, print ns per operation
     mem W [scale]        run W writing every allocated byte, print the peak resident set;
                          then, every block freed, the resident set, and again after the
                          allocator's call to give memory back (mspace_trim(ms, 0),
                          malloc_trim(0), mi_heap_collect(heap, true), jemalloc's
                          arena purge; none for boost and pmr), with that call's time
     empty W [scale]      generate W, run nothing: the baseline for mem
     callgrind W [scale]  like time, with callgrind instrumentation only around the ops;
                          run under valgrind --tool=callgrind --instr-atstart=no
                          --collect-atstart=no --toggle-collect='bench_alloc_*'
     edge [N]             one 64-byte block taken and freed in a loop, on a fresh heap and
                          where its size's blocks just filled what holds them; ns a pair,
                          the median of N heaps each
     scaling [N]          mulle only: mspace_reset / mspace_destroy with 1Mi small blocks
                          versus 1Ki big ones (same bytes); medians of N rounds, in µs
     scaling-cg OP K S    mulle only: K blocks of S bytes, then OP (reset|destroy) inside
                          callgrind instrumentation
     list                 the workload names                                            */

#include <algorithm>
#include <chrono>
#include <cstdarg>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include <sys/mman.h>
#include <sys/resource.h>

#include "common.h"

#if defined(__has_include)
#  if __has_include(<valgrind/callgrind.h>)
#    include <valgrind/callgrind.h>
#  endif
#endif
#ifndef CALLGRIND_START_INSTRUMENTATION
#  define CALLGRIND_START_INSTRUMENTATION
#  define CALLGRIND_STOP_INSTRUMENTATION
#endif

#define NOINLINE __attribute__((noinline))

/* ==== allocator adapters ================================================================

   Each adapter gives: heap_open(capacity), the four operations as extern "C" noinline
   functions named bench_alloc_* (callgrind collects only inside them; the call costs the
   same few instructions for every allocator), and heap_close() for a heap already empty.
   bench_alloc_destroy() frees every live block at once and returns true, or returns false
   where the allocator has no such thing (glibc): the caller then frees block by block.   */

static const size_t HEAP_CAPACITY = size_t(1) << 30; /* reserved, committed as used */

#if defined(ALLOC_MULLE)
#  define MULLE_DLMALLOC_IMPLEMENTATION
#  include "../mulle_dlmalloc.hpp"
#  if MULLE_DLMALLOC_RELATIVE
static const char *const ALLOC_NAME = "mulle-rel"; /* links stored relative (bench/Makefile) */
#  elif BENCH_HUGE_PAGES
static const char *const ALLOC_NAME = "mulle-huge"; /* its region asks for huge pages */
#  else
static const char *const ALLOC_NAME = "mulle";
#  endif
#  ifndef BENCH_HUGE_PAGES
#    define BENCH_HUGE_PAGES 0
#  endif
static mspace            g_ms;
static bool heap_open(size_t capacity)
{
   g_ms = mspace_create_flags(capacity, BENCH_HUGE_PAGES ? MSPACE_HUGE_PAGES : 0u);
   return g_ms != NULL;
}
static void heap_close() { if (g_ms) mspace_destroy(g_ms); g_ms = NULL; }
extern "C" {
NOINLINE void *bench_alloc_malloc(size_t n) { return mspace_malloc(g_ms, n); }
NOINLINE void  bench_alloc_free(void *p, size_t) { mspace_free(g_ms, p); }
NOINLINE void *bench_alloc_realloc(void *p, size_t, size_t n) { return mspace_realloc(g_ms, p, n); }
NOINLINE bool  bench_alloc_destroy() { mspace_destroy(g_ms); g_ms = NULL; return true; }
NOINLINE void  bench_alloc_trim() { mspace_trim(g_ms, 0); }
}

#elif defined(ALLOC_DLMALLOC)
/* Doug Lea's dlmalloc 2.8.6, compiled as C into its own object (bench/Makefile:
   ONLY_MSPACES, no locks, -O2). This binary holds no mulle_dlmalloc code, so dlmalloc's
   mspace_* are the only ones linked. Its heap is built over a region mapped as
   mspace_create maps ours (same capacity, pages committed as touched); large chunks are
   tracked, that is, carved from the region instead of mmapped one by one above dlmalloc's
   256 KiB threshold, so both allocators serve every request from one region. */
extern "C" {
typedef void *dl_mspace; /* dlmalloc's own `mspace` type, under another name */
dl_mspace create_mspace_with_base(void *base, size_t capacity, int locked);
size_t    destroy_mspace(dl_mspace msp);
int       mspace_track_large_chunks(dl_mspace msp, int enable);
void     *mspace_malloc(dl_mspace msp, size_t bytes);
void      mspace_free(dl_mspace msp, void *mem);
void     *mspace_realloc(dl_mspace msp, void *mem, size_t newsize);
int       mspace_trim(dl_mspace msp, size_t pad);
}
static const char *const ALLOC_NAME = "dlmalloc";
static dl_mspace         g_dl;
static void             *g_region;
static size_t            g_region_size;
static bool heap_open(size_t capacity)
{
   g_region = mmap(NULL, capacity, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
   if (g_region == MAP_FAILED)
      return false;
   g_region_size = capacity;
   g_dl          = create_mspace_with_base(g_region, capacity, 0);
   if (!g_dl)
      return false;
   mspace_track_large_chunks(g_dl, 1);
   return true;
}
static void dlmalloc_destroy()
{
   destroy_mspace(g_dl); /* a caller's region: dlmalloc leaves it to us, as mspace_destroy unmaps its own */
   munmap(g_region, g_region_size);
   g_dl = NULL;
}
static void heap_close() { if (g_dl) dlmalloc_destroy(); }
extern "C" {
NOINLINE void *bench_alloc_malloc(size_t n) { return mspace_malloc(g_dl, n); }
NOINLINE void  bench_alloc_free(void *p, size_t) { mspace_free(g_dl, p); }
NOINLINE void *bench_alloc_realloc(void *p, size_t, size_t n) { return mspace_realloc(g_dl, p, n); }
NOINLINE bool  bench_alloc_destroy() { dlmalloc_destroy(); return true; }
NOINLINE void  bench_alloc_trim() { mspace_trim(g_dl, 0); }
}

#elif defined(ALLOC_GLIBC)
#  include <malloc.h>
static const char *const ALLOC_NAME = "glibc";
static bool heap_open(size_t) { return true; }
static void heap_close() {}
extern "C" {
NOINLINE void *bench_alloc_malloc(size_t n) { return malloc(n); }
NOINLINE void  bench_alloc_free(void *p, size_t) { free(p); }
NOINLINE void *bench_alloc_realloc(void *p, size_t, size_t n) { return realloc(p, n); }
NOINLINE bool  bench_alloc_destroy() { return false; }
NOINLINE void  bench_alloc_trim() { malloc_trim(0); }
}

#elif defined(ALLOC_MIMALLOC)
#  include <mimalloc.h>
static const char *const ALLOC_NAME = "mimalloc";
static mi_heap_t        *g_heap;
static bool heap_open(size_t) { g_heap = mi_heap_new(); return g_heap != NULL; }
static void heap_close() { if (g_heap) mi_heap_destroy(g_heap); g_heap = NULL; }
extern "C" {
NOINLINE void *bench_alloc_malloc(size_t n) { return mi_heap_malloc(g_heap, n); }
NOINLINE void  bench_alloc_free(void *p, size_t) { mi_free(p); }
NOINLINE void *bench_alloc_realloc(void *p, size_t, size_t n) { return mi_heap_realloc(g_heap, p, n); }
NOINLINE bool  bench_alloc_destroy() { mi_heap_destroy(g_heap); g_heap = NULL; return true; }
NOINLINE void  bench_alloc_trim() { mi_heap_collect(g_heap, true); }
}

#elif defined(ALLOC_JEMALLOC)
#  include <jemalloc/jemalloc.h>
/* A private arena with a private thread cache: MALLOCX_ARENA alone would still serve small
   blocks from the thread's shared cache, which may hold blocks of other arenas. */
static const char *const ALLOC_NAME = "jemalloc";
static unsigned          g_arena, g_tcache;
static int               g_flags;
static bool              g_open;
static bool heap_open(size_t)
{
   size_t sz = sizeof(unsigned);
   if (mallctl("arenas.create", &g_arena, &sz, NULL, 0) != 0)
      return false;
   sz = sizeof(unsigned);
   if (mallctl("tcache.create", &g_tcache, &sz, NULL, 0) != 0)
      return false;
   g_flags = MALLOCX_ARENA(g_arena) | MALLOCX_TCACHE(g_tcache);
   g_open  = true;
   return true;
}
static void jemalloc_destroy()
{
   char name[64];
   mallctl("tcache.destroy", NULL, NULL, &g_tcache, sizeof(unsigned));
   snprintf(name, sizeof name, "arena.%u.destroy", g_arena);
   if (mallctl(name, NULL, NULL, NULL, 0) != 0)
   {
      fprintf(stderr, "bench: jemalloc %s failed\n", name);
      exit(1);
   }
   g_open = false;
}
static void heap_close() { if (g_open) jemalloc_destroy(); }
extern "C" {
NOINLINE void *bench_alloc_malloc(size_t n) { return mallocx(n, g_flags); }
NOINLINE void  bench_alloc_free(void *p, size_t n) { sdallocx(p, n, MALLOCX_TCACHE(g_tcache)); }
NOINLINE void *bench_alloc_realloc(void *p, size_t, size_t n) { return rallocx(p, n, g_flags); }
NOINLINE bool  bench_alloc_destroy() { jemalloc_destroy(); return true; }
NOINLINE void  bench_alloc_trim()
{
   char name[64];
   snprintf(name, sizeof name, "arena.%u.purge", g_arena);
   mallctl("tcache.flush", NULL, NULL, &g_tcache, sizeof(unsigned));
   mallctl(name, NULL, NULL, NULL, 0);
}
}

#elif defined(ALLOC_BOOST)
#  include <boost/interprocess/managed_external_buffer.hpp>
/* managed_external_buffer: rbtree_best_fit with null_mutex_family over a buffer of ours. */
static const char *const ALLOC_NAME = "boost";
namespace bip = boost::interprocess;
static bip::managed_external_buffer *g_seg;
static void                         *g_buf;
static size_t                        g_cap;
static bool heap_open(size_t capacity)
{
   g_buf = mmap(NULL, capacity, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
   if (g_buf == MAP_FAILED)
      return false;
   g_cap = capacity;
   g_seg = new bip::managed_external_buffer(bip::create_only, g_buf, capacity);
   return true;
}
static void boost_destroy()
{
   delete g_seg;
   munmap(g_buf, g_cap);
   g_seg = NULL;
}
static void heap_close() { if (g_seg) boost_destroy(); }
extern "C" {
NOINLINE void *bench_alloc_malloc(size_t n) { return g_seg->allocate(n, std::nothrow); }
NOINLINE void  bench_alloc_free(void *p, size_t) { g_seg->deallocate(p); }
NOINLINE void *bench_alloc_realloc(void *p, size_t old, size_t n)
{
   /* grow in place into a free neighbour when possible, else allocate, copy, free */
   size_t got   = n;
   char  *reuse = static_cast<char *>(p);
   char  *q     = g_seg->allocation_command<char>(bip::expand_fwd | bip::allocate_new | bip::nothrow_allocation,
                                                  n, got, reuse);
   if (q && q != p)
   {
      memcpy(q, p, old < n ? old : n);
      g_seg->deallocate(p);
   }
   return q;
}
NOINLINE bool bench_alloc_destroy() { boost_destroy(); return true; }
NOINLINE void bench_alloc_trim() {}   /* a buffer of ours: nothing goes back */
}

#elif defined(ALLOC_PMR)
#  include <memory_resource>
/* unsynchronized_pool_resource with its default options over new_delete_resource. */
static const char *const ALLOC_NAME = "pmr";
static std::pmr::unsynchronized_pool_resource *g_pool;
static bool heap_open(size_t) { g_pool = new std::pmr::unsynchronized_pool_resource(); return true; }
static void heap_close() { delete g_pool; g_pool = NULL; }
extern "C" {
NOINLINE void *bench_alloc_malloc(size_t n) { return g_pool->allocate(n, 16); }
NOINLINE void  bench_alloc_free(void *p, size_t n) { g_pool->deallocate(p, n, 16); }
NOINLINE void *bench_alloc_realloc(void *p, size_t old, size_t n)
{
   void *q = g_pool->allocate(n, 16);
   memcpy(q, p, old < n ? old : n);
   g_pool->deallocate(p, old, 16);
   return q;
}
NOINLINE bool bench_alloc_destroy() { g_pool->release(); return true; }
NOINLINE void bench_alloc_trim() {}   /* no such call: its pools stay */
}

#else
#  error "define one of ALLOC_MULLE ALLOC_DLMALLOC ALLOC_GLIBC ALLOC_MIMALLOC ALLOC_JEMALLOC ALLOC_BOOST ALLOC_PMR"
#endif

/* ==== small helpers ===================================================================== */

[[noreturn]] static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void              die(const char *fmt, ...)
{
   va_list ap;
   va_start(ap, fmt);
   fprintf(stderr, "bench_%s: ", ALLOC_NAME);
   vfprintf(stderr, fmt, ap);
   fputc('\n', stderr);
   va_end(ap);
   exit(2);
}

/* Trace memory comes straight from mmap, so it is the same for every allocator and never
   shares pages with the heap under test. */
static void *map_pages(size_t bytes)
{
   void *p = mmap(NULL, bytes ? bytes : 1, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
   if (p == MAP_FAILED)
      die("mmap of %zu bytes for the trace failed", bytes);
   return p;
}

/* ==== traces ============================================================================ */

enum { OP_MALLOC = 0, OP_FREE = 1, OP_REALLOC = 2 };

struct op_t
{
   uint32_t code; /* slot << 2 | kind */
   uint32_t size; /* malloc, realloc: the new size */
};

struct trace_t
{
   const char *name;
   op_t       *ops;
   size_t      n, cap;
   size_t      nslots;
   size_t      split;      /* teardown: the ops before it allocate, the rest free */
   uint64_t    live, peak_live;
   uint32_t   *sizes;      /* generator's view of each slot */
   size_t      blocks;     /* teardown: the number of blocks; others 0 */

   void init(const char *nm, size_t maxops, size_t slots)
   {
      name   = nm;
      cap    = maxops;
      ops    = static_cast<op_t *>(map_pages(maxops * sizeof(op_t)));
      n      = 0;
      nslots = slots;
      sizes  = static_cast<uint32_t *>(map_pages(slots * sizeof(uint32_t)));
      split  = 0;
      live = peak_live = 0;
      blocks = 0;
   }
   void push(uint32_t kind, size_t slot, uint32_t size)
   {
      if (n == cap)
         die("trace %s: more than %zu ops", name, cap);
      if (slot >= nslots)
         die("trace %s: slot %zu beyond %zu", name, slot, nslots);
      ops[n].code = uint32_t(slot << 2) | kind;
      ops[n].size = size;
      n++;
   }
   void malloc_(size_t slot, uint32_t size)
   {
      push(OP_MALLOC, slot, size);
      sizes[slot] = size;
      live += size;
      if (live > peak_live)
         peak_live = live;
   }
   void free_(size_t slot)
   {
      push(OP_FREE, slot, 0);
      live -= sizes[slot];
      sizes[slot] = 0;
   }
   void realloc_(size_t slot, uint32_t size)
   {
      push(OP_REALLOC, slot, size);
      live += size;
      live -= sizes[slot];
      sizes[slot] = size;
      if (live > peak_live)
         peak_live = live;
   }
   uint64_t checksum() const
   {
      uint64_t h = 1469598103934665603ull;
      for (size_t i = 0; i < n; i++)
      {
         h = (h ^ ops[i].code) * 1099511628211ull;
         h = (h ^ ops[i].size) * 1099511628211ull;
      }
      return h;
   }
};

static size_t scaled(double base, double scale) { double v = base * scale; return v < 1 ? 1 : size_t(v); }

/* Random replacement: fill `live_blocks` slots (or until `live_bytes`), then `rounds` times
   free a random slot and allocate a new size into it; then free everything. */
template<class SIZE>
static void gen_replacement(trace_t &t, size_t live_blocks, uint64_t live_bytes, size_t rounds, splitmix64 &r, SIZE size)
{
   size_t k = 0;
   while (live_bytes ? t.live < live_bytes : k < live_blocks)
      t.malloc_(k++, size());
   for (size_t i = 0; i < rounds; i++)
   {
      size_t s = size_t(r.below(k));
      t.free_(s);
      t.malloc_(s, size());
   }
   for (size_t s = 0; s < k; s++)
      t.free_(s);
}

static const char *const WORKLOADS[] = {"small-churn", "mixed", "realloc-grow", "lifo", "fifo", "large",
                                        "teardown-free", "teardown-destroy"};

/* Trace lengths: 10-120 ms per run for the fast allocators, so that 9 alternating
   repetitions of 8 workloads x 6 allocators fit in about a minute on 2 cores. */
static bool generate(trace_t &t, const std::string &w, double scale)
{
   splitmix64 r{0}; /* each workload seeds it with a fixed number of its own */
   if (w == "small-churn")
   { /* 8-128 B, 10k live, random replacement */
      r.s = 1;
      size_t rounds = scaled(5e5, scale);
      t.init("small-churn", 2 * rounds + 2 * 10000 + 16, 10000);
      gen_replacement(t, 10000, 0, rounds, r, [&] { return r.uniform(8, 128); });
   }
   else if (w == "mixed")
   { /* log-uniform 16 B - 64 KiB, ~16 MiB live, random replacement */
      r.s           = 2;
      size_t rounds = scaled(2e5, scale);
      t.init("mixed", 2 * rounds + 2 * 8192 + 16, 8192);
      gen_replacement(t, 0, uint64_t(16) << 20, rounds, r, [&] { return r.log_uniform(16, 65536); });
   }
   else if (w == "realloc-grow")
   { /* 256 buffers, each from 16 B growing x1.5 to 256 KiB then freed and restarted;
        each step grows a random buffer */
      r.s           = 3;
      size_t bufs   = 256;
      size_t steps  = scaled(6e4, scale);
      t.init("realloc-grow", 2 * steps + 2 * bufs + 16, bufs);
      for (size_t b = 0; b < bufs; b++) /* start at staggered stages */
      {
         uint32_t sz = 16, stage = uint32_t(r.below(20));
         for (uint32_t i = 0; i < stage; i++)
            sz += sz / 2;
         t.malloc_(b, sz);
      }
      for (size_t i = 0; i < steps; i++)
      {
         size_t   b  = size_t(r.below(bufs));
         uint32_t sz = t.sizes[b];
         if (sz >= 262144)
         {
            t.free_(b);
            t.malloc_(b, 16);
         }
         else
            t.realloc_(b, std::min<uint32_t>(sz + sz / 2, 262144));
      }
      for (size_t b = 0; b < bufs; b++)
         t.free_(b);
   }
   else if (w == "lifo")
   { /* a stack of 16-1024 B blocks: climbs to a random height up to 32Ki blocks and falls
        to a low one, pushing and popping on the way (3:1) */
      r.s             = 4;
      size_t   target = scaled(1.1e6, scale), top = 0;
      const size_t cap = 32768;
      t.init("lifo", target + 3 * cap, cap);
      bool   up = true;
      size_t goal = cap / 2 + size_t(r.below(cap / 2));
      while (t.n < target)
      {
         bool push = top == 0 || (top < cap && (r.below(4) != 0) == up);
         if (push)
            t.malloc_(top++, r.uniform(16, 1024));
         else
            t.free_(--top);
         if (up && top >= goal)
            up = false, goal = size_t(r.below(cap / 8));
         else if (!up && top <= goal)
            up = true, goal = cap / 2 + size_t(r.below(cap / 2));
      }
      while (top)
         t.free_(--top);
   }
   else if (w == "fifo")
   { /* a queue of 16-1024 B blocks, 24Ki long on average: bursts of 1-64 pushes at the tail
        and of 1-64 pops at the head, the length kept within 16Ki-32Ki */
      r.s             = 5;
      size_t target   = scaled(1.1e6, scale);
      const size_t ring = 32768, lo = 16384, hi = 32768;
      t.init("fifo", target + 3 * ring + 128, ring);
      size_t head = 0, tail = 0; /* counters; slot = counter % ring */
      while (tail - head < 24576)
         t.malloc_(tail++ % ring, r.uniform(16, 1024));
      while (t.n < target)
      {
         size_t k = 1 + size_t(r.below(64));
         if (r.below(2))
            for (size_t i = 0; i < k && tail - head < hi; i++)
               t.malloc_(tail++ % ring, r.uniform(16, 1024));
         else
            for (size_t i = 0; i < k && tail - head > lo; i++)
               t.free_(head++ % ring);
      }
      while (head != tail)
         t.free_(head++ % ring);
   }
   else if (w == "large")
   { /* log-uniform 64 KiB - 4 MiB, ~128 MiB live, random replacement */
      r.s           = 6;
      size_t rounds = scaled(1.5e4, scale);
      t.init("large", 2 * rounds + 2 * 1024, 1024);
      gen_replacement(t, 0, uint64_t(128) << 20, rounds, r, [&] { return r.log_uniform(65536, 4194304); });
   }
   else if (w == "teardown-free" || w == "teardown-destroy")
   { /* 1Mi blocks of 8-128 B, then freed one by one in allocation order (teardown-free) or
        the heap destroyed at once (teardown-destroy: the ops after `split` are not run) */
      r.s           = 7;
      size_t blocks = scaled(1 << 20, scale);
      t.init(w == "teardown-free" ? "teardown-free" : "teardown-destroy", 2 * blocks, blocks);
      for (size_t s = 0; s < blocks; s++)
         t.malloc_(s, r.uniform(8, 128));
      t.split = t.n;
      for (size_t s = 0; s < blocks; s++)
         t.free_(s);
      t.blocks = blocks;
   }
   else
      return false;
   return true;
}

/* ==== running a trace =================================================================== */

struct slots_t
{
   unsigned char **p;
   uint32_t       *n;
};

static inline unsigned char tag_first(uint32_t slot, uint32_t size) { return (unsigned char) (slot * 0x9Du + size * 0x3Bu + 0x11u); }
static inline unsigned char tag_last(uint32_t slot, uint32_t size) { return (unsigned char) (tag_first(slot, size) ^ 0xA5u); }

[[noreturn]] NOINLINE static void corrupted(const trace_t &t, size_t i, uint32_t slot, uint32_t size, const char *which,
                                             unsigned got, unsigned want)
{
   die("%s: op %zu, slot %u, block of %u bytes: %s byte is 0x%02x, expected 0x%02x (the allocator "
       "overwrote live memory)", t.name, i, slot, size, which, got, want);
}

static inline void check_block(const trace_t &t, size_t i, uint32_t slot, const unsigned char *p, uint32_t size)
{
   if (p[0] != tag_first(slot, size))
      corrupted(t, i, slot, size, "first", p[0], tag_first(slot, size));
   if (p[size - 1] != tag_last(slot, size))
      corrupted(t, i, slot, size, "last", p[size - 1], tag_last(slot, size));
}

/* FILL: write every allocated byte (memory mode), not only the first and last. */
template<bool FILL>
static void run_ops(const trace_t &t, size_t from, size_t to, slots_t &s)
{
   for (size_t i = from; i < to; i++)
   {
      uint32_t code = t.ops[i].code, slot = code >> 2, size = t.ops[i].size;
      switch (code & 3)
      {
      case OP_MALLOC:
      {
         unsigned char *p = static_cast<unsigned char *>(bench_alloc_malloc(size));
         if (!p)
            die("%s: op %zu: malloc(%u) returned NULL", t.name, i, size);
         if (FILL)
            memset(p, 0x5A, size);
         p[0]        = tag_first(slot, size);
         p[size - 1] = tag_last(slot, size);
         s.p[slot]   = p;
         s.n[slot]   = size;
         break;
      }
      case OP_FREE:
      {
         unsigned char *p = s.p[slot];
         check_block(t, i, slot, p, s.n[slot]);
         bench_alloc_free(p, s.n[slot]);
         s.p[slot] = NULL;
         break;
      }
      case OP_REALLOC:
      {
         unsigned char *p = s.p[slot];
         uint32_t       old = s.n[slot];
         check_block(t, i, slot, p, old);
         unsigned char *q = static_cast<unsigned char *>(bench_alloc_realloc(p, old, size));
         if (!q)
            die("%s: op %zu: realloc(%u -> %u) returned NULL", t.name, i, old, size);
         if (q[0] != tag_first(slot, old))
            corrupted(t, i, slot, old, "first (after realloc)", q[0], tag_first(slot, old));
         if (old <= size && q[old - 1] != tag_last(slot, old))
            corrupted(t, i, slot, old, "last (after realloc)", q[old - 1], tag_last(slot, old));
         if (FILL && size > old)
            memset(q + old, 0x5A, size - old);
         q[0]        = tag_first(slot, size);
         q[size - 1] = tag_last(slot, size);
         s.p[slot]   = q;
         s.n[slot]   = size;
         break;
      }
      }
   }
}

/* Release what is live at once: the allocator's destroy, or one free per block. */
static void release_all(const trace_t &t, slots_t &s)
{
   if (bench_alloc_destroy())
      return;
   for (size_t k = 0; k < t.nslots; k++)
      if (s.p[k])
         bench_alloc_free(s.p[k], s.n[k]), s.p[k] = NULL;
}

static uint64_t now_ns()
{
   return uint64_t(std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch()).count());
}

/* A line "NAME: N kB" of /proc/self/status, in KiB; -1 where there is none. */
static long status_kb(const char *name)
{
   FILE  *f   = fopen("/proc/self/status", "r");
   long   kb  = -1;
   size_t len = strlen(name);
   char   line[256];
   if (f)
   {
      while (fgets(line, sizeof line, f))
         if (!strncmp(line, name, len) && line[len] == ':')
            kb = strtol(line + len + 1, NULL, 10);
      fclose(f);
   }
   return kb;
}

/* The peak resident set (VmHWM, else getrusage's), in KiB. */
static long vm_hwm_kb()
{
   long kb = status_kb("VmHWM");
   if (kb < 0)
   {
      struct rusage ru;
      getrusage(RUSAGE_SELF, &ru);
      kb = ru.ru_maxrss;
   }
   return kb;
}

/* The resident set now (VmRSS), in KiB. */
static long vm_rss_kb() { return status_kb("VmRSS"); }

/* Page faults taken so far: first touches of fresh or given-back pages, which cost time
   that callgrind does not see. */
static long minor_faults()
{
   struct rusage ru;
   getrusage(RUSAGE_SELF, &ru);
   return ru.ru_minflt;
}

static double median(std::vector<double> v)
{
   std::sort(v.begin(), v.end());
   return v[v.size() / 2];
}

/* ==== mspace_reset / mspace_destroy against the number of live blocks ==================== */

#if defined(ALLOC_MULLE)
/* 1Mi blocks of 24 B (32 B chunks) and 1Ki blocks of 32 KiB - 8 (32 KiB chunks) fill the
   same 32 MiB, every byte written so that both hold the same resident pages: only the
   number of blocks differs. */
static void fill_mspace(mspace ms, size_t count, size_t size)
{
   for (size_t i = 0; i < count; i++)
   {
      unsigned char *p = static_cast<unsigned char *>(mspace_malloc(ms, size));
      if (!p)
         die("scaling: malloc failed");
      memset(p, 1, size);
   }
}

static int scaling(int rounds)
{
   struct { size_t count, size; } cases[2] = {{size_t(1) << 20, 24}, {1024, 32768 - 8}};
   for (auto &c : cases)
   {
      std::vector<double> reset_us, destroy_us;
      for (int r = 0; r < rounds; r++)
      {
         mspace ms = mspace_create(size_t(256) << 20);
         if (!ms)
            die("scaling: mspace_create failed");
         fill_mspace(ms, c.count, c.size);
         uint64_t t0 = now_ns();
         mspace_reset(ms);
         uint64_t t1 = now_ns();
         fill_mspace(ms, c.count, c.size);
         uint64_t t2 = now_ns();
         mspace_destroy(ms);
         uint64_t t3 = now_ns();
         reset_us.push_back(double(t1 - t0) / 1e3);
         destroy_us.push_back(double(t3 - t2) / 1e3);
      }
      printf("SCALING blocks=%zu size=%zu reset_us=%.1f destroy_us=%.1f\n", c.count, c.size, median(reset_us),
             median(destroy_us));
   }
   return 0;
}

static int scaling_cg(const char *op, size_t count, size_t size)
{
   mspace ms = mspace_create(size_t(256) << 20);
   if (!ms)
      die("scaling: mspace_create failed");
   fill_mspace(ms, count, size);
   CALLGRIND_START_INSTRUMENTATION;
   if (!strcmp(op, "reset"))
      mspace_reset(ms);
   else
      mspace_destroy(ms);
   CALLGRIND_STOP_INSTRUMENTATION;
   if (!strcmp(op, "reset"))
      mspace_destroy(ms);
   printf("SCALINGCG op=%s blocks=%zu size=%zu\n", op, count, size);
   return 0;
}
#endif

/* ==== main ============================================================================== */

static void usage()
{
   fprintf(stderr, "usage: bench_%s time|mem|empty|callgrind WORKLOAD [SCALE] | list%s\n", ALLOC_NAME,
#if defined(ALLOC_MULLE)
           " | scaling [ROUNDS] | scaling-cg reset|destroy COUNT SIZE"
#else
           ""
#endif
   );
   exit(2);
}

/* One 64-byte block taken and freed in a loop, on a fresh heap, and where the blocks of
   that size just filled what holds them (the one taken then starts a new page, run or
   span: the step from the block before it is not the step between the first blocks);
   median ns a pair of `rounds` heaps each. */
static int edge(int rounds)
{
   const size_t n = 64, pairs = 1000000, most = 4096;
   std::vector<double> fresh_ns, edge_ns;
   size_t              live = 0;
   for (int r = 0; r < rounds; r++)
      for (int at_edge = 0; at_edge < 2; at_edge++)
      {
         if (!heap_open(HEAP_CAPACITY))
            die("edge: cannot create a heap");
         std::vector<unsigned char *> held;
         if (at_edge)
         {
            for (size_t i = 0; i < most; i++)
            {
               unsigned char *p = static_cast<unsigned char *>(bench_alloc_malloc(n));
               if (!p)
                  die("edge: malloc failed");
               held.push_back(p);
               if (i >= 2 && p - held[i - 1] != held[1] - held[0])
                  break;   /* p starts what holds the next blocks */
            }
            bench_alloc_free(held.back(), n);   /* the loop's block is that one */
            held.pop_back();
            live = held.size();
         }
         uint64_t t0 = now_ns();
         for (size_t i = 0; i < pairs; i++)
         {
            unsigned char *p = static_cast<unsigned char *>(bench_alloc_malloc(n));
            *reinterpret_cast<volatile unsigned char *>(p) = 1;
            bench_alloc_free(p, n);
         }
         uint64_t t1 = now_ns();
         (at_edge ? edge_ns : fresh_ns).push_back(double(t1 - t0) / double(pairs));
         for (unsigned char *p : held)
            bench_alloc_free(p, n);
         heap_close();
      }
   printf("EDGE %s fresh_ns=%.2f edge_ns=%.2f live=%zu\n", ALLOC_NAME, median(fresh_ns), median(edge_ns), live);
   return 0;
}

int main(int argc, char **argv)
{
   if (argc < 2)
      usage();
   std::string mode = argv[1];
   if (mode == "list")
   {
      for (const char *w : WORKLOADS)
         puts(w);
      return 0;
   }
   if (mode == "edge")
      return edge(argc > 2 ? atoi(argv[2]) : 5);
#if defined(ALLOC_MULLE)
   if (mode == "scaling")
      return scaling(argc > 2 ? atoi(argv[2]) : 5);
   if (mode == "scaling-cg" && argc == 5)
      return scaling_cg(argv[2], size_t(atoll(argv[3])), size_t(atoll(argv[4])));
#endif
   if (argc < 3 || (mode != "time" && mode != "mem" && mode != "empty" && mode != "callgrind"))
      usage();
   std::string w     = argv[2];
   double      scale = argc > 3 ? atof(argv[3]) : 1.0;
   if (!(scale > 0))
      die("bad scale %s", argv[3]);

   trace_t t;
   if (!generate(t, w, scale))
      die("unknown workload %s (try: list)", w.c_str());
   bool   destroy = w == "teardown-destroy";
   size_t end     = destroy ? t.split : t.n;

   /* the slot table is touched here so that the empty baseline holds it too */
   slots_t s;
   s.p = static_cast<unsigned char **>(map_pages(t.nslots * sizeof(void *)));
   s.n = static_cast<uint32_t *>(map_pages(t.nslots * sizeof(uint32_t)));
   memset(s.p, 0, t.nslots * sizeof(void *));
   memset(s.n, 0, t.nslots * sizeof(uint32_t));
   uint64_t sum = t.checksum();

   if (mode == "empty")
   {
      printf("EMPTY %s %s hwm_kb=%ld rss_kb=%ld checksum=%016llx\n", w.c_str(), ALLOC_NAME, vm_hwm_kb(), vm_rss_kb(),
             (unsigned long long) sum);
      return 0;
   }
   if (!heap_open(HEAP_CAPACITY))
      die("cannot create a heap of %zu bytes", HEAP_CAPACITY);

   if (mode == "mem")
   {
      run_ops<true>(t, 0, end, s);
      if (destroy)
         release_all(t, s);
      long hwm = vm_hwm_kb();
      /* every trace frees what it allocated: what stays resident, and after the
         allocator's own call to give memory back (and how long that takes) */
      long     freed = vm_rss_kb();
      uint64_t t0    = now_ns();
      bench_alloc_trim();
      uint64_t t1      = now_ns();
      long     trimmed = vm_rss_kb();
      heap_close();
      printf("MEM %s %s hwm_kb=%ld peak_live=%llu rss_kb=%ld trim_rss_kb=%ld trim_ns=%llu checksum=%016llx\n",
             w.c_str(), ALLOC_NAME, hwm, (unsigned long long) t.peak_live, freed, trimmed,
             (unsigned long long) (t1 - t0), (unsigned long long) sum);
      return 0;
   }

   bool     cg = mode == "callgrind";
   uint64_t destroy_ns = 0;
   long     faults0 = minor_faults();
   if (cg)
      CALLGRIND_START_INSTRUMENTATION;
   uint64_t t0 = now_ns();
   run_ops<false>(t, 0, end, s);
   uint64_t t1 = now_ns();
   if (destroy)
   {
      /* what destroy releases is checked first, outside the clock */
      for (size_t k = 0; k < t.nslots; k++)
         if (s.p[k])
            check_block(t, end, uint32_t(k), s.p[k], s.n[k]);
      uint64_t t2 = now_ns();
      release_all(t, s);
      destroy_ns = now_ns() - t2;
   }
   if (cg)
      CALLGRIND_STOP_INSTRUMENTATION;
   uint64_t total = (t1 - t0) + destroy_ns;
   long     faults = minor_faults() - faults0;
   heap_close();

   /* teardown counts blocks (each allocated once and released once), the rest operations */
   size_t ops = t.blocks ? t.blocks : t.n;
   printf("RESULT %s %s ops=%zu ns=%llu ns_per_op=%.3f destroy_ns=%llu minor_faults=%ld peak_live=%llu checksum=%016llx\n",
          w.c_str(), ALLOC_NAME, ops, (unsigned long long) total, double(total) / double(ops),
          (unsigned long long) destroy_ns, faults, (unsigned long long) t.peak_live, (unsigned long long) sum);
   return 0;
}
