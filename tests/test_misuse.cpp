// Misuse that no block's tags can show: a handle that names no live mspace, a call back
// into an mspace from user code that runs for it (the inspect_all callback, the error
// handler), a root that is no block in use, and the lock that mspace_report_error holds.
#include <doctest/doctest.h>
#include "mulle_dlmalloc.hpp"
#include "test_helpers.h"

#include <atomic>
#include <chrono>
#include <cstring>
#include <thread>
#include <vector>

using namespace test;

namespace {

// The process-wide handler, installed for the length of a test.
struct ProcessLog
{
   ErrorLog log;
   ProcessLog() { mspace_set_default_error_handler(&ErrorLog::record, &log); }
   ~ProcessLog() { mspace_set_default_error_handler(nullptr, nullptr); }
};

}  // namespace

TEST_CASE("free and realloc on a destroyed or foreign mspace are reported, not silent")
{
   ProcessLog process;
   Buffer buf(64 * KiB);
   mspace dead = mspace_create_with_base(buf.base, 64 * KiB);
   REQUIRE(dead != nullptr);
   void *p = mspace_malloc(dead, 100);
   REQUIRE(p != nullptr);
   REQUIRE(mspace_destroy(dead) == 0);

   // a foreign handle is read as a state: as much readable memory as one (a state takes
   // about 2 KiB; the fast path's key is its last word)
   static std::size_t not_an_mspace[1024];
   for (mspace ms : {dead, mspace(nullptr), mspace(&not_an_mspace[8])})
   {
      CAPTURE(ms);
      process.log.clear();
      mspace_free(ms, p);
      CHECK(process.log.count == 1);
      CHECK(process.log.last == MSPACE_ERROR_NOT_AN_MSPACE);
      CHECK(process.log.last_p == p);
      CHECK(process.log.last_ms == ms);
      CHECK(process.log.last_ctx == &process.log);
      CHECK(mspace_realloc(ms, p, 200) == nullptr);
      CHECK(mspace_realloc_in_place(ms, p, 50) == nullptr);
      CHECK(process.log.count == 3);
      CHECK(process.log.last == MSPACE_ERROR_NOT_AN_MSPACE);
      // NULL blocks and calls that lose no block stay quiet
      mspace_free(ms, nullptr);
      mspace_set_root(ms, p);
      CHECK(mspace_malloc(ms, 10) == nullptr);
      CHECK(process.log.count == 3);
   }
   CHECK(std::strcmp(mspace_error_string(MSPACE_ERROR_NOT_AN_MSPACE), "not an mspace") == 0);
}

TEST_CASE("the process-wide handler hears an mspace without a handler of its own")
{
   ProcessLog process;
   mspace ms = mspace_create(1 * MiB);
   REQUIRE(ms != nullptr);
   int on_stack = 0;
   mspace_free(ms, &on_stack);
   CHECK(process.log.count == 1);
   CHECK(process.log.last == MSPACE_ERROR_INVALID_POINTER);
   CHECK(process.log.last_ms == ms);

   ErrorLog own;   // an mspace's own handler comes first
   own.install(ms);
   mspace_free(ms, &on_stack);
   CHECK(own.count == 1);
   CHECK(process.log.count == 1);
   CHECK(mspace_destroy(ms) == 0);
}

namespace {

struct Walk
{
   mspace ms;
   int calls = 0;
   int frees = 0;
   void *gave = nullptr;   // what the call back gave
};

void free_what_you_see(void *start, void *, std::size_t used, void *arg)
{
   Walk *w = static_cast<Walk *>(arg);
   if (++w->calls > 1000)
      return;
   if (used)
   {
      mspace_free(w->ms, start);
      w->gave = mspace_malloc(w->ms, 32);
      ++w->frees;
   }
}

}  // namespace

