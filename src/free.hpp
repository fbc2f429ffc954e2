/* ==== free and coalescing =================================================================

   A freed chunk merges at once with a free predecessor (found through prev_foot, since its
   PINUSE is clear) and a free successor, so no two free chunks are ever adjacent. The
   result joins the top, grows the dv, or goes to its bin.
   ========================================================================================== */

namespace mulle { namespace detail {

/* Makes [c, c + s) free and merges it. c's PINUSE must be right. Its CINUSE is cleared
   first: a later free of this block sees it. The free neighbours' bin links are verified
   before anything is written; false (nothing changed) if they lie. */
MULLE_DLMALLOC_NOASAN inline bool release_chunk(mstate *m, chunk *c, size_t s)
{
   chunk *prev = previous_is_in_use(c) ? NULL : previous_chunk(c);
   chunk *next = chunk_at(c, s);
   bool   next_in_bin = next != m->top && next != m->dv && !chunk_is_in_use(next);
   if ((prev && prev != m->dv && !bin_links_ok(m, prev, c->prev_foot)) ||
       (next_in_bin && !bin_links_ok(m, next, chunk_size(next))))
      return false;

   c->head = s | (c->head & PINUSE);
   if (prev)
   {
      if (prev != m->dv)
         unlink_chunk(m, prev, c->prev_foot);
      s += c->prev_foot;
      c  = prev;
   }
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
      return true;
   }
   if (next == m->dv)
   {
      m->dv       = c;
      m->dv_size += s;
      set_free_with_footer(c, m->dv_size);
      return true;
   }
   if (next_in_bin)
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
   return true;
}

/* Frees a validated in-use chunk; the top trims itself past the threshold. */
MULLE_DLMALLOC_NOASAN inline void deallocate_chunk(mstate *m, chunk *c)
{
   if (!release_chunk(m, c, chunk_size(c)))
   {
      report(m, MSPACE_ERROR_CORRUPTION, mem_from_chunk(c));
      return;
   }
   if (m->top_size > m->trim_threshold)
      trim_top(m, 0);
}

}} // namespace mulle::detail
