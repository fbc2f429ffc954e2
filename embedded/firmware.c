/* A firmware that uses the C API over a static buffer: no OS, no stdio, no system heap.
   Built for Cortex-M0+, Cortex-M4F and rv32imac by `make firmware`; it must link with
   -nostdlib needing nothing but memcpy, memmove and memset. FULL_API=1 calls every
   function of the C API, FULL_API=0 only what a small firmware uses (size table). */
#include "mulle_dlmalloc.hpp"

#ifndef FULL_API
#define FULL_API 1
#endif

static unsigned char heap_memory[16 * 1024];
volatile unsigned     firmware_result;

static void on_error(mspace ms, mspace_error_t error, void *p, void *ctx)
{
   (void) ms; (void) p;
   *(unsigned *) ctx += (unsigned) error;
}

static void count_chunks(void *start, void *end, size_t used, void *arg)
{
   (void) start; (void) end; (void) used;
   ++*(unsigned *) arg;
}

int main(void)
{
   unsigned errors = 0;
   mspace   ms     = mspace_create_with_base(heap_memory, sizeof(heap_memory));
   char    *a, *b, *c;

   if (!ms)
      return 1;
   a = (char *) mspace_malloc(ms, 100);
   b = (char *) mspace_calloc(ms, 10, 10);
   a = (char *) mspace_realloc(ms, a, 300);
   mspace_free(ms, b);
#if FULL_API
   {
      mspace_stats_t stats;
      unsigned       chunks = 0;

      mspace_set_error_handler(ms, on_error, &errors);
      c = (char *) mspace_memalign(ms, 64, 50);
      c = (char *) mspace_realloc_in_place(ms, c, 40);
      mspace_free(ms, c);
      mspace_free(ms, c);   /* a double free, reported to on_error */
      mspace_get_stats(ms, &stats);
      mspace_inspect_all(ms, count_chunks, &chunks);
      mspace_malloc_stats(ms);
      errors += (unsigned) mspace_check(ms) + chunks + (unsigned) mspace_usable_size(a) +
                (unsigned) mspace_footprint(ms) + (unsigned) mspace_max_footprint(ms) +
                (unsigned) mspace_trim(ms, 0) + (unsigned) mspace_is_heap_object(ms, a) +
                (unsigned) mspace_max_request(ms) + (unsigned) stats.largest_free +
                (unsigned) *mspace_error_string(MSPACE_ERROR_DOUBLE_FREE);
      mspace_set_root(ms, a);
      errors += (unsigned) mspace_offset_of(ms, mspace_root(ms)) +
                (unsigned) (mspace_pointer_at(ms, 64) != NULL);
      if (mspace_detach(ms) == 0)   /* a heap kept in memory that survives a reset */
      {
         errors += (unsigned) mspace_attach_error(heap_memory, sizeof(heap_memory));
         ms = mspace_attach(heap_memory, sizeof(heap_memory));
         if (!ms)
            return 2;
      }
      mspace_reset(ms);
      (void) mspace_create(4096);   /* NULL without an OS */
      mspace_report_error(ms, MSPACE_ERROR_CORRUPTION, a);
   }
#else
   (void) on_error;
   (void) count_chunks;
   (void) c;
#endif
   firmware_result = errors;
   mspace_free(ms, a);
   return mspace_destroy(ms);
}

/* No crt0: the entry point calls main and stops. */
void firmware_entry(void)
{
   firmware_result = (unsigned) main();
   for (;;)
      ;
}
