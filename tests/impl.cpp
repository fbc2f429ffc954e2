// The one implementation TU of the test binaries. It counts the allocator's loop steps,
// which test_bounded.cpp reads to prove that every operation does bounded work.
#define MULLE_DLMALLOC_COUNT_STEPS
#define MULLE_DLMALLOC_IMPLEMENTATION
#include "mulle_dlmalloc.hpp"
