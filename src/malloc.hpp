/* ==== allocation ==========================================================================

   A request of up to TIER_MAX bytes is a slot of the small-object tier (tier.hpp), which
   takes its pages from here; any other request, and a small one when no page can be
   made, is a chunk. For a chunk size nb, in order:
   1. small nb: its exact bin, or the next one (a remainder there could not stand alone);
   2. small nb larger than the dv: the smallest chunk of a larger small bin, else the
      smallest chunk of the tree bins;
      large nb: the best fit of the tree bins, if it leaves less than the dv would (not
      looked for where nb is within DV_REACH, a request up to 1 KiB, and the dv holds it);
      the remainder of a request up to 1 KiB becomes the new dv (locality for runs of
      such requests), a larger one's goes back to its bin (best fit keeps fragmentation
      low);
   3. the dv, if it is large enough (its remainder stays the dv);
   4. the top, extending the footprint by GRANULARITY steps up to the region's end.
   Every step is O(1) but the tree walks, which are bounded by the bits of a size.
   ========================================================================================== */

namespace mulle { namespace detail {

/* The dv is free and in no bin; the old one goes to its bin. */
MULLE_DLMALLOC_NOASAN inline void replace_dv(mstate *m, chunk *r, size_t rs)
{
   if (m->dv_size)
      insert_chunk(m, m->dv, m->dv_size);
   m->dv      = r;
   m->dv_size = rs;
}

/* v, free and in no bin (or a block in use that grew over its free successor, realloc.hpp),
   serves nb; a remainder that can stand alone becomes the dv or
   goes to its bin. The caller has held v's head against a second record (the size of a
   free chunk section, errors.hpp). At level 2 the remainder is poisoned for its kind where
   v's words were not poison (a tree chunk's links behind a small remainder's); the caller
   has verified v's poison up to nb + sizeof(tree_chunk). Where v is the dv itself
   (v_is_dv, a run of cuts), the remainder stays the dv and the dv's record is written
   once, after the chunks (a recovery rebuilds it, and believes none). */
MULLE_DLMALLOC_NOASAN MULLE_DLMALLOC_HOT void *carve(mstate *m, chunk *v, size_t nb, bool remainder_to_dv, bool v_is_dv = false)
{
   MULLE_DLMALLOC_ASSERT(chunk_size(v) >= nb && "carve: a chunk large enough (free, or a block that grew)");
   MULLE_DLMALLOC_ASSERT((!v_is_dv || v == m->dv) && "carve: the dv is v");
   size_t vs = chunk_size(v);
   size_t rs = vs - nb;
   if (rs < MIN_CHUNK)
   {
      set_in_use(v, vs);
      if (v_is_dv)
      {
         m->dv      = NULL;
         m->dv_size = 0;
      }
   }
   else
   {
      chunk *r = chunk_at(v, nb);
      set_free_with_footer(r, rs);   /* inside v: a walk sees it once v's head moves */
      MULLE_DLMALLOC_ORDERED();
      v->head = (v->head & PINUSE) | nb | CINUSE;
#if MULLE_DLMALLOC_CHECKS >= 2
      size_t links = poison_start(rs), upto = rs < sizeof(tree_chunk) ? rs : sizeof(tree_chunk);
      if (links < upto)
         fill_bytes(as_bytes(r) + links, POISON_BYTE, upto - links);
#endif
      if (v_is_dv)
      {
         m->dv      = r;
         m->dv_size = rs;
      }
      else if (remainder_to_dv)
         replace_dv(m, r, rs);
      else
         insert_chunk(m, r, rs);
      if (PURGE_MIN && rs >= PURGE_FROM)
         move_purge_note(m, v, r);   /* a remainder still waiting keeps its time */
   }
   return mem_from_chunk(v);
}

/* Takes c out of its bin after verifying its links; false (and reported) if they lie. */
MULLE_DLMALLOC_NOASAN MULLE_DLMALLOC_HOT bool take_from_bin(mstate *m, chunk *c, size_t s)
{
   if (!unlink_chunk_checked(m, c, s))
   {
      report(m, MSPACE_ERROR_CORRUPTION, mem_from_chunk(c));
      return false;
   }
   return true;
}

/* A ring member is cheaper to take than the tree node it hangs off (if its link is sane:
   take_from_bin verifies the rest before anything is written). */
MULLE_DLMALLOC_NOASAN inline chunk *prefer_ring_member(const mstate *m, tree_chunk *t)
{
   return t->fd != t && ok_chunk_address(m, t->fd) ? t->fd : t;
}

/* A trie link the search is about to follow (never NULL there) names a chunk below the
   top. With checks, where the trie-link checks of an unlink are made too. */
static const bool SEARCH_CHECKS = MULLE_DLMALLOC_CHECKS && TRIE_CHECKS;

MULLE_DLMALLOC_NOASAN inline bool trie_step_ok(const mstate *m, const tree_chunk *t)
{
   return !SEARCH_CHECKS || ok_chunk_address(m, t);
}

/* A tree search met a link that names no chunk: reported (naming the node that holds it,
   or nothing for a bin's root, a word of the state), never followed. */
MULLE_DLMALLOC_NOASAN MULLE_DLMALLOC_NEVER_INLINE chunk *search_damaged(mstate *m, tree_chunk *from, bool *sane)
{
   report(m, MSPACE_ERROR_CORRUPTION, from ? mem_from_chunk(from) : NULL);
   *sane = false;
   return NULL;
}

/* The best fit in the tree bins for a chunk size nb >= MIN_LARGE_SIZE, or NULL; *rest is
   what it leaves. Walks down the trie of nb's bin along nb's bits, remembering the last
   right subtree passed by (all of its sizes are larger than nb), then takes the smallest of
   that subtree or of the next non-empty bin. With nb = MIN_LARGE_SIZE it finds the
   smallest tree chunk. A link that names no chunk is reported as corruption (the node
   that holds it is named) and never followed: NULL, and *sane turns false. */
MULLE_DLMALLOC_NOASAN MULLE_DLMALLOC_HOT chunk *best_tree_fit(mstate *m, size_t nb, size_t *rest, bool *sane)
{
   tree_chunk *v     = NULL;
   size_t      rsize = ~static_cast<size_t>(0) - nb + 1;  /* = -nb: no fit yet */
   size_t      i;
   size_t      key   = tree_key(nb, &i);
   tree_chunk *t     = m->treebins[i];
   tree_chunk *from  = NULL;   /* the node whose link led to t */

   if (SEARCH_CHECKS)
      *sane = true;
   if (t)
   {
      size_t      bits  = key;
      tree_chunk *right = NULL, *right_from = NULL;
      for (;;)
      {
         MULLE_DLMALLOC_STEP();
         if (!trie_step_ok(m, t))
            return search_damaged(m, from, sane);
         size_t trem = chunk_size(t) - nb;
         if (trem < rsize)
         {
            v     = t;
            rsize = trem;
            if (rsize == 0)
            {
               t = NULL;   /* an exact fit: nothing below can be better */
               break;
            }
         }
         tree_chunk *rt = t->child(1);
         from = t;
         t    = t->child((bits >> (SIZE_BITS - 1)) & 1);
         if (rt && rt != t)
         {
            right      = rt;
            right_from = from;
         }
         if (!t)
         {
            t    = right;
            from = right_from;
            break;
         }
         bits <<= 1;
      }
   }
   if (!t && !v)
   {
      binmap_t larger = bits_above(bin_bit(i)) & m->treemap;
      if (larger)
      {
         t    = m->treebins[lowest_bit_index(larger)];
         from = NULL;
      }
   }
   for (; t; from = t, t = leftmost_child(t))
   {
      MULLE_DLMALLOC_STEP();
      if (!trie_step_ok(m, t))
         return search_damaged(m, from, sane);
      size_t trem = chunk_size(t) - nb;
      if (trem < rsize)
      {
         rsize = trem;
         v     = t;
      }
   }
   *rest = rsize;
   if (!v || MULLE_DLMALLOC_NO_OS)
      return v;   /* without an OS, for size: the node itself */
   return prefer_ring_member(m, v);
}

/* v is the top, or an in-use chunk just below it: v keeps nb bytes (in use) and the top
   starts behind them. The caller has made sure the top keeps at least MIN_CHUNK, and (with
   checks) that the top's head says what the state records (top_is_whole): the top's size
   is the state's, never its head's. pinuse is v's PINUSE (always set for the top). */
MULLE_DLMALLOC_NOASAN MULLE_DLMALLOC_APART void *split_top(mstate *m, chunk *v, size_t nb, size_t pinuse)
{
   MULLE_DLMALLOC_ASSERT(static_cast<size_t>(top_end(m) - as_bytes(v)) >= nb + MIN_CHUNK && "split_top: the top keeps a chunk");
   chunk *r      = chunk_at(v, nb);
   size_t rs     = static_cast<size_t>(top_end(m) - as_bytes(r));
   if (as_bytes(r) + MEM_OFFSET > m->written)   /* the top's head: the highest word yet, */
      m->written = as_bytes(r) + MEM_OFFSET;    /* marked before it is written (a holder */
   MULLE_DLMALLOC_ORDERED();                    /* that dies between leaves no word past
                                                   the mark, which calloc does not zero) */
   r->head       = rs | PINUSE;   /* inside the top (or v): seen once v's head moves */
   MULLE_DLMALLOC_ORDERED();
   v->head       = pinuse | nb | CINUSE;
   m->top_size   = rs;
   m->top        = r;
   return mem_from_chunk(v);
}

/* A free chunk (or the top) whose head disagrees with its second record: reported, and the
   request that met it fails with nothing written. */
MULLE_DLMALLOC_NOASAN MULLE_DLMALLOC_NEVER_INLINE void *free_chunk_damaged(mstate *m, chunk *c)
{
   report(m, MSPACE_ERROR_CORRUPTION, mem_from_chunk(c));
   return NULL;
}

/* A small chunk size nb whose bin, or the next one up, holds a chunk: the first chunk of
   that bin, its size as the bin records it held against its head, its links as the first
   of its bin's, carved as the search would (a remainder, where one can stand alone,
   becomes the dv). Without the stack frame of the search. */
MULLE_DLMALLOC_NOASAN MULLE_DLMALLOC_WHOLE_WAY void *allocate_small_fit(mstate *m, size_t nb)
{
   size_t i = small_index(nb);
   i += ~(m->smallmap >> i) & 1u;
   chunk *c  = small_bin(m, i)->fd;
   size_t cs = small_index_to_size(i);
   if (!free_head_is(c, cs))
      return free_chunk_damaged(m, c);
   if (!free_memory_untouched(m, c, cs, as_bytes(c) + nb + sizeof(tree_chunk)))
      return NULL;
   if (!unlink_first_small_checked(m, c, i))
      return free_chunk_damaged(m, c);   /* its links lie */
   return carve(m, c, nb, true);
}

/* Chunk size nb <= dv_size from the dv, its size as the state records it held against its
   head; the remainder stays the dv. The search ends here where no bin serves better, and
   a request up to DV_REACH above the small bins' comes straight here (the search looks at
   no bin for it), without the search's stack frame. */
MULLE_DLMALLOC_NOASAN MULLE_DLMALLOC_WHOLE_WAY void *allocate_dv_run(mstate *m, size_t nb)
{
   chunk *c  = m->dv;
   size_t cs = m->dv_size;
   if (!free_head_is(c, cs))
      return free_chunk_damaged(m, c);
   if (!free_memory_untouched(m, c, cs, as_bytes(c) + nb + sizeof(tree_chunk)))
      return NULL;
   return carve(m, c, nb, true, true);
}

/* A chunk of size nb, from the bins, the dv or the top. Each chunk's size comes from its
   record (its small bin, the dv's or the top's in the state) held against its head, or
   for a tree chunk from its head held against its footer. */
/* The chunk sizes the dv serves in a run, without a search: those of requests up to
   1 KiB. Lea's dv serves the small requests (under 256 bytes); the tier takes those
   here, and the requests just above them are the runs the core sees (a queue or a stack
   of blocks up to 1 KiB). Measured on the fifo workload: 104 instructions an operation
   against 133 where the dv served small requests only, the same peak resident set. A
   realloc that moves a block asks for the best fit instead (growing_block, tier.hpp). */
static const size_t DV_REACH = (1024 + CHUNK_OVERHEAD + ALIGN_MASK) & ~ALIGN_MASK;
MULLE_DLMALLOC_NOASAN MULLE_DLMALLOC_WHOLE_WAY void *allocate_searching(mstate *m, size_t nb)
{
   chunk *c  = NULL;
   size_t cs = 0;   /* c's size as its small bin records it; 0 for a tree chunk */
   bool   sane;
   if (is_small(nb))
   {
      size_t   i    = small_index(nb);
      binmap_t bits = m->smallmap >> i;
      if (bits & 3u)   /* exact fit, or ALIGN bytes more: less than a chunk to split off */
      {
         i += ~bits & 1u;
         c  = small_bin(m, i)->fd;
         cs = small_index_to_size(i);
      }
      else if (nb > m->dv_size)
      {
         size_t rest = 0;
         if (bits)
         {
            i  = lowest_bit_index(bits_above(bin_bit(i)) & m->smallmap);
            c  = small_bin(m, i)->fd;
            cs = small_index_to_size(i);
         }
         else if (m->treemap && !(c = best_tree_fit(m, MIN_LARGE_SIZE, &rest, &sane)) && SEARCH_CHECKS && !sane)
            return NULL;
      }
   }
   else if (m->treemap && !(nb <= DV_REACH && nb <= m->dv_size))
   {
      size_t rest = 0;
      c = best_tree_fit(m, nb, &rest, &sane);
      if (SEARCH_CHECKS && !sane)
         return NULL;
      if (c && rest >= m->dv_size - nb)   /* unsigned: a dv smaller than nb never wins */
         c = NULL;
   }

   if (!c && nb <= m->dv_size)
      return allocate_dv_run(m, nb);
   if (c)
   {
      /* a tree chunk's size is at least nb as the search read it; a ring member's may not */
      if (cs ? !free_head_is(c, cs) : (cs = size_by_tags(m, c)) < nb)
         return free_chunk_damaged(m, c);
      if (!free_memory_untouched(m, c, cs, as_bytes(c) + nb + sizeof(tree_chunk)) || !take_from_bin(m, c, cs))
         return NULL;
      return carve(m, c, nb, nb <= DV_REACH);
   }
   if (!top_is_whole(m))   /* before extend_top rewrites the head */
      return free_chunk_damaged(m, m->top);
   if (m->top_size < nb + MIN_CHUNK)
   {
      /* the pages an automatic trim released lazily are still resident until the kernel
         takes them: faulting them in again would be a system call for nothing */
      byte *old_end = top_end(m);
      byte *lazy    = m->lazy_end;
      byte *fresh   = lazy && lazy > old_end ? lazy : old_end;
      if (!extend_top(m, nb + MIN_CHUNK))
         return HOLDS && m->held ? allocate_after_held(m, nb) : NULL;   /* tier.hpp */
      if (nb <= PREFAULT_BELOW && fresh < top_end(m))   /* a page of the tier too */
         os_prefault(m, fresh, top_end(m));
   }
   return split_top(m, m->top, nb, PINUSE);
}

/* A heap that holds no free chunk that could serve (a heap being filled, a stack of
   blocks) is served straight from the top, where the search would end too, and without
   the stack frame the search needs (in builds with the fast path; elsewhere it would only
   add code). No chunk serves nb when no small bin from nb's on holds one and no tree bin
   does (for a small nb), or no tree bin from nb's on (a large one: the bins below hold
   smaller chunks only), and the dv is smaller. Likewise a small request that its own bin
   or the next one serves, where small requests are chunks (no tier). */
MULLE_DLMALLOC_NOASAN MULLE_DLMALLOC_WHOLE_WAY void *allocate_chunk_of(mstate *m, size_t nb)
{
   if (MULLE_DLMALLOC_FAST_PATH && nb > m->dv_size && m->top_size >= nb + MIN_CHUNK &&
       (is_small(nb) ? !(m->smallmap >> small_index(nb)) && !m->treemap : no_tree_bin_from(m->treemap, nb)) &&
       top_is_whole(m))
      return split_top(m, m->top, nb, PINUSE);   /* a damaged top: the search reports it */
   if (MULLE_DLMALLOC_FAST_PATH && nb <= m->dv_size && nb <= DV_REACH && !is_small(nb))
      return allocate_dv_run(m, nb);
   if (MULLE_DLMALLOC_FAST_PATH && !TIER && is_small(nb) && ((m->smallmap >> small_index(nb)) & 3u))
      return allocate_small_fit(m, nb);   /* what the search would take first (with the tier,
                                             a small request is a slot) */
   return allocate_searching(m, nb);
}

/* A chunk for a request of n bytes, never a slot of the tier. */
MULLE_DLMALLOC_NOASAN inline void *allocate_chunk(mstate *m, size_t n)
{
   return n > m->capacity ? NULL : allocate_chunk_of(m, request_to_size(n));
}

/* A block leaves the library: the annotations learn its size, and at level 2 the word
   behind it gets its canary, which records the request n. Every block the user receives
   passes through here. */
MULLE_DLMALLOC_NOASAN inline void *hand_out(mstate *m, void *mem, size_t n)
{
   if (mem)
   {
#if MULLE_DLMALLOC_CHECKS >= 2
      chunk *c = chunk_from_mem(mem);
      write_canary(m, next_chunk(c), usable_size_of(c) - n);
#endif
      annotate_alloc(m, mem, n);
   }
   return mem;
}

/* Over-aligned: allocate enough to find an aligned spot, give back the lead and the tail. */
inline bool release_chunk(mstate *m, chunk *c, size_t s);
inline void *allocate(mstate *m, size_t n);   /* a slot or a chunk (tier.hpp) */

/* In-use chunk c, just taken, gives back its lead up to chunk a inside it (at least
   MIN_CHUNK bytes): a keeps the rest, in use. The lead is free from the store that cuts it
   off (a crash leaves no block that nobody holds behind the one asked for). a. */
MULLE_DLMALLOC_NOASAN inline chunk *give_back_lead(mstate *m, chunk *c, chunk *a)
{
   size_t lead = static_cast<size_t>(as_bytes(a) - as_bytes(c));
   a->head     = (chunk_size(c) - lead) | CINUSE;   /* PINUSE is cleared as the lead is freed */
   MULLE_DLMALLOC_ORDERED();
   c->head = (c->head & PINUSE) | lead;
   if (!release_chunk(m, c, lead))   /* a free predecessor whose links lie; untested */
   {
      c->head |= CINUSE;
      report(m, MSPACE_ERROR_CORRUPTION, mem_from_chunk(c));
   }
   return a;
}

MULLE_DLMALLOC_NOASAN inline void *allocate_aligned(mstate *m, size_t alignment, size_t n)
{
   if (!is_power_of_two(alignment))
      return NULL;
   if (alignment <= ALIGN)
      return allocate(m, n);   /* a slot of the tier too */
   if (alignment > m->capacity || n > m->capacity)
      return NULL;

   size_t nb  = request_to_size(n);
   byte  *mem = static_cast<byte *>(allocate_chunk(m, nb + alignment + MIN_CHUNK));
   if (!mem)
      return NULL;

   /* a chunk from the bins, the dv or the top follows a chunk in use (no two free chunks
      are adjacent): releasing its lead merges with nothing before it */
   chunk *c = chunk_from_mem(mem);
   MULLE_DLMALLOC_ASSERT(previous_is_in_use(c) && "allocate_aligned: a fresh chunk follows a block");
   if (!is_aligned(mem, alignment))
   {
      uintptr_t at  = reinterpret_cast<uintptr_t>(mem);
      byte *aligned = mem + (align_up(at, alignment) - at);
      chunk *a      = chunk_from_mem(aligned);
      if (static_cast<size_t>(as_bytes(a) - as_bytes(c)) < MIN_CHUNK)
         a = chunk_at(a, alignment);
      c = give_back_lead(m, c, a);
   }
   size_t s = chunk_size(c);
   if (s - nb >= MIN_CHUNK)
   {
      chunk *r = chunk_at(c, nb);
      r->head  = (s - nb) | PINUSE;   /* free, inside c until its head moves */
      MULLE_DLMALLOC_ORDERED();
      c->head  = (c->head & PINUSE) | nb | CINUSE;
      if (!release_chunk(m, r, s - nb))   /* a free successor whose links lie; untested */
      {
         r->head |= CINUSE;
         report(m, MSPACE_ERROR_CORRUPTION, mem_from_chunk(r));   /* the tail stays in use */
      }
   }
   return mem_from_chunk(c);
}

}} // namespace mulle::detail
