// Lea's behaviour with the small-block caches on: a parked block is free memory to a
// growing neighbour, a failed move retries in place after the caches are flushed, and a
// block that borders the top joins the top instead of being parked.
#include <doctest/doctest.h>
#include "mulle_dlmalloc.hpp"
#include "test_helpers.h"

#include <vector>

using namespace test;

TEST_CASE("realloc grows in place into a just-freed neighbour, parked or not")
{
   mspace ms = mspace_create(1 * MiB);
   REQUIRE(ms != nullptr);
   ErrorLog log;
   log.install(ms);
   void *p = mspace_malloc(ms, 100);
   void *q = mspace_malloc(ms, 100);
   void *guard = mspace_malloc(ms, 100);
   REQUIRE((p && q && guard));
   fill(p, 100, 1);
   mspace_free(ms, q);   // parked where there are caches: its successor is in use
   CHECK(mspace_realloc_in_place(ms, p, 200) == p);
   CHECK(verify(p, 100, 1));
   CHECK(mspace_usable_size(p) >= 200);
   CHECK(mspace_check(ms) == 0);

   void *r = mspace_malloc(ms, 100);   // the rest of q's chunk, or a fresh one
   REQUIRE(r != nullptr);
   void *s = mspace_malloc(ms, 100);
   void *guard2 = mspace_malloc(ms, 100);
   REQUIRE((s && guard2));
   fill(s, 100, 2);
   void *t = mspace_malloc(ms, 100);
   void *guard3 = mspace_malloc(ms, 100);
   REQUIRE((t && guard3));
   mspace_free(ms, guard2);            // s's neighbour, parked
   CHECK(mspace_realloc(ms, s, 180) == s);   // no move
   CHECK(verify(s, 100, 2));
   CHECK(log.count == 0);
   CHECK(mspace_check(ms) == 0);
   for (void *b : {p, guard, r, s, t, guard3})
      mspace_free(ms, b);
   CHECK(stats_of(ms).allocated_blocks == 0);
   CHECK(mspace_destroy(ms) == 0);
}

TEST_CASE("on a full heap, the first realloc that needs two parked neighbours succeeds in place")
{
   Buffer buf(64 * KiB);
   mspace ms = mspace_create_with_base(buf.base, 64 * KiB);
   REQUIRE(ms != nullptr);
   void *p = mspace_malloc(ms, 100);
   void *q1 = mspace_malloc(ms, 100);
   void *q2 = mspace_malloc(ms, 100);
   void *guard = mspace_malloc(ms, 100);
   REQUIRE((p && q1 && q2 && guard));
   std::vector<void *> rest;   // fill the heap: nothing else is free
   while (void *b = mspace_malloc(ms, 100))
      rest.push_back(b);
   while (void *b = mspace_malloc(ms, 0))
      rest.push_back(b);
   fill(p, 100, 3);
   mspace_free(ms, q2);   // both parked (where there are caches): neither borders the top
   mspace_free(ms, q1);
   const std::size_t want = 2 * usable_for(100) + OVERHEAD + 50;   // more than p and q1
   void *grown = mspace_realloc(ms, p, want);
   CHECK(grown == p);
   CHECK(verify(p, 100, 3));
   CHECK(mspace_usable_size(p) >= want);
   CHECK(mspace_check(ms) == 0);
   CHECK(mspace_destroy(ms) == 0);
}

TEST_CASE("a freed block that borders the top joins the top at once")
{
   mspace ms = mspace_create(1 * MiB);
   REQUIRE(ms != nullptr);
   void *keep = mspace_malloc(ms, 100);
   void *p = mspace_malloc(ms, 100);
   REQUIRE((keep && p));
   mspace_free(ms, p);
   // back in the top, not parked: a request of another size is carved where p was
   void *q = mspace_malloc(ms, 300);
   CHECK(q == p);
   mspace_free(ms, q);
   mspace_free(ms, keep);
   CHECK(stats_of(ms).allocated_blocks == 0);
   CHECK(mspace_destroy(ms) == 0);
}
