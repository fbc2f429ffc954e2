// mspace_get_stats, mspace_inspect_all, mspace_is_heap_object, mspace_check and
// mspace_malloc_stats.
#include <doctest/doctest.h>
#include "mulle_dlmalloc.hpp"
#include "test_helpers.h"

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <map>
#include <set>
#include <string>
#include <vector>

#if defined(__unix__) || defined(__APPLE__)
#include <unistd.h>
#endif

using namespace test;

TEST_CASE("stats count blocks, bytes and free chunks exactly" * doctest::skip(TIER))
{
   mspace ms = mspace_create(4 * MiB);
   REQUIRE(ms != nullptr);
   const mspace_stats_t fresh = stats_of(ms);

   std::vector<void *> blocks;
   std::size_t in_use = 0;
   for (std::size_t i = 0; i < 20; ++i)
   {
      std::size_t n = 50 + i * 100;
      void *p = mspace_malloc(ms, n);
      REQUIRE(p != nullptr);
      blocks.push_back(p);
      in_use += chunk_for(n);
   }
   mspace_stats_t s = stats_of(ms);
   CHECK(s.capacity == fresh.capacity);
   CHECK(s.bookkeeping == fresh.bookkeeping);
   CHECK(s.allocated_blocks == 20);
   CHECK(s.in_use_bytes == in_use);
   CHECK(s.free_blocks == 0);   // everything came from the top
   CHECK(s.free_bytes == s.top_bytes);
   CHECK(s.top_bytes == s.footprint - s.bookkeeping - in_use);
   CHECK_HEAP(ms);
   CHECK_LARGEST_FREE(ms);

   // free every other block: none of them touch each other or the top
   std::size_t freed = 0;
   for (std::size_t i = 0; i < 20; i += 2)
   {
      mspace_free(ms, blocks[i]);
      freed += chunk_for(50 + i * 100);
   }
   s = stats_of(ms);
   CHECK(s.allocated_blocks == 10);
   CHECK(s.free_blocks == 10);
   CHECK(s.in_use_bytes == in_use - freed);
   CHECK(s.free_bytes == s.top_bytes + freed);
   CHECK_HEAP(ms);
   CHECK_LARGEST_FREE(ms);

   // the last block is next to the top: freeing it joins its free neighbour and the top
   mspace_free(ms, blocks[19]);
   s = stats_of(ms);
   CHECK(s.allocated_blocks == 9);
   CHECK(s.free_blocks == 9);
   CHECK_HEAP(ms);

   for (std::size_t i = 1; i < 19; i += 2)
      mspace_free(ms, blocks[i]);
   s = stats_of(ms);
   CHECK(s.allocated_blocks == 0);
   CHECK(s.free_blocks == 0);
   CHECK(s.in_use_bytes == 0);
   CHECK(s.top_bytes == s.footprint - s.bookkeeping);
   CHECK_HEAP(ms);
   CHECK(mspace_destroy(ms) == 0);
}

TEST_CASE("max_footprint is the largest footprint ever")
{
   mspace ms = mspace_create(16 * MiB);
   REQUIRE(ms != nullptr);
   std::size_t highest = mspace_footprint(ms);
   std::vector<void *> blocks;
   for (int round = 0; round < 4; ++round)
   {
      for (int i = 0; i < 50 * (round + 1); ++i)
      {
         void *p = mspace_malloc(ms, 20000);
         REQUIRE(p != nullptr);
         blocks.push_back(p);
         highest = std::max(highest, mspace_footprint(ms));
         CHECK(mspace_max_footprint(ms) == highest);
      }
      for (void *p : blocks)
         mspace_free(ms, p);
      blocks.clear();
      mspace_trim(ms, 0);
      CHECK(mspace_footprint(ms) == GRANULARITY);
      CHECK(mspace_max_footprint(ms) == highest);
      CHECK_HEAP(ms);
   }
   CHECK(highest > 3 * MiB);
   CHECK(mspace_destroy(ms) == 0);
}

