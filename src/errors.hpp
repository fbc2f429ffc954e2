/* ==== checks and the error handler ========================================================

   Three levels, chosen by MULLE_DLMALLOC_CHECKS:
   - 0: no checks; a bad pointer is undefined behaviour, as with malloc.
   - 1 (default, cheap, meant for release builds): every pointer given to free and realloc
     is validated in O(1) before anything is written: a slot of one of this mspace's
     pages (tier.hpp) that is in use, or inside this mspace's chunks, aligned, a plausible
     head whose neighbours' tags agree, in use. Bin links and the links of the rings of pages
     are verified before anything is written through them: the list and ring links, and
     (except without an OS, for size) a trie node's parent and children, and each trie
     link a best-fit search follows before it reads through it. The size a free chunk's
     head claims is held against a second record before the chunk is carved, split, merged
     or handed out (see "the size of a free chunk" below). (mspace_usable_size takes no
     mspace and so cannot validate its pointer.)
   - 2 (debug): level 1, plus a whole-heap check (mspace_check without the scan of poison
     and slack bytes) before every operation, plus canaries and poison:
     * the word behind every block holds a canary, secret ^ its own offset from the state,
       whose low bits record the block's slack (usable - requested); the bytes of the slack
       hold SLACK_BYTE. The first chunk's prev_foot holds a canary with no slack. A block's
       tail canary and slack catch any write past its request, reported at free, realloc
       and by mspace_check; mspace_usable_size reports the request, and realloc in place
       records the new one. Its head canary (the previous block's tail, present whenever
       PINUSE is set) catches a pointer into the middle of a block, whose would-be
       neighbours hold no canaries (level 2 has no tier: every block is a chunk);
     * every byte of a freed chunk past the words of its kind holds POISON_BYTE: past
       the header and two links of a small chunk, past the header and trie links of a
       tree chunk, whose three words at odd positions among its links keep what they
       held (the footer, the next chunk's prev_foot, is not part of it). A chunk
       that changes kind by a merge or a split is poisoned for its new kind at once. The
       poison is verified when the memory is handed out again (and by mspace_check), which
       catches a write into freed memory. The top is not poisoned.
     Cost: one word per block, and time proportional to the heap on every call.
   MULLE_DLMALLOC_ASSERT guards internal invariants in debug builds.
   Misuse goes to the mspace's handler; when it returns, the call has no effect.
   ========================================================================================== */

