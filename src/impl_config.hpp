/* ==========================================================================================
   IMPLEMENTATION. Everything below is compiled only in the one C++ translation unit that
   defines MULLE_DLMALLOC_IMPLEMENTATION; including it twice there is harmless.
   ========================================================================================== */
#if defined(MULLE_DLMALLOC_IMPLEMENTATION) && !defined(__cplusplus)
#error "mulle_dlmalloc: define MULLE_DLMALLOC_IMPLEMENTATION in a C++ file; C files include the header plainly and link with it"
#endif

#if defined(MULLE_DLMALLOC_IMPLEMENTATION) && !defined(MULLE_DLMALLOC_IMPLEMENTATION_INCLUDED)
#define MULLE_DLMALLOC_IMPLEMENTATION_INCLUDED

/* ==== configuration defaults ============================================================== */

#ifndef MULLE_DLMALLOC_NO_OS
#  if defined(__STDC_HOSTED__) && __STDC_HOSTED__ == 0
#    define MULLE_DLMALLOC_NO_OS 1         /* no mmap layer: only mspace_create_with_base */
#  else
#    define MULLE_DLMALLOC_NO_OS 0
#  endif
#endif

#ifndef MULLE_DLMALLOC_CHECKS
#define MULLE_DLMALLOC_CHECKS 1            /* 0 none, 1 cheap pointer/tag checks, 2 full validation */
#endif

#ifndef MULLE_DLMALLOC_GRANULARITY
#define MULLE_DLMALLOC_GRANULARITY 65536   /* the footprint grows and shrinks in these steps */
#endif

#ifndef MULLE_DLMALLOC_TIER
#  if MULLE_DLMALLOC_CHECKS >= 2 || MULLE_DLMALLOC_NO_OS
#    define MULLE_DLMALLOC_TIER 0          /* level 2 wants a head and canary on every block;
                                              firmware wants small code */
#  else
#    define MULLE_DLMALLOC_TIER 1          /* requests up to 256 bytes from 4 KiB pages of one
                                              slot size (the small-object tier, tier.hpp) */
#  endif
#endif
#if MULLE_DLMALLOC_TIER && MULLE_DLMALLOC_CHECKS >= 2
#error "mulle_dlmalloc: MULLE_DLMALLOC_TIER=1 needs MULLE_DLMALLOC_CHECKS 0 or 1: level 2 gives every block a head and a canary, which a slot of the tier does not have"
#endif

#ifndef MULLE_DLMALLOC_TRIM_THRESHOLD
#define MULLE_DLMALLOC_TRIM_THRESHOLD 2097152 /* 2 MiB: a free top above this trims itself */
#endif

/* The purge by itself (top.hpp): a free chunk of at least PURGE_MIN bytes gives its inner
   pages back to the OS once it has stayed free across PURGE_DELAY of the core's slower
   events. PURGE_MIN 0 turns it off (mspace_trim still purges). OS regions only. */
#ifndef MULLE_DLMALLOC_PURGE_MIN
#define MULLE_DLMALLOC_PURGE_MIN 1048576   /* 1 MiB */
#endif
#ifndef MULLE_DLMALLOC_PURGE_DELAY
#define MULLE_DLMALLOC_PURGE_DELAY 4096    /* frees into a bin, searches of the bins, pages
                                              made or given back */
#endif

/* Recovery of a heap whose user stopped inside a call (recover.hpp): attach rebuilds it
   from its boundary tags. On by default with an OS; a build without one (where a reset
   in the middle of a call can leave a heap in battery-backed or retained RAM) may turn it
   on, for about 400 bytes of code on Cortex-M4. */
#ifndef MULLE_DLMALLOC_RECOVER
#  if MULLE_DLMALLOC_NO_OS
#    define MULLE_DLMALLOC_RECOVER 0
#  else
#    define MULLE_DLMALLOC_RECOVER 1
#  endif
#endif

#ifndef MULLE_DLMALLOC_LOCKS
#  if !MULLE_DLMALLOC_NO_OS && defined(__GCC_ATOMIC_INT_LOCK_FREE) && __GCC_ATOMIC_INT_LOCK_FREE == 2
#    define MULLE_DLMALLOC_LOCKS 1        /* MSPACE_LOCKED available (needs lock-free atomics) */
#  else
#    define MULLE_DLMALLOC_LOCKS 0
#  endif
#endif

