// Persistent heaps: a heap in a file, mapped again and reopened with mspace_attach; at
// another address when the links are relative (MULLE_DLMALLOC_RELATIVE=1), only at the same
// address when they are absolute. What is not a sound heap of this build is refused with its
// reason, and nothing in it is written.
#include <doctest/doctest.h>
#include "mulle_dlmalloc.hpp"
#include "test_helpers.h"

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include <csignal>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

using namespace test;

namespace {

constexpr std::size_t CAP = 1 * MiB;

// A file of `size` bytes, removed at the end of the scope.
struct TempFile
{
   std::string path;
   int fd = -1;

   explicit TempFile(std::size_t size)
   {
      const char *dir = std::getenv("TMPDIR");
      path = std::string(dir && *dir ? dir : "/tmp") + "/mulle_dlmalloc_persist_XXXXXX";
      fd = mkstemp(&path[0]);
      REQUIRE(fd >= 0);
      REQUIRE(ftruncate(fd, static_cast<off_t>(size)) == 0);
   }
   ~TempFile()
   {
      close(fd);
      unlink(path.c_str());
   }
   void *map(std::size_t size) const
   {
      void *p = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
      REQUIRE(p != MAP_FAILED);
      return p;
   }
};

// The user's data, linked by offsets (pointers would not survive a move): the root block
// holds the head of a list of records, each with a payload filled from its seed.
struct Root
{
   std::size_t head;    // offset of the first record, 0 for none
   std::size_t count;
};

struct Record
{
   std::size_t next;    // offset of the next record, 0 at the end
   std::uint32_t seed;
   std::uint32_t size;  // payload bytes after the record
};

unsigned char *payload(Record *r) { return reinterpret_cast<unsigned char *>(r + 1); }

void add_records(mspace ms, std::size_t n, std::uint32_t first_seed)
{
   Root *root = static_cast<Root *>(mspace_root(ms));
   REQUIRE(root != nullptr);
   std::mt19937 rng(first_seed);
   for (std::size_t i = 0; i < n; ++i)
   {
      const std::uint32_t size = 1 + static_cast<std::uint32_t>(rng() % (i % 16 == 0 ? 4000 : 200));
      Record *r = static_cast<Record *>(mspace_malloc(ms, sizeof(Record) + size));
      REQUIRE(r != nullptr);
      r->seed = first_seed + static_cast<std::uint32_t>(i);
      r->size = size;
      fill(payload(r), size, r->seed);
      r->next = root->head;
      root->head = mspace_offset_of(ms, r);
      root->count++;
   }
}

// Walks the list from the root; every payload must hold its pattern.
std::size_t verify_records(mspace ms)
{
   Root *root = static_cast<Root *>(mspace_root(ms));
   REQUIRE(root != nullptr);
   std::size_t n = 0;
   for (std::size_t at = root->head; at; ++n)
   {
      Record *r = static_cast<Record *>(mspace_pointer_at(ms, at));
      REQUIRE(r != nullptr);
      REQUIRE(mspace_usable_size(r) >= sizeof(Record) + r->size);
      CHECK(verify(payload(r), r->size, r->seed));
      at = r->next;
      REQUIRE(n <= root->count);
   }
   CHECK(n == root->count);
   return n;
}

// Frees every k-th record, keeping the list intact.
void drop_every(mspace ms, std::size_t k)
{
   Root *root = static_cast<Root *>(mspace_root(ms));
   std::size_t *link = &root->head;
   for (std::size_t i = 0; *link; ++i)
   {
      Record *r = static_cast<Record *>(mspace_pointer_at(ms, *link));
      if (i % k == 0)
      {
         *link = r->next;
         root->count--;
         mspace_free(ms, r);
      }
      else
         link = &r->next;
   }
}

mspace make_heap(void *region, std::size_t records)
{
   mspace ms = mspace_create_with_base(region, CAP);
   REQUIRE(ms != nullptr);
   Root *root = static_cast<Root *>(mspace_malloc(ms, sizeof(Root)));
   REQUIRE(root != nullptr);
   root->head = 0;
   root->count = 0;
   mspace_set_root(ms, root);
   add_records(ms, records, 1000);
   drop_every(ms, 3);   // free chunks in the small bins, the trees and the caches
   REQUIRE(mspace_check(ms) == 0);
   return ms;
}

// Links are relative when a copy of a heap at another, equally aligned address attaches;
// the build says which it must be (make test-relative defines MULLE_DLMALLOC_RELATIVE=1 for
// every file).
#if defined(MULLE_DLMALLOC_RELATIVE) && MULLE_DLMALLOC_RELATIVE
constexpr bool BUILT_RELATIVE = true;
#else
constexpr bool BUILT_RELATIVE = false;
#endif

bool links_are_relative()
{
   std::vector<unsigned char> a(64 * KiB + 2 * A), b(64 * KiB + 2 * A);
   unsigned char *pa = aligned(a.data());
   unsigned char *pb = aligned(b.data());
   mspace ms = mspace_create_with_base(pa, 64 * KiB);
   REQUIRE(ms != nullptr);
   REQUIRE(mspace_detach(ms) == 0);
   raw_copy(pb, pa, 64 * KiB);
   const mspace_error_t e = mspace_attach_error(pb, 64 * KiB);
   REQUIRE((e == MSPACE_ERROR_NONE || e == MSPACE_ERROR_MOVED));
   return e == MSPACE_ERROR_NONE;
}

std::vector<unsigned char> snapshot(const void *p, std::size_t n)
{
   std::vector<unsigned char> v(n);
   raw_copy(v.data(), p, n);
   return v;
}

bool unchanged(const void *p, const std::vector<unsigned char> &before)
{
   return snapshot(p, before.size()) == before;
}

} // namespace

