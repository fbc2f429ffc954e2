// Hardening. Every level: a write past a block that reaches the head of a free chunk (the
// dv, a small-bin or tree chunk, the top, a free neighbour) is reported before that head's
// size is used, and nothing is written. Checks level 2 (MULLE_DLMALLOC_CHECKS=2, a debug
// build): canaries behind every block, which record the request, and poison in freed
// memory turn a user's overflow (also into a block's slack), a free of a pointer into the
// middle of a block, and a write into freed memory into reports. Built in every
// configuration; the level-2 cases run where the implementation TU was built at level 2
// (the CI matrix: make test-checks2).
#include "test_helpers.h"

#include <cstring>
#include <vector>

using namespace test;

namespace {

struct Heap
{
   mspace   ms;
   ErrorLog log;
   Heap() : ms(mspace_create(1 << 20)) { log.install(ms); }
   ~Heap() { mspace_destroy(ms); }
};

constexpr std::size_t PINUSE_BIT = 1;
constexpr std::size_t FLAGS = 7;   // PINUSE, CINUSE, and the cache's mark

// The head of the chunk behind block p of n bytes (a chunk of chunk_for(n) bytes): the
// word a write one word past p's usable end reaches (at level 2, past its canary too).
unsigned char *head_behind(void *p, std::size_t n) { return bytes(p) + chunk_for(n) - W; }

// Live blocks filled with patterns, verified after each misuse: nothing else was touched.
struct Blocks
{
   struct Block
   {
      void         *p;
      std::size_t   n;
      std::uint32_t seed;
   };
   std::vector<Block> all;

   void *add(void *p, std::size_t n)
   {
      REQUIRE(p != nullptr);
      Block b {p, n, std::uint32_t(all.size() + 1)};
      fill(p, writable(p, n), b.seed);
      all.push_back(b);
      return p;
   }
   bool intact() const
   {
      for (const Block &b : all)
         if (!verify(b.p, writable(b.p, b.n), b.seed))
            return false;
      return true;
   }
};

// What an overflow of one word may leave in a free chunk's head: a larger size (a split
// would then write its tags into the block behind), or the right size with its flags
// wrong (PINUSE cleared: the block handed out would take the user's bytes in front of it
// for a free chunk's footer).
std::vector<std::size_t> overflowed_heads(std::size_t head)
{
   return {head + 2 * A, head & ~PINUSE_BIT};
}

// Block s of 500 bytes split off a free chunk of 3000 whose rest is the dv, behind which
// lies *behind (400 bytes, then another 400, both live). s.
void *block_before_dv(Heap &h, Blocks &live, void **behind)
{
   void *x = mspace_malloc(h.ms, 3000);
   *behind = live.add(mspace_malloc(h.ms, 400), 400);
   live.add(mspace_malloc(h.ms, 400), 400);   // the dv's successor merges with it alone
   mspace_free(h.ms, x);
   void *s = live.add(mspace_malloc(h.ms, 500), 500);   // split off x: the rest is the dv
   REQUIRE(s == x);
   return s;
}

// The request that met the damaged head reported corruption, once, and every live block
// kept its contents; the repaired heap is whole.
void expect_refused(Heap &h, const Blocks &live, unsigned char *head, std::size_t good)
{
   CHECK(h.log.count == 1);
   CHECK(h.log.last == MSPACE_ERROR_CORRUPTION);
   CHECK(live.intact());
   write_word(head, good);
   CHECK(mspace_check(h.ms) == 0);
   h.log.clear();   // the handler keeps its context: this log
}

} // namespace

