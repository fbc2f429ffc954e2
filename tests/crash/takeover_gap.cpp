/* The gap after a lock is taken over: a locked mspace whose holder died inside a call is
   recovered before any other call works on it.

   A thread that takes a lock over from a dead holder marks the state, lets the lock go
   and goes the whole way, which takes every lock and recovers the heap. Between its
   letting go and that recovery, other threads take the lock the ordinary way; each of
   them must go the whole way too (and recover first), never work on what the dead holder
   left half done.

   In a locked heap of random blocks (x86-64 Linux: single-stepped with the trap flag),
   one call is stopped after each of its instructions in turn: a malloc of a chunk, a free
   of a chunk, a malloc of a slot from a page with room and one of a size whose pages
   have none (a front's path, which takes a spare or makes a page under the mspace's
   lock), a free of a slot whose page holds others and one of the last slot of its page
   (which becomes a spare or goes back to the core), a realloc of a block to a random
   size, a memalign (which cuts a chunk before and after the block), and a malloc from
   the top past every word the heap ever wrote (after which a calloc over that place must
   be zero: a zeroed heap's calloc zeroes only what the heap wrote). At each stop the locks the call held are made
   ones that were taken over and let go (the state marked, the locks free), and WINDOW more
   random calls run. The first of them must recover the heap (each takes a lock, which
   sends it the whole way while the recovery is due). Then the heap must be sound: mspace_check passes, every block the
   calls hold keeps its bytes, at most the stopped call's blocks are in use unknown (one;
   two for a realloc, which may have taken its new block and not yet freed the old), and
   nothing but MSPACE_ERROR_HOLDER_DIED was reported, once where the call held a lock.
   Calls in the gap that worked on the half-done heap reported corruption here (a tree
   node half unlinked, met by a merge).

   usage: takeover_gap [SEEDS] [WINDOW]
   prints: the stops tried of each call and "takeover gap: ok", or the failures. */

#define MULLE_DLMALLOC_IMPLEMENTATION
#include "../../mulle_dlmalloc.hpp"
#include "random_calls.h"

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#if defined(__x86_64__) && defined(__linux__) && MULLE_DLMALLOC_LOCKS && MULLE_DLMALLOC_RECOVER

#   include <setjmp.h>
#   include <signal.h>
#   include <ucontext.h>