TEST_CASE("a heap in a file is attached again after an unmap, and keeps working")
{
   const bool relative = links_are_relative();
   REQUIRE(relative == BUILT_RELATIVE);
   MESSAGE(std::string(relative ? "links are relative: a heap attaches at any address"
                                : "links are absolute: a heap attaches at its own address only"));
   TempFile file(CAP);
   void *first = file.map(CAP);
   mspace ms = make_heap(first, 600);
   const std::size_t records = verify_records(ms);
   REQUIRE(records == 400);
   const mspace_stats_t before = stats_of(ms);
   const std::size_t root_offset = mspace_offset_of(ms, mspace_root(ms));
   REQUIRE(mspace_detach(ms) == 0);
   CHECK(mspace_detach(ms) != 0);           // the handle is dead now
   CHECK(mspace_malloc(ms, 8) == nullptr);

   // the same file mapped a second time, while the first mapping still holds the old
   // address: the new one lies elsewhere
   void *second = file.map(CAP);
   REQUIRE(second != first);
   if (relative)
      REQUIRE(munmap(first, CAP) == 0);
   else
   {
      const std::vector<unsigned char> image = snapshot(second, CAP);
      CHECK(mspace_attach_error(second, CAP) == MSPACE_ERROR_MOVED);
      CHECK(mspace_attach(second, CAP) == nullptr);
      CHECK(unchanged(second, image));
      // at its own address (the first mapping, which shows the same file), it attaches
      REQUIRE(munmap(second, CAP) == 0);
      second = first;
   }

   CHECK(mspace_attach_error(second, CAP) == MSPACE_ERROR_NONE);
   ms = mspace_attach(second, CAP);
   REQUIRE(ms != nullptr);
   CHECK(mspace_check(ms) == 0);
   CHECK(verify_records(ms) == records);
   CHECK(mspace_offset_of(ms, mspace_root(ms)) == root_offset);
   CHECK_SAME_STATS(stats_of(ms), before);

   // keep allocating and freeing in the attached heap
   add_records(ms, 300, 5000);
   drop_every(ms, 2);
   CHECK(verify_records(ms) == 350);
   CHECK_HEAP(ms);
   CHECK_LARGEST_FREE(ms);
   REQUIRE(mspace_detach(ms) == 0);

   // and once more, from the file alone
   REQUIRE(munmap(second, CAP) == 0);
   void *third = file.map(CAP);
   ms = mspace_attach(third, CAP);
   if (!relative && third != first)
      CHECK(ms == nullptr);
   else
   {
      REQUIRE(ms != nullptr);
      CHECK(verify_records(ms) == 350);
      CHECK_HEAP(ms);
      CHECK(mspace_detach(ms) == 0);
   }
   munmap(third, CAP);
}

