/* arena.c - a per-request arena: allocate many small objects, then drop them all at once.

   Each request builds a linked list in the arena and never frees a node. When the request
   is done, mspace_reset frees every block in one step (no walk over the list) and the
   arena is as new for the next request. */
#include "mulle_dlmalloc.hpp"

#include <stdio.h>

struct node
{
   struct node *next;
   int         value;
   char        name[20];
};

static void show(const char *when, mspace arena)
{
   mspace_stats_t s;

   mspace_get_stats(arena, &s);
   printf("  %-18s blocks %4zu  in use %6zu  footprint %6zu\n",
          when, s.allocated_blocks, s.in_use_bytes, s.footprint);
}

/* Builds a list of n nodes in the arena and sums it; -1 if the arena is full. */
static long handle_request(mspace arena, int n)
{
   struct node *head = NULL;
   struct node *p;
   long        sum = 0;
   int         i;

   for (i = 0; i < n; i++)
   {
      p = mspace_malloc(arena, sizeof(*p));
      if (!p)
         return -1;
      p->value = i;
      sprintf(p->name, "item %d", i);
      p->next = head;
      head    = p;
   }
   for (p = head; p; p = p->next)
      sum += p->value;
   return sum;
}

int main(void)
{
   mspace arena;
   int    request;
   long   sum = 0;

   arena = mspace_create(1024 * 1024);
   if (!arena)
   {
      fprintf(stderr, "mspace_create failed\n");
      return 1;
   }

   for (request = 1; request <= 3; request++)
   {
      sum = handle_request(arena, request * 1000);
      if (sum < 0)
         break;
      printf("request %d: %d nodes, sum %ld\n", request, request * 1000, sum);
      show("after the request", arena);

      mspace_reset(arena);           /* every node freed at once */
      show("after mspace_reset", arena);
   }

   /* Destroy frees whatever is left and returns the region to the OS. */
   if (sum < 0 || mspace_check(arena) != 0 || mspace_destroy(arena) != 0)
   {
      fprintf(stderr, "arena full, or check or destroy failed\n");
      return 1;
   }
   return 0;
}
