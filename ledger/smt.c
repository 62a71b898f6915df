/*
 * The state-root map (ledger/smt.h): a compressed binary Patricia trie over
 * 256-bit keys, kept in memory. Separate from the state code because it
 * knows nothing of tables or LMDB: it maps 32-byte key hashes to 32-byte
 * value hashes and commits to them.
 *
 * Shape. Bit i of a key is (key[i/8] >> (7 - i%8)) & 1. An internal node
 * exists only where the keys below it first differ: it holds that bit index,
 * its left subtree has the keys with the bit 0, its right the keys with the
 * bit 1, and every key below it agrees on all bits before it. Bits strictly
 * increase from the root down, so the depth is at most 256 and the shape is
 * a function of the key set alone: the root cannot depend on update order.
 *
 * Storage. Nodes live in two slab pools (leaves, internal nodes) addressed
 * by 32-bit references, so there is no malloc per node. A node's hash is
 * kept in the slot that points to it (its parent's, or the map's for the
 * root), not in the node itself: rehashing a node then reads only that
 * node, never its clean sibling, which on a large map is the difference
 * between one and two cache misses per level. An internal node is split
 * in two parallel arrays: 12 bytes of branch bit, flags and child
 * references, which every lookup walks, and the 64 bytes of its children's
 * hashes, which only hashing and proofs read; the walked part of a
 * million-key map is then 12 MB and mostly stays in cache. A leaf is just
 * its key (32 bytes); its hash H("sleaf", key || value) is computed when
 * the value is set and stored in the parent; the value hash itself is never
 * needed again (proofs carry it from outside, the undo log restores leaf
 * hashes). A key costs 32 + 12 + 64 = 108 bytes. Freed nodes go on a free
 * list and pools never shrink, which is what lets a rollback run without
 * allocating.
 *
 * Incremental hashing. Each slot to an internal node has a stale flag: the
 * hash in the slot is out of date. set/delete flag every slot on the key's
 * path; smt_root() descends only through stale slots. A slot that is not
 * stale holds the right hash of a subtree in which no slot is stale; a slot
 * to a leaf is never stale.
 *
 * Rollback. Between smt_begin() and smt_commit()/smt_rollback() every change
 * appends (key, previous leaf hash or absent) to an undo log before it is
 * made; rollback replays the log backwards. The shape depends only on the
 * key set, so this restores the exact previous map and root.
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "ledger/ledger.h"
#include "ledger/smt.h"

/* ---- references and pools ---------------------------------------------- */

/* A reference is an index into the leaf pool (top bit set) or the node pool
 * (top bit clear). SMT_NIL is no node at all. */
#define SMT_NIL       UINT32_MAX
#define SMT_LEAF_FLAG 0x80000000u
#define SMT_INDEX_MAX (SMT_LEAF_FLAG - 2u) /* keeps every index below SMT_NIL's */

#define SMT_CHUNK_SHIFT 12u
#define SMT_CHUNK_NODES (1u << SMT_CHUNK_SHIFT)
#define SMT_CHUNK_MASK  (SMT_CHUNK_NODES - 1u)

typedef struct smt_leaf {
	ck_hash key;
} smt_leaf;

typedef struct smt_node {
	uint32_t child[2];  /* by the value of the key bit at `bit` */
	uint8_t bit;
	uint8_t stale;      /* bit s set: hash s of the node is out of date */
} smt_node;
_Static_assert(sizeof(smt_node) == 12, "internal node layout");

/* The hashes of a node's two children, in the side array of the pool. */
typedef ck_hash smt_hashes[2];

/* A pool of fixed-size records in chunks that never move, so a pointer to
 * a record stays valid while other records are allocated. Each record may
 * have a side record of side_bytes in a second array of the same chunk.
 * Free records are chained through their first four bytes. */
typedef struct smt_pool {
	uint8_t **chunks;
	uint32_t nchunks;
	uint32_t chunks_cap;
	uint32_t used;      /* records handed out from fresh chunk space */
	uint32_t free_head; /* SMT_NIL when empty */
	uint32_t rec_bytes;
	uint32_t side_bytes;
} smt_pool;

