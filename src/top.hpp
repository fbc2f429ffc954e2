/* ==== top and trim ========================================================================

   The top chunk borders the unused end of the footprint. Its end moves in GRANULARITY steps
   measured from the region's base (in huge pages where the region has them): up when a
   request needs more, down when trim gives the free top back (and, for an OS region, its
   pages to the OS). It never passes chunk_end and never shrinks below MIN_CHUNK, so it
   always exists and needs no special case.
   ========================================================================================== */

namespace mulle { namespace detail {

/* Grows the top to at least `need` bytes (a multiple of ALIGN). */
MULLE_DLMALLOC_NOASAN bool extend_top(mstate *m, size_t need)
{
   byte *top = as_bytes(m->top);
   if (need > static_cast<size_t>(m->chunk_end - top))
      return false;
   byte *old_end = top_end(m);
   byte *end     = footprint_end_for(m, top + need);
   if (end > old_end && !os_commit(m, old_end, end))
      return false;   /* only Windows' explicit commit can fail: not reached on POSIX */
   m->top_size  = static_cast<size_t>(end - top);
   m->top->head = m->top_size | PINUSE;
#if !MULLE_DLMALLOC_NO_OS
   /* growing back into pages an automatic trim released faults each of them in again
      (about 3 us a page measured on a 2-core VM, far more than keeping them): a heap
      that does so once gets no more automatic trims, until mspace_trim or reset */
   if (m->lazy_end && end > old_end && old_end < m->lazy_end)
      set_flags(m, m->flags | STATE_REGROWS);
   if (m->lazy_end && end >= m->lazy_end)
      m->lazy_end = NULL;     /* every lazily released page is in the footprint again */
#endif
   if (footprint_of(m) > m->max_footprint)
      m->max_footprint = footprint_of(m);
   return true;
}

/* Where the region is known to read as zero: where the heap never wrote (the top moves up
   only as blocks are cut from it, and below its start lies all the heap ever wrote) of a
   region that was zero when it was given (STATE_ZERO_ABOVE). Else (and at level 2, whose
   poison may lie anywhere in free memory, and under memcheck, which learns that a block is
   defined from the zeros written) the region's end: nothing is. Pages an automatic trim
   released lazily lie below it: they may come back with their old data. */
MULLE_DLMALLOC_NOASAN inline byte *zero_from(const mstate *m)
{
   if (!(m->flags & STATE_ZERO_ABOVE) || MULLE_DLMALLOC_CHECKS >= 2 || MULLE_DLMALLOC_VALGRIND)
      return m->chunk_end + MEM_OFFSET;   /* past every block */
   return m->written;
}

/* Gives back the top beyond pad bytes (and one minimum chunk). Eager (mspace_trim, reset)
   also gives back for good what an auto-trim released lazily. 1 if the footprint shrank. */
MULLE_DLMALLOC_NOASAN int trim_top(mstate *m, size_t pad, bool eager)
{
   byte  *top      = as_bytes(m->top);
   byte  *old_end  = top_end(m);
   size_t room     = static_cast<size_t>(m->chunk_end - top);
   int    released = 0;
   if (pad < room && align_up(pad, ALIGN) + MIN_CHUNK <= room)
   {
      byte *end = footprint_end_for(m, top + align_up(pad, ALIGN) + MIN_CHUNK);
      if (end < old_end)
      {
         m->top_size  = static_cast<size_t>(end - top);
         m->top->head = m->top_size | PINUSE;   /* before the pages go: a walk stops here */
         MULLE_DLMALLOC_ORDERED();
         os_decommit(m, end, old_end, eager);
         released     = 1;
      }
   }
#if !MULLE_DLMALLOC_NO_OS
   if (eager)
   {
      set_flags(m, m->flags & ~STATE_REGROWS);   /* a release asked for: automatic trims may start again */
      m->top_due     = 0;
      m->top_backoff = 0;
      if (m->lazy_end && m->lazy_end > top_end(m))
         os_decommit(m, top_end(m), m->lazy_end > old_end ? m->lazy_end : old_end, true);
      m->lazy_end = NULL;
   }
   else if (released && (!m->lazy_end || old_end > m->lazy_end))
      m->lazy_end = old_end;
#else
   (void) eager;   /* no pages to release without an OS */
#endif
   return released;
}

/* ---- purge: the pages inside free chunks ----
   mspace_trim gives back not only the top but every whole page inside a free chunk of the
   tree bins or the dv, past the words a tree chunk's links and tags use: a free chunk
   below a live block (which keeps the top from shrinking) holds no resident memory
   after it. The chunk stays in its bin as it was. Small chunks hold no whole page. Not at
   level 2, whose poison in free chunks would turn into zeros (a write into freed memory
   to its checks). A later double free of a block whose head lay in a purged page finds
   zero there, no trace of a freed block: it is reported as an invalid pointer. */
/* Free chunk c's inner pages, if its tags say it is one (its size bounded by the top, its
   footer repeating its head, the chunk behind it told so by its PINUSE): a size read from
   a damaged head never reaches the OS. False if they do not. */
MULLE_DLMALLOC_NOASAN inline bool purge_chunk(mstate *m, chunk *c, size_t *bytes)
{
   size_t s = size_by_tags(m, c);
   if (!s || s < MIN_CHUNK || previous_is_in_use(chunk_at(c, s)))
      return false;
   *bytes += os_purge(m, as_bytes(c) + sizeof(tree_chunk), as_bytes(c) + s);
   return true;
}

/* The chunks of the trie below t (t included, with the rings off its nodes); false where
   a link names no chunk, a ring or the trie goes on longer than the heap can hold, or a
   chunk's tags disagree (nothing more is read there). */
MULLE_DLMALLOC_NOASAN bool purge_trie(mstate *m, tree_chunk *t, size_t depth, size_t *bytes)
{
   size_t most = footprint_of(m) / MIN_CHUNK;
   for (; t; ++depth)
   {
      if (!ok_chunk_address(m, t) || depth > SIZE_BITS + 1 || !purge_chunk(m, t, bytes))
         return false;
      size_t ring = 0;
      for (chunk *r = t->fd; r != t; r = r->fd)
         if (!ok_chunk_address(m, r) || ++ring > most || !purge_chunk(m, r, bytes))
            return false;
      if (!purge_trie(m, t->child(0), depth + 1, bytes))
         return false;
      t = t->child(1);
   }
   return true;
}

/* Every free chunk's inner pages; the bytes given back. */
MULLE_DLMALLOC_NOASAN inline size_t purge_free_chunks(mstate *m)
{
   size_t bytes = 0;
   if (MULLE_DLMALLOC_CHECKS >= 2 || !(m->flags & STATE_FROM_OS))
      return 0;
   if (m->dv_size && free_head_is(m->dv, m->dv_size))
      purge_chunk(m, m->dv, &bytes);
   for (size_t i = 0; i < NTREEBINS; ++i)
      if (!purge_trie(m, m->treebins[i], 0, &bytes))
      {
         report(m, MSPACE_ERROR_CORRUPTION, m->treebins[i] ? mem_from_chunk(m->treebins[i]) : NULL);
         break;
      }
   return bytes;
}

/* Empties every bin and makes the whole footprint one top, then trims it to the first
   step: the mspace is as new, and an OS region's pages past that step go back. */
MULLE_DLMALLOC_NOASAN inline void reset_state(mstate *m)
{
   byte *old_end = top_end(m);
   /* the root first: a crash after the next store leaves an empty heap to rebuild, which
      must not name a block (an attach would refuse it for ever, and a recovery after a
      holder died would hand it out as the root) */
   m->root = 0;
   MULLE_DLMALLOC_ORDERED();
   /* then the one store that makes the footprint a single free chunk for a walk of the
      heads: a crash after it leaves an empty heap to rebuild, one before it the old one
      (without its root, which the reset was taking away) */
   reinterpret_cast<chunk *>(m->least.get())->head = static_cast<size_t>(old_end - m->least) | PINUSE;
   MULLE_DLMALLOC_ORDERED();
   if (TIER)   /* no page is left: the map's words over the footprint are cleared */
      fill_bytes(page_map(m), 0, (frame_index(m, old_end - 1) / MAP_BITS + 1) * sizeof(size_t));
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
   m->held = 0;
   m->epoch++;   /* the headers of the pages that were are believed no more */
   fill_bytes(m->purge_at, 0, sizeof(m->purge_at));
   m->purge_used = 0;
   m->dv        = NULL;
   m->dv_size   = 0;
   m->top       = reinterpret_cast<chunk *>(m->least.get());
   m->top_size  = static_cast<size_t>(old_end - m->least);
   m->top->head = m->top_size | PINUSE;
#if MULLE_DLMALLOC_CHECKS >= 2
   write_canary(m, m->top, 0);   /* no block before the first chunk, but its tag all the same */
#endif
   trim_top(m, 0, true);
}

/* A per-mspace secret from what differs between runs and mspaces: addresses (ASLR) and
   a counter. It keys canaries, so a stray copy of a block carries no valid one. */
#if MULLE_DLMALLOC_CHECKS >= 2
MULLE_DLMALLOC_NOASAN inline size_t make_secret(const void *where)
{
   static size_t counter;   /* mspaces may be created by several threads at once */
   int           local;
#if !MULLE_DLMALLOC_NO_OS && defined(__GCC_ATOMIC_POINTER_LOCK_FREE) && __GCC_ATOMIC_POINTER_LOCK_FREE == 2
   size_t        count = __atomic_add_fetch(&counter, 1, __ATOMIC_RELAXED);
#else
   size_t        count = ++counter;   /* no OS, no threads; or no lock-free atomics: then two
                                         mspaces made at once may share a count, never more
                                         (the addresses still differ) */
#endif
   /* word-sized arithmetic only: no 64-bit multiply routine on 32-bit targets */
   const size_t k1 = static_cast<size_t>(0x9e3779b97f4a7c15ull);
   const size_t k2 = static_cast<size_t>(0xbf58476d1ce4e5b9ull);
   size_t x = reinterpret_cast<uintptr_t>(where) ^ (reinterpret_cast<uintptr_t>(&local) << 7) ^ (count * k1);
   x ^= x >> 15;
   x *= k2;
   x ^= x >> 13;
   x *= k1;
   x ^= x >> 16;
   return x;
}
#endif

/* Lays an mspace into [base, base + capacity). NULL if it cannot hold the state, one
   minimum block and the top. */
MULLE_DLMALLOC_NOASAN inline mstate *init_state(byte *base, size_t capacity, unsigned flags)
{
   if (!base || capacity > (~static_cast<size_t>(0) >> 1) ||
       capacity > ~static_cast<size_t>(0) - reinterpret_cast<uintptr_t>(base))
      return NULL;
   uintptr_t at    = align_up(reinterpret_cast<uintptr_t>(base), alignof(mstate));
   uintptr_t end   = reinterpret_cast<uintptr_t>(base) + capacity;
   uintptr_t least = least_for(at, end);
   if (least > end || end - least < 2 * MIN_CHUNK)
      return NULL;

   uintptr_t start = reinterpret_cast<uintptr_t>(base);
   mstate   *m     = reinterpret_cast<mstate *>(base + (at - start));
   fill_bytes(m, 0, sizeof(mstate));
   if (!(flags & STATE_ZERO_ABOVE))   /* else it reads as zero: an OS region's map is not */
      fill_bytes(page_map(m), 0, page_map_bytes(at, end));   /* touched before it is used */
   empty_small_bins(m);
   m->base           = base;
   m->least          = base + (least - start);
   m->chunk_end      = m->least + ((end - least) & ~ALIGN_MASK);
   m->capacity       = capacity;
   m->trim_threshold = MULLE_DLMALLOC_TRIM_THRESHOLD;
   m->flags          = flags | STATE_ATTACHED;
#if MULLE_DLMALLOC_CHECKS >= 2
   m->secret         = make_secret(m);
#endif
   m->grid           = TIER ? reinterpret_cast<uintptr_t>(m) & (PAGE_BYTES - 1) : 0;
   m->map_frames     = page_map_frames(at, end);
   m->top            = reinterpret_cast<chunk *>(m->least.get());   /* bins and dv: zeroed */
#if MULLE_DLMALLOC_CHECKS >= 2
   write_canary(m, m->top, 0);
#endif
   if (!extend_top(m, MIN_CHUNK))
      return NULL;   /* the OS refused to commit the first step: Windows only, untested */
   m->max_footprint = footprint_of(m);
   m->written       = m->least + MEM_OFFSET;   /* the top's head */
   m->layout        = LAYOUT;
   m->signature     = MSTATE_SIGNATURE;
   set_magic(m, true);
   return m;
}

}} // namespace mulle::detail
