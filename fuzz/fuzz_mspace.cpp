// libFuzzer target for mulle_dlmalloc: the input is a sequence of operations on three
// mspaces, checked against a shadow model, the statistics, mspace_inspect_all and
// mspace_check after every operation. Misuse (double free, foreign, stack, misaligned and
// interior pointers) goes through a recording handler that returns; each must be reported
// exactly once with the right error and have no effect.
//
//   fuzzer:  clang++ -std=c++17 -g -O1 -fsanitize=fuzzer,address,undefined
//                    -fno-sanitize-recover=undefined -I. fuzz/fuzz_mspace.cpp
//   replay:  g++ -std=c++17 -O1 -g -I. -DFUZZ_REPLAY_MAIN fuzz/fuzz_mspace.cpp
//            ./fuzz_replay [-v] FILE|DIR...   (no libFuzzer; one line per failure and
//            a closing "fuzz replay: N inputs, F failures")
//
// Input format (bytes past the end read as 0):
//   byte 0..2   configuration of mspace 0..2: bit 0 kind (0 mspace_create, 1
//               mspace_create_with_base), bits 1-3 capacity index, bits 4-7 base offset
//   byte 3      the junk byte a caller buffer is filled with before it becomes an mspace
//   then ops:   [opcode] [slot] [arguments...]; opcode % 32 selects the operation (see
//               `enum op` below), slot % 3 the mspace. Sizes are one selector byte and
//               0-3 more bytes (see read_size). opcode / 32 of 6 or 7 makes two of them
//               other operations: OP_RECREATE creates an MSPACE_LOCKED mspace, and
//               OP_VERIFY_ALL drives a locked one from two threads at once (do_threads).
//
// Knobs: -DFUZZ_LENIENT_DOUBLE_FREE accepts MSPACE_ERROR_INVALID_POINTER for a double free
// of a block whose memory was not handed out again (the contract says DOUBLE_FREE).
#define MULLE_DLMALLOC_IMPLEMENTATION
#include "mulle_dlmalloc.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iterator>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

// Under AddressSanitizer the library poisons every byte no block owns, and
// mspace_usable_size reports the bytes the user may touch (the requested size), which can
// be less than the chunk's usable size that mspace_inspect_all and the statistics count.
#if defined(__SANITIZE_ADDRESS__)
#  define FUZZ_ASAN 1
#elif defined(__has_feature)
#  if __has_feature(address_sanitizer)
#    define FUZZ_ASAN 1
#  endif
#endif
#ifdef FUZZ_ASAN
#  include <sanitizer/asan_interface.h>
#endif