typedef struct smt_undo {
	ck_hash key;
	ck_hash hash; /* previous leaf hash when present */
	uint8_t present;
} smt_undo;

struct smt {
	smt_pool leaves;
	smt_pool nodes;
	uint32_t root;
	ck_hash root_hash;
	uint8_t root_stale; /* bit 0: root_hash is out of date */
	size_t count;
	bool recording;
	smt_undo *undo;
	size_t undo_len;
	size_t undo_cap;
};

static void *pool_at(const smt_pool *p, uint32_t i)
{
	assert(i < p->nchunks * SMT_CHUNK_NODES);
	return p->chunks[i >> SMT_CHUNK_SHIFT] + (size_t)(i & SMT_CHUNK_MASK) * p->rec_bytes;
}

static void *pool_side(const smt_pool *p, uint32_t i)
{
	assert(i < p->nchunks * SMT_CHUNK_NODES);
	assert(p->side_bytes > 0);
	return p->chunks[i >> SMT_CHUNK_SHIFT] + (size_t)SMT_CHUNK_NODES * p->rec_bytes +
	       (size_t)(i & SMT_CHUNK_MASK) * p->side_bytes;
}

static void pool_init(smt_pool *p, uint32_t rec_bytes, uint32_t side_bytes)
{
	memset(p, 0, sizeof *p);
	p->free_head = SMT_NIL;
	p->rec_bytes = rec_bytes;
	p->side_bytes = side_bytes;
}

static void pool_free_all(smt_pool *p)
{
	for (uint32_t c = 0; c < p->nchunks; c++)
		free(p->chunks[c]);
	free(p->chunks);
	pool_init(p, p->rec_bytes, p->side_bytes);
}

/* Index of a fresh record, or SMT_NIL when memory or index space is out. */
static uint32_t pool_alloc(smt_pool *p)
{
	if (p->free_head != SMT_NIL) {
		uint32_t i = p->free_head;
		memcpy(&p->free_head, pool_at(p, i), sizeof p->free_head);
		return i;
	}
	if (p->used == p->nchunks * SMT_CHUNK_NODES) {
		if (p->used > SMT_INDEX_MAX - SMT_CHUNK_NODES)
			return SMT_NIL;
		if (p->nchunks == p->chunks_cap) {
			uint32_t cap = p->chunks_cap ? 2 * p->chunks_cap : 16;
			uint8_t **c = realloc(p->chunks, cap * sizeof *c);
			if (c == NULL)
				return SMT_NIL;
			p->chunks = c;
			p->chunks_cap = cap;
		}
		uint8_t *chunk = malloc((size_t)SMT_CHUNK_NODES * (p->rec_bytes + p->side_bytes));
		if (chunk == NULL)
			return SMT_NIL;
		p->chunks[p->nchunks++] = chunk;
	}
	return p->used++;
}

static void pool_release(smt_pool *p, uint32_t i)
{
	memcpy(pool_at(p, i), &p->free_head, sizeof p->free_head);
	p->free_head = i;
}

static bool is_leaf(uint32_t ref)
{
	assert(ref != SMT_NIL);
	return (ref & SMT_LEAF_FLAG) != 0;
}

static smt_leaf *leaf_of(const smt *t, uint32_t ref)
{
	assert(is_leaf(ref));
	return pool_at(&t->leaves, ref & ~SMT_LEAF_FLAG);
}

static smt_node *node_of(const smt *t, uint32_t ref)
{
	assert(!is_leaf(ref));
	return pool_at(&t->nodes, ref);
}

static smt_hashes *hashes_of(const smt *t, uint32_t ref)
{
	assert(!is_leaf(ref));
	return pool_side(&t->nodes, ref);
}

/* ---- key bits ---------------------------------------------------------- */

static unsigned key_bit(const uint8_t *key, unsigned i)
{
	assert(i < 256);
	return (key[i >> 3] >> (7u - (i & 7u))) & 1u;
}

