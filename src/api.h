#ifndef MULLE_DLMALLOC_HPP
#define MULLE_DLMALLOC_HPP

#define MULLE_DLMALLOC_VERSION_MAJOR 0
#define MULLE_DLMALLOC_VERSION_MINOR 1
#define MULLE_DLMALLOC_VERSION_PATCH 0
#define MULLE_DLMALLOC_VERSION ((MULLE_DLMALLOC_VERSION_MAJOR << 16) | (MULLE_DLMALLOC_VERSION_MINOR << 8) | MULLE_DLMALLOC_VERSION_PATCH)

#include <stddef.h>

#ifndef MULLE_DLMALLOC_API
#define MULLE_DLMALLOC_API extern /* global: linkage/visibility of every C function */
#endif

#ifndef MULLE_DLMALLOC_ALIGNMENT
#define MULLE_DLMALLOC_ALIGNMENT (2 * sizeof(void *)) /* global: alignment of every block */
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* An independent heap over one fixed region. Opaque: it points into the region itself. */
typedef void *mspace;

typedef enum mspace_error_t
{
   MSPACE_ERROR_NONE = 0,
   MSPACE_ERROR_INVALID_POINTER,  /* not inside this mspace, misaligned, not a block start */
   MSPACE_ERROR_DOUBLE_FREE,      /* the block is not in use */
   MSPACE_ERROR_CORRUPTION,       /* boundary tags or bin links are inconsistent */
   MSPACE_ERROR_OUT_OF_MEMORY,    /* only from the C++ face built without exceptions: the
                                     C API returns NULL instead */
   /* why mspace_attach refuses a region (and CORRUPTION: a damaged header or heap) */
   MSPACE_ERROR_NOT_AN_MSPACE,    /* no mspace there: foreign, zeroed or destroyed */
   MSPACE_ERROR_LAYOUT_MISMATCH,  /* made by a build with another layout version, word size,
                                     alignment, checks level, tier or link mode */
   MSPACE_ERROR_TRUNCATED,        /* the capacity given is smaller than the heap's */
   MSPACE_ERROR_MOVED,            /* links are absolute (MULLE_DLMALLOC_RELATIVE is 0) and
                                     the region is not at the address where it was made;
                                     or its start moved against the alignment grid */
   MSPACE_ERROR_REENTRANT,        /* a call into an mspace from inside its error handler or
                                     an inspect_all callback: ignored */
   MSPACE_ERROR_HOLDER_DIED       /* a thread or process died holding a lock of a locked
                                     mspace (Linux): the lock was taken over, the heap
                                     rebuilt where the holder stopped inside a call, and
                                     the call that found it goes on. The default handler
                                     prints it and does not abort */
} mspace_error_t;

/* Called on misuse. When it returns, the offending call has no effect. */
typedef void (*mspace_error_handler_t)(mspace ms, mspace_error_t error, void *p, void *ctx);

/* in_use_bytes + free_bytes + bookkeeping == footprint, always. */
typedef struct mspace_stats_t
{
   size_t capacity;          /* bytes of the region */
   size_t footprint;         /* bytes in use now: bookkeeping, chunks and top */
   size_t max_footprint;     /* the largest footprint ever */
   size_t bookkeeping;       /* header at the start of the region: the state and, with
                                the tier, its page map (1 bit per 4 KiB of capacity) */
   size_t in_use_bytes;      /* allocated chunks, overhead included */
   size_t free_bytes;        /* free chunks and top inside the footprint */
   size_t allocated_blocks;  /* live blocks */
   size_t free_blocks;       /* free chunks, the top not counted */
   size_t top_bytes;         /* the top chunk inside the footprint (with the held empty
                                page of the tier and the free chunk before it where the
                                top follows them: they are the top once it goes back) */
   size_t largest_free;      /* the largest n for which mspace_malloc(n) succeeds now */
   size_t purged_bytes;      /* of free_bytes, those the OS holds no memory for now (pages
                                a purge or trim gave back, or never touched): the resident
                                free memory is free_bytes - purged_bytes. Linux, OS regions;
                                0 elsewhere (not known) */
} mspace_stats_t;

