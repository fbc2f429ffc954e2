/* ==== realloc =============================================================================

   In place first: a shrink splits off the tail and frees it; a growth takes what it needs
   from the top, the dv or a free successor. Only then does the block move.
   ========================================================================================== */

namespace mulle { namespace detail {

enum resize_result { RESIZE_DONE, RESIZE_IMPOSSIBLE, RESIZE_FAILED };

inline resize_result resize_in_place(mstate *m, chunk *c, size_t nb)
{
   size_t s    = chunk_size(c);
   chunk *next = chunk_at(c, s);

   if (nb <= s)
   {
      size_t rs = s - nb;
      if (rs >= MIN_CHUNK)
      {
         chunk *r = chunk_at(c, nb);
         if (next != m->top && next != m->dv && !chunk_is_in_use(next) &&
             !bin_links_ok(m, next, chunk_size(next)))
         {
            report(m, MSPACE_ERROR_CORRUPTION, mem_from_chunk(c));
            return RESIZE_FAILED;
         }
         set_in_use(c, nb);
         r->head = rs | PINUSE | CINUSE;
         release_chunk(m, r, rs);
      }
      return RESIZE_DONE;
   }

   if (next == m->top)
   {
      size_t need = nb - s + MIN_CHUNK;
      if (m->top_size < need && !extend_top(m, need))
         return RESIZE_IMPOSSIBLE;
      m->top_size  = m->top_size + s - nb;
      m->top       = chunk_at(c, nb);
      m->top->head = m->top_size | PINUSE;
      c->head      = (c->head & PINUSE) | nb | CINUSE;
      return RESIZE_DONE;
   }

   if (next == m->dv)
   {
      size_t total = s + m->dv_size;
      if (total < nb)
         return RESIZE_IMPOSSIBLE;
      size_t rs = total - nb;
      if (rs >= MIN_CHUNK)
      {
         set_in_use(c, nb);
         m->dv      = chunk_at(c, nb);
         m->dv_size = rs;
         set_free_with_footer(m->dv, rs);
      }
      else
      {
         set_in_use(c, total);
         m->dv      = NULL;
         m->dv_size = 0;
      }
      return RESIZE_DONE;
   }

   if (!chunk_is_in_use(next))
   {
      size_t ns    = chunk_size(next);
      size_t total = s + ns;
      if (total < nb)
         return RESIZE_IMPOSSIBLE;
      if (!take_from_bin(m, next, ns))
         return RESIZE_FAILED;
      size_t rs = total - nb;
      if (rs >= MIN_CHUNK)
      {
         set_in_use(c, nb);
         chunk *r = chunk_at(c, nb);
         set_free_with_footer(r, rs);
         insert_chunk(m, r, rs);
      }
      else
         set_in_use(c, total);
      return RESIZE_DONE;
   }
   return RESIZE_IMPOSSIBLE;
}

/* p is a validated block. NULL leaves it as it was. */
inline void *reallocate(mstate *m, void *p, size_t n, bool may_move)
{
   if (n > m->capacity)
      return NULL;
   chunk *c = chunk_from_mem(p);
   switch (resize_in_place(m, c, request_to_size(n)))
   {
   case RESIZE_DONE:       return p;
   case RESIZE_FAILED:     return NULL;
   case RESIZE_IMPOSSIBLE: break;
   }
   if (!may_move)
      return NULL;
   void *q = allocate(m, n);
   if (!q)
      return NULL;
   copy_bytes(q, p, usable_size_of(c));
   deallocate_chunk(m, c);
   return q;
}

}} // namespace mulle::detail
