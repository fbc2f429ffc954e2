// mspaces created and destroyed by several threads at once, at checks level 2, where each
// creation draws a per-mspace secret from a process-wide counter: built with
// ThreadSanitizer by the Makefile (make test-shared), which must report no data race.
#define MULLE_DLMALLOC_IMPLEMENTATION
#include "mulle_dlmalloc.hpp"

#include <atomic>
#include <cstdio>
#include <thread>
#include <vector>

int main()
{
   std::atomic<int> bad{0};
   std::vector<std::thread> threads;
   for (int t = 0; t < 4; ++t)
      threads.emplace_back([&] {
         static unsigned char buffers[4][64 * 1024];
         static std::atomic<int> next{0};
         unsigned char *mine = buffers[next.fetch_add(1)];
         for (int i = 0; i < 200; ++i)
         {
            mspace ms = mspace_create_with_base(mine, sizeof buffers[0]);
            void *p = ms ? mspace_malloc(ms, 100) : nullptr;
            if (!p || mspace_check(ms) != 0)
               bad.fetch_add(1);
            mspace_free(ms, p);
            if (mspace_destroy(ms) != 0)
               bad.fetch_add(1);
         }
      });
   for (auto &t : threads)
      t.join();
   std::printf("create race: 4 threads x 200 mspaces at checks level 2, %d failures\n", bad.load());
   return bad.load() != 0;
}
