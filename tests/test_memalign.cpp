// mspace_memalign: any power-of-two alignment, any size; NULL otherwise.
#include <doctest/doctest.h>
#include "mulle_dlmalloc.hpp"
#include "test_helpers.h"

#include <algorithm>
#include <cstdint>
#include <utility>
#include <vector>

using namespace test;

TEST_CASE("memalign returns blocks aligned to every power of two from 32 to 1 MiB")
{
   mspace ms = mspace_create(16 * MiB);
   REQUIRE(ms != nullptr);
   std::uint32_t seed = 0;
   for (std::size_t alignment = 32; alignment <= 1 * MiB; alignment *= 2)
      for (std::size_t n : sizes{1, 100, 1000, 5000})
      {
         CAPTURE(alignment);
         CAPTURE(n);
         void *before = mspace_malloc(ms, 40);   // so the top does not start aligned
         void *p = mspace_memalign(ms, alignment, n);
         REQUIRE(p != nullptr);
         CHECK(is_aligned(p, alignment));
         CHECK(mspace_usable_size(p) >= n);
         // the padding in front went back to the heap, not into the block
         CHECK(mspace_usable_size(p) <= chunk_for(n) + MIN_CHUNK - W);
         CHECK(mspace_is_heap_object(ms, p));
         fill(p, writable(p, n), ++seed);
         void *after = mspace_malloc(ms, 40);
         REQUIRE(after != nullptr);
         fill(after, 40, 0);
         CHECK(verify(p, writable(p, n), seed));
         CHECK_HEAP(ms);
         mspace_free(ms, p);
         mspace_free(ms, before);
         mspace_free(ms, after);
      }
   mspace_stats_t s = stats_of(ms);
   CHECK(s.allocated_blocks == 0);
   CHECK(s.free_blocks == 0);   // leading and trailing pieces coalesced again
   CHECK_HEAP(ms);
   CHECK(mspace_destroy(ms) == 0);
}

TEST_CASE("memalign with an alignment up to the default behaves like malloc")
{
   mspace ms = mspace_create(1 * MiB);
   REQUIRE(ms != nullptr);
   for (std::size_t alignment : sizes{1, 2, 4, 8, 16})
   {
      CAPTURE(alignment);
      void *p = mspace_memalign(ms, alignment, 100);
      REQUIRE(p != nullptr);
      CHECK(is_aligned(p, A));
      if (alignment <= A)
         CHECK_USABLE(p, 100);
      else   // past the default alignment (32-bit): a chunk cut to the alignment, never a slot
         CHECK(mspace_usable_size(p) >= 100);
   }
   CHECK(stats_of(ms).allocated_blocks == 5);
   CHECK_HEAP(ms);
   CHECK(mspace_destroy(ms) == 0);
}

TEST_CASE("memalign returns NULL for an alignment that is not a power of two")
{
   mspace ms = mspace_create(1 * MiB);
   REQUIRE(ms != nullptr);
   ErrorLog log;
   log.install(ms);
   for (std::size_t alignment : sizes{3, 24, 48, 96, 100, 4095, 4097, 3 * 4096, SIZE_MAX, SIZE_MAX / 2})
   {
      CAPTURE(alignment);
      CHECK(mspace_memalign(ms, alignment, 100) == nullptr);
   }
   CHECK(log.count == 0);
   CHECK(stats_of(ms).allocated_blocks == 0);
   CHECK_HEAP(ms);
   CHECK(mspace_destroy(ms) == 0);
}

