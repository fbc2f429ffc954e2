/* ==== recovery: a heap whose user stopped inside a call ====================================

   A process killed inside a call (kill -9, a crash) leaves every store it made and none
   that it did not. The heads of the chunks are the truth a heap is rebuilt from: every call
   moves them in an order (MULLE_DLMALLOC_ORDERED, impl_config.hpp) in which a walk of the
   heads from the first chunk always parses, a remainder's head is written before the head
   that cuts it off, and a block is in use from the store that cuts it until the store that
   frees it. All else follows from the heads and the pages' bitmaps, and is written anew:
   the bins and tries, the dv, the top's record, the page map, the pages' counts and the
   lists of pages with room. The walk:
   - starts at the first chunk; every head holds a size on the grid that stays inside the
     chunks' end;
   - ends with the first free chunk that ends past the top the state records, which is the
     top (the state's record of the top's start moves only after the head that makes a new
     top, so the true top always ends past it, and no other free chunk does);
   - merges free chunks that follow one another (a free that stopped before it merged);
   - keeps a chunk flagged as a page whose header names it as a page, with its count of
     slots in use taken from its bitmap; a page flagged without such a header (one being
     given back, or a spare being cut anew: tier.hpp's cut_page writes the check word
     last) or with no slot in use (its last free stopped before it gave the page back) is
     free memory.
   O(chunks), and no more than a walk and the bin inserts write. What an interrupted call
   leaves: its block in use or free; a malloc that stopped before it returned leaves a
   block in use that nobody holds (a leak, which mspace_inspect_all shows). Level 2 does
   not rebuild (its canaries record requests that a walk cannot know): such a heap is
   refused as it was before. */

