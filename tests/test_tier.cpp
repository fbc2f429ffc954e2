// The small-object tier: requests of up to 256 bytes are slots of 4 KiB pages. Misuse of a
// slot is caught in O(1); an empty page goes back to the core at once, but for the one an
// unlocked mspace holds while it keeps no free memory from merging; and Lea's semantics
// hold where the small-block caches that came before bent them (a realloc grows into a
// just-freed neighbour, freeing everything gives the footprint back, looking at the
// statistics changes nothing).
#include <doctest/doctest.h>
#include "mulle_dlmalloc.hpp"
#include "test_helpers.h"

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

using namespace test;

namespace {

// A caller buffer on the 4 KiB grid, so that two of them lay out their pages alike.
struct PageBuffer
{
   void *raw;
   unsigned char *base;
   explicit PageBuffer(std::size_t n) : raw(std::calloc(1, n + PAGE))
   {
      base = static_cast<unsigned char *>(raw) + (PAGE - reinterpret_cast<std::uintptr_t>(raw) % PAGE) % PAGE;
   }
   ~PageBuffer() { std::free(raw); }
   PageBuffer(const PageBuffer &) = delete;
   PageBuffer &operator=(const PageBuffer &) = delete;
};

unsigned char *page_of_block(void *p)
{
   return reinterpret_cast<unsigned char *>(reinterpret_cast<std::uintptr_t>(p) & ~std::uintptr_t(PAGE - 1));
}

// One word overwritten until the end of the scope.
struct Patch
{
   unsigned char *at;
   std::size_t saved;
   Patch(unsigned char *where, std::size_t value) : at(where), saved(read_word(where)) { write_word(at, value); }
   ~Patch() { write_word(at, saved); }
   Patch(const Patch &) = delete;
   Patch &operator=(const Patch &) = delete;
};

struct Counter
{
   std::size_t used_calls = 0, free_calls = 0, used_bytes = 0;
};

void count_slots(void *, void *, std::size_t used, void *arg)
{
   Counter *c = static_cast<Counter *>(arg);
   if (used)
   {
      c->used_calls++;
      c->used_bytes += used;
   }
   else
      c->free_calls++;
}

} // namespace

TEST_CASE("slots: sizes, alignment, one page per size, contents kept" * doctest::skip(!TIER))
{
   mspace ms = mspace_create(4 * MiB);
   REQUIRE(ms != nullptr);
   std::vector<void *> blocks;
   for (std::size_t n = 0; n <= TIER_MAX; ++n)
   {
      void *p = mspace_malloc(ms, n);
      REQUIRE(p != nullptr);
      CHECK(reinterpret_cast<std::uintptr_t>(p) % A == 0);
      CHECK_USABLE(p, n);
      fill(p, writable(p, n), std::uint32_t(n));
      blocks.push_back(p);
   }
   // 257 blocks of 16 sizes: 16 pages, the blocks of a size side by side in theirs
   mspace_stats_t s = stats_of(ms);
   CHECK(s.allocated_blocks == blocks.size());
   // 16 pages, and what was cut off in front of the first to put it on the 4 KiB grid
   CHECK(s.in_use_bytes + s.free_bytes - s.top_bytes >= (TIER_MAX / SLOT) * PAGE);
   CHECK(s.in_use_bytes + s.free_bytes - s.top_bytes < (TIER_MAX / SLOT + 2) * PAGE);
   CHECK(page_of_block(blocks[1]) == page_of_block(blocks[16]));       // both 16-byte slots
   CHECK(static_cast<unsigned char *>(blocks[2]) == static_cast<unsigned char *>(blocks[1]) + SLOT);
   CHECK(page_of_block(blocks[17]) != page_of_block(blocks[16]));      // the next size's page
   CHECK(mspace_usable_size(blocks[TIER_MAX]) == (MULLE_TEST_CHECKER ? mspace_usable_size(blocks[TIER_MAX]) : TIER_MAX));
   void *chunk = mspace_malloc(ms, TIER_MAX + 1);   // the first size that is a chunk
   REQUIRE(chunk != nullptr);
   CHECK(stats_of(ms).allocated_blocks == blocks.size() + 1);
   for (std::size_t n = 0; n < blocks.size(); ++n)
      CHECK(verify(blocks[n], writable(blocks[n], n), std::uint32_t(n)));
   CHECK_HEAP(ms);
   Counter c;
   mspace_inspect_all(ms, count_slots, &c);
   CHECK(c.used_calls == blocks.size() + 1);   // every slot in use, and the chunk
   CHECK(c.free_calls > 16 * 10);              // the free slots of the 16 pages, and the top
   for (void *p : blocks)
      mspace_free(ms, p);
   mspace_free(ms, chunk);
   s = stats_of(ms);
   CHECK(s.allocated_blocks == 0);
   CHECK(s.in_use_bytes == 0);   // every page went back as its last slot was freed
   CHECK(s.free_bytes == s.top_bytes);
   CHECK(mspace_destroy(ms) == 0);
}

