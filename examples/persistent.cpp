// persistent.cpp - a heap in a file that outlives the program: run it twice.
//
// The first run creates the file, builds a heap in it and stores a few notes. Every later
// run maps the file again (on purpose at another address than the first run), reopens the
// heap with mspace_attach and finds the notes of the runs before, then adds its own.
//
// What makes it work:
// - the implementation is built with MULLE_DLMALLOC_RELATIVE=1, so the heap's own links
//   are offsets and the heap does not care where the file is mapped;
// - the program's data stores offsets too (mspace_offset_of / mspace_pointer_at), never
//   pointers, and is found again through the heap's root block (mspace_set_root).
#define MULLE_DLMALLOC_RELATIVE 1
#define MULLE_DLMALLOC_IMPLEMENTATION
#include "mulle_dlmalloc.hpp"

#include <cstdint>
#include <cstdio>
#include <cstring>

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

static const std::size_t CAPACITY = 1 << 20;

struct note
{
   std::size_t next;      // offset of the next note, 0 at the end
   char        text[1];   // as long as the note
};

struct root
{
   std::size_t    first;  // offset of the newest note
   unsigned       runs;
   std::uintptr_t mapped_at;
};

static void add_note(mspace ms, root *r, const char *text)
{
   note *n = static_cast<note *>(mspace_malloc(ms, sizeof(note) + std::strlen(text)));
   std::strcpy(n->text, text);
   n->next  = r->first;
   r->first = mspace_offset_of(ms, n);
}

int main(int argc, char **argv)
{
   const char *path = argc > 1 ? argv[1] : "persistent.heap";
   const bool  fresh = access(path, F_OK) != 0;
   int         fd    = open(path, O_RDWR | O_CREAT, 0600);
   if (fd < 0 || (fresh && ftruncate(fd, CAPACITY) != 0))
      return 1;
   // each run asks for another address; the kernel takes the hint when the range is free
   void *hint   = sizeof(void *) == 8 ? reinterpret_cast<void *>(std::uintptr_t(fresh ? 0x2000 : 0x3000) << 32) : nullptr;
   void *region = mmap(hint, CAPACITY, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
   close(fd);
   if (region == MAP_FAILED)
      return 1;

   mspace ms;
   root  *r;
   if (fresh)
   {
      ms = mspace_create_with_base(region, CAPACITY);
      r  = static_cast<root *>(mspace_calloc(ms, 1, sizeof(root)));
      mspace_set_root(ms, r);
      std::printf("run 1: a new heap in a new file\n");
   }
   else
   {
      ms = mspace_attach(region, CAPACITY);
      if (!ms)
      {
         std::printf("%s holds no heap this program can open: %s\n", path,
                     mspace_error_string(mspace_attach_error(region, CAPACITY)));
         return 1;
      }
      r = static_cast<root *>(mspace_root(ms));
      std::printf("run %u: reopened the heap in the file, mapped %s\n", r->runs + 1,
                  r->mapped_at == reinterpret_cast<std::uintptr_t>(region) ? "where it was" : "at another address");
      for (std::size_t at = r->first; at; )
      {
         const note *n = static_cast<const note *>(mspace_pointer_at(ms, at));
         std::printf("  found: %s\n", n->text);
         at = n->next;
      }
   }
   r->runs++;
   r->mapped_at = reinterpret_cast<std::uintptr_t>(region);
   char text[64];
   std::snprintf(text, sizeof text, "written by run %u", r->runs);
   add_note(ms, r, text);
   add_note(ms, r, r->runs == 1 ? "the heap lives in the file" : "still there");
   std::printf("  added 2 notes; mspace_check: %d problems\n", mspace_check(ms));

   mspace_detach(ms);                 // the heap stays in the file
   msync(region, CAPACITY, MS_SYNC);
   munmap(region, CAPACITY);
   return 0;
}
