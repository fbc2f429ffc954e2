// MSPACE_LOCKED: mspace_create_flags and mspace_create_with_base_flags, every call on a locked
// mspace, and one locked mspace shared by threads. (`make test-shared` loads it harder, with
// processes sharing a mapping and under ThreadSanitizer.)
#include <doctest/doctest.h>
#include "mulle_dlmalloc.hpp"
#include "test_helpers.h"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <iterator>
#include <cstdint>
#include <cstdlib>
#include <thread>
#include <vector>

using namespace test;

TEST_CASE("create_flags: 0, MSPACE_LOCKED, MSPACE_ZEROED and MSPACE_HUGE_PAGES are the flags there are")
{
   Buffer buf(64 * KiB);
   for (unsigned bad : {8u, 16u, 0x80000000u, MSPACE_LOCKED | 8u, MSPACE_ZEROED | 0x100u})
   {
      CAPTURE(bad);
      CHECK(mspace_create_flags(1 * MiB, bad) == nullptr);
      CHECK(mspace_create_with_base_flags(buf.base, 64 * KiB, bad) == nullptr);
   }
   mspace plain = mspace_create_flags(1 * MiB, 0);
   REQUIRE(plain != nullptr);
   void *p = mspace_malloc(plain, 100);
   CHECK(p != nullptr);
   mspace_free(plain, p);
   CHECK_HEAP(plain);
   CHECK(mspace_destroy(plain) == 0);
}

namespace {

// A locked mspace, or NULL where the target has no lock-free atomics (then the flag is
// refused, as the contract says).
mspace create_locked(void *base, std::size_t capacity)
{
   mspace ms = base ? mspace_create_with_base_flags(base, capacity, MSPACE_LOCKED)
                    : mspace_create_flags(capacity, MSPACE_LOCKED);
   if (!ms)
      MESSAGE("MSPACE_LOCKED refused: no locks on this target");
   return ms;
}

}  // namespace

TEST_CASE("a locked mspace answers every call as an unlocked one does")
{
   Buffer buf(1 * MiB);
   for (void *base : {static_cast<void *>(nullptr), static_cast<void *>(buf.base + 3)})
   {
      CAPTURE(base);
      mspace ms = create_locked(base, 1 * MiB - 3);
      if (!ms)
         return;
      ErrorLog log;
      log.install(ms);

      void *a = mspace_malloc(ms, 100);
      void *b = mspace_calloc(ms, 10, 30);
      void *c = mspace_memalign(ms, 256, 500);
      REQUIRE((a && b && c));
      CHECK(is_aligned(c, 256));
      CHECK(all_bytes_are(b, 300, 0));
      CHECK_USABLE(a, 100);
      fill(a, 100, 1);
      a = mspace_realloc(ms, a, 5000);
      REQUIRE(a != nullptr);
      CHECK(verify(a, 100, 1));
      CHECK(mspace_realloc_in_place(ms, a, 1000) == a);
      CHECK(mspace_is_heap_object(ms, a));
      CHECK(mspace_max_request(ms) > 0);
      CHECK(mspace_footprint(ms) <= mspace_max_footprint(ms));
      CHECK(chunks_of(ms).size() >= 4);
      CHECK(stats_of(ms).allocated_blocks == 3);
      CHECK_HEAP(ms);
      CHECK_LARGEST_FREE(ms);

      // misuse reaches the handler (which runs with the lock held and does not call back)
      int on_stack = 0;
      mspace_free(ms, &on_stack);
      CHECK(log.count == 1);
      CHECK(log.last == MSPACE_ERROR_INVALID_POINTER);
      mspace_report_error(ms, MSPACE_ERROR_CORRUPTION, a);
      CHECK(log.count == 2);

      mspace_free(ms, a);
      mspace_free(ms, b);
      mspace_free(ms, c);
      CHECK(stats_of(ms).allocated_blocks == 0);
      void *big = mspace_malloc(ms, 600 * KiB);
      CHECK(big != nullptr);
      mspace_free(ms, big);
      CHECK(mspace_trim(ms, 0) == 1);
      CHECK(mspace_malloc(ms, 1000) != nullptr);
      mspace_reset(ms);
      CHECK(stats_of(ms).allocated_blocks == 0);
      CHECK_HEAP(ms);
      CHECK(log.count == 2);
      CHECK(mspace_destroy(ms) == 0);
   }
}

