// Creating, destroying and resetting mspaces: OS regions and caller buffers.
#include <doctest/doctest.h>
#include "mulle_dlmalloc.hpp"
#include "test_helpers.h"

#include <cstdint>
#include <vector>

using namespace test;

TEST_CASE("mspace_create: a new OS mspace has a footprint of one granularity step")
{
   const std::size_t capacity = 16 * MiB;
   mspace ms = mspace_create(capacity);
   REQUIRE(ms != nullptr);

   mspace_stats_t s = stats_of(ms);
   CHECK(s.capacity == capacity);
   CHECK(s.footprint == GRANULARITY);
   CHECK(s.max_footprint == GRANULARITY);
   CHECK(s.bookkeeping > 0);
   // the state (bins, the tier's lists of each front, the purge queue), a small fixed
   // amount, and with the tier a page map of one bit per 4 KiB frame
   CHECK(s.bookkeeping < 2304 + REMOTE_STATE + (TIER ? capacity / 4096 / 8 : 0));
   CHECK(s.in_use_bytes == 0);
   CHECK(s.allocated_blocks == 0);
   CHECK(s.free_blocks == 0);
   CHECK(s.top_bytes == s.footprint - s.bookkeeping);
   CHECK(s.free_bytes == s.top_bytes);
   // almost all of the region is allocatable in one block
   CHECK(s.largest_free <= capacity - s.bookkeeping - W);
   CHECK(s.largest_free >= capacity - s.bookkeeping - 2 * MIN_CHUNK - A);
   CHECK(mspace_footprint(ms) == GRANULARITY);
   CHECK(mspace_max_footprint(ms) == GRANULARITY);
   CHECK_HEAP(ms);
   CHECK_LARGEST_FREE(ms);

   CHECK(mspace_destroy(ms) == 0);
}

TEST_CASE("mspace_create rounds the capacity up to whole pages")
{
   const std::size_t asked = 100000;
   mspace ms = mspace_create(asked);
   REQUIRE(ms != nullptr);
   mspace_stats_t s = stats_of(ms);
   CHECK(s.capacity >= asked);
   CHECK(s.capacity < asked + 64 * KiB);
   CHECK(s.footprint == GRANULARITY);   // 64 KiB < capacity
   void *p = mspace_malloc(ms, asked / 2);
   CHECK(p != nullptr);
   CHECK(mspace_is_heap_object(ms, p));
   mspace_free(ms, p);
   CHECK_HEAP(ms);
   CHECK(mspace_destroy(ms) == 0);
}

TEST_CASE("mspace_create refuses capacities that are zero or absurd")
{
   CHECK(mspace_create(0) == nullptr);
   CHECK(mspace_create(SIZE_MAX) == nullptr);
   CHECK(mspace_create(SIZE_MAX - 4095) == nullptr);   // rounding up to pages overflows
   CHECK(mspace_create(SIZE_MAX / 2 + 1) == nullptr);
}

TEST_CASE("mspace_create returns NULL when the OS refuses the reservation")
{
   // half the address space passes the capacity check, but no 64-bit system maps it
   if (W == 8)
      CHECK(mspace_create(SIZE_MAX / 2) == nullptr);
   mspace ms = mspace_create(1 * MiB);   // and nothing is left behind
   CHECK(ms != nullptr);
   CHECK(mspace_destroy(ms) == 0);
}

TEST_CASE("mspace_create: a 4 KiB region holds the bookkeeping and blocks" * doctest::skip(TIER))
{
   mspace ms = mspace_create(4096);
   REQUIRE(ms != nullptr);
   mspace_stats_t s = stats_of(ms);
   CHECK(s.capacity == 4096);
   CHECK(s.footprint == 4096);   // the granularity step is capped at the capacity
   void *p = mspace_malloc(ms, 1);
   CHECK(p != nullptr);
   CHECK_USABLE(p, 1);
   void *big = mspace_malloc(ms, 2048);
   CHECK(big != nullptr);
   CHECK(mspace_malloc(ms, 4096) == nullptr);
   mspace_free(ms, big);
   mspace_free(ms, p);
   CHECK_HEAP(ms);
   CHECK(mspace_destroy(ms) == 0);
}

