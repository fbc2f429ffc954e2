/* ==== layout constants and chunk layout ===================================================

   The names follow Doug Lea's paper and malloc: a "chunk" is a block with its boundary tags,
   "small bins" and "tree bins" hold free chunks, the "designated victim" (dv) is the
   remainder of the last split, and the "top" chunk borders the unused end of the region.

   A chunk, with W = sizeof(size_t):

       chunk -> +---------------------------+
                | prev_foot                 |  size of the previous chunk, valid only
                +---------------------------+  while that one is free (its footer)
                | head: size | CINUSE|PINUSE|  CINUSE: this chunk is in use
       mem   -> +---------------------------+  PINUSE: the previous chunk is in use
                | payload ...               |
                |                           |
       next  -> +- - - - - - - - - - - - - -+  the next chunk's prev_foot: payload while
                                               this chunk is in use, so overhead is one W
   Invariants:
   - every chunk size is a multiple of ALIGN and at least MIN_CHUNK; mem is ALIGN-aligned;
   - chunks tile [least, top + top_size) without gaps, in address order;
   - no two free chunks are adjacent (free coalesces at once), so every free chunk, the dv
     and the top have PINUSE set; a chunk's PINUSE equals its predecessor's CINUSE;
   - a free chunk's size is repeated in the next chunk's prev_foot, and its head (the top's
     too) is exactly its size | PINUSE; with checks, a size read from a free chunk's head
     is held against a second record before the chunk is carved, split or merged;
   - every free chunk other than dv and top is in exactly one bin;
   - a page of the small-object tier (CINUSE | TIER_PAGE) is in use for the tags and the
     bins; its slots are the blocks (tier.hpp);
   - the words of a free chunk that can lie where a former in-use chunk had its head hold
     its old head or (level 2) poison, both with CINUSE clear (a tree chunk's links sit
     at even words, never where a head was); that keeps a double free detectable until
     the memory is handed out again.
   ========================================================================================== */

namespace mulle { namespace detail {

typedef unsigned char byte;
typedef uint32_t      binmap_t;

static const size_t WORD           = sizeof(size_t);
static const size_t ALIGN          = MULLE_DLMALLOC_ALIGNMENT;
static const size_t ALIGN_MASK     = ALIGN - 1;
static const size_t CHUNK_OVERHEAD = WORD;      /* an in-use chunk pays its head only */
static const size_t MEM_OFFSET     = 2 * WORD;  /* chunk start to block start */
static const size_t MIN_CHUNK      = (4 * WORD + ALIGN_MASK) & ~ALIGN_MASK;
#if MULLE_DLMALLOC_CHECKS >= 2
static const size_t CANARY_BYTES   = WORD;      /* level 2: a canary word ends every block */
#else
static const size_t CANARY_BYTES   = 0;
#endif
static const size_t MIN_REQUEST    = MIN_CHUNK - CHUNK_OVERHEAD - CANARY_BYTES;
static const size_t GRANULARITY    = MULLE_DLMALLOC_GRANULARITY;
static const size_t HUGE_PAGE_BYTES = static_cast<size_t>(2) << 20;   /* MSPACE_HUGE_PAGES (os.hpp) */
static const size_t PREFAULT_BELOW = 4096;   /* a request this small that grows the footprint prefaults it */

static const size_t PINUSE    = 1;
static const size_t CINUSE    = 2;
static const size_t TIER_PAGE = 4;   /* CINUSE too: a page of the small-object tier */
static const size_t FLAG_BITS = 7;

static_assert((ALIGN & ALIGN_MASK) == 0, "MULLE_DLMALLOC_ALIGNMENT must be a power of two");
static_assert(ALIGN >= 2 * sizeof(void *), "MULLE_DLMALLOC_ALIGNMENT must be at least 2 * sizeof(void *)");
static_assert(ALIGN > FLAG_BITS, "chunk sizes must leave the three flag bits free");
static_assert((GRANULARITY & (GRANULARITY - 1)) == 0 && GRANULARITY >= ALIGN,
              "MULLE_DLMALLOC_GRANULARITY must be a power of two and at least the alignment");

/* A link inside the region. With MULLE_DLMALLOC_RELATIVE it is stored as the distance
   from the link's own address to its target, never as an address, so a region mapped
   again at another address, or at different addresses in different processes, is still a
   valid heap (mspace_attach). A nullable link stores 0 for NULL (no link points at itself);
   one that is never NULL (the top, the region's bounds) saves the test. The arithmetic is
   done on integers, so a corrupt link yields a wrong address that the range checks refuse,
   never undefined behaviour in the conversion. Assigning a link to another converts
   through the address: a raw copy would be wrong. Without MULLE_DLMALLOC_RELATIVE (the
   default) a link is a plain pointer: reading one costs nothing, and a heap can be
   attached again only at the address where it was made. */
#if MULLE_DLMALLOC_RELATIVE
template <class T, bool NULLABLE = true>
class rel
{
   uintptr_t delta;

