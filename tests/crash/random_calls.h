/* What the crash tests' random calls share: the generator, the sizes they draw (mostly
   slots of the small-object tier, some chunks, a few large ones of 16 KiB and up to
   large_span more) and the bytes each block holds (a pattern of its tag). */
#ifndef MULLE_DLMALLOC_TESTS_CRASH_RANDOM_CALLS_H
#define MULLE_DLMALLOC_TESTS_CRASH_RANDOM_CALLS_H

#include <cstddef>
#include <cstdint>

struct splitmix
{
   uint64_t x;
   uint64_t next()
   {
      uint64_t z = (x += 0x9e3779b97f4a7c15ull);
      z          = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
      z          = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
      return z ^ (z >> 31);
   }
   uint64_t below(uint64_t n) { return next() % n; }
};

inline uint32_t draw_size(splitmix &r, uint64_t large_span = 240 * 1024)
{
   uint64_t k = r.below(100);
   if (k < 60)
      return static_cast<uint32_t>(1 + r.below(512));
   if (k < 92)
      return static_cast<uint32_t>(513 + r.below(8 * 1024));
   return static_cast<uint32_t>(16 * 1024 + r.below(large_span));
}

inline unsigned char pattern(uint32_t tag, std::size_t i) { return static_cast<unsigned char>((tag * 131u + i * 7u) ^ (i >> 8)); }

inline void fill(unsigned char *p, std::size_t from, std::size_t to, uint32_t tag)
{
   for (std::size_t i = from; i < to; ++i)
      p[i] = pattern(tag, i);
}

inline bool intact(const unsigned char *p, std::size_t n, uint32_t tag)
{
   for (std::size_t i = 0; i < n; ++i)
      if (p[i] != pattern(tag, i))
         return false;
   return true;
}

#endif
