// Randomised operations against a shadow model of the live blocks. Deterministic: every
// seed replays the same run. A failure names the seed and the operation number.
#include <doctest/doctest.h>
#include "mulle_dlmalloc.hpp"
#include "test_helpers.h"

#include <cstdint>
#include <cstdlib>
#include <iterator>
#include <map>
#include <set>
#include <vector>

using namespace test;

namespace {

struct SplitMix64
{
   std::uint64_t state;
   std::uint64_t next()
   {
      std::uint64_t z = (state += 0x9E3779B97F4A7C15ull);
      z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
      z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
      return z ^ (z >> 31);
   }
   std::size_t below(std::size_t n) { return static_cast<std::size_t>(next() % n); }
   bool one_in(std::size_t n) { return below(n) == 0; }
};

// A live block as the model knows it: `size` bytes asked for, `usable` reported,
// contents derived from `id`.
struct Live
{
   unsigned char *p;
   std::size_t size;
   std::size_t usable;
   std::uint32_t id;
};

constexpr std::size_t SAMPLE = 128;   // bytes checked at each end of a block
constexpr std::size_t STRIDE = 4096;  // and one byte every STRIDE in between

// The bytes of a block that carry its pattern: both ends in full, the middle sampled.
template <class F>
void for_each_sample(std::size_t n, F f)
{
   std::size_t head = n < 2 * SAMPLE ? n : SAMPLE;
   for (std::size_t i = 0; i < head; ++i)
      f(i);
   if (n <= 2 * SAMPLE)
      return;
   for (std::size_t i = SAMPLE + STRIDE; i < n - SAMPLE; i += STRIDE)
      f(i);
   for (std::size_t i = n - SAMPLE; i < n; ++i)
      f(i);
}

class Model
{
public:
   Model(mspace space, std::uint64_t seed) : ms(space), rng{seed}, seed_(seed)
   {
      capacity = stats_of(ms).capacity;
   }

   void run(std::size_t ops)
   {
      for (op = 0; op < ops; ++op)
      {
         step();
         if (op % 1000 == 999)
            expect(mspace_check(ms) == 0, "mspace_check");
         if (op % 500 == 499)
            check_stats();
         if (op % 25000 == 24999 || (USABLE_MAY_BE_ASKED && op % 500 == 499))
            check_inspect();   // under a checker (and at level 2) it also vouches for check_stats' numbers
         if (op == ops / 2 && seed_ % 2 == 1)
            reset();
      }
      ops_done += ops;
      expect(mspace_check(ms) == 0, "mspace_check at the end");
      check_stats();
      check_inspect();
      free_everything();
   }

   std::size_t ops_done = 0;
   std::size_t failures = 0;   // NULL results the model accepted

private:
   mspace ms;
   SplitMix64 rng;
   std::uint64_t seed_;
   std::size_t capacity = 0;
   std::size_t op = 0;
   std::uint32_t next_id = 1;
   std::vector<Live> live;                       // random access
   std::map<std::uintptr_t, std::size_t> where;  // address -> index in live
   std::size_t usable_sum = 0;

   void expect(bool ok, const char *what)
   {
      if (!ok)
         FAIL("seed " << seed_ << ", op " << op << ": " << what);
   }

   // Sizes: mostly small and log-uniform, sometimes medium or large, rarely absurd.
   std::size_t random_size()
   {
      std::size_t r = rng.below(1000);
      if (r < 900)
         return rng.below(std::size_t(1) << rng.below(11));   // 0 .. 1 KiB
      if (r < 990)
         return rng.below(std::size_t(1) << (10 + rng.below(7)));   // .. 64 KiB
      if (r < 998)
         return rng.below(std::size_t(1) << (16 + rng.below(5)));   // .. 1 MiB
      switch (rng.below(6))
      {
         case 0: return SIZE_MAX;
         case 1: return SIZE_MAX - 7;
         case 2: return SIZE_MAX / 2;
         case 3: return capacity + 1;
         case 4: return capacity - rng.below(4096);
         default: return rng.below(2 * capacity);
      }
   }

   unsigned char pattern(std::uint32_t id, std::size_t i) const { return pattern_byte(id, i); }