/* Index of the first bit where a and b differ, or 256 if they are equal. */
static unsigned first_diff(const uint8_t *a, const uint8_t *b)
{
	for (unsigned i = 0; i < CK_HASH_BYTES; i++) {
		unsigned x = (unsigned)(a[i] ^ b[i]);
		if (x != 0)
			return 8 * i + (unsigned)__builtin_clz(x) - (unsigned)(8 * sizeof(unsigned) - 8);
	}
	return 256;
}

/* ---- hashing ----------------------------------------------------------- */

static void hash_leaf(ck_hash out, const ck_hash key, const ck_hash value)
{
	uint8_t buf[2 * CK_HASH_BYTES];
	memcpy(buf, key, CK_HASH_BYTES);
	memcpy(buf + CK_HASH_BYTES, value, CK_HASH_BYTES);
	ck_hash_tagged(out, "sleaf", buf, sizeof buf);
}

static void hash_node(ck_hash out, uint8_t bit, const ck_hash left, const ck_hash right)
{
	uint8_t buf[1 + 2 * CK_HASH_BYTES];
	buf[0] = bit;
	memcpy(buf + 1, left, CK_HASH_BYTES);
	memcpy(buf + 1 + CK_HASH_BYTES, right, CK_HASH_BYTES);
	ck_hash_tagged(out, "snode", buf, sizeof buf);
}

/* Writes into out the hash of internal node ref, first bringing its stale
 * child slots up to date. Recursion depth is bounded by the 256 key bits,
 * since bits strictly increase downwards. */
static void rehash(smt *t, uint32_t ref, uint8_t *out)
{
	smt_node *n = node_of(t, ref);
	smt_hashes *h = hashes_of(t, ref);
	/* On a large map each node here is a cache miss, and so are its
	 * hashes and the second stale subtree: ask for them now, so that the
	 * descent into the first child overlaps them. */
	__builtin_prefetch(h, 1);
	if ((n->stale & 3u) == 3u) {
		__builtin_prefetch(node_of(t, n->child[1]));
		__builtin_prefetch(hashes_of(t, n->child[1]), 1);
	}
	for (unsigned s = 0; s < 2; s++)
		if (n->stale & (1u << s))
			rehash(t, n->child[s], (*h)[s]);
	n->stale = 0;
	hash_node(out, n->bit, (*h)[0], (*h)[1]);
}

static void rehash_root(smt *t)
{
	if (t->root_stale) {
		rehash(t, t->root, t->root_hash);
		t->root_stale = 0;
	}
}

/* ---- lifecycle --------------------------------------------------------- */

int smt_new(smt **out)
{
	assert(out != NULL);
	smt *t = calloc(1, sizeof *t);
	if (t == NULL)
		return LEDGER_E_NOMEM;
	pool_init(&t->leaves, sizeof(smt_leaf), 0);
	pool_init(&t->nodes, sizeof(smt_node), sizeof(smt_hashes));
	t->root = SMT_NIL;
	*out = t;
	return 0;
}

void smt_free(smt *t)
{
	if (t == NULL)
		return;
	pool_free_all(&t->leaves);
	pool_free_all(&t->nodes);
	free(t->undo);
	free(t);
}

size_t smt_count(const smt *t)
{
	assert(t != NULL);
	return t->count;
}

/* ---- updates ----------------------------------------------------------- */

/* A slot: a reference, the hash of what it refers to, and where its stale
 * flag lives (the map's root flag or a bit of the parent's flags). */
typedef struct smt_slot {
	uint32_t *ref;
	uint8_t *hash;
	uint8_t *stale;
	uint8_t mask;
} smt_slot;

/* The slots from the root to the leaf that key leads to. */
typedef struct smt_path {
	smt_slot slot[257];
	unsigned depth;
} smt_path;

static void walk(smt *t, const ck_hash key, smt_path *p)
{
	p->slot[0] = (smt_slot){&t->root, t->root_hash, &t->root_stale, 1};
	p->depth = 1;
	uint32_t ref = t->root;
	while (!is_leaf(ref)) {
		smt_node *n = node_of(t, ref);
		unsigned s = key_bit(key, n->bit);
		assert(p->depth < 257);
		p->slot[p->depth++] = (smt_slot){&n->child[s], (*hashes_of(t, ref))[s], &n->stale,
						 (uint8_t)(1u << s)};
		ref = n->child[s];
	}
}

