// mspace_malloc, mspace_free, mspace_calloc and mspace_usable_size.
#include <doctest/doctest.h>
#include "mulle_dlmalloc.hpp"
#include "test_helpers.h"

#include <algorithm>
#include <cstdint>
#include <utility>
#include <vector>

using namespace test;

TEST_CASE("usable size of a request is its chunk minus one word" * doctest::skip(TIER))
{
   mspace ms = mspace_create(4 * MiB);
   REQUIRE(ms != nullptr);
   if (W == 8)
   {
      void *p1 = mspace_malloc(ms, 1);
      void *p24 = mspace_malloc(ms, 24);
      void *p100 = mspace_malloc(ms, 100);
      void *p1000 = mspace_malloc(ms, 1000);
      void *p0 = mspace_malloc(ms, 0);
      // 24, 24, 104, 1000, 24 (the static_assert in test_helpers.h pins usable_for)
      CHECK_USABLE(p1, 1);
      CHECK_USABLE(p24, 24);
      CHECK_USABLE(p100, 100);
      CHECK_USABLE(p1000, 1000);
      CHECK_USABLE(p0, 0);
      CHECK(stats_of(ms).in_use_bytes == chunk_for(1) + chunk_for(24) + chunk_for(100) + chunk_for(1000) + chunk_for(0));
      mspace_reset(ms);
   }
   std::size_t in_use = 0;
   for (std::size_t n : sizes{0, 1, 7, 8, 9, 15, 16, 17, 23, 24, 25, 31, 32, 33, 40, 41, 100, 247, 248,
                         249, 255, 256, 257, 1000, 1024, 4096, 65535, 65536, 100000, 1000000})
   {
      CAPTURE(n);
      void *p = mspace_malloc(ms, n);
      REQUIRE(p != nullptr);
      CHECK(is_aligned(p, A));
      CHECK_USABLE(p, n);
      CHECK(mspace_usable_size(p) >= n);
      in_use += chunk_for(n);
      CHECK(stats_of(ms).in_use_bytes == in_use);
   }
   CHECK_HEAP(ms);
   CHECK(mspace_destroy(ms) == 0);
}

TEST_CASE("malloc(0) gives unique minimum blocks" * doctest::skip(TIER))
{
   mspace ms = mspace_create(1 * MiB);
   REQUIRE(ms != nullptr);
   std::vector<void *> blocks;
   for (int i = 0; i < 100; ++i)
   {
      void *p = mspace_malloc(ms, 0);
      REQUIRE(p != nullptr);
      CHECK_USABLE(p, 0);
      std::memset(p, i, writable(p, 0));   // under a checker a 0-byte block has no bytes
      blocks.push_back(p);
   }
   std::vector<void *> sorted = blocks;
   std::sort(sorted.begin(), sorted.end());
   CHECK(std::adjacent_find(sorted.begin(), sorted.end()) == sorted.end());
   for (int i = 0; i < 100; ++i)
      CHECK(all_bytes_are(blocks[std::size_t(i)], writable(blocks[std::size_t(i)], 0), static_cast<unsigned char>(i)));
   CHECK(stats_of(ms).allocated_blocks == 100);
   CHECK(stats_of(ms).in_use_bytes == 100 * MIN_CHUNK);
   for (void *p : blocks)
      mspace_free(ms, p);
   CHECK(stats_of(ms).allocated_blocks == 0);
   CHECK_HEAP(ms);
   CHECK(mspace_destroy(ms) == 0);
}

