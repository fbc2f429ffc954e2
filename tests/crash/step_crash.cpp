// A kill at every instruction: each operation of the allocator is stopped after its k-th
// instruction, for every k, and the heap it leaves is attached as a process that finds the
// region of one that was killed would attach it. The promise of recover.hpp is held
// against what the attach finds: it succeeds, the heap checks sound, every block whose call
// returned is in use with its size and contents, every block whose free returned is free,
// and the interrupted call leaves at most its own block in use without a holder.
//
// The stop is made in-process and deterministically by single-stepping: the x86 trap flag
// is set right before the operation is called, a SIGTRAP handler counts the instructions,
// and at the k-th it leaves by siglongjmp. Every store made up to there stays in the
// region, none after it is made: exactly what a kill leaves (the processor's own order of
// stores does not matter to a process that is gone, impl_config.hpp). The region is then
// restored from a snapshot for the next k. x86-64 Linux only; elsewhere it says so and
// passes.
//
//   g++ -std=c++17 -O2 -g -I. tests/crash/step_crash.cpp -o build/crash/step_crash
//
// A failure prints the scenario, k, what was wrong, and where the operation stopped: the
// last instruction it executed and the next, as addresses for addr2line -f -C -e <binary>.
#define MULLE_DLMALLOC_IMPLEMENTATION
#include "mulle_dlmalloc.hpp"

#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>

// Where the test cannot run: it says why and passes.
#if !defined(__x86_64__) || !defined(__linux__)
#  define STEP_CRASH_SKIP "single-stepping needs x86-64 Linux"
#elif defined(MULLE_DLMALLOC_RECOVER) && !MULLE_DLMALLOC_RECOVER
#  define STEP_CRASH_SKIP "a build without recovery (MULLE_DLMALLOC_RECOVER=0)"
#elif MULLE_DLMALLOC_CHECKS >= 2 || !MULLE_DLMALLOC_TIER
#  define STEP_CRASH_SKIP "checks level 2 rebuilds no heap, and the scenarios need the tier"
#endif

#ifndef STEP_CRASH_SKIP

#include <algorithm>
#include <chrono>
#include <vector>
#include <setjmp.h>
#include <signal.h>
#include <ucontext.h>

extern "C" char __executable_start;   // the first byte of this program, from the linker

namespace {

namespace dl = mulle::detail;

const std::size_t REGION    = 4u << 20;
const unsigned    MAX_FAILS = 20;

// Kill points tried per operation at most (the first argument): a stop at k costs k
// traps, some 20 us each on a virtual machine, so the operations of an -O0 build (five
// times the instructions) may want fewer.
unsigned long max_points = 4000;

alignas(64) unsigned char region[REGION];
unsigned char             snapshot[REGION];

// ---- single-stepping ----------------------------------------------------------------------

const greg_t TRAP_FLAG = 0x100;   // TF, bit 8 of RFLAGS

volatile unsigned long steps;     // instructions counted since the flag was set
volatile unsigned long stop_at;   // the step to stop at; 0: run to the end
volatile greg_t        last_rip;  // the instruction the last step executed
volatile greg_t        next_rip;  // the one it would have executed next
sigjmp_buf             stop_env;

// The saved RIP of a single-step trap names the next instruction; the one before it is
// the instruction just executed. At the stop the flag is taken out of the saved flags too,
// though siglongjmp never returns into them: the kernel clears TF for the handler, and
// nothing sets it again.
void on_trap(int, siginfo_t *, void *context)
{
   ucontext_t *uc = static_cast<ucontext_t *>(context);
   last_rip       = next_rip;
   next_rip       = uc->uc_mcontext.gregs[REG_RIP];
   if (++steps == stop_at)
   {
      uc->uc_mcontext.gregs[REG_EFL] &= ~TRAP_FLAG;
      siglongjmp(stop_env, 1);
   }
}

// The trap comes after each instruction that follows the popfq; the asm is the only code
// between them and the call. The function that holds them calls out, so it keeps nothing
// in the red zone below the stack pointer that pushfq would overwrite.
inline void trap_on() { __asm__ __volatile__("pushfq\n\torq $0x100, (%%rsp)\n\tpopfq" ::: "memory", "cc"); }
inline void trap_off() { __asm__ __volatile__("pushfq\n\tandq $-257, (%%rsp)\n\tpopfq" ::: "memory", "cc"); }

// Runs op single-stepped; stops after instruction `stop` (0: never). True if op returned.
// Out of line and called through a pointer, so that the compiler puts no code of its own
// between the flag and the operation.
__attribute__((noinline)) bool run_stepped(void (*op)(), unsigned long stop)
{
   steps    = 0;
   stop_at  = stop;
   last_rip = next_rip = 0;
   if (sigsetjmp(stop_env, 1))
      return false;
   trap_on();
   op();
   trap_off();
   return true;
}

// An address of this program as addr2line takes it: a position-independent executable is
// linked at 0, and loaded elsewhere.
std::uintptr_t code_address(greg_t rip)
{
#ifdef __PIE__
   return static_cast<std::uintptr_t>(rip) - reinterpret_cast<std::uintptr_t>(&__executable_start);
#else
   return static_cast<std::uintptr_t>(rip);
#endif
}

// ---- failures -----------------------------------------------------------------------------

const char   *scenario_name = "";
unsigned long current_k;
unsigned      failures;

void finish(int code);

void fail(const char *fmt, ...)
{
   std::printf("FAILED %s, k = %lu: ", scenario_name, current_k);
   va_list args;
   va_start(args, fmt);
   std::vprintf(fmt, args);
   va_end(args);
   std::printf("\n   stopped after 0x%lx, before 0x%lx (addr2line -f -C -e <this program>)\n",
               static_cast<unsigned long>(code_address(last_rip)), static_cast<unsigned long>(code_address(next_rip)));
   if (++failures >= MAX_FAILS)
   {
      std::printf("stopping at %u failures\n", failures);
      finish(1);
   }
}

// The library's reports (a damaged heap met by a call): counted, never the default abort.
int            reported;
mspace_error_t last_report;

void on_error(mspace, mspace_error_t e, void *, void *)
{
   ++reported;
   last_report = e;
}

// ---- the heap and its blocks --------------------------------------------------------------

// A block the test holds: by offset, which a restore of the region brings back with it.
struct Block
{
   std::size_t offset;
   std::size_t size;   // asked for; the pattern covers it
   unsigned    id;
};

inline unsigned char pattern(unsigned id, std::size_t size, std::size_t i)
{
   std::uint32_t x = id * 0x9e3779b1u + static_cast<std::uint32_t>(size) * 0x85ebca6bu + static_cast<std::uint32_t>(i) * 0xc2b2ae35u;
   return static_cast<unsigned char>((x >> 24) ^ (x >> 11));
}

void fill(void *p, unsigned id, std::size_t size)
{
   unsigned char *b = static_cast<unsigned char *>(p);
   for (std::size_t i = 0; i < size; ++i)
      b[i] = pattern(id, size, i);
}

// The first i < n where p does not hold the pattern of (id, size), or n.
std::size_t first_wrong(const void *p, unsigned id, std::size_t size, std::size_t n)
{
   const unsigned char *b = static_cast<const unsigned char *>(p);
   for (std::size_t i = 0; i < n; ++i)
      if (b[i] != pattern(id, size, i))
         return i;
   return n;
}

inline std::size_t offset_of(const void *p) { return static_cast<std::size_t>(static_cast<const unsigned char *>(p) - region); }

struct Heap
{
   mspace             ms = nullptr;
   std::vector<Block> live;
   unsigned           ids = 0;