/* Fronts (tier.hpp): a locked mspace keeps its pages of small blocks in this many fronts,
   each with a lock of its own, and a thread takes and frees small blocks in its front
   without the mspace's lock, so that threads on different fronts do not wait for each
   other. 1: one front, the mspace's lock for everything; at most 16. */
#ifndef MULLE_DLMALLOC_FRONTS
#  if MULLE_DLMALLOC_LOCKS && MULLE_DLMALLOC_TIER
#    define MULLE_DLMALLOC_FRONTS 4
#  else
#    define MULLE_DLMALLOC_FRONTS 1
#  endif
#endif

/* Fronts biased to their thread (lock.hpp): the thread that took a front's lock many times
   in a row takes it from then on without an atomic operation, and another thread that
   wants it once pays a process-wide barrier (Linux's membarrier) and ends the bias. Only
   in heaps of mspace_create, which no other process shares; 0: every take is an atomic
   compare-and-swap. */
#ifndef MULLE_DLMALLOC_BIASED
#define MULLE_DLMALLOC_BIASED 1
#endif
#ifndef MULLE_DLMALLOC_BIAS_AFTER
#define MULLE_DLMALLOC_BIAS_AFTER 4096      /* takes in a row by one thread; 1 to 65535 */
#endif

#ifndef MULLE_DLMALLOC_RELATIVE
#define MULLE_DLMALLOC_RELATIVE 0          /* 1: links stored relative, heaps movable (attach) */
#endif

#ifndef MULLE_DLMALLOC_VALGRIND
#define MULLE_DLMALLOC_VALGRIND 0          /* 1: describe each mspace to memcheck as a memory pool */
#endif

/* AddressSanitizer is detected, never configured: with it, every byte of a region that no
   block owns is poisoned, and the allocator's own functions, which read the tags in that
   memory, are not instrumented. */
#if defined(__SANITIZE_ADDRESS__)
#  define MULLE_DLMALLOC_ASAN 1
#elif defined(__has_feature)
#  if __has_feature(address_sanitizer)
#    define MULLE_DLMALLOC_ASAN 1
#  endif
#endif
#ifdef MULLE_DLMALLOC_ASAN
#  include <sanitizer/asan_interface.h>
#  define MULLE_DLMALLOC_NOASAN __attribute__((no_sanitize_address))
#else
#  define MULLE_DLMALLOC_NOASAN
#endif
#if MULLE_DLMALLOC_VALGRIND
#  include <valgrind/memcheck.h>
#endif
/* ThreadSanitizer, likewise detected: see frame_word in tier.hpp. */
#if defined(__SANITIZE_THREAD__)
#  define MULLE_DLMALLOC_TSAN 1
#elif defined(__has_feature)
#  if __has_feature(thread_sanitizer)
#    define MULLE_DLMALLOC_TSAN 1
#  endif
#endif
/* The few functions on every free's path: inlined when optimizing for speed, where the
   compiler's size limits would otherwise keep them out of line; left to the compiler at
   -Os, where code size wins. */
#if defined(__GNUC__) || defined(__clang__)
#  define MULLE_DLMALLOC_ALWAYS_INLINE inline __attribute__((always_inline))
#else
#  define MULLE_DLMALLOC_ALWAYS_INLINE inline
#endif
/* MULLE_DLMALLOC_APART: a piece kept out of line at -Os, where the compiler would
   otherwise copy the code around it into every path through its caller. */
#if defined(__GNUC__) || defined(__clang__)
#  define MULLE_DLMALLOC_NEVER_INLINE inline __attribute__((noinline))
#  define MULLE_DLMALLOC_OUT_OF_LINE  __attribute__((noinline))   /* declared before its part */
#else
#  define MULLE_DLMALLOC_NEVER_INLINE inline
#  define MULLE_DLMALLOC_OUT_OF_LINE
#endif
/* MULLE_DLMALLOC_FAST_PATH: malloc and free in a few instructions for the common cases
   (a slot of the small-object tier, a block that is plainly valid). It needs checks below
   level 2; it is left out under Valgrind (whose quiet scope the whole way opens) and at
   -Os, where it would only add code. MULLE_DLMALLOC_WHOLE_WAY keeps the rest
   out of its way. */