TEST_CASE("largest_free names the largest request that succeeds now")
{
   const std::size_t capacity = 1 * MiB;
   mspace ms = mspace_create(capacity);
   REQUIRE(ms != nullptr);
   mspace_stats_t s = stats_of(ms);

   SUBCASE("in a new mspace it is almost the whole capacity, and exact")
   {
      CHECK(s.largest_free >= capacity - s.bookkeeping - 2 * MIN_CHUNK - A);
      void *p = mspace_malloc(ms, s.largest_free);
      REQUIRE(p != nullptr);
      mspace_free(ms, p);
      void *q = mspace_malloc(ms, s.largest_free + 1);
      CHECK(q == nullptr);
      if (q)
         mspace_free(ms, q);
   }
   SUBCASE("in a full, fragmented heap it is the biggest hole")
   {
      std::vector<void *> blocks;
      for (;;)
      {
         void *p = mspace_malloc(ms, 3000);
         if (!p)
            break;
         blocks.push_back(p);
      }
      while (void *p = mspace_malloc(ms, 0))
         blocks.push_back(p);
      CHECK(stats_of(ms).largest_free == 0);
      CHECK(mspace_malloc(ms, 0) == nullptr);

      // holes of one, two and three neighbouring 3000-byte blocks
      mspace_free(ms, blocks[10]);
      mspace_free(ms, blocks[20]);
      mspace_free(ms, blocks[21]);
      mspace_free(ms, blocks[30]);
      mspace_free(ms, blocks[31]);
      mspace_free(ms, blocks[32]);
      s = stats_of(ms);
      CHECK(s.free_blocks == 3);
      CHECK(s.largest_free == 3 * chunk_for(3000) - OVERHEAD);
      CHECK_LARGEST_FREE(ms);
      void *p = mspace_malloc(ms, s.largest_free);
      CHECK(p == blocks[30]);
      CHECK(mspace_malloc(ms, s.largest_free) == nullptr);   // the hole is taken
      CHECK(stats_of(ms).largest_free == 2 * chunk_for(3000) - OVERHEAD);
   }
   CHECK_HEAP(ms);
   CHECK(mspace_destroy(ms) == 0);
}

TEST_CASE("max_request is the largest request an empty mspace satisfies")
{
   CHECK(mspace_max_request(nullptr) == 0);
   Buffer buf(256 * KiB);
   mspace spaces[] = {mspace_create(1 * MiB), mspace_create_with_base(buf.base + 3, 256 * KiB - 3)};
   for (mspace ms : spaces)
   {
      REQUIRE(ms != nullptr);
      const std::size_t max = mspace_max_request(ms);
      const mspace_stats_t s = stats_of(ms);
      CHECK(max == s.largest_free);
      CHECK(max + s.bookkeeping + MIN_CHUNK + W <= s.capacity);
      CHECK(max + s.bookkeeping + MIN_CHUNK + W + A > s.capacity);
      void *p = mspace_malloc(ms, max);
      CHECK(p != nullptr);
      CHECK(mspace_malloc(ms, 0) == nullptr);   // that was everything
      mspace_free(ms, p);
      CHECK(mspace_malloc(ms, max + 1) == nullptr);
      void *small = mspace_malloc(ms, 1000);
      REQUIRE(small != nullptr);
      CHECK(mspace_max_request(ms) == max);   // a property of the region, not of the moment
      CHECK(stats_of(ms).largest_free < max);
      mspace_free(ms, small);
      CHECK(mspace_destroy(ms) == 0);
   }
}

