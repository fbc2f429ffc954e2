/* ==== the process's malloc (MULLE_DLMALLOC_MALLOC) =======================================

   With MULLE_DLMALLOC_MALLOC defined to 1 in the implementation TU, that TU also defines
   the C library's malloc family over one default mspace, and (it is C++) the operators
   new and delete: a program linked with it, or a shared library of it given to
   LD_PRELOAD, allocates everything there.
   - The default mspace is made on the first call. With an OS (POSIX): locked, reserved
     with the capacity MULLE_DLMALLOC_MALLOC_CAPACITY (64 GiB on 64-bit targets, 1 GiB on
     others; only address space, pages are committed as used), which the environment
     variable MULLE_DLMALLOC_CAPACITY (bytes, or with a K, M or G suffix) overrides.
     Without an OS (firmware): over the region MULLE_DLMALLOC_MALLOC_REGION of
     MULLE_DLMALLOC_MALLOC_REGION_SIZE bytes (linker symbols, say), or where those are not
     defined over a static array of MULLE_DLMALLOC_MALLOC_CAPACITY bytes (64 KiB); without
     a lock (one thread, or the firmware's own locking), and newlib's reentrant entries
     (_malloc_r and its kin, which its stdio calls) are defined too. Windows is not served.
   - As glibc: errno is ENOMEM where a request fails; malloc(0) gives a minimum block;
     realloc(p, 0) frees p and returns NULL; aligned_alloc and memalign take any power of
     two (memalign rounds another alignment up to one); posix_memalign returns EINVAL for
     an alignment that is not a power of two and a multiple of sizeof(void *); valloc and
     pvalloc align to the page.
   - free and realloc of a pointer outside the default mspace's region are ignored (free)
     or fail (realloc): memory the dynamic loader handed out before this malloc took over
     may come back that way. Inside the region every check of the library holds, and
     misuse goes to the error handler (the default one prints and aborts).
   - fork: the mspace's lock is held across fork() (pthread_atfork), so the child finds
     the heap whole.
   - MULLE_DLMALLOC_CHECK_AT_EXIT set in the environment: at exit the heap is checked
     (mspace_check) and one line with the result is appended to the file it names, or
     written to stderr where it is "-" (a program's tests may want an empty stderr).
   ========================================================================================== */

#if defined(MULLE_DLMALLOC_IMPLEMENTATION_INCLUDED) && defined(MULLE_DLMALLOC_MALLOC) && MULLE_DLMALLOC_MALLOC && \
    !defined(MULLE_DLMALLOC_MALLOC_INCLUDED)
#define MULLE_DLMALLOC_MALLOC_INCLUDED

#if defined(_WIN32) && !MULLE_DLMALLOC_NO_OS
#  error "mulle_dlmalloc: MULLE_DLMALLOC_MALLOC does not serve Windows"
#endif

#include <errno.h>
#include <new>
#include <stdlib.h>
#if !MULLE_DLMALLOC_NO_OS
#  include <fcntl.h>
#  include <pthread.h>
#  include <stdio.h>
#  include <string.h>
#  include <unistd.h>
#endif

#if defined(__has_include) && !MULLE_DLMALLOC_NO_OS
#  if __has_include(<malloc.h>)
#    include <malloc.h>   /* memalign, valloc, pvalloc, malloc_usable_size where there are */
#  endif
#endif
/* As the C library declares them: glibc's are noexcept in C++ (__THROW), newlib's too
   (_NOTHROW) */
#if defined(__THROW)
#  define MULLE_DLMALLOC_LIBC_THROW __THROW
#elif defined(_NOTHROW)
#  define MULLE_DLMALLOC_LIBC_THROW _NOTHROW
#else
#  define MULLE_DLMALLOC_LIBC_THROW
#endif

#ifndef MULLE_DLMALLOC_MALLOC_CAPACITY
#  if MULLE_DLMALLOC_NO_OS
#    define MULLE_DLMALLOC_MALLOC_CAPACITY (static_cast<size_t>(64) << 10)
#  else
#    define MULLE_DLMALLOC_MALLOC_CAPACITY (sizeof(void *) >= 8 ? (static_cast<size_t>(64) << 30) : (static_cast<size_t>(1) << 30))
#  endif
#endif