   bool create()
   {
      live.clear();
      ids = 0;
      ms  = mspace_create_with_base(region, REGION);
      return ms != nullptr;
   }
   void *at(const Block &b) const { return region + b.offset; }
   const Block *find(unsigned id) const
   {
      for (const Block &b : live)
         if (b.id == id)
            return &b;
      return nullptr;
   }
   void *ptr(unsigned id) const { return region + find(id)->offset; }
   // a new block of n bytes with its pattern, held
   unsigned take(std::size_t n)
   {
      void *p = mspace_malloc(ms, n);
      if (!p)
      {
         std::printf("setup: malloc(%zu) failed\n", n);
         std::exit(1);
      }
      fill(p, ++ids, n);
      live.push_back({offset_of(p), n, ids});
      return ids;
   }
   // freed and forgotten
   void give(unsigned id)
   {
      for (std::size_t i = 0; i < live.size(); ++i)
         if (live[i].id == id)
         {
            mspace_free(ms, at(live[i]));
            live.erase(live.begin() + static_cast<std::ptrdiff_t>(i));
            return;
         }
   }
};

Heap heap;

// The state and chunks behind the handle, for the scenarios' preconditions: each checks
// that its operation will take the path it is named for.
dl::mstate *state() { return static_cast<dl::mstate *>(heap.ms); }
dl::chunk  *chunk_of(unsigned id) { return dl::chunk_from_mem(heap.ptr(id)); }
dl::chunk  *after(dl::chunk *c) { return dl::next_chunk(c); }
bool        is_top(dl::chunk *c) { return c == state()->top.get(); }
bool        is_dv(dl::chunk *c) { return state()->dv_size && c == state()->dv.get(); }
bool        in_use(dl::chunk *c) { return dl::chunk_is_in_use(c); }
bool        binned(dl::chunk *c) { return !in_use(c) && !is_top(c) && !is_dv(c); }
dl::page   *page_holding(unsigned id) { return dl::page_of(state(), heap.ptr(id)); }
dl::page   *listed_page(std::size_t n) { return state()->fronts[0].avail[dl::class_of(n)]; }
bool        top_on_page_boundary() { return dl::is_aligned(dl::mem_from_chunk(state()->top), dl::PAGE_BYTES); }

// ---- the operations -----------------------------------------------------------------------

enum Kind { MALLOC, CALLOC, MEMALIGN, FREE, REALLOC, TRIM, RESET };

struct Op
{
   Kind        kind   = MALLOC;
   std::size_t size   = 0;   // malloc, memalign, realloc: bytes; calloc: of an element
   std::size_t count  = 0;   // calloc
   std::size_t align  = 0;   // memalign
   unsigned    target = 0;   // free, realloc: the block's id
   bool        moves  = false;   // realloc: the block is expected to move
};

// What the stepped operation reads and writes, as globals: the code between the trap flag
// and the library is a load or two.
mspace      op_ms;
void       *op_ptr;
std::size_t op_size, op_count, op_align;
void       *op_result;

void do_malloc() { op_result = mspace_malloc(op_ms, op_size); }
void do_calloc() { op_result = mspace_calloc(op_ms, op_count, op_size); }
void do_memalign() { op_result = mspace_memalign(op_ms, op_align, op_size); }
void do_free() { mspace_free(op_ms, op_ptr); }
void do_realloc() { op_result = mspace_realloc(op_ms, op_ptr, op_size); }
void do_trim() { mspace_trim(op_ms, 0); }
void do_reset() { mspace_reset(op_ms); }

void (*const OPS[])() = {do_malloc, do_calloc, do_memalign, do_free, do_realloc, do_trim, do_reset};

// ---- the scenarios ------------------------------------------------------------------------

bool need(bool ok, const char *what)
{
   if (!ok)
      std::printf("setup of %s: %s does not hold: not the intended path\n", scenario_name, what);
   return ok;
}

// Fills the page of n-byte slots that holds `first` until its last slot is taken.
void fill_page(std::size_t n, unsigned first)
{
   dl::page *pg = page_holding(first);
   while (pg->used < pg->count)
      heap.take(n);
}

bool malloc_slot_with_room(Op &op)
{
   for (int i = 0; i < 5; ++i)
      heap.take(48);
   op.kind = MALLOC, op.size = 48;
   dl::page *pg = listed_page(48);
   return need(pg && pg->used < pg->count, "a listed page of 48-byte slots with room");
}

// The first page came from an aligned cut, and left the top's memory on a page boundary:
// the next page is split from the top.
bool malloc_slot_new_page(Op &op)
{
   heap.take(1000);
   fill_page(256, heap.take(256));
   op.kind = MALLOC, op.size = 256;
   dl::page *pg = listed_page(256);
   return need(pg && pg->used == pg->count, "the only listed page of 256-byte slots is full") &&
          need(top_on_page_boundary(), "the top's memory on a page boundary");
}

// No page yet, and the top off the page grid: page_chunk cuts an aligned page out of a
// larger chunk (allocate_aligned), and gives back the lead and the tail.
bool malloc_slot_first_page(Op &op)
{
   heap.take(1000);
   op.kind = MALLOC, op.size = 256;
   return need(!listed_page(256), "no page of 256-byte slots") && need(!top_on_page_boundary(), "the top off the page grid");
}

bool malloc_from_bin(Op &op)
{
   unsigned a = heap.take(2000);
   heap.take(600);
   dl::chunk *c = chunk_of(a);
   heap.give(a);
   op.kind = MALLOC, op.size = 1000;
   return need(binned(c) && state()->dv_size == 0, "a 2000-byte free chunk in a tree bin, no dv");
}

// Two neighbours freed in turn: the second merges with the first past DV_TAKEOVER and
// takes over as the dv.
bool malloc_from_dv(Op &op)
{
   unsigned a = heap.take(3000), b = heap.take(3000);
   heap.take(600);
   dl::chunk *c = chunk_of(a);
   heap.give(a);
   heap.give(b);
   op.kind = MALLOC, op.size = 1000;
   return need(is_dv(c) && state()->treemap == 0, "the merged chunk is the dv, the tree bins empty");
}

bool malloc_from_top(Op &op)
{
   heap.take(600);
   op.kind = MALLOC, op.size = 1000;
   dl::mstate *m = state();
   return need(!m->dv_size && !m->treemap && !m->smallmap && m->top_size > 1100, "no free chunk but the top, which has room");
}

bool malloc_extends_top(Op &op)
{
   heap.take(600);
   op.kind = MALLOC, op.size = 1u << 20;
   return need(state()->top_size < (1u << 20), "a top smaller than 1 MiB");
}

bool free_slot(Op &op)
{
   unsigned ids[6];
   for (unsigned &id : ids)
      id = heap.take(64);
   op.kind = FREE, op.target = ids[2];
   dl::page *pg = page_holding(ids[2]);
   return need(pg && pg->listed && pg->used == 6, "a listed page with six 64-byte slots in use");
}

// A full page leaves its list when a request finds it so: the free puts it back.
bool free_slot_of_full_page(Op &op)
{
   unsigned first = heap.take(256);
   fill_page(256, first);
   heap.take(256);   // finds the page full: a new page
   op.kind = FREE, op.target = first;
   dl::page *pg = page_holding(first);
   return need(pg && !pg->listed && pg->used == pg->count, "a full page out of its list");
}

// The page was cut on a boundary out of a larger chunk: its lead lies free before it, a
// block in use after it. Given back, it merges with the lead.
bool free_last_slot_between(Op &op)
{
   heap.take(1000);
   unsigned s = heap.take(128);
   heap.take(5000);   // too large for the lead: from the top, right after the page
   op.kind = FREE, op.target = s;
   dl::page  *pg = page_holding(s);
   dl::chunk *c  = dl::chunk_from_mem(pg);
   return need(pg && pg->used == 1 && in_use(after(c)) && !is_top(after(c)), "a page with one slot in use, a block after it") &&
          need(!dl::previous_is_in_use(c), "its lead free before it (so that it is not held)");
}

// A page after a block in use, below the top, keeps nothing free from merging: its
// mspace holds it, empty, in its list (tier.hpp).
bool free_last_slot_below_top(Op &op)
{
   heap.take(256);   // the first page: the top on a page boundary after it
   unsigned s = heap.take(128);
   op.kind = FREE, op.target = s;
   dl::page *pg = page_holding(s);
   return need(pg && pg->used == 1 && is_top(after(dl::chunk_from_mem(pg))), "a page with one slot in use right below the top") &&
          need(dl::previous_is_in_use(dl::chunk_from_mem(pg)), "a block in use before it");
}

// A block freed beside the held page: the page goes back to the core and merges with it
// and the top.
bool free_beside_held_page(Op &op)
{
   heap.take(256);                     // the first page: the top on a page boundary after it
   unsigned x = heap.take(dl::PAGE_BYTES - sizeof(std::size_t));   // a chunk of a page
   unsigned s = heap.take(128);        // a page right after it, below the top
   heap.give(s);                       // held
   op.kind = FREE, op.target = x;
   dl::chunk *c = chunk_of(x);
   return need(state()->held && dl::held_page(state()) == dl::mem_from_chunk(after(c)), "the held page right after the block") &&
          need(is_top(after(after(c))), "the top after the held page");
}

// A page empties while another is held right before it: the held one goes back to the
// core first (a free chunk then lies before this one, which follows it there).
bool free_last_slot_while_held(Op &op)
{
   heap.take(256);                     // the first page: the top on a page boundary after it
   unsigned held = heap.take(128);     // a page behind it
   unsigned s    = heap.take(64);      // and one behind that, below the top
   heap.give(held);                    // held
   op.kind = FREE, op.target = s;
   dl::page *pg = page_holding(s);
   return need(state()->held && dl::held_page(state()) == dl::mem_from_chunk(dl::chunk_before(dl::chunk_from_mem(pg), dl::PAGE_BYTES)),
               "the held page right before the page") &&
          need(pg->used == 1 && is_top(after(dl::chunk_from_mem(pg))), "a page with one slot in use below the top");
}

// Two neighbours of `size` bytes, the first freed, the second to be freed: below
// DV_TAKEOVER (1 KiB with the tier) together they go to a bin, past it they take over as
// the dv.
bool merges_with_predecessor(Op &op, unsigned size, bool into_dv)
{
   unsigned a = heap.take(size), b = heap.take(size);
   heap.take(size);
   heap.give(a);
   op.kind = FREE, op.target = b;
   dl::chunk *c = chunk_of(b);
   return need(!dl::previous_is_in_use(c) && binned(dl::previous_chunk(c)) && in_use(after(c)) &&
                  (dl::chunk_size(c) + dl::chunk_size(dl::previous_chunk(c)) >= dl::DV_TAKEOVER) == into_dv,
               into_dv ? "a binned free chunk before, a block after, DV_TAKEOVER or more together"
                       : "a binned free chunk before, a block after, less than DV_TAKEOVER together");
}

bool free_merges_before(Op &op) { return merges_with_predecessor(op, 400, false); }
bool free_merges_into_dv(Op &op) { return merges_with_predecessor(op, 1000, true); }

bool free_merges_after(Op &op)
{
   unsigned a = heap.take(1000), b = heap.take(1000);
   heap.take(1000);
   heap.give(b);
   op.kind = FREE, op.target = a;
   dl::chunk *c = chunk_of(a);
   return need(dl::previous_is_in_use(c) && binned(after(c)), "a block before, a binned free chunk after");
}

bool free_merges_both(Op &op)
{
   unsigned a = heap.take(300), b = heap.take(300), c = heap.take(300);   // less than DV_TAKEOVER
   heap.take(300);                                                          // together: a bin
   heap.give(a);
   heap.give(c);
   op.kind = FREE, op.target = b;
   dl::chunk *k = chunk_of(b);
   return need(!dl::previous_is_in_use(k) && binned(dl::previous_chunk(k)) && binned(after(k)) &&
                  dl::chunk_size(k) + dl::chunk_size(dl::previous_chunk(k)) + dl::chunk_size(after(k)) < dl::DV_TAKEOVER,
               "binned free chunks on both sides, less than DV_TAKEOVER together");
}

bool free_into_top(Op &op)
{
   heap.take(600);
   unsigned b = heap.take(1000);
   op.kind = FREE, op.target = b;
   dl::chunk *c = chunk_of(b);
   return need(dl::previous_is_in_use(c) && is_top(after(c)), "a block before, the top after");
}

bool free_into_top_past_free(Op &op)
{
   heap.take(600);
   unsigned a = heap.take(1000), b = heap.take(1000);
   heap.give(a);
   op.kind = FREE, op.target = b;
   dl::chunk *c = chunk_of(b);
   return need(!dl::previous_is_in_use(c) && binned(dl::previous_chunk(c)) && is_top(after(c)), "a binned free chunk before, the top after");
}

bool free_grows_dv(Op &op)
{
   unsigned a = heap.take(3000), b = heap.take(3000), c = heap.take(1000);
   heap.take(600);
   heap.give(a);
   heap.give(b);
   op.kind = FREE, op.target = c;
   dl::chunk *k = chunk_of(c);
   return need(!dl::previous_is_in_use(k) && is_dv(dl::previous_chunk(k)) && in_use(after(k)), "the dv before, a block after");
}

bool realloc_into_binned(Op &op)
{
   unsigned a = heap.take(1000), b = heap.take(2000);
   heap.take(600);
   heap.give(b);
   op.kind = REALLOC, op.target = a, op.size = 2000;
   dl::chunk *c = chunk_of(a);
   return need(binned(after(c)) && !state()->dv_size, "a binned free chunk after, no dv");
}

bool realloc_into_dv(Op &op)
{
   unsigned a = heap.take(1000), b = heap.take(3000), c = heap.take(3000);
   heap.take(600);
   heap.give(b);
   heap.give(c);
   op.kind = REALLOC, op.target = a, op.size = 2000;
   return need(is_dv(after(chunk_of(a))), "the dv after");
}

bool realloc_into_top(Op &op)
{
   heap.take(600);
   unsigned a = heap.take(1000);
   op.kind = REALLOC, op.target = a, op.size = 3000;
   return need(is_top(after(chunk_of(a))) && state()->top_size > 4000, "the top after, with room");
}

bool realloc_extends_top(Op &op)
{
   heap.take(600);
   unsigned a = heap.take(1000);
   op.kind = REALLOC, op.target = a, op.size = 200000;
   return need(is_top(after(chunk_of(a))) && state()->top_size < 200000, "the top after, too small");
}

bool realloc_shrinks(Op &op)
{
   unsigned a = heap.take(3000);
   heap.take(600);
   op.kind = REALLOC, op.target = a, op.size = 1000;
   dl::chunk *n = after(chunk_of(a));
   return need(in_use(n) && !is_top(n), "a block after");
}

bool realloc_shrinks_before_free(Op &op)
{
   unsigned a = heap.take(3000), b = heap.take(2000);
   heap.take(600);
   heap.give(b);
   op.kind = REALLOC, op.target = a, op.size = 1000;
   return need(binned(after(chunk_of(a))), "a binned free chunk after");
}

bool realloc_moves(Op &op)
{
   unsigned a = heap.take(1000);
   heap.take(600);
   op.kind = REALLOC, op.target = a, op.size = 5000, op.moves = true;
   dl::chunk *n = after(chunk_of(a));
   return need(in_use(n) && !is_top(n), "a block after");
}

bool realloc_moves_slot(Op &op)
{
   unsigned ids[4];
   for (unsigned &id : ids)
      id = heap.take(48);
   op.kind = REALLOC, op.target = ids[1], op.size = 600, op.moves = true;
   dl::page *pg = page_holding(ids[1]);
   return need(pg && pg->used == 4, "a page with four slots in use");
}

// The old block's bytes lie in the chunk that calloc takes: its zeros are written.
bool calloc_from_bin(Op &op)
{
   unsigned a = heap.take(2000);
   heap.take(600);
   dl::chunk *c = chunk_of(a);
   heap.give(a);
   op.kind = CALLOC, op.count = 3, op.size = 500;
   return need(binned(c) && !state()->dv_size, "a 2000-byte free chunk in a tree bin, no dv");
}

bool calloc_slot(Op &op)
{
   heap.take(48);
   heap.take(200);
   heap.take(200);
   op.kind = CALLOC, op.count = 5, op.size = 40;
   dl::page *pg = listed_page(200);
   return need(pg && pg->used < pg->count, "a listed page of 208-byte slots with room");
}

bool memalign_page(Op &op)
{
   heap.take(600);
   op.kind = MEMALIGN, op.align = 4096, op.size = 3000;
   return need(!top_on_page_boundary(), "the top off the page grid");
}

// Blocks freed on both sides of a block that stays: those above it join the top, which
// the trim cuts back, those below merge into one free chunk that stays.
bool trim_after_frees(Op &op)
{
   heap.take(600);
   std::vector<unsigned> ids;
   unsigned              middle = 0;
   for (int i = 0; i < 150; ++i)
   {
      ids.push_back(heap.take(5000));
      if (i == 74)
         middle = heap.take(700);
   }
   for (auto it = ids.rbegin(); it != ids.rend(); ++it)
      heap.give(*it);
   op.kind = TRIM;
   return need(state()->top_size > 2 * dl::GRANULARITY, "a top of more than two steps") &&
          need(state()->top_size < state()->trim_threshold, "a top below the trim threshold (no trim by itself)") &&
          need(!dl::previous_is_in_use(chunk_of(middle)) && dl::chunk_size(dl::previous_chunk(chunk_of(middle))) > 300000,
               "the blocks below as one free chunk");
}

bool reset_busy(Op &op)
{
   for (int i = 0; i < 5; ++i)
      heap.take(48);
   for (int i = 0; i < 3; ++i)
      heap.take(256);
   unsigned a = heap.take(1000), b = heap.take(3000), c = heap.take(3000);
   heap.take(2000);
   heap.take(600);
   heap.give(a);
   heap.give(b);
   mspace_set_root(heap.ms, heap.ptr(c));   /* which the reset takes away */
   op.kind = RESET;
   return need(state()->dv_size || state()->treemap, "free chunks in the bins or the dv");
}

struct Scenario
{
   const char *name;
   bool (*build)(Op &);
};

const Scenario SCENARIOS[] = {
   {"malloc 48: a slot of a page with room", malloc_slot_with_room},
   {"malloc 256: a slot of a new page split from the top", malloc_slot_new_page},
   {"malloc 256: a slot of the first page (aligned cut)", malloc_slot_first_page},
   {"malloc 1000: split from a free chunk in a bin", malloc_from_bin},
   {"malloc 1000: split from the dv", malloc_from_dv},
   {"malloc 1000: split from the top", malloc_from_top},
   {"malloc 1 MiB: extends the top", malloc_extends_top},
   {"free: a slot", free_slot},
   {"free: a slot of a full page (back in its list)", free_slot_of_full_page},
   {"free: last slot of a page, block after (page to core)", free_last_slot_between},
   {"free: last slot of a page below the top (held)", free_last_slot_below_top},
   {"free: a block beside the held page (page to core)", free_beside_held_page},
   {"free: last slot of a page while the one before it is held (both to core)", free_last_slot_while_held},
   {"free: merges with a free predecessor", free_merges_before},
   {"free: merges with a free predecessor into the dv", free_merges_into_dv},
   {"free: merges with a free successor", free_merges_after},
   {"free: merges with both neighbours", free_merges_both},
   {"free: joins the top", free_into_top},
   {"free: joins the top past a free predecessor", free_into_top_past_free},
   {"free: grows the dv", free_grows_dv},
   {"realloc 1000->2000: in place into a binned successor", realloc_into_binned},
   {"realloc 1000->2000: in place into the dv", realloc_into_dv},
   {"realloc 1000->3000: in place into the top", realloc_into_top},
   {"realloc 1000->200000: in place, the top extended", realloc_extends_top},
   {"realloc 3000->1000: shrinks in place", realloc_shrinks},
   {"realloc 3000->1000: shrinks before a free chunk", realloc_shrinks_before_free},
   {"realloc 1000->5000: moves", realloc_moves},
   {"realloc slot 48->600: moves to a chunk", realloc_moves_slot},
   {"calloc 3x500: from a bin, zeroed", calloc_from_bin},
   {"calloc 5x40: a slot, zeroed", calloc_slot},
   {"memalign(4096, 3000)", memalign_page},
   {"trim(0) after frees near the top", trim_after_frees},
   {"reset", reset_busy},
};

// ---- one kill point -----------------------------------------------------------------------

struct Range
{
   std::size_t from, to;   // offsets, [from, to)
};

struct Used
{
   std::size_t offset, bytes;
};

std::vector<Used> seen;   // the blocks in use, in address order

// No call into the mspace from here: the library refuses it (MSPACE_ERROR_REENTRANT).
void collect(void *start, void *, std::size_t used, void *)
{
   if (used)
      seen.push_back({offset_of(start), used});
}

const Used *used_at(std::size_t offset)
{
   auto it = std::lower_bound(seen.begin(), seen.end(), offset, [](const Used &u, std::size_t o) { return u.offset < o; });
   return it != seen.end() && it->offset == offset ? &*it : nullptr;
}

struct Tally
{
   unsigned long n = 0, tried = 0, rebuilt = 0, open = 0, leaks = 0;
   std::size_t   leak_max = 0;
};

// What the reference run (the operation to its end) showed: the bytes of the chunks it
// changed and the block it returned. A block in use that nobody holds must touch them.
std::vector<Range> op_areas;

bool touches_op(const Used &u)
{
   const std::size_t slack = 2 * sizeof(std::size_t);   // the heads around a block
   for (const Range &r : op_areas)
      if (u.offset < r.to + slack && r.from < u.offset + u.bytes + slack)
         return true;
   return false;
}

// A block the user still holds: in use, its size at least `size`, its first `size` bytes
// its own.
bool held_intact(const Block &b, std::size_t size, const char *whose)
{
   const Used *u = used_at(b.offset);
   if (!u)
   {
      fail("%s block %u (offset %zu, %zu bytes) is not in use", whose, b.id, b.offset, b.size);
      return false;
   }
   bool ok = true;
   if (u->bytes < size || mspace_usable_size(heap.at(b)) < size)
   {
      fail("%s block %u: usable %zu (inspect %zu), wants %zu", whose, b.id, mspace_usable_size(heap.at(b)), u->bytes, size);
      ok = false;
   }
   std::size_t wrong = first_wrong(heap.at(b), b.id, b.size, size);
   if (wrong < size)
   {
      fail("%s block %u: byte %zu of %zu changed", whose, b.id, wrong, size);
      ok = false;
   }
   return ok;
}

// After the checks, the heap must serve as any other: blocks of every kind taken and
// filled, the held blocks untouched by them, all given back, and sound again.
struct Kept
{
   const Block *block;
   std::size_t  bytes;   // of its pattern that it still holds
};

void exercise(mspace ms, const std::vector<Kept> &kept)
{
   static const std::size_t SIZES[] = {1, 8, 24, 40, 64, 100, 128, 200, 256, 300, 512, 1000, 2000, 4096, 5000, 20000, 70000, 130000};
   const std::size_t        KINDS   = sizeof(SIZES) / sizeof(SIZES[0]);
   void                    *blocks[2 * KINDS];
   for (std::size_t i = 0; i < 2 * KINDS; ++i)
   {
      std::size_t n = SIZES[i % KINDS] + i;
      blocks[i]     = mspace_malloc(ms, n);
      if (!blocks[i])
      {
         fail("after the attach, malloc(%zu) failed", n);
         continue;
      }
      std::memset(blocks[i], 0xa5, n);
   }
   for (const Kept &k : kept)
      if (first_wrong(heap.at(*k.block), k.block->id, k.block->size, k.bytes) < k.bytes)
         fail("block %u changed by the blocks taken after the attach", k.block->id);
   for (std::size_t i = 1; i < 2 * KINDS; i += 2)
      mspace_free(ms, blocks[i]);
   for (std::size_t i = 0; i < 2 * KINDS; i += 2)
      mspace_free(ms, blocks[i]);
   if (int problems = mspace_check(ms))
      fail("mspace_check finds %d problem(s) after mallocs and frees", problems);
}

void verify(const Op &op, Tally &t)
{
   reported = 0;
   mspace ms = mspace_attach(region, REGION);
   if (!ms)
   {
      fail("attach refused: %s", mspace_error_string(mspace_attach_error(region, REGION)));
      return;
   }
   mspace_found_t found = mspace_attach_found(ms);
   if (found == MSPACE_FOUND_REBUILT)
      ++t.rebuilt;
   else if (found == MSPACE_FOUND_OPEN)
      ++t.open;
   else
      fail("attach found the heap detached");
   if (int problems = mspace_check(ms))
   {
      fail("mspace_check finds %d problem(s) after the attach (%s)", problems, found == MSPACE_FOUND_REBUILT ? "rebuilt" : "open");
      return;
   }
   seen.clear();
   mspace_inspect_all(ms, collect, nullptr);

   // the blocks the operation does not work on: in use, whole
   std::vector<Kept>        kept;
   std::vector<std::size_t> known;
   const Block               *target = op.target ? heap.find(op.target) : nullptr;
   for (const Block &b : heap.live)
      if (op.kind != RESET && &b != target)
      {
         held_intact(b, b.size, "live");
         kept.push_back({&b, b.size});
         known.push_back(b.offset);
      }

   // a reset is all or nothing: before its first store the old heap, after it an empty one
   if (op.kind == RESET)
   {
      std::size_t found_live = 0;
      for (const Block &b : heap.live)
         found_live += used_at(b.offset) != nullptr;
      if (found_live == heap.live.size())
         for (const Block &b : heap.live)
         {
            if (held_intact(b, b.size, "reset's"))
               kept.push_back({&b, b.size});
            known.push_back(b.offset);
         }
      else if (found_live)
         fail("reset left %zu of %zu blocks in use", found_live, heap.live.size());
      /* the root names a block of the old heap, or nothing (an empty heap's root would lie
         in its top; an old heap may have lost its root, which the reset was taking away) */
      void *root = mspace_root(ms);
      if (root && (found_live != heap.live.size() || !used_at(static_cast<std::size_t>(static_cast<unsigned char *>(root) - region))))
         fail("reset left a root that names no block in use");
   }

   // realloc: the user holds the old block until the call returns; where it is still in
   // use, it holds what it held (up to the smaller size)
   std::size_t keep_bytes = target ? std::min(target->size, op.size) : 0;
   bool        target_used = target && used_at(target->offset);
   if (op.kind == REALLOC && target_used)
   {
      if (held_intact(*target, keep_bytes, "realloc's"))
         kept.push_back({target, keep_bytes});
      known.push_back(target->offset);
   }

   // the rest is what the interrupted call may leave without a holder: one block at most,
   // one that the operation works on
   std::sort(known.begin(), known.end());
   std::vector<Used> leaked;
   for (const Used &u : seen)
      if (!std::binary_search(known.begin(), known.end(), u.offset))
         leaked.push_back(u);
   std::size_t most = op.kind == TRIM || op.kind == RESET ? 0 : 1;
   std::size_t bytes = 0;
   for (const Used &u : leaked)
   {
      bytes += u.bytes;
      // a free leaves its own block, or the page that holds it (a slot's page that was
      // going back to the core); anything else leaves what it changed or returned
      bool ours = op.kind == FREE ? u.offset <= target->offset && target->offset < u.offset + u.bytes : touches_op(u);
      if (!ours)
         fail("a block in use at offset %zu (%zu bytes) that the operation does not own", u.offset, u.bytes);
   }
   if (leaked.size() > most)
   {
      char list[256];
      int  len = 0;
      for (std::size_t i = 0; i < leaked.size() && i < 6 && len < 200; ++i)
         len += std::snprintf(list + len, sizeof(list) - static_cast<std::size_t>(len), " %zu(%zu)", leaked[i].offset, leaked[i].bytes);
      fail("%zu blocks in use that nobody holds, at most %zu may be: offsets(bytes)%s", leaked.size(), most, list);
   }
   if (!leaked.empty())
      ++t.leaks;
   t.leak_max = std::max(t.leak_max, bytes);

   // a realloc whose old block is free moved: the new block holds the contents
   if (op.kind == REALLOC && !target_used)
   {
      if (leaked.size() != 1)
         fail("realloc's old block is free and %zu new blocks are in use", leaked.size());
      else if (leaked[0].bytes < keep_bytes ||
               first_wrong(region + leaked[0].offset, target->id, target->size, keep_bytes) < keep_bytes)
         fail("realloc's old block is free, its new block at %zu does not hold its contents", leaked[0].offset);
   }

   exercise(ms, kept);
   if (reported)
      fail("the library reported %d error(s), the last: %s", reported, mspace_error_string(last_report));
}

// ---- the run ------------------------------------------------------------------------------

// The kill points for an operation of n instructions: all of them, or where there are too
// many, the first and last 64 and a stride between.
std::vector<unsigned long> kill_points(unsigned long n)
{
   std::vector<unsigned long> ks;
   if (n <= max_points)
   {
      for (unsigned long k = 1; k <= n; ++k)
         ks.push_back(k);
      return ks;
   }
   unsigned long stride = (n - 128 + (max_points - 128) - 1) / (max_points - 128);
   for (unsigned long k = 1; k <= 64; ++k)
      ks.push_back(k);
   for (unsigned long k = 65 + stride - 1; k < n - 64; k += stride)
      ks.push_back(k);
   for (unsigned long k = n - 64; k <= n; ++k)
      ks.push_back(k);
   return ks;
}

void set_params(const Op &op)
{
   op_ms     = heap.ms;
   op_ptr    = op.target ? heap.ptr(op.target) : nullptr;
   op_size   = op.size;
   op_count  = op.count;
   op_align  = op.align;
   op_result = nullptr;
}

// The bytes of the heap that the operation changes, as one range, and the block it gave.
void learn_areas(const Op &op)
{
   op_areas.clear();
   std::size_t from = static_cast<std::size_t>(state()->least.get() - region), lo = REGION, hi = 0;
   for (std::size_t i = from; i < REGION; ++i)
      if (region[i] != snapshot[i])
      {
         lo = std::min(lo, i);
         hi = i + 1;
      }
   if (hi)
      op_areas.push_back({lo, hi});
   if (op_result)
      op_areas.push_back({offset_of(op_result), offset_of(op_result) + mspace_usable_size(op_result)});
   if (const Block *t = op.target ? heap.find(op.target) : nullptr)
      op_areas.push_back({t->offset, t->offset + t->size});
}

std::vector<Tally> tallies;
auto               started = std::chrono::steady_clock::now();

void run_scenario(const Scenario &sc, Tally &t)
{
   scenario_name = sc.name;
   current_k     = 0;
   Op op;
   if (!heap.create())
   {
      fail("mspace_create_with_base failed");
      return;
   }
   if (!sc.build(op))
   {
      ++failures;
      return;
   }
   std::memcpy(snapshot, region, REGION);   // attached, between calls: as a kill there leaves it
   void (*run)() = OPS[op.kind];

   // once without the trap: the lazy binding of memcpy and memset is done before counting
   set_params(op);
   run();
   std::memcpy(region, snapshot, REGION);

   set_params(op);
   if (!run_stepped(run, 0))
   {
      fail("the reference run stopped");
      return;
   }
   t.n = steps;
   bool path_ok = true;
   if (op.kind == MALLOC || op.kind == CALLOC || op.kind == MEMALIGN || op.kind == REALLOC)
      path_ok = need(op_result != nullptr, "the operation succeeds");
   if (path_ok && op.kind == REALLOC)
      path_ok = need((op_result != heap.ptr(op.target)) == op.moves, op.moves ? "the block moves" : "the block stays");
   if (path_ok && op.kind == MEMALIGN)
      path_ok = need(dl::is_aligned(op_result, op.align), "the block is aligned");
   if (!path_ok)
   {
      ++failures;
      return;
   }
   learn_areas(op);

   for (unsigned long k : kill_points(t.n))
   {
      current_k = k;
      std::memcpy(region, snapshot, REGION);
      set_params(op);
      if (run_stepped(run, k))
         fail("the operation ran to its end before step %lu of %lu", k, t.n);   // not deterministic
      ++t.tried;
      verify(op, t);
   }
}

void finish(int code)
{
   double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
   Tally  total;
   for (const Tally &t : tallies)
   {
      total.n += t.n;
      total.tried += t.tried;
      total.rebuilt += t.rebuilt;
      total.open += t.open;
      total.leaks += t.leaks;
      total.leak_max = std::max(total.leak_max, t.leak_max);
   }
   std::printf("%-56s %6lu %6lu %7lu %6lu %7lu %8zu\n", "total", total.n, total.tried, total.rebuilt, total.open, total.leaks,
               total.leak_max);
   std::printf("step_crash: %zu operations, %lu kill points, %u failure(s), %.1f s\n", tallies.size(), total.tried, failures, seconds);
   std::fflush(stdout);
   std::exit(code);
}

} // namespace