TEST_CASE("blocks are aligned, disjoint, inside the region, and keep their contents")
{
   mspace ms = mspace_create(16 * MiB);
   REQUIRE(ms != nullptr);
   struct Block
   {
      void *p;
      std::size_t n;
   };
   std::vector<Block> blocks;
   std::uint32_t x = 12345;
   for (int i = 0; i < 10000; ++i)
   {
      x = x * 1103515245u + 12345u;
      std::size_t n = (x >> 8) % (i % 10 == 0 ? 20000u : 300u);
      void *p = mspace_malloc(ms, n);
      REQUIRE(p != nullptr);
      fill(p, n, std::uint32_t(i));
      blocks.push_back(Block{p, n});
   }
   std::size_t misaligned = 0, outside = 0, damaged = 0, overlapping = 0;
   std::vector<std::pair<unsigned char *, unsigned char *>> ranges;
   for (std::size_t i = 0; i < blocks.size(); ++i)
   {
      unsigned char *p = bytes(blocks[i].p);
      misaligned += !is_aligned(p, A);
      outside += !mspace_is_heap_object(ms, p) || !mspace_is_heap_object(ms, p + mspace_usable_size(p) - 1);
      damaged += !verify(p, blocks[i].n, std::uint32_t(i));
      ranges.emplace_back(p, p + mspace_usable_size(p));
   }
   std::sort(ranges.begin(), ranges.end());
   for (std::size_t i = 1; i < ranges.size(); ++i)
      overlapping += ranges[i - 1].second > ranges[i].first;
   CHECK(misaligned == 0);
   CHECK(outside == 0);
   CHECK(damaged == 0);
   CHECK(overlapping == 0);
   CHECK(stats_of(ms).allocated_blocks == blocks.size());
   CHECK_HEAP(ms);

   // free in a scrambled order; the survivors keep their contents
   for (std::size_t i = 0; i < blocks.size(); i += 2)
   {
      Block &b = blocks[(i * 7919) % blocks.size()];
      mspace_free(ms, b.p);
      b.p = nullptr;
   }
   CHECK_HEAP(ms);
   damaged = 0;
   for (std::size_t i = 0; i < blocks.size(); ++i)
      if (blocks[i].p)
         damaged += !verify(blocks[i].p, blocks[i].n, std::uint32_t(i));
   CHECK(damaged == 0);
   for (Block &b : blocks)
      if (b.p)
         mspace_free(ms, b.p);
   mspace_stats_t s = stats_of(ms);
   CHECK(s.allocated_blocks == 0);
   CHECK(s.free_blocks == 0);   // everything coalesced into the top
   CHECK(s.in_use_bytes == 0);
   CHECK(s.free_bytes == s.top_bytes);
   CHECK_HEAP(ms);
   CHECK(mspace_destroy(ms) == 0);
}

TEST_CASE("free(NULL) does nothing")
{
   mspace ms = mspace_create(1 * MiB);
   REQUIRE(ms != nullptr);
   ErrorLog log;
   log.install(ms);
   void *p = mspace_malloc(ms, 100);
   REQUIRE(p != nullptr);
   const mspace_stats_t before = stats_of(ms);
   mspace_free(ms, nullptr);
   const mspace_stats_t after = stats_of(ms);
   CHECK_SAME_STATS(before, after);
   CHECK(log.count == 0);
   mspace_free(ms, p);
   CHECK(mspace_destroy(ms) == 0);
}

TEST_CASE("free coalesces at once with free neighbours and the top" * doctest::skip(TIER))
{
   mspace ms = mspace_create(1 * MiB);
   REQUIRE(ms != nullptr);
   void *a = mspace_malloc(ms, 300);
   void *b = mspace_malloc(ms, 500);
   void *c = mspace_malloc(ms, 700);
   void *guard = mspace_malloc(ms, 100);
   REQUIRE((a && b && c && guard));
   const std::size_t top0 = stats_of(ms).top_bytes;

   mspace_free(ms, a);
   CHECK(stats_of(ms).free_blocks == 1);
   mspace_free(ms, c);
   CHECK(stats_of(ms).free_blocks == 2);
   mspace_free(ms, b);   // joins a and c
   mspace_stats_t s = stats_of(ms);
   CHECK(s.free_blocks == 1);
   CHECK(s.free_bytes - s.top_bytes == chunk_for(300) + chunk_for(500) + chunk_for(700));
   CHECK(s.allocated_blocks == 1);
   CHECK_HEAP(ms);

   std::vector<Chunk> chunks = chunks_of(ms);
   REQUIRE(chunks.size() == 3);   // the free run, the guard, the top
   CHECK(chunks[0].used == 0);
   CHECK(chunks[1].start == bytes(guard));
   CHECK(chunks[1].used == usable_for(100));
   CHECK(chunks[2].used == 0);

   mspace_free(ms, guard);   // the free run, the guard and the top become one
   s = stats_of(ms);
   CHECK(s.free_blocks == 0);
   CHECK(s.allocated_blocks == 0);
   CHECK(s.top_bytes == top0 + chunk_for(300) + chunk_for(500) + chunk_for(700) + chunk_for(100));
   CHECK(chunks_of(ms).size() == 1);
   CHECK_HEAP(ms);
   CHECK(mspace_destroy(ms) == 0);
}