namespace {

namespace dl = mulle::detail;

const std::size_t REGION = 8u << 20;
alignas(4096) unsigned char region[REGION];
unsigned char               saved[REGION];

/* ---- single steps: the call stops after `stop_at` instructions ---- */

volatile unsigned long steps, stop_at;
sigjmp_buf             stopped;

void on_trap(int, siginfo_t *, void *context)
{
   auto *uc = static_cast<ucontext_t *>(context);
   if (++steps == stop_at)
   {
      uc->uc_mcontext.gregs[REG_EFL] &= ~0x100ll;
      siglongjmp(stopped, 1);
   }
}

inline void trap_on() { __asm__ __volatile__("pushfq\n\torq $0x100, (%%rsp)\n\tpopfq" ::: "memory", "cc"); }
inline void trap_off() { __asm__ __volatile__("pushfq\n\tandq $-257, (%%rsp)\n\tpopfq" ::: "memory", "cc"); }

mspace ms;

/* The call stopped: its kind, the block it works on (a free's, a realloc's) and the size
   it asks for (a malloc's, a realloc's). */
enum kind_t
{
   CHUNK_MALLOC,
   CHUNK_FREE,
   SLOT_MALLOC,
   SLOT_MALLOC_NEW_PAGE,
   SLOT_FREE,
   SLOT_FREE_LAST,
   REALLOC,
   MEMALIGN,
   TOP_MALLOC,
   KINDS
};
const char *const KIND_NAME[KINDS] = {"malloc of a chunk",       "free of a chunk",
                                      "malloc of a slot",        "malloc of a slot of a new page",
                                      "free of a slot",          "free of the last slot of a page",
                                      "realloc",                 "memalign",
                                      "malloc from the top past what was written"};

bool is_free(kind_t kind) { return kind == CHUNK_FREE || kind == SLOT_FREE || kind == SLOT_FREE_LAST; }
bool is_malloc(kind_t kind) { return kind == CHUNK_MALLOC || kind == SLOT_MALLOC || kind == SLOT_MALLOC_NEW_PAGE || kind == MEMALIGN ||
                                          kind == TOP_MALLOC; }
kind_t            victim_kind;
void             *victim_block, *victim_result;
std::size_t       victim_size, victim_alignment;

void victim()
{
   switch (victim_kind)
   {
   case CHUNK_MALLOC:
   case TOP_MALLOC:
   case SLOT_MALLOC:
   case SLOT_MALLOC_NEW_PAGE: victim_result = mspace_malloc(ms, victim_size); break;
   case CHUNK_FREE:
   case SLOT_FREE:
   case SLOT_FREE_LAST: mspace_free(ms, victim_block); break;
   case MEMALIGN: victim_result = mspace_memalign(ms, victim_alignment, victim_size); break;
   default: victim_result = mspace_realloc(ms, victim_block, victim_size); break;
   }
}

/* True where the call ran to its end; false where it stopped. Counts its instructions. */
__attribute__((noinline)) bool run_stepped(void (*call)(), unsigned long stop)
{
   steps   = 0;
   stop_at = stop;
   if (sigsetjmp(stopped, 1))
      return false;
   trap_on();
   call();
   trap_off();
   return true;
}

/* ---- random calls on blocks with bytes of their own ---- */

struct block
{
   std::size_t off, size;
   uint32_t    tag;
};

const unsigned     SLOTS      = 300;
const uint64_t     LARGE_SPAN = 100 * 1024;   /* large blocks of 16 to 116 KiB: a heap of 8 MiB
                                                 keeps room for every size */
std::vector<block> held;
uint32_t           tags;
std::size_t        nonzero_callocs;   /* bytes of calloc's blocks that were not zero */

void one_call(splitmix &r)
{
   block   &b = held[r.below(SLOTS)];
   uint64_t k = r.below(100);
   if (!b.size)
   {
      uint32_t n    = draw_size(r, LARGE_SPAN);
      uint32_t kind = k < 70 ? 0 : k < 85 ? 1 : uint32_t(64) << r.below(7);
      void    *p    = kind == 0 ? mspace_malloc(ms, n) : kind == 1 ? mspace_calloc(ms, 1, n) : mspace_memalign(ms, kind, n);
      if (p)
      {
         if (kind == 1)
            for (uint32_t i = 0; i < n; ++i)
               nonzero_callocs += static_cast<unsigned char *>(p)[i] != 0;
         b = {static_cast<std::size_t>(static_cast<unsigned char *>(p) - region), n, ++tags};
         fill(static_cast<unsigned char *>(p), 0, n, b.tag);
      }
   }
   else if (k < 35)
   {
      uint32_t n = draw_size(r, LARGE_SPAN);
      void    *q = mspace_realloc(ms, region + b.off, n);
      if (q)
      {
         fill(static_cast<unsigned char *>(q), b.size, n, b.tag);
         b.off  = static_cast<std::size_t>(static_cast<unsigned char *>(q) - region);
         b.size = n;
      }
   }
   else
   {
      mspace_free(ms, region + b.off);
      b.size = 0;
   }
}

unsigned    other_reports;
std::size_t holder_reports;
void        on_error(mspace, mspace_error_t e, void *, void *)
{
   if (e == MSPACE_ERROR_HOLDER_DIED)
      holder_reports++;
   else
      other_reports++;
}

void collect(void *start, void *, std::size_t used, void *arg)
{
   if (used)
      static_cast<std::vector<std::size_t> *>(arg)->push_back(static_cast<std::size_t>(static_cast<unsigned char *>(start) - region));
}

/* What is wrong with the heap and the blocks held, or NULL; up to `may_be_unknown`
   blocks in use may be none of them (the stopped call's). */
const char *fault(std::size_t may_be_unknown)
{
   if (mspace_check(ms) != 0)
      return "mspace_check fails";
   if (other_reports)
      return "an error other than MSPACE_ERROR_HOLDER_DIED was reported";
   if (nonzero_callocs)
      return "a calloc's block held bytes that were not zero";
   std::vector<std::size_t> used, known;
   mspace_inspect_all(ms, collect, &used);
   for (const block &b : held)
      if (b.size)
      {
         if (mspace_usable_size(region + b.off) < b.size)
            return "a block held is smaller than asked";
         if (!intact(region + b.off, b.size, b.tag))
            return "a block held lost its bytes";
         known.push_back(b.off);
      }
   std::sort(known.begin(), known.end());
   std::size_t unknown = 0;
   for (std::size_t off : used)
      unknown += !std::binary_search(known.begin(), known.end(), off);
   return unknown > may_be_unknown ? "more than the stopped call's blocks in use unknown" : nullptr;
}

/* The first block held, from a random slot on, that the call of `kind` may take: a chunk
   (more than 512 bytes), a slot of a front (the last one in use of its page for
   SLOT_FREE_LAST, one of a page that holds others for SLOT_FREE), any block for a
   realloc; SLOTS where none. */
unsigned pick_block(splitmix &r, kind_t kind)
{
   unsigned from = static_cast<unsigned>(r.below(SLOTS));
   for (unsigned j = 0; j < SLOTS; ++j)
   {
      unsigned i = (from + j) % SLOTS;
      if (!held[i].size)
         continue;
      if (kind == REALLOC || (kind == CHUNK_FREE && held[i].size > 512))
         return i;
      if ((kind == SLOT_FREE || kind == SLOT_FREE_LAST) && held[i].size <= 512 &&
          (dl::frame_of(region + held[i].off)->used == 1) == (kind == SLOT_FREE_LAST))
         return i;
   }
   return SLOTS;
}

/* *arg raised to the size of free region [start, end) where that lies below the top. */
void larger_free(void *start, void *end, std::size_t used, void *arg)
{
   auto *m = static_cast<dl::mstate *>(ms);
   auto *n = static_cast<std::size_t *>(arg);
   std::size_t size = static_cast<std::size_t>(static_cast<unsigned char *>(end) - static_cast<unsigned char *>(start));
   if (!used && static_cast<unsigned char *>(end) <= dl::as_bytes(m->top) && size > *n)
      *n = size;
}

/* The size of a malloc of the call of `kind`: a chunk's, or a slot's whose front has a page
   with room (SLOT_MALLOC) or none (SLOT_MALLOC_NEW_PAGE); 0 where there is none such. */
std::size_t pick_size(splitmix &r, kind_t kind)
{
   if (kind == CHUNK_MALLOC)
      return 513 + r.below(8 * 1024);
   auto *m = static_cast<dl::mstate *>(ms);
   if (kind == TOP_MALLOC)   /* larger than any free chunk below the top, so the top serves */
   {
      std::size_t least = static_cast<std::size_t>(m->written.get() - dl::as_bytes(m->top));
      mspace_inspect_all(ms, larger_free, &least);
      std::size_t n = least + r.below(4096);
      return n + 8192 < static_cast<std::size_t>(m->chunk_end.get() - dl::as_bytes(m->top)) ? n : 0;
   }
   if (kind == MEMALIGN)
   {
      victim_alignment = std::size_t(64) << r.below(7);
      return 1 + r.below(8 * 1024);
   }
   dl::front *f    = dl::this_front(m);
   unsigned   from = static_cast<unsigned>(r.below(dl::NCLASSES));
   for (unsigned j = 0; j < dl::NCLASSES; ++j)
   {
      unsigned cls = (from + j) % static_cast<unsigned>(dl::NCLASSES);
      if ((f->avail[cls] == nullptr) == (kind == SLOT_MALLOC_NEW_PAGE))
         return dl::class_size(cls) - r.below(dl::SLOT_GRAIN);
   }
   return 0;
}

struct tally
{
   unsigned long calls, stops, failures;
};

/* Stops the call of `kind` after each of its instructions on the heap as it is (saved
   first, restored before each stop), with `window` random calls after each. */
void stop_everywhere(kind_t kind, unsigned seed, splitmix &r, unsigned window, tally &t)
{
   unsigned    slot    = SLOTS;
   std::size_t unknown = kind == REALLOC ? 2 : 1;
   victim_kind         = kind;
   if (!is_malloc(kind))
   {
      slot = pick_block(r, kind);
      if (slot == SLOTS)
         return;
      victim_block = region + held[slot].off;
   }
   victim_size = is_malloc(kind) ? pick_size(r, kind) : draw_size(r, LARGE_SPAN);
   if (!victim_size)
      return;
   t.calls++;
   std::memcpy(saved, region, REGION);
   const std::vector<block> held0 = held;
   const uint32_t           tags0 = tags;
   const uint64_t           r0    = r.x;
   run_stepped(victim, 0);
   const unsigned long length = steps;
   for (unsigned long k = 1; k < length; ++k)
   {
      std::memcpy(region, saved, REGION);
      held           = held0;
      tags           = tags0;
      r.x            = r0;
      other_reports   = 0;
      holder_reports  = 0;
      nonzero_callocs = 0;
      if (run_stepped(victim, k))
         continue;
      if (slot != SLOTS)
         held[slot].size = 0;   /* freed or not, moved or not: the stopped call's */
      /* the locks the call held when it stopped: taken over and let go */
      auto *m = static_cast<dl::mstate *>(ms);
      if (m->lock)
         m->lock = 0, m->died = 1;
#   ifdef MULLE_DLMALLOC_HAS_FRONTS
      for (dl::front &f : m->fronts)
         if (f.lock)
            f.lock = 0, m->died = 1;
#   endif
      const std::size_t recoveries = m->died;   /* the heap recovers once, where a lock was held */
      if (kind == TOP_MALLOC)   /* over the place the call cut its block from, and past it */
         if (auto *z = static_cast<unsigned char *>(mspace_calloc(ms, 1, victim_size + 4096)))
         {
            for (std::size_t i = 0; i < victim_size + 4096; ++i)
               nonzero_callocs += z[i] != 0;
            mspace_free(ms, z);
         }
      /* every call takes a lock, and a lock taken while the recovery is due sends its call
         the whole way, which recovers first: the mark is gone after the first call */
      bool went_on = false;
      for (unsigned i = 0; i < window; ++i)
      {
         one_call(r);
         went_on |= m->died != 0;
      }
      t.stops++;
      const char *f = went_on ? "a call in the gap went on without recovering the heap first" : fault(unknown);
      if (!f && holder_reports != recoveries)
         f = "MSPACE_ERROR_HOLDER_DIED was not reported exactly once per recovery";
      if (f && t.failures++ < 10)
         std::printf("FAIL: seed %u, %s (%zu bytes) stopped after %lu of its %lu instructions: %s\n", seed, KIND_NAME[kind],
                     is_free(kind) ? held0[slot].size : victim_size, k, length, f);
   }
   /* the heap as it was before the call, which runs to its end: the next kind starts there */
   std::memcpy(region, saved, REGION);
   held = held0;
   tags = tags0;
   r.x  = r0;
   victim_result = nullptr;
   run_stepped(victim, 0);
   if (slot != SLOTS)
      held[slot].size = 0;
   if (kind == REALLOC && !victim_result)
      victim_result = victim_block;   /* a realloc that failed left the block where it was */
   if (!is_free(kind))
      mspace_free(ms, victim_result);   /* the call's block, which no slot holds */
}

} // namespace

