// mspace_realloc and mspace_realloc_in_place: in place when possible, else moves;
// NULL on failure with the block untouched.
#include <doctest/doctest.h>
#include "mulle_dlmalloc.hpp"
#include "test_helpers.h"

#include <cstdint>
#include <vector>

using namespace test;

TEST_CASE("realloc(NULL, n) acts as malloc")
{
   mspace ms = mspace_create(1 * MiB);
   REQUIRE(ms != nullptr);
   void *p = mspace_realloc(ms, nullptr, 100);
   REQUIRE(p != nullptr);
   CHECK(is_aligned(p, A));
   CHECK_USABLE(p, 100);
   CHECK(stats_of(ms).allocated_blocks == 1);
   void *q = mspace_realloc(ms, nullptr, 0);
   REQUIRE(q != nullptr);
   CHECK(q != p);
   CHECK_USABLE(q, 0);
   CHECK(stats_of(ms).allocated_blocks == 2);
   CHECK_HEAP(ms);
   CHECK(mspace_destroy(ms) == 0);
}

TEST_CASE("realloc(p, 0) gives a minimum block and does not free")
{
   mspace ms = mspace_create(1 * MiB);
   REQUIRE(ms != nullptr);
   void *p = mspace_malloc(ms, 500);
   void *guard = mspace_malloc(ms, 300);
   REQUIRE((p && guard));
   fill(p, 500, 5);
   void *q = mspace_realloc(ms, p, 0);
   REQUIRE(q != nullptr);
   CHECK(q == p);   // a chunk shrinks in place, a slot of the tier is never made of it
   CHECK(mspace_usable_size(q) == ((MULLE_TEST_ASAN || CANARY) ? 0 : MULLE_TEST_VALGRIND ? mspace_usable_size(q) : MIN_CHUNK - OVERHEAD));
   CHECK(verify(q, writable(q, 0), 5));   // the first bytes are kept (none under a checker)
   mspace_stats_t s = stats_of(ms);
   CHECK(s.allocated_blocks == 2);
   CHECK(s.in_use_bytes == MIN_CHUNK + chunk_for(300));
   mspace_free(ms, q);
   mspace_free(ms, guard);
   CHECK(stats_of(ms).allocated_blocks == 0);
   CHECK_HEAP(ms);
   CHECK(mspace_destroy(ms) == 0);
}

TEST_CASE("shrinking returns the same pointer and gives the tail back" * doctest::skip(TIER))
{
   mspace ms = mspace_create(1 * MiB);
   REQUIRE(ms != nullptr);
   void *p = mspace_malloc(ms, 1000);
   void *guard = mspace_malloc(ms, 16);
   REQUIRE((p && guard));
   fill(p, 1000, 9);

   void *q = mspace_realloc(ms, p, 100);
   CHECK(q == p);
   CHECK(verify(p, 100, 9));
   CHECK(mspace_usable_size(p) >= 100);
   CHECK_USABLE(p, 100);
   mspace_stats_t s = stats_of(ms);
   CHECK(s.in_use_bytes == chunk_for(100) + chunk_for(16));
   CHECK(s.free_blocks == 1);   // the tail, next to the guard
   CHECK_HEAP(ms);

   // a shrink too small to split off a chunk keeps the block as it is
   void *r = mspace_realloc(ms, p, 80);
   CHECK(r == p);
   CHECK(verify(p, 80, 9));
   CHECK(mspace_usable_size(p) >= 80);
   CHECK_HEAP(ms);

   // realloc_in_place shrinks too
   void *big = mspace_malloc(ms, 5000);
   REQUIRE(big != nullptr);
   fill(big, 5000, 10);
   CHECK(mspace_realloc_in_place(ms, big, 1000) == big);
   CHECK_USABLE(big, 1000);
   CHECK(verify(big, 1000, 10));
   CHECK_HEAP(ms);
   CHECK(mspace_destroy(ms) == 0);
}

TEST_CASE("a block followed by the top grows in place" * doctest::skip(TIER))
{
   mspace ms = mspace_create(8 * MiB);
   REQUIRE(ms != nullptr);
   void *first = mspace_malloc(ms, 64);
   void *p = mspace_malloc(ms, 100);
   REQUIRE((first && p));
   fill(p, 100, 3);
   void *q = mspace_realloc(ms, p, 10000);
   CHECK(q == p);
   CHECK(mspace_usable_size(p) >= 10000);
   CHECK(verify(p, 100, 3));
   fill(p, 10000, 4);
   // past the current footprint: the top grows first
   q = mspace_realloc(ms, p, 1 * MiB);
   CHECK(q == p);
   CHECK(verify(p, 10000, 4));
   CHECK(mspace_footprint(ms) > 1 * MiB);
   fill(p, 1 * MiB, 6);
   q = mspace_realloc_in_place(ms, p, 3 * MiB);
   CHECK(q == p);
   CHECK(mspace_usable_size(p) >= 3 * MiB);
   CHECK(verify(p, 1 * MiB, 6));
   CHECK(stats_of(ms).allocated_blocks == 2);
   CHECK_HEAP(ms);
   CHECK(mspace_destroy(ms) == 0);
}

