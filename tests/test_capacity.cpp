// How much of the capacity is allocatable, and what happens at the edge.
#include <doctest/doctest.h>
#include "mulle_dlmalloc.hpp"
#include "test_helpers.h"

#include <cstdint>
#include <vector>

using namespace test;

TEST_CASE("a 1 MiB mspace hands out at least 95% of its capacity in 1 KiB blocks")
{
   const std::size_t capacity = 1 * MiB;
   mspace ms = mspace_create(capacity);
   REQUIRE(ms != nullptr);
   ErrorLog log;
   log.install(ms);

   std::vector<void *> blocks;
   for (;;)
   {
      void *p = mspace_malloc(ms, 1024);
      if (!p)
         break;
      fill(p, 1024, std::uint32_t(blocks.size()));
      blocks.push_back(p);
   }
   MESSAGE("1 MiB mspace: " << blocks.size() << " blocks of 1 KiB ("
           << blocks.size() * 1024 * 100 / capacity << "% of the capacity)");
   CHECK(blocks.size() * 1024 * 100 >= 95 * capacity);
   CHECK(mspace_malloc(ms, 1024) == nullptr);   // still full
   CHECK(log.count == 0);                       // running out is not misuse
   mspace_stats_t s = stats_of(ms);
   CHECK(s.footprint <= capacity);
   CHECK(s.footprint > capacity - A);
   CHECK(s.allocated_blocks == blocks.size());
   CHECK(s.largest_free < 1024);
   CHECK_HEAP(ms);

   // still usable: one freed block serves a small request
   mspace_free(ms, blocks[blocks.size() / 2]);
   void *small = mspace_malloc(ms, 16);
   CHECK(small != nullptr);
   CHECK(mspace_check(ms) == 0);
   mspace_free(ms, small);
   blocks[blocks.size() / 2] = nullptr;

   std::size_t damaged = 0;
   for (std::size_t i = 0; i < blocks.size(); ++i)
      if (blocks[i])
      {
         damaged += !verify(blocks[i], 1024, std::uint32_t(i));
         mspace_free(ms, blocks[i]);
      }
   CHECK(damaged == 0);
   s = stats_of(ms);
   CHECK(s.allocated_blocks == 0);
   CHECK(s.free_blocks == 0);
   CHECK_HEAP(ms);

   // everything freed: one block of nearly the whole capacity
   void *one = mspace_malloc(ms, capacity - 8192);
   CHECK(one != nullptr);
   if (one)
      std::memset(one, 0x77, capacity - 8192);
   CHECK_HEAP(ms);
   CHECK(mspace_destroy(ms) == 0);
}

TEST_CASE("100,000 blocks of 24 bytes fit in 3.2 MB plus bookkeeping")
{
   mspace ms = mspace_create(CANARY ? 8 * MiB : 4 * MiB);   // 48-byte chunks at level 2
   REQUIRE(ms != nullptr);
   std::vector<void *> blocks(100000);
   for (std::size_t i = 0; i < blocks.size(); ++i)
   {
      blocks[i] = mspace_malloc(ms, 24);
      REQUIRE(blocks[i] != nullptr);
      std::memcpy(blocks[i], &i, sizeof i);
   }
   mspace_stats_t s = stats_of(ms);
   MESSAGE("100,000 x 24 bytes: footprint " << s.footprint << " bytes, in use " << s.in_use_bytes
           << ", bookkeeping " << s.bookkeeping);
   if (!TIER)
      CHECK(s.in_use_bytes == 100000 * chunk_for(24));
   else   // 32-byte slots in 4 KiB pages: 125 to a page on 64-bit
      CHECK(s.in_use_bytes == (100000 + slots_per_page(24) - 1) / slots_per_page(24) * PAGE - (slots_per_page(24) - 100000 % slots_per_page(24)) % slots_per_page(24) * slot_for(24));
   if (W == 8 && CANARY == 0 && !TIER)
   {
      CHECK(s.in_use_bytes == 3200000);
      CHECK(s.footprint <= 3200000 + s.bookkeeping + GRANULARITY);
   }
   if (W == 8 && TIER)   // 800 pages (807 with fronts): 2.4% (3.2%) more than 32-byte
   {                     // chunks, for the pages' headers
      const std::size_t pages = FRONTS > 1 ? 3303296 : 3276800;
      CHECK(s.in_use_bytes == pages);
      CHECK(s.footprint <= pages + s.bookkeeping + GRANULARITY);
   }
   std::size_t damaged = 0;
   for (std::size_t i = 0; i < blocks.size(); ++i)
   {
      std::size_t stored;
      std::memcpy(&stored, blocks[i], sizeof stored);
      damaged += stored != i;
   }
   CHECK(damaged == 0);
   CHECK_HEAP(ms);
   for (void *p : blocks)
      mspace_free(ms, p);
   CHECK(stats_of(ms).allocated_blocks == 0);
   CHECK(stats_of(ms).free_blocks == 0);
   CHECK_HEAP(ms);
   CHECK(mspace_destroy(ms) == 0);
}

