// Misuse goes to the error handler, and when the handler returns nothing is lost:
// invalid pointers, double frees, corrupted tags, the default handler, error strings.
#include <doctest/doctest.h>
#include "mulle_dlmalloc.hpp"
#include "test_helpers.h"

#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#if defined(__unix__) || defined(__APPLE__)
#include <csignal>
#include <sys/wait.h>
#include <unistd.h>
#define TEST_HAVE_FORK 1
#endif

using namespace test;

namespace {

// An mspace with a recording handler and a row of live, patterned blocks. After every
// misuse `expect_nothing_lost` checks that the heap is exactly as it was.
struct Fixture
{
   mspace ms = nullptr;
   ErrorLog log;
   std::vector<void *> blocks;
   std::vector<std::size_t> sizes;
   mspace_stats_t before{};

   explicit Fixture(std::size_t capacity = 4 * MiB)
   {
      ms = mspace_create(capacity);
      REQUIRE(ms != nullptr);
      log.install(ms);
      for (std::size_t i = 0; i < 12; ++i)
         add(i % 3 == 0 ? 256 : 40 + i * 30);
   }
   ~Fixture() { mspace_destroy(ms); }

   void *add(std::size_t n)
   {
      void *p = mspace_malloc(ms, n);
      REQUIRE(p != nullptr);
      fill(p, n, std::uint32_t(blocks.size() + 1));
      blocks.push_back(p);
      sizes.push_back(n);
      return p;
   }
   void *add_untracked(std::size_t n)   // live, but with contents the test sets itself
   {
      void *p = mspace_malloc(ms, n);
      REQUIRE(p != nullptr);
      return p;
   }
   void drop(void *p)   // a legitimate free, before the misuse
   {
      for (std::size_t i = 0; i < blocks.size(); ++i)
         if (blocks[i] == p)
         {
            mspace_free(ms, p);
            blocks[i] = nullptr;
         }
   }
   void snapshot()
   {
      before = stats_of(ms);
      log.clear();
   }
   void expect_nothing_lost()
   {
      for (std::size_t i = 0; i < blocks.size(); ++i)
         if (blocks[i])
         {
            CAPTURE(i);
            CHECK(verify(blocks[i], sizes[i], std::uint32_t(i + 1)));
            CHECK_USABLE(blocks[i], sizes[i]);
         }
      const mspace_stats_t after = stats_of(ms);
      CHECK_SAME_STATS(before, after);
      CHECK_HEAP(ms);
   }
   // Allocates, so it may hand out the memory of a freed block: only at the end of a check.
   void expect_still_usable()
   {
      log.clear();
      void *p = mspace_malloc(ms, 100);
      CHECK(p != nullptr);
      mspace_free(ms, p);
      CHECK(log.count == 0);
      CHECK_HEAP(ms);
   }
   void expect_report(mspace_error_t error, const void *p)
   {
      CHECK(log.count == 1);
      CHECK(log.last == error);
      CHECK(log.last_p == p);
      CHECK(log.last_ms == ms);
      CHECK(log.last_ctx == &log);
   }
   // free(p) and realloc(p) are each reported once and have no effect
   void expect_free_and_realloc_rejected(void *p, mspace_error_t error)
   {
      snapshot();
      mspace_free(ms, p);
      expect_report(error, p);
      expect_nothing_lost();

      snapshot();
      CHECK(mspace_realloc(ms, p, 1000) == nullptr);
      expect_report(error, p);
      expect_nothing_lost();

      snapshot();
      CHECK(mspace_realloc(ms, p, 8) == nullptr);
      expect_report(error, p);
      expect_nothing_lost();

      snapshot();
      CHECK(mspace_realloc_in_place(ms, p, 8) == nullptr);
      CHECK(log.count <= 1);
      expect_nothing_lost();
      expect_still_usable();
   }
};

}  // namespace

TEST_CASE("a pointer from another mspace is an invalid pointer")
{
   Fixture f;
   mspace other = mspace_create(4 * MiB);
   REQUIRE(other != nullptr);
   ErrorLog other_log;
   other_log.install(other);
   void *foreign = mspace_malloc(other, 256);
   REQUIRE(foreign != nullptr);
   fill(foreign, 256, 99);

   f.expect_free_and_realloc_rejected(foreign, MSPACE_ERROR_INVALID_POINTER);

   CHECK(other_log.count == 0);
   CHECK(verify(foreign, 256, 99));
   CHECK(stats_of(other).allocated_blocks == 1);
   CHECK_HEAP(other);
   mspace_free(other, foreign);
   CHECK(other_log.count == 0);
   CHECK(mspace_destroy(other) == 0);
}

TEST_CASE("a pointer from an mspace right behind this one is an invalid pointer")
{
   const std::size_t capacity = 64 * KiB;
   Buffer buf(2 * capacity);
   mspace ms = mspace_create_with_base(buf.base, capacity);
   mspace next = mspace_create_with_base(buf.base + capacity, capacity);
   REQUIRE((ms && next));
   ErrorLog log;
   log.install(ms);
   void *mine = mspace_malloc(ms, 100);
   void *theirs = mspace_malloc(next, 100);   // the first block after ms's region
   REQUIRE((mine && theirs));
   fill(mine, 100, 1);
   fill(theirs, 100, 2);
   mspace_free(ms, theirs);
   CHECK(log.count == 1);
   CHECK(log.last == MSPACE_ERROR_INVALID_POINTER);
   CHECK(log.last_p == theirs);
   CHECK(verify(mine, 100, 1));
   CHECK(verify(theirs, 100, 2));
   CHECK(stats_of(next).allocated_blocks == 1);
   CHECK_HEAP(ms);
   CHECK_HEAP(next);
   CHECK(mspace_destroy(next) == 0);
   CHECK(mspace_destroy(ms) == 0);
}

TEST_CASE("a stack address is an invalid pointer")
{
   Fixture f;
   alignas(64) unsigned char on_stack[256];
   std::memset(on_stack, 0, sizeof on_stack);
   f.expect_free_and_realloc_rejected(on_stack + 64, MSPACE_ERROR_INVALID_POINTER);
}

