// The C++ face built with -fno-exceptions (and -fno-rtti): containers work, and an
// allocation that fails goes to the mspace's error handler as MSPACE_ERROR_OUT_OF_MEMORY,
// then aborts: a container never receives a null pointer. Each failure case runs in a
// forked child; the parent checks the signal and what the child said.
#define MULLE_DLMALLOC_IMPLEMENTATION
#include "mulle_dlmalloc.hpp"

#include <cstdio>
#include <cstring>
#include <list>
#include <map>
#include <string>
#include <vector>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#if defined(__cpp_exceptions) || defined(__EXCEPTIONS)
#error "build this file with -fno-exceptions"
#endif

static int passed, failed;

static void check(bool ok, const char *what)
{
   if (ok)
      ++passed;
   else
   {
      ++failed;
      std::printf("FAILED: %s\n", what);
   }
}

#if defined(MULLE_DLMALLOC_HAS_PMR)
// A foreign resource over the same mspace, shaped like ours.
class lookalike_resource : public std::pmr::memory_resource
{
public:
   explicit lookalike_resource(mspace ms) : ms_(ms) {}
   mspace ms_;

private:
   void *do_allocate(size_t bytes, size_t) override { return mspace_malloc(ms_, bytes); }
   void  do_deallocate(void *p, size_t, size_t) override { mspace_free(ms_, p); }
   bool  do_is_equal(const std::pmr::memory_resource &o) const noexcept override { return this == &o; }
};
#endif

static void record_and_return(mspace, mspace_error_t error, void *, void *)
{
   std::fprintf(stderr, "handler: %s\n", mspace_error_string(error));
}

// Runs fn in a child with stderr captured; returns the child's status and output.
template <class F>
static int in_child(F fn, char *out, size_t size)
{
   int fds[2];
   if (pipe(fds) != 0)
      return -1;
   pid_t pid = fork();
   if (pid == 0)
   {
      dup2(fds[1], 2);
      close(fds[0]);
      fn();
      _exit(0);
   }
   close(fds[1]);
   size_t n = 0;
   ssize_t r;
   while (n + 1 < size && (r = read(fds[0], out + n, size - 1 - n)) > 0)
      n += size_t(r);
   out[n] = 0;
   close(fds[0]);
   int status = 0;
   waitpid(pid, &status, 0);
   return status;
}

int main()
{
   // ordinary use needs no exceptions
   {
      mulle::heap heap(1 << 20);
      std::vector<int, mulle::allocator<int>> v{mulle::allocator<int>(heap)};
      std::map<int, int, std::less<int>, mulle::allocator<std::pair<const int, int>>> m{
         std::less<int>(), mulle::allocator<std::pair<const int, int>>(heap)};
      for (int i = 0; i < 1000; ++i)
      {
         v.push_back(i);
         m[i] = i;
      }
      check(v.size() == 1000 && m.size() == 1000 && heap.check(), "containers work without exceptions");
   }

#if defined(MULLE_DLMALLOC_HAS_PMR)
   // without RTTI too, our resources over one mspace are equal, and no foreign one is
   {
      mulle::heap            heap(1 << 20), other_heap(1 << 20);
      mulle::memory_resource r(heap), same(heap.native_handle()), other(other_heap);
      lookalike_resource     lookalike(heap.native_handle());
      check(r.is_equal(same) && same.is_equal(r) && r == same, "resources over one mspace are equal");
      check(!r.is_equal(other) && !other.is_equal(r), "resources over two mspaces are not");
      check(!r.is_equal(lookalike), "a foreign resource over the same mspace is not equal");
      check(!r.is_equal(*std::pmr::new_delete_resource()), "new_delete_resource is not equal");

      std::pmr::vector<int> from(1000, 7, &r), to(&same);
      const int *data = from.data();
      to = std::move(from);
      check(to.data() == data, "a pmr container takes the buffer of one over an equal resource");
   }
#endif

   char out[512];
   // a handler that returns: the allocation still never comes back null
   int status = in_child([] {
      mulle::heap heap(256 << 10);
      mspace_set_error_handler(heap.native_handle(), record_and_return, nullptr);
      std::vector<char, mulle::allocator<char>> v{mulle::allocator<char>(heap)};
      for (;;)
         v.push_back('x');
   }, out, sizeof(out));
   check(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT, "exhaustion aborts after a returning handler");
   check(std::strstr(out, "handler: out of memory") != nullptr, "the handler heard out of memory");

   // the default handler prints one line and aborts
   status = in_child([] {
      mulle::heap heap(256 << 10);
      std::list<std::string, mulle::allocator<std::string>> l{mulle::allocator<std::string>(heap)};
      for (;;)
         l.push_back("a string long enough to live outside the small-string buffer");
   }, out, sizeof(out));
   check(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT, "the default handler aborts");
   check(std::strstr(out, "mulle_dlmalloc: out of memory") != nullptr, "the default handler names the error");

#if defined(MULLE_DLMALLOC_HAS_PMR)
   status = in_child([] {
      mulle::heap            heap(256 << 10);
      mulle::memory_resource resource(heap);
      mspace_set_error_handler(heap.native_handle(), record_and_return, nullptr);
      std::pmr::vector<long> v(&resource);
      for (;;)
         v.push_back(1);
   }, out, sizeof(out));
   check(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT, "memory_resource exhaustion aborts");
   check(std::strstr(out, "handler: out of memory") != nullptr, "memory_resource reports out of memory");
#endif

   std::printf("noexcept: %d passed, %d failed\n", passed, failed);
   return failed != 0;
}