int main(int argc, char **argv)
{
   std::setvbuf(stdout, nullptr, _IOLBF, 0);
   if (argc > 1)
   {
      max_points = std::strtoul(argv[1], nullptr, 10);
      if (max_points < 200)
      {
         std::printf("usage: step_crash [kill points per operation, at least 200; 4000 by default]\n");
         return 2;
      }
   }
   struct sigaction sa;
   std::memset(&sa, 0, sizeof(sa));
   sa.sa_sigaction = on_trap;
   sa.sa_flags     = SA_SIGINFO;
   sigemptyset(&sa.sa_mask);
   if (sigaction(SIGTRAP, &sa, nullptr) != 0)
   {
      std::printf("step_crash: no SIGTRAP handler\n");
      return 1;
   }
   mspace_set_default_error_handler(on_error, nullptr);

   std::printf("%-56s %6s %6s %7s %6s %7s %8s\n", "operation", "N", "tried", "rebuilt", "open", "leaking", "leak max");
   for (const Scenario &sc : SCENARIOS)
   {
      tallies.emplace_back();
      Tally &t = tallies.back();
      run_scenario(sc, t);
      std::printf("%-56s %6lu %6lu %7lu %6lu %7lu %8zu\n", sc.name, t.n, t.tried, t.rebuilt, t.open, t.leaks, t.leak_max);
   }
   finish(failures ? 1 : 0);
}

#else

int main()
{
   std::printf("step_crash: skipped (%s)\n", STEP_CRASH_SKIP);
   return 0;
}

#endif
