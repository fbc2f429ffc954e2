// Shared helpers of the mulle_dlmalloc suites: the layout numbers of the default
// configuration, byte patterns, a recording error handler, and the heap invariants that
// every suite checks after every kind of operation.
#ifndef MULLE_DLMALLOC_TEST_HELPERS_H
#define MULLE_DLMALLOC_TEST_HELPERS_H

#include <doctest/doctest.h>
#include "mulle_dlmalloc.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <initializer_list>
#include <vector>

// ---- memory checkers --------------------------------------------------------------------
// MULLE_TEST_ASAN      built with AddressSanitizer (detected, as the library detects it): every
//                      byte of a region that no block owns is poisoned, and mspace_usable_size
//                      reports the bytes ASan lets the user touch, the size asked for, not the
//                      chunk's usable size.
// MULLE_TEST_VALGRIND  built with -DMULLE_DLMALLOC_VALGRIND=1: under memcheck a block is a pool
//                      chunk of the size asked for; tags, free chunks and the top are no-access.
// MULLE_TEST_CHECKER   either. The suites then touch only the bytes a block was asked for, and
//                      the tests that read or corrupt the heap's own words on purpose do it
//                      through test::raw_copy / test::raw_set, which neither checker sees.
#if defined(__SANITIZE_ADDRESS__)
#  define MULLE_TEST_ASAN 1
#elif defined(__has_feature)
#  if __has_feature(address_sanitizer)
#    define MULLE_TEST_ASAN 1
#  endif
#endif
#ifndef MULLE_TEST_ASAN
#  define MULLE_TEST_ASAN 0
#endif

#if defined(MULLE_DLMALLOC_VALGRIND) && MULLE_DLMALLOC_VALGRIND
#  define MULLE_TEST_VALGRIND 1
#  include <valgrind/valgrind.h>
#  include <valgrind/memcheck.h>
#else
#  define MULLE_TEST_VALGRIND 0
#endif

#define MULLE_TEST_CHECKER (MULLE_TEST_ASAN || MULLE_TEST_VALGRIND)

#if MULLE_TEST_ASAN
#  define MULLE_TEST_NOASAN __attribute__((no_sanitize_address))
#else
#  define MULLE_TEST_NOASAN
#endif