TEST_CASE("a locked mspace shared by threads loses and damages nothing")
{
   mspace ms = create_locked(nullptr, 16 * MiB);
   if (!ms)
      return;
   ErrorLog log;
   log.install(ms);
   const char *scale_env = std::getenv("MULLE_TEST_SCALE");
   std::size_t scale = scale_env ? std::size_t(std::strtoull(scale_env, nullptr, 10)) : 1;
   const std::size_t ops = 20000 / (scale ? scale : 1) + 100;
   const unsigned nthreads = 4;   // more threads than cores: the lock is contended
   std::atomic<std::size_t> damaged{0}, failed{0};

   auto work = [&](unsigned t) {
      std::uint32_t x = 12345u + t;
      struct Block
      {
         void *p;
         std::size_t n;
         std::uint32_t seed;
      };
      std::vector<Block> mine;
      for (std::size_t i = 0; i < ops; ++i)
      {
         x = x * 1103515245u + 12345u;
         if (mine.size() < 64 && (x >> 16) % 3 != 0)
         {
            std::size_t n = (x >> 8) % ((x & 15) == 0 ? 20000 : 300);
            void *p = (x & 7) == 1 ? mspace_memalign(ms, 64, n) : mspace_malloc(ms, n);
            if (!p)
            {
               ++failed;
               continue;
            }
            fill(p, n, std::uint32_t(i) ^ t);
            mine.push_back(Block{p, n, std::uint32_t(i) ^ t});
         }
         else if (!mine.empty())
         {
            std::size_t k = (x >> 4) % mine.size();
            Block b = mine[k];
            mine[k] = mine.back();
            mine.pop_back();
            damaged += !verify(b.p, b.n, b.seed);
            if ((x & 3) == 0)
            {
               void *q = mspace_realloc(ms, b.p, b.n + 100);
               if (q)
                  b.p = q;
               damaged += !verify(b.p, b.n, b.seed);
            }
            mspace_free(ms, b.p);
         }
      }
      for (const Block &b : mine)
      {
         damaged += !verify(b.p, b.n, b.seed);
         mspace_free(ms, b.p);
      }
   };
   std::vector<std::thread> threads;
   for (unsigned t = 0; t < nthreads; ++t)
      threads.emplace_back(work, t);
   for (std::thread &th : threads)
      th.join();

   CHECK(damaged == 0);
   CHECK(failed == 0);   // 4 x 64 blocks of at most 20 KB fit with room to spare
   CHECK(log.count == 0);
   const mspace_stats_t s = stats_of(ms);
   CHECK(s.allocated_blocks == 0);
   CHECK(s.in_use_bytes == 0);
   CHECK_HEAP(ms);
   CHECK(mspace_destroy(ms) == 0);
}

TEST_CASE("fronts: threads take small blocks from pages of their own; a block freed by another thread, a double free and the stats are seen as without them")
{
   mspace ms = create_locked(nullptr, 16 * MiB);
   if (!ms)
      return;
   ErrorLog log;
   log.install(ms);
   const std::size_t n = 2000, size = 48;
   std::vector<void *> a(n), b(n);
   // two threads, one after the other: threads are given fronts in turn as they first
   // take one, so two threads that start one after the other take neighbouring fronts
   std::thread ta([&] {
      for (void *&p : a)
         REQUIRE((p = mspace_malloc(ms, size)) != nullptr);
   });
   ta.join();
   std::thread tb([&] {
      for (void *&p : b)
         REQUIRE((p = mspace_malloc(ms, size)) != nullptr);
   });
   tb.join();
   auto frame = [](void *p) { return reinterpret_cast<std::uintptr_t>(p) / PAGE; };
   std::vector<std::uintptr_t> fa, fb;
   for (std::size_t i = 0; i < n; ++i)
   {
      fa.push_back(frame(a[i]));
      fb.push_back(frame(b[i]));
      std::memset(a[i], 0xA1, size);
      std::memset(b[i], 0xB2, size);
   }
   std::sort(fa.begin(), fa.end());
   std::sort(fb.begin(), fb.end());
   std::vector<std::uintptr_t> shared;
   std::set_intersection(fa.begin(), fa.end(), fb.begin(), fb.end(), std::back_inserter(shared));
   MESSAGE(FRONTS << " fronts: " << shared.size() << " pages hold blocks of both threads");
   if (TIER && FRONTS > 1)
      CHECK(shared.empty());
   else if (TIER)
      CHECK(!shared.empty());
   CHECK(stats_of(ms).allocated_blocks == 2 * n);
   CHECK_HEAP(ms);

   // each thread frees the other's blocks, at the same time
   std::atomic<std::size_t> damaged{0};
   auto free_all = [&](std::vector<void *> &v, unsigned char byte) {
      for (void *p : v)
      {
         for (std::size_t k = 0; k < size; ++k)
            damaged += static_cast<unsigned char *>(p)[k] != byte;
         mspace_free(ms, p);
      }
   };
   std::thread fa_t([&] { free_all(b, 0xB2); }), fb_t([&] { free_all(a, 0xA1); });
   fa_t.join();
   fb_t.join();
   CHECK(damaged == 0);
   CHECK(log.count == 0);
   const mspace_stats_t s = stats_of(ms);
   CHECK(s.allocated_blocks == 0);
   CHECK(s.in_use_bytes == 0);
   CHECK_HEAP(ms);

   // a second free of a slot, from another thread than the one that took it
   void *p = nullptr, *keep = nullptr;   // keep: the page stays, the second free finds it
   std::thread tc([&] {
      p    = mspace_malloc(ms, size);
      keep = mspace_malloc(ms, size);
   });
   tc.join();
   REQUIRE((p && keep));
   mspace_free(ms, p);
   std::thread td([&] { mspace_free(ms, p); });
   td.join();
   CHECK(log.count == 1);
   CHECK(log.last == MSPACE_ERROR_DOUBLE_FREE);
   mspace_free(ms, keep);
   CHECK(stats_of(ms).allocated_blocks == 0);
   CHECK_HEAP(ms);
   CHECK(mspace_destroy(ms) == 0);
}

