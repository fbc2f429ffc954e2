/* A persistent heap across processes: each command is a fresh process that maps the file
   (at an address hint given on the command line) and works on the heap in it.

     persist_tool create FILE HINT      a new heap in a new file: records, root, detach
     persist_tool reopen FILE HINT      attach, verify every record, add and free some,
                                        mspace_check, detach
     persist_tool refuse FILE SIZE WHY  mapping SIZE bytes of FILE, attach must refuse
                                        with the error named WHY

   The records are a list linked by offsets from the root block; each holds a payload made
   from its seed. Prints one line per command; exits non-zero on any mismatch. */
#define _DEFAULT_SOURCE
#include "mulle_dlmalloc.hpp"

#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define CAPACITY (4u << 20)

struct root
{
   size_t   head;    /* offset of the newest record, 0 for none */
   size_t   count;
   unsigned runs;    /* processes that reopened the heap */
   unsigned next_seed;
};

struct record
{
   size_t   next;
   unsigned seed;
   unsigned size;
};

static unsigned char pattern(unsigned seed, size_t i)
{
   return (unsigned char) ((seed * 2654435761u) >> 24 ^ (unsigned) i * 31u);
}

static int fail(const char *what)
{
   fprintf(stderr, "persist_tool: %s\n", what);
   return 1;
}

static void *map_file(const char *path, size_t size, void *hint, int create)
{
   int fd = open(path, create ? O_RDWR | O_CREAT | O_TRUNC : O_RDWR, 0600);
   if (fd < 0)
      return NULL;
   if (create && ftruncate(fd, (off_t) size) != 0)
   {
      close(fd);
      return NULL;
   }
   void *p = mmap(hint, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
   close(fd);
   return p == MAP_FAILED ? NULL : p;
}

static void add_records(mspace ms, struct root *root, unsigned n)
{
   for (unsigned i = 0; i < n; ++i)
   {
      unsigned       seed = root->next_seed++;
      unsigned       size = 1 + seed * 7919u % (seed % 10 ? 300u : 6000u);
      struct record *r    = mspace_malloc(ms, sizeof(*r) + size);
      if (!r)
         return;
      r->seed = seed;
      r->size = size;
      for (unsigned k = 0; k < size; ++k)
         ((unsigned char *) (r + 1))[k] = pattern(seed, k);
      r->next    = root->head;
      root->head = mspace_offset_of(ms, r);
      root->count++;
   }
}

/* Verifies every record; frees every k-th one when k is not 0. -1 on a damaged record. */
static long walk_records(mspace ms, struct root *root, unsigned k)
{
   size_t  *link = &root->head;
   long     n    = 0;
   unsigned i    = 0;
   while (*link)
   {
      struct record *r = mspace_pointer_at(ms, *link);
      if (!r || mspace_usable_size(r) < sizeof(*r) + r->size)
         return -1;
      for (unsigned b = 0; b < r->size; ++b)
         if (((unsigned char *) (r + 1))[b] != pattern(r->seed, b))
            return -1;
      n++;
      if (k && i++ % k == 0)
      {
         *link = r->next;
         root->count--;
         mspace_free(ms, r);
      }
      else
         link = &r->next;
   }
   return n;
}

int main(int argc, char **argv)
{
   if (argc < 4)
      return fail("usage: persist_tool create|reopen FILE HINT | refuse FILE SIZE WHY");
   const char *cmd  = argv[1];
   const char *path = argv[2];

   if (!strcmp(cmd, "refuse") && argc == 5)
   {
      size_t size   = (size_t) strtoull(argv[3], NULL, 0);
      void  *region = map_file(path, size, NULL, 0);
      if (!region)
         return fail("cannot map the file");
      mspace_error_t why = mspace_attach_error(region, size);
      if (mspace_attach(region, size) != NULL || strcmp(mspace_error_string(why), argv[4]) != 0)
      {
         fprintf(stderr, "persist_tool: expected \"%s\", got \"%s\"\n", argv[4], mspace_error_string(why));
         return 1;
      }
      printf("refused: %s\n", mspace_error_string(why));
      return 0;
   }

   void *hint   = (void *) (uintptr_t) strtoull(argv[3], NULL, 0);
   int   create = !strcmp(cmd, "create");
   if (!create && strcmp(cmd, "reopen"))
      return fail("unknown command");
   void *region = map_file(path, CAPACITY, hint, create);
   if (!region)
      return fail("cannot map the file");

   mspace       ms;
   struct root *root;
   if (create)
   {
      ms   = mspace_create_with_base(region, CAPACITY);
      root = ms ? mspace_malloc(ms, sizeof(*root)) : NULL;
      if (!root)
         return fail("cannot create the heap");
      memset(root, 0, sizeof(*root));
      mspace_set_root(ms, root);
      add_records(ms, root, 3000);
      if (walk_records(ms, root, 4) != 3000)   /* free chunks of every kind */
         return fail("records damaged while created");
   }
   else
   {
      ms = mspace_attach(region, CAPACITY);
      if (!ms)
      {
         fprintf(stderr, "persist_tool: attach refused: %s\n", mspace_error_string(mspace_attach_error(region, CAPACITY)));
         return 1;
      }
      root = mspace_root(ms);
      if (!root)
         return fail("no root after the restart");
      long before = (long) root->count;
      if (walk_records(ms, root, 0) != before)
         return fail("records damaged after the restart");
      root->runs++;
      add_records(ms, root, 1000);
      if (walk_records(ms, root, 3) != before + 1000)
         return fail("records damaged after new allocations");
   }
   if (mspace_check(ms) != 0)
      return fail("mspace_check found problems");
   printf("%s: %zu records, %u reopens, heap at %s address, root block at offset %zu\n", cmd,
          root->count, root->runs, region == hint ? "the hinted" : "another", mspace_offset_of(ms, root));
   if (mspace_detach(ms) != 0 || msync(region, CAPACITY, MS_SYNC) != 0)
      return fail("detach");
   munmap(region, CAPACITY);
   return 0;
}
