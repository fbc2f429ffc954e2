/* ==== free and coalescing =================================================================

   A freed chunk merges at once with a free predecessor (found through prev_foot, since its
   PINUSE is clear) and a free successor, so no two free chunks are ever adjacent. The
   result joins the top, grows the dv, or goes to its bin.
   ========================================================================================== */

namespace mulle { namespace detail {

/* Makes [c, c + s) free and merges it. c's neighbours must have been validated; c's
   PINUSE must be right. Its CINUSE is cleared first: a later free of this block sees it. */
inline void release_chunk(mstate *m, chunk *c, size_t s)
{
   c->head = s | (c->head & PINUSE);
   if (!previous_is_in_use(c))
   {
      size_t ps   = c->prev_foot;
      chunk *prev = chunk_before(c, ps);
      if (prev != m->dv)
         unlink_chunk(m, prev, ps);
      c  = prev;
      s += ps;
   }

   chunk *next = chunk_at(c, s);
   if (next == m->top)
   {
      m->top       = c;
      m->top_size += s;
      c->head      = m->top_size | PINUSE;
      if (c == m->dv)
      {
         m->dv      = NULL;
         m->dv_size = 0;
      }
      return;
   }
   if (next == m->dv)
   {
      m->dv       = c;
      m->dv_size += s;
      set_free_with_footer(c, m->dv_size);
      return;
   }
   if (!chunk_is_in_use(next))
   {
      size_t ns = chunk_size(next);
      unlink_chunk(m, next, ns);
      s += ns;
   }
   set_free_with_footer(c, s);
   if (c == m->dv)
      m->dv_size = s;
   else
      insert_chunk(m, c, s);
}

/* The free neighbours that releasing [c, c + s) will unlink have honest bin links. */
inline bool neighbour_links_ok(mstate *m, chunk *c, size_t s)
{
   if (!previous_is_in_use(c))
   {
      chunk *prev = previous_chunk(c);
      if (prev != m->dv && !bin_links_ok(m, prev, c->prev_foot))
         return false;
   }
   chunk *next = chunk_at(c, s);
   if (next != m->top && next != m->dv && !chunk_is_in_use(next))
      return bin_links_ok(m, next, chunk_size(next));
   return true;
}

/* Frees a validated in-use chunk; the top trims itself past the threshold. */
inline void deallocate_chunk(mstate *m, chunk *c)
{
   size_t s = chunk_size(c);
   if (!neighbour_links_ok(m, c, s))
   {
      report(m, MSPACE_ERROR_CORRUPTION, mem_from_chunk(c));
      return;
   }
   release_chunk(m, c, s);
   if (m->top_size > m->trim_threshold)
      trim_top(m, 0);
}

}} // namespace mulle::detail