TEST_CASE("fronts: on a full heap a small request takes a free slot of another thread's front")
{
   static std::vector<unsigned char> buffer(256 * KiB + PAGE);
   void *base = buffer.data() + (PAGE - reinterpret_cast<std::uintptr_t>(buffer.data()) % PAGE);
   mspace ms = create_locked(base, 256 * KiB);
   if (!ms)
      return;
   std::vector<void *> v;
   std::thread a([&] {
      while (void *p = mspace_malloc(ms, 16))
         v.push_back(p);
   });
   a.join();
   REQUIRE(v.size() > 100);
   mspace_free(ms, v[0]);   // one slot free, in the first thread's front
   const mspace_stats_t s = stats_of(ms);
   CHECK(s.largest_free >= 16);
   void *q = nullptr;
   std::thread b([&] { q = mspace_malloc(ms, 16); });   // a thread of another front
   b.join();
   CHECK(q == v[0]);   // what largest_free promised, from any thread
   v[0] = q;
   for (void *p : v)
      mspace_free(ms, p);
   CHECK(stats_of(ms).allocated_blocks == 0);
   CHECK_HEAP(ms);
   CHECK(mspace_destroy(ms) == 0);
}

namespace {

std::uintptr_t frame(const void *p) { return reinterpret_cast<std::uintptr_t>(p) / PAGE; }

// Pages of the slot size of a request of n bytes with every slot free (a free chunk of a
// slot's length may add a range, never a page's worth).
std::size_t empty_pages(mspace ms, std::size_t n) { return free_slot_ranges(ms, slot_for(n)) / slots_per_page(n); }

}  // namespace

TEST_CASE("fronts: the pages a thread empties stay its front's spares, cut anew for its next pages of any size, or its held page; trim and a malloc that needs the memory give them back")
{
   if (!TIER || FRONTS == 1)
      return;
   mspace ms = create_locked(nullptr, 16 * MiB);
   if (!ms)
      return;
   const std::size_t SPARES = 4;   // a front keeps this many
   std::thread t([&] {
      // one block in each of SPARES + 1 pages of different slot sizes, freed in turn
      std::vector<void *> first;
      for (std::size_t k = 0; k <= SPARES; ++k)
         first.push_back(mspace_malloc(ms, 16 + 32 * k));
      for (void *p : first)
         REQUIRE(p != nullptr);
      for (void *p : first)
         mspace_free(ms, p);
      CHECK(mspace_check(ms) == 0);
      const mspace_stats_t s = stats_of(ms);
      CHECK(s.allocated_blocks == 0);
      CHECK(s.in_use_bytes == 0);   // a spare is free memory
      CHECK(free_slot_ranges(ms, 16) == slots_per_page(16));   // the first page, whole

      // each page emptied alone in its size's list stayed there, the front's held page,
      // and made the one held before it a spare: the last one is held, the four before it
      // are the spares, and the next chunk starts past them all
      CHECK(empty_pages(ms, 16 + 32 * SPARES) == 1);
      void *big = mspace_malloc(ms, 5000);
      CHECK(frame(big) != frame(first[SPARES]));
      CHECK(empty_pages(ms, 16 + 32 * SPARES) == 1);

      // the next new pages are the spares, the last emptied first, each cut for a slot
      // size it never had
      std::vector<void *> again;
      for (std::size_t k = 0; k < SPARES; ++k)
      {
         again.push_back(mspace_malloc(ms, 400 - 16 * k));
         CHECK(frame(again.back()) == frame(first[SPARES - 1 - k]));
      }
      for (void *p : again)
         mspace_free(ms, p);
      mspace_free(ms, big);
   });
   t.join();
   CHECK(mspace_check(ms) == 0);

   // mspace_trim gives every spare back
   std::size_t spares = 0;
   for (std::size_t k = 0; k < SPARES; ++k)
      spares += empty_pages(ms, 400 - 16 * k);
   CHECK(spares == SPARES);
   mspace_trim(ms, 0);
   for (std::size_t k = 0; k < SPARES; ++k)
      CHECK(empty_pages(ms, 400 - 16 * k) == 0);
   CHECK(mspace_check(ms) == 0);
   CHECK(mspace_destroy(ms) == 0);
}

