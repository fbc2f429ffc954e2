#define MULLE_DLMALLOC_IMPLEMENTATION
#include "mulle_dlmalloc.hpp"