   rel(const rel &);   /* never copied as a value */

public:
   MULLE_DLMALLOC_NOASAN T *get() const
   {
      uintptr_t here = reinterpret_cast<uintptr_t>(this);
      return (NULLABLE && !delta) ? NULL : reinterpret_cast<T *>(here + delta);
   }
   MULLE_DLMALLOC_NOASAN void set(const T *p)
   {
      uintptr_t here = reinterpret_cast<uintptr_t>(this);
      delta = (NULLABLE && !p) ? 0 : reinterpret_cast<uintptr_t>(p) - here;
   }
#else
template <class T, bool NULLABLE = true>
class rel
{
   T *p_;

   rel(const rel &);

public:
   MULLE_DLMALLOC_NOASAN T   *get() const { return p_; }
   MULLE_DLMALLOC_NOASAN void set(const T *p) { p_ = const_cast<T *>(p); }
#endif
   MULLE_DLMALLOC_NOASAN operator T *() const { return get(); }
   MULLE_DLMALLOC_NOASAN T *operator->() const { return get(); }
   MULLE_DLMALLOC_NOASAN rel &operator=(T *p) { set(p); return *this; }
   /* right when o is *this as well (the address is read before it is stored); a test for
      it would cost a branch on every link copy */
   MULLE_DLMALLOC_NOASAN rel &operator=(const rel &o)   // NOLINT(bugprone-unhandled-self-assignment)
   {
      set(o.get());
      return *this;
   }
};

struct chunk
{
   size_t     prev_foot;
   size_t     head;
   rel<chunk> fd;        /* free chunks only: next in bin */
   rel<chunk> bk;        /* free chunks only: previous in bin */
};

/* A free chunk of MIN_LARGE_SIZE or more: a node of a bitwise trie. Chunks of equal size
   hang in a ring (fd/bk) off the one node that is in the tree. Its trie links and index
   sit at even words (4 to 10). Chunks start an even number of words apart (the grid is
   at least two words), so a chunk's head, its word 1, lies at an odd word of any other
   chunk; and a chunk is at least four words, so no head lies at word 3 (bk). The words
   at odd positions from word 5 on are where the heads of blocks merged into this chunk
   may have been; nothing is written there: they keep those old heads, CINUSE clear, and
   a double free of such a block finds a freed block (see the invariants above). */
struct tree_chunk : chunk
{
   rel<tree_chunk> left;       /* word 4 */
   size_t          old_head_a; /* word 5: left alone */
   rel<tree_chunk> right;      /* word 6 */
   size_t          old_head_b; /* word 7: left alone */
   rel<tree_chunk> parent;     /* word 8: NULL for the root of a bin */
   size_t          old_head_c; /* word 9: left alone */
   size_t          index;      /* word 10: tree bin of this node, or RING_MEMBER */