TEST_CASE("a block followed by a free neighbour grows in place")
{
   mspace ms = mspace_create(1 * MiB);
   REQUIRE(ms != nullptr);
   void *a = mspace_malloc(ms, 300);
   void *b = mspace_malloc(ms, UNCACHED);   // freed, it goes to a bin, not a cache
   void *c = mspace_malloc(ms, 300);
   REQUIRE((a && b && c));
   fill(a, 300, 1);
   fill(c, 300, 3);
   mspace_free(ms, b);

   void *q = mspace_realloc(ms, a, 600);   // takes part of b's chunk
   CHECK(q == a);
   CHECK(mspace_usable_size(a) >= 600);
   CHECK(verify(a, 300, 1));
   CHECK(verify(c, 300, 3));
   CHECK(stats_of(ms).free_blocks == 1);   // the rest of b stays free
   CHECK_HEAP(ms);
   fill(a, 600, 2);

   // all of the neighbour: a's usable bytes plus b's whole chunk
   const std::size_t all = usable_for(300) + chunk_for(UNCACHED);
   q = mspace_realloc_in_place(ms, a, all);
   CHECK(q == a);
   CHECK(mspace_usable_size(a) == all);
   CHECK(verify(a, 600, 2));
   CHECK(verify(c, 300, 3));
   CHECK(stats_of(ms).free_blocks == 0);
   CHECK_HEAP(ms);

   // one byte more and c is in the way
   CHECK(mspace_realloc_in_place(ms, a, all + 1) == nullptr);
   CHECK(mspace_usable_size(a) == all);
   CHECK(verify(a, 600, 2));
   CHECK_HEAP(ms);
   CHECK(mspace_destroy(ms) == 0);
}

TEST_CASE("a block between live neighbours moves, contents preserved" * doctest::skip(TIER))
{
   mspace ms = mspace_create(1 * MiB);
   REQUIRE(ms != nullptr);
   void *a = mspace_malloc(ms, 100);
   void *b = mspace_malloc(ms, 100);
   REQUIRE((a && b));
   fill(a, 100, 1);
   fill(b, 100, 2);

   CHECK(mspace_realloc_in_place(ms, a, 5000) == nullptr);
   CHECK_USABLE(a, 100);
   CHECK(verify(a, 100, 1));

   void *q = mspace_realloc(ms, a, 5000);
   REQUIRE(q != nullptr);
   CHECK(q != a);
   CHECK(is_aligned(q, A));
   CHECK(mspace_usable_size(q) >= 5000);
   CHECK(verify(q, 100, 1));
   CHECK(verify(b, 100, 2));
   mspace_stats_t s = stats_of(ms);
   CHECK(s.allocated_blocks == 2);   // the old block was freed
   CHECK(s.free_blocks == 1);
   CHECK(s.in_use_bytes == chunk_for(100) + chunk_for(5000));
   CHECK_HEAP(ms);
   CHECK(mspace_destroy(ms) == 0);
}

TEST_CASE("a block that realloc moves takes the best fit where malloc would take the designated victim")
{
   // The dv serves a run of requests up to 1 KiB without a search (test_malloc.cpp); a
   // block that moves because it grows is no part of a run. Every block here is a chunk.
   mspace ms = mspace_create(4 * MiB);
   REQUIRE(ms != nullptr);
   void *exact = mspace_malloc(ms, 600);
   void *g1    = mspace_malloc(ms, 300);
   void *big   = mspace_malloc(ms, 3000);
   void *g2    = mspace_malloc(ms, 300);
   void *p     = mspace_malloc(ms, 400);
   void *g3    = mspace_malloc(ms, 300);
   REQUIRE((exact && g1 && big && g2 && p && g3));
   fill(p, 400, 5);
   mspace_free(ms, exact);                  // a tree chunk that fits 600 bytes exactly
   mspace_free(ms, big);
   void *first = mspace_malloc(ms, 800);    // carved from big: its rest is the victim
   REQUIRE(first == big);

   CHECK(mspace_realloc_in_place(ms, p, 600) == nullptr);   // g3 follows it
   void *q = mspace_realloc(ms, p, 600);
   CHECK(q == exact);                       // the best fit, not the victim
   CHECK(verify(q, 400, 5));
   void *run = mspace_malloc(ms, 600);      // a run's next block: the victim still
   CHECK(bytes(run) == bytes(first) + chunk_for(800));
   CHECK(stats_of(ms).free_blocks == 2);    // p's old chunk and the victim's rest
   CHECK_HEAP(ms);
   CHECK(mspace_destroy(ms) == 0);
}

