/* ==== the caches in front of the bins =====================================================

   A fast path for small blocks. A freed chunk of one of the NCACHES smallest sizes (up to
   1040 bytes on 64-bit, 520 on 32-bit) is not coalesced at once but parked, still marked
   in use, on a LIFO list of its exact size (fd towards the end, NULL there; every chunk
   but the first also links back to the one before it through bk, which the first does
   not use, so that taking the first costs no write); the next request of that size takes
   it back in a few instructions, and a realloc that grows into a parked neighbour takes
   it out of the middle of its list in O(1). A chunk that borders the top is never parked:
   it joins the top. What the caches hold is bounded by MULLE_DLMALLOC_CACHE_BYTES, so the
   fragmentation they can cause is bounded too. Parked chunks carry CACHED in their head:
   a second free of one is a double free as always, and the statistics, the walk and
   mspace_check count them as free. The caches are flushed
   (every chunk released and coalesced) by trim, before a request is refused, and dropped
   by reset and destroy.
   ========================================================================================== */

namespace mulle { namespace detail {

static const size_t CACHE_LIMIT = MULLE_DLMALLOC_CACHE_BYTES;

static const size_t FIRST_CACHE = MIN_CHUNK >> SMALLBIN_SHIFT;

MULLE_DLMALLOC_NOASAN inline size_t cache_index(size_t s) { return (s >> SMALLBIN_SHIFT) - FIRST_CACHE; }
MULLE_DLMALLOC_NOASAN inline bool   is_cacheable(size_t s) { return cache_index(s) < NCACHES; }
MULLE_DLMALLOC_NOASAN inline size_t cache_index_to_size(size_t i) { return (i + FIRST_CACHE) << SMALLBIN_SHIFT; }

/* Parks in-use chunk c of size s if it is cacheable, does not border the top, and the
   caches have room. */
MULLE_DLMALLOC_NOASAN inline bool cache_chunk(mstate *m, chunk *c, size_t s)
{
   if (CACHE_LIMIT == 0 || !is_cacheable(s) || m->cache_bytes + s > CACHE_LIMIT || chunk_at(c, s) == m->top)
      return false;
   size_t i     = cache_index(s);
   chunk *first = m->cache[i];
   c->head     |= CACHED;
   c->fd        = first;
   if (first)
      first->bk = c;
   m->cache[i]     = c;
   m->cache_bytes += s;
   return true;
}

/* The cheap check made before the first chunk c of its list is taken: c is parked with
   size s, and its successor f (NULL at the end) may be a chunk of this mspace. */
MULLE_DLMALLOC_NOASAN inline bool cache_link_ok(const mstate *m, const chunk *c, size_t s)
{
#if MULLE_DLMALLOC_CHECKS
   const chunk *f = c->fd;
   return (c->head & ~PINUSE) == (s | CINUSE | CACHED) && (!f || ok_chunk_address(m, f));
#else
   (void) m; (void) c; (void) s;
   return true;
#endif
}

/* The first chunk of its list leaves it, links checked (cache_link_ok); in use again. */
MULLE_DLMALLOC_NOASAN inline void unlink_first_cached(mstate *m, chunk *c, size_t s)
{
   m->cache[cache_index(s)] = c->fd;
   m->cache_bytes          -= s;
   c->head                 &= ~CACHED;
}

/* Parked chunk c of size s, anywhere in its list, leaves it; in use again. False, with
   nothing changed, where its links disagree: parked with size s, its successor and (but
   for the first) its predecessor are chunks of this mspace that point back at it. */
MULLE_DLMALLOC_NOASAN inline bool unlink_cached(mstate *m, chunk *c, size_t s)
{
   rel<chunk> *root = &m->cache[cache_index(s)];
   chunk      *f    = c->fd;
   chunk      *b    = *root == c ? NULL : c->bk.get();
   if (MULLE_DLMALLOC_CHECKS &&
       ((c->head & ~PINUSE) != (s | CINUSE | CACHED) || (f && (!ok_chunk_address(m, f) || f->bk != c)) ||
        (*root != c && (!ok_chunk_address(m, b) || b->fd != c))))
      return false;
   if (b)
      b->fd = f;
   else
      *root = f;
   if (f)
      f->bk = b;
   m->cache_bytes -= s;
   c->head        &= ~CACHED;
   return true;
}

/* A parked chunk of exactly size nb, taken out of its cache and in use again, or NULL.
   *sane turns false (and nothing changes) when the chunk or its link was overwritten, by
   a write into freed memory: a cache is a free list too, whose links are checked. */
MULLE_DLMALLOC_NOASAN inline chunk *uncache_chunk(mstate *m, size_t nb, bool *sane)
{
   *sane = true;
   if (CACHE_LIMIT == 0 || !is_cacheable(nb))
      return NULL;
   size_t i = cache_index(nb);
   chunk *c = m->cache[i];
   if (!c)
      return NULL;
   if (!cache_link_ok(m, c, nb))
   {
      *sane = false;
      return NULL;
   }
   unlink_first_cached(m, c, nb);
   return c;
}

}} // namespace mulle::detail
