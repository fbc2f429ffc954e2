// Persistent heaps: a heap in a file, mapped again and reopened with mspace_attach; at
// another address when the links are relative (MULLE_DLMALLOC_RELATIVE=1), only at the same
// address when they are absolute. What is not a sound heap of this build is refused with its
// reason, and nothing in it is written.
#include <doctest/doctest.h>
#include "mulle_dlmalloc.hpp"
#include "test_helpers.h"

#include <cstddef>
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
   // both on the 4 KiB grid, which a heap with pages of the tier keeps when it moves
   std::vector<unsigned char> a(64 * KiB + 2 * PAGE), b(64 * KiB + 2 * PAGE);
   unsigned char *pa = a.data() + (PAGE - reinterpret_cast<std::uintptr_t>(a.data()) % PAGE) % PAGE;
   unsigned char *pb = b.data() + (PAGE - reinterpret_cast<std::uintptr_t>(b.data()) % PAGE) % PAGE;
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
      const bool slot = TIER && mspace_usable_size(block) <= TIER_MAX;   // no head: its page's check word
      REQUIRE(mspace_detach(ms) == 0);
      unsigned char *head = slot ? frame_of(block) + PAGE_CHECK_AT : bytes(block) - W;
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

TEST_CASE("a forged entry in a list of pages with room is no page of the heap: refused" * doctest::skip(!TIER))
{
   // the link of a page with free slots points at a copy of its header inside a live
   // block, made to look like a page there (its check word recomputed for its place):
   // every field of the copy is one a page may hold, only the walk does not meet it
   std::vector<unsigned char> buffer(CAP + PAGE);
   unsigned char *region = buffer.data() + (PAGE - reinterpret_cast<std::uintptr_t>(buffer.data()) % PAGE) % PAGE;
   mspace ms = mspace_create_with_base(region, CAP);
   REQUIRE(ms != nullptr);
   void *a = mspace_malloc(ms, 100), *b = mspace_malloc(ms, 100), *user = mspace_malloc(ms, 3 * PAGE);
   REQUIRE((a && b && user));
   mspace_free(ms, b);   // a's page has room: it is in its size's list
   unsigned char *page   = bytes(a) - PAGE_HEADER;
   unsigned char *forged = bytes(user) + (PAGE - reinterpret_cast<std::uintptr_t>(user) % PAGE) % PAGE;
   REQUIRE(reinterpret_cast<std::uintptr_t>(page) % PAGE == 0);
   raw_copy(forged, page, PAGE_HEADER);
   const std::size_t offset_at = PAGE_OFFSET_AT, check_at = PAGE_CHECK_AT;
   REQUIRE(read_word(page + offset_at) == std::size_t(page - bytes(ms)));
   write_word(forged + offset_at, std::size_t(forged - bytes(ms)));
   write_word(forged + check_at, read_word(page + check_at) ^ std::size_t(page - bytes(ms)) ^ std::size_t(forged - bytes(ms)));
   // a link as the build stores it: the address, or its distance from the link
   auto link = [](unsigned char *at, const unsigned char *to) {
      write_word(at, std::size_t(BUILT_RELATIVE ? reinterpret_cast<std::uintptr_t>(to) - reinterpret_cast<std::uintptr_t>(at)
                                                : reinterpret_cast<std::uintptr_t>(to)));
   };
   const std::vector<unsigned char> links = snapshot(page, 2 * W);
   link(page + 0, page);   // the page was alone in its ring: its links name itself
   REQUIRE(snapshot(page, 2 * W) == links);
   link(forged + 0, page); // the ring: page -> forged -> page
   link(forged + W, page);
   link(page + 0, forged);
   link(page + W, forged);
   CHECK(mspace_check(ms) != 0);
   REQUIRE(mspace_detach(ms) == 0);
   CHECK(mspace_attach_error(region, CAP) == MSPACE_ERROR_CORRUPTION);
   CHECK(mspace_attach(region, CAP) == nullptr);
   raw_copy(page, links.data(), 2 * W);     // the links put back: a sound heap again
   CHECK(mspace_attach_error(region, CAP) == MSPACE_ERROR_NONE);
}

