// The allocator as the firmware's malloc: the malloc family, newlib's reentrant entries and
// new/delete over a default mspace of 32 KiB, a static array (no OS: no lock, no mmap).
#define MULLE_DLMALLOC_IMPLEMENTATION
#define MULLE_DLMALLOC_MALLOC          1
#define MULLE_DLMALLOC_MALLOC_CAPACITY (32u * 1024u)
#include "mulle_dlmalloc.hpp"