#if !defined(__OPTIMIZE_SIZE__) && MULLE_DLMALLOC_CHECKS < 2 && !MULLE_DLMALLOC_VALGRIND
#  define MULLE_DLMALLOC_FAST_PATH 1
#else
#  define MULLE_DLMALLOC_FAST_PATH 0
#endif
#if defined(__OPTIMIZE__) && !defined(__OPTIMIZE_SIZE__)
#  define MULLE_DLMALLOC_HOT   MULLE_DLMALLOC_ALWAYS_INLINE
#  define MULLE_DLMALLOC_SMALL inline
#  define MULLE_DLMALLOC_APART MULLE_DLMALLOC_ALWAYS_INLINE
#else
#  define MULLE_DLMALLOC_HOT   inline
#  define MULLE_DLMALLOC_SMALL MULLE_DLMALLOC_ALWAYS_INLINE   /* at -Os: inlined where smaller */
#  define MULLE_DLMALLOC_APART MULLE_DLMALLOC_NEVER_INLINE
#endif
#if MULLE_DLMALLOC_FAST_PATH
#  define MULLE_DLMALLOC_WHOLE_WAY MULLE_DLMALLOC_NEVER_INLINE
#else
#  define MULLE_DLMALLOC_WHOLE_WAY MULLE_DLMALLOC_ALWAYS_INLINE
#endif

/* Storage of one variable per thread: the mark of a thread that runs user code for an
   mspace (errors.hpp). A build without an OS has one thread. */
#if MULLE_DLMALLOC_NO_OS
#  define MULLE_DLMALLOC_THREAD_LOCAL
#else
#  define MULLE_DLMALLOC_THREAD_LOCAL thread_local
#endif

#include <stdint.h>
#if !MULLE_DLMALLOC_NO_OS
#  include <stdio.h>
#  include <stdlib.h>
#endif

#ifndef MULLE_DLMALLOC_ABORT
#  if MULLE_DLMALLOC_NO_OS
#    define MULLE_DLMALLOC_ABORT() __builtin_trap()   /* last resort of the default handler */
#  else
#    define MULLE_DLMALLOC_ABORT() abort()
#  endif
#endif

#ifndef MULLE_DLMALLOC_PRINT
#  if MULLE_DLMALLOC_NO_OS
#    define MULLE_DLMALLOC_PRINT(s) ((void) (s))       /* where stats and errors are written */
#    define MULLE_DLMALLOC_PRINT_DISCARDS 1            /* so messages need not be built */
#  else
#    define MULLE_DLMALLOC_PRINT(s) ((void) fputs((s), stderr))
#  endif
#endif