TEST_CASE("a callback of inspect_all that calls its mspace is reported; the walk ends and the heap is whole")
{
   for (unsigned flags : {0u, unsigned(MSPACE_LOCKED)})
   {
      CAPTURE(flags);
      mspace ms = mspace_create_flags(1 * MiB, flags);
      REQUIRE(ms != nullptr);
      ErrorLog log;
      log.install(ms);
      std::vector<void *> blocks;
      for (std::uint32_t i = 0; i < 8; ++i)   // chunks: a page's free slots would be seen too
      {
         blocks.push_back(mspace_malloc(ms, 600 + 30 * i));
         REQUIRE(blocks.back() != nullptr);
         fill(blocks.back(), 600 + 30 * i, i);
      }
      Walk w{ms};
      mspace_inspect_all(ms, free_what_you_see, &w);
      CHECK(w.calls == 9);          // 8 blocks and the top: the walk stayed finite
      CHECK(w.frees == 8);
      CHECK(w.gave == nullptr);     // no malloc from inside the walk
      CHECK(log.count == 16);       // each free and each malloc reported
      CHECK(log.last == MSPACE_ERROR_REENTRANT);
      CHECK(mspace_check(ms) == 0);
      for (std::uint32_t i = 0; i < 8; ++i)
      {
         CHECK(verify(blocks[i], 600 + 30 * i, i));   // still live, contents kept
         mspace_free(ms, blocks[i]);
      }
      CHECK(log.count == 16);       // after the walk, calls work again
      CHECK(stats_of(ms).allocated_blocks == 0);
      CHECK(mspace_destroy(ms) == 0);
   }
}

namespace {

struct Reentrant
{
   mspace ms;
   int calls = 0;
   void *got = reinterpret_cast<void *>(1);
   int destroyed = -1;
};

void handler_that_allocates(mspace ms, mspace_error_t, void *, void *ctx)
{
   Reentrant *r = static_cast<Reentrant *>(ctx);
   ++r->calls;
   r->got = mspace_malloc(ms, 100);
   r->destroyed = mspace_destroy(ms);
}

}  // namespace

TEST_CASE("an error handler that calls its mspace is reported to the process-wide handler")
{
   for (unsigned flags : {0u, unsigned(MSPACE_LOCKED)})
   {
      CAPTURE(flags);
      ProcessLog process;
      mspace ms = mspace_create_flags(1 * MiB, flags);
      REQUIRE(ms != nullptr);
      Reentrant r{ms};
      mspace_set_error_handler(ms, handler_that_allocates, &r);
      void *p = mspace_malloc(ms, 100);
      void *guard = mspace_malloc(ms, 100);
      REQUIRE((p && guard));
      mspace_free(ms, p);
      mspace_free(ms, p);           // double free: the handler runs and calls back
      CHECK(r.calls == 1);
      CHECK(r.got == nullptr);
      CHECK(r.destroyed != 0);      // not destroyed from inside its handler
      CHECK(process.log.count == 2);
      CHECK(process.log.last == MSPACE_ERROR_REENTRANT);
      CHECK(process.log.last_ms == ms);
      CHECK(mspace_check(ms) == 0);
      void *q = mspace_malloc(ms, 100);   // usable again, fast path included
      CHECK(q != nullptr);
      mspace_free(ms, q);
      mspace_free(ms, guard);
      CHECK(stats_of(ms).allocated_blocks == 0);
      CHECK(mspace_destroy(ms) == 0);
   }
}

TEST_CASE("mspace_set_root of a freed block is an invalid pointer, not a double free")
{
   mspace ms = mspace_create(1 * MiB);
   REQUIRE(ms != nullptr);
   ErrorLog log;
   log.install(ms);
   void *p = mspace_malloc(ms, 100);
   void *guard = mspace_malloc(ms, 100);
   REQUIRE((p && guard));
   mspace_set_root(ms, p);
   CHECK(mspace_root(ms) == p);
   mspace_free(ms, p);
   mspace_set_root(ms, nullptr);
   mspace_set_root(ms, p);
   CHECK(log.count == 1);
   CHECK(log.last == MSPACE_ERROR_INVALID_POINTER);
   CHECK(mspace_root(ms) == nullptr);
   CHECK(mspace_destroy(ms) == 0);
}

