/* One heap shared by a parent and its forked children: a MAP_SHARED mapping holds a
   locked mspace; each child allocates a message in it and leaves the pointer in a shared
   table (the mapping sits at the same address in every process); the parent reads the
   messages, frees them, and checks the heap. */
#define _DEFAULT_SOURCE
#include "mulle_dlmalloc.hpp"

#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#define CHILDREN 3
#define CAPACITY (1 << 20)

struct shared_table
{
   char *message[CHILDREN];   /* filled in by the children */
};

int main(void)
{
   void *region = mmap(NULL, CAPACITY, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
   if (region == MAP_FAILED)
      return 1;

   /* the lock lives inside the region, so it works across the processes */
   mspace ms = mspace_create_with_base_flags(region, CAPACITY, MSPACE_LOCKED);
   if (!ms)
      return 1;
   struct shared_table *table = (struct shared_table *) mspace_calloc(ms, 1, sizeof(*table));

   for (int i = 0; i < CHILDREN; ++i)
   {
      if (fork() == 0)
      {
         char *text = (char *) mspace_malloc(ms, 64);
         if (text)
            snprintf(text, 64, "hello from child %d", i);
         table->message[i] = text;
         _exit(text ? 0 : 1);
      }
   }
   for (int i = 0; i < CHILDREN; ++i)
      wait(NULL);

   for (int i = 0; i < CHILDREN; ++i)
   {
      printf("message %d: %s\n", i, table->message[i] ? table->message[i] : "(none)");
      mspace_free(ms, table->message[i]);
   }
   mspace_free(ms, table);

   mspace_stats_t stats;
   mspace_get_stats(ms, &stats);
   printf("blocks left: %zu, heap check: %s\n", stats.allocated_blocks, mspace_check(ms) == 0 ? "ok" : "FAILED");
   mspace_destroy(ms);
   munmap(region, CAPACITY);
   return 0;
}