// ---- every field of the stored state, damaged alone -------------------------------------
// An attach trusts the state it finds: each field out of the range a heap of this build can
// hold must refuse the region, with its reason, and leave it as it was. The state type
// (mulle::detail::mstate) exists only in the implementation TU, so its layout is mirrored
// here, and the mirror is verified against a live heap before any test writes through it.

namespace {

struct StateMirror
{
   std::size_t signature;
   std::size_t layout;
   std::size_t magic;
   std::uintptr_t base;            // links: an address, or with relative links the
   std::size_t capacity;           // distance from the link's own address (0 for NULL)
   std::uintptr_t least;
   std::uintptr_t chunk_end;
   unsigned flags;
   unsigned reserved;
   std::size_t map_frames;
   std::uint32_t smallmap;
   std::uint32_t treemap;
   std::uintptr_t dv;
   std::size_t dv_size;
   std::uintptr_t top;
   std::size_t top_size;
   std::size_t max_footprint;
   std::uintptr_t written;
   std::uintptr_t lazy_end;
   std::size_t trim_threshold;
   std::size_t secret;
   std::size_t root;
   unsigned lock;
   unsigned reserved2;
   mspace_error_handler_t handler;
   void *handler_ctx;
   std::size_t epoch;
};

constexpr std::size_t SIGNATURE = static_cast<std::size_t>(0x6d6c6c6d2e687073ULL);   // "mllm.hps"
constexpr unsigned FROM_OS = 1, LOCKED = 2, CALLING_OUT = 4, REGROWS = 8, ZERO_ABOVE = 16, ATTACHED = 32,
                   HUGE_PAGES = 64;   // the flags a state may hold
constexpr bool CHECKS2 = CANARY != 0;

#define STATE_FIELD(name) offsetof(StateMirror, name)

// The frames of a region of `capacity` bytes at `region` that its page map covers.
std::size_t map_frames_of(const unsigned char *region, std::size_t capacity)
{
   const std::uintptr_t at = reinterpret_cast<std::uintptr_t>(region);
   return TIER ? ((at + capacity - 1) >> 12) - (at >> 12) + 1 : 0;
}

// A heap in a caller's buffer, detached, with its image: damage one field, expect a
// refusal, put it back; at the end the undamaged region must attach.
struct DamagedState
{
   std::vector<unsigned char> buffer;
   unsigned char *region;
   std::vector<unsigned char> image;
   std::vector<Chunk> chunks;   // as mspace_inspect_all saw them before the detach

   DamagedState() : buffer(CAP + A), region(aligned(buffer.data()))
   {
      mspace ms = make_heap(region, 300);
      REQUIRE(verify_records(ms) == 200);
      mspace_trim(ms, 0);   // the held page (tier.hpp) goes back: the image is attached as
                            // a locked heap below, which holds none (test_tier attaches a heap with one)
      chunks = chunks_of(ms);
      REQUIRE(static_cast<void *>(region) == ms);   // the state at the region's start
      // the mirror agrees with the heap, field by field that the tests below rely on
      ErrorLog log;
      log.install(ms);
      const mspace_stats_t s = stats_of(ms);
      REQUIRE(word(STATE_FIELD(signature)) == SIGNATURE);
      REQUIRE(link(STATE_FIELD(base)) == region);
      REQUIRE(word(STATE_FIELD(capacity)) == CAP);
      REQUIRE(word(STATE_FIELD(map_frames)) == map_frames_of(region, CAP));
      REQUIRE(link(STATE_FIELD(least)) == region + s.bookkeeping);
      REQUIRE(link(STATE_FIELD(chunk_end)) <= region + CAP);
      REQUIRE(link(STATE_FIELD(chunk_end)) > region + CAP - A);
      REQUIRE(link(STATE_FIELD(top)) + word(STATE_FIELD(top_size)) == region + s.footprint);
      REQUIRE(word(STATE_FIELD(top_size)) == s.top_bytes);
      REQUIRE(word(STATE_FIELD(max_footprint)) == s.max_footprint);
      REQUIRE(word(STATE_FIELD(trim_threshold)) == TRIM_THRESHOLD);
      REQUIRE(word(STATE_FIELD(root)) == mspace_offset_of(ms, mspace_root(ms)));
      REQUIRE(flags() == ATTACHED);   // in use: the detach below clears it
      REQUIRE(read_word(region + STATE_FIELD(handler_ctx)) == reinterpret_cast<std::uintptr_t>(&log));
      REQUIRE(word(STATE_FIELD(lazy_end)) == 0);
      if (!CHECKS2)
         REQUIRE(word(STATE_FIELD(secret)) == 0);
      REQUIRE(mspace_detach(ms) == 0);
      image = snapshot(region, CAP);
   }

