/* ==== the opt-in lock =====================================================================

   An mspace created with MSPACE_LOCKED has spin locks inside its state, so it works
   between threads and between processes that share the mapping: the mspace's own, which
   guards the core, and one per front (tier.hpp), which guards the front's lists and
   pages. Every public call that touches the mspace holds the locks for its length: the
   fast paths of small blocks their front's alone (and the mspace's inside it to make or
   give back a page, c_api.hpp), the other calls every front's and then the mspace's
   (mspace_usable_size, which takes no mspace, none). Without the flag the cost is one
   predictable branch per call. The error handler runs with a lock held (a front's, where
   a front's path found the fault: handlers of one mspace may run on two fronts at once);
   a call back into the same mspace from there is reported as misuse
   (MSPACE_ERROR_REENTRANT), not a deadlock. mspace_lock and mspace_unlock hold every lock
   across fork (see the README's recipe).
   ========================================================================================== */

#if MULLE_DLMALLOC_LOCKS && !MULLE_DLMALLOC_NO_OS
#  if defined(_WIN32)
#    define MULLE_DLMALLOC_YIELD() SwitchToThread()
#  else
#    include <sched.h>
#    define MULLE_DLMALLOC_YIELD() sched_yield()
#  endif
#  if defined(__linux__)
#    include <errno.h>
#    include <pthread.h>
#    include <signal.h>
#    include <sys/syscall.h>
#    include <unistd.h>
#  endif
#else
#  define MULLE_DLMALLOC_YIELD() ((void) 0)
#endif