TEST_CASE("fronts: a page that empties alone in its size's list stays there, held: one block taken and freed in a loop at a page's edge keeps its page")
{
   if (!TIER || FRONTS == 1)
      return;
   mspace ms = create_locked(nullptr, 16 * MiB);
   if (!ms)
      return;
   std::thread t([&] {
      std::vector<void *> full;   // a page of 64-byte slots filled: the next is a new page
      for (std::size_t i = 0; i < slots_per_page(64); ++i)
         full.push_back(mspace_malloc(ms, 64));
      void *p = mspace_malloc(ms, 64);
      REQUIRE(p != nullptr);
      REQUIRE(frame(p) != frame(full.back()));
      mspace_free(ms, p);   // empties: alone in its list (the full one left it), held there
      CHECK(empty_pages(ms, 64) == 1);
      CHECK(mspace_check(ms) == 0);
      bool same = true;
      for (int i = 0; i < 100; ++i)
      {
         void *q = mspace_malloc(ms, 64);
         same = same && q == p;
         mspace_free(ms, q);
      }
      CHECK(same);
      // held, not a spare: a page of another size is a new one (a spare would be cut
      // anew for it, in the held page's frame)
      void *other = mspace_malloc(ms, 128);
      REQUIRE(other != nullptr);
      CHECK(frame(other) != frame(p));
      CHECK(empty_pages(ms, 64) == 1);
      mspace_free(ms, other);   // alone too: held now, and the 64-byte page a spare
      CHECK(empty_pages(ms, 64) == 1);
      CHECK(empty_pages(ms, 128) == 1);
      CHECK(mspace_check(ms) == 0);
      // the spare is the 64-byte page, not the 128-byte one: a third size cuts its frame anew
      void *third = mspace_malloc(ms, 256);
      CHECK(frame(third) == frame(p));
      CHECK(empty_pages(ms, 128) == 1);
      mspace_free(ms, third);
      CHECK(mspace_check(ms) == 0);
      for (void *b : full)
         mspace_free(ms, b);
   });
   t.join();
   CHECK(stats_of(ms).allocated_blocks == 0);
   mspace_trim(ms, 0);   // gives back the held page with the spares
   CHECK(empty_pages(ms, 64) == 0);
   CHECK(empty_pages(ms, 128) == 0);
   CHECK(mspace_check(ms) == 0);
   CHECK(mspace_destroy(ms) == 0);
}

TEST_CASE("fronts: mspace_trim says whether the footprint shrank, also where giving back a front's held page lets the top grow past the trim threshold")
{
   // a big block, then a page of slots behind it: freeing the slot keeps the page as the
   // front's held page, freeing the big block leaves a free chunk that the page keeps from
   // the top. mspace_trim gives the page back, the chunk joins the top, and the top is
   // trimmed to the pad that mspace_trim was given (the automatic trim of giving the page
   // back once shrank it first, and mspace_trim said 0)
   // (without fronts the big block joins the top as it is freed: the same holds, with
   // nothing left to trim where the top trimmed itself then)
   for (std::size_t pad : {std::size_t(0), std::size_t(64 * KiB)})
   {
      mspace ms = create_locked(nullptr, 3 * MiB);
      if (!ms)
         return;
      void *big = mspace_malloc(ms, 3045729), *small = mspace_malloc(ms, 14);
      REQUIRE((big && small));
      CHECK(static_cast<unsigned char *>(small) > static_cast<unsigned char *>(big));
      mspace_free(ms, small);
      mspace_free(ms, big);
      const std::size_t before = mspace_footprint(ms);
      const int         ret    = mspace_trim(ms, pad);
      const mspace_stats_t st  = stats_of(ms);
      CHECK((ret == 1) == (st.footprint < before));
      if (ret)
         CHECK(st.top_bytes >= pad);
      if (TIER && FRONTS > 1)
         CHECK(ret == 1);   // the held page kept the big block's chunk from the top until now
      CHECK(mspace_trim(ms, pad) == 0);   // nothing more to give back
      CHECK(mspace_footprint(ms) == st.footprint);
      CHECK(mspace_check(ms) == 0);
      CHECK(mspace_destroy(ms) == 0);
   }
}