TEST_CASE("a misaligned pointer is an invalid pointer")
{
   Fixture f;
   unsigned char *block = bytes(f.blocks[3]);
   for (std::size_t offset : sizes{std::size_t(1), W, A / 2 + 1, A - 1})
   {
      CAPTURE(offset);
      f.expect_free_and_realloc_rejected(block + offset, MSPACE_ERROR_INVALID_POINTER);
   }
}

TEST_CASE("a misaligned pointer is invalid even when the bytes before it look like a chunk")
{
   Fixture f;
   void *block = f.add_untracked(512);
   f.add(100);   // so the block is not next to the top
   // p = block + W is off the A grid when A > W; the words a validator reads around it
   // (its head just before it, the next chunk's head) say "an in-use chunk of 4 * A bytes
   // whose neighbours are in use"
   std::memset(block, 0, 512);
   unsigned char *p = bytes(block) + W;
   const std::size_t fake = 4 * A;
   for (std::size_t k = 0; k < 4; ++k)
   {
      std::size_t head = fake | 3;   // both in-use bits
      std::memcpy(p - W + k * fake, &head, W);
   }
   if (A > W)
      f.expect_free_and_realloc_rejected(p, MSPACE_ERROR_INVALID_POINTER);
}

TEST_CASE("an interior pointer is an invalid pointer")
{
   Fixture f;
   void *block = f.add_untracked(256);
   f.add(100);   // so the block is not next to the top
   std::memset(block, 0xAB, 256);
   f.expect_free_and_realloc_rejected(bytes(block) + 64, MSPACE_ERROR_INVALID_POINTER);
   f.expect_free_and_realloc_rejected(bytes(block) + 128, MSPACE_ERROR_INVALID_POINTER);
   CHECK(all_bytes_are(block, 256, 0xAB));
}

TEST_CASE("pointers into the bookkeeping, the top and the unused region are invalid pointers")
{
   Fixture f(16 * MiB);
   unsigned char *region = bytes(f.ms);   // the handle points into the region's header
   unsigned char *aligned_header = aligned(region);
   f.expect_free_and_realloc_rejected(aligned_header, MSPACE_ERROR_INVALID_POINTER);

   unsigned char *last = bytes(f.blocks.back());
   f.expect_free_and_realloc_rejected(last + 1024, MSPACE_ERROR_INVALID_POINTER);   // in the top

   // inside the capacity but past the footprint (possibly never committed)
   CHECK(stats_of(f.ms).footprint < 8 * MiB);
   f.expect_free_and_realloc_rejected(aligned_header + 8 * MiB, MSPACE_ERROR_INVALID_POINTER);
}

TEST_CASE("double free of a block next to the top")
{
   Fixture f;
   void *p = f.blocks.back();
   f.drop(p);   // joins the top
   f.expect_free_and_realloc_rejected(p, MSPACE_ERROR_DOUBLE_FREE);
}

TEST_CASE("double free of a block between two live blocks" * doctest::skip(TIER))
{
   Fixture f;
   void *p = f.blocks[5];
   f.drop(p);
   f.expect_free_and_realloc_rejected(p, MSPACE_ERROR_DOUBLE_FREE);
}

TEST_CASE("double free of a block that coalesced with a free neighbour" * doctest::skip(TIER))
{
   Fixture f;
   void *b = f.blocks[5];
   void *c = f.blocks[6];
   SUBCASE("the second block was absorbed by the first")
   {
      f.drop(b);
      f.drop(c);
      f.expect_free_and_realloc_rejected(c, MSPACE_ERROR_DOUBLE_FREE);
      f.expect_free_and_realloc_rejected(b, MSPACE_ERROR_DOUBLE_FREE);
   }
   SUBCASE("the first block absorbed the second")
   {
      f.drop(c);
      f.drop(b);
      f.expect_free_and_realloc_rejected(b, MSPACE_ERROR_DOUBLE_FREE);
      f.expect_free_and_realloc_rejected(c, MSPACE_ERROR_DOUBLE_FREE);
   }
   SUBCASE("three in a row, the middle one last")
   {
      void *d = f.blocks[7];
      f.drop(b);
      f.drop(d);
      f.drop(c);
      f.expect_free_and_realloc_rejected(b, MSPACE_ERROR_DOUBLE_FREE);
      f.expect_free_and_realloc_rejected(c, MSPACE_ERROR_DOUBLE_FREE);
      f.expect_free_and_realloc_rejected(d, MSPACE_ERROR_DOUBLE_FREE);
   }
}

TEST_CASE("double free of the smallest blocks merged into the first words of a tree chunk" * doctest::skip(TIER))
{
   // a, b, c: chunks of the smallest size, so that b's and c's heads lie among the first
   // words of the tree chunk that starts at a once all four have merged (words 5 and 9
   // where the smallest chunk is four words); the chunk's trie links sit at even words and
   // leave those heads as the frees left them (at level 2, poison)
   Fixture f;
   void *a = f.add(2 * W), *b = f.add(2 * W), *c = f.add(2 * W), *d = f.add(400);
   f.add(16);   // guard against the top
   REQUIRE(static_cast<char *>(b) - static_cast<char *>(a) == static_cast<std::ptrdiff_t>(MIN_CHUNK));
   REQUIRE(static_cast<char *>(c) - static_cast<char *>(b) == static_cast<std::ptrdiff_t>(MIN_CHUNK));
   f.drop(b);
   f.drop(c);   // b and c: a small chunk
   f.drop(d);   // b, c and d: a tree chunk at b
   f.drop(a);   // a, b, c and d: a tree chunk at a
   CHECK(mspace_check(f.ms) == 0);
   // each is a double free while the tree chunk is as the frees left it: nothing is
   // allocated before all four are checked
   for (void *p : {a, b, c, d})
   {
      f.snapshot();
      mspace_free(f.ms, p);
      f.expect_report(MSPACE_ERROR_DOUBLE_FREE, p);
      f.expect_nothing_lost();
   }
   for (void *p : {a, b, c, d})
      f.expect_free_and_realloc_rejected(p, MSPACE_ERROR_DOUBLE_FREE);
}

