/* One deliberate user bug per BUG value, for ASan and Valgrind to find inside an mspace:
     0 none (must run clean)      1 use after free      2 overflow by one
     3 double free                4 read of uninitialised memory from malloc
     5 leak (valgrind)
   Built and run by run.sh; each bug must be reported, BUG=0 must be clean. */
#include "mulle_dlmalloc.hpp"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void *application_state;   /* a reachable malloc block: memcheck skips its leak search in a
                              process whose malloc heap is empty */

#ifndef BUG
#define BUG 0
#endif

int main(void)
{
   mspace ms = mspace_create(1 << 20);
   char  *a, *b;
   int    sum = 0;

   if (!ms)
      return 2;
   application_state = malloc(16);
   a = (char *) mspace_malloc(ms, 100);
   b = (char *) mspace_malloc(ms, 100);
   memset(a, 1, 100);
   memset(b, 2, 100);

#if BUG == 1
   mspace_free(ms, a);
   sum += a[10];                 /* use after free */
#elif BUG == 2
   a[100] = 7;                   /* one past the end */
#elif BUG == 3
   mspace_free(ms, b);
   mspace_free(ms, b);           /* the default handler reports and aborts */
#elif BUG == 4
   {
      char *u = (char *) mspace_malloc(ms, 64);
      if (u[5] == 42)            /* uninitialised */
         sum += 3;
      mspace_free(ms, u);
   }
#elif BUG == 5
   b = NULL;                     /* the block becomes unreachable ... */
   printf("leaked\n");
   return 0;                     /* ... and the mspace is never destroyed */
#endif

   sum += a[99] + b[0];
   mspace_free(ms, a);
   if (BUG != 3)
      mspace_free(ms, b);
   printf("sum %d, check %d\n", sum, mspace_check(ms));
   free(application_state);
   return mspace_destroy(ms);
}