TEST_CASE("fronts: a malloc, memalign or realloc that needs the memory of the fronts' spares gets it")
{
   if (!TIER || FRONTS == 1)
      return;
   for (int way = 0; way < 3; ++way)
   {
      CAPTURE(way);
      Buffer buf(96 * KiB);
      mspace ms = create_locked(buf.base, 96 * KiB);
      if (!ms)
         return;
      // the spares of two fronts, a block behind them, then the top taken whole: the
      // spares are the largest free memory
      for (int k = 0; k < 2; ++k)
      {
         std::thread t([&] {
            std::vector<void *> v;
            for (std::size_t c = 0; c < 4; ++c)
               v.push_back(mspace_malloc(ms, 100 + 100 * c));
            for (void *p : v)
               mspace_free(ms, p);
         });
         t.join();
      }
      for (std::size_t c = 0; c < 4; ++c)
         CHECK(empty_pages(ms, 100 + 100 * c) == 2);   // a spare of each front
      void *grown = mspace_malloc(ms, 700);             // a chunk (above the fronts' sizes)
      void *fence = mspace_malloc(ms, 5000);            // larger than any lead before a page:
                                                        // from the top, so that no spare borders it
      REQUIRE(grown != nullptr);
      REQUIRE(fence != nullptr);
      void *rest = mspace_malloc(ms, stats_of(ms).largest_free);
      REQUIRE(rest != nullptr);
      const mspace_stats_t s = stats_of(ms);
      CHECK(s.largest_free >= 4000);   // a spare counts as a free chunk of its size at least
      // memalign at the heap's own alignment (a larger one asks for more than the largest
      // request); the realloc asks for two pages: a spare's size may fit the chunk with a
      // free neighbour (the gap before the first page boundary, as the region's alignment
      // has it), where it grows in place and needs no spare
      void *p = way == 0 ? mspace_malloc(ms, s.largest_free)
              : way == 1 ? mspace_memalign(ms, A, s.largest_free)
                         : mspace_realloc(ms, grown, 2 * PAGE);
      CHECK(p != nullptr);             // the spares went back to the core for it
      if (way == 2 && p)
         grown = nullptr;
      for (std::size_t c = 0; c < 4; ++c)
         CHECK(empty_pages(ms, 100 + 100 * c) == 0);
      CHECK(mspace_check(ms) == 0);
      mspace_free(ms, p);
      mspace_free(ms, rest);
      mspace_free(ms, grown);
      mspace_free(ms, fence);
      CHECK(mspace_check(ms) == 0);
      CHECK(mspace_destroy(ms) == 0);
   }
}

TEST_CASE("fronts: a spare list whose link was overwritten is found by the check, which follows no link outside the heap")
{
   if (!TIER || FRONTS == 1)
      return;
   mspace ms = create_locked(nullptr, 4 * MiB);
   if (!ms)
      return;
   std::vector<void *> v;
   std::thread t([&] {
      for (std::size_t c = 0; c < 3; ++c)
         v.push_back(mspace_malloc(ms, 100 + 100 * c));
      for (void *p : v)
         mspace_free(ms, p);   // three spares; the last freed heads the list
   });
   t.join();
   REQUIRE(mspace_check(ms) == 0);
   // a page's header starts on its frame: its first word is the link to the next spare
   void *head = reinterpret_cast<void *>(frame(v[2]) * PAGE);
   const std::size_t saved = read_word(head);
   for (std::size_t forged : {std::size_t(0x10), ~std::size_t(0) - 7, saved + PAGE / 2})
   {
      CAPTURE(forged);
      write_word(head, forged);
      CHECK(mspace_check(ms) != 0);
   }
   write_word(head, saved);
   CHECK(mspace_check(ms) == 0);
   CHECK(mspace_destroy(ms) == 0);
}

TEST_CASE("fronts: a fault a large malloc of a locked mspace meets is reported once")
{
   if (!TIER || FRONTS == 1)
      return;
   mspace ms = create_locked(nullptr, 4 * MiB);
   if (!ms)
      return;
   ErrorLog log;
   log.install(ms);
   void *a = mspace_malloc(ms, 5000), *guard = mspace_malloc(ms, 5000);
   REQUIRE((a && guard));
   mspace_free(ms, a);                        // a free tree chunk
   const std::size_t saved = read_word(a);    // its first link
   write_word(a, saved ^ 0x1000);             // a write into freed memory
   CHECK(mspace_malloc(ms, 5000) == nullptr); // the damaged chunk is the best fit
   CHECK(log.count == 1);
   CHECK(log.last == MSPACE_ERROR_CORRUPTION);
   write_word(a, saved);
   CHECK(mspace_check(ms) == 0);
   CHECK(mspace_destroy(ms) == 0);
}