   MULLE_DLMALLOC_NOASAN rel<tree_chunk> &child(size_t d) { return d ? right : left; }
};

static_assert(sizeof(chunk) == 4 * WORD, "chunk layout");
static_assert(sizeof(tree_chunk) == 11 * WORD, "tree chunk layout");
static_assert(ALIGN % (2 * WORD) == 0 && MIN_CHUNK >= 4 * WORD,
              "heads lie at odd words of any chunk, never at a tree chunk's links");

static const size_t RING_MEMBER = ~static_cast<size_t>(0);

MULLE_DLMALLOC_NOASAN inline byte       *as_bytes(void *p) { return static_cast<byte *>(p); }
MULLE_DLMALLOC_NOASAN inline chunk      *chunk_at(void *p, size_t offset) { return reinterpret_cast<chunk *>(as_bytes(p) + offset); }
MULLE_DLMALLOC_NOASAN inline chunk      *chunk_before(void *p, size_t offset) { return reinterpret_cast<chunk *>(as_bytes(p) - offset); }
MULLE_DLMALLOC_NOASAN inline chunk      *chunk_from_mem(const void *mem) { return chunk_before(const_cast<void *>(mem), MEM_OFFSET); }
MULLE_DLMALLOC_NOASAN inline void       *mem_from_chunk(chunk *c) { return as_bytes(c) + MEM_OFFSET; }
MULLE_DLMALLOC_NOASAN inline tree_chunk *as_tree(chunk *c) { return static_cast<tree_chunk *>(c); }

MULLE_DLMALLOC_NOASAN inline size_t chunk_size(const chunk *c) { return c->head & ~FLAG_BITS; }
MULLE_DLMALLOC_NOASAN inline bool   chunk_is_in_use(const chunk *c) { return (c->head & CINUSE) != 0; }
MULLE_DLMALLOC_NOASAN inline bool   previous_is_in_use(const chunk *c) { return (c->head & PINUSE) != 0; }
MULLE_DLMALLOC_NOASAN inline bool   chunk_is_page(const chunk *c) { return (c->head & TIER_PAGE) != 0; }
/* a block the user holds: in use and not a page of the tier */
MULLE_DLMALLOC_NOASAN inline bool   chunk_is_live(const chunk *c) { return (c->head & (CINUSE | TIER_PAGE)) == CINUSE; }
MULLE_DLMALLOC_NOASAN inline chunk *next_chunk(chunk *c) { return chunk_at(c, chunk_size(c)); }
MULLE_DLMALLOC_NOASAN inline chunk *previous_chunk(chunk *c) { return chunk_before(c, c->prev_foot); }
MULLE_DLMALLOC_NOASAN inline size_t usable_of_size(size_t s) { return s - CHUNK_OVERHEAD - CANARY_BYTES; }
MULLE_DLMALLOC_NOASAN inline size_t usable_size_of(const chunk *c) { return usable_of_size(chunk_size(c)); }

MULLE_DLMALLOC_NOASAN inline bool   is_aligned(const void *p, size_t a) { return (reinterpret_cast<uintptr_t>(p) & (a - 1)) == 0; }
MULLE_DLMALLOC_NOASAN inline size_t align_up(size_t v, size_t a) { return (v + a - 1) & ~(a - 1); }
MULLE_DLMALLOC_NOASAN inline bool   is_power_of_two(size_t v) { return v && !(v & (v - 1)); }

/* The chunk size that serves a request of n bytes; n must not exceed the capacity. */
MULLE_DLMALLOC_NOASAN inline size_t request_to_size(size_t n)
{
   return n < MIN_REQUEST ? MIN_CHUNK : (n + CHUNK_OVERHEAD + CANARY_BYTES + ALIGN_MASK) & ~ALIGN_MASK;
}

/* Marks c in use with size s, keeping its PINUSE, and tells the next chunk. */
MULLE_DLMALLOC_NOASAN inline void set_in_use(chunk *c, size_t s)
{
   c->head = (c->head & PINUSE) | s | CINUSE;
   chunk_at(c, s)->head |= PINUSE;
}

/* Marks c free with size s: head, footer, and the next chunk's PINUSE cleared. */
MULLE_DLMALLOC_NOASAN inline void set_free_with_footer(chunk *c, size_t s)
{
   chunk *next = chunk_at(c, s);
   c->head         = s | PINUSE;
   next->prev_foot = s;
   next->head     &= ~PINUSE;
}

/* ==== the mspace state ===================================================================
   It sits at the start of the region, so the mspace handle points into the region and
   destroying a caller's buffer needs nothing but the buffer.

   The footprint is [base, top + top_size): the state, alignment slack, every chunk and the
   top. Its end moves in GRANULARITY steps (huge pages where the region has them, top.hpp)
   measured from base, capped at chunk_end. */

/* compile time only, as layout_word below */
MULLE_DLMALLOC_NOASAN constexpr size_t log2_of(size_t v) { return v <= 1 ? 0 : 1 + log2_of(v >> 1); }

/* One small bin per chunk size under MIN_LARGE_SIZE: chunk sizes are multiples of ALIGN,
   so 16 bins on 64-bit, 32 on 32-bit. One list of pages with free slots per slot size of
   the small-object tier (NCLASSES, tier.hpp); a build without the tier keeps one unused
   entry. */
static const size_t NTREEBINS      = 32;
static const size_t SMALLBIN_SHIFT = log2_of(ALIGN) < 6 ? log2_of(ALIGN) : 6;  /* 4 bins at least */
static const size_t TREEBIN_SHIFT  = 8;
static const size_t MIN_LARGE_SIZE = static_cast<size_t>(1) << TREEBIN_SHIFT;  /* 256 */
static const size_t NSMALLBINS     = MIN_LARGE_SIZE >> SMALLBIN_SHIFT;
/* below: sizes no chunk has; with an alignment of 256 or more no chunk is small, and one
   head stays (unused) */
static const size_t FIRST_SMALLBIN = (MIN_CHUNK >> SMALLBIN_SHIFT) < NSMALLBINS ? MIN_CHUNK >> SMALLBIN_SHIFT : NSMALLBINS - 1;

/* The small-object tier (tier.hpp): requests up to TIER_MAX bytes are slots of pages of
   PAGE_BYTES, one slot size per page, SLOT_GRAIN apart; a locked mspace with fronts takes
   requests up to FRONT_MAX from its fronts' pages (c_api.hpp: a larger request takes the
   mspace's lock, which threads share). It needs an alignment of 64 or less. A page's
   header records where it is, its slot size, and a bitmap of free slots. */
static const bool   TIER         = MULLE_DLMALLOC_TIER && MULLE_DLMALLOC_ALIGNMENT <= 64;
static const bool   HOLDS        = TIER && !MULLE_DLMALLOC_NO_OS;   /* a held page (tier.hpp) */
static const size_t PAGE_BYTES   = 4096;
static const size_t SLOT_GRAIN   = ALIGN < 16 ? 16 : ALIGN;
static const size_t TIER_MAX     = 256;
/* fronts of a locked mspace (at most 16: the layout word names them in 4 bits) */
#if MULLE_DLMALLOC_TIER && MULLE_DLMALLOC_LOCKS && MULLE_DLMALLOC_FRONTS > 1
#  define MULLE_DLMALLOC_HAS_FRONTS 1
static const size_t FRONTS       = MULLE_DLMALLOC_FRONTS;
static const size_t FRONT_MAX    = 512;
static const size_t BIAS_LANES   = 4;   /* threads of one front that may own it (lock.hpp) */
#else
static const size_t FRONTS       = 1;
static const size_t FRONT_MAX    = TIER_MAX;
#endif
static const size_t NCLASSES     = TIER ? FRONT_MAX / SLOT_GRAIN : 1;
static const size_t BITMAP_WORDS = 4;   /* 256 slots: enough for 16-byte slots */
static_assert(MULLE_DLMALLOC_FRONTS >= 1 && MULLE_DLMALLOC_FRONTS <= 16, "MULLE_DLMALLOC_FRONTS: 1 to 16");

struct page
{
   rel<page, false> next;   /* in the ring of its slot size's pages with free slots (a */
   rel<page, false> prev;   /* page alone links to itself: never NULL) */
   uint16_t       size;     /* of a slot */
   uint8_t        count;    /* slots */
   uint8_t        front;    /* the front whose lists it is in: set as it is made, then only
                               read (a byte of its own: read without that front's lock) */
   uint8_t        used;     /* slots in use */
   uint8_t        lead;     /* the free chunk before the page as it was cut (its lead), in
                               16 bytes (0: none, or a page or more): an empty page whose
                               predecessor is still that may be held (tier.hpp) */
   uint8_t        hint;     /* the bitmap word the last malloc took a slot from, where
                               the quickest malloc looks (a guess: a free leaves it) */
   uint8_t        listed;   /* in its size's list: it has free slots, or is the full head */
   uint64_t       free_bits[BITMAP_WORDS];   /* bit i set <=> slot i free */
   size_t         check;    /* PAGE_MAGIC ^ offset ^ epoch ^ size while a page, PAGE_GONE ^
                               offset ^ epoch after: in the header's first 64 bytes with
                               the links, bitmap and counts that a list's change reads
                               with it, and in a word that a free chunk's links leave
                               alone (a tree chunk's old_head_c) */
   size_t         offset;   /* of this page from the state */
#ifdef MULLE_DLMALLOC_HAS_FRONTS
   size_t         rfree;    /* slots freed by threads that do not hold its front, not yet
                               collected (tier.hpp): the first's offset from the page, each
                               linking the next by its first word, 0 for none; an atomic
                               stack */
   size_t         rnext;    /* while rfree is not 0: the next page in its front's queue, its
                               offset from the state (0: none) */
#endif
   size_t         epoch;    /* the state's epoch when the page was made */
};

static const size_t PURGE_SLOTS = 8;   /* free chunks waiting to be purged by themselves */
static_assert(PURGE_SLOTS <= 16, "purge_used has a bit per slot");
/* the purge by itself (free.hpp): left out without an OS and at level 2 */
static const size_t PURGE_MIN   = MULLE_DLMALLOC_NO_OS || MULLE_DLMALLOC_CHECKS >= 2 ? 0 : MULLE_DLMALLOC_PURGE_MIN;
static const size_t PURGE_DELAY = MULLE_DLMALLOC_PURGE_DELAY;
static const size_t PURGE_FROM  = PURGE_MIN ? PURGE_MIN : ~static_cast<size_t>(0);   /* no size, when off */
static const uint32_t TOP_WAIT_FIRST   = 3;    /* the top's first wait: PURGE_DELAY << 3 */
static const uint32_t TOP_WAIT_MOST    = 13;   /* its longest: PURGE_DELAY << 13 */

static const size_t PAGE_HEADER = (sizeof(page) + SLOT_GRAIN - 1) & ~(SLOT_GRAIN - 1);

static_assert(NSMALLBINS >= 4 && NSMALLBINS <= 32, "small bins: one bit each in a 32-bit map");

static const unsigned STATE_FROM_OS = 1;   /* region reserved by mspace_create */
static const unsigned STATE_LOCKED  = 2;   /* MSPACE_LOCKED: every call takes `lock` */
static const unsigned STATE_CALLING_OUT = 4;  /* an unlocked mspace runs user code (its error
                                                 handler, an inspect_all callback): the fast
                                                 path steps aside; attach clears it */
static const unsigned STATE_REGROWS = 8;      /* the top grew back into pages an automatic
                                                 trim had released: automatic trims wait
                                                 (free.hpp) until mspace_trim (or reset)
                                                 releases */
static const unsigned STATE_ZERO_ABOVE = 16;  /* the region past the largest footprint so far
                                                 reads as zero (an OS region, a caller's
                                                 MSPACE_ZEROED buffer): calloc does not
                                                 write zeros there; attach forgets it */
static const unsigned STATE_ATTACHED = 32;    /* in use by a process: set by a create and an
                                                 attach, cleared by mspace_detach. An attach
                                                 that finds it set knows that the last user
                                                 ended without a detach, maybe inside a call:
                                                 it may rebuild the heap (recover.hpp) */
static const unsigned STATE_HUGE_PAGES = 64;  /* MSPACE_HUGE_PAGES, and the kernel took the
                                                 advice (os.hpp): the footprint moves in huge
                                                 pages (top.hpp), and a purge gives back only
                                                 whole ones (os.hpp) */

/* The links of a small bin's head: the fd and bk of a chunk that would start 2 words
   before, whose other words are never read or written while smallmap and the rings
   agree (mspace_check verifies it, and so attach). */
struct bin_head
{
   rel<chunk> fd;
   rel<chunk> bk;
};

/* The first words do not move between versions: an attach reads them first. */
/* A front: the lists of pages with free slots, one per slot size, and (of a locked mspace
   with several fronts) the lock that guards them and their pages, and its spares: the
   last pages it emptied, kept for its next new pages (tier.hpp). Apart from each other's lines,
   so that threads on different fronts share no cache line. */
struct front
{
#ifdef MULLE_DLMALLOC_HAS_FRONTS
   byte      apart[40];            /* no line shared with what comes before (the state's
                                      fronts start on 16 bytes; a front is 424 bytes long
                                      on a 64-bit target) */
   size_t    held;                 /* its held page (tier.hpp): an empty page alone in its
                                      size's list, kept there; its offset from the state, 0
                                      for none; a hint, believed where it names such a
                                      page of this front */
   unsigned  lock;                 /* its holder while a thread holds it, else 0 */
   unsigned  owner;                /* the token of the thread it is biased to, else 0
                                      (lock.hpp) */
   uint8_t   busy[BIAS_LANES];     /* 1 while the thread of that lane holds it by its
                                      bias; each written by its lane's thread alone */
   unsigned  last;                 /* the thread that claimed it last: the one whose
                                      count of takes may bias it (lock.hpp) */
   uint16_t  spares;               /* pages in the list of spares */
   rel<page> spare;                /* empty pages of this front, in no list of pages with
                                      room, linked by their `next` (tier.hpp), or NULL */
   size_t    rtaken;               /* queued pages taken from `rhead`, to be collected one
                                      by one by a holder: the first's offset from the state,
                                      linked by their `rnext`, 0 for none */
#endif
   rel<page> avail[NCLASSES];
#ifdef MULLE_DLMALLOC_HAS_FRONTS
   byte      remote_apart[64];     /* the remote frees' line is theirs: */
   size_t    rhead;                /* pages with remote frees not yet collected, pushed
                                      by the freeing threads (an atomic stack of offsets
                                      from the state, linked by their `rnext`), 0: none */
   size_t    pins;                 /* remote frees under way (each holds the page it
                                      validated), and REMOTE_CLOSED while a call holds
                                      every lock */
#endif
};

struct mstate
{
   /* what the fast paths read and hardly any call writes, in the first cache line (a
      front's path of a locked mspace reads it, while another thread writes the core's
      fields under the mspace's lock) */
   size_t                 signature;      /* MSTATE_SIGNATURE while an mspace, 0 destroyed */
   size_t                 layout;         /* LAYOUT: what must match to attach */
   size_t                 magic;          /* MSTATE_MAGIC ^ address while live here */
   rel<byte, false>       base;           /* start of the region */
   size_t                 capacity;       /* bytes of the region */
   rel<byte, false>       least;          /* first chunk */
   rel<byte, false>       chunk_end;      /* the top may grow up to here */
   unsigned               flags;
   unsigned               found;          /* how the last attach found the heap:
                                             mspace_found_t */
   size_t                 map_frames;     /* the frames the page map covers, counted from
                                             the state's (frame_index): a frame at or past
                                             it is no page (0 without the tier); what a
                                             free asks first */
   /* the core's */
   binmap_t               smallmap;       /* bit i set <=> small bin i is non-empty */
   binmap_t               treemap;        /* bit i set <=> treebins[i] is non-empty */
   rel<chunk>             dv;             /* designated victim, NULL when dv_size is 0 */
   size_t                 dv_size;
   rel<chunk, false>      top;            /* always exists, top_size >= MIN_CHUNK */
   size_t                 top_size;
   size_t                 max_footprint;
   rel<byte, false>       written;        /* the heap never wrote at or past this: the
                                             highest top start so far, behind its head
                                             (calloc, STATE_ZERO_ABOVE) */
   rel<byte>              lazy_end;       /* [top end, lazy_end): pages an auto-trim released
                                             lazily; mspace_trim releases them for good */
   size_t                 trim_threshold;
   size_t                 secret;         /* keys the level-2 canaries */
   size_t                 root;           /* the user's root block: its offset, or 0 */
   unsigned               lock;           /* its holder while a call holds it, else 0
                                             (STATE_LOCKED only; lock.hpp) */
   unsigned               died;           /* 1 once a lock was taken over from a holder
                                             that died: the next call holding every
                                             lock recovers the heap (lock.hpp) */
   mspace_error_handler_t handler;        /* NULL: the default handler (reset by attach) */
   void                  *handler_ctx;
   size_t                 epoch;          /* keys the pages' check words; reset moves it */
   size_t                 grid;           /* the state's address modulo PAGE_BYTES: a heap
                                             with pages attaches on the same grid only */
   bin_head               smallbins[NSMALLBINS - FIRST_SMALLBIN];  /* rings through a head
                                                                  here, LIFO: small_bin() */
   rel<tree_chunk>        treebins[NTREEBINS];    /* trie roots */
   front                  fronts[FRONTS];         /* per slot size: pages with free slots */
#ifdef MULLE_DLMALLOC_HAS_FRONTS
   byte                   fronts_apart[64];       /* the last front's lines are its own */
#endif
   size_t                 purge_at[PURGE_SLOTS];      /* free chunks the purge by itself
                                                         waits on: offsets from the state,
                                                         0 for none (free.hpp) */
   uint32_t               purge_stamp[PURGE_SLOTS];   /* purge_clock when each was noted */
   uint32_t               purge_clock;    /* the core's slower events, counted */
   uint16_t               purge_next;     /* the slot a new candidate takes, in turn */
   uint16_t               purge_used;     /* bit k set where purge_at[k] is not 0: the
                                             slots a search looks at (a hint: a search that
                                             finds nothing loses only a purge) */
   uint32_t               top_due;        /* with STATE_REGROWS: the event of purge_clock at
                                             which the top's wait ends, from the free that
                                             grew it past the trim threshold; 0 while it has
                                             not (an automatic trim waits, free.hpp) */
   uint32_t               top_backoff;    /* the top's wait is PURGE_DELAY << (TOP_WAIT_FIRST
                                             + this): each trim after a wait doubles the
                                             next */
   size_t                 held;           /* an unlocked mspace's page that emptied last and
                                             stays in its list, empty (tier.hpp): its offset
                                             from the state, 0 for none; a hint, believed
                                             only where it names such a page */
   size_t                 fast_key;       /* magic while the fast path may serve the state
                                             without the whole way (no lock, no user code
                                             running for it), else 0: one compare */
};

static const size_t MSTATE_MAGIC     = static_cast<size_t>(0x6d756c6c65646c6dULL); /* "mulledlm" */
static const size_t MSTATE_SIGNATURE = static_cast<size_t>(0x6d6c6c6d2e687073ULL); /* "mllm.hps" */

/* What a heap written by one build needs from the build that attaches it: the layout
   version (bumped whenever a bookkeeping or chunk format changes), word size, alignment,
   checks level (canaries change chunk sizes), whether pages of the tier may exist, and
   how links are stored. */
static const size_t LAYOUT_VERSION = 20;  /* 2: small bins are rings; 3: level-2 canaries
                                             record the slack, small chunks' poison starts
                                             behind their links; 4: the small-object tier
                                             instead of the caches; 5: `written`; 6:
                                             `fast_key`, the purge queue, the page
                                             map; 7: `top_since`, `top_backoff`; 8: fronts,
                                             a page's count in a byte and its front; 9:
                                             fronts' slot sizes up to 512; 10: heads
                                             written in crash order, STATE_ATTACHED; 11:
                                             a front's spare pages; 12: a front's
                                             bias; 13: a page's hint is a guess; 14: a
                                             front's takes counted by its thread; 15: remote
                                             frees (a page's stack of them and queue link,
                                             a front's queue and pins); 16: the purge
                                             queue's slots in use, in a mask; `top_due`
                                             for `top_since`; 17: `held`; 18: a
                                             front's `held`; 19: a page's check word
                                             in its first 64 bytes; 20: a page's
                                             `lead`, `used` in a byte; `map_frames` */
/* evaluated by the compiler: coverage never sees it run */
MULLE_DLMALLOC_NOASAN constexpr size_t layout_word(size_t checks, bool tier, bool relative, size_t fronts)
{
   return ((LAYOUT_VERSION & 15) + ((fronts - 1) << 4)) | (WORD << 8) | ((LAYOUT_VERSION >> 4) << 12) |
          (checks << 16) | (static_cast<size_t>(tier) << 20) | (static_cast<size_t>(relative) << 21) | (ALIGN << 22);
}
static_assert(LAYOUT_VERSION < 256 && FRONTS <= 16 && WORD <= 8,
              "the layout word: the version's low bits and the fronts in its low byte, the word size in "
              "bits 8 to 11, the version's high bits in 12 to 15");
static const size_t LAYOUT = layout_word(MULLE_DLMALLOC_CHECKS, TIER, MULLE_DLMALLOC_RELATIVE != 0, FRONTS);

/* ---- the page map ----
   Behind the state, one bit per 4 KiB frame of the region (counted from the state's own
   frame), set while the frame starts a page of the tier: free learns whether a block is
   a slot from a word that covers 256 KiB of the heap (in the cache), and reads the frame
   (a cache miss of its own, in memory no block of the call uses) only for a slot, whose
   page header it needs anyway. Without the tier there is no map. */
static const size_t PAGE_SHIFT = 12;
static const size_t MAP_BITS   = 8 * sizeof(size_t);
static_assert(PAGE_BYTES == static_cast<size_t>(1) << PAGE_SHIFT, "a frame is a page");

/* The frames of a region ending at `end` from that of a state at `at`, which its page map
   covers, and the map's bytes. */
MULLE_DLMALLOC_NOASAN inline size_t page_map_frames(uintptr_t at, uintptr_t end)
{
   return !TIER || end <= at ? 0 : static_cast<size_t>(((end - 1) >> PAGE_SHIFT) - (at >> PAGE_SHIFT) + 1);
}

MULLE_DLMALLOC_NOASAN inline size_t page_map_bytes(uintptr_t at, uintptr_t end)
{
   return (page_map_frames(at, end) + MAP_BITS - 1) / MAP_BITS * sizeof(size_t);
}

/* Where the first chunk of a state at address `at` in a region ending at `end` lies:
   behind the state and its page map, its memory on the ALIGN grid. */
MULLE_DLMALLOC_NOASAN inline uintptr_t least_for(uintptr_t at, uintptr_t end)
{
   return align_up(at + sizeof(mstate) + page_map_bytes(at, end) + MEM_OFFSET, ALIGN) - MEM_OFFSET;
}

MULLE_DLMALLOC_NOASAN inline size_t *page_map(const mstate *m) { return reinterpret_cast<size_t *>(const_cast<mstate *>(m) + 1); }
/* The frame of p, counted from the state's frame (p at or above the state). */
MULLE_DLMALLOC_NOASAN inline size_t frame_index(const mstate *m, const void *p)
{
   return static_cast<size_t>((reinterpret_cast<uintptr_t>(p) >> PAGE_SHIFT) - (reinterpret_cast<uintptr_t>(m) >> PAGE_SHIFT));
}
/* With fronts, a free of a slot asks the map before it takes any lock, while another
   thread may set or clear another bit of the same word under the mspace's lock: the
   word is then read and changed atomically (relaxed: the bit of a block handed from one
   thread to another was set before the block was handed out; a page's header is written
   before its bit is set, with release, and a free that finds the bit, with acquire,
   finds the header). */
#ifdef MULLE_DLMALLOC_HAS_FRONTS
MULLE_DLMALLOC_NOASAN inline bool map_has(const mstate *m, size_t i) { return (__atomic_load_n(&page_map(m)[i / MAP_BITS], __ATOMIC_ACQUIRE) >> (i % MAP_BITS)) & 1u; }
MULLE_DLMALLOC_NOASAN inline void map_set(mstate *m, size_t i) { __atomic_fetch_or(&page_map(m)[i / MAP_BITS], static_cast<size_t>(1) << (i % MAP_BITS), __ATOMIC_RELEASE); }
MULLE_DLMALLOC_NOASAN inline void map_clear(mstate *m, size_t i) { __atomic_fetch_and(&page_map(m)[i / MAP_BITS], ~(static_cast<size_t>(1) << (i % MAP_BITS)), __ATOMIC_RELAXED); }
#else
MULLE_DLMALLOC_NOASAN inline bool map_has(const mstate *m, size_t i) { return (page_map(m)[i / MAP_BITS] >> (i % MAP_BITS)) & 1u; }
MULLE_DLMALLOC_NOASAN inline void map_set(mstate *m, size_t i) { page_map(m)[i / MAP_BITS] |= static_cast<size_t>(1) << (i % MAP_BITS); }
MULLE_DLMALLOC_NOASAN inline void map_clear(mstate *m, size_t i) { page_map(m)[i / MAP_BITS] &= ~(static_cast<size_t>(1) << (i % MAP_BITS)); }
#endif

MULLE_DLMALLOC_NOASAN inline byte  *top_end(const mstate *m) { return as_bytes(m->top) + m->top_size; }
MULLE_DLMALLOC_NOASAN inline size_t footprint_of(const mstate *m) { return static_cast<size_t>(top_end(m) - m->base); }

/* The step the footprint moves in: GRANULARITY, or a huge page in a region that has them
   (STATE_HUGE_PAGES: its base lies on a huge page's boundary), so that a trim gives back
   whole huge pages and never splits the one the top starts in (a huge page given back in
   part is split, and faults in again 4 KiB at a time). */
MULLE_DLMALLOC_NOASAN inline size_t footprint_step(const mstate *m)
{
   return !MULLE_DLMALLOC_NO_OS && (m->flags & STATE_HUGE_PAGES) && HUGE_PAGE_BYTES > GRANULARITY ? HUGE_PAGE_BYTES
                                                                                               : GRANULARITY;
}

/* The footprint end covering `want` (a chunk-grid address): the next step from base, or
   chunk_end, whichever is lower. */
MULLE_DLMALLOC_NOASAN inline byte *footprint_end_for(const mstate *m, const byte *want)
{
   size_t offset = align_up(static_cast<size_t>(want - m->base), footprint_step(m));
   if (offset >= static_cast<size_t>(m->chunk_end - m->base))
      return m->chunk_end;
   byte *end = m->base + offset;
   return end - (static_cast<size_t>(end - m->least) & ALIGN_MASK);  /* back onto the chunk grid */
}

/* Whether a trim of the top would give anything back: the end of the footprint it would
   keep lies below the end it has. Not always so where the top passed the trim threshold:
   with huge pages the top keeps the huge page its first bytes lie in, up to 2 MiB and a
   minimum chunk, which may be more than the threshold. */
MULLE_DLMALLOC_NOASAN inline bool top_trims(const mstate *m)
{
   return footprint_end_for(m, as_bytes(m->top) + MIN_CHUNK) < top_end(m);
}
MULLE_DLMALLOC_NOASAN inline size_t bookkeeping_of(const mstate *m) { return static_cast<size_t>(m->least - m->base); }

/* The state's flags change under the lock (STATE_REGROWS) while the fast path of another
   thread reads them before it takes the lock (for STATE_LOCKED, which never changes): both
   sides are atomic, relaxed. */
MULLE_DLMALLOC_NOASAN inline unsigned flags_of(const mstate *m)
{
#if defined(__GNUC__) || defined(__clang__)
   return __atomic_load_n(&m->flags, __ATOMIC_RELAXED);
#else
   return m->flags;
#endif
}

/* fast_key follows the magic and the flags; a locked state's stays 0, and is not written
   (other threads read it without the lock). Only the fast path reads it. */
MULLE_DLMALLOC_NOASAN inline void sync_fast_key(mstate *m)
{
   if (MULLE_DLMALLOC_FAST_PATH && !(m->flags & STATE_LOCKED))
      m->fast_key = (m->flags & STATE_CALLING_OUT) ? 0 : m->magic;
}

MULLE_DLMALLOC_NOASAN inline void set_flags(mstate *m, unsigned flags)
{
#if defined(__GNUC__) || defined(__clang__)
   __atomic_store_n(&m->flags, flags, __ATOMIC_RELAXED);
#else
   m->flags = flags;
#endif
   sync_fast_key(m);
}

/* Sets the magic, which says the state is live at its address (0: no more). */
MULLE_DLMALLOC_NOASAN inline void set_magic(mstate *m, bool live)
{
   m->magic = live ? MSTATE_MAGIC ^ reinterpret_cast<uintptr_t>(m) : 0;
   if (MULLE_DLMALLOC_FAST_PATH)
   {
      m->fast_key = 0;
      sync_fast_key(m);
   }
}

MULLE_DLMALLOC_NOASAN inline bool is_live(const mstate *m)
{
   return m && is_aligned(m, alignof(mstate)) && m->magic == (MSTATE_MAGIC ^ reinterpret_cast<uintptr_t>(m));
}

/* True if p may be a chunk of this mspace below the top: the cheap range and alignment
   check that every link followed in a bin must pass. least and the top are chunks, so p
   is one of them when its distance from least is a multiple of ALIGN below the top's.
   Rotated right by log2(ALIGN), that distance keeps its value when it is a multiple and
   gets a high bit otherwise, and a p below least wraps round to a huge distance: one
   unsigned compare decides all three. */
struct chunk_grid
{
   static const size_t K = log2_of(ALIGN), BITS = sizeof(size_t) * 8;
   uintptr_t at;     /* least */
   size_t    span;   /* (top - least) / ALIGN */