namespace {

struct LockProbe
{
   mspace ms;
   std::atomic<bool> done{false};
   bool others_waited = false;
   std::thread other;
};

// Runs with the lock held: another thread's call must wait until the handler returns.
void handler_that_probes_the_lock(mspace, mspace_error_t, void *, void *ctx)
{
   LockProbe *probe = static_cast<LockProbe *>(ctx);
   probe->other = std::thread([probe] {
      mspace_footprint(probe->ms);
      probe->done.store(true);
   });
   std::this_thread::sleep_for(std::chrono::milliseconds(100));
   probe->others_waited = !probe->done.load();
}

}  // namespace

TEST_CASE("mspace_report_error runs the handler with the lock held, as the library's reports do")
{
   mspace ms = mspace_create_flags(1 * MiB, MSPACE_LOCKED);
   REQUIRE(ms != nullptr);
   LockProbe probe;
   probe.ms = ms;
   mspace_set_error_handler(ms, handler_that_probes_the_lock, &probe);
   mspace_report_error(ms, MSPACE_ERROR_CORRUPTION, nullptr);
   probe.other.join();
   CHECK(probe.others_waited);
   CHECK(probe.done.load());
   CHECK(mspace_destroy(ms) == 0);
}

TEST_CASE("mspace_lock and mspace_unlock: 0 for a live mspace, non-zero for a dead handle")
{
   for (unsigned flags : {0u, unsigned(MSPACE_LOCKED)})
   {
      mspace ms = mspace_create_flags(1 * MiB, flags);
      REQUIRE(ms != nullptr);
      CHECK(mspace_lock(ms) == 0);
      CHECK(mspace_unlock(ms) == 0);
      void *p = mspace_malloc(ms, 10);   // released: calls go on
      CHECK(p != nullptr);
      mspace_free(ms, p);
      CHECK(mspace_destroy(ms) == 0);
   }
   CHECK(mspace_lock(nullptr) != 0);
   CHECK(mspace_unlock(nullptr) != 0);
}

namespace {

struct FreeFromInside
{
   mspace m1, m2;
   std::vector<void *> blocks;
   int calls = 0;
};

void frees_other_heaps_blocks(void *, void *, std::size_t, void *arg)
{
   FreeFromInside *f = static_cast<FreeFromInside *>(arg);
   if (++f->calls > 1)
      return;
   for (void *p : f->blocks)
      mspace_free(f->m1, p);   // m1's walk is outside this one: refused
}

void walks_the_other_heap(void *, void *, std::size_t, void *arg)
{
   FreeFromInside *f = static_cast<FreeFromInside *>(arg);
   mspace_inspect_all(f->m2, frees_other_heaps_blocks, f);
}

}  // namespace

