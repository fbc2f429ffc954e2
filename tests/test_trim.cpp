// mspace_trim, auto-trim, and what they (and reset, destroy) give back to the OS.
#include <doctest/doctest.h>
#include "mulle_dlmalloc.hpp"
#include "test_helpers.h"

#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#ifdef __linux__
#include <unistd.h>
#endif

using namespace test;

TEST_CASE("trim(0) gives back the whole free top")
{
   mspace ms = mspace_create(64 * MiB);
   REQUIRE(ms != nullptr);
   const mspace_stats_t fresh = stats_of(ms);
   CHECK(mspace_trim(ms, 0) == 0);   // nothing to release in a new mspace
   CHECK(mspace_footprint(ms) == fresh.footprint);

   void *p = mspace_malloc(ms, 1 * MiB);
   REQUIRE(p != nullptr);
   const std::size_t grown = mspace_footprint(ms);
   CHECK(grown > 1 * MiB);
   mspace_free(ms, p);   // 1 MiB is below the trim threshold: no auto-trim
   CHECK(mspace_footprint(ms) == grown);
   CHECK_HEAP(ms);

   CHECK(mspace_trim(ms, 0) == 1);
   CHECK(mspace_footprint(ms) == round_up(fresh.bookkeeping + MIN_CHUNK, GRANULARITY));
   CHECK(mspace_footprint(ms) == fresh.footprint);
   CHECK(mspace_max_footprint(ms) == grown);
   CHECK(mspace_trim(ms, 0) == 0);   // a second trim has nothing left
   CHECK_HEAP(ms);
   CHECK_LARGEST_FREE(ms);
   CHECK(mspace_destroy(ms) == 0);
}

TEST_CASE("trim(pad) keeps pad bytes of the top")
{
   mspace ms = mspace_create(64 * MiB);
   REQUIRE(ms != nullptr);
   const std::size_t bookkeeping = stats_of(ms).bookkeeping;
   void *p = mspace_malloc(ms, 1 * MiB + 100000);
   REQUIRE(p != nullptr);
   mspace_free(ms, p);
   const std::size_t grown = mspace_footprint(ms);

   CHECK(mspace_trim(ms, 10 * MiB) == 0);   // more pad than top: nothing to release
   CHECK(mspace_footprint(ms) == grown);

   const std::size_t pad = 300000;
   CHECK(mspace_trim(ms, pad) == 1);
   CHECK(mspace_footprint(ms) == round_up(bookkeeping + MIN_CHUNK + pad, GRANULARITY));
   CHECK(stats_of(ms).top_bytes >= pad);
   CHECK(mspace_trim(ms, pad) == 0);
   CHECK_HEAP(ms);

   CHECK(mspace_trim(ms, 0) == 1);
   CHECK(mspace_footprint(ms) == GRANULARITY);
   CHECK_HEAP(ms);
   CHECK(mspace_destroy(ms) == 0);
}

TEST_CASE("trim with a pad as large as the room left releases nothing")
{
   mspace ms = mspace_create(1 * MiB);
   REQUIRE(ms != nullptr);
   void *p = mspace_malloc(ms, 512 * KiB);
   REQUIRE(p != nullptr);
   mspace_free(ms, p);
   const std::size_t grown = mspace_footprint(ms);
   CHECK(grown > 512 * KiB);
   // the empty heap's top could grow by max_request plus a minimum chunk and a word:
   // every pad from there up keeps it all
   const std::size_t max = mspace_max_request(ms);
   for (std::size_t pad = max - 2 * A; pad <= max + 2 * MIN_CHUNK + 2 * A; ++pad)
   {
      CAPTURE(pad);
      CHECK(mspace_trim(ms, pad) == 0);
      CHECK(mspace_footprint(ms) == grown);
   }
   CHECK(mspace_trim(ms, SIZE_MAX) == 0);
   CHECK(mspace_trim(ms, 0) == 1);
   CHECK_HEAP(ms);
   CHECK(mspace_destroy(ms) == 0);
}

TEST_CASE("trim stops at the last block in use")
{
   mspace ms = mspace_create(64 * MiB);
   REQUIRE(ms != nullptr);
   const std::size_t bookkeeping = stats_of(ms).bookkeeping;
   void *a = mspace_malloc(ms, 200000);
   void *b = mspace_malloc(ms, 1 * MiB);
   REQUIRE((a && b));
   fill(a, 200000, 1);
   mspace_free(ms, b);
   CHECK(mspace_trim(ms, 0) == 1);
   CHECK(mspace_footprint(ms) == round_up(bookkeeping + chunk_for(200000) + MIN_CHUNK, GRANULARITY));
   CHECK(verify(a, 200000, 1));
   CHECK_HEAP(ms);

   // free chunks below the last block in use are not released
   void *c = mspace_malloc(ms, 100);
   REQUIRE(c != nullptr);
   mspace_free(ms, a);
   const std::size_t before = mspace_footprint(ms);
   CHECK(mspace_trim(ms, 0) == 0);
   CHECK(mspace_footprint(ms) == before);
   CHECK_HEAP(ms);
   CHECK(mspace_destroy(ms) == 0);
}