/* Flags of mspace_create_flags and mspace_create_with_base_flags. */
#define MSPACE_LOCKED 1u   /* a lock inside the region: safe between threads and processes */
#define MSPACE_ZEROED 2u   /* the caller's buffer reads as zero (a fresh mapping, a new file):
                              mspace_calloc skips what the heap never touched, as it does
                              in a region from the OS */
#define MSPACE_HUGE_PAGES 4u   /* mspace_create_flags only: asks the OS to back the region
                                  with transparent huge pages (Linux: a region on a 2 MiB
                                  boundary, madvise MADV_HUGEPAGE; where the kernel takes it,
                                  the footprint grows and shrinks in 2 MiB steps, and the
                                  heap gives back only whole huge pages, never part of one;
                                  elsewhere the flag changes nothing). Fewer TLB misses on a
                                  heap of many MiB touched at random; resident memory grows
                                  in 2 MiB steps, and a page faulted in is zeroed whole */

/* Reserves `capacity` bytes (rounded up to pages) from the OS. NULL if the OS refuses or
   capacity cannot hold the bookkeeping and one block. Pages are committed as used. */
MULLE_DLMALLOC_API mspace mspace_create(size_t capacity);

/* Builds an mspace inside [base, base + capacity), any alignment. Never calls the OS.
   NULL if base is NULL or the buffer cannot hold the bookkeeping and one block. */
MULLE_DLMALLOC_API mspace mspace_create_with_base(void *base, size_t capacity);

/* As mspace_create and mspace_create_with_base, with flags (MSPACE_LOCKED ...); NULL for an
   unknown flag, and for MSPACE_HUGE_PAGES with a caller's buffer (whose pages are the
   caller's to advise). */
MULLE_DLMALLOC_API mspace mspace_create_flags(size_t capacity, unsigned flags);
MULLE_DLMALLOC_API mspace mspace_create_with_base_flags(void *base, size_t capacity, unsigned flags);

/* Frees the mspace and all its blocks. 0 on success; non-zero for NULL or a handle that is
   not a live mspace (the region of a destroyed OS mspace is unmapped: do not reuse it). */
MULLE_DLMALLOC_API int mspace_destroy(mspace ms);

/* Frees every block at once and gives back pages; the mspace is as new. */
MULLE_DLMALLOC_API void mspace_reset(mspace ms);

/* A block of at least n bytes, MULLE_DLMALLOC_ALIGNMENT-aligned; n == 0 gives a minimum
   block. NULL when the region cannot hold it; the mspace stays usable. */
MULLE_DLMALLOC_API void *mspace_malloc(mspace ms, size_t n);

/* p == NULL does nothing. Coalesces at once with free neighbours. Misuse: error handler. */
MULLE_DLMALLOC_API void mspace_free(mspace ms, void *p);

/* p == NULL acts as malloc; n == 0 gives a minimum block. In place when it can, else moves.
   NULL on failure (or misuse) with p untouched and still valid. */
MULLE_DLMALLOC_API void *mspace_realloc(mspace ms, void *p, size_t n);

/* Resizes without moving: returns p, or NULL with the block unchanged. */
MULLE_DLMALLOC_API void *mspace_realloc_in_place(mspace ms, void *p, size_t n);

/* count * size zeroed bytes; NULL when the product overflows or does not fit. Only what
   may hold old data is written: not the part of a block above 256 bytes that lies where
   the heap never wrote in an OS region or an MSPACE_ZEROED buffer (zero, and left
   untouched). On Linux a block of 1 MiB or more (MULLE_DLMALLOC_PURGE_MIN) of an OS region
   has its pages that are not resident given back rather than written: they read as zero
   and stay out of the resident set until touched. */
MULLE_DLMALLOC_API void *mspace_calloc(mspace ms, size_t count, size_t size);

/* A block of n bytes aligned to `alignment`; NULL if alignment is not a power of two or
   the block does not fit. */
MULLE_DLMALLOC_API void *mspace_memalign(mspace ms, size_t alignment, size_t n);

