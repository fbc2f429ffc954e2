// The fast path of malloc and free (an mspace without a lock) against the whole way (the
// same heap with a lock, which never takes it; its block check is written apart from the
// fast path's). Every word of a heap freed as a pointer, and the same requests after,
// must give the same reports, the same heap and the same blocks.
#include <doctest/doctest.h>
#include "mulle_dlmalloc.hpp"
#include "test_helpers.h"

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

using namespace test;

namespace {

const std::size_t REGION = 512 * KiB;

// One heap in a caller buffer of its own, at the same alignment as its twin's (a page of
// the tier's: pages start on 4 KiB boundaries).
struct Twin
{
   void *buffer;
   mspace ms;
   ErrorLog log;
   bool locked;

   explicit Twin(unsigned flags) : locked((flags & MSPACE_LOCKED) != 0)
   {
      buffer = std::calloc(1, REGION + PAGE);
      unsigned char *at = bytes(buffer) + (PAGE - reinterpret_cast<std::uintptr_t>(buffer) % PAGE) % PAGE;
      ms = mspace_create_with_base_flags(at, REGION, flags);
      if (ms)
         log.install(ms);
   }
   ~Twin()
   {
      if (ms)
         mspace_destroy(ms);
      std::free(buffer);
   }
   Twin(const Twin &) = delete;
   Twin &operator=(const Twin &) = delete;

   std::size_t offset(const void *p) const { return p ? std::size_t(bytes(const_cast<void *>(p)) - bytes(ms)) : 0; }
   // the state and every chunk up to the end of the footprint: what a free can change (a
   // plain copy of the heap's own words: the test that saves them skips the checkers)
   std::vector<unsigned char> save() const
   {
      std::vector<unsigned char> s(mspace_footprint(ms));
      std::memcpy(s.data(), ms, s.size());
      return s;
   }
   void restore(const std::vector<unsigned char> &s) { std::memcpy(ms, s.data(), s.size()); }
};

// A request that is a chunk in the unlocked twin and the locked one alike: the sizes a
// locked mspace's fronts take beyond an unlocked mspace's tier move above them.
std::size_t alike(std::size_t n) { return n > TIER_MAX && n <= FRONT_MAX ? n + (FRONT_MAX - TIER_MAX) : n; }

// A locked mspace's front keeps the last page it emptied as a spare, and an unlocked
// mspace may hold it in its list: mspace_trim gives either back (its pad keeps the top),
// so that the twins keep one layout.
void free_in_twin(Twin &t, void *p)
{
   mspace_free(t.ms, p);
   mspace_trim(t.ms, REGION);
}

// Both heaps get the same blocks and the same frees: parked in the caches, in bins,
// merged, the dv. A block's words are zero, or with `forged` look like chunk heads of
// small sizes, in use or not: a pointer into such a block names a plausible chunk, and
// only its neighbours' tags tell. Returns the offset of the first chunk.
std::size_t build(Twin &t, bool forged)
{
   std::uint64_t r = 12345;
   std::vector<void *> all;
   for (int i = 0; i < 300; ++i)
   {
      r = r * 6364136223846793005ull + 1442695040888963407ull;
      std::size_t n = alike(std::size_t((r >> 33) % 5 == 0 ? UNCACHED + (r >> 40) % 600 : 8 + (r >> 40) % 700));
      void *p = mspace_malloc(t.ms, n);
      REQUIRE(p != nullptr);
      std::memset(p, 0, n);
      for (std::size_t w = 0; forged && w + W <= n; w += W)
         write_word(bytes(p) + w, (2 + (w / W * 7) % 9) * A | (w / W % 3 ? 3 : 1));
      all.push_back(p);
   }
   for (std::size_t i = 0; i < all.size(); ++i)
      if (i % 3 == 1 || i % 7 == 0)
         free_in_twin(t, all[i]);
   return t.offset(all[0]) - 2 * W;
}

// Both twins built alike: the offset of the first chunk, or 0 in a build without locks
// (which has no whole-way twin: nothing to compare).
std::size_t build_twins(Twin &fast, Twin &whole, bool forged)
{
   REQUIRE(fast.ms != nullptr);
   if (!whole.ms)
      return 0;
   const std::size_t first = build(fast, forged);
   REQUIRE(build(whole, forged) == first);
   return first;
}

// One pointer freed in both heaps: the same report, or none in both.
bool free_alike(Twin &fast, Twin &whole, std::size_t at)
{
   fast.log.clear();
   whole.log.clear();
   free_in_twin(fast, bytes(fast.ms) + at);
   free_in_twin(whole, bytes(whole.ms) + at);
   CAPTURE(at);
   REQUIRE(fast.log.count == whole.log.count);
   REQUIRE(fast.log.last == whole.log.last);
   return fast.log.count == 0;
}

} // namespace