TEST_CASE("an overflow into the designated victim's head is corruption: malloc and realloc write nothing" * doctest::skip(TIER))
{
   for (int variant = 0; variant < 2; ++variant)
      for (int call = 0; call < 2; ++call)
      {
         CAPTURE(variant);
         CAPTURE(call);
         if (call == 1 && variant == 1)
            continue;   // with PINUSE cleared, validating s names it an invalid pointer
         Heap   h;
         Blocks live;
         live.add(mspace_malloc(h.ms, 100), 100);
         void *x = mspace_malloc(h.ms, 3000);
         live.add(mspace_malloc(h.ms, 100), 100);
         mspace_free(h.ms, x);                              // a tree chunk: too large to cache
         void *s = live.add(mspace_malloc(h.ms, 40), 40);   // split off x: the rest is the dv
         REQUIRE(s == x);
         unsigned char    *head = head_behind(s, 40);
         const std::size_t good = read_word(head);
         REQUIRE((good & FLAGS) == PINUSE_BIT);
         write_word(head, overflowed_heads(good)[std::size_t(variant)]);
         if (call == 0)
            CHECK(mspace_malloc(h.ms, 200) == nullptr);
         else
            CHECK(mspace_realloc(h.ms, s, 400) == nullptr);   // grows into the dv
         expect_refused(h, live, head, good);
         CHECK(bytes(mspace_malloc(h.ms, 200)) == head + W);   // repaired: the dv serves it
         CHECK(h.log.count == 0);
      }
}

TEST_CASE("an overflow into the head of a small-bin chunk is corruption: malloc writes nothing" * doctest::skip(TIER))
{
   // an exact fit, and a chunk of a larger small bin
   for (std::size_t n : sizes{100, 200})
      for (int variant = 0; variant < 2; ++variant)
      {
         CAPTURE(n);
         CAPTURE(variant);
         Heap   h;
         Blocks live;
         void *a = live.add(mspace_malloc(h.ms, 100), 100);
         void *x = mspace_malloc(h.ms, n);
         live.add(mspace_malloc(h.ms, 100), 100);
         mspace_free(h.ms, x);
         mspace_trim(h.ms, 0);                         // the caches flushed: x is in its bin
         unsigned char    *head = head_behind(a, 100);
         const std::size_t good = read_word(head);
         REQUIRE(good == (chunk_for(n) | PINUSE_BIT));
         write_word(head, overflowed_heads(good)[std::size_t(variant)]);
         CHECK(mspace_malloc(h.ms, 100) == nullptr);
         expect_refused(h, live, head, good);
         CHECK(mspace_malloc(h.ms, 100) == x);
         CHECK(h.log.count == 0);
      }
}

TEST_CASE("an overflow into the head of a tree chunk is corruption: malloc and memalign write nothing" * doctest::skip(TIER))
{
   for (int variant = 0; variant < 2; ++variant)
      for (int call = 0; call < 3; ++call)
      {
         CAPTURE(variant);
         CAPTURE(call);
         Heap   h;
         Blocks live;
         void *a = live.add(mspace_malloc(h.ms, 100), 100);
         void *x = mspace_malloc(h.ms, 3000);
         live.add(mspace_malloc(h.ms, 100), 100);
         mspace_free(h.ms, x);
         unsigned char    *head = head_behind(a, 100);
         const std::size_t good = read_word(head);
         REQUIRE(good == (chunk_for(3000) | PINUSE_BIT));
         write_word(head, overflowed_heads(good)[std::size_t(variant)]);
         if (call == 0)
            CHECK(mspace_malloc(h.ms, 2000) == nullptr);   // best fit
         else if (call == 1)
            CHECK(mspace_malloc(h.ms, 40) == nullptr);     // the smallest tree chunk
         else
            CHECK(mspace_memalign(h.ms, 64, 1000) == nullptr);
         expect_refused(h, live, head, good);
         CHECK(mspace_malloc(h.ms, 2000) == x);
         CHECK(h.log.count == 0);
      }
}