TEST_CASE("a free that leaves more than the trim threshold at the top trims by itself")
{
   mspace ms = mspace_create(64 * MiB);
   REQUIRE(ms != nullptr);
   const std::size_t fresh = mspace_footprint(ms);

   SUBCASE("one big block")
   {
      void *p = mspace_malloc(ms, 8 * MiB);
      REQUIRE(p != nullptr);
      const std::size_t grown = mspace_footprint(ms);
      CHECK(grown > 8 * MiB);
      mspace_free(ms, p);
      CHECK(mspace_footprint(ms) < grown);
      CHECK(mspace_footprint(ms) <= fresh + TRIM_THRESHOLD);
      CHECK(mspace_max_footprint(ms) == grown);
   }
   SUBCASE("two blocks below the threshold that coalesce above it")
   {
      void *a = mspace_malloc(ms, 1536 * KiB);
      void *b = mspace_malloc(ms, 1536 * KiB);
      REQUIRE((a && b));
      const std::size_t grown = mspace_footprint(ms);
      mspace_free(ms, a);   // not next to the top
      CHECK(mspace_footprint(ms) == grown);
      mspace_free(ms, b);   // a + b + top > 2 MiB
      CHECK(mspace_footprint(ms) < grown);
      CHECK(mspace_footprint(ms) <= fresh + TRIM_THRESHOLD);
   }
   SUBCASE("a block below the threshold stays until an explicit trim")
   {
      void *p = mspace_malloc(ms, 1536 * KiB);
      REQUIRE(p != nullptr);
      const std::size_t grown = mspace_footprint(ms);
      mspace_free(ms, p);
      CHECK(mspace_footprint(ms) == grown);
      CHECK(mspace_trim(ms, 0) == 1);
      CHECK(mspace_footprint(ms) == fresh);
   }
   CHECK(stats_of(ms).allocated_blocks == 0);
   CHECK_HEAP(ms);
   CHECK(mspace_destroy(ms) == 0);
}

TEST_CASE("an mspace with MSPACE_HUGE_PAGES whose advice the kernel took trims its top by itself, in whole huge pages")
{
   // a huge page given back in part is split, and faults in again 4 KiB at a time: the
   // footprint moves in huge pages; where the kernel refused the advice (or there is
   // none), in GRANULARITY steps as in any other heap
   mspace ms = mspace_create_flags(64 * MiB, MSPACE_HUGE_PAGES);
   REQUIRE(ms != nullptr);
   const int         taken = huge_pages_asked(ms);
   const std::size_t step  = taken == 1 ? 2 * MiB : GRANULARITY;
   const std::size_t fresh = mspace_footprint(ms);
   void *p = mspace_malloc(ms, 8 * MiB + 100);
   REQUIRE(p != nullptr);
   const std::size_t grown = mspace_footprint(ms);
   CHECK(grown > 8 * MiB);
   mspace_free(ms, p);   // the top passes the threshold: it trims by itself
   const std::size_t trimmed = mspace_footprint(ms);
   MESSAGE("huge pages " << std::string(taken == 1 ? "taken" : taken == 0 ? "refused" : "not known") << ": footprint "
           << fresh / KiB << " KiB fresh, " << grown / KiB << " KiB grown, " << trimmed / KiB << " KiB after the free");
   CHECK(trimmed < grown);
   // the region starts on a huge page: so do the steps (the footprint's end lies on the
   // chunk grid, less than an alignment below a step where the alignment is above 2 words)
   auto on_step = [&](std::size_t x) { return x % step == 0 || step - x % step < A; };
   if (taken >= 0)
   {
      CHECK(on_step(fresh));
      CHECK(on_step(grown));
      CHECK(on_step(trimmed));
   }
   if (taken == 1)
      CHECK(fresh > 2 * MiB - A);   // the state and the top's first bytes: one huge page
   if (taken >= 0)
      CHECK(fresh <= step);
   void *q = mspace_malloc(ms, 3 * MiB);   // grows back, and trims again
   REQUIRE(q != nullptr);
   fill(q, 3 * MiB, 7);
   CHECK(verify(q, 3 * MiB, 7));
   mspace_free(ms, q);
   mspace_trim(ms, 0);
   CHECK(mspace_footprint(ms) == fresh);
   CHECK_HEAP(ms);
   CHECK(mspace_destroy(ms) == 0);
}

TEST_CASE("trim in a caller buffer shrinks the footprint")
{
   Buffer buf(1 * MiB);
   mspace ms = mspace_create_with_base(buf.base + 1, 1 * MiB - 1);
   REQUIRE(ms != nullptr);
   void *p = mspace_malloc(ms, 500000);
   REQUIRE(p != nullptr);
   mspace_free(ms, p);
   CHECK(mspace_footprint(ms) > 500000);
   CHECK(mspace_trim(ms, 0) == 1);
   CHECK(mspace_footprint(ms) <= GRANULARITY);   // base + 1: pulled back onto the chunk grid
   CHECK(mspace_footprint(ms) > GRANULARITY - A);
   CHECK(mspace_trim(ms, 0) == 0);
   CHECK_HEAP(ms);
   CHECK(mspace_destroy(ms) == 0);

   // below one granularity step the footprint is the capacity: nothing to trim
   Buffer small(8192);
   mspace tiny = mspace_create_with_base(small.base, 8192);
   REQUIRE(tiny != nullptr);
   void *q = mspace_malloc(tiny, 2000);
   REQUIRE(q != nullptr);
   mspace_free(tiny, q);
   CHECK(mspace_trim(tiny, 0) == 0);
   CHECK(mspace_footprint(tiny) == 8192);
   CHECK_HEAP(tiny);
   CHECK(mspace_destroy(tiny) == 0);
}

