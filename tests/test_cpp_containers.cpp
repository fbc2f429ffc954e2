// Every standard container over mulle::allocator and over mulle::memory_resource, growing
// until the mspace is exhausted (std::bad_alloc) and recovering once it is cleared.
#include "test_helpers.h"

#include <cstring>
#include <deque>
#include <list>
#include <map>
#include <new>
#include <string>
#include <unordered_map>
#include <vector>
#if defined(MULLE_DLMALLOC_HAS_PMR)
#include <memory_resource>
#endif

using namespace test;

namespace {

template <class T>
using alloc = mulle::allocator<T>;

// Inserts until the mspace refuses; returns how many elements went in. Whatever was built
// before the refusal stays intact (strong or basic guarantee of the container).
template <class Insert>
std::size_t fill_until_bad_alloc(Insert insert)
{
   std::size_t n = 0;
   try
   {
      for (;; ++n)
         insert(n);
   }
   catch (const std::bad_alloc &)
   {
   }
   return n;
}

} // namespace

TEST_CASE("containers over mulle::allocator run the mspace full, then recover")
{
   mulle::heap heap(1 * MiB);
   REQUIRE(bool(heap));
   mspace ms = heap.native_handle();

   SUBCASE("std::vector")
   {
      std::vector<std::uint64_t, alloc<std::uint64_t>> v{alloc<std::uint64_t>(heap)};
      std::size_t n = fill_until_bad_alloc([&](std::size_t i) { v.push_back(i); });
      INFO("n = " << n);
      CHECK(n >= 32 * KiB);                   // doubling: the next 512 KiB does not fit beside 2 x 256
      CHECK(v.size() == n);
      for (std::size_t i = 0; i < v.size(); i += 997)
         CHECK(v[i] == i);
      v.clear();
      v.shrink_to_fit();
      CHECK(mspace_check(ms) == 0);
      CHECK(stats_of(ms).allocated_blocks == 0);
      v.assign(1000, 7);                      // recovered
      CHECK(v.back() == 7);
   }
   SUBCASE("std::basic_string")
   {
      typedef std::basic_string<char, std::char_traits<char>, alloc<char>> string;
      string s{alloc<char>(heap)};
      std::size_t n = fill_until_bad_alloc([&](std::size_t) { s.append(1000, 'x'); });
      CHECK(n > 100);
      CHECK(s.size() == n * 1000);
      s.clear();
      s.shrink_to_fit();
      CHECK(mspace_check(ms) == 0);
      s.assign(5000, 'y');
      CHECK(s[4999] == 'y');
   }
   SUBCASE("std::list")
   {
      std::list<int, alloc<int>> l{alloc<int>(heap)};
      std::size_t n = fill_until_bad_alloc([&](std::size_t i) { l.push_back(int(i)); });
      CHECK(n * chunk_for(3 * sizeof(void *)) > 900 * KiB);   // one chunk a node, nearly all the heap
      CHECK(l.size() == n);
      l.clear();
      CHECK(stats_of(ms).allocated_blocks == 0);
      l.assign(100, 3);
      CHECK(l.size() == 100);
   }
   SUBCASE("std::deque")
   {
      std::deque<double, alloc<double>> d{alloc<double>(heap)};
      std::size_t n = fill_until_bad_alloc([&](std::size_t i) { d.push_front(double(i)); });
      CHECK(n > 64 * KiB);
      CHECK(d.back() == 0.0);
      d.clear();
      d.shrink_to_fit();
      CHECK(mspace_check(ms) == 0);
      d.resize(1000);
      CHECK(d.size() == 1000);
   }
   SUBCASE("std::map")
   {
      typedef std::pair<const int, int> value;
      std::map<int, int, std::less<int>, alloc<value>> m{std::less<int>(), alloc<value>(heap)};
      std::size_t n = fill_until_bad_alloc([&](std::size_t i) { m.emplace(int(i), int(i) * 2); });
      CHECK(n > 10000);
      CHECK(m.size() == n);
      CHECK(m[int(n / 2)] == int(n / 2) * 2);
      m.clear();
      CHECK(stats_of(ms).allocated_blocks == 0);
      m.emplace(1, 2);
      CHECK(m.at(1) == 2);
   }
   SUBCASE("std::unordered_map")
   {
      typedef std::pair<const int, int> value;
      std::unordered_map<int, int, std::hash<int>, std::equal_to<int>, alloc<value>> m(
         16, std::hash<int>(), std::equal_to<int>(), alloc<value>(heap));
      std::size_t n = fill_until_bad_alloc([&](std::size_t i) { m.emplace(int(i), int(i) + 1); });
      CHECK(n > 5000);
      CHECK(m.size() == n);
      CHECK(m.at(int(n - 1)) == int(n));
      m.clear();
      m.rehash(0);
      CHECK(mspace_check(ms) == 0);
      m.emplace(5, 6);
      CHECK(m.at(5) == 6);
   }
   CHECK(mspace_check(ms) == 0);
}