   ~DamagedState()   // CHECKs only: a REQUIRE would throw out of a destructor
   {
      put_back();
      CHECK(mspace_attach_error(region, CAP) == MSPACE_ERROR_NONE);
      mspace ms = mspace_attach(region, CAP);
      CHECK(ms != nullptr);
      if (ms)
      {
         CHECK(mspace_check(ms) == 0);
         CHECK(mspace_detach(ms) == 0);
      }
   }

   std::size_t word(std::size_t at) const { return read_word(region + at); }
   void set_word(std::size_t at, std::size_t w) { write_word(region + at, w); }
   unsigned flags() const
   {
      unsigned f = 0;
      raw_copy(&f, region + STATE_FIELD(flags), sizeof f);
      return f;
   }
   void set_flags(unsigned f) { raw_copy(region + STATE_FIELD(flags), &f, sizeof f); }

   // The address a link of the state points at, and a link set to point at p.
   unsigned char *link(std::size_t at) const
   {
      const std::uintptr_t v = word(at);
      const std::uintptr_t here = reinterpret_cast<std::uintptr_t>(region + at);
      return reinterpret_cast<unsigned char *>(BUILT_RELATIVE ? here + v : v);
   }
   void set_link(std::size_t at, const void *p)
   {
      const std::uintptr_t here = reinterpret_cast<std::uintptr_t>(region + at);
      const std::uintptr_t to = reinterpret_cast<std::uintptr_t>(p);
      set_word(at, BUILT_RELATIVE ? to - here : to);
   }

   void put_back() { raw_copy(region, image.data(), CAP); }

   // Refused with `why`, and nothing written; then the image as it was.
   void expect_refused(mspace_error_t why, const char *what)
   {
      INFO(std::string(what));
      const std::vector<unsigned char> damaged = snapshot(region, CAP);
      CHECK(mspace_attach_error(region, CAP) == why);
      CHECK(mspace_attach(region, CAP) == nullptr);
      CHECK(unchanged(region, damaged));
      put_back();
   }

   // Accepted as a sound heap of this build; detached again and put back.
   mspace expect_accepted(const char *what)
   {
      INFO(std::string(what));
      CHECK(mspace_attach_error(region, CAP) == MSPACE_ERROR_NONE);
      mspace ms = mspace_attach(region, CAP);
      REQUIRE(ms != nullptr);
      CHECK(mspace_check(ms) == 0);
      return ms;
   }
   void done(mspace ms)
   {
      CHECK(mspace_detach(ms) == 0);
      put_back();
   }
};

} // namespace

TEST_CASE("attach refuses a trim threshold other than the one its heaps are made with")
{
   // Nothing sets the threshold but the creation, to MULLE_DLMALLOC_TRIM_THRESHOLD: another
   // value was written by a build configured otherwise, or is damage.
   DamagedState d;
   for (std::size_t t : {std::size_t(0), std::size_t(1), TRIM_THRESHOLD - 1, TRIM_THRESHOLD + A,
                         TRIM_THRESHOLD << 1, ~std::size_t(0)})
   {
      d.set_word(STATE_FIELD(trim_threshold), t);
      d.expect_refused(MSPACE_ERROR_LAYOUT_MISMATCH, "trim threshold");
   }
}

