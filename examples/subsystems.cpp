// subsystems.cpp - one mspace per subsystem, each with its own fixed capacity.
//
// A subsystem that runs out of memory exhausts only its own heap: the others keep working.
// This C++ program holds the implementation itself: it defines MULLE_DLMALLOC_IMPLEMENTATION
// before the include (do that in exactly one C++ file of a program).
#define MULLE_DLMALLOC_IMPLEMENTATION
#include "mulle_dlmalloc.hpp"

#include <cstdio>
#include <vector>

static void print_stats(const char *name, const mulle::heap &heap)
{
   mspace_stats_t s = heap.stats();
   std::printf("%-8s capacity %7zu  footprint %7zu  blocks %3zu  largest free %7zu\n",
               name, s.capacity, s.footprint, s.allocated_blocks, s.largest_free);
}

int main()
{
   // mulle::heap owns an mspace and destroys it (and every block in it) when it goes away.
   mulle::heap parser(256 * 1024);
   mulle::heap renderer(1024 * 1024);
   mulle::heap network(128 * 1024);
   if (!parser || !renderer || !network)
   {
      std::fprintf(stderr, "could not create the heaps\n");
      return 1;
   }

   // The parser allocates 100 tokens of 48 bytes; it never frees them one by one: they go
   // when its heap is destroyed.
   for (int i = 0; i < 100; ++i)
      if (!parser.allocate(48))
         return 1;

   // The renderer keeps its vertices in a std::vector that allocates from its mspace.
   std::vector<float, mulle::allocator<float>> vertices{mulle::allocator<float>(renderer)};
   vertices.resize(30000);

   // The network receives 4 KiB packets until its heap is full: allocate returns nullptr.
   size_t packets = 0;
   while (network.allocate(4096))
      ++packets;
   std::printf("network heap full after %zu packets of 4096 bytes\n", packets);

   // The other subsystems are not affected: they still allocate from their own regions.
   void *token = parser.allocate(1000);
   void *mesh  = renderer.allocate(64 * 1024);
   std::printf("parser still allocates: %s\n", token ? "yes" : "no");
   std::printf("renderer still allocates: %s\n", mesh ? "yes" : "no");

   print_stats("parser", parser);
   print_stats("renderer", renderer);
   print_stats("network", network);

   // The network drops all its packets at once and starts over with an empty heap.
   network.reset();
   print_stats("network", network);

   if (!parser.check() || !renderer.check() || !network.check())
   {
      std::fprintf(stderr, "a heap is inconsistent\n");
      return 1;
   }
   return 0;  // the vector goes first, then the heaps destroy their mspaces
}
