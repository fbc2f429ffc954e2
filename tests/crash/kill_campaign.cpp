/* The kill campaign: a heap in a file survives kill -9 at any moment.

   A child process works on a heap in a file mapped MAP_SHARED: random mallocs, callocs,
   memaligns, reallocs and frees of blocks whose bytes are a pattern of their own. Around
   every call it writes to a journal (a second shared mapping) what it is about to do and,
   once the call returned and the block's bytes are written, that it is done. The parent
   kills it with SIGKILL at a random moment, then attaches the heap (which rebuilds it
   where the child died inside a call), checks it, and holds it against the journal:
   - every block the journal calls live is in use, as large as asked, its bytes intact;
   - a block whose free returned is free: the blocks in use that the journal does not
     know are at most one, the block of the call that was interrupted (counted as leaked
     bytes, then freed);
   - the interrupted call's block is in use (and intact) or free.
   Then the next child goes on with the same heap. Any refusal, failed check, lost or
   damaged block, or a second unknown block in use is a failure.

   usage: kill_campaign KILLS [SEED]
   prints: the kills, how attach found the heap (rebuilt, open), the blocks verified and
   the leaked bytes, and "kill campaign: ok" or the failures. */

#define MULLE_DLMALLOC_IMPLEMENTATION
#include "../../mulle_dlmalloc.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <vector>

#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

