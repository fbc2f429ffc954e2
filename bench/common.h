/* common.h — what bench.cpp and threads.cpp share: the random generator, the same in
   every binary so that every allocator gets the same sizes. */
#ifndef MULLE_DLMALLOC_BENCH_COMMON_H
#define MULLE_DLMALLOC_BENCH_COMMON_H

#include <cstdint>

struct splitmix64
{
   uint64_t s;
   uint64_t next()
   {
      uint64_t z = (s += 0x9E3779B97F4A7C15ull);
      z          = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
      z          = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
      return z ^ (z >> 31);
   }
   uint64_t below(uint64_t n) { return next() % n; }                              /* [0, n) */
   uint32_t uniform(uint32_t lo, uint32_t hi) { return lo + uint32_t(below(hi - lo + 1)); } /* [lo, hi] */
   /* log-uniform in [lo, hi]: integer arithmetic only, so every binary draws the same sizes.
      2^f for a 16-bit fraction f comes from a cubic with |error| < 1e-4. */
   uint32_t log_uniform(uint32_t lo, uint32_t hi)
   {
      uint32_t span = 0; /* log2(hi / lo), hi / lo a power of two */
      while ((uint64_t(lo) << span) < hi)
         span++;
      uint64_t x    = below(uint64_t(span) << 16); /* 16.16 fixed point exponent */
      uint64_t ip   = x >> 16, f = x & 0xffff;
      /* 2^t ~ 1 + t(0.6951 + t(0.2262 + t 0.0787)), t in [0,1), coefficients in 1/65536 */
      uint64_t poly = 65536 + ((f * (45553 + ((f * (14824 + ((f * 5159) >> 16))) >> 16))) >> 16);
      uint64_t v    = (uint64_t(lo) << ip) * poly >> 16;
      return uint32_t(v < lo ? lo : v > hi ? hi : v);
   }
};

#endif
