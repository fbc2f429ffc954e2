/* ==== realloc =============================================================================

   In place first: a shrink splits off the tail and frees it; a growth takes what it needs
   from the top, the dv or a free successor. Only then does the block move. At level 2 a
   block resized in place records its new request in its tail canary.
   ========================================================================================== */

namespace mulle { namespace detail {

enum resize_result { RESIZE_DONE, RESIZE_IMPOSSIBLE, RESIZE_FAILED };

MULLE_DLMALLOC_NOASAN inline resize_result resize_in_place(mstate *m, chunk *c, size_t nb)
{
   size_t s    = chunk_size(c);
   chunk *next = chunk_at(c, s);

   if (nb <= s)
   {
      size_t rs = s - nb;
      if (rs >= MIN_CHUNK)
      {
         /* the tail becomes a chunk of its own and is freed; if the free refuses (next's
            bin links lie) the two words written are put back */
         chunk *r      = chunk_at(c, nb);
         size_t c_head = c->head, r_head = r->head;
         r->head = rs | PINUSE;   /* free, inside c until its head moves */
         MULLE_DLMALLOC_ORDERED();
         c->head = (c_head & PINUSE) | nb | CINUSE;
         if (!release_chunk(m, r, rs))
         {
            c->head = c_head;
            MULLE_DLMALLOC_ORDERED();
            r->head = r_head;
            report(m, MSPACE_ERROR_CORRUPTION, mem_from_chunk(c));
            return RESIZE_FAILED;
         }
      }
      return RESIZE_DONE;
   }

   /* a free successor: the top (grown first if need be), the dv, or a chunk in a bin. Its
      size is held against a second record first: the top's or the dv's in the state, or
      its footer (c's validation bounded the size by the top). */
   bool to_top = next == m->top, to_dv = next == m->dv;
   if (!to_top && !to_dv && chunk_is_in_use(next))
   {
      /* the held page (tier.hpp) is free memory to Lea's order: it goes back, and c grows
         into what it merged with (once: the hint is cleared) */
      if (HOLDS && m->held && held_page(m) == mem_from_chunk(next) && release_held(m))
         return resize_in_place(m, c, nb);
      return RESIZE_IMPOSSIBLE;
   }
   size_t ns = to_top ? m->top_size : to_dv ? m->dv_size : chunk_size(next);
   if (to_top || to_dv ? !free_head_is(next, ns) : !footer_agrees(next, ns))
   {
      free_chunk_damaged(m, next);
      return RESIZE_FAILED;
   }
   if (to_top)
   {
      if (m->top_size < nb - s + MIN_CHUNK && !extend_top(m, nb - s + MIN_CHUNK))
         return RESIZE_IMPOSSIBLE;
      split_top(m, c, nb, c->head & PINUSE);
      return RESIZE_DONE;
   }
   if (s + ns < nb)
   {
      /* a free successor with the held page behind it (its lead): the page goes back as
         above, and c grows into what the two merged with */
      if (HOLDS && m->held && held_page(m) == mem_from_chunk(chunk_at(next, ns)) && release_held(m))
         return resize_in_place(m, c, nb);
      return RESIZE_IMPOSSIBLE;
   }
   if (!free_memory_untouched(m, next, ns, as_bytes(c) + nb + sizeof(tree_chunk)))
      return RESIZE_FAILED;   /* level 2 only (test_hardening in the checks-2 build) */
   if (to_dv)
   {
      m->dv      = NULL;
      m->dv_size = 0;
   }
   else if (!take_from_bin(m, next, ns))
      return RESIZE_FAILED;
   c->head = (c->head & PINUSE) | (s + ns) | CINUSE;   /* in use throughout: a crash here */
   carve(m, c, nb, to_dv);                             /* keeps the block; the rest stays
                                                          the dv, or is binned */
   return RESIZE_DONE;
}

/* p is a validated block. NULL leaves it as it was. */
MULLE_DLMALLOC_NOASAN inline void *reallocate(mstate *m, void *p, size_t n, bool may_move)
{
   if (n > m->capacity)
      return NULL;
   chunk        *c      = chunk_from_mem(p);
   size_t        usable = usable_size_of(c);
   void         *q      = NULL;
   resize_result r      = resize_in_place(m, c, request_to_size(n));
   if (r == RESIZE_IMPOSSIBLE && may_move)
      q = hand_out(m, growing_block(m, n), n);
   if (r == RESIZE_DONE)
   {
#if MULLE_DLMALLOC_CHECKS >= 2
      write_canary(m, next_chunk(c), usable_size_of(c) - n);   /* the new request */
#endif
      annotate_resize(m, p, usable > usable_size_of(c) ? usable : usable_size_of(c), n);
      return p;
   }
   if (!q)
      return NULL;
   copy_bytes(q, p, user_size(c));
   deallocate_chunk(m, c);
   return q;
}

/* Slot p (in use) of page pg: in place while n fits the slot, else moved (a slot keeps its
   size: its page is cut for it). NULL leaves it as it was. */
MULLE_DLMALLOC_NOASAN inline void *reallocate_slot(mstate *m, page *pg, size_t i, void *p, size_t n, bool may_move)
{
   if (n <= pg->size)
   {
      annotate_resize(m, p, pg->size, n);
      return p;
   }
   if (!may_move || n > m->capacity)
      return NULL;
   void *q = hand_out(m, growing_block(m, n), n);
   if (q)
   {
      copy_bytes(q, p, slot_user_size(pg, p));
      free_slot(m, pg, i, p);
   }
   return q;
}

}} // namespace mulle::detail
