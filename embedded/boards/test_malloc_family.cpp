// The malloc family on a firmware (MULLE_DLMALLOC_MALLOC=1 without an OS, over newlib): the
// C library's printf and strdup and C++'s new allocate from the default mspace, over a
// static array; nothing else gives memory. Prints its figures through newlib's printf
// (semihosting) and exits with its verdict.
#include "board.h"
#include "mulle_dlmalloc.hpp"

#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern "C" void initialise_monitor_handles(void);   // newlib's semihosting (librdimon)

static unsigned failures;

static void check(bool ok, const char *what)
{
   if (!ok)
   {
      board_print("firmware malloc: FAILED: ");
      board_print(what);
      board_print("\n");
      failures++;
   }
}

static bool ours(const void *p) { return mspace_is_heap_object(mspace_default(), p) != 0; }

struct node
{
   node *next;
   int   value;
};

int main()
{
   initialise_monitor_handles();
   mspace ms = mspace_default();
   check(ms != NULL, "the default mspace is made");

   printf("firmware malloc: printf works, %d + %d = %d\n", 20, 22, 20 + 22);   // its buffer: ours
   mspace_stats_t after_printf;
   mspace_get_stats(ms, &after_printf);
   check(after_printf.allocated_blocks > 0, "newlib's stdio took its buffer from the mspace");

   char *s = strdup("a string from strdup");
   check(s && ours(s) && strcmp(s, "a string from strdup") == 0, "strdup");

   node *list = NULL;
   for (int i = 0; i < 200; i++)
   {
      node *n = new node;
      check(ours(n), "new gives a block of the mspace");
      n->next = list;
      n->value = i;
      list = n;
   }
   int *array = new int[300]();
   check(ours(array) && array[299] == 0, "new[] (value-initialised)");

   void *c = calloc(100, 4), *a = memalign(64, 200), *r = realloc(NULL, 10);
   check(c && a && r && ours(c) && ours(a) && ours(r) && (uintptr_t) a % 64 == 0, "calloc, memalign, realloc");
   r = realloc(r, 5000);
   check(r && ours(r), "realloc grows");

   int sum = 0;
   while (list)
   {
      node *n = list;
      list = n->next;
      sum += n->value;
      delete n;
   }
   delete[] array;
   free(s);
   free(c);
   free(a);
   free(r);
   check(sum == 199 * 200 / 2, "the list kept its values");
   check(mspace_check(ms) == 0, "mspace_check");

   mspace_stats_t st;
   mspace_get_stats(ms, &st);
   printf("firmware malloc: %d blocks live at the end (stdio's), footprint %d of %d bytes\n", (int) st.allocated_blocks,
          (int) st.footprint, (int) st.capacity);
   printf(failures ? "firmware malloc: FAIL\n" : "firmware malloc: PASS\n");
   fflush(stdout);
   board_exit(failures ? 1 : 0);
   return 0;
}
