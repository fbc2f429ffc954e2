/* threads.cpp — the threaded benchmark family, one program built once per allocator.

   The allocator is chosen at compile time, as in bench.cpp: -DALLOC_MULLE (one mspace with
   MSPACE_LOCKED shared by every thread; with the argument `unlocked`, a plain mspace used
   by one thread, the baseline the lock is measured against), -DALLOC_GLIBC (malloc/free),
   -DALLOC_MIMALLOC (mi_malloc/mi_free), -DALLOC_JEMALLOC (malloc/free of libjemalloc, which
   replaces the process's malloc when linked). Every thread uses the one process-wide heap
   of its allocator: the point is how each of them copes with threads sharing it.

   Workloads (argv[1]):
     threads-churn T      T threads, each with its own 256 slots; N times per thread a random
                          slot's block is freed (its first and last byte checked) and a new
                          one of 16..271 bytes allocated (first and last byte written); then
                          the thread frees what it still holds. Every thread does 2 N ops.
     producer-consumer T  T/2 pairs (T even, at least 2): the producer of a pair allocates N
                          blocks of 16..271 bytes (first and last byte written) in batches of
                          256 and hands each full batch to its consumer through a queue four
                          batches deep; the consumer checks the bytes and frees the blocks:
                          every free is of a block another thread allocated. 2 N ops a pair.
   N is 2 000 000, times the optional SCALE (argv[3]). A malloc and a free are one operation
   each. The clock runs from the moment every thread is ready to the last one joined.

   usage: threads_<alloc> threads-churn|producer-consumer THREADS [SCALE] [unlocked]
   prints: RESULT workload allocator threads=T ops=... ns=... ns_per_op=... cpu_ns=...
           checksum=...
   ns_per_op is the wall time over all operations of all threads (aggregate); cpu_ns is the
   CPU time of the process over the same span (time spent spinning on a lock shows there);
   checksum covers the sizes drawn, the same for every allocator. Sizes and slots come from
   a splitmix64 generator per thread with a fixed seed.                                   */

#include <atomic>
#include <chrono>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string>
#include <thread>
#include <vector>

#include <sched.h>
#include <sys/mman.h>
#include <time.h>

#include "common.h"

#define NOINLINE __attribute__((noinline))

/* ==== allocator adapters ================================================================

   heap_open(unlocked), heap_close(), and the two operations as non-inlined functions, the
   same call for every allocator (as bench.cpp's bench_alloc_*). */

static const size_t HEAP_CAPACITY = size_t(1) << 30; /* reserved, committed as used */
static bool         g_unlocked;                      /* mulle: the one-thread baseline */

#if defined(ALLOC_MULLE)
#  define MULLE_DLMALLOC_IMPLEMENTATION
#  include "../mulle_dlmalloc.hpp"
static const char *const ALLOC_NAME = "mulle";
static mspace            g_ms;
static bool heap_open()
{
   g_ms = g_unlocked ? mspace_create(HEAP_CAPACITY) : mspace_create_flags(HEAP_CAPACITY, MSPACE_LOCKED);
   return g_ms != NULL;
}
static void heap_close() { if (g_ms) mspace_destroy(g_ms); g_ms = NULL; }
extern "C" {
NOINLINE void *bench_alloc_malloc(size_t n) { return mspace_malloc(g_ms, n); }
NOINLINE void  bench_alloc_free(void *p) { mspace_free(g_ms, p); }
}

#elif defined(ALLOC_GLIBC)
static const char *const ALLOC_NAME = "glibc";
static bool heap_open() { return true; }
static void heap_close() {}
extern "C" {
NOINLINE void *bench_alloc_malloc(size_t n) { return malloc(n); }
NOINLINE void  bench_alloc_free(void *p) { free(p); }
}

#elif defined(ALLOC_MIMALLOC)
#  include <mimalloc.h>
static const char *const ALLOC_NAME = "mimalloc";
static bool heap_open() { return true; }
static void heap_close() {}
extern "C" {
NOINLINE void *bench_alloc_malloc(size_t n) { return mi_malloc(n); }
NOINLINE void  bench_alloc_free(void *p) { mi_free(p); }
}