   void fill_block(const Live &b)
   {
      for_each_sample(b.size, [&](std::size_t i) { b.p[i] = pattern(b.id, i); });
   }

   // The pattern of block `id` holds in the first `limit` bytes of p.
   bool intact(const unsigned char *p, std::size_t size, std::uint32_t id, std::size_t limit) const
   {
      bool ok = true;
      for_each_sample(size, [&](std::size_t i) {
         if (i < limit && p[i] != pattern(id, i))
            ok = false;
      });
      return ok;
   }

   // A request failed: that is only allowed when it does not fit.
   void accept_failure(std::size_t needed)
   {
      ++failures;
      if (needed > capacity)
         return;
      mspace_stats_t s = stats_of(ms);
      expect(needed > s.largest_free, "NULL for a request that fits (needed <= largest_free)");
   }

   void add(unsigned char *p, std::size_t size, bool zeroed)
   {
      expect(is_aligned(p, A), "block not aligned");
      Live b{p, size, mspace_usable_size(p), next_id++};
      expect(b.usable >= size, "usable size smaller than asked");
      expect(b.usable == 0 || mspace_is_heap_object(ms, p + b.usable - 1), "block leaves the region");
      expect(mspace_is_heap_object(ms, p), "block outside the region");
      auto addr = reinterpret_cast<std::uintptr_t>(p);
      auto next = where.lower_bound(addr);
      if (next != where.end())
         expect(addr + b.usable <= next->first, "block overlaps the next live block");
      if (next != where.begin())
      {
         auto prev = std::prev(next);
         expect(prev->first + live[prev->second].usable <= addr, "block overlaps the previous live block");
      }
      if (zeroed)
      {
         bool zero = true;
         if (size <= 4096)
            zero = all_bytes_are(p, size, 0);
         else
            for_each_sample(size, [&](std::size_t i) { zero = zero && p[i] == 0; });
         expect(zero, "calloc block not zeroed");
      }
      fill_block(b);
      where[addr] = live.size();
      live.push_back(b);
      usable_sum += b.usable;
   }

   void remove(std::size_t index)
   {
      Live b = live[index];
      where.erase(reinterpret_cast<std::uintptr_t>(b.p));
      usable_sum -= b.usable;
      if (index != live.size() - 1)
      {
         live[index] = live.back();
         where[reinterpret_cast<std::uintptr_t>(live[index].p)] = index;
      }
      live.pop_back();
   }

   void do_malloc()
   {
      std::size_t n = random_size();
      void *p = mspace_malloc(ms, n);
      if (p)
         add(static_cast<unsigned char *>(p), n, false);
      else
         accept_failure(n);
   }

   void do_calloc()
   {
      std::size_t count = 1 + rng.below(16);
      std::size_t size = random_size() / count;
      if (rng.one_in(100))   // the product overflows
      {
         count = SIZE_MAX / 2;
         size = 3;
         expect(mspace_calloc(ms, count, size) == nullptr, "calloc overflow not caught");
         ++failures;
         return;
      }
      void *p = mspace_calloc(ms, count, size);
      if (p)
         add(static_cast<unsigned char *>(p), count * size, true);
      else
         accept_failure(count * size);
   }

   void do_memalign()
   {
      std::size_t alignment = std::size_t(1) << (4 + rng.below(rng.one_in(20) ? 17 : 9));
      std::size_t n = random_size();
      void *p = mspace_memalign(ms, alignment, n);
      if (p)
      {
         expect(is_aligned(p, alignment), "memalign result not aligned");
         add(static_cast<unsigned char *>(p), n, false);
      }
      else if (n <= capacity && alignment <= capacity)
         accept_failure(n + alignment + 2 * MIN_CHUNK);
      else
         ++failures;
   }

