/* ==== attaching a heap again: persistent and shared regions ===============================

   An mspace keeps everything about itself inside its region, so the bytes of a region are
   the heap: written to a file and mapped again, they can be attached. What cannot be kept
   is reset by the attach: the error handler (a function address of another run), the lock
   (a holder that crashed is gone) and the liveness magic (keyed by the address).

   Before anything is written, the region is verified:
   - the header: signature, layout (version, word size, alignment, checks level, tier,
     link mode), a capacity no larger than the one given, the region's start at the same
     place relative to the state as when it was made (with absolute links: the same
     address), and every bound of the state inside the region;
   - every other field of the state against the values a heap of this build can hold;
   - the whole heap, as mspace_check does: every chunk, bin, trie, page and list of pages;
   - then what points into the heap: the top's head and the root.
   So a truncated, foreign, damaged or half-updated region is refused with the reason, and
   the bytes stay as they were. The cost is one walk of the heap, O(chunks).

   Field by field, what the state of a heap that may be attached holds:
     signature       MSTATE_SIGNATURE (else NOT_AN_MSPACE, or MOVED when it lies nearby)
     layout          LAYOUT (else LAYOUT_MISMATCH)
     trim_threshold  MULLE_DLMALLOC_TRIM_THRESHOLD: only a create sets it (else
                     LAYOUT_MISMATCH: another build's, or damage)
     flags           STORED_FLAGS only (else CORRUPTION), STATE_LOCKED only where this
                     build has locks (else LAYOUT_MISMATCH); a live heap of mspace_create
                     (STATE_FROM_OS, its magic) is refused as INVALID_POINTER
     capacity        at most the one given (else TRUNCATED) and at most half the address
                     space; with base and least it fixes chunk_end, which must leave room
                     for a minimum block and the top, as a create does (else CORRUPTION)
     base, least     the region's start, the first chunk behind the state (else MOVED)
     chunk_end       as a create computes it from the capacity (else CORRUPTION)
     top, top_size   inside [least, chunk_end); the walk ends at top, its head is exactly
                     top_size | PINUSE (else CORRUPTION)
     max_footprint   from the footprint to chunk_end - base (else CORRUPTION)
     written         from behind the top's head to chunk_end + MEM_OFFSET (else
                     CORRUPTION)
     secret          0 below checks level 2, where no canary uses it; at level 2 any value,
                     whose keyed bits every canary of the walk verifies (else CORRUPTION)
     root            0, or the offset of a block in use, as validate_block (what free
                     checks) finds it once the walk proved the chunks sound (else
                     CORRUPTION)
     dv, dv_size, smallmap, treemap, smallbins, treebins, fronts' lists
                     verified by the walk against the chunks and pages it meets (else
                     CORRUPTION)
     epoch           any value: every page of the walk must carry it (else CORRUPTION)
     held            any value: a hint, believed only where it names an empty page in its
                     list of an unlocked heap, which the walk then accepts (tier.hpp); a
                     front's held likewise, of a locked heap's page of that front
     grid            the state's address modulo 4 KiB, as when it was made (else MOVED:
                     with relative links a heap moves by whole 4 KiB pages only), 0 in a
                     build without the tier
     map_frames      as a create computes it from the capacity (else CORRUPTION): it
                     bounds every read of the page map
     magic, lock, handler, handler_ctx, lazy_end
                     belong to one run: any value, the attach resets them.
   ========================================================================================== */

