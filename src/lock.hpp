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

/* Test and test-and-set, with exponential backoff and, past that, a yield to the OS. The
   mspace's lock and each front's (tier.hpp) are such locks. */
/* The lock is held by another thread: wait for it, and take it. */
MULLE_DLMALLOC_NOASAN MULLE_DLMALLOC_NEVER_INLINE void spin_wait(unsigned *lock)
{
   unsigned backoff = 1;
   do
   {
      do
      {
         if (backoff <= 64)
         {
            for (unsigned i = 0; i < backoff; ++i)
               cpu_relax();
            backoff <<= 1;
         }
         else
            MULLE_DLMALLOC_YIELD();
      }
      while (__atomic_load_n(lock, __ATOMIC_RELAXED));
   }
   while (__atomic_exchange_n(lock, 1u, __ATOMIC_ACQUIRE));
}

/* One exchange where nobody holds it (the waiting is out of line). */
MULLE_DLMALLOC_NOASAN MULLE_DLMALLOC_HOT void spin_acquire(unsigned *lock)
{
   if (__atomic_exchange_n(lock, 1u, __ATOMIC_ACQUIRE))
      spin_wait(lock);
}

MULLE_DLMALLOC_NOASAN MULLE_DLMALLOC_HOT void spin_release(unsigned *lock)
{
   __atomic_store_n(lock, 0u, __ATOMIC_RELEASE);
}

MULLE_DLMALLOC_NOASAN MULLE_DLMALLOC_HOT void lock_acquire(mstate *m) { spin_acquire(&m->lock); }
MULLE_DLMALLOC_NOASAN MULLE_DLMALLOC_HOT void lock_release(mstate *m) { spin_release(&m->lock); }

/* Every lock of a locked mspace, for a call that may touch anything: the fronts' in
   their order, then the mspace's (a front's path takes its front's lock first, and the
   mspace's inside it where it needs the core). */
MULLE_DLMALLOC_NOASAN inline void lock_all(mstate *m)
{
#ifdef MULLE_DLMALLOC_HAS_FRONTS
   for (size_t k = 0; k < FRONTS; ++k)
      spin_acquire(&m->fronts[k].lock);
#endif
   lock_acquire(m);
}

MULLE_DLMALLOC_NOASAN inline void unlock_all(mstate *m)
{
   lock_release(m);
#ifdef MULLE_DLMALLOC_HAS_FRONTS
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
   if (m->flags & STATE_LOCKED)
      lock_all(m);
#endif
   return m;
}

MULLE_DLMALLOC_NOASAN MULLE_DLMALLOC_APART void leave_call(mstate *m)
{
#if MULLE_DLMALLOC_LOCKS
   if (m && (m->flags & STATE_LOCKED))
      unlock_all(m);
#else
   (void) m;
#endif
   MULLE_DLMALLOC_QUIET_END();
}

}} // namespace mulle::detail
