// Every malloc, free and realloc does bounded work, whatever the heap holds: the
// implementation TU counts each iteration of the allocator's loops (tree walks, the search
// of a page's bitmap), and adversarial traces assert a constant bound per operation. Small
// bins and rings of equal sizes are O(1) however long; a trie walk is bounded by the bits
// of a size; a page's bitmap by its 4 words; the purge's lookup of a due chunk by both.
#include "test_helpers.h"

namespace mulle { namespace detail { extern std::size_t step_count; } }

using namespace test;

namespace {

// Constants: trie descents and a leaf search are bounded by the bits of a size; a slot is
// found in a page's bitmap of 4 words; the purge by itself looks up at most one chunk a
// call, by its size (the bits of a size) and 16 members of its ring.
const std::size_t WALKS = 4 * 8 * sizeof(std::size_t);
const std::size_t BOUND = WALKS + 4 + 8 * sizeof(std::size_t) + 16;

struct Meter
{
   std::size_t worst = 0;
   std::size_t ops   = 0;

   template <class F>
   void operator()(F op)
   {
      std::size_t before = mulle::detail::step_count;
      op();
      std::size_t steps = mulle::detail::step_count - before;
      if (steps > worst)
         worst = steps;
      ++ops;
   }
};

} // namespace

TEST_CASE("malloc, free and realloc do bounded work on adversarial heaps")
{
   mspace ms = mspace_create(256 * MiB);
   REQUIRE(ms != nullptr);
   Meter meter;
   std::vector<void *> keep, holes;

   // 1. a long free list of one small size: 20,000 free 48-byte chunks between live ones
   for (int i = 0; i < 20000; ++i)
   {
      holes.push_back(mspace_malloc(ms, 40));
      keep.push_back(mspace_malloc(ms, 8));
   }
   for (void *p : holes)
      meter([&] { mspace_free(ms, p); });
   for (int i = 0; i < 20000; ++i)
      meter([&] { holes[std::size_t(i)] = mspace_malloc(ms, 40); });

   // 2. deep tries: free chunks of thousands of distinct large sizes, and long rings of
   //    equal ones, each kept apart by a live block
   std::vector<void *> big;
   for (std::size_t k = 0; k < 6000; ++k)
   {
      std::size_t n = 256 + 16 * (k % 3000) + (k / 3000) * 65536;
      big.push_back(mspace_malloc(ms, n));
      keep.push_back(mspace_malloc(ms, 8));
   }
   for (int r = 0; r < 3000; ++r)
   {
      big.push_back(mspace_malloc(ms, 5000));   // a ring of 3,000 equal sizes
      keep.push_back(mspace_malloc(ms, 8));
   }
   for (void *p : big)
      meter([&] { mspace_free(ms, p); });
   CHECK(mspace_check(ms) == 0);
   for (std::size_t k = 0; k < 9000; ++k)
   {
      std::size_t n = 200 + 7 * k % 70000;      // best fits all over the tries
      meter([&] { big[k] = mspace_malloc(ms, n); });
   }
   // 3. reallocs that grow into free neighbours, shrink, and move
   for (std::size_t k = 0; k < 9000; k += 2)
      meter([&] { mspace_free(ms, big[k]); });
   for (std::size_t k = 1; k < 9000; k += 2)
      meter([&] { big[k] = mspace_realloc(ms, big[k], (k % 5 + 1) * 3000); });
   CHECK(mspace_check(ms) == 0);

   MESSAGE("bounded work: " << meter.ops << " operations, at most " << meter.worst
                            << " loop steps in one (bound " << WALKS << ")");
   CHECK(meter.worst <= WALKS);
   CHECK(meter.ops > 60000);
   mspace_destroy(ms);

   // 4. requests that fail on a full heap of slots and chunks with holes: a large one (the
   //    core's search), a small one whose size has no page with room (a page cannot be
   //    made; every larger slot size is tried, each from its list's head), and a small one
   //    served by a larger slot after that
   mspace small = mspace_create(1 * MiB);
   REQUIRE(small != nullptr);
   std::vector<void *> blocks;
   for (std::size_t i = 0;; ++i)
   {
      void *p = mspace_malloc(small, i % 3 == 0 ? 24 : i % 3 == 1 ? 200 : 700);
      if (!p)
         break;
      blocks.push_back(p);
   }
   std::size_t cycled = blocks.size();
   for (std::size_t n : {std::size_t(250), std::size_t(24), std::size_t(8), std::size_t(1)})   // the rest of the room
      while (void *p = mspace_malloc(small, n))
         blocks.push_back(p);
   for (std::size_t i = 0; i < cycled; i += 6)
      mspace_free(small, blocks[i]);                 // holes in the pages of 24-byte slots
   for (std::size_t i = 2; i < cycled; i += 6)
      mspace_free(small, blocks[i]);                 // and 700-byte chunks between blocks
   Meter failing;
   failing([&] { CHECK(mspace_malloc(small, 512 * KiB) == nullptr); });
   while (void *p = mspace_malloc(small, 700))       // the holes between chunks, used up
      blocks.push_back(p);
   void *larger = nullptr;
   failing([&] { CHECK(mspace_malloc(small, 250) == nullptr); });
   failing([&] { larger = mspace_malloc(small, 8); });
   CHECK(larger != nullptr);
   if (TIER && !MULLE_TEST_CHECKER)   // a slot (a checker's usable size is the request's)
      CHECK(mspace_usable_size(larger) == usable_for(24));   // a 32-byte slot
   MESSAGE("requests that fail on a full heap of slots: " << failing.worst << " loop steps (bound " << BOUND << ")");
   CHECK(failing.worst <= BOUND);
   CHECK(failing.ops == 3);
   CHECK(mspace_check(small) == 0);
   mspace_destroy(small);
}