   void do_realloc()
   {
      if (live.empty() || rng.one_in(50))
      {
         std::size_t n = random_size();
         void *p = mspace_realloc(ms, nullptr, n);
         if (p)
            add(static_cast<unsigned char *>(p), n, false);
         else
            accept_failure(n);
         return;
      }
      std::size_t index = rng.below(live.size());
      Live old = live[index];
      std::size_t n = rng.one_in(30) ? 0 : random_size();
      expect(intact(old.p, old.size, old.id, old.size), "contents damaged before realloc");
      void *p = mspace_realloc(ms, old.p, n);
      if (p)
      {
         unsigned char *q = static_cast<unsigned char *>(p);
         expect(intact(q, old.size, old.id, n < old.size ? n : old.size), "realloc lost contents");
         if (n <= old.usable)
            expect(q == old.p, "shrinking realloc moved the block");
         remove(index);
         add(q, n, false);
      }
      else
      {
         expect(mspace_usable_size(old.p) == old.usable, "failed realloc changed the block");
         expect(intact(old.p, old.size, old.id, old.size), "failed realloc damaged the block");
         accept_failure(n);
      }
   }

   void do_realloc_in_place()
   {
      if (live.empty())
         return;
      std::size_t index = rng.below(live.size());
      Live old = live[index];
      std::size_t n = rng.one_in(2) ? old.size / 2 + rng.below(old.size + 1)
                                    : old.size + rng.below(2 * old.size + 64);
      void *p = mspace_realloc_in_place(ms, old.p, n);
      if (p)
      {
         expect(p == old.p, "realloc_in_place moved the block");
         expect(intact(old.p, old.size, old.id, n < old.size ? n : old.size), "realloc_in_place lost contents");
         remove(index);
         add(old.p, n, false);
      }
      else
      {
         expect(n > old.usable, "realloc_in_place refused to shrink");
         expect(mspace_usable_size(old.p) == old.usable, "failed realloc_in_place changed the block");
         expect(intact(old.p, old.size, old.id, old.size), "failed realloc_in_place damaged the block");
         ++failures;
      }
   }

   void do_free()
   {
      std::size_t index = rng.below(live.size());
      Live b = live[index];
      expect(intact(b.p, b.size, b.id, b.size), "contents damaged before free");
      remove(index);
      mspace_free(ms, b.p);
   }

   void step()
   {
      const bool crowded = live.size() > 4000 || usable_sum > capacity / 4 * 3;
      std::size_t r = rng.below(1000);
      if (live.empty())
         r = 0;
      else if (crowded && r < 600)
         r = 999;   // free
      if (r < 330)
         do_malloc();
      else if (r < 380)
         do_calloc();
      else if (r < 430)
         do_memalign();
      else if (r < 560)
         do_realloc();
      else if (r < 600)
         do_realloc_in_place();
      else if (r < 602)
         trim();
      else
         do_free();
   }

   void trim()
   {
      mspace_trim(ms, rng.one_in(2) ? 0 : rng.below(1 * MiB));
      mspace_stats_t s = stats_of(ms);
      expect(footprint_is_on_a_step(s), "trim left the footprint between steps");
   }

   void reset()
   {
      mspace_reset(ms);
      live.clear();
      where.clear();
      usable_sum = 0;
      mspace_stats_t s = stats_of(ms);
      expect(s.allocated_blocks == 0 && s.free_blocks == 0, "reset left blocks");
      expect(s.footprint <= GRANULARITY, "reset kept the footprint");
   }

   void check_stats()
   {
      mspace_stats_t s = stats_of(ms);
      expect(s.in_use_bytes + s.free_bytes + s.bookkeeping == s.footprint,
             "in_use_bytes + free_bytes + bookkeeping != footprint");
      expect(s.allocated_blocks == live.size(), "allocated_blocks differs from the model");
      // under a checker and at level 2 mspace_usable_size may report the size asked for,
      // not the chunk's (test_helpers.h): the chunks' usable sizes then come from
      // mspace_inspect_all, which check_inspect holds against the model
      const std::size_t chunk_usable = USABLE_MAY_BE_ASKED ? chunk_usable_sum() : usable_sum;
      if (!TIER)
         expect(s.in_use_bytes == chunk_usable + live.size() * OVERHEAD, "in_use_bytes differs from the model");
      else   // slots have no head, their pages a header and a tail: at most a quarter of a page
         expect(s.in_use_bytes >= chunk_usable && s.in_use_bytes <= chunk_usable + live.size() * OVERHEAD +
                                                                      s.footprint / PAGE * (PAGE / 4),
                "in_use_bytes out of the model's bounds");
      expect(s.footprint <= s.capacity && s.max_footprint >= s.footprint, "footprint out of bounds");
      expect(footprint_is_on_a_step(s), "footprint between steps");
      expect(s.top_bytes <= s.free_bytes, "top larger than the free bytes");

      // largest_free is exact (this malloc and free leave the heap's contents as they were,
      // but that a held page they needed went back to the core: tier.hpp)
      void *p = mspace_malloc(ms, s.largest_free);
      expect(s.largest_free == 0 || p != nullptr, "malloc(largest_free) failed");
      if (p)
         mspace_free(ms, p);
      void *q = mspace_malloc(ms, s.largest_free + A);
      expect(q == nullptr, "malloc(largest_free + A) succeeded");
      if (q)
         mspace_free(ms, q);
   }

