/* ==== C-linkage wrappers ==================================================================

   Each public function that touches the heap runs between enter_call and leave_call (the
   handle checked: a NULL or dead mspace gives NULL, 0 or nothing, reported where a block
   would be lost; the lock taken where the mspace has one), runs the level-2 whole-heap
   check where configured, and calls the section that does the work. Requests larger than
   the capacity fail before any size arithmetic, so no size computation below can overflow.

   malloc and free have a fast path in front, for a live mspace whose thread runs no user
   code for it (where enter_call would only check the handle and take the lock; a locked
   mspace's lock is held around the fast path too, or a front's for a small block): a
   small request takes a slot of a page with room, a slot is freed into its page, and a
   chunk block that is plainly valid joins the top or the dv, in a few instructions and
   without a stack frame. Anything else
   goes on to allocate, or to deallocate_read; a handle or block in any doubt goes the whole way
   (malloc_whole, free_whole), which checks everything again and names the fault. Where
   the fast path is left out (MULLE_DLMALLOC_FAST_PATH), only the whole way is left.
   ========================================================================================== */

namespace mulle { namespace detail {

static const bool FAST_PATH = MULLE_DLMALLOC_FAST_PATH;

/* A live mspace, or NULL. Where a misaligned load is an ordinary one, the magic word alone
   rules out a misaligned handle (its magic would have to be the xor of a misaligned
   address); elsewhere the whole test of is_live. */
MULLE_DLMALLOC_NOASAN MULLE_DLMALLOC_HOT mstate *fast_live(mspace ms)
{
#if MULLE_DLMALLOC_CHECKS && (defined(__x86_64__) || defined(__i386__) || defined(__aarch64__))
   mstate *m = static_cast<mstate *>(ms);
   return m && m->magic == (MSTATE_MAGIC ^ reinterpret_cast<uintptr_t>(m)) ? m : NULL;
#else
   return live_state(ms);
#endif
}

/* An mspace the fast path may serve: live, without a lock, and not inside user code; its
   fast_key says all three at once. */
MULLE_DLMALLOC_NOASAN MULLE_DLMALLOC_HOT mstate *fast_state(mspace ms)
{
   mstate *m = static_cast<mstate *>(ms);
#if MULLE_DLMALLOC_CHECKS && (defined(__x86_64__) || defined(__i386__) || defined(__aarch64__))
   return m && m->fast_key == (MSTATE_MAGIC ^ reinterpret_cast<uintptr_t>(m)) ? m : NULL;
#else
   return live_state(ms) && m->fast_key == m->magic ? m : NULL;
#endif
}

/* A locked mspace the fast path may serve under its lock, first thing the whole way
   does: the lock is all that differs. Its callouts run on the thread that holds the lock,
   so only this thread's record of callouts can tell whether it runs user code for it; a
   thread inside any callout goes on the whole way, which finds out. */
MULLE_DLMALLOC_NOASAN inline mstate *locked_fast_state(mspace ms)
{
#if MULLE_DLMALLOC_FAST_PATH && MULLE_DLMALLOC_LOCKS
   mstate *m = fast_live(ms);
   return m && (flags_of(m) & STATE_LOCKED) && !innermost_callout ? m : NULL;
#else
   (void) ms;
   return NULL;
#endif
}

/* A small malloc past the next quickest slot: a slot from the list, a new page, or a
   chunk. */
MULLE_DLMALLOC_NOASAN MULLE_DLMALLOC_NEVER_INLINE void *malloc_small_slow(mstate *m, size_t n)
{
   bool  sane;
   void *p = slot_from_list(m, &m->fronts[0], class_of(n), &sane);   /* one front here */
   if (p || !sane)
      return hand_out(m, p, n);
   return hand_out(m, allocate(m, n), n);
}

/* A small malloc past the quickest slot: the next quickest (a full head leaves its list),
   without a stack frame, else the slow way. */
MULLE_DLMALLOC_NOASAN MULLE_DLMALLOC_NEVER_INLINE void *malloc_small_rest(mstate *m, size_t n)
{
   if (void *p = next_slot(m, &m->fronts[0], class_of(n)))   /* one front here */
      return hand_out(m, p, n);
   return malloc_small_slow(m, n);
}

/* The fast path of malloc: the quickest slot, else the rest; a larger request goes
   straight to the core (both tail calls where nothing is annotated). */
MULLE_DLMALLOC_NOASAN MULLE_DLMALLOC_HOT void *malloc_fast(mstate *m, size_t n)
{
   if (TIER && n <= TIER_MAX)
   {
      if (void *p = quick_slot(&m->fronts[0], class_of(n)))   /* one front here */
         return hand_out(m, p, n);
      return malloc_small_rest(m, n);
   }
   return hand_out(m, allocate_chunk(m, n), n);
}

/* A free of chunk block p, plainly valid (or unchecked at level 0), where the block's
   heads as the validation read them decide where it goes; false, with nothing done, for a
   block the whole way must look at. */
MULLE_DLMALLOC_NOASAN MULLE_DLMALLOC_HOT bool free_chunk_plainly(mstate *m, void *p)
{
   chunk     *c = chunk_from_mem(p);
   chunk_read r;
   if (!MULLE_DLMALLOC_CHECKS)
      r = read_chunk(m, c);
   else if (!plainly_valid(m, p, &r))
      return false;
   deallocate_read(m, c, r);
   return true;
}

/* The fast path of free: a slot into its page, a plainly valid chunk to the top, the dv or
   its bin; false (nothing done) for a block the whole way must look at. */
MULLE_DLMALLOC_NOASAN MULLE_DLMALLOC_HOT bool free_fast(mstate *m, void *p)
{
   if (page *pg = page_of(m, p))
   {
      free_in_page(m, pg, p);
      return true;
   }
   return free_chunk_plainly(m, p);
}

#if MULLE_DLMALLOC_LOCKS && MULLE_DLMALLOC_FAST_PATH
/* The fast path of a locked mspace (locked_fast_state): the same, under the lock, in a
   frame of its own (the whole way's is larger). */
void *malloc_whole(mspace ms, size_t n);

MULLE_DLMALLOC_NOASAN MULLE_DLMALLOC_NEVER_INLINE void *malloc_locked(mstate *m, size_t n)
{
   if (lock_acquire(m))   /* taken over from a holder that died: the whole way recovers */
   {
      lock_release(m);
      return malloc_whole(m, n);
   }
#ifdef MULLE_DLMALLOC_HAS_FRONTS
   unsigned seen = reports_so_far();
#endif
   void *p = malloc_fast(m, n);
   lock_release(m);
#ifdef MULLE_DLMALLOC_HAS_FRONTS
   if (!p && n <= m->capacity && seen == reports_so_far())
      return malloc_whole(m, n);   /* with every lock: the fronts' spares may serve */
#endif
   return p;
}

#endif

MULLE_DLMALLOC_NOASAN MULLE_DLMALLOC_WHOLE_WAY void *malloc_whole(mspace ms, size_t n)
{
   mstate *m = enter_call(ms);
   void   *p = m && heap_is_sound(m) ? hand_out(m, allocate_whole(m, n), n) : NULL;
   leave_call(m);
   return p;
}

MULLE_DLMALLOC_NOASAN MULLE_DLMALLOC_WHOLE_WAY void free_whole(mspace ms, void *p)
{
   mstate *m = enter_call(ms, p);
   if (m && heap_is_sound(m))
   {
      if (page *pg = page_of(m, p))
      {
         if (remotely_freed(m, pg, p))   /* by another thread, not yet collected */
            report(m, MSPACE_ERROR_DOUBLE_FREE, p);
         else
            free_in_page(m, pg, p);
      }
      else if (block_is_valid(m, p))   /* a chunk: no page holds it */
         deallocate_chunk(m, chunk_from_mem(p));
   }
   leave_call(m);
}

#if MULLE_DLMALLOC_LOCKS && MULLE_DLMALLOC_FAST_PATH
/* The fast path of free under the lock; what it does not take goes the whole way. */
MULLE_DLMALLOC_NOASAN MULLE_DLMALLOC_NEVER_INLINE void free_locked(mstate *m, void *p)
{
   bool done = !lock_acquire(m) && (FRONTS == 1 || !in_page(m, p)) && free_fast(m, p);   /* a front's */
   lock_release(m);   /* slot, or a lock taken over from a holder that died: the whole way */
   if (!done)
      free_whole(m, p);
}
#endif

#if defined(MULLE_DLMALLOC_HAS_FRONTS) && MULLE_DLMALLOC_FAST_PATH
/* ---- fronts (tier.hpp): small blocks of a locked mspace without the mspace's lock ----
   A thread takes the slots of its front's pages under that front's lock alone; the
   mspace's lock is taken inside it only where a page is made or given back. A free of a
   slot takes the lock of the front whose lists hold the slot's page (named in its header,
   a byte set as the page is made and only read after), found by the page map, which is
   read atomically: no lock is taken to learn that a block is a slot. What is not plainly
   right (a fault, a damaged page, no page to be had) goes the whole way, which takes
   every lock and looks again. */

/* Page pg of front f (held) emptied: it becomes a spare or goes back to the core. (One
   that a second free of one of its slots queued meanwhile stays, to be collected: the
   giving back and the cutting anew of a spare look, remote_frees_done.) */
MULLE_DLMALLOC_NOASAN inline void page_left_empty(mstate *m, front *f, page *pg)
{
   if (!keep_spare(m, f, pg))
   {
      if (!lock_acquire(m))    /* the page goes back to the core (where the lock was */
         return_page(m, pg);   /* taken over from a holder that died, the recovery */
      lock_release(m);         /* gives it back) */
   }
}

/* Up to REMOTE_BATCH queued pages of front f (held) collected, until f's list of class
   cls has room; true if it has. A page that empties becomes a spare or goes back. */
static const unsigned REMOTE_BATCH = 8;
MULLE_DLMALLOC_NOASAN MULLE_DLMALLOC_NEVER_INLINE bool collect_for(mstate *m, front *f, size_t cls)
{
   for (unsigned n = 0; n < REMOTE_BATCH; ++n)
   {
      MULLE_DLMALLOC_STEP();
      page *pg = next_queued(m, f);
      if (!pg)
         break;
      collect_page(m, pg);
      if (!pg->used && !page_queued(pg))
         page_left_empty(m, f, pg);
      else if (!pg->listed && pg->used < pg->count)
         relist_page(m, pg);
      page *h = f->avail[cls];
      if (h && (h->used < h->count || h->next != h))
         return true;
   }
   return false;
}

/* A free of slot p (in the page of `frame`, whose front byte read k) by a thread that does
   not hold front k, without its lock (tier.hpp: remote frees); false, with nothing
   written, where the front is closed or p is not plainly a slot in use of a page of front
   k: the caller takes the lock then, which decides, and names the fault. The page's words
   are read out of ThreadSanitizer's sight, as lock_slot reads them: they are only
   compared, and believed while the pin holds the page. */
MULLE_DLMALLOC_NOASAN MULLE_DLMALLOC_HOT bool free_remote(mstate *m, void *p, size_t frame, unsigned k)
{
   front *f    = &m->fronts[k];
   bool   done = false;
   if (!(__atomic_fetch_add(&f->pins, static_cast<size_t>(1), __ATOMIC_SEQ_CST) & REMOTE_CLOSED))
   {
#if !defined(__x86_64__) && !defined(__i386__)
      __atomic_thread_fence(__ATOMIC_SEQ_CST);   /* the pin before the reads (x86's locked add is a fence) */
#endif
      page  *pg   = frame_of(p);
      size_t size = frame_half(&pg->size);
      if (map_has(m, frame) && frame_byte(&pg->front) == k && frame_word(&pg->check) == page_check(m, pg, size, k))
      {
         size_t i = slot_index_as(pg, p, size, frame_byte(&pg->count));
         if (i != NO_SLOT && !((frame_bits(&pg->free_bits[i >> 6]) >> (i & 63)) & 1u) &&
             slot_words(p)[1] != remote_key(m, p))   /* free, or freed so before: the lock decides */
         {
            annotate_free(m, p, size);   /* before the push: the page's holder may hand it out */
            size_t off = static_cast<size_t>(static_cast<byte *>(p) - as_bytes(pg));
            size_t top = __atomic_load_n(&pg->rfree, __ATOMIC_RELAXED);
            slot_words(p)[1] = remote_key(m, p);
            do
               slot_words(p)[0] = top;
            while (!__atomic_compare_exchange_n(&pg->rfree, &top, off, true, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE));
            if (!top)   /* the first since the page was collected: it joins the queue */
            {
               size_t at   = page_offset(m, pg);
               size_t head = __atomic_load_n(&f->rhead, __ATOMIC_RELAXED);
               do
                  pg->rnext = head;
               while (!__atomic_compare_exchange_n(&f->rhead, &head, at, true, __ATOMIC_RELEASE, __ATOMIC_RELAXED));
            }
            done = true;
         }
      }
   }
   __atomic_fetch_sub(&f->pins, static_cast<size_t>(1), __ATOMIC_RELEASE);
   return done;
}

/* A slot of class cls for front f (its lock held) past the quickest: from its list, else
   from a new page, made under the mspace's lock. NULL where neither is had; *sane turns
   false where the list was found damaged (reported). */
MULLE_DLMALLOC_NOASAN MULLE_DLMALLOC_NEVER_INLINE void *front_slot(mstate *m, front *f, size_t cls, bool *sane)
{
   void *p = slot_from_list(m, f, cls, sane);
   if (p || !*sane)
      return p;
   if ((f->rtaken || __atomic_load_n(&f->rhead, __ATOMIC_RELAXED)) && collect_for(m, f, cls))
   {
      p = slot_from_list(m, f, cls, sane);
      if (p || !*sane)
         return p;
   }
   page *pg = f->spare ? take_spare(m, f, cls) : NULL;   /* without the mspace's lock */
   if (!pg)
   {
      pg = lock_acquire(m) ? NULL : new_page(m, cls, f);   /* a lock taken over: none, and */
      lock_release(m);                                     /* the caller goes the whole way */
      if (!pg)
         return NULL;
   }
   p = take_slot(m, pg);
   if (!list_page(m, f, pg, cls))   /* the list's head was damaged: the page stays out of it */
      report(m, MSPACE_ERROR_CORRUPTION, pg);
   return p;
}

/* The rest of malloc_front: f held already by its bias where `busy` (bias_hold's byte),
   else its lock word is taken here. */
MULLE_DLMALLOC_NOASAN MULLE_DLMALLOC_NEVER_INLINE void *malloc_front_rest(mstate *m, front *f, size_t n, uint8_t *busy)
{
   size_t cls  = class_of(n);
   bool   sane = true;
   if (!busy && front_take_here(m, f, true))   /* taken over from a holder that died: the whole way */
   {
      spin_release(&f->lock);
      return malloc_whole(m, n);
   }
   void *p = busy ? NULL : quick_slot(f, cls);   /* a biased front's quick slot was tried */
   if (!p && !(p = next_slot(m, f, cls)))
      p = front_slot(m, f, cls, &sane);
   if (p)
      p = hand_out(m, p, n);
   front_let_go(f, busy);
   if (p || !sane)
      return p;
   return malloc_whole(m, n);   /* no page to be had: a chunk, or a larger slot */
}

/* malloc_front of a thread that has no front yet (it holds no bias): its front is given
   here, out of line, so that the common path needs no stack frame. */
MULLE_DLMALLOC_NOASAN MULLE_DLMALLOC_NEVER_INLINE void *malloc_front_first(mstate *m, size_t n)
{
   return malloc_front_rest(m, first_thread_front(m), n, NULL);
}

/* malloc of n <= FRONT_MAX bytes from a locked mspace, in this thread's front: where the
   front is biased to the thread and its quick slot serves, without a call. */
MULLE_DLMALLOC_NOASAN MULLE_DLMALLOC_HOT void *malloc_front(mstate *m, size_t n)
{
   size_t at = thread_front_at;
   if (!at)
      return malloc_front_first(m, n);
   front   *f    = reinterpret_cast<front *>(reinterpret_cast<byte *>(m) + at);
   uint8_t *busy = bias_hold(f);
   if (!busy)
      return malloc_front_rest(m, f, n, NULL);
   void *p = quick_slot(f, class_of(n));
   if (!p)
      return malloc_front_rest(m, f, n, busy);
   p = hand_out(m, p, n);
   bias_drop(busy);
   return p;
}

/* Whether p lies in a page of m, asked of the page map without a lock. */
MULLE_DLMALLOC_NOASAN MULLE_DLMALLOC_HOT bool in_page_unlocked(const mstate *m, const void *p, size_t *frame)
{
   *frame = frame_index(m, p);
   return *frame < m->map_frames && map_has(m, *frame);   /* the bound is fixed */
}

/* Slot p's front locked, and its index in its page; NULL (nothing held) where p is no
   slot in use of a page the map names (the whole way looks again). A slot's page stays
   while the slot is in use. Where p is none (a second free), the frame may be a page being
   made or given back under another front's lock: its front byte is only compared, and
   believed under the lock it names, which makes and gives back that front's pages (so it
   is read out of ThreadSanitizer's sight, as frame_word). The front's bias is tried
   where `try_bias` (a caller that tried it just now does not); *busy is its byte where
   the bias holds the front, else NULL (the lock word does). */
MULLE_DLMALLOC_NOASAN MULLE_DLMALLOC_HOT front *lock_slot(mstate *m, void *p, size_t frame, size_t *index, uint8_t **busy, bool try_bias)
{
   page    *pg = frame_of(p);
   unsigned k  = frame_byte(&pg->front);
   if (k >= FRONTS)
      return NULL;
   front *f          = &m->fronts[k];
   *busy             = try_bias ? bias_hold(f) : NULL;
   bool   taken_over = !*busy && front_take_here(m, f, true);   /* from a holder that died: the
                                                               whole way */
   size_t i = NO_SLOT;
   if (!taken_over && map_has(m, frame) && frame_byte(&pg->front) == k)
      i = slot_index(pg, p);
   if (i == NO_SLOT || slot_was_freed(m, pg, i, p))
   {
      front_let_go(f, *busy);
      return NULL;
   }
   *index = i;
   return f;
}

/* The rest of a free of a slot of page pg, whose front f is held (by its bias where
   `busy`, bias_hold's byte): the page emptied and becomes a spare or goes back to the
   core, or it was full and joins its list again; then f is let go. */
MULLE_DLMALLOC_NOASAN MULLE_DLMALLOC_NEVER_INLINE void free_front_page(mstate *m, front *f, page *pg, bool emptied, uint8_t *busy)
{
   if (emptied)
      page_left_empty(m, f, pg);
   else
      relist_page(m, pg);
   front_let_go(f, busy);
}

/* free of slot p (in the page of `frame`) from a locked mspace under its front's lock
   word (p is no slot of this thread's front biased to it, and no remote free took it). */
MULLE_DLMALLOC_NOASAN MULLE_DLMALLOC_NEVER_INLINE void free_front_locking(mstate *m, void *p, size_t frame)
{
   page  *pg = frame_of(p);
   size_t i;
   uint8_t *busy;
   front   *f = lock_slot(m, p, frame, &i, &busy, false);
   if (!f)
      return free_whole(m, p);   /* which names the fault */
   if (clear_slot(m, pg, i, p) == 0)
      return free_front_page(m, f, pg, true, busy);
   if (!pg->listed)
      return free_front_page(m, f, pg, false, busy);
   front_let_go(f, busy);
}

/* free of slot p of page pg from a locked mspace, under the bias of this thread's front f
   (busy is its byte), which names pg's front as f and which the map names a page: both
   read under the bias, which alone makes and gives back f's pages. The slot is checked
   as lock_slot checks it under the lock; without a stack frame. */
MULLE_DLMALLOC_NOASAN MULLE_DLMALLOC_HOT void free_own_biased(mstate *m, front *f, page *pg, void *p, uint8_t *busy)
{
   size_t   i    = slot_index(pg, p);
   uint64_t bits = i == NO_SLOT ? 0 : pg->free_bits[i >> 6];   /* read once, for both */
   if (i == NO_SLOT || slot_was_freed_as(m, pg, i, p, bits))
   {
      bias_drop(busy);
      return free_whole(m, p);   /* which names the fault */
   }
   if (clear_slot_of(m, pg, i, p, bits) == 0)   /* the flags of the count's decrement */
      return free_front_page(m, f, pg, true, busy);
   if (!pg->listed)
      return free_front_page(m, f, pg, false, busy);
   bias_drop(busy);
}

/* free of slot p (in the page of `frame`) from a locked mspace, not under this thread's
   bias: a slot of another front as a remote free, or under that front's lock word; a slot
   of this thread's front, not biased to it, under its lock word. */
MULLE_DLMALLOC_NOASAN MULLE_DLMALLOC_NEVER_INLINE void free_front_slot(mstate *m, void *p, size_t frame)
{
   unsigned k = frame_byte(&frame_of(p)->front);
   /* another thread's front: a remote free, which reads nothing of the front's lock line
      (its holder writes there as it takes slots) */
   if (k < FRONTS && takes_remote_frees(m) &&
       static_cast<size_t>(reinterpret_cast<byte *>(&m->fronts[k]) - reinterpret_cast<byte *>(m)) != thread_front_at)
      return free_remote(m, p, frame, k) ? (void) 0 : free_front_locking(m, p, frame);
   return free_front_locking(m, p, frame);
}

/* free of p from a locked mspace: a slot of this thread's front, biased to it, under the
   bias (the map and the page's front byte read once, under it, without a stack frame); a
   slot of any other front by free_front_slot; anything else as before. */
MULLE_DLMALLOC_NOASAN MULLE_DLMALLOC_NEVER_INLINE void free_front(mstate *m, void *p)
{
   size_t frame;
#ifdef MULLE_DLMALLOC_HAS_BIAS
   if (size_t at = thread_front_at)   /* a thread with no front yet holds no bias */
   {
      front *f = reinterpret_cast<front *>(reinterpret_cast<byte *>(m) + at);
      if (uint8_t *busy = bias_hold(f))
      {
         bool slot = in_page_unlocked(m, p, &frame);
         if (slot && frame_byte(&frame_of(p)->front) + 1u == thread_front_number)
            return free_own_biased(m, f, frame_of(p), p, busy);
         bias_drop(busy);   /* the map was asked once: a chunk goes on at once */
         return slot ? free_front_slot(m, p, frame) : free_locked(m, p);
      }
   }
#endif
   if (!in_page_unlocked(m, p, &frame))
      return free_locked(m, p);
   return free_front_slot(m, p, frame);
}
#endif

/* The fast path of free for a block that is no slot: a plainly valid chunk to the top,
   the dv or its bin, anything else the whole way. */
MULLE_DLMALLOC_NOASAN MULLE_DLMALLOC_NEVER_INLINE void free_chunk_fast(mstate *m, void *p)
{
   if (!free_chunk_plainly(m, p))
      free_whole(m, p);
}

/* realloc and realloc_in_place: p is not NULL. */
MULLE_DLMALLOC_NOASAN void *realloc_whole(mspace ms, void *p, size_t n, bool may_move)
{
   mstate *m = enter_call(ms, p);
   void   *q = NULL;
   if (m && heap_is_sound(m))
   {
      page *pg = page_of(m, p);
      size_t i = 0;
      mspace_error_t e = pg ? slot_problem(m, pg, p, &i) : MSPACE_ERROR_NONE;
#ifdef MULLE_DLMALLOC_HAS_FRONTS
      unsigned seen = reports_so_far();
#endif
      if (e != MSPACE_ERROR_NONE)
         report(m, e, p);
      else if (pg)
         q = reallocate_slot(m, pg, i, p, n, may_move);
      else if (block_is_valid(m, p))   /* a chunk */
         q = reallocate(m, p, n, may_move);
#ifdef MULLE_DLMALLOC_HAS_FRONTS
      /* a failure that reported nothing (the block was valid) tries again with the fronts'
         spares given back, which also frees the neighbours a chunk may grow into */
      if (!q && n <= m->capacity && spares_given_back(m, seen))
         q = pg ? reallocate_slot(m, pg, i, p, n, may_move) : reallocate(m, p, n, may_move);
#endif
   }
   leave_call(m);
   return q;
}

/* realloc of p (not NULL) in an mspace the fast path may serve (fast_state: live, no lock,
   no user code running for it): what the whole way does for a slot in use or a chunk that
   is plainly valid, without the call's entry and exit; a block in any doubt goes the
   whole way, which names the fault. */
MULLE_DLMALLOC_NOASAN MULLE_DLMALLOC_NEVER_INLINE void *realloc_fast(mstate *m, void *p, size_t n, bool may_move)
{
   if (page *pg = page_of(m, p))
   {
      size_t i = 0;
      if (slot_problem(m, pg, p, &i) == MSPACE_ERROR_NONE)
         return reallocate_slot(m, pg, i, p, n, may_move);
   }
   else if (!MULLE_DLMALLOC_CHECKS || plainly_valid(m, p))
      return reallocate(m, p, n, may_move);
   return realloc_whole(m, p, n, may_move);
}

#if defined(MULLE_DLMALLOC_HAS_FRONTS) && MULLE_DLMALLOC_FAST_PATH
/* Where a slot of a locked mspace that grows moves: a slot of a front as malloc takes one,
   or past the fronts' sizes a chunk placed as a block that grows is (growing_block: the
   best fit), under the mspace's lock, as malloc_locked takes one; NULL where that lock
   was taken over from a holder that died (the caller goes the whole way, which recovers). */
MULLE_DLMALLOC_NOASAN inline void *slot_moves_to(mstate *m, size_t n)
{
   if (n <= FRONT_MAX)
      return mspace_malloc(m, n);
   bool  died = lock_acquire(m);
   void *q    = died ? NULL : hand_out(m, growing_block(m, n), n);
   lock_release(m);
   return q;
}

/* realloc of p in a locked mspace: a slot stays where the request fits it, else moves
   (slot_moves_to) and is freed (a front's path where it may); a chunk is resized under
   the mspace's lock alone where the request is no slot's (its move, if any, takes a
   chunk); anything else the whole way. */
MULLE_DLMALLOC_NOASAN MULLE_DLMALLOC_NEVER_INLINE void *realloc_front(mstate *m, void *p, size_t n, bool may_move)
{
   size_t frame, i;
   if (in_page_unlocked(m, p, &frame))
   {
      uint8_t *busy;
      front   *f = lock_slot(m, p, frame, &i, &busy, true);
      if (!f)
         return realloc_whole(m, p, n, may_move);
      page  *pg   = frame_of(p);
      size_t size = pg->size;
      if (n <= size)
         annotate_resize(m, p, size, n);
      front_let_go(f, busy);
      if (n <= size)
         return p;
      if (!may_move)
         return NULL;
      unsigned seen = reports_so_far();
      void    *q    = slot_moves_to(m, n);
      if (q)
      {
         copy_bytes(q, p, touchable_size(p, size));
         mspace_free(m, p);
      }
      /* a chunk that failed and reported nothing goes the whole way: with every lock, the
         fronts' spares may serve (and a lock taken over from a holder that died recovers) */
      else if (n > FRONT_MAX && n <= m->capacity && seen == reports_so_far())
         return realloc_whole(m, p, n, true);
      return q;
   }
   if (n <= FRONT_MAX)
      return realloc_whole(m, p, n, may_move);
   void *q = NULL;
   /* the whole way where the lock was taken over from a holder that died (it recovers),
      or for a page made meanwhile: p is no block of the user's then */
   bool     whole = lock_acquire(m) || in_page(m, p);
   unsigned seen  = reports_so_far();
   if (!whole && block_is_valid(m, p))   /* reported where not */
      q = reallocate(m, p, n, may_move);
   lock_release(m);
   /* a failure that reported nothing goes the whole way too: the fronts' spares may serve */
   return whole || (!q && seen == reports_so_far() && n <= m->capacity) ? realloc_whole(m, p, n, may_move) : q;
}
#endif

/* mspace_create_flags without the registration below (the process's malloc makes its
   heap with it, and registers once the heap is there). */
MULLE_DLMALLOC_NOASAN inline mstate *create_flags(size_t capacity, unsigned flags)
{
   if (flags & ~(MSPACE_LOCKED | MSPACE_ZEROED | MSPACE_HUGE_PAGES) || ((flags & MSPACE_LOCKED) && !MULLE_DLMALLOC_LOCKS))
      return NULL;
   MULLE_DLMALLOC_QUIET_BEGIN();
   /* fresh pages of the OS read as zero: MSPACE_ZEROED or not */
   mstate *m = create_os_mspace(capacity, ((flags & MSPACE_LOCKED) ? STATE_LOCKED : 0) | STATE_ZERO_ABOVE |
                                             ((flags & MSPACE_HUGE_PAGES) ? STATE_HUGE_PAGES : 0));
   if (m)
      annotate_create(m);
   MULLE_DLMALLOC_QUIET_END();
   return m;
}

/* The process registers for the barrier of a front's bias as it makes a locked mspace,
   rather than when a front is first biased, inside a malloc: Linux waits for an RCU grace
   period (7-13 ms measured) where the process already has a second thread, and not at all
   where this thread is its only one, as where heaps are made at start. The registration
   also watches forks (pthread_atfork, which may allocate). */
MULLE_DLMALLOC_NOASAN inline void ready_for_bias(mstate *m)
{
#if defined(MULLE_DLMALLOC_HAS_FRONTS) && defined(MULLE_DLMALLOC_HAS_BIAS)
   if (m && (flags_of(m) & STATE_LOCKED))
      may_bias(m);
#else
   (void) m;
#endif
}

}} // namespace mulle::detail