namespace {

// ---- layout numbers of the contract (design.md), not the implementation's names ----------

const size_t W         = sizeof(size_t);
const size_t A         = MULLE_DLMALLOC_ALIGNMENT;
const size_t MIN_CHUNK = (4 * W + A - 1) & ~(A - 1);
#if MULLE_DLMALLOC_CHECKS >= 2
const size_t CANARY    = W;       // level 2 ends every block with a canary word
#else
const size_t CANARY    = 0;
#endif
const size_t OVERHEAD  = W + CANARY;
// Whether mspace_usable_size is the chunk's usable size (what the statistics and
// mspace_inspect_all count); under ASan it is the requested size, and level 2 has canaries.
#if defined(FUZZ_ASAN) || MULLE_DLMALLOC_CHECKS >= 2 || (defined(MULLE_DLMALLOC_VALGRIND) && MULLE_DLMALLOC_VALGRIND)
const bool EXACT_USABLE = false;
#else
const bool EXACT_USABLE = true;
#endif
const size_t MAX_BOOKKEEPING = 2304 + 4 * 88 + A;   // the state (bins, the fronts' lists and their remote frees), plus slack for a base offset
const size_t TINY_CAPACITY   = 2304 + 4 * 88;   // below this a creation may fail (the fronts' remote-free lines among it)
const size_t NSLOTS = 3;
const size_t STRIDE = 1024 * 1024 + 4096;    // caller buffers, back to back
const size_t MAX_OPS = 2000;

size_t request_to_size(size_t n)
{
   return n + OVERHEAD < MIN_CHUNK ? MIN_CHUNK : (n + OVERHEAD + A - 1) & ~(A - 1);
}

// The most a block of n bytes may take: its chunk plus a remainder too small to split off.
size_t max_usable(size_t n) { return request_to_size(n) + MIN_CHUNK - A - W; }

bool is_pow2(size_t v) { return v && !(v & (v - 1)); }

bool g_trace = false;
#define TRACE(...) do { if (g_trace) std::fprintf(stderr, __VA_ARGS__); } while (0)

size_t      g_op_index;
const char *g_op_name = "setup";

[[noreturn]] void fail(const char *what, int line)
{
   std::fprintf(stderr, "fuzz_mspace: FAILED at op %zu (%s), fuzz_mspace.cpp:%d: %s\n", g_op_index,
                g_op_name, line, what);
   std::abort();
}
#define CHECK(cond) do { if (!(cond)) fail(#cond, __LINE__); } while (0)

// ---- content patterns, written and verified on a sample of each block --------------------

// Byte i of a block with tag t is TABLE[(offset(t) + i) % PERIOD]: a pseudo-random table, so
// that a shifted or foreign copy never matches, and memcpy/memcmp instead of byte loops
// (which the fuzzer's comparison tracing would make slow).
const size_t PERIOD = 4096;
unsigned char g_table[2 * PERIOD];
unsigned char g_zeros[PERIOD];

void init_table()
{
   uint32_t x = 0x9E3779B9u;
   for (size_t i = 0; i < PERIOD; ++i)
   {
      x ^= x << 13;
      x ^= x >> 17;
      x ^= x << 5;
      g_table[i] = g_table[i + PERIOD] = static_cast<unsigned char>(x >> 24);
   }
}

inline size_t tag_offset(uint32_t tag) { return (tag * 2654435761u) % PERIOD; }

// Full for small lengths; for large ones both ends and a word every 8 KiB or so, at most
// 64 of them (touching every page of a fresh OS region would cost more than the checks).
template <class F>
void for_sampled(size_t len, F f)
{
   const size_t EDGE = 512;
   if (len <= 2048)
   {
      if (len)
         f(0, len);
      return;
   }
   f(0, EDGE);
   size_t step = len / 64 > 8 * 1024 ? (len / 64) | 8 : 8 * 1024 + 8;
   for (size_t o = 1024; o + 8 <= len - EDGE; o += step)
      f(o, 8);
   f(len - EDGE, EDGE);
}

void fill_range(void *p, uint32_t tag, size_t from, size_t len)
{
   unsigned char *b = static_cast<unsigned char *>(p);
   while (len)
   {
      size_t l = len < PERIOD ? len : PERIOD;
      std::memcpy(b + from, g_table + (tag_offset(tag) + from) % PERIOD, l);
      from += l;
      len -= l;
   }
}

bool range_ok(const void *p, uint32_t tag, size_t from, size_t len)
{
   const unsigned char *b = static_cast<const unsigned char *>(p);
   while (len)
   {
      size_t l = len < PERIOD ? len : PERIOD;
      if (std::memcmp(b + from, g_table + (tag_offset(tag) + from) % PERIOD, l) != 0)
         return false;
      from += l;
      len -= l;
   }
   return true;
}

void fill_block(void *p, uint32_t tag, size_t len)
{
   for_sampled(len, [&](size_t o, size_t l) { fill_range(p, tag, o, l); });
}

// Verifies the sampled bytes below `limit` of a block filled with length `len`.
bool verify_block(const void *p, uint32_t tag, size_t len, size_t limit)
{
   bool ok = true;
   for_sampled(len, [&](size_t o, size_t l) {
      if (o < limit && !range_ok(p, tag, o, (o + l < limit ? o + l : limit) - o))
      {
         if (ok)
            TRACE("   content of %p differs in [%zu, %zu)\n", p, o, o + l);
         ok = false;
      }
   });
   return ok;
}

bool zeroed(const void *p, size_t n)
{
   const unsigned char *b = static_cast<const unsigned char *>(p);
   bool ok = true;
   for_sampled(n, [&](size_t o, size_t l) {
      for (; l; )
      {
         size_t k = l < PERIOD ? l : PERIOD;
         if (std::memcmp(b + o, g_zeros, k) != 0)
            ok = false;
         o += k;
         l -= k;
      }
   });
   return ok;
}

// ---- the shadow model -------------------------------------------------------------------

struct Block
{
   size_t   n;        // requested
   size_t   usable;   // mspace_usable_size at allocation; the pattern covers all of it
   size_t   chunk;    // the chunk's usable size if known (not under ASan), else 0
   uint32_t tag;
   size_t   align;
   size_t   slot;     // a slot of the small-object tier: its size (no head, its page's)
};

// The slot size of block p when it is a slot of a page of the tier, else 0: the library's
// own look at the words of the state and the page, out of the memory checkers' sight.
MULLE_DLMALLOC_NOASAN size_t slot_size_of(mspace ms, const void *p)
{
   using namespace mulle::detail;
   MULLE_DLMALLOC_QUIET_BEGIN();
   mulle::detail::page *pg = page_of(static_cast<mstate *>(ms), p);
   size_t size = pg ? pg->size : 0;
#if MULLE_DLMALLOC_VALGRIND   /* decided by the frame's first words, maybe never written */
   VALGRIND_MAKE_MEM_DEFINED(&size, sizeof size);
#endif
   MULLE_DLMALLOC_QUIET_END();
   return size;
}

struct Freed
{
   void    *p;
   uint64_t shrink_epoch;   // the footprint has not shrunk since: the header is in place
   bool     slot;           // a slot of the tier: its page may have gone back to the core
};

struct Slot
{
   size_t         index = 0;
   mspace         ms    = nullptr;
   bool           os    = false;
   bool           locked = false;      // MSPACE_LOCKED: its fronts' slots go up to FRONT_MAX
   size_t         cap   = 0;
   unsigned char *base  = nullptr;
   std::map<uintptr_t, Block> live;
   std::vector<void *>        list;    // the live blocks, for picking one by index
   std::vector<Freed>         freed;   // freed since the last allocation: double-free candidates
   uint64_t       shrink_epoch = 0;
   mspace_stats_t st {};               // as of the end of the last op
   size_t         max_request = 0;
};

struct Report
{
   size_t         slot;
   mspace         ms;
   mspace_error_t error;
   void          *p;
};

alignas(64) unsigned char g_buffers[NSLOTS * STRIDE + 64];
Slot               g_slots[NSLOTS];
std::vector<Report> g_reports;
std::mutex         g_reports_lock;   // the handler may run on either thread of do_threads
uint32_t           g_next_tag;

void on_error(mspace ms, mspace_error_t error, void *p, void *ctx)
{
   Slot *s = static_cast<Slot *>(ctx);
   TRACE("   -> handler: %s at %p in ms%zu\n", mspace_error_string(error), p, s->index);
   std::lock_guard<std::mutex> hold(g_reports_lock);
   g_reports.push_back(Report {s->index, ms, error, p});
}

// The largest slot of s's small-object tier: a locked mspace's fronts serve larger ones.
size_t slot_max(const Slot &s) { return s.locked ? mulle::detail::FRONT_MAX : mulle::detail::TIER_MAX; }

void expect_no_report() { CHECK(g_reports.empty()); }

const unsigned BIT_INVALID = 1u << MSPACE_ERROR_INVALID_POINTER;
const unsigned BIT_DOUBLE  = 1u << MSPACE_ERROR_DOUBLE_FREE;

void expect_report(const Slot &s, const void *p, unsigned allowed, bool optional = false)
{
   if (optional && g_reports.empty())
      return;
   CHECK(g_reports.size() == 1);
   const Report &r = g_reports[0];
   CHECK(r.slot == s.index);
   CHECK(r.ms == s.ms);
   CHECK(r.p == p);
   CHECK(((1u << r.error) & allowed) != 0);
   g_reports.clear();
}

mspace_stats_t stats_of(mspace ms)
{
   mspace_stats_t st;
   std::memset(&st, 0x77, sizeof st);
   mspace_get_stats(ms, &st);
   return st;
}

// Every field but purged_bytes, which is the OS's view: a read of a purged page (the
// checks of a misuse read the words around a pointer) maps the zero page, which counts
// as resident.
bool same_stats(const mspace_stats_t &a, const mspace_stats_t &b)
{
   mspace_stats_t x = a, y = b;
   x.purged_bytes = y.purged_bytes = 0;
   return std::memcmp(&x, &y, sizeof x) == 0;
}

void allocation_happened(Slot &s) { s.freed.clear(); }   // freed memory may be handed out again

void verify_live(const Slot &s, void *p)
{
   const Block &b = s.live.at(reinterpret_cast<uintptr_t>(p));
   CHECK(verify_block(p, b.tag, b.usable, b.usable));
}

void verify_all(const Slot &s)
{
   for (const auto &kv : s.live)
   {
      void *p = reinterpret_cast<void *>(kv.first);
      CHECK(verify_block(p, kv.second.tag, kv.second.usable, kv.second.usable));
   }
}

// A fresh block from s: placement, alignment, size, no overlap; fills it, adds it.
void add_block(Slot &s, void *p, size_t n, size_t align, bool must_be_zero, uint32_t tag)
{
   CHECK(p != nullptr);
   CHECK(reinterpret_cast<uintptr_t>(p) % (align > A ? align : A) == 0);
   size_t usable = mspace_usable_size(p);
   CHECK(usable >= n);
   const size_t slot = slot_size_of(s.ms, p);
   CHECK(usable <= (slot ? slot_max(s) : max_usable(n)));   // a slot, or the waste of one split
   unsigned char *b = static_cast<unsigned char *>(p);
   CHECK(mspace_is_heap_object(s.ms, b));
   if (usable)
      CHECK(mspace_is_heap_object(s.ms, b + usable - 1));
#ifdef FUZZ_ASAN
   // the user's bytes are open (both ends: the check is linear in the length)
   CHECK(__asan_region_is_poisoned(b, usable < 4096 ? usable : 4096) == nullptr);
   if (usable > 4096)
      CHECK(__asan_region_is_poisoned(b + usable - 4096, 4096) == nullptr);
   if (!slot || usable < slot)   // nothing behind them (a full slot ends where the next starts)
      CHECK(__asan_address_is_poisoned(b + usable));
   if (!slot)
      CHECK(__asan_address_is_poisoned(b - 1));              // nor the header (a slot has none)
#endif
   const size_t chunk = EXACT_USABLE ? usable : 0;
   for (size_t i = 0; i < NSLOTS; ++i)
      if (i != s.index && g_slots[i].ms)
         CHECK(!mspace_is_heap_object(g_slots[i].ms, b));

   uintptr_t a  = reinterpret_cast<uintptr_t>(p);
   auto      hi = s.live.lower_bound(a);
   CHECK(hi == s.live.end() || hi->first != a);
   if (hi != s.live.end())   // our usable bytes end before its head (a slot has none)
      CHECK(a + usable + (hi->second.slot ? 0 : W) <= hi->first);
   if (hi != s.live.begin())
   {
      auto lo = std::prev(hi);
      CHECK(lo->first + lo->second.usable + (slot ? 0 : W) <= a);
   }
   if (must_be_zero)
      CHECK(zeroed(p, n));
   fill_block(p, tag, usable);
   s.live[a] = Block {n, usable, chunk, tag, align, slot};
   s.list.push_back(p);
}

void remove_block(Slot &s, void *p)
{
   s.live.erase(reinterpret_cast<uintptr_t>(p));
   for (size_t i = 0; i < s.list.size(); ++i)
      if (s.list[i] == p)
      {
         s.list[i] = s.list.back();
         s.list.pop_back();
         return;
      }
   fail("block not in the shadow list", __LINE__);
}

// ---- reading the input -------------------------------------------------------------------

struct Reader
{
   const uint8_t *data;
   size_t         size;
   size_t         pos;