/* Flags slots [0, upto) stale: they lead to the subtree that changed. */
static void mark_stale(const smt_path *p, unsigned upto)
{
	for (unsigned i = 0; i < upto; i++)
		*p->slot[i].stale |= p->slot[i].mask;
}

/* Sets key to leaf hash lh. prev (may be NULL) receives the previous leaf
 * hash and *had whether the key was present. LEDGER_E_NOMEM leaves the map
 * unchanged. */
static int put(smt *t, const ck_hash key, const ck_hash lh, uint8_t *prev, bool *had)
{
	*had = false;
	if (t->root == SMT_NIL) {
		uint32_t li = pool_alloc(&t->leaves);
		if (li == SMT_NIL)
			return LEDGER_E_NOMEM;
		memcpy(leaf_of(t, li | SMT_LEAF_FLAG)->key, key, CK_HASH_BYTES);
		t->root = li | SMT_LEAF_FLAG;
		memcpy(t->root_hash, lh, CK_HASH_BYTES);
		t->root_stale = 0;
		t->count = 1;
		return 0;
	}

	smt_path p;
	walk(t, key, &p);
	const smt_slot *ls = &p.slot[p.depth - 1];
	unsigned d = first_diff(key, leaf_of(t, *ls->ref)->key);
	if (d == 256) {
		*had = true;
		if (prev != NULL)
			memcpy(prev, ls->hash, CK_HASH_BYTES);
		if (memcmp(ls->hash, lh, CK_HASH_BYTES) == 0)
			return 0;
		memcpy(ls->hash, lh, CK_HASH_BYTES);
		mark_stale(&p, p.depth - 1);
		return 0;
	}

	uint32_t li = pool_alloc(&t->leaves);
	if (li == SMT_NIL)
		return LEDGER_E_NOMEM;
	uint32_t ni = pool_alloc(&t->nodes);
	if (ni == SMT_NIL) {
		pool_release(&t->leaves, li);
		return LEDGER_E_NOMEM;
	}

	/* The found leaf agrees with key on every bit tested along the path,
	 * so d is none of them; the new node goes above the first node on the
	 * path whose bit exceeds d, keeping bits increasing downwards. */
	unsigned at = 0;
	while (at + 1 < p.depth && node_of(t, *p.slot[at].ref)->bit < d)
		at++;
	const smt_slot *s = &p.slot[at];
	assert(is_leaf(*s->ref) || node_of(t, *s->ref)->bit > d);

	memcpy(leaf_of(t, li | SMT_LEAF_FLAG)->key, key, CK_HASH_BYTES);
	smt_node *n = node_of(t, ni);
	smt_hashes *h = hashes_of(t, ni);
	unsigned side = key_bit(key, d);
	n->bit = (uint8_t)d;
	n->child[side] = li | SMT_LEAF_FLAG;
	memcpy((*h)[side], lh, CK_HASH_BYTES);
	/* The displaced subtree keeps its hash and its staleness. */
	n->child[side ^ 1u] = *s->ref;
	memcpy((*h)[side ^ 1u], s->hash, CK_HASH_BYTES);
	n->stale = (*s->stale & s->mask) ? (uint8_t)(1u << (side ^ 1u)) : 0;
	*s->ref = ni;
	mark_stale(&p, at + 1);
	t->count++;
	return 0;
}

/* Removes key; *had says whether it was there, prev (may be NULL) gets its
 * leaf hash. Never allocates. */