TEST_CASE("fronts: a locked mspace takes requests up to FRONT_MAX bytes from its threads' fronts, an unlocked one up to TIER_MAX")
{
   if (!TIER || FRONTS == 1)
      return;
   mspace ms = create_locked(nullptr, 16 * MiB);
   if (!ms)
      return;
   mspace plain = mspace_create(16 * MiB);
   REQUIRE(plain != nullptr);
   ErrorLog log;
   log.install(ms);
   // where p is a slot of a page cut for `size`: its offset behind the page's header is a
   // multiple of the slot size (a chunk's memory lies two words past a 16-byte grid)
   auto slot_of = [](void *p, std::size_t size) {
      std::uintptr_t off = reinterpret_cast<std::uintptr_t>(p) % PAGE;
      return off >= PAGE_HEADER && (off - PAGE_HEADER) % size == 0;
   };
   void *p = nullptr, *q = nullptr, *big = nullptr;
   std::thread t([&] {
      p   = mspace_malloc(ms, 390);                // a slot of 400 bytes
      q   = mspace_malloc(ms, FRONT_MAX);          // of 512, the largest
      big = mspace_malloc(ms, FRONT_MAX + 1);      // a chunk
   });
   t.join();
   REQUIRE((p && q && big));
   CHECK(slot_of(p, 400));
   CHECK(slot_of(q, FRONT_MAX));
   CHECK_FALSE(slot_of(big, FRONT_MAX + SLOT));
   std::memset(p, 0x5A, 390);
   CHECK(mspace_realloc(ms, p, 400) == p);         // its slot holds it
   void *r = mspace_realloc(ms, p, 450);           // a slot of 464, its bytes kept
   REQUIRE(r != nullptr);
   CHECK(slot_of(r, 464));
   CHECK(static_cast<unsigned char *>(r)[0] == 0x5A);
   CHECK(static_cast<unsigned char *>(r)[389] == 0x5A);
   CHECK(stats_of(ms).allocated_blocks == 3);
   std::thread u([&] {   // freed by a thread of another front
      mspace_free(ms, r);
      mspace_free(ms, q);
      mspace_free(ms, big);
   });
   u.join();
   CHECK(log.count == 0);
   // the fronts keep an emptied page each as a spare; given back, every page lies in the
   // top, where a slot's page leaves the trace that names a second free
   CHECK(mspace_trim(ms, 16 * MiB) == 0);
   std::thread u2([&] { mspace_free(ms, q); });    // a second free of a slot, caught
   u2.join();
   CHECK(log.count == 1);
   CHECK(log.last == MSPACE_ERROR_DOUBLE_FREE);
   CHECK(stats_of(ms).allocated_blocks == 0);
   CHECK_HEAP(ms);

   void *c = mspace_malloc(plain, 390);            // unlocked: a chunk
   REQUIRE(c != nullptr);
   CHECK_FALSE(slot_of(c, 400));
   mspace_free(plain, c);
   CHECK_HEAP(plain);
   CHECK(mspace_destroy(plain) == 0);
   CHECK(mspace_destroy(ms) == 0);
}

#ifdef __linux__
static const bool HOLDER_IDS = true;
#else
static const bool HOLDER_IDS = false;   // elsewhere a holder that ends leaves the lock held
#endif

TEST_CASE("a lock whose holder ended is taken over: the call goes on, and the handler hears MSPACE_ERROR_HOLDER_DIED once" *
          doctest::skip(!HOLDER_IDS))
{
   mspace ms = create_locked(nullptr, 4 * MiB);
   if (!ms)
      return;
   ErrorLog log;
   log.install(ms);
   auto *kept  = static_cast<unsigned char *>(mspace_malloc(ms, 100));
   auto *large = static_cast<unsigned char *>(mspace_malloc(ms, 5000));
   REQUIRE(kept);
   REQUIRE(large);
   std::memset(kept, 0x5a, 100);
   std::memset(large, 0xa5, 5000);

   // a thread that ends while it holds every lock (as one killed inside a call would)
   std::thread holder([&] { CHECK(mspace_lock(ms) == 0); });
   holder.join();

   // a small malloc meets its front's lock held by nobody alive: it takes it over and
   // goes the whole way, which takes the others over and checks the heap (sound here:
   // nothing to rebuild)
   void *p = mspace_malloc(ms, 40);
   CHECK(p != nullptr);
   CHECK(log.count == 1);
   CHECK(log.last == MSPACE_ERROR_HOLDER_DIED);
   CHECK(mspace_check(ms) == 0);
   CHECK(mspace_attach_found(ms) == MSPACE_FOUND_DETACHED);
   CHECK(std::string(mspace_error_string(MSPACE_ERROR_HOLDER_DIED)) == "a lock's holder died; heap recovered");

   // and everything works on: the blocks kept, the lock taken and given in turn
   CHECK(std::count(kept, kept + 100, 0x5a) == 100);
   CHECK(std::count(large, large + 5000, static_cast<unsigned char>(0xa5)) == 5000);
   std::thread other([&] {
      void *q = mspace_malloc(ms, 3000);
      CHECK(q != nullptr);
      mspace_free(ms, q);
   });
   other.join();
   mspace_free(ms, p);
   mspace_free(ms, kept);
   mspace_free(ms, large);
   CHECK(mspace_check(ms) == 0);
   CHECK(log.count == 1);
   CHECK(mspace_destroy(ms) == 0);
}

