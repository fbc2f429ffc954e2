// The malloc family over the default mspace (MULLE_DLMALLOC_MALLOC=1), linked into this
// program itself: every call below, doctest's own included, is served by it. What glibc
// and the C standard promise, call by call.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#define MULLE_DLMALLOC_IMPLEMENTATION
#define MULLE_DLMALLOC_MALLOC 1
#include "mulle_dlmalloc.hpp"

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <malloc.h>
#include <new>
#include <string>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <vector>

// A failed realloc keeps its block, which is used after it: not a use after free.
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 12
#  pragma GCC diagnostic ignored "-Wuse-after-free"
#endif

namespace {

bool aligned(const void *p, std::size_t a) { return reinterpret_cast<std::uintptr_t>(p) % a == 0; }

// Is p inside the default mspace (the family's own heap, not glibc's)?
bool ours(const void *p) { return mspace_is_heap_object(mspace_default(), p) != 0; }

}  // namespace

TEST_CASE("malloc, free, calloc: blocks of the default mspace; ENOMEM when a request fails")
{
   void *p = std::malloc(100);
   REQUIRE(p != nullptr);
   CHECK(ours(p));
   CHECK(aligned(p, alignof(std::max_align_t)));
   std::memset(p, 0x5A, 100);
   std::free(p);
   std::free(nullptr);

   void *z = std::malloc(0);   // glibc: a unique minimum block
   CHECK(z != nullptr);
   std::free(z);

   errno = 0;
   volatile std::size_t huge = SIZE_MAX / 2;
   CHECK(std::malloc(huge) == nullptr);
   CHECK(errno == ENOMEM);

   unsigned char *c = static_cast<unsigned char *>(std::calloc(1000, 3));
   REQUIRE(c != nullptr);
   for (int i = 0; i < 3000; ++i)
      REQUIRE(c[i] == 0);
   std::free(c);
   errno = 0;
   CHECK(std::calloc(huge, 3) == nullptr);   // the product overflows
   CHECK(errno == ENOMEM);
   CHECK(mspace_check(mspace_default()) == 0);
}

TEST_CASE("realloc: as glibc's, realloc(p, 0) frees and gives NULL; reallocarray checks the product")
{
   char *p = static_cast<char *>(std::realloc(nullptr, 10));   // malloc
   REQUIRE(p != nullptr);
   std::strcpy(p, "123456789");
   p = static_cast<char *>(std::realloc(p, 100000));
   REQUIRE(p != nullptr);
   CHECK(std::string(p) == "123456789");
   CHECK(std::realloc(p, 0) == nullptr);   // freed

   // (volatile: sizes the compiler cannot see fail, which it would warn about)
   volatile std::size_t huge = SIZE_MAX / 2;
   p = static_cast<char *>(std::malloc(16));
   REQUIRE(p != nullptr);
   errno = 0;
   void *failed = std::realloc(p, huge);   // fails, p stays
   CHECK(failed == nullptr);
   CHECK(errno == ENOMEM);
   p[15] = 1;
   errno = 0;
   failed = reallocarray(p, huge, 4);
   CHECK(failed == nullptr);
   CHECK(errno == ENOMEM);
   void *q = reallocarray(p, 100, 4);
   REQUIRE(q != nullptr);
   CHECK(static_cast<char *>(q)[15] == 1);
   std::free(q);
   CHECK(mspace_check(mspace_default()) == 0);
}