TEST_CASE("which slot a malloc takes: the lowest free one in the bitmap word of the page's last malloc, else the page's lowest" * doctest::skip(!TIER || SLOT != 16))
{
   // a page of 16-byte slots has four bitmap words of 64 slots; its first slot is slot 0
   mspace ms = mspace_create(4 * MiB);
   REQUIRE(ms != nullptr);
   std::vector<void *> held;
   auto take = [&] {
      void *p = mspace_malloc(ms, SLOT);
      REQUIRE(p != nullptr);
      held.push_back(p);
      return static_cast<unsigned char *>(p);
   };
   unsigned char *first = take();
   auto slot = [&](std::size_t i) { return first + i * SLOT; };
   for (std::size_t i = 1; i < 100; ++i)
      REQUIRE(take() == slot(i));   // slots 0 to 99 in order: words 0 and 1
   mspace_free(ms, slot(10));       // word 0
   mspace_free(ms, slot(90));       // word 1, where the last malloc took slot 99
   CHECK(take() == slot(90));       // word 1's lowest, though slot 10 is lower
   for (std::size_t i = 100; i < 128; ++i)
      CHECK(take() == slot(i));     // word 1 fills up
   CHECK(take() == slot(10));       // word 1 has none left: the page's lowest free slot
   CHECK(take() == slot(128));      // word 0 is full now: the page's lowest again, in word 2
   mspace_free(ms, slot(5));        // word 0, below the word of the last malloc
   CHECK(take() == slot(129));      // a free leaves the page's word as it was
   CHECK(take() == slot(130));
   CHECK_HEAP(ms);
   for (void *p : held)
      if (p != slot(10) && p != slot(90) && p != slot(5))
         mspace_free(ms, p);
   mspace_free(ms, slot(10));
   mspace_free(ms, slot(90));
   CHECK(stats_of(ms).allocated_blocks == 0);
   CHECK(mspace_destroy(ms) == 0);
}

TEST_CASE("misuse of a slot is caught in O(1) and changes nothing" * doctest::skip(!TIER))
{
   mspace ms = mspace_create(1 * MiB);
   mspace other = mspace_create(1 * MiB);
   REQUIRE((ms && other));
   ErrorLog log;
   log.install(ms);
   void *a = mspace_malloc(ms, 48), *b = mspace_malloc(ms, 48), *c = mspace_malloc(ms, 48);
   void *foreign = mspace_malloc(other, 48);
   REQUIRE((a && b && c && foreign));
   fill(a, 48, 1);
   fill(c, 48, 3);
   mspace_free(ms, b);
   const mspace_stats_t before = stats_of(ms);
   struct Case
   {
      void *p;
      mspace_error_t error;
   } cases[] = {
      {b, MSPACE_ERROR_DOUBLE_FREE},
      {static_cast<unsigned char *>(a) + 16, MSPACE_ERROR_INVALID_POINTER},   // inside a slot
      {static_cast<unsigned char *>(a) + 8, MSPACE_ERROR_INVALID_POINTER},    // misaligned
      {page_of_block(a), MSPACE_ERROR_INVALID_POINTER},                       // the page's header
      {page_of_block(a) + PAGE_HEADER - SLOT, MSPACE_ERROR_INVALID_POINTER},  // its last words
      {foreign, MSPACE_ERROR_INVALID_POINTER},                                // another heap's slot
   };
   for (const Case &k : cases)
   {
      CAPTURE(k.p);
      log.clear();
      mspace_free(ms, k.p);
      CHECK(log.count == 1);
      CHECK(log.last == k.error);
      CHECK(log.last_p == k.p);
      log.clear();
      CHECK(mspace_realloc(ms, k.p, 100) == nullptr);
      CHECK(log.count == 1);
      CHECK(log.last == k.error);
      const mspace_stats_t after = stats_of(ms);
      CHECK_SAME_STATS(before, after);
   }
   CHECK(verify(a, 48, 1));
   CHECK(verify(c, 48, 3));
   CHECK_HEAP(ms);

   // the last slot of a page freed: the page goes back, and a second free of a slot of it
   // is still a double free (the page's trace is left where its check word was)
   log.clear();
   mspace_free(ms, a);
   mspace_free(ms, c);
   CHECK(log.count == 0);
   CHECK(stats_of(ms).in_use_bytes == 0);
   mspace_free(ms, c);
   CHECK(log.count == 1);
   CHECK(log.last == MSPACE_ERROR_DOUBLE_FREE);
   CHECK_HEAP(ms);
   CHECK(mspace_destroy(ms) == 0);
   CHECK(mspace_destroy(other) == 0);
}

