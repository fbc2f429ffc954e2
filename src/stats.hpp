/* ==== statistics and walking ==============================================================

   Nothing is counted on the hot paths: statistics come from one walk over the chunks, so
   they are exact by construction and cost O(number of chunks) when asked for; they change
   nothing. A page of the tier counts its free slots as free bytes (not as free blocks:
   those are the free chunks), its slots in use as blocks, and its header and tail as
   in use; inspect_all shows each of its slots. A front's spare (an empty page a locked
   mspace keeps, tier.hpp) and the held page (one an unlocked mspace keeps) are free bytes
   whole, and count for largest_free as the free chunk they make with the free memory
   beside them (the top too): a malloc that needs them gets them back. The held page and
   the free chunk before it (its lead, tier.hpp), where the top follows, count as the top.
   ========================================================================================== */

namespace mulle { namespace detail {

/* The chunks below the top, in address order: for (c = first; c < top; c = next). */
MULLE_DLMALLOC_NOASAN inline chunk *first_chunk(mstate *m) { return reinterpret_cast<chunk *>(m->least.get()); }

/* Whether a heap may hold empty pages that a call gives back where memory is wanted: the
   fronts' spares, the held page. */
#ifdef MULLE_DLMALLOC_HAS_FRONTS
static const bool IDLE_PAGES = true;
#else
static const bool IDLE_PAGES = HOLDS;
#endif

MULLE_DLMALLOC_NOASAN inline void get_stats(mstate *m, mspace_stats_t *out)
{
   fill_bytes(out, 0, sizeof(*out));
   out->capacity      = m->capacity;
   out->footprint     = footprint_of(m);
   out->max_footprint = m->max_footprint;
   out->bookkeeping   = bookkeeping_of(m);
   out->top_bytes     = m->top_size;
   out->free_bytes    = m->top_size;

   size_t largest_chunk = 0, largest_slot = 0;
   chunk *run      = NULL;   /* where the run of free chunks and empty pages that c ends began */
   size_t run_size = 0, run_chunks = 0;   /* its bytes, and the free chunks among them */
   for (chunk *c = first_chunk(m); c != m->top; c = next_chunk(c))
   {
      size_t s = chunk_size(c);
      uint64_t mask[BITMAP_WORDS];   /* a page's slots freed by other threads, not yet
                                        collected: free */
      size_t   remote = TIER && chunk_is_page(c) ? remote_slots(m, static_cast<page *>(mem_from_chunk(c)), mask) : 0;
      if (IDLE_PAGES)
      {
         bool idle = chunk_is_page(c) ? static_cast<page *>(mem_from_chunk(c))->used == remote : !chunk_is_live(c);
         run_chunks = idle ? (run ? run_chunks : 0) + !chunk_is_page(c) : 0;
         run_size   = idle ? (run ? run_size : 0) + s : 0;
         run        = idle ? (run ? run : c) : NULL;
      }
      if (TIER && chunk_is_page(c) && static_cast<page *>(mem_from_chunk(c))->used == remote)
      {
         out->free_bytes += s;   /* a front's spare or the held page: free memory a call */
         if (run_size > largest_chunk)   /* gives back where it is wanted, merging with */
            largest_chunk = run_size;    /* the free memory beside it */
      }
      else if (TIER && chunk_is_page(c))
      {
         page  *pg       = static_cast<page *>(mem_from_chunk(c));
         size_t free_now = static_cast<size_t>(pg->count - pg->used + remote) * pg->size;
         out->in_use_bytes += s - free_now;
         out->free_bytes   += free_now;
         out->allocated_blocks += pg->used - remote;
         if (free_now && pg->size > largest_slot)
            largest_slot = pg->size;
      }
      else if (chunk_is_live(c))
      {
         out->in_use_bytes += s;
         out->allocated_blocks++;
      }
      else
      {
         out->free_bytes += s;
         out->free_blocks++;
         if ((IDLE_PAGES ? run_size : s) > largest_chunk)   /* with the empty pages before it */
            largest_chunk = IDLE_PAGES ? run_size : s;
         if (s >= PAGE_BYTES + sizeof(tree_chunk))   /* may hold a whole page past its links */
            out->purged_bytes += os_absent(m, as_bytes(c) + sizeof(tree_chunk), as_bytes(c) + s);
      }
   }
   out->purged_bytes += os_absent(m, as_bytes(m->top) + sizeof(tree_chunk), top_end(m));
   if (HOLDS && run)
   {
      /* the held page and the free chunk before it (its lead) are the top once it goes
         back, which happens where anything asks for them: they count as the top (a heap
         whose blocks were all freed is all top, as in Lea's order) */
      const page *held  = held_page(m);
      chunk      *at    = held ? chunk_from_mem(const_cast<page *>(held)) : NULL;
      if (held && keeps_little_back(m, held) && (run == at || next_chunk(run) == at) && next_chunk(at) == m->top)
      {
         out->top_bytes += run_size;
         out->free_blocks -= run_chunks;
      }
   }

   /* a free chunk of size s serves n = s - overhead; the top, grown to chunk_end, serves
      as much as leaves it MIN_CHUNK */
   size_t top_room  = static_cast<size_t>(m->chunk_end - as_bytes(IDLE_PAGES && run ? run : m->top.get()));
   size_t from_top  = top_room >= MIN_CHUNK + MIN_CHUNK ? usable_of_size(top_room - MIN_CHUNK) : 0;
   size_t from_free = largest_chunk ? usable_of_size(largest_chunk) : 0;
   if (largest_slot > from_free)
      from_free = largest_slot;
   out->largest_free = from_top > from_free ? from_top : from_free;
}

MULLE_DLMALLOC_NOASAN inline void inspect_all(mstate *m, void (*fn)(void *, void *, size_t, void *), void *arg)
{
   for (chunk *c = first_chunk(m); c != m->top; c = next_chunk(c))
   {
      byte *mem = static_cast<byte *>(mem_from_chunk(c));
      if (TIER && chunk_is_page(c))
      {
         page    *pg = reinterpret_cast<page *>(mem);
         uint64_t remote[BITMAP_WORDS];   /* freed by other threads, not yet collected */
         remote_slots(m, pg, remote);
         for (size_t i = 0; i < pg->count; ++i)
         {
            byte *slot = first_slot(pg) + i * pg->size;
            bool  idle = ((pg->free_bits[i >> 6] | remote[i >> 6]) >> (i & 63)) & 1u;
            fn(slot, slot + pg->size, idle ? 0 : pg->size, arg);
         }
      }
      else if (chunk_is_live(c))
         fn(mem, mem + usable_size_of(c), usable_size_of(c), arg);
      else
         fn(mem, as_bytes(c) + chunk_size(c), 0, arg);
   }
   byte *mem = static_cast<byte *>(mem_from_chunk(m->top));
   fn(mem, top_end(m), 0, arg);
}

MULLE_DLMALLOC_NOASAN inline void print_stats(mstate *m)
{
#ifdef MULLE_DLMALLOC_PRINT_DISCARDS
   (void) m;
#else
   mspace_stats_t s;
   get_stats(m, &s);
   text t;
   t.put("mspace ").put_pointer(m).put(": capacity ").put_size(s.capacity);
   t.put(", footprint ").put_size(s.footprint).put(" (max ").put_size(s.max_footprint).put(")\n");
   MULLE_DLMALLOC_PRINT(t.buf);
   text u;
   u.put("  in use ").put_size(s.in_use_bytes).put(" bytes in ").put_size(s.allocated_blocks);
   u.put(" blocks, free ").put_size(s.free_bytes).put(" bytes in ").put_size(s.free_blocks);
   u.put(" chunks + top ").put_size(s.top_bytes).put(" (").put_size(s.purged_bytes).put(" given back)");
   u.put(", largest request ").put_size(s.largest_free).put("\n");
   MULLE_DLMALLOC_PRINT(u.buf);
#endif
}

}} // namespace mulle::detail
