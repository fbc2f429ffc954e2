// The C++ face: an owning heap, a std::vector on it, and a std::pmr container.
#define MULLE_DLMALLOC_IMPLEMENTATION
#include "mulle_dlmalloc.hpp"

#include <cstdio>
#include <memory_resource>
#include <string>
#include <vector>

int main()
{
   mulle::heap heap(1 << 20);                  // 1 MiB of its own, destroyed with `heap`
   if (!heap)
      return 1;

   // any standard container, with the allocator
   std::vector<int, mulle::allocator<int>> numbers{mulle::allocator<int>(heap)};
   for (int i = 0; i < 1000; ++i)
      numbers.push_back(i * i);

   // std::pmr containers, with the memory resource
   mulle::memory_resource resource(heap);
   std::pmr::vector<std::pmr::string> words(&resource);
   words.emplace_back("several words long enough to need memory of their own");
   words.emplace_back("all of them in the same heap");

   mspace_stats_t stats = heap.stats();
   std::printf("numbers %zu, words %zu, blocks in the heap %zu, heap check %s\n",
               numbers.size(), words.size(), stats.allocated_blocks,
               heap.check() ? "ok" : "FAILED");
   return 0;
}