TEST_CASE("a damaged page header is found by mspace_check; free goes by the page map; the heap is whole once it is repaired" * doctest::skip(!TIER))
{
   mspace ms = mspace_create(1 * MiB);
   REQUIRE(ms != nullptr);
   ErrorLog log;
   log.install(ms);
   void *a = mspace_malloc(ms, 64), *b = mspace_malloc(ms, 64);
   REQUIRE((a && b));
   unsigned char *check = page_of_block(a) + PAGE_CHECK_AT;   // the check word
   {
      Patch damage(check, read_word(check) ^ 0x100);
      CHECK(mspace_check(ms) != 0);
      // the state's page map, not the header, says where the pages are: a slot is still
      // freed as a slot, and a second free of it is caught
      mspace_free(ms, b);
      CHECK(log.count == 0);
      mspace_free(ms, b);
      CHECK(log.count == 1);
      CHECK(log.last == MSPACE_ERROR_DOUBLE_FREE);
   }
   log.clear();
   CHECK_HEAP(ms);
   mspace_free(ms, a);
   CHECK(log.count == 0);
   CHECK(mspace_destroy(ms) == 0);
}

TEST_CASE("reset forgets the pages: a slot from before is no block" * doctest::skip(!TIER))
{
   mspace ms = mspace_create(1 * MiB);
   REQUIRE(ms != nullptr);
   ErrorLog log;
   log.install(ms);
   void *old = mspace_malloc(ms, 32);
   REQUIRE(old != nullptr);
   mspace_reset(ms);
   void *big = mspace_malloc(ms, 16 * KiB);   // over the old page: its header is user bytes now
   REQUIRE(big != nullptr);
   std::memset(big, 0x5A, writable(big, 16 * KiB));
   CHECK(page_of_block(old) >= static_cast<unsigned char *>(big) - PAGE);
   mspace_free(ms, old);
   CHECK(log.count == 1);
   CHECK(log.last != MSPACE_ERROR_NONE);
   CHECK(stats_of(ms).allocated_blocks == 1);
   CHECK_HEAP(ms);
   CHECK(mspace_destroy(ms) == 0);
}

TEST_CASE("slots: realloc within the slot stays, beyond it moves; calloc zeroes a reused slot" * doctest::skip(!TIER))
{
   mspace ms = mspace_create(1 * MiB);
   REQUIRE(ms != nullptr);
   void *p = mspace_malloc(ms, 40), *keep = mspace_malloc(ms, 40);
   REQUIRE((p && keep));
   fill(p, 40, 7);
   CHECK(mspace_realloc(ms, p, 48) == p);            // the 48-byte slot holds it
   CHECK(mspace_realloc_in_place(ms, p, 8) == p);    // a slot keeps its size
   CHECK(mspace_realloc_in_place(ms, p, 49) == nullptr);
   CHECK(verify(p, 8, 7));
   void *q = mspace_realloc(ms, p, 1000);            // a chunk now
   REQUIRE(q != nullptr);
   CHECK(q != p);
   CHECK(verify(q, 8, 7));
   CHECK_USABLE(q, 1000);
   std::memset(keep, 0xFF, writable(keep, 40));
   mspace_free(ms, keep);
   void *z = mspace_calloc(ms, 5, 8);                // the slot p or keep had: both held data
   REQUIRE(z != nullptr);
   CHECK((z == p || z == keep));
   CHECK(all_bytes_are(z, 40, 0));
   mspace_free(ms, z);
   mspace_free(ms, q);
   CHECK_HEAP(ms);
   CHECK(mspace_destroy(ms) == 0);
}

TEST_CASE("a heap too small for a page still serves small requests, as chunks" * doctest::skip(!TIER))
{
   Buffer buf(4 * KiB);
   mspace ms = mspace_create_with_base(buf.base, 4 * KiB);
   REQUIRE(ms != nullptr);
   std::vector<void *> blocks;
   while (void *p = mspace_malloc(ms, 24))
      blocks.push_back(p);
   CHECK(blocks.size() > 40);   // 32-byte chunks: no page fits beside the bookkeeping
   CHECK(stats_of(ms).largest_free < 24);
   for (void *p : blocks)
      mspace_free(ms, p);
   CHECK(stats_of(ms).allocated_blocks == 0);
   CHECK_HEAP(ms);
   CHECK(mspace_destroy(ms) == 0);
}

// ---- what the caches used to bend, each with the test that shows it holds now ----------