TEST_CASE("memalign with an alignment that cannot fit returns NULL")
{
   const std::size_t capacity = 1 * MiB;
   mspace ms = mspace_create(capacity);
   REQUIRE(ms != nullptr);
   ErrorLog log;
   log.install(ms);
   const std::size_t top_bit = ~(SIZE_MAX >> 1);
   for (std::size_t alignment : sizes{2 * capacity, 64 * MiB, top_bit, top_bit >> 1})
   {
      CAPTURE(alignment);
      CHECK(mspace_memalign(ms, alignment, 1) == nullptr);
      CHECK(mspace_memalign(ms, alignment, SIZE_MAX - alignment) == nullptr);
   }
   CHECK(mspace_memalign(ms, 4096, SIZE_MAX - 4096) == nullptr);
   CHECK(mspace_memalign(ms, 4096, SIZE_MAX - 100000) == nullptr);
   CHECK(log.count == 0);
   CHECK(stats_of(ms).allocated_blocks == 0);
   void *p = mspace_memalign(ms, 256 * KiB, 1000);
   CHECK(p != nullptr);
   CHECK(is_aligned(p, 256 * KiB));
   CHECK_HEAP(ms);
   CHECK(mspace_destroy(ms) == 0);
}

TEST_CASE("memalign in a fragmented heap: aligned, disjoint, contents kept")
{
   mspace ms = mspace_create(16 * MiB);
   REQUIRE(ms != nullptr);
   struct Block
   {
      void *p;
      std::size_t n;
      std::uint32_t seed;
   };
   std::vector<Block> blocks;
   std::uint32_t x = 99;
   for (std::uint32_t i = 0; i < 4000; ++i)
   {
      x = x * 1664525u + 1013904223u;
      std::size_t n = (x >> 10) % 2000;
      void *p;
      if (i % 3 == 0)
      {
         std::size_t alignment = std::size_t(32) << ((x >> 4) % 9);   // 32 .. 8192
         p = mspace_memalign(ms, alignment, n);
         REQUIRE(p != nullptr);
         CHECK(is_aligned(p, alignment));
      }
      else
         p = mspace_malloc(ms, n);
      REQUIRE(p != nullptr);
      fill(p, n, i);
      blocks.push_back(Block{p, n, i});
      if (i % 4 == 1)   // punch holes so later requests reuse free chunks
      {
         std::size_t victim = (x >> 3) % blocks.size();
         CHECK(verify(blocks[victim].p, blocks[victim].n, blocks[victim].seed));
         mspace_free(ms, blocks[victim].p);
         blocks.erase(blocks.begin() + std::ptrdiff_t(victim));
      }
   }
   std::vector<std::pair<unsigned char *, unsigned char *>> ranges;
   std::size_t damaged = 0;
   for (const Block &b : blocks)
   {
      damaged += !verify(b.p, b.n, b.seed);
      ranges.emplace_back(bytes(b.p), bytes(b.p) + mspace_usable_size(b.p));
   }
   std::sort(ranges.begin(), ranges.end());
   std::size_t overlapping = 0;
   for (std::size_t i = 1; i < ranges.size(); ++i)
      overlapping += ranges[i - 1].second > ranges[i].first;
   CHECK(damaged == 0);
   CHECK(overlapping == 0);
   CHECK(stats_of(ms).allocated_blocks == blocks.size());
   CHECK_HEAP(ms);
   for (const Block &b : blocks)
      mspace_free(ms, b.p);
   CHECK(stats_of(ms).allocated_blocks == 0);
   CHECK(stats_of(ms).free_blocks == 0);
   CHECK_HEAP(ms);
   CHECK(mspace_destroy(ms) == 0);
}

TEST_CASE("memalign in a caller buffer with an odd base")
{
   Buffer buf(512 * KiB);
   mspace ms = mspace_create_with_base(buf.base + 7, 512 * KiB - 7);
   REQUIRE(ms != nullptr);
   for (std::size_t alignment = 32; alignment <= 64 * KiB; alignment *= 2)
   {
      void *p = mspace_memalign(ms, alignment, 200);
      REQUIRE(p != nullptr);
      CHECK(is_aligned(p, alignment));
      CHECK(bytes(p) + mspace_usable_size(p) <= buf.base + 512 * KiB);
   }
   CHECK_HEAP(ms);
   CHECK(mspace_destroy(ms) == 0);
}