TEST_CASE("double free of a block that became part of the designated victim" * doctest::skip(TIER))
{
   Fixture f;
   void *big = f.add(2000);
   f.add(16);   // guard against the top
   f.drop(big);
   void *split = f.add(100);   // carved from big: the rest is a free remainder
   CHECK(split == big);
   f.drop(split);              // joins the remainder again
   f.expect_free_and_realloc_rejected(split, MSPACE_ERROR_DOUBLE_FREE);
}

TEST_CASE("double free of a block that grew the designated victim in front of it" * doctest::skip(TIER))
{
   // blocks above the cached sizes: a free releases them at once, and one that follows
   // the designated victim and precedes a block in use only grows the victim
   Fixture f;
   void *big = f.add(8 * 1024);
   void *b   = f.add(UNCACHED);   // right behind big
   f.add(16);                     // b is not next to the top
   f.drop(big);                   // into a tree bin
   void *split = f.add(100);      // carved from big: the rest, in front of b, is the victim
   REQUIRE(split == big);
   const std::size_t victim = stats_of(f.ms).free_bytes;
   f.drop(b);
   CHECK(stats_of(f.ms).free_bytes == victim + chunk_for(UNCACHED));
   CHECK(stats_of(f.ms).free_blocks == 1);   // one free chunk: b merged, nothing in a bin
   f.expect_free_and_realloc_rejected(b, MSPACE_ERROR_DOUBLE_FREE);
   CHECK_HEAP(f.ms);
}

TEST_CASE("double free of a memaligned block")
{
   Fixture f;
   void *p = mspace_memalign(f.ms, 4096, 500);
   REQUIRE(p != nullptr);
   f.add(16);
   mspace_free(f.ms, p);
   f.expect_free_and_realloc_rejected(p, MSPACE_ERROR_DOUBLE_FREE);
}

TEST_CASE("double free of a big block whose memory was trimmed away")
{
   Fixture f(64 * MiB);
   void *p = mspace_malloc(f.ms, 8 * MiB);
   REQUIRE(p != nullptr);
   mspace_free(f.ms, p);   // auto-trim: p now lies past the footprint
   CHECK(stats_of(f.ms).footprint < 8 * MiB);
   f.snapshot();
   mspace_free(f.ms, p);
   CHECK(f.log.count == 1);
   CHECK((f.log.last == MSPACE_ERROR_DOUBLE_FREE || f.log.last == MSPACE_ERROR_INVALID_POINTER));
   CHECK(f.log.last_p == p);
   f.expect_nothing_lost();
   f.expect_still_usable();
}

TEST_CASE("free of a block after mspace_reset is reported")
{
   Fixture f;
   void *p = f.blocks[4];
   mspace_reset(f.ms);
   f.blocks.clear();
   f.sizes.clear();
   f.snapshot();
   mspace_free(f.ms, p);
   CHECK(f.log.count == 1);
   CHECK((f.log.last == MSPACE_ERROR_DOUBLE_FREE || f.log.last == MSPACE_ERROR_INVALID_POINTER));
   f.expect_nothing_lost();
   f.expect_still_usable();
}

TEST_CASE("an overwritten size field is caught, and the heap is whole again once repaired" * doctest::skip(TIER))
{
   Fixture f;
   unsigned char *victim = bytes(f.blocks[6]);
   std::size_t saved;
   raw_copy(&saved, victim - W, W);   // the victim's head word, just before its memory

   const std::size_t garbage = static_cast<std::size_t>(0x6b6b6b6b6b6b6b6bull);
   raw_copy(victim - W, &garbage, W);   // a buffer overrun from the block before
   CHECK(mspace_check(f.ms) != 0);
   f.log.clear();
   mspace_free(f.ms, victim);
   CHECK(f.log.count == 1);
   CHECK((f.log.last == MSPACE_ERROR_INVALID_POINTER || f.log.last == MSPACE_ERROR_CORRUPTION));
   // with MULLE_DLMALLOC_CHECKS=2 the whole-heap check may see the corruption first
   CHECK((f.log.last_p == victim || f.log.last == MSPACE_ERROR_CORRUPTION));

   raw_copy(victim - W, &saved, W);
   f.snapshot();
   f.expect_nothing_lost();
   f.drop(victim);   // a real block again
   CHECK(f.log.count == 0);
   CHECK_HEAP(f.ms);
}

TEST_CASE("overwritten links of a free chunk are found by mspace_check" * doctest::skip(TIER))
{
   Fixture f;
   unsigned char *freed = bytes(f.blocks[3]);   // 256 bytes: a tree bin chunk
   unsigned char *small = bytes(f.blocks[1]);   // 70 bytes: a small bin chunk
   f.drop(freed);
   f.drop(small);
   CHECK_HEAP(f.ms);
   for (unsigned char *p : {freed, small})
   {
      unsigned char saved[2 * sizeof(void *)];
      raw_copy(saved, p, sizeof saved);
      raw_set(p, 0x6b, sizeof saved);   // a write after free over the bin links
      CHECK(mspace_check(f.ms) != 0);
      raw_copy(p, saved, sizeof saved);
      CHECK(mspace_check(f.ms) == 0);
   }
}