TEST_CASE("realloc grows a chunk in place into a just-freed neighbour, and the first try on a full heap succeeds")
{
   PageBuffer buf(64 * KiB);
   mspace ms = mspace_create_with_base(buf.base, 64 * KiB);
   REQUIRE(ms != nullptr);
   void *p = mspace_malloc(ms, 300), *q = mspace_malloc(ms, 300), *guard = mspace_malloc(ms, 300);
   REQUIRE((p && q && guard));
   fill(p, 300, 1);
   mspace_free(ms, q);
   CHECK(mspace_realloc_in_place(ms, p, 600) == p);   // into q, at once: nothing holds it back
   CHECK(verify(p, 300, 1));
   std::vector<void *> rest;   // the heap full: no other free memory
   while (void *b = mspace_malloc(ms, 300))
      rest.push_back(b);
   while (void *b = mspace_malloc(ms, 0))
      rest.push_back(b);
   void *r = rest.front();
   void *s = rest.size() > 1 ? rest[1] : nullptr;
   REQUIRE(s != nullptr);
   if (static_cast<unsigned char *>(s) - static_cast<unsigned char *>(r) == std::ptrdiff_t(chunk_for(300)))
   {
      mspace_free(ms, s);   // r's neighbour: the only free memory of the heap
      CHECK(mspace_realloc(ms, r, 500) == r);   // the first call grows in place
      rest[1] = nullptr;
   }
   CHECK_HEAP(ms);
   for (void *b : rest)
      mspace_free(ms, b);
   mspace_free(ms, p);
   mspace_free(ms, guard);
   CHECK(stats_of(ms).allocated_blocks == 0);
   CHECK(mspace_destroy(ms) == 0);
}

TEST_CASE("freeing every block of a 16 MiB heap, large ones first, gives the footprint back")
{
   mspace ms = mspace_create(64 * MiB);
   REQUIRE(ms != nullptr);
   std::vector<void *> large, small;
   std::uint64_t r = 7;
   std::size_t live = 0;
   while (live < 16 * MiB)
   {
      r = r * 6364136223846793005ull + 1442695040888963407ull;
      const std::size_t n = std::size_t((r >> 40) % 4 ? 8 + (r >> 20) % 240 : 2000 + (r >> 20) % 60000);
      void *p = mspace_malloc(ms, n);
      REQUIRE(p != nullptr);
      (n > TIER_MAX ? large : small).push_back(p);
      live += n;
   }
   for (void *p : large)
      mspace_free(ms, p);
   for (void *p : small)
      mspace_free(ms, p);
   mspace_stats_t s = stats_of(ms);
   CHECK(s.allocated_blocks == 0);
   CHECK(s.free_blocks == 0);                    // everything merged into the top
   CHECK(s.footprint <= s.bookkeeping + TRIM_THRESHOLD + GRANULARITY);   // and trimmed itself
   CHECK(mspace_trim(ms, 0) >= 0);
   CHECK(mspace_footprint(ms) <= GRANULARITY);
   CHECK_HEAP(ms);
   CHECK(mspace_destroy(ms) == 0);
}

TEST_CASE("looking at the statistics changes nothing: the next blocks land where they would")
{
   PageBuffer one(1 * MiB), two(1 * MiB);
   mulle::heap looked_at(one.base, 1 * MiB);
   mspace a = looked_at.native_handle();
   mspace b = mspace_create_with_base(two.base, 1 * MiB);
   REQUIRE((a && b));
   std::vector<void *> pa, pb;
   for (int i = 0; i < 400; ++i)
   {
      const std::size_t n = 8 + std::size_t(i * 37) % 700;
      pa.push_back(mspace_malloc(a, n));
      pb.push_back(mspace_malloc(b, n));
   }
   for (std::size_t i = 0; i < pa.size(); i += 3)
   {
      mspace_free(a, pa[i]);
      mspace_free(b, pb[i]);
   }
   const mspace_stats_t first = stats_of(a);   // only heap a is looked at, three ways
   mspace_stats_t again;
   mspace_get_stats(a, &again);
   CHECK_SAME_STATS(first, again);
   const mulle::heap &view = looked_at;   // the C++ face's const stats()
   CHECK(view.stats().in_use_bytes == first.in_use_bytes);
   for (int i = 0; i < 400; ++i)
   {
      const std::size_t n = 8 + std::size_t(i * 53) % 700;
      void *x = mspace_malloc(a, n), *y = mspace_malloc(b, n);
      REQUIRE((x && y));
      CHECK(static_cast<unsigned char *>(x) - one.base == static_cast<unsigned char *>(y) - two.base);
   }
   CHECK(mspace_destroy(b) == 0);
}