TEST_CASE("the fast path reports what the whole way reports, and hands out the same blocks")
{
   Twin fast(0), whole(MSPACE_LOCKED);
   const std::size_t first = build_twins(fast, whole, false);
   if (!first)
      return;

   // every half word from the first chunk to the end of the footprint, freed as a pointer
   // in both heaps, one after the other (no statistics before: they flush the caches):
   // misaligned, inside blocks, on parked and free chunks, in the top, on live blocks
   // (freed for real, so that later pointers meet merged chunks)
   const std::size_t end = mspace_footprint(fast.ms);
   REQUIRE(end == mspace_footprint(whole.ms));
   int reports = 0, frees = 0;
   for (std::size_t at = first; at < end; at += W / 2)
   {
      if (free_alike(fast, whole, at))
         frees++;
      else
         reports++;
      if (at % (64 * W) == 0)
      {
         REQUIRE(mspace_check(fast.ms) == 0);
         REQUIRE(mspace_check(whole.ms) == 0);
      }
   }
   MESSAGE("zeroed blocks: " << reports << " pointers reported, " << frees << " freed, alike in both heaps");
   CHECK(reports > 1000);
   CHECK(frees > 100);
   mspace_stats_t sf = stats_of(fast.ms), sw = stats_of(whole.ms);
   CHECK(sf.in_use_bytes == sw.in_use_bytes);
   CHECK(sf.free_blocks == sw.free_blocks);
   CHECK(sf.footprint == sw.footprint);

   // the same requests get blocks at the same places: from the caches, the bins, the top
   fast.log.clear();
   whole.log.clear();
   std::uint64_t r = 99;
   for (int i = 0; i < 2000; ++i)
   {
      r = r * 6364136223846793005ull + 1442695040888963407ull;
      std::size_t n = alike(std::size_t((r >> 33) % 1100));
      void *a = mspace_malloc(fast.ms, n), *b = mspace_malloc(whole.ms, n);
      REQUIRE(fast.offset(a) == whole.offset(b));
      if (a && (r >> 20) % 2)
      {
         free_in_twin(fast, a);
         free_in_twin(whole, b);
      }
   }
   CHECK(fast.log.count == 0);
   CHECK(whole.log.count == 0);
   CHECK(mspace_check(fast.ms) == 0);
   CHECK(mspace_check(whole.ms) == 0);
}

// Not under a checker: the pointers it accepts are no blocks it knows of.
TEST_CASE("the fast path accepts no pointer into a block of forged heads that the whole way refuses" *
          doctest::skip(MULLE_TEST_CHECKER))
{
   Twin fast(0), whole(MSPACE_LOCKED);
   const std::size_t first = build_twins(fast, whole, true);
   if (!first)
      return;
   const std::vector<unsigned char> fast_heap = fast.save(), whole_heap = whole.save();

   // each pointer on the grid against the heap as built: a forged head that passes the
   // O(1) checks of level 1 is freed in both ways alike, and the heaps are put back
   const std::size_t end = mspace_footprint(fast.ms);
   int reports = 0, accepted = 0;
   for (std::size_t at = first + 2 * W; at < end; at += A)
   {
      if (free_alike(fast, whole, at))
         accepted++;
      else
         reports++;
      fast.restore(fast_heap);
      whole.restore(whole_heap);
   }
   MESSAGE("blocks of forged heads: " << reports << " pointers reported, " << accepted
                                      << " accepted, alike in both heaps");
   CHECK(reports > 1000);
   CHECK(accepted > 100);   // the live blocks, and forged heads whose neighbours agree
   CHECK(mspace_check(fast.ms) == 0);
   CHECK(mspace_check(whole.ms) == 0);
}