TEST_CASE("mulle::allocator: over-aligned elements come from mspace_memalign")
{
   struct alignas(128) line
   {
      unsigned char bytes[128];
   };
   mulle::heap heap(1 * MiB);
   std::vector<line, alloc<line>> v{alloc<line>(heap)};
   for (int i = 0; i < 100; ++i)
   {
      v.emplace_back();
      CHECK(is_aligned(v.data(), 128));
   }
   std::list<line, alloc<line>> l{alloc<line>(heap)};
   l.emplace_back();
   l.emplace_back();
   for (const line &x : l)
      CHECK(is_aligned(&x, 128));
   CHECK(mspace_check(heap.native_handle()) == 0);
}

TEST_CASE("mulle::allocator: no propagation, copies keep their heap, max_size as documented")
{
   typedef std::allocator_traits<alloc<int>> traits;
   CHECK_FALSE(traits::propagate_on_container_copy_assignment::value);
   CHECK_FALSE(traits::propagate_on_container_move_assignment::value);
   CHECK_FALSE(traits::propagate_on_container_swap::value);
   CHECK_FALSE(traits::is_always_equal::value);

   mulle::heap a(1 * MiB), b(1 * MiB);
   REQUIRE((a && b));
   CHECK(traits::select_on_container_copy_construction(alloc<int>(b)) == alloc<int>(b));
   std::vector<int, alloc<int>> va(100, 1, alloc<int>(a)), vb(10, 2, alloc<int>(b));
   va = vb;                                   // copy assignment keeps a's heap
   CHECK(va.get_allocator() == alloc<int>(a));
   CHECK(mspace_is_heap_object(a.native_handle(), va.data()));
   CHECK(va == vb);

   std::vector<int, alloc<int>> copy(vb);     // a copy stays in the source's heap
   CHECK(copy.get_allocator() == alloc<int>(b));
   CHECK(mspace_is_heap_object(b.native_handle(), copy.data()));
   std::vector<int, alloc<int>> elsewhere(vb, alloc<int>(a));
   CHECK(mspace_is_heap_object(a.native_handle(), elsewhere.data()));
   CHECK(elsewhere == vb);

   CHECK(alloc<int>(a).max_size() == mspace_max_request(a.native_handle()) / sizeof(int));
   CHECK(alloc<std::uint64_t>(a).max_size() * 8 <= mspace_max_request(a.native_handle()));
}

namespace {

// The arena use case of the README: a long-lived container in heap `home` is copy- or
// move-assigned from one built in a per-request arena; the arena is then reset or destroyed,
// and the long-lived container goes on in its own heap. Both heaps record errors instead of
// aborting, and a long-lived container that took the arena's storage is not used after the
// arena ends.
template <class C, class Make, class InHeap, class Use>
void assign_from_an_arena(Make make, InHeap in_heap, Use use)
{
   for (int by_move = 0; by_move < 2; ++by_move)
      for (int destroy = 0; destroy < 2; ++destroy)
      {
         const std::string round = std::string(by_move ? "move" : "copy") + " assignment, then the arena is " +
                                   (destroy ? "destroyed" : "reset");
         INFO(round);
         mulle::heap home(1 * MiB);
         mulle::heap arena(1 * MiB);
         REQUIRE((home && arena));
         mspace home_ms = home.native_handle(), arena_ms = arena.native_handle();
         ErrorLog home_log, arena_log;
         home_log.install(home_ms);
         arena_log.install(arena_ms);
         {
            C kept = make(home_ms, 1);
            C expected = make(home_ms, 2);
            {
               C request = make(arena_ms, 2);
               if (by_move)
                  kept = std::move(request);
               else
                  kept = request;
            }
            CHECK(kept == expected);
            const bool stayed_home = kept.get_allocator().native_handle() == home_ms && in_heap(home_ms, kept);
            CHECK(stayed_home);
            if (!stayed_home)
               continue;                                     // its storage would go with the arena
            if (destroy)
               arena = mulle::heap();
            else
            {
               arena.reset();
               void *scribble = arena.allocate(900 * KiB);   // over whatever the arena held
               REQUIRE(scribble != nullptr);
               std::memset(scribble, 0xA5, 900 * KiB);
            }
            use(kept);
            use(expected);
            CHECK(kept == expected);
            CHECK(in_heap(home_ms, kept));
            CHECK(mspace_check(home_ms) == 0);
         }
         CHECK(home_log.count == 0);
         CHECK(arena_log.count == 0);
         CHECK(stats_of(home_ms).allocated_blocks == 0);
      }
}

} // namespace