TEST_CASE("a holder that died inside a call leaves a heap that the call taking its lock over rebuilds" *
          doctest::skip(!HOLDER_IDS || CANARY != 0))
{
   mspace ms = create_locked(nullptr, 4 * MiB);
   if (!ms)
      return;
   ErrorLog log;
   log.install(ms);
   auto *a = static_cast<unsigned char *>(mspace_malloc(ms, 1000));
   auto *b = static_cast<unsigned char *>(mspace_malloc(ms, 1000));
   auto *c = static_cast<unsigned char *>(mspace_malloc(ms, 1000));
   auto *d = static_cast<unsigned char *>(mspace_malloc(ms, 1000));
   REQUIRE((a && b && c && d));
   std::memset(a, 0x11, 1000);
   std::memset(d, 0x44, 1000);
   mspace_free(ms, b);

   // a thread that ends holding every lock, in the middle of free(c): the first store of
   // that free (c's head says free) made, nothing after it
   std::thread holder([&] {
      CHECK(mspace_lock(ms) == 0);
      write_word(c - W, read_word(c - W) & ~static_cast<std::size_t>(2));   // CINUSE, past the checkers
   });
   holder.join();

   void *p = mspace_malloc(ms, 2000);   // takes the locks over, rebuilds: b and c are one chunk
   CHECK(p == b);
   CHECK(log.count == 1);
   CHECK(log.last == MSPACE_ERROR_HOLDER_DIED);
   CHECK(mspace_attach_found(ms) == MSPACE_FOUND_REBUILT);
   CHECK(mspace_check(ms) == 0);
   CHECK(std::count(a, a + 1000, 0x11) == 1000);
   CHECK(std::count(d, d + 1000, 0x44) == 1000);
   mspace_free(ms, p);
   mspace_free(ms, a);
   mspace_free(ms, d);
   CHECK(mspace_check(ms) == 0);
   CHECK(mspace_destroy(ms) == 0);
}

TEST_CASE("fronts: a thread frees another thread's slots without its front's lock in a heap of its own (remote frees), with the lock in a caller's buffer; checks, stats and inspect_all see them")
{
   if (!TIER || FRONTS == 1)
      return;
   const std::size_t n = 200, size = 48, capacity = 16 * MiB;
   Buffer buf(capacity);
   for (int callers = 0; callers < 2; ++callers)   // mspace_create_flags, then a caller's buffer
   {
      CAPTURE(callers);
      mspace ms = create_locked(callers ? buf.base : nullptr, capacity);
      if (!ms)
         return;
      ErrorLog log;
      log.install(ms);
      std::vector<void *> a(n);
      std::thread owner([&] {   // threads are given fronts in turn: the next one has another
         for (std::size_t i = 0; i < n; ++i)
         {
            REQUIRE((a[i] = mspace_malloc(ms, size)) != nullptr);
            std::memset(a[i], int(i & 0xFF), size);
         }
      });
      owner.join();
      std::thread other([&] {
         for (std::size_t i = 2; i < n; ++i)
            mspace_free(ms, a[i]);
      });
      other.join();
      // the stack of remote frees of a[2]'s page (the word behind the page's offset):
      // pending in a heap of this process's own, empty where the front's lock was taken
      // (the fast path takes them: not in a build for memcheck)
      auto rfree = [&](void *p) { return read_word(frame_of(p) + PAGE_OFFSET_AT + W); };
      CHECK((rfree(a[2]) != 0) == (callers == 0 && !MULLE_TEST_VALGRIND));
      // free memory as soon as freed: stats, inspect_all and the check agree
      mspace_stats_t s = stats_of(ms);
      CHECK(s.allocated_blocks == 2);
      std::size_t in_use = 0;
      for (const Chunk &c : chunks_of(ms))
         in_use += c.used != 0;
      CHECK(in_use == 2);
      CHECK(mspace_check(ms) == 0);
      // a second free is caught, from a third thread and from this one
      std::thread third([&] { mspace_free(ms, a[2]); });
      third.join();
      CHECK(log.count == 1);
      CHECK(log.last == MSPACE_ERROR_DOUBLE_FREE);
      mspace_free(ms, a[3]);
      CHECK(log.count == 2);
      CHECK(log.last == MSPACE_ERROR_DOUBLE_FREE);
      // a call that wants memory collects them all: the pages that emptied went back
      mspace_trim(ms, 0);
      CHECK(rfree(a[0]) == 0);
      CHECK(stats_of(ms).allocated_blocks == 2);
      CHECK(mspace_check(ms) == 0);
      for (std::size_t i = 0; i < 2; ++i)   // the blocks still in use kept their bytes
         for (std::size_t k = 0; k < size; ++k)
            CHECK(static_cast<unsigned char *>(a[i])[k] == (i & 0xFF));
      // a collected slot is free again, and served once more: the owner's front takes it
      std::thread again([&] { mspace_free(ms, a[0]); mspace_free(ms, a[1]); });
      again.join();
      CHECK(log.count == 2);
      CHECK(stats_of(ms).allocated_blocks == 0);
      CHECK(stats_of(ms).in_use_bytes == 0);
      CHECK(mspace_check(ms) == 0);
      CHECK(mspace_destroy(ms) == 0);
   }
}

