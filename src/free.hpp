/* ==== free and coalescing =================================================================

   A freed chunk merges at once with a free predecessor (found through prev_foot, since its
   PINUSE is clear) and a free successor, so no two free chunks are ever adjacent. The
   result joins the top, grows the dv, or goes to its bin. A chunk of DV_TAKEOVER bytes or
   more (1 KiB with the tier, 4 KiB without) that grew by merging with its predecessor
   takes over as the dv (the old one goes to its bin): a run of frees in address order
   then merges without bin work (a speed measure that builds without an OS leave out, for
   size).
   ========================================================================================== */

namespace mulle { namespace detail {

/* With the tier, where every chunk is above the slot sizes, 1 KiB: a queue of blocks of 16
   to 1024 bytes (the benchmark's fifo) then frees its head into the dv, 88.2 to 81.9
   instructions an operation against 4 KiB (mixed, large and the rest as before, peak
   resident as before). Without the tier 4 KiB: 1 KiB cost its buffers that grow by
   realloc 3% (13438 to 13873 instructions an operation), where small chunks merge often. */
static const size_t DV_TAKEOVER = TIER ? 1024 : 4096;

/* ---- the purge by itself ----
   mspace_trim purges every free chunk at once (top.hpp). Without it, a free chunk of
   PURGE_MIN bytes or more that stays free while the core serves PURGE_DELAY of its slower
   events (a free that merges in the core: a block into a bin, a page of the tier given
   back) gives its inner pages back too: memory a long-lived program freed below live
   blocks does not stay resident for ever, and memory it reuses soon is not given back
   and faulted in again in a loop. The candidates wait in a queue of PURGE_SLOTS in the
   state (offset and clock), a new one in place of the one noted longest ago (a heap busy
   freeing large chunks purges nothing by itself; mspace_trim does). One slot is looked
   at per event: a candidate that is due is purged if it is still free, as the dv or
   found in its tree bin by its size (a bounded walk); one that was taken or merged
   meanwhile is dropped (what it merged into was noted itself; a remainder cut from a
   candidate takes its place and its time). So the work per event is bounded, and no
   memory that is not free is touched. OS regions only (in one with huge pages, only whole
   huge pages: os_purge), and not at level 2, whose poison is free memory's content. */
static_assert((PURGE_SLOTS & (PURGE_SLOTS - 1)) == 0, "the purge queue's cursor wraps by a mask");
static_assert(PURGE_DELAY >= 1 && PURGE_DELAY <= (0x7FFFFFFFu >> TOP_WAIT_MOST),
              "MULLE_DLMALLOC_PURGE_DELAY: 1 to 262143 events (the top's longest wait, the delay << 13, counts in 32 bits)");

MULLE_DLMALLOC_NOASAN inline bool purges_by_itself(const mstate *m)
{
   return PURGE_MIN && (m->flags & STATE_FROM_OS);
}

/* The head word at c, where a chunk that waited to be purged began: where that chunk was
   taken or merged meanwhile, a word of a block its owner may be writing at this moment
   (a locked mspace shared by threads). Only compared, and only a free chunk the bins
   hold at that address is believed; under ThreadSanitizer the read is kept out of its
   sight. */
#ifdef MULLE_DLMALLOC_TSAN
__attribute__((no_sanitize("thread"), noinline)) inline size_t stale_head(const chunk *c) { return c->head; }
#else
MULLE_DLMALLOC_NOASAN inline size_t stale_head(const chunk *c) { return c->head; }
#endif

/* Is c (a chunk below the top) free, as the dv or a chunk its tree bin holds? Its size
   then in *size. A walk of the trie by c's size (at most a word's bits deep) and of at
   most 16 members of its ring: not found there is "no" (a purge skipped, nothing lost). */
MULLE_DLMALLOC_NOASAN inline bool held_free(mstate *m, chunk *c, size_t *size)
{
   if (c == m->dv)
   {
      *size = m->dv_size;
      return free_head_is(c, m->dv_size);
   }
   size_t head = stale_head(c);
   size_t s    = head & ~FLAG_BITS;
   if ((head & CINUSE) || is_small(s) || s > static_cast<size_t>(as_bytes(m->top) - as_bytes(c)))
      return false;
   size_t      i;
   size_t      bits  = tree_key(s, &i);
   tree_chunk *t     = m->treebins[i];
   size_t      depth = 0;
   for (; t; bits <<= 1)
   {
      MULLE_DLMALLOC_STEP();
      if (!ok_chunk_address(m, t) || ++depth > SIZE_BITS)
         return false;
      if (chunk_size(t) == s)
      {
         chunk *r = t;
         for (size_t k = 0; k < 16; ++k)
         {
            MULLE_DLMALLOC_STEP();
            if (r == c)
            {
               *size = s;
               return true;
            }
            r = r->fd;
            if (r == t || !ok_chunk_address(m, r))
               return false;
         }
         return false;
      }
      t = t->child((bits >> (SIZE_BITS - 1)) & 1);
   }
   return false;
}

/* The slot of the purge queue that notes the free chunk at offset off from the state, or
   PURGE_SLOTS where none does. A queue whose purge_used is 0 is not looked at (a walk of
   the set bits alone cost the large workload more than the whole queue's eight compares);
   a mask that lies (a heap damaged, or attached from a process that died while it wrote)
   loses no more than a purge, since an event reads the slots themselves. The compares are
   written out, four a step: a loop of one compare a step cost the large workload 5
   instructions an operation more (its queue is full, and most looks miss). */
MULLE_DLMALLOC_NOASAN inline size_t purge_slot_of(const mstate *m, size_t off)
{
   static_assert(PURGE_SLOTS % 4 == 0, "purge_slot_of: four slots a step");
   if (!m->purge_used)
      return PURGE_SLOTS;
   const size_t *at = m->purge_at;
   size_t        k  = 0;
   for (; k < PURGE_SLOTS; k += 4)
   {
      if (at[k] == off)
         return k;
      if (at[k + 1] == off)
         return k + 1;
      if (at[k + 2] == off)
         return k + 2;
      if (at[k + 3] == off)
         return k + 3;
   }
   return k;
}

/* Free chunk c (not the top), of PURGE_MIN bytes or more, waits to be purged: noted anew
   where it waits already, else in the next slot in turn (in place of the one noted
   longest ago). With huge pages only a chunk that holds a whole one (the unit os_purge
   gives back): another would take a slot for nothing. */
MULLE_DLMALLOC_NOASAN MULLE_DLMALLOC_NEVER_INLINE void note_for_purge(mstate *m, chunk *c)
{
   if (!purges_by_itself(m))
      return;
   if (m->flags & STATE_HUGE_PAGES)
   {
      uintptr_t from = reinterpret_cast<uintptr_t>(c) + sizeof(tree_chunk);
      if (align_up(from, HUGE_PAGE_BYTES) + HUGE_PAGE_BYTES > reinterpret_cast<uintptr_t>(c) + chunk_size(c))
         return;
   }
   size_t off = static_cast<size_t>(as_bytes(c) - as_bytes(m));
   size_t k   = purge_slot_of(m, off);
   if (k == PURGE_SLOTS)
      k = m->purge_next++ & (PURGE_SLOTS - 1);
   m->purge_at[k]    = off;
   m->purge_stamp[k] = m->purge_clock;
   m->purge_used     = static_cast<uint16_t>(m->purge_used | (1u << k));
}

/* Free chunk `from`, waiting to be purged, was cut: its free remainder `to` waits in its
   place, with its time (its memory past the cut has been free since). A dv cut in a run
   asks this each time: an empty queue is not looked at (on the fifo workload, built
   without the tier, its eight compares were 7 instructions an operation). */
MULLE_DLMALLOC_NOASAN inline void move_purge_note(mstate *m, chunk *from, chunk *to)
{
   if (!purges_by_itself(m))
      return;
   size_t k = purge_slot_of(m, static_cast<size_t>(as_bytes(from) - as_bytes(m)));
   if (k < PURGE_SLOTS)
      m->purge_at[k] = static_cast<size_t>(as_bytes(to) - as_bytes(m));
}

/* Slot k's candidate is due: purged if it is still free; the slot empties either way. */
MULLE_DLMALLOC_NOASAN MULLE_DLMALLOC_NEVER_INLINE void purge_due(mstate *m, size_t k)
{
   chunk *c = chunk_at(m, m->purge_at[k]);
   size_t s = 0;
   m->purge_at[k] = 0;
   m->purge_used  = static_cast<uint16_t>(m->purge_used & ~(1u << k));
   if (ok_chunk_address(m, c) && held_free(m, c, &s))
      os_purge(m, as_bytes(c) + sizeof(tree_chunk), as_bytes(c) + s);
}

/* The top's wait doubles with each trim for good, up to TOP_WAIT_MOST: its backoff. */
MULLE_DLMALLOC_NOASAN inline uint32_t top_backoff(const mstate *m)
{
   return m->top_backoff < TOP_WAIT_MOST - TOP_WAIT_FIRST ? m->top_backoff : TOP_WAIT_MOST - TOP_WAIT_FIRST;
}

/* The top's next wait, in events of the purge's clock. */
MULLE_DLMALLOC_NOASAN inline uint32_t top_wait(const mstate *m)
{
   return static_cast<uint32_t>(PURGE_DELAY) << (TOP_WAIT_FIRST + top_backoff(m));
}

/* After a free that grew the top past the threshold, the top trims itself: at once and
   lazily (a heap that grows again reuses the pages) until the heap grows back into pages
   such a trim released (STATE_REGROWS, top.hpp). From then on it follows the purge's
   policy, so that a heap that grows and shrinks around one size does not give back and
   fault in the same pages on every cycle: the free that grows the top past the threshold
   starts a wait (top_due), and the top is trimmed for good when it has stayed past the
   threshold across 8 * PURGE_DELAY events of the purge's clock (an event that finds it
   below ends the wait; the next growth starts another). The top waits longer than a free
   chunk below live blocks: it is what a heap that grows again takes first. Each such
   trim doubles the next wait (up to PURGE_DELAY << TOP_WAIT_MOST): a heap whose top
   keeps coming back is trimmed ever more rarely, one that shrank for good is trimmed
   after one wait, and mspace_trim starts over. Without an OS there are no pages to give
   back: the footprint shrinks only by mspace_trim, and the code stays small. (A region
   with huge pages trims as any other, in whole huge pages: footprint_step.) */
MULLE_DLMALLOC_NOASAN MULLE_DLMALLOC_NEVER_INLINE void trim_top_by_itself(mstate *m)
{
   if (!top_trims(m))
      return;   /* nothing to give back: no trim, and no wait for one */
   if (!(m->flags & STATE_REGROWS))
      trim_top(m, 0, false);
   else
   {
      /* its free is event purge_clock + 1: the wait ends at the event top_wait long after */
      uint32_t due = m->purge_clock + 1 + top_wait(m);   /* may wrap to 0, */
      m->top_due   = due + (due == 0);                     /* which is no wait */
   }
}

/* Whether the top trims itself now (trim_top_by_itself): past the threshold, and not
   waiting. */
MULLE_DLMALLOC_NOASAN inline bool top_trims_now(const mstate *m)
{
   return !MULLE_DLMALLOC_NO_OS && m->top_size > m->trim_threshold && (!(m->flags & STATE_REGROWS) || !m->top_due);
}

MULLE_DLMALLOC_NOASAN MULLE_DLMALLOC_HOT void trim_by_itself(mstate *m)
{
   if (top_trims_now(m))
      trim_top_by_itself(m);
}

/* Whether event `now` of the purge's clock ends the top's wait: it fell below the
   threshold, or it stayed above for the whole wait (now has reached top_due: a wait is
   below 2^31 events, and each event asks). */
MULLE_DLMALLOC_NOASAN inline bool top_wait_ends(const mstate *m, uint32_t now)
{
   return m->top_size <= m->trim_threshold || static_cast<uint32_t>(now - m->top_due) < 0x80000000u;
}

/* The top's wait ended at this event (top_wait_ends): below the threshold, or where a trim
   would give nothing back, it just ends; else the top is trimmed for good. */
MULLE_DLMALLOC_NOASAN MULLE_DLMALLOC_NEVER_INLINE void top_wait_over(mstate *m)
{
   if (m->top_size <= m->trim_threshold || !top_trims(m))
      m->top_due = 0;
   else
   {
      uint32_t backoff = top_backoff(m);
      trim_top(m, 0, true);   /* for good; ends the wait, and starts over: not here */
      set_flags(m, m->flags | STATE_REGROWS);
      m->top_backoff = backoff + 1;
   }
}

/* Whether slot k of the purge queue is due at event `now` of the purge's clock: a chunk
   noted at clock t (its own free counts as event t + 1) is due past t + 1 + PURGE_DELAY
   (a slot is noted only where purges_by_itself). */
MULLE_DLMALLOC_NOASAN inline bool purge_slot_due(const mstate *m, size_t k, uint32_t now)
{
   return PURGE_MIN && m->purge_at[k] && static_cast<uint32_t>(now - m->purge_stamp[k]) > PURGE_DELAY;
}

/* The work of an event that finds some (events_after), in its order: the held page, the
   top's wait, the slot's purge, the top's trim. */
MULLE_DLMALLOC_NOASAN MULLE_DLMALLOC_NEVER_INLINE void events_due(mstate *m)
{
   if (HOLDS && m->held)
      held_page_event(m);   /* tier.hpp */
   uint32_t now = m->purge_clock;
   if (m->top_due && top_wait_ends(m, now))
      top_wait_over(m);
   size_t k = now & (PURGE_SLOTS - 1);
   if (purge_slot_due(m, k, now))
      purge_due(m, k);
   trim_by_itself(m);
}

/* One of the core's slower events, after a release: the clock moves, one slot of the
   purge queue is looked at, the top trims itself past the threshold, and a held page
   (tier.hpp) goes back where the release left free memory after it, or a page or more
   before it. The work is a call made only where there is some, so that the release
   keeps no register for after it (its frame saved three: 4 to 5 instructions an
   operation on large, 2 on mixed). */
MULLE_DLMALLOC_NOASAN MULLE_DLMALLOC_HOT void events_after(mstate *m)
{
   if (MULLE_DLMALLOC_NO_OS)
      return;
   uint32_t now = ++m->purge_clock;
   if ((m->top_due && top_wait_ends(m, now)) || purge_slot_due(m, now & (PURGE_SLOTS - 1), now) || top_trims_now(m))
      events_due(m);
   else if (HOLDS && m->held)
      held_page_event(m);   /* tier.hpp */
}

/* Makes [c, c + s) free and merges it. c's PINUSE must be right. Its CINUSE is cleared
   first: a later free of this block sees it. The free neighbours' bin links are verified
   before anything is written; false (nothing changed) if they lie. Inlined into free's
   path; the other callers share release_chunk. */
MULLE_DLMALLOC_NOASAN MULLE_DLMALLOC_HOT bool merge_chunk(mstate *m, chunk *c, size_t s)
{
   /* prev_foot is the predecessor's size only while it is free; else it is the last word
      of a block the user holds (maybe another thread's, in a locked mspace): not read.
      A free predecessor's head and footer were held against each other when c was
      validated; a free successor's size is held against the dv's record or its footer
      (c's validation bounded it by the top) */
   size_t ps   = previous_is_in_use(c) ? 0 : c->prev_foot;
   chunk *prev = ps ? chunk_before(c, ps) : NULL;
   chunk *next = chunk_at(c, s);
   size_t ns   = next == m->dv ? m->dv_size : next == m->top || chunk_is_in_use(next) ? 0 : chunk_size(next);
   if (next == m->dv ? !free_head_is(next, ns) : ns && !footer_agrees(next, ns))
      return false;
   /* the neighbours leave their bins with their links verified; a successor whose links
      lie puts the predecessor back, so that nothing changed */
   bool prev_binned = prev && prev != m->dv, next_binned = ns && next != m->dv;
   if (prev_binned && !unlink_chunk_checked(m, prev, ps))
      return false;
   if (next_binned && !unlink_chunk_checked(m, next, ns))
   {
      if (prev_binned)
         insert_chunk(m, prev, ps);
      return false;
   }

   MULLE_DLMALLOC_ASSERT(s >= MIN_CHUNK && (s & ALIGN_MASK) == 0 && "release_chunk: a chunk size");
   c->head = s | (c->head & PINUSE);
#if MULLE_DLMALLOC_CHECKS >= 2
   chunk *freed      = c;
   size_t freed_size = s;
#endif
   /* what merges with the dv stays the dv; else a chunk of DV_TAKEOVER or more that grew by
      merging with its predecessor takes over as the dv (the old one goes to its bin), so
      that a run of frees in address order merges without bin work */
   bool joins_dv = next == m->dv, takes_over = false;
   if (prev)
   {
      if (prev == m->dv)
         joins_dv = true;
      else
         takes_over = !MULLE_DLMALLOC_NO_OS && !joins_dv && s + ps >= DV_TAKEOVER;
      s += ps;
      c  = prev;
   }
   if (next == m->top)
   {
      size_t ts    = m->top_size + s;
      c->head      = ts | PINUSE;   /* one store: the walk goes over the old top's head */
      m->top       = c;
      m->top_size  = ts;
      if (joins_dv)   /* the dv merged into the top */
      {
         m->dv      = NULL;
         m->dv_size = 0;
      }
      return true;
   }
   s += ns;
   set_free_with_footer(c, s);
   if (joins_dv)
   {
      m->dv      = c;
      m->dv_size = s;
   }
   else if (takes_over)
      replace_dv(m, c, s);
   else
      insert_chunk(m, c, s);
   if (PURGE_MIN && s >= PURGE_FROM)
      note_for_purge(m, c);
#if MULLE_DLMALLOC_CHECKS >= 2
   /* the merged chunk's bytes past the words of its kind are poison: the freed block's,
      and the words of a successor it swallowed that its kind used (the rest of that one
      was poison already, as was a predecessor's past the words of its kind, which are no
      more than the merged chunk's) */
   byte *keep = as_bytes(c) + poison_start(s);
   byte *from = as_bytes(freed) > keep ? as_bytes(freed) : keep;
   byte *to   = as_bytes(freed) + freed_size;
   if (to > from)
      fill_bytes(from, POISON_BYTE, static_cast<size_t>(to - from));
   if (ns)
   {
      byte *swallowed_end = to + poison_start(ns);
      from = to > keep ? to : keep;
      if (swallowed_end > from)
         fill_bytes(from, POISON_BYTE, static_cast<size_t>(swallowed_end - from));
   }
#endif
   return true;
}

MULLE_DLMALLOC_NOASAN inline bool release_chunk(mstate *m, chunk *c, size_t s)
{
   bool done = merge_chunk(m, c, s);
   if (HOLDS && m->held)
      held_page_event(m);   /* free memory may lie beside the held page now (tier.hpp) */
   return done;
}

/* Releases a validated in-use chunk; the top trims itself past the threshold. */
MULLE_DLMALLOC_NOASAN inline void release_block(mstate *m, chunk *c)
{
   void  *mem    = mem_from_chunk(c);
   size_t usable = usable_size_of(c);
   if (!merge_chunk(m, c, chunk_size(c)))
   {
      report(m, MSPACE_ERROR_CORRUPTION, mem);
      return;   /* refused: the block stays allocated, for the checkers too */
   }
   annotate_free(m, mem, usable);
   events_after(m);
}

/* The commonest release in a run of frees in address order: validated in-use chunk c of
   size s follows the dv and is followed by a chunk in use, so it only grows the dv (what
   release_chunk would do, without its stack frame). deallocate_read asks first. */
MULLE_DLMALLOC_NOASAN MULLE_DLMALLOC_HOT void grow_dv_with(mstate *m, chunk *c, size_t s)
{
   c->head    = s;   /* CINUSE cleared: a second free of this block sees it */
   m->dv_size = c->prev_foot + s;   /* the dv's size as release_chunk reckons it */
   set_free_with_footer(m->dv, m->dv_size);
   annotate_free(m, mem_from_chunk(c), usable_of_size(s));
}

/* The commonest release of a block among blocks: validated in-use chunk c follows a chunk
   in use and is followed by one (neither the top nor the dv), so it merges with nothing
   and only goes to its bin (what release_block would do, without reading a free
   neighbour and in a smaller stack frame). deallocate_read asks first. */
MULLE_DLMALLOC_NOASAN MULLE_DLMALLOC_WHOLE_WAY void bin_between_blocks(mstate *m, chunk *c)
{
   size_t s      = chunk_size(c);
   void  *mem    = mem_from_chunk(c);
   size_t usable = usable_of_size(s);
   set_free_with_footer(c, s);   /* CINUSE cleared: a second free of this block sees it */
   insert_chunk(m, c, s);
   if (PURGE_MIN && s >= PURGE_FROM)
      note_for_purge(m, c);
   annotate_free(m, mem, usable);
   events_after(m);
}

/* The commonest release of a stack of blocks: validated in-use chunk c of size s follows
   a chunk in use and is followed by the top, so it only becomes the top's start (what
   release_chunk would do, without its stack frame and without a word of a free chunk
   read: the top's size comes from the state). deallocate_read asks first. */
MULLE_DLMALLOC_NOASAN MULLE_DLMALLOC_HOT void become_top(mstate *m, chunk *c, size_t s)
{
   size_t ts    = m->top_size + s;
   c->head      = ts | PINUSE;   /* CINUSE cleared: a second free of c sees it; one store */
   m->top       = c;
   m->top_size  = ts;
   annotate_free(m, mem_from_chunk(c), usable_of_size(s));
   trim_by_itself(m);
}

/* What a free reads of validated in-use chunk c: its head and its successor's, and
   whether the dv lies before it. */
MULLE_DLMALLOC_NOASAN MULLE_DLMALLOC_HOT chunk_read read_chunk(const mstate *m, chunk *c)
{
   chunk *next = next_chunk(c);
   return chunk_read{c->head, next, next->head, !previous_is_in_use(c) && previous_chunk(c) == m->dv};
}

/* Frees validated in-use chunk c, whose head and successor's head r holds (what its
   validation read): after a block in use it joins the top that follows; a successor that
   is free or the dv (free whatever its head says: where a write past c set its CINUSE,
   release_block holds the head against the dv's size and reports it) merges; between
   blocks in use it goes to its bin; after the dv it grows the dv; else it is released. At
   level 2 always released, which poisons it; without an OS too, for size. The top's case
   and the bin's are told apart in the caller's frame, which then saves no register; the
   rest here, in a frame of their own (inlined, the registers they need cost every free
   two pushes and two pops). */
MULLE_DLMALLOC_NOASAN MULLE_DLMALLOC_NEVER_INLINE void deallocate_among(mstate *m, chunk *c, size_t head, const chunk *next, size_t next_head,
                                                                       bool after_dv)
{
   if (after_dv && next != m->top && (next_head & CINUSE) &&   /* so the dv is not next */
       !(HOLDS && m->held && reinterpret_cast<const byte *>(m) + m->held == reinterpret_cast<const byte *>(next) + MEM_OFFSET))
      return grow_dv_with(m, c, head & ~FLAG_BITS);   /* (the dv grown up to the held page */
   release_block(m, c);                               /* goes the longer way: its events ask
                                                         the page, tier.hpp) */
}

MULLE_DLMALLOC_NOASAN MULLE_DLMALLOC_HOT void deallocate_read(mstate *m, chunk *c, const chunk_read &r)
{
   if (MULLE_DLMALLOC_CHECKS >= 2 || MULLE_DLMALLOC_NO_OS)
      return release_block(m, c);
   if (r.next == m->top && (r.head & PINUSE))
      return become_top(m, c, r.head & ~FLAG_BITS);   /* without a stack frame */
   if ((r.head & PINUSE) && r.next != m->top && r.next != m->dv && (r.next_head & CINUSE))
      return bin_between_blocks(m, c);
   deallocate_among(m, c, r.head, r.next, r.next_head, r.after_dv);
}

MULLE_DLMALLOC_NOASAN inline void deallocate_chunk(mstate *m, chunk *c) { deallocate_read(m, c, read_chunk(m, c)); }

}} // namespace mulle::detail