int main(int argc, char **argv)
{
   unsigned seeds  = argc > 1 ? static_cast<unsigned>(std::atoi(argv[1])) : 3;
   unsigned window = argc > 2 ? static_cast<unsigned>(std::atoi(argv[2])) : 20;

   struct sigaction sa;
   std::memset(&sa, 0, sizeof sa);
   sa.sa_sigaction = on_trap;
   sa.sa_flags     = SA_SIGINFO | SA_NODEFER;
   sigaction(SIGTRAP, &sa, nullptr);

   tally t[KINDS] = {};
   for (unsigned seed = 1; seed <= seeds; ++seed)
   {
      std::memset(region, 0, REGION);
      ms = mspace_create_with_base_flags(region, REGION, MSPACE_LOCKED | MSPACE_ZEROED);
      if (!ms)
      {
         std::printf("FAIL: no locked heap\n");
         return 1;
      }
      mspace_set_error_handler(ms, on_error, nullptr);
      held.assign(SLOTS, block{0, 0, 0});
      splitmix r{seed * 7919ull};
      for (unsigned i = 2000 + static_cast<unsigned>(r.below(3000)); i; --i)
         one_call(r);
      for (int kind = 0; kind < KINDS; ++kind)
      {
         other_reports = 0;
         if (const char *f = fault(0))
         {
            std::printf("FAIL: seed %u, before the %s: %s\n", seed, KIND_NAME[kind], f);
            return 1;
         }
         stop_everywhere(static_cast<kind_t>(kind), seed, r, window, t[kind]);
      }
   }
   unsigned long failures = 0;
   for (int kind = 0; kind < KINDS; ++kind)
   {
      std::printf("takeover gap: %lu stops of %lu %s, %u calls in each gap; %lu failures\n", t[kind].stops,
                  t[kind].calls, KIND_NAME[kind], window, t[kind].failures);
      failures += t[kind].failures;
   }
   if (failures)
      return 1;
   std::printf("takeover gap: ok (%u heaps)\n", seeds);
   return 0;
}

#else

int main()
{
   std::printf("takeover gap: skipped (x86-64 Linux with locks and recovery only)\n");
   return 0;
}

#endif