TEST_CASE("attach refuses a max_footprint below the footprint or beyond the chunks' end")
{
   DamagedState d;
   const std::size_t footprint = std::size_t(d.link(STATE_FIELD(top)) + d.word(STATE_FIELD(top_size)) - d.region);
   const std::size_t room = std::size_t(d.link(STATE_FIELD(chunk_end)) - d.region);   // the largest footprint
   for (std::size_t m : {~std::size_t(0), CAP + 1, room + A, footprint - A, std::size_t(0)})
   {
      d.set_word(STATE_FIELD(max_footprint), m);
      d.expect_refused(MSPACE_ERROR_CORRUPTION, "max_footprint");
   }
   // the ends of the range are values a heap can hold
   for (std::size_t m : {footprint, room})
   {
      d.set_word(STATE_FIELD(max_footprint), m);
      mspace ms = d.expect_accepted("max_footprint in range");
      CHECK(mspace_max_footprint(ms) == m);
      d.done(ms);
   }
}

TEST_CASE("attach refuses a written mark below the top's head or beyond the chunks' end")
{
   DamagedState d;
   const unsigned char *top = d.link(STATE_FIELD(top));
   const unsigned char *end = d.link(STATE_FIELD(chunk_end));
   for (const unsigned char *w : {top, top + 2 * W - 1, end + 2 * W + 1, end + 64 * KiB})
   {
      d.set_link(STATE_FIELD(written), w);
      d.expect_refused(MSPACE_ERROR_CORRUPTION, "written mark");
   }
   for (const unsigned char *w : {top + 2 * W, end + 2 * W})   // the ends of the range
   {
      d.set_link(STATE_FIELD(written), w);
      d.done(d.expect_accepted("written mark in range"));
   }
}

TEST_CASE("attach refuses flags that no stored heap holds")
{
   DamagedState d;
   d.set_flags(0xfffffff0u);
   d.expect_refused(MSPACE_ERROR_CORRUPTION, "flags 0xfffffff0");
   for (unsigned bit = 7; bit < 32; ++bit)
   {
      d.set_flags(1u << bit);
      d.expect_refused(MSPACE_ERROR_CORRUPTION, "an unknown flag bit");
   }

   // the known ones: from the OS (a copy of an mspace_create heap that is not live here),
   // locked, in the middle of a call out to user code. Attach clears what belongs to a run.
   d.set_flags(FROM_OS | CALLING_OUT);
   mspace ms = d.expect_accepted("from the OS, calling out");
   CHECK(d.flags() == ATTACHED);
   CHECK(mspace_attach_found(ms) == MSPACE_FOUND_DETACHED);
   d.done(ms);   // the detach succeeds: it refuses an mspace of the OS, and the flag is gone

   // an OS region with huge pages (MSPACE_HUGE_PAGES): its pages are the caller's now, and
   // its memory goes back by itself as in any caller's buffer (not at all)
   d.set_flags(FROM_OS | HUGE_PAGES);
   ms = d.expect_accepted("from the OS, huge pages");
   CHECK(d.flags() == ATTACHED);
   d.done(ms);

   d.set_flags(REGROWS);   // automatic trims stopped: the heap's own history, kept
   ms = d.expect_accepted("regrows");
   CHECK(d.flags() == (REGROWS | ATTACHED));
   d.done(ms);

   // the region past the largest footprint was zero where it was made (an OS region, an
   // MSPACE_ZEROED buffer): where it is attached, who knows. Forgotten
   d.set_flags(ZERO_ABOVE);
   ms = d.expect_accepted("zero above the footprint");
   CHECK(d.flags() == ATTACHED);
   d.done(ms);

   // in use by a process that ended without a detach: a sound heap is taken as it is
   d.set_flags(ATTACHED);
   ms = d.expect_accepted("not detached");
   CHECK(d.flags() == ATTACHED);
   CHECK(mspace_attach_found(ms) == MSPACE_FOUND_OPEN);
   d.done(ms);

   std::vector<unsigned char> scratch(64 * KiB);
   mspace probe = mspace_create_with_base_flags(scratch.data(), scratch.size(), MSPACE_LOCKED);
   d.set_flags(LOCKED);
   if (probe)
   {
      ms = d.expect_accepted("locked");
      CHECK(d.flags() == (LOCKED | ATTACHED));
      d.done(ms);
      CHECK(mspace_destroy(probe) == 0);
   }
   else   // a build without locks cannot keep the lock of a heap that has one
      d.expect_refused(MSPACE_ERROR_LAYOUT_MISMATCH, "locked, in a build without locks");
}