#ifdef __linux__
TEST_CASE("mspace_create: pages are committed lazily")
{
   auto resident_bytes = [] {
      unsigned long size = 0, resident = 0;
      FILE *f = std::fopen("/proc/self/statm", "r");
      REQUIRE(f != nullptr);
      REQUIRE(std::fscanf(f, "%lu %lu", &size, &resident) == 2);
      std::fclose(f);
      return std::size_t(resident) * 4096;   // only a rough bound is needed here
   };
   std::size_t before = resident_bytes();
   mspace ms = mspace_create(1024 * MiB);
   REQUIRE(ms != nullptr);
   void *p = mspace_malloc(ms, 100);
   CHECK(p != nullptr);
   std::size_t after = resident_bytes();
   // far below the 1 GiB reserved (the slack leaves room for an emulator's page tables);
   // under ASan poisoning the region writes its shadow, one byte per 8: 128 MiB more
   const std::size_t shadow = MULLE_TEST_ASAN ? 1024 * MiB / 8 : 0;
   CHECK(after < before + 64 * MiB + shadow);
   CHECK(stats_of(ms).capacity == 1024 * MiB);
   CHECK(mspace_destroy(ms) == 0);
}
#endif

TEST_CASE("mspace_create_with_base accepts any alignment of base")
{
   Buffer buf(8192);
   mspace aligned = mspace_create_with_base(buf.base, 4096);
   REQUIRE(aligned != nullptr);
   const std::size_t bookkeeping0 = stats_of(aligned).bookkeeping;
   CHECK(mspace_destroy(aligned) == 0);

   for (std::size_t k : sizes{1, 2, 3, 5, 7, 8, 9, 12, 13, 15, 16, 17, 31, 33})
   {
      CAPTURE(k);
      unsigned char *base = buf.base + k;
      mspace ms = mspace_create_with_base(base, 4096);
      REQUIRE(ms != nullptr);
      // the handle lives inside the caller's memory: no OS call was needed
      CHECK(bytes(ms) >= base);
      CHECK(bytes(ms) < base + 4096);

      mspace_stats_t s = stats_of(ms);
      CHECK(s.capacity == 4096);
      CHECK(s.footprint <= 4096);   // capped at the capacity, pulled back onto the chunk grid
      CHECK(s.footprint > 4096 - A);
      // the alignment slack of base counts as bookkeeping
      CHECK(s.bookkeeping + A >= bookkeeping0);
      CHECK(s.bookkeeping <= bookkeeping0 + 2 * A);
      CHECK(s.in_use_bytes + s.free_bytes + s.bookkeeping == s.footprint);

      std::vector<void *> blocks;
      for (std::size_t n : sizes{0, 1, 24, 100, 300, 600})
      {
         void *p = mspace_malloc(ms, n);
         REQUIRE(p != nullptr);
         CHECK(is_aligned(p, A));
         CHECK(bytes(p) >= base);
         CHECK(bytes(p) + mspace_usable_size(p) <= base + 4096);
         fill(p, writable(p, n), std::uint32_t(n + k));
         blocks.push_back(p);
      }
      std::size_t i = 0;
      for (std::size_t n : sizes{0, 1, 24, 100, 300, 600})
      {
         CHECK(verify(blocks[i], writable(blocks[i], n), std::uint32_t(n + k)));
         ++i;
      }
      CHECK_HEAP(ms);
      CHECK_LARGEST_FREE(ms);
      for (void *p : blocks)
         mspace_free(ms, p);
      CHECK(stats_of(ms).allocated_blocks == 0);
      CHECK(stats_of(ms).free_blocks == 0);
      CHECK_HEAP(ms);
      CHECK(mspace_destroy(ms) == 0);
   }
}

TEST_CASE("mspace_create_with_base refuses NULL and buffers that are too small")
{
   Buffer buf(4096);
   CHECK(mspace_create_with_base(nullptr, 4096) == nullptr);
   CHECK(mspace_create_with_base(buf.base, 0) == nullptr);
   CHECK(mspace_create_with_base(buf.base, 64) == nullptr);
   CHECK(mspace_create_with_base(buf.base + 3, 64) == nullptr);
   CHECK(mspace_create_with_base(buf.base, 128) == nullptr);
}