/* The largest n for which mspace_malloc(n) can ever succeed in this mspace (when it is
   empty): capacity minus bookkeeping, one minimum chunk and one word. 0 for NULL. O(1). */
MULLE_DLMALLOC_API size_t mspace_max_request(mspace ms);

/* Bytes usable in the block (>= the size asked for); 0 for NULL. */
MULLE_DLMALLOC_API size_t mspace_usable_size(const void *p);

/* Bytes of the region in use now: bookkeeping plus every chunk up to the end of the top.
   Grows in steps of MULLE_DLMALLOC_GRANULARITY (2 MiB where the region has huge pages),
   never past the capacity. 0 for NULL. */
MULLE_DLMALLOC_API size_t mspace_footprint(mspace ms);

/* The largest footprint ever. 0 for NULL. */
MULLE_DLMALLOC_API size_t mspace_max_footprint(mspace ms);

/* Gives back the free top beyond pad bytes: the footprint shrinks and the pages go back to
   the OS at once (also those an automatic trim released lazily). The whole pages inside
   free chunks below the top go back too (an OS region's, below checks level 2): the
   chunks stay free and usable, their pages fault in again when a block takes them. 1 if
   the footprint shrank, else 0. */
MULLE_DLMALLOC_API int mspace_trim(mspace ms, size_t pad);

/* Fills *out; all zero for a NULL mspace. */
MULLE_DLMALLOC_API void mspace_get_stats(mspace ms, mspace_stats_t *out);

/* Prints a short summary through MULLE_DLMALLOC_PRINT (stderr by default). */
MULLE_DLMALLOC_API void mspace_malloc_stats(mspace ms);

/* Non-zero iff p lies inside this mspace's region. O(1). */
MULLE_DLMALLOC_API int mspace_is_heap_object(mspace ms, const void *p);

/* The default mspace of the malloc family: defined only where the implementation is built
   with MULLE_DLMALLOC_MALLOC=1 (malloc, free & co. and new/delete allocate there). Its
   stats, checks and walks are the process's heap's. NULL if it could not be made. */
MULLE_DLMALLOC_API mspace mspace_default(void);

/* Walks the whole heap and verifies every invariant. 0 when consistent, else the number
   of problems found (non-zero also for a NULL or dead handle). */
MULLE_DLMALLOC_API int mspace_check(mspace ms);

/* Calls fn for every chunk in address order, the top last: [start, end) is the block's
   usable memory, used is its usable size, or 0 for a free chunk. */
MULLE_DLMALLOC_API void mspace_inspect_all(mspace ms,
                                           void (*fn)(void *start, void *end, size_t used, void *arg),
                                           void *arg);

/* fn == NULL restores the default: the process-wide handler (mspace_set_default_error_handler),
   whose default prints one line and aborts. User code the library runs for an mspace (this
   handler, an inspect_all callback) must not call that mspace: such a call is reported as
   MSPACE_ERROR_REENTRANT and has no effect (mspace_usable_size, mspace_is_heap_object and
   mspace_error_string may be called). */
MULLE_DLMALLOC_API void mspace_set_error_handler(mspace ms, mspace_error_handler_t fn, void *ctx);

/* The process-wide handler: it hears errors of mspaces that have no handler of their own,
   misuse of a handle that names no live mspace (mspace_free or mspace_realloc on a
   destroyed or foreign mspace: MSPACE_ERROR_NOT_AN_MSPACE), and misuse from inside an
   mspace's own handler. fn == NULL restores the default (print one line, abort). Set it
   before other threads use the library. */
MULLE_DLMALLOC_API void mspace_set_default_error_handler(mspace_error_handler_t fn, void *ctx);
/* Take and release the lock of an MSPACE_LOCKED mspace, e.g. around fork() so that a child
   never inherits a lock another thread held (the README's pthread_atfork recipe). While it
   holds the lock, the thread must not call the mspace itself. For an mspace without a lock
   both do nothing. 0 on success, non-zero for a dead handle (or, for mspace_lock, a call
   from inside the mspace's handler or inspect_all callback). */
