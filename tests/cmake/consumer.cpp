// A consumer of the installed or embedded header, built by CMake in CI.
#define MULLE_DLMALLOC_IMPLEMENTATION
#include <mulle_dlmalloc.hpp>
#include <cstdio>
#include <vector>

int main()
{
   mulle::heap heap(1 << 20);
   if (!heap)
      return 1;
   std::vector<int, mulle::allocator<int>> v{mulle::allocator<int>(heap)};
   for (int i = 0; i < 1000; ++i)
      v.push_back(i);
   long sum = 0;
   for (int x : v)
      sum += x;
   std::printf("consumer: sum %ld, heap check %s\n", sum, heap.check() ? "ok" : "FAILED");
   return sum == 499500 && heap.check() ? 0 : 1;
}