namespace {

const size_t HEAP_BYTES = 16u << 20;
const unsigned SLOTS    = 1024;

enum : uint32_t { EMPTY, LIVE, MALLOCING, FREEING, REALLOCING };

/* One block of the child's, as the journal knows it. `state` is written last on the way
   in and first on the way out of a call: what it says was true when it was written. */
struct slot
{
   uint32_t state;
   uint32_t size;       /* bytes asked for, and patterned */
   uint64_t off;        /* from the heap's base */
   uint32_t tag;
   uint32_t old_size;   /* REALLOCING: the block before the call, and the size asked */
   uint64_t old_off;
   uint32_t new_size;
   uint32_t unused;
};

struct journal
{
   slot     s[SLOTS];
   uint64_t ops;        /* calls the child finished */
};

inline void ordered() { __asm__ __volatile__("" ::: "memory"); }

struct splitmix
{
   uint64_t x;
   uint64_t next()
   {
      uint64_t z = (x += 0x9e3779b97f4a7c15ull);
      z          = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
      z          = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
      return z ^ (z >> 31);
   }
   uint64_t below(uint64_t n) { return next() % n; }
};

inline unsigned char pattern(uint32_t tag, size_t i) { return static_cast<unsigned char>((tag * 131u + i * 7u) ^ (i >> 8)); }

void fill(unsigned char *p, size_t from, size_t to, uint32_t tag)
{
   for (size_t i = from; i < to; ++i)
      p[i] = pattern(tag, i);
}

bool intact(const unsigned char *p, size_t n, uint32_t tag)
{
   for (size_t i = 0; i < n; ++i)
      if (p[i] != pattern(tag, i))
         return false;
   return true;
}

/* Mostly slots of the small-object tier, some chunks, a few large ones. */
uint32_t draw_size(splitmix &r)
{
   uint64_t k = r.below(100);
   if (k < 60)
      return static_cast<uint32_t>(1 + r.below(512));
   if (k < 92)
      return static_cast<uint32_t>(513 + r.below(8 * 1024));
   return static_cast<uint32_t>(16 * 1024 + r.below(240 * 1024));
}

/* ---- the child: calls for ever, journalled ---- */

[[noreturn]] void child(mspace ms, unsigned char *base, journal *j, uint64_t seed)
{
   splitmix r{seed};
   uint32_t tag = static_cast<uint32_t>(seed);
   for (;;)
   {
      slot    &e = j->s[r.below(SLOTS)];
      uint64_t k = r.below(100);
      if (e.state == EMPTY)
      {
         uint32_t n = draw_size(r);
         e.size     = n;
         e.tag      = ++tag;
         ordered();
         e.state = MALLOCING;
         ordered();
         void *p = k < 70 ? mspace_malloc(ms, n) : k < 85 ? mspace_calloc(ms, 1, n) : mspace_memalign(ms, size_t(64) << r.below(7), n);
         ordered();
         if (p)
         {
            fill(static_cast<unsigned char *>(p), 0, n, e.tag);
            e.off = static_cast<uint64_t>(static_cast<unsigned char *>(p) - base);
            ordered();
         }
         e.state = p ? LIVE : EMPTY;
      }
      else if (k < 35)
      {
         uint32_t n = draw_size(r);
         e.old_off  = e.off;
         e.old_size = e.size;
         e.new_size = n;
         ordered();
         e.state = REALLOCING;
         ordered();
         void *q = mspace_realloc(ms, base + e.off, n);
         ordered();
         if (q)
         {
            if (n > e.old_size)
               fill(static_cast<unsigned char *>(q), e.old_size, n, e.tag);
            e.off  = static_cast<uint64_t>(static_cast<unsigned char *>(q) - base);
            e.size = n;
            ordered();
         }
         e.state = LIVE;
      }
      else
      {
         e.state = FREEING;
         ordered();
         mspace_free(ms, base + e.off);
         ordered();
         e.state = EMPTY;
      }
      ordered();
      j->ops++;
   }
}

/* ---- the parent: attach, check, verify ---- */

struct block
{
   uint64_t off;
   size_t   used;
};

void collect(void *start, void *, size_t used, void *arg)
{
   if (used)
      static_cast<std::vector<block> *>(arg)->push_back({0, used}), static_cast<std::vector<block> *>(arg)->back().off = reinterpret_cast<uintptr_t>(start);
}

struct totals
{
   unsigned long kills = 0, rebuilt = 0, open = 0, verified = 0, interrupted = 0, leaks = 0, failures = 0;
   size_t        leaked_bytes = 0, most_leaked = 0;
};

void fail(totals &t, unsigned long kill, const char *what, uint64_t off)
{
   if (t.failures++ < 20)
      std::printf("FAIL after kill %lu: %s (offset %llu)\n", kill, what, static_cast<unsigned long long>(off));
}

bool in_use(const std::vector<block> &used, uint64_t off)
{
   auto it = std::lower_bound(used.begin(), used.end(), off, [](const block &b, uint64_t o) { return b.off < o; });
   return it != used.end() && it->off == off;
}

/* The heap after a kill, against the journal; the journal is brought to what the heap
   holds (the interrupted call settled), and unknown blocks in use are freed. */
mspace verify(totals &t, unsigned char *base, journal *j)
{
   mspace ms = mspace_attach(base, HEAP_BYTES);
   if (!ms)
   {
      fail(t, t.kills, "attach refused the heap", 0);
      return nullptr;
   }
   mspace_found_t found = mspace_attach_found(ms);
   t.rebuilt += found == MSPACE_FOUND_REBUILT;
   t.open += found == MSPACE_FOUND_OPEN;
   if (mspace_check(ms) != 0)
      fail(t, t.kills, "mspace_check after the attach", 0);

   std::vector<block> used;
   mspace_inspect_all(ms, collect, &used);
   for (block &b : used)
      b.off -= reinterpret_cast<uintptr_t>(base);
   std::sort(used.begin(), used.end(), [](const block &a, const block &b) { return a.off < b.off; });

   std::vector<uint64_t> known;
   for (unsigned i = 0; i < SLOTS; ++i)
   {
      slot &e = j->s[i];
      switch (e.state)
      {
      case LIVE:
         if (!in_use(used, e.off) || mspace_usable_size(base + e.off) < e.size || !intact(base + e.off, e.size, e.tag))
            fail(t, t.kills, "a live block lost or damaged", e.off);
         t.verified++;
         known.push_back(e.off);
         break;
      case MALLOCING:   /* its block, if any, nobody knows: a leak */
         t.interrupted++;
         e.state = EMPTY;
         break;
      case FREEING:     /* in use and intact, or free */
         t.interrupted++;
         if (in_use(used, e.off))
         {
            if (!intact(base + e.off, e.size, e.tag))
               fail(t, t.kills, "a block whose free was interrupted is in use, damaged", e.off);
            e.state = LIVE;
            known.push_back(e.off);
         }
         else
            e.state = EMPTY;
         break;
      case REALLOCING:  /* the old block in use, or gone; in use, its bytes up to the smaller
                           of both sizes are intact (a shrink in place may have cut the rest) */
         t.interrupted++;
         if (in_use(used, e.old_off))
         {
            size_t keep = std::min<size_t>(std::min(e.old_size, e.new_size), mspace_usable_size(base + e.old_off));
            if (!intact(base + e.old_off, keep, e.tag))
               fail(t, t.kills, "a block whose realloc was interrupted is in use, damaged", e.old_off);
            e.off   = e.old_off;
            e.size  = static_cast<uint32_t>(keep);
            e.state = LIVE;
            known.push_back(e.off);
         }
         else
            e.state = EMPTY;
         break;
      default:
         break;
      }
   }
   std::sort(known.begin(), known.end());

   /* what is in use that the journal does not know: at most the interrupted call's block */
   size_t unknown = 0, bytes = 0;
   for (const block &b : used)
      if (!std::binary_search(known.begin(), known.end(), b.off))
      {
         ++unknown;
         bytes += b.used;
         mspace_free(ms, base + b.off);
      }
   if (unknown > 1)
      fail(t, t.kills, "more than one block in use that the journal does not know", 0);
   t.leaks += unknown;
   t.leaked_bytes += bytes;
   t.most_leaked = std::max(t.most_leaked, bytes);
   if (mspace_check(ms) != 0)
      fail(t, t.kills, "mspace_check after the leaks were freed", 0);
   return ms;
}

void pause_us(long us)
{
   timespec ts{us / 1000000, (us % 1000000) * 1000};
   while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
   {
   }
}

} // namespace