TEST_CASE("mulle::allocator: a long-lived container assigned from an arena's survives the arena")
{
   SUBCASE("std::vector")
   {
      typedef std::vector<std::uint64_t, alloc<std::uint64_t>> vector;
      assign_from_an_arena<vector>(
         [](mspace ms, int seed) {
            vector v{alloc<std::uint64_t>(ms)};
            for (std::uint64_t i = 0; i < 1000; ++i)
               v.push_back(std::uint64_t(seed) * 100000 + i);
            return v;
         },
         [](mspace ms, const vector &v) { return mspace_is_heap_object(ms, v.data()) != 0; },
         [](vector &v) {
            for (std::uint64_t i = 0; i < 5000; ++i)
               v.push_back(i);
         });
   }
   SUBCASE("std::basic_string")
   {
      typedef std::basic_string<char, std::char_traits<char>, alloc<char>> string;
      assign_from_an_arena<string>(
         [](mspace ms, int seed) {
            string s{alloc<char>(ms)};
            s.assign(3000, char('a' + seed));
            return s;
         },
         [](mspace ms, const string &s) { return mspace_is_heap_object(ms, s.data()) != 0; },
         [](string &s) { s.append(20000, 'z'); });
   }
   SUBCASE("std::map")
   {
      typedef std::pair<const int, int>                                value;
      typedef std::map<int, int, std::less<int>, alloc<value>> map;
      assign_from_an_arena<map>(
         [](mspace ms, int seed) {
            map m{std::less<int>(), alloc<value>(ms)};
            for (int i = 0; i < 500; ++i)
               m.emplace(i * seed, i);
            return m;
         },
         [](mspace ms, const map &m) {
            for (const value &node : m)
               if (!mspace_is_heap_object(ms, &node))
                  return false;
            return true;
         },
         [](map &m) {
            for (int i = 0; i < 2000; ++i)
               m[-i] = i;
         });
   }
}

#if defined(MULLE_DLMALLOC_HAS_PMR)
TEST_CASE("std::pmr containers over mulle::memory_resource run full and recover")
{
   mulle::heap            heap(1 * MiB);
   mulle::memory_resource resource(heap);
   mspace                 ms = heap.native_handle();

   std::pmr::vector<std::pmr::string> strings(&resource);
   std::size_t n = fill_until_bad_alloc([&](std::size_t i) {
      strings.emplace_back(std::string(200, char('a' + i % 26)));
   });
   CHECK(n > 1000);
   CHECK(strings.size() == n);
   CHECK(strings.back().get_allocator().resource() == &resource);   // uses-allocator construction
   strings.clear();
   strings.shrink_to_fit();
   CHECK(stats_of(ms).allocated_blocks == 0);

   std::pmr::map<int, std::pmr::string> m(&resource);
   std::pmr::unordered_map<int, int>    u(&resource);
   std::pmr::deque<int>                 d(&resource);
   std::pmr::list<int>                  l(&resource);
   for (int i = 0; i < 1000; ++i)
   {
      m.emplace(i, "value");
      u.emplace(i, i);
      d.push_back(i);
      l.push_back(i);
   }
   CHECK(m.size() + u.size() + d.size() + l.size() == 4000);
   CHECK(stats_of(ms).allocated_blocks > 3000);

   mulle::memory_resource same(ms), other_heap_resource(mulle::heap(64 * KiB).native_handle());
   CHECK(resource.is_equal(same));
   CHECK_FALSE(resource.is_equal(*std::pmr::new_delete_resource()));
   CHECK(mspace_check(ms) == 0);
}
#endif