TEST_CASE("a call back into an mspace is caught also with another mspace's callback in between")
{
   for (unsigned flags : {0u, unsigned(MSPACE_LOCKED)})
   {
      CAPTURE(flags);
      FreeFromInside f;
      f.m1 = mspace_create_flags(1 * MiB, flags);
      f.m2 = mspace_create_flags(1 * MiB, flags);
      REQUIRE((f.m1 && f.m2));
      ErrorLog log1, log2;
      log1.install(f.m1);
      log2.install(f.m2);
      for (std::uint32_t i = 0; i < 8; ++i)
      {
         f.blocks.push_back(mspace_malloc(f.m1, 5000));
         REQUIRE(f.blocks.back() != nullptr);
         fill(f.blocks.back(), 5000, i);
      }
      void *in_m2 = mspace_malloc(f.m2, 100);
      REQUIRE(in_m2 != nullptr);
      int walked = 0;
      mspace_inspect_all(f.m1, [](void *, void *, std::size_t, void *arg) { ++*static_cast<int *>(arg); }, &walked);
      const int chunks = walked;
      f.calls = 0;
      // m1's walk -> m2's walk -> frees into m1: each free is refused and reported to m1
      struct Outer { FreeFromInside *f; int calls; } outer{&f, 0};
      mspace_inspect_all(f.m1, [](void *, void *, std::size_t, void *arg) {
         Outer *o = static_cast<Outer *>(arg);
         if (++o->calls == 1)
            walks_the_other_heap(nullptr, nullptr, 0, o->f);
      }, &outer);
      CHECK(outer.calls == chunks);   // the outer walk stayed finite
      CHECK(log1.count == 8);
      CHECK(log1.last == MSPACE_ERROR_REENTRANT);
      CHECK(log2.count == 0);
      // and the flag of m1 is still right after the inner walk ended: a free from m1's
      // own callback after it is caught too (the fast path does not take it)
      struct After { FreeFromInside *inner; void *p; int calls; };
      FreeFromInside one;
      one.m1 = f.m1;
      one.m2 = f.m2;
      one.blocks.push_back(f.blocks[1]);
      After after{&one, f.blocks[0], 0};
      log1.clear();
      mspace_inspect_all(f.m1, [](void *, void *, std::size_t, void *arg) {
         After *a = static_cast<After *>(arg);
         if (++a->calls == 1)
         {
            walks_the_other_heap(nullptr, nullptr, 0, a->inner);   // a report of m1 in m2's walk
            mspace_free(a->inner->m1, a->p);                       // then m1's own callback frees
         }
      }, &after);
      CHECK(log1.count == 2);
      CHECK(log1.last == MSPACE_ERROR_REENTRANT);
      for (std::uint32_t i = 0; i < 8; ++i)
         CHECK(verify(f.blocks[i], 5000, i));
      CHECK(mspace_check(f.m1) == 0);
      CHECK(mspace_check(f.m2) == 0);
      for (void *p : f.blocks)
         mspace_free(f.m1, p);
      mspace_free(f.m2, in_m2);
      CHECK(log1.count == 2);
      CHECK(stats_of(f.m1).allocated_blocks == 0);
      CHECK(mspace_destroy(f.m1) == 0);
      CHECK(mspace_destroy(f.m2) == 0);
   }
}

namespace {

struct Unlocker
{
   int unlocked = -1;
   int detached = -1;
};

void handler_that_unlocks(mspace ms, mspace_error_t, void *, void *ctx)
{
   Unlocker *u = static_cast<Unlocker *>(ctx);
   u->unlocked = mspace_unlock(ms);   // the lock is the library's: refused
   u->detached = mspace_detach(ms);   // the call still holds the mspace: refused
}

}  // namespace

TEST_CASE("mspace_unlock and mspace_detach from inside the handler are refused")
{
   ProcessLog process;
   Buffer buf(1 * MiB);
   mspace ms = mspace_create_with_base_flags(buf.base, 1 * MiB, MSPACE_LOCKED);
   REQUIRE(ms != nullptr);
   Unlocker u;
   mspace_set_error_handler(ms, handler_that_unlocks, &u);
   mspace_report_error(ms, MSPACE_ERROR_CORRUPTION, nullptr);
   CHECK(u.unlocked != 0);
   CHECK(u.detached != 0);
   CHECK(process.log.count == 2);
   CHECK(process.log.last == MSPACE_ERROR_REENTRANT);
   // the lock was held throughout and released once: another thread gets in now
   std::thread other([&] { CHECK(mspace_malloc(ms, 64) != nullptr); });
   other.join();
   CHECK(mspace_check(ms) == 0);
   CHECK(mspace_detach(ms) == 0);
}

TEST_CASE("mspace_lock holds the lock: another thread's call waits for mspace_unlock")
{
   mspace ms = mspace_create_flags(1 * MiB, MSPACE_LOCKED);
   REQUIRE(ms != nullptr);
   REQUIRE(mspace_lock(ms) == 0);
   std::atomic<bool> done{false};
   std::thread other([&] {
      void *p = mspace_malloc(ms, 64);
      mspace_free(ms, p);
      done.store(true);
   });
   std::this_thread::sleep_for(std::chrono::milliseconds(100));
   CHECK(!done.load());   // waits while the lock is held
   CHECK(mspace_unlock(ms) == 0);
   other.join();
   CHECK(done.load());
   CHECK(mspace_destroy(ms) == 0);
}