TEST_CASE("mspace_create_with_base refuses a capacity that wraps around the address space")
{
   Buffer buf(1 * MiB);   // big enough that a wrongly accepted mspace stays inside it
   mspace ms = mspace_create_with_base(buf.base, SIZE_MAX);
   CHECK(ms == nullptr);
   if (ms)
      mspace_destroy(ms);
}

TEST_CASE("mspace_create_with_base: the smallest buffer that works holds one block")
{
   Buffer buf(4096);
   std::size_t smallest = 0;
   for (std::size_t cap = 64; cap <= 4096; cap += 8)
   {
      mspace ms = mspace_create_with_base(buf.base, cap);
      if (ms)
      {
         smallest = cap;
         void *p = mspace_malloc(ms, 1);
         CHECK(p != nullptr);   // "bookkeeping and one block"
         if (p)
            mspace_free(ms, p);
         CHECK_HEAP(ms);
         CHECK(mspace_destroy(ms) == 0);
         break;
      }
   }
   MESSAGE("smallest caller buffer accepted: " << smallest << " bytes");
   CHECK(smallest > 0);
   CHECK(smallest <= 2304 + REMOTE_STATE + MIN_CHUNK + 2 * A);   // the bookkeeping plus one block
}

TEST_CASE("a caller's buffer whose heap was dropped without mspace_destroy takes a new heap")
{
   // Under memcheck the dropped heap's pool is still anchored at the buffer: the new heap
   // replaces it (two pools at one address stop valgrind itself).
   Buffer buf(64 * 1024);
   mspace first = mspace_create_with_base(buf.base, 64 * 1024);
   REQUIRE(first != nullptr);
   REQUIRE(mspace_malloc(first, 100) != nullptr);   // dropped with a block in use
   mspace second = mspace_create_with_base(buf.base, 64 * 1024);
   REQUIRE(second == first);   // the state sits at the same place in the buffer
   auto *p = static_cast<unsigned char *>(mspace_malloc(second, 100));
   REQUIRE(p != nullptr);
   std::memset(p, 0x5A, 100);
   CHECK(p[99] == 0x5A);
   CHECK_HEAP(second);
   mspace_free(second, p);
   CHECK(mspace_destroy(second) == 0);
}

TEST_CASE("an mspace in caller memory never writes outside [base, base + capacity)")
{
   for (std::size_t k : sizes{0, 1, 3, 5, 7, 8, 13})
   {
      CAPTURE(k);
      const std::size_t capacity = 20000 + k;   // not a multiple of anything
      Buffer buf(capacity + 64, 0xC3);
      unsigned char *base = buf.base + k;
      mspace ms = mspace_create_with_base(base, capacity);
      REQUIRE(ms != nullptr);

      std::vector<void *> blocks;
      std::size_t n = 1;
      for (;;)
      {
         std::size_t asked = n;
         void *p = mspace_malloc(ms, n);
         if (!p)
            p = mspace_malloc(ms, asked = 0);
         if (!p)
            break;
         CHECK(bytes(p) >= base);
         CHECK(bytes(p) + mspace_usable_size(p) <= base + capacity);
         std::memset(p, 0x5A, writable(p, asked));
         blocks.push_back(p);
         n = (n * 7 + 13) % 700;
      }
      REQUIRE(blocks.size() > 50);
      CHECK(stats_of(ms).footprint <= capacity);
      CHECK(stats_of(ms).footprint > capacity - A);   // the whole buffer, but for grid slack
      CHECK_HEAP(ms);

      // calloc, memalign, realloc and trim touch memory too
      for (std::size_t i = 0; i < blocks.size(); i += 2)
         mspace_free(ms, blocks[i]);
      void *z = mspace_calloc(ms, 10, 10);
      CHECK(z != nullptr);
      void *m = mspace_memalign(ms, 64, 100);
      if (m)
         std::memset(m, 0x5A, writable(m, 100));
      void *r = mspace_realloc(ms, blocks[1], 3000);
      if (r)
         std::memset(r, 0x5A, writable(r, 3000));
      mspace_trim(ms, 0);
      CHECK_HEAP(ms);
      mspace_reset(ms);
      CHECK_HEAP(ms);
      const std::size_t largest = stats_of(ms).largest_free;
      void *last = mspace_malloc(ms, largest);
      CHECK(last != nullptr);
      if (last)
      {
         CHECK(bytes(last) + mspace_usable_size(last) <= base + capacity);
         std::memset(last, 0x5A, writable(last, largest));
      }
      CHECK(mspace_destroy(ms) == 0);

      CHECK(all_bytes_are(buf.storage.data(), std::size_t(base - buf.storage.data()), 0xC3));
      CHECK(all_bytes_are(base + capacity,
                          buf.storage.size() - std::size_t(base + capacity - buf.storage.data()), 0xC3));
   }
}

