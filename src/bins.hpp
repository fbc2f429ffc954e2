/* ==== small bins and tree bins ============================================================

   Small bins: chunks under MIN_LARGE_SIZE (256) bytes, one bin per exact size; bin i holds
   chunks of size i << SMALLBIN_SHIFT (SMALLBIN_SHIFT = log2 of the alignment). A bin is a
   doubly linked ring through a head in the state (bin_head), used LIFO, so that a chunk
   of a small bin and a chunk of a tree ring are linked, checked and unlinked alike.
   smallmap bit i is set exactly when bin i is non-empty.

   Tree bins: chunks of 256 bytes and more. Bin i covers sizes [2^(k+8), 2^(k+8) + 2^(k+7))
   for even i = 2k and the upper half of that power of two for odd i; bin 31 takes the rest.
   Each bin is a bitwise trie keyed by the size bits below the ones that chose the bin: at
   depth d a node's child(b) holds sizes whose d-th next bit is b. Any node of a subtree may
   stand in for the subtree's root, which makes removal cheap. Equal sizes share one tree
   node and hang off it in a ring. treemap bit i is set exactly when bin i is non-empty.
   ========================================================================================== */

namespace mulle { namespace detail {

static const size_t SIZE_BITS = sizeof(size_t) * 8;

MULLE_DLMALLOC_NOASAN inline binmap_t bin_bit(size_t i) { return static_cast<binmap_t>(1u) << i; }
MULLE_DLMALLOC_NOASAN inline binmap_t bits_above(binmap_t x) { return static_cast<binmap_t>((x << 1) | (0u - (x << 1))); }

/* Bit scans: one instruction where the target has it; elsewhere (Cortex-M0+, RISC-V
   without Zbb) a few shifts, so that no compiler support routine is needed. */
#if (defined(__GNUC__) || defined(__clang__)) && \
    (defined(__x86_64__) || defined(__i386__) || defined(__aarch64__) || defined(__ARM_FEATURE_CLZ) || \
     defined(__riscv_zbb) || defined(__powerpc__))
#  define MULLE_DLMALLOC_BIT_SCAN_BUILTINS 1
#endif

MULLE_DLMALLOC_NOASAN inline size_t floor_log2(size_t x)
{
#ifdef MULLE_DLMALLOC_BIT_SCAN_BUILTINS
   return sizeof(size_t) == sizeof(unsigned long long)
             ? 63 - static_cast<size_t>(__builtin_clzll(static_cast<unsigned long long>(x)))
             : 31 - static_cast<size_t>(__builtin_clz(static_cast<unsigned>(x)));
#else
   size_t k = 0;
   for (size_t step = SIZE_BITS / 2; step; step >>= 1)
      if (x >> step)
      {
         x >>= step;
         k += step;
      }
   return k;
#endif
}

MULLE_DLMALLOC_NOASAN inline size_t lowest_bit_index(binmap_t x)
{
#ifdef MULLE_DLMALLOC_BIT_SCAN_BUILTINS
   return static_cast<size_t>(__builtin_ctz(x));
#else
   return floor_log2(x & (0u - x));
#endif
}

MULLE_DLMALLOC_NOASAN inline bool   is_small(size_t s) { return (s >> SMALLBIN_SHIFT) < NSMALLBINS; }
MULLE_DLMALLOC_NOASAN inline size_t small_index(size_t s) { return s >> SMALLBIN_SHIFT; }
MULLE_DLMALLOC_NOASAN inline size_t small_index_to_size(size_t i) { return i << SMALLBIN_SHIFT; }

/* Large chunk size s as its trie reads it: its tree bin (tree_index) in *i, and s shifted
   so that the first size bit the bin's trie branches on is the top bit. Both come from one
   bit scan (the bin's power of two is the shift's). */
MULLE_DLMALLOC_NOASAN inline size_t tree_key(size_t s, size_t *i)
{
   size_t x = s >> TREEBIN_SHIFT;
   if (x >= 0xC000)   /* the last bin, from its least size on (3 << 22): its trie */
   {                  /* branches on every bit */
      *i = NTREEBINS - 1;
      return s;
   }
   /* x is 0 only below 256 bytes, which no caller passes: bin 0 then (defensive) */
   size_t k = x ? floor_log2(x) : 0;
   *i       = x ? (k << 1) + ((s >> (k + TREEBIN_SHIFT - 1)) & 1) : 0;
   return s << (SIZE_BITS - 1 - (k + TREEBIN_SHIFT - 2));
}

MULLE_DLMALLOC_NOASAN inline size_t tree_index(size_t s)
{
   size_t i;
   (void) tree_key(s, &i);
   return i;
}

/* The least chunk size of tree bin j (2 or 3 times a power of two); past the last bin,
   none (the most a size_t holds). */
MULLE_DLMALLOC_NOASAN constexpr size_t tree_bin_least(size_t j)
{
   return j < NTREEBINS ? (2 + (j & 1)) << ((j >> 1) + TREEBIN_SHIFT - 1) : ~static_cast<size_t>(0);
}

/* Whether no tree bin from large chunk size nb's on holds a chunk (!(treemap >>
   tree_index(nb))), asked of the highest bin that holds one: nb is at least the least size
   of the bin above it, one compare with a table's word instead of nb's own bin. */
MULLE_DLMALLOC_NOASAN inline bool no_tree_bin_from(binmap_t treemap, size_t nb)
{
#define MULLE_DLMALLOC_LEAST_ABOVE(h) \
   tree_bin_least((h) + 1), tree_bin_least((h) + 2), tree_bin_least((h) + 3), tree_bin_least((h) + 4)
   static const size_t least_above[NTREEBINS] = {
      MULLE_DLMALLOC_LEAST_ABOVE(0), MULLE_DLMALLOC_LEAST_ABOVE(4), MULLE_DLMALLOC_LEAST_ABOVE(8),
      MULLE_DLMALLOC_LEAST_ABOVE(12), MULLE_DLMALLOC_LEAST_ABOVE(16), MULLE_DLMALLOC_LEAST_ABOVE(20),
      MULLE_DLMALLOC_LEAST_ABOVE(24), MULLE_DLMALLOC_LEAST_ABOVE(28)};
#undef MULLE_DLMALLOC_LEAST_ABOVE
   static_assert(NTREEBINS == 32, "least_above: one entry per tree bin");
   return !treemap || nb >= least_above[floor_log2(treemap)];
}

MULLE_DLMALLOC_NOASAN inline tree_chunk *leftmost_child(tree_chunk *t) { return t->child(0) ? t->child(0) : t->child(1); }

/* ---- rings: the lists of the small bins and of equal sizes in the tree bins ---- */

/* c joins the ring behind h (a small bin's head, or a tree node). */
MULLE_DLMALLOC_NOASAN inline void ring_insert(chunk *h, chunk *c)
{
   chunk *first = h->fd;
   c->fd     = first;
   c->bk     = h;
   first->bk = c;
   h->fd     = c;
}

/* c leaves its ring; true when the ring is empty after (only its head is left). */
MULLE_DLMALLOC_NOASAN inline bool ring_unlink(chunk *c)
{
   chunk *f = c->fd, *b = c->bk;
   b->fd = f;
   f->bk = b;
   return f == b;
}

/* ---- small bins ---- */

MULLE_DLMALLOC_NOASAN inline chunk *small_bin(const mstate *m, size_t i)
{
   return chunk_before(const_cast<bin_head *>(&m->smallbins[i - FIRST_SMALLBIN]), MEM_OFFSET);
}

MULLE_DLMALLOC_NOASAN inline void empty_small_bins(mstate *m)
{
   for (size_t i = FIRST_SMALLBIN; i < NSMALLBINS; ++i)
      small_bin(m, i)->fd = small_bin(m, i)->bk = small_bin(m, i);
}

MULLE_DLMALLOC_NOASAN inline void insert_small_chunk(mstate *m, chunk *c, size_t s)
{
   ring_insert(small_bin(m, small_index(s)), c);
   m->smallmap |= bin_bit(small_index(s));
}

MULLE_DLMALLOC_NOASAN inline void unlink_small_chunk(mstate *m, chunk *c, size_t s)
{
   if (ring_unlink(c))
      m->smallmap &= ~bin_bit(small_index(s));
}

/* ---- tree bins ---- */

MULLE_DLMALLOC_NOASAN inline void insert_tree_chunk(mstate *m, tree_chunk *x, size_t s)
{
   size_t           i;
   size_t           bits   = tree_key(s, &i);
   rel<tree_chunk> *slot   = &m->treebins[i];   /* where x goes in the trie */
   tree_chunk      *parent = NULL;

   x->child(0) = x->child(1) = NULL;
   m->treemap |= bin_bit(i);
   for (; *slot; bits <<= 1)
   {
      MULLE_DLMALLOC_STEP();
      parent = *slot;
      if (chunk_size(parent) == s)
      {
         /* join the ring of the node of this size, which stays the node */
         ring_insert(parent, x);
         x->index  = RING_MEMBER;
         x->parent = NULL;
         return;
      }
      slot = &parent->child((bits >> (SIZE_BITS - 1)) & 1);
   }
   *slot     = x;
   x->index  = i;
   x->parent = parent;
   x->fd = x->bk = x;
}

/* Puts r where x stands in the trie (r may be NULL when x was a leaf). */
MULLE_DLMALLOC_NOASAN inline void replace_tree_node(mstate *m, tree_chunk *x, tree_chunk *r)
{
   tree_chunk *p = x->parent;
   if (p)
      p->child(p->child(0) == x ? 0 : 1) = r;
   else
   {
      m->treebins[x->index] = r;
      if (!r)
         m->treemap &= ~bin_bit(x->index);
   }
   if (r)
   {
      r->parent = p;
      r->index  = x->index;
   }
}

MULLE_DLMALLOC_NOASAN inline void insert_chunk(mstate *m, chunk *c, size_t s)
{
   if (is_small(s))
      insert_small_chunk(m, c, s);
   else
      insert_tree_chunk(m, as_tree(c), s);
}

/* ---- unlinking with the links verified ----
   Before a free chunk leaves its bin, its links are held against what they link: its
   neighbours in the list or ring point back at it ("safe unlinking"), and a trie node's
   place in the trie is what its links say. A chunk whose links disagree stays where it is
   (the caller reports corruption): an unlink through a lying link could write anywhere.
   The trie is verified on the walk the unlink makes anyway, one walk: the parent names
   the node as a child (at the root, its bin names it), each child names it as parent,
   and so does each node on the way to the leaf that takes its place. Builds without an
   OS leave the trie part out for size (152 bytes on Cortex-M4): there a write into freed
   memory that reaches a trie link is caught by mspace_check and level 2, not by level 1. */
static const bool TRIE_CHECKS = !MULLE_DLMALLOC_NO_OS;

/* Trie node or ring member x leaves the tree bins; false, with nothing written, if a link
   lies. Its ring links were verified; grid is the mspace's (read once for all links). */
MULLE_DLMALLOC_NOASAN MULLE_DLMALLOC_HOT bool unlink_tree_checked(mstate *m, tree_chunk *x, const chunk_grid &grid)
{
   if (x->index == RING_MEMBER)
   {
      if (MULLE_DLMALLOC_CHECKS && x->fd == x)
         return false;   /* a ring member is never alone */
      ring_unlink(x);
      return true;
   }
   if (MULLE_DLMALLOC_CHECKS && x->index >= NTREEBINS)
      return false;   /* it would name a word past the bins */
   if (MULLE_DLMALLOC_CHECKS && TRIE_CHECKS)
   {
      tree_chunk *p = x->parent;
      if (p ? !grid.holds(p) || (p->child(0) != x && p->child(1) != x) : m->treebins[x->index] != x)
         return false;
      for (size_t d = 0; d < 2; ++d)
      {
         tree_chunk *k = x->child(d);
         if (k && (!grid.holds(k) || k->parent != x))
            return false;
      }
   }
   /* what takes x's place: a ring member of the same size, else any leaf below x, which
      shares x's prefix (slot is the link that holds it) */
   tree_chunk      *r    = as_tree(x->fd);
   rel<tree_chunk> *slot = NULL;
   if (r == x)
   {
      slot = x->child(1) ? &x->child(1) : &x->child(0);
      r    = *slot;
      /* a trie is no deeper than the bits of a size: links that go round are no trie */
      for (size_t depth = 0; r; ++depth)
      {
         MULLE_DLMALLOC_STEP();
         rel<tree_chunk> *below = r->child(1) ? &r->child(1) : &r->child(0);
         tree_chunk      *b     = *below;
         if (!b)
            break;
         if (MULLE_DLMALLOC_CHECKS && TRIE_CHECKS && (!grid.holds(b) || b->parent != r || depth >= SIZE_BITS))
            return false;
         slot = below;
         r    = b;
      }
   }
   /* verified: from here on, writes */
   if (!slot)
      ring_unlink(x);
   else if (r)
      *slot = NULL;
   if (r)
   {
      r->child(0) = x->child(0);
      r->child(1) = x->child(1);
      if (r->child(0)) r->child(0)->parent = r;
      if (r->child(1)) r->child(1)->parent = r;
   }
   replace_tree_node(m, x, r);
   return true;
}

/* Free chunk c of size s leaves its bin; false, with nothing written, if its links lie.
   A link names a chunk below the top, or for a small chunk the head of its own bin: never
   another word of the state. */
MULLE_DLMALLOC_NOASAN MULLE_DLMALLOC_HOT bool unlink_chunk_checked(mstate *m, chunk *c, size_t s)
{
   const chunk_grid grid(m);
#if MULLE_DLMALLOC_CHECKS
   chunk *f = c->fd, *b = c->bk;
   chunk *h = is_small(s) ? small_bin(m, small_index(s)) : c;   /* c itself: no head */
   if (!(f == h || grid.holds(f)) || !(b == h || grid.holds(b)) || f->bk != c || b->fd != c)
      return false;
#endif
   if (is_small(s))
   {
      unlink_small_chunk(m, c, s);
      return true;
   }
   return unlink_tree_checked(m, as_tree(c), grid);
}

/* The first chunk c of small bin i (the head's forward link) leaves it; false, with nothing
   written, if its links lie. The head names c already, so unlink_chunk_checked's tests of
   the chunk behind c come down to one: c's link back names the head. Its forward link
   names the head or a chunk below the top, and that links back to c. */
MULLE_DLMALLOC_NOASAN MULLE_DLMALLOC_HOT bool unlink_first_small_checked(mstate *m, chunk *c, size_t i)
{
#if MULLE_DLMALLOC_CHECKS
   chunk *h = small_bin(m, i);
   chunk *f = c->fd;
   if (c->bk != h || (f != h && !chunk_grid(m).holds(f)) || f->bk != c)
      return false;
#endif
   if (ring_unlink(c))
      m->smallmap &= ~bin_bit(i);
   return true;
}

}} // namespace mulle::detail
