#ifdef __cplusplus
/* ==== C++ face ============================================================================
   mulle::heap               owns one mspace; move-only; operator bool tells a failed creation
   mulle::allocator<T>       standard allocator over an mspace, for every standard container
   mulle::memory_resource    std::pmr::memory_resource over an mspace (C++17 and later)

   Allocation failure in the allocator and the resource: std::bad_alloc when exceptions are
   on; built with -fno-exceptions, MSPACE_ERROR_OUT_OF_MEMORY goes to the mspace's error
   handler and, should it return, the program aborts: a container never sees NULL.
   Alignments above MULLE_DLMALLOC_ALIGNMENT go through mspace_memalign.
   A freestanding build (__STDC_HOSTED__ == 0) gets mulle::heap only: it needs no header of
   the C++ library, which bare-metal toolchains may not ship. */
#if defined(__STDC_HOSTED__) && __STDC_HOSTED__ == 0
#  define MULLE_DLMALLOC_FREESTANDING_FACE 1
#endif
#ifndef MULLE_DLMALLOC_FREESTANDING_FACE
#include <cstddef>
#include <cstdlib>
#include <new>
#include <type_traits>
#if __cplusplus >= 201703L && defined(__has_include)
#  if __has_include(<memory_resource>)
#    include <memory_resource>
#    define MULLE_DLMALLOC_HAS_PMR 1
#  endif
#endif
#endif /* MULLE_DLMALLOC_FREESTANDING_FACE */

namespace mulle {

#ifndef MULLE_DLMALLOC_FREESTANDING_FACE
namespace detail {

inline void *allocate_aligned_bytes(mspace ms, size_t bytes, size_t alignment) noexcept
{
   return alignment <= MULLE_DLMALLOC_ALIGNMENT ? mspace_malloc(ms, bytes)
                                                : mspace_memalign(ms, alignment, bytes);
}

/* The one place where the C++ face fails an allocation. */
[[noreturn]] inline void allocation_failed(mspace ms, size_t bytes)
{
#if defined(__cpp_exceptions) || defined(__EXCEPTIONS) || defined(_CPPUNWIND)
   (void) ms;
   (void) bytes;
   throw std::bad_alloc();
#else
   mspace_report_error(ms, MSPACE_ERROR_OUT_OF_MEMORY, reinterpret_cast<void *>(bytes));
   std::abort();
#endif
}

} // namespace detail
#endif

/* Owns one mspace; move-only. A default-constructed or moved-from heap owns nothing and
   every allocation from it fails. */
class heap
{
public:
   heap() noexcept : ms_(nullptr) {}
   /* an OS region of `capacity` bytes; test the heap for failure; flags: MSPACE_LOCKED */
   explicit heap(size_t capacity, unsigned flags = 0) noexcept : ms_(mspace_create_flags(capacity, flags)) {}
   /* inside caller memory, which must outlive the heap */
   heap(void *base, size_t capacity, unsigned flags = 0) noexcept
      : ms_(mspace_create_with_base_flags(base, capacity, flags)) {}
   ~heap() { if (ms_) mspace_destroy(ms_); }

   heap(heap &&other) noexcept : ms_(other.ms_) { other.ms_ = nullptr; }
   heap &operator=(heap &&other) noexcept
   {
      if (this != &other)
      {
         if (ms_)
            mspace_destroy(ms_);
         ms_       = other.ms_;
         other.ms_ = nullptr;
      }
      return *this;
   }
   heap(const heap &)            = delete;
   heap &operator=(const heap &) = delete;

   explicit operator bool() const noexcept { return ms_ != nullptr; }
   mspace native_handle() const noexcept { return ms_; }