namespace mulle { namespace detail {

static const bool REBUILDS = MULLE_DLMALLOC_RECOVER && MULLE_DLMALLOC_CHECKS < 2;

/* Chunk c of size s, flagged as a page, carries the header of a page at its place: of a
   page's size on a page boundary, its check word keyed to its offset, the state's epoch,
   its slot size and front, and cut as its slot size is. */
MULLE_DLMALLOC_NOASAN inline bool page_header_holds(const mstate *m, chunk *c, size_t s)
{
   if (!TIER || s < PAGE_BYTES || s >= PAGE_BYTES + MIN_CHUNK || !is_aligned(mem_from_chunk(c), PAGE_BYTES))
      return false;
   const page *pg = static_cast<const page *>(mem_from_chunk(c));
   if (pg->offset != page_offset(m, pg) || pg->epoch != m->epoch || !pg->size || (pg->size & (SLOT_GRAIN - 1)) ||
       pg->check != page_check(m, pg, pg->size, pg->front))
      return false;
   size_t cls = class_of_page(pg);
   return cls < NCLASSES && pg->size == class_size(cls) && pg->count == class_count(cls) && pg->front < FRONTS;
}

/* Where a walk of the heads ends (the top's end), or NULL where a head holds no size on
   the grid inside the chunks' end, or the walk meets no top. Reads the heads only; the
   state's bounds were verified. */
MULLE_DLMALLOC_NOASAN inline byte *walk_end(mstate *m)
{
   const byte *top = as_bytes(m->top);
   chunk      *c   = first_chunk(m);
   for (;;)
   {
      MULLE_DLMALLOC_STEP();
      size_t s = chunk_size(c);
      if (s < MIN_CHUNK || (s & ALIGN_MASK) || s > static_cast<size_t>(m->chunk_end - as_bytes(c)))
         return NULL;
      byte *e = as_bytes(c) + s;
      if (e > top && !chunk_is_in_use(c))
         return e;
      if (e + MIN_CHUNK > m->chunk_end)
         return NULL;   /* no room for a top behind it */
      c = reinterpret_cast<chunk *>(e);
   }
}

/* Slots in use of page pg (whose header holds): its bitmap, past its slots cleared. */
MULLE_DLMALLOC_NOASAN inline size_t slots_in_use(const mstate *m, page *pg)
{
   size_t free_slots = 0;
#ifdef MULLE_DLMALLOC_HAS_FRONTS
   uint64_t mask[BITMAP_WORDS];   /* a slot freed by another thread is free (the queues */
   void    *bad;                  /* are emptied); a damaged stack's slots behind stay */
   walk_remote(m, pg, pg->rfree, mask, true, &bad);
   pg->rfree = 0;
   pg->rnext = 0;
#else
   (void) m;
#endif
   for (size_t w = 0; w < BITMAP_WORDS; ++w)
   {
      size_t lo = w * 64;
      if (lo >= pg->count)
         pg->free_bits[w] = 0;
      else if (pg->count - lo < 64)
         pg->free_bits[w] &= (static_cast<uint64_t>(1) << (pg->count - lo)) - 1;
      free_slots += static_cast<size_t>(count_bits64(pg->free_bits[w]));
   }
   return pg->count - free_slots;
}

/* Free run [c, c + s), behind a chunk in use (or the first chunk), before one in use:
   one free chunk in its bin. */
MULLE_DLMALLOC_NOASAN inline void bin_run(mstate *m, chunk *c, size_t s)
{
   c->head                   = s | PINUSE;
   chunk_at(c, s)->prev_foot = s;
   insert_chunk(m, c, s);
}

/* Rebuilds what follows from the heads of a heap whose walk ends at `end` (walk_end). */
MULLE_DLMALLOC_NOASAN inline void rebuild_heap(mstate *m, const byte *end)
{
   if (TIER)
      fill_bytes(page_map(m), 0, page_map_bytes(reinterpret_cast<uintptr_t>(m), reinterpret_cast<uintptr_t>(m->base + m->capacity)));
   m->smallmap = m->treemap = 0;
   empty_small_bins(m);
   fill_bytes(m->treebins, 0, sizeof(m->treebins));
   for (size_t k = 0; k < FRONTS; ++k)
   {
      fill_bytes(m->fronts[k].avail, 0, sizeof(m->fronts[k].avail));
#ifdef MULLE_DLMALLOC_HAS_FRONTS
      m->fronts[k].spare  = NULL;   /* an empty page is free memory here */
      m->fronts[k].spares = 0;
      m->fronts[k].held   = 0;
      m->fronts[k].rtaken = 0;      /* no page waits for its remote frees */
      __atomic_store_n(&m->fronts[k].rhead, static_cast<size_t>(0), __ATOMIC_RELAXED);
#endif
   }
   fill_bytes(m->purge_at, 0, sizeof(m->purge_at));
   m->purge_used = 0;
   m->held       = 0;   /* an empty page is free memory here */
   m->dv      = NULL;
   m->dv_size = 0;

   chunk *c = first_chunk(m), *run = NULL;
   size_t run_size = 0;
   while (as_bytes(c) < end)
   {
      MULLE_DLMALLOC_STEP();
      size_t head = c->head, s = head & ~FLAG_BITS;
      bool   idle = !(head & CINUSE);
      if (!idle && (head & TIER_PAGE))
      {
         page *pg = static_cast<page *>(mem_from_chunk(c));
         size_t used = page_header_holds(m, c, s) ? slots_in_use(m, pg) : 0;
         if (!used)
         {
            idle      = true;   /* half made, half given back, or emptied: free memory */
            pg->check = PAGE_GONE ^ page_offset(m, pg) ^ m->epoch;
         }
         else
         {
            pg->used   = static_cast<uint8_t>(used);
            pg->hint   = 0;
            pg->listed = 0;
            map_set(m, frame_index(m, pg));
            if (used < pg->count)
               list_page(m, front_of(m, pg), pg, class_of_page(pg));
         }
      }
      if (idle)
      {
         if (!run)
         {
            run      = c;
            run_size = 0;
         }
         else
            c->head = s;   /* inside the run now: a freed block's head, as a merge leaves it */
         run_size += s;
      }
      else
      {
         c->head = (head & (CINUSE | TIER_PAGE)) | s | (run ? 0 : PINUSE);
         if (run)
            bin_run(m, run, run_size);
         run = NULL;
      }
      c = chunk_at(c, s);
   }
   /* the walk ended with a free chunk: the last run is the top */
   if (!run)
      return;   /* not reached: walk_end ends at a free chunk */
   run->head   = run_size | PINUSE;
   m->top      = run;
   m->top_size = run_size;
   if (m->written < as_bytes(run) + MEM_OFFSET)
      m->written = as_bytes(run) + MEM_OFFSET;
   if (footprint_of(m) > m->max_footprint)
      m->max_footprint = footprint_of(m);
}

/* Every lock of a locked mspace is held, and one of them was taken over from a holder
   that died (lock.hpp): it may have stopped inside a call. The heap is rebuilt where it
   does not check sound and its walk parses (else the calls that meet the damage report
   it, as they would any), and the handler hears of it once. */
inline void annotate_attach(mstate *m);   /* persist.hpp */

MULLE_DLMALLOC_NOASAN MULLE_DLMALLOC_NEVER_INLINE void recover_after_holder(mstate *m)
{
   __atomic_store_n(&m->died, 0u, __ATOMIC_RELAXED);
   if (REBUILDS && check_heap(m, false, NULL) != 0)
      if (byte *end = walk_end(m))
      {
         rebuild_heap(m, end);
         m->found = MSPACE_FOUND_REBUILT;
         annotate_attach(m);   /* the memory checkers learn the blocks anew, as an attach */
      }
   report(m, MSPACE_ERROR_HOLDER_DIED, NULL);
}

/* A heap that was not detached and does not check sound is rebuilt when its walk parses
   (level 2 excepted); the end of that walk, or NULL. */
MULLE_DLMALLOC_NOASAN inline byte *rebuildable(mstate *m)
{
   if (!REBUILDS || !(m->flags & STATE_ATTACHED))
      return NULL;
   return walk_end(m);
}

}} // namespace mulle::detail
