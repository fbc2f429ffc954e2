/* heap_picture.c - a picture of one mspace: mspace_inspect_all draws the heap as an SVG.

   A heap in a caller's buffer of 512 KiB goes through a fragmenting workload (300 KiB of
   blocks of random sizes, half of them freed at random, a few larger ones after), then
   every chunk the walk reports is drawn to scale, in address order, one row per 8 KiB:
   blocks in use (two shades, so that neighbours stay apart), free chunks, the top, the
   capacity past the footprint that the heap never touched, and the bookkeeping and chunk
   headers between them. The stats are the legend. Small blocks are slots of the small-
   object tier: their 4 KiB pages show as rows of narrow blocks.

   Usage: heap_picture [out.svg] - the summary goes to stdout; the picture to out.svg. */
#include "mulle_dlmalloc.hpp"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CAPACITY (512u * 1024u)
#define ROW      8192u   /* bytes drawn in one row */
#define WIDTH    1024u   /* pixels of a row */
#define PX       (ROW / WIDTH)   /* bytes a pixel */
#define ROW_H    10u     /* pixels */
#define TOP_Y    40u     /* room for the title */

enum kind { K_HEADER, K_USED_A, K_USED_B, K_FREE, K_TOP, K_UNTOUCHED, K_KINDS };

static const char *const FILL[K_KINDS] = {"#444444", "#3b6fb6", "#6f9ad6", "#e8a33d", "#9ccc65", "#f4f4f4"};
static const char *const NAME[K_KINDS] = {"bookkeeping, chunk headers", "block in use", "block in use",
                                          "free chunk or slot", "top", "capacity never touched"};

struct walk
{
   unsigned char *base;
   unsigned char  kind[CAPACITY / PX];   /* per pixel: the kind that covers most of it */
   size_t         used_blocks, free_chunks, used_bytes, free_bytes, top_bytes;
   size_t         last_from, last_to;   /* the chunk reported last (the top) */
   int            shade;
};

static void paint(struct walk *w, size_t from, size_t to, enum kind k)
{
   size_t px;
   for (px = (from + PX / 2) / PX; px < (to + PX / 2) / PX && px < CAPACITY / PX; px++)
      w->kind[px] = (unsigned char) k;
}

static void visit(void *start, void *end, size_t used, void *arg)
{
   struct walk *w    = (struct walk *) arg;
   size_t       from = (size_t) ((unsigned char *) start - w->base);
   size_t       to   = (size_t) ((unsigned char *) end - w->base);
   if (used)
   {
      w->used_blocks++;
      w->used_bytes += to - from;
      w->shade = !w->shade;
      paint(w, from, to, w->shade ? K_USED_A : K_USED_B);
   }
   else
   {
      w->free_chunks++;
      w->free_bytes += to - from;
      paint(w, from, to, K_FREE);
   }
   w->last_from = from;
   w->last_to   = to;
}

static uint32_t rng = 2024;
static uint32_t next_random(void)
{
   rng = rng * 1103515245u + 12345u;
   return rng >> 8;
}

/* log-uniform-ish sizes from 16 bytes to 2 KiB */
static size_t random_size(void)
{
   return (size_t) 16 << (next_random() % 8) | (next_random() % 16);
}