namespace mulle { namespace detail {

static mstate *volatile malloc_heap;   /* the default mspace, once made */
static unsigned         malloc_init;   /* 0 none, 1 being made, 2 made (or failed) */

#if MULLE_DLMALLOC_NO_OS
#  ifndef MULLE_DLMALLOC_MALLOC_REGION
static unsigned char malloc_region[MULLE_DLMALLOC_MALLOC_CAPACITY] __attribute__((aligned(16)));
#    define MULLE_DLMALLOC_MALLOC_REGION      malloc_region
#    define MULLE_DLMALLOC_MALLOC_REGION_SIZE sizeof(malloc_region)
#  endif

/* One thread (or the firmware's own locking): made by the first call, no lock, no atomics
   (a Cortex-M0+ has no compare-and-swap). */
MULLE_DLMALLOC_NOASAN inline mspace default_heap()
{
   if (!malloc_init)
   {
      malloc_init = 2;
      malloc_heap = static_cast<mstate *>(mspace_create_with_base(MULLE_DLMALLOC_MALLOC_REGION, MULLE_DLMALLOC_MALLOC_REGION_SIZE));
   }
   return malloc_heap;
}

MULLE_DLMALLOC_NOASAN inline size_t os_page_size() { return 4096; }   /* valloc's page, without an MMU */

#else

/* The capacity from the environment: bytes, or with a K, M or G suffix; 0 if unset or
   malformed. getenv and the parsing allocate nothing. */
MULLE_DLMALLOC_NOASAN inline size_t capacity_from_environment()
{
   const char *s = getenv("MULLE_DLMALLOC_CAPACITY");
   if (!s || *s < '0' || *s > '9')
      return 0;
   size_t n = 0;
   for (; *s >= '0' && *s <= '9'; ++s)
   {
      if (n > (~static_cast<size_t>(0) - 9) / 10)
         return 0;
      n = n * 10 + static_cast<size_t>(*s - '0');
   }
   unsigned shift = *s == 'K' || *s == 'k' ? 10 : *s == 'M' || *s == 'm' ? 20 : *s == 'G' || *s == 'g' ? 30 : 0;
   if (shift)
      ++s;
   if (*s || n > (~static_cast<size_t>(0) >> shift))
      return 0;
   return n << shift;
}

MULLE_DLMALLOC_NOASAN inline void malloc_check_at_exit()
{
   mspace      ms       = malloc_heap;
   int         problems = ms ? mspace_check(ms) : 0;
   const char *to       = getenv("MULLE_DLMALLOC_CHECK_AT_EXIT");
   char        line[128];
   int         n = snprintf(line, sizeof line, "mulle_dlmalloc: heap check at exit: %d problem%s, footprint %zu\n",
                            problems, problems == 1 ? "" : "s", ms ? mspace_footprint(ms) : 0);
   if (n <= 0 || !to)
      return;
   int fd = strcmp(to, "-") ? open(to, O_WRONLY | O_APPEND | O_CREAT, 0644) : 2;   /* one write: lines of */
   if (fd < 0)                                                                      /* processes stay whole */
      return;
   ssize_t written = write(fd, line, static_cast<size_t>(n) < sizeof line ? static_cast<size_t>(n) : sizeof line - 1);
   (void) written;
   if (fd != 2)
      close(fd);
}

MULLE_DLMALLOC_NOASAN inline void malloc_fork_prepare() { mspace_lock(malloc_heap); }
MULLE_DLMALLOC_NOASAN inline void malloc_fork_parent() { mspace_unlock(malloc_heap); }
MULLE_DLMALLOC_NOASAN inline void malloc_fork_child() { mspace_unlock(malloc_heap); }

/* The default mspace; made by the first caller, while others wait for it. NULL where it
   could not be made. Registering the fork handlers and the exit check may allocate: they
   come after the mspace is there, and so does the registration for a front's bias, which
   registers one too. */
MULLE_DLMALLOC_NOASAN inline mspace default_heap()
{
   mspace ms = malloc_heap;
   if (ms)
      return ms;
   unsigned expected = 0;
   if (__atomic_compare_exchange_n(&malloc_init, &expected, 1u, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
   {
      size_t capacity = capacity_from_environment();
      ms = create_flags(capacity ? capacity : MULLE_DLMALLOC_MALLOC_CAPACITY, MSPACE_LOCKED);
      __atomic_store_n(&malloc_heap, static_cast<mstate *>(ms), __ATOMIC_RELEASE);
      __atomic_store_n(&malloc_init, 2u, __ATOMIC_RELEASE);
      if (ms)
      {
         pthread_atfork(malloc_fork_prepare, malloc_fork_parent, malloc_fork_child);
         if (getenv("MULLE_DLMALLOC_CHECK_AT_EXIT"))
            atexit(malloc_check_at_exit);
         ready_for_bias(static_cast<mstate *>(ms));
      }
      return ms;
   }
   while (__atomic_load_n(&malloc_init, __ATOMIC_ACQUIRE) != 2)
      MULLE_DLMALLOC_YIELD();
   return __atomic_load_n(&malloc_heap, __ATOMIC_ACQUIRE);
}

#endif /* MULLE_DLMALLOC_NO_OS */

/* Is p inside the default mspace's region (where its checks apply)? */
MULLE_DLMALLOC_NOASAN inline bool in_default_heap(mspace ms, const void *p)
{
   const mstate *m = static_cast<const mstate *>(ms);
   const byte   *b = static_cast<const byte *>(p);
   return m && b >= m->base && b < m->base + m->capacity;
}

MULLE_DLMALLOC_NOASAN inline void *with_errno(void *p)
{
   if (!p)
      errno = ENOMEM;
   return p;
}

MULLE_DLMALLOC_NOASAN inline void *aligned_block(size_t alignment, size_t n)
{
   mspace ms = default_heap();
   return with_errno(ms ? mspace_memalign(ms, alignment < ALIGN ? ALIGN : alignment, n) : NULL);
}

/* operator new's loop: the new handler runs until it gives up (throws or is unset). */
inline void *new_block(size_t n, size_t alignment, bool nothrow)
{
   for (;;)
   {
      mspace ms = default_heap();
      void  *p  = ms ? (alignment > ALIGN ? mspace_memalign(ms, alignment, n) : mspace_malloc(ms, n)) : NULL;
      if (p)
         return p;
      std::new_handler handler = std::get_new_handler();
      if (!handler)
      {
         if (nothrow)
            return NULL;
#if defined(__cpp_exceptions) || defined(__EXCEPTIONS)
         throw std::bad_alloc();
#else
         abort();
#endif
      }
#if defined(__cpp_exceptions) || defined(__EXCEPTIONS)
      if (nothrow)
      {
         try
         {
            handler();
         }
         catch (...)
         {
            return NULL;
         }
         continue;
      }
#endif
      handler();
   }
}

}} // namespace mulle::detail

extern "C" {

MULLE_DLMALLOC_NOASAN mspace mspace_default(void) { return mulle::detail::default_heap(); }

MULLE_DLMALLOC_NOASAN void *malloc(size_t n) MULLE_DLMALLOC_LIBC_THROW
{
   using namespace mulle::detail;
   mspace ms = default_heap();
   return with_errno(ms ? mspace_malloc(ms, n) : NULL);
}

MULLE_DLMALLOC_NOASAN void free(void *p) MULLE_DLMALLOC_LIBC_THROW
{
   using namespace mulle::detail;
   mspace ms = malloc_heap;
   if (p && in_default_heap(ms, p))
      mspace_free(ms, p);
}

MULLE_DLMALLOC_NOASAN void *calloc(size_t count, size_t size) MULLE_DLMALLOC_LIBC_THROW
{
   using namespace mulle::detail;
   mspace ms = default_heap();
   return with_errno(ms ? mspace_calloc(ms, count, size) : NULL);
}

MULLE_DLMALLOC_NOASAN void *realloc(void *p, size_t n) MULLE_DLMALLOC_LIBC_THROW
{
   using namespace mulle::detail;
   if (!p)
      return malloc(n);
   mspace ms = malloc_heap;
   if (!in_default_heap(ms, p))
      return with_errno(NULL);   /* not ours: its size is unknown, so it cannot move */
   if (n == 0)
   {
      mspace_free(ms, p);
      return NULL;
   }
   return with_errno(mspace_realloc(ms, p, n));
}

MULLE_DLMALLOC_NOASAN void *reallocarray(void *p, size_t count, size_t size) MULLE_DLMALLOC_LIBC_THROW
{
   if (size && count > ~static_cast<size_t>(0) / size)
   {
      errno = ENOMEM;
      return NULL;
   }
   return realloc(p, count * size);
}

MULLE_DLMALLOC_NOASAN void *aligned_alloc(size_t alignment, size_t n) MULLE_DLMALLOC_LIBC_THROW
{
   using namespace mulle::detail;
   if (!is_power_of_two(alignment))
   {
      errno = EINVAL;
      return NULL;
   }
   return aligned_block(alignment, n);
}

MULLE_DLMALLOC_NOASAN void *memalign(size_t alignment, size_t n) MULLE_DLMALLOC_LIBC_THROW
{
   using namespace mulle::detail;
   size_t a = ALIGN;
   while (a < alignment && a <= (~static_cast<size_t>(0) >> 1))
      a <<= 1;   /* glibc rounds an alignment that is no power of two up to one */
   if (a < alignment)
   {
      errno = EINVAL;
      return NULL;
   }
   return aligned_block(a, n);
}

MULLE_DLMALLOC_NOASAN int posix_memalign(void **out, size_t alignment, size_t n) MULLE_DLMALLOC_LIBC_THROW
{
   using namespace mulle::detail;
   if (!is_power_of_two(alignment) || alignment % sizeof(void *))
      return EINVAL;
   int   saved = errno;
   void *p     = aligned_block(alignment, n);
   errno       = saved;   /* posix_memalign reports through its result only */
   if (!p)
      return ENOMEM;
   *out = p;
   return 0;
}

MULLE_DLMALLOC_NOASAN void *valloc(size_t n) MULLE_DLMALLOC_LIBC_THROW
{
   return mulle::detail::aligned_block(mulle::detail::os_page_size(), n);
}

MULLE_DLMALLOC_NOASAN void *pvalloc(size_t n) MULLE_DLMALLOC_LIBC_THROW
{
   size_t page = mulle::detail::os_page_size();
   if (n > ~static_cast<size_t>(0) - page)
   {
      errno = ENOMEM;
      return NULL;
   }
   return mulle::detail::aligned_block(page, (n + page - 1) & ~(page - 1));
}

MULLE_DLMALLOC_NOASAN size_t malloc_usable_size(void *p) MULLE_DLMALLOC_LIBC_THROW
{
   using namespace mulle::detail;
   return p && in_default_heap(malloc_heap, p) ? mspace_usable_size(p) : 0;
}

#if defined(__NEWLIB__)
/* newlib's own calls (its stdio's buffers, strdup through malloc) go through these */
struct _reent;
MULLE_DLMALLOC_NOASAN void *_malloc_r(struct _reent *, size_t n) MULLE_DLMALLOC_LIBC_THROW { return malloc(n); }
MULLE_DLMALLOC_NOASAN void  _free_r(struct _reent *, void *p) MULLE_DLMALLOC_LIBC_THROW { free(p); }
MULLE_DLMALLOC_NOASAN void *_calloc_r(struct _reent *, size_t count, size_t size) MULLE_DLMALLOC_LIBC_THROW
{
   return calloc(count, size);
}
MULLE_DLMALLOC_NOASAN void *_realloc_r(struct _reent *, void *p, size_t n) MULLE_DLMALLOC_LIBC_THROW { return realloc(p, n); }
MULLE_DLMALLOC_NOASAN void *_memalign_r(struct _reent *, size_t alignment, size_t n) MULLE_DLMALLOC_LIBC_THROW
{
   return memalign(alignment, n);
}
MULLE_DLMALLOC_NOASAN size_t _malloc_usable_size_r(struct _reent *, void *p) MULLE_DLMALLOC_LIBC_THROW
{
   return malloc_usable_size(p);
}
#endif

} /* extern "C" */

void *operator new(size_t n) { return mulle::detail::new_block(n, 0, false); }
void *operator new[](size_t n) { return mulle::detail::new_block(n, 0, false); }
void *operator new(size_t n, const std::nothrow_t &) noexcept { return mulle::detail::new_block(n, 0, true); }
void *operator new[](size_t n, const std::nothrow_t &) noexcept { return mulle::detail::new_block(n, 0, true); }
void  operator delete(void *p) noexcept { free(p); }
void  operator delete[](void *p) noexcept { free(p); }
void  operator delete(void *p, const std::nothrow_t &) noexcept { free(p); }
void  operator delete[](void *p, const std::nothrow_t &) noexcept { free(p); }
void  operator delete(void *p, size_t) noexcept { free(p); }
void  operator delete[](void *p, size_t) noexcept { free(p); }
#if defined(__cpp_aligned_new)
void *operator new(size_t n, std::align_val_t a) { return mulle::detail::new_block(n, static_cast<size_t>(a), false); }
void *operator new[](size_t n, std::align_val_t a) { return mulle::detail::new_block(n, static_cast<size_t>(a), false); }
void *operator new(size_t n, std::align_val_t a, const std::nothrow_t &) noexcept
{
   return mulle::detail::new_block(n, static_cast<size_t>(a), true);
}
void *operator new[](size_t n, std::align_val_t a, const std::nothrow_t &) noexcept
{
   return mulle::detail::new_block(n, static_cast<size_t>(a), true);
}
void operator delete(void *p, std::align_val_t) noexcept { free(p); }
void operator delete[](void *p, std::align_val_t) noexcept { free(p); }
void operator delete(void *p, size_t, std::align_val_t) noexcept { free(p); }
void operator delete[](void *p, size_t, std::align_val_t) noexcept { free(p); }
void operator delete(void *p, std::align_val_t, const std::nothrow_t &) noexcept { free(p); }
void operator delete[](void *p, std::align_val_t, const std::nothrow_t &) noexcept { free(p); }
#endif

#endif /* MULLE_DLMALLOC_MALLOC */