static void del(smt *t, const ck_hash key, uint8_t *prev, bool *had)
{
	*had = false;
	if (t->root == SMT_NIL)
		return;
	smt_path p;
	walk(t, key, &p);
	const smt_slot *ls = &p.slot[p.depth - 1];
	uint32_t lref = *ls->ref;
	if (memcmp(leaf_of(t, lref)->key, key, CK_HASH_BYTES) != 0)
		return;
	*had = true;
	if (prev != NULL)
		memcpy(prev, ls->hash, CK_HASH_BYTES);
	pool_release(&t->leaves, lref & ~SMT_LEAF_FLAG);
	t->count--;
	if (p.depth == 1) {
		t->root = SMT_NIL;
		t->root_stale = 0;
		assert(t->count == 0);
		return;
	}
	/* The parent loses a child, so it no longer branches: the other child
	 * takes its place with its hash and staleness. */
	const smt_slot *ps = &p.slot[p.depth - 2];
	uint32_t pref = *ps->ref;
	smt_node *parent = node_of(t, pref);
	unsigned other = parent->child[0] == lref ? 1u : 0u;
	assert(parent->child[other ^ 1u] == lref);
	*ps->ref = parent->child[other];
	memcpy(ps->hash, (*hashes_of(t, pref))[other], CK_HASH_BYTES);
	if (parent->stale & (1u << other))
		*ps->stale |= ps->mask;
	else
		*ps->stale &= (uint8_t)~ps->mask;
	pool_release(&t->nodes, pref);
	mark_stale(&p, p.depth - 2);
}

/* Reserves room for one more undo record so that the change it records
 * cannot fail after being made. */
static int undo_reserve(smt *t)
{
	if (t->undo_len < t->undo_cap)
		return 0;
	size_t cap = t->undo_cap ? 2 * t->undo_cap : 1024;
	smt_undo *u = realloc(t->undo, cap * sizeof *u);
	if (u == NULL)
		return LEDGER_E_NOMEM;
	t->undo = u;
	t->undo_cap = cap;
	return 0;
}

static void undo_push(smt *t, const ck_hash key, const uint8_t *prev, bool had)
{
	assert(t->undo_len < t->undo_cap);
	smt_undo *u = &t->undo[t->undo_len++];
	memcpy(u->key, key, CK_HASH_BYTES);
	if (had)
		memcpy(u->hash, prev, CK_HASH_BYTES);
	else
		memset(u->hash, 0, CK_HASH_BYTES);
	u->present = had ? 1 : 0;
}

int smt_set(smt *t, const ck_hash key, const ck_hash value)
{
	assert(t != NULL);
	ck_hash lh, prev;
	bool had;
	hash_leaf(lh, key, value);
	if (t->recording) {
		int rc = undo_reserve(t);
		if (rc != 0)
			return rc;
	}
	int rc = put(t, key, lh, prev, &had);
	if (rc != 0)
		return rc;
	/* Rewriting the same value changed nothing, so there is nothing to
	 * undo. */
	if (t->recording && !(had && memcmp(prev, lh, CK_HASH_BYTES) == 0))
		undo_push(t, key, prev, had);
	return 0;
}

int smt_delete(smt *t, const ck_hash key)
{
	assert(t != NULL);
	ck_hash prev;
	bool had;
	if (t->recording) {
		int rc = undo_reserve(t);
		if (rc != 0)
			return rc;
	}
	del(t, key, prev, &had);
	if (t->recording && had)
		undo_push(t, key, prev, true);
	return 0;
}

void smt_root(smt *t, ck_hash out)
{
	assert(t != NULL);
	if (t->root == SMT_NIL) {
		memset(out, 0, CK_HASH_BYTES);
		return;
	}
	rehash_root(t);
	memcpy(out, t->root_hash, CK_HASH_BYTES);
}

void smt_warm(const smt *t, const uint8_t *const keys[], unsigned n)
{
	uint32_t ref[SMT_WARM_MAX];
	assert(n <= SMT_WARM_MAX);
	if (t->root == SMT_NIL)
		return;
	for (unsigned i = 0; i < n; i++)
		ref[i] = t->root;
	/* One level of every path per round: the loads of one round do not
	 * depend on each other, so their cache misses overlap. */
	for (bool more = true; more;) {
		more = false;
		for (unsigned i = 0; i < n; i++) {
			if (ref[i] == SMT_NIL)
				continue;
			if (is_leaf(ref[i])) {
				__builtin_prefetch(leaf_of(t, ref[i]));
				ref[i] = SMT_NIL;
				continue;
			}
			const smt_node *nd = node_of(t, ref[i]);
			__builtin_prefetch(hashes_of(t, ref[i]), 1);
			ref[i] = nd->child[key_bit(keys[i], nd->bit)];
			more = true;
		}
	}
}

