/* The gap after a lock is taken over: a locked mspace whose holder died inside a call is
   recovered before any other call works on it.

   A thread that takes a lock over from a dead holder marks the state, lets the lock go
   and goes the whole way, which takes every lock and recovers the heap. Between its
   letting go and that recovery, other threads take the lock the ordinary way; each of
   them must go the whole way too (and recover first), never work on what the dead holder
   left half done.

   For each instruction of a malloc of a chunk in a locked heap of random blocks (x86-64
   Linux: single-stepped with the trap flag), the call is stopped there, its lock is made
   one that was taken over and let go (the state marked, the lock free), and WINDOW more
   random calls run. Then the heap must be sound: mspace_check passes, every block the
   calls hold keeps its bytes, at most the stopped call's block is in use unknown, and
   nothing but MSPACE_ERROR_HOLDER_DIED was reported, once where the call held a lock. Calls in the gap that worked on the
   half-done heap reported corruption here (a tree node half unlinked, met by a merge).

   usage: takeover_gap [SEEDS] [WINDOW]
   prints: the stops tried and "takeover gap: ok", or the failures. */

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

mspace      ms;
std::size_t victim_size;
void        victim() { mspace_malloc(ms, victim_size); }

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

/* What is wrong with the heap and the blocks held, or NULL. */
const char *fault()
{
   if (mspace_check(ms) != 0)
      return "mspace_check fails";
   if (other_reports)
      return "an error other than MSPACE_ERROR_HOLDER_DIED was reported";
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
   return unknown > 1 ? "more than the stopped call's block in use unknown" : nullptr;
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

   unsigned long stops = 0, failures = 0;
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
      if (const char *f = fault())
      {
         std::printf("FAIL: seed %u, before any stop: %s\n", seed, f);
         return 1;
      }
      victim_size = 513 + r.below(8 * 1024);
      std::memcpy(saved, region, REGION);
      const std::vector<block> held0 = held;
      const uint32_t           tags0 = tags;
      const uint64_t           r0    = r.x;
      run_stepped(victim, 0);
      const unsigned long length = steps;
      for (unsigned long k = 1; k < length; ++k)
      {
         std::memcpy(region, saved, REGION);
         held          = held0;
         tags          = tags0;
         r.x           = r0;
         other_reports  = 0;
         holder_reports = 0;
         if (run_stepped(victim, k))
            continue;
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
         for (unsigned i = 0; i < window; ++i)
            one_call(r);
         stops++;
         const char *f = fault();
         if (!f && holder_reports != recoveries)
            f = "MSPACE_ERROR_HOLDER_DIED was not reported exactly once per recovery";
         if (f)
            if (failures++ < 10)
               std::printf("FAIL: seed %u, malloc(%zu) stopped after %lu of its %lu instructions: %s\n", seed,
                           victim_size, k, length, f);
      }
   }
   std::printf("takeover gap: %u heaps, %lu stops of a chunk's malloc, %u calls in each gap; %lu failures\n", seeds, stops,
               window, failures);
   if (failures)
      return 1;
   std::printf("takeover gap: ok\n");
   return 0;
}

#else

int main()
{
   std::printf("takeover gap: skipped (x86-64 Linux with locks and recovery only)\n");
   return 0;
}

#endif
