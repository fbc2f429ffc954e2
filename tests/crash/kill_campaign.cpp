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

   The locked variant (`locked`): WORKERS processes share one MSPACE_LOCKED heap in a
   shared mapping and call it at once, each journalling its own slots. The parent kills
   one of them at a random moment, maybe while it holds a lock of the heap, reaps it and
   starts another in its place (on slots of its own). The others must not hang: each must
   go on making calls within a few seconds (a lock whose holder is gone is taken over,
   and the heap rebuilt where the holder stopped inside a call). Then the others finish
   their calls and wait between calls while the heap is checked and held against every
   journal: only the victim's call was interrupted, so whose each block is can be told as
   above, and the victim's live blocks are freed. At the end every worker stops between
   calls, and the heap is checked once more.

   usage: kill_campaign KILLS [SEED]
          kill_campaign locked KILLS [SEED]
   prints: the kills, how the heap was found (rebuilt, open; the locked variant: the
   holders that died inside a lock), the blocks verified and the leaked bytes, and "kill
   campaign: ok" or the failures. */

#define MULLE_DLMALLOC_IMPLEMENTATION
#include "../../mulle_dlmalloc.hpp"
#include "random_calls.h"

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
   in and first on the way out of a call: what it says was true when it was written. A
   malloc's or realloc's result goes to `got` as soon as the call returned, before the
   block's bytes are written and the slot turns LIVE. */
const uint64_t NONE = ~static_cast<uint64_t>(0);

struct slot
{
   uint32_t state;
   uint32_t size;       /* bytes asked for, and patterned */
   uint64_t off;        /* from the heap's base */
   uint32_t tag;
   uint32_t old_size;   /* REALLOCING: the block before the call, and the size asked */
   uint64_t old_off;
   uint32_t new_size;
   uint32_t call;       /* MALLOCING: 0 malloc, 1 calloc, else memalign's alignment */
   uint64_t got;        /* MALLOCING, REALLOCING: what the call returned, NONE before */
};

struct journal
{
   slot     s[SLOTS];
   uint64_t ops;        /* calls the child finished */
};

inline void ordered() { __asm__ __volatile__("" ::: "memory"); }

void pause_us(long us)
{
   timespec ts{us / 1000000, (us % 1000000) * 1000};
   while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
   {
   }
}

/* ---- the child: calls for ever, journalled ---- */

/* Where the locked variant's workers wait between calls while the parent checks the heap:
   `hold` is the round's number while the parent holds them (0 lets them go), and each
   worker publishes in `parked` the round it waits in. */
struct pause_point
{
   const uint32_t *hold;
   uint32_t       *parked;
};