   /* NULL on failure, like mspace_malloc */
   void *allocate(size_t bytes, size_t alignment = MULLE_DLMALLOC_ALIGNMENT) noexcept
   {
      return alignment <= MULLE_DLMALLOC_ALIGNMENT ? mspace_malloc(ms_, bytes)
                                                   : mspace_memalign(ms_, alignment, bytes);
   }
   void   deallocate(void *p) noexcept { mspace_free(ms_, p); }
   void  *reallocate(void *p, size_t bytes) noexcept { return mspace_realloc(ms_, p, bytes); }
   static size_t usable_size(const void *p) noexcept { return mspace_usable_size(p); }
   size_t max_request() const noexcept { return mspace_max_request(ms_); }
   mspace_stats_t stats() const noexcept
   {
      mspace_stats_t s;
      mspace_get_stats(ms_, &s);
      return s;
   }
   size_t footprint() const noexcept { return mspace_footprint(ms_); }
   bool   trim(size_t pad = 0) noexcept { return mspace_trim(ms_, pad) != 0; }
   void   reset() noexcept { mspace_reset(ms_); }
   bool   check() const noexcept { return mspace_check(ms_) == 0; }

private:
   mspace ms_;
};

#ifndef MULLE_DLMALLOC_FREESTANDING_FACE
/* A standard allocator over an mspace. Two allocators are equal when they use the same
   mspace. A container's heap travels with its contents: copy assignment, move assignment
   and swap take the other container's allocator (propagate_on_container_* are true), so
   moving or swapping containers of different heaps never copies an element. */
template <class T>
class allocator
{
public:
   typedef T         value_type;
   typedef size_t    size_type;
   typedef ptrdiff_t difference_type;
   typedef std::true_type  propagate_on_container_copy_assignment;
   typedef std::true_type  propagate_on_container_move_assignment;
   typedef std::true_type  propagate_on_container_swap;
   typedef std::false_type is_always_equal;
   template <class U> struct rebind { typedef allocator<U> other; };

   explicit allocator(mspace ms) noexcept : ms_(ms) {}
   explicit allocator(const heap &h) noexcept : ms_(h.native_handle()) {}
   template <class U>
   allocator(const allocator<U> &other) noexcept : ms_(other.native_handle()) {}

   T *allocate(size_t n)
   {
      void *p = n <= max_size() ? detail::allocate_aligned_bytes(ms_, n * sizeof(T), alignof(T)) : nullptr;
      if (!p)
         detail::allocation_failed(ms_, n * sizeof(T));
      return static_cast<T *>(p);
   }
   void   deallocate(T *p, size_t) noexcept { mspace_free(ms_, p); }
   size_t max_size() const noexcept { return mspace_max_request(ms_) / sizeof(T); }
   mspace native_handle() const noexcept { return ms_; }

private:
   mspace ms_;
};

template <class T, class U>
inline bool operator==(const allocator<T> &a, const allocator<U> &b) noexcept
{
   return a.native_handle() == b.native_handle();
}
template <class T, class U>
inline bool operator!=(const allocator<T> &a, const allocator<U> &b) noexcept
{
   return !(a == b);
}

#ifdef MULLE_DLMALLOC_HAS_PMR
/* A std::pmr::memory_resource over an mspace; equal to another one over the same mspace. */
class memory_resource : public std::pmr::memory_resource
{
public:
   explicit memory_resource(mspace ms) noexcept : ms_(ms) {}
   explicit memory_resource(const heap &h) noexcept : ms_(h.native_handle()) {}
   mspace native_handle() const noexcept { return ms_; }

private:
   void *do_allocate(size_t bytes, size_t alignment) override
   {
      void *p = detail::allocate_aligned_bytes(ms_, bytes, alignment);
      if (!p)
         detail::allocation_failed(ms_, bytes);
      return p;
   }
   void do_deallocate(void *p, size_t, size_t) override { mspace_free(ms_, p); }
   bool do_is_equal(const std::pmr::memory_resource &other) const noexcept override
   {
#if defined(__GXX_RTTI) || defined(_CPPRTTI) || defined(__cpp_rtti)
      const memory_resource *o = dynamic_cast<const memory_resource *>(&other);
      return o && o->ms_ == ms_;
#else
      return this == &other;   /* without RTTI a foreign resource cannot be told apart */
#endif
   }
   mspace ms_;
};
#endif /* MULLE_DLMALLOC_HAS_PMR */
#endif /* MULLE_DLMALLOC_FREESTANDING_FACE */

} // namespace mulle
#endif /* __cplusplus */

#endif /* MULLE_DLMALLOC_HPP */
