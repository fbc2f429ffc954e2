// The C++ face: mulle::heap (owning, move-only), mulle::allocator<T> with standard
// containers, and mulle::memory_resource for std::pmr.
#include <doctest/doctest.h>
#include "mulle_dlmalloc.hpp"
#include "test_helpers.h"

#include <atomic>
#include <cstdint>
#include <functional>
#include <list>
#include <map>
#include <new>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

using namespace test;

static_assert(!std::is_copy_constructible<mulle::heap>::value, "heap is move-only");
static_assert(!std::is_copy_assignable<mulle::heap>::value, "heap is move-only");
static_assert(std::is_nothrow_move_constructible<mulle::heap>::value, "heap moves without throwing");
static_assert(std::is_nothrow_move_assignable<mulle::heap>::value, "heap moves without throwing");

TEST_CASE("mulle::heap owns its mspace")
{
   mulle::heap h(4 * MiB);
   REQUIRE(bool(h));
   mspace ms = h.native_handle();
   CHECK(ms != nullptr);

   void *p = h.allocate(100);
   REQUIRE(p != nullptr);
   CHECK(usable_is(mulle::heap::usable_size(p), 100));
   CHECK(mspace_is_heap_object(ms, p));
   void *aligned = h.allocate(100, 4096);
   REQUIRE(aligned != nullptr);
   CHECK(is_aligned(aligned, 4096));
   fill(p, 100, 1);
   void *q = h.reallocate(p, 5000);
   REQUIRE(q != nullptr);
   CHECK(verify(q, 100, 1));
   CHECK(h.stats().allocated_blocks == 2);
   CHECK(h.footprint() == mspace_footprint(ms));
   CHECK(h.max_request() == mspace_max_request(ms));
   CHECK(h.check());
   h.deallocate(q);
   h.deallocate(aligned);
   CHECK(h.stats().allocated_blocks == 0);

   void *big = h.allocate(1 * MiB);
   REQUIRE(big != nullptr);
   h.deallocate(big);
   CHECK(h.trim());
   CHECK_FALSE(h.trim());
   CHECK(h.allocate(1000) != nullptr);
   h.reset();
   CHECK(h.stats().allocated_blocks == 0);
   CHECK(h.allocate(SIZE_MAX) == nullptr);
}

TEST_CASE("mulle::heap: a failed creation tests false and allocates nothing")
{
   mulle::heap none;
   CHECK_FALSE(bool(none));
   CHECK(none.native_handle() == nullptr);
   CHECK(none.allocate(10) == nullptr);

   mulle::heap refused(SIZE_MAX);
   CHECK_FALSE(bool(refused));
   CHECK(refused.allocate(10) == nullptr);

   unsigned char tiny[32];
   mulle::heap too_small(tiny, sizeof tiny);
   CHECK_FALSE(bool(too_small));
}

TEST_CASE("mulle::heap destroys its mspace; a move hands it over")
{
   Buffer buf(256 * KiB);
   mspace ms;
   {
      mulle::heap a(buf.base, 256 * KiB);
      REQUIRE(bool(a));
      ms = a.native_handle();
      void *p = a.allocate(1000);
      REQUIRE(p != nullptr);
      fill(p, 1000, 3);

      mulle::heap b(std::move(a));
      CHECK_FALSE(bool(a));   // NOLINT: the moved-from state is specified
      CHECK(a.allocate(10) == nullptr);
      REQUIRE(bool(b));
      CHECK(b.native_handle() == ms);
      CHECK(verify(p, 1000, 3));

      mulle::heap c;
      c = std::move(b);
      CHECK_FALSE(bool(b));
      CHECK(c.native_handle() == ms);
      CHECK(c.stats().allocated_blocks == 1);
      CHECK(mspace_check(ms) == 0);

      // assigning over a live heap destroys what it owned
      Buffer other_buf(64 * KiB);
      mulle::heap other(other_buf.base, 64 * KiB);
      REQUIRE(bool(other));
      mspace other_ms = other.native_handle();
      other = std::move(c);
      CHECK(other.native_handle() == ms);
      CHECK(mspace_destroy(other_ms) != 0);   // already destroyed by the assignment
   }
   CHECK(mspace_destroy(ms) != 0);   // the last owner destroyed it
}

namespace {

struct alignas(64) Wide
{
   unsigned char bytes[64];
};

template <class T>
using vec = std::vector<T, mulle::allocator<T>>;

}  // namespace