namespace {

// ---- the heap's own words, for the tests that damage them on purpose --------------------
// A block's head word (size | CINUSE | PINUSE) is the word before it, and the word before
// that is the footer of a free chunk in front of it. A free chunk's links start at its
// memory: fd, then bk (Doug Lea's layout). Where a tree chunk keeps its parent and bin index
// further on is the library's business: find_word finds them by their values. A link holds
// the distance from its own address to its target (link_value), so that a heap can be
// mapped at another address.
constexpr std::size_t PINUSE_BIT = 1, CINUSE_BIT = 2;
enum link_word { FD, BK };

unsigned char *head_of(void *block) { return bytes(block) - W; }
unsigned char *chunk_of(void *block) { return bytes(block) - 2 * W; }
unsigned char *link_of(void *freed, link_word w) { return bytes(freed) + std::size_t(w) * W; }

// The first word past fd and bk of a freed block that holds value, or nullptr.
unsigned char *find_word(void *freed, std::size_t value)
{
   for (std::size_t k = 2; k < 16; ++k)
      if (read_word(bytes(freed) + k * W) == value)
         return bytes(freed) + k * W;
   return nullptr;
}

// How the build stores a link: as the target's address, or (MULLE_DLMALLOC_RELATIVE) as
// the distance from the link's own address to it. find_link learns which from the link it
// finds; link_value then encodes a link the same way.
bool links_relative = false;

std::size_t link_value(const unsigned char *at, const unsigned char *target)
{
   const std::uintptr_t t = reinterpret_cast<std::uintptr_t>(target);
   return std::size_t(links_relative ? t - reinterpret_cast<std::uintptr_t>(at) : t);
}

// The first word in [from, to) that links to target, or nullptr; learns the link mode.
unsigned char *find_link_between(unsigned char *from, unsigned char *to, const unsigned char *target)
{
   for (unsigned char *at = from; at + W <= to; at += W)
   {
      const std::size_t w = read_word(at);
      if (w == std::size_t(reinterpret_cast<std::uintptr_t>(target)) ||
          w == std::size_t(reinterpret_cast<std::uintptr_t>(target) - reinterpret_cast<std::uintptr_t>(at)))
      {
         links_relative = w != std::size_t(reinterpret_cast<std::uintptr_t>(target));
         return at;
      }
   }
   return nullptr;
}

// the first word of a freed block, past its fd and bk, that links to target
unsigned char *find_link(void *freed, const unsigned char *target)
{
   return find_link_between(bytes(freed) + 2 * W, bytes(freed) + 16 * W, target);
}

// A copy of n bytes of the heap's own memory (which a checker does not let a test read).
std::vector<unsigned char> raw_bytes(const void *from, std::size_t n)
{
   std::vector<unsigned char> v(n);
   raw_copy(v.data(), from, n);
   return v;
}

// One word overwritten until restore() or the end of the scope.
struct Patch
{
   unsigned char *at;
   std::size_t saved;
   bool active = true;

   Patch(void *where, std::size_t value) : at(bytes(where)), saved(read_word(where))
   {
      raw_copy(at, &value, W);
   }
   ~Patch() { restore(); }
   void restore()
   {
      if (active)
         raw_copy(at, &saved, W);
      active = false;
   }
};

const std::size_t GARBAGE = static_cast<std::size_t>(0x6b6b6b6b6b6b6b6bull);

// A corruption report: it names the block or the free chunk involved, or with
// MULLE_DLMALLOC_CHECKS=2, whose whole-heap check sees the damage first, the mspace.
void expect_corruption(Fixture &f, std::initializer_list<void *> culprits)
{
   CHECK(f.log.count == 1);
   CHECK(f.log.last == MSPACE_ERROR_CORRUPTION);
   bool named = f.log.last_p == f.ms;
   for (void *p : culprits)
      named = named || f.log.last_p == p;
   CHECK(named);
}

}  // namespace

TEST_CASE("free and realloc and malloc report a free chunk with overwritten links as corruption and change nothing" * doctest::skip(TIER))
{
   Fixture f;
   // tree-sized blocks above the cached sizes: a free puts them straight into a bin
   void *x = f.add(UNCACHED);
   void *y = f.add(UNCACHED);
   void *z = f.add(UNCACHED);
   f.add(100);   // keeps z away from the top

   SUBCASE("free of the block behind the damaged chunk")
   {
      f.drop(x);
      Patch damage(link_of(x, FD), GARBAGE);
      f.snapshot();
      mspace_free(f.ms, y);
      expect_corruption(f, {y});
      damage.restore();
      f.expect_nothing_lost();   // y is still a live block
   }
   SUBCASE("free of the block in front of the damaged chunk")
   {
      f.drop(z);
      Patch damage(link_of(z, BK), GARBAGE);
      f.snapshot();
      mspace_free(f.ms, y);
      expect_corruption(f, {y, z});
      damage.restore();
      f.expect_nothing_lost();
   }
   SUBCASE("realloc that shrinks a block in front of the damaged chunk")
   {
      f.drop(z);
      Patch damage(link_of(z, BK), GARBAGE);
      f.snapshot();
      CHECK(mspace_realloc(f.ms, y, 8) == nullptr);
      expect_corruption(f, {y, z});
      damage.restore();
      f.expect_nothing_lost();
   }
   SUBCASE("realloc that grows a block into the damaged chunk")
   {
      f.drop(z);
      Patch damage(link_of(z, BK), GARBAGE);
      f.snapshot();
      CHECK(mspace_realloc(f.ms, y, UNCACHED + 500) == nullptr);
      expect_corruption(f, {y, z});
      damage.restore();
      f.expect_nothing_lost();
   }
   SUBCASE("malloc that would hand out the damaged chunk")
   {
      f.drop(x);
      Patch damage(link_of(x, BK), GARBAGE);   // (malloc follows a lone tree chunk's fd unchecked)
      f.snapshot();
      CHECK(mspace_malloc(f.ms, UNCACHED) == nullptr);
      expect_corruption(f, {x});
      damage.restore();
      f.expect_nothing_lost();
   }
   SUBCASE("malloc of a chunk whose links lead into the state, to its own bin's root")
   {
      // links that pass the back-link test through the state's words: the chunk "after"
      // holds its bk where the bin's root is, the one "before" its fd there
      f.drop(x);
      const std::size_t bookkeeping = std::size_t(stats_of(f.ms).bookkeeping);
      unsigned char *root = find_link_between(bytes(f.ms), bytes(f.ms) + bookkeeping, chunk_of(x));
      REQUIRE(root != nullptr);
      Patch fd(link_of(x, FD), link_value(link_of(x, FD), root - 3 * W));
      Patch bk(link_of(x, BK), link_value(link_of(x, BK), root - 2 * W));
      const std::vector<unsigned char> state = raw_bytes(f.ms, bookkeeping);
      f.log.clear();
      CHECK(mspace_malloc(f.ms, UNCACHED) == nullptr);
      expect_corruption(f, {x});
      CHECK(raw_bytes(f.ms, bookkeeping) == state);   // no word of the state written
      fd.restore();
      bk.restore();
      CHECK_HEAP(f.ms);
   }
   SUBCASE("malloc of a ring member whose links point at itself")
   {
      f.drop(x);
      f.drop(z);   // the size of x: z hangs in x's ring
      Patch fd(link_of(z, FD), link_value(link_of(z, FD), chunk_of(z)));
      Patch bk(link_of(z, BK), link_value(link_of(z, BK), chunk_of(z)));
      const std::size_t bookkeeping = std::size_t(stats_of(f.ms).bookkeeping);
      const std::vector<unsigned char> state = raw_bytes(f.ms, bookkeeping);
      f.log.clear();
      CHECK(mspace_malloc(f.ms, UNCACHED) == nullptr);   // the ring member is taken first
      expect_corruption(f, {z});
      CHECK(raw_bytes(f.ms, bookkeeping) == state);
      fd.restore();
      bk.restore();
      CHECK_HEAP(f.ms);
   }
   f.expect_still_usable();
}