/* ---- snapshot and rollback -------------------------------------------- */

int smt_begin(smt *t)
{
	assert(t != NULL);
	assert(!t->recording);
	assert(t->undo_len == 0);
	int rc = undo_reserve(t);
	if (rc != 0)
		return rc;
	t->recording = true;
	return 0;
}

void smt_rollback(smt *t)
{
	assert(t != NULL);
	assert(t->recording);
	t->recording = false;
	/* Undoing change i restores the pool counts from after change i-1, so
	 * a re-insert always finds on the free lists the nodes its delete
	 * released: rollback never allocates and cannot fail. */
	uint32_t leaves_chunks = t->leaves.nchunks, nodes_chunks = t->nodes.nchunks;
	while (t->undo_len > 0) {
		const smt_undo *u = &t->undo[--t->undo_len];
		bool had;
		if (u->present) {
			int rc = put(t, u->key, u->hash, NULL, &had);
			assert(rc == 0);
			(void)rc;
		} else {
			del(t, u->key, NULL, &had);
			assert(had);
		}
	}
	assert(t->leaves.nchunks == leaves_chunks);
	assert(t->nodes.nchunks == nodes_chunks);
	(void)leaves_chunks;
	(void)nodes_chunks;
}

void smt_commit(smt *t)
{
	assert(t != NULL);
	assert(t->recording);
	t->recording = false;
	t->undo_len = 0;
}

/* ---- proofs ------------------------------------------------------------ */

int smt_prove(smt *t, const ck_hash key, uint32_t *nsiblings, uint8_t bits[256],
	      ck_hash siblings[256])
{
	assert(t != NULL);
	if (t->root == SMT_NIL)
		return LEDGER_E_NOTFOUND;
	rehash_root(t);
	smt_path p;
	walk(t, key, &p);
	if (memcmp(leaf_of(t, *p.slot[p.depth - 1].ref)->key, key, CK_HASH_BYTES) != 0)
		return LEDGER_E_NOTFOUND;
	/* slot[i] for i < depth-1 refers to the i-th internal node from the
	 * root; the proof lists them from the leaf up. */
	uint32_t n = p.depth - 1;
	assert(n <= 256);
	for (uint32_t i = 0; i < n; i++) {
		uint32_t ref = *p.slot[n - 1 - i].ref;
		const smt_node *node = node_of(t, ref);
		unsigned side = key_bit(key, node->bit);
		assert(node->stale == 0);
		bits[i] = node->bit;
		memcpy(siblings[i], (*hashes_of(t, ref))[side ^ 1u], CK_HASH_BYTES);
	}
	*nsiblings = n;
	return 0;
}

int smt_verify(const ck_hash root, const ck_hash key, const ck_hash value, uint32_t nsiblings,
	       const uint8_t bits[256], const ck_hash siblings[256])
{
	if (nsiblings > 256)
		return LEDGER_E_PROOF;
	ck_hash h;
	hash_leaf(h, key, value);
	for (uint32_t i = 0; i < nsiblings; i++) {
		/* One proof per (key, root): bits must strictly decrease from
		 * the leaf up, as they do in the trie. */
		if (i > 0 && bits[i] >= bits[i - 1])
			return LEDGER_E_PROOF;
		if (key_bit(key, bits[i]) == 0)
			hash_node(h, bits[i], h, siblings[i]);
		else
			hash_node(h, bits[i], siblings[i], h);
	}
	/* Roots are public, so a plain comparison leaks nothing. */
	return memcmp(h, root, CK_HASH_BYTES) == 0 ? 0 : LEDGER_E_PROOF;
}

/* ---- derivations ------------------------------------------------------- */

void smt_key(ck_hash out, uint8_t table, const void *key, size_t len)
{
	ck_hasher h;
	ck_hasher_init(&h, "skey");
	ck_hasher_update(&h, &table, 1);
	ck_hasher_update(&h, key, len);
	ck_hasher_final(&h, out);
}

void smt_value(ck_hash out, const void *value, size_t len)
{
	ck_hash_tagged(out, "sval", value, len);
}