#ifndef MULLE_DLMALLOC_ASSERT
#  ifdef NDEBUG
#    define MULLE_DLMALLOC_ASSERT(e) ((void) 0)        /* internal invariants (debug builds) */
#  else
#    define MULLE_DLMALLOC_ASSERT(e) \
        ((e) ? (void) 0 : mulle::detail::assert_failed(#e, __FILE__, __LINE__))
#  endif
#endif

namespace mulle { namespace detail {

/* MULLE_DLMALLOC_COUNT_STEPS (tests): every loop of the allocator counts its iterations
   here, so that a test can assert that each operation does bounded work. */
#ifdef MULLE_DLMALLOC_COUNT_STEPS
size_t step_count;
#  define MULLE_DLMALLOC_STEP() (++mulle::detail::step_count)
#else
#  define MULLE_DLMALLOC_STEP() ((void) 0)
#endif

/* Crash order. The heads of the chunks are what a recovery rebuilds a heap from
   (recover.hpp): a store that moves where a walk of the heads goes comes after the stores
   that it makes visible (a remainder's head before the head that cuts it off), and such a
   pair is kept in program order here. The processor's order does not matter: every store
   of a killed process lands, only where in its program it stopped counts. The crash tests
   define MULLE_DLMALLOC_CRASH_POINT to stop a call at each such point. */
#ifdef MULLE_DLMALLOC_CRASH_POINT
#  define MULLE_DLMALLOC_ORDERED() MULLE_DLMALLOC_CRASH_POINT()
#else
#  define MULLE_DLMALLOC_ORDERED() __asm__ __volatile__("" ::: "memory")
#endif

/* memcpy/memset without <string.h>, so that freestanding builds need nothing else. Under
   ASan they are plain loops: the library functions are intercepted and would check the
   poison of bytes the allocator may touch. */
#ifndef MULLE_DLMALLOC_ASAN
inline void copy_bytes(void *dst, const void *src, size_t n) { __builtin_memcpy(dst, src, n); }
inline void fill_bytes(void *dst, int c, size_t n) { __builtin_memset(dst, c, n); }
#else
MULLE_DLMALLOC_NOASAN inline void copy_bytes(void *dst, const void *src, size_t n)
{
   volatile unsigned char *d = static_cast<unsigned char *>(dst);
   const unsigned char    *s = static_cast<const unsigned char *>(src);
   while (n--)
      *d++ = *s++;
}
MULLE_DLMALLOC_NOASAN inline void fill_bytes(void *dst, int c, size_t n)
{
   volatile unsigned char *d = static_cast<unsigned char *>(dst);
   while (n--)
      *d++ = static_cast<unsigned char>(c);
}
#endif

/* A tiny formatter, so that messages need no printf. */
struct text
{
   char   buf[256];
   size_t len;

   text() : len(0) { buf[0] = 0; }
   text &put(const char *s)
   {
      while (*s && len + 1 < sizeof(buf))
         buf[len++] = *s++;
      buf[len] = 0;
      return *this;
   }
   /* no division: a freestanding Cortex-M0+ has no divide instruction and no libgcc */
   text &put_hex(uintptr_t v)
   {
      put("0x");
      bool started = false;
      for (int shift = static_cast<int>(sizeof(v) * 8) - 4; shift >= 0; shift -= 4)
      {
         unsigned digit = static_cast<unsigned>(v >> shift) & 15u;
         if (digit || started || shift == 0)
         {
            put_char("0123456789abcdef"[digit]);
            started = true;
         }
      }
      return *this;
   }
   text &put_size(size_t v)
   {
      /* powers of ten instead of division: a Cortex-M0+ has no divide instruction */
      static const unsigned long long powers[] = {
         10000000000000000000ull, 1000000000000000000ull, 100000000000000000ull,
         10000000000000000ull, 1000000000000000ull, 100000000000000ull, 10000000000000ull,
         1000000000000ull, 100000000000ull, 10000000000ull, 1000000000ull, 100000000ull,
         10000000ull, 1000000ull, 100000ull, 10000ull, 1000ull, 100ull, 10ull, 1ull};
      bool started = false;
      for (size_t i = 0; i < sizeof(powers) / sizeof(powers[0]); ++i)
      {
         if (powers[i] > static_cast<size_t>(-1))
            continue;
         size_t power = static_cast<size_t>(powers[i]);
         char   digit = '0';
         while (v >= power)
         {
            v -= power;
            ++digit;
         }
         if (digit != '0' || started || power == 1)
         {
            put_char(digit);
            started = true;
         }
      }
      return *this;
   }
   text &put_char(char c)
   {
      if (len + 1 < sizeof(buf))
         buf[len++] = c;
      buf[len] = 0;
      return *this;
   }
   text &put_pointer(const void *p) { return put_hex(reinterpret_cast<uintptr_t>(p)); }
};

/* Reached only when an internal invariant is broken: no test reaches it. */
MULLE_DLMALLOC_NOASAN inline void assert_failed(const char *what, const char *file, int line)
{
   text t;
   t.put("mulle_dlmalloc: assertion failed: ").put(what).put(" (").put(file).put(":");
   t.put_size(static_cast<size_t>(line)).put(")\n");
   MULLE_DLMALLOC_PRINT(t.buf);
   MULLE_DLMALLOC_ABORT();
}

}} // namespace mulle::detail