TEST_CASE("attach refuses a root that is not the start of a block in use")
{
   DamagedState d;
   const std::size_t root = d.word(STATE_FIELD(root));
   REQUIRE(root != 0);
   const Chunk *free_chunk = nullptr, *big = nullptr, *other = nullptr;
   for (const Chunk &c : d.chunks)
   {
      const std::size_t at = std::size_t(c.start - d.region);
      if (c.used == 0 && !free_chunk && &c != &d.chunks.back())
         free_chunk = &c;
      if (c.used != 0 && at != root && !other)
         other = &c;
      if (c.used >= 1024 && (!big || c.used > big->used))
         big = &c;
   }
   REQUIRE((free_chunk && big && other));
   const Chunk &top = d.chunks.back();
   struct Case
   {
      std::size_t offset;
      const char *what;
   };
   for (const Case &c : {Case{std::size_t(free_chunk->start - d.region), "a free chunk"},
                         Case{std::size_t(big->start - d.region) + 16 * A, "the middle of a block"},
                         Case{std::size_t(big->start - d.region) + A, "a block's second line"},
                         Case{root + 1, "one byte into the root block"},
                         Case{root - W, "the root block's head"},
                         Case{std::size_t(top.start - d.region), "the top"},
                         Case{std::size_t(top.start - d.region) + 64 * A, "inside the top"},
                         Case{W, "the state"},
                         Case{CAP + A, "past the region"}})
   {
      d.set_word(STATE_FIELD(root), c.offset);
      d.expect_refused(MSPACE_ERROR_CORRUPTION, c.what);
   }

   // the values a heap holds: 0 (no root), and any block in use
   d.set_word(STATE_FIELD(root), 0);
   mspace ms = d.expect_accepted("no root");
   CHECK(mspace_root(ms) == nullptr);
   d.done(ms);
   d.set_word(STATE_FIELD(root), std::size_t(other->start - d.region));
   ms = d.expect_accepted("another block in use");
   CHECK(mspace_root(ms) == other->start);
   d.done(ms);
}

TEST_CASE("attach refuses a root whose block was freed, or parked in a cache")
{
   // mspace_free does not clear the root (set another one first): a heap saved that way
   // has a root in free memory and is refused
   std::vector<unsigned char> buffer(CAP + A);
   unsigned char *region = aligned(buffer.data());
   mspace ms = mspace_create_with_base(region, CAP);
   REQUIRE(ms != nullptr);
   void *keep = mspace_malloc(ms, 100);
   for (std::size_t n : sizes{40, 3000})   // one a cache parks (where there are caches), one for a bin
   {
      void *p = mspace_malloc(ms, n);
      void *after = mspace_malloc(ms, 100);   // p does not merge into the top
      REQUIRE((p && after));
      mspace_set_root(ms, p);
      REQUIRE(read_word(region + STATE_FIELD(root)) == std::size_t(bytes(p) - region));
      mspace_free(ms, p);
      REQUIRE(mspace_detach(ms) == 0);
      CHECK(mspace_attach_error(region, CAP) == MSPACE_ERROR_CORRUPTION);
      CHECK(mspace_attach(region, CAP) == nullptr);
      // set right: the root moved to a block in use
      write_word(region + STATE_FIELD(root), std::size_t(bytes(keep) - region));
      ms = mspace_attach(region, CAP);
      REQUIRE(ms != nullptr);
      CHECK(mspace_root(ms) == keep);
      CHECK_HEAP(ms);
   }
   CHECK(mspace_detach(ms) == 0);
}

TEST_CASE("attach refuses a secret where no canary uses one")
{
   // below checks level 2 the secret is 0 in every heap; at level 2 it keys every canary,
   // so another one fails them all (in the bits they key: their lowest bits may hold a
   // block's slack instead)
   DamagedState d;
   const std::size_t secret = d.word(STATE_FIELD(secret));
   for (std::size_t bit : sizes{0, 7, 8 * W - 1})
   {
      if (CHECKS2 && bit == 0)
         continue;
      d.set_word(STATE_FIELD(secret), secret ^ (std::size_t(1) << bit));
      d.expect_refused(MSPACE_ERROR_CORRUPTION, ("secret, bit " + std::to_string(bit)).c_str());
   }
}

