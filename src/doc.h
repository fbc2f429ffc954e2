/* mulle_dlmalloc v0.1.0 - independent fixed-capacity heaps (mspaces) with Doug Lea's algorithm.
   License: MIT (see the end of this file).

   Quick start:
       #define MULLE_DLMALLOC_IMPLEMENTATION   // in exactly ONE C++ file
       #include "mulle_dlmalloc.hpp"           // everywhere else (C or C++), plainly

   Contents of this doc block
     1. What it is              4. Compile-time options
     2. The C API, by purpose   5. Thread safety
     3. Errors                  6. Overhead and limits

   1. WHAT IT IS
   Any number of independent heaps ("mspaces"). Each owns one contiguous region of fixed
   capacity, reserved from the OS (mspace_create) or given by the caller
   (mspace_create_with_base: a static array, a shared mapping). It never grows past it.
   mspace_destroy frees every block at once. Inside, blocks are handed out by Doug Lea's
   algorithm: boundary tags, exact small bins, bitwise-trie tree bins, a designated victim
   and a top chunk; free coalesces at once.

   2. THE C API, BY PURPOSE
     create / destroy    mspace_create, mspace_create_with_base, mspace_create_flags,
                         mspace_create_with_base_flags, mspace_destroy, mspace_reset
     blocks              mspace_malloc, mspace_calloc, mspace_memalign, mspace_free,
                         mspace_realloc, mspace_realloc_in_place, mspace_usable_size,
                         mspace_max_request
     footprint           mspace_footprint, mspace_max_footprint, mspace_trim
     inspection          mspace_get_stats, mspace_malloc_stats, mspace_is_heap_object,
                         mspace_check, mspace_inspect_all
     errors              mspace_set_error_handler, mspace_set_default_error_handler,
                         mspace_report_error, mspace_error_string
     lock                mspace_lock, mspace_unlock (around fork)
     persistence         mspace_attach, mspace_attach_error, mspace_detach, mspace_offset_of,
                         mspace_pointer_at, mspace_set_root, mspace_root
     process's malloc    mspace_default, and malloc & co., new and delete themselves (only
                         with MULLE_DLMALLOC_MALLOC=1)

   3. ERRORS
   Sizes that overflow or do not fit return NULL and leave the mspace usable. Misuse (a
   pointer that is not a live block of this mspace, a double free, corrupted tags) goes to
   the mspace's error handler, else the process-wide one; the default prints one line to
   stderr and aborts. If a handler returns, the offending call has no effect and every
   other block is untouched. A block freed on a dead handle is reported; a call into an
   mspace from its own handler or inspect_all callback is reported (REENTRANT), not run.

   4. COMPILE-TIME OPTIONS (name, default, scope)
     MULLE_DLMALLOC_IMPLEMENTATION   undefined         one C++ TU: emit the implementation
     MULLE_DLMALLOC_API              extern            global: decoration of every function
     MULLE_DLMALLOC_ALIGNMENT        2*sizeof(void*)   global: block alignment, power of two
     MULLE_DLMALLOC_CHECKS           1                 implementation TU: 0 none, 1 cheap, 2 full
     MULLE_DLMALLOC_TIER             1 (0 at checks 2, implementation TU: blocks up to 256 bytes
                                     without OS)       are header-less slots of 4 KiB pages
     MULLE_DLMALLOC_LOCKS            1 (0 without OS)  implementation TU: MSPACE_LOCKED support
     MULLE_DLMALLOC_FRONTS           4 (1 without the  implementation TU: a locked mspace's
                                     tier or locks)    fronts: blocks up to 512 bytes of
                                                       threads on different fronts need no
                                                       common lock
     MULLE_DLMALLOC_RECOVER          1 (0 without OS)  implementation TU: attach rebuilds a heap
                                                       whose user stopped inside a call
     MULLE_DLMALLOC_RELATIVE         0                 implementation TU: 1 links relative, heaps movable
     MULLE_DLMALLOC_VALGRIND         0                 implementation TU: memcheck memory pools
     MULLE_DLMALLOC_ASSERT(e)        assert-like       implementation TU: internal asserts
     MULLE_DLMALLOC_ABORT()          abort()           implementation TU: last resort
     MULLE_DLMALLOC_PRINT(s)         fputs to stderr   implementation TU: stats/error output
     MULLE_DLMALLOC_NO_OS            !__STDC_HOSTED__  implementation TU: no mmap layer
     MULLE_DLMALLOC_GRANULARITY      65536             implementation TU: footprint step
     MULLE_DLMALLOC_TRIM_THRESHOLD   2 MiB             implementation TU: auto-trim above this
     MULLE_DLMALLOC_PURGE_MIN        1 MiB             implementation TU: a free chunk this large
                                                       gives its inner pages back by itself...
     MULLE_DLMALLOC_PURGE_DELAY      4096              ...once free across this many frees that
                                                       merge in the core (0 MIN: off)
     MULLE_DLMALLOC_MALLOC           undefined         implementation TU: 1 defines malloc & co.
                                                       and new/delete over a default mspace
     MULLE_DLMALLOC_MALLOC_CAPACITY  64 GiB (1 GiB     implementation TU: its reserve (env
                                     on 32-bit, 64     MULLE_DLMALLOC_CAPACITY overrides), or
                                     KiB without OS)   its static array without an OS
     MULLE_DLMALLOC_MALLOC_REGION    undefined         implementation TU, without an OS: its
     MULLE_DLMALLOC_MALLOC_REGION_SIZE                 region instead of a static array

   5. THREAD SAFETY
   Opt-in. An mspace created with the flag MSPACE_LOCKED (mspace_create_flags,
   mspace_create_with_base_flags) has a lock inside its region and may be used by any
   number of threads, and of processes sharing the mapping; its small blocks come from
   fronts with locks of their own, so threads on different fronts do not wait for each
   other (MULLE_DLMALLOC_FRONTS, 4 by default). Any other mspace must be used
   by one thread at a time; different mspaces are independent. Around fork, hold the lock
   of a private locked mspace with mspace_lock/mspace_unlock (pthread_atfork).

   6. OVERHEAD AND LIMITS (64-bit; 32-bit in brackets)
     per block        8 bytes [4] (one word more at checks 2); minimum chunk 32 bytes [16];
                      alignment 16 [8]
     bookkeeping      a header at the start of the region: the state and, with the tier, its
                      page map of 1 bit per 4 KiB of capacity (see mspace_get_stats)
     largest request  capacity - bookkeeping - one minimum chunk - one word (mspace_max_request)
*/
