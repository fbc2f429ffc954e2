/* basic.c - the life of one mspace: create, allocate, use, free, check, destroy.

   A C file includes the header plainly; the implementation lives in one C++ file
   (mulle_dlmalloc_impl.cpp) that the program is linked with. */
#include "mulle_dlmalloc.hpp"

#include <stdio.h>
#include <string.h>

int main(void)
{
   mspace         ms;
   char           *text;
   mspace_stats_t stats;

   /* Reserve a region of 1 MiB from the OS. The mspace never grows past it, and pages are
      committed only as the heap reaches them. NULL if the OS refuses. */
   ms = mspace_create(1024 * 1024);
   if (!ms)
   {
      fprintf(stderr, "mspace_create failed\n");
      return 1;
   }

   /* Blocks come from this mspace only; NULL means the region cannot hold the request. */
   text = mspace_malloc(ms, 32);
   if (!text)
   {
      fprintf(stderr, "mspace_malloc failed\n");
      mspace_destroy(ms);
      return 1;
   }
   strcpy(text, "hello from an mspace");
   printf("%s\n", text);
   printf("asked for 32 bytes, usable: %zu\n", mspace_usable_size(text));
   printf("block is in this mspace: %s\n", mspace_is_heap_object(ms, text) ? "yes" : "no");

   mspace_get_stats(ms, &stats);
   printf("live blocks: %zu, footprint: %zu bytes of %zu\n",
          stats.allocated_blocks, stats.footprint, stats.capacity);

   /* Free the block to the mspace it came from. */
   mspace_free(ms, text);

   mspace_get_stats(ms, &stats);
   printf("live blocks after free: %zu\n", stats.allocated_blocks);

   /* mspace_check walks the whole heap; 0 means every invariant holds. */
   if (mspace_check(ms) != 0)
   {
      fprintf(stderr, "heap is inconsistent\n");
      return 1;
   }
   printf("heap check: ok\n");

   /* Destroying an mspace frees all of its blocks at once and unmaps the region. */
   if (mspace_destroy(ms) != 0)
   {
      fprintf(stderr, "mspace_destroy failed\n");
      return 1;
   }
   printf("destroyed\n");
   return 0;
}
