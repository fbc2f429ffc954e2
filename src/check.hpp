/* ==== the whole-heap check ================================================================

   The expensive level: walks every chunk from least to the top and every bin, and counts
   the invariants of the chunk layout and bins sections that do not hold; at level 2 also
   the canaries and, when asked, the poison of free chunks and the slack of blocks.
   mspace_check is its public face; MULLE_DLMALLOC_CHECKS=2 runs it (without that scan of
   bytes) before every operation.
   ========================================================================================== */

namespace mulle { namespace detail {

/* p is a chunk address below the top whose size s makes it a tree chunk that ends below
   the top: its words (index, parent, ...) may be read. Checked before any is. */
MULLE_DLMALLOC_NOASAN inline bool ok_tree_chunk(const mstate *m, const chunk *p, size_t s)
{
   return ok_chunk_address(m, p) && s >= MIN_LARGE_SIZE && chunk_size(p) == s &&
          s <= static_cast<size_t>(as_bytes(m->top) - reinterpret_cast<const byte *>(p));
}

/* The chunks met in the bins (or the pages in the rings of pages with room), against those
   met in the walk: their number and a fingerprint of their offsets, a sum of a bijective
   mix of each. An entry that is not a chunk of the walk (a forged one in a block's bytes)
   changes the fingerprint even where the links around it agree and the count is right. */
struct tally
{
   size_t count;
   size_t print;