TEST_CASE("a freed block is reused for a request of the same size")
{
   mspace ms = mspace_create(4 * MiB);
   REQUIRE(ms != nullptr);
   for (std::size_t n : sizes{16, 100, 200, 1000, 10000, 100000})
   {
      CAPTURE(n);
      void *a = mspace_malloc(ms, n);
      void *guard = mspace_malloc(ms, 16);
      REQUIRE((a && guard));
      mspace_free(ms, a);
      CHECK(mspace_malloc(ms, n) == a);   // exact fit (small bin or tree bin)
      mspace_free(ms, guard);
   }
   CHECK_HEAP(ms);
   CHECK(mspace_destroy(ms) == 0);
}

TEST_CASE("a small request is served by the designated victim or a small bin before the top" * doctest::skip(TIER))
{
   mspace ms = mspace_create(4 * MiB);
   REQUIRE(ms != nullptr);
   SUBCASE("the designated victim, with no tree chunk left")
   {
      void *big = mspace_malloc(ms, 2000);
      REQUIRE((big && mspace_malloc(ms, 16)));   // a guard against the top
      mspace_free(ms, big);                        // a tree chunk
      void *first = mspace_malloc(ms, 100);        // carved from it: the rest is the victim
      REQUIRE(first == big);
      CHECK(stats_of(ms).free_blocks == 1);        // the victim; no tree chunk is left
      void *second = mspace_malloc(ms, 100);
      CHECK(bytes(second) == bytes(first) + chunk_for(100));
   }
   SUBCASE("a small bin, with no tree chunk and no victim")
   {
      void *p = mspace_malloc(ms, 200);
      REQUIRE((p && mspace_malloc(ms, 16)));
      mspace_free(ms, p);                          // parked in a cache
      CHECK(stats_of(ms).free_blocks == 1);        // the statistics flush it into its bin
      CHECK(mspace_malloc(ms, 100) == p);          // the smallest small bin that fits
   }
   CHECK_HEAP(ms);
   CHECK(mspace_destroy(ms) == 0);
}

TEST_CASE("a run of requests up to 1 KiB is carved from the designated victim before a best fit")
{
   // Lea's dv serves requests under 256 bytes; here its reach is 1 KiB (the tier takes
   // the small ones). Guards of 300 bytes are chunks in every build.
   mspace ms = mspace_create(4 * MiB);
   REQUIRE(ms != nullptr);
   void *exact = mspace_malloc(ms, 600);
   void *g1    = mspace_malloc(ms, 300);
   void *big   = mspace_malloc(ms, 3000);
   void *g2    = mspace_malloc(ms, 300);
   REQUIRE((exact && g1 && big && g2));
   mspace_free(ms, exact);   // a tree chunk that fits a 600-byte request exactly
   mspace_free(ms, big);     // a larger tree chunk
   void *first = mspace_malloc(ms, 800);   // too large for `exact`: carved from big ...
   REQUIRE(first == big);                  // ... whose rest becomes the victim
   void *second = mspace_malloc(ms, 600);
   CHECK(bytes(second) == bytes(first) + chunk_for(800));   // the victim, not the exact fit
   void *third = mspace_malloc(ms, 1500);  // no tree chunk holds it: the victim again
   CHECK(bytes(third) == bytes(second) + chunk_for(600));
   CHECK(mspace_malloc(ms, 600) == exact); // the victim is too small now: the exact fit
   CHECK_HEAP(ms);
   CHECK(mspace_destroy(ms) == 0);
}

TEST_CASE("a freed chunk that merged with its free predecessor into DV_TAKEOVER bytes or more takes over as the victim")
{
   // 1 KiB with the tier, 4 KiB without: below it the merged chunk goes to its bin and the
   // old victim goes on serving. Every block here is a chunk in every build. b and c merge
   // into exactly DV_TAKEOVER bytes, or one alignment step less.
   for (bool reaches : {false, true})
   {
      CAPTURE(reaches);
      std::size_t merged = reaches ? DV_TAKEOVER : DV_TAKEOVER - A;
      std::size_t csize  = 400;
      std::size_t bsize  = merged - chunk_for(csize) - OVERHEAD;
      REQUIRE(chunk_for(bsize) + chunk_for(csize) == merged);
      mspace ms = mspace_create(4 * MiB);
      REQUIRE(ms != nullptr);
      void *g0  = mspace_malloc(ms, 300);
      void *b   = mspace_malloc(ms, bsize);
      void *c   = mspace_malloc(ms, csize);
      void *g1  = mspace_malloc(ms, 300);
      void *old = mspace_malloc(ms, 6000);
      void *g2  = mspace_malloc(ms, 300);
      REQUIRE((g0 && b && c && g1 && old && g2));
      mspace_free(ms, old);                    // a tree chunk between blocks in use ...
      void *cut = mspace_malloc(ms, 800);      // ... whose rest becomes the victim
      REQUIRE(cut == old);
      mspace_free(ms, b);                      // between blocks in use: its bin
      mspace_free(ms, c);                      // merges with b
      void *q = mspace_malloc(ms, 300);        // within the victim's reach: from the victim
      if (reaches)
         CHECK(q == b);                        // the merged chunk took over
      else
         CHECK(bytes(q) == bytes(old) + chunk_for(800));   // the old victim served
      CHECK_HEAP(ms);
      CHECK(mspace_destroy(ms) == 0);
   }
}