TEST_CASE("a page cut from the top, wherever the top starts, gives its lead back free: the heap merges whole again")
{
   // Chunks of every size on the grid up to a page move the top's start through every
   // offset in a page; a slot then needs a page, cut from the top on its boundary (a lead
   // of one grid step cannot stand alone: the page goes to the next boundary).
   if (!TIER)
      return;
   for (std::size_t n = 300; n < 300 + 4096; n += A)
   {
      CAPTURE(n);
      mspace ms = mspace_create(1 << 20);
      REQUIRE(ms);
      unsigned char *c = static_cast<unsigned char *>(mspace_malloc(ms, n));
      REQUIRE(c);
      std::memset(c, 0x5a, n);
      void *s = mspace_malloc(ms, 16);   // a slot: a page made from the top
      REQUIRE(s);
      CHECK(mspace_check(ms) == 0);
      CHECK(stats_of(ms).allocated_blocks == 2);
      CHECK(stats_of(ms).free_blocks <= 1);   // the lead, where there is one
      mspace_free(ms, s);                     // the page goes back to the core
      bool intact = true;
      for (std::size_t i = 0; i < n; ++i)
         intact = intact && c[i] == 0x5a;
      CHECK(intact);
      mspace_free(ms, c);
      CHECK(mspace_check(ms) == 0);
      CHECK(stats_of(ms).free_blocks == 0);   // the lead merged: all is the top again
      CHECK(stats_of(ms).allocated_blocks == 0);
      mspace_destroy(ms);
   }
}

namespace {

// A heap whose block c ends where a page begins: the page of slot s is cut from the top
// with no lead, right after c (in use), and block d (of `before` bytes, where not 0) lies
// before c. c's request is the first from 300 bytes on that gets there; s is nullptr
// where none up to a page past it does (one always does).
struct PageAfterBlock
{
   PageBuffer buf{256 * KiB};
   mspace ms = nullptr;
   void *d = nullptr, *c = nullptr, *s = nullptr;
   explicit PageAfterBlock(std::size_t before = 0)
   {
      for (std::size_t n = 300; n < 300 + PAGE + A && !s; n += A)
      {
         if (ms)
            mspace_destroy(ms);
         ms = mspace_create_with_base(buf.base, 256 * KiB);
         d = before ? mspace_malloc(ms, before) : nullptr;
         c = mspace_malloc(ms, n);
         s = mspace_malloc(ms, 64);
         if (!c || !s || page_of_block(s) != bytes(c) + mspace_usable_size(c) + OVERHEAD)
            s = nullptr;   // a lead lies between them
      }
   }
   ~PageAfterBlock()
   {
      if (ms)
         mspace_destroy(ms);
   }
};

} // namespace

TEST_CASE("a page whose last slot is freed stays, held, where it keeps no free memory from merging: one block taken and freed at a page's edge makes no page" * doctest::skip(!TIER || MULLE_TEST_CHECKER))
{
   mspace ms = mspace_create(4 * MiB);
   REQUIRE(ms != nullptr);
   // a page of 64-byte slots filled: the next one is a page of its own, cut from the top
   // right behind the first (the top lies on a page boundary then)
   std::vector<void *> full;
   for (std::size_t i = 0; i < slots_per_page(64); ++i)
      full.push_back(mspace_malloc(ms, 64));
   REQUIRE(full.back() != nullptr);
   void *p = mspace_malloc(ms, 64);
   REQUIRE(p != nullptr);
   REQUIRE(page_of_block(p) != page_of_block(full.back()));
   const std::size_t footprint = mspace_footprint(ms);
   const std::size_t free_chunks = stats_of(ms).free_blocks;  // the first page's lead, if any
   mspace_free(ms, p);                                        // its page empties: held
   CHECK(free_slot_ranges(ms, 64) == slots_per_page(64));           // still a page, every slot free
   CHECK(mspace_check(ms) == 0);
   mspace_stats_t s = stats_of(ms);
   CHECK(s.allocated_blocks == full.size());
   CHECK(s.free_blocks == free_chunks);                       // none beside it
   CHECK(s.footprint == footprint);
   bool stays = true;                                         // the loop keeps the page,
   for (int i = 0; i < 100; ++i)                              // empty, after every free
   {
      void *q = mspace_malloc(ms, 64);
      REQUIRE(q == p);
      mspace_free(ms, q);
      stays = stays && free_slot_ranges(ms, 64) == slots_per_page(64);
   }
   CHECK(stays);
   // mspace_trim gives it back: what is free merges into the top again
   mspace_trim(ms, 0);
   CHECK(free_slot_ranges(ms, 64) == 0);
   CHECK(mspace_check(ms) == 0);
   for (void *b : full)
      mspace_free(ms, b);
   s = stats_of(ms);
   CHECK(s.allocated_blocks == 0);
   CHECK(s.free_blocks == 0);
   CHECK(s.free_bytes == s.top_bytes);
   CHECK(mspace_destroy(ms) == 0);
}

