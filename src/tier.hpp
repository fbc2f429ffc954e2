/* ==== the small-object tier ===============================================================

   A request of up to TIER_MAX bytes (256; FRONT_MAX, 512, in a locked mspace with fronts)
   is a slot of a page: an in-use chunk of
   PAGE_BYTES (4 KiB) whose memory starts on a 4 KiB boundary and whose head carries
   TIER_PAGE. A page holds slots of one size (a multiple of SLOT_GRAIN, 16 bytes) behind a
   header, and no header per slot:

       P (4 KiB boundary) -> +-----------------------------------------------+
                             | next/prev in its size's list of pages w/ room |
                             | slot size, count, used, hint; free bitmap     |
                             | check word (all these in the first 64 bytes)  |
                             | offset from the state, epoch                  |
       P + PAGE_HEADER    -> +-----------------------------------------------+
                             | slot 0 | slot 1 | ...            | slot n-1 |  |
       P + 4096 - WORD    -> +-----------------------------------------------+
                             | the next chunk's head                         |

   So a block's page is found from the block's address alone, rounded down to 4 KiB, and
   it is one of this mspace's pages when the state's page map (chunk.hpp: a bit per 4 KiB
   frame) says the frame starts one; the frame is read only then. The check word in the
   header (its offset from this state, the state's epoch and its slot size) lets the
   whole-heap check find a header overwritten whole, and mspace_usable_size, which has no
   mspace, recognise a page. free takes the slot's index from its offset (a multiply), and the bitmap
   says whether it is in use: a foreign, misaligned, interior pointer and a second free are
   caught in O(1), and freed slots hold nothing of the allocator's, so a write into freed
   memory cannot mislead it. malloc takes a free slot of the first page in its size's ring
   of pages with room: the lowest of the bitmap word the page's last malloc took from
   (its hint, which a free leaves alone), else the lowest of the page (a page leaves the
   ring when a request finds it full, and joins its end again when one of its slots is
   freed).

   Lea's semantics are kept: a page is made from the core as any chunk is (where Lea's
   order finds a chunk of a page's size, if it starts on a boundary, else cut out of a
   larger chunk on one), and a page
   whose last slot is freed goes back to the core at once, where it coalesces, can be
   trimmed, and serves any request (but for the few spares of a locked mspace's fronts,
   below, which a call that wants memory gives back). Nothing is flushed: the
   statistics count the free
   slots as free bytes, and no call flushes or moves anything. A heap that cannot make a
   page serves the request as a chunk (the tier steps aside). One page is the exception:
   in an unlocked mspace the last one to empty is held, empty, in its list, while it keeps
   no more than its lead from merging (the held page, below). reset moves the state's
   epoch, so that no page header left in the memory of an old page is believed again.

   The lists of pages with room belong to a front (the state's fronts; one unless the
   build has locks). A locked mspace gives each thread a front in turn, and the thread
   takes its slots under its front's lock alone; a page records its front, and a free of
   one of its slots, from any thread, takes that front's lock (c_api.hpp). The mspace's
   own lock guards the core, and is taken inside a front's when a page is made or given
   back; a call that may touch anything takes every front's lock, then the mspace's.
   ========================================================================================== */