TEST_CASE("large requests take the best-fitting free chunk" * doctest::skip(TIER))
{
   mspace ms = mspace_create(4 * MiB);
   REQUIRE(ms != nullptr);
   void *big = mspace_malloc(ms, 3000);
   void *g1 = mspace_malloc(ms, 16);
   void *fit = mspace_malloc(ms, 1000);
   void *g2 = mspace_malloc(ms, 16);
   void *mid = mspace_malloc(ms, 1500);
   void *g3 = mspace_malloc(ms, 16);
   REQUIRE((big && g1 && fit && g2 && mid && g3));
   mspace_free(ms, big);
   mspace_free(ms, fit);
   mspace_free(ms, mid);
   CHECK(mspace_malloc(ms, 990) == fit);
   CHECK(mspace_malloc(ms, 1400) == mid);
   CHECK(mspace_malloc(ms, 2000) == big);
   CHECK_HEAP(ms);
   CHECK(mspace_destroy(ms) == 0);
}

TEST_CASE("free chunks of 16 MiB and more share the last tree bin and are reused best-fit" * doctest::skip(TIER))
{
   mspace ms = mspace_create(80 * MiB);   // the top cannot beat the largest of them
   REQUIRE(ms != nullptr);
   void *a = mspace_malloc(ms, 20 * MiB);
   void *g1 = mspace_malloc(ms, 16);
   void *b = mspace_malloc(ms, 17 * MiB);
   void *g2 = mspace_malloc(ms, 16);
   void *c = mspace_malloc(ms, 40 * MiB);
   void *g3 = mspace_malloc(ms, 16);
   REQUIRE((a && g1 && b && g2 && c && g3));
   mspace_free(ms, c);
   mspace_free(ms, a);
   mspace_free(ms, b);
   mspace_stats_t s = stats_of(ms);
   CHECK(s.free_blocks == 3);
   CHECK(s.largest_free == chunk_for(40 * MiB) - OVERHEAD);
   CHECK_HEAP(ms);
   CHECK(mspace_malloc(ms, 17 * MiB - 1000) == b);
   CHECK(mspace_malloc(ms, 19 * MiB) == a);
   CHECK(mspace_malloc(ms, 24 * MiB) == c);
   s = stats_of(ms);
   CHECK(s.allocated_blocks == 6);
   CHECK(s.free_blocks == 3);   // the rest of each
   CHECK_HEAP(ms);
   CHECK(mspace_destroy(ms) == 0);
}

// The last tree bin starts at 12 MiB (3 << 22), below the 16 MiB from which a size's bits
// no longer choose the bin: chunks on both sides of 16 MiB share its trie, which reads all
// of a size's bits for every one of them.
TEST_CASE("free chunks of 12 to 16 MiB and above share the last tree bin's trie")
{
   mspace ms = mspace_create(160 * MiB);
   REQUIRE(ms != nullptr);
   const std::size_t sizes[] = {12 * MiB, 13 * MiB - 4096, 17 * MiB, 14 * MiB, 20 * MiB, 15 * MiB + 512};
   std::vector<void *> blocks, guards;
   for (std::size_t n : sizes)
   {
      blocks.push_back(mspace_malloc(ms, n));
      guards.push_back(mspace_malloc(ms, 4096));   // keeps the free chunks apart
      REQUIRE((blocks.back() && guards.back()));
   }
   while (mspace_malloc(ms, MiB))   // the top used up: only the bin serves
      ;
   for (void *p : blocks)
      mspace_free(ms, p);
   CHECK_HEAP(ms);
   // each request takes the smallest that fits, whichever side of 16 MiB
   CHECK(mspace_malloc(ms, 15 * MiB + 1024) == blocks[2]);   // 17 MiB: 15 MiB + 512 is too small
   CHECK(mspace_malloc(ms, 14 * MiB - 100) == blocks[3]);
   CHECK(mspace_malloc(ms, 12 * MiB + 64) == blocks[1]);   // past the 12 MiB chunk
   CHECK(mspace_malloc(ms, 19 * MiB) == blocks[4]);
   CHECK(mspace_malloc(ms, 12 * MiB) == blocks[0]);
   CHECK(mspace_malloc(ms, 15 * MiB) == blocks[5]);
   CHECK_HEAP(ms);
   CHECK(mspace_destroy(ms) == 0);
}

