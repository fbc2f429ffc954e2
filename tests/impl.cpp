// The one implementation TU of the test binaries. It counts the allocator's loop steps,
// which test_bounded.cpp reads to prove that every operation does bounded work.
#define MULLE_DLMALLOC_COUNT_STEPS
#define MULLE_DLMALLOC_IMPLEMENTATION
#include "mulle_dlmalloc.hpp"

#include <cstdint>

// For test_fast_path.cpp: how often no_tree_bin_from (the fast path's question) disagrees with
// the map shifted by the size's own bin, over bin maps (each single bin, none, random ones)
// and the sizes at every tree bin's edges; *asked learns how many pairs were compared. No
// C++ runtime here: the C suite links this file with the C compiler.
namespace test_internals {
std::size_t tree_bin_disagreements(std::size_t *asked)
{
   using namespace mulle::detail;
   std::size_t sizes[3 * NTREEBINS + 1];
   std::size_t count = 0;
   for (std::size_t j = 0; j < NTREEBINS; ++j)
   {
      std::size_t least = tree_bin_least(j);
      sizes[count++] = least;
      sizes[count++] = least + 16;
      if (least - 16 >= MIN_LARGE_SIZE)
         sizes[count++] = least - 16;
   }
   sizes[count++] = ~static_cast<std::size_t>(15);
   std::uint64_t seed = 12345;
   std::size_t   wrong = 0;
   *asked = 0;
   for (unsigned round = 0; round < 2000; ++round)
   {
      seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
      binmap_t map = round < 32 ? static_cast<binmap_t>(1u << round)
                                : round == 32 ? 0 : static_cast<binmap_t>(seed >> 32) >> (round % 32);
      for (std::size_t k = 0; k < count; ++k)
      {
         std::size_t nb = sizes[k];
         ++*asked;
         if (no_tree_bin_from(map, nb) != !(map >> tree_index(nb)))
            ++wrong;
      }
   }
   return wrong;
}

// For test_fast_path.cpp: how often tree_key (a size's bin and its trie key from one bit
// scan) disagrees with their definitions, the bin whose least size is the greatest not
// above the size and the size shifted left so that the first bit below the ones that
// chose the bin is the top bit (none for the last bin, whose trie reads every bit), over
// the sizes at every bin's edges and random ones; *asked learns how many were compared.
std::size_t tree_key_disagreements(std::size_t *asked)
{
   using namespace mulle::detail;
   std::size_t   wrong = 0;
   std::uint64_t seed  = 99;
   *asked = 0;
   for (std::size_t round = 0; round < 3 * NTREEBINS + 20000; ++round)
   {
      std::size_t s;
      if (round < 3 * NTREEBINS)
      {
         std::size_t least = tree_bin_least(round / 3);
         s = round % 3 == 0 ? least : round % 3 == 1 ? least + 16 : least - 16;
      }
      else
      {
         seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
         s    = static_cast<std::size_t>(seed >> (seed & 31)) & ~static_cast<std::size_t>(15);
      }
      if (s < MIN_LARGE_SIZE)
         continue;
      std::size_t j = 0;
      while (j + 1 < NTREEBINS && tree_bin_least(j + 1) <= s)
         ++j;
      std::size_t shift = j == NTREEBINS - 1 ? 0 : SIZE_BITS - 1 - ((j >> 1) + TREEBIN_SHIFT - 2);
      std::size_t i     = NTREEBINS;
      std::size_t key   = tree_key(s, &i);
      ++*asked;
      if (i != j || key != s << shift || tree_index(s) != j)
         ++wrong;
   }
   return wrong;
}
}