TEST_CASE("inspect_all reports every chunk in address order, the top last" * doctest::skip(TIER))
{
   mspace ms = mspace_create(4 * MiB);
   REQUIRE(ms != nullptr);
   CHECK(chunks_of(ms).size() == 1);   // the top alone
   CHECK(chunks_of(ms)[0].used == 0);

   std::map<unsigned char *, std::size_t> live;   // block -> bytes asked for
   std::uint32_t x = 7;
   for (int i = 0; i < 500; ++i)
   {
      x = x * 1103515245u + 12345u;
      const std::size_t n = (x >> 8) % 3000;
      void *p = (i % 5 == 0) ? mspace_memalign(ms, 256, n) : mspace_malloc(ms, n);
      REQUIRE(p != nullptr);
      live[bytes(p)] = n;
   }
   for (auto it = live.begin(); it != live.end();)   // free about a third, some in runs
   {
      x = x * 1103515245u + 12345u;
      if ((x >> 16) % 3 == 0)
      {
         mspace_free(ms, it->first);
         it = live.erase(it);
      }
      else
         ++it;
   }
   const mspace_stats_t s = stats_of(ms);
   const std::vector<Chunk> chunks = chunks_of(ms);
   REQUIRE(!chunks.empty());

   std::set<unsigned char *> reported;
   std::size_t used_chunks = 0, free_chunks = 0, usable_sum = 0, free_extent = 0;
   for (std::size_t i = 0; i < chunks.size(); ++i)
   {
      const Chunk &c = chunks[i];
      CAPTURE(i);
      CHECK(c.start <= c.end);
      CHECK(mspace_is_heap_object(ms, c.start));
      if (i > 0)
         CHECK(chunks[i - 1].end <= c.start);   // ascending and disjoint
      if (c.used)
      {
         ++used_chunks;
         reported.insert(c.start);
         // `used` is the chunk's usable size: what mspace_usable_size reports, but under a
         // checker and at level 2 that may be the size asked for (see test_helpers.h)
         const std::size_t asked = live.count(c.start) ? live[c.start] : 0;
         CHECK(c.used >= asked);
         if (USABLE_MAY_BE_ASKED)
            CHECK((mspace_usable_size(c.start) == c.used || mspace_usable_size(c.start) == asked));
         else
            CHECK(c.used == mspace_usable_size(c.start));
         CHECK(c.end == c.start + c.used);
         usable_sum += c.used;
      }
      else
      {
         ++free_chunks;
         free_extent += std::size_t(c.end - c.start);
      }
   }
   std::set<unsigned char *> live_blocks;
   for (const auto &block : live)
      live_blocks.insert(block.first);
   CHECK(reported == live_blocks);
   CHECK(used_chunks == s.allocated_blocks);
   CHECK(free_chunks == s.free_blocks + 1);   // the free chunks and the top
   CHECK(chunks.back().used == 0);             // the top comes last
   CHECK(usable_sum + used_chunks * OVERHEAD == s.in_use_bytes);
   CHECK(free_extent <= s.free_bytes);
   CHECK(free_extent + free_chunks * 2 * MIN_CHUNK >= s.free_bytes);
   CHECK_HEAP(ms);
   CHECK(mspace_destroy(ms) == 0);
}

TEST_CASE("inspect_all in a full heap without a top chunk")
{
   Buffer buf(64 * KiB);
   mspace ms = mspace_create_with_base(buf.base, 64 * KiB);
   REQUIRE(ms != nullptr);
   std::vector<void *> blocks;
   while (void *p = mspace_malloc(ms, 100))
      blocks.push_back(p);
   while (void *p = mspace_malloc(ms, 0))
      blocks.push_back(p);
   std::size_t used = 0;
   for (const Chunk &c : chunks_of(ms))
      used += c.used != 0;
   CHECK(used == blocks.size());
   CHECK(stats_of(ms).allocated_blocks == blocks.size());
   CHECK(stats_of(ms).largest_free == 0);
   CHECK_HEAP(ms);
   CHECK(mspace_destroy(ms) == 0);
}

