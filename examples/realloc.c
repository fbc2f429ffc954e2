/* realloc.c - growing a buffer: in place when the next chunk is free, else a move.

   mspace_realloc grows a block in place when the chunk after it is free (or is the top,
   the unused end of the heap), and otherwise moves it, copying the contents.
   mspace_realloc_in_place never moves: it returns the same pointer or NULL.
   Either way, a failure returns NULL and leaves the old block untouched and valid.
   (A block of up to 256 bytes is a slot of the small-object tier instead: it grows in
   place only within its slot, and moves beyond it. The blocks here are chunks.) */
#include "mulle_dlmalloc.hpp"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* Resizes *buf to n bytes and says whether it moved; 0 on failure, *buf still valid. */
static int grow(mspace ms, char **buf, size_t n)
{
   uintptr_t old = (uintptr_t) *buf;  /* an integer: the old pointer may be freed below */
   char      *p  = mspace_realloc(ms, *buf, n);

   if (!p)
   {
      printf("realloc to %zu: NULL, the old block is kept\n", n);
      return 0;
   }
   printf("realloc to %zu: grew in place: %s\n", n, (uintptr_t) p == old ? "yes" : "no");
   *buf = p;
   return 1;
}

int main(void)
{
   mspace ms;
   char   *buf;
   char   *guard;

   ms = mspace_create(1024 * 1024);
   if (!ms)
      return 1;
   buf = mspace_malloc(ms, 300);
   if (!buf)
      return 1;
   strcpy(buf, "keep me");

   /* 1. buf is the last block, followed by the top: it grows into it. */
   if (!grow(ms, &buf, 1000))
      return 1;

   /* 2. Now a block sits right behind buf, so buf cannot grow in place any more. */
   guard = mspace_malloc(ms, 300);
   if (!guard)
      return 1;
   if (!mspace_realloc_in_place(ms, buf, 4000))
      printf("realloc_in_place to 4000: NULL, the block is unchanged\n");

   /* 3. mspace_realloc moves it instead and copies the contents. */
   if (!grow(ms, &buf, 4000))
      return 1;
   printf("contents after the move: \"%s\"\n", buf);

   /* 4. Shrinking never needs to move. */
   printf("realloc_in_place to 200: %s\n",
          mspace_realloc_in_place(ms, buf, 200) == buf ? "same pointer" : "NULL");

   /* 5. More than the region holds: NULL, and buf is still ours. */
   grow(ms, &buf, 2 * 1024 * 1024);
   printf("contents after the failure: \"%s\"\n", buf);

   mspace_free(ms, guard);
   mspace_free(ms, buf);
   if (mspace_check(ms) != 0 || mspace_destroy(ms) != 0)
   {
      fprintf(stderr, "check or destroy failed\n");
      return 1;
   }
   return 0;
}