TEST_CASE("fronts: a front's holder collects its pages' remote frees when its list runs dry (the slots serve again, an emptied page becomes a spare); a write into a slot freed so is reported when it is collected")
{
   if (!TIER || FRONTS == 1 || MULLE_TEST_VALGRIND)   // memcheck's build takes no remote frees
      return;
   mspace ms = create_locked(nullptr, 16 * MiB);
   if (!ms)
      return;
   ErrorLog log;
   log.install(ms);
   const std::size_t size = 48, count = 3 * slots_per_page(size);
   std::vector<void *> first(count), again(count);
   std::atomic<int> phase{0};
   auto wait_for = [&](int k) {
      while (phase.load() != k)
         std::this_thread::yield();
   };
   std::thread owner([&] {
      for (void *&p : first)
         REQUIRE((p = mspace_malloc(ms, size)) != nullptr);
      phase.store(1);
      wait_for(2);   // every block freed by the other thread, none collected yet
      for (void *&p : again)
         REQUIRE((p = mspace_malloc(ms, size)) != nullptr);
      phase.store(3);
   });
   std::thread other([&] {   // the next thread: another front
      wait_for(1);
      for (std::size_t i = 0; i < count; ++i)   // each page's first block stays: its page
         if (i % slots_per_page(size))         // is not empty when collected, and joins its
            mspace_free(ms, first[i]);         // list again
      phase.store(2);
   });
   owner.join();
   other.join();
   // the owner's list ran dry and it collected its pages: the freed slots served again
   std::vector<void *> first_kept;
   for (std::size_t i = 0; i < count; i += slots_per_page(size))
      first_kept.push_back(first[i]);
   std::sort(first.begin(), first.end());
   std::size_t reused = 0;
   for (void *p : again)
      reused += std::binary_search(first.begin(), first.end(), p);
   MESSAGE("remote frees: " << reused << " of " << count << " blocks served again from collected slots");
   CHECK(reused >= count - 2 * slots_per_page(size));
   CHECK(log.count == 0);
   CHECK(stats_of(ms).allocated_blocks == count + 3);
   CHECK(mspace_check(ms) == 0);

   // a use after free: the link of a slot freed by another thread overwritten before it
   // is collected. The check finds it, and the collection reports it (the slot itself
   // is freed; the ones behind the link would stay in use)
   std::thread gone([&] {
      for (void *p : again)
         mspace_free(ms, p);
      for (std::size_t i = 0; i < count; i += slots_per_page(size))
         mspace_free(ms, first_kept[i / slots_per_page(size)]);
   });
   gone.join();
   CHECK(stats_of(ms).allocated_blocks == 0);
   void *last = first_kept[2];
   write_word(last, 0x12345);
   CHECK(mspace_check(ms) > 0);
   (void) stats_of(ms);   // a damaged stack counts nothing as freed: no fault, no change
   CHECK(log.count == 0);
   mspace_trim(ms, 0);   // collects every page
   CHECK(log.count >= 1);
   CHECK(log.last == MSPACE_ERROR_CORRUPTION);
   CHECK(mspace_destroy(ms) == 0);
}
