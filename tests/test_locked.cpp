// MSPACE_LOCKED: mspace_create_flags and mspace_create_with_base_flags, every call on a locked
// mspace, and one locked mspace shared by threads. (`make test-shared` loads it harder, with
// processes sharing a mapping and under ThreadSanitizer.)
#include <doctest/doctest.h>
#include "mulle_dlmalloc.hpp"
#include "test_helpers.h"

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <thread>
#include <vector>

using namespace test;

TEST_CASE("create_flags: 0, MSPACE_LOCKED and MSPACE_ZEROED are the flags there are")
{
   Buffer buf(64 * KiB);
   for (unsigned bad : {4u, 8u, 0x80000000u, MSPACE_LOCKED | 4u, MSPACE_ZEROED | 0x100u})
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
