/* ==== the caches in front of the bins =====================================================

   A fast path for small blocks. A freed chunk of one of the NCACHES smallest sizes (up to
   1040 bytes on 64-bit, 520 on 32-bit) is not coalesced at once but parked, still marked
   in use, on a LIFO list of its exact size; the next request of that size takes it back
   in a few instructions. What the caches hold is bounded by
   MULLE_DLMALLOC_CACHE_BYTES, so the fragmentation they can cause is bounded too. Parked
   chunks carry CACHED in their head: a second free of one is a double free as always, and
   the statistics, the walk and mspace_check count them as free. The caches are flushed
   (every chunk released and coalesced) by trim, before a request is refused, and dropped
   by reset and destroy.
   ========================================================================================== */

namespace mulle { namespace detail {

static const size_t CACHE_LIMIT = MULLE_DLMALLOC_CACHE_BYTES;

static const size_t FIRST_CACHE = MIN_CHUNK >> SMALLBIN_SHIFT;

MULLE_DLMALLOC_NOASAN inline size_t cache_index(size_t s) { return (s >> SMALLBIN_SHIFT) - FIRST_CACHE; }
MULLE_DLMALLOC_NOASAN inline bool   is_cacheable(size_t s) { return cache_index(s) < NCACHES; }
MULLE_DLMALLOC_NOASAN inline size_t cache_index_to_size(size_t i) { return (i + FIRST_CACHE) << SMALLBIN_SHIFT; }

/* Parks in-use chunk c of size s if it is cacheable and the caches have room. */
MULLE_DLMALLOC_NOASAN inline bool cache_chunk(mstate *m, chunk *c, size_t s)
{
   if (CACHE_LIMIT == 0 || !is_cacheable(s) || m->cache_bytes + s > CACHE_LIMIT)
      return false;
   size_t i       = cache_index(s);
   c->head       |= CACHED;
   c->fd          = m->cache[i];
   m->cache[i]    = c;
   m->cache_bytes += s;
   return true;
}

/* The cheap check made before a cache link is followed: c is parked with size s, and its
   successor f (NULL at the end) may be a chunk of this mspace. */
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
   m->cache[i]     = c->fd;
   m->cache_bytes -= nb;
   c->head        &= ~CACHED;
   return c;
}

}} // namespace mulle::detail
