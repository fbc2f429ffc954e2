// MSPACE_LOCKED under load: several threads of one process, and several processes sharing
// a MAP_SHARED mapping, allocate, write, hand blocks to each other and free each other's
// blocks on one mspace. Every block carries a pattern that is verified before it is freed;
// mspace_check and the statistics must be clean at the end. Built plainly and with
// ThreadSanitizer by the Makefile (make test-shared). A private locked mspace forked while
// other threads allocate must give every child a usable heap (the README's pthread_atfork
// recipe with mspace_lock and mspace_unlock).
#define MULLE_DLMALLOC_IMPLEMENTATION
#include "mulle_dlmalloc.hpp"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <thread>
#include <vector>
#include <pthread.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

namespace {

int passed, failed;

void check(bool ok, const char *what)
{
   if (ok)
      ++passed;
   else
   {
      ++failed;
      std::printf("FAILED: %s\n", what);
   }
}

struct rng
{
   std::uint64_t s;
   std::uint64_t next()
   {
      s += 0x9e3779b97f4a7c15ull;
      std::uint64_t z = s;
      z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
      z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
      return z ^ (z >> 31);
   }
};

// A block: its size and seed in the first two words, then bytes derived from the seed.
void *make_block(mspace ms, rng &r)
{
   std::size_t n = 16 + r.next() % (r.next() % 8 == 0 ? 20000 : 300);
   auto *p = static_cast<std::uint64_t *>(mspace_malloc(ms, n));
   if (!p)
      return nullptr;
   std::uint64_t seed = r.next();
   p[0] = n;
   p[1] = seed;
   unsigned char *b = reinterpret_cast<unsigned char *>(p);
   for (std::size_t i = 16; i < n; ++i)
      b[i] = static_cast<unsigned char>(seed + i * 31);
   return p;
}

bool block_intact(const void *v)
{
   const auto *p = static_cast<const std::uint64_t *>(v);
   std::size_t n = p[0];
   std::uint64_t seed = p[1];
   const unsigned char *b = static_cast<const unsigned char *>(v);
   for (std::size_t i = 16; i < n; ++i)
      if (b[i] != static_cast<unsigned char>(seed + i * 31))
         return false;
   return true;
}

// Slots through which blocks pass from one worker to another.
const int SLOTS = 64;

// One worker: put a new block into a random slot, take out whatever was there, verify it
// and free it (often a block another worker made).
bool work(mspace ms, std::atomic<void *> *slots, std::uint64_t seed, int ops)
{
   rng r{seed};
   bool ok = true;
   for (int i = 0; i < ops; ++i)
   {
      void *mine = make_block(ms, r);
      void *theirs = slots[r.next() % SLOTS].exchange(mine);
      if (theirs)
      {
         ok = ok && block_intact(theirs);
         mspace_free(ms, theirs);
      }
   }
   return ok;
}

std::size_t drain(mspace ms, std::atomic<void *> *slots, bool &ok)
{
   std::size_t n = 0;
   for (int i = 0; i < SLOTS; ++i)
      if (void *p = slots[i].exchange(nullptr))
      {
         ok = ok && block_intact(p);
         mspace_free(ms, p);
         ++n;
      }
   return n;
}

// The README's recipe: the lock is held across fork, so no child inherits it held by a
// thread that the child does not have.
mspace forked_heap;
void hold_for_fork() { mspace_lock(forked_heap); }
void release_after_fork() { mspace_unlock(forked_heap); }

#if defined(MULLE_DLMALLOC_HAS_FRONTS) && defined(MULLE_DLMALLOC_HAS_BIAS)
// Who claims a front, in a child process of its own: a process biases the first 4 threads
// of each front only (their lanes), and the tests below need theirs.
void claim_tests()
{
   mspace ms = mspace_create_flags(64 << 20, MSPACE_LOCKED);
   auto  *m  = static_cast<mulle::detail::mstate *>(ms);
   check(ms != nullptr, "bias: a locked mspace");
   const bool biases = mulle::detail::FRONTS > 1 && mulle::detail::may_bias(m);
   // a front whose blocks another thread frees between its owner's mallocs (a
   // producer and a consumer with a front of its own) is biased all the same: those
   // frees are remote frees, which take no lock (tier.hpp). A front that two threads
   // take by turns (the consumer shares the producer's: threads are numbered in turn,
   // FRONTS apart share one) is not: each take by the other would end the bias behind
   // a barrier. The owner takes it BIAS_AFTER / 2 times between two turns of the other
   // thread, 8 * BIAS_AFTER times in all. Then the producer alone: biased, where it
   // has a lane.
   for (int share = 0; share < 2; ++share)
   {
      const unsigned batch = mulle::detail::BIAS_AFTER > 1 ? mulle::detail::BIAS_AFTER / 2 : 1;
      std::vector<void *> handed(batch);
      std::atomic<int> turn{-1};   // -1 not yet, 0 the producer's, 1 the consumer's, 2 done
      unsigned seen = 0;
      bool     lane = false, alone = false, same = false;
      mulle::detail::front *pf = nullptr;
      std::thread producer([&] {
         pf   = mulle::detail::thread_front(m);
         lane = mulle::detail::thread_lane != 0;
         while (turn.load() == -1)
            std::this_thread::yield();
         for (unsigned r = 0; r < 8 * mulle::detail::BIAS_AFTER / batch; ++r)
         {
            while (turn.load() != 0)
               std::this_thread::yield();
            for (void *&p : handed)
               p = mspace_malloc(ms, 48);
            seen |= __atomic_load_n(&pf->owner, __ATOMIC_RELAXED);
            turn.store(1);
         }
         while (turn.load() != 0)
            std::this_thread::yield();
         turn.store(2);
         for (unsigned i = 0; i < 2 * mulle::detail::BIAS_AFTER; ++i)
            mspace_free(ms, mspace_malloc(ms, 48));
         alone = __atomic_load_n(&pf->owner, __ATOMIC_RELAXED) != 0;
      });
      while (!__atomic_load_n(&pf, __ATOMIC_ACQUIRE))
         std::this_thread::yield();
      for (size_t k = 1; share && k < mulle::detail::FRONTS; ++k)
         std::thread([&] { (void) mulle::detail::thread_front(m); }).join();
      std::thread consumer([&] {
         same = mulle::detail::thread_front(m) == pf;
         mspace_free(ms, mspace_malloc(ms, 48));
         turn.store(0);
         for (int now; (now = turn.load()) != 2;)
            if (now == 1)
            {
               for (void *p : handed)
                  mspace_free(ms, p);
               turn.store(0);
            }
            else
               std::this_thread::yield();
      });
      producer.join();
      consumer.join();
      check(same == (share != 0), "bias: the consumer's front is the producer's where it shares it");
      // a consumer's frees of the producer's blocks are remote frees (tier.hpp), which
      // take no front's lock: the producer's front is biased to it all the same
      if (share)
         check(seen == 0, "bias: not a front its two threads take by turns");
      else
         check(!biases || !lane || seen != 0,
               "bias: a front whose blocks another thread frees between its mallocs (remote frees)");
      check(!biases || !lane || alone, "bias: the producer alone is biased after");
   }
   // a thread that takes its fronts of two mspaces by turns is biased on both
   {
      mspace other = mspace_create_flags(8 << 20, MSPACE_LOCKED);
      bool   lane = false, both = false;
      std::thread t([&] {
         (void) mulle::detail::thread_front(m);   // numbered: given its front and lane
         lane = mulle::detail::thread_lane != 0;
         for (unsigned i = 0; i < 4 * mulle::detail::BIAS_AFTER; ++i)
         {
            mspace_free(ms, mspace_malloc(ms, 40));
            mspace_free(other, mspace_malloc(other, 40));
         }
         both = __atomic_load_n(&mulle::detail::thread_front(m)->owner, __ATOMIC_RELAXED) != 0 &&
                __atomic_load_n(&mulle::detail::thread_front(static_cast<mulle::detail::mstate *>(other))->owner,
                                __ATOMIC_RELAXED) != 0;
      });
      t.join();
      check(!biases || !lane || both, "bias: a thread's fronts of two mspaces taken by turns are both biased");
      mspace_destroy(other);
   }
   mspace_stats_t s;
   mspace_get_stats(ms, &s);
   check(s.allocated_blocks == 0 && mspace_check(ms) == 0, "bias: the heap is sound after the claims");
   mspace_destroy(ms);
}
#endif

} // namespace