TEST_CASE("mulle::allocator with standard containers")
{
   mulle::heap h(16 * MiB);
   REQUIRE(bool(h));
   mspace ms = h.native_handle();

   {
      vec<int> v{mulle::allocator<int>(h)};
      for (int i = 0; i < 100000; ++i)
         v.push_back(i);
      CHECK(mspace_is_heap_object(ms, v.data()));
      long long sum = 0;
      for (int x : v)
         sum += x;
      CHECK(sum == 4999950000LL);

      using Pair = std::pair<const int, std::string>;
      std::map<int, std::string, std::less<int>, mulle::allocator<Pair>> m{mulle::allocator<Pair>(ms)};
      for (int i = 0; i < 1000; ++i)
         m.emplace(i, std::to_string(i));
      CHECK(m.size() == 1000);
      CHECK(m.at(777) == "777");

      std::list<double, mulle::allocator<double>> l{mulle::allocator<double>(ms)};
      for (int i = 0; i < 1000; ++i)
         l.push_front(i * 0.5);
      CHECK(l.size() == 1000);

      vec<Wide> w{mulle::allocator<Wide>(h)};
      w.resize(100);
      CHECK(is_aligned(w.data(), alignof(Wide)));
      CHECK(mspace_is_heap_object(ms, w.data()));
      CHECK(mspace_check(ms) == 0);
      CHECK(h.stats().allocated_blocks >= 1 + 1000 + 1000 + 1);
   }
   CHECK(h.stats().allocated_blocks == 0);   // the containers gave everything back
   CHECK(mspace_check(ms) == 0);
}

TEST_CASE("mulle::allocator: equality, rebinding, max_size and failure")
{
   mulle::heap h1(1 * MiB), h2(1 * MiB);
   REQUIRE((h1 && h2));
   mulle::allocator<int> a1(h1), a1b(h1.native_handle()), a2(h2);
   mulle::allocator<double> rebound(a1);
   CHECK(a1 == a1b);
   CHECK(a1 != a2);
   CHECK(rebound == a1);
   CHECK(rebound.native_handle() == h1.native_handle());
   CHECK(a1.max_size() == mspace_max_request(h1.native_handle()) / sizeof(int));
   CHECK(a1.max_size() < 1 * MiB / sizeof(int));

   CHECK_THROWS_AS(a1.allocate(a1.max_size() + 1), std::bad_alloc);
   CHECK_THROWS_AS(a1.allocate(SIZE_MAX / sizeof(int)), std::bad_alloc);
   void *half = h1.allocate(600 * KiB);
   REQUIRE(half != nullptr);
   vec<char> v{mulle::allocator<char>(h1)};
   CHECK_THROWS_AS(v.resize(600 * KiB), std::bad_alloc);   // below max_size, but no room
   CHECK(v.empty());
   h1.deallocate(half);
   CHECK(mspace_check(h1.native_handle()) == 0);

   int *p = a1.allocate(10);
   REQUIRE(p != nullptr);
   a1.deallocate(p, 10);
   CHECK(h1.stats().allocated_blocks == 0);
}

TEST_CASE("mulle::allocator: between heaps the elements move, within a heap the buffer")
{
   mulle::heap h1(1 * MiB), h2(1 * MiB);
   REQUIRE((h1 && h2));
   mspace ms1 = h1.native_handle(), ms2 = h2.native_handle();
   vec<int> a{mulle::allocator<int>(h1)};
   vec<int> b{mulle::allocator<int>(h2)};
   a.assign(1000, 1);
   b.assign(2000, 2);

   const int *b_data = b.data();
   a = std::move(b);                             // different heaps: a keeps h1, takes the elements
   CHECK(a.get_allocator().native_handle() == ms1);
   CHECK(mspace_is_heap_object(ms1, a.data()));
   CHECK(a.data() != b_data);
   CHECK(a == vec<int>(2000, 2, mulle::allocator<int>(h1)));

   vec<int> same{mulle::allocator<int>(h1)};     // one heap: the buffer changes hands
   const int *a_data = a.data();
   same = std::move(a);
   CHECK(same.data() == a_data);
   vec<int> other{mulle::allocator<int>(ms1)};
   other.assign(10, 3);
   other.swap(same);
   CHECK(other.data() == a_data);
   CHECK(same.size() == 10);

   // the README's exchange of two containers on different heaps: through a temporary on the
   // first one's heap; every container keeps its heap
   b.assign(20, 4);
   vec<int> tmp(std::move(other), other.get_allocator());
   other = std::move(b);
   b     = std::move(tmp);
   CHECK(other == vec<int>(20, 4, mulle::allocator<int>(h1)));
   CHECK(b == vec<int>(2000, 2, mulle::allocator<int>(h2)));
   CHECK(mspace_is_heap_object(ms1, other.data()));
   CHECK(mspace_is_heap_object(ms2, b.data()));
   CHECK(b.get_allocator().native_handle() == ms2);
   CHECK(mspace_check(ms1) == 0);
   CHECK(mspace_check(ms2) == 0);
}

#ifdef MULLE_DLMALLOC_HAS_PMR
#include <memory_resource>