TEST_CASE("is_heap_object: exactly the region")
{
   const std::size_t capacity = 64 * KiB;
   Buffer buf(2 * capacity);
   mspace ms = mspace_create_with_base(buf.base, capacity);
   mspace next = mspace_create_with_base(buf.base + capacity, capacity);   // right behind it
   REQUIRE((ms && next));
   void *p = mspace_malloc(ms, 100);
   void *q = mspace_malloc(next, 100);
   REQUIRE((p && q));
   int on_stack = 0;

   CHECK(mspace_is_heap_object(ms, p));
   CHECK(mspace_is_heap_object(ms, bytes(p) + 99));
   CHECK(mspace_is_heap_object(ms, buf.base));
   CHECK(mspace_is_heap_object(ms, buf.base + capacity - 1));
   CHECK_FALSE(mspace_is_heap_object(ms, buf.base + capacity));
   CHECK_FALSE(mspace_is_heap_object(ms, buf.base - 1));
   CHECK_FALSE(mspace_is_heap_object(ms, q));
   CHECK_FALSE(mspace_is_heap_object(next, p));
   CHECK(mspace_is_heap_object(next, q));
   CHECK_FALSE(mspace_is_heap_object(ms, &on_stack));
   CHECK_FALSE(mspace_is_heap_object(ms, nullptr));

   mspace os = mspace_create(1 * MiB);
   REQUIRE(os != nullptr);
   void *r = mspace_malloc(os, 100);
   REQUIRE(r != nullptr);
   CHECK(mspace_is_heap_object(os, r));
   CHECK_FALSE(mspace_is_heap_object(os, p));
   CHECK_FALSE(mspace_is_heap_object(ms, r));
   CHECK_FALSE(mspace_is_heap_object(os, &on_stack));
   CHECK_FALSE(mspace_is_heap_object(os, nullptr));
   CHECK(mspace_destroy(os) == 0);
   CHECK(mspace_destroy(next) == 0);
   CHECK(mspace_destroy(ms) == 0);
}

TEST_CASE("mspace_check finds a consistent heap after every kind of operation")
{
   mspace ms = mspace_create(4 * MiB);
   REQUIRE(ms != nullptr);
   CHECK(mspace_check(ms) == 0);
   void *a = mspace_malloc(ms, 100);
   CHECK(mspace_check(ms) == 0);
   void *b = mspace_calloc(ms, 10, 100);
   CHECK(mspace_check(ms) == 0);
   void *c = mspace_memalign(ms, 1024, 100);
   CHECK(mspace_check(ms) == 0);
   void *d = mspace_malloc(ms, 100000);
   CHECK(mspace_check(ms) == 0);
   REQUIRE((a && b && c && d));
   mspace_free(ms, b);
   CHECK(mspace_check(ms) == 0);
   a = mspace_realloc(ms, a, 500);
   CHECK(mspace_check(ms) == 0);
   CHECK(mspace_realloc_in_place(ms, c, 50) == c);
   CHECK(mspace_check(ms) == 0);
   mspace_free(ms, d);
   CHECK(mspace_check(ms) == 0);
   mspace_trim(ms, 0);
   CHECK(mspace_check(ms) == 0);
   mspace_reset(ms);
   CHECK(mspace_check(ms) == 0);
   CHECK(mspace_destroy(ms) == 0);
}

#if defined(__unix__) || defined(__APPLE__)
TEST_CASE("malloc_stats prints a summary to stderr")
{
   mspace ms = mspace_create(1 * MiB);
   REQUIRE(ms != nullptr);
   void *p = mspace_malloc(ms, 1000);
   REQUIRE(p != nullptr);

   std::fflush(stderr);
   FILE *capture = std::tmpfile();
   REQUIRE(capture != nullptr);
   const int saved = dup(2);
   REQUIRE(saved >= 0);
   REQUIRE(dup2(fileno(capture), 2) == 2);
   mspace_malloc_stats(ms);
   std::fflush(stderr);
   dup2(saved, 2);
   close(saved);

   std::rewind(capture);
   std::string text;
   char line[512];
   while (std::fgets(line, sizeof line, capture))
      text += line;
   std::fclose(capture);
   MESSAGE("mspace_malloc_stats output:\n" << text);
   CHECK(!text.empty());
   CHECK(text.find('\n') != std::string::npos);
   // a summary mentions the current footprint in bytes
   CHECK(text.find(std::to_string(mspace_footprint(ms))) != std::string::npos);
   CHECK(mspace_destroy(ms) == 0);
}
#endif
