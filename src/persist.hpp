/* ==== attaching a heap again: persistent and shared regions ===============================

   An mspace keeps everything about itself inside its region, so the bytes of a region are
   the heap: written to a file and mapped again, they can be attached. What cannot be kept
   is reset by the attach: the error handler (a function address of another run), the lock
   (a holder that crashed is gone) and the liveness magic (keyed by the address).

   Before anything is written, the region is verified:
   - the header: signature, layout (version, word size, alignment, checks level, caches,
     link mode), a capacity no larger than the one given, the region's start at the same
     place relative to the state as when it was made (with absolute links: the same
     address), and every bound of the state inside the region;
   - the whole heap, as mspace_check does: every chunk, bin, trie and cache.
   So a truncated, foreign, damaged or half-updated region is refused with the reason, and
   the bytes stay as they were. The cost is one walk of the heap, O(chunks).
   ========================================================================================== */

namespace mulle { namespace detail {

/* The bounds of the state, checked against where a fresh state in this region would put
   them: a damaged header must not send the heap walk out of the region. */
MULLE_DLMALLOC_NOASAN inline bool state_bounds_ok(const mstate *m, const byte *base, size_t capacity)
{
   uintptr_t least = least_for(reinterpret_cast<uintptr_t>(m));
   uintptr_t end   = reinterpret_cast<uintptr_t>(base) + capacity;
   if (least > end || reinterpret_cast<uintptr_t>(m->least.get()) != least ||
       reinterpret_cast<uintptr_t>(m->chunk_end.get()) != least + ((end - least) & ~ALIGN_MASK))
      return false;
   const byte *top = as_bytes(m->top);
   if (top < m->least || top >= m->chunk_end || m->top_size > static_cast<size_t>(m->chunk_end - top))
      return false;
   /* the dv needs no bound: the heap check only compares it with the chunks it walks;
      lazy_end is reset by the attach */
   if (m->root && (m->root < static_cast<size_t>(m->least - base) || m->root >= capacity))
      return false;
   return true;
}

/* A region copied to a start that is off the state's alignment grid: the signature lies in
   the first bytes, not where it was looked for (which this loop sees again, harmlessly). */
MULLE_DLMALLOC_NOASAN inline bool signature_nearby(const byte *base, size_t capacity)
{
   for (size_t k = 0; k < alignof(mstate) && k + sizeof(size_t) <= capacity; ++k)
   {
      size_t w;
      copy_bytes(&w, base + k, sizeof(w));
      if (w == MSTATE_SIGNATURE)
         return true;
   }
   return false;
}

/* With relative links: the state found its start again, but the first chunk, which sits
   on the ALIGN grid, no longer does; the region moved by a part of ALIGN. */
MULLE_DLMALLOC_NOASAN inline bool least_moved(const mstate *m)
{
   uintptr_t at    = reinterpret_cast<uintptr_t>(m);
   uintptr_t least = reinterpret_cast<uintptr_t>(m->least.get());
   return least != least_for(at) && least - at >= sizeof(mstate) && least - at < sizeof(mstate) + ALIGN;
}

/* Why the region at base cannot be attached, or MSPACE_ERROR_NONE; *out learns the state.
   Reads only. */
MULLE_DLMALLOC_NOASAN inline mspace_error_t attach_problem(void *region, size_t capacity, mstate **out)
{
   *out = NULL;
   byte     *base = static_cast<byte *>(region);
   uintptr_t b    = reinterpret_cast<uintptr_t>(base);
   uintptr_t at   = align_up(b, alignof(mstate));
   if (!base || capacity > ~static_cast<size_t>(0) - b || capacity < at - b + sizeof(mstate))
      return MSPACE_ERROR_NOT_AN_MSPACE;   /* too small to hold even the state */

   mstate *m = reinterpret_cast<mstate *>(base + (at - b));
   if (m->signature != MSTATE_SIGNATURE)
      return signature_nearby(base, capacity) ? MSPACE_ERROR_MOVED : MSPACE_ERROR_NOT_AN_MSPACE;
   if (m->layout != LAYOUT || m->cache_bytes > CACHE_LIMIT)
      return MSPACE_ERROR_LAYOUT_MISMATCH;
   if (m->capacity > capacity)
      return MSPACE_ERROR_TRUNCATED;
   if (m->base.get() != base || least_moved(m))
      return MSPACE_ERROR_MOVED;
   if ((m->flags & STATE_FROM_OS) && is_live(m))
      return MSPACE_ERROR_INVALID_POINTER;   /* the live heap of mspace_create: destroy ends it */
   if (!state_bounds_ok(m, base, m->capacity) || check_heap(m, true, NULL) != 0)
      return MSPACE_ERROR_CORRUPTION;
   *out = m;
   return MSPACE_ERROR_NONE;
}

/* The memory checkers learn the region again: the blocks in use are the user's. */
MULLE_DLMALLOC_NOASAN inline void annotate_attach(mstate *m)
{
#if MULLE_DLMALLOC_VALGRIND
   if (VALGRIND_MEMPOOL_EXISTS(m))
      VALGRIND_DESTROY_MEMPOOL(m);   /* attached again without a detach */
#endif
   annotate_create(m);
   for (chunk *c = first_chunk(m); c != m->top; c = next_chunk(c))
      if (chunk_is_live(c))
      {
         annotate_alloc(m, mem_from_chunk(c), usable_size_of(c));
#if MULLE_DLMALLOC_VALGRIND
         VALGRIND_MAKE_MEM_DEFINED(mem_from_chunk(c), usable_size_of(c));   /* contents kept */
#endif
      }
}

/* The offset of p from the region's start; 0 and a report for an address outside it. */
MULLE_DLMALLOC_NOASAN inline size_t offset_in_region(mstate *m, const void *p)
{
   uintptr_t a = reinterpret_cast<uintptr_t>(p);
   uintptr_t b = reinterpret_cast<uintptr_t>(m->base.get());
   if (a < b || a - b >= m->capacity)
   {
      report(m, MSPACE_ERROR_INVALID_POINTER, p);
      return 0;
   }
   return static_cast<size_t>(a - b);
}

}} // namespace mulle::detail