TEST_CASE("a caller buffer is used up to its last bytes" * doctest::skip(TIER))
{
   for (std::size_t k : sizes{0, 3, 8})
   {
      CAPTURE(k);
      const std::size_t capacity = 100 * KiB + 40;   // not a multiple of the granularity
      Buffer buf(capacity);
      unsigned char *base = buf.base + k;
      mspace ms = mspace_create_with_base(base, capacity);
      REQUIRE(ms != nullptr);
      const std::size_t bookkeeping = stats_of(ms).bookkeeping;

      std::vector<void *> blocks;
      while (void *p = mspace_malloc(ms, MIN_CHUNK - OVERHEAD))   // minimum chunks
         blocks.push_back(p);
      unsigned char *highest = nullptr;
      for (void *p : blocks)
      {
         unsigned char *end = bytes(p) + mspace_usable_size(p);
         if (end > highest)
            highest = end;
      }
      // in minimum chunks: all but the bookkeeping, the top (at least one minimum chunk,
      // less than two) and the grid slack at the end
      CHECK(blocks.size() * MIN_CHUNK + bookkeeping + 2 * MIN_CHUNK + A > capacity);
      CHECK(highest <= base + capacity);
      CHECK(highest + 2 * MIN_CHUNK + A > base + capacity);
      CHECK(stats_of(ms).largest_free == 0);
      CHECK_HEAP(ms);

      for (void *p : blocks)
         mspace_free(ms, p);
      CHECK(stats_of(ms).allocated_blocks == 0);
      CHECK_LARGEST_FREE(ms);
      void *all = mspace_malloc(ms, stats_of(ms).largest_free);
      REQUIRE(all != nullptr);
      CHECK(bytes(all) + mspace_usable_size(all) <= base + capacity);
      CHECK(mspace_usable_size(all) + OVERHEAD + bookkeeping + MIN_CHUNK + A > capacity);
      CHECK_HEAP(ms);
      CHECK(mspace_destroy(ms) == 0);
   }
}

TEST_CASE("the footprint never passes the capacity")
{
   const std::size_t capacity = 300 * KiB;   // not a multiple of the granularity
   mspace ms = mspace_create(capacity);
   REQUIRE(ms != nullptr);
   std::size_t n = 1;
   std::vector<void *> blocks;
   while (void *p = mspace_malloc(ms, n))
   {
      blocks.push_back(p);
      CHECK(mspace_footprint(ms) <= capacity);
      n = n * 3 % 5000 + 1;
   }
   CHECK(mspace_footprint(ms) == stats_of(ms).capacity);
   CHECK(mspace_max_footprint(ms) == stats_of(ms).capacity);
   CHECK_HEAP(ms);
   CHECK(mspace_destroy(ms) == 0);
}

TEST_CASE("requests around the largest block")
{
   const std::size_t capacity = 1 * MiB;
   mspace ms = mspace_create(capacity);
   REQUIRE(ms != nullptr);
   const mspace_stats_t s = stats_of(ms);
   for (std::size_t n = s.largest_free - 64; n <= s.largest_free + 64; ++n)
   {
      CAPTURE(n);
      void *p = mspace_malloc(ms, n);
      CHECK((p != nullptr) == (n <= s.largest_free));
      if (p)
      {
         CHECK(mspace_usable_size(p) >= n);
         bytes(p)[n - 1] = 1;
         mspace_free(ms, p);
      }
   }
   CHECK_HEAP(ms);
   CHECK(mspace_destroy(ms) == 0);
}