namespace mulle { namespace detail {

/* Takes the code as an int: a C caller may pass any value, which C++ may not hold in
   the enum type. */
MULLE_DLMALLOC_NOASAN inline const char *error_name(int code)
{
   switch (code)
   {
   case MSPACE_ERROR_NONE:            return "no error";
   case MSPACE_ERROR_INVALID_POINTER: return "invalid pointer";
   case MSPACE_ERROR_DOUBLE_FREE:     return "double free";
   case MSPACE_ERROR_CORRUPTION:      return "heap corruption";
   case MSPACE_ERROR_OUT_OF_MEMORY:   return "out of memory";
   case MSPACE_ERROR_NOT_AN_MSPACE:   return "not an mspace";
   case MSPACE_ERROR_LAYOUT_MISMATCH: return "mspace layout mismatch";
   case MSPACE_ERROR_TRUNCATED:       return "mspace region truncated";
   case MSPACE_ERROR_MOVED:           return "mspace region moved";
   case MSPACE_ERROR_REENTRANT:       return "call from inside a callback of the same mspace";
   case MSPACE_ERROR_HOLDER_DIED:     return "a lock's holder died; heap recovered";
   }
   return "unknown error";
}

MULLE_DLMALLOC_NOASAN inline void default_error_handler(mspace ms, mspace_error_t e, void *p, void *)
{
#ifndef MULLE_DLMALLOC_PRINT_DISCARDS
   text t;
   t.put("mulle_dlmalloc: ").put(error_name(e)).put(" at ").put_pointer(p);
   t.put(" in mspace ").put_pointer(ms).put("\n");
   MULLE_DLMALLOC_PRINT(t.buf);
#else
   (void) ms; (void) e; (void) p;
#endif
   if (e != MSPACE_ERROR_HOLDER_DIED)   /* a report, not misuse: the call goes on */
      MULLE_DLMALLOC_ABORT();
}

/* ---- handlers and calls out of an mspace ----
   An error goes to the mspace's handler, or where it has none to the process-wide one
   (mspace_set_default_error_handler), or where that is unset to default_error_handler.
   An error without a live mspace (a dead or foreign handle) goes to the process-wide one.

   While the library runs user code for an mspace (its error handler, an inspect_all
   callback), the thread is marked as inside that mspace (callout). A call from there back
   into the same mspace is misuse: it would change a heap in the middle of a walk or of a
   change, or wait for a lock this thread holds. It is reported as MSPACE_ERROR_REENTRANT
   and has no effect: from a callback to the mspace's handler, from the handler itself to
   the process-wide one (the handler must not run inside itself). An unlocked mspace also
   carries STATE_CALLING_OUT meanwhile, which turns its fast path to the whole way, where
   the mark is read; a locked one is not written (other threads read its flags), and its
   whole way reads the mark before it takes the lock. */

/* One piece of user code that runs for an mspace, on the stack of the call that runs it;
   the records of a thread form a chain from the innermost out, so that user code of m1
   that calls m2, whose user code calls m1, is still known to be inside m1. */
struct callout
{
   mstate        *m;         /* the mspace it runs for; NULL for a dead handle's report */
   unsigned       handler;   /* 0 an inspect_all callback, 1 the mspace's handler, 2 the
                                process-wide handler */
   const callout *outer;     /* the record of the code that called into the library */
};
MULLE_DLMALLOC_THREAD_LOCAL const callout *innermost_callout;   /* NULL: no user code runs */

struct process_handler_t
{
   mspace_error_handler_t fn;   /* NULL: default_error_handler */
   void                  *ctx;
};
process_handler_t process_handler;

/* The innermost record of user code that runs for m (NULL included), or NULL. */
MULLE_DLMALLOC_NOASAN inline const callout *callout_of(const mstate *m)
{
   const callout *r = innermost_callout;
   while (r && r->m != m)
      r = r->outer;
   return r;
}

/* Is this thread inside user code that runs for m? */
MULLE_DLMALLOC_NOASAN inline bool calls_out_of(const mstate *m) { return m && callout_of(m); }

/* The flag turns the fast path away; a build without a fast path only needs the chain.
   Whether m is locked is read as every call reads it before its locks (flags_of): the
   handler of a locked mspace may run under a front's lock, while another thread sets other
   flags under the mspace's. */
MULLE_DLMALLOC_NOASAN inline void begin_callout(callout *r, mstate *m, unsigned handler)
{
   r->m              = m;
   r->handler        = handler;
   r->outer          = innermost_callout;
   innermost_callout = r;
   if (MULLE_DLMALLOC_FAST_PATH && m && !(flags_of(m) & STATE_LOCKED))
      set_flags(m, m->flags | STATE_CALLING_OUT);
}

MULLE_DLMALLOC_NOASAN inline void end_callout(const callout *r)
{
   innermost_callout = r->outer;
   if (MULLE_DLMALLOC_FAST_PATH && r->m && !(flags_of(r->m) & STATE_LOCKED) && !callout_of(r->m))
      set_flags(r->m, r->m->flags & ~STATE_CALLING_OUT);
}

/* Is the process-wide handler running for m (NULL: for a dead handle) on this thread? */
MULLE_DLMALLOC_NOASAN inline bool process_handler_runs_for(const mstate *m)
{
   for (const callout *r = innermost_callout; r; r = r->outer)
      if (r->m == m && r->handler == 2)
         return true;
   return false;
}

/* The reports this thread has made: a call that tries again after a failure (tier.hpp,
   the fronts' spares) does so only where its first try reported nothing, so that a fault
   is reported once. */
#ifdef MULLE_DLMALLOC_HAS_FRONTS
MULLE_DLMALLOC_THREAD_LOCAL unsigned reports_made;
MULLE_DLMALLOC_NOASAN inline unsigned reports_so_far() { return reports_made; }
#else
MULLE_DLMALLOC_NOASAN inline unsigned reports_so_far() { return 0; }   /* no spares to retry with */
#endif

/* Hands error e about p to the first handler that may hear it: m's own (m live, and not
   from inside a handler that runs for m), else the process-wide one (not from inside
   itself for the same mspace), else default_error_handler. ms is the handle the caller
   used (m, or for a handle that names no live mspace, that handle with m NULL). */
MULLE_DLMALLOC_NOASAN MULLE_DLMALLOC_NEVER_INLINE void report_to(mstate *m, mspace ms, mspace_error_t e, const void *p)
{
#ifdef MULLE_DLMALLOC_HAS_FRONTS
   reports_made++;
#endif
   void          *bad   = const_cast<void *>(p);
   const callout *mine  = m ? callout_of(m) : NULL;
   unsigned       level = m && m->handler && !(mine && mine->handler) ? 1
                          : process_handler.fn && !process_handler_runs_for(m) ? 2 : 0;
   if (!level)
   {
      default_error_handler(ms, e, bad, NULL);
      return;
   }
   mspace_error_handler_t fn  = level == 1 ? m->handler : process_handler.fn;
   void                  *ctx = level == 1 ? m->handler_ctx : process_handler.ctx;
   callout record;
   begin_callout(&record, m, level);
   fn(ms, e, bad, ctx);
   end_callout(&record);
}

MULLE_DLMALLOC_NOASAN inline void report(mstate *m, mspace_error_t e, const void *p) { report_to(m, m, e, p); }

/* For a handle that names no live mspace. */
MULLE_DLMALLOC_NOASAN inline void report_to_process(mspace ms, mspace_error_t e, const void *p) { report_to(NULL, ms, e, p); }

/* ---- level 2: canaries and poison ---- */
#if MULLE_DLMALLOC_CHECKS >= 2

static const int POISON_BYTE = 0xA5;   /* a free chunk's bytes past the words its kind uses */
static const int SLACK_BYTE  = 0xCB;   /* a block's bytes past its request */

/* Where the poison of a free chunk of size s starts: behind its header and two links for
   a small chunk, behind its header and trie links for a tree chunk. The kind
   follows the size, so a chunk that changes kind (a merge that makes a tree chunk of small
   ones, a split that leaves a small remainder of a tree chunk) moves its poison start:
   every place that makes a free chunk poisons it for its kind at that moment. */
MULLE_DLMALLOC_NOASAN inline size_t poison_start(size_t s)
{
   return is_small(s) ? sizeof(chunk) : sizeof(tree_chunk);
}

/* A tail canary's low bits hold the block's slack, usable - requested: less than
   2 * MIN_CHUNK (the rounding of a request, or the minimum request, plus a remainder too
   small to split off), and MIN_CHUNK is a power of two. The slack is kept in the clear, so
   that mspace_usable_size, which has no mspace and so no secret, can tell the request. */
static const size_t SLACK_MASK = 2 * MIN_CHUNK - 1;
static_assert((MIN_CHUNK & (MIN_CHUNK - 1)) == 0, "the slack field of a canary is a power of two");

/* The keyed part of the canary of the word at `word`: secret ^ its offset from the state. */
MULLE_DLMALLOC_NOASAN inline size_t canary_for(const mstate *m, const void *word)
{
   return (m->secret ^ static_cast<size_t>(static_cast<const byte *>(word) - reinterpret_cast<const byte *>(m))) & ~SLACK_MASK;
}

/* Is [from, end) all SLACK_BYTE? end is on the chunk grid: whole words are compared where
   they can be. */
MULLE_DLMALLOC_NOASAN inline bool slack_intact(const byte *from, const byte *end)
{
   const size_t slack_word = ~static_cast<size_t>(0) / 0xFF * SLACK_BYTE;
   for (; from < end && !is_aligned(from, WORD); ++from)
      if (*from != SLACK_BYTE)
         return false;
   for (; from < end; from += WORD)
   {
      size_t w;
      copy_bytes(&w, from, WORD);
      if (w != slack_word)
         return false;
   }
   return true;
}

/* The word at chunk w's prev_foot is the tail of the block before w (or, before the first
   chunk, of none): its canary, with a slack of at most `most` (and of at most SLACK_MASK,
   or the keyed bits differ); and, when scan_slack, the slack bytes just before it all
   SLACK_BYTE. */
MULLE_DLMALLOC_NOASAN inline bool canary_ok(const mstate *m, const chunk *w, size_t most, bool scan_slack)
{
   size_t      slack = w->prev_foot ^ canary_for(m, w);
   const byte *end   = reinterpret_cast<const byte *>(w);
   if (slack > (most < SLACK_MASK ? most : SLACK_MASK))
      return false;
   return !scan_slack || slack_intact(end - slack, end);
}

/* Seals the block that ends at chunk w, `slack` bytes past its request: the slack bytes
   get SLACK_BYTE, the word at w the canary that records them. */
MULLE_DLMALLOC_NOASAN inline void write_canary(const mstate *m, chunk *w, size_t slack)
{
   MULLE_DLMALLOC_ASSERT(slack <= SLACK_MASK && "write_canary: a slack the canary can hold");
   fill_bytes(as_bytes(w) - slack, SLACK_BYTE, slack);
   w->prev_foot = canary_for(m, w) | slack;
}

/* Is [from, to) all POISON_BYTE? */
MULLE_DLMALLOC_NOASAN inline bool poison_intact(const byte *from, const byte *to)
{
   for (; from < to; ++from)
      if (*from != POISON_BYTE)
         return false;
   return true;
}

#endif /* MULLE_DLMALLOC_CHECKS >= 2 */

/* The poisoned part of free chunk c of size s that [c, upto) would hand out is intact;
   reported as corruption (a write into freed memory) if not. */
MULLE_DLMALLOC_NOASAN inline bool free_memory_untouched(mstate *m, chunk *c, size_t s, byte *upto)
{
#if MULLE_DLMALLOC_CHECKS >= 2
   byte *end = as_bytes(c) + s;
   if (!poison_intact(as_bytes(c) + poison_start(s), upto < end ? upto : end))
   {
      report(m, MSPACE_ERROR_CORRUPTION, mem_from_chunk(c));
      return false;
   }
#else
   (void) m; (void) c; (void) s; (void) upto;
#endif
   return true;
}

/* ---- the size of a free chunk, held against a second record ----
   A free chunk's head is the first word that a write past the block in front of it
   reaches. So before a free chunk is carved, split, merged or handed out, the size its
   head claims is held against a record that such a write does not reach with it: the
   dv's or the top's size in the state, a small bin's exact size, or the chunk's footer
   (the next chunk's prev_foot). A mismatch is reported as corruption before anything is
   written. */

/* c's head is a free chunk's of size s, as a record in the state gives it (the dv's, the
   top's, a small bin's): one compare for size and flags at once (PINUSE set, CINUSE and
   TIER_PAGE clear). */
MULLE_DLMALLOC_NOASAN MULLE_DLMALLOC_HOT bool free_head_is(const chunk *c, size_t s)
{
   return !MULLE_DLMALLOC_CHECKS || c->head == (s | PINUSE);
}

/* Free chunk c's footer repeats s, the size its head gives; the caller has bounded s, so
   that c + s is at most the top. */
MULLE_DLMALLOC_NOASAN MULLE_DLMALLOC_HOT bool footer_agrees(chunk *c, size_t s)
{
   return !MULLE_DLMALLOC_CHECKS || chunk_at(c, s)->prev_foot == s;
}

/* The size of free chunk c below the top where only its own tags record it (a tree chunk
   that a best-fit search chose), or 0: the chunk ends at or below the top, and its footer
   repeats its head without PINUSE. A footer is a size on the grid, so this also finds a
   head whose flags are not a free chunk's (PINUSE set, the other low bits clear). */
MULLE_DLMALLOC_NOASAN inline size_t size_by_tags(const mstate *m, chunk *c)
{
   size_t head = c->head;
   size_t s    = head & ~ALIGN_MASK;
   if (MULLE_DLMALLOC_CHECKS && (s > static_cast<size_t>(as_bytes(m->top) - as_bytes(c)) ||
                                 chunk_at(c, s)->prev_foot != (head ^ PINUSE)))
      return 0;
   return s;
}

/* The top's head says what the state records: its size, PINUSE. */
MULLE_DLMALLOC_NOASAN MULLE_DLMALLOC_HOT bool top_is_whole(const mstate *m)
{
   return free_head_is(m->top, m->top_size);
}

/* The word at a freed block's head whose size is implausible: at level 2 the poison of
   the free chunk it merged into. (Where the block merged into a free chunk below it or
   into the top, its old head mostly stays, CINUSE clear, and its size is plausible: the
   caller finds a freed chunk without asking this.) */
MULLE_DLMALLOC_NOASAN inline bool head_of_freed_block(const chunk *c)
{
#if MULLE_DLMALLOC_CHECKS >= 2
   size_t poison;
   fill_bytes(&poison, POISON_BYTE, sizeof(poison));
   return c->head == poison;
#else
   (void) c;
   return false;
#endif
}

/* What a free's fast path reads of a chunk block: its head, and its successor's; and
   whether the dv lies right before it (its PINUSE clear, and its prev_foot the dv's). */
struct chunk_read
{
   size_t head;
   chunk *next;
   size_t next_head;
   bool   after_dv;
};

/* validate_chunk's verdict for a block without fault, reached in fewer instructions (the
   fast path's): mem's chunk lies below the top, is live, its size is on the grid and ends
   at or below the top, and its neighbours' tags agree. True means validate_chunk finds no
   fault; false means nothing (validate_chunk decides, and names the fault). The two are
   written apart on purpose: tests/test_fast_path.cpp holds one against the other. *r learns
   the heads read, where the verdict is true. */
MULLE_DLMALLOC_NOASAN MULLE_DLMALLOC_HOT bool plainly_valid(const mstate *m, const void *mem, chunk_read *r)
{
   chunk      *c   = chunk_from_mem(mem);
   const byte *top = as_bytes(m->top);
   if (!ok_chunk_address(m, c))   /* mem aligned: c on the chunk grid */
      return false;
   size_t head = c->head;
   size_t s    = head & ~FLAG_BITS;
   if ((head & ALIGN_MASK & ~PINUSE) != CINUSE || s < MIN_CHUNK || s > static_cast<size_t>(top - as_bytes(c)))
      return false;
   chunk *next      = chunk_at(c, s);
   size_t next_head = next->head;   /* next is at most the top: a head to read */
   size_t ns        = next_head & ~FLAG_BITS;
   if (!(next_head & PINUSE) ||
       (as_bytes(next) != top && (ns < MIN_CHUNK || ns > static_cast<size_t>(top - as_bytes(next)))))
      return false;
   r->head      = head;
   r->next      = next;
   r->next_head = next_head;
   r->after_dv  = false;
   if (head & PINUSE)
      return true;
   size_t ps = c->prev_foot;   /* a free predecessor: its size and tags agree */
   if (chunk_before(c, ps) == m->dv)   /* the dv: the state records its size, and its */
   {                                   /* head says that free size */
      r->after_dv = true;
      return ps == m->dv_size && free_head_is(m->dv, ps);
   }
   if (ps < MIN_CHUNK || (ps & ALIGN_MASK) || ps > static_cast<size_t>(as_bytes(c) - m->least))
      return false;
   chunk *prev = chunk_before(c, ps);
   return chunk_size(prev) == ps && !chunk_is_in_use(prev);
}

MULLE_DLMALLOC_NOASAN MULLE_DLMALLOC_HOT bool plainly_valid(const mstate *m, const void *mem)
{
   chunk_read r;
   return plainly_valid(m, mem, &r);
}

/* Is mem the start of a chunk block in use in this mspace (a slot of the tier is not one:
   validate_block in tier.hpp asks both)? O(1), reads only the chunk's head and its
   neighbours' tags. The order decides the report: a pointer that cannot be a block is
   an invalid pointer; a plausible chunk whose CINUSE is clear was freed already. */
MULLE_DLMALLOC_NOASAN MULLE_DLMALLOC_HOT mspace_error_t validate_chunk(const mstate *m, const void *mem)
{
   if (!is_aligned(mem, ALIGN))
      return MSPACE_ERROR_INVALID_POINTER;
   const byte *b = static_cast<const byte *>(mem);
   if (b < m->least + MEM_OFFSET || b >= top_end(m))
      return MSPACE_ERROR_INVALID_POINTER;

   chunk      *c   = chunk_from_mem(mem);
   byte       *end = top_end(m);
   size_t      s   = chunk_size(c);
   if (s < MIN_CHUNK || (s & ALIGN_MASK) || s > static_cast<size_t>(end - as_bytes(c)))
      return head_of_freed_block(c) ? MSPACE_ERROR_DOUBLE_FREE : MSPACE_ERROR_INVALID_POINTER;
   if (!chunk_is_live(c))   /* free, or a page of the tier (whose start is no block) */
      return chunk_is_page(c) ? MSPACE_ERROR_INVALID_POINTER : MSPACE_ERROR_DOUBLE_FREE;

   byte *top = as_bytes(m->top);
   chunk *next = chunk_at(c, s);
   if (as_bytes(c) >= top || as_bytes(next) > top || !previous_is_in_use(next))
      return MSPACE_ERROR_INVALID_POINTER;
   if (as_bytes(next) < top)
   {
      size_t ns = chunk_size(next);
      if (ns < MIN_CHUNK || ns > static_cast<size_t>(top - as_bytes(next)))
         return MSPACE_ERROR_INVALID_POINTER;
   }
   if (!previous_is_in_use(c))
   {
      size_t ps = c->prev_foot;
      if (ps < MIN_CHUNK || (ps & ALIGN_MASK) || ps > static_cast<size_t>(as_bytes(c) - m->least))
         return MSPACE_ERROR_INVALID_POINTER;
      chunk *prev = chunk_before(c, ps);
      if (chunk_size(prev) != ps || chunk_is_in_use(prev))
         return MSPACE_ERROR_INVALID_POINTER;
   }
#if MULLE_DLMALLOC_CHECKS >= 2
   /* the head canary's block is not known: its slack is bounded by the chunks below c */
   bool head = !previous_is_in_use(c) || canary_ok(m, c, static_cast<size_t>(as_bytes(c) - m->least), true);
   bool tail = canary_ok(m, next, usable_size_of(c), true);
   if (!head && !tail)
      return MSPACE_ERROR_INVALID_POINTER;  /* no block starts or ends here */
   if (!head || !tail)
      return MSPACE_ERROR_CORRUPTION;       /* this block or the one before overflowed */
#endif
   return MSPACE_ERROR_NONE;
}

MULLE_DLMALLOC_NOASAN int check_heap(mstate *m, bool scan_bytes, chunk **where);  /* the expensive level */

/* Level 2: the whole heap is verified around every operation. */
MULLE_DLMALLOC_NOASAN inline bool heap_is_sound(mstate *m)
{
#if MULLE_DLMALLOC_CHECKS >= 2
   chunk *where;
   if (check_heap(m, false, &where) != 0)
   {
      report(m, MSPACE_ERROR_CORRUPTION, where ? mem_from_chunk(where) : static_cast<void *>(m));
      return false;
   }
#else
   (void) m;
#endif
   return true;
}

}} // namespace mulle::detail