namespace mulle { namespace detail {

#if MULLE_DLMALLOC_LOCKS
MULLE_DLMALLOC_NOASAN inline void cpu_relax()
{
#if defined(__x86_64__) || defined(__i386__)
   __builtin_ia32_pause();
#elif defined(__aarch64__) || (defined(__ARM_ARCH) && __ARM_ARCH >= 7)
   __asm__ __volatile__("yield");
#endif
}

/* ---- a lock that survives its holder ----
   A lock word holds its holder, 0 while free. On Linux the holder is the thread's id,
   which names it in every process of one PID namespace (a heap shared by processes
   through a MAP_SHARED mapping too). A waiter that has waited long (past its backoff, then
   every 256 yields) asks the kernel whether the holder still exists; where it does not
   (killed, crashed, exited: its parent reaped it), the waiter takes the lock over from it
   and marks the state (`died`). The holder may have stopped inside a call: the next call
   that holds every lock rebuilds the heap from its heads where it does not check sound
   (recover.hpp), reports MSPACE_ERROR_HOLDER_DIED once, and goes on; a fast path that
   took a lock over goes that way at once. Elsewhere a holder is 1, and a waiter waits for
   ever as before. A forked child asks for its own id again (pthread_atfork). */
#if !MULLE_DLMALLOC_NO_OS && defined(__linux__)
#  define MULLE_DLMALLOC_HOLDER_IDS 1
MULLE_DLMALLOC_THREAD_LOCAL unsigned holder_id_of_thread;   /* 0: not asked since the
                                                               thread began, or forked */

#  if MULLE_DLMALLOC_BIASED && defined(SYS_membarrier) && !defined(MULLE_DLMALLOC_TSAN)
#    define MULLE_DLMALLOC_HAS_BIAS 1
static int heavy_barrier_state;   /* this process: 0 not asked, 1 registered, -1 refused */
MULLE_DLMALLOC_THREAD_LOCAL unsigned bias_token_of_thread;   /* what names this thread as a
                                                                front's owner, 0 till then */
MULLE_DLMALLOC_THREAD_LOCAL unsigned streak_of_thread;   /* this thread's takes of its own
                                                            fronts since it last claimed one */
#  endif

MULLE_DLMALLOC_NOASAN inline void forget_holder_id()
{
   holder_id_of_thread = 0;
#  ifdef MULLE_DLMALLOC_HAS_BIAS
   bias_token_of_thread   = 0;
   streak_of_thread       = 0;   /* a child's count starts over */
   __atomic_store_n(&heavy_barrier_state, 0, __ATOMIC_RELAXED);   /* a child asks anew */
#  endif
}

MULLE_DLMALLOC_NOASAN MULLE_DLMALLOC_NEVER_INLINE unsigned new_holder_id()
{
   static int watching_forks;
   if (!__atomic_exchange_n(&watching_forks, 1, __ATOMIC_RELAXED))
      pthread_atfork(NULL, NULL, forget_holder_id);
   holder_id_of_thread = static_cast<unsigned>(syscall(SYS_gettid));
   return holder_id_of_thread;
}

MULLE_DLMALLOC_NOASAN MULLE_DLMALLOC_HOT unsigned holder_id()
{
   unsigned id = holder_id_of_thread;
   return id ? id : new_holder_id();
}

/* This thread's id where it asked for it already, else 0 (no call). */
MULLE_DLMALLOC_NOASAN inline unsigned known_holder_id() { return holder_id_of_thread; }

/* The thread `id` no longer exists (EPERM: it does, as another user's). */
MULLE_DLMALLOC_NOASAN inline bool holder_gone(unsigned id)
{
   return kill(static_cast<pid_t>(id), 0) != 0 && errno == ESRCH;
}
#else
MULLE_DLMALLOC_NOASAN inline unsigned holder_id() { return 1; }
MULLE_DLMALLOC_NOASAN inline unsigned known_holder_id() { return 1; }
MULLE_DLMALLOC_NOASAN inline bool     holder_gone(unsigned) { return false; }
#endif

/* Test and test-and-set, with exponential backoff and, past that, a yield to the OS. The
   mspace's lock and each front's (tier.hpp) are such locks. */
/* One pause of a waiter: spins that double, then yields to the OS; true every 256th
   yield, when the waiter asks whether the thread it waits for still exists. */
MULLE_DLMALLOC_NOASAN inline bool pause_asks(unsigned *backoff, unsigned *yields)
{
   if (*backoff <= 64)
   {
      for (unsigned i = 0; i < *backoff; ++i)
         cpu_relax();
      *backoff <<= 1;
      return false;
   }
   MULLE_DLMALLOC_YIELD();
   return (++*yields & 255) == 0;
}

/* The lock is held by another thread: wait for it, and take it. True where it was taken
   over from a holder that is gone. */
MULLE_DLMALLOC_NOASAN MULLE_DLMALLOC_NEVER_INLINE bool spin_wait(unsigned *lock, unsigned me)
{
   unsigned backoff = 1, yields = 0;
   for (;;)
   {
      unsigned holder = __atomic_load_n(lock, __ATOMIC_RELAXED);
      if (!holder)
      {
         if (__atomic_compare_exchange_n(lock, &holder, me, false, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
            return false;
         continue;
      }
      if (pause_asks(&backoff, &yields) && holder_gone(holder) &&
          __atomic_compare_exchange_n(lock, &holder, me, false, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
         return true;
   }
}

/* One compare-and-swap where nobody holds it (the waiting is out of line). True where it
   was taken over from a holder that died: the caller marks the state and goes the whole
   way. */
MULLE_DLMALLOC_NOASAN MULLE_DLMALLOC_HOT bool spin_acquire(unsigned *lock)
{
   unsigned me = holder_id(), expected = 0;
   if (__atomic_compare_exchange_n(lock, &expected, me, false, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
      return false;
   return spin_wait(lock, me);
}

MULLE_DLMALLOC_NOASAN MULLE_DLMALLOC_HOT void spin_release(unsigned *lock)
{
   __atomic_store_n(lock, 0u, __ATOMIC_RELEASE);
}

/* A lock of m was taken over from a holder that died: the next call that holds every
   lock recovers the heap (recover_after_holder). */
MULLE_DLMALLOC_NOASAN MULLE_DLMALLOC_NEVER_INLINE bool holder_died(mstate *m)
{
   __atomic_store_n(&m->died, 1u, __ATOMIC_RELAXED);
   return true;
}

/* A holder died and the heap is not recovered yet. Whoever takes a lock then goes the
   whole way, which recovers first: the thread that took the lock over lets it go before
   it holds every lock, and a call that took a lock in between would otherwise work on
   what the dead holder left half done (a bin half unlinked, a chunk handed out twice). */
MULLE_DLMALLOC_NOASAN MULLE_DLMALLOC_HOT bool recovery_due(const mstate *m)
{
   return __atomic_load_n(&m->died, __ATOMIC_RELAXED) != 0;
}

/* The mspace's lock, or a front's; true (the state marked) where it was taken over from a
   holder that died, or a recovery is due: the caller lets it go and goes the whole way. */
MULLE_DLMALLOC_NOASAN MULLE_DLMALLOC_HOT bool lock_acquire(mstate *m) { return spin_acquire(&m->lock) ? holder_died(m) : recovery_due(m); }
MULLE_DLMALLOC_NOASAN MULLE_DLMALLOC_HOT void lock_release(mstate *m) { spin_release(&m->lock); }
#ifdef MULLE_DLMALLOC_HAS_FRONTS
/* ---- a front biased to its thread ----
   A front's lock costs its thread a compare-and-swap on every malloc and free of a slot,
   though in most programs one thread takes a front again and again and nobody else
   wants it. So a front whose lock one thread took BIAS_AFTER times in a row (its own
   paths, not calls that take every lock, and no other thread's take on its own paths
   between them: front_taken) is biased to that thread: `owner` names it,
   and from then on it holds the front by setting its byte of `busy` and reading that
   `lock` is free and the bias still its own, with no atomic read-modify-write, and
   lets go by clearing its byte. A front is biased only to a thread whose own front it
   is, and each of those has a byte of its own (its lane: a thread is given a front and
   a lane as it first takes a front, and the first BIAS_LANES threads of each front have
   one; later threads are never biased): a thread that read a bias of its own just
   before it ended, and writes its byte late, writes no byte of the next owner's.
   The owner is named by a token, its id and its lane in one word (ids below 2^24, as
   Linux's are; a thread with a larger one is not biased): lanes are never given twice,
   so a dead owner's id given to a new thread does not make that thread the owner.
   Any other thread takes `lock` as before and, finding a bias, runs a process-wide
   barrier (membarrier: every thread of the process passes a full fence) before it reads
   the owner's byte, so that the owner's write of its byte and its read of `lock`,
   ordered only by the compiler, act as if fenced: either the owner sees `lock` taken and
   backs off, or the taker sees the byte set and waits for the owner to let go. Then it
   ends the bias; the owner takes `lock` like anyone until it has taken it BIAS_AFTER
   times in a row again. The barrier costs microseconds, paid once per bias. An owner
   that died inside (its byte still set) is found as a dead lock holder is.
   Only in heaps of mspace_create (STATE_FROM_OS), which no other process shares: the
   barrier reaches the threads of this process alone. A forked child's copy of a heap
   names an owner that is no thread of the child. A process whose kernel refuses the
   barrier never biases a front; under ThreadSanitizer, which cannot see the barrier,
   nothing is biased either. */
#  ifdef MULLE_DLMALLOC_HAS_BIAS
static const unsigned BIAS_AFTER = MULLE_DLMALLOC_BIAS_AFTER;
static_assert(BIAS_AFTER >= 1 && BIAS_AFTER <= 65535, "MULLE_DLMALLOC_BIAS_AFTER: 1 to 65535 takes");
static const int      MEMBARRIER_GLOBAL                     = 1 << 0;   /* linux/membarrier.h */
static const int      MEMBARRIER_PRIVATE_EXPEDITED          = 1 << 3;
static const int      MEMBARRIER_REGISTER_PRIVATE_EXPEDITED = 1 << 4;

/* Whether this process may bias a front: it has registered for the barrier. */
MULLE_DLMALLOC_NOASAN MULLE_DLMALLOC_NEVER_INLINE bool may_bias(const mstate *m)
{
   if (!(flags_of(m) & STATE_FROM_OS))   /* under a front's lock alone: another thread may */
      return false;                       /* set other flags under the mspace's meanwhile */
   int state = __atomic_load_n(&heavy_barrier_state, __ATOMIC_RELAXED);
   if (!state)
   {
      int saved = errno;    /* a refusal is no error of the caller's */
      (void) holder_id();   /* watches forks from now on: a forked child asks anew */
      state = syscall(SYS_membarrier, MEMBARRIER_REGISTER_PRIVATE_EXPEDITED, 0) == 0 ? 1 : -1;
      errno = saved;
      __atomic_store_n(&heavy_barrier_state, state, __ATOMIC_RELAXED);
   }
   return state > 0;
}

static const unsigned TOKEN_LANE_SHIFT = 24;

MULLE_DLMALLOC_NOASAN inline unsigned token_of(unsigned id, unsigned lane)
{
   return id < (1u << TOKEN_LANE_SHIFT) && lane ? id | (lane << TOKEN_LANE_SHIFT) : 0u;
}

/* f is held through its lock word and was biased to `owner` (a token), another thread:
   the barrier, then the wait until the owner lets go. True where the owner died holding
   it. */
MULLE_DLMALLOC_NOASAN MULLE_DLMALLOC_NEVER_INLINE bool end_bias(front *f, unsigned owner)
{
   uint8_t *busy = &f->busy[((owner >> TOKEN_LANE_SHIFT) - 1) % BIAS_LANES];
   /* A process that has not registered for the barrier (since it began, or since the
      fork that made it) biased nothing: the owner is a thread of another process (the
      parent of a fork, whose heap this one copied) and cannot be inside this copy. Else
      the expedited barrier, tried again where the kernel was short of memory; where it
      is refused (a filter installed since), the barrier every kernel since 4.3 has,
      which waits until every CPU has passed a full fence (milliseconds); without either
      the owner's accesses could pass each other, and nothing is safe. */
   int tries = 0;
   while (__atomic_load_n(&heavy_barrier_state, __ATOMIC_RELAXED) > 0 &&
          syscall(SYS_membarrier, MEMBARRIER_PRIVATE_EXPEDITED, 0) != 0)
   {
      if (errno == ENOMEM && ++tries < 100)
         continue;
      if (syscall(SYS_membarrier, MEMBARRIER_GLOBAL, 0) == 0)
         break;
      MULLE_DLMALLOC_ABORT();   /* a front's bias cannot end safely */
   }
   __atomic_thread_fence(__ATOMIC_SEQ_CST);
   bool     died    = false;
   unsigned backoff = 1, yields = 0;
   while (__atomic_load_n(busy, __ATOMIC_ACQUIRE))
      if (pause_asks(&backoff, &yields) && holder_gone(owner & ((1u << TOKEN_LANE_SHIFT) - 1)))
      {
         __atomic_store_n(busy, static_cast<uint8_t>(0), __ATOMIC_RELAXED);
         died = true;
      }
   __atomic_store_n(&f->owner, 0u, __ATOMIC_RELAXED);
   return died;
}
#  endif

#  ifdef MULLE_DLMALLOC_HAS_BIAS
/* f's lock word is held, and its bias (owner) is another thread's: ended, and the claim
   starts over with `me`. The verdict of front_take. */
MULLE_DLMALLOC_NOASAN MULLE_DLMALLOC_NEVER_INLINE bool front_bias_ends(mstate *m, front *f, unsigned owner, unsigned me, bool died)
{
   died |= end_bias(f, owner);
   f->last = me;   /* claimed: the old owner's count starts over at its next take */
   return died ? holder_died(m) : recovery_due(m);
}

/* f's lock word is held by its own thread, whose count reached BIAS_AFTER with its claim
   standing: f is biased to the thread (token) where m allows it. The verdict of
   front_take. */
MULLE_DLMALLOC_NOASAN MULLE_DLMALLOC_NEVER_INLINE bool front_bias_begins(mstate *m, front *f, unsigned token, bool died)
{
   if (may_bias(m))
   {
      bias_token_of_thread = token;
      __atomic_store_n(&f->owner, token, __ATOMIC_RELAXED);   /* seen by the owner after
                                                                 the lock's release */
   }
   return died ? holder_died(m) : recovery_due(m);
}
#  endif

/* f's lock word was taken by this thread, `me` (`died`: over from a holder that died):
   the bias is ended or counted. True (the state marked) where a holder died. Its common
   case makes no call (the rare ones are tail calls). On its own paths (`own`; not a call
   that takes every lock) a take claims the front (`last`) where another thread claimed it
   last, and that thread's count toward a bias starts over at its next take; a thread
   counts its takes of its own fronts (one per mspace) in its thread-local storage, the
   count starting over as it claims one, and a front it takes as the count reaches
   BIAS_AFTER, with its claim standing, is biased to it. So a front whose blocks another
   thread frees at least once in BIAS_AFTER takes, or that two threads share and take by
   turns, is not biased (every such take would end the bias behind a barrier), and a take
   writes the front's line only where the claim changes hands (a thread waiting for the
   lock word reads that line: a write by the holder would have to take it back). */
MULLE_DLMALLOC_NOASAN MULLE_DLMALLOC_HOT bool front_taken(mstate *m, front *f, bool own, bool died, unsigned me)
{
#  ifdef MULLE_DLMALLOC_HAS_BIAS
   unsigned owner = __atomic_load_n(&f->owner, __ATOMIC_RELAXED);
   if (owner)
   {
      if (owner != token_of(me, thread_lane))
         return front_bias_ends(m, f, owner, me, died);
   }
   else if (own)
   {
      bool mine = reinterpret_cast<byte *>(f) - reinterpret_cast<byte *>(m) == static_cast<ptrdiff_t>(thread_front_at);
      if (f->last != me)
      {
         f->last = me;   /* claimed: another thread's count starts over */
         if (mine)
            streak_of_thread = 1;
      }
      else if (mine && ++streak_of_thread >= BIAS_AFTER)
      {
         streak_of_thread = 0;
         unsigned token   = token_of(me, thread_lane);
         if (token)   /* a thread without a lane is never biased */
            return front_bias_begins(m, f, token, died);
      }
   }
#  else
   (void) f;
   (void) own;
   (void) me;
#  endif
   return died ? holder_died(m) : recovery_due(m);
}

/* The lock word of f taken the slow way (waiting for it, or a thread with no id yet). */
MULLE_DLMALLOC_NOASAN MULLE_DLMALLOC_NEVER_INLINE bool front_take_waiting(mstate *m, front *f, bool own)
{
   bool died = spin_acquire(&f->lock);
   return front_taken(m, f, own, died, known_holder_id());   /* the lock asked for it */
}

/* f's lock word taken (as any lock: waiting, or over from a holder that died), then the
   bias ended or counted: inlined into a front's paths, where a free word costs no call. */
MULLE_DLMALLOC_NOASAN MULLE_DLMALLOC_HOT bool front_take_here(mstate *m, front *f, bool own)
{
   unsigned me = known_holder_id(), expected = 0;
   if (!me || !__atomic_compare_exchange_n(&f->lock, &expected, me, false, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
      return front_take_waiting(m, f, own);
   return front_taken(m, f, own, false, me);
}

/* The same, as a call (without a stack frame where the word was free). */
MULLE_DLMALLOC_NOASAN MULLE_DLMALLOC_NEVER_INLINE bool front_take(mstate *m, front *f, bool own)
{
   return front_take_here(m, f, own);
}

/* Front f held by this thread through its bias, where it has one: the owner's byte that
   says so (bias_drop lets go by it); NULL where not. No call and no atomic
   read-modify-write. (A thread that has not asked for its id yet owns nothing.) */
MULLE_DLMALLOC_NOASAN MULLE_DLMALLOC_HOT uint8_t *bias_hold(front *f)
{
#  ifdef MULLE_DLMALLOC_HAS_BIAS
   unsigned token = bias_token_of_thread;
   if (token && __atomic_load_n(&f->owner, __ATOMIC_RELAXED) == token)
   {
      uint8_t *busy = &f->busy[(token >> TOKEN_LANE_SHIFT) - 1];
      __atomic_store_n(busy, static_cast<uint8_t>(1), __ATOMIC_RELAXED);
      __atomic_signal_fence(__ATOMIC_SEQ_CST);   /* a full fence by another thread's barrier */
      if (!__atomic_load_n(&f->lock, __ATOMIC_ACQUIRE) && __atomic_load_n(&f->owner, __ATOMIC_RELAXED) == token)
         return busy;
      __atomic_store_n(busy, static_cast<uint8_t>(0), __ATOMIC_RELEASE);
   }
#  else
   (void) f;
#  endif
   return NULL;
}

/* Lets go of a front held by bias_hold, by the byte it returned. */
MULLE_DLMALLOC_NOASAN MULLE_DLMALLOC_HOT void bias_drop(uint8_t *busy)
{
   __atomic_store_n(busy, static_cast<uint8_t>(0), __ATOMIC_RELEASE);
}

/* Lets go of front f, held by its bias where `busy` (bias_hold's byte), else by its lock
   word. */
MULLE_DLMALLOC_NOASAN MULLE_DLMALLOC_HOT void front_let_go(front *f, uint8_t *busy)
{
   if (busy)
      bias_drop(busy);
   else
      spin_release(&f->lock);
}

#endif

/* Every lock of a locked mspace, for a call that may touch anything: the fronts' in
   their order, then the mspace's (a front's path takes its front's lock first, and the
   mspace's inside it where it needs the core). Always the lock words, which ends a bias:
   they stay held across a fork (mspace_lock), where the child's thread has another id. */
MULLE_DLMALLOC_NOASAN inline void lock_all(mstate *m)
{
#ifdef MULLE_DLMALLOC_HAS_FRONTS
   for (size_t k = 0; k < FRONTS; ++k)
      front_take(m, &m->fronts[k], false);
   if (takes_remote_frees(m))   /* no remote free under way from here on (tier.hpp) */
      for (size_t k = 0; k < FRONTS; ++k)
      {
         __atomic_fetch_or(&m->fronts[k].pins, REMOTE_CLOSED, __ATOMIC_SEQ_CST);
         remote_quiesce(&m->fronts[k]);
      }
#endif
   lock_acquire(m);
}

MULLE_DLMALLOC_NOASAN inline void unlock_all(mstate *m)
{
   lock_release(m);
#ifdef MULLE_DLMALLOC_HAS_FRONTS
   if (takes_remote_frees(m))
      for (size_t k = 0; k < FRONTS; ++k)
         __atomic_fetch_and(&m->fronts[k].pins, ~REMOTE_CLOSED, __ATOMIC_RELEASE);
   for (size_t k = FRONTS; k-- > 0;)
      spin_release(&m->fronts[k].lock);
#endif
}
#endif

MULLE_DLMALLOC_NOASAN inline mstate *live_state(mspace ms)
{
   mstate *m = static_cast<mstate *>(ms);
#if MULLE_DLMALLOC_CHECKS
   return is_live(m) ? m : NULL;
#else
   return m;
#endif
}

/* One public call: enter_call gives the mspace if it is live (else NULL), locked where it
   asked for a lock, and memcheck kept quiet about the library's own accesses; leave_call,
   given what enter_call gave, undoes that, and every path out of a call passes through it.
   They are a pair of calls, not a scope object, on purpose: a destructor around calls
   through the user's handler would need the C++ runtime's unwinder, and a C program links
   the implementation without it.
   A call from inside user code that runs for the same mspace (callout, errors.hpp) is
   reported as MSPACE_ERROR_REENTRANT and gets NULL, before the lock is touched: the thread
   holds it. A handle that names no live mspace gets NULL; where the call was given a block
   (block non-NULL: free, realloc), that is reported too, as the block would be lost
   silently otherwise. A destroyed OS mspace's region is unmapped: its handle cannot be
   read, and using it faults. */
MULLE_DLMALLOC_NOASAN MULLE_DLMALLOC_APART mstate *enter_call(mspace ms, const void *block = NULL)
{
   MULLE_DLMALLOC_QUIET_BEGIN();
   mstate *m = live_state(ms);
   if (!m)
   {
      if (block)
         report_to_process(ms, MSPACE_ERROR_NOT_AN_MSPACE, block);
      return NULL;
   }
   if (calls_out_of(m))
   {
      report(m, MSPACE_ERROR_REENTRANT, block);
      return NULL;
   }
#if MULLE_DLMALLOC_LOCKS
   if (flags_of(m) & STATE_LOCKED)   /* before its locks: another thread may set other flags */
   {                                 /* under them meanwhile (flags_of) */
      lock_all(m);
      if (__atomic_load_n(&m->died, __ATOMIC_RELAXED))
         recover_after_holder(m);
   }
#endif
   return m;
}

MULLE_DLMALLOC_NOASAN MULLE_DLMALLOC_APART void leave_call(mstate *m)
{
#if MULLE_DLMALLOC_LOCKS
   if (m && (flags_of(m) & STATE_LOCKED))
      unlock_all(m);
#else
   (void) m;
#endif
   MULLE_DLMALLOC_QUIET_END();
}

}} // namespace mulle::detail