#elif defined(ALLOC_JEMALLOC)
#  include <jemalloc/jemalloc.h>
static const char *const ALLOC_NAME = "jemalloc";
/* malloc is jemalloc's only if the link put libjemalloc first: check that once, through
   the thread's byte counter, which only jemalloc's malloc moves. */
static bool heap_open()
{
   uint64_t before = 0, after = 0;
   size_t   sz     = sizeof before;
   if (mallctl("thread.allocated", &before, &sz, NULL, 0) != 0)
      return false;
   void *volatile p = malloc(1000);
   sz               = sizeof after;
   mallctl("thread.allocated", &after, &sz, NULL, 0);
   free(p);
   return after >= before + 1000;
}
static void heap_close() {}
extern "C" {
NOINLINE void *bench_alloc_malloc(size_t n) { return malloc(n); }
NOINLINE void  bench_alloc_free(void *p) { free(p); }
}

#else
#  error "define one of ALLOC_MULLE ALLOC_GLIBC ALLOC_MIMALLOC ALLOC_JEMALLOC"
#endif

/* ==== small helpers ===================================================================== */

static const char *alloc_label() { return g_unlocked ? "mulle-unlocked" : ALLOC_NAME; }

[[noreturn]] static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void              die(const char *fmt, ...)
{
   va_list ap;
   va_start(ap, fmt);
   fprintf(stderr, "threads_%s: ", alloc_label());
   vfprintf(stderr, fmt, ap);
   fputc('\n', stderr);
   va_end(ap);
   exit(2);
}

/* Per-thread state comes from mmap: never from the heap under test, never sharing a cache
   line (or a page) with another thread's. */
static void *map_pages(size_t bytes)
{
   void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
   if (p == MAP_FAILED)
      die("mmap of %zu bytes failed", bytes);
   memset(p, 0, bytes); /* touched now, not on the clock */
   return p;
}

static uint64_t now_ns()
{
   return uint64_t(std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch()).count());
}

static uint64_t cpu_ns()
{
   struct timespec ts;
   clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
   return uint64_t(ts.tv_sec) * 1000000000ull + uint64_t(ts.tv_nsec);
}

static inline void cpu_relax()
{
#if defined(__x86_64__) || defined(__i386__)
   __builtin_ia32_pause();
#elif defined(__aarch64__)
   __asm__ __volatile__("yield");
#endif
}

/* Wait for cond(): a short spin, then yield to the OS (threads may outnumber the cores). */
template<class F>
static inline void wait_until(F cond)
{
   for (int i = 0; !cond(); i++)
   {
      if (i < 64)
         cpu_relax();
      else
         sched_yield();
   }
}

/* The tags of a block: its first and last byte, from a key (slot or sequence) and its size. */
static inline unsigned char tag_first(uint64_t key, uint32_t size) { return (unsigned char) (key * 0x9Du + size * 0x3Bu + 0x11u); }
static inline unsigned char tag_last(uint64_t key, uint32_t size) { return (unsigned char) (tag_first(key, size) ^ 0xA5u); }

static inline unsigned char *alloc_block(uint64_t key, uint32_t size)
{
   unsigned char *p = static_cast<unsigned char *>(bench_alloc_malloc(size));
   if (!p)
      die("malloc(%u) returned NULL", size);
   p[0]        = tag_first(key, size);
   p[size - 1] = tag_last(key, size);
   return p;
}

[[noreturn]] NOINLINE static void corrupted(const char *w, unsigned id, uint64_t key, uint32_t size, const char *which,
                                             unsigned got, unsigned want)
{
   die("%s: thread %u, block %llu of %u bytes: %s byte is 0x%02x, expected 0x%02x (the allocator overwrote live "
       "memory)", w, id, (unsigned long long) key, size, which, got, want);
}