int main(int argc, char **argv)
{
   const int scale = argc > 1 ? std::atoi(argv[1]) : 1;
   const int THREADS = 4, PROCESSES = 4, OPS = 200000 / scale;

   check(mspace_create_flags(1 << 20, 8u) == nullptr, "an unknown flag is refused");

#if defined(MULLE_DLMALLOC_HAS_FRONTS) && defined(MULLE_DLMALLOC_HAS_BIAS)
   // a locked mspace registers the process for the barrier of a front's bias as it is
   // made, while this process has one thread (Linux then needs no RCU grace period, which
   // took 7-13 ms inside the first biased malloc where other threads ran)
   {
      const long cmds = syscall(SYS_membarrier, 0, 0);   // MEMBARRIER_CMD_QUERY
      const bool can  = cmds > 0 && (cmds & mulle::detail::MEMBARRIER_PRIVATE_EXPEDITED);
      check(__atomic_load_n(&mulle::detail::heavy_barrier_state, __ATOMIC_RELAXED) == 0,
            "bias: nothing registered before the first locked mspace");
      mspace ms = mspace_create_flags(1 << 20, MSPACE_LOCKED);
      check(ms != nullptr && __atomic_load_n(&mulle::detail::heavy_barrier_state, __ATOMIC_RELAXED) == (can ? 1 : -1),
            "bias: the first locked mspace registers the process for the barrier");
      mspace_destroy(ms);
   }
#endif

#if defined(MULLE_DLMALLOC_HAS_FRONTS) && defined(MULLE_DLMALLOC_HAS_BIAS) && !defined(SHARED_NO_FORK)
   {
      std::fflush(stdout);
      pid_t pid = fork();
      if (pid == 0)
      {
         claim_tests();
         std::fflush(stdout);
         _exit(failed ? 1 : 0);
      }
      int status = 0;
      check(pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0,
            "bias: the claims, in a child process");
   }
#endif

   // threads of one process
   {
      mspace ms = mspace_create_flags(64 << 20, MSPACE_LOCKED);
      check(ms != nullptr, "a locked mspace is created");
      std::vector<std::atomic<void *>> slots(SLOTS);
      for (auto &s : slots)
         s.store(nullptr);
      std::atomic<int> good{0};
      std::vector<std::thread> threads;
      for (int t = 0; t < THREADS; ++t)
         threads.emplace_back([&, t] {
            if (work(ms, slots.data(), 1000 + std::uint64_t(t), OPS))
               good.fetch_add(1);
         });
      for (auto &t : threads)
         t.join();
      bool ok = true;
      drain(ms, slots.data(), ok);
      mspace_stats_t s;
      mspace_get_stats(ms, &s);
      check(good.load() == THREADS && ok, "threads: every block arrived intact");
      check(mspace_check(ms) == 0, "threads: mspace_check is clean");
      check(s.allocated_blocks == 0, "threads: every block was freed");
      std::printf("threads: %d threads x %d operations on one locked mspace\n", THREADS, OPS);
      mspace_destroy(ms);
   }

   // fronts biased to their threads (lock.hpp): a thread that takes its front many times
   // in a row holds it without an atomic operation; a free from another thread, and a
   // call that takes every lock, end the bias while the owner runs
   {
      mspace ms = mspace_create_flags(64 << 20, MSPACE_LOCKED);
      check(ms != nullptr, "bias: a locked mspace");
#if defined(MULLE_DLMALLOC_HAS_FRONTS) && defined(MULLE_DLMALLOC_HAS_BIAS)
      auto *m = static_cast<mulle::detail::mstate *>(ms);
      const bool biases = mulle::detail::FRONTS > 1 && mulle::detail::may_bias(m);
      // one thread alone: biased once it took its front BIAS_AFTER times in a row
      {
         unsigned id = 0, owner = 0;
         bool misuse_ok = false;
         void *kept = nullptr;
         mulle::detail::front *f = nullptr;
         std::thread t([&] {
            id = static_cast<unsigned>(syscall(SYS_gettid));   // the owner's token holds it
            f = mulle::detail::thread_front(m);
            kept = mspace_malloc(ms, 40);
            for (unsigned i = 0; i < 2 * mulle::detail::BIAS_AFTER; ++i)
               mspace_free(ms, mspace_malloc(ms, 40 + i % 200));
            owner = __atomic_load_n(&f->owner, __ATOMIC_RELAXED);
            // the owner's free of a slot is checked as any: a second free, an interior
            // pointer and a second free of a slot another thread freed first (queued, not
            // yet collected) are reported, the bias stays, and nothing else changes; a
            // chunk's free passes the bias by
            struct Seen { int count; mspace_error_t last[3]; } seen = {0, {MSPACE_ERROR_NONE, MSPACE_ERROR_NONE, MSPACE_ERROR_NONE}};
            mspace_set_error_handler(ms, [](mspace, mspace_error_t e, void *, void *ctx) {
               auto *k = static_cast<Seen *>(ctx);
               if (k->count < 3)
                  k->last[k->count] = e;
               k->count++;
            }, &seen);
            char *twice = static_cast<char *>(mspace_malloc(ms, 40));
            mspace_free(ms, twice);
            mspace_free(ms, twice);
            char *inner = static_cast<char *>(mspace_malloc(ms, 40));
            mspace_free(ms, inner + 16);
            mspace_free(ms, inner);
            char *theirs_first = static_cast<char *>(mspace_malloc(ms, 40));
            char *chunk        = static_cast<char *>(mspace_malloc(ms, 8192));
            std::thread([&] { mspace_free(ms, theirs_first); }).join();
            mspace_free(ms, theirs_first);
            mspace_free(ms, chunk);
            mspace_set_error_handler(ms, nullptr, nullptr);
            misuse_ok = seen.count == 3 && seen.last[0] == MSPACE_ERROR_DOUBLE_FREE &&
                        seen.last[1] == MSPACE_ERROR_INVALID_POINTER && seen.last[2] == MSPACE_ERROR_DOUBLE_FREE &&
                        chunk != nullptr && __atomic_load_n(&f->owner, __ATOMIC_RELAXED) == owner;
         });
         t.join();
         const unsigned ID_BITS = (1u << mulle::detail::TOKEN_LANE_SHIFT) - 1;
         check(!biases || (owner & ID_BITS) == id, "bias: the thread's front is biased to it");
         check(misuse_ok, "bias: the owner's double frees (its own first free, or another thread's) and interior free are reported, the bias stays");
         mspace_free(ms, kept);   // another thread's free: a remote free, the bias stays
         check(!biases || __atomic_load_n(&f->owner, __ATOMIC_RELAXED) == owner,
               "bias: another thread's free (a remote free) leaves it");
         mspace_stats_t st;
         mspace_get_stats(ms, &st);   // a call that takes every lock ends it
         check(__atomic_load_n(&f->owner, __ATOMIC_RELAXED) == 0 && st.allocated_blocks == 0,
               "bias: a call that takes every lock ends it, and counts the remote free as free");
         // a thread that frees many blocks of another thread's front in a row does not
         // become its owner: a front is biased only to threads whose own front it is
         std::vector<void *> theirs(2 * mulle::detail::BIAS_AFTER);
         std::thread u([&] {
            f = mulle::detail::thread_front(m);
            for (void *&p : theirs)
               p = mspace_malloc(ms, 64);
         });
         u.join();
         bool other_front = false, owns = false;
         std::thread v([&] {
            mspace_free(ms, mspace_malloc(ms, 64));   // v is given a front of its own
            other_front = mulle::detail::thread_front(m) != f;
            for (void *p : theirs)
               mspace_free(ms, p);
            owns = (__atomic_load_n(&f->owner, __ATOMIC_RELAXED) & ID_BITS) == static_cast<unsigned>(syscall(SYS_gettid));
         });
         v.join();
         check(!other_front || !owns, "bias: not to a thread whose front it is not");
         mspace_stats_t s;
         mspace_get_stats(ms, &s);
         check(s.allocated_blocks == 0 && mspace_check(ms) == 0, "bias: the heap is sound after");
      }
      // a heap over the caller's memory (maybe shared with other processes) is never biased
      {
         static unsigned char buffer[4 << 20];
         mspace mb = mspace_create_with_base_flags(buffer, sizeof buffer, MSPACE_LOCKED);
         auto *mm = static_cast<mulle::detail::mstate *>(mb);
         unsigned owner = 1;
         std::thread t([&] {
            for (unsigned i = 0; i < 2 * mulle::detail::BIAS_AFTER; ++i)
               mspace_free(mb, mspace_malloc(mb, 40));
            owner = __atomic_load_n(&mulle::detail::thread_front(mm)->owner, __ATOMIC_RELAXED);
         });
         t.join();
         check(owner == 0, "bias: none in a heap over the caller's memory");
         mspace_destroy(mb);
      }
#else
      const bool biases = false;
#endif
      // the bias ended while its owner is inside: one thread allocates and frees blocks
      // of one size; another frees blocks it handed over, in bursts between which the
      // owner's front is biased again (often where the build biases after a few takes:
      // make test-shared builds this test a second time with MULLE_DLMALLOC_BIAS_AFTER=8)
      {
         const int HANDED = 200000 / scale, RING = 256, BURST = 64;
         std::vector<std::atomic<void *>> ring(RING);
         for (auto &s : ring)
            s.store(nullptr);
         std::atomic<long> made{0}, freed{0};
         std::atomic<bool> done{false}, intact{true};
         std::thread owner([&] {
            rng r{6000};
            void *mine[8] = {};
            for (long i = 0; i < HANDED; ++i)
            {
               void *&q = mine[i % 8];
               if (q)
               {
                  intact = intact && block_intact(q);
                  mspace_free(ms, q);
               }
               q = make_block(ms, r);
               void *h = make_block(ms, r);
               while (ring[i % RING].load(std::memory_order_acquire))   // wait for room
                  std::this_thread::yield();
               ring[i % RING].store(h, std::memory_order_release);
               made.fetch_add(1);
            }
            for (void *q : mine)
               if (q)
                  mspace_free(ms, q);
            done = true;
         });
         std::thread freer([&] {
            long next = 0;
            while (next < HANDED)
            {
               if (made.load() - next < BURST && !done.load())
               {
                  std::this_thread::yield();
                  continue;
               }
               for (int k = 0; k < BURST && next < HANDED; ++k, ++next)
               {
                  void *h;
                  while (!(h = ring[next % RING].load(std::memory_order_acquire)))
                     std::this_thread::yield();
                  intact = intact && block_intact(h);
                  mspace_free(ms, h);
                  ring[next % RING].store(nullptr, std::memory_order_release);
                  freed.fetch_add(1);
               }
            }
         });
         owner.join();
         freer.join();
         mspace_stats_t s;
         mspace_get_stats(ms, &s);
         check(intact.load() && freed.load() == HANDED, "bias race: every block handed over arrived intact");
         check(s.allocated_blocks == 0 && mspace_check(ms) == 0, "bias race: every block freed, the heap sound");
      }

      // under load: workers replace blocks of their own (their fronts become biased) and
      // now and then hand one to another worker, whose free ends the bias while its owner
      // runs; a checker takes every lock meanwhile. (A block handed over in every 1000
      // rounds would keep most fronts from being biased at all: a front whose blocks
      // other threads free that often is not.)
      const int WORKERS = 8, ROUNDS = 200000 / scale, OWN = 256;   // two threads a front
      std::vector<std::atomic<void *>> slots(SLOTS);
      for (auto &s : slots)
         s.store(nullptr);
      std::atomic<int> good{0}, seen_biased{0}, working{WORKERS};
      std::vector<std::thread> threads;
      for (int w = 0; w < WORKERS; ++w)
         threads.emplace_back([&, w] {
            rng r{5000 + std::uint64_t(w)};
            std::vector<void *> own(OWN, nullptr);
            bool ok = true;
#if defined(MULLE_DLMALLOC_HAS_FRONTS) && defined(MULLE_DLMALLOC_HAS_BIAS)
            unsigned id = static_cast<unsigned>(syscall(SYS_gettid));
            mulle::detail::front *f = mulle::detail::thread_front(m);
#endif
            for (int i = 0; i < ROUNDS && ok; ++i)
            {
               void *&p = own[r.next() % OWN];
               if (p)
               {
                  ok = block_intact(p);
                  mspace_free(ms, p);
               }
               p = make_block(ms, r);
               ok = ok && p;
               if (i % 1000 == 999 && ok)
               {
#if defined(MULLE_DLMALLOC_HAS_FRONTS) && defined(MULLE_DLMALLOC_HAS_BIAS)
                  if ((__atomic_load_n(&f->owner, __ATOMIC_RELAXED) & ((1u << mulle::detail::TOKEN_LANE_SHIFT) - 1)) == id)
                     seen_biased.fetch_add(1);
#endif
                  if (i % 8000 == 7999)   // rarely enough that a front is biased between
                  {
                     if (void *theirs = slots[r.next() % SLOTS].exchange(p))
                     {
                        ok = block_intact(theirs);
                        mspace_free(ms, theirs);
                     }
                     p = nullptr;
                  }
               }
            }
            for (void *p : own)
               if (p)
               {
                  ok = ok && block_intact(p);
                  mspace_free(ms, p);
               }
            good += ok;
            working.fetch_sub(1);
         });
      int checks = 0, sound = 0;
      while (working.load() > 0)
      {
         sound += mspace_check(ms) == 0;
         ++checks;
         std::this_thread::sleep_for(std::chrono::milliseconds(2));
      }
      for (auto &t : threads)
         t.join();
      bool ok = true;
      drain(ms, slots.data(), ok);
      mspace_stats_t s;
      mspace_get_stats(ms, &s);
      check(good.load() == WORKERS && ok, "bias: every block arrived intact");
      check(sound == checks && mspace_check(ms) == 0, "bias: every check meanwhile and after is clean");
      check(s.allocated_blocks == 0, "bias: every block was freed");
      check(!biases || seen_biased.load() > 0, "bias: the workers' fronts were biased while they ran");
      std::printf("bias: %d workers x %d rounds, a block handed over every 8000; %d checks meanwhile; "
                  "a worker found its front biased %d times of %d\n",
                  WORKERS, ROUNDS, checks, seen_biased.load(), WORKERS * (ROUNDS / 1000));
      mspace_destroy(ms);
   }

#ifndef SHARED_NO_FORK
   // processes sharing one mapping
   {
      const std::size_t capacity = 32 << 20;
      void *region = mmap(nullptr, capacity, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
      void *mail = mmap(nullptr, SLOTS * sizeof(std::atomic<void *>), PROT_READ | PROT_WRITE,
                        MAP_SHARED | MAP_ANONYMOUS, -1, 0);
      check(region != MAP_FAILED && mail != MAP_FAILED, "shared mappings");
      mspace ms = mspace_create_with_base_flags(region, capacity, MSPACE_LOCKED);
      check(ms != nullptr, "a locked mspace in a MAP_SHARED mapping");
      auto *slots = new (mail) std::atomic<void *>[SLOTS]();
      std::vector<pid_t> children;
      for (int c = 0; c < PROCESSES; ++c)
      {
         pid_t pid = fork();
         if (pid == 0)
            _exit(work(ms, slots, 2000 + std::uint64_t(c), OPS) ? 0 : 1);
         children.push_back(pid);
      }
      int good = 0;
      for (pid_t pid : children)
      {
         int status = 0;
         waitpid(pid, &status, 0);
         good += WIFEXITED(status) && WEXITSTATUS(status) == 0;
      }
      bool ok = true;
      drain(ms, slots, ok);
      mspace_stats_t s;
      mspace_get_stats(ms, &s);
      check(good == PROCESSES && ok, "processes: every block arrived intact");
      check(mspace_check(ms) == 0, "processes: mspace_check is clean");
      check(s.allocated_blocks == 0, "processes: every block was freed");
      std::printf("processes: %d processes x %d operations on one locked mspace in a shared mapping\n",
                  PROCESSES, OPS);
      mspace_destroy(ms);
      munmap(region, capacity);
      munmap(mail, SLOTS * sizeof(std::atomic<void *>));
   }
#endif

#ifndef SHARED_NO_FORK
   // fork while other threads allocate from a private locked mspace
   {
      const int FORKS = 300 / scale + 10;
      forked_heap = mspace_create_flags(16 << 20, MSPACE_LOCKED);
      check(forked_heap != nullptr, "fork: a private locked mspace");
#ifndef SHARED_NO_ATFORK   /* defined only to see the hang the recipe prevents */
      check(pthread_atfork(hold_for_fork, release_after_fork, release_after_fork) == 0, "fork: handlers");
#endif
      std::vector<std::atomic<void *>> slots(SLOTS);
      for (auto &s : slots)
         s.store(nullptr);
      std::atomic<bool> stop{false};
      std::vector<std::thread> threads;
      for (int t = 0; t < 3; ++t)
         threads.emplace_back([&, t] {
            rng r{3000 + std::uint64_t(t)};
            while (!stop.load(std::memory_order_relaxed))
               if (void *theirs = slots[r.next() % SLOTS].exchange(make_block(forked_heap, r)))
                  mspace_free(forked_heap, theirs);
         });
      int good = 0;
      for (int i = 0; i < FORKS; ++i)
      {
         pid_t pid = fork();
         if (pid == 0)
         {
            alarm(10);   /* a child that inherited a held lock would spin for ever */
            rng r{4000 + std::uint64_t(i)};
            bool ok = true;
            for (int k = 0; k < 100 && ok; ++k)
            {
               void *p = make_block(forked_heap, r);
               ok = p && block_intact(p);
               mspace_free(forked_heap, p);
            }
            _exit(ok && mspace_check(forked_heap) == 0 ? 0 : 1);
         }
         int status = 0;
         waitpid(pid, &status, 0);
         good += WIFEXITED(status) && WEXITSTATUS(status) == 0;
      }
      stop.store(true);
      for (auto &t : threads)
         t.join();
      bool ok = true;
      drain(forked_heap, slots.data(), ok);
      check(good == FORKS, "fork: every child allocated, freed and found its heap sound");
      check(ok && mspace_check(forked_heap) == 0, "fork: the parent's heap is sound");
      std::printf("fork: %d of %d children forked while 3 threads allocate got a usable heap\n", good, FORKS);
      check(mspace_destroy(forked_heap) == 0, "fork: destroyed");
      forked_heap = nullptr;   /* the handlers stay registered: a NULL handle does nothing */
   }
#endif

   std::printf("shared: %d passed, %d failed\n", passed, failed);
   return failed != 0;
}
