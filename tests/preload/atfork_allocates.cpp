// The malloc family over the default mspace (MULLE_DLMALLOC_MALLOC=1), in a process whose
// pthread_atfork allocates, as some C libraries' does (glibc's only past 48 handlers): the
// default heap registers its fork handlers, and the bias's barrier its own, only once
// the heap is published, so the malloc inside pthread_atfork is served. Were a handler
// registered while the heap was being made, the first malloc (before main: the C++
// runtime's own) would wait for itself for ever; tools/preload.sh runs this program under
// a timeout.
#define MULLE_DLMALLOC_IMPLEMENTATION
#define MULLE_DLMALLOC_MALLOC 1
#include "mulle_dlmalloc.hpp"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <pthread.h>

extern "C" int   __register_atfork(void (*)(void), void (*)(void), void (*)(void), void *);
extern "C" void *__dso_handle;

namespace {
int registered, served;
}

// This program's pthread_atfork, which the header's calls bind to: it allocates first.
extern "C" int pthread_atfork(void (*prepare)(void), void (*parent)(void), void (*child)(void))
{
   ++registered;
   if (void *p = std::malloc(64))
   {
      std::memset(p, 1, 64);
      served += mspace_is_heap_object(mspace_default(), p) != 0;
      std::free(p);
   }
   return __register_atfork(prepare, parent, child, __dso_handle);
}

int main()
{
   void *p = std::malloc(100);
   if (!p || !mspace_is_heap_object(mspace_default(), p))
   {
      std::puts("atfork_allocates: FAILED: malloc is not served by the default mspace");
      return 1;
   }
   std::free(p);
   // a locked mspace of its own: its registration for the barrier is in place already
   mspace ms = mspace_create_flags(1 << 20, MSPACE_LOCKED);
   void *q = mspace_malloc(ms, 100);
   mspace_free(ms, q);
   mspace_destroy(ms);
   // the default heap registered its fork handlers and the bias's fork watcher (with
   // biases: glibc allows them), each allocating from the published heap
   if (registered < 1 || served != registered)
   {
      std::printf("atfork_allocates: FAILED: %d handlers registered, %d of their mallocs served\n", registered, served);
      return 1;
   }
   std::printf("atfork_allocates: %d fork handlers registered, each after a malloc the default mspace served\n", registered);
   return 0;
}