TEST_CASE("attach refuses a top chunk whose head is not a free top's")
{
   DamagedState d;
   unsigned char *head = d.link(STATE_FIELD(top)) + W;
   const std::size_t saved = read_word(head);
   REQUIRE(saved == (d.word(STATE_FIELD(top_size)) | 1));   // its size, and PINUSE
   for (std::size_t flag : {std::size_t(2), std::size_t(4), std::size_t(6)})   // CINUSE, TIER_PAGE
   {
      write_word(head, saved | flag);
      d.expect_refused(MSPACE_ERROR_CORRUPTION, "top head flags");
   }
   // the fields the heap walk already verifies: the top's place and size
   d.set_word(STATE_FIELD(top_size), d.word(STATE_FIELD(top_size)) - A);
   d.expect_refused(MSPACE_ERROR_CORRUPTION, "top size");
   d.set_link(STATE_FIELD(top), d.link(STATE_FIELD(least)));
   d.expect_refused(MSPACE_ERROR_CORRUPTION, "top at the first chunk");
}

TEST_CASE("attach refuses a capacity that no create accepts")
{
   // the capacity and chunk_end changed together, consistently: a region smaller than
   // the state, a block and the top, or larger than half the address space
   std::vector<unsigned char> buffer(CAP + A);
   unsigned char *region = aligned(buffer.data());
   mspace ms = mspace_create_with_base(region, CAP);   // empty: the top is the first chunk
   REQUIRE(ms != nullptr);
   const std::size_t bookkeeping = stats_of(ms).bookkeeping;
   REQUIRE(mspace_detach(ms) == 0);
   const std::vector<unsigned char> image = snapshot(region, 256 * KiB);

   auto set_link = [&](std::size_t at, std::uintptr_t to) {
      const std::uintptr_t here = reinterpret_cast<std::uintptr_t>(region + at);
      write_word(region + at, BUILT_RELATIVE ? to - here : to);
   };
   // with the tier, the bookkeeping holds a page map (a bit per 4 KiB frame) and grows with
   // the capacity: that of the smallest heaps comes from a create of one here
   std::size_t small = bookkeeping;
   {
      mspace t = mspace_create_with_base(region, 16 * KiB);
      REQUIRE(t != nullptr);
      small = stats_of(t).bookkeeping;
      CHECK(small <= bookkeeping);
      CHECK(mspace_destroy(t) == 0);
      raw_copy(region, image.data(), image.size());
   }
   auto shrink_to = [&](std::size_t capacity, std::size_t top_size) {
      const std::uintptr_t least = reinterpret_cast<std::uintptr_t>(region + small);
      write_word(region + STATE_FIELD(capacity), capacity);
      write_word(region + STATE_FIELD(map_frames), map_frames_of(region, capacity));
      set_link(STATE_FIELD(chunk_end), reinterpret_cast<std::uintptr_t>(region) + capacity);
      set_link(STATE_FIELD(least), least);
      set_link(STATE_FIELD(top), least);
      set_link(STATE_FIELD(written), least + 2 * W);   // the top's head
      write_word(region + STATE_FIELD(top_size), top_size);
      write_word(region + small + W, top_size | 1);   // the top's head
      write_word(region + STATE_FIELD(max_footprint), std::size_t(least + top_size - reinterpret_cast<std::uintptr_t>(region)));
   };

   // the smallest a create accepts: room for one minimum block and the top
   shrink_to(small + 2 * MIN_CHUNK, 2 * MIN_CHUNK);
   CHECK(mspace_attach_error(region, CAP) == MSPACE_ERROR_NONE);
   raw_copy(region, image.data(), image.size());
   // one line less: no create makes it
   shrink_to(small + MIN_CHUNK, MIN_CHUNK);
   CHECK(mspace_attach_error(region, CAP) == MSPACE_ERROR_CORRUPTION);
   CHECK(mspace_attach(region, CAP) == nullptr);
   raw_copy(region, image.data(), image.size());

   if (W == 8)
   {
      // more than half the address space: create refuses it; the walk reads only up to
      // the top, so without the bound it would be taken, and the top grown into nothing
      const std::size_t huge = ((~std::size_t(0) >> 1) + CAP) & ~(A - 1);
      write_word(region + STATE_FIELD(capacity), huge);
      set_link(STATE_FIELD(chunk_end), reinterpret_cast<std::uintptr_t>(region) + huge);
      CHECK(mspace_attach_error(region, huge) == MSPACE_ERROR_CORRUPTION);
      CHECK(mspace_attach(region, huge) == nullptr);
      raw_copy(region, image.data(), image.size());
   }
   ms = mspace_attach(region, CAP);
   REQUIRE(ms != nullptr);
   CHECK_HEAP(ms);
   CHECK(mspace_detach(ms) == 0);
}