TEST_CASE("malloc of the first chunk of a small bin whose links lie is corruption and changes nothing" * doctest::skip(TIER))
{
   Fixture f;
   void *x = f.add(100);
   f.add(100);   // keeps x and y apart
   void *y = f.add(100);
   f.add(100);   // keeps y away from the top

   SUBCASE("its link back names no bin")
   {
      f.drop(x);
      Patch damage(link_of(x, BK), GARBAGE);
      f.snapshot();
      CHECK(mspace_malloc(f.ms, 100) == nullptr);
      expect_corruption(f, {x});
      damage.restore();
      f.expect_nothing_lost();
   }
   SUBCASE("its forward link names no chunk")
   {
      f.drop(x);
      Patch damage(link_of(x, FD), GARBAGE);
      f.snapshot();
      CHECK(mspace_malloc(f.ms, 100) == nullptr);
      expect_corruption(f, {x});
      damage.restore();
      f.expect_nothing_lost();
   }
   SUBCASE("it claims to be alone in a bin that holds two")
   {
      // a freed chunk joins its bin at the front: y is first, x behind it
      f.drop(x);
      f.drop(y);
      REQUIRE(find_link_between(link_of(y, FD), link_of(y, FD) + W, chunk_of(x)) != nullptr);
      const std::size_t back = read_word(link_of(y, BK));
      const unsigned char *bin = links_relative ? link_of(y, BK) + back : reinterpret_cast<const unsigned char *>(back);
      Patch damage(link_of(y, FD), link_value(link_of(y, FD), bin));
      f.snapshot();
      CHECK(mspace_malloc(f.ms, 100) == nullptr);
      expect_corruption(f, {y});
      damage.restore();
      f.expect_nothing_lost();
   }
}

