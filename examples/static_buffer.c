/* static_buffer.c - embedded style: a heap in a static array, errors recorded, no OS calls.

   mspace_create_with_base builds the mspace inside memory you give it and never calls the
   OS (a build without any OS layer defines MULLE_DLMALLOC_NO_OS in the implementation TU).
   The default error handler prints one line and aborts; on a device you may rather record
   the error and go on. When a handler returns, the bad call has no effect. */
#include "mulle_dlmalloc.hpp"

#include <stdint.h>
#include <stdio.h>

static unsigned char heap[64 * 1024];

struct error_log
{
   int            count;
   mspace_error_t last;
   void           *pointer;
};

static void record_error(mspace ms, mspace_error_t error, void *p, void *ctx)
{
   struct error_log *log = ctx;

   (void) ms;
   log->count++;
   log->last    = error;
   log->pointer = p;
}

int main(void)
{
   struct error_log log = { 0, MSPACE_ERROR_NONE, NULL };
   mspace           ms;
   char             *a, *b;
   uintptr_t        a_address;
   int              local;

   ms = mspace_create_with_base(heap, sizeof(heap));
   if (!ms)
      return 1;
   mspace_set_error_handler(ms, record_error, &log);

   a = mspace_malloc(ms, 100);
   b = mspace_malloc(ms, 100);
   if (!a || !b)
      return 1;

   /* A double free: reported, and ignored. */
   a_address = (uintptr_t) a;
   mspace_free(ms, a);
   mspace_free(ms, a);
   printf("errors: %d, last: %s, pointer is a: %s\n",
          log.count, mspace_error_string(log.last), (uintptr_t) log.pointer == a_address ? "yes" : "no");

   /* A pointer that never came from this mspace: reported, and ignored. */
   mspace_free(ms, &local);
   printf("errors: %d, last: %s\n", log.count, mspace_error_string(log.last));

   /* The heap is intact: b still works and the check finds nothing wrong. */
   b[0] = 'x';
   mspace_free(ms, b);
   printf("heap check: %s\n", mspace_check(ms) == 0 ? "ok" : "broken");

   {
      mspace_stats_t s;

      mspace_get_stats(ms, &s);
      printf("capacity %zu, footprint %zu, bookkeeping %zu, largest free %zu\n",
             s.capacity, s.footprint, s.bookkeeping, s.largest_free);
   }

   /* Destroy leaves the buffer to its owner: it can hold a new mspace right away. */
   if (mspace_destroy(ms) != 0)
      return 1;
   ms = mspace_create_with_base(heap, sizeof(heap));
   printf("buffer reused: %s\n", ms ? "yes" : "no");
   return ms && mspace_destroy(ms) == 0 ? 0 : 1;
}