   MULLE_DLMALLOC_NOASAN void add(const mstate *m, const chunk *c)
   {
      size_t x = static_cast<size_t>(reinterpret_cast<const byte *>(c) - reinterpret_cast<const byte *>(m));
      x *= static_cast<size_t>(0x9e3779b97f4a7c15ull);   /* odd: a bijection, as is the shift */
      count++;
      print += x ^ (x >> (SIZE_BITS / 2));
   }
};

/* Verifies the trie below t (bin i, t at `depth`); tallies its chunks into *seen, at most
   limit of them. t has passed ok_chunk_address. */
MULLE_DLMALLOC_NOASAN inline int check_tree(const mstate *m, tree_chunk *t, size_t i, size_t depth, tally *seen, size_t limit)
{
   int    problems = 0;
   size_t s        = chunk_size(t);
   if (!ok_tree_chunk(m, t, s) || chunk_is_in_use(t) || t->index != i || tree_index(s) != i)
      return 1;

   /* the ring of equal sizes */
   chunk *r = t;
   do
   {
      seen->add(m, r);
      if (seen->count > limit)
         return problems + 1;   /* a cycle the back-link checks let through: defensive */
      if (!ok_tree_chunk(m, r, s) || !ok_chunk_address(m, r->fd) || r->fd->bk != r || chunk_is_in_use(r) ||
          chunk_at(r, s)->prev_foot != s || (r != t && as_tree(r)->index != RING_MEMBER))
         return problems + 1;
      r = r->fd;
   }
   while (r != t);

   /* children branch on the next size bit */
   size_t bit = (i == NTREEBINS - 1 ? SIZE_BITS - 1 : (i >> 1) + TREEBIN_SHIFT - 2) - depth;
   for (size_t d = 0; d < 2; ++d)
   {
      tree_chunk *c = t->child(d);
      if (!c)
         continue;
      if (!ok_chunk_address(m, c) || !ok_tree_chunk(m, c, chunk_size(c)) || c->parent != t ||
          depth >= SIZE_BITS || ((chunk_size(c) >> bit) & 1) != d)
         problems++;
      else
         problems += check_tree(m, c, i, depth + 1, seen, limit);
   }
   return problems;
}

/* pg is one of the spares of the front its header names (tier.hpp). */
MULLE_DLMALLOC_NOASAN inline bool is_spare(const mstate *m, const page *pg)
{
#ifdef MULLE_DLMALLOC_HAS_FRONTS
   if (pg->front >= FRONTS)
      return false;
   const front *f = &m->fronts[pg->front];
   const page  *s = f->spare;
   for (unsigned k = 0; k < f->spares && k < SPARE_PAGES && ok_page_address(m, s); ++k, s = s->next)
      if (s == pg)
         return true;   /* every link read was a page boundary of the heap first */
   return false;
#else
   (void) m; (void) pg;
   return false;
#endif
}

/* pg is the held page of the front its header names (tier.hpp). */
MULLE_DLMALLOC_NOASAN inline bool is_front_held(const mstate *m, const page *pg)
{
#ifdef MULLE_DLMALLOC_HAS_FRONTS
   return pg->front < FRONTS && m->fronts[pg->front].held == page_offset(m, pg);
#else
   (void) m; (void) pg;
   return false;
#endif
}

/* Chunk c of size s, flagged as a page, is one: in use, of a page's size, its memory on
   a page boundary, its header naming it, cut for a slot size, its bitmap free of bits past
   the slots and counting the slots in use, one at least (an empty page goes back), but
   for a front's spare and the held page. */
MULLE_DLMALLOC_NOASAN inline bool page_sound(const mstate *m, chunk *c, size_t s)
{
   if (!TIER || !chunk_is_in_use(c) || s < PAGE_BYTES || s >= PAGE_BYTES + MIN_CHUNK ||
       !is_aligned(mem_from_chunk(c), PAGE_BYTES))
      return false;
   page *pg = static_cast<page *>(mem_from_chunk(c));
   if (!map_has(m, frame_index(m, pg)) || pg->offset != page_offset(m, pg) || pg->epoch != m->epoch || pg->check != page_check(m, pg, pg->size, pg->front) ||
       (pg->size & (SLOT_GRAIN - 1)) || !pg->size || !page_shape_ok(pg, class_of_page(pg)))
      return false;
   size_t free_slots = 0;
   for (size_t w = 0; w < BITMAP_WORDS; ++w)
   {
      uint64_t bits = pg->free_bits[w];
      size_t   lo   = w * 64;
      if (lo + 64 > pg->count && (pg->count <= lo ? bits : bits >> (pg->count - lo)))
         return false;   /* a bit past the last slot */
      free_slots += static_cast<size_t>(count_bits64(bits));
   }
#ifdef MULLE_DLMALLOC_HAS_FRONTS
   uint64_t remote[BITMAP_WORDS];   /* its stack of remote frees: slots in use, each once,
                                       each with its key */
   void    *bad;
   if (walk_remote(m, pg, __atomic_load_n(&pg->rfree, __ATOMIC_ACQUIRE), remote, false, &bad) == NO_SLOT)
      return false;
#endif
   /* in use, slots counted, and listed when it has room (check_heap verifies the lists);
      an empty page is the spare of the front it names, in no list, or the held page, in
      its list, but one that waits in its front's queue of remote frees (a second free of
      one of its slots, as it emptied) */
   if (!pg->used)
      return free_slots == pg->count &&
             (page_queued(pg) || (!pg->listed && is_spare(m, pg)) ||
              (pg->listed && !(flags_of(m) & STATE_LOCKED) && m->held == page_offset(m, pg)) ||
              (pg->listed && (flags_of(m) & STATE_LOCKED) && is_front_held(m, pg)));
   return free_slots == static_cast<size_t>(pg->count - pg->used) && (pg->listed || pg->used == pg->count);
}

/* scan_bytes (level 2): the bytes of the heap are scanned too, the poison of free chunks and
   the slack of blocks; the level-2 check before every operation leaves that out. *where (if
   given) learns the first chunk found wrong in the walk, else stays NULL. m need
   not be live (an attach checks a region before it takes it), but its bounds must lie
   inside the region: the walk and the links are checked against them. */
MULLE_DLMALLOC_NOASAN int check_heap(mstate *m, bool scan_bytes, chunk **where)
{
   int    problems = 0;
   byte  *top      = as_bytes(m->top);
   tally  free_in_walk   = {0, 0};   /* free chunks but the dv */
   tally  listed_in_walk = {0, 0};   /* pages in the lists of pages with room */
   size_t pages          = 0;
   size_t spares_in_walk = 0;
   size_t queued_in_walk = 0;        /* pages in their front's queue of remote frees */        /* empty pages, each the spare of its front */

   if (top < m->least || top_end(m) > m->chunk_end || m->top_size < MIN_CHUNK ||
       (m->top_size & ALIGN_MASK) || chunk_size(m->top) != m->top_size || !previous_is_in_use(m->top) ||
       footprint_of(m) > m->max_footprint || m->written < top + MEM_OFFSET || m->written > m->chunk_end + MEM_OFFSET)
      return problems + 1;

   /* every chunk, in address order */
   bool   prev_in_use = true;
   bool   dv_seen     = false;
   chunk *c           = reinterpret_cast<chunk *>(m->least.get());
   chunk *before_c    = NULL;
   if (where)
      *where = NULL;   /* only heap_is_sound asks where: level 2 */
   while (as_bytes(c) < top)
   {
      int    before = problems;
      chunk *culprit = c;
      size_t s = chunk_size(c);
      if (s < MIN_CHUNK || (s & ALIGN_MASK) || s > static_cast<size_t>(top - as_bytes(c)) ||
          !is_aligned(mem_from_chunk(c), ALIGN))
         return problems + 1;   /* the walk cannot go on */
      if (previous_is_in_use(c) != prev_in_use)
         problems++;
#if MULLE_DLMALLOC_CHECKS >= 2
      /* without the byte scan, any slack the canary can hold: the exact bound costs time */
      size_t most = !scan_bytes ? SLACK_MASK : before_c ? usable_size_of(before_c) : 0;
      if (prev_in_use && !canary_ok(m, c, most, scan_bytes))
      {
         problems++;         /* the block before c wrote past its end */
         if (before_c)
            culprit = before_c;
      }
      if (scan_bytes && !chunk_is_in_use(c) &&
          !poison_intact(as_bytes(c) + poison_start(s), as_bytes(c) + s))
         problems++;         /* a write into freed memory */
#endif
      if (!chunk_is_in_use(c))
      {
         if (!prev_in_use)
            problems++;         /* two free chunks side by side: a coalesce was missed */
         if (chunk_at(c, s)->prev_foot != s)
            problems++;
         if (c == m->dv)
         {
            dv_seen = true;
            if (s != m->dv_size)
               problems++;
         }
         else
            free_in_walk.add(m, c);
      }
      if (chunk_is_page(c))
      {
         pages++;
         if (!page_sound(m, c, s))
            problems++;
         else if (static_cast<page *>(mem_from_chunk(c))->listed)
            listed_in_walk.add(m, c);
         else if (!static_cast<page *>(mem_from_chunk(c))->used)
            spares_in_walk++;
         if (page_sound(m, c, s) && page_queued(static_cast<page *>(mem_from_chunk(c))))
            queued_in_walk++;
      }
      if (where && !*where && problems != before)
         *where = culprit;   /* level 2 */
      prev_in_use = chunk_is_in_use(c);
      before_c    = c;
      c           = chunk_at(c, s);
   }
   if (as_bytes(c) != top || !prev_in_use)
      problems++;
   if (TIER)   /* the page map names the pages the walk met (each checked its bit), no more */
   {
      size_t marked = 0, words = frame_index(m, top_end(m) - 1) / MAP_BITS + 1;
      for (size_t w = 0; w < words; ++w)
         marked += static_cast<size_t>(count_bits64(page_map(m)[w]));
      if (marked != pages)
         problems++;
   }
#if MULLE_DLMALLOC_CHECKS >= 2
   if (!canary_ok(m, m->top, before_c ? usable_size_of(before_c) : 0, scan_bytes))
      problems++;
#else
   (void) scan_bytes;
   (void) before_c;
#endif
   if (m->dv_size ? !dv_seen : m->dv != NULL)
      problems++;

   /* small bins: exact sizes, honest links, bitmap in step */
   tally  in_bins = {0, 0};
   size_t limit   = free_in_walk.count + 1;
   if ((NSMALLBINS < 32 && (m->smallmap >> (NSMALLBINS % 32)) != 0) || (m->smallmap & (bin_bit(FIRST_SMALLBIN) - 1)))
      problems++;   /* a bit for a bin that does not exist */
   for (size_t i = FIRST_SMALLBIN; i < NSMALLBINS; ++i)
   {
      chunk *h    = small_bin(m, i);
      chunk *prev = h;
      chunk *f    = h->fd;
      if (((m->smallmap >> i) & 1u) != (f != h))
         problems++;   /* the state is out of reach of writes through blocks: defensive */
      for (; f != h; prev = f, f = f->fd)
      {
         if (!ok_chunk_address(m, f))
         {
            problems++;
            break;
         }
         in_bins.add(m, f);
         if (in_bins.count > limit)
            return problems + 1;   /* a cycle the back-link checks let through: defensive */
         if (f->bk != prev || chunk_is_in_use(f) ||
             chunk_size(f) != small_index_to_size(i) || f == m->dv)
         {
            problems++;
            break;
         }
      }
      if (f == h && h->bk != prev)
         problems++;   /* the ring's way back: defensive, as above */
   }

   /* tree bins: tries keyed by size bits, rings of equal sizes */
   for (size_t i = 0; i < NTREEBINS; ++i)
   {
      tree_chunk *t = m->treebins[i];
      if (((m->treemap >> i) & 1u) != (t != NULL))
         problems++;   /* the state is out of reach of writes through blocks: defensive */
      if (t && !ok_chunk_address(m, t))
         problems++;   /* likewise */
      else if (t)
      {
         int below = check_tree(m, t, i, 0, &in_bins, limit);
         if (below == 0 && t->parent != NULL)   /* read once check_tree found t whole */
            below++;
         problems += below;
      }
   }
   if (in_bins.count != free_in_walk.count || in_bins.print != free_in_walk.print)
      problems++;   /* a chunk missing from the bins, or an entry that is no chunk */

   /* lists of pages with room: rings of pages of the walk that say they are listed, of the
      list's slot size, with room but for a full head, each back link naming the one
      before */
   tally listed = {0, 0};
   for (size_t k = 0; k < FRONTS * NCLASSES; ++k)
   {
      size_t i = k % NCLASSES, fk = k / NCLASSES;   /* each front's lists */
      page  *h = m->fronts[fk].avail[i];
      if (!h)
         continue;
      if (!ok_page_address(m, h))
         return problems + 1;
      page *b = h->prev;
      for (page *pg = h;; b = pg, pg = pg->next)
      {
         if (!ok_page_address(m, pg))
            return problems + 1;
         listed.add(m, chunk_from_mem(pg));
         if (listed.count > listed_in_walk.count || !pg->listed || !page_shape_ok(pg, i) || pg->front != fk ||
             (pg != h && pg->used >= pg->count) || pg->prev != b || !ok_page_address(m, pg->next))
            return problems + 1;
         if (pg->next == h)
            break;
      }
   }
   if (listed.count != listed_in_walk.count || listed.print != listed_in_walk.print)
      problems++;
#ifdef MULLE_DLMALLOC_HAS_FRONTS
   for (size_t k = 0; k < FRONTS; ++k)   /* a front holds as many spares as it counts, */
   {                                     /* each an empty page the walk met */
      const front *f = &m->fronts[k];
      if (f->spares > SPARE_PAGES || !f->spare != !f->spares)
         return problems + 1;
      spares_in_walk -= f->spares;
      /* its queue of remote frees: the pages taken, then those pushed since, each a page
         of this front that the walk met queued */
      for (size_t off = f->rtaken, round = 0; round < 2; off = __atomic_load_n(&f->rhead, __ATOMIC_ACQUIRE), ++round)
         for (; off; off = reinterpret_cast<const page *>(reinterpret_cast<const byte *>(m) + off)->rnext)
         {
            const page *pg = reinterpret_cast<const page *>(reinterpret_cast<const byte *>(m) + off);
            if (!queued_in_walk || !ok_page_address(m, pg) || !map_has(m, frame_index(m, pg)) || pg->front != k ||
                !page_queued(pg))
               return problems + 1;
            queued_in_walk--;
         }
   }
   if (queued_in_walk)
      problems++;
#endif
   if (spares_in_walk)
      problems++;
   return problems;
}

}} // namespace mulle::detail