TEST_CASE("memory above a trimmed top can be allocated and written again")
{
   mspace ms = mspace_create(16 * MiB);
   REQUIRE(ms != nullptr);
   for (int round = 0; round < 3; ++round)
   {
      void *p = mspace_malloc(ms, 4 * MiB);
      REQUIRE(p != nullptr);
      fill(p, 4 * MiB, std::uint32_t(round));
      CHECK(verify(p, 4 * MiB, std::uint32_t(round)));
      mspace_free(ms, p);
      mspace_trim(ms, 0);
      CHECK(mspace_footprint(ms) == GRANULARITY);
      CHECK_HEAP(ms);
   }
   CHECK(mspace_destroy(ms) == 0);
}

#ifdef __linux__

namespace {

std::size_t resident_bytes()
{
   unsigned long size = 0, resident = 0;
   FILE *f = std::fopen("/proc/self/statm", "r");
   REQUIRE(f != nullptr);
   REQUIRE(std::fscanf(f, "%lu %lu", &size, &resident) == 2);
   std::fclose(f);
   return std::size_t(resident) * std::size_t(sysconf(_SC_PAGESIZE));
}

// How far resident memory fell from `from` to `to`; 0 if it grew.
std::size_t drop(std::size_t from, std::size_t to) { return from > to ? from - to : 0; }

}  // namespace

TEST_CASE("resident memory drops after free + trim of a big written block")
{
   mspace ms = mspace_create(128 * MiB);
   REQUIRE(ms != nullptr);
   const std::size_t block = 64 * MiB;
   const std::size_t before = resident_bytes();
   void *p = mspace_malloc(ms, block);
   REQUIRE(p != nullptr);
   std::memset(p, 0x5A, block);
   const std::size_t written = resident_bytes();
   CHECK(written >= before + block / 10 * 9);

   mspace_free(ms, p);   // auto-trim: the top is far above the threshold
   CHECK(mspace_footprint(ms) <= GRANULARITY + TRIM_THRESHOLD);
   mspace_trim(ms, 0);
   const std::size_t after = resident_bytes();
   MESSAGE("64 MiB block: resident " << written / KiB << " KiB written, " << after / KiB
           << " KiB after free + trim, drop " << drop(written, after) / KiB << " KiB");
   CHECK(drop(written, after) >= block / 10 * 9);
   CHECK(mspace_footprint(ms) == GRANULARITY);
   CHECK(mspace_destroy(ms) == 0);
}

TEST_CASE("resident memory drops after an explicit trim of a block below the threshold")
{
   mspace ms = mspace_create(16 * MiB);
   REQUIRE(ms != nullptr);
   const std::size_t block = 1536 * KiB;
   void *p = mspace_malloc(ms, block);
   REQUIRE(p != nullptr);
   std::memset(p, 0x5A, block);
   mspace_free(ms, p);
   const std::size_t grown = mspace_footprint(ms);
   CHECK(grown > block);   // still there: below the threshold
   const std::size_t before = resident_bytes();
   CHECK(mspace_trim(ms, 0) == 1);
   const std::size_t after = resident_bytes();
   MESSAGE("1.5 MiB block: explicit trim dropped resident memory by " << drop(before, after) / KiB << " KiB");
   CHECK(drop(before, after) >= 1 * MiB);
   CHECK(mspace_footprint(ms) == GRANULARITY);
   CHECK(mspace_destroy(ms) == 0);
}

TEST_CASE("mspace_reset and mspace_destroy give the pages back")
{
   mspace ms = mspace_create(64 * MiB);
   REQUIRE(ms != nullptr);
   const std::size_t before = resident_bytes();
   for (int i = 0; i < 32; ++i)   // blocks below the threshold: no auto-trim
   {
      void *p = mspace_malloc(ms, 1 * MiB);
      REQUIRE(p != nullptr);
      std::memset(p, 0x5A, 1 * MiB);
   }
   const std::size_t written = resident_bytes();
   CHECK(written >= before + 28 * MiB);
   mspace_reset(ms);
   const std::size_t after_reset = resident_bytes();
   MESSAGE("reset of 32 MiB in use: resident drop " << drop(written, after_reset) / KiB << " KiB");
   CHECK(drop(written, after_reset) >= 28 * MiB);
   CHECK(mspace_footprint(ms) == GRANULARITY);
   CHECK(mspace_max_footprint(ms) >= 32 * MiB);

   for (int i = 0; i < 32; ++i)
   {
      void *p = mspace_malloc(ms, 1 * MiB);
      REQUIRE(p != nullptr);
      std::memset(p, 0x5A, 1 * MiB);
   }
   const std::size_t rewritten = resident_bytes();
   CHECK(mspace_destroy(ms) == 0);
   const std::size_t after_destroy = resident_bytes();
   MESSAGE("destroy of 32 MiB in use: resident drop " << drop(rewritten, after_destroy) / KiB << " KiB");
   CHECK(drop(rewritten, after_destroy) >= 28 * MiB);
}

#endif

#ifdef __linux__
#include <sys/mman.h>