namespace {

// One pointer reallocated in both heaps to n bytes (or resized in place only): the same
// report, or none in both, and the same block (by its offset) or NULL in both.
bool realloc_alike(Twin &fast, Twin &whole, std::size_t at, std::size_t n, bool in_place, int *reports, int *served)
{
   fast.log.clear();
   whole.log.clear();
   void *p = bytes(fast.ms) + at, *q = bytes(whole.ms) + at;
   void *a = in_place ? mspace_realloc_in_place(fast.ms, p, n) : mspace_realloc(fast.ms, p, n);
   void *b = in_place ? mspace_realloc_in_place(whole.ms, q, n) : mspace_realloc(whole.ms, q, n);
   CAPTURE(at);
   CAPTURE(n);
   CAPTURE(in_place);
   REQUIRE(fast.log.count == whole.log.count);
   REQUIRE(fast.log.last == whole.log.last);
   REQUIRE(fast.offset(a) == whole.offset(b));
   *reports += fast.log.count != 0;
   *served += a != nullptr;
   return a != nullptr;   // else neither heap changed
}

} // namespace

// realloc and realloc_in_place have a fast path too (plainly_valid where the whole way
// asks block_is_valid). Among blocks of forged heads only in place: a realloc that moves
// allocates before it frees, and a forged chunk that passed the O(1) checks may not be
// one any more by then (a block the user never had is undefined behaviour there, in both
// ways alike). Not under a checker: the pointers it accepts are no blocks it knows of.
TEST_CASE("realloc's fast path reports what the whole way reports, and resizes alike" *
          doctest::skip(MULLE_TEST_CHECKER))
{
   for (bool forged : {false, true})
   {
      Twin fast(0), whole(MSPACE_LOCKED);
      const std::size_t first = build_twins(fast, whole, forged);
      if (!first)
         return;
      const std::vector<unsigned char> fast_heap = fast.save(), whole_heap = whole.save();

      // each pointer on the grid (and half a word off it) against the heap as built,
      // shrunk, grown within a slot's sizes and past them, in place and not; the heaps are
      // put back after each that served (one that returned NULL changed nothing they hold:
      // a locked heap that fails may give its fronts' spare pages back, and these keep none)
      const std::size_t end   = mspace_footprint(fast.ms);
      const std::size_t sizes[] = {8, 200, alike(700), 5000};
      int reports = 0, served = 0;
      for (std::size_t at = first + 2 * W; at < end; at += forged ? A : W / 2)
         for (std::size_t n : sizes)
            for (bool in_place : {false, true})
            {
               if (forged && !in_place)
                  continue;
               if (realloc_alike(fast, whole, at, n, in_place, &reports, &served))
               {
                  fast.restore(fast_heap);
                  whole.restore(whole_heap);
               }
            }
      MESSAGE(std::string(forged ? "blocks of forged heads: " : "zeroed blocks: ")
              << reports << " reallocs reported, " << served << " served, alike in both heaps");
      CHECK(reports > 1000);
      CHECK(served > 100);
      CHECK(mspace_check(fast.ms) == 0);
      CHECK(mspace_check(whole.ms) == 0);
   }
}

// The fast path carves from the top where no tree bin from a request's own on holds a chunk,
// asked of the highest bin that holds one (no_tree_bin_from) instead of the request's bin:
// the two must agree for every map of bins and every large size, at each bin's edges
// (compared in impl.cpp, where the allocator's internals are seen).
namespace test_internals { std::size_t tree_bin_disagreements(std::size_t *asked); }

TEST_CASE("no tree bin from a size's own on: the highest bin's answer is the size's bin's")
{
   std::size_t asked = 0;
   CHECK(test_internals::tree_bin_disagreements(&asked) == 0);
   CHECK(asked > 100000);
}

// A large size's bin and its trie key come from one bit scan (tree_key): both as their
// definitions give them, at every bin's edges (the last bin's from 12 MiB on: its key is
// the size itself) and for random sizes (compared in impl.cpp).
namespace test_internals { std::size_t tree_key_disagreements(std::size_t *asked); }

TEST_CASE("a large size's tree bin and trie key are as defined, at every bin's edges")
{
   std::size_t asked = 0;
   CHECK(test_internals::tree_key_disagreements(&asked) == 0);
   CHECK(asked > 10000);
}