namespace mulle { namespace detail {

/* The bounds of the state, checked against where a fresh state in this region would put
   them: a damaged header must not send the heap walk out of the region. */
MULLE_DLMALLOC_NOASAN inline bool state_bounds_ok(const mstate *m, const byte *base, size_t capacity)
{
   uintptr_t end   = reinterpret_cast<uintptr_t>(base) + capacity;
   uintptr_t least = least_for(reinterpret_cast<uintptr_t>(m), end);
   if (capacity > (~static_cast<size_t>(0) >> 1) || least > end || end - least < 2 * MIN_CHUNK ||
       reinterpret_cast<uintptr_t>(m->least.get()) != least ||
       reinterpret_cast<uintptr_t>(m->chunk_end.get()) != least + ((end - least) & ~ALIGN_MASK))
      return false;   /* init_state makes no such heap */
   const byte *top = as_bytes(m->top);
   if (top < m->least || top >= m->chunk_end || m->top_size > static_cast<size_t>(m->chunk_end - top))
      return false;
   /* the dv needs no bound: the heap check only compares it with the chunks it walks;
      lazy_end is reset by the attach */
   if (m->root && (m->root < static_cast<size_t>(m->least - base) || m->root >= capacity))
      return false;
   return true;
}

/* The flags a stored state may hold: from the OS (a copy of an mspace_create heap, or
   its live region, which attach_problem refuses), locked, and in the middle of a call out
   to user code (a process that ended there). A new STATE_ flag belongs here too. */
static const unsigned STORED_FLAGS = STATE_FROM_OS | STATE_LOCKED | STATE_CALLING_OUT | STATE_REGROWS | STATE_ZERO_ABOVE | STATE_ATTACHED |
                                     STATE_HUGE_PAGES;

/* The settings of the build that made the heap, as far as the state records them beside
   the layout word: its trim threshold (nothing but a create sets it), and a lock that this
   build can take. */
MULLE_DLMALLOC_NOASAN inline bool settings_match(const mstate *m)
{
   return m->trim_threshold == MULLE_DLMALLOC_TRIM_THRESHOLD &&
          (MULLE_DLMALLOC_LOCKS || !(m->flags & STATE_LOCKED));
}

/* The fields that are neither bounds nor links the walk follows, against the values a
   heap can hold; after state_bounds_ok, so the footprint can be computed. */
MULLE_DLMALLOC_NOASAN inline bool state_fields_ok(const mstate *m)
{
   if (m->flags & ~STORED_FLAGS)
      return false;
   if (MULLE_DLMALLOC_CHECKS < 2 && m->secret != 0)
      return false;   /* only level 2 makes a secret */
   return m->max_footprint >= footprint_of(m) &&
          m->max_footprint <= static_cast<size_t>(m->chunk_end - m->base) &&
          m->written >= as_bytes(m->top) + MEM_OFFSET && m->written <= m->chunk_end + MEM_OFFSET;
}

/* What points into the heap, once the walk has proved its chunks sound: the top's head
   holds its size and PINUSE and nothing else, and the root is 0 or a block in use. */
MULLE_DLMALLOC_NOASAN inline bool anchors_ok(const mstate *m)
{
   if (m->top->head != (m->top_size | PINUSE))
      return false;
   return !m->root || validate_block(m, m->base + m->root) == MSPACE_ERROR_NONE;
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
MULLE_DLMALLOC_NOASAN inline bool least_moved(const mstate *m, uintptr_t end)
{
   uintptr_t at     = reinterpret_cast<uintptr_t>(m);
   uintptr_t least  = reinterpret_cast<uintptr_t>(m->least.get());
   size_t    header = sizeof(mstate) + page_map_bytes(at, end);
   return least != least_for(at, end) && least - at >= header && least - at < header + ALIGN;
}

/* Why the region at base cannot be attached, or MSPACE_ERROR_NONE; *out learns the state,
   and *rebuild the end of its walk where the heap must be rebuilt first (recover.hpp),
   else NULL. Reads only. */
MULLE_DLMALLOC_NOASAN inline mspace_error_t attach_problem(void *region, size_t capacity, mstate **out, byte **rebuild)
{
   *out     = NULL;
   *rebuild = NULL;
   byte     *base = static_cast<byte *>(region);
   uintptr_t b    = reinterpret_cast<uintptr_t>(base);
   uintptr_t at   = align_up(b, alignof(mstate));
   if (!base || capacity > ~static_cast<size_t>(0) - b || capacity < at - b + sizeof(mstate))
      return MSPACE_ERROR_NOT_AN_MSPACE;   /* too small to hold even the state */

   mstate *m = reinterpret_cast<mstate *>(base + (at - b));
   if (m->signature != MSTATE_SIGNATURE)
      return signature_nearby(base, capacity) ? MSPACE_ERROR_MOVED : MSPACE_ERROR_NOT_AN_MSPACE;
   if (m->layout != LAYOUT || !settings_match(m))
      return MSPACE_ERROR_LAYOUT_MISMATCH;
   if (m->capacity > capacity)
      return MSPACE_ERROR_TRUNCATED;
   if (m->base.get() != base || least_moved(m, b + m->capacity) ||
       m->grid != (TIER ? reinterpret_cast<uintptr_t>(m) & (PAGE_BYTES - 1) : 0))
      return MSPACE_ERROR_MOVED;   /* the pages of the tier would be off their 4 KiB grid */
   if ((m->flags & STATE_FROM_OS) && is_live(m))
      return MSPACE_ERROR_INVALID_POINTER;   /* the live heap of mspace_create: destroy ends it */
   if ((m->flags & ~STORED_FLAGS) || !state_bounds_ok(m, base, m->capacity) ||
       m->map_frames != page_map_frames(at, b + m->capacity))
      return MSPACE_ERROR_CORRUPTION;
   if (!state_fields_ok(m) || check_heap(m, true, NULL) != 0 || !anchors_ok(m))
   {
      *rebuild = rebuildable(m);   /* a user stopped inside a call: the heads are the truth */
      if (!*rebuild)
         return MSPACE_ERROR_CORRUPTION;
   }
   *out = m;
   return MSPACE_ERROR_NONE;
}

/* A block in use of an attached heap: the user's, with its contents. */
MULLE_DLMALLOC_NOASAN inline void annotate_kept(mstate *m, void *mem, size_t usable)
{
   annotate_alloc(m, mem, usable);
#if MULLE_DLMALLOC_VALGRIND
   VALGRIND_MAKE_MEM_DEFINED(mem, usable);   /* contents kept */
#endif
}

/* The memory checkers learn the region again: the blocks in use are the user's. */
MULLE_DLMALLOC_NOASAN inline void annotate_attach(mstate *m)
{
   annotate_create(m);   /* drops a pool left by an attach without a detach */
   for (chunk *c = first_chunk(m); c != m->top; c = next_chunk(c))
   {
      if (chunk_is_live(c))   /* at level 2 what it asked for, which its canary records */
         annotate_kept(m, mem_from_chunk(c), MULLE_DLMALLOC_CHECKS >= 2 ? user_size(c) : usable_size_of(c));
      else if (TIER && chunk_is_page(c))
      {
         page *pg = static_cast<page *>(mem_from_chunk(c));
         for (size_t i = 0; i < pg->count; ++i)
            if (!slot_is_free(pg, i))   /* an attached heap takes no remote frees */
               annotate_kept(m, first_slot(pg) + i * pg->size, pg->size);
      }
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