   MULLE_DLMALLOC_NOASAN explicit chunk_grid(const mstate *m)
      : at(reinterpret_cast<uintptr_t>(m->least.get())),
        span(static_cast<size_t>(reinterpret_cast<uintptr_t>(m->top.get()) - at) >> K)
   {
   }

   MULLE_DLMALLOC_NOASAN bool holds(const void *p) const
   {
      size_t d = static_cast<size_t>(reinterpret_cast<uintptr_t>(p) - at);
      return ((d >> K) | (d << ((BITS - K) & (BITS - 1)))) < span;
   }
};

MULLE_DLMALLOC_NOASAN MULLE_DLMALLOC_HOT bool ok_chunk_address(const mstate *m, const void *p)
{
   return chunk_grid(m).holds(p);
}

}} // namespace mulle::detail

namespace mulle { namespace detail {

/* Called before their sections: the top (top and trim), the whole-heap check (checks),
   and the OS layer, whose commit/decommit are no-ops for a caller's buffer. */
bool extend_top(mstate *m, size_t need);
int  trim_top(mstate *m, size_t pad, bool eager);
bool os_commit(mstate *m, byte *from, byte *to);
void os_decommit(mstate *m, byte *from, byte *to, bool eager);
size_t os_purge(mstate *m, byte *from, byte *to);
size_t os_absent(const mstate *m, byte *from, byte *to);
void os_prefault(mstate *m, byte *from, byte *to);
inline void move_purge_note(mstate *m, chunk *from, chunk *to);   /* free.hpp */
/* the held page (tier.hpp) */
MULLE_DLMALLOC_OUT_OF_LINE bool  release_held(mstate *m);
MULLE_DLMALLOC_OUT_OF_LINE void  held_page_event(mstate *m);
MULLE_DLMALLOC_OUT_OF_LINE void *allocate_after_held(mstate *m, size_t nb);

}} // namespace mulle::detail