TEST_CASE("mspace_check finds damaged tags and bins, and nothing once they are repaired" * doctest::skip(TIER))
{
   Fixture f;
   void *a = f.add(UNCACHED);   // freed, it goes to tree bin 6 ([2048, 3072) bytes)
   void *b = f.add(300);
   void *c = f.add(UNCACHED + 300);   // the same tree bin as a, another size
   f.add(300);
   void *last = f.add(100);   // the block right before the top
   CHECK_HEAP(f.ms);

   SUBCASE("a PINUSE bit that disagrees with the chunk before")
   {
      Patch damage(head_of(b), read_word(head_of(b)) ^ PINUSE_BIT);
      CHECK(mspace_check(f.ms) != 0);
   }
   SUBCASE("a live block marked free next to a free chunk: a coalesce missed")
   {
      f.drop(a);
      Patch damage(head_of(b), read_word(head_of(b)) & ~CINUSE_BIT);
      CHECK(mspace_check(f.ms) != 0);
   }
   SUBCASE("a free chunk whose footer disagrees with its size")
   {
      f.drop(a);
      Patch damage(head_of(b) - W, GARBAGE);
      CHECK(mspace_check(f.ms) != 0);
   }
   SUBCASE("the block before the top marked free")
   {
      Patch damage(head_of(last), read_word(head_of(last)) & ~CINUSE_BIT);
      CHECK(mspace_check(f.ms) != 0);
   }
   SUBCASE("a top whose head disagrees with the top's size")
   {
      unsigned char *top = chunks_of(f.ms).back().start;
      Patch damage(top - W, read_word(top - W) + A);
      CHECK(mspace_check(f.ms) != 0);
   }
   SUBCASE("the designated victim marked in use")
   {
      void *big = f.add(2000);
      f.add(16);
      f.drop(big);
      void *split = f.add(100);   // carved from big: the rest becomes the designated victim
      REQUIRE(split == big);
      unsigned char *victim_head = head_of(split) + chunk_for(100);
      {
         Patch damage(victim_head, read_word(victim_head) | CINUSE_BIT);
         CHECK(mspace_check(f.ms) != 0);
      }
      {
         // its head names a smaller size than the mspace recorded, and a chunk head
         // forged behind that keeps the walk going
         const std::size_t head = read_word(victim_head);
         const std::size_t size = head & ~(A - 1), smaller = 2 * MIN_CHUNK;
         REQUIRE(size > smaller + MIN_CHUNK);
         Patch shorter(victim_head, smaller | (head & PINUSE_BIT));
         Patch forged(victim_head + smaller, (size - smaller) | PINUSE_BIT);
         CHECK(mspace_check(f.ms) != 0);
      }
   }
   SUBCASE("tree chunks with a wrong bin index or a wrong parent")
   {
      f.drop(a);
      f.drop(c);   // a is the root of tree bin 6, c hangs below it
      unsigned char *index = find_word(a, 6);
      unsigned char *parent = find_link(c, chunk_of(a));
      REQUIRE(index != nullptr);
      REQUIRE(parent != nullptr);
      const std::size_t parent_offset = std::size_t(parent - bytes(c));
      {
         Patch damage(index, 5);   // a bin index that names another bin
         CHECK(mspace_check(f.ms) != 0);
      }
      {
         Patch damage(parent, link_value(parent, chunk_of(c)));   // not the node it hangs from
         CHECK(mspace_check(f.ms) != 0);
      }
      {
         Patch damage(bytes(a) + parent_offset, link_value(bytes(a) + parent_offset, chunk_of(c)));   // a root with a parent
         CHECK(mspace_check(f.ms) != 0);
      }
   }
   SUBCASE("a small-bin bitmap with a bit for a bin that does not exist")
   {
      // the bitmap is the 32-bit word of the state that turns from 0 to the one bit of the
      // small bin that a released chunk of 100 bytes goes to
      void *s = f.add(100);
      f.add(100);   // s's successor stays in use
      const std::size_t bookkeeping = std::size_t(stats_of(f.ms).bookkeeping);
      const std::vector<unsigned char> before = raw_bytes(f.ms, bookkeeping);
      f.drop(s);
      mspace_trim(f.ms, 0);   // a parked chunk is released by the flush
      const std::uint32_t bit = std::uint32_t(1) << (chunk_for(100) / (A < 64 ? A : 64));
      unsigned char *map = nullptr;
      for (std::size_t k = 0; k + 4 <= bookkeeping; k += 4)
      {
         std::uint32_t was, now;
         std::memcpy(&was, before.data() + k, 4);
         raw_copy(&now, bytes(f.ms) + k, 4);
         if (was == 0 && now == bit)
            map = bytes(f.ms) + k;
      }
      REQUIRE(map != nullptr);
      CHECK_HEAP(f.ms);
      const std::uint32_t forged = bit | 1u;   // bin 0: no chunk is that small
      raw_copy(map, &forged, 4);
      CHECK(mspace_check(f.ms) != 0);
      raw_copy(map, &bit, 4);
      CHECK_HEAP(f.ms);
   }
   SUBCASE("parked blocks (the small-block caches) marked wrongly")
   {
      // the bit a free sets in the head of a block it parks, if the mspace parks blocks
      void *s = f.add(40);
      void *other = f.add(40);
      const std::size_t live_head = read_word(head_of(s));
      f.drop(s);
      const std::size_t parked_head = read_word(head_of(s));
      const std::size_t parked_bit = parked_head & ~live_head & (A - 1);
      if (parked_bit)
      {
         {
            Patch damage(head_of(s), parked_head & ~CINUSE_BIT);   // parked, yet free
            CHECK(mspace_check(f.ms) != 0);
         }
         {
            Patch damage(head_of(s), parked_head & ~parked_bit);   // in a cache, not marked
            CHECK(mspace_check(f.ms) != 0);
         }
         {
            Patch damage(head_of(other), read_word(head_of(other)) | parked_bit);   // marked, in no cache
            CHECK(mspace_check(f.ms) != 0);
         }
      }
      else
         MESSAGE("no small-block caches: nothing parked");
   }
   CHECK(mspace_check(f.ms) == 0);   // every damage repaired
   f.expect_still_usable();
}

TEST_CASE("an interior pointer whose forged header passes the first checks is an invalid pointer")
{
   Fixture f;
   unsigned char *block = bytes(f.add_untracked(512));
   f.add(100);   // so the block is not next to the top
   std::memset(block, 0, 512);
   unsigned char *p = block + 8 * A;   // A-aligned: it could be a block
   const std::size_t fake = 4 * A;     // a plausible chunk size
   auto put = [](unsigned char *at, std::size_t w) { std::memcpy(at, &w, W); };

   SUBCASE("the would-be next chunk has an implausible size")
   {
      put(p - W, fake | CINUSE_BIT | PINUSE_BIT);
      put(p - W + fake, PINUSE_BIT);   // size 0
   }
   SUBCASE("the would-be footer of a free chunk before it is not a chunk size")
   {
      put(p - W, fake | CINUSE_BIT);   // the previous chunk would be free
      put(p - W + fake, fake | CINUSE_BIT | PINUSE_BIT);
      put(p - 2 * W, 5);
   }
   SUBCASE("the would-be chunk before it disagrees with the footer")
   {
      put(p - W, fake | CINUSE_BIT);
      put(p - W + fake, fake | CINUSE_BIT | PINUSE_BIT);
      put(p - 2 * W, fake);
      put(p - W - fake, (fake / 2) | PINUSE_BIT);   // its head: another size
   }
   f.expect_free_and_realloc_rejected(p, MSPACE_ERROR_INVALID_POINTER);
}

TEST_CASE("error strings name each error")
{
   const char *invalid = mspace_error_string(MSPACE_ERROR_INVALID_POINTER);
   const char *twice = mspace_error_string(MSPACE_ERROR_DOUBLE_FREE);
   const char *corrupt = mspace_error_string(MSPACE_ERROR_CORRUPTION);
   const char *none = mspace_error_string(MSPACE_ERROR_NONE);
   const char *oom = mspace_error_string(MSPACE_ERROR_OUT_OF_MEMORY);
   REQUIRE((invalid && twice && corrupt && none && oom));
   CHECK(std::string(oom).find("out of memory") != std::string::npos);
   CHECK(std::string(oom) != std::string(corrupt));
   CHECK(std::string(invalid).find("invalid pointer") != std::string::npos);
   CHECK(std::string(twice).find("double free") != std::string::npos);
   CHECK(std::string(corrupt).find("corruption") != std::string::npos);
   CHECK(std::string(invalid) != std::string(twice));
   CHECK(std::string(twice) != std::string(corrupt));
   CHECK(std::string(invalid) != std::string(corrupt));
   CHECK(std::string(none) != std::string(invalid));
}