   bool     done() const { return pos >= size; }
   uint8_t  u8() { return pos < size ? data[pos++] : 0; }
   uint16_t u16() { uint16_t v = u8(); return static_cast<uint16_t>(v | (u8() << 8)); }
   uint32_t u24() { uint32_t v = u16(); return v | (static_cast<uint32_t>(u8()) << 16); }
};

// Sizes from 0 to beyond the capacity, with the edges of what fits now.
size_t read_size(Reader &r, const Slot &s)
{
   uint8_t sel = r.u8();
   switch (sel & 7)
   {
   case 0: return sel >> 3;                                        // 0..31
   case 1: return r.u8();                                          // 0..255
   case 2: return r.u16() & 0xFFF;                                 // 0..4095
   case 3: return r.u16();                                         // 0..65535
   case 4: return r.u24() % (s.cap + 4096);                        // anything up to the capacity
   case 5:                                                         // around what fits now
   {
      long d  = static_cast<int8_t>(r.u8());
      long lf = static_cast<long>(s.st.largest_free);
      return static_cast<size_t>(lf + d < 0 ? 0 : lf + d);
   }
   case 6: return SIZE_MAX - r.u8();                               // overflowing sizes
   default:                                                        // around the largest ever
   {
      long d  = static_cast<int8_t>(r.u8());
      long mr = static_cast<long>(s.max_request);
      return static_cast<size_t>(mr + d < 0 ? 0 : mr + d);
   }
   }
}

void *pick_live(Reader &r, const Slot &s)
{
   uint16_t k = r.u16();
   return s.list.empty() ? nullptr : s.list[k % s.list.size()];
}

// ---- creation ----------------------------------------------------------------------------

const size_t CAPACITIES[8] = {64 * 1024, 96 * 1024 + 40, 128 * 1024, 256 * 1024,
                              1024 * 1024, 200003, 16 * 1024, 0 /* see below */};
const size_t BIG_OS = 40 * 1024 * 1024;   // index 5, offset >= 8, OS region: chunks in the last tree bin

void check_fresh(Slot &s)
{
   CHECK(mspace_check(s.ms) == 0);
   mspace_stats_t st = stats_of(s.ms);
   s.max_request     = mspace_max_request(s.ms);
   CHECK(st.allocated_blocks == 0 && st.in_use_bytes == 0 && st.free_blocks == 0);
   CHECK(st.largest_free == s.max_request);
   CHECK(st.bookkeeping < MAX_BOOKKEEPING + st.capacity / 4096 / 8 + W);   // and the tier's page map
   CHECK(st.footprint <= st.capacity && st.footprint == st.max_footprint);
   // "capacity minus bookkeeping, one minimum chunk and one word" (and a canary at level 2)
   CHECK(s.max_request + st.bookkeeping + MIN_CHUNK + W <= st.capacity);
   CHECK(s.max_request + st.bookkeeping + MIN_CHUNK + OVERHEAD + 2 * A > st.capacity);
   if (s.os)
      CHECK(st.capacity >= s.cap);
   else
      CHECK(st.capacity == s.cap);
   s.st = st;
}

// Creates slot i; `tiny` asks for an explicit capacity that may be refused; `locked` makes
// it an MSPACE_LOCKED mspace.
void create_slot(Slot &s, uint8_t cfg, uint8_t junk, size_t tiny, bool locked = false)
{
   s.live.clear();
   s.list.clear();
   s.freed.clear();
   s.os   = !(cfg & 1);
   size_t ci = (cfg >> 1) & 7;
   size_t off = cfg >> 4;
   s.cap  = tiny ? tiny : CAPACITIES[ci];
   if (!tiny && ci == 7)
      s.cap = s.os ? 3 * 1024 * 1024 : STRIDE - off;   // OS: past the trim threshold; base: to the next buffer
   if (!tiny && ci == 5 && s.os && (off & 8))
      s.cap = BIG_OS;
   if (s.os)
   {
      s.base = nullptr;
      s.ms   = mspace_create_flags(s.cap, locked ? MSPACE_LOCKED : 0u);
      TRACE("ms%zu = mspace_create_flags(%zu, %s) = %p\n", s.index, s.cap, locked ? "MSPACE_LOCKED" : "0", s.ms);
   }
   else
   {
      s.base = g_buffers + s.index * STRIDE + off;
      std::memset(s.base, junk, s.cap);
      s.ms = mspace_create_with_base_flags(s.base, s.cap, locked ? MSPACE_LOCKED : 0u);
      TRACE("ms%zu = mspace_create_with_base_flags(buffer%zu + %zu, %zu, %s) = %p\n", s.index, s.index, off, s.cap,
            locked ? "MSPACE_LOCKED" : "0", s.ms);
   }
   if (!s.ms)
   {
      CHECK(s.cap < TINY_CAPACITY);
      create_slot(s, 1, junk, 0);   // a usable mspace all the same: 64 KiB in a buffer
      return;
   }
   s.locked = locked;
   mspace_set_error_handler(s.ms, on_error, &s);
   check_fresh(s);
}

// A heap in a caller's buffer, in whatever state the operations left it, is detached and
// attached again: it must be accepted, as the same handle, with every block in place.
void reattach(Slot &s)
{
   if (s.os || !s.ms)
      return;
   TRACE("mspace_detach(ms%zu), mspace_attach(buffer)\n", s.index);
   CHECK(mspace_detach(s.ms) == 0);
   CHECK(mspace_attach_error(s.base, s.cap) == MSPACE_ERROR_NONE);
   CHECK(mspace_attach(s.base, s.cap) == s.ms);
   mspace_set_error_handler(s.ms, on_error, &s);   // an attach forgets the handler
   verify_all(s);
   // Under ASan a block's usable size is the size asked for, which the heap does not keep:
   // an attached block lets the user touch its whole chunk. The model learns the new size
   // and the block is filled again (the sampled pattern depends on the length).
   for (auto &kv : s.live)
   {
      void  *p = reinterpret_cast<void *>(kv.first);
      size_t u = mspace_usable_size(p);
      CHECK(u >= kv.second.usable);
      if (u > kv.second.usable)
      {
         fill_block(p, kv.second.tag, u);
         kv.second.usable = u;
      }
   }
}

void destroy_slot(Slot &s)
{
   if (!s.ms)
      return;
   TRACE("mspace_destroy(ms%zu)\n", s.index);
   CHECK(mspace_destroy(s.ms) == 0);
   if (!s.os)
   {
      // a dead handle in a caller buffer that still exists: every call refuses it
      CHECK(mspace_destroy(s.ms) != 0);
      CHECK(mspace_check(s.ms) != 0);
      CHECK(mspace_malloc(s.ms, 16) == nullptr);
      CHECK(mspace_footprint(s.ms) == 0);
      CHECK(mspace_max_request(s.ms) == 0);
      CHECK(!mspace_is_heap_object(s.ms, s.base + 100));
   }
   s.ms = nullptr;
   s.live.clear();
   s.list.clear();
   s.freed.clear();
}

// ---- invariants after every operation -----------------------------------------------------

// what inspect_all reports, checked against the shadow
struct Seen
{
   const Slot *s;
   uintptr_t   last_start;
   size_t      calls, in_use;
   bool        ok;
};

void inspect_cb(void *start, void *end, size_t used, void *arg)
{
   Seen     *seen = static_cast<Seen *>(arg);
   uintptr_t a    = reinterpret_cast<uintptr_t>(start);
   if (seen->calls && a <= seen->last_start)
      seen->ok = false;                                    // address order
   if (reinterpret_cast<uintptr_t>(end) < a)
      seen->ok = false;
   seen->last_start = a;
   seen->calls++;
   if (used)
   {
      seen->in_use++;
      auto it = seen->s->live.find(a);
      if (it == seen->s->live.end() || used < it->second.usable ||
          (it->second.slot ? used != it->second.slot
           : it->second.chunk ? used != it->second.chunk
                              : used > max_usable(it->second.n)) ||
          reinterpret_cast<uintptr_t>(end) != a + used)
      {
         TRACE("   inspect: in-use %p used %zu not in the shadow\n", start, used);
         seen->ok = false;
      }
   }
   else if (seen->s->live.count(a))
   {
      TRACE("   inspect: live %p reported free\n", start);
      seen->ok = false;
   }
}

void check_inspect(const Slot &s)
{
   Seen seen {&s, 0, 0, 0, true};
   mspace_inspect_all(s.ms, inspect_cb, &seen);
   CHECK(seen.ok);
   CHECK(seen.in_use == s.live.size());   // every live block once, and nothing else in use
   CHECK(seen.calls >= 1);                // the top comes last
}

void check_slot(Slot &s)
{
   if (!s.ms)
      return;
   CHECK(mspace_check(s.ms) == 0);
   mspace_stats_t st = stats_of(s.ms);
   size_t in_use = 0, least = 0;   // exact, or bounds when the chunk sizes are not known
   std::set<uintptr_t> pages;      // a page of slots is in use but for its free slots
   for (const auto &kv : s.live)
   {
      if (kv.second.slot)
      {
         in_use += kv.second.slot;
         least  += kv.second.slot;
         pages.insert(kv.first & ~uintptr_t(mulle::detail::PAGE_BYTES - 1));
         continue;
      }
      in_use += kv.second.chunk ? kv.second.chunk + W : max_usable(kv.second.n) + W;
      least  += kv.second.chunk ? kv.second.chunk + W : request_to_size(kv.second.n);
   }
   in_use += pages.size() * (mulle::detail::PAGE_HEADER + slot_max(s) + MIN_CHUNK);   // header, tail
   CHECK(st.in_use_bytes + st.free_bytes + st.bookkeeping == st.footprint);
   CHECK(st.allocated_blocks == s.live.size());
   CHECK(st.in_use_bytes >= least && st.in_use_bytes <= in_use);
   CHECK(st.capacity == s.st.capacity && st.bookkeeping == s.st.bookkeeping);
   CHECK(st.footprint <= st.capacity);
   CHECK(st.max_footprint >= st.footprint && st.max_footprint <= st.capacity);
   CHECK(st.max_footprint >= s.st.max_footprint);
   CHECK(st.top_bytes <= st.free_bytes && st.top_bytes >= MIN_CHUNK);
   CHECK(st.largest_free <= s.max_request);
   CHECK(mspace_footprint(s.ms) == st.footprint);
   CHECK(mspace_max_footprint(s.ms) == st.max_footprint);
   CHECK(mspace_max_request(s.ms) == s.max_request);
   if (st.footprint < s.st.footprint)
      s.shrink_epoch++;   // a trim: a freed block's header may now lie past the footprint
   s.st = st;
}

void check_all()
{
   expect_no_report();
   for (Slot &s : g_slots)
      check_slot(s);
}

// After an op: the mspaces it used (the others are checked at the end of the input, so a
// write into a foreign mspace is still caught).
bool g_touched[NSLOTS];

void check_touched()
{
   expect_no_report();
   for (size_t i = 0; i < NSLOTS; ++i)
      if (g_touched[i])
         check_slot(g_slots[i]);
}

// ---- operations --------------------------------------------------------------------------

enum op
{
   OP_MALLOC = 0,       // 0..5
   OP_CALLOC = 6,
   OP_REALLOC = 7,      // 7..8
   OP_REALLOC_IN_PLACE = 9,
   OP_MEMALIGN = 10,    // 10..11
   OP_FREE = 12,        // 12..16
   OP_RESET = 17,
   OP_TRIM = 18,
   OP_STATS = 19,
   OP_INSPECT = 20,
   OP_USABLE = 21,
   OP_DOUBLE_FREE = 22,
   OP_FOREIGN = 23,
   OP_STACK = 24,
   OP_MISALIGNED = 25,
   OP_INTERIOR = 26,
   OP_NULL_HANDLE = 27,
   OP_RECREATE = 28,
   OP_TINY_CREATE = 29,
   OP_VERIFY_ALL = 30,
   OP_FREE_MANY = 31,
};

// A NULL result is only fine when the request does not fit (stats were taken before).
void check_null_allowed(const Slot &s, size_t n)
{
   // largest_free is 0 when nothing fits, not even malloc(0)
   if (n <= s.st.largest_free)
      TRACE("   NULL for %zu, but largest_free is %zu\n", n, s.st.largest_free);
   CHECK(n > s.st.largest_free || s.st.largest_free == 0);
}

void do_malloc(Reader &r, Slot &s)
{
   size_t n = read_size(r, s);
   void  *p = mspace_malloc(s.ms, n);
   TRACE("p%u = mspace_malloc(ms%zu, %zu) = %p\n", g_next_tag, s.index, n, p);
   expect_no_report();
   if (!p)
      return check_null_allowed(s, n);
   CHECK(n <= s.st.largest_free);   // largest_free is the largest that succeeds
   allocation_happened(s);
   add_block(s, p, n, A, false, g_next_tag++);
}

void do_calloc(Reader &r, Slot &s)
{
   uint8_t sel = r.u8();
   size_t  count, size;
   if (sel & 1)   // overflowing products
   {
      count = (SIZE_MAX >> (sel >> 5)) / 3 + r.u8();
      size  = 3 + (sel >> 1 & 15);
   }
   else
   {
      count = (sel >> 1) & 63;
      size  = read_size(r, s);
   }
   bool   overflow = size && count > SIZE_MAX / size;
   void  *p        = mspace_calloc(s.ms, count, size);
   TRACE("p%u = mspace_calloc(ms%zu, %zu, %zu) = %p\n", g_next_tag, s.index, count, size, p);
   expect_no_report();
   if (overflow)
   {
      CHECK(p == nullptr);
      return;
   }
   if (!p)
      return check_null_allowed(s, count * size);
   CHECK(count * size <= s.st.largest_free);
   allocation_happened(s);
   add_block(s, p, count * size, A, true, g_next_tag++);
}

void do_realloc(Reader &r, Slot &s, bool in_place)
{
   uint8_t sel = r.u8();
   void   *p   = (sel & 7) == 0 ? nullptr : pick_live(r, s);
   size_t  n   = read_size(r, s);
   if (!p && in_place)
   {
      CHECK(mspace_realloc_in_place(s.ms, nullptr, n) == nullptr);
      expect_no_report();
      return;
   }
   Block old {};
   if (p)
   {
      verify_live(s, p);
      old = s.live.at(reinterpret_cast<uintptr_t>(p));
   }
   void *q = in_place ? mspace_realloc_in_place(s.ms, p, n) : mspace_realloc(s.ms, p, n);
   TRACE("%s(ms%zu, %s%u=%p, %zu) = %p\n", in_place ? "mspace_realloc_in_place" : "mspace_realloc", s.index,
         p ? "p" : "NULL", p ? old.tag : 0, p, n, q);
   expect_no_report();
   if (!q)
   {
      if (in_place)   // a shrink always works, as does a growth within a slot
         CHECK(n > s.cap || (old.slot ? n > old.slot
                             : old.chunk ? request_to_size(n) > old.chunk + OVERHEAD
                                         : request_to_size(n) > request_to_size(old.n)));
      else
         check_null_allowed(s, n);
      if (p)
      {
         CHECK(mspace_usable_size(p) == old.usable);
         verify_live(s, p);
      }
      return;
   }
   if (in_place)
      CHECK(q == p);
   if (!p)
   {
      CHECK(n <= s.st.largest_free);
      allocation_happened(s);
      add_block(s, q, n, A, false, g_next_tag++);
      return;
   }
   size_t keep = old.usable < n ? old.usable : n;
   CHECK(verify_block(q, old.tag, old.usable, keep));   // the contents moved along
   remove_block(s, p);
   allocation_happened(s);   // growing in place takes free memory too
   if (q != p)   // freed after the new block was taken
      s.freed.push_back(Freed {p, s.shrink_epoch, old.slot != 0});
   add_block(s, q, n, q == p ? old.align : A, false, old.tag);
}

void do_memalign(Reader &r, Slot &s)
{
   static const size_t odd[12] = {0, 3, 12, 24, 48, 96, 100, 4095, 4097, 3 * 4096, SIZE_MAX, SIZE_MAX / 2 + 1 + 64};
   uint8_t sel   = r.u8();
   size_t  align = sel & 0x80 ? odd[(sel & 0x7F) % 12] : static_cast<size_t>(1) << ((sel & 0x7F) % 23);
   size_t  n     = read_size(r, s);
   void   *p     = mspace_memalign(s.ms, align, n);
   TRACE("p%u = mspace_memalign(ms%zu, %zu, %zu) = %p\n", g_next_tag, s.index, align, n, p);
   expect_no_report();
   if (!is_pow2(align))
   {
      CHECK(p == nullptr);   // "alignment a power of two; NULL otherwise"
      return;
   }
   if (!p)
   {
      if (align <= A)
         return check_null_allowed(s, n);
      // it may need a request of the block plus the alignment plus a minimum chunk, of the
      // core: a largest_free of a slot's size may be a free slot of the tier
      CHECK(n > s.cap || align > s.cap || request_to_size(n) + align + MIN_CHUNK > s.st.largest_free ||
            (mulle::detail::TIER && s.st.largest_free <= slot_max(s)));
      return;
   }
   allocation_happened(s);
   add_block(s, p, n, align, false, g_next_tag++);
}

void free_block(Slot &s, void *p)
{
   verify_live(s, p);
   TRACE("mspace_free(ms%zu, p%u=%p)\n", s.index, s.live.at(reinterpret_cast<uintptr_t>(p)).tag, p);
   const bool slot = s.live.at(reinterpret_cast<uintptr_t>(p)).slot != 0;
   mspace_free(s.ms, p);
   expect_no_report();
   remove_block(s, p);
   s.freed.push_back(Freed {p, s.shrink_epoch, slot});
#ifdef FUZZ_ASAN
   CHECK(__asan_address_is_poisoned(p));   // a use after free would be reported
#endif
}

void do_free(Reader &r, Slot &s)
{
   void *p = pick_live(r, s);
   if (!p)
   {
      mspace_free(s.ms, nullptr);   // does nothing
      expect_no_report();
      return;
   }
   free_block(s, p);
}

void do_free_many(Reader &r, Slot &s)
{
   uint8_t sel  = r.u8();
   size_t  step = 1 + (sel & 3);
   std::vector<void *> order;
   for (const auto &kv : s.live)
      order.push_back(reinterpret_cast<void *>(kv.first));
   if (sel & 4)
      for (size_t i = 0; i < order.size() / 2; ++i)
         std::swap(order[i], order[order.size() - 1 - i]);
   size_t first = (sel >> 3) % step;
   for (size_t i = first; i < order.size(); i += step)
   {
      free_block(s, order[i]);
      CHECK(mspace_check(s.ms) == 0);
   }
}

void do_reset(Slot &s)
{
   TRACE("mspace_reset(ms%zu)\n", s.index);
   mspace_reset(s.ms);
   expect_no_report();
   s.live.clear();
   s.list.clear();
   s.freed.clear();   // their headers may lie anywhere now
   mspace_stats_t st = stats_of(s.ms);
   CHECK(st.allocated_blocks == 0 && st.free_blocks == 0 && st.in_use_bytes == 0);
   CHECK(st.largest_free == s.max_request);   // as new
}

void do_trim(Reader &r, Slot &s)
{
   uint8_t sel = r.u8();
   size_t  pad;
   switch (sel & 3)
   {
   case 0:  pad = 0; break;
   case 1:  pad = r.u16(); break;
   case 2:  pad = r.u24(); break;
   default:
      pad = sel & 4 ? SIZE_MAX - r.u8()
                    : static_cast<size_t>(static_cast<long>(s.st.top_bytes) + static_cast<int8_t>(r.u8()));
      break;
   }
   size_t before = mspace_footprint(s.ms);
   int    ret    = mspace_trim(s.ms, pad);
   TRACE("mspace_trim(ms%zu, %zu) = %d\n", s.index, pad, ret);
   expect_no_report();
   mspace_stats_t st = stats_of(s.ms);
   CHECK(ret == 0 || ret == 1);
   if (s.os)
      s.shrink_epoch++;   // the pages inside free chunks went back: a freed block's header may read zero
   if (ret)
   {
      CHECK(st.footprint < before);
      CHECK(st.top_bytes >= pad);   // beyond pad bytes only
      s.shrink_epoch++;
   }
   else
      CHECK(st.footprint == before);
   verify_all(s);
}

void do_stats(Slot &s)
{
   mspace_stats_t st = stats_of(s.ms);
   TRACE("mspace_get_stats(ms%zu): footprint %zu in_use %zu free %zu largest_free %zu\n", s.index,
         st.footprint, st.in_use_bytes, st.free_bytes, st.largest_free);
   CHECK(same_stats(st, s.st));   // nothing happened since the last look
   // largest_free is honest: it succeeds, and one byte more does not
   if (st.largest_free)
   {
      void *p = mspace_malloc(s.ms, st.largest_free);
      TRACE("   probe mspace_malloc(ms%zu, %zu) = %p\n", s.index, st.largest_free, p);
      CHECK(p != nullptr);
      allocation_happened(s);
      CHECK(mspace_usable_size(p) >= st.largest_free);
      void *q = mspace_malloc(s.ms, st.largest_free + 1);
      CHECK(q == nullptr);
      mspace_free(s.ms, p);
      expect_no_report();
   }
   mspace_stats_t after = stats_of(s.ms);
   CHECK(after.largest_free >= st.largest_free);
   void *q = mspace_malloc(s.ms, after.largest_free + 1);
   CHECK(q == nullptr);
   expect_no_report();
}

void do_usable(Reader &r, Slot &s)
{
   void *p = pick_live(r, s);
   unsigned char on_stack[64];
   std::memset(on_stack, 1, sizeof on_stack);
   CHECK(mspace_usable_size(nullptr) == 0);
   CHECK(!mspace_is_heap_object(s.ms, nullptr));
   CHECK(!mspace_is_heap_object(s.ms, on_stack + 32));
   unsigned char *region = static_cast<unsigned char *>(s.ms);   // the handle lies in the region
   CHECK(mspace_is_heap_object(s.ms, region));
   if (!s.os)
   {
      CHECK(mspace_is_heap_object(s.ms, s.base));
      CHECK(mspace_is_heap_object(s.ms, s.base + s.cap - 1));
      CHECK(!mspace_is_heap_object(s.ms, s.base + s.cap));
      CHECK(!mspace_is_heap_object(s.ms, s.base - 1));
   }
   if (!p)
      return;
   const Block &b = s.live.at(reinterpret_cast<uintptr_t>(p));
   CHECK(mspace_usable_size(p) == b.usable);
   CHECK(b.usable >= b.n);
   CHECK(mspace_is_heap_object(s.ms, p));
   for (const Slot &t : g_slots)
      if (&t != &s && t.ms)
         CHECK(!mspace_is_heap_object(t.ms, p));
   verify_live(s, p);
}

// A call that must be refused with one report and no effect: free, realloc or
// realloc_in_place of `p` on slot s.
void bad_call(Reader &r, Slot &s, void *p, unsigned allowed, const char *what, bool verify = true)
{
   uint8_t variant = r.u8() % 4;
   size_t  n       = read_size(r, s);
   mspace_stats_t before = stats_of(s.ms);
#ifndef FUZZ_ASAN
   if (g_trace && mspace_is_heap_object(s.ms, p) && reinterpret_cast<uintptr_t>(p) % W == 0)
   {
      size_t head;   // what a validator reads: the would-be head word before p
      std::memcpy(&head, static_cast<unsigned char *>(p) - W, W);
      TRACE("   (the word before %p holds 0x%zx)\n", p, head);
   }
#endif
   switch (variant)
   {
   case 0:
   case 1:
      TRACE("mspace_free(ms%zu, %p)   [%s]\n", s.index, p, what);
      mspace_free(s.ms, p);
      expect_report(s, p, allowed);
      break;
   case 2:
   {
      void *q = mspace_realloc(s.ms, p, n);
      TRACE("mspace_realloc(ms%zu, %p, %zu) = %p   [%s]\n", s.index, p, n, q, what);
      CHECK(q == nullptr);
      expect_report(s, p, allowed);
      break;
   }
   default:
   {
      void *q = mspace_realloc_in_place(s.ms, p, n);
      TRACE("mspace_realloc_in_place(ms%zu, %p, %zu) = %p   [%s]\n", s.index, p, n, q, what);
      CHECK(q == nullptr);
      expect_report(s, p, allowed, true);
      break;
   }
   }
   CHECK(same_stats(before, stats_of(s.ms)));   // no effect
   CHECK(mspace_check(s.ms) == 0);
   if (verify)
      verify_all(s);
}

// The word before p, where a chunk block's head was, read without the checkers' notice
// (freed memory is poisoned, and no access to memcheck): 0 where a purge gave its page
// back.
#if defined(__clang__) || defined(__GNUC__)
__attribute__((no_sanitize("address")))
#endif
size_t word_before(const void *p)
{
   const volatile size_t *w = static_cast<const volatile size_t *>(p) - 1;
#if defined(MULLE_DLMALLOC_VALGRIND) && MULLE_DLMALLOC_VALGRIND
   VALGRIND_DISABLE_ERROR_REPORTING;
   size_t word = *w;
   VALGRIND_ENABLE_ERROR_REPORTING;
   return word;
#else
   return *w;
#endif
}

void do_double_free(Reader &r, Slot &s)
{
   uint16_t k = r.u16();
   if (s.freed.empty())
      return;
   Freed f = s.freed[k % s.freed.size()];
   unsigned allowed = BIT_DOUBLE;
#ifdef FUZZ_LENIENT_DOUBLE_FREE
   allowed |= BIT_INVALID;
#endif
   if (f.shrink_epoch != s.shrink_epoch)
      allowed |= BIT_INVALID;   // trimmed: the header may lie past the footprint now
   if (f.slot)
      allowed |= BIT_INVALID;   // its page went back to the core, where a block may cover it
   else if (word_before(f.p) == 0)
      allowed |= BIT_INVALID;   // purged: its head reads zero, no trace of a freed block
   bad_call(r, s, f.p, allowed, "double free");
}

void do_foreign(Reader &r, Slot &s)
{
   uint8_t sel = r.u8();
   Slot   &t   = g_slots[(s.index + 1 + (sel & 1)) % NSLOTS];
   void   *p   = pick_live(r, t);
   if (!p || !t.ms)
      return;
   mspace_stats_t theirs = stats_of(t.ms);
   g_touched[t.index]    = true;
   bad_call(r, s, p, BIT_INVALID, "foreign");
   CHECK(same_stats(theirs, stats_of(t.ms)));
   verify_live(t, p);
}

void do_stack(Reader &r, Slot &s)
{
   alignas(64) unsigned char on_stack[512];
   std::memset(on_stack, r.u8(), sizeof on_stack);   // whatever it holds, it is not a block
   uint8_t k = r.u8();
   bad_call(r, s, on_stack + 64 + A * (k % 16), BIT_INVALID, "stack");
}

void do_misaligned(Reader &r, Slot &s)
{
   static const size_t offsets[8] = {1, 8, 2, 4, 15, 24, 40, 7};
   uint8_t sel = r.u8();
   void   *p   = pick_live(r, s);
   if (!p)
      return;
   size_t off = offsets[sel % 8];
   if (off % A == 0)
      return;
   bad_call(r, s, static_cast<unsigned char *>(p) + off, BIT_INVALID, "misaligned");
}

// p + 16k inside a block whose would-be header we make implausible (0xAB: a huge size).
void do_interior(Reader &r, Slot &s)
{
   uint8_t sel = r.u8();
   void   *p   = pick_live(r, s);
   if (!p)
      return;
   const Block &b = s.live.at(reinterpret_cast<uintptr_t>(p));
   size_t slots = b.usable / A;
   if (b.slot && slots)
      slots--;   // a slot's end is the next slot's start
   if (!slots)
      return;
   size_t k = 1 + sel % (slots < 4 ? slots : 4);
   unsigned char *bytes = static_cast<unsigned char *>(p);
   std::memset(bytes + A * k - A, 0xAB, A);
   bad_call(r, s, bytes + A * k, BIT_INVALID, "interior", false);
   for (size_t i = A * k - A; i < A * k; ++i)
      CHECK(bytes[i] == 0xAB);               // untouched
   fill_range(p, b.tag, A * k - A, A);   // back to the pattern
   verify_all(s);
}

void do_null_handle(Reader &r, Slot &s)
{
   (void) r;
   CHECK(mspace_malloc(nullptr, 16) == nullptr);
   CHECK(mspace_calloc(nullptr, 1, 16) == nullptr);
   CHECK(mspace_memalign(nullptr, 64, 16) == nullptr);
   CHECK(mspace_realloc(nullptr, nullptr, 16) == nullptr);
   CHECK(mspace_check(nullptr) != 0);
   CHECK(mspace_destroy(nullptr) != 0);
   CHECK(mspace_footprint(nullptr) == 0);
   CHECK(mspace_max_request(nullptr) == 0);
   CHECK(mspace_trim(nullptr, 0) == 0);
   mspace_stats_t st = stats_of(nullptr);
   mspace_stats_t zero;
   std::memset(&zero, 0, sizeof zero);
   CHECK(same_stats(st, zero));
   mspace_reset(nullptr);
   CHECK(mspace_create(0) == nullptr);
   CHECK(mspace_create(SIZE_MAX) == nullptr);
   CHECK(mspace_create_with_base(nullptr, 65536) == nullptr);
   CHECK(mspace_create_with_base(g_buffers, SIZE_MAX) == nullptr);
   mspace_get_stats(s.ms, nullptr);
   // the library's way into the handler: exactly what was given, once
   mspace_report_error(s.ms, MSPACE_ERROR_CORRUPTION, g_buffers);
   expect_report(s, g_buffers, 1u << MSPACE_ERROR_CORRUPTION);
   // NULL blocks on a live mspace
   mspace_free(s.ms, nullptr);
   CHECK(mspace_realloc_in_place(s.ms, nullptr, 16) == nullptr);
   expect_no_report();
}

// ---- two threads on a locked mspace -------------------------------------------------------

// A block a thread of do_threads holds: handed over at the start, or taken by the thread.
struct Owned
{
   void    *p;
   size_t   n, usable, align;
   uint32_t tag;
   bool     fresh;   // taken or moved by the thread: new to the model
};

// One step of a thread's script: a malloc, a free or a realloc of one of its blocks (k
// picks it), of n bytes, a new block tagged `tag`.
struct Step
{
   uint8_t  kind;
   uint8_t  k;
   size_t   n;
   uint32_t tag;
};

// Sizes of the threads' requests: the slots of the fronts and chunks up to 16 KiB.
size_t read_thread_size(Reader &r)
{
   uint8_t sel = r.u8();
   switch (sel & 3)
   {
   case 0:  return sel >> 2;                            // 0..63
   case 1:  return r.u8();                              // 0..255
   case 2:  return static_cast<size_t>(r.u8()) * 4;     // 0..1020: every front size and past it
   default: return r.u16() & 0x3FFF;                    // 0..16383
   }
}

struct Worker
{
   mspace              ms = nullptr;
   std::vector<Owned>  owned;
   std::vector<Step>   steps;
   size_t              least_null = SIZE_MAX;   // the smallest request that got NULL