TEST_CASE("on a fresh heap one block taken and freed in a loop keeps its page, with the lead before it; the page goes back where the free memory before it grows to a page" * doctest::skip(!TIER || MULLE_TEST_CHECKER))
{
   mspace ms = mspace_create(4 * MiB);
   REQUIRE(ms != nullptr);
   void *p = mspace_malloc(ms, 64);   // the first page, cut from the top past its lead
   REQUIRE(p != nullptr);
   mspace_free(ms, p);
   bool stays = true;   // held after every free: the same slot every time
   for (int i = 0; i < 100; ++i)
   {
      void *q = mspace_malloc(ms, 64);
      REQUIRE(q == p);
      mspace_free(ms, q);
      stays = stays && free_slot_ranges(ms, 64) == slots_per_page(64);
   }
   CHECK(stays);
   CHECK(mspace_check(ms) == 0);
   mspace_stats_t s = stats_of(ms);   // all of it counts as the top, as in Lea's order
   CHECK(s.allocated_blocks == 0);
   CHECK(s.free_blocks == 0);
   CHECK(s.free_bytes == s.top_bytes);
   CHECK(s.in_use_bytes == 0);
   mspace_trim(ms, 0);   // gives it back
   CHECK(free_slot_ranges(ms, 64) == 0);
   CHECK(stats_of(ms).free_bytes == s.free_bytes);
   CHECK(mspace_check(ms) == 0);

   // a block of a page first: the page's lead lies between it and the page. Held while
   // that lead is all the free memory before it; freed, the block makes it a page or more,
   // and the page goes back
   void *a = mspace_malloc(ms, PAGE);
   p = mspace_malloc(ms, 64);
   REQUIRE(a != nullptr);
   REQUIRE(p != nullptr);
   REQUIRE(page_of_block(p) > static_cast<unsigned char *>(a));
   mspace_free(ms, p);
   CHECK(free_slot_ranges(ms, 64) == slots_per_page(64));
   CHECK(stats_of(ms).allocated_blocks == 1);
   mspace_free(ms, a);
   CHECK(free_slot_ranges(ms, 64) == 0);
   s = stats_of(ms);
   CHECK(s.allocated_blocks == 0);
   CHECK(s.free_blocks == 0);
   CHECK(s.free_bytes == s.top_bytes);
   CHECK(mspace_check(ms) == 0);
   CHECK(mspace_destroy(ms) == 0);
}

TEST_CASE("a page held past its lead goes back where a block freed before it merges with the lead: the blocks that follow come from the top, as in Lea's order" * doctest::skip(!TIER || MULLE_TEST_CHECKER))
{
   mspace ms = mspace_create(4 * MiB);
   REQUIRE(ms != nullptr);
   // a page first: the top starts on a page boundary behind it (blocks of 300 bytes take
   // the page's own lead first, then the top); two chunks there, then a page of another
   // size, cut past a lead that ends on the next boundary: the second chunk and the lead
   // together are less than a page
   void *first = mspace_malloc(ms, 64);
   REQUIRE(first != nullptr);
   void *y = nullptr;
   for (int i = 0; i < 64 && static_cast<unsigned char *>(y) < page_of_block(first); ++i)
      y = mspace_malloc(ms, 300);
   void *x = mspace_malloc(ms, 300);
   void *p = mspace_malloc(ms, 128);
   REQUIRE(static_cast<unsigned char *>(y) > page_of_block(first));
   REQUIRE(x != nullptr);
   REQUIRE(p != nullptr);
   REQUIRE(static_cast<unsigned char *>(x) > static_cast<unsigned char *>(y));
   REQUIRE(page_of_block(p) > static_cast<unsigned char *>(x));
   REQUIRE(page_of_block(p) - bytes(x) < static_cast<std::ptrdiff_t>(PAGE));
   mspace_free(ms, p);   // the page empties with its lead as it was cut: held
   CHECK(free_slot_ranges(ms, 128) == slots_per_page(128));
   CHECK(mspace_check(ms) == 0);
   // x merges with the lead, still less than a page: the page goes back, and all of it
   // from x on is the top again (held, it would keep that from the top, and the next
   // chunks would search the bins for it)
   const mspace_stats_t before = stats_of(ms);   // the held page and its lead count as the top
   const std::size_t    xs     = mspace_usable_size(x) + W;
   mspace_free(ms, x);
   CHECK(free_slot_ranges(ms, 128) == 0);
   const mspace_stats_t s = stats_of(ms);
   CHECK(s.allocated_blocks == before.allocated_blocks - 1);
   CHECK(s.free_blocks == before.free_blocks);   // no free chunk more
   CHECK(s.top_bytes == before.top_bytes + xs);
   CHECK(mspace_check(ms) == 0);
   CHECK(mspace_malloc(ms, 300) == x);   // from the top, where it was
   CHECK(mspace_destroy(ms) == 0);
}

