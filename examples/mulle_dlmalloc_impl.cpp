/* mulle_dlmalloc_impl.cpp - the one C++ translation unit that holds the implementation.

   A C project compiles this file with a C++ compiler and links it with its C objects;
   every C file just includes "mulle_dlmalloc.hpp" plainly (see the *.c examples). */
#define MULLE_DLMALLOC_IMPLEMENTATION
#include "mulle_dlmalloc.hpp"
