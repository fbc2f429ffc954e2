/* The C face: every function of the C API called from a C99 translation unit, linked
   against the one C++ translation unit that holds the implementation. */
#define _POSIX_C_SOURCE 200809L   /* dup, dup2, fileno: to capture mspace_malloc_stats */

#include "mulle_dlmalloc.hpp"

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static int passed;
static int failed;

/* At checks level 2 a canary word follows every block. */
#if defined(MULLE_DLMALLOC_CHECKS) && MULLE_DLMALLOC_CHECKS >= 2
#define CANARY sizeof(size_t)
#else
#define CANARY 0
#endif

#define CHECK(cond)                                                                     \
   do {                                                                                 \
      if (cond)                                                                         \
         passed++;                                                                      \
      else                                                                              \
      {                                                                                 \
         failed++;                                                                      \
         fprintf(stderr, "%s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #cond);       \
      }                                                                                 \
   } while (0)

/* Under AddressSanitizer mspace_usable_size reports the bytes ASan lets the user touch,
   the size asked for; built for memcheck (MULLE_DLMALLOC_VALGRIND) it may (see
   tests/test_helpers.h). */
#if defined(__SANITIZE_ADDRESS__)
#  define TEST_ASAN 1
#elif defined(__has_feature)
#  if __has_feature(address_sanitizer)
#    define TEST_ASAN 1
#  endif
#endif
#ifndef TEST_ASAN
#  define TEST_ASAN 0
#endif
#if defined(MULLE_DLMALLOC_VALGRIND) && MULLE_DLMALLOC_VALGRIND
#  define TEST_VALGRIND 1
#else
#  define TEST_VALGRIND 0
#endif

#define KIB ((size_t) 1024)
#define MIB ((size_t) 1024 * 1024)
#define ALIGN (2 * sizeof(void *))

struct error_log
{
   int            count;
   mspace_error_t last;
   void          *last_p;
   mspace         last_ms;
};

static void record_error(mspace ms, mspace_error_t error, void *p, void *ctx)
{
   struct error_log *log = (struct error_log *) ctx;
   log->count++;
   log->last    = error;
   log->last_p  = p;
   log->last_ms = ms;
}

struct walk
{
   size_t used_chunks;
   size_t free_chunks;
   size_t used_bytes;
   void  *first_used;
   int    ascending;
   char  *last_end;
};

static void count_chunk(void *start, void *end, size_t used, void *arg)
{
   struct walk *w = (struct walk *) arg;
   if (w->last_end && (char *) start < w->last_end)
      w->ascending = 0;
   w->last_end = (char *) end;
   if (used)
   {
      if (!w->first_used)
         w->first_used = start;
      w->used_chunks++;
      w->used_bytes += used;
   }
   else
      w->free_chunks++;
}

static int all_bytes(const void *p, size_t n, unsigned char value)
{
   const unsigned char *b = (const unsigned char *) p;
   size_t i;
   for (i = 0; i < n; i++)
      if (b[i] != value)
         return 0;
   return 1;
}

static int is_aligned(const void *p, size_t a) { return (uintptr_t) p % a == 0; }

/* Whether the implementation serves small requests from the pages of its small-object tier
   (a block of 1 byte takes a 4 KiB page), which a C file cannot see in the macros. */
static int has_tier(void)
{
   mspace_stats_t s;
   mspace t = mspace_create(1024 * 1024);
   void  *x = mspace_malloc(t, 1);
   mspace_get_stats(t, &s);
   mspace_free(t, x);
   mspace_destroy(t);
   return s.in_use_bytes + s.free_bytes - s.top_bytes >= 4096;   /* the page and its free slots */
}

static void test_os_mspace(void)
{
   mspace ms = mspace_create(8 * MIB);
   mspace_stats_t s;
   void *a, *b, *c, *z, *m, *r;
   size_t fp;

   CHECK(ms != NULL);
   if (!ms)
      return;

   /* malloc and usable_size */
   a = mspace_malloc(ms, 100);
   CHECK(a != NULL);
   CHECK(is_aligned(a, ALIGN));
   CHECK(mspace_usable_size(a) >= 100);
   CHECK(mspace_usable_size(NULL) == 0);
   if (TEST_ASAN || CANARY)   /* the request: under ASan, and at level 2 (its canary records it) */
      CHECK(mspace_usable_size(a) == 100);
   else if (sizeof(size_t) == 8)
      CHECK(mspace_usable_size(a) == (has_tier() ? 112 : 104) || (TEST_VALGRIND && mspace_usable_size(a) == 100));
   memset(a, 0x11, 100);
   CHECK(mspace_malloc(ms, (size_t) -1) == NULL);

   /* calloc */
   b = mspace_malloc(ms, 1000);
   CHECK(b != NULL);
   memset(b, 0xFF, 1000);
   c = mspace_malloc(ms, 16);   /* keeps b away from the top */
   mspace_free(ms, b);
   z = mspace_calloc(ms, 10, 100);
   CHECK(z == b);
   CHECK(z && all_bytes(z, 1000, 0));
   CHECK(mspace_calloc(ms, (size_t) -1 / 2, 3) == NULL);

   /* memalign */
   m = mspace_memalign(ms, 4096, 300);
   CHECK(m != NULL);
   CHECK(is_aligned(m, 4096));
   CHECK(mspace_memalign(ms, 48, 300) == NULL);

   /* realloc and realloc_in_place */
   r = mspace_realloc(ms, NULL, 50);
   CHECK(r != NULL);
   memset(r, 0x22, 50);
   CHECK(mspace_realloc_in_place(ms, r, 20) == r);
   CHECK(mspace_realloc_in_place(ms, NULL, 20) == NULL);
   r = mspace_realloc(ms, r, 100000);
   CHECK(r != NULL);
   CHECK(r && all_bytes(r, 20, 0x22));
   CHECK(mspace_realloc(ms, r, (size_t) -1) == NULL);
   CHECK(all_bytes(a, 100, 0x11));

   /* stats, footprint, inspection */
   mspace_get_stats(ms, &s);
   CHECK(s.capacity == 8 * MIB);
   CHECK(s.allocated_blocks == 5);
   CHECK(s.in_use_bytes + s.free_bytes + s.bookkeeping == s.footprint);
   CHECK(s.footprint == mspace_footprint(ms));
   CHECK(s.max_footprint == mspace_max_footprint(ms));
   CHECK(s.footprint % (64 * KIB) == 0);
   CHECK(s.top_bytes <= s.free_bytes);
   CHECK(s.largest_free > 7 * MIB);
   CHECK(mspace_max_request(ms) >= s.largest_free);
   CHECK(mspace_max_request(ms) < 8 * MIB);
   CHECK(mspace_max_request(NULL) == 0);
   CHECK(mspace_is_heap_object(ms, a));
   CHECK(!mspace_is_heap_object(ms, &s));
   CHECK(!mspace_is_heap_object(ms, NULL));
   CHECK(mspace_check(ms) == 0);
   {
      struct walk w;
      memset(&w, 0, sizeof w);
      w.ascending = 1;
      mspace_inspect_all(ms, count_chunk, &w);
      CHECK(w.used_chunks == 5);
      CHECK(w.free_chunks >= 1);
      CHECK(w.ascending);
      if (!has_tier())   /* slots have no head; their pages are not reported as chunks */
      {
         CHECK(w.first_used == a);
         CHECK(w.used_bytes + 5 * (sizeof(size_t) + CANARY) == s.in_use_bytes);
      }
   }

   /* free, trim */
   mspace_free(ms, r);
   mspace_free(ms, NULL);
   fp = mspace_footprint(ms);
   CHECK(fp >= 64 * KIB);
   mspace_trim(ms, 0);
   CHECK(mspace_trim(ms, 0) == 0);
   CHECK(mspace_footprint(ms) == 64 * KIB);
   CHECK(mspace_max_footprint(ms) > 100000);
   mspace_free(ms, m);
   mspace_free(ms, z);
   mspace_free(ms, c);
   mspace_free(ms, a);
   mspace_get_stats(ms, &s);
   CHECK(s.allocated_blocks == 0);
   CHECK(s.free_blocks == 0);

   /* reset */
   a = mspace_malloc(ms, 1000);
   b = mspace_malloc(ms, 1000);
   CHECK(a && b);
   mspace_reset(ms);
   mspace_get_stats(ms, &s);
   CHECK(s.allocated_blocks == 0);
   CHECK(s.footprint == 64 * KIB);
   CHECK(mspace_malloc(ms, 1000) == a);
   CHECK(mspace_check(ms) == 0);

   CHECK(mspace_destroy(ms) == 0);
}

static void test_errors(void)
{
   mspace ms = mspace_create(1 * MIB);
   struct error_log log;
   void *a, *b;
   int on_stack = 0;

   CHECK(ms != NULL);
   if (!ms)
      return;
   memset(&log, 0, sizeof log);
   mspace_set_error_handler(ms, record_error, &log);

   a = mspace_malloc(ms, 100);
   b = mspace_malloc(ms, 100);
   CHECK(a && b);
   memset(a, 0x33, 100);
   mspace_free(ms, b);
   mspace_free(ms, b);
   CHECK(log.count == 1);
   CHECK(log.last == MSPACE_ERROR_DOUBLE_FREE);
   CHECK(log.last_p == b);
   CHECK(log.last_ms == ms);

   mspace_free(ms, &on_stack);
   CHECK(log.count == 2);
   CHECK(log.last == MSPACE_ERROR_INVALID_POINTER);
   CHECK(log.last_p == (void *) &on_stack);

   CHECK(mspace_realloc(ms, (char *) a + 1, 10) == NULL);
   CHECK(log.count == 3);
   CHECK(log.last == MSPACE_ERROR_INVALID_POINTER);
   CHECK(all_bytes(a, 100, 0x33));
   CHECK(mspace_check(ms) == 0);

   CHECK(strstr(mspace_error_string(MSPACE_ERROR_INVALID_POINTER), "invalid pointer") != NULL);
   CHECK(strstr(mspace_error_string(MSPACE_ERROR_DOUBLE_FREE), "double free") != NULL);
   CHECK(strstr(mspace_error_string(MSPACE_ERROR_CORRUPTION), "corruption") != NULL);
   CHECK(mspace_error_string(MSPACE_ERROR_NONE) != NULL);
   CHECK(strstr(mspace_error_string(MSPACE_ERROR_OUT_OF_MEMORY), "out of memory") != NULL);
   CHECK(mspace_error_string((mspace_error_t) 1234) != NULL);   /* not an error we know */

   mspace_report_error(ms, MSPACE_ERROR_CORRUPTION, a);
   CHECK(log.count == 4);
   CHECK(log.last == MSPACE_ERROR_CORRUPTION);
   CHECK(log.last_p == a);
   CHECK(all_bytes(a, 100, 0x33));
   CHECK(mspace_check(ms) == 0);

   mspace_set_error_handler(ms, NULL, NULL);   /* the default again; not triggered here */
   mspace_free(ms, a);
   CHECK(log.count == 4);
   CHECK(mspace_lock(ms) == 0);               /* no lock to take: nothing happens */
   CHECK(mspace_unlock(ms) == 0);
   CHECK(mspace_destroy(ms) == 0);
   CHECK(mspace_destroy(NULL) != 0);
}

/* The process-wide handler, from C: a block freed on a dead handle is reported to it. */
static void test_process_handler(void)
{
   static unsigned char buffer[64 * 1024];
   struct error_log log;
   mspace ms = mspace_create_with_base(buffer, sizeof buffer);
   void *p = ms ? mspace_malloc(ms, 100) : NULL;
   CHECK(p != NULL);
   CHECK(mspace_destroy(ms) == 0);
   memset(&log, 0, sizeof log);
   mspace_set_default_error_handler(record_error, &log);
   mspace_free(ms, p);
   CHECK(log.count == 1);
   CHECK(log.last == MSPACE_ERROR_NOT_AN_MSPACE);
   CHECK(log.last_p == p);
   CHECK(mspace_lock(ms) != 0);
   CHECK(strstr(mspace_error_string(MSPACE_ERROR_REENTRANT), "callback") != NULL);
   mspace_set_default_error_handler(NULL, NULL);
}

static unsigned char buffer[256 * 1024 + 64];

static void test_caller_buffer(void)
{
   mspace ms = mspace_create_with_base(buffer + 3, 256 * KIB);
   mspace_stats_t s;
   void *p;

   CHECK(ms != NULL);
   CHECK(mspace_create_with_base(NULL, 4096) == NULL);
   CHECK(mspace_create_with_base(buffer, 64) == NULL);
   if (!ms)
      return;
   CHECK((unsigned char *) ms >= buffer + 3 && (unsigned char *) ms < buffer + 3 + 256 * KIB);
   p = mspace_malloc(ms, 200 * KIB);
   CHECK(p != NULL);
   CHECK(is_aligned(p, ALIGN));
   CHECK((unsigned char *) p >= buffer + 3);
   CHECK((unsigned char *) p + mspace_usable_size(p) <= buffer + 3 + 256 * KIB);
   CHECK(mspace_malloc(ms, 100 * KIB) == NULL);
   mspace_get_stats(ms, &s);
   CHECK(s.capacity == 256 * KIB);
   CHECK(s.in_use_bytes + s.free_bytes + s.bookkeeping == s.footprint);
   CHECK(mspace_is_heap_object(ms, buffer + 3 + 1000));
   CHECK(!mspace_is_heap_object(ms, buffer + 3 + 256 * KIB));
   mspace_free(ms, p);
   CHECK(mspace_check(ms) == 0);
   CHECK(mspace_destroy(ms) == 0);
   CHECK(mspace_destroy(ms) != 0);   /* the buffer is still there, the mspace is not */
}

/* A heap kept over a detach: attached again, its blocks, offsets and root are found. A
   copy at another address attaches only when the links are relative. */
static void test_attach(void)
{
   struct error_log log = {0, MSPACE_ERROR_NONE, NULL, NULL};
   unsigned char   *region = buffer + 3;
   mspace           ms = mspace_create_with_base(region, 128 * KIB);
   mspace_error_t   moved;
   char            *p, *q;
   size_t           at;

   CHECK(ms != NULL);
   if (!ms)
      return;
   p = mspace_malloc(ms, 40);
   q = mspace_malloc(ms, 3000);
   CHECK(p != NULL && q != NULL);
   if (!p || !q)
      return;
   strcpy(p, "kept");
   mspace_set_root(ms, p);
   at = mspace_offset_of(ms, q);
   CHECK(at == (size_t) ((unsigned char *) q - region));
   CHECK(mspace_pointer_at(ms, at) == q);
   CHECK(mspace_offset_of(ms, NULL) == 0 && mspace_pointer_at(ms, 0) == NULL);
   mspace_free(ms, q);
   CHECK(mspace_detach(ms) == 0);
   CHECK(mspace_detach(ms) != 0);
   CHECK(mspace_attach_error(region, 128 * KIB) == MSPACE_ERROR_NONE);
   CHECK(mspace_attach_error(region, 64 * KIB) == MSPACE_ERROR_TRUNCATED);
   CHECK(mspace_attach_error(buffer + 130 * KIB, 64 * KIB) == MSPACE_ERROR_NOT_AN_MSPACE);

   ms = mspace_attach(region, 128 * KIB);
   CHECK(ms != NULL);
   if (!ms)
      return;
   CHECK(mspace_root(ms) == p && strcmp(p, "kept") == 0);
   mspace_set_error_handler(ms, record_error, &log);
   mspace_free(ms, q);                      /* freed before the detach */
   CHECK(log.count == 1 && log.last == MSPACE_ERROR_DOUBLE_FREE);
   CHECK(mspace_offset_of(ms, buffer) == 0);   /* before the region */
   CHECK(log.count == 2 && log.last == MSPACE_ERROR_INVALID_POINTER);
   CHECK(mspace_check(ms) == 0);
   CHECK(mspace_detach(ms) == 0);

   /* the same bytes 16 bytes further on: the alignment grid is kept; ALIGN / 2 further on, a
      relative heap has moved against the grid */
   memmove(region + ALIGN / 2, region, 128 * KIB);
   CHECK(mspace_attach_error(region + ALIGN / 2, 128 * KIB) == MSPACE_ERROR_MOVED);
   memmove(region + 16, region + ALIGN / 2, 128 * KIB);
   moved = mspace_attach_error(region + 16, 128 * KIB);
#if defined(MULLE_DLMALLOC_RELATIVE) && MULLE_DLMALLOC_RELATIVE   /* make test-relative */
   CHECK(moved == (has_tier() ? MSPACE_ERROR_MOVED : MSPACE_ERROR_NONE));   /* pages: 4 KiB steps */
#else
   CHECK(moved == MSPACE_ERROR_MOVED);
#endif
   CHECK(strcmp(mspace_error_string(MSPACE_ERROR_MOVED), "mspace region moved") == 0);
   if (moved == MSPACE_ERROR_NONE)
   {
      ms = mspace_attach(region + 16, 128 * KIB);
      CHECK(ms != NULL && strcmp((char *) mspace_root(ms), "kept") == 0);
      CHECK(mspace_root(ms) == p + 16);
      CHECK(mspace_check(ms) == 0);
      CHECK(mspace_destroy(ms) == 0);
   }
}

static void test_malloc_stats(void)
{
   mspace ms = mspace_create(1 * MIB);
   FILE *capture = tmpfile();
   int saved;
   long length;

   CHECK(ms != NULL);
   CHECK(capture != NULL);
   if (!ms || !capture)
      return;
   CHECK(mspace_malloc(ms, 1000) != NULL);
   fflush(stderr);
   saved = dup(2);
   dup2(fileno(capture), 2);
   mspace_malloc_stats(ms);
   fflush(stderr);
   dup2(saved, 2);
   close(saved);
   fseek(capture, 0, SEEK_END);
   length = ftell(capture);
   fclose(capture);
   CHECK(length > 0);
   CHECK(mspace_destroy(ms) == 0);
}

/* The creation variants with flags: MSPACE_LOCKED works from C; unknown flags are refused. */
static void test_flags(void)
{
   static unsigned char buffer[64 * 1024];
   mspace a = mspace_create_flags(1 << 20, MSPACE_LOCKED);
   mspace b = mspace_create_with_base_flags(buffer + 1, sizeof(buffer) - 1, MSPACE_LOCKED);
   void  *p, *q;

   CHECK(a != NULL);
   CHECK(b != NULL);
   CHECK(mspace_create_flags(1 << 20, 0x80u) == NULL);
   CHECK(mspace_create_with_base_flags(buffer, sizeof(buffer), 0x80u) == NULL);
   p = mspace_malloc(a, 100);
   q = mspace_calloc(b, 10, 10);
   CHECK(p != NULL && mspace_is_heap_object(a, p));
   CHECK(q != NULL && mspace_is_heap_object(b, q) && all_bytes(q, 100, 0));
   mspace_free(a, p);
   mspace_free(b, q);
   CHECK(mspace_check(a) == 0 && mspace_check(b) == 0);
   CHECK(mspace_destroy(a) == 0);
   CHECK(mspace_destroy(b) == 0);

   /* huge pages: an OS region's hint; a caller's buffer refuses the flag */
   a = mspace_create_flags(1 << 22, MSPACE_HUGE_PAGES);
   CHECK(a != NULL);
   CHECK(mspace_create_with_base_flags(buffer, sizeof(buffer), MSPACE_HUGE_PAGES) == NULL);
   p = mspace_malloc(a, 100000);
   CHECK(p != NULL && mspace_is_heap_object(a, p));
   mspace_free(a, p);
   CHECK(mspace_check(a) == 0);
   CHECK(mspace_destroy(a) == 0);
}

int main(void)
{
   test_flags();
   test_os_mspace();
   test_errors();
   test_process_handler();
   test_caller_buffer();
   test_attach();
   test_malloc_stats();
   printf("c_api: %d passed, %d failed\n", passed, failed);
   return failed != 0;
}
