/* ==== OS layer ============================================================================

   mspace_create reserves the whole capacity at once; pages are committed as the footprint
   reaches them and decommitted when trim gives them back. POSIX: an anonymous private
   mapping without swap reservation commits on first touch by itself; trim drops pages
   with madvise(MADV_DONTNEED) on Linux and by mapping fresh zero pages over them
   elsewhere. Windows: VirtualAlloc reserves, commits and decommits explicitly.
   With MULLE_DLMALLOC_NO_OS there is no OS: commit and decommit do nothing.
   ========================================================================================== */

#if !MULLE_DLMALLOC_NO_OS
#  if defined(_WIN32)
#    ifndef WIN32_LEAN_AND_MEAN
#      define WIN32_LEAN_AND_MEAN
#    endif
#    include <windows.h>
#  else
#    include <sys/mman.h>
#    include <unistd.h>
#    if defined(__linux__)
#      include <fcntl.h>
#    endif
#    if !defined(MAP_ANONYMOUS) && defined(MAP_ANON)
#      define MAP_ANONYMOUS MAP_ANON
#    endif
#    ifndef MAP_NORESERVE
#      define MAP_NORESERVE 0
#    endif
#  endif
#endif

namespace mulle { namespace detail {

#if !MULLE_DLMALLOC_NO_OS

MULLE_DLMALLOC_NOASAN inline size_t os_page_size()
{
#  if defined(_WIN32)
   SYSTEM_INFO info;
   GetSystemInfo(&info);
   return static_cast<size_t>(info.dwPageSize);
#  else
   long size = sysconf(_SC_PAGESIZE);
   return size > 0 ? static_cast<size_t>(size) : 4096;
#  endif
}

MULLE_DLMALLOC_NOASAN inline void *os_reserve(size_t size)
{
#  if defined(_WIN32)
   return VirtualAlloc(NULL, size, MEM_RESERVE, PAGE_READWRITE);
#  else
   void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
   return p == MAP_FAILED ? NULL : p;
#  endif
}

MULLE_DLMALLOC_NOASAN inline void os_unreserve(void *base, size_t size)
{
#  if defined(_WIN32)
   (void) size;
   VirtualFree(base, 0, MEM_RELEASE);
#  else
   munmap(base, size);
#  endif
}

/* The whole pages inside [from, to) of an OS region, or false when there are none. */
MULLE_DLMALLOC_NOASAN inline bool whole_pages(byte *from, const byte *to, byte **first, size_t *length,
                                             size_t page = os_page_size())
{
   uintptr_t a    = align_up(reinterpret_cast<uintptr_t>(from), page);
   uintptr_t b    = reinterpret_cast<uintptr_t>(to) & ~(static_cast<uintptr_t>(page) - 1);
   if (a >= b)
      return false;   /* decommits span whole pages when the page size divides the granularity */
   *first  = from + (a - reinterpret_cast<uintptr_t>(from));
   *length = static_cast<size_t>(b - a);
   return true;
}

MULLE_DLMALLOC_NOASAN bool os_commit(mstate *m, byte *from, byte *to)
{
#  if defined(_WIN32)
   if (!(m->flags & STATE_FROM_OS))
      return true;
   size_t    page = os_page_size();
   uintptr_t a    = reinterpret_cast<uintptr_t>(from) & ~(static_cast<uintptr_t>(page) - 1);
   uintptr_t b    = align_up(reinterpret_cast<uintptr_t>(to), page);
   return VirtualAlloc(reinterpret_cast<void *>(a), static_cast<size_t>(b - a), MEM_COMMIT, PAGE_READWRITE) != NULL;
#  else
   (void) m; (void) from; (void) to;
   return true;
#  endif
}

/* eager: the pages leave the resident set now. Lazy (Linux MADV_FREE): the kernel takes
   them when it needs memory, and until then reusing them costs no page fault. */
MULLE_DLMALLOC_NOASAN void os_decommit(mstate *m, byte *from, byte *to, bool eager)
{
   byte  *first;
   size_t length;
   if (!(m->flags & STATE_FROM_OS))
      return;
   /* `to` is a footprint's end, on the chunk grid: with an alignment above two words it
      may lie a few bytes below the step's boundary, and the bytes past it are no chunk's,
      so its page goes too (a huge page is not left split); the region ends on a page */
   uintptr_t t = reinterpret_cast<uintptr_t>(to);
   to += align_up(t, os_page_size()) - t;
   if (!whole_pages(from, to, &first, &length))
      return;
#  if defined(_WIN32)
   (void) eager;
   VirtualFree(first, length, MEM_DECOMMIT);
#  elif defined(__linux__)
#    ifdef MADV_FREE
   if (!eager && madvise(first, length, MADV_FREE) == 0)
      return;
#    endif
   (void) eager;
   madvise(first, length, MADV_DONTNEED);
#  else
   (void) eager;
   mmap(first, length, PROT_READ | PROT_WRITE, MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
#  endif
}

/* The whole pages inside [from, to), which lie in a free chunk, leave the resident set and
   stay usable: the chunk keeps them, and a block carved from it later faults them in
   again (Linux MADV_DONTNEED and the fresh zero pages mapped over them elsewhere read as
   zero; Windows' MEM_RESET keeps them committed, with contents the OS may drop). In a
   region with huge pages only whole huge pages go: one given back in part would be split
   and fault in again 4 KiB at a time. The bytes given back, 0 for a caller's buffer. */
MULLE_DLMALLOC_NOASAN size_t os_purge(mstate *m, byte *from, byte *to)
{
   byte  *first;
   size_t length;
   size_t unit = (m->flags & STATE_HUGE_PAGES) ? HUGE_PAGE_BYTES : os_page_size();
   if (!(m->flags & STATE_FROM_OS) || !whole_pages(from, to, &first, &length, unit))
      return 0;
#  if defined(_WIN32)
   if (!VirtualAlloc(first, length, MEM_RESET, PAGE_READWRITE))
      return 0;
#  elif defined(__linux__)
   if (madvise(first, length, MADV_DONTNEED) != 0)
      return 0;
#  else
   if (mmap(first, length, PROT_READ | PROT_WRITE, MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0) == MAP_FAILED)
      return 0;
#  endif
   return length;
}

/* The bytes of the whole pages inside [from, to) for which the OS holds no memory now
   (given back, or never touched): mincore on Linux, for an OS region; 0 elsewhere (not
   known). Changes nothing. */
MULLE_DLMALLOC_NOASAN size_t os_absent(const mstate *m, byte *from, byte *to)
{
   size_t absent = 0;
#  if defined(__linux__)
   byte  *first;
   size_t length;
   if (!(m->flags & STATE_FROM_OS) || !whole_pages(from, to, &first, &length))
      return 0;
   size_t        page = os_page_size();
   unsigned char vec[256];
   for (size_t done = 0; done < length;)
   {
      size_t n = length - done < sizeof(vec) * page ? length - done : sizeof(vec) * page;
      if (mincore(first + done, n, vec) != 0)
         return absent;
      for (size_t i = 0; i < n / page; ++i)
         absent += (vec[i] & 1u) ? 0 : page;
      done += n;
   }
#  else
   (void) m; (void) from; (void) to;
#  endif
   return absent;
}

/* Zeroes [from, to), a block of an OS region that the caller holds, without bringing in
   memory the OS does not hold: on Linux its whole pages are asked for with mincore, a run
   of resident ones is written, and a run of absent ones (never touched, purged, or swapped
   out) is given back with MADV_DONTNEED, after which it reads as zero and stays out of the
   resident set until touched. A calloc of a large block carved from purged memory costs a
   few system calls, not a fault and a write per page. Elsewhere every byte is written. */
MULLE_DLMALLOC_NOASAN void os_zero(byte *from, const byte *to)
{
#  if defined(__linux__)
   byte  *first;
   size_t length;
   if (whole_pages(from, to, &first, &length))
   {
      size_t        page = os_page_size();
      unsigned char vec[1024];
      fill_bytes(from, 0, static_cast<size_t>(first - from));
      for (size_t done = 0; done < length;)
      {
         size_t n = length - done < sizeof(vec) * page ? length - done : sizeof(vec) * page;
         byte  *at = first + done;
         if (mincore(at, n, vec) != 0)
            fill_bytes(at, 0, n);
         else
            for (size_t i = 0, run; i < n / page; i += run)
            {
               bool resident = vec[i] & 1u;
               for (run = 1; i + run < n / page && (vec[i + run] & 1u) == resident; ++run)
                  continue;
               byte *r = at + i * page;
               if (resident || madvise(r, run * page, MADV_DONTNEED) != 0)
                  fill_bytes(r, 0, run * page);
            }
         done += n;
      }
      from = first + length;
   }
#  endif
   fill_bytes(from, 0, static_cast<size_t>(to - from));
}

/* Where a small request grew the footprint, the pages of [from, to) will all be touched by
   the heads of the chunks carved from them: Linux faults them in with one call
   (MADV_POPULATE_WRITE, 5.14 and later), which costs about a fifth less per page than a
   fault each. Elsewhere, and where the call fails, each page faults in when first
   touched, as before. Not in a region with huge pages: there a huge page comes in whole
   at its first fault, and where the kernel has none to give, populating a whole step of
   2 MiB would bring in memory that a small request does not need. */
MULLE_DLMALLOC_NOASAN void os_prefault(mstate *m, byte *from, byte *to)
{
#  if defined(__linux__) && defined(MADV_POPULATE_WRITE)
   byte  *first;
   size_t length;
   if ((m->flags & (STATE_FROM_OS | STATE_HUGE_PAGES)) == STATE_FROM_OS && whole_pages(from, to, &first, &length))
      madvise(first, length, MADV_POPULATE_WRITE);
#  else
   (void) m; (void) from; (void) to;
#  endif
}

#  if defined(__linux__) && defined(MADV_HUGEPAGE)
/* The start of a small file of /sys, NUL-terminated; false where it cannot be read (read
   and not stdio: no malloc, which a heap that replaces malloc may be making). */
MULLE_DLMALLOC_NOASAN inline bool os_read_setting(const char *path, char *buf, size_t size)
{
   int fd = open(path, O_RDONLY | O_CLOEXEC);
   if (fd < 0)
      return false;
   ssize_t n = read(fd, buf, size - 1);
   close(fd);
   buf[n > 0 ? n : 0] = '\0';
   return n > 0;
}

/* Whether a region advised MADV_HUGEPAGE gets huge pages of HUGE_PAGE_BYTES: transparent
   huge pages are not off (the kernel accepts the advice when they are "[never]"), and its
   huge page is 2 MiB (arm64 with 16 or 64 KiB pages has larger ones, which a 2 MiB step
   would split). Where a file cannot be read, the advice's answer stands. */
MULLE_DLMALLOC_NOASAN inline bool os_huge_pages_fit()
{
   char buf[64];
   if (os_read_setting("/sys/kernel/mm/transparent_hugepage/enabled", buf, sizeof buf))
      for (const char *s = buf; *s; ++s)
         if (s[0] == '[' && s[1] == 'n' && s[2] == 'e' && s[3] == 'v')
            return false;
   if (os_read_setting("/sys/kernel/mm/transparent_hugepage/hpage_pmd_size", buf, sizeof buf))
   {
      size_t bytes = 0;
      for (const char *s = buf; *s >= '0' && *s <= '9' && bytes <= HUGE_PAGE_BYTES; ++s)
         bytes = bytes * 10 + static_cast<size_t>(*s - '0');
      return bytes == HUGE_PAGE_BYTES;
   }
   return true;
}
#  endif

/* A reservation of `size` bytes (a multiple of the page size) for MSPACE_HUGE_PAGES. On
   Linux it starts on a huge page's boundary (2 MiB), so that a heap's first 2 MiB are one
   huge page whatever the kernel's placement, and transparent huge pages are asked for
   over it before any page is touched (MADV_HUGEPAGE: the kernel backs the parts it faults
   in with huge pages where it has them), where the kernel gives such pages
   (os_huge_pages_fit); *huge says whether it took the advice (one without transparent
   huge pages refuses it). Elsewhere an ordinary reservation, and *huge false. */
MULLE_DLMALLOC_NOASAN inline void *os_reserve_huge(size_t size, bool *huge)
{
   *huge = false;
#  if defined(__linux__) && defined(MADV_HUGEPAGE)
   byte *raw = static_cast<byte *>(os_reserve(size + HUGE_PAGE_BYTES));   /* size < SIZE_MAX / 2 */
   if (!raw)
      return NULL;
   uintptr_t r    = reinterpret_cast<uintptr_t>(raw);
   byte     *base = raw + (align_up(r, HUGE_PAGE_BYTES) - r);
   if (base > raw)
      munmap(raw, static_cast<size_t>(base - raw));
   if (raw + HUGE_PAGE_BYTES > base)
      munmap(base + size, static_cast<size_t>(raw + HUGE_PAGE_BYTES - base));
   *huge = os_huge_pages_fit() && madvise(base, size, MADV_HUGEPAGE) == 0;   /* else no advice: nothing changes */
   return base;
#  else
   return os_reserve(size);
#  endif
}

MULLE_DLMALLOC_NOASAN inline mstate *create_os_mspace(size_t capacity, unsigned flags)
{
   size_t page = os_page_size();
   if (capacity == 0 || capacity > (~static_cast<size_t>(0) >> 1))
      return NULL;
   size_t size = align_up(capacity, page);
   if (size < sizeof(mstate) + 2 * MIN_CHUNK + ALIGN)
      return NULL;   /* a page holds the state: only for pages under ~1 KiB */
   bool  huge = false;
   byte *base = static_cast<byte *>((flags & STATE_HUGE_PAGES) ? os_reserve_huge(size, &huge) : os_reserve(size));
   if (!base)
      return NULL;
   if (!huge)
      flags &= ~STATE_HUGE_PAGES;   /* no huge pages: the heap gives back as any other */
#  if defined(_WIN32)
   /* the state and its page map are written before the first extend_top commits
      anything */
   uintptr_t b      = reinterpret_cast<uintptr_t>(base);
   size_t    commit = align_up(least_for(align_up(b, alignof(mstate)), b + size) - b, GRANULARITY);
   if (!VirtualAlloc(base, size < commit ? size : commit, MEM_COMMIT, PAGE_READWRITE))
   {
      os_unreserve(base, size);
      return NULL;
   }
#  endif
   mstate *m = init_state(base, size, STATE_FROM_OS | flags);
   if (!m)
      os_unreserve(base, size);   /* init fails only if the first commit does (Windows) */
   return m;
}

MULLE_DLMALLOC_NOASAN inline void destroy_os_region(mstate *m) { os_unreserve(m->base, m->capacity); }

#else /* MULLE_DLMALLOC_NO_OS */

MULLE_DLMALLOC_NOASAN bool os_commit(mstate *, byte *, byte *) { return true; }
MULLE_DLMALLOC_NOASAN void os_decommit(mstate *, byte *, byte *, bool) {}
MULLE_DLMALLOC_NOASAN size_t os_purge(mstate *, byte *, byte *) { return 0; }
MULLE_DLMALLOC_NOASAN size_t os_absent(const mstate *, byte *, byte *) { return 0; }
MULLE_DLMALLOC_NOASAN void os_zero(byte *from, const byte *to) { fill_bytes(from, 0, static_cast<size_t>(to - from)); }
MULLE_DLMALLOC_NOASAN void os_prefault(mstate *, byte *, byte *) {}
MULLE_DLMALLOC_NOASAN inline mstate *create_os_mspace(size_t, unsigned) { return NULL; }
MULLE_DLMALLOC_NOASAN inline void destroy_os_region(mstate *) {}

#endif

}} // namespace mulle::detail