TEST_CASE("a page held past its lead: a heap with one attaches, and a realloc grows through the lead into it" * doctest::skip(!TIER || MULLE_TEST_CHECKER))
{
   PageBuffer buf{256 * KiB};
   mspace ms = mspace_create_with_base(buf.base, 256 * KiB);
   REQUIRE(ms != nullptr);
   unsigned char *a = bytes(mspace_malloc(ms, 1000));
   void *p = mspace_malloc(ms, 64);   // its page cut past a lead, behind a
   REQUIRE(a != nullptr);
   REQUIRE(p != nullptr);
   REQUIRE(page_of_block(p) > a + mspace_usable_size(a) + OVERHEAD);   // the lead: a free chunk
   std::memset(a, 0x5a, 1000);
   mspace_free(ms, p);
   REQUIRE(free_slot_ranges(ms, 64) == slots_per_page(64));   // held
   const mspace_stats_t before = stats_of(ms);
   CHECK(before.free_blocks == 0);   // the lead counts as the top, with the page
   CHECK(before.free_bytes == before.top_bytes);

   CHECK(mspace_detach(ms) == 0);   // attached again, the page is believed held as it was
   ms = mspace_attach(buf.base, 256 * KiB);
   REQUIRE(ms != nullptr);
   CHECK(mspace_check(ms) == 0);
   const mspace_stats_t after = stats_of(ms);
   CHECK(after.free_bytes == before.free_bytes);
   CHECK(after.top_bytes == before.top_bytes);
   CHECK(after.largest_free == before.largest_free);
   CHECK(mspace_malloc(ms, 64) == p);
   mspace_free(ms, p);
   CHECK(free_slot_ranges(ms, 64) == slots_per_page(64));

   // a grows in place through the lead and the page into the top, as in Lea's order
   CHECK(mspace_realloc_in_place(ms, a, 8000) == a);
   CHECK(free_slot_ranges(ms, 64) == 0);
   bool intact = true;
   for (std::size_t i = 0; i < 1000; ++i)
      intact = intact && a[i] == 0x5a;
   CHECK(intact);
   CHECK(mspace_check(ms) == 0);
   CHECK(mspace_destroy(ms) == 0);
}

TEST_CASE("the held page goes back where a block beside it is freed, a realloc grows into it or frees the tail beside it, or a malloc needs it" * doctest::skip(!TIER || MULLE_TEST_CHECKER))
{
   for (int way = 0; way < 5; ++way)
   {
      CAPTURE(way);
      PageAfterBlock h;
      REQUIRE(h.s != nullptr);
      mspace ms = h.ms;
      unsigned char *c = bytes(h.c);
      const std::size_t cn = mspace_usable_size(c);
      std::memset(c, 0x5a, cn);
      mspace_free(ms, h.s);                        // the page after c empties: held
      REQUIRE(free_slot_ranges(ms, 64) == slots_per_page(64));
      REQUIRE(mspace_check(ms) == 0);
      const mspace_stats_t before = stats_of(ms);
      CHECK(before.free_blocks == 0);
      if (way == 0)
      {
         // beside it: the page goes back and merges with it, whatever its size (the free
         // chunk a held page may keep before it is the lead it was cut past, as it was:
         // the test before)
         mspace_free(ms, c);
         CHECK(free_slot_ranges(ms, 64) == 0);
         const mspace_stats_t s = stats_of(ms);
         CHECK(s.allocated_blocks == 0);
         CHECK(s.free_blocks == 0);               // all of it is the top again
         CHECK(s.free_bytes == s.top_bytes);
      }
      else if (way == 1)
      {
         CHECK(mspace_realloc_in_place(ms, c, cn + 2 * PAGE) == c);   // into the page and the top
         CHECK(mspace_usable_size(c) >= cn + 2 * PAGE);
         CHECK(free_slot_ranges(ms, 64) == 0);
         bool intact = true;
         for (std::size_t i = 0; i < cn; ++i)
            intact = intact && c[i] == 0x5a;
         CHECK(intact);
      }
      else if (way == 4)
      {
         CHECK(mspace_realloc_in_place(ms, c, 40) == c);   // its tail, freed, lies beside the page,
         CHECK(free_slot_ranges(ms, 64) == 0);              // which goes back, as in way 0
         const mspace_stats_t s = stats_of(ms);
         CHECK(s.allocated_blocks == 1);
         CHECK(s.free_blocks == 0);   // the tail, the page and the top merged
         CHECK(s.free_bytes == s.top_bytes);
      }
      else
      {
         // the largest request counts the page with the top behind it: it gets the page back
         void *q = way == 2 ? mspace_malloc(ms, before.largest_free) : mspace_calloc(ms, 1, before.largest_free);
         CHECK(q != nullptr);
         CHECK(free_slot_ranges(ms, 64) == 0);
         CHECK(mspace_malloc(ms, 64) == nullptr);   // nothing left, not even a page
         mspace_free(ms, q);
         CHECK(mspace_malloc(ms, before.largest_free + A) == nullptr);   // and no more than that
      }
      CHECK(mspace_check(ms) == 0);
   }
}