namespace mulle { namespace detail {

static const size_t PAGE_MAGIC = static_cast<size_t>(0x70616765736c6f74ULL);   /* "pageslot" */
static const size_t PAGE_GONE  = static_cast<size_t>(0x676f6e65706167ULL);      /* "gonepag" */
static const size_t SLOT_SHIFT = log2_of(SLOT_GRAIN);

static_assert(!TIER || (PAGE_BYTES - CHUNK_OVERHEAD - PAGE_HEADER) / SLOT_GRAIN <= 255,
              "a page counts its slots in a byte");
static_assert(!TIER || (PAGE_BYTES - CHUNK_OVERHEAD - PAGE_HEADER) / SLOT_GRAIN <= 64 * BITMAP_WORDS,
              "a page's bitmap has a bit for every slot of the smallest size");
static_assert(!TIER || TIER_MAX % SLOT_GRAIN == 0, "slot sizes");
static_assert(offsetof(page, check) + MEM_OFFSET == 9 * WORD ||   /* tree_chunk's old_head_c */
                 offsetof(page, check) + MEM_OFFSET >= sizeof(tree_chunk),
              "a page's check word lies in a word that the links of a free chunk starting with it leave alone");
static_assert(offsetof(page, check) + sizeof(size_t) <= 64,
              "a page's check word shares the first 64 bytes of its header with the links and the bitmap");

MULLE_DLMALLOC_NOASAN constexpr size_t class_size(size_t i) { return (i + 1) * SLOT_GRAIN; }
MULLE_DLMALLOC_NOASAN constexpr size_t class_count(size_t i) { return TIER ? (PAGE_BYTES - CHUNK_OVERHEAD - PAGE_HEADER) / class_size(i) : 0; }
/* floor(d / size) = (d * RECIP) >> 32 for every offset d inside a page (d < 4096): exact,
   since size * RECIP exceeds 2^32 by less than size, and d * size < 2^20 */
MULLE_DLMALLOC_NOASAN constexpr uint32_t class_recip(size_t i) { return static_cast<uint32_t>((0x100000000ULL + class_size(i) - 1) / class_size(i)); }

/* The slot size class of a request of n <= FRONT_MAX bytes (0 takes the smallest). */
MULLE_DLMALLOC_NOASAN inline size_t class_of(size_t n) { return (n - (n != 0)) >> SLOT_SHIFT; }

MULLE_DLMALLOC_NOASAN inline byte *first_slot(page *pg) { return as_bytes(pg) + PAGE_HEADER; }
MULLE_DLMALLOC_NOASAN inline size_t page_offset(const mstate *m, const page *pg)
{
   return static_cast<size_t>(reinterpret_cast<const byte *>(pg) - reinterpret_cast<const byte *>(m));
}

MULLE_DLMALLOC_NOASAN inline int lowest_bit64(uint64_t x)
{
#if defined(__GNUC__) || defined(__clang__)
   return __builtin_ctzll(x);
#else
   int i = 0;
   while (!(x & 1u))
   {
      x >>= 1;
      ++i;
   }
   return i;
#endif
}

MULLE_DLMALLOC_NOASAN inline int count_bits64(uint64_t x)
{
   int n = 0;
   for (; x; x &= x - 1)
      ++n;
   return n;
}

/* A link of a list of pages names a page boundary between the first chunk and the end
   the top may grow to: one unsigned compare for the range, one test for the boundary.
   (Not the top: a front's path reads links while another thread moves the top.) */
MULLE_DLMALLOC_NOASAN MULLE_DLMALLOC_HOT bool ok_page_address(const mstate *m, const page *pg)
{
   uintptr_t b  = reinterpret_cast<uintptr_t>(pg);
   uintptr_t lo = reinterpret_cast<uintptr_t>(m->least.get()) + MEM_OFFSET;
   return !(b & (PAGE_BYTES - 1)) && b - lo < reinterpret_cast<uintptr_t>(m->chunk_end.get()) - lo;
}

/* The first words of the 4 KiB frame that holds a block, where a page's header would be.
   Where the frame is no page they are bytes of another block, which its owner may be
   writing at this moment (a locked mspace shared by threads): they are only compared with
   a check word that user bytes do not hold, so a torn read never matches; under
   ThreadSanitizer the read is kept out of its sight. */
#ifdef MULLE_DLMALLOC_TSAN
__attribute__((no_sanitize("thread"), noinline)) inline size_t frame_word(const size_t *at) { return *at; }
__attribute__((no_sanitize("thread"), noinline)) inline uint16_t frame_half(const uint16_t *at) { return *at; }
__attribute__((no_sanitize("thread"), noinline)) inline uint8_t frame_byte(const uint8_t *at) { return *at; }
#else
MULLE_DLMALLOC_NOASAN inline size_t   frame_word(const size_t *at) { return *at; }
MULLE_DLMALLOC_NOASAN inline uint16_t frame_half(const uint16_t *at) { return *at; }
MULLE_DLMALLOC_NOASAN inline uint8_t  frame_byte(const uint8_t *at) { return *at; }
#endif
#if defined(MULLE_DLMALLOC_TSAN) && defined(MULLE_DLMALLOC_HAS_FRONTS)
__attribute__((no_sanitize("thread"), noinline)) inline uint64_t frame_bits(const uint64_t *at) { return *at; }
#else
MULLE_DLMALLOC_NOASAN inline uint64_t frame_bits(const uint64_t *at) { return *at; }
#endif

/* The frame's start, computed from p without an integer-to-pointer conversion. */
MULLE_DLMALLOC_NOASAN inline page *frame_of(const void *p)
{
   const byte *b = static_cast<const byte *>(p);
   return reinterpret_cast<page *>(const_cast<byte *>(b - (reinterpret_cast<uintptr_t>(p) & (PAGE_BYTES - 1))));
}

/* A page's check word: its place (offset from the state), the state's epoch, its slot
   size and its front, so that one compare proves all four. */
MULLE_DLMALLOC_NOASAN inline size_t page_check(const mstate *m, const page *pg, size_t size, size_t front)
{
   return PAGE_MAGIC ^ page_offset(m, pg) ^ m->epoch ^ size ^ (front << 16);
}

/* Whether the frame that holds p is a page of m (page_of: that page, or NULL): for a
   frame the page map covers, the map says so (the state's, set as a page is made and
   cleared as it goes back or the heap is reset: no bit is set above the top); past it,
   or below the state, no frame is a page (one compare of the frame's index, which is
   huge below the state, with the map's size). The frame is not read: a
   free of a chunk block touches no memory of another block. The check word in a page's
   header is for mspace_check and attach (a header overwritten whole is found there) and
   for mspace_usable_size, which has no map to ask. */
MULLE_DLMALLOC_NOASAN MULLE_DLMALLOC_HOT bool in_page(const mstate *m, const void *p)
{
   if (!TIER)
      return false;
   size_t at = frame_index(m, p);   /* one compare for the range (below the state: past it) */
   return at < m->map_frames && map_has(m, at);
}

MULLE_DLMALLOC_NOASAN MULLE_DLMALLOC_HOT page *page_of(const mstate *m, const void *p)
{
   return in_page(m, p) ? frame_of(p) : NULL;
}

/* The page of p's frame looked for without an mspace (mspace_usable_size): its header
   names a live state whose epoch it carries. */
MULLE_DLMALLOC_NOASAN inline page *page_anywhere(const void *p, mstate **owner)
{
   if (!TIER)
      return NULL;
   page  *pg  = frame_of(p);
   size_t off = frame_word(&pg->offset);
   if (frame_word(&pg->check) != (PAGE_MAGIC ^ off ^ frame_word(&pg->epoch) ^ frame_half(&pg->size) ^
                                  (static_cast<size_t>(frame_byte(&pg->front)) << 16)) ||
       off > reinterpret_cast<uintptr_t>(pg))
      return NULL;
   mstate *m = reinterpret_cast<mstate *>(as_bytes(pg) - off);
   if (!is_live(m) || page_of(m, p) != pg)
      return NULL;
   *owner = m;
   return pg;
}

MULLE_DLMALLOC_NOASAN inline size_t class_of_page(const page *pg) { return (static_cast<size_t>(pg->size) >> SLOT_SHIFT) - 1; }

/* The slot index of p in pg (whose check word holds), or NO_SLOT where p is not a slot's
   start. */
static const size_t NO_SLOT = ~static_cast<size_t>(0);

MULLE_DLMALLOC_NOASAN MULLE_DLMALLOC_HOT size_t slot_index_as(page *pg, const void *p, size_t size, size_t count)
{
   /* by slot size / SLOT_GRAIN; sizes that are no class have no slots */
#define MULLE_DLMALLOC_BY_SIZE(F) \
   0, F(0), F(1), F(2), F(3), F(4), F(5), F(6), F(7), F(8), F(9), F(10), F(11), F(12), F(13), F(14), F(15), \
   F(16), F(17), F(18), F(19), F(20), F(21), F(22), F(23), F(24), F(25), F(26), F(27), F(28), F(29), F(30), F(31), \
   0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0
   static const uint32_t RECIP[] = {MULLE_DLMALLOC_BY_SIZE(class_recip)};
#undef MULLE_DLMALLOC_BY_SIZE
   static_assert(NCLASSES <= 32 && sizeof(RECIP) / sizeof(RECIP[0]) == 64, "a reciprocal per slot size");
   /* the check word proved the size and the count; the mask keeps a forged size inside
      the table, and p lies in pg's frame, so that i stays below 256 (the bitmap's bits)
      whatever the count says */
   size_t   k    = (size >> SLOT_SHIFT) & 63;
   size_t   d    = static_cast<size_t>(static_cast<const byte *>(p) - first_slot(pg));   /* huge below */
   uint64_t prod = static_cast<uint64_t>(d) * RECIP[k];
   size_t   i    = static_cast<size_t>(prod >> 32);
   /* d = i * size + r (r < size): the low half of prod is r * RECIP plus less than 2^24,
      which is below RECIP exactly when r is 0 (RECIP > 2^23 for slots of 512 bytes or
      less) */
   return i < count && static_cast<uint32_t>(prod) < RECIP[k] ? i : NO_SLOT;
}

MULLE_DLMALLOC_NOASAN MULLE_DLMALLOC_HOT size_t slot_index(page *pg, const void *p)
{
   return slot_index_as(pg, p, pg->size, pg->count);
}

MULLE_DLMALLOC_NOASAN inline bool slot_is_free(const page *pg, size_t i)
{
   return (pg->free_bits[i >> 6] >> (i & 63)) & 1u;
}

/* ---- remote frees ----
   In a locked mspace made by mspace_create (its region is this process's own memory), a
   thread frees a slot of a page of another thread's front without that front's lock: it
   marks the slot (its second word holds a key made of the slot's address and the state's
   epoch) and pushes it on the page's stack of remote frees (`rfree`, its first word
   linking the next) with one compare-and-swap; the free that finds the stack empty puts the
   page in its front's queue (an atomic stack of pages). A holder of the front collects a
   queued page's stack into its bitmap when its list of the size asked for has no room (a
   few pages per such malloc), and a call that holds every lock and wants memory (a malloc
   that would fail, mspace_trim) collects them all. Until it is collected, a slot freed so
   counts in its page's `used` (which keeps the page), and as free for the statistics,
   inspect_all and the check; a second free of it finds its key (O(1)); collecting clears
   the key. Nothing is added to a page's header but two words (a bitmap of remote frees
   would have cost a slot of 128 bytes and more of the smaller ones in every page).
   With no lock, the page of an invalid free (a second one) could go back to the core or be
   cut anew between the free's checks and its writes (a valid free's slot holds its page).
   So the free pins the front first (an atomic add to its `pins`), checks, writes and
   unpins; whoever gives a page back or cuts a spare anew first makes it fail those checks
   (its map bit or check word), then waits until its front's pins are 0: either the free
   sees the page changed, or the holder sees the pin and waits. A call that holds every
   lock closes the pins (REMOTE_CLOSED) and waits for those under way: frees meanwhile take
   the lock, and mspace_lock around a fork leaves no free half done. A heap over the
   caller's memory, which processes may share (a process that died pinned would stop the
   others), takes the front's lock for every free as before. */
static const size_t REMOTE_KEY = static_cast<size_t>(0x72656d6f74656672ULL);   /* "remotefr" */

/* The key a slot at p freed by another thread holds in its second word. */
MULLE_DLMALLOC_NOASAN inline size_t remote_key(const mstate *m, const void *p)
{
   return REMOTE_KEY ^ reinterpret_cast<uintptr_t>(p) ^ (m->epoch << 12);
}

MULLE_DLMALLOC_NOASAN inline size_t *slot_words(void *p) { return static_cast<size_t *>(p); }

#ifdef MULLE_DLMALLOC_HAS_FRONTS
static const size_t REMOTE_CLOSED = static_cast<size_t>(1) << (sizeof(size_t) * 8 - 1);
inline void cpu_relax();   /* lock.hpp */

MULLE_DLMALLOC_NOASAN inline bool takes_remote_frees(const mstate *m)
{
   return (flags_of(m) & (STATE_LOCKED | STATE_FROM_OS)) == (STATE_LOCKED | STATE_FROM_OS);
}

MULLE_DLMALLOC_NOASAN inline bool page_queued(const page *pg) { return __atomic_load_n(&pg->rfree, __ATOMIC_ACQUIRE) != 0; }

/* The remote frees pinned on front f are done: the caller changed a page of f just now so
   that the later ones refuse it. */
MULLE_DLMALLOC_NOASAN inline void remote_quiesce(front *f)
{
   __atomic_thread_fence(__ATOMIC_SEQ_CST);
   while (__atomic_load_n(&f->pins, __ATOMIC_ACQUIRE) & ~REMOTE_CLOSED)
      cpu_relax();
}

/* The next queued page of front f, whose holder calls; NULL where none. A link that names
   no page of f is reported and the rest of the queue forgotten (the check finds the
   pages left queued). */
MULLE_DLMALLOC_NOASAN MULLE_DLMALLOC_NEVER_INLINE page *next_queued(mstate *m, front *f)
{
   if (!f->rtaken && __atomic_load_n(&f->rhead, __ATOMIC_RELAXED))
      f->rtaken = __atomic_exchange_n(&f->rhead, static_cast<size_t>(0), __ATOMIC_ACQUIRE);
   size_t off = f->rtaken;
   if (!off)
      return NULL;
   page *pg = reinterpret_cast<page *>(as_bytes(m) + off);
   if (!ok_page_address(m, pg) || !map_has(m, frame_index(m, pg)) ||
       pg->check != page_check(m, pg, pg->size, static_cast<size_t>(f - m->fronts)))
   {
      f->rtaken = 0;
      report(m, MSPACE_ERROR_CORRUPTION, pg);
      return NULL;
   }
   f->rtaken = pg->rnext;
   return pg;
}
#else
MULLE_DLMALLOC_NOASAN inline bool takes_remote_frees(const mstate *) { return false; }
MULLE_DLMALLOC_NOASAN inline bool page_queued(const page *) { return false; }
MULLE_DLMALLOC_NOASAN inline void remote_quiesce(front *) {}
#endif

/* Walks the stack of remote frees that starts at slot offset `off` of page pg (whose
   header holds): each slot in `mask` (BITMAP_WORDS words, cleared first), and where
   `collect`, freed in the bitmap, its key cleared. The number of slots; NO_SLOT where a
   link names no slot, or a slot without its key, or one met before or free already (a
   second free, or damage): the walk stops there (*bad names the slot where it can). */
MULLE_DLMALLOC_NOASAN inline size_t walk_remote(const mstate *m, page *pg, size_t off, uint64_t *mask, bool collect, void **bad)
{
   size_t n = 0;
   fill_bytes(mask, 0, BITMAP_WORDS * sizeof(uint64_t));
   *bad = NULL;
   for (; off; ++n)
   {
      MULLE_DLMALLOC_STEP();
      byte  *p = as_bytes(pg) + (off & (PAGE_BYTES - 1));
      size_t i = off < PAGE_BYTES ? slot_index(pg, p) : NO_SLOT;
      if (i == NO_SLOT || n >= pg->count)
         return NO_SLOT;
      uint64_t bit = static_cast<uint64_t>(1) << (i & 63);
      *bad = p;
      if (((mask[i >> 6] | pg->free_bits[i >> 6]) & bit) || slot_words(p)[1] != remote_key(m, p))
         return NO_SLOT;
      *bad = NULL;
      mask[i >> 6] |= bit;
      off = slot_words(p)[0];
      if (collect)
      {
         slot_words(p)[1] = 0;
         pg->free_bits[i >> 6] |= bit;
      }
   }
   return n;
}

/* Slots of pg freed by other threads, not yet collected, in `mask`; their number (0 where
   the stack is damaged: the check reports it). */
MULLE_DLMALLOC_NOASAN inline size_t remote_slots(const mstate *m, page *pg, uint64_t *mask)
{
#ifdef MULLE_DLMALLOC_HAS_FRONTS
   void  *bad;
   size_t n = walk_remote(m, pg, __atomic_load_n(&pg->rfree, __ATOMIC_ACQUIRE), mask, false, &bad);
   if (n != NO_SLOT)
      return n;
#else
   (void) m; (void) pg;
#endif
   fill_bytes(mask, 0, BITMAP_WORDS * sizeof(uint64_t));
   return 0;
}

/* The slot at p of pg holds its key: freed by another thread, not yet collected (asked
   only where the page has a stack to be in). The page's stack first: its header is in
   the cache already, and the stack is empty in nearly every heap that takes no remote
   frees (its pages are cut with none; an attached copy of a heap that took them keeps
   its stacks until they are collected), so a free mostly asks no more. */
MULLE_DLMALLOC_NOASAN inline bool holds_remote_key(const mstate *m, const page *pg, const void *p)
{
#ifdef MULLE_DLMALLOC_HAS_FRONTS
   return __atomic_load_n(&pg->rfree, __ATOMIC_RELAXED) && takes_remote_frees(m) &&
          frame_word(slot_words(const_cast<void *>(p)) + 1) == remote_key(m, p);
#else
   (void) m; (void) pg; (void) p;
   return false;
#endif
}

/* p, a slot of pg, was freed by another thread and is not yet collected. */
MULLE_DLMALLOC_NOASAN inline bool remotely_freed(const mstate *m, page *pg, const void *p)
{
   return slot_index(pg, p) != NO_SLOT && holds_remote_key(m, pg, p);
}

/* Slot i (at p) of pg is free, or freed by another thread and not yet collected; `bits`
   is its bitmap word as the caller read it. */
MULLE_DLMALLOC_NOASAN inline bool slot_was_freed_as(const mstate *m, const page *pg, size_t i, const void *p, uint64_t bits)
{
   return ((bits >> (i & 63)) & 1u) || holds_remote_key(m, pg, p);
}

MULLE_DLMALLOC_NOASAN inline bool slot_was_freed(const mstate *m, const page *pg, size_t i, const void *p)
{
   return slot_was_freed_as(m, pg, i, p, pg->free_bits[i >> 6]);
}

#ifdef MULLE_DLMALLOC_HAS_FRONTS
/* Queued page pg's stack of remote frees joins its bitmap (its front's holder calls, after
   next_queued took it out of the queue; a free after this queues it again). A slot freed
   both ways (two frees at once, in two threads), or a stack found damaged, is reported;
   the slots behind stay in use. */
MULLE_DLMALLOC_NOASAN MULLE_DLMALLOC_NEVER_INLINE void collect_page(mstate *m, page *pg)
{
   uint64_t mask[BITMAP_WORDS];
   void    *bad;
   /* released: next_queued read the page's queue link before a free that finds the stack
      empty writes it */
   size_t   off = __atomic_exchange_n(&pg->rfree, static_cast<size_t>(0), __ATOMIC_ACQ_REL);
   size_t   got = walk_remote(m, pg, off, mask, true, &bad);
   if (got == NO_SLOT)
   {
      got = 0;
      for (size_t w = 0; w < BITMAP_WORDS; ++w)
         got += static_cast<size_t>(count_bits64(mask[w]));
      report(m, bad ? MSPACE_ERROR_DOUBLE_FREE : MSPACE_ERROR_CORRUPTION, bad ? bad : static_cast<void *>(pg));
   }
   pg->used = static_cast<uint8_t>(pg->used - (got < pg->used ? got : pg->used));
}
#endif

/* The header fields that say how the page is cut agree with each other and with the
   slot size class cls (the whole-heap check; the hot paths trust the check word). */
MULLE_DLMALLOC_NOASAN inline bool page_shape_ok(const page *pg, size_t cls)
{
   return cls < NCLASSES && pg->size == class_size(cls) && pg->count == class_count(cls) &&
          pg->used <= pg->count && pg->hint < BITMAP_WORDS && pg->listed <= 1 && pg->front < FRONTS;
}

/* The front whose lists hold pg: for a locked mspace the one its header names (an index
   past the fronts wraps; the page's check word, which covers its front, is what proves
   it), for any other the first. */
MULLE_DLMALLOC_NOASAN inline size_t front_index_of(const mstate *m, const page *pg)
{
#ifdef MULLE_DLMALLOC_HAS_FRONTS
   if (flags_of(m) & STATE_LOCKED)   /* an unlocked mspace uses its first front only */
      return pg->front % FRONTS;
#endif
   (void) m;
   (void) pg;
   return 0;
}

MULLE_DLMALLOC_NOASAN inline front *front_of(mstate *m, const page *pg)
{
   return &m->fronts[front_index_of(m, pg)];
}

/* pg's check word holds, with the front whose list it is to join or leave: where it does
   not, a write past a block changed the header (its front among it), and the page is not
   moved between lists on its word. */
MULLE_DLMALLOC_NOASAN inline bool page_whole_at(const mstate *m, const page *pg, size_t k)
{
   return !MULLE_DLMALLOC_CHECKS || pg->check == page_check(m, pg, pg->size, k);
}

MULLE_DLMALLOC_NOASAN inline bool page_whole(mstate *m, const page *pg, const front *f)
{
   return page_whole_at(m, pg, static_cast<size_t>(f - m->fronts));
}

/* pg, about to head the list of class cls, is one of m's pages, cut for cls: a list's
   head is checked once, when it becomes the head, and trusted while it stays. */
MULLE_DLMALLOC_NOASAN MULLE_DLMALLOC_HOT bool listed_page_ok(const mstate *m, const page *pg, size_t cls)
{
   return !MULLE_DLMALLOC_CHECKS || (ok_page_address(m, pg) && pg->check == page_check(m, pg, class_size(cls), pg->front));
}

/* The list of a slot size is a ring (next/prev), its head in the state: pages join at
   its end and requests are served from its head, so that a page that got a slot back
   waits behind the others and gathers more before it is filled again (fewer pages go in
   and out of the list). Only the head may be full: it filled up, and leaves when the next
   request finds it so. */

/* pg leaves the list of class cls; false (nothing changed) where its neighbours' links
   do not name it. The head's check word was held when it became the head (trusted while it
   stays, as the quickest malloc trusts it); any other page's is held here. */
MULLE_DLMALLOC_NOASAN MULLE_DLMALLOC_HOT bool unlist_page(mstate *m, front *f, page *pg, size_t cls)
{
   page  *n = pg->next, *p = pg->prev;
   bool   head = f->avail[cls] == pg;
   if (MULLE_DLMALLOC_CHECKS && (!ok_page_address(m, n) || !ok_page_address(m, p) || n->prev != pg || p->next != pg ||
                                 (n == pg && !head) || (!head && !page_whole(m, pg, f)) ||
                                 (head && n != pg && !listed_page_ok(m, n, cls))))
      return false;
   if (n == pg)
      f->avail[cls] = NULL;
   else
   {
      p->next = n;
      n->prev = p;
      if (head)
         f->avail[cls] = n;
   }
   pg->listed = 0;
   return true;
}

/* pg joins the end of the list of class cls; false (nothing changed) where the head's
   link back is no page whose link names the head. */
MULLE_DLMALLOC_NOASAN MULLE_DLMALLOC_HOT bool list_page(mstate *m, front *f, page *pg, size_t cls)
{
   page  *h = f->avail[cls];
   if (!h)
   {
      pg->next = pg;
      pg->prev = pg;
      f->avail[cls] = pg;
   }
   else
   {
      page *t = h->prev;
      if (MULLE_DLMALLOC_CHECKS && (!ok_page_address(m, t) || t->next != h))
         return false;
      pg->next = h;
      pg->prev = t;
      t->next  = pg;
      h->prev  = pg;
   }
   pg->listed = 1;
   return true;
}

/* A page's header or list was overwritten (a write past a block, or into the state's
   list): reported, the request fails, nothing is written. */
MULLE_DLMALLOC_NOASAN MULLE_DLMALLOC_NEVER_INLINE void *page_damaged(mstate *m, page *pg)
{
   report(m, MSPACE_ERROR_CORRUPTION, pg);
   return NULL;
}

MULLE_DLMALLOC_NOASAN MULLE_DLMALLOC_NEVER_INLINE void *slot_list_damaged(mstate *m, page *pg, bool *sane)
{
   *sane = false;
   return page_damaged(m, pg);
}

/* Takes a free slot of page pg: the lowest of the bitmap word its last malloc took from
   (its hint), else the lowest of the page, as quick_slot would; NULL, with nothing
   changed, where its bitmap shows none among its slots. */
MULLE_DLMALLOC_NOASAN MULLE_DLMALLOC_HOT void *take_free_slot(page *pg)
{
   size_t w = pg->hint & (BITMAP_WORDS - 1);   /* a forged hint stays in the bitmap */
   if (!pg->free_bits[w])
      for (w = 0; w < BITMAP_WORDS && !pg->free_bits[w]; ++w)
         MULLE_DLMALLOC_STEP();
   if (w == BITMAP_WORDS)
      return NULL;
   uint64_t bits = pg->free_bits[w];
   size_t   i    = w * 64 + static_cast<size_t>(lowest_bit64(bits));
   if (MULLE_DLMALLOC_CHECKS && i >= pg->count)
      return NULL;
   pg->free_bits[w] = bits & (bits - 1);
   pg->hint         = static_cast<uint8_t>(w);
   pg->used++;
   return first_slot(pg) + i * pg->size;
}

/* Takes a free slot of listed page pg, which has one: where the bitmap shows none
   (listed with room, yet no free slot), it lies, and the page is reported. */
MULLE_DLMALLOC_NOASAN MULLE_DLMALLOC_HOT void *take_slot(mstate *m, page *pg)
{
   void *p = take_free_slot(pg);
   return p ? p : page_damaged(m, pg);
}

/* A chunk of PAGE_BYTES whose memory starts on a page boundary, in use: where Lea's order
   finds a chunk of a page's size (a free page-sized chunk, best fit, the dv, the top), if
   that starts on a boundary (as a page given back does, and the top of a heap being
   filled); else cut out of a chunk large enough to hold one that does. */
MULLE_DLMALLOC_NOASAN inline chunk *page_chunk(mstate *m)
{
   /* where Lea's order takes the top (no free chunk serves a page, the dv is smaller),
      the page is cut from it on the first boundary past a lead that can stand alone
      (free, as allocate_aligned leaves it): what the way below ends with, without taking
      a chunk, giving it back and taking a larger one to cut down */
   if (PAGE_BYTES > m->dv_size && no_tree_bin_from(m->treemap, PAGE_BYTES) && top_is_whole(m))
   {
      uintptr_t at   = reinterpret_cast<uintptr_t>(mem_from_chunk(m->top));
      size_t    lead = static_cast<size_t>(align_up(at, PAGE_BYTES) - at);
      if (lead && lead < MIN_CHUNK)
         lead += PAGE_BYTES;
      if (m->top_size >= lead + PAGE_BYTES + MIN_CHUNK)
      {
         chunk *c = chunk_from_mem(split_top(m, m->top, lead + PAGE_BYTES, PINUSE));
         return lead ? give_back_lead(m, c, chunk_at(c, lead)) : c;
      }
   }
   void *mem = allocate_chunk_of(m, PAGE_BYTES);
   if (mem && is_aligned(mem, PAGE_BYTES))
      return chunk_from_mem(mem);
   if (mem && !release_chunk(m, chunk_from_mem(mem), chunk_size(chunk_from_mem(mem))))
   {
      report(m, MSPACE_ERROR_CORRUPTION, mem);   /* a free neighbour whose links lie: the */
      return NULL;                               /* chunk stays in use */
   }
   mem = allocate_aligned(m, PAGE_BYTES, PAGE_BYTES - CHUNK_OVERHEAD);
   return mem ? chunk_from_mem(mem) : NULL;
}

/* Writes the header of page pg, of front f, cut for class cls, every slot free, past a
   lead of `lead` bytes (0: none, or not one that holding the page may keep). The check
   word goes first to one of a page given back, and last to the page's: a recovery
   believes a header whose check word holds (recover.hpp), and a spare cut anew that
   stopped half way would otherwise show, under its new slot size, the bits of its old
   bitmap as slots in use that nobody holds. */
MULLE_DLMALLOC_NOASAN inline void cut_page(mstate *m, page *pg, size_t cls, const front *f, size_t lead = 0)
{
   size_t n   = class_count(cls);
   size_t fk  = static_cast<size_t>(f - m->fronts);
   pg->check  = PAGE_GONE ^ page_offset(m, pg) ^ m->epoch;
   MULLE_DLMALLOC_ORDERED();
   pg->offset = page_offset(m, pg);
   pg->epoch  = m->epoch;
   pg->size   = static_cast<uint16_t>(class_size(cls));
   pg->count  = static_cast<uint8_t>(n);
   pg->front  = static_cast<uint8_t>(fk);
   pg->used   = 0;
   pg->lead   = static_cast<uint8_t>(lead < PAGE_BYTES ? lead >> SLOT_SHIFT : 0);
   pg->hint   = 0;
   pg->listed = 0;
#ifdef MULLE_DLMALLOC_HAS_FRONTS
   pg->rfree = 0;   /* no slot freed by another thread, in no queue */
   pg->rnext = 0;
#endif
   for (size_t w = 0; w < BITMAP_WORDS; ++w)
   {
      size_t lo = w * 64;
      pg->free_bits[w] = n >= lo + 64 ? ~static_cast<uint64_t>(0) : n > lo ? (static_cast<uint64_t>(1) << (n - lo)) - 1 : 0;
   }
   MULLE_DLMALLOC_ORDERED();
   pg->check = page_check(m, pg, class_size(cls), fk);
}

/* The spares of a locked mspace's front (where there are fronts): the last pages the
   front emptied, up to SPARE_PAGES, out of its lists, all of their slots free. Taken, a
   spare is cut anew for whatever slot size the front's next new page needs, under the
   front's lock alone; so a thread whose slot sizes come and go does not take the
   mspace's lock (and the core's cache lines from the other threads) to make and give
   back pages in a loop. A page that empties while its front holds SPARE_PAGES goes back
   to the core at once. A call that holds every lock gives the spares back where memory
   is wanted (a malloc, calloc, memalign or realloc that would fail, mspace_trim); the
   statistics count a spare as free bytes. A page that empties alone in its size's list
   stays there instead, the front's held page (front_held, below). An unlocked mspace
   keeps no spares: its pages go back at once, but for the held page (below). */
#ifdef MULLE_DLMALLOC_HAS_FRONTS
static const unsigned SPARE_PAGES = 4;
#endif

MULLE_DLMALLOC_NOASAN inline bool spare_ok(mstate *m, const front *f, const page *pg)
{
   return ok_page_address(m, pg) && map_has(m, frame_index(m, pg)) && page_whole(m, pg, f) &&
          !pg->used && !pg->listed;
}

/* Empty page pg, just changed so that remote frees refuse it (its check word, where it
   was `was`, maybe its map bit), once those pinned on its front are done: true where none
   queued it meanwhile. Where one did (a second free of one of its slots as it emptied),
   it is a page again as it was, listed, and waits to be collected (which reports the
   second free). */
MULLE_DLMALLOC_NOASAN inline bool remote_frees_done(mstate *m, page *pg, size_t was)
{
   if (!takes_remote_frees(m))
      return true;
   remote_quiesce(front_of(m, pg));
   if (!page_queued(pg))
      return true;
   pg->check = was;
   MULLE_DLMALLOC_ORDERED();
   map_set(m, frame_index(m, pg));
   if (!pg->listed && !list_page(m, front_of(m, pg), pg, class_of_page(pg)))
      report(m, MSPACE_ERROR_CORRUPTION, pg);
   return false;
}

/* The first of f's spares, cut for class cls (the caller holds f's lock); NULL where
   there is none, or it was found damaged (reported, and the list forgotten: the check
   finds the pages). */
MULLE_DLMALLOC_NOASAN MULLE_DLMALLOC_NEVER_INLINE page *take_spare(mstate *m, front *f, size_t cls)
{
#ifdef MULLE_DLMALLOC_HAS_FRONTS
   page *pg = f->spare;
   if (!pg)
      return NULL;
   if (!spare_ok(m, f, pg) || !f->spares)
   {
      f->spare  = NULL;
      f->spares = 0;
      report(m, MSPACE_ERROR_CORRUPTION, pg);
      return NULL;
   }
   f->spare = f->spares > 1 ? pg->next.get() : NULL;
   f->spares--;
   size_t was = pg->check;
   pg->check  = PAGE_GONE ^ page_offset(m, pg) ^ m->epoch;   /* refused by remote frees */
   if (!remote_frees_done(m, pg, was))
      return NULL;
   cut_page(m, pg, cls, f);
   return pg;
#else
   (void) m; (void) f; (void) cls;
   return NULL;
#endif
}

/* A new page for class cls, not listed yet: f's spare, else one from the core; NULL where
   the core has no room for one. */
MULLE_DLMALLOC_NOASAN MULLE_DLMALLOC_NEVER_INLINE page *new_page(mstate *m, size_t cls, front *f)
{
#ifdef MULLE_DLMALLOC_HAS_FRONTS
   if (f->spare)
      if (page *spare = take_spare(m, f, cls))
         return spare;
#endif
   chunk *c = page_chunk(m);
   if (!c)
      return NULL;
   page *pg = static_cast<page *>(mem_from_chunk(c));
   cut_page(m, pg, cls, f, previous_is_in_use(c) ? 0 : c->prev_foot);
   MULLE_DLMALLOC_ORDERED();   /* a recovery believes a header flagged in the head */
   c->head |= TIER_PAGE;
   map_set(m, frame_index(m, pg));   /* last: a free that finds the bit finds the header */
   return pg;
}

/* The commonest malloc of a slot, in a few registers and without a stack frame: the
   head of class cls's list has a free slot in its hinted bitmap word. NULL where
   any of that does not hold (slot_from_list decides then, and reports what is damaged). */
MULLE_DLMALLOC_NOASAN MULLE_DLMALLOC_HOT void *quick_slot(front *f, size_t cls)
{
   page *pg = f->avail[cls];   /* checked when it became the head */
   if (!pg)
      return NULL;
   size_t   w    = pg->hint & (BITMAP_WORDS - 1);   /* a forged hint stays in the bitmap */
   uint64_t bits = pg->free_bits[w];
   if (!bits)
      return NULL;
   size_t i = w * 64 + static_cast<size_t>(lowest_bit64(bits));
   if (MULLE_DLMALLOC_CHECKS && i >= pg->count)
      return NULL;
   pg->free_bits[w] = bits & (bits - 1);
   pg->used++;
   return first_slot(pg) + i * pg->size;
}

/* The next quickest malloc of a slot, still without a call: the head of class cls's list
   filled up and leaves it, and the next page serves; or the head's hinted bitmap word is
   used up and another word serves. NULL where anything else holds (slot_from_list decides
   then, with the same checks, and reports what is damaged); a head that left stays out,
   as slot_from_list would have left it. */
MULLE_DLMALLOC_NOASAN MULLE_DLMALLOC_HOT void *next_slot(mstate *m, front *f, size_t cls)
{
   page *pg = f->avail[cls];
   if (!pg)
      return NULL;
   if (pg->used == pg->count)
   {
      if (!unlist_page(m, f, pg, cls) || !(pg = f->avail[cls]) || pg->used == pg->count)
         return NULL;
   }
   return take_free_slot(pg);
}

/* A slot of class cls from its list: from the head, unless the head filled up (it leaves
   the list then, and the next page serves); NULL where the list has no room. *sane turns
   false where a page or link was found damaged (reported). */
MULLE_DLMALLOC_NOASAN MULLE_DLMALLOC_HOT void *slot_from_list(mstate *m, front *f, size_t cls, bool *sane)
{
   page *pg = f->avail[cls];   /* checked when it became the head */
   *sane = true;
   if (!pg)
      return NULL;
   if (pg->used == pg->count)
   {
      if (!unlist_page(m, f, pg, cls))
         return slot_list_damaged(m, pg, sane);
      if (!(pg = f->avail[cls]))
         return NULL;
      if (pg->used == pg->count)   /* only the head fills */
         return slot_list_damaged(m, pg, sane);
   }
   void *p = take_slot(m, pg);
   *sane = p != NULL;
   return p;
}

/* A slot for a request of n <= FRONT_MAX bytes; NULL with *sane true where no page could be
   made (the caller asks the core for a chunk), with *sane false where a page or list was
   found damaged (reported). */
MULLE_DLMALLOC_NOASAN inline void *allocate_slot(mstate *m, front *f, size_t n, bool *sane)
{
   size_t cls = class_of(n);
   void  *p   = slot_from_list(m, f, cls, sane);
   if (p || !*sane)
      return p;
   page *pg = new_page(m, cls, f);
   if (!pg)
      return NULL;
   p = take_slot(m, pg);
   if (!list_page(m, f, pg, cls))   /* the list's head was damaged: the page stays out of it */
      report(m, MSPACE_ERROR_CORRUPTION, pg);
   return p;
}

/* A slot of class cls or a larger one from front f's lists, from the first size with a
   page with room; NULL where none has room, with *sane false where a page or list was
   found damaged (reported). */
MULLE_DLMALLOC_NOASAN inline void *slot_of_size_or_larger(mstate *m, front *f, size_t cls, bool *sane)
{
   *sane = true;
   for (; cls < NCLASSES; ++cls)
   {
      MULLE_DLMALLOC_STEP();
      if (void *p = slot_from_list(m, f, cls, sane))
         return p;
      if (!*sane)
         return NULL;
   }
   return NULL;
}

/* A slot of a larger size than class cls asks for, or NULL: a small request on a heap that
   has no room for a page nor a chunk still gets what largest_free promises. */
MULLE_DLMALLOC_NOASAN MULLE_DLMALLOC_NEVER_INLINE void *allocate_larger_slot(mstate *m, front *f, size_t cls)
{
   bool sane;
   return slot_of_size_or_larger(m, f, cls + 1, &sane);
}

/* The front of this thread in m: with fronts, a locked mspace's thread takes the front of
   its number (threads are numbered as they first take one), any other the first. */
#ifdef MULLE_DLMALLOC_HAS_FRONTS
MULLE_DLMALLOC_THREAD_LOCAL unsigned thread_front_number;   /* its front + 1; 0: none yet */
MULLE_DLMALLOC_THREAD_LOCAL unsigned thread_lane;           /* its lane + 1 among the threads
                                                               of its front; 0: none (lock.hpp) */
static unsigned                      fronts_taken;          /* threads numbered so far */
static unsigned                      lanes_taken[FRONTS];   /* lanes given on each front,
                                                               BIAS_LANES or a few more */

MULLE_DLMALLOC_NOASAN MULLE_DLMALLOC_NEVER_INLINE unsigned number_thread()
{
   unsigned k = __atomic_fetch_add(&fronts_taken, 1u, __ATOMIC_RELAXED) % FRONTS;
   unsigned lane = BIAS_LANES;   /* none; the count stops past the lanes (no wrap) */
   if (__atomic_load_n(&lanes_taken[k], __ATOMIC_RELAXED) < BIAS_LANES)
      lane = __atomic_fetch_add(&lanes_taken[k], 1u, __ATOMIC_RELAXED);
   thread_lane         = lane < BIAS_LANES ? lane + 1 : 0u;
   thread_front_number = k + 1;
   return thread_front_number;
}

MULLE_DLMALLOC_THREAD_LOCAL size_t thread_front_at;   /* its front's offset in a state (the
                                                        same in every state); 0: not yet */

MULLE_DLMALLOC_NOASAN MULLE_DLMALLOC_NEVER_INLINE front *first_thread_front(mstate *m)
{
   unsigned k = thread_front_number;
   front   *f = &m->fronts[(k ? k : number_thread()) - 1];
   thread_front_at = static_cast<size_t>(reinterpret_cast<byte *>(f) - reinterpret_cast<byte *>(m));
   return f;
}

MULLE_DLMALLOC_NOASAN MULLE_DLMALLOC_HOT front *thread_front(mstate *m)
{
   size_t at = thread_front_at;
   return at ? reinterpret_cast<front *>(reinterpret_cast<byte *>(m) + at) : first_thread_front(m);
}
#endif

MULLE_DLMALLOC_NOASAN inline front *this_front(mstate *m)
{
#ifdef MULLE_DLMALLOC_HAS_FRONTS
   if (flags_of(m) & STATE_LOCKED)
      return thread_front(m);
#endif
   return &m->fronts[0];
}

/* The last resort of a small request on a heap with no room for a page nor a chunk: a slot
   of class cls or larger in another front's pages (allocate runs with every lock held
   where there are fronts), so that what largest_free counts can be had from any thread. */
#ifdef MULLE_DLMALLOC_HAS_FRONTS
MULLE_DLMALLOC_NOASAN MULLE_DLMALLOC_NEVER_INLINE void *allocate_other_front(mstate *m, const front *f, size_t cls)
{
   for (size_t k = 0; k < FRONTS; ++k)
   {
      front *g = &m->fronts[k];
      if (g == f)
         continue;
      bool  sane;
      void *p = slot_of_size_or_larger(m, g, cls, &sane);
      if (p || !sane)
         return p;
   }
   return NULL;
}
#endif

/* The largest request m takes from the tier: a locked mspace's fronts take up to
   FRONT_MAX, so that threads meet on the mspace's lock more rarely; any other mspace up
   to TIER_MAX (its core serves the sizes between as fast, without making and giving back
   pages as a stack of them rises and falls). */
MULLE_DLMALLOC_NOASAN inline size_t tier_max(const mstate *m)
{
#ifdef MULLE_DLMALLOC_HAS_FRONTS
   if (flags_of(m) & STATE_LOCKED)
      return FRONT_MAX;
#endif
   (void) m;
   return TIER_MAX;
}

/* A slot or a chunk for a request of n bytes. */
MULLE_DLMALLOC_NOASAN inline void *allocate(mstate *m, size_t n)
{
   if (TIER && n <= tier_max(m))
   {
      bool   sane;
      front *f = this_front(m);
      void  *p = allocate_slot(m, f, n, &sane);
      if (p || !sane)
         return p;
      p = allocate_chunk(m, n);
      if (!p)
         p = allocate_larger_slot(m, f, class_of(n));
#ifdef MULLE_DLMALLOC_HAS_FRONTS
      if (!p)
         p = allocate_other_front(m, f, class_of(n));
#endif
      return p;
   }
   return allocate_chunk(m, n);
}

/* A block for a realloc that moves: a slot or a chunk as allocate gives one, but for the
   best fit. The search leaves the tree alone for a request up to DV_REACH that the dv
   holds, the next block of a run; a block that moves because it grows is none, and is
   likely to grow again. So here the tree's best fit serves it where it leaves less than
   the dv would. Measured on the realloc-grow workload: its moves copy 1.10 GB against
   1.15 where the dv served them. Builds without an OS place it as malloc would, for
   size. */
MULLE_DLMALLOC_NOASAN inline void *growing_block(mstate *m, size_t n)
{
   size_t nb = request_to_size(n);
   if (MULLE_DLMALLOC_NO_OS || (TIER && n <= tier_max(m)) || n > m->capacity || is_small(nb) ||
       nb > DV_REACH || nb > m->dv_size || !m->treemap)
      return allocate(m, n);   /* where the search would look for the best fit anyway */
   size_t rest = 0;
   bool   sane;
   chunk *c = best_tree_fit(m, nb, &rest, &sane);
   if (SEARCH_CHECKS && !sane)
      return NULL;
   if (!c || rest >= m->dv_size - nb)
      return allocate(m, n);
   size_t cs = size_by_tags(m, c);   /* a ring member's size, held against its footer */
   if (cs < nb)
      return free_chunk_damaged(m, c);
   if (!free_memory_untouched(m, c, cs, as_bytes(c) + nb + sizeof(tree_chunk)) || !take_from_bin(m, c, cs))
      return NULL;
   return carve(m, c, nb, true);   /* as the search carves for a request up to DV_REACH */
}

/* Page pg, not listed, got a slot back: it joins its list's end. */
MULLE_DLMALLOC_NOASAN MULLE_DLMALLOC_NEVER_INLINE void relist_page(mstate *m, page *pg)
{
   if (!page_whole_at(m, pg, front_index_of(m, pg)) || !list_page(m, front_of(m, pg), pg, class_of_page(pg)))
      report(m, MSPACE_ERROR_CORRUPTION, pg);   /* the list's head was damaged */
}

/* Empty page pg, in no list, goes back to the core (and the core's events run, where
   `events`); false where it stayed (reported, or waiting on a second free). */
MULLE_DLMALLOC_NOASAN MULLE_DLMALLOC_NEVER_INLINE bool give_back_page(mstate *m, page *pg, bool events = true)
{
   chunk *c   = chunk_from_mem(pg);
   size_t was = pg->check;
#ifdef MULLE_DLMALLOC_HAS_FRONTS
   front *f = front_of(m, pg);   /* its front's lock is held: the front's held page is */
   if (f->held == page_offset(m, pg))   /* one of its own pages, never one given back (a */
      f->held = 0;                      /* frame another front may cut anew) */
#endif
   pg->check  = PAGE_GONE ^ page_offset(m, pg) ^ m->epoch;   /* a recovery frees a page */
   MULLE_DLMALLOC_ORDERED();                                  /* flagged with no header */
   map_clear(m, frame_index(m, pg));
   if (!remote_frees_done(m, pg, was))
      return false;
   /* the merge's first store frees the chunk and clears TIER_PAGE at once: a crash
      leaves a page to be freed or free memory, never a block in use that nobody holds */
   if (!release_chunk(m, c, chunk_size(c)))
   {
      c->head &= ~TIER_PAGE;
      report(m, MSPACE_ERROR_CORRUPTION, pg);   /* a free neighbour whose links lie: the */
      return false;                             /* page's chunk stays in use */
   }
   if (events)
      events_after(m);
   return true;
}

/* Page pg, whose last slot was freed, goes back to the core: its check word turns into a
   trace (a later free of one of its slots, while the page's memory lies in the top, is a
   double free), and it merges as a freed chunk would; true where it went back. */
MULLE_DLMALLOC_NOASAN MULLE_DLMALLOC_NEVER_INLINE bool release_page(mstate *m, page *pg, bool events = true)
{
   if (!unlist_page(m, front_of(m, pg), pg, class_of_page(pg)))
   {
      report(m, MSPACE_ERROR_CORRUPTION, pg);
      return false;   /* the page stays, empty: nothing else is written */
   }
   return give_back_page(m, pg, events);
}

/* The empty page, in its list, of front k at offset off from the state, which a held
   page's hint names (0: none); NULL where it names no such page. */
MULLE_DLMALLOC_NOASAN inline page *held_at(const mstate *m, size_t off, size_t k)
{
   if (!off)
      return NULL;
   page *pg = reinterpret_cast<page *>(const_cast<byte *>(reinterpret_cast<const byte *>(m)) + off);
   if (!ok_page_address(m, pg) || !map_has(m, frame_index(m, pg)) || !page_whole_at(m, pg, k) || pg->used || !pg->listed)
      return NULL;
   return pg;
}

#ifdef MULLE_DLMALLOC_HAS_FRONTS
/* Empty page pg of front f (whose lock the caller holds) becomes one of f's spares where
   f holds fewer than SPARE_PAGES: true, and it left its list. */
MULLE_DLMALLOC_NOASAN inline bool push_spare(mstate *m, front *f, page *pg)
{
   if (f->spares >= SPARE_PAGES || (pg->listed && !unlist_page(m, f, pg, class_of_page(pg))))
      return false;   /* a list that lies: release_page reports it */
   pg->next = f->spare;
   f->spare = pg;
   f->spares++;
   return true;
}

/* The held page of front f: empty, alone in its size's list, where the hint names one
   (else NULL). A front's held page is what the held page is to an unlocked mspace: a
   size whose blocks come and go at a page's edge, one block taken and freed in a loop,
   keeps its page listed instead of making it a spare and cutting it anew on every turn
   (which cost 2.7 times the pair). One a front; it goes back where the spares go. */
MULLE_DLMALLOC_NOASAN inline page *front_held(mstate *m, const front *f)
{
   return held_at(m, f->held, static_cast<size_t>(f - m->fronts));
}
#endif

/* Empty page pg of front f (whose lock the caller holds) is kept: where it is alone in
   its size's list it stays there as f's held page (where the one held before can become
   a spare), else it becomes one of f's spares where f holds fewer than SPARE_PAGES; true
   where it was kept. */
MULLE_DLMALLOC_NOASAN inline bool keep_spare(mstate *m, front *f, page *pg)
{
#ifdef MULLE_DLMALLOC_HAS_FRONTS
   if (pg->listed && f->avail[class_of_page(pg)] == pg && pg->next == pg)
   {
      if (f->held == page_offset(m, pg))   /* emptied again: held on */
         return true;
      page *old = front_held(m, f);
      if (!old || push_spare(m, f, old))
      {
         f->held = page_offset(m, pg);
         return true;
      }
   }
   return push_spare(m, f, pg);
#else
   (void) m; (void) f; (void) pg;
   return false;
#endif
}

/* Empty page pg, listed or not, goes back to the core (the caller holds the mspace's
   lock), and the core's events run where `events`. */
MULLE_DLMALLOC_NOASAN inline void return_page(mstate *m, page *pg, bool events = true)
{
   if (pg->listed)
      release_page(m, pg, events);
   else
      give_back_page(m, pg, events);
}

/* Every front's queued pages collected (the caller holds every lock), and those that
   emptied given back to the core; true if a slot was collected. */
#ifdef MULLE_DLMALLOC_HAS_FRONTS
MULLE_DLMALLOC_NOASAN MULLE_DLMALLOC_NEVER_INLINE bool collect_remote_frees(mstate *m)
{
   bool any = false;
   for (size_t k = 0; k < FRONTS; ++k)
   {
      front *f = &m->fronts[k];
      while (page *pg = next_queued(m, f))
      {
         MULLE_DLMALLOC_STEP();
         size_t before = pg->used;
         collect_page(m, pg);
         any = any || pg->used != before;
         if (!pg->used && !page_queued(pg))
            return_page(m, pg, false);   /* as release_spares gives back */
         else if (!pg->listed && pg->used < pg->count)
            relist_page(m, pg);
      }
   }
   return any;
}
#endif

/* Every front's spares go back to the core, with the pages that emptied as their remote
   frees were collected (the caller holds every lock); true if one did. Without the core's
   events, as release_held: a call that wants memory runs none of their trims, and
   mspace_trim trims as its pad says (an automatic trim in between shrank the footprint
   past the pad while the call said it had not shrunk it). */
#ifdef MULLE_DLMALLOC_HAS_FRONTS
MULLE_DLMALLOC_NOASAN MULLE_DLMALLOC_NEVER_INLINE bool release_spares(mstate *m)
{
   bool any = collect_remote_frees(m);
   for (size_t k = 0; k < FRONTS; ++k)
   {
      front *f = &m->fronts[k];
      page  *h = front_held(m, f);
      f->held  = 0;
      if (h && release_page(m, h, false))
         any = true;
      while (f->spare)
      {
         MULLE_DLMALLOC_STEP();
         page *pg = take_spare(m, f, 0);   /* checked and cut: a page as any other */
         if (!pg)
            break;
         give_back_page(m, pg, false);
         any = true;
      }
   }
   return any;
}
#else
MULLE_DLMALLOC_NOASAN inline bool release_spares(mstate *) { return false; }   /* none */
#endif

/* Whether a call (holding every lock) whose try failed with `reports` made before it
   should try again: the try reported nothing, and the fronts' spares went back to the
   core now. */
MULLE_DLMALLOC_NOASAN inline bool spares_given_back(mstate *m, unsigned reports)
{
   return reports == reports_so_far() && release_spares(m);
}

/* allocate, by a call that holds every lock: where it fails, the fronts' spares go back
   to the core and it tries again. */
MULLE_DLMALLOC_NOASAN inline void *allocate_whole(mstate *m, size_t n)
{
#ifdef MULLE_DLMALLOC_HAS_FRONTS
   unsigned seen = reports_so_far();
   void    *p    = allocate(m, n);
   if (!p && n <= m->capacity && spares_given_back(m, seen))
      p = allocate(m, n);
   return p;
#else
   return allocate(m, n);
#endif
}

/* What a free of p, in page pg, finds wrong; MSPACE_ERROR_NONE for a slot in use, whose
   index *index learns. */
MULLE_DLMALLOC_NOASAN MULLE_DLMALLOC_HOT mspace_error_t slot_problem(const mstate *m, page *pg, const void *p, size_t *index)
{
   size_t i = slot_index(pg, p);
   if (i == NO_SLOT)
      return MSPACE_ERROR_INVALID_POINTER;
   if (slot_was_freed(m, pg, i, p))
      return MSPACE_ERROR_DOUBLE_FREE;
   *index = i;
   return MSPACE_ERROR_NONE;
}

/* Marks slot i (in use) of page pg free, whose bitmap word the caller read as `bits`
   (holding pg's front from that read through this write); the slots left in use. */
MULLE_DLMALLOC_NOASAN MULLE_DLMALLOC_HOT size_t clear_slot_of(mstate *m, page *pg, size_t i, void *p, uint64_t bits)
{
   annotate_free(m, p, pg->size);
   pg->free_bits[i >> 6] = bits | static_cast<uint64_t>(1) << (i & 63);
   return --pg->used;
}

/* Marks slot i (in use) of page pg free; the slots left in use. */
MULLE_DLMALLOC_NOASAN MULLE_DLMALLOC_HOT size_t clear_slot(mstate *m, page *pg, size_t i, void *p)
{
   return clear_slot_of(m, pg, i, p, pg->free_bits[i >> 6]);
}

/* ---- the held page ----
   A page whose last slot is freed goes back to the core, but in an unlocked mspace the
   last one to empty stays in its list, empty, while it keeps no more than its lead from
   merging: its predecessor is in use or the free chunk it was cut past (the lead that a
   page cut off the page grid leaves before it), as it was then, and its successor is in
   use or the top. (Where a block before the lead was freed and merged with it, a held
   page would keep that memory from the top: in a stack of blocks the next ones would
   search the bins for it, and the next blocks of the page's size would go into the
   page, above them, and keep it there.) So a size whose blocks come and go at a page's edge
   (one block taken and freed in a loop, on a fresh heap too) does not make a page and
   give it back on every turn, which costs four times the pair of calls. Its slots are
   free: the statistics count them so, as any page's, and count the page and the free
   chunk before it as the top where the top follows (stats.hpp). It goes back to the core
   where that changes what Lea's order would do:
   - a release in the core that leaves free memory beside it, after it, or before it
     where that is more than its lead (a block freed, a page given back, a realloc's or
     memalign's tail), so that the two merge as Lea's order merges free neighbours (a
     free that only grows the dv goes the longer way while a page is held, to ask);
   - a request for a chunk that the top cannot serve (malloc, calloc, memalign and a
     realloc that moves try again with it given back), a realloc that would grow in
     place into it (or through the lead before it), and mspace_trim;
   - another page emptying (one page is held at a time).
   A locked mspace keeps its fronts' spares and held pages instead (its fronts free
   without the mspace's lock: a front's held page goes back where the spares go, and
   not on the core's events), and a build without an OS none (it has no events, and is
   small).
   m->held is a hint: believed only in an unlocked mspace, and where it names an empty
   page, listed, whose header holds (its check word, at level 1). */

/* The held page, or NULL (the hint names no empty listed page). */
MULLE_DLMALLOC_NOASAN inline page *held_page(const mstate *m)
{
   return HOLDS && !(flags_of(m) & STATE_LOCKED) ? held_at(m, m->held, 0) : NULL;
}

/* Whether empty page pg keeps no more than its lead from merging (see above): its free
   predecessor, whose size is its footer, is the lead the page was cut past, as it was
   (where a block before it was freed since, it grew, and the page goes back: held, it
   would keep that memory from the top, and take the next blocks of its size where the
   top would have put them). (A lead too small to stand alone takes a page more,
   page_chunk: a page cut past one of those, on 64 bits where the top starts 16 bytes
   short of a boundary, is not held; nor is a page with a whole free page before it.) */
MULLE_DLMALLOC_NOASAN inline bool keeps_little_back(const mstate *m, const page *pg)
{
   chunk *c    = chunk_from_mem(const_cast<page *>(pg));
   chunk *next = chunk_at(c, chunk_size(c));
   return (previous_is_in_use(c) || (c->prev_foot < PAGE_BYTES && c->prev_foot >> SLOT_SHIFT == pg->lead)) &&
          (next == m->top || chunk_is_in_use(next));
}

/* The held page goes back to the core, without the core's events (a malloc or realloc
   that needs its memory runs none of their trims and purges); true if one went back
   (false where there was none, or it was found damaged: reported, and it stays). */
MULLE_DLMALLOC_NOASAN MULLE_DLMALLOC_OUT_OF_LINE bool release_held(mstate *m)
{
   page *pg = held_page(m);
   m->held  = 0;   /* first: the release's own merges find none */
   if (!pg)
      return false;
   return release_page(m, pg, false);
}

/* A chunk of size nb, which the top could not serve while a page was held: tried again
   with that page given back (once: the hint is cleared). */
MULLE_DLMALLOC_NOASAN MULLE_DLMALLOC_OUT_OF_LINE void *allocate_after_held(mstate *m, size_t nb)
{
   return HOLDS && release_held(m) ? allocate_chunk_of(m, nb) : NULL;
}

/* An event of the core (events_after) while a page is held: the page goes back where
   free memory now lies after it or a page or more before it, and is forgotten where it
   is no longer empty (or the mspace is locked: its fronts hold their own). */
MULLE_DLMALLOC_NOASAN MULLE_DLMALLOC_OUT_OF_LINE void held_page_event(mstate *m)
{
   page *pg = held_page(m);
   if (!pg)
      m->held = 0;
   else if (!keeps_little_back(m, pg))
      release_held(m);
}

/* Empty page pg of an unlocked mspace becomes the held page, the one held before going
   back first: true; false where it would keep free memory from merging. */
MULLE_DLMALLOC_NOASAN inline bool hold_page(mstate *m, page *pg)
{
   if (held_page(m) == pg)   /* emptied again: held on as the rest decides */
      m->held = 0;
   else
      release_held(m);   /* which may free a neighbour of pg: asked before pg is held */
   if (!pg->listed || !keeps_little_back(m, pg))
      return false;
   m->held = page_offset(m, pg);
   return true;
}

/* Page pg's last slot was freed: it goes back to the core, or (a locked mspace's slot
   freed the whole way, every lock held) is kept as a front's path keeps it, so that a
   build without the fast path behaves the same; an unlocked mspace's may be held. Out
   of line: the commonest free then needs no stack frame. */
MULLE_DLMALLOC_NOASAN MULLE_DLMALLOC_NEVER_INLINE void page_emptied(mstate *m, page *pg)
{
#ifdef MULLE_DLMALLOC_HAS_FRONTS
   if ((flags_of(m) & STATE_LOCKED) && keep_spare(m, front_of(m, pg), pg))
      return;
#endif
   if (HOLDS && !(flags_of(m) & STATE_LOCKED) && hold_page(m, pg))
      return;
   release_page(m, pg);
}

/* Frees slot i (in use) of page pg: a page that was full and left its list joins it
   again, and a page that is empty now goes back to the core (both tail calls: the
   commonest free needs no stack frame). */
MULLE_DLMALLOC_NOASAN MULLE_DLMALLOC_HOT void free_slot(mstate *m, page *pg, size_t i, void *p)
{
   if (clear_slot(m, pg, i, p) == 0)
      return page_emptied(m, pg);
   if (!pg->listed)
      return relist_page(m, pg);
}

/* A free of p in page pg that free_in_page finds at fault, reported. */
MULLE_DLMALLOC_NOASAN MULLE_DLMALLOC_NEVER_INLINE void slot_fault(mstate *m, page *pg, void *p)
{
   size_t i = 0;
   report(m, slot_problem(m, pg, p, &i), p);
}

/* free of p in page pg, checked; the fault is reported. */
MULLE_DLMALLOC_NOASAN MULLE_DLMALLOC_HOT void free_in_page(mstate *m, page *pg, void *p)
{
   size_t i = slot_index(pg, p);   /* a page was found: the checks are cheap */
   if (i == NO_SLOT || slot_is_free(pg, i))
      return slot_fault(m, pg, p);
   return free_slot(m, pg, i, p);
}

/* The verdict on mem as a block of m, slot or chunk: what free would report. A slot of a
   page that went back to the core and into the top, whose frame still holds the page's
   trace, was freed; elsewhere such a slot is reported as an invalid pointer. */
MULLE_DLMALLOC_NOASAN inline mspace_error_t validate_block(const mstate *m, const void *mem)
{
   if (page *pg = page_of(m, mem))
   {
      size_t i;
      return slot_problem(m, pg, mem, &i);
   }
   mspace_error_t e = validate_chunk(m, mem);
   if (TIER && e != MSPACE_ERROR_NONE)
   {
      /* where a slot could start, behind a page's trace, in the top: memory that no block
         holds (elsewhere a block handed out since may cover the frame, and the pointer be
         one into it) */
      const page *pg = frame_of(mem);
      const byte *at = reinterpret_cast<const byte *>(pg);
      if (at >= as_bytes(m->top) && at + sizeof(page) <= top_end(m) && is_aligned(mem, SLOT_GRAIN) &&
          static_cast<const byte *>(mem) >= at + PAGE_HEADER &&
          frame_word(&pg->check) == (PAGE_GONE ^ page_offset(m, pg) ^ m->epoch))
         return MSPACE_ERROR_DOUBLE_FREE;
   }
   return e;
}

/* Validates mem for free/realloc and reports a problem; true when mem may be used. */
MULLE_DLMALLOC_NOASAN MULLE_DLMALLOC_HOT bool block_is_valid(mstate *m, const void *mem)
{
   mspace_error_t e = MULLE_DLMALLOC_CHECKS ? validate_block(m, mem) : MSPACE_ERROR_NONE;
   if (e == MSPACE_ERROR_NONE)
      return true;
   report(m, e, mem);
   return false;
}

/* The bytes the user may touch in slot p of pg (in use). */
MULLE_DLMALLOC_NOASAN inline size_t slot_user_size(const page *pg, const void *p)
{
   return touchable_size(p, pg->size);
}

}} // namespace mulle::detail
