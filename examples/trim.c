/* trim.c - the footprint, and giving memory back with mspace_trim.

   The footprint is the part of the region the mspace uses: bookkeeping, every chunk, and
   the top chunk (the free space at the end). It grows in steps of 64 KiB as blocks are
   allocated. Freeing blocks does not shrink it by itself unless the free leaves more than
   2 MiB (the trim threshold) at the top; mspace_trim(ms, pad) releases the free top beyond
   pad bytes now, and returns 1 if it released anything. For an mspace_create region the
   released pages go back to the OS. */
#include "mulle_dlmalloc.hpp"

#include <stdio.h>

static void show(const char *when, mspace ms)
{
   mspace_stats_t s;

   mspace_get_stats(ms, &s);
   printf("%-28s footprint %8zu  top %8zu  max footprint %8zu\n",
          when, s.footprint, s.top_bytes, s.max_footprint);
}

int main(void)
{
   mspace ms;
   void   *blocks[6];
   void   *big;
   int    i;

   ms = mspace_create(16 * 1024 * 1024);
   if (!ms)
      return 1;
   show("new mspace", ms);

   /* 1.5 MiB in six blocks, then all freed: they coalesce into the top, but the top stays
      below the trim threshold, so the footprint stays. */
   for (i = 0; i < 6; i++)
      if (!(blocks[i] = mspace_malloc(ms, 256 * 1024)))
         return 1;
   show("after 6 x 256 KiB", ms);
   for (i = 0; i < 6; i++)
      mspace_free(ms, blocks[i]);
   show("after freeing them", ms);

   /* Keep 512 KiB of top for what comes next, release the rest. */
   printf("mspace_trim(ms, 512 KiB) returned %d\n", mspace_trim(ms, 512 * 1024));
   show("after trim with pad", ms);

   /* Release all of the free top. A second call finds nothing left to release. */
   printf("mspace_trim(ms, 0) returned %d\n", mspace_trim(ms, 0));
   show("after trim", ms);
   printf("mspace_trim(ms, 0) again returned %d\n", mspace_trim(ms, 0));

   /* Freeing a 3 MiB block leaves more than 2 MiB free at the top: it trims by itself. */
   big = mspace_malloc(ms, 3 * 1024 * 1024);
   if (!big)
      return 1;
   show("after a 3 MiB block", ms);
   mspace_free(ms, big);
   show("after freeing it (auto-trim)", ms);

   if (mspace_check(ms) != 0 || mspace_destroy(ms) != 0)
   {
      fprintf(stderr, "check or destroy failed\n");
      return 1;
   }
   return 0;
}