static void write_svg(FILE *f, const struct walk *w, const mspace_stats_t *st)
{
   unsigned rows = CAPACITY / ROW, row, x;
   unsigned legend_y = TOP_Y + rows * ROW_H + 20;
   int      k;

   fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%u\" height=\"%u\" font-family=\"sans-serif\" font-size=\"13\">\n",
           WIDTH + 20, legend_y + 120);
   fprintf(f, "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n");
   fprintf(f, "<text x=\"10\" y=\"24\" font-size=\"16\">One mspace of %u KiB after a fragmenting workload: one row per %u KiB, in address order</text>\n",
           CAPACITY / 1024, ROW / 1024);
   for (row = 0; row < rows; row++)
   {
      unsigned y = TOP_Y + row * ROW_H;
      for (x = 0; x < WIDTH;)
      {
         unsigned char kk  = w->kind[row * WIDTH + x];
         unsigned      run = 1;
         while (x + run < WIDTH && w->kind[row * WIDTH + x + run] == kk)
            run++;
         fprintf(f, "<rect x=\"%u\" y=\"%u\" width=\"%u\" height=\"%u\" fill=\"%s\"/>\n", 10 + x, y, run, ROW_H - 1, FILL[kk]);
         x += run;
      }
   }
   for (k = 0; k < K_KINDS; k++)
   {
      unsigned y = legend_y + (unsigned) (k / 2) * 20;
      unsigned x0 = 10 + (unsigned) (k % 2) * 300;
      if (k == K_USED_B)
         continue;   /* the second shade of K_USED_A */
      fprintf(f, "<rect x=\"%u\" y=\"%u\" width=\"14\" height=\"14\" fill=\"%s\" stroke=\"#999\"/>", x0, y, FILL[k]);
      fprintf(f, "<text x=\"%u\" y=\"%u\">%s</text>\n", x0 + 20, y + 12, NAME[k]);
   }
   fprintf(f, "<text x=\"620\" y=\"%u\">capacity %zu, footprint %zu, bookkeeping %zu</text>\n", legend_y + 12,
           st->capacity, st->footprint, st->bookkeeping);
   fprintf(f, "<text x=\"620\" y=\"%u\">in use %zu bytes in %zu blocks</text>\n", legend_y + 32, st->in_use_bytes,
           st->allocated_blocks);
   fprintf(f, "<text x=\"620\" y=\"%u\">free %zu bytes in %zu chunks and the top (%zu)</text>\n", legend_y + 52,
           st->free_bytes, st->free_blocks, st->top_bytes);
   fprintf(f, "<text x=\"620\" y=\"%u\">largest free request %zu</text>\n", legend_y + 72, st->largest_free);
   fprintf(f, "</svg>\n");
}

int main(int argc, char **argv)
{
   static struct walk w;
   static void       *blocks[1200];
   size_t             total = 0;
   unsigned char     *buffer = (unsigned char *) malloc(CAPACITY + 4096);
   mspace_stats_t     st;
   mspace             ms;
   size_t             i, n = 0;

   if (!buffer)
      return 1;
   /* on a 4 KiB boundary, as the tier's pages are: the same picture on every run */
   w.base = buffer + (4096 - (uintptr_t) buffer % 4096) % 4096;
   memset(w.base, 0, CAPACITY);
   ms = mspace_create_with_base(w.base, CAPACITY);
   if (!ms)
      return 1;

   while (n < 1200 && total < 300u * 1024u)
   {
      size_t size = random_size();
      if ((blocks[n] = mspace_malloc(ms, size)) == NULL)
         break;
      total += size;
      n++;
   }
   for (i = 0; i < n; i++)
      if (next_random() % 2)
      {
         mspace_free(ms, blocks[i]);
         blocks[i] = NULL;
      }
   for (i = 0; i < 12; i++)
      mspace_malloc(ms, 3000 + next_random() % 3000);

   memset(w.kind, K_UNTOUCHED, sizeof w.kind);
   mspace_get_stats(ms, &st);
   paint(&w, 0, st.footprint, K_HEADER);   /* what no chunk report covers: headers */
   mspace_inspect_all(ms, visit, &w);
   paint(&w, w.last_from, w.last_to, K_TOP); /* the walk reports the top last */
   w.free_chunks--;
   w.free_bytes -= w.last_to - w.last_from;
   w.top_bytes = w.last_to - w.last_from;

   printf("capacity %zu, footprint %zu, bookkeeping %zu\n", st.capacity, st.footprint, st.bookkeeping);
   printf("walk: %zu blocks in use (%zu bytes), %zu free chunks (%zu bytes), top %zu bytes\n", w.used_blocks,
          w.used_bytes, w.free_chunks, w.free_bytes, w.top_bytes);
   printf("stats: %zu blocks, %zu free chunks, largest free request %zu\n", st.allocated_blocks, st.free_blocks,
          st.largest_free);
   printf("heap check: %s\n", mspace_check(ms) == 0 ? "ok" : "FAILED");

   if (argc > 1)
   {
      FILE *f = fopen(argv[1], "w");
      if (!f)
         return 1;
      write_svg(f, &w, &st);
      fclose(f);
   }
   mspace_destroy(ms);
   free(buffer);
   return 0;
}