int main(int argc, char **argv)
{
   unsigned long kills = argc > 1 ? std::strtoul(argv[1], nullptr, 10) : 200;
   uint64_t      seed  = argc > 2 ? std::strtoull(argv[2], nullptr, 10) : 1;

   char path[] = "/tmp/mulle_kill_campaign_XXXXXX";
   int  fd     = mkstemp(path);
   if (fd < 0 || ftruncate(fd, static_cast<off_t>(HEAP_BYTES)) != 0)
   {
      std::perror("heap file");
      return 2;
   }
   unlink(path);   /* the mapping keeps it */
   auto *base = static_cast<unsigned char *>(mmap(nullptr, HEAP_BYTES, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0));
   auto *j    = static_cast<journal *>(mmap(nullptr, sizeof(journal), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0));
   if (base == MAP_FAILED || j == MAP_FAILED)
   {
      std::perror("mmap");
      return 2;
   }
   std::memset(j, 0, sizeof *j);
   mspace ms = mspace_create_with_base(base, HEAP_BYTES);
   if (!ms)
   {
      std::printf("FAIL: no heap in the file\n");
      return 1;
   }

   totals   t;
   splitmix r{seed * 0x2545f4914f6cdd1dull + 1};
   time_t   start = std::time(nullptr);
   for (t.kills = 1; t.kills <= kills && ms; ++t.kills)
   {
      uint64_t before = j->ops;
      pid_t    pid    = fork();
      if (pid == 0)
         child(ms, base, j, r.next());
      if (pid < 0)
      {
         std::perror("fork");
         return 2;
      }
      /* once the child runs calls: a moment of up to 2 ms, then the kill */
      for (int spin = 0; j->ops == before && spin < 200000; ++spin)
         pause_us(20);
      pause_us(static_cast<long>(r.below(2000)));
      kill(pid, SIGKILL);
      int status = 0;
      waitpid(pid, &status, 0);
      ms = verify(t, base, j);
   }
   t.kills--;
   std::printf("kill campaign: %lu kills in %ld s; attach rebuilt %lu heaps and found %lu open; "
               "%lu live blocks verified, %lu interrupted calls; %lu leaked blocks, %zu bytes "
               "(at most %zu after one kill); %lu failures\n",
               t.kills, static_cast<long>(std::time(nullptr) - start), t.rebuilt, t.open, t.verified,
               t.interrupted, t.leaks, t.leaked_bytes, t.most_leaked, t.failures);
   if (t.failures)
      return 1;
   std::printf("kill campaign: ok\n");
   return 0;
}
