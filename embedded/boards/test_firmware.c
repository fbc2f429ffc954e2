/* A firmware that tests the allocator on the board it runs on: a heap over a static
   buffer, random malloc, calloc, realloc, memalign and free against a shadow of every live
   block (its size and a pattern that must survive), mspace_check after each round, misuse
   that must reach the error handler and change nothing. It prints its figures and exits
   with 0 when everything held. No OS, no C library: the board's semihosting prints. */
#include "board.h"
#include "mulle_dlmalloc.hpp"

#include <stdint.h>

#define HEAP_BYTES (48u * 1024u)
#define SLOTS      64u
#define ROUNDS     40u
#define OPS        500u

static unsigned char heap_memory[HEAP_BYTES] __attribute__((aligned(8)));

static struct
{
   unsigned char *p;
   size_t         n;
   unsigned char  seed;
} live[SLOTS];

static uint32_t rng = 12345u;
static uint32_t next(void)
{
   rng ^= rng << 13;
   rng ^= rng >> 17;
   rng ^= rng << 5;
   return rng;
}

static unsigned failures, errors_seen;

static void fail(const char *what)
{
   board_print("firmware: FAILED: ");
   board_print(what);
   board_print("\n");
   failures++;
}

static void print_number(const char *label, unsigned long v)
{
   char  buf[24];
   char *s = buf + sizeof buf - 1;
   *s      = 0;
   do
      *--s = (char) ('0' + v % 10);
   while (v /= 10);
   board_print(label);
   board_print(s);
}

static void on_error(mspace ms, mspace_error_t e, void *p, void *ctx)
{
   (void) ms; (void) e; (void) p; (void) ctx;
   errors_seen++;
}

static void fill(unsigned i)
{
   size_t k;
   for (k = 0; k < live[i].n; k++)
      live[i].p[k] = (unsigned char) (live[i].seed + k * 7u);
}

static int intact(unsigned i, size_t n)
{
   size_t k;
   for (k = 0; k < n; k++)
      if (live[i].p[k] != (unsigned char) (live[i].seed + k * 7u))
         return 0;
   return 1;
}

static size_t random_size(void)
{
   uint32_t r = next();
   return (r & 3u) == 0 ? 256u + r % 3000u : 1u + r % 200u;
}

int main(void)
{
   unsigned long ops = 0, nulls = 0;
   unsigned      round, op, i;
   mspace        ms = mspace_create_with_base(heap_memory, sizeof heap_memory);

   if (!ms)
   {
      fail("mspace_create_with_base");
      board_exit(1);
   }
   mspace_set_error_handler(ms, on_error, 0);
   for (round = 0; round < ROUNDS; round++)
   {
      for (op = 0; op < OPS; op++, ops++)
      {
         uint32_t kind = next() % 10u;
         i             = next() % SLOTS;
         if (live[i].p)
         {
            if (!intact(i, live[i].n))
               fail("a live block lost its contents");
            if (kind < 3)
            {
               size_t n = random_size();
               unsigned char *q = (unsigned char *) mspace_realloc(ms, live[i].p, n);
               if (q)
               {
                  live[i].p = q;
                  if (!intact(i, n < live[i].n ? n : live[i].n))
                     fail("realloc lost the contents");
                  live[i].n = n;
                  fill(i);
               }
               else
                  nulls++;
            }
            else
            {
               mspace_free(ms, live[i].p);
               live[i].p = 0;
            }
            continue;
         }
         live[i].n    = random_size();
         live[i].seed = (unsigned char) next();
         if (kind < 2)
         {
            size_t k;
            live[i].p = (unsigned char *) mspace_calloc(ms, 1, live[i].n);
            for (k = 0; live[i].p && k < live[i].n; k++)
               if (live[i].p[k])
                  fail("calloc gave a byte that is not zero");
         }
         else if (kind < 3)
         {
            size_t a  = (size_t) 8u << (next() % 6u);
            live[i].p = (unsigned char *) mspace_memalign(ms, a, live[i].n);
            if (live[i].p && (uintptr_t) live[i].p % a)
               fail("memalign gave a misaligned block");
         }
         else
            live[i].p = (unsigned char *) mspace_malloc(ms, live[i].n);
         if (live[i].p)
            fill(i);
         else
            nulls++;
      }
      if (mspace_check(ms) != 0)
         fail("mspace_check found a problem");
   }

   /* misuse reaches the handler and changes nothing */
   for (i = 0; i < SLOTS && !live[i].p; i++)
      ;
   if (i < SLOTS)
   {
      unsigned before = errors_seen;
      mspace_free(ms, live[i].p + 1);               /* not the start of a block */
      mspace_free(ms, heap_memory + HEAP_BYTES);    /* not in the heap */
      if (errors_seen != before + 2 || !intact(i, live[i].n) || mspace_check(ms) != 0)
         fail("misuse was not reported, or it changed something");
   }
   for (i = 0; i < SLOTS; i++)
      if (live[i].p)
      {
         if (!intact(i, live[i].n))
            fail("a live block lost its contents");
         mspace_free(ms, live[i].p);
      }
   if (mspace_check(ms) != 0)
      fail("mspace_check after freeing everything");

   print_number("firmware: ", ops);
   print_number(" operations, ", nulls);
   print_number(" NULL results, ", errors_seen);
   board_print(" misuses reported, heap checked after every round\n");
   board_print(failures ? "firmware: FAIL\n" : "firmware: PASS\n");
   mspace_destroy(ms);
   board_exit(failures ? 1 : 0);
   return 0;
}
