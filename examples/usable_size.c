/* usable_size.c - what a request really gets.

   A request of up to 256 bytes is a slot of the small-object tier: a 4 KiB page holds
   slots of one size, a multiple of 16, with no header per slot, so the usable size is the
   request rounded up to 16 (16 at least). A larger request lives in a chunk: the block's
   bytes plus one size word of overhead (8 bytes on 64-bit), rounded up to the alignment
   (16). The usable size is >= the request and the slack may be used. On 64-bit:
       request 0, 1      ->  slot 16, usable 16
       request 24        ->  slot 32, usable 32
       request 100       ->  slot 112, usable 112
       request 1000      ->  chunk 1008, usable 1000 (1000 + 8 is already a multiple of 16)
   The third column is what in_use_bytes grew by: the block's bytes, and for the first
   slot of a size also its page's header and tail (a page's free slots count as free).
   Builds without the tier (checks level 2, no OS) make every block a chunk of at least
   32 bytes. */
#include "mulle_dlmalloc.hpp"

#include <stdint.h>
#include <stdio.h>

int main(void)
{
   static const size_t requests[] = { 0, 1, 24, 100, 1000 };
   mspace              ms;
   mspace_stats_t      before, after;
   void                *p;
   size_t              i;

   ms = mspace_create(256 * 1024);
   if (!ms)
   {
      fprintf(stderr, "mspace_create failed\n");
      return 1;
   }

   printf("alignment: %zu\n", (size_t) MULLE_DLMALLOC_ALIGNMENT);
   printf("request  usable  in use  aligned\n");
   for (i = 0; i < sizeof(requests) / sizeof(requests[0]); i++)
   {
      /* What in_use_bytes grows by: the block and its overhead. */
      mspace_get_stats(ms, &before);
      p = mspace_malloc(ms, requests[i]);
      if (!p)
      {
         fprintf(stderr, "mspace_malloc(%zu) failed\n", requests[i]);
         mspace_destroy(ms);
         return 1;
      }
      mspace_get_stats(ms, &after);

      printf("%7zu  %6zu  %6zu  %s\n",
             requests[i],
             mspace_usable_size(p),
             after.in_use_bytes - before.in_use_bytes,
             (uintptr_t) p % MULLE_DLMALLOC_ALIGNMENT == 0 ? "yes" : "no");
      /* No free here: mspace_destroy below frees every block at once. */
   }

   /* A NULL pointer has no usable bytes. */
   printf("usable size of NULL: %zu\n", mspace_usable_size(NULL));

   if (mspace_check(ms) != 0 || mspace_destroy(ms) != 0)
   {
      fprintf(stderr, "check or destroy failed\n");
      return 1;
   }
   return 0;
}
