/* calloc.c - zeroed arrays, and the overflow check on count * size.

   mspace_calloc(ms, count, size) returns count * size zeroed bytes, even when the memory
   was used before. If count * size does not fit in a size_t it returns NULL rather than
   a block that is too small, and the mspace stays usable. */
#include "mulle_dlmalloc.hpp"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

static int all_zero(const double *a, size_t n)
{
   size_t i;

   for (i = 0; i < n; i++)
      if (a[i] != 0.0)
         return 0;
   return 1;
}

int main(void)
{
   mspace        ms;
   unsigned char *dirty;
   double        *samples;
   void          *huge;

   ms = mspace_create(1024 * 1024);
   if (!ms)
      return 1;

   /* Dirty some memory and give it back, so that the next block reuses it. */
   dirty = mspace_malloc(ms, 1024);
   if (!dirty)
      return 1;
   memset(dirty, 0xAB, 1024);
   mspace_free(ms, dirty);

   /* 100 doubles, all zero. */
   samples = mspace_calloc(ms, 100, sizeof(double));
   if (!samples)
   {
      fprintf(stderr, "mspace_calloc failed\n");
      return 1;
   }
   printf("calloc(100, %zu): usable %zu, all zero: %s\n",
          sizeof(double), mspace_usable_size(samples), all_zero(samples, 100) ? "yes" : "no");

   /* count * size overflows: NULL, nothing allocated. */
   huge = mspace_calloc(ms, SIZE_MAX / 2 + 1, 2);
   printf("calloc(SIZE_MAX / 2 + 1, 2): %s\n", huge ? "a block?!" : "NULL (overflow)");

   /* No overflow, but more than the region holds: NULL as well. */
   huge = mspace_calloc(ms, 1024, 1024);
   printf("calloc(1024, 1024) in a 1 MiB mspace: %s\n", huge ? "a block?!" : "NULL (too big)");

   /* The mspace is unaffected by the failures. */
   samples[99] = 1.5;
   printf("samples[99] = %.1f, still usable\n", samples[99]);
   mspace_free(ms, samples);

   if (mspace_check(ms) != 0 || mspace_destroy(ms) != 0)
   {
      fprintf(stderr, "check or destroy failed\n");
      return 1;
   }
   return 0;
}