TEST_CASE("aligned_alloc, memalign, posix_memalign, valloc, pvalloc: the alignments glibc takes")
{
   for (std::size_t a : {std::size_t(1), std::size_t(8), std::size_t(16), std::size_t(64), std::size_t(4096),
                         std::size_t(65536)})
   {
      CAPTURE(a);
      void *p = aligned_alloc(a, 3 * a);
      REQUIRE(p != nullptr);
      CHECK(aligned(p, a));
      CHECK(ours(p));
      std::free(p);
      p = memalign(a, 100);
      REQUIRE(p != nullptr);
      CHECK(aligned(p, a));
      std::free(p);
   }
   errno = 0;
   CHECK(aligned_alloc(24, 100) == nullptr);   // not a power of two
   CHECK(errno == EINVAL);
   void *m = memalign(24, 100);               // glibc rounds it up to 32
   REQUIRE(m != nullptr);
   CHECK(aligned(m, 32));
   std::free(m);

   void *out = reinterpret_cast<void *>(1);
   CHECK(posix_memalign(&out, 4, 100) == EINVAL);    // not a multiple of sizeof(void *)
   CHECK(posix_memalign(&out, 48, 100) == EINVAL);   // not a power of two
   CHECK(out == reinterpret_cast<void *>(1));        // untouched
   errno = 0;
   volatile std::size_t huge = SIZE_MAX / 2;
   CHECK(posix_memalign(&out, 256, huge) == ENOMEM);
   CHECK(errno == 0);   // the result says it, not errno
   REQUIRE(posix_memalign(&out, 256, 1000) == 0);
   CHECK(aligned(out, 256));
   std::free(out);

   const std::size_t page = std::size_t(sysconf(_SC_PAGESIZE));
   void *v = valloc(10);
   REQUIRE(v != nullptr);
   CHECK(aligned(v, page));
   void *pv = pvalloc(page + 1);
   REQUIRE(pv != nullptr);
   CHECK(aligned(pv, page));
   CHECK(malloc_usable_size(pv) >= 2 * page);
   std::free(v);
   std::free(pv);
   CHECK(mspace_check(mspace_default()) == 0);
}

TEST_CASE("malloc_usable_size; a pointer that is not the heap's is ignored by free")
{
   void *p = std::malloc(100);
   REQUIRE(p != nullptr);
   CHECK(malloc_usable_size(p) >= 100);
   CHECK(malloc_usable_size(nullptr) == 0);
   std::free(p);

   static char outside[64];
   std::free(outside + 16);   // e.g. memory the dynamic loader handed out: no effect
   CHECK(malloc_usable_size(outside) == 0);
   errno = 0;
   CHECK(std::realloc(outside + 16, 10) == nullptr);   // cannot move what it does not know
   CHECK(errno == ENOMEM);
   CHECK(mspace_check(mspace_default()) == 0);
}

namespace {
int handler_calls = 0;
void give_up()
{
   ++handler_calls;
   std::set_new_handler(nullptr);   // the next failure throws
}
}  // namespace

TEST_CASE("operator new and delete: the mspace's blocks, bad_alloc after the new handler gives up")
{
   std::vector<int> *v = new std::vector<int>(1000, 7);
   CHECK(ours(v));
   CHECK(ours(v->data()));
   delete v;
   int *a = new int[100]();
   CHECK(a[99] == 0);
   delete[] a;

   struct alignas(256) wide { char c[256]; };
   wide *w = new wide;
   CHECK(aligned(w, 256));
   delete w;

   volatile std::size_t too_much = SIZE_MAX / 2;
   CHECK(new (std::nothrow) char[too_much] == nullptr);
   std::set_new_handler(give_up);
   bool thrown = false;
   try
   {
      char *huge = new char[too_much];
      delete[] huge;
   }
   catch (const std::bad_alloc &)
   {
      thrown = true;
   }
   CHECK(thrown);
   CHECK(handler_calls == 1);
   CHECK(mspace_check(mspace_default()) == 0);
}

TEST_CASE("fork: the child finds the heap whole while threads of the parent allocate")
{
   std::vector<void *> keep;
   for (int i = 0; i < 1000; ++i)
      keep.push_back(std::malloc(std::size_t(i % 300 + 1)));
   std::atomic<bool> stop{false};
   std::thread busy([&] {
      while (!stop.load())
      {
         void *p = std::malloc(64 + std::size_t(std::rand() % 4000));
         std::free(p);
      }
   });
   for (int round = 0; round < 20; ++round)
   {
      pid_t child = fork();
      REQUIRE(child >= 0);
      if (child == 0)
      {
         void *p = std::malloc(1000);   // the lock is free in the child
         std::free(p);
         _exit(mspace_check(mspace_default()) == 0 && p ? 0 : 1);
      }
      int status = 0;
      REQUIRE(waitpid(child, &status, 0) == child);
      CHECK((WIFEXITED(status) && WEXITSTATUS(status) == 0));
   }
   stop = true;
   busy.join();
   for (void *p : keep)
      std::free(p);
   CHECK(mspace_check(mspace_default()) == 0);
}
