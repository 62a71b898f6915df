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
 * by 32-bit references, so a key costs one 64-byte leaf and one 44-byte
 * internal node and there is no malloc per node. A leaf stores its key and
 * its leaf hash H("sleaf", key || value), computed when the value is set;
 * the value hash itself is not needed again (proofs carry it from outside
 * and the undo log restores leaf hashes). Freed nodes go on a free list and
 * pools never shrink, which is what lets a rollback run without allocating.
 *
 * Incremental hashing. set/delete mark every internal node on the key's
 * path dirty; smt_root() descends only into dirty nodes. A clean node
 * therefore has a clean subtree with a valid hash.
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
	ck_hash hash; /* H("sleaf", key || value) */
} smt_leaf;

typedef struct smt_node {
	ck_hash hash;       /* valid when dirty == 0 */
	uint32_t child[2];  /* by the value of the key bit at `bit` */
	uint8_t bit;
	uint8_t dirty;
} smt_node;

/* A pool of fixed-size records in chunks that never move, so a pointer to
 * a record stays valid while other records are allocated. Free records are
 * chained through their first four bytes. */
typedef struct smt_pool {
	uint8_t **chunks;
	uint32_t nchunks;
	uint32_t chunks_cap;
	uint32_t used;      /* records handed out from fresh chunk space */
	uint32_t free_head; /* SMT_NIL when empty */
	uint32_t rec_bytes;
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

static void pool_init(smt_pool *p, uint32_t rec_bytes)
{
	memset(p, 0, sizeof *p);
	p->free_head = SMT_NIL;
	p->rec_bytes = rec_bytes;
}

static void pool_free_all(smt_pool *p)
{
	for (uint32_t c = 0; c < p->nchunks; c++)
		free(p->chunks[c]);
	free(p->chunks);
	pool_init(p, p->rec_bytes);
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
		uint8_t *chunk = malloc((size_t)SMT_CHUNK_NODES * p->rec_bytes);
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

static const uint8_t *ref_hash(const smt *t, uint32_t ref)
{
	if (is_leaf(ref))
		return leaf_of(t, ref)->hash;
	const smt_node *n = node_of(t, ref);
	assert(n->dirty == 0);
	return n->hash;
}

/* Brings the hash of ref up to date. Recursion depth is bounded by the 256
 * key bits, since bits strictly increase downwards. */
static void rehash(smt *t, uint32_t ref)
{
	if (is_leaf(ref))
		return;
	smt_node *n = node_of(t, ref);
	if (!n->dirty)
		return;
	rehash(t, n->child[0]);
	rehash(t, n->child[1]);
	hash_node(n->hash, n->bit, ref_hash(t, n->child[0]), ref_hash(t, n->child[1]));
	n->dirty = 0;
}

/* ---- lifecycle --------------------------------------------------------- */

int smt_new(smt **out)
{
	assert(out != NULL);
	smt *t = calloc(1, sizeof *t);
	if (t == NULL)
		return LEDGER_E_NOMEM;
	pool_init(&t->leaves, sizeof(smt_leaf));
	pool_init(&t->nodes, sizeof(smt_node));
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

/* Slots (the root or a child field) from the root to the leaf that key
 * leads to; *depth of them. Marks nothing. */
typedef struct smt_path {
	uint32_t *slot[257];
	unsigned depth;
} smt_path;

static void walk(smt *t, const ck_hash key, smt_path *p)
{
	p->depth = 0;
	p->slot[p->depth++] = &t->root;
	uint32_t ref = t->root;
	while (!is_leaf(ref)) {
		smt_node *n = node_of(t, ref);
		uint32_t *s = &n->child[key_bit(key, n->bit)];
		assert(p->depth < 257);
		p->slot[p->depth++] = s;
		ref = *s;
	}
}

/* Marks the internal nodes held in slots [0, upto) dirty: those are the
 * ancestors whose hashes cover the change. */
static void mark_dirty(smt *t, const smt_path *p, unsigned upto)
{
	for (unsigned i = 0; i < upto; i++)
		node_of(t, *p->slot[i])->dirty = 1;
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
		smt_leaf *l = pool_at(&t->leaves, li);
		memcpy(l->key, key, CK_HASH_BYTES);
		memcpy(l->hash, lh, CK_HASH_BYTES);
		t->root = li | SMT_LEAF_FLAG;
		t->count = 1;
		return 0;
	}

	smt_path p;
	walk(t, key, &p);
	smt_leaf *found = leaf_of(t, *p.slot[p.depth - 1]);
	unsigned d = first_diff(key, found->key);
	if (d == 256) {
		*had = true;
		if (prev != NULL)
			memcpy(prev, found->hash, CK_HASH_BYTES);
		if (memcmp(found->hash, lh, CK_HASH_BYTES) == 0)
			return 0;
		memcpy(found->hash, lh, CK_HASH_BYTES);
		mark_dirty(t, &p, p.depth - 1);
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
	while (at + 1 < p.depth && node_of(t, *p.slot[at])->bit < d)
		at++;
	uint32_t *slot = p.slot[at];
	assert(is_leaf(*slot) || node_of(t, *slot)->bit > d);

	smt_leaf *l = pool_at(&t->leaves, li);
	memcpy(l->key, key, CK_HASH_BYTES);
	memcpy(l->hash, lh, CK_HASH_BYTES);
	smt_node *n = pool_at(&t->nodes, ni);
	unsigned side = key_bit(key, d);
	n->bit = (uint8_t)d;
	n->dirty = 1;
	n->child[side] = li | SMT_LEAF_FLAG;
	n->child[side ^ 1u] = *slot;
	*slot = ni;
	mark_dirty(t, &p, at);
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
	uint32_t lref = *p.slot[p.depth - 1];
	smt_leaf *l = leaf_of(t, lref);
	if (memcmp(l->key, key, CK_HASH_BYTES) != 0)
		return;
	*had = true;
	if (prev != NULL)
		memcpy(prev, l->hash, CK_HASH_BYTES);
	pool_release(&t->leaves, lref & ~SMT_LEAF_FLAG);
	t->count--;
	if (p.depth == 1) {
		t->root = SMT_NIL;
		assert(t->count == 0);
		return;
	}
	/* The parent loses a child, so it no longer branches: its other child
	 * takes its place. */
	uint32_t *pslot = p.slot[p.depth - 2];
	uint32_t pref = *pslot;
	smt_node *parent = node_of(t, pref);
	uint32_t sibling = parent->child[0] == lref ? parent->child[1] : parent->child[0];
	assert(parent->child[0] == lref || parent->child[1] == lref);
	*pslot = sibling;
	pool_release(&t->nodes, pref);
	mark_dirty(t, &p, p.depth - 2);
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
	rehash(t, t->root);
	memcpy(out, ref_hash(t, t->root), CK_HASH_BYTES);
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
	rehash(t, t->root);
	smt_path p;
	walk(t, key, &p);
	if (memcmp(leaf_of(t, *p.slot[p.depth - 1])->key, key, CK_HASH_BYTES) != 0)
		return LEDGER_E_NOTFOUND;
	/* slot[i] for i < depth-1 holds the i-th internal node from the root;
	 * the proof lists them from the leaf up. */
	uint32_t n = p.depth - 1;
	assert(n <= 256);
	for (uint32_t i = 0; i < n; i++) {
		const smt_node *node = node_of(t, *p.slot[n - 1 - i]);
		unsigned side = key_bit(key, node->bit);
		bits[i] = node->bit;
		memcpy(siblings[i], ref_hash(t, node->child[side ^ 1u]), CK_HASH_BYTES);
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