TEST_CASE("mspace_destroy: 0 for a live mspace, non-zero for NULL and dead handles")
{
   CHECK(mspace_destroy(nullptr) != 0);

   mspace os = mspace_create(1 * MiB);
   REQUIRE(os != nullptr);
   CHECK(mspace_malloc(os, 1000) != nullptr);
   CHECK(mspace_destroy(os) == 0);   // blocks still live: freed at once

   Buffer buf(64 * KiB);
   mspace ms = mspace_create_with_base(buf.base, 64 * KiB);
   REQUIRE(ms != nullptr);
   void *p = mspace_malloc(ms, 100);
   CHECK(p != nullptr);
   CHECK(mspace_destroy(ms) == 0);
   CHECK(mspace_destroy(ms) != 0);   // the caller's buffer is still there, the mspace is not
   CHECK(mspace_check(ms) != 0);     // "non-zero also for a dead handle"

   // the buffer can host a new mspace
   mspace again = mspace_create_with_base(buf.base, 64 * KiB);
   REQUIRE(again != nullptr);
   CHECK(mspace_malloc(again, 100) != nullptr);
   CHECK_HEAP(again);
   CHECK(mspace_destroy(again) == 0);

   // memory that never held an mspace is not one
   Buffer zeros(4096);
   CHECK(mspace_destroy(zeros.base) != 0);
}

TEST_CASE("mspace_reset frees every block and makes the mspace as new")
{
   mspace ms = mspace_create(8 * MiB);
   REQUIRE(ms != nullptr);
   const mspace_stats_t fresh = stats_of(ms);
   void *first = mspace_malloc(ms, 100);
   REQUIRE(first != nullptr);

   std::vector<void *> blocks;
   for (int i = 0; i < 2000; ++i)
   {
      void *p = mspace_malloc(ms, std::size_t(1000 + (i % 37) * 50));
      REQUIRE(p != nullptr);
      blocks.push_back(p);
   }
   for (std::size_t i = 0; i < blocks.size(); i += 3)
      mspace_free(ms, blocks[i]);
   const mspace_stats_t busy = stats_of(ms);
   CHECK(busy.footprint > 2 * MiB);
   CHECK(busy.free_blocks > 0);

   mspace_reset(ms);
   mspace_stats_t s = stats_of(ms);
   CHECK(s.footprint == fresh.footprint);
   CHECK(s.max_footprint == busy.max_footprint);   // the high-water mark stays
   CHECK(s.allocated_blocks == 0);
   CHECK(s.free_blocks == 0);
   CHECK(s.in_use_bytes == 0);
   CHECK(s.bookkeeping == fresh.bookkeeping);
   CHECK(s.top_bytes == fresh.top_bytes);
   CHECK(s.largest_free == fresh.largest_free);
   CHECK_HEAP(ms);

   // as new: the first block lands where the first block of the new mspace did
   void *again = mspace_malloc(ms, 100);
   CHECK(again == first);
   CHECK_LARGEST_FREE(ms);
   CHECK(mspace_destroy(ms) == 0);
}

TEST_CASE("mspace_reset of a caller-buffer mspace")
{
   Buffer buf(1 * MiB);
   mspace ms = mspace_create_with_base(buf.base + 5, 1 * MiB - 5);
   REQUIRE(ms != nullptr);
   const mspace_stats_t fresh = stats_of(ms);
   // base + 5 is off the chunk grid: the footprint ends up to A - 1 bytes short of a step
   CHECK(fresh.footprint <= GRANULARITY);
   CHECK(fresh.footprint > GRANULARITY - A);
   void *first = mspace_malloc(ms, 1);
   while (mspace_malloc(ms, 4000)) {}
   const std::size_t full = stats_of(ms).footprint;
   CHECK(full <= 1 * MiB - 5);
   CHECK(full > 1 * MiB - 5 - A);
   mspace_reset(ms);
   mspace_stats_t s = stats_of(ms);
   CHECK(s.footprint == fresh.footprint);
   CHECK(s.max_footprint == full);
   CHECK(s.allocated_blocks == 0);
   CHECK(mspace_malloc(ms, 1) == first);
   CHECK_HEAP(ms);
   CHECK(mspace_destroy(ms) == 0);
}

