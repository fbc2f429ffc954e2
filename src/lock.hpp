/* ==== the opt-in lock =====================================================================

   An mspace created with MSPACE_LOCKED has a spin lock inside its state, so it works
   between threads and between processes that share the mapping. Every public call that
   touches the mspace holds it for its length (mspace_usable_size, which takes no mspace,
   does not). Without the flag the cost is one predictable branch per call. The error
   handler runs with the lock held: it must not call back into the same mspace.
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

/* Test and test-and-set, with exponential backoff and, past that, a yield to the OS. */
MULLE_DLMALLOC_NOASAN inline void lock_acquire(mstate *m)
{
   unsigned backoff = 1;
   while (__atomic_exchange_n(&m->lock, 1u, __ATOMIC_ACQUIRE))
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
      while (__atomic_load_n(&m->lock, __ATOMIC_RELAXED));
   }
}

MULLE_DLMALLOC_NOASAN inline void lock_release(mstate *m)
{
   __atomic_store_n(&m->lock, 0u, __ATOMIC_RELEASE);
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

/* One public call: the mspace if it is live (else NULL), locked for the length of the call
   where it asked for a lock, and memcheck kept quiet about the library's own accesses. */
class call_scope
{
public:
#if MULLE_DLMALLOC_LOCKS
   MULLE_DLMALLOC_NOASAN MULLE_DLMALLOC_SMALL explicit call_scope(mspace ms) : m(live_state(ms))
   {
      if (m && (m->flags & STATE_LOCKED))
         lock_acquire(m);
   }
   MULLE_DLMALLOC_NOASAN ~call_scope()
   {
      if (m && (m->flags & STATE_LOCKED))
         lock_release(m);
   }
#else
   /* inline at -Os: a constructor out of line is emitted twice (complete and base object) */
   MULLE_DLMALLOC_NOASAN MULLE_DLMALLOC_SMALL explicit call_scope(mspace ms) : m(live_state(ms)) {}
#endif
   mstate *const m;

private:
   call_scope(const call_scope &);
   call_scope &operator=(const call_scope &);
#if MULLE_DLMALLOC_VALGRIND
   quiet_checker quiet;
#endif
};

}} // namespace mulle::detail