static inline void free_block(const char *w, unsigned id, uint64_t key, unsigned char *p, uint32_t size)
{
   if (p[0] != tag_first(key, size))
      corrupted(w, id, key, size, "first", p[0], tag_first(key, size));
   if (p[size - 1] != tag_last(key, size))
      corrupted(w, id, key, size, "last", p[size - 1], tag_last(key, size));
   bench_alloc_free(p);
}

/* A block's size, 16..271 bytes, from the low byte of a draw. */
static inline uint32_t draw_size(uint64_t r) { return 16u + uint32_t(r & 255u); }

/* The start line: every thread reports ready, the main thread starts the clock and opens it. */
static std::atomic<unsigned> g_ready{0};
static std::atomic<bool>     g_go{false};

static void start_line()
{
   g_ready.fetch_add(1, std::memory_order_acq_rel);
   wait_until([] { return g_go.load(std::memory_order_acquire); });
}

/* ==== threads-churn ===================================================================== */

enum { CHURN_SLOTS = 256 };

struct alignas(64) churn_thread
{
   unsigned char *p[CHURN_SLOTS];
   uint32_t       n[CHURN_SLOTS];
   uint64_t       sizes; /* sum of the sizes drawn */
};

static void churn_worker(churn_thread *t, unsigned id, size_t rounds)
{
   splitmix64 r{0x7468726561647300ull + id}; /* fixed seed per thread */
   uint64_t   sum = 0;
   start_line();
   for (size_t i = 0; i < rounds; i++)
   {
      uint64_t x    = r.next();
      uint32_t slot = uint32_t(x >> 8) & (CHURN_SLOTS - 1);
      uint32_t size = draw_size(x);
      if (t->p[slot])
         free_block("threads-churn", id, slot, t->p[slot], t->n[slot]);
      t->p[slot] = alloc_block(slot, size);
      t->n[slot] = size;
      sum += size;
   }
   /* what is left goes too, so that every thread does `rounds` mallocs and as many frees */
   for (uint32_t slot = 0; slot < CHURN_SLOTS; slot++)
      if (t->p[slot])
         free_block("threads-churn", id, slot, t->p[slot], t->n[slot]), t->p[slot] = NULL;
   t->sizes = sum;
}

/* ==== producer-consumer ================================================================= */

enum { BATCH = 256, QUEUE_DEPTH = 4 };

struct batch_t
{
   uint32_t       count;
   uint32_t       n[BATCH];
   unsigned char *p[BATCH];
};

/* A single-producer single-consumer ring of QUEUE_DEPTH batches. The producer fills the
   batch at tail while fewer than QUEUE_DEPTH are queued and publishes it by moving tail;
   the consumer frees the batch at head and hands its place back by moving head. */
struct alignas(64) pair_queue
{
   alignas(64) std::atomic<uint64_t> head;
   alignas(64) std::atomic<uint64_t> tail;
   alignas(64) batch_t slot[QUEUE_DEPTH];
   uint64_t sizes; /* producer: the sum of the sizes drawn */
};

static void producer(pair_queue *q, unsigned pair, size_t blocks)
{
   splitmix64 r{0x70726f6475636500ull + pair};
   uint64_t   sum = 0, tail = 0, seq = 0;
   start_line();
   while (seq < blocks)
   {
      wait_until([&] { return tail - q->head.load(std::memory_order_acquire) < QUEUE_DEPTH; });
      batch_t &b = q->slot[tail % QUEUE_DEPTH];
      uint32_t k = uint32_t(blocks - seq < size_t(BATCH) ? blocks - seq : size_t(BATCH));
      for (uint32_t i = 0; i < k; i++, seq++)
      {
         uint32_t size = draw_size(r.next());
         b.p[i]        = alloc_block(seq, size);
         b.n[i]        = size;
         sum += size;
      }
      b.count = k;
      q->tail.store(++tail, std::memory_order_release);
   }
   q->sizes = sum;
}

static void consumer(pair_queue *q, unsigned pair, size_t blocks)
{
   uint64_t head = 0, seq = 0;
   start_line();
   while (seq < blocks)
   {
      wait_until([&] { return q->tail.load(std::memory_order_acquire) != head; });
      batch_t &b = q->slot[head % QUEUE_DEPTH];
      for (uint32_t i = 0; i < b.count; i++, seq++)
         free_block("producer-consumer", pair, seq, b.p[i], b.n[i]);
      q->head.store(++head, std::memory_order_release);
   }
}