[[noreturn]] void child(mspace ms, unsigned char *base, slot *slots, unsigned nslots, uint64_t *ops, uint64_t seed,
                        const uint32_t *stop = nullptr, pause_point pause = {nullptr, nullptr})
{
   splitmix r{seed};
   uint32_t tag = static_cast<uint32_t>(seed);
   for (;;)
   {
      if (stop && __atomic_load_n(stop, __ATOMIC_RELAXED))
         _exit(0);   /* between calls */
      if (pause.hold)
         for (uint32_t round; (round = __atomic_load_n(pause.hold, __ATOMIC_ACQUIRE)) != 0;)
         {
            if (stop && __atomic_load_n(stop, __ATOMIC_RELAXED))
               _exit(0);
            __atomic_store_n(pause.parked, round, __ATOMIC_RELEASE);
            pause_us(50);
         }
      slot    &e = slots[r.below(nslots)];
      uint64_t k = r.below(100);
      if (e.state == EMPTY)
      {
         uint32_t n = draw_size(r);
         e.size     = n;
         e.tag      = ++tag;
         e.got      = NONE;
         e.call     = k < 70 ? 0 : k < 85 ? 1 : uint32_t(64) << r.below(7);
         ordered();
         e.state = MALLOCING;
         ordered();
         void *p = e.call == 0 ? mspace_malloc(ms, n) : e.call == 1 ? mspace_calloc(ms, 1, n) : mspace_memalign(ms, e.call, n);
         ordered();
         if (p)
         {
            e.got = static_cast<uint64_t>(static_cast<unsigned char *>(p) - base);
            ordered();
            fill(static_cast<unsigned char *>(p), 0, n, e.tag);
            e.off = e.got;
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
         e.got      = NONE;
         ordered();
         e.state = REALLOCING;
         ordered();
         void *q = mspace_realloc(ms, base + e.off, n);
         ordered();
         if (q)
         {
            e.got = static_cast<uint64_t>(static_cast<unsigned char *>(q) - base);
            ordered();
            if (n > e.old_size)
               fill(static_cast<unsigned char *>(q), e.old_size, n, e.tag);
            e.off  = e.got;
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
      __atomic_add_fetch(ops, 1, __ATOMIC_RELAXED);
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

/* The heap ms against the journal's slots: the journal is brought to what the heap holds
   (the interrupted calls settled), and the blocks in use that it does not know, at most
   `allowed`, are freed. */
void verify_against(totals &t, mspace ms, unsigned char *base, slot *slots, unsigned nslots, size_t allowed)
{
   if (mspace_check(ms) != 0)
      fail(t, t.kills, "mspace_check", 0);
   const std::vector<slot> before(slots, slots + nslots);   /* as the kill left them: for a report */

   std::vector<block> used;
   mspace_inspect_all(ms, collect, &used);
   for (block &b : used)
      b.off -= reinterpret_cast<uintptr_t>(base);
   std::sort(used.begin(), used.end(), [](const block &a, const block &b) { return a.off < b.off; });

   /* the live blocks first: an interrupted call's block that is in use as another's
      live block (freed, then taken by another process) is gone for the interrupted one */
   std::vector<uint64_t> known;
   for (unsigned i = 0; i < nslots; ++i)
   {
      slot &e = slots[i];
      if (e.state != LIVE)
         continue;
      if (!in_use(used, e.off) || mspace_usable_size(base + e.off) < e.size || !intact(base + e.off, e.size, e.tag))
         fail(t, t.kills, "a live block lost or damaged", e.off);
      t.verified++;
      known.push_back(e.off);
   }
   std::sort(known.begin(), known.end());
   auto taken = [&](uint64_t off) { return !in_use(used, off) || std::binary_search(known.begin(), known.end(), off); };
   std::vector<uint64_t> settled;
   size_t returned_bytes = 0;
   /* then the calls that returned before the kill: their blocks are theirs */
   for (unsigned i = 0; i < nslots; ++i)
   {
      slot &e = slots[i];
      if ((e.state != MALLOCING && e.state != REALLOCING) || e.got == NONE)
         continue;
      t.interrupted++;
      if (taken(e.got))
         fail(t, t.kills, "the block a call returned is free, or another's", e.got);
      else if (e.state == MALLOCING)   /* returned, not yet written: dropped */
      {
         returned_bytes += mspace_usable_size(base + e.got);
         mspace_free(ms, base + e.got);
         settled.push_back(e.got);   /* known: not freed again below */
         e.state = EMPTY;
      }
      else
      {
         size_t keep = std::min<size_t>(std::min(e.old_size, e.new_size), mspace_usable_size(base + e.got));
         if (!intact(base + e.got, keep, e.tag))
            fail(t, t.kills, "the block a realloc returned lost bytes", e.got);
         e.off   = e.got;
         e.size  = static_cast<uint32_t>(keep);
         e.state = LIVE;
         settled.push_back(e.off);
      }
   }
   /* and the calls the kill interrupted */
   for (unsigned i = 0; i < nslots; ++i)
   {
      slot &e = slots[i];
      switch (e.state)
      {
      case MALLOCING:   /* its block, if any, nobody knows: a leak */
         t.interrupted++;
         e.state = EMPTY;
         break;
      case FREEING:     /* in use and intact, or free */
         t.interrupted++;
         if (!taken(e.off))
         {
            if (!intact(base + e.off, e.size, e.tag))
               fail(t, t.kills, "a block whose free was interrupted is in use, damaged", e.off);
            e.state = LIVE;
            settled.push_back(e.off);
         }
         else
            e.state = EMPTY;
         break;
      case REALLOCING:  /* the old block in use, or gone; in use, its bytes up to the smaller
                           of both sizes are intact (a shrink in place may have cut the rest) */
         t.interrupted++;
         if (!taken(e.old_off))
         {
            size_t keep = std::min<size_t>(std::min(e.old_size, e.new_size), mspace_usable_size(base + e.old_off));
            if (!intact(base + e.old_off, keep, e.tag))
               fail(t, t.kills, "a block whose realloc was interrupted is in use, damaged", e.old_off);
            e.off   = e.old_off;
            e.size  = static_cast<uint32_t>(keep);
            e.state = LIVE;
            settled.push_back(e.off);
         }
         else
            e.state = EMPTY;
         break;
      default:
         break;
      }
   }
   known.insert(known.end(), settled.begin(), settled.end());
   std::sort(known.begin(), known.end());

   /* what is in use that the journal does not know: at most the interrupted call's block */
   std::vector<block> unknown_blocks;
   for (const block &b : used)
      if (!std::binary_search(known.begin(), known.end(), b.off))
         unknown_blocks.push_back(b);
   size_t unknown = unknown_blocks.size(), bytes = 0;
   if (unknown > allowed)
   {
      fail(t, t.kills, "more blocks in use than the journal knows and the kills explain", 0);
      for (const block &b : unknown_blocks)
      {
         auto *w = reinterpret_cast<const size_t *>(base + b.off);
         std::printf("  unknown block at offset %llu, %zu bytes used; words around its start %zx %zx | %zx %zx\n",
                     static_cast<unsigned long long>(b.off), b.used, w[-2], w[-1], w[0], w[1]);
      }
      /* the chunks around each unknown block, as the heads say */
      auto *m = static_cast<mulle::detail::mstate *>(ms);
      for (const block &b : unknown_blocks)
         for (mulle::detail::chunk *c = mulle::detail::first_chunk(m); c != m->top; c = mulle::detail::next_chunk(c))
         {
            size_t s = mulle::detail::chunk_size(c);
            if (s < mulle::detail::MIN_CHUNK || s > static_cast<size_t>(m->chunk_end.get() - reinterpret_cast<unsigned char *>(c)))
            {
               std::printf("    a head that holds no size at %lld: the walk ends\n",
                           static_cast<long long>(reinterpret_cast<unsigned char *>(c) - base));
               break;
            }
            long long at = reinterpret_cast<unsigned char *>(c) - base;
            if (at + 16384 < static_cast<long long>(b.off) || at > static_cast<long long>(b.off) + 8192)
               continue;
            std::printf("    chunk at %lld: head %zx (size %zu)", at, c->head, mulle::detail::chunk_size(c));
            if (mulle::detail::chunk_is_page(c))
            {
               auto *pg = reinterpret_cast<mulle::detail::page *>(mulle::detail::mem_from_chunk(c));
               std::printf(" page: size %u count %u used %u front %u listed %u", pg->size, pg->count, pg->used, pg->front, pg->listed);
            }
            std::printf("\n");
         }
      for (unsigned i = 0; i < nslots; ++i)   /* the calls the kills interrupted */
         if (before[i].state == MALLOCING || before[i].state == REALLOCING || before[i].state == FREEING)
            std::printf("  slot %u: state %u (call %u), off %llu, old_off %llu, got %lld, size %u, new size %u\n", i,
                        before[i].state, before[i].call, static_cast<unsigned long long>(before[i].off),
                        static_cast<unsigned long long>(before[i].old_off), static_cast<long long>(before[i].got),
                        before[i].size, before[i].new_size);
   }
   for (const block &b : unknown_blocks)
   {
      bytes += b.used;
      mspace_free(ms, base + b.off);
   }
   t.leaks += unknown;
   bytes += returned_bytes;
   t.leaked_bytes += bytes;
   t.most_leaked = std::max(t.most_leaked, bytes);
   if (mspace_check(ms) != 0)
      fail(t, t.kills, "mspace_check after the leaks were freed", 0);
}

/* The heap after a kill: attached again (rebuilt where the child stopped inside a call),
   then held against the journal. */
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
   verify_against(t, ms, base, j->s, SLOTS, 1);
   return ms;
}

/* ---- the locked variant: several processes on one heap, one of them killed ---- */

const unsigned WORKERS      = 3;
const unsigned WORKER_SLOTS = 128;

struct shared_run
{
   uint32_t stop;             /* workers end between calls */
   uint32_t hold;             /* workers wait between calls (pause_point) */
   uint32_t parked[WORKERS];
   uint64_t ops[WORKERS];     /* calls each worker's place finished (its workers in turn) */
   uint64_t holder_died;      /* MSPACE_ERROR_HOLDER_DIED reports, from any process */
   uint64_t other_errors;
   struct
   {
      uint32_t error, pid;
      uint64_t off;            /* of the pointer reported, from the heap's base */
   } first[8];                /* the first other errors, printed at the end */
};

shared_run *run;

unsigned char *run_base;

void count_reports(mspace, mspace_error_t e, void *p, void *)
{
   if (e == MSPACE_ERROR_HOLDER_DIED)
   {
      __atomic_add_fetch(&run->holder_died, 1, __ATOMIC_RELAXED);
      return;
   }
   uint64_t k = __atomic_fetch_add(&run->other_errors, 1, __ATOMIC_RELAXED);
   if (k < 8)
      run->first[k] = {static_cast<uint32_t>(e), static_cast<uint32_t>(getpid()),
                       static_cast<uint64_t>(static_cast<unsigned char *>(p) - run_base)};
}

int locked_campaign(unsigned long kills, uint64_t seed)
{
   unsigned nslots = (WORKERS + static_cast<unsigned>(kills)) * WORKER_SLOTS;
   auto    *base   = static_cast<unsigned char *>(mmap(nullptr, HEAP_BYTES, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0));
   auto    *slots  = static_cast<slot *>(mmap(nullptr, nslots * sizeof(slot), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0));
   run             = static_cast<shared_run *>(mmap(nullptr, sizeof(shared_run), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0));
   if (base == MAP_FAILED || slots == MAP_FAILED || run == MAP_FAILED)
   {
      std::perror("mmap");
      return 2;
   }
   mspace ms = mspace_create_with_base_flags(base, HEAP_BYTES, MSPACE_LOCKED | MSPACE_ZEROED);
   if (!ms)
   {
      std::printf("locked kill campaign: skipped (a build without locks)\n");
      return 0;
   }
   mspace_set_error_handler(ms, count_reports, nullptr);
   run_base = base;

   totals   t;
   splitmix r{seed * 0x2545f4914f6cdd1dull + 7};
   pid_t    pid[WORKERS];
   unsigned range_of[WORKERS];
   unsigned next_range = 0;
   auto     start_worker = [&](unsigned w) {
      unsigned range = next_range++;
      range_of[w]    = range;
      pid[w]         = fork();
      if (pid[w] == 0)
         child(ms, base, slots + range * WORKER_SLOTS, WORKER_SLOTS, &run->ops[w], r.next() ^ range, &run->stop,
               {&run->hold, &run->parked[w]});
      if (pid[w] < 0)
         std::perror("fork"), std::exit(2);
   };
   for (unsigned w = 0; w < WORKERS; ++w)
      start_worker(w);

   time_t begin = std::time(nullptr);
   for (t.kills = 1; t.kills <= kills; ++t.kills)
   {
      pause_us(static_cast<long>(200 + r.below(2000)));
      unsigned victim = static_cast<unsigned>(r.below(WORKERS));
      kill(pid[victim], SIGKILL);
      int status = 0;
      waitpid(pid[victim], &status, 0);
      /* none of the others hangs: each goes on within a few seconds */
      for (unsigned w = 0; w < WORKERS; ++w)
      {
         if (w == victim)
            continue;
         uint64_t before = __atomic_load_n(&run->ops[w], __ATOMIC_RELAXED);
         int      waited = 0;
         while (__atomic_load_n(&run->ops[w], __ATOMIC_RELAXED) == before && waited < 10000)
            pause_us(1000), ++waited;
         if (waited == 10000)
            fail(t, t.kills, "a worker made no call for 10 s after another was killed: a hang", 0);
      }
      if (t.failures)
         break;
      /* then the others wait between calls, and the heap is held against every journal:
         only the victim's call was interrupted, so whose each block is can be told as in
         the one-process campaign. The victim's live blocks are freed (nobody holds them
         any more) */
      uint32_t round = static_cast<uint32_t>(t.kills);
      __atomic_store_n(&run->hold, round, __ATOMIC_RELEASE);
      for (unsigned w = 0; w < WORKERS; ++w)
      {
         int waited = 0;
         while (w != victim && __atomic_load_n(&run->parked[w], __ATOMIC_ACQUIRE) != round && waited < 10000)
            pause_us(1000), ++waited;
         if (waited == 10000)
            fail(t, t.kills, "a worker did not finish its call within 10 s: a hang", 0);
      }
      if (t.failures)
         break;
      verify_against(t, ms, base, slots, next_range * WORKER_SLOTS, 1);
      for (unsigned i = 0; i < WORKER_SLOTS; ++i)
      {
         slot &e = slots[range_of[victim] * WORKER_SLOTS + i];
         if (e.state == LIVE)
            mspace_free(ms, base + e.off);
         e.state = EMPTY;
      }
      __atomic_store_n(&run->hold, 0u, __ATOMIC_RELEASE);
      if (t.failures)
         break;
      start_worker(victim);
   }
   t.kills--;
   __atomic_store_n(&run->stop, 1u, __ATOMIC_RELAXED);
   for (unsigned w = 0; w < WORKERS; ++w)
   {
      if (t.failures)
         kill(pid[w], SIGKILL);   /* one may hang: the failure is reported, not waited for */
      int status = 0;
      waitpid(pid[w], &status, 0);
   }
   if (t.failures)
   {
      std::printf("locked kill campaign: %lu failures\n", t.failures);
      return 1;
   }
   /* every process that used the heap is gone, each after a call: no call was interrupted
      since the last check */
   verify_against(t, ms, base, slots, next_range * WORKER_SLOTS, 0);
   std::printf("locked kill campaign: %u processes at once, %lu kills in %ld s; %llu recoveries after a "
               "holder died with a lock; %lu live blocks verified, %lu interrupted calls; %lu leaked blocks, "
               "%zu bytes; %llu other errors reported; %lu failures\n",
               WORKERS, t.kills, static_cast<long>(std::time(nullptr) - begin),
               static_cast<unsigned long long>(run->holder_died), t.verified, t.interrupted, t.leaks,
               t.leaked_bytes, static_cast<unsigned long long>(run->other_errors), t.failures);
   for (uint64_t k = 0; k < run->other_errors && k < 8; ++k)
      std::printf("error %u reported in process %u, pointer at offset %lld (the parent is %u)\n", run->first[k].error,
                  run->first[k].pid, static_cast<long long>(run->first[k].off), static_cast<unsigned>(getpid()));
   if (t.failures || run->other_errors)
      return 1;
   std::printf("locked kill campaign: ok\n");
   return 0;
}

} // namespace

int main(int argc, char **argv)
{
   std::setvbuf(stdout, nullptr, _IOLBF, 0);   /* what was printed stays, whatever ends the run */
   if (argc > 1 && std::strcmp(argv[1], "locked") == 0)
      return locked_campaign(argc > 2 ? std::strtoul(argv[2], nullptr, 10) : 100,
                             argc > 3 ? std::strtoull(argv[3], nullptr, 10) : 1);
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
         child(ms, base, j->s, SLOTS, &j->ops, r.next());
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
