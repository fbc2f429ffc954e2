// The allocator's one implementation TU of the firmware.
#define MULLE_DLMALLOC_IMPLEMENTATION
#include "mulle_dlmalloc.hpp"