/* ==== main ============================================================================== */

static void usage()
{
   fprintf(stderr, "usage: threads_%s threads-churn|producer-consumer THREADS [SCALE]%s\n", ALLOC_NAME,
#if defined(ALLOC_MULLE)
           " [unlocked]\n  unlocked: threads-churn 1 on an mspace without MSPACE_LOCKED"
#else
           ""
#endif
   );
   exit(2);
}

int main(int argc, char **argv)
{
   std::vector<std::string> args;
   for (int i = 1; i < argc; i++)
   {
#if defined(ALLOC_MULLE)
      if (!strcmp(argv[i], "unlocked"))
      {
         g_unlocked = true;
         continue;
      }
#endif
      args.push_back(argv[i]);
   }
   if (args.size() < 2 || args.size() > 3)
      usage();
   const std::string w       = args[0];
   const int         threads = atoi(args[1].c_str());
   const double      scale   = args.size() > 2 ? atof(args[2].c_str()) : 1.0;
   const bool        churn   = w == "threads-churn";
   if (!churn && w != "producer-consumer")
      usage();
   if (threads < 1 || threads > 1024)
      die("bad thread count %s", args[1].c_str());
   if (!(scale > 0))
      die("bad scale %s", args[2].c_str());
   if (!churn && (threads < 2 || threads % 2))
      die("producer-consumer needs an even number of threads, at least 2 (got %d)", threads);
   if (g_unlocked && (!churn || threads != 1))
      die("unlocked: an mspace without a lock is for one thread: threads-churn 1 only");

   size_t n = size_t(2e6 * scale + 0.5); /* per thread (churn) or per pair */
   if (n < 1)
      n = 1;
   if (!heap_open())
      die("cannot open the heap");

   std::vector<std::thread> pool;
   churn_thread            *ct = NULL;
   pair_queue              *pq = NULL;
   size_t                   ops;
   if (churn)
   {
      ct = static_cast<churn_thread *>(map_pages(sizeof(churn_thread) * size_t(threads)));
      for (int i = 0; i < threads; i++)
      {
         new (ct + i) churn_thread();
         pool.emplace_back(churn_worker, ct + i, unsigned(i), n);
      }
      ops = 2 * n * size_t(threads);
   }
   else
   {
      int pairs = threads / 2;
      pq        = static_cast<pair_queue *>(map_pages(sizeof(pair_queue) * size_t(pairs)));
      for (int i = 0; i < pairs; i++)
      {
         new (pq + i) pair_queue();
         pool.emplace_back(producer, pq + i, unsigned(i), n);
         pool.emplace_back(consumer, pq + i, unsigned(i), n);
      }
      ops = 2 * n * size_t(pairs);
   }

   wait_until([&] { return g_ready.load(std::memory_order_acquire) == unsigned(threads); });
   uint64_t c0 = cpu_ns();
   uint64_t t0 = now_ns();
   g_go.store(true, std::memory_order_release);
   for (auto &th : pool)
      th.join();
   uint64_t t1 = now_ns();
   uint64_t c1 = cpu_ns();

   /* the checksum: the sizes drawn, in thread (pair) order, folded */
   uint64_t sum = 0x6a09e667f3bcc908ull;
   int      k   = churn ? threads : threads / 2;
   for (int i = 0; i < k; i++)
   {
      sum ^= churn ? ct[i].sizes : pq[i].sizes;
      sum *= 0x100000001b3ull;
   }
   heap_close();

   printf("RESULT %s %s threads=%d ops=%zu ns=%llu ns_per_op=%.3f cpu_ns=%llu checksum=%016llx\n", w.c_str(),
          alloc_label(), threads, ops, (unsigned long long) (t1 - t0), double(t1 - t0) / double(ops),
          (unsigned long long) (c1 - c0), (unsigned long long) sum);
   return 0;
}
