// Recovery (recover.hpp): a heap whose user stopped inside a call is rebuilt by the next
// attach from its chunk heads. A stop is made here by writing, by hand, the stores a call
// makes first and leaving out those after (the kill campaign and the single-step test in
// tests/crash stop real calls; these run in every suite, at every configuration that
// rebuilds). A heap that was detached and left so is damage: refused, unchanged.
#include <doctest/doctest.h>
#include "mulle_dlmalloc.hpp"
#include "test_helpers.h"

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

using namespace test;

namespace {

constexpr bool REBUILDS = CANARY == 0;   // level 2 rebuilds nothing: its canaries record requests
constexpr std::size_t REGION = 1 * MiB;
constexpr std::size_t PINUSE = 1, CINUSE = 2, FLAGS = 7;

// The head word of the chunk of block p (the word before it), read and written past the
// memory checkers (the heap's own words are no-access to them).
std::size_t head_of(void *p) { return read_word(static_cast<unsigned char *>(p) - W); }
void set_head(void *p, std::size_t w) { write_word(static_cast<unsigned char *>(p) - W, w); }

// The region's bytes, read past the memory checkers.
std::vector<unsigned char> image(const unsigned char *region)
{
   std::vector<unsigned char> v(REGION);
   raw_copy(v.data(), region, REGION);
   return v;
}

// The free range that holds [from, to), as mspace_inspect_all reports free memory.
struct FreeRange
{
   const unsigned char *from, *to;
   bool found;
};
void find_free(void *start, void *end, std::size_t used, void *arg)
{
   auto *r = static_cast<FreeRange *>(arg);
   if (!used && static_cast<unsigned char *>(start) <= r->from && static_cast<unsigned char *>(end) >= r->to)
      r->found = true;
}

struct Block
{
   unsigned char *p;
   std::size_t n;
   unsigned char seed;
};

void fill(const Block &b) { std::memset(b.p, b.seed, b.n); }
bool intact(const Block &b)
{
   for (std::size_t i = 0; i < b.n; ++i)
      if (b.p[i] != b.seed)
         return false;
   return true;
}

// A heap in a buffer with chunks around the ones a test stops a call on, and (with the
// tier) slots on pages full and partly full.
struct Scene
{
   std::vector<unsigned char> buffer;
   unsigned char *region;
   mspace ms;
   std::vector<Block> kept;

   explicit Scene(bool with_slots = true) : buffer(REGION + 4096)
   {
      region = buffer.data() + (4096 - reinterpret_cast<std::uintptr_t>(buffer.data()) % 4096) % 4096;
      ms = mspace_create_with_base(region, REGION);
      REQUIRE(ms != nullptr);
      if (with_slots)
         slots();
   }
   void slots()
   {
      for (unsigned i = 0; i < 300; ++i)   // slots (with the tier), more than a page holds
         keep(48);
   }
   Block keep(std::size_t n)
   {
      Block b{static_cast<unsigned char *>(mspace_malloc(ms, n)), n, static_cast<unsigned char>(kept.size() * 7 + 1)};
      REQUIRE(b.p != nullptr);
      fill(b);
      kept.push_back(b);
      return b;
   }
   // every block kept is in use and intact, the heap sound; then all freed
   void verify_and_free(mspace again)
   {
      CHECK(mspace_check(again) == 0);
      std::size_t damaged = 0;
      for (const Block &b : kept)
         damaged += !intact(b) || mspace_usable_size(b.p) < b.n;
      CHECK(damaged == 0);
      for (const Block &b : kept)
         mspace_free(again, b.p);
      CHECK(mspace_check(again) == 0);
   }
};

} // namespace

