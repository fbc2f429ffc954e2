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
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <thread>
#include <vector>
#include <pthread.h>
#include <signal.h>
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

} // namespace

int main(int argc, char **argv)
{
   const int scale = argc > 1 ? std::atoi(argv[1]) : 1;
   const int THREADS = 4, PROCESSES = 4, OPS = 200000 / scale;

   check(mspace_create_flags(1 << 20, 4u) == nullptr, "an unknown flag is refused");

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