namespace test {

// Layout of the default configuration, computed so that the numbers also hold on 32-bit:
// word W, alignment A, one word of overhead per in-use chunk, a minimum chunk of 4 words.
constexpr std::size_t W = sizeof(std::size_t);
constexpr std::size_t A = MULLE_DLMALLOC_ALIGNMENT;

constexpr std::size_t round_up(std::size_t n, std::size_t a) { return (n + a - 1) / a * a; }

constexpr std::size_t MIN_CHUNK = round_up(4 * W, A);
constexpr std::size_t GRANULARITY = 64 * 1024;            // MULLE_DLMALLOC_GRANULARITY default
constexpr std::size_t TRIM_THRESHOLD = 2 * 1024 * 1024;   // MULLE_DLMALLOC_TRIM_THRESHOLD default
#ifdef MULLE_DLMALLOC_PURGE_MIN   // a build may set them (test-notier purges eagerly)
constexpr std::size_t PURGE_MIN = MULLE_DLMALLOC_PURGE_MIN;
#else
constexpr std::size_t PURGE_MIN = 1024 * 1024;             // MULLE_DLMALLOC_PURGE_MIN default
#endif
#ifdef MULLE_DLMALLOC_PURGE_DELAY
constexpr std::size_t PURGE_DELAY = MULLE_DLMALLOC_PURGE_DELAY;
#else
constexpr std::size_t PURGE_DELAY = 4096;                  // MULLE_DLMALLOC_PURGE_DELAY default
#endif
constexpr std::size_t PURGE_SLOTS = 8;                     // the candidates that wait

// A list of sizes to loop over: `for (std::size_t n : sizes{0, 1, 24})`.
using sizes = std::initializer_list<std::size_t>;

constexpr std::size_t KiB = 1024;
constexpr std::size_t MiB = 1024 * 1024;

// What a block pays beyond its usable bytes: its head word, and at checks level 2 the
// canary word behind it (the suites also run in a level-2 build).
#if defined(MULLE_DLMALLOC_CHECKS) && MULLE_DLMALLOC_CHECKS >= 2
constexpr std::size_t CANARY = W;
#else
constexpr std::size_t CANARY = 0;
#endif
constexpr std::size_t OVERHEAD = W + CANARY;
// The small-object tier is on in the default build, off at checks level 2 (and in builds
// without an OS, or with MULLE_DLMALLOC_TIER=0): a request of up to TIER_MAX bytes is a
// slot of a 4 KiB page, SLOT bytes apart, with no head of its own. A request of UNCACHED
// bytes or more is always a chunk (it goes to the bins when freed), as is every request
// where the tier is off.
#if defined(MULLE_DLMALLOC_TIER)
constexpr bool TIER = MULLE_DLMALLOC_TIER && CANARY == 0 && A <= 64;
#else
constexpr bool TIER = CANARY == 0 && A <= 64;
#endif
// Fronts (MULLE_DLMALLOC_FRONTS, 4 by default where there are locks and the tier): each
// thread of a locked mspace takes its small blocks from pages of its own front.
#if defined(MULLE_DLMALLOC_FRONTS)
constexpr std::size_t FRONTS = TIER && MULLE_DLMALLOC_FRONTS > 1 ? MULLE_DLMALLOC_FRONTS : 1;
#else
constexpr std::size_t FRONTS = TIER ? 4 : 1;
#endif
constexpr std::size_t TIER_MAX = 256;
// A locked mspace with fronts takes requests up to FRONT_MAX bytes from its fronts' pages.
constexpr std::size_t FRONT_MAX = FRONTS > 1 ? 512 : TIER_MAX;
constexpr std::size_t SLOT = A < 16 ? 16 : A;
constexpr std::size_t PAGE = 4096;
constexpr std::size_t UNCACHED = 2048;
// A chunk of DV_TAKEOVER bytes or more that grew by merging with its free predecessor
// takes over as the designated victim (free.hpp): 1 KiB with the tier, 4 KiB without.
constexpr std::size_t DV_TAKEOVER = TIER ? 1024 : 4096;

// The chunk a request of n bytes takes where it is a chunk, and what mspace_usable_size
// reports for it.
constexpr std::size_t chunk_for(std::size_t n)
{
   return round_up(n + OVERHEAD, A) < MIN_CHUNK ? MIN_CHUNK : round_up(n + OVERHEAD, A);
}
constexpr bool is_slot(std::size_t n) { return TIER && n <= TIER_MAX; }
// a page's header (two links, four 16-bit fields, a 4-word bitmap, check, offset, with
// fronts the stack of remote frees and the queue link, epoch), its slots, and the next
// chunk's head at its end
constexpr std::size_t REMOTE_WORDS = FRONTS > 1 ? 2 : 0;
// each front's remote frees: a word of its own, a line apart, its queue and its pins
constexpr std::size_t REMOTE_STATE = FRONTS > 1 ? FRONTS * 88 : 0;
constexpr std::size_t PAGE_HEADER = round_up((5 + REMOTE_WORDS) * W + 8 + 32, SLOT);
constexpr std::size_t PAGE_CHECK_AT  = 2 * W + 8 + 32;      // where its check word is (in its first 64 bytes)
constexpr std::size_t PAGE_OFFSET_AT = PAGE_CHECK_AT + W;    // and its offset word
inline unsigned char *frame_of(const void *p)                    // the 4 KiB frame that holds p
{
   return reinterpret_cast<unsigned char *>(reinterpret_cast<std::uintptr_t>(p) & ~std::uintptr_t(PAGE - 1));
}
constexpr std::size_t slot_for(std::size_t n) { return n ? round_up(n, SLOT) : SLOT; }
// what mspace_usable_size reports for a block of n bytes: its slot's size, or its chunk's
// usable bytes
constexpr std::size_t usable_for(std::size_t n) { return is_slot(n) ? slot_for(n) : chunk_for(n) - OVERHEAD; }
constexpr std::size_t slots_per_page(std::size_t n) { return (PAGE - W - PAGE_HEADER) / slot_for(n); }

static_assert(W != 8 || CANARY != 0 || TIER || (usable_for(0) == 24 && usable_for(1) == 24 && usable_for(24) == 24 &&
                         usable_for(100) == 104 && usable_for(1000) == 1000 &&
                         chunk_for(100) == 112),
              "64-bit layout numbers of the contract");

// What mspace_usable_size may report for a block of n requested bytes in a chunk of
// chunk_for(n) bytes: usable_for(n); at checks level 2 n, which the block's canary records;
// under ASan n, the bytes it lets the user touch; under memcheck either (the pool chunk is
// n bytes, whatever the library reports).
constexpr bool usable_is(std::size_t reported, std::size_t n)
{
   return (MULLE_TEST_ASAN || CANARY != 0) ? reported == n
          : MULLE_TEST_VALGRIND ? reported == n || reported == usable_for(n)
                                : reported == usable_for(n);
}
// Whether mspace_usable_size may report the size asked for rather than the chunk's usable
// size (what mspace_inspect_all and the statistics count): under a checker, and at checks
// level 2.
constexpr bool USABLE_MAY_BE_ASKED = MULLE_TEST_CHECKER || CANARY != 0;

#define CHECK_USABLE(p, n)                                                                 \
   do {                                                                                    \
      const std::size_t usable_reported_ = mspace_usable_size(p);                          \
      INFO("mspace_usable_size(" #p ") = " << usable_reported_ << " for " << (n)           \
                                     << " bytes asked; usable_for = " << test::usable_for(n)); \
      CHECK(test::usable_is(usable_reported_, (n)));                                       \
   } while (0)

// The bytes of block p (n asked for) that a test may write: all its usable bytes, or under a
// checker the n it asked for (ASan reports exactly those; memcheck allows only those).
inline std::size_t writable(const void *p, std::size_t n)
{
   return MULLE_TEST_CHECKER ? n : mspace_usable_size(p);
}

// Deliberate reads and writes of memory no block owns (a head word, a freed block's links):
// for the tests that inspect or corrupt the heap on purpose. Byte loops, so that no
// intercepted memcpy checks them; neither ASan nor memcheck reports them.
MULLE_TEST_NOASAN inline void raw_copy(void *dst, const void *src, std::size_t n)
{
#if MULLE_TEST_VALGRIND
   VALGRIND_DISABLE_ERROR_REPORTING;
#endif
   volatile unsigned char *d = static_cast<volatile unsigned char *>(dst);
   const volatile unsigned char *s = static_cast<const volatile unsigned char *>(src);
   for (std::size_t i = 0; i < n; ++i)
      d[i] = s[i];
#if MULLE_TEST_VALGRIND
   VALGRIND_ENABLE_ERROR_REPORTING;
#endif
}

MULLE_TEST_NOASAN inline void raw_set(void *dst, unsigned char value, std::size_t n)
{
#if MULLE_TEST_VALGRIND
   VALGRIND_DISABLE_ERROR_REPORTING;
#endif
   volatile unsigned char *d = static_cast<volatile unsigned char *>(dst);
   for (std::size_t i = 0; i < n; ++i)
      d[i] = value;
#if MULLE_TEST_VALGRIND
   VALGRIND_ENABLE_ERROR_REPORTING;
#endif
}

// Whether the kernel marks the mapping that holds p as asking for transparent huge pages
// (the "hg" of its VmFlags in /proc/self/smaps, which madvise(MADV_HUGEPAGE) sets): 1 or
// 0; -1 where that cannot be read. Read on x86-64 and arm64 Linux only: the 32-bit suites
// run under qemu, whose /proc shows flags of its own.
inline int huge_pages_asked(const void *p)
{
#if defined(__linux__) && (defined(__x86_64__) || defined(__aarch64__))
   FILE *f = std::fopen("/proc/self/smaps", "r");
   if (!f)
      return -1;
   char           line[512];
   bool           inside = false;
   int            found  = -1;
   std::uintptr_t a      = reinterpret_cast<std::uintptr_t>(p);
   while (std::fgets(line, sizeof line, f))
   {
      unsigned long lo, hi;
      const char   *dash = std::strchr(line, '-'), *space = std::strchr(line, ' ');
      if (dash && space && dash < space && std::sscanf(line, "%lx-%lx ", &lo, &hi) == 2)
         inside = a >= lo && a < hi;
      else if (inside && std::strncmp(line, "VmFlags:", 8) == 0)
      {
         found = std::strstr(line, " hg") != nullptr;
         break;
      }
   }
   std::fclose(f);
   return found;
#else
   (void) p;
   return -1;
#endif
}

// Whether the kernel gives 2 MiB transparent huge pages to a mapping advised so: they are
// there and not off ("[never]"), and the huge page is 2 MiB. Where it does, an mspace made
// with MSPACE_HUGE_PAGES asks for them (huge_pages_asked); elsewhere it does not.
inline bool kernel_gives_huge_pages()
{
   char  line[128] = "";
   FILE *f = std::fopen("/sys/kernel/mm/transparent_hugepage/enabled", "r");
   if (!f)
      return false;
   if (!std::fgets(line, sizeof line, f))
      line[0] = '\0';
   std::fclose(f);
   unsigned long long pmd = 2ull << 20;
   if ((f = std::fopen("/sys/kernel/mm/transparent_hugepage/hpage_pmd_size", "r")) != nullptr)
   {
      if (std::fscanf(f, "%llu", &pmd) != 1)
         pmd = 2ull << 20;
      std::fclose(f);
   }
   return !std::strstr(line, "[never]") && pmd == (2ull << 20);
}

inline bool is_aligned(const void *p, std::size_t a)
{
   return reinterpret_cast<std::uintptr_t>(p) % a == 0;
}

inline unsigned char *bytes(void *p) { return static_cast<unsigned char *>(p); }

// The first A-aligned byte at or after p.
inline unsigned char *aligned(void *p)
{
   return bytes(p) + (A - reinterpret_cast<std::uintptr_t>(p) % A) % A;
}

// One word of the heap's own (or a freed block's) memory, past the memory checkers.
inline std::size_t read_word(const void *at)
{
   std::size_t w = 0;
   raw_copy(&w, at, W);
   return w;
}
inline void write_word(void *at, std::size_t w) { raw_copy(at, &w, W); }

// A byte pattern that differs between seeds and along the block, never a run of zeros.
inline unsigned char pattern_byte(std::uint32_t seed, std::size_t i)
{
   return static_cast<unsigned char>((std::size_t(seed) * 167u + i * 13u + (i >> 8) + 1u) & 0xFFu);
}

inline void fill(void *p, std::size_t n, std::uint32_t seed)
{
   unsigned char *b = bytes(p);
   for (std::size_t i = 0; i < n; ++i)
      b[i] = pattern_byte(seed, i);
}

inline bool verify(const void *p, std::size_t n, std::uint32_t seed)
{
   const unsigned char *b = static_cast<const unsigned char *>(p);
   for (std::size_t i = 0; i < n; ++i)
      if (b[i] != pattern_byte(seed, i))
         return false;
   return true;
}

inline bool all_bytes_are(const void *p, std::size_t n, unsigned char value)
{
   const unsigned char *b = static_cast<const unsigned char *>(p);
   for (std::size_t i = 0; i < n; ++i)
      if (b[i] != value)
         return false;
   return true;
}

// An error handler that records what it is told instead of aborting.
struct ErrorLog
{
   int count = 0;
   mspace_error_t last = MSPACE_ERROR_NONE;
   void *last_p = nullptr;
   mspace last_ms = nullptr;
   void *last_ctx = nullptr;

