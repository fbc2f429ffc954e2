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
   /* an OS region of `capacity` bytes; test the heap for failure; flags: MSPACE_LOCKED, MSPACE_HUGE_PAGES */
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
   mspace. Like std::pmr::polymorphic_allocator, it stays with its container: copy
   assignment, move assignment and swap keep each container's own heap
   (propagate_on_container_* are false), so a long-lived container assigned from one in a
   per-request arena copies or moves the elements into its own heap and outlives the arena's
   mspace_reset. Assigning between containers of one heap still hands the buffer over.
   A copy-constructed container keeps the source's heap: std::pmr falls back on the default
   resource there, but there is no default heap, and the source's is the one the caller
   chose; to copy into another heap, pass its allocator: `C copy(source, allocator(other))`.
   Swapping containers of different heaps is undefined, as for std::pmr. */
template <class T>
class allocator
{
public:
   typedef T         value_type;
   typedef size_t    size_type;
   typedef ptrdiff_t difference_type;
   typedef std::false_type propagate_on_container_copy_assignment;
   typedef std::false_type propagate_on_container_move_assignment;
   typedef std::false_type propagate_on_container_swap;
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
   /* a copy of a container stays in the source's heap */
   allocator select_on_container_copy_construction() const noexcept { return *this; }

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
namespace detail {

/* How two mulle::memory_resource objects recognise each other, with or without RTTI, and
   without reading a byte of a resource that may not be one of them: asked whether `other`
   is equal, a resource passes `other` a token it has made this thread's pending question.
   Only mulle::memory_resource::do_is_equal answers, and only when handed the pending token,
   by writing its own address and its mspace into the question; `other` is ours exactly when
   the answer carries its own address. A foreign resource ignores the token, or passes it on
   to a resource that then answers with another address: either way it is not equal. One
   way for both, so translation units built with and without RTTI agree. */
class resource_token : public std::pmr::memory_resource
{
   void *do_allocate(size_t bytes, size_t alignment) override
   {
      return std::pmr::null_memory_resource()->allocate(bytes, alignment);
   }
   void do_deallocate(void *, size_t, size_t) override {}
   bool do_is_equal(const std::pmr::memory_resource &other) const noexcept override
   {
      return this == &other;
   }
};

struct resource_question
{
   const std::pmr::memory_resource *token;       /* what the asker passed, or NULL */
   const std::pmr::memory_resource *responder;   /* who answered */
   mspace                           ms;          /* the responder's mspace */

   /* this thread's pending question; questions nest, each restores the one before */
   static resource_question &pending() noexcept
   {
      static thread_local resource_question question = {nullptr, nullptr, nullptr};
      return question;
   }
};

} // namespace detail

/* A std::pmr::memory_resource over an mspace; equal to another one over the same mspace,
   with or without RTTI, and never to a resource of another type. */
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
      const std::pmr::memory_resource *self = this;
      if (self == &other)
         return true;
      detail::resource_question &pending = detail::resource_question::pending();
      if (&other == pending.token)        /* another of ours asks who we are */
      {
         pending.responder = self;
         pending.ms        = ms_;
         return false;
      }
      detail::resource_token          token;
      const detail::resource_question outer = pending;
      pending = {&token, nullptr, nullptr};
      (void) other.is_equal(token);
      const detail::resource_question answer = pending;
      pending = outer;
      return answer.responder == &other && answer.ms == ms_;
   }
   mspace ms_;
};
#endif /* MULLE_DLMALLOC_HAS_PMR */
#endif /* MULLE_DLMALLOC_FREESTANDING_FACE */

} // namespace mulle
#endif /* __cplusplus */

#endif /* MULLE_DLMALLOC_HPP */