TEST_CASE("an overflow into the top's head is corruption: malloc and realloc write nothing" * doctest::skip(TIER))
{
   for (int variant = 0; variant < 2; ++variant)
      for (int call = 0; call < 4; ++call)
      {
         CAPTURE(variant);
         CAPTURE(call);
         if (call == 3 && variant == 1)
            continue;   // with PINUSE cleared, validating a names it an invalid pointer
         Heap   h;
         Blocks live;
         live.add(mspace_malloc(h.ms, 100), 100);
         void *a = live.add(mspace_malloc(h.ms, 100), 100);   // the last block before the top
         unsigned char    *head = head_behind(a, 100);
         const std::size_t good = read_word(head);
         REQUIRE((good & FLAGS) == PINUSE_BIT);
         write_word(head, overflowed_heads(good)[std::size_t(variant)]);
         if (call == 0)
            CHECK(mspace_malloc(h.ms, 100) == nullptr);      // small: the fast path, if any
         else if (call == 1)
            CHECK(mspace_malloc(h.ms, 5000) == nullptr);     // large
         else if (call == 2)
            CHECK(mspace_malloc(h.ms, 200000) == nullptr);   // one that grows the footprint
         else
            CHECK(mspace_realloc(h.ms, a, 1000) == nullptr); // grows into the top
         expect_refused(h, live, head, good);
         CHECK(bytes(mspace_malloc(h.ms, 100)) == head + W);
         CHECK(h.log.count == 0);
      }
}

TEST_CASE("an overflow into the head of a free neighbour is corruption: realloc and free write nothing" * doctest::skip(TIER))
{
   for (int call = 0; call < 4; ++call)
   {
      CAPTURE(call);
      Heap   h;
      Blocks live;
      void *a = live.add(mspace_malloc(h.ms, 3000), 3000);
      void *x = mspace_malloc(h.ms, 3000);
      live.add(mspace_malloc(h.ms, 100), 100);
      mspace_free(h.ms, x);                               // in a tree bin, behind a
      unsigned char    *head = head_behind(a, 3000);
      const std::size_t good = read_word(head);
      REQUIRE(good == (chunk_for(3000) | PINUSE_BIT));
      write_word(head, good + 2 * A);                     // a size that ends inside the next block
      if (call == 0)
         CHECK(mspace_realloc(h.ms, a, 4000) == nullptr);            // grows into it
      else if (call == 1)
         CHECK(mspace_realloc_in_place(h.ms, a, 4000) == nullptr);   // likewise
      else if (call == 2)
         CHECK(mspace_realloc(h.ms, a, 1000) == nullptr);            // the tail freed merges with it
      else
         mspace_free(h.ms, a);                                       // merges with it
      expect_refused(h, live, head, good);
      CHECK(stats_of(h.ms).allocated_blocks == 2);                   // a is as it was
      CHECK(mspace_realloc(h.ms, a, 4000) == a);
      CHECK(h.log.count == 0);
   }
}

TEST_CASE("an overflow into the head of the dv behind a block is corruption: realloc and free write nothing")
{
   // The dv is free whatever its head says: what meets it holds the head against the dv's
   // size, also where the overflow marks it in use (a binned neighbour so marked is a block
   // in use to a free).
   for (int call = 0; call < 3; ++call)
   {
      CAPTURE(call);
      Heap   h;
      Blocks live;
      void  *g;
      void  *s = block_before_dv(h, live, &g);
      unsigned char    *head = head_behind(s, 500);
      const std::size_t good = read_word(head);
      REQUIRE((good & FLAGS) == PINUSE_BIT);
      write_word(head, call < 2 ? good + 2 * A : good | 2);   // a longer size; or "in use"
      if (call == 0)
         CHECK(mspace_realloc(h.ms, s, 900) == nullptr);   // grows into the dv
      else
         mspace_free(h.ms, s);                             // merges with the dv
      expect_refused(h, live, head, good);
      CHECK(stats_of(h.ms).allocated_blocks == 3);         // s is as it was
      CHECK(mspace_realloc(h.ms, s, 900) == s);
      CHECK(h.log.count == 0);
   }
}

TEST_CASE("an overflow into the head of the dv before a block is caught: its free writes nothing")
{
   // The free of the block behind the dv merges with it: the dv's head is held against the
   // state's record of its size on the fast path too, not taken from the record alone.
   for (int variant = 0; variant < 2; ++variant)
   {
      CAPTURE(variant);
      Heap   h;
      Blocks live;
      void  *g;
      void  *s = block_before_dv(h, live, &g);
      unsigned char    *head = head_behind(s, 500);
      const std::size_t good = read_word(head);
      REQUIRE((good & FLAGS) == PINUSE_BIT);
      write_word(head, variant == 0 ? good + 2 * A : good | 2);   // a longer size; or "in use"
      mspace_free(h.ms, g);
      CHECK(h.log.count == 1);
      CHECK(h.log.last != MSPACE_ERROR_NONE);
      CHECK(live.intact());
      CHECK(read_word(head) == (variant == 0 ? good + 2 * A : good | 2));   // nothing written
      write_word(head, good);
      CHECK(mspace_check(h.ms) == 0);
      CHECK(stats_of(h.ms).allocated_blocks == 3);   // g is as it was
      h.log.clear();
      mspace_free(h.ms, g);                          // repaired: it merges with the dv
      CHECK(h.log.count == 0);
      CHECK(mspace_check(h.ms) == 0);
   }
}