TEST_CASE("attach resets what belongs to a run: the lock a crash left held, the handler")
{
   // a process that dies inside a call leaves the lock of a locked heap held: here the
   // child's error handler ends it in the middle of a free
   void *region = mmap(nullptr, CAP, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
   REQUIRE(region != MAP_FAILED);
   mspace ms = mspace_create_with_base_flags(region, CAP, MSPACE_LOCKED);
   REQUIRE(ms != nullptr);
   void *p = mspace_malloc(ms, 100);
   void *q = mspace_malloc(ms, 200);
   REQUIRE(q != nullptr);
   mspace_free(ms, p);
   const pid_t child = fork();
   REQUIRE(child >= 0);
   if (child == 0)
   {
      mspace_set_error_handler(ms, [](mspace, mspace_error_t, void *, void *) { _exit(0); }, nullptr);
      mspace_free(ms, p);   // a double free: the handler runs with the lock held
      _exit(1);
   }
   int status = 0;
   REQUIRE(waitpid(child, &status, 0) == child);
   REQUIRE(WIFEXITED(status));
   REQUIRE(WEXITSTATUS(status) == 0);

   // the heap is whole, but its lock is held by a process that is gone: attach frees it
   ErrorLog log;
   ms = mspace_attach(region, CAP);
   REQUIRE(ms != nullptr);
   void *r = mspace_malloc(ms, 300);   // would spin for ever with the lock still held
   CHECK(r != nullptr);
   mspace_free(ms, q);
   mspace_free(ms, r);
   log.install(ms);
   mspace_free(ms, q);
   CHECK(log.count == 1);
   CHECK(log.last == MSPACE_ERROR_DOUBLE_FREE);
   CHECK_HEAP(ms);
   CHECK(mspace_destroy(ms) == 0);
   CHECK(mspace_attach_error(region, CAP) == MSPACE_ERROR_NOT_AN_MSPACE);   // destroyed
   munmap(region, CAP);
}

TEST_CASE("attach forgets the error handler of the run before")
{
   // the handler of the run that made the heap is an address of that run: after an attach
   // a double free goes to the default handler, which aborts (seen from a child process)
   std::vector<unsigned char> buffer(CAP + A);
   unsigned char *region = aligned(buffer.data());
   mspace ms = mspace_create_with_base(region, CAP);
   REQUIRE(ms != nullptr);
   ErrorLog log;
   log.install(ms);
   void *p = mspace_malloc(ms, 100);
   mspace_free(ms, p);
   mspace_free(ms, p);
   REQUIRE(log.count == 1);                  // the handler in place before the detach
   REQUIRE(mspace_detach(ms) == 0);
   std::fflush(stdout);
   std::fflush(stderr);
   const pid_t child = fork();
   REQUIRE(child >= 0);
   if (child == 0)
   {
      std::signal(SIGABRT, SIG_DFL);         // doctest's crash handler must not interfere
      std::fclose(stderr);                   // the default handler's line is expected
      mspace again = mspace_attach(region, CAP);
      if (!again)
         _exit(3);
      mspace_free(again, p);                 // a double free: the default handler aborts
      _exit(log.count == 2 ? 1 : 2);         // still the old handler: it recorded and returned
   }
   int status = 0;
   REQUIRE(waitpid(child, &status, 0) == child);
   CHECK(WIFSIGNALED(status));
   if (WIFSIGNALED(status))
      CHECK(WTERMSIG(status) == SIGABRT);
   ms = mspace_attach(region, CAP);
   REQUIRE(ms != nullptr);
   CHECK(mspace_detach(ms) == 0);
}

TEST_CASE("a truncated, foreign or damaged region is refused and left as it was")
{
   TempFile file(CAP);
   void *region = file.map(CAP);
   mspace ms = make_heap(region, 300);
   REQUIRE(mspace_detach(ms) == 0);
   const std::vector<unsigned char> image = snapshot(region, CAP);

   SUBCASE("truncated")
   {
      CHECK(mspace_attach_error(region, CAP - 4096) == MSPACE_ERROR_TRUNCATED);
      CHECK(std::string(mspace_error_string(MSPACE_ERROR_TRUNCATED)) == "mspace region truncated");
      CHECK(mspace_attach(region, CAP / 2) == nullptr);
      CHECK(mspace_attach_error(region, 16) == MSPACE_ERROR_NOT_AN_MSPACE);   // not even a header
      CHECK(mspace_attach_error(nullptr, CAP) == MSPACE_ERROR_NOT_AN_MSPACE);
      // a copy of the file cut short, and mapped as it is
      TempFile cut(CAP / 4);
      REQUIRE(pwrite(cut.fd, image.data(), CAP / 4, 0) == static_cast<ssize_t>(CAP / 4));
      void *short_region = cut.map(CAP / 4);
      CHECK(mspace_attach(short_region, CAP / 4) == nullptr);
      CHECK(mspace_attach_error(short_region, CAP / 4) == MSPACE_ERROR_TRUNCATED);
      REQUIRE(munmap(short_region, CAP / 4) == 0);
   }
   SUBCASE("foreign")
   {
      std::vector<unsigned char> zeros(CAP, 0), noise(CAP);
      std::mt19937 rng(7);
      for (auto &b : noise)
         b = static_cast<unsigned char>(rng());
      CHECK(mspace_attach_error(zeros.data(), CAP) == MSPACE_ERROR_NOT_AN_MSPACE);
      CHECK(mspace_attach(noise.data(), CAP) == nullptr);
      CHECK(mspace_attach_error(noise.data(), CAP) == MSPACE_ERROR_NOT_AN_MSPACE);
      CHECK(std::string(mspace_error_string(MSPACE_ERROR_NOT_AN_MSPACE)) == "not an mspace");
   }
   SUBCASE("moved off the state's alignment: a copy one byte further on")
   {
      std::vector<unsigned char> copy(CAP + 1);
      raw_copy(copy.data() + 1, region, CAP);
      CHECK(mspace_attach_error(copy.data() + 1, CAP) == MSPACE_ERROR_MOVED);
      CHECK(mspace_attach(copy.data() + 1, CAP) == nullptr);
   }
   SUBCASE("made by another build: a layout word that differs")
   {
      // the second word of the state is its layout (version, word size, checks, ...)
      unsigned char *layout = bytes(region) + W;
      const std::size_t saved = read_word(layout);
      write_word(layout, saved ^ 0x10000);   // another checks level
      CHECK(mspace_attach_error(region, CAP) == MSPACE_ERROR_LAYOUT_MISMATCH);
      CHECK(mspace_attach(region, CAP) == nullptr);
      write_word(layout, saved + 1);         // another layout version
      CHECK(mspace_attach_error(region, CAP) == MSPACE_ERROR_LAYOUT_MISMATCH);
      CHECK(std::string(mspace_error_string(MSPACE_ERROR_LAYOUT_MISMATCH)) == "mspace layout mismatch");
      write_word(layout, saved);
   }
   SUBCASE("any word damaged: refused, or accepted as a sound heap")
   {
      // Words of the used part of the region, flipped in turn (every word of the state, a
      // sample of the rest):
      // a damaged header or chunk is refused as corruption; damage in a block's contents
      // or in a field an attach resets is accepted, and the heap is sound.
      std::mt19937 rng(11);
      const std::size_t used = 64 * KiB;   // the bookkeeping and the first blocks
      int refused = 0, accepted = 0;
      for (std::size_t at = 0; at < used; at += at < 2 * KiB ? W : W * (1 + rng() % 7))   // all of the state
      {
         unsigned char *word = bytes(region) + at;
         const std::size_t saved = read_word(word);
         write_word(word, saved ^ (std::size_t(1) << (rng() % (8 * W))));
         const std::vector<unsigned char> damaged = snapshot(region, used);
         const mspace_error_t e = mspace_attach_error(region, CAP);
         if (e == MSPACE_ERROR_NONE)
         {
            mspace again = mspace_attach(region, CAP);
            REQUIRE(again != nullptr);
            CHECK(mspace_check(again) == 0);
            CHECK(mspace_detach(again) == 0);
            accepted++;
         }
         else
         {
            CHECK(mspace_attach(region, CAP) == nullptr);
            CHECK(unchanged(region, damaged));
            refused++;
         }
         raw_copy(region, image.data(), used);   // as it was
      }
      MESSAGE("damaged words: " << refused << " refused, " << accepted << " accepted as sound");
      CHECK(refused > 0);
      CHECK(accepted > 0);
   }
   SUBCASE("a chunk head damaged")
   {
      ms = mspace_attach(region, CAP);
      REQUIRE(ms != nullptr);
      void *block = mspace_root(ms);
      REQUIRE(mspace_detach(ms) == 0);
      unsigned char *head = bytes(block) - W;
      const std::size_t saved = read_word(head);
      write_word(head, saved + 2 * A);   // a size that breaks the tiling
      CHECK(mspace_attach_error(region, CAP) == MSPACE_ERROR_CORRUPTION);
      CHECK(mspace_attach(region, CAP) == nullptr);
      write_word(head, saved);
   }

   // whatever was tried, the intact image attaches
   CHECK(unchanged(region, image));
   ms = mspace_attach(region, CAP);
   REQUIRE(ms != nullptr);
   CHECK(verify_records(ms) == 200);
   CHECK_HEAP(ms);
   CHECK(mspace_detach(ms) == 0);
   munmap(region, CAP);
}

TEST_CASE("offsets and the root")
{
   std::vector<unsigned char> buffer(CAP + A);
   unsigned char *region = bytes(buffer.data()) + 1;   // any alignment: offsets count from here
   mspace ms = mspace_create_with_base(region, CAP);
   REQUIRE(ms != nullptr);
   ErrorLog log;
   log.install(ms);

   void *p = mspace_malloc(ms, 50);
   REQUIRE(p != nullptr);
   const std::size_t at = mspace_offset_of(ms, p);
   CHECK(at == std::size_t(bytes(p) - region));
   CHECK(mspace_pointer_at(ms, at) == p);
   CHECK(mspace_offset_of(ms, bytes(p) + 7) == at + 7);   // any address inside the region
   CHECK(mspace_offset_of(ms, nullptr) == 0);
   CHECK(mspace_pointer_at(ms, 0) == nullptr);
   CHECK(log.count == 0);

   CHECK(mspace_offset_of(ms, region + CAP) == 0);   // outside
   CHECK(log.count == 1);
   CHECK(log.last == MSPACE_ERROR_INVALID_POINTER);
   CHECK(mspace_pointer_at(ms, CAP) == nullptr);
   CHECK(log.count == 2);
   CHECK(mspace_offset_of(nullptr, p) == 0);
   CHECK(mspace_pointer_at(nullptr, at) == nullptr);

   CHECK(mspace_root(ms) == nullptr);
   mspace_set_root(ms, p);
   CHECK(mspace_root(ms) == p);
   mspace_set_root(ms, bytes(p) + A);   // not a block
   CHECK(log.count == 3);
   CHECK(log.last == MSPACE_ERROR_INVALID_POINTER);
   CHECK(mspace_root(ms) == p);          // unchanged
   mspace_set_root(ms, nullptr);
   CHECK(mspace_root(ms) == nullptr);
   mspace_set_root(ms, p);
   mspace_reset(ms);
   CHECK(mspace_root(ms) == nullptr);    // reset forgets it with every block
   CHECK(mspace_root(nullptr) == nullptr);
   mspace_set_root(nullptr, p);          // nothing happens
   CHECK(log.count == 3);

   // an mspace of the OS is not detached, nor attached while it lives: only destroy ends it
   mspace os = mspace_create(CAP);
   REQUIRE(os != nullptr);
   CHECK(mspace_detach(os) != 0);
   CHECK(mspace_attach_error(os, CAP) == MSPACE_ERROR_INVALID_POINTER);
   CHECK(mspace_attach(os, CAP) == nullptr);
   CHECK(mspace_destroy(os) == 0);
   CHECK(mspace_detach(ms) == 0);
}

TEST_CASE("a forged entry in a cache list is no chunk of the heap: refused")
{
   // one overwritten link of a parked block points at bytes inside a live block that look
   // like a parked chunk; counts and links agree, the set of chunks does not
   std::vector<unsigned char> buffer(CAP + A);
   unsigned char *region = aligned(buffer.data());
   mspace ms = mspace_create_with_base(region, CAP);
   REQUIRE(ms != nullptr);
   void *a = mspace_malloc(ms, 100), *b = mspace_malloc(ms, 100), *user = mspace_malloc(ms, 400);
   REQUIRE((a && b && user));
   const std::size_t live_head = read_word(bytes(a) - W);
   mspace_free(ms, b);
   mspace_free(ms, a);                      // parked, if the build has caches: a -> b
   const std::size_t parked_head = read_word(bytes(a) - W);
   if (parked_head == live_head || !(parked_head & 2))
   {
      MESSAGE("no small-block caches: nothing parked");
      CHECK(mspace_detach(ms) == 0);
      return;
   }
   unsigned char *forged = bytes(user) + 64;   // a chunk's head is its second word
   write_word(forged + W, parked_head);
   write_word(forged + 2 * W, 0);           // the end of the list
   const std::uintptr_t target = reinterpret_cast<std::uintptr_t>(forged);
   const std::uintptr_t link_at = reinterpret_cast<std::uintptr_t>(a);   // fd: the block's first word
   write_word(a, std::size_t(BUILT_RELATIVE ? target - link_at : target));
   CHECK(mspace_check(ms) != 0);
   REQUIRE(mspace_detach(ms) == 0);
   CHECK(mspace_attach_error(region, CAP) == MSPACE_ERROR_CORRUPTION);
   CHECK(mspace_attach(region, CAP) == nullptr);
}