extern "C" {

MULLE_DLMALLOC_NOASAN mspace mspace_create_flags(size_t capacity, unsigned flags)
{
   mulle::detail::mstate *m = mulle::detail::create_flags(capacity, flags);
   mulle::detail::ready_for_bias(m);
   return m;
}

MULLE_DLMALLOC_NOASAN mspace mspace_create_with_base_flags(void *base, size_t capacity, unsigned flags)
{
   using namespace mulle::detail;
   if (flags & ~(MSPACE_LOCKED | MSPACE_ZEROED) || ((flags & MSPACE_LOCKED) && !MULLE_DLMALLOC_LOCKS))
      return NULL;
   MULLE_DLMALLOC_QUIET_BEGIN();
   mstate *m = init_state(static_cast<byte *>(base), capacity,
                          ((flags & MSPACE_LOCKED) ? STATE_LOCKED : 0) | ((flags & MSPACE_ZEROED) ? STATE_ZERO_ABOVE : 0));
   if (m)
      annotate_create(m);
   MULLE_DLMALLOC_QUIET_END();
   return m;
}

MULLE_DLMALLOC_NOASAN mspace mspace_create(size_t capacity)
{
   return mspace_create_flags(capacity, 0);
}

MULLE_DLMALLOC_NOASAN mspace mspace_create_with_base(void *base, size_t capacity)
{
   return mspace_create_with_base_flags(base, capacity, 0);
}

/* Not locked: destroying an mspace that another thread still uses is the caller's error. */
MULLE_DLMALLOC_NOASAN int mspace_destroy(mspace ms)
{
   using namespace mulle::detail;
   mstate *m = static_cast<mstate *>(ms);
   if (calls_out_of(m))   /* reads only the thread's mark: m is live */
   {
      /* reported outside any scope object: the handler is the user's code */
      MULLE_DLMALLOC_QUIET_BEGIN();
      report(m, MSPACE_ERROR_REENTRANT, NULL);
      MULLE_DLMALLOC_QUIET_END();
      return 1;
   }
   MULLE_DLMALLOC_QUIET_BEGIN();
   bool live = is_live(m);
   if (live)
   {
      set_magic(m, false);
      m->signature = 0;   /* a destroyed heap in a file cannot be attached */
      annotate_destroy(m);
      if (m->flags & STATE_FROM_OS)
         destroy_os_region(m);
   }
   MULLE_DLMALLOC_QUIET_END();
   return live ? 0 : 1;
}

MULLE_DLMALLOC_NOASAN void mspace_reset(mspace ms)
{
   using namespace mulle::detail;
   mstate *m = enter_call(ms);
   if (m)
   {
      reset_state(m);
      annotate_reset(m);
   }
   leave_call(m);
}

MULLE_DLMALLOC_NOASAN void *mspace_malloc(mspace ms, size_t n)
{
   using namespace mulle::detail;
   if (FAST_PATH)
   {
      if (mstate *m = fast_state(ms))
         return malloc_fast(m, n);
#if MULLE_DLMALLOC_LOCKS && MULLE_DLMALLOC_FAST_PATH
      if (mstate *l = locked_fast_state(ms))
      {
#  ifdef MULLE_DLMALLOC_HAS_FRONTS
         if (TIER && n <= FRONT_MAX)
            return malloc_front(l, n);
#  endif
         return malloc_locked(l, n);
      }
#endif
   }
   return malloc_whole(ms, n);
}

MULLE_DLMALLOC_NOASAN void mspace_free(mspace ms, void *p)
{
   using namespace mulle::detail;
   if (!p)
      return;
   if (FAST_PATH)
   {
      if (mstate *m = fast_state(ms))
      {
         if (in_page(m, p))
            return free_in_page(m, frame_of(p), p);
         return free_chunk_fast(m, p);
      }
#if MULLE_DLMALLOC_LOCKS && MULLE_DLMALLOC_FAST_PATH
      if (mstate *l = locked_fast_state(ms))
      {
#  ifdef MULLE_DLMALLOC_HAS_FRONTS
         return free_front(l, p);
#  else
         return free_locked(l, p);
#  endif
      }
#endif
   }
   free_whole(ms, p);
}

MULLE_DLMALLOC_NOASAN void *mspace_realloc(mspace ms, void *p, size_t n)
{
   if (!p)
      return mspace_malloc(ms, n);
   if (mulle::detail::FAST_PATH)
      if (mulle::detail::mstate *m = mulle::detail::fast_state(ms))
         return mulle::detail::realloc_fast(m, p, n, true);
#if defined(MULLE_DLMALLOC_HAS_FRONTS) && MULLE_DLMALLOC_FAST_PATH
   if (mulle::detail::mstate *l = mulle::detail::locked_fast_state(ms))
      return mulle::detail::realloc_front(l, p, n, true);
#endif
   return mulle::detail::realloc_whole(ms, p, n, true);
}

MULLE_DLMALLOC_NOASAN void *mspace_realloc_in_place(mspace ms, void *p, size_t n)
{
   if (!p)
      return NULL;
   if (mulle::detail::FAST_PATH)
      if (mulle::detail::mstate *m = mulle::detail::fast_state(ms))
         return mulle::detail::realloc_fast(m, p, n, false);
#if defined(MULLE_DLMALLOC_HAS_FRONTS) && MULLE_DLMALLOC_FAST_PATH
   if (mulle::detail::mstate *l = mulle::detail::locked_fast_state(ms))
      return mulle::detail::realloc_front(l, p, n, false);
#endif
   return mulle::detail::realloc_whole(ms, p, n, false);
}

MULLE_DLMALLOC_NOASAN void *mspace_calloc(mspace ms, size_t count, size_t size)
{
   using namespace mulle::detail;
   if (size && count > ~static_cast<size_t>(0) / size)
      return NULL;
#if defined(MULLE_DLMALLOC_HAS_FRONTS) && MULLE_DLMALLOC_FAST_PATH
   /* a small block of a locked mspace: a slot of this thread's front, all of it zeroed
      (its page's slot size is set as the page is made); where no page could be had, the
      chunk it got instead has its request zeroed */
   if (TIER && count * size <= FRONT_MAX)
      if (mstate *l = locked_fast_state(ms))
      {
         void  *q = malloc_front(l, count * size);
         size_t frame;
         if (q)
            fill_bytes(q, 0, in_page_unlocked(l, q, &frame) ? touchable_size(q, frame_of(q)->size) : count * size);
         return q;
      }
#endif
   size_t  bytes   = 0;
   void   *p       = NULL;
   bool    from_os = false;
   mstate *m       = enter_call(ms);
   if (m && heap_is_sound(m))
   {
      from_os = (m->flags & STATE_FROM_OS) != 0;
      /* where the region reads as zero, taken before the block moves the mark of what was
         written. Only for a request above the tier's: its block is a chunk, and making it
         writes nothing inside it; a slot's page may be cut from the top after a page-sized
         chunk was cut there and given back, whose top head stays behind in the page */
      byte *clean = count * size > tier_max(m) ? zero_from(m) : m->chunk_end + MEM_OFFSET;
      p = hand_out(m, allocate_whole(m, count * size), count * size);
      if (p)   /* read under the lock: tags change */
      {
         page *pg    = page_of(m, p);
         byte *start = static_cast<byte *>(p);
         bytes       = pg ? slot_user_size(pg, p) : user_size(chunk_from_mem(p));
         if (start >= clean)
            bytes = 0;   /* never written: zero already */
         else if (static_cast<size_t>(clean - start) < bytes)
            bytes = static_cast<size_t>(clean - start);
      }
   }
   leave_call(m);
   if (!p)
      return NULL;
   /* the block is the caller's already; a large one of an OS region gets its whole pages
      from the OS as zero pages (os.hpp), except where memcheck learns from the zeros that
      the bytes are defined */
   if (!MULLE_DLMALLOC_VALGRIND && from_os && bytes >= PURGE_FROM)   /* never where the purge is off */
      os_zero(static_cast<byte *>(p), static_cast<byte *>(p) + bytes);
   else
      fill_bytes(p, 0, bytes);
   return p;
}

MULLE_DLMALLOC_NOASAN void *mspace_memalign(mspace ms, size_t alignment, size_t n)
{
   using namespace mulle::detail;
   mstate *m = enter_call(ms);
#ifdef MULLE_DLMALLOC_HAS_FRONTS
   unsigned seen  = reports_so_far();
   bool     sound = m && heap_is_sound(m);
   void    *p     = sound ? allocate_aligned(m, alignment, n) : NULL;
   if (sound && !p && n <= m->capacity && spares_given_back(m, seen))   /* as allocate_whole */
      p = allocate_aligned(m, alignment, n);
   p = sound ? hand_out(m, p, n) : NULL;
#else
   void   *p = m && heap_is_sound(m) ? hand_out(m, allocate_aligned(m, alignment, n), n) : NULL;
#endif
   leave_call(m);
   return p;
}

/* Takes no mspace, so no lock: for a block of a locked mspace, call it while no other
   thread frees a neighbour of the block (tags change then). */
MULLE_DLMALLOC_NOASAN size_t mspace_usable_size(const void *p)
{
   using namespace mulle::detail;
   if (!p)
      return 0;
   MULLE_DLMALLOC_QUIET_BEGIN();
   mstate      *m;
   page        *pg = page_anywhere(p, &m);
   const chunk *c  = chunk_from_mem(p);
   size_t       i  = 0;
   size_t       n  = pg ? (slot_problem(m, pg, p, &i) == MSPACE_ERROR_NONE ? slot_user_size(pg, p) : 0)
                        : chunk_is_live(c) ? user_size(c) : 0;
#if MULLE_DLMALLOC_VALGRIND   /* the frame's first words that chose the way may be undefined bytes */
   VALGRIND_MAKE_MEM_DEFINED(&n, sizeof(n));
#endif
   MULLE_DLMALLOC_QUIET_END();
   return n;
}

MULLE_DLMALLOC_NOASAN size_t mspace_max_request(mspace ms)
{
   using namespace mulle::detail;
   mstate *m = live_state(ms);   /* reads what never changes: no lock */
   return m ? usable_of_size(static_cast<size_t>(m->chunk_end - m->least) - MIN_CHUNK) : 0;
}

MULLE_DLMALLOC_NOASAN size_t mspace_footprint(mspace ms)
{
   using namespace mulle::detail;
   mstate *m = enter_call(ms);
   size_t  n = m ? footprint_of(m) : 0;
   leave_call(m);
   return n;
}

MULLE_DLMALLOC_NOASAN size_t mspace_max_footprint(mspace ms)
{
   using namespace mulle::detail;
   mstate *m = enter_call(ms);
   size_t  n = m ? m->max_footprint : 0;
   leave_call(m);
   return n;
}

MULLE_DLMALLOC_NOASAN int mspace_trim(mspace ms, size_t pad)
{
   using namespace mulle::detail;
   mstate *m    = enter_call(ms);
   int     done = 0;
   if (m)
   {
      release_spares(m);   /* the fronts' empty pages too, */
      release_held(m);     /* and the held page */
      done = trim_top(m, pad, true);
      purge_free_chunks(m);
   }
   leave_call(m);
   return done;
}

MULLE_DLMALLOC_NOASAN void mspace_get_stats(mspace ms, mspace_stats_t *out)
{
   using namespace mulle::detail;
   if (!out)
      return;
   mstate *m = enter_call(ms);
   if (m)
      get_stats(m, out);
   else
      fill_bytes(out, 0, sizeof(*out));
   leave_call(m);
}

MULLE_DLMALLOC_NOASAN void mspace_malloc_stats(mspace ms)
{
   using namespace mulle::detail;
   mstate *m = enter_call(ms);
   if (m)
      print_stats(m);
   leave_call(m);
}

MULLE_DLMALLOC_NOASAN int mspace_is_heap_object(mspace ms, const void *p)
{
   using namespace mulle::detail;
   mstate *m = live_state(ms);   /* reads what never changes: no lock */
   if (!m || !p)
      return 0;
   uintptr_t a = reinterpret_cast<uintptr_t>(p);
   uintptr_t b = reinterpret_cast<uintptr_t>(m->base.get());
   return a >= b && a - b < m->capacity;
}

MULLE_DLMALLOC_NOASAN int mspace_check(mspace ms)
{
   using namespace mulle::detail;
   mstate *m        = enter_call(ms);
   int     problems = m ? check_heap(m, true, NULL) : 1;
   leave_call(m);
   return problems;
}

MULLE_DLMALLOC_NOASAN void mspace_inspect_all(mspace ms, void (*fn)(void *start, void *end, size_t used, void *arg), void *arg)
{
   using namespace mulle::detail;
   mstate *m = enter_call(ms);
   if (m && fn)
   {
      callout record;
      begin_callout(&record, m, 0);
      inspect_all(m, fn, arg);
      end_callout(&record);
   }
   leave_call(m);
}

MULLE_DLMALLOC_NOASAN void mspace_set_error_handler(mspace ms, mspace_error_handler_t fn, void *ctx)
{
   using namespace mulle::detail;
   mstate *m = enter_call(ms);
   if (m)
   {
      m->handler     = fn;
      m->handler_ctx = ctx;
   }
   leave_call(m);
}

MULLE_DLMALLOC_NOASAN void mspace_set_default_error_handler(mspace_error_handler_t fn, void *ctx)
{
   mulle::detail::process_handler.fn  = fn;
   mulle::detail::process_handler.ctx = ctx;
}

MULLE_DLMALLOC_NOASAN int mspace_lock(mspace ms)
{
   using namespace mulle::detail;
   mstate *m = enter_call(ms);
   if (!m)
   {
      leave_call(m);
      return 1;
   }
   MULLE_DLMALLOC_QUIET_END();   /* the lock stays; the quiet scope ends here */
   return 0;
}

MULLE_DLMALLOC_NOASAN int mspace_unlock(mspace ms)
{
   using namespace mulle::detail;
   mstate *m = live_state(ms);
   if (!m)
      return 1;
   MULLE_DLMALLOC_QUIET_BEGIN();  /* leave_call ends it again */
   if (calls_out_of(m))               /* the lock is the library's, held for the call */
   {
      report(m, MSPACE_ERROR_REENTRANT, NULL);
      m = NULL;
   }
   leave_call(m);
   return m ? 0 : 1;
}

MULLE_DLMALLOC_NOASAN void mspace_report_error(mspace ms, mspace_error_t error, void *p)
{
   using namespace mulle::detail;
   mstate *m = live_state(ms);
   if (!m)
   {
      report_to_process(ms, error, p);
      return;
   }
   m = enter_call(ms);   /* the handler runs with the lock held, as for the library's reports */
   if (m)
      report(m, error, p);
   leave_call(m);
}

MULLE_DLMALLOC_NOASAN const char *mspace_error_string(mspace_error_t error)
{
   /* the bits as given, without reading an out-of-range enum; short enums (ARM EABI)
      make the type one byte: those two branches are not reached on x86-64 */
   int code;
   if (sizeof(error) == sizeof(unsigned char))
   {
      unsigned char v;
      mulle::detail::copy_bytes(&v, &error, sizeof(v));
      code = v;
   }
   else if (sizeof(error) == sizeof(unsigned short))
   {
      unsigned short v;
      mulle::detail::copy_bytes(&v, &error, sizeof(v));
      code = v;
   }
   else
      mulle::detail::copy_bytes(&code, &error, sizeof(code));
   return mulle::detail::error_name(code);
}

MULLE_DLMALLOC_NOASAN mspace_error_t mspace_attach_error(void *base, size_t capacity)
{
   mulle::detail::mstate *m;
   mulle::detail::byte   *rebuild;
   MULLE_DLMALLOC_QUIET_BEGIN();
   mspace_error_t e = mulle::detail::attach_problem(base, capacity, &m, &rebuild);
   MULLE_DLMALLOC_QUIET_END();
   return e;
}

MULLE_DLMALLOC_NOASAN mspace mspace_attach(void *base, size_t capacity)
{
   using namespace mulle::detail;
   mstate *m;
   byte   *rebuild;
   MULLE_DLMALLOC_QUIET_BEGIN();
   if (attach_problem(base, capacity, &m, &rebuild) != MSPACE_ERROR_NONE)
   {
      MULLE_DLMALLOC_QUIET_END();
      return NULL;
   }
   m->found = (m->flags & STATE_ATTACHED) ? MSPACE_FOUND_OPEN : MSPACE_FOUND_DETACHED;
   if (MULLE_DLMALLOC_RECOVER && rebuild)
   {
      /* the walk parsed: what follows from the heads is written anew, and then held
         against the whole check like any heap (a failure here is refused, but written) */
      rebuild_heap(m, rebuild);
      m->found = MSPACE_FOUND_REBUILT;
      if (!state_fields_ok(m) || check_heap(m, true, NULL) != 0 || !anchors_ok(m))
      {
         MULLE_DLMALLOC_QUIET_END();
         return NULL;
      }
   }
   m->flags      |= STATE_ATTACHED;
   m->flags      &= ~(STATE_FROM_OS | STATE_CALLING_OUT | STATE_ZERO_ABOVE | STATE_HUGE_PAGES);   /* the
                                     region is the caller's now, of unknown contents and pages; no
                                     user code runs for it */
   m->lock        = 0;
#ifdef MULLE_DLMALLOC_HAS_FRONTS
   for (size_t k = 0; k < FRONTS; ++k)
   {
      front *f = &m->fronts[k];
      f->lock = f->owner = f->last = 0;
      fill_bytes(f->busy, 0, sizeof(f->busy));
   }
#endif
   m->handler     = NULL;
   m->handler_ctx = NULL;
   m->lazy_end    = NULL;              /* a caller's region has no pages given back */
   set_magic(m, true);
   annotate_attach(m);
   MULLE_DLMALLOC_QUIET_END();
   return m;
}

MULLE_DLMALLOC_NOASAN mspace_found_t mspace_attach_found(mspace ms)
{
   using namespace mulle::detail;
   mstate *m = enter_call(ms);
   mspace_found_t f = m ? static_cast<mspace_found_t>(m->found) : MSPACE_FOUND_DETACHED;
   leave_call(m);
   return f;
}

/* Not locked, as destroy. */
MULLE_DLMALLOC_NOASAN int mspace_detach(mspace ms)
{
   using namespace mulle::detail;
   mstate *m = static_cast<mstate *>(ms);
   if (calls_out_of(m))   /* user code of this mspace runs: its call still holds it */
   {
      report(m, MSPACE_ERROR_REENTRANT, NULL);
      return 1;
   }
   MULLE_DLMALLOC_QUIET_BEGIN();
   bool ends = is_live(m) && !(m->flags & STATE_FROM_OS);
   if (ends)
   {
      m->flags &= ~STATE_ATTACHED;   /* a clean close */
      set_magic(m, false);
      annotate_destroy(m);
   }
   MULLE_DLMALLOC_QUIET_END();
   return ends ? 0 : 1;
}

MULLE_DLMALLOC_NOASAN size_t mspace_offset_of(mspace ms, const void *p)
{
   using namespace mulle::detail;
   mstate *m = enter_call(ms);
   size_t  o = m && p ? offset_in_region(m, p) : 0;
   leave_call(m);
   return o;
}

MULLE_DLMALLOC_NOASAN void *mspace_pointer_at(mspace ms, size_t offset)
{
   using namespace mulle::detail;
   mstate *m = enter_call(ms);
   void   *p = NULL;
   if (m && offset)
   {
      if (offset >= m->capacity)
         report(m, MSPACE_ERROR_INVALID_POINTER, NULL);
      else
         p = m->base + offset;
   }
   leave_call(m);
   return p;
}

MULLE_DLMALLOC_NOASAN void mspace_set_root(mspace ms, void *p)
{
   using namespace mulle::detail;
   mstate *m = enter_call(ms);
   if (m && !p)
      m->root = 0;
#if MULLE_DLMALLOC_CHECKS
   else if (m && validate_block(m, p) != MSPACE_ERROR_NONE)
      report(m, MSPACE_ERROR_INVALID_POINTER, p);   /* a freed block too: no root, not a free */
#endif
   else if (m)
      m->root = static_cast<size_t>(static_cast<byte *>(p) - m->base);
   leave_call(m);
}

MULLE_DLMALLOC_NOASAN void *mspace_root(mspace ms)
{
   using namespace mulle::detail;
   mstate *m = enter_call(ms);
   void   *p = m && m->root ? static_cast<void *>(m->base + m->root) : NULL;
   leave_call(m);
   return p;
}

} /* extern "C" */

#endif /* MULLE_DLMALLOC_IMPLEMENTATION */
