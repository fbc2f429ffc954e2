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

#ifndef MULLE_DLMALLOC_TRIM_THRESHOLD
#define MULLE_DLMALLOC_TRIM_THRESHOLD (2u * 1024u * 1024u) /* free top above this trims itself */
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

/* memcpy/memset without <string.h>, so that freestanding builds need nothing else. */
inline void copy_bytes(void *dst, const void *src, size_t n) { __builtin_memcpy(dst, src, n); }
inline void fill_bytes(void *dst, int c, size_t n) { __builtin_memset(dst, c, n); }

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
   text &put_unsigned(uintmax_t v, unsigned base)
   {
      char   digits[32];
      size_t n = 0;
      do
      {
         digits[n++] = "0123456789abcdef"[v % base];
         v /= base;
      }
      while (v);
      if (base == 16)
         put("0x");
      while (n && len + 1 < sizeof(buf))
         buf[len++] = digits[--n];
      buf[len] = 0;
      return *this;
   }
   text &put_size(size_t v) { return put_unsigned(v, 10); }
   text &put_pointer(const void *p) { return put_unsigned(reinterpret_cast<uintptr_t>(p), 16); }
};

inline void assert_failed(const char *what, const char *file, int line)
{
   text t;
   t.put("mulle_dlmalloc: assertion failed: ").put(what).put(" (").put(file).put(":");
   t.put_size(static_cast<size_t>(line)).put(")\n");
   MULLE_DLMALLOC_PRINT(t.buf);
   MULLE_DLMALLOC_ABORT();
}

}} // namespace mulle::detail