TEST_CASE("attach rebuilds a heap whose free stopped before it merged" * doctest::skip(!REBUILDS))
{
   Scene s(false);   // the chunks first, from the top: neighbours in this order
   Block a = s.keep(1000);
   auto *b = static_cast<unsigned char *>(mspace_malloc(s.ms, 1000));
   auto *c = static_cast<unsigned char *>(mspace_malloc(s.ms, 1000));
   Block d = s.keep(1000);
   (void) a;
   (void) d;
   REQUIRE(b);
   REQUIRE(c);
   REQUIRE(b + (head_of(b) & ~FLAGS) == c);
   s.slots();
   mspace_free(s.ms, b);
   // free(c) stopped after its first store: c's head says free, and nothing else moved
   // (c is not merged with b nor binned, d's PINUSE still set)
   set_head(c, head_of(c) & ~CINUSE);
   CHECK(mspace_check(s.ms) != 0);

   mspace again = mspace_attach(s.region, REGION);   // never detached: its user "died"
   REQUIRE(again != nullptr);
   CHECK(again == s.ms);
   CHECK(mspace_attach_found(again) == MSPACE_FOUND_REBUILT);
   // b and c are one free chunk now (the check would find two free neighbours)
   FreeRange both{b, c + 1, false};   // from b into c: one range
   mspace_inspect_all(again, find_free, &both);
   CHECK(both.found);
   s.verify_and_free(again);
   CHECK(mspace_detach(again) == 0);
}

TEST_CASE("attach rebuilds a heap whose top moved in its heads only, and refuses the same heap detached" *
          doctest::skip(!REBUILDS))
{
   Scene s;
   auto *v = static_cast<unsigned char *>(mspace_malloc(s.ms, 3000));   // just below the top
   REQUIRE(v);
   mspace_stats_t st = stats_of(s.ms);
   REQUIRE(mspace_check(s.ms) == 0);

   SUBCASE("not detached: rebuilt")
   {
      // free(v) into the top stopped after its one store: v's head spans the top, the
      // state still names the old top
      set_head(v, ((head_of(v) & ~FLAGS) + st.top_bytes) | (head_of(v) & PINUSE));
      mspace again = mspace_attach(s.region, REGION);
      REQUIRE(again != nullptr);
      CHECK(mspace_attach_found(again) == MSPACE_FOUND_REBUILT);
      mspace_stats_t after = stats_of(again);
      CHECK(after.top_bytes == st.top_bytes + usable_for(3000) + OVERHEAD);
      s.verify_and_free(again);
      CHECK(mspace_detach(again) == 0);
   }
   SUBCASE("detached, then the same change: damage, refused and unchanged")
   {
      REQUIRE(mspace_detach(s.ms) == 0);
      set_head(v, ((head_of(v) & ~FLAGS) + st.top_bytes) | (head_of(v) & PINUSE));
      const std::vector<unsigned char> before = image(s.region);
      CHECK(mspace_attach_error(s.region, REGION) == MSPACE_ERROR_CORRUPTION);
      CHECK(mspace_attach(s.region, REGION) == nullptr);
      CHECK(image(s.region) == before);
   }
}

TEST_CASE("a sound heap that was not detached is taken as it stands" * doctest::skip(!REBUILDS))
{
   Scene s;
   s.keep(5000);
   mspace again = mspace_attach(s.region, REGION);
   REQUIRE(again != nullptr);
   CHECK(mspace_attach_found(again) == MSPACE_FOUND_OPEN);
   REQUIRE(mspace_detach(again) == 0);
   again = mspace_attach(s.region, REGION);
   REQUIRE(again != nullptr);
   CHECK(mspace_attach_found(again) == MSPACE_FOUND_DETACHED);
   s.verify_and_free(again);
   CHECK(mspace_detach(again) == 0);
}

TEST_CASE("a heap whose heads do not parse is refused, not rebuilt" * doctest::skip(!REBUILDS))
{
   Scene s;
   Block b = s.keep(1000);
   set_head(b.p, 3 * W);   // no size on the grid: no walk goes past it
   const std::vector<unsigned char> before = image(s.region);
   CHECK(mspace_attach_error(s.region, REGION) == MSPACE_ERROR_CORRUPTION);
   CHECK(mspace_attach(s.region, REGION) == nullptr);
   CHECK(image(s.region) == before);
}