TEST_CASE("attach: the fields the heap walk verifies, and the fields it resets")
{
   DamagedState d;
   // verified by the walk (mspace_check): the dv, the bins' maps and heads, the caches'
   // byte count, the region's bounds
   d.set_word(STATE_FIELD(dv_size), d.word(STATE_FIELD(dv_size)) + A);
   d.expect_refused(MSPACE_ERROR_CORRUPTION, "dv size");
   d.set_link(STATE_FIELD(dv), d.link(STATE_FIELD(least)));
   d.set_word(STATE_FIELD(dv_size), MIN_CHUNK);
   d.expect_refused(MSPACE_ERROR_CORRUPTION, "dv at a block in use");
   for (std::size_t at : {STATE_FIELD(smallmap), STATE_FIELD(treemap)})
   {
      std::uint32_t map = 0;
      raw_copy(&map, d.region + at, sizeof map);
      map ^= 1u << 20;
      raw_copy(d.region + at, &map, sizeof map);
      d.expect_refused(MSPACE_ERROR_CORRUPTION, "bin map");
   }
   // every page of the tier carries the state's epoch (a heap without the tier has none)
   d.set_word(STATE_FIELD(epoch), d.word(STATE_FIELD(epoch)) + 1);
   if (TIER)
      d.expect_refused(MSPACE_ERROR_CORRUPTION, "epoch");
   else
      d.done(d.expect_accepted("epoch"));
   d.set_link(STATE_FIELD(chunk_end), d.link(STATE_FIELD(chunk_end)) - A);
   d.expect_refused(MSPACE_ERROR_CORRUPTION, "chunk end");
   d.set_word(STATE_FIELD(map_frames), d.word(STATE_FIELD(map_frames)) + 1);   // it bounds every read
   d.expect_refused(MSPACE_ERROR_CORRUPTION, "map frames");                     // of the page map
   d.set_link(STATE_FIELD(least), d.link(STATE_FIELD(least)) + A);
   d.expect_refused(MSPACE_ERROR_CORRUPTION, "least");

   // reset by the attach, so any value is taken: the liveness magic, the lock, the
   // handler and its context, the lazily released end
   d.set_word(STATE_FIELD(magic), 0x5a5a5a5a);
   unsigned lock = 0x5a5a5a5au;
   raw_copy(d.region + STATE_FIELD(lock), &lock, sizeof lock);
   d.set_word(STATE_FIELD(handler), 0x5a5a5a5a);
   d.set_word(STATE_FIELD(handler_ctx), 0x5a5a5a5a);
   d.set_word(STATE_FIELD(lazy_end), 0x5a5a5a5a);
   mspace ms = d.expect_accepted("reset fields");
   raw_copy(&lock, d.region + STATE_FIELD(lock), sizeof lock);
   CHECK(lock == 0);
   CHECK(d.word(STATE_FIELD(handler)) == 0);
   CHECK(d.word(STATE_FIELD(handler_ctx)) == 0);
   CHECK(d.word(STATE_FIELD(lazy_end)) == 0);
   void *p = mspace_malloc(ms, 100);   // a lock left garbage would spin for ever
   CHECK(p != nullptr);
   mspace_free(ms, p);
   d.done(ms);
}
