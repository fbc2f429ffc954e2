/* ==== checks and the error handler ========================================================

   Three levels, chosen by MULLE_DLMALLOC_CHECKS:
   - 0: no checks; a bad pointer is undefined behaviour, as with malloc.
   - 1 (default, cheap, meant for release builds): every pointer given to free and realloc
     is validated in O(1) before anything is written: inside this mspace's chunks,
     aligned, a plausible head whose neighbours' tags agree, in use. Bin and cache links
     are verified before anything is written through them: the list and ring links, and
     (except without an OS, for size) a trie node's parent and children, and each trie
     link a best-fit search follows before it reads through it. (mspace_usable_size takes
     no mspace and so cannot validate its pointer.)
   - 2 (debug): level 1, plus a whole-heap check (mspace_check without the poison scan)
     before every operation, plus canaries and poison:
     * the word behind every block holds a canary, secret ^ its own offset from the state; so does the
       first chunk's prev_foot. A block's tail canary catches a write past its end; its
       head canary (the previous block's tail, present whenever PINUSE is set) catches a
       pointer into the middle of a block, whose would-be neighbours hold no canaries;
     * a freed chunk's bytes past its link words hold POISON_BYTE; they are verified when
       the memory is handed out again (and by mspace_check), which catches a write into
       freed memory. The top is not poisoned.
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
   MULLE_DLMALLOC_ABORT();
}

MULLE_DLMALLOC_NOASAN inline void report(mstate *m, mspace_error_t e, const void *p)
{
   void *bad = const_cast<void *>(p);
   if (m->handler)
      m->handler(m, e, bad, m->handler_ctx);
   else
      default_error_handler(m, e, bad, NULL);
}

/* ---- level 2: canaries and poison ---- */
#if MULLE_DLMALLOC_CHECKS >= 2

static const size_t POISON_START = sizeof(tree_chunk);  /* a free chunk's header and links */
static const int    POISON_BYTE  = 0xA5;

MULLE_DLMALLOC_NOASAN inline size_t canary_for(const mstate *m, const void *word)
{
   return m->secret ^ static_cast<size_t>(static_cast<const byte *>(word) - reinterpret_cast<const byte *>(m));
}

/* The canary of the word at chunk w's prev_foot: the tail of the block before w. */
MULLE_DLMALLOC_NOASAN inline bool canary_ok(const mstate *m, const chunk *w)
{
   return w->prev_foot == canary_for(m, w);
}

MULLE_DLMALLOC_NOASAN inline void write_canary(const mstate *m, chunk *w)
{
   w->prev_foot = canary_for(m, w);
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

/* The poisoned part of free chunk c that [c, upto) would hand out is intact; reported as
   corruption (a write into freed memory) if not. */
MULLE_DLMALLOC_NOASAN inline bool free_memory_untouched(mstate *m, chunk *c, byte *upto)
{
#if MULLE_DLMALLOC_CHECKS >= 2
   byte *end = as_bytes(c) + chunk_size(c);
   if (!poison_intact(as_bytes(c) + POISON_START, upto < end ? upto : end))
   {
      report(m, MSPACE_ERROR_CORRUPTION, mem_from_chunk(c));
      return false;
   }
#else
   (void) m; (void) c; (void) upto;
#endif
   return true;
}

/* The word at a freed block's head, once the block has merged into a free chunk below it
   or into the top: its old head, or a trace of the merged chunk (its offset from the
   state), or at level 2 poison; CINUSE is clear in each. */
MULLE_DLMALLOC_NOASAN inline bool head_of_freed_block(const mstate *m, const chunk *c)
{
   size_t head = c->head;
   if (head & CINUSE)
      return false;
#if MULLE_DLMALLOC_CHECKS >= 2
   size_t poison;
   fill_bytes(&poison, POISON_BYTE, sizeof(poison));
   if (head == poison)
      return true;
#endif
   const byte *state = reinterpret_cast<const byte *>(m);
   return head >= static_cast<size_t>(m->least - state) && head < static_cast<size_t>(m->chunk_end - state);
}

/* validate_block's verdict for a block without fault, reached in fewer instructions (the
   fast path's): mem's chunk lies below the top, is live, its size is on the grid and ends
   at or below the top, and its neighbours' tags agree. True means validate_block finds no
   fault; false means nothing (validate_block decides, and names the fault). The two are
   written apart on purpose: tests/test_fast_path.cpp holds one against the other. */
MULLE_DLMALLOC_NOASAN MULLE_DLMALLOC_HOT bool plainly_valid(const mstate *m, const void *mem)
{
   chunk      *c   = chunk_from_mem(mem);
   const byte *top = as_bytes(m->top);
   if (!is_aligned(mem, ALIGN) || as_bytes(c) < m->least || as_bytes(c) >= top)
      return false;
   size_t head = c->head;
   size_t s    = head & ~FLAG_BITS;
   if ((head & ALIGN_MASK & ~PINUSE) != CINUSE || s < MIN_CHUNK || s > static_cast<size_t>(top - as_bytes(c)))
      return false;
   chunk *next = chunk_at(c, s);
   size_t ns   = chunk_size(next);   /* next is at most the top: a head to read */
   if (!previous_is_in_use(next) ||
       (as_bytes(next) != top && (ns < MIN_CHUNK || ns > static_cast<size_t>(top - as_bytes(next)))))
      return false;
   if (head & PINUSE)
      return true;
   size_t ps = c->prev_foot;   /* a free predecessor: its size and tags agree */
   if (ps < MIN_CHUNK || (ps & ALIGN_MASK) || ps > static_cast<size_t>(as_bytes(c) - m->least))
      return false;
   chunk *prev = chunk_before(c, ps);
   return chunk_size(prev) == ps && !chunk_is_in_use(prev);
}

/* Is mem the start of a block in use in this mspace? O(1), reads only the chunk's head and
   its neighbours' tags. The order decides the report: a pointer that cannot be a block is
   an invalid pointer; a plausible chunk whose CINUSE is clear was freed already. */
MULLE_DLMALLOC_NOASAN MULLE_DLMALLOC_HOT mspace_error_t validate_block(const mstate *m, const void *mem)
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
      return head_of_freed_block(m, c) ? MSPACE_ERROR_DOUBLE_FREE : MSPACE_ERROR_INVALID_POINTER;
   if (!chunk_is_live(c))
      return MSPACE_ERROR_DOUBLE_FREE;    /* free, or parked in a cache */

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
   bool head = !previous_is_in_use(c) || canary_ok(m, c);
   bool tail = canary_ok(m, next);
   if (!head && !tail)
      return MSPACE_ERROR_INVALID_POINTER;  /* no block starts or ends here */
   if (!head || !tail)
      return MSPACE_ERROR_CORRUPTION;       /* this block or the one before overflowed */
#endif
   return MSPACE_ERROR_NONE;
}

/* Validates mem for free/realloc and reports a problem; true when mem may be used. */
MULLE_DLMALLOC_NOASAN MULLE_DLMALLOC_HOT bool block_is_valid(mstate *m, const void *mem)
{
#if MULLE_DLMALLOC_CHECKS
   mspace_error_t e = validate_block(m, mem);
   if (e == MSPACE_ERROR_NONE)
      return true;
   report(m, e, mem);
   return false;
#else
   (void) m; (void) mem;
   return true;
#endif
}

MULLE_DLMALLOC_NOASAN int check_heap(mstate *m, bool scan_poison, chunk **where);  /* the expensive level */

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