TEST_CASE("the footprint grows in granularity steps as the heap grows")
{
   mspace ms = mspace_create(16 * MiB);
   REQUIRE(ms != nullptr);
   const std::size_t bookkeeping = stats_of(ms).bookkeeping;

   void *p = mspace_malloc(ms, 100000);
   REQUIRE(p != nullptr);
   std::size_t fp = mspace_footprint(ms);
   CHECK(fp % GRANULARITY == 0);
   CHECK(fp >= bookkeeping + chunk_for(100000));
   CHECK(fp <= round_up(bookkeeping + chunk_for(100000) + MIN_CHUNK, GRANULARITY));

   std::size_t previous = fp, used = bookkeeping + chunk_for(100000);
   for (int i = 0; i < 3000; ++i)
   {
      REQUIRE(mspace_malloc(ms, 1000) != nullptr);
      used += chunk_for(1000);
      fp = mspace_footprint(ms);
      CHECK(fp % GRANULARITY == 0);
      CHECK(fp >= previous);
      CHECK(fp >= used);
      CHECK(fp <= round_up(used + MIN_CHUNK, GRANULARITY));
      CHECK(mspace_max_footprint(ms) == fp);
      previous = fp;
   }
   CHECK_HEAP(ms);
   CHECK(mspace_destroy(ms) == 0);
}

TEST_CASE("calloc zeroes memory that held data")
{
   mspace ms = mspace_create(4 * MiB);
   REQUIRE(ms != nullptr);
   for (std::size_t n : sizes{1, 24, 100, 1000, 5000, 300000})
   {
      CAPTURE(n);
      void *p = mspace_malloc(ms, n);
      void *guard = mspace_malloc(ms, 16);
      void *mate = mspace_malloc(ms, n);   // keeps a slot's page: the freed slot comes back
      REQUIRE((p && guard && mate));
      std::memset(p, 0xFF, writable(p, n));
      mspace_free(ms, p);
      // calloc until p's memory comes back (where the next block lands is the policy's:
      // the dv may serve first), every block zeroed
      std::vector<void *> got;
      bool back = false, zeroed = true;
      for (int i = 0; i < 64 && !back; ++i)
      {
         void *z = mspace_calloc(ms, 1, n);
         REQUIRE(z != nullptr);
         zeroed = zeroed && all_bytes_are(z, n, 0);
         back   = z == p;
         got.push_back(z);
      }
      CHECK(back);   // the memory that held data came back, so zeroing really happened
      CHECK(zeroed);
      void *z2 = mspace_calloc(ms, n, 3);
      REQUIRE(z2 != nullptr);
      CHECK(all_bytes_are(z2, 3 * n, 0));
      mspace_free(ms, z2);
      for (void *z : got)
         mspace_free(ms, z);
      mspace_free(ms, guard);
      mspace_free(ms, mate);
   }
   CHECK_HEAP(ms);
   CHECK(mspace_destroy(ms) == 0);
}

TEST_CASE("calloc zeroes a caller buffer that was never zero")
{
   const std::size_t capacity = 256 * KiB;
   Buffer buf(capacity, 0xEE);
   mspace ms = mspace_create_with_base(buf.base, capacity);
   REQUIRE(ms != nullptr);
   void *small = mspace_calloc(ms, 10, 10);
   REQUIRE(small != nullptr);
   CHECK(all_bytes_are(small, 100, 0));
   void *big = mspace_calloc(ms, 1000, 200);   // grows the footprint into untouched bytes
   REQUIRE(big != nullptr);
   CHECK(all_bytes_are(big, 200000, 0));
   CHECK_HEAP(ms);
   CHECK(mspace_destroy(ms) == 0);
}