TEST_CASE("a chain of growing reallocs between other allocations keeps every byte")
{
   mspace ms = mspace_create(8 * MiB);
   REQUIRE(ms != nullptr);
   std::vector<void *> others;
   void *p = mspace_malloc(ms, 1);
   REQUIRE(p != nullptr);
   std::uint32_t seed = 0;
   fill(p, 1, seed);
   std::size_t n = 1;
   for (std::uint32_t round = 1; round <= 40; ++round)
   {
      std::size_t next = n + n / 3 + 7;
      void *q = mspace_realloc(ms, p, next);
      REQUIRE(q != nullptr);
      CHECK(verify(q, n, seed));
      fill(q, next, ++seed);
      p = q;
      n = next;
      void *o = mspace_malloc(ms, 32 + round);   // often sits right behind p
      REQUIRE(o != nullptr);
      fill(o, 32 + round, 1000 + round);
      others.push_back(o);
   }
   MESSAGE("grew a block to " << n << " bytes in 40 reallocs");
   CHECK(verify(p, n, seed));
   for (std::uint32_t i = 0; i < others.size(); ++i)
      CHECK(verify(others[i], 33 + i, 1001 + i));
   CHECK_HEAP(ms);
   // and back down, in place
   while (n > 16)
   {
      std::size_t next = n / 2;
      void *q = mspace_realloc(ms, p, next);
      CHECK(q == p);
      CHECK(verify(p, next, seed));
      fill(p, next, ++seed);
      n = next;
   }
   for (std::uint32_t i = 0; i < others.size(); ++i)
      CHECK(verify(others[i], 33 + i, 1001 + i));
   CHECK_HEAP(ms);
   CHECK(mspace_destroy(ms) == 0);
}

TEST_CASE("realloc that cannot fit returns NULL and leaves the block untouched" * doctest::skip(TIER))
{
   const std::size_t capacity = 1 * MiB;
   mspace ms = mspace_create(capacity);
   REQUIRE(ms != nullptr);
   ErrorLog log;
   log.install(ms);
   void *p = mspace_malloc(ms, 100);
   REQUIRE(p != nullptr);
   fill(p, 100, 7);
   void *rest = mspace_malloc(ms, stats_of(ms).largest_free);   // the heap is full now
   REQUIRE(rest != nullptr);
   fill(rest, 1000, 8);
   CHECK(stats_of(ms).largest_free < 1000);
   const mspace_stats_t full = stats_of(ms);

   CHECK(mspace_realloc(ms, p, 1000) == nullptr);
   CHECK(mspace_realloc_in_place(ms, p, 1000) == nullptr);
   CHECK(mspace_realloc(ms, p, 2 * capacity) == nullptr);
   CHECK(mspace_realloc(ms, p, SIZE_MAX) == nullptr);
   CHECK(mspace_realloc(ms, p, SIZE_MAX - 7) == nullptr);
   CHECK(log.count == 0);
   CHECK(verify(p, 100, 7));
   CHECK(verify(rest, 1000, 8));
   CHECK_USABLE(p, 100);
   const mspace_stats_t after = stats_of(ms);
   CHECK_SAME_STATS(full, after);
   CHECK_HEAP(ms);

   // once there is room again the same call succeeds in place
   mspace_free(ms, rest);
   void *q = mspace_realloc(ms, p, 1000);
   CHECK(q == p);
   CHECK(verify(p, 100, 7));
   mspace_free(ms, p);   // p is still a valid block
   CHECK(stats_of(ms).allocated_blocks == 0);
   CHECK(log.count == 0);
   CHECK_HEAP(ms);
   CHECK(mspace_destroy(ms) == 0);
}

TEST_CASE("realloc_in_place(NULL, n) returns NULL")
{
   mspace ms = mspace_create(1 * MiB);
   REQUIRE(ms != nullptr);
   CHECK(mspace_realloc_in_place(ms, nullptr, 100) == nullptr);
   CHECK(mspace_realloc_in_place(ms, nullptr, 0) == nullptr);
   CHECK(stats_of(ms).allocated_blocks == 0);
   CHECK_HEAP(ms);
   CHECK(mspace_destroy(ms) == 0);
}

TEST_CASE("realloc of a memaligned block keeps its contents")
{
   mspace ms = mspace_create(4 * MiB);
   REQUIRE(ms != nullptr);
   void *p = mspace_memalign(ms, 4096, 300);
   void *guard = mspace_malloc(ms, 16);
   REQUIRE((p && guard));
   fill(p, 300, 11);
   void *q = mspace_realloc(ms, p, 20000);
   REQUIRE(q != nullptr);
   CHECK(verify(q, 300, 11));
   void *r = mspace_realloc(ms, q, 50);
   CHECK(r == q);
   CHECK(verify(r, 50, 11));
   mspace_free(ms, r);
   mspace_free(ms, guard);
   mspace_stats_t s = stats_of(ms);
   CHECK(s.allocated_blocks == 0);
   CHECK(s.free_blocks == 0);
   CHECK_HEAP(ms);
   CHECK(mspace_destroy(ms) == 0);
}