   static void record(mspace ms, mspace_error_t error, void *p, void *ctx)
   {
      ErrorLog *log = static_cast<ErrorLog *>(ctx);
      log->count++;
      log->last = error;
      log->last_p = p;
      log->last_ms = ms;
      log->last_ctx = ctx;
   }

   void install(mspace ms) { mspace_set_error_handler(ms, &ErrorLog::record, this); }
   void clear() { *this = ErrorLog(); }
};

inline mspace_stats_t stats_of(mspace ms)
{
   mspace_stats_t s;
   std::memset(&s, 0xEE, sizeof s);   // get_stats must fill every field
   mspace_get_stats(ms, &s);
   return s;
}

#define CHECK_SAME_STATS(a, b)                           \
   do {                                                  \
      CHECK((a).capacity == (b).capacity);               \
      CHECK((a).footprint == (b).footprint);             \
      CHECK((a).max_footprint == (b).max_footprint);     \
      CHECK((a).bookkeeping == (b).bookkeeping);         \
      CHECK((a).in_use_bytes == (b).in_use_bytes);       \
      CHECK((a).free_bytes == (b).free_bytes);           \
      CHECK((a).allocated_blocks == (b).allocated_blocks); \
      CHECK((a).free_blocks == (b).free_blocks);         \
      CHECK((a).top_bytes == (b).top_bytes);             \
      CHECK((a).largest_free == (b).largest_free);       \
   } while (0)

// The footprint ends on a granularity step measured from the region base, or at the
// capacity. Chunks sit on an A-aligned grid, so when base (or base + capacity) is not
// A-aligned the end is pulled back onto that grid: up to A - 1 bytes short of the step.
inline bool footprint_is_on_a_step(const mspace_stats_t &s)
{
   return round_up(s.footprint, GRANULARITY) - s.footprint < A || s.capacity - s.footprint < A;
}

// The invariants that hold after every operation: the stats identity, the footprint steps,
// the accessors agree with the stats, and mspace_check finds nothing.
inline void check_heap(mspace ms, const char *file, int line)
{
   INFO("heap invariants checked at " << file << ":" << line);
   mspace_stats_t s = stats_of(ms);
   CHECK(s.in_use_bytes + s.free_bytes + s.bookkeeping == s.footprint);
   CHECK(s.footprint <= s.capacity);
   CHECK(s.max_footprint >= s.footprint);
   CHECK(s.max_footprint <= s.capacity);
   CHECK(s.top_bytes <= s.free_bytes);
   CHECK(footprint_is_on_a_step(s));
   CHECK(s.in_use_bytes >= s.allocated_blocks * (TIER && SLOT < MIN_CHUNK ? SLOT : MIN_CHUNK));   // a slot can be smaller than a chunk
   CHECK(s.free_bytes - s.top_bytes >= s.free_blocks * MIN_CHUNK);
   CHECK(mspace_footprint(ms) == s.footprint);
   CHECK(mspace_max_footprint(ms) == s.max_footprint);
   CHECK(mspace_check(ms) == 0);
}
#define CHECK_HEAP(ms) test::check_heap((ms), __FILE__, __LINE__)

// largest_free is exact: a request of that size succeeds now, a larger one fails.
inline void check_largest_free(mspace ms, const char *file, int line)
{
   INFO("largest_free checked at " << file << ":" << line);
   mspace_stats_t s = stats_of(ms);
   if (s.largest_free > 0)
   {
      void *p = mspace_malloc(ms, s.largest_free);
      CHECK(p != nullptr);
      if (p)
      {
         CHECK(mspace_usable_size(p) >= s.largest_free);
         mspace_free(ms, p);
      }
   }
   void *q = mspace_malloc(ms, s.largest_free + A);
   CHECK(q == nullptr);
   if (q)
      mspace_free(ms, q);
}
#define CHECK_LARGEST_FREE(ms) test::check_largest_free((ms), __FILE__, __LINE__)

// What mspace_inspect_all reports, one entry per chunk.
struct Chunk
{
   unsigned char *start;
   unsigned char *end;
   std::size_t used;
};

inline void collect_chunk(void *start, void *end, std::size_t used, void *arg)
{
   static_cast<std::vector<Chunk> *>(arg)->push_back(Chunk{bytes(start), bytes(end), used});
}

inline std::vector<Chunk> chunks_of(mspace ms)
{
   std::vector<Chunk> chunks;
   mspace_inspect_all(ms, &collect_chunk, &chunks);
   return chunks;
}

// Caller memory for mspace_create_with_base: `base` is 64-aligned, so base + k has a known
// misalignment; the bytes around it are set to `fill` so that stray writes show.
struct Buffer
{
   std::vector<unsigned char> storage;
   unsigned char *base;

   explicit Buffer(std::size_t n, unsigned char fill_byte = 0) : storage(n + 256, fill_byte)
   {
      std::uintptr_t a = reinterpret_cast<std::uintptr_t>(storage.data());
      base = storage.data() + 64 + (64 - a % 64) % 64;
   }
};

// The ranges mspace_inspect_all reports as free slots of exactly `size` bytes: the free
// slots of pages cut for that size (an empty page reports every slot so).
inline std::size_t free_slot_ranges(mspace ms, std::size_t size)
{
   struct Count { std::size_t size, n; } c = {size, 0};
   mspace_inspect_all(ms, [](void *start, void *end, size_t used, void *arg) {
      auto *k = static_cast<Count *>(arg);
      if (!used && std::size_t(bytes(end) - bytes(start)) == k->size)
         k->n++;
   }, &c);
   return c.n;
}

}  // namespace test

#endif