TEST_CASE("mulle::memory_resource backs std::pmr containers")
{
   mulle::heap h(4 * MiB);
   REQUIRE(bool(h));
   mulle::memory_resource r(h);
   CHECK(r.native_handle() == h.native_handle());
   {
      std::pmr::vector<std::pmr::string> v(&r);
      for (int i = 0; i < 1000; ++i)
         v.emplace_back(std::string(100, char('a' + i % 26)));
      CHECK(mspace_is_heap_object(h.native_handle(), v.data()));
      CHECK(mspace_is_heap_object(h.native_handle(), v[500].data()));
      CHECK(std::string(v[27].data(), v[27].size()) == std::string(100, 'b'));
      CHECK(h.stats().allocated_blocks >= 1001);
   }
   CHECK(h.stats().allocated_blocks == 0);

   void *p = r.allocate(1000, 256);
   CHECK(is_aligned(p, 256));
   CHECK(mspace_is_heap_object(h.native_handle(), p));
   r.deallocate(p, 1000, 256);
   CHECK_THROWS_AS((void) r.allocate(8 * MiB), std::bad_alloc);
   CHECK(h.check());

   mulle::memory_resource same(h.native_handle());
   mulle::heap other_heap(1 * MiB);
   REQUIRE(bool(other_heap));
   mulle::memory_resource other(other_heap);
   CHECK(r.is_equal(same));
   CHECK_FALSE(r.is_equal(other));
   CHECK_FALSE(r.is_equal(*std::pmr::new_delete_resource()));
}

namespace {

// A foreign resource that looks like ours: a pointer after the vtable, the same mspace.
class lookalike_resource : public std::pmr::memory_resource
{
public:
   explicit lookalike_resource(mspace ms) : ms_(ms) {}
   mspace ms_;

private:
   void *do_allocate(std::size_t bytes, std::size_t) override { return mspace_malloc(ms_, bytes); }
   void  do_deallocate(void *p, std::size_t, std::size_t) override { mspace_free(ms_, p); }
   bool  do_is_equal(const std::pmr::memory_resource &o) const noexcept override { return this == &o; }
};

// A foreign resource that passes every question on to the resource it wraps.
class forwarding_resource : public std::pmr::memory_resource
{
public:
   explicit forwarding_resource(std::pmr::memory_resource &upstream) : upstream_(upstream) {}

private:
   void *do_allocate(std::size_t bytes, std::size_t alignment) override
   {
      return upstream_.allocate(bytes, alignment);
   }
   void do_deallocate(void *p, std::size_t bytes, std::size_t alignment) override
   {
      upstream_.deallocate(p, bytes, alignment);
   }
   bool do_is_equal(const std::pmr::memory_resource &o) const noexcept override
   {
      return this == &o || upstream_.is_equal(o);
   }
   std::pmr::memory_resource &upstream_;
};

// A resource of ours by inheritance.
class counting_resource : public mulle::memory_resource
{
public:
   using mulle::memory_resource::memory_resource;
};

}  // namespace

TEST_CASE("mulle::memory_resource: equal exactly to our resources over the same mspace")
{
   mulle::heap h(1 * MiB), h2(1 * MiB);
   REQUIRE((h && h2));
   mspace ms = h.native_handle();
   mulle::memory_resource r(h), same(ms), other(h2);
   counting_resource      derived(ms);
   lookalike_resource     lookalike(ms);
   forwarding_resource    forward(r);

   CHECK(r.is_equal(r));
   CHECK(r.is_equal(same));
   CHECK(same.is_equal(r));
   CHECK(r == same);
   CHECK(r.is_equal(derived));
   CHECK(derived.is_equal(r));
   CHECK_FALSE(r.is_equal(other));
   CHECK_FALSE(other.is_equal(r));
   CHECK_FALSE(r.is_equal(lookalike));
   CHECK_FALSE(r.is_equal(forward));             // it answers with r's address, not its own
   CHECK(forward.is_equal(r));                   // what the foreign resource says is its own
   CHECK_FALSE(r.is_equal(*std::pmr::new_delete_resource()));
   CHECK_FALSE(r.is_equal(*std::pmr::null_memory_resource()));
   std::pmr::unsynchronized_pool_resource pool(&r);
   CHECK_FALSE(r.is_equal(pool));

   // equal resources let a std::pmr container take another's buffer on move assignment
   std::pmr::vector<int> from(1000, 7, &r), to(&same);
   const int *data = from.data();
   to = std::move(from);
   CHECK(to.data() == data);
   std::pmr::vector<int> elsewhere(&other);
   elsewhere = std::move(to);
   CHECK(elsewhere.data() != data);
   CHECK(mspace_is_heap_object(h2.native_handle(), elsewhere.data()));
   CHECK(elsewhere == std::pmr::vector<int>(1000, 7));
}

TEST_CASE("mulle::memory_resource: threads compare resources at once")
{
   mulle::heap h(1 * MiB), h2(1 * MiB);
   REQUIRE((h && h2));
   mulle::memory_resource r(h), same(h.native_handle()), other(h2);
   forwarding_resource    forward(r);
   std::atomic<int>       wrong{0};
   std::vector<std::thread> threads;
   for (int t = 0; t < 4; ++t)
      threads.emplace_back([&] {
         for (int i = 0; i < 20000; ++i)
            if (!r.is_equal(same) || !same.is_equal(r) || r.is_equal(other) || r.is_equal(forward))
               wrong.fetch_add(1);
      });
   for (std::thread &t : threads)
      t.join();
   CHECK(wrong.load() == 0);
}
#endif
