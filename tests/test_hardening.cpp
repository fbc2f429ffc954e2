// Checks level 2 (MULLE_DLMALLOC_CHECKS=2, a debug build): canaries behind every block and
// poison in freed memory turn a user's overflow, a free of a pointer into the middle of a
// block, and a write into freed memory into reports. Built in every configuration; the
// level-2 cases run where the implementation TU was built at level 2 (the CI matrix).
#include "test_helpers.h"

#include <cstring>

using namespace test;

#if defined(MULLE_DLMALLOC_CHECKS) && MULLE_DLMALLOC_CHECKS >= 2

namespace {

struct Heap
{
   mspace   ms;
   ErrorLog log;
   Heap() : ms(mspace_create(1 << 20)) { log.install(ms); }
   ~Heap() { mspace_destroy(ms); }
};

} // namespace

TEST_CASE("level 2: a canary word follows every block")
{
   Heap h;
   void *p = mspace_malloc(h.ms, 100);
   REQUIRE(p != nullptr);
   // one word of the chunk is the canary's: 112-byte chunk, 96 usable on 64-bit
   CHECK(mspace_usable_size(p) == round_up(100 + 2 * W, A) - 2 * W);
   CHECK(mspace_check(h.ms) == 0);
   mspace_free(h.ms, p);
   CHECK(h.log.count == 0);
}

TEST_CASE("level 2: a write one byte past the end is reported on free, and the free has no effect")
{
   Heap h;
   unsigned char *a = static_cast<unsigned char *>(mspace_malloc(h.ms, 100));
   unsigned char *b = static_cast<unsigned char *>(mspace_malloc(h.ms, 100));
   REQUIRE((a && b));
   std::memset(b, 0x5B, mspace_usable_size(b));
   std::size_t    n    = mspace_usable_size(a);
   unsigned char  save = a[n];
   a[n] ^= 0x01;                                   // the user's overflow by one
   CHECK(mspace_check(h.ms) != 0);
   mspace_free(h.ms, a);
   CHECK(h.log.count == 1);
   CHECK(h.log.last == MSPACE_ERROR_CORRUPTION);
   CHECK(h.log.last_p == a);
   CHECK(stats_of(h.ms).allocated_blocks == 2);    // nothing was freed
   CHECK(all_bytes_are(b, mspace_usable_size(b), 0x5B));
   a[n] = save;                                    // repaired, the block frees normally
   CHECK(mspace_check(h.ms) == 0);
   mspace_free(h.ms, a);
   mspace_free(h.ms, b);
   CHECK(h.log.count == 1);
   CHECK(stats_of(h.ms).allocated_blocks == 0);
}

TEST_CASE("level 2: a pointer into a block whose bytes forge a plausible header is an invalid pointer")
{
   Heap h;
   std::size_t *blk = static_cast<std::size_t *>(mspace_malloc(h.ms, 512));
   REQUIRE(blk != nullptr);
   std::memset(blk, 0x11, 512);
   // a fake in-use chunk of 64 bytes at word 8, followed by a fake in-use chunk of 32:
   // sizes in bounds, tags that agree, so level 1 cannot tell it from a block
   std::size_t *fake = blk + 8;
   fake[1]           = 64 | 3;                     // head: size 64, CINUSE | PINUSE
   fake[64 / W + 1]  = 32 | 3;                     // the next head: PINUSE set
   void *interior = fake + 2;
   mspace_free(h.ms, interior);
   CHECK(h.log.count == 1);
   CHECK(h.log.last == MSPACE_ERROR_INVALID_POINTER);
   CHECK(h.log.last_p == interior);
   CHECK(mspace_realloc(h.ms, interior, 10) == nullptr);
   CHECK(h.log.count == 2);
   CHECK(mspace_check(h.ms) == 0);
   mspace_free(h.ms, blk);
   CHECK(h.log.count == 2);
}

TEST_CASE("level 2: a write into freed memory is reported when the memory is handed out again")
{
   Heap h;
   void *a = mspace_malloc(h.ms, 200);
   unsigned char *b = static_cast<unsigned char *>(mspace_malloc(h.ms, 200));
   void *c = mspace_malloc(h.ms, 200);
   REQUIRE((a && b && c));
   mspace_free(h.ms, b);                           // to its bin, poisoned past its links
   CHECK(mspace_check(h.ms) == 0);
   b[150] = 0;                                     // use after free
   CHECK(mspace_check(h.ms) != 0);
   CHECK(mspace_malloc(h.ms, 200) == nullptr);     // the poisoned chunk is not handed out
   CHECK(h.log.count == 1);
   CHECK(h.log.last == MSPACE_ERROR_CORRUPTION);
   b[150] = 0xA5;                                  // the poison restored: all is well again
   CHECK(mspace_check(h.ms) == 0);
   void *again = mspace_malloc(h.ms, 200);
   CHECK(again == b);
   CHECK(h.log.count == 1);
   mspace_free(h.ms, a);
   mspace_free(h.ms, again);
   mspace_free(h.ms, c);
   CHECK(mspace_check(h.ms) == 0);
}

TEST_CASE("level 2: coalesced and split free memory stays poisoned")
{
   Heap h;
   void *blocks[8];
   for (void *&p : blocks)
      p = mspace_malloc(h.ms, 300);
   for (int i = 0; i < 8; i += 2)
      mspace_free(h.ms, blocks[i]);
   mspace_free(h.ms, blocks[3]);                   // merges 2, 3, 4
   CHECK(mspace_check(h.ms) == 0);
   void *small = mspace_malloc(h.ms, 40);          // a split, the rest becomes the dv
   CHECK(small != nullptr);
   CHECK(mspace_check(h.ms) == 0);
   CHECK(mspace_realloc(h.ms, blocks[1], 900) == blocks[1]);   // grows into the free run
   CHECK(mspace_check(h.ms) == 0);
   CHECK(h.log.count == 0);
}

#endif