TEST_CASE("the held page goes back where a free grows the victim beside it, and where another page empties" * doctest::skip(!TIER || MULLE_TEST_CHECKER))
{
   SUBCASE("a block freed between the designated victim and the held page")
   {
      PageAfterBlock h(3000);   // d, then c, then the page
      REQUIRE(h.s != nullptr);
      REQUIRE(h.d != nullptr);
      mspace ms = h.ms;
      mspace_free(ms, h.s);                                   // held
      REQUIRE(free_slot_ranges(ms, 64) == slots_per_page(64));
      mspace_free(ms, h.d);                                   // binned: c is in use
      void *small = mspace_malloc(ms, 300);                   // cut from d: the rest is the dv,
      REQUIRE(small == h.d);                                  // right before c
      mspace_free(ms, h.c);                                   // grows the dv up to the page
      CHECK(free_slot_ranges(ms, 64) == 0);                          // which went back and merged
      const mspace_stats_t st = stats_of(ms);
      CHECK(st.allocated_blocks == 1);
      CHECK(st.free_blocks == 0);                              // all of it the top, but small
      CHECK(mspace_check(ms) == 0);
   }
   SUBCASE("another page empties")
   {
      mspace ms = mspace_create(4 * MiB);
      REQUIRE(ms != nullptr);
      std::vector<void *> full;
      for (std::size_t i = 0; i < slots_per_page(64); ++i)
         full.push_back(mspace_malloc(ms, 64));
      void *p = mspace_malloc(ms, 64);                        // a page right behind the full one
      REQUIRE(p != nullptr);
      mspace_free(ms, p);                                     // held
      REQUIRE(free_slot_ranges(ms, 64) == slots_per_page(64));
      void *q = mspace_malloc(ms, 128);                       // a page right behind the held one
      REQUIRE(q != nullptr);
      REQUIRE(page_of_block(q) == page_of_block(p) + PAGE);
      mspace_free(ms, q);   // empties: the held page goes back first, and this one follows it
      CHECK(free_slot_ranges(ms, 64) == 0);
      CHECK(free_slot_ranges(ms, 128) == 0);
      CHECK(mspace_check(ms) == 0);
      for (void *b : full)
         mspace_free(ms, b);
      const mspace_stats_t st = stats_of(ms);
      CHECK(st.allocated_blocks == 0);
      CHECK(st.free_blocks == 0);
      CHECK(st.free_bytes == st.top_bytes);
      CHECK(mspace_destroy(ms) == 0);
   }
}

TEST_CASE("a damaged link of a size's list of pages is reported by the free or malloc that meets it, which writes nothing through it" * doctest::skip(!TIER))
{
   // a page of 64-byte slots filled (it leaves the list) and a second page its list's
   // head; a link overwritten with an address outside the heap, which a write through it
   // would crash on
   const std::size_t N = (PAGE - 2 * W - PAGE_HEADER) / 64;   // slots a page holds
   const std::size_t WILD = 0x1230;
   for (int link = 0; link < 2; ++link)
   {
      mspace ms = mspace_create(1 * MiB);
      REQUIRE(ms != nullptr);
      ErrorLog log;
      log.install(ms);
      std::vector<void *> first, second;
      for (std::size_t i = 0; i < N; ++i)
         first.push_back(mspace_malloc(ms, 64));
      second.push_back(mspace_malloc(ms, 64));
      unsigned char *p1 = page_of_block(first[0]), *p2 = page_of_block(second[0]);
      REQUIRE(page_of_block(first.back()) == p1);
      REQUIRE(p2 != p1);
      if (link == 0)
      {
         {
            // the head's link back: the full page that gets a slot back cannot join the
            // list's end; the free is done, the page stays out of the list
            Patch damage(p2 + W, WILD);
            mspace_free(ms, first[5]);
            CHECK(log.count == 1);
            CHECK(log.last == MSPACE_ERROR_CORRUPTION);
            CHECK(mspace_check(ms) != 0);
         }
         log.clear();
         mspace_free(ms, first[6]);   // repaired: the page joins the list now
         CHECK(log.count == 0);
         CHECK_HEAP(ms);
         void *again = mspace_malloc(ms, 64);   // from the head, which has room
         CHECK(page_of_block(again) == p2);
      }
      else
      {
         mspace_free(ms, first[5]);   // the list: the second page, then the first
         while (second.size() < N)
            second.push_back(mspace_malloc(ms, 64));
         REQUIRE(page_of_block(second.back()) == p2);   // the head is full now
         {
            // the full head's link forward: the malloc that would take the next page's
            // slot fails, reported
            Patch damage(p2, WILD);
            CHECK(mspace_malloc(ms, 64) == nullptr);
            CHECK(log.count == 1);
            CHECK(log.last == MSPACE_ERROR_CORRUPTION);
         }
         log.clear();
         CHECK_HEAP(ms);
         void *again = mspace_malloc(ms, 64);   // repaired: the first page's free slot
         CHECK(again == first[5]);
         CHECK(log.count == 0);
      }
      CHECK(mspace_destroy(ms) == 0);
   }
}
