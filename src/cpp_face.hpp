#ifdef __cplusplus
/* ==== C++ face ============================================================================
   An owning heap, an STL allocator and a std::pmr::memory_resource over an mspace. None of
   them needs exceptions: the heap reports a failed creation through operator bool. */
#include <new>
#include <cstddef>
#if __cplusplus >= 201703L && defined(__has_include)
#  if __has_include(<memory_resource>)
#    include <memory_resource>
#    define MULLE_DLMALLOC_HAS_PMR 1
#  endif
#endif
#if defined(__cpp_exceptions) || defined(__EXCEPTIONS)
#  define MULLE_DLMALLOC_THROW_BAD_ALLOC() throw std::bad_alloc()
#else
#  define MULLE_DLMALLOC_THROW_BAD_ALLOC() do { } while (0)
#endif

namespace mulle {

/* Owns one mspace; move-only. A default-constructed or moved-from heap owns nothing. */
class heap
{
public:
   heap() noexcept : ms_(nullptr) {}
   explicit heap(size_t capacity) noexcept : ms_(mspace_create(capacity)) {}
   heap(void *base, size_t capacity) noexcept : ms_(mspace_create_with_base(base, capacity)) {}
   ~heap() { if (ms_) mspace_destroy(ms_); }
   heap(heap &&other) noexcept : ms_(other.ms_) { other.ms_ = nullptr; }
   heap &operator=(heap &&other) noexcept
   {
      if (this != &other)
      {
         if (ms_) mspace_destroy(ms_);
         ms_ = other.ms_;
         other.ms_ = nullptr;
      }
      return *this;
   }
   heap(const heap &) = delete;
   heap &operator=(const heap &) = delete;

   explicit operator bool() const noexcept { return ms_ != nullptr; }
   mspace native_handle() const noexcept { return ms_; }

   void *allocate(size_t bytes, size_t alignment = MULLE_DLMALLOC_ALIGNMENT) noexcept
   {
      return alignment <= MULLE_DLMALLOC_ALIGNMENT ? mspace_malloc(ms_, bytes)
                                                   : mspace_memalign(ms_, alignment, bytes);
   }
   void deallocate(void *p) noexcept { mspace_free(ms_, p); }
   void *reallocate(void *p, size_t bytes) noexcept { return mspace_realloc(ms_, p, bytes); }
   static size_t usable_size(const void *p) noexcept { return mspace_usable_size(p); }
   mspace_stats_t stats() const noexcept { mspace_stats_t s; mspace_get_stats(ms_, &s); return s; }
   size_t footprint() const noexcept { return mspace_footprint(ms_); }
   bool trim(size_t pad = 0) noexcept { return mspace_trim(ms_, pad) != 0; }
   void reset() noexcept { mspace_reset(ms_); }
   bool check() const noexcept { return mspace_check(ms_) == 0; }

private:
   mspace ms_;
};

/* A standard allocator over an mspace; equal when it allocates from the same mspace. */
template <class T>
class allocator
{
public:
   typedef T value_type;
   typedef size_t size_type;
   typedef ptrdiff_t difference_type;
   template <class U> struct rebind { typedef allocator<U> other; };

   explicit allocator(mspace ms) noexcept : ms_(ms) {}
   explicit allocator(const heap &h) noexcept : ms_(h.native_handle()) {}
   template <class U> allocator(const allocator<U> &other) noexcept : ms_(other.native_handle()) {}

   T *allocate(size_t n)
   {
      void *p = nullptr;
      if (n <= static_cast<size_t>(-1) / sizeof(T))
         p = alignof(T) <= MULLE_DLMALLOC_ALIGNMENT ? mspace_malloc(ms_, n * sizeof(T))
                                                    : mspace_memalign(ms_, alignof(T), n * sizeof(T));
      if (!p)
         MULLE_DLMALLOC_THROW_BAD_ALLOC();
      return static_cast<T *>(p);
   }
   void deallocate(T *p, size_t) noexcept { mspace_free(ms_, p); }
   mspace native_handle() const noexcept { return ms_; }

private:
   mspace ms_;
};

template <class T, class U>
inline bool operator==(const allocator<T> &a, const allocator<U> &b) noexcept
{ return a.native_handle() == b.native_handle(); }
template <class T, class U>
inline bool operator!=(const allocator<T> &a, const allocator<U> &b) noexcept
{ return a.native_handle() != b.native_handle(); }

#ifdef MULLE_DLMALLOC_HAS_PMR
/* A std::pmr::memory_resource over an mspace; equal to another over the same mspace. */
class memory_resource : public std::pmr::memory_resource
{
public:
   explicit memory_resource(mspace ms) noexcept : ms_(ms) {}
   explicit memory_resource(const heap &h) noexcept : ms_(h.native_handle()) {}
   mspace native_handle() const noexcept { return ms_; }

private:
   void *do_allocate(size_t bytes, size_t alignment) override
   {
      void *p = alignment <= MULLE_DLMALLOC_ALIGNMENT ? mspace_malloc(ms_, bytes)
                                                      : mspace_memalign(ms_, alignment, bytes);
      if (!p)
         MULLE_DLMALLOC_THROW_BAD_ALLOC();
      return p;
   }
   void do_deallocate(void *p, size_t, size_t) override { mspace_free(ms_, p); }
   bool do_is_equal(const std::pmr::memory_resource &other) const noexcept override
   {
      const memory_resource *o = dynamic_cast<const memory_resource *>(&other);
      return o && o->ms_ == ms_;
   }
   mspace ms_;
};
#endif

} // namespace mulle
#endif /* __cplusplus */

#endif /* MULLE_DLMALLOC_HPP */