   std::size_t chunk_usable_sum()
   {
      std::size_t sum = 0;
      for (const Chunk &c : chunks_of(ms))
         sum += c.used;
      return sum;
   }

   void check_inspect()
   {
      std::set<unsigned char *> reported;
      for (const Chunk &c : chunks_of(ms))
         if (c.used)
         {
            reported.insert(c.start);
            auto it = where.find(reinterpret_cast<std::uintptr_t>(c.start));
            expect(it != where.end(), "inspect_all reports a block the model does not have");
            if (it != where.end())
            {
               const Live &b = live[it->second];
               expect(b.usable == c.used || (USABLE_MAY_BE_ASKED && b.usable == b.size && c.used >= b.size),
                      "inspect_all reports a different size");
            }
         }
      expect(reported.size() == live.size(), "inspect_all misses live blocks");
   }

   void free_everything()
   {
      while (!live.empty())
         do_free();
      mspace_stats_t s = stats_of(ms);
      expect(s.allocated_blocks == 0, "blocks left after freeing everything");
      expect(s.free_blocks == 0, "free chunks left: not everything coalesced into the top");
      expect(s.in_use_bytes == 0, "bytes in use after freeing everything");
      expect(s.free_bytes == s.top_bytes, "free bytes outside the top");
      expect(s.top_bytes + s.bookkeeping == s.footprint, "top does not reach the footprint");
      expect(mspace_check(ms) == 0, "mspace_check after freeing everything");
   }
};

}  // namespace

TEST_CASE("random operations agree with a shadow model")
{
   // MULLE_TEST_SCALE=k divides the work (slow targets: emulators, sanitizers);
   // MULLE_DLMALLOC_RANDOM_OPS=n runs n operations per seed instead (a longer soak).
   const std::size_t seeds = 8;
   const char *scale_env = std::getenv("MULLE_TEST_SCALE");
   const char *ops_env = std::getenv("MULLE_DLMALLOC_RANDOM_OPS");
   std::size_t scale = scale_env ? std::size_t(std::strtoull(scale_env, nullptr, 10)) : 1;
   if (scale == 0)
      scale = 1;
   const std::size_t ops_per_seed =
      ops_env ? std::size_t(std::strtoull(ops_env, nullptr, 10)) : 250000 / scale;
   const std::size_t capacity = 8 * MiB;
   Buffer buf(capacity);
   std::size_t total = 0, failures = 0;
   for (std::uint64_t seed = 1; seed <= seeds; ++seed)
   {
      CAPTURE(seed);
      // every fourth run lives in a caller buffer with an odd base
      mspace ms = seed % 4 == 0 ? mspace_create_with_base(buf.base + seed % 16 + 1, capacity - 32)
                                : mspace_create(capacity);
      REQUIRE(ms != nullptr);
      ErrorLog log;
      log.install(ms);
      Model model(ms, seed);
      model.run(ops_per_seed);
      CHECK(log.count == 0);   // a correct program never reaches the error handler
      total += model.ops_done;
      failures += model.failures;
      CHECK(mspace_destroy(ms) == 0);
   }
   MESSAGE("random ops: " << total << " over " << seeds << " seeds (" << failures
           << " NULL results, each checked against largest_free)");
   if (!ops_env && scale == 1)
      CHECK(total >= 1000000);
}
