/* ==== memory-checker annotations ==========================================================

   So that a user's use after free, overflow or read of freed memory inside an mspace is
   reported as it would be for malloc:
   - AddressSanitizer (detected): the whole region is poisoned at creation; a block's
     requested bytes are unpoisoned when it is handed out and poisoned again when it is
     freed. The tags, the free chunks, the top, the slack behind each block and the state
     stay poisoned. mspace_usable_size reports the requested size, the bytes ASan lets
     the user touch (as it does at checks level 2).
   - Valgrind (MULLE_DLMALLOC_VALGRIND=1): each mspace is a memcheck memory pool anchored
     at its state; blocks are pool chunks of their requested size, the rest of the region
     is no-access. The library's own reads of tags are hidden from memcheck by turning
     its error reporting off for the length of each public call.
   Without either, every hook is empty and costs nothing.
   ========================================================================================== */

namespace mulle { namespace detail {

MULLE_DLMALLOC_NOASAN inline void annotate_create(mstate *m)
{
#ifdef MULLE_DLMALLOC_ASAN
   __asan_poison_memory_region(m->base.get(), m->capacity);
#endif
#if MULLE_DLMALLOC_VALGRIND
   /* A heap on this memory that was never destroyed (its buffer dropped, its process
      gone, or attached again without a detach) leaves its pool behind: it is stale. */
   if (VALGRIND_MEMPOOL_EXISTS(m))
      VALGRIND_DESTROY_MEMPOOL(m);
   VALGRIND_CREATE_MEMPOOL(m, 0, 0);
   VALGRIND_MAKE_MEM_NOACCESS(m->least.get(), static_cast<size_t>(m->chunk_end - m->least));
#endif
   (void) m;
}

/* The region goes back to its owner: a caller's buffer is ordinary memory again. */
MULLE_DLMALLOC_NOASAN inline void annotate_destroy(mstate *m)
{
#ifdef MULLE_DLMALLOC_ASAN
   __asan_unpoison_memory_region(m->base.get(), m->capacity);
#endif
#if MULLE_DLMALLOC_VALGRIND
   VALGRIND_DESTROY_MEMPOOL(m);
   VALGRIND_MAKE_MEM_DEFINED(m->base.get(), m->capacity);
#endif
   (void) m;
}

MULLE_DLMALLOC_NOASAN inline void annotate_reset(mstate *m)
{
#ifdef MULLE_DLMALLOC_ASAN
   __asan_poison_memory_region(m->least.get(), static_cast<size_t>(m->chunk_end - m->least));
#endif
#if MULLE_DLMALLOC_VALGRIND
   VALGRIND_DESTROY_MEMPOOL(m);
   VALGRIND_CREATE_MEMPOOL(m, 0, 0);
   VALGRIND_MAKE_MEM_NOACCESS(m->least.get(), static_cast<size_t>(m->chunk_end - m->least));
#endif
   (void) m;
}

/* A block of n requested bytes at mem was handed out. */
MULLE_DLMALLOC_NOASAN inline void annotate_alloc(mstate *m, void *mem, size_t n)
{
#ifdef MULLE_DLMALLOC_ASAN
   __asan_unpoison_memory_region(mem, n);
#endif
#if MULLE_DLMALLOC_VALGRIND
   VALGRIND_MEMPOOL_ALLOC(m, mem, n);
#endif
   (void) m; (void) mem; (void) n;
}

/* The block at mem, of `usable` bytes at most, is being freed. */
MULLE_DLMALLOC_NOASAN inline void annotate_free(mstate *m, void *mem, size_t usable)
{
#ifdef MULLE_DLMALLOC_ASAN
   __asan_poison_memory_region(mem, usable);
#endif
#if MULLE_DLMALLOC_VALGRIND
   VALGRIND_MEMPOOL_FREE(m, mem);
#endif
   (void) m; (void) mem; (void) usable;
}

/* The block at mem now holds n requested bytes (resized in place). */
MULLE_DLMALLOC_NOASAN inline void annotate_resize(mstate *m, void *mem, size_t usable, size_t n)
{
#ifdef MULLE_DLMALLOC_ASAN
   __asan_poison_memory_region(mem, usable);
   __asan_unpoison_memory_region(mem, n);
#endif
#if MULLE_DLMALLOC_VALGRIND
   size_t old_n = usable;   /* the bytes memcheck lets the user touch now */
   if (uintptr_t bad = VALGRIND_CHECK_MEM_IS_ADDRESSABLE(mem, usable))
      old_n = static_cast<size_t>(bad - reinterpret_cast<uintptr_t>(mem));
   VALGRIND_MEMPOOL_CHANGE(m, mem, mem, n);
   if (n > old_n)
      VALGRIND_MAKE_MEM_UNDEFINED(static_cast<byte *>(mem) + old_n, n - old_n);
   else if (n < old_n)
      VALGRIND_MAKE_MEM_NOACCESS(static_cast<byte *>(mem) + n, old_n - n);
#endif
   (void) m; (void) mem; (void) usable; (void) n;
}

/* The bytes of a block at mem with `usable` bytes that the user may touch: all of them, or
   under ASan what it asked for (the first poisoned byte), under Valgrind what memcheck
   lets it touch. */
MULLE_DLMALLOC_NOASAN inline size_t touchable_size(const void *mem, size_t usable)
{
#ifdef MULLE_DLMALLOC_ASAN
   void *bad = __asan_region_is_poisoned(const_cast<void *>(mem), usable);
   if (bad)
      return static_cast<size_t>(static_cast<const byte *>(bad) - static_cast<const byte *>(mem));
#endif
#if MULLE_DLMALLOC_VALGRIND
   if (RUNNING_ON_VALGRIND)   /* errors are off */
   {
      if (uintptr_t bad = VALGRIND_CHECK_MEM_IS_ADDRESSABLE(mem, usable))
         return static_cast<size_t>(bad - reinterpret_cast<uintptr_t>(mem));
   }
#endif
   (void) mem;
   return usable;
}

/* The bytes of a chunk block the user may touch: as above, or at checks level 2 what it
   asked for (which the slack in its tail canary records). */
MULLE_DLMALLOC_NOASAN inline size_t user_size(const chunk *c)
{
#if MULLE_DLMALLOC_CHECKS >= 2
   size_t usable = usable_size_of(c);
   size_t slack  = chunk_at(const_cast<chunk *>(c), chunk_size(c))->prev_foot & SLACK_MASK;
   return slack <= usable ? usable - slack : usable;
#else
   return touchable_size(mem_from_chunk(const_cast<chunk *>(c)), usable_size_of(c));
#endif
}

/* Memcheck must not see the library read its own tags in no-access memory: every public
   call that touches the region runs between MULLE_DLMALLOC_QUIET_BEGIN() and
   MULLE_DLMALLOC_QUIET_END() (enter_call and leave_call for most), which under Valgrind
   turn memcheck's error reporting off and on again. A pair of statements, not a scope
   object: a destructor would need the C++ runtime's unwinder (see lock.hpp). */
#if MULLE_DLMALLOC_VALGRIND
#  define MULLE_DLMALLOC_QUIET_BEGIN() VALGRIND_DISABLE_ERROR_REPORTING
#  define MULLE_DLMALLOC_QUIET_END()   VALGRIND_ENABLE_ERROR_REPORTING
#else
#  define MULLE_DLMALLOC_QUIET_BEGIN() ((void) 0)
#  define MULLE_DLMALLOC_QUIET_END()   ((void) 0)
#endif

}} // namespace mulle::detail