TEST_CASE("report_error hands an error to the mspace's handler")
{
   Fixture f;
   f.snapshot();
   void *p = f.blocks[2];
   mspace_report_error(f.ms, MSPACE_ERROR_CORRUPTION, p);
   f.expect_report(MSPACE_ERROR_CORRUPTION, p);
   f.expect_nothing_lost();   // reporting changes nothing
   f.snapshot();
   mspace_report_error(f.ms, MSPACE_ERROR_OUT_OF_MEMORY, nullptr);
   f.expect_report(MSPACE_ERROR_OUT_OF_MEMORY, nullptr);
   f.expect_nothing_lost();
}

TEST_CASE("set_error_handler reaches the handler with its context; NULL restores the default")
{
   mspace ms = mspace_create(1 * MiB);
   REQUIRE(ms != nullptr);
   ErrorLog first, second;
   first.install(ms);
   int on_stack = 0;
   mspace_free(ms, &on_stack);
   second.install(ms);
   mspace_free(ms, &on_stack);
   CHECK(first.count == 1);
   CHECK(second.count == 1);
   CHECK(second.last_ctx == &second);
   CHECK(second.last_ms == ms);
   CHECK(mspace_destroy(ms) == 0);
}

#ifdef TEST_HAVE_FORK

namespace {

struct ChildOutcome
{
   bool aborted = false;
   int status = 0;
   std::string stderr_text;
};

// A coverage build (tools/coverage.sh, clang) counts what a forked child runs too: abort()
// and _exit() end the child without writing its profile, so it is written first.
#if defined(MULLE_TEST_COVERAGE) && defined(__clang__)
extern "C" int __llvm_profile_write_file(void);
void write_coverage() { __llvm_profile_write_file(); }
void write_coverage_and_abort(int)
{
   write_coverage();
   std::signal(SIGABRT, SIG_DFL);
   std::raise(SIGABRT);
}
#else
void write_coverage() {}
#endif

// Runs misuse in a forked child whose stderr is a pipe; returns how the child ended.
template <class Misuse>
ChildOutcome run_in_child(Misuse misuse)
{
   std::fflush(stdout);
   std::fflush(stderr);
   int fds[2];
   REQUIRE(pipe(fds) == 0);
   pid_t pid = fork();
   REQUIRE(pid >= 0);
   if (pid == 0)
   {
      close(fds[0]);
      dup2(fds[1], 2);
      close(fds[1]);
#if defined(MULLE_TEST_COVERAGE) && defined(__clang__)
      std::signal(SIGABRT, write_coverage_and_abort);
#else
      std::signal(SIGABRT, SIG_DFL);   // doctest's crash handler must not interfere
#endif
      alarm(10);
      misuse();
      write_coverage();
      _exit(0);   // the default handler should have aborted
   }
   close(fds[1]);
   ChildOutcome out;
   char chunk[512];
   ssize_t got;
   while ((got = read(fds[0], chunk, sizeof chunk)) > 0)
      out.stderr_text.append(chunk, std::size_t(got));
   close(fds[0]);
   REQUIRE(waitpid(pid, &out.status, 0) == pid);
   out.aborted = WIFSIGNALED(out.status) && WTERMSIG(out.status) == SIGABRT;
   return out;
}

std::string hex(const void *p)
{
   char text[32];
   std::snprintf(text, sizeof text, "0x%" PRIxPTR, reinterpret_cast<std::uintptr_t>(p));
   return text;
}

// Lines the child printed, not counting what an emulator (qemu-user, for cross builds)
// adds about the signal.
std::size_t count_lines(const std::string &s)
{
   std::size_t n = 0, start = 0;
   for (std::size_t i = 0; i < s.size(); ++i)
      if (s[i] == '\n')
      {
         n += s.compare(start, 5, "qemu:") != 0;
         start = i + 1;
      }
   return n;
}

}  // namespace

TEST_CASE("the default handler prints one line and aborts on a double free")
{
   mspace ms = mspace_create(1 * MiB);
   REQUIRE(ms != nullptr);
   void *keep = mspace_malloc(ms, 100);
   void *p = mspace_malloc(ms, 100);
   void *guard = mspace_malloc(ms, 100);
   REQUIRE((keep && p && guard));

   ChildOutcome out = run_in_child([&] {
      mspace_free(ms, p);
      mspace_free(ms, p);
   });
   MESSAGE("default handler said: " << out.stderr_text);
   CHECK(out.aborted);
   CHECK(count_lines(out.stderr_text) == 1);
   CHECK(out.stderr_text.find("double free") != std::string::npos);
   CHECK(out.stderr_text.find(hex(p)) != std::string::npos);
   CHECK(out.stderr_text.find(hex(ms)) != std::string::npos);
   CHECK(mspace_destroy(ms) == 0);
}

TEST_CASE("the default handler aborts on an invalid pointer")
{
   mspace ms = mspace_create(1 * MiB);
   REQUIRE(ms != nullptr);
   static int not_a_block[8];
   ChildOutcome out = run_in_child([&] { mspace_free(ms, &not_a_block[4]); });
   CHECK(out.aborted);
   CHECK(count_lines(out.stderr_text) == 1);
   CHECK(out.stderr_text.find("invalid pointer") != std::string::npos);
   CHECK(out.stderr_text.find(hex(&not_a_block[4])) != std::string::npos);
   CHECK(mspace_destroy(ms) == 0);
}

TEST_CASE("set_error_handler(NULL) restores the aborting default")
{
   mspace ms = mspace_create(1 * MiB);
   REQUIRE(ms != nullptr);
   ErrorLog log;
   log.install(ms);
   mspace_set_error_handler(ms, nullptr, nullptr);
   void *p = mspace_malloc(ms, 100);
   void *guard = mspace_malloc(ms, 100);
   REQUIRE((p && guard));
   ChildOutcome out = run_in_child([&] {
      mspace_free(ms, p);
      mspace_free(ms, p);
   });
   CHECK(out.aborted);
   CHECK(out.stderr_text.find("double free") != std::string::npos);
   CHECK(log.count == 0);
   CHECK(mspace_destroy(ms) == 0);
}