#if defined(MULLE_DLMALLOC_CHECKS) && MULLE_DLMALLOC_CHECKS >= 2

namespace {

// The bytes of a block the heap keeps for itself at level 2: the slack past the request
// and the poison of freed memory. Read and written past the memory checkers.
unsigned char read_byte(const void *at)
{
   unsigned char b = 0;
   raw_copy(&b, at, 1);
   return b;
}
void write_byte(void *at, unsigned char b) { raw_copy(at, &b, 1); }

} // namespace

TEST_CASE("level 2: a canary word follows every block")
{
   Heap h;
   void *p = mspace_malloc(h.ms, 100);
   REQUIRE(p != nullptr);
   // one word of the chunk is the canary's (a 128-byte chunk on 64-bit); the block is the
   // 100 bytes asked for
   CHECK(mspace_usable_size(p) == 100);
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
   unsigned char  save = read_byte(a + n);
   write_byte(a + n, save ^ 0x01);                 // the user's overflow by one
   CHECK(mspace_check(h.ms) != 0);
   mspace_free(h.ms, a);
   CHECK(h.log.count == 1);
   CHECK(h.log.last == MSPACE_ERROR_CORRUPTION);
   CHECK(h.log.last_p == a);
   CHECK(stats_of(h.ms).allocated_blocks == 2);    // nothing was freed
   CHECK(all_bytes_are(b, mspace_usable_size(b), 0x5B));
   write_byte(a + n, save);                        // repaired, the block frees normally
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
   write_byte(b + 150, 0);                         // use after free
   CHECK(mspace_check(h.ms) != 0);
   CHECK(mspace_malloc(h.ms, 200) == nullptr);     // the poisoned chunk is not handed out
   CHECK(h.log.count == 1);
   CHECK(h.log.last == MSPACE_ERROR_CORRUPTION);
   write_byte(b + 150, 0xA5);                      // the poison restored: all is well again
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


TEST_CASE("level 2: a write past the request, into the slack before the usable end, is reported")
{
   // malloc(40) takes a 64-byte chunk on 64-bit: 48 bytes before the canary, 8 of them
   // slack; malloc(41) has slack on 32-bit too
   for (std::size_t n : sizes{40, 41})
   for (std::size_t at : sizes{n, chunk_for(n) - 2 * W - 1})
      for (int call = 0; call < 4; ++call)
      {
         if (at < n)
            continue;   // no slack
         CAPTURE(n);
         CAPTURE(at);
         CAPTURE(call);
         Heap           h;
         Blocks         live;
         unsigned char *p = static_cast<unsigned char *>(live.add(mspace_malloc(h.ms, n), n));
         live.add(mspace_malloc(h.ms, n), n);
         CHECK(mspace_usable_size(p) == n);
         CHECK(mspace_check(h.ms) == 0);
         const unsigned char saved = read_byte(p + at);
         write_byte(p + at, 'x');                  // one byte past the request
         if (call == 0)
            CHECK(mspace_check(h.ms) != 0);
         else if (call == 1)
         {
            mspace_free(h.ms, p);
            CHECK(stats_of(h.ms).allocated_blocks == 2);   // the free had no effect
         }
         else if (call == 2)
            CHECK(mspace_realloc(h.ms, p, 2 * n) == nullptr);
         else
            CHECK(mspace_realloc_in_place(h.ms, p, n / 2) == nullptr);
         if (call != 0)
         {
            CHECK(h.log.count == 1);
            CHECK(h.log.last == MSPACE_ERROR_CORRUPTION);
            CHECK(h.log.last_p == p);
         }
         CHECK(live.intact());
         write_byte(p + at, saved);                // repaired: the block is whole again
         CHECK(mspace_check(h.ms) == 0);
         mspace_free(h.ms, p);
         CHECK(h.log.count == (call != 0 ? 1 : 0));
      }
}

TEST_CASE("level 2: mspace_usable_size is the request, and realloc in place records the new one")
{
   Heap h;
   for (std::size_t n : sizes{0, 1, 7, 16, 40, 100, 255, 1000, 5000})
   {
      CAPTURE(n);
      void *p = mspace_malloc(h.ms, n);
      void *c = mspace_calloc(h.ms, 1, n);
      void *m = mspace_memalign(h.ms, 256, n);
      REQUIRE((p && c && m));
      CHECK(mspace_usable_size(p) == n);
      CHECK(mspace_usable_size(c) == n);
      CHECK(all_bytes_are(c, n, 0));
      CHECK(mspace_usable_size(m) == n);
      CHECK(mspace_check(h.ms) == 0);
      mspace_free(h.ms, p);
      mspace_free(h.ms, c);
      mspace_free(h.ms, m);
   }
   // in place: 40 bytes, then all 48 before the canary of its 64-byte chunk on 64-bit (36,
   // then 40 in 48 on 32-bit), then 20
   const std::size_t room = chunk_for(40) - 2 * W, n = room - A / 2;
   unsigned char *p = static_cast<unsigned char *>(mspace_malloc(h.ms, n));
   void *behind = mspace_malloc(h.ms, 40);
   REQUIRE((p && behind));
   std::memset(p, 0x3C, n);
   CHECK(mspace_realloc(h.ms, p, room) == p);
   CHECK(mspace_usable_size(p) == room);
   std::memset(p + n, 0x3C, room - n);             // the bytes asked for now are the user's
   CHECK(mspace_check(h.ms) == 0);
   CHECK(mspace_realloc_in_place(h.ms, p, 20) == p);
   CHECK(mspace_usable_size(p) == 20);
   CHECK(all_bytes_are(p, 20, 0x3C));
   CHECK(mspace_check(h.ms) == 0);
   const unsigned char saved = read_byte(p + 20);
   write_byte(p + 20, 0x3C);                       // past the new request
   CHECK(mspace_check(h.ms) != 0);
   mspace_free(h.ms, p);
   CHECK(h.log.count == 1);
   CHECK(h.log.last == MSPACE_ERROR_CORRUPTION);
   CHECK(h.log.last_p == p);
   write_byte(p + 20, saved);
   mspace_free(h.ms, p);
   CHECK(h.log.count == 1);
   // grown in place into the top: the new request; a move copies the old request
   void *last = mspace_malloc(h.ms, 100);           // the block before the top
   REQUIRE(last != nullptr);
   CHECK(mspace_realloc(h.ms, last, 3000) == last);
   CHECK(mspace_usable_size(last) == 3000);
   std::memset(behind, 0x7E, 40);
   void *moved = mspace_realloc(h.ms, behind, 5000);
   REQUIRE(moved != nullptr);
   CHECK(moved != behind);
   CHECK(mspace_usable_size(moved) == 5000);
   CHECK(all_bytes_are(moved, 40, 0x7E));
   CHECK(mspace_check(h.ms) == 0);
   CHECK(h.log.count == 1);
}

TEST_CASE("level 2: every byte of a freed small block past its two links is poison")
{
   // byte 16 of a freed 100-byte block on 64-bit: the first word past fd and bk
   Heap h;
   void *a = mspace_malloc(h.ms, 100);
   unsigned char *b = static_cast<unsigned char *>(mspace_malloc(h.ms, 100));
   void *c = mspace_malloc(h.ms, 100);
   REQUIRE((a && b && c));
   mspace_free(h.ms, b);                           // a small chunk, to its bin
   CHECK(mspace_check(h.ms) == 0);
   // every byte from past the two links up to the chunk's end (not the footer behind it)
   for (std::size_t at = 2 * W; at < chunk_for(100) - 2 * W; ++at)
   {
      CAPTURE(at);
      const unsigned char saved = read_byte(b + at);
      CHECK(saved == 0xA5);
      write_byte(b + at, 0);                       // use after free
      CHECK(mspace_check(h.ms) != 0);
      write_byte(b + at, saved);
   }
   CHECK(mspace_check(h.ms) == 0);
   write_byte(b + 2 * W, 0);
   CHECK(mspace_malloc(h.ms, 100) == nullptr);     // not handed out again
   CHECK(h.log.count == 1);
   CHECK(h.log.last == MSPACE_ERROR_CORRUPTION);
   write_byte(b + 2 * W, 0xA5);
   CHECK(mspace_malloc(h.ms, 100) == b);
   CHECK(h.log.count == 1);
}

TEST_CASE("level 2: a chunk that changes kind is poisoned for its new kind")
{
   SUBCASE("a tree chunk split into a small remainder")
   {
      Heap h;
      void *x = mspace_malloc(h.ms, 256);          // a tree chunk once freed, 16 bytes over
      void *b = mspace_malloc(h.ms, 100);
      REQUIRE((x && b));
      mspace_free(h.ms, x);
      void *s = mspace_malloc(h.ms, 1);            // a minimum chunk: the rest is small
      REQUIRE(s == x);
      unsigned char *rest = bytes(s) + chunk_for(1);   // the remainder's memory (the dv)
      CHECK(mspace_check(h.ms) == 0);              // its bytes past its links are poison
      CHECK(read_byte(rest + 2 * W) == 0xA5);
      write_byte(rest + 2 * W, 0);                 // use after free, where x's trie links were
      CHECK(mspace_check(h.ms) != 0);
      CHECK(mspace_malloc(h.ms, 100) == nullptr);  // the dv is not handed out
      CHECK(h.log.count == 1);
      write_byte(rest + 2 * W, 0xA5);
      CHECK(mspace_malloc(h.ms, 100) == rest);
      CHECK(h.log.count == 1);
   }
   SUBCASE("a tree chunk taken by a growing realloc, leaving a small remainder")
   {
      Heap h;
      void *a = mspace_malloc(h.ms, 100);
      void *x = mspace_malloc(h.ms, 256);
      void *b = mspace_malloc(h.ms, 100);
      REQUIRE((a && x && b));
      mspace_free(h.ms, x);
      const std::size_t grown = chunk_for(100) + MIN_CHUNK;   // a's chunk and a minimum one
      CHECK(mspace_realloc(h.ms, a, grown - 2 * W) == a);
      unsigned char *rest = bytes(a) + grown;      // the remainder's memory, in a bin
      CHECK(mspace_check(h.ms) == 0);
      write_byte(rest + 2 * W, 0);
      CHECK(mspace_check(h.ms) != 0);
      write_byte(rest + 2 * W, 0xA5);
      CHECK(mspace_check(h.ms) == 0);
      CHECK(h.log.count == 0);
   }
   SUBCASE("small chunks merged into a tree chunk, both ways round")
   {
      for (int order = 0; order < 2; ++order)
      {
         CAPTURE(order);
         Heap h;
         void *a = mspace_malloc(h.ms, 100);
         void *x = mspace_malloc(h.ms, 100);
         void *y = mspace_malloc(h.ms, 200);
         void *b = mspace_malloc(h.ms, 100);
         REQUIRE((a && x && y && b));
         mspace_free(h.ms, order ? y : x);         // small, to its bin
         CHECK(mspace_check(h.ms) == 0);
         mspace_free(h.ms, order ? x : y);         // the two merge into a tree chunk
         CHECK(mspace_check(h.ms) == 0);
         // the merged chunk's bytes past its trie links, up to its end, are poison
         unsigned char *merged = bytes(x) - 2 * W;
         const std::size_t size = chunk_for(100) + chunk_for(200);
         REQUIRE(size >= 256);
         for (std::size_t at = 11 * W; at < size; ++at)
            CHECK(read_byte(merged + at) == 0xA5);
         CHECK(h.log.count == 0);
      }
   }
}

#endif
