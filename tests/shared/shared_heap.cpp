// MSPACE_LOCKED under load: several threads of one process, and several processes sharing
// a MAP_SHARED mapping, allocate, write, hand blocks to each other and free each other's
// blocks on one mspace. Every block carries a pattern that is verified before it is freed;
// mspace_check and the statistics must be clean at the end. Built plainly and with
// ThreadSanitizer by the Makefile (make test-shared).
#define MULLE_DLMALLOC_IMPLEMENTATION
#include "mulle_dlmalloc.hpp"

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <thread>
#include <vector>
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

} // namespace

int main(int argc, char **argv)
{
   const int scale = argc > 1 ? std::atoi(argv[1]) : 1;
   const int THREADS = 4, PROCESSES = 4, OPS = 200000 / scale;

   check(mspace_create_flags(1 << 20, 2u) == nullptr, "an unknown flag is refused");

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

   std::printf("shared: %d passed, %d failed\n", passed, failed);
   return failed != 0;
}