MULLE_DLMALLOC_API int mspace_lock(mspace ms);
MULLE_DLMALLOC_API int mspace_unlock(mspace ms);
/* Hands an error to the mspace's handler, as the library does on misuse. Returns if the
   handler returns; the default handler prints one line and aborts. */
MULLE_DLMALLOC_API void mspace_report_error(mspace ms, mspace_error_t error, void *p);

/* A static, human name for an error ("double free", ...). */
MULLE_DLMALLOC_API const char *mspace_error_string(mspace_error_t error);

/* ---- persistent and shared heaps ----
   An mspace made by mspace_create_with_base keeps all its state inside its region. Built
   with MULLE_DLMALLOC_RELATIVE=1, its links are stored relative to the region, so the
   region's bytes can be mapped again at any address (a file, a shared mapping) and
   attached; with absolute links (the default, a little faster) only at the same address. */

/* Opens the heap that a region holds, e.g. a file mapped again, after verifying its header
   and the whole heap (O(chunks)); NULL if refused, with nothing written. The handle is
   live as if just created; the error handler is the default one and the lock is released.
   No other process may be using the region while it is attached.
   A heap whose last user ended without mspace_detach (killed, crashed, or it just exited)
   and that does not check sound, because that user stopped inside a call, is rebuilt from
   its boundary tags first (O(chunks)): every block whose call returned is kept with its
   contents, the interrupted call's block is in use or free, and a malloc that had not
   returned may leave a block in use that nobody holds. mspace_attach_found tells which. A
   heap that was detached and does not check sound is damage: refused. (At checks level 2
   no heap is rebuilt.) */
MULLE_DLMALLOC_API mspace mspace_attach(void *base, size_t capacity);

/* How mspace_attach found the heap of ms. */
typedef enum mspace_found_t
{
   MSPACE_FOUND_DETACHED = 0,   /* its last user detached it (or ms was made by a create) */
   MSPACE_FOUND_OPEN,           /* its last user ended without a detach, between calls: the
                                   heap was sound as it stood */
   MSPACE_FOUND_REBUILT         /* its last user stopped inside a call: rebuilt */
} mspace_found_t;

MULLE_DLMALLOC_API mspace_found_t mspace_attach_found(mspace ms);

/* Ends this handle without freeing anything: the region keeps the heap, to be attached
   again (the handle is dead after), and is marked as closed cleanly. A region can be
   attached without it (after a crash); detach tells the memory checkers that the region
   is plain memory again. 0 on success; non-zero for a dead handle or an mspace from
   mspace_create, which only destroy ends. */
MULLE_DLMALLOC_API int mspace_detach(mspace ms);

/* Why mspace_attach(base, capacity) would refuse the region: MSPACE_ERROR_NONE when it
   would accept it, else NOT_AN_MSPACE, LAYOUT_MISMATCH, TRUNCATED, MOVED, CORRUPTION, or
   INVALID_POINTER for the live heap of an mspace_create (only destroy ends it). Reads
   only. */
MULLE_DLMALLOC_API mspace_error_t mspace_attach_error(void *base, size_t capacity);

/* The offset of p from the region's start (the base given to create or attach), for links
   that must survive a move: 0 for p == NULL; misuse (p outside the region) goes to the
   error handler and gives 0. */
MULLE_DLMALLOC_API size_t mspace_offset_of(mspace ms, const void *p);

/* The address at an offset from the region's start: NULL for offset 0; misuse (offset
   past the region) goes to the error handler and gives NULL. */
MULLE_DLMALLOC_API void *mspace_pointer_at(mspace ms, size_t offset);

/* One block the heap remembers for its user, found again after an attach: the root of the
   user's data. p must be a block of this mspace in use (misuse: error handler) or NULL.
   mspace_reset forgets it; freeing the block does not: set another root first. */
MULLE_DLMALLOC_API void  mspace_set_root(mspace ms, void *p);
MULLE_DLMALLOC_API void *mspace_root(mspace ms);

#ifdef __cplusplus
}
#endif