   // Runs the script: every block's contents are verified before it is freed or moved and
   // written when taken; nothing here touches the shadow model (the main thread merges).
   // A block taken here is written as far as it was asked for: mspace_usable_size reads a
   // block's head, whose flag for its predecessor a free by the other thread may change
   // meanwhile, so the README asks for no such call while a neighbour may be freed (the
   // main thread learns the usable size after the join).
   void run()
   {
      for (const Step &st : steps)
      {
         if (st.kind == 0 || owned.empty())
         {
            void *p = mspace_malloc(ms, st.n);
            if (!p)
            {
               least_null = st.n < least_null ? st.n : least_null;
               continue;
            }
            CHECK(reinterpret_cast<uintptr_t>(p) % A == 0);
            fill_block(p, st.tag, st.n);
            owned.push_back(Owned {p, st.n, st.n, A, st.tag, true});
            continue;
         }
         size_t i = st.k % owned.size();
         Owned  b = owned[i];
         CHECK(verify_block(b.p, b.tag, b.usable, b.usable));
         if (st.kind == 1)
         {
            mspace_free(ms, b.p);
            owned[i] = owned.back();
            owned.pop_back();
            continue;
         }
         void *q = mspace_realloc(ms, b.p, st.n);
         if (!q)
         {
            least_null = st.n < least_null ? st.n : least_null;
            continue;   // the block stays as it was (verified again after the join)
         }
         size_t keep = b.usable < st.n ? b.usable : st.n;
         CHECK(verify_block(q, b.tag, b.usable, keep));   // the contents moved along
         CHECK(reinterpret_cast<uintptr_t>(q) % A == 0);
         fill_block(q, b.tag, st.n);
         owned[i] = Owned {q, st.n, st.n, q == b.p ? b.align : A, b.tag, true};
      }
   }
};

// A locked mspace driven from two threads at once, the main one and one started here for
// the operation (a new thread each time, which takes the next front). Every block of s
// goes to one of the two: a selection to the other thread, which frees, moves and keeps
// them (blocks of this thread's front freed by another: remote frees), the rest stays
// here. Each runs a script of mallocs, frees and reallocs read from the input before
// either starts. Afterwards the blocks they hold are verified and go back into the
// model, and the invariants are checked as after any operation. A request may get NULL
// where the heap might be full: where it asks for more than what fitted at the start
// less every byte both scripts ask for and a page for each of their steps.
void do_threads(Reader &r, Slot &s)
{
   if (!s.locked)
      return;
   Worker here, there;
   here.ms = there.ms = s.ms;
   uint8_t sel   = r.u8();
   size_t  every = 1 + (sel & 3), first = (sel >> 2) & 3;   // the blocks handed over
   size_t  asked = 0;
   for (Worker *w : {&here, &there})
   {
      size_t count = 1 + (r.u8() & 31);
      for (size_t i = 0; i < count; ++i)
      {
         Step st;
         st.kind = static_cast<uint8_t>(r.u8() % 4);
         st.kind = st.kind == 3 ? 2 : st.kind == 2 ? 1 : 0;   // malloc twice as often
         st.k    = r.u8();
         st.n    = read_thread_size(r);
         st.tag  = g_next_tag++;
         asked  += st.n + mulle::detail::PAGE_BYTES + MIN_CHUNK;
         w->steps.push_back(st);
      }
   }
   size_t j = 0;
   for (const auto &kv : s.live)
   {
      Owned b {reinterpret_cast<void *>(kv.first), kv.second.n, kv.second.usable, kv.second.align, kv.second.tag, false};
      (j++ % every == first ? there : here).owned.push_back(b);
   }
   const std::map<uintptr_t, Block> before = s.live;
   TRACE("two threads on ms%zu: %zu and %zu steps, %zu and %zu blocks\n", s.index, here.steps.size(),
         there.steps.size(), here.owned.size(), there.owned.size());
   s.live.clear();
   s.list.clear();
   std::thread other([&there] { there.run(); });
   here.run();
   other.join();
   expect_no_report();
   size_t room = s.st.largest_free;   // as the last operation left it
   for (const Worker *w : {&here, &there})
   {
      if (w->least_null != SIZE_MAX)
         CHECK(w->least_null + asked > room);
      for (const Owned &b : w->owned)
      {
         CHECK(verify_block(b.p, b.tag, b.usable, b.usable));
         if (!b.fresh)   // kept as it was
         {
            s.live[reinterpret_cast<uintptr_t>(b.p)] = before.at(reinterpret_cast<uintptr_t>(b.p));
            s.list.push_back(b.p);
         }
      }
   }
   for (const Worker *w : {&here, &there})   // then the new ones, checked as any new block
      for (const Owned &b : w->owned)          // against all the others (and written again
         if (b.fresh)                          // to their usable size)
            add_block(s, b.p, b.n, b.align, false, b.tag);
   allocation_happened(s);
   check_inspect(s);
}

void do_op(Reader &r)
{
   uint8_t byte    = r.u8();
   uint8_t code    = byte % 32;
   bool    variant = byte >= 6 * 32;   // the locked variants of OP_RECREATE and OP_VERIFY_ALL
   Slot   &s    = g_slots[r.u8() % NSLOTS];
   for (size_t i = 0; i < NSLOTS; ++i)
      g_touched[i] = i == s.index;
   switch (code)
   {
   case 0: case 1: case 2: case 3: case 4: case 5:
      g_op_name = "malloc"; do_malloc(r, s); break;
   case OP_CALLOC:              g_op_name = "calloc"; do_calloc(r, s); break;
   case 7: case 8:              g_op_name = "realloc"; do_realloc(r, s, false); break;
   case OP_REALLOC_IN_PLACE:    g_op_name = "realloc_in_place"; do_realloc(r, s, true); break;
   case 10: case 11:            g_op_name = "memalign"; do_memalign(r, s); break;
   case 12: case 13: case 14: case 15: case 16:
      g_op_name = "free"; do_free(r, s); break;
   case OP_RESET:               g_op_name = "reset"; do_reset(s); break;
   case OP_TRIM:                g_op_name = "trim"; do_trim(r, s); break;
   case OP_STATS:               g_op_name = "stats"; do_stats(s); break;
   case OP_INSPECT:             g_op_name = "inspect"; check_inspect(s); break;
   case OP_USABLE:              g_op_name = "usable"; do_usable(r, s); break;
   case OP_DOUBLE_FREE:         g_op_name = "double free"; do_double_free(r, s); break;
   case OP_FOREIGN:             g_op_name = "foreign pointer"; do_foreign(r, s); break;
   case OP_STACK:               g_op_name = "stack pointer"; do_stack(r, s); break;
   case OP_MISALIGNED:          g_op_name = "misaligned pointer"; do_misaligned(r, s); break;
   case OP_INTERIOR:            g_op_name = "interior pointer"; do_interior(r, s); break;
   case OP_NULL_HANDLE:         g_op_name = "null handle"; do_null_handle(r, s); break;
   case OP_RECREATE:
   {
      g_op_name   = variant ? "recreate locked" : "recreate";
      uint8_t cfg = r.u8();
      destroy_slot(s);
      create_slot(s, cfg, r.u8(), 0, variant);
      break;
   }
   case OP_TINY_CREATE:
   {
      g_op_name   = "tiny create";
      uint8_t cfg = r.u8();
      size_t  cap = 1 + r.u16() % 4096;
      destroy_slot(s);
      create_slot(s, cfg & 0xF1, r.u8(), cap);
      break;
   }
   case OP_VERIFY_ALL:
      if (variant)
      {
         g_op_name = "two threads";
         do_threads(r, s);
         break;
      }
      g_op_name = "verify all";
      for (size_t i = 0; i < NSLOTS; ++i)
      {
         verify_all(g_slots[i]);
         g_touched[i] = true;
      }
      reattach(s);
      break;
   default:                     g_op_name = "free many"; do_free_many(r, s); break;
   }
   check_touched();
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
   Reader r {data, size, 0};
   static bool table_ready = false;
   if (!table_ready)
   {
      init_table();
      table_ready = true;
   }
   g_reports.clear();
   g_next_tag = 1;
   g_op_index = 0;
   g_op_name  = "setup";
   uint8_t cfg[NSLOTS];
   for (size_t i = 0; i < NSLOTS; ++i)
      cfg[i] = r.u8();
   uint8_t junk = r.u8();
   for (size_t i = 0; i < NSLOTS; ++i)
   {
      g_slots[i].index        = i;
      g_slots[i].shrink_epoch = 0;
      create_slot(g_slots[i], cfg[i], junk, 0);
   }
   check_all();
   while (!r.done() && g_op_index < MAX_OPS)
   {
      ++g_op_index;
      do_op(r);
   }
   g_op_name = "teardown";
   check_all();
   for (Slot &s : g_slots)
   {
      check_inspect(s);
      verify_all(s);
      destroy_slot(s);
   }
   expect_no_report();
   return 0;
}

// ---- replay without libFuzzer -------------------------------------------------------------
#ifdef FUZZ_REPLAY_MAIN
#include <algorithm>
#include <string>
#include <dirent.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static bool read_file(const std::string &path, std::vector<uint8_t> &out)
{
   FILE *f = std::fopen(path.c_str(), "rb");
   if (!f)
      return false;
   out.clear();
   unsigned char buf[4096];
   size_t got;
   while ((got = std::fread(buf, 1, sizeof buf, f)) > 0)
      out.insert(out.end(), buf, buf + got);
   std::fclose(f);
   return true;
}

static void collect(const std::string &path, std::vector<std::string> &files)
{
   struct stat st;
   if (stat(path.c_str(), &st) != 0)
   {
      std::fprintf(stderr, "fuzz replay: cannot open %s\n", path.c_str());
      files.push_back(path);   // counted as a failure
      return;
   }
   if (!S_ISDIR(st.st_mode))
   {
      files.push_back(path);
      return;
   }
   std::vector<std::string> names;
   if (DIR *d = opendir(path.c_str()))
   {
      while (dirent *e = readdir(d))
      {
         std::string name = e->d_name;
         if (name.empty() || name[0] == '.' || name.compare(0, 6, "README") == 0)
            continue;
         names.push_back(name);
      }
      closedir(d);
   }
   std::sort(names.begin(), names.end());
   for (const std::string &name : names)
      collect(path + "/" + name, files);
}

int main(int argc, char **argv)
{
   std::vector<std::string> files;
   bool fork_each = true;
   for (int i = 1; i < argc; ++i)
   {
      std::string a = argv[i];
      if (a == "-v")
         g_trace = true;
      else if (a == "--no-fork")
         fork_each = false;
      else
         collect(a, files);
   }
   size_t failures = 0;
   for (const std::string &path : files)
   {
      std::vector<uint8_t> data;
      if (!read_file(path, data))
      {
         std::printf("FAIL %s (unreadable)\n", path.c_str());
         ++failures;
         continue;
      }
      if (g_trace)
         std::fprintf(stderr, "== %s (%zu bytes)\n", path.c_str(), data.size());
      if (!fork_each)
      {
         LLVMFuzzerTestOneInput(data.data(), data.size());
         continue;
      }
      std::fflush(stdout);
      std::fflush(stderr);
      pid_t pid = fork();
      if (pid == 0)
      {
         LLVMFuzzerTestOneInput(data.data(), data.size());
         std::fflush(stderr);
         _exit(0);
      }
      int status = 0;
      if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
      {
         std::printf("FAIL %s\n", path.c_str());
         std::fflush(stdout);
         ++failures;
      }
   }
   std::printf("fuzz replay: %zu inputs, %zu failures\n", files.size(), failures);
   return failures ? 1 : 0;
}
#endif