namespace {

// Pages of [from, to) that are resident, by mincore.
std::size_t resident_pages(const void *from, const void *to)
{
   const std::size_t page  = std::size_t(sysconf(_SC_PAGESIZE));
   const uintptr_t   first = reinterpret_cast<uintptr_t>(from) & ~uintptr_t(page - 1);
   const uintptr_t   end   = reinterpret_cast<uintptr_t>(to);
   std::vector<unsigned char> in((end - first + page - 1) / page);
   REQUIRE(mincore(reinterpret_cast<void *>(first), end - first, in.data()) == 0);
   std::size_t n = 0;
   for (unsigned char v : in)
      n += v & 1;
   return n;
}

// Does MADV_POPULATE_WRITE (Linux 5.14) fault pages in here? Probed on a mapping of our own:
// an emulator may accept the call and do nothing.
bool kernel_prefaults()
{
#ifdef MADV_POPULATE_WRITE
   const std::size_t page = std::size_t(sysconf(_SC_PAGESIZE));
   char *p = static_cast<char *>(mmap(nullptr, 2 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
   REQUIRE(p != MAP_FAILED);
   const bool ok = madvise(p, 2 * page, MADV_POPULATE_WRITE) == 0 && resident_pages(p, p + 2 * page) == 2;
   munmap(p, 2 * page);
   return ok;
#else
   return false;
#endif
}

// Are transparent huge pages on for every mapping ("always")?
bool huge_pages_always()
{
   FILE *f = std::fopen("/sys/kernel/mm/transparent_hugepage/enabled", "r");
   if (!f)
      return false;
   char line[128] = {0};
   const bool always = std::fgets(line, sizeof line, f) && std::strstr(line, "[always]");
   std::fclose(f);
   return always;
}

}  // namespace

TEST_CASE("a small request that grows the footprint faults its pages in at once; a large one does not")
{
   if (!kernel_prefaults() || huge_pages_always())
      return;   // without MADV_POPULATE_WRITE every page faults in when first touched; with
                // transparent huge pages always on, any first touch may bring in 2 MiB
   mspace ms = mspace_create(64 * MiB);
   REQUIRE(ms != nullptr);
   const char *base = static_cast<const char *>(ms);

   // small blocks until the footprint has grown past its first granule
   const std::size_t first = mspace_footprint(ms);
   void *p = nullptr;
   while (mspace_footprint(ms) == first)
      REQUIRE((p = mspace_malloc(ms, 100)) != nullptr);
   const std::size_t grown = mspace_footprint(ms);
   const std::size_t pages = (grown - first) / std::size_t(sysconf(_SC_PAGESIZE));
   MESSAGE("a 100-byte request grew the footprint by " << (grown - first) / KiB << " KiB: "
           << resident_pages(base + first, base + grown) << " of " << pages << " pages resident");
   CHECK(resident_pages(base + first, base + grown) == pages);

   // a big block: only what is touched (its head) becomes resident
   char *big = static_cast<char *>(mspace_malloc(ms, 8 * MiB));
   REQUIRE(big != nullptr);
   const std::size_t middle = resident_pages(big + 1 * MiB, big + 7 * MiB);
   MESSAGE("an 8 MiB block: " << middle << " pages of its middle 6 MiB resident");
   CHECK(middle == 0);
   CHECK_HEAP(ms);
   CHECK(mspace_destroy(ms) == 0);
}

TEST_CASE("a caller's buffer is never faulted in ahead of use")
{
   if (huge_pages_always())
      return;   // any first touch may bring in 2 MiB
   const std::size_t page = std::size_t(sysconf(_SC_PAGESIZE));
   const std::size_t size = 4 * MiB;
   void *buffer = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
   REQUIRE(buffer != MAP_FAILED);
   mspace ms = mspace_create_with_base(buffer, size);
   REQUIRE(ms != nullptr);
   const char *base = static_cast<const char *>(ms);
   const std::size_t first = mspace_footprint(ms);
   while (mspace_footprint(ms) == first)
      REQUIRE(mspace_malloc(ms, 100) != nullptr);
   const std::size_t grown = mspace_footprint(ms);
   // only what the library wrote is resident: the block that crossed into the new step
   // and the top's head behind it
   const std::size_t resident = resident_pages(base + first, base + grown);
   MESSAGE("caller buffer: " << resident << " of " << (grown - first) / page << " new pages resident");
   CHECK(resident <= 2);
   CHECK_HEAP(ms);
   CHECK(mspace_destroy(ms) == 0);
   munmap(buffer, size);
}

TEST_CASE("mspace_trim gives back the pages of a free chunk below a live block, which keeps the top from shrinking")
{
   if (huge_pages_always() || CANARY)
      return;   // any first touch may bring in 2 MiB; level 2 keeps its poison in free chunks
   mspace ms = mspace_create(1024 * MiB);
   REQUIRE(ms != nullptr);
   const std::size_t big = 256 * MiB;
   unsigned char *before = static_cast<unsigned char *>(mspace_malloc(ms, 100 * KiB));
   unsigned char *p      = static_cast<unsigned char *>(mspace_malloc(ms, big));
   unsigned char *after  = static_cast<unsigned char *>(mspace_malloc(ms, 16));
   REQUIRE((before && p && after));
   std::memset(before, 0x11, 100 * KiB);
   std::memset(p, 0x5A, big);
   std::memset(after, 0x22, 16);
   CHECK(resident_pages(p, p + big) * std::size_t(sysconf(_SC_PAGESIZE)) >= big - 1 * MiB);

   mspace_free(ms, p);   // a free chunk between two live blocks: the top cannot take it
   const std::size_t kept = resident_pages(p, p + big) * std::size_t(sysconf(_SC_PAGESIZE));
   CHECK(mspace_trim(ms, 0) == 0);   // the footprint stays: the 16-byte block is at its end
   const std::size_t left = resident_pages(p, p + big) * std::size_t(sysconf(_SC_PAGESIZE));
   MESSAGE("256 MiB freed below a 16-byte block: " << kept / KiB << " KiB of it resident after the free, "
           << left / KiB << " KiB after mspace_trim(ms, 0)");
   CHECK(left <= 2 * MiB);
   for (std::size_t i = 0; i < 100 * KiB; ++i)
      REQUIRE(before[i] == 0x11);
   for (std::size_t i = 0; i < 16; ++i)
      REQUIRE(after[i] == 0x22);
   CHECK_HEAP(ms);

   // the chunk stays free and whole: its memory serves again, faulted in as it is written
   unsigned char *again = static_cast<unsigned char *>(mspace_malloc(ms, big - 1 * MiB));
   CHECK(again == p);
   REQUIRE(again != nullptr);
   std::memset(again, 0x33, big - 1 * MiB);
   CHECK(again[big / 2] == 0x33);
   CHECK(mspace_trim(ms, 0) == 0);   // nothing free left below the top but a remainder
   CHECK(again[big / 2] == 0x33);
   CHECK_HEAP(ms);
   CHECK(mspace_destroy(ms) == 0);
}

// Frees `n` blocks of `blocks` (every other one of a run, so that each merges in the core
// and goes to a bin: one of the events the purge by itself counts), from *next on.
static void free_into_bins(mspace ms, std::vector<void *> &blocks, std::size_t *next, std::size_t n)
{
   for (std::size_t i = 0; i < n; ++i, *next += 2)
   {
      REQUIRE(*next < blocks.size());
      mspace_free(ms, blocks[*next]);
      blocks[*next] = nullptr;
   }
}

// An mspace of 1 GiB holding a written block of `big` bytes, the block of 1000 bytes
// `after` right behind it (a chunk, not a slot: so p's chunk, freed, goes to its bin), and
// 2 * ticks + 1 more such blocks whose frees, every other one, go into bins: the purge's
// clock, ticks events of it.
struct below_live
{
   mspace              ms;
   unsigned char      *p, *after;
   std::vector<void *> clock;
   std::size_t         next = 0;

   below_live(std::size_t big, std::size_t ticks) : ms(mspace_create(1024 * MiB)), clock(2 * ticks + 1)
   {
      REQUIRE(ms != nullptr);
      p     = static_cast<unsigned char *>(mspace_malloc(ms, big));
      after = static_cast<unsigned char *>(mspace_malloc(ms, 1000));
      REQUIRE((p && after));
      REQUIRE(static_cast<std::size_t>(after - p) - big <= 32);   // right behind it
      for (void *&b : clock)
         REQUIRE((b = mspace_malloc(ms, 1000)) != nullptr);
      std::memset(p, 0x5A, big);
      std::memset(after, 0x22, 16);
   }
};

TEST_CASE("a free chunk below a live block gives its pages back by itself after PURGE_DELAY frees; one reused sooner keeps them")
{
   if (huge_pages_always() || CANARY || PURGE_MIN == 0 || PURGE_MIN > 64 * MiB)
      return;   // any first touch may bring in 2 MiB; level 2 keeps its poison in free chunks
   const std::size_t page = std::size_t(sysconf(_SC_PAGESIZE));
   const std::size_t big  = 64 * MiB;
   below_live        h(big, 2 * PURGE_DELAY + 2 * PURGE_SLOTS);
   mspace            ms    = h.ms;
   unsigned char    *p     = h.p;
   unsigned char    *after = h.after;
   std::vector<void *> &clock = h.clock;
   std::size_t        &next  = h.next;

   // freed, it waits: PURGE_DELAY - 1 events later its pages are still there
   mspace_free(ms, p);
   free_into_bins(ms, clock, &next, PURGE_DELAY - 1);
   const std::size_t waiting = resident_pages(p, p + big) * page;
   // then, within PURGE_SLOTS more, they go back
   free_into_bins(ms, clock, &next, PURGE_SLOTS + 1);
   const std::size_t left = resident_pages(p, p + big) * page;
   mspace_stats_t st;
   mspace_get_stats(ms, &st);
   MESSAGE("64 MiB freed below a live block: " << waiting / KiB << " KiB resident " << PURGE_DELAY - 1
           << " frees later, " << left / KiB << " KiB " << PURGE_DELAY + PURGE_SLOTS << " frees later; stats: "
           << st.purged_bytes / KiB << " KiB of " << st.free_bytes / KiB << " KiB free given back");
   CHECK(waiting >= big - 1 * MiB);
   CHECK(left <= 2 * MiB);
   CHECK(st.purged_bytes >= big - 2 * MiB);
   CHECK(st.purged_bytes <= st.free_bytes);
   for (std::size_t i = 0; i < 16; ++i)
      REQUIRE(after[i] == 0x22);
   CHECK_HEAP(ms);

   // freed again and taken again before it is due: nothing of it is given back when it
   // falls due, it keeps what was written
   unsigned char *again = static_cast<unsigned char *>(mspace_malloc(ms, big));
   REQUIRE(again == p);
   std::memset(again, 0x44, big);
   mspace_free(ms, again);
   unsigned char *kept = static_cast<unsigned char *>(mspace_malloc(ms, big));
   REQUIRE(kept == p);
   std::memset(kept, 0x33, big);
   free_into_bins(ms, clock, &next, PURGE_DELAY + PURGE_SLOTS + 1);
   const std::size_t resident = resident_pages(kept, kept + big) * page;
   MESSAGE("the same block freed and taken again: " << resident / KiB << " KiB resident after "
           << PURGE_DELAY + PURGE_SLOTS + 1 << " frees");
   CHECK(resident >= big - 1 * MiB);
   std::size_t wrong = 0;
   for (std::size_t i = 0; i < big; i += 1021)
      wrong += kept[i] != 0x33;
   CHECK(wrong == 0);
   CHECK_HEAP(ms);
   CHECK(mspace_destroy(ms) == 0);
}

TEST_CASE("a free chunk cut while it waits to be purged: the rest waits on with its time, and gives its pages back when due")
{
   if (huge_pages_always() || CANARY || PURGE_MIN == 0 || PURGE_MIN > 32 * MiB)
      return;   // as above
   const std::size_t page = std::size_t(sysconf(_SC_PAGESIZE));
   const std::size_t big = 64 * MiB, cut = 1 * MiB;
   // cut as the best fit in its tree bin (the rest goes back to the bin), or as the dv in a
   // run of cuts (the rest stays the dv)
   for (std::size_t as_dv = 0; as_dv < 2; ++as_dv)
   {
      CAPTURE(as_dv);
      below_live     h(big, PURGE_DELAY + 2 * PURGE_SLOTS);
      unsigned char *p = h.p;
      mspace_free(h.ms, p);
      if (as_dv)
         mspace_free(h.ms, h.after);   // merges into p's chunk, which takes over as the dv
      free_into_bins(h.ms, h.clock, &h.next, PURGE_DELAY / 2);
      unsigned char *q = static_cast<unsigned char *>(mspace_malloc(h.ms, cut));   // no bin holds
      REQUIRE(q == p);                                                               // a smaller fit
      std::memset(q, 0x66, cut);
      unsigned char *rest = p + cut + 64 * KiB;   // past the remainder's links
      // the rest is due PURGE_DELAY events after the free (after the last merge), not after
      // the cut
      free_into_bins(h.ms, h.clock, &h.next, PURGE_DELAY - 1 - PURGE_DELAY / 2);
      const std::size_t waiting = resident_pages(rest, p + big) * page;
      free_into_bins(h.ms, h.clock, &h.next, PURGE_SLOTS + 1);
      const std::size_t left = resident_pages(rest, p + big) * page;
      MESSAGE("64 MiB freed, 1 MiB cut from it " << PURGE_DELAY / 2 << " frees later" << std::string(as_dv ? " as the dv" : "")
              << ": the rest has " << waiting / KiB << " KiB resident " << PURGE_DELAY - 1 + as_dv
              << " frees after the free, " << left / KiB << " KiB " << PURGE_SLOTS + 1 << " frees after that");
      CHECK(waiting >= big - cut - 2 * MiB);
      CHECK(left <= 2 * MiB);
      std::size_t wrong = 0;
      for (std::size_t i = 0; i < cut; i += 251)
         wrong += q[i] != 0x66;
      CHECK(wrong == 0);
      for (std::size_t i = 0; i < 16 && !as_dv; ++i)
         REQUIRE(h.after[i] == 0x22);
      CHECK_HEAP(h.ms);
      CHECK(mspace_destroy(h.ms) == 0);
   }
}

TEST_CASE("an mspace with MSPACE_HUGE_PAGES whose advice the kernel took purges a free chunk by itself, in whole huge pages")
{
   if (CANARY || PURGE_MIN == 0 || PURGE_MIN > 64 * MiB)
      return;   // level 2 and builds without the purge: nothing to tell apart
   const std::size_t page = std::size_t(sysconf(_SC_PAGESIZE));
   mspace ms = mspace_create_flags(1024 * MiB, MSPACE_HUGE_PAGES);
   REQUIRE(ms != nullptr);
   const int         taken = huge_pages_asked(ms);
   const std::size_t unit  = taken == 1 ? 2 * MiB : page;
   const std::size_t big   = 64 * MiB;
   unsigned char *p     = static_cast<unsigned char *>(mspace_malloc(ms, big));
   unsigned char *after = static_cast<unsigned char *>(mspace_malloc(ms, 16));
   REQUIRE((p && after));
   std::vector<void *> clock(2 * (PURGE_DELAY + PURGE_SLOTS + 1) + 1);
   for (void *&b : clock)
      REQUIRE((b = mspace_malloc(ms, 1000)) != nullptr);   // a chunk, not a slot
   std::memset(p, 0x5A, big);
   std::memset(after, 0x22, 16);
   std::size_t next = 0;
   mspace_free(ms, p);   // below a live block: it waits, then its pages go
   free_into_bins(ms, clock, &next, PURGE_DELAY + PURGE_SLOTS + 1);
   mspace_stats_t st;
   mspace_get_stats(ms, &st);
   // the purge leaves the units that hold the chunk's head (with its links) and its end
   // (which the live block behind it shares): a huge page there is not split
   // (the purge starts past the words of a tree chunk's links: 9 words past the block)
   const uintptr_t head_unit = (reinterpret_cast<uintptr_t>(p) + 9 * sizeof(void *) + unit - 1) & ~uintptr_t(unit - 1);
   const uintptr_t end_unit  = (reinterpret_cast<uintptr_t>(p) + big) & ~uintptr_t(unit - 1);
   unsigned char  *inner     = reinterpret_cast<unsigned char *>(head_unit);
   unsigned char  *outer     = reinterpret_cast<unsigned char *>(end_unit);
   const std::size_t left_head = resident_pages(p, inner);
   const std::size_t left_end  = resident_pages(outer, p + big);
   const std::size_t left_mid  = resident_pages(inner, outer);
   MESSAGE("huge pages " << std::string(taken == 1 ? "taken" : taken == 0 ? "refused" : "not known") << ": "
           << st.purged_bytes / KiB << " KiB of " << st.free_bytes / KiB << " KiB free given back; resident pages "
           << left_head << " before the first whole unit, " << left_mid << " inside, " << left_end << " after the last");
   if (taken >= 0)   // where the advice cannot be seen, neither can the unit
   {
      CHECK(st.purged_bytes >= big - 2 * unit - 1 * MiB);
      CHECK(left_mid == 0);
   }
   if (taken == 1)
   {
      const uintptr_t from = reinterpret_cast<uintptr_t>(p) & ~uintptr_t(page - 1);   // as resident_pages counts
      const uintptr_t to   = (reinterpret_cast<uintptr_t>(p) + big + page - 1) & ~uintptr_t(page - 1);
      CHECK(left_head == (head_unit - from) / page);   // whole: not given back in part
      CHECK(left_end == (to - end_unit) / page);
   }
   for (std::size_t i = 0; i < 16; ++i)
      REQUIRE(after[i] == 0x22);
   unsigned char *again = static_cast<unsigned char *>(mspace_malloc(ms, big));   // usable again
   REQUIRE(again == p);
   std::memset(again, 0x44, big);
   CHECK(again[big / 2] == 0x44);
   CHECK_HEAP(ms);
   CHECK(mspace_destroy(ms) == 0);
}

TEST_CASE("calloc writes no zeros where an OS region was never touched, and zeroes what was")
{
   if (huge_pages_always() || MULLE_TEST_VALGRIND || CANARY)
      return;   // any first touch may bring in 2 MiB; memcheck learns definedness from zeros
                // written, and level 2 zeroes every byte (its poison may lie anywhere)
   mspace ms = mspace_create(1024 * MiB);
   REQUIRE(ms != nullptr);
   const std::size_t big = 256 * MiB;
   unsigned char *p = static_cast<unsigned char *>(mspace_calloc(ms, 1, big));
   REQUIRE(p != nullptr);
   const std::size_t resident = resident_pages(p + 1 * MiB, p + big - 1 * MiB);   // not its ends: the
   MESSAGE("calloc of 256 MiB in a fresh OS region: " << resident               // heads around it
           << " of the pages of its middle resident");
   CHECK(resident == 0);
   for (std::size_t i = 0; i < big; i += 4093)   // read only: the zero page, not resident memory
      REQUIRE(p[i] == 0);

   // memory the heap used before holds old data: calloc zeroes it
   std::memset(p, 0x5A, 8 * MiB);
   mspace_free(ms, p);
   unsigned char *q = static_cast<unsigned char *>(mspace_calloc(ms, 4, 2 * MiB));
   REQUIRE(q != nullptr);
   CHECK(q == p);
   std::size_t nonzero = 0;
   for (std::size_t i = 0; i < 8 * MiB; ++i)
      nonzero += q[i] != 0;
   CHECK(nonzero == 0);

   // a free chunk below a live block whose pages mspace_trim gave back: calloc of a large
   // block carved from it brings none of them back (they read as zero), and still zeroes
   // what the chunk's words and the trim left written
   std::memset(q, 0x5A, 8 * MiB);
   void *live = mspace_malloc(ms, 100);
   REQUIRE(live != nullptr);
   REQUIRE(static_cast<unsigned char *>(live) > q + 8 * MiB);
   mspace_free(ms, q);
   mspace_trim(ms, 0);
   unsigned char *r = static_cast<unsigned char *>(mspace_calloc(ms, 1, 8 * MiB - 4 * KiB));
   REQUIRE(r == q);
   const std::size_t brought = resident_pages(r + 8 * KiB, r + 8 * MiB - 8 * KiB);
   MESSAGE("calloc of 8 MiB out of a purged free chunk: " << brought << " of its inner pages resident");
   CHECK(brought == 0);
   nonzero = 0;
   for (std::size_t i = 0; i < 8 * MiB - 4 * KiB; ++i)
      nonzero += r[i] != 0;
   CHECK(nonzero == 0);
   mspace_free(ms, live);
   CHECK_HEAP(ms);
   CHECK(mspace_destroy(ms) == 0);
}

#endif

TEST_CASE("calloc zeroes a caller's buffer that held data; MSPACE_ZEROED says it need not")
{
   const std::size_t size = 1 * MiB;
   std::vector<unsigned char> dirty(size, 0xEE);
   mspace ms = mspace_create_with_base(dirty.data(), size);
   REQUIRE(ms != nullptr);
   unsigned char *p = static_cast<unsigned char *>(mspace_calloc(ms, 1, 600 * KiB));
   REQUIRE(p != nullptr);
   std::size_t nonzero = 0;
   for (std::size_t i = 0; i < 600 * KiB; ++i)
      nonzero += p[i] != 0;
   CHECK(nonzero == 0);
   CHECK(mspace_destroy(ms) == 0);

   // a buffer its owner knows is zero: what the heap never touched is not written. A byte
   // set behind the heap's back past the footprint (breaking the promise, to see it kept)
   // stays as it is
   std::vector<unsigned char> zero(size, 0);
   ms = mspace_create_with_base_flags(zero.data(), size, MSPACE_ZEROED);
   REQUIRE(ms != nullptr);
   unsigned char *mark = zero.data() + size - 256 * KiB;
   REQUIRE(mspace_footprint(ms) < size - 256 * KiB);
   const unsigned char set = 0x77;
   raw_copy(mark, &set, 1);   // (heap memory: the checkers are not told)
   p = static_cast<unsigned char *>(mspace_calloc(ms, 1, size - 128 * KiB));
   REQUIRE(p != nullptr);
   REQUIRE((p < mark && mark < p + (size - 128 * KiB)));
   // (level 2's poison and memcheck's definedness want every byte written)
   CHECK(*mark == (CANARY || MULLE_TEST_VALGRIND ? 0 : 0x77));
   CHECK(p[0] == 0);
   mspace_free(ms, p);
   raw_copy(mark, &set, 1);
   p = static_cast<unsigned char *>(mspace_calloc(ms, 1, size - 128 * KiB));
   REQUIRE(p != nullptr);
   CHECK(*mark == 0);   // below what the heap wrote now (the top's head went past it): zeroed
   CHECK(mspace_destroy(ms) == 0);

   mspace os = mspace_create_flags(1 * MiB, MSPACE_ZEROED | MSPACE_LOCKED);
   CHECK(os != nullptr);
   CHECK(mspace_destroy(os) == 0);
   CHECK(mspace_create_flags(1 * MiB, 8u) == nullptr);
   CHECK(mspace_create_with_base_flags(zero.data(), size, 8u) == nullptr);
}

TEST_CASE("a heap that grows back into pages its automatic trim released trims by itself only after 8 * PURGE_DELAY events, then after twice as many; mspace_trim ends the wait")
{
   mspace ms = mspace_create(64 * MiB);
   REQUIRE(ms != nullptr);
   // an event of the purge's clock: a free that merges in the core (a block into a bin,
   // between two live ones), of a block a malloc took from that bin
   void *left = mspace_malloc(ms, 1000), *hole = mspace_malloc(ms, 1000), *right = mspace_malloc(ms, 1000);
   REQUIRE((left && hole && right));
   mspace_free(ms, hole);
   auto events = [&](std::size_t n) {
      for (std::size_t i = 0; i < n; ++i)
      {
         void *b = mspace_malloc(ms, 1000);
         REQUIRE(b == hole);
         mspace_free(ms, b);
      }
   };
   const std::size_t first = 8 * PURGE_DELAY;   // the top's first wait, then twice as long
   const std::size_t base  = mspace_footprint(ms);

   void *big = mspace_malloc(ms, 8 * MiB);
   REQUIRE(big != nullptr);
   const std::size_t grown = mspace_footprint(ms);
   mspace_free(ms, big);
   CHECK(mspace_footprint(ms) < grown);   // the first automatic trim happens at once

   big = mspace_malloc(ms, 8 * MiB);      // grows back into the pages it released
   REQUIRE(big != nullptr);
   mspace_free(ms, big);
   CHECK(mspace_footprint(ms) >= grown);  // now the top waits: the pages stay
   events(first);
   CHECK(mspace_footprint(ms) >= grown);  // still waiting
   events(1);                             // past the wait: trimmed for good
   CHECK(mspace_footprint(ms) < grown);
   CHECK(mspace_footprint(ms) <= base + GRANULARITY);

   big = mspace_malloc(ms, 8 * MiB);      // it keeps waiting after that, twice as long
   REQUIRE(big != nullptr);
   mspace_free(ms, big);
   CHECK(mspace_footprint(ms) >= grown);
   events(first + 1);
   CHECK(mspace_footprint(ms) >= grown);
   events(first);
   CHECK(mspace_footprint(ms) < grown);

   big = mspace_malloc(ms, 8 * MiB);
   REQUIRE(big != nullptr);
   mspace_free(ms, big);
   void *again = mspace_malloc(ms, 7 * MiB);   // a top that falls below the threshold
   REQUIRE(again != nullptr);                  // at an event starts the wait again
   events(3 * first);
   mspace_free(ms, again);
   events(4 * first - 1);
   CHECK(mspace_footprint(ms) >= grown);

   CHECK(mspace_trim(ms, 0) == 1);        // a release asked for happens, and ends the wait
   CHECK(mspace_footprint(ms) <= base + GRANULARITY);
   big = mspace_malloc(ms, 8 * MiB);
   REQUIRE(big != nullptr);
   mspace_free(ms, big);
   CHECK(mspace_footprint(ms) < grown);   // at once again
   mspace_free(ms, left);
   mspace_free(ms, right);
   CHECK(mspace_check(ms) == 0);
   CHECK(mspace_destroy(ms) == 0);
}