TEST_CASE("the default handler aborts on report_error")
{
   mspace ms = mspace_create(1 * MiB);
   REQUIRE(ms != nullptr);
   void *p = mspace_malloc(ms, 100);
   ChildOutcome out = run_in_child([&] { mspace_report_error(ms, MSPACE_ERROR_CORRUPTION, p); });
   CHECK(out.aborted);
   CHECK(count_lines(out.stderr_text) == 1);
   CHECK(out.stderr_text.find(mspace_error_string(MSPACE_ERROR_CORRUPTION)) != std::string::npos);
   CHECK(out.stderr_text.find(hex(p)) != std::string::npos);
   CHECK(mspace_destroy(ms) == 0);
}

TEST_CASE("report_error without a live mspace goes to the aborting default handler")
{
   static int not_a_block[8];
   ChildOutcome out = run_in_child([&] { mspace_report_error(nullptr, MSPACE_ERROR_INVALID_POINTER, &not_a_block[2]); });
   CHECK(out.aborted);
   CHECK(count_lines(out.stderr_text) == 1);
   CHECK(out.stderr_text.find("invalid pointer") != std::string::npos);
   CHECK(out.stderr_text.find(hex(&not_a_block[2])) != std::string::npos);

   Buffer buf(64 * KiB);
   mspace dead = mspace_create_with_base(buf.base, 64 * KiB);
   REQUIRE(dead != nullptr);
   ErrorLog log;
   log.install(dead);
   CHECK(mspace_destroy(dead) == 0);   // its handler went with it
   out = run_in_child([&] { mspace_report_error(dead, MSPACE_ERROR_DOUBLE_FREE, &not_a_block[4]); });
   CHECK(out.aborted);
   CHECK(out.stderr_text.find("double free") != std::string::npos);
   CHECK(log.count == 0);
}

TEST_CASE("a correct program does not abort")
{
   mspace ms = mspace_create(1 * MiB);
   REQUIRE(ms != nullptr);
   ChildOutcome out = run_in_child([&] {
      void *p = mspace_malloc(ms, 100);
      mspace_free(ms, p);
      mspace_free(ms, nullptr);
   });
   CHECK_FALSE(out.aborted);
   CHECK(WIFEXITED(out.status));
   CHECK(out.stderr_text.empty());
   CHECK(mspace_destroy(ms) == 0);
}

#endif

TEST_CASE("a trie link that names no chunk is corruption wherever a best-fit search meets it" * doctest::skip(TIER))
{
   // one tree bin: a (the root), c on its left (the same high size bit), d on its right
   Fixture f;
   void *a = f.add(UNCACHED);
   f.add(100);
   void *c = f.add(UNCACHED + 300);
   f.add(100);
   void *d = f.add(UNCACHED + 700);
   f.add(100);
   f.drop(a);
   f.drop(c);
   f.drop(d);
   CHECK_HEAP(f.ms);

   SUBCASE("the right subtree the search remembers on its way left")
   {
      unsigned char *right = find_link(a, chunk_of(d));
      REQUIRE(right != nullptr);
      Patch damage(right, GARBAGE);
      f.snapshot();
      CHECK(mspace_malloc(f.ms, UNCACHED + 250) == nullptr);   // fits c; d's subtree is next
      expect_corruption(f, {a});
      damage.restore();
      f.expect_nothing_lost();
   }
   SUBCASE("the way down to the smallest tree chunk, for a small request")
   {
      unsigned char *left = find_link(a, chunk_of(c));
      REQUIRE(left != nullptr);
      Patch damage(left, GARBAGE);
      f.snapshot();
      CHECK(mspace_malloc(f.ms, 100) == nullptr);   // no small bin, no dv: the smallest tree chunk
      expect_corruption(f, {a});
      damage.restore();
      f.expect_nothing_lost();
   }
   CHECK_HEAP(f.ms);
}

TEST_CASE("a trie node whose parent or child link was overwritten is corruption, never followed" * doctest::skip(TIER))
{
   Fixture f;
   void *a = f.add(UNCACHED);         // freed: the root of its tree bin
   f.add(100);
   void *c = f.add(UNCACHED + 300);   // freed: the same bin, another size, below a
   f.add(100);
   void *live = f.add(UNCACHED);      // a block in use, whose words a stray link names
   f.add(100);
   f.drop(a);
   f.drop(c);
   CHECK_HEAP(f.ms);

   SUBCASE("a parent link that names a block in use")
   {
      unsigned char *parent = find_link(c, chunk_of(a));
      REQUIRE(parent != nullptr);
      Patch damage(parent, link_value(parent, chunk_of(live)));
      f.snapshot();
      CHECK(mspace_malloc(f.ms, UNCACHED + 300) == nullptr);   // takes c out of the trie
      expect_corruption(f, {c});
      damage.restore();
      f.expect_nothing_lost();
   }
   SUBCASE("a child link that names a block in use")
   {
      unsigned char *child = find_link(a, chunk_of(c));
      REQUIRE(child != nullptr);
      Patch damage(child, link_value(child, chunk_of(live)));
      f.snapshot();
      CHECK(mspace_malloc(f.ms, UNCACHED) == nullptr);   // takes a, whose children move up
      expect_corruption(f, {a});
      damage.restore();
      f.expect_nothing_lost();
   }
   SUBCASE("a child link that names no chunk, met by a best-fit search")
   {
      unsigned char *child = find_link(a, chunk_of(c));
      REQUIRE(child != nullptr);
      Patch damage(child, GARBAGE);   // followed, it would read far outside the heap
      f.snapshot();
      CHECK(mspace_malloc(f.ms, UNCACHED + 300) == nullptr);   // the search goes from a to c
      expect_corruption(f, {a});
      damage.restore();
      f.expect_nothing_lost();
   }
   CHECK_HEAP(f.ms);
}