TEST_CASE("calloc zeroes memory after a trim gave the pages back")
{
   mspace ms = mspace_create(16 * MiB);
   REQUIRE(ms != nullptr);
   void *p = mspace_malloc(ms, 1 * MiB);
   REQUIRE(p != nullptr);
   std::memset(p, 0xFF, 1 * MiB);
   mspace_free(ms, p);
   mspace_trim(ms, 0);
   void *z = mspace_calloc(ms, 1, 1 * MiB);
   REQUIRE(z != nullptr);
   CHECK(all_bytes_are(z, 1 * MiB, 0));
   CHECK(mspace_destroy(ms) == 0);
}

TEST_CASE("calloc with a zero count or size gives a minimum block")
{
   mspace ms = mspace_create(1 * MiB);
   REQUIRE(ms != nullptr);
   void *a = mspace_calloc(ms, 0, 10);
   void *b = mspace_calloc(ms, 10, 0);
   void *c = mspace_calloc(ms, 0, 0);
   REQUIRE((a && b && c));
   CHECK(a != b);
   CHECK(b != c);
   CHECK_USABLE(a, 0);
   CHECK(stats_of(ms).allocated_blocks == 3);
   CHECK_HEAP(ms);
   CHECK(mspace_destroy(ms) == 0);
}

TEST_CASE("calloc returns NULL when count * size overflows, without an error report")
{
   mspace ms = mspace_create(1 * MiB);
   REQUIRE(ms != nullptr);
   ErrorLog log;
   log.install(ms);
   const std::size_t half = std::size_t(1) << (4 * W);   // half * half wraps around to 0
   CHECK(mspace_calloc(ms, SIZE_MAX / 2, 3) == nullptr);
   CHECK(mspace_calloc(ms, 3, SIZE_MAX / 2) == nullptr);
   CHECK(mspace_calloc(ms, SIZE_MAX, SIZE_MAX) == nullptr);
   CHECK(mspace_calloc(ms, half, half) == nullptr);
   CHECK(mspace_calloc(ms, (SIZE_MAX >> 4) + 2, 16) == nullptr);   // wraps around to 16
   CHECK(mspace_calloc(ms, SIZE_MAX, 2) == nullptr);
   CHECK(mspace_calloc(ms, 2 * MiB, 1) == nullptr);       // no overflow, just too big
   CHECK(log.count == 0);
   CHECK(stats_of(ms).allocated_blocks == 0);
   void *p = mspace_calloc(ms, 100, 10);
   CHECK(p != nullptr);
   CHECK_HEAP(ms);
   CHECK(mspace_destroy(ms) == 0);
}

TEST_CASE("requests that overflow or exceed the capacity return NULL and leave the mspace usable")
{
   const std::size_t capacity = 1 * MiB;
   mspace ms = mspace_create(capacity);
   REQUIRE(ms != nullptr);
   ErrorLog log;
   log.install(ms);
   void *keep = mspace_malloc(ms, 1000);
   REQUIRE(keep != nullptr);
   fill(keep, 1000, 77);
   const mspace_stats_t before = stats_of(ms);

   for (std::size_t n : sizes{SIZE_MAX, SIZE_MAX - 1, SIZE_MAX - 7, SIZE_MAX - 8, SIZE_MAX - 15,
                         SIZE_MAX - 16, SIZE_MAX - 4096, SIZE_MAX - 65536, SIZE_MAX / 2,
                         SIZE_MAX / 2 + 1, capacity + 1, capacity, 2 * capacity})
   {
      CAPTURE(n);
      CHECK(mspace_malloc(ms, n) == nullptr);
      CHECK(mspace_calloc(ms, 1, n) == nullptr);
      CHECK(mspace_calloc(ms, n, 1) == nullptr);
      CHECK(mspace_memalign(ms, 64, n) == nullptr);
      CHECK(mspace_memalign(ms, 4096, n) == nullptr);
      CHECK(mspace_realloc(ms, keep, n) == nullptr);
      CHECK(mspace_realloc(ms, nullptr, n) == nullptr);
      CHECK(mspace_realloc_in_place(ms, keep, n) == nullptr);
   }
   CHECK(log.count == 0);
   CHECK(verify(keep, 1000, 77));
   CHECK_USABLE(keep, 1000);
   mspace_stats_t after = stats_of(ms);
   CHECK(after.allocated_blocks == before.allocated_blocks);
   CHECK(after.in_use_bytes == before.in_use_bytes);
   CHECK_HEAP(ms);

   void *p = mspace_malloc(ms, 100);
   CHECK(p != nullptr);
   mspace_free(ms, p);
   mspace_free(ms, keep);
   CHECK(log.count == 0);
   CHECK(stats_of(ms).allocated_blocks == 0);
   CHECK(mspace_destroy(ms) == 0);
}