TEST_CASE("mspaces are independent")
{
   const int count = 3;
   mspace ms[count];
   std::vector<void *> blocks[count];
   for (int i = 0; i < count; ++i)
   {
      ms[i] = mspace_create(2 * MiB);
      REQUIRE(ms[i] != nullptr);
   }
   for (int round = 0; round < 300; ++round)
      for (int i = 0; i < count; ++i)
      {
         std::size_t n = std::size_t(16 + (round * 31 + i * 7) % 900);
         void *p = mspace_malloc(ms[i], n);
         REQUIRE(p != nullptr);
         fill(p, n, std::uint32_t(round * count + i));
         blocks[i].push_back(p);
      }
   for (int i = 0; i < count; ++i)
      for (int j = 0; j < count; ++j)
      {
         CAPTURE(i);
         CAPTURE(j);
         CHECK(bool(mspace_is_heap_object(ms[j], blocks[i][0])) == (i == j));
         CHECK(bool(mspace_is_heap_object(ms[j], blocks[i].back())) == (i == j));
      }

   CHECK(mspace_destroy(ms[1]) == 0);
   for (int i : {0, 2})
   {
      for (int round = 0; round < 300; ++round)
      {
         std::size_t n = std::size_t(16 + (round * 31 + i * 7) % 900);
         CHECK(verify(blocks[i][std::size_t(round)], n, std::uint32_t(round * count + i)));
      }
      CHECK(stats_of(ms[i]).allocated_blocks == 300);
      CHECK_HEAP(ms[i]);
      CHECK(mspace_destroy(ms[i]) == 0);
   }
}

TEST_CASE("many mspaces at once")
{
   std::vector<mspace> spaces;
   for (int i = 0; i < 64; ++i)
   {
      mspace ms = mspace_create(1 * MiB);
      REQUIRE(ms != nullptr);
      void *p = mspace_malloc(ms, 1000);
      REQUIRE(p != nullptr);
      fill(p, 1000, std::uint32_t(i));
      spaces.push_back(ms);
   }
   for (std::size_t i = 0; i < spaces.size(); ++i)
   {
      std::vector<Chunk> chunks = chunks_of(spaces[i]);
      REQUIRE(!chunks.empty());
      CHECK(chunks[0].used == usable_for(1000));
      CHECK(verify(chunks[0].start, 1000, std::uint32_t(i)));
      CHECK(mspace_destroy(spaces[i]) == 0);
   }
}

TEST_CASE("a NULL or destroyed mspace: every call gives NULL, 0 or nothing")
{
   ErrorLog process;   // hears the blocks given to a dead handle
   mspace_set_default_error_handler(&ErrorLog::record, &process);
   Buffer buf(64 * KiB, 0x5C);
   mspace dead = mspace_create_with_base(buf.base, 64 * KiB);
   REQUIRE(dead != nullptr);
   void *p = mspace_malloc(dead, 100);
   REQUIRE(p != nullptr);
   CHECK(mspace_destroy(dead) == 0);
   const std::vector<unsigned char> after_destroy(buf.storage);

   for (mspace ms : {mspace(nullptr), dead})
   {
      CAPTURE(ms);
      CHECK(mspace_malloc(ms, 100) == nullptr);
      CHECK(mspace_calloc(ms, 10, 10) == nullptr);
      CHECK(mspace_memalign(ms, 64, 100) == nullptr);
      CHECK(mspace_realloc(ms, nullptr, 100) == nullptr);
      CHECK(mspace_realloc(ms, p, 200) == nullptr);
      CHECK(mspace_realloc_in_place(ms, p, 50) == nullptr);
      mspace_free(ms, p);                           // reported, and nothing happens
      mspace_reset(ms);
      mspace_malloc_stats(ms);                      // prints nothing
      mspace_set_error_handler(ms, nullptr, nullptr);
      CHECK(mspace_trim(ms, 0) == 0);
      CHECK(mspace_footprint(ms) == 0);
      CHECK(mspace_max_footprint(ms) == 0);
      CHECK(mspace_max_request(ms) == 0);
      CHECK(mspace_is_heap_object(ms, p) == 0);
      CHECK(mspace_check(ms) != 0);
      CHECK(chunks_of(ms).empty());
      const mspace_stats_t s = stats_of(ms);
      CHECK(s.capacity == 0);
      CHECK(s.footprint == 0);
      CHECK(s.allocated_blocks == 0);
      CHECK(s.largest_free == 0);
   }
   CHECK(buf.storage == after_destroy);   // not a byte of the dead mspace's buffer changed
   CHECK(process.count == 6);             // realloc, realloc_in_place and free, for each handle
   CHECK(process.last == MSPACE_ERROR_NOT_AN_MSPACE);
   mspace_set_default_error_handler(nullptr, nullptr);

   // a live mspace: no statistics struct or no callback is no work
   mspace ms = mspace_create_with_base(buf.base, 64 * KiB);
   REQUIRE(ms != nullptr);
   mspace_get_stats(ms, nullptr);
   mspace_inspect_all(ms, nullptr, nullptr);
   CHECK_HEAP(ms);
   CHECK(mspace_destroy(ms) == 0);
}

TEST_CASE("NULL mspace: the queries answer zero")
{
   CHECK(mspace_footprint(nullptr) == 0);
   CHECK(mspace_max_footprint(nullptr) == 0);
   CHECK(mspace_usable_size(nullptr) == 0);
   CHECK(mspace_check(nullptr) != 0);
   mspace_stats_t s = stats_of(nullptr);
   CHECK(s.capacity == 0);
   CHECK(s.footprint == 0);
   CHECK(s.max_footprint == 0);
   CHECK(s.bookkeeping == 0);
   CHECK(s.in_use_bytes == 0);
   CHECK(s.free_bytes == 0);
   CHECK(s.allocated_blocks == 0);
   CHECK(s.free_blocks == 0);
   CHECK(s.top_bytes == 0);
   CHECK(s.largest_free == 0);
}

#if defined(__linux__) && (defined(__x86_64__) || defined(__aarch64__))
TEST_CASE("MSPACE_HUGE_PAGES: an OS region asks the kernel for huge pages; a plain one does not")
{
   mspace huge  = mspace_create_flags(64 * MiB, MSPACE_HUGE_PAGES);
   mspace plain = mspace_create(64 * MiB);
   REQUIRE((huge && plain));
   void *p = mspace_malloc(huge, 3 * MiB);
   void *q = mspace_malloc(plain, 3 * MiB);
   REQUIRE((p && q));
   fill(p, 3 * MiB, 7);   // an ordinary heap in every other way
   CHECK(verify(p, 3 * MiB, 7));
   if (kernel_gives_huge_pages())
   {
      CHECK(huge_pages_asked(p) == 1);
      CHECK(huge_pages_asked(q) == 0);
      // the region starts on a huge page's boundary: its first 2 MiB are one huge page
      CHECK(reinterpret_cast<std::uintptr_t>(huge) % (2 * MiB) == 0);
   }
   mspace_free(huge, p);
   mspace_trim(huge, 0);   // gives pages back as in any OS region
   CHECK_HEAP(huge);
   CHECK(mspace_destroy(huge) == 0);
   CHECK(mspace_destroy(plain) == 0);
}
#endif

TEST_CASE("MSPACE_HUGE_PAGES is for OS regions: a caller's buffer refuses it")
{
   static unsigned char buffer[256 * 1024];
   CHECK(mspace_create_with_base_flags(buffer, sizeof buffer, MSPACE_HUGE_PAGES) == nullptr);
   mspace ms = mspace_create_flags(4 * MiB, MSPACE_HUGE_PAGES);   // any OS: a hint at most
   REQUIRE(ms != nullptr);
   void *p = mspace_malloc(ms, 1000);
   CHECK(p != nullptr);
   CHECK_HEAP(ms);
   CHECK(mspace_destroy(ms) == 0);
   CHECK(mspace_create_flags(4 * MiB, 8u) == nullptr);   // still an unknown flag
}
