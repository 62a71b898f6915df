/*
 * The state-root map (ledger/smt.h): a compressed binary Patricia trie over
 * 256-bit keys whose leaves live in an LMDB database and whose top lives in
 * memory. Separate from the state code because it knows nothing of tables:
 * it maps 32-byte key hashes to 32-byte value hashes and commits to them.
 *
 * Shape. Bit i of a key is (key[i/8] >> (7 - i%8)) & 1. An internal node
 * exists only where the keys below it first differ: it holds that bit index,
 * its left subtree has the keys with the bit 0, its right the keys with the
 * bit 1, and every key below it agrees on all bits before it. Bits strictly
 * increase from the root down, so the shape is a function of the key set
 * alone: the root cannot depend on update order.
 *
 * The top. For a prefix p of j <= SMT_TOP_BITS bits, let T(p) be the hash of
 * the compressed trie of the keys starting with p (32 zero bytes if none).
 * Then T(p) = T(p0) if p1 has no key, T(p1) if p0 has none, and
 * node(j, T(p0), T(p1)) if both have keys: the keys under p then first
 * differ at bit j, and a prefix with keys on one side only has no node of
 * its own because compression skips the bit. The map keeps T for every
 * prefix in one array indexed like a binary heap (entry 1 is the root,
 * entry i has children 2i and 2i+1, entry 2^B + b is bucket b), so memory
 * is fixed however many keys there are. A real hash is never 32 zero bytes
 * (that would be a preimage of zero), so zero means empty.
 *
 * A bucket. T of a full SMT_TOP_BITS-bit prefix comes from its leaves:
 * LMDB keeps them sorted, which is the trie's left-to-right order, so one
 * cursor range feeds them to a fold (smt_fold) that builds the compressed
 * trie's hash on a stack of at most 257 subtrees without storing the
 * bucket. A batch writes its leaf changes bucket by bucket, rehashes each
 * bucket it really changed, then the top entries above those buckets level
 * by level, each once.
 *
 * Rollback. While recording, every top entry a batch overwrites is logged
 * with its old hash; rollback writes them back in reverse. The leaves need
 * no log: they were written in the block's transaction, which the caller
 * aborts.
 */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ledger/ledger.h"
#include "ledger/smt.h"

#define TOP_B  SMT_TOP_BITS
#define TOP_N  (1u << TOP_B) /* buckets; the top has 2 * TOP_N entries */
_Static_assert(SMT_TOP_BITS >= 1 && SMT_TOP_BITS <= 24, "a bucket is a 3-byte prefix");

typedef struct smt_undo {
	uint32_t idx;
	ck_hash h;
} smt_undo;

/* A bucket a batch changed and its new hash. */
typedef struct smt_dirty {
	uint32_t idx;
	ck_hash h;
} smt_dirty;

/* A leaf read back for a proof. */
typedef struct smt_kl {
	ck_hash key;
	ck_hash leaf;
} smt_kl;

struct smt {
	MDB_dbi dbi;
	ck_hash *top;       /* 2 * TOP_N entries, [0] unused */
	size_t count;
	bool recording;
	size_t count_before;
	smt_undo *undo;
	size_t undo_len, undo_cap;
	smt_dirty *dirty;   /* scratch of smt_update */
	size_t dirty_cap;
	smt_kl *kl;         /* scratch of smt_prove */
	size_t kl_cap;
};

static const ck_hash zero_hash;

static bool is_zero(const uint8_t *h)
{
	return memcmp(h, zero_hash, CK_HASH_BYTES) == 0;
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

static uint32_t bucket_of(const uint8_t *key)
{
	uint32_t p = (uint32_t)key[0] << 16 | (uint32_t)key[1] << 8 | key[2];
	return p >> (24u - TOP_B);
}

/* ---- hashing ----------------------------------------------------------- */

void smt_leaf(ck_hash out, const ck_hash key, const ck_hash value)
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

/* T of a prefix of `depth` bits from T of its two extensions. */
static void combine(ck_hash out, unsigned depth, const ck_hash l, const ck_hash r)
{
	assert(depth < TOP_B);
	if (is_zero(l))
		memcpy(out, r, CK_HASH_BYTES);
	else if (is_zero(r))
		memcpy(out, l, CK_HASH_BYTES);
	else
		hash_node(out, (uint8_t)depth, l, r);
}

/* ---- the fold ---------------------------------------------------------- */

void smt_fold_init(smt_fold *f)
{
	f->n = 0;
}

/* The subtrees on the stack are the compressed tries of consecutive runs of
 * the keys added so far; bit[i] is where the last key of run i and the
 * first of run i+1 first differ, and these bits strictly increase along the
 * stack (so it never holds more than 257 runs). A new key that first
 * differs from the last one at d belongs beside everything to the right of
 * the last separator above d: those runs are merged first. */
void smt_fold_add(smt_fold *f, const ck_hash key, const ck_hash leaf)
{
	if (f->n > 0) {
		unsigned d = first_diff(f->last, key);
		assert(d < 256);               /* keys are distinct */
		assert(key_bit(key, d) == 1);  /* and increasing */
		while (f->n >= 2 && f->bit[f->n - 2] > d) {
			hash_node(f->h[f->n - 2], f->bit[f->n - 2], f->h[f->n - 2], f->h[f->n - 1]);
			f->n--;
		}
		assert(f->n == 1 || f->bit[f->n - 2] < d);
		f->bit[f->n - 1] = (uint8_t)d;
	}
	assert(f->n < 257);
	memcpy(f->h[f->n++], leaf, CK_HASH_BYTES);
	memcpy(f->last, key, CK_HASH_BYTES);
}

void smt_fold_end(smt_fold *f, ck_hash root)
{
	while (f->n >= 2) {
		hash_node(f->h[f->n - 2], f->bit[f->n - 2], f->h[f->n - 2], f->h[f->n - 1]);
		f->n--;
	}
	if (f->n == 0)
		memset(root, 0, CK_HASH_BYTES);
	else
		memcpy(root, f->h[0], CK_HASH_BYTES);
	f->n = 0;
}

/* ---- lifecycle --------------------------------------------------------- */

int smt_new(smt **out, MDB_dbi dbi)
{
	assert(out != NULL);
	smt *t = calloc(1, sizeof *t);
	if (t == NULL)
		return LEDGER_E_NOMEM;
	/* calloc: an empty map is all zero, and pages of the top that no key
	 * reaches are never touched. */
	t->top = calloc(2 * (size_t)TOP_N, sizeof *t->top);
	if (t->top == NULL) {
		free(t);
		return LEDGER_E_NOMEM;
	}
	t->dbi = dbi;
	*out = t;
	return 0;
}

void smt_free(smt *t)
{
	if (t == NULL)
		return;
	free(t->top);
	free(t->undo);
	free(t->dirty);
	free(t->kl);
	free(t);
}

size_t smt_count(const smt *t)
{
	assert(t != NULL);
	return t->count;
}

void smt_root(const smt *t, ck_hash out)
{
	assert(t != NULL);
	memcpy(out, t->top[1], CK_HASH_BYTES);
}

static int corrupt_leaf(void)
{
	fprintf(stderr, "ledger: corrupt state-root leaf (key or hash not 32 bytes)\n");
	return LEDGER_E_DB;
}

static int dberr(int mdbrc, const char *ctx)
{
	fprintf(stderr, "ledger: state-root leaves: %s: %s\n", ctx, mdb_strerror(mdbrc));
	return mdbrc == MDB_MAP_FULL ? LEDGER_E_MAP_FULL : LEDGER_E_DB;
}

/* Recomputes every top entry above the buckets from the buckets. */
static void rehash_top(smt *t)
{
	for (uint32_t i = TOP_N - 1; i >= 1; i--)
		combine(t->top[i], 31u - (unsigned)__builtin_clz(i), t->top[2 * i], t->top[2 * i + 1]);
}

int smt_load(smt *t, MDB_txn *txn)
{
	assert(t != NULL);
	assert(!t->recording);
	MDB_cursor *c = NULL;
	MDB_val k, v;
	smt_fold f;
	uint32_t cur = 0;
	int rc = mdb_cursor_open(txn, t->dbi, &c);
	if (rc != 0)
		return dberr(rc, "open cursor");
	memset(t->top, 0, 2 * (size_t)TOP_N * sizeof *t->top);
	t->count = 0;
	smt_fold_init(&f);
	int out = 0;
	for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		if (k.mv_size != CK_HASH_BYTES || v.mv_size != CK_HASH_BYTES) {
			out = corrupt_leaf();
			break;
		}
		uint32_t b = bucket_of(k.mv_data);
		if (b != cur && f.n > 0)
			smt_fold_end(&f, t->top[TOP_N + cur]);
		cur = b;
		smt_fold_add(&f, k.mv_data, v.mv_data);
		t->count++;
	}
	mdb_cursor_close(c);
	if (out != 0)
		return out;
	if (rc != MDB_NOTFOUND)
		return dberr(rc, "scan");
	if (f.n > 0)
		smt_fold_end(&f, t->top[TOP_N + cur]);
	rehash_top(t);
	return 0;
}

/* ---- updates ----------------------------------------------------------- */

static int grow(void **p, size_t *cap, size_t need, size_t elem)
{
	if (need <= *cap)
		return 0;
	size_t n = *cap ? *cap : 256;
	while (n < need)
		n *= 2;
	void *q = realloc(*p, n * elem);
	if (q == NULL)
		return LEDGER_E_NOMEM;
	*p = q;
	*cap = n;
	return 0;
}

/* Hash of bucket b from its leaves, read with cursor c. */
static int hash_bucket(MDB_cursor *c, uint32_t b, ck_hash out)
{
	uint8_t first[CK_HASH_BYTES];
	uint32_t p = b << (24u - TOP_B);
	MDB_val k = { sizeof first, first }, v;
	smt_fold f;
	memset(first, 0, sizeof first);
	first[0] = (uint8_t)(p >> 16);
	first[1] = (uint8_t)(p >> 8);
	first[2] = (uint8_t)p;
	smt_fold_init(&f);
	int rc;
	for (rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE); rc == 0;
	     rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		if (k.mv_size != CK_HASH_BYTES || v.mv_size != CK_HASH_BYTES)
			return corrupt_leaf();
		if (bucket_of(k.mv_data) != b)
			break;
		smt_fold_add(&f, k.mv_data, v.mv_data);
	}
	if (rc != 0 && rc != MDB_NOTFOUND)
		return dberr(rc, "read bucket");
	smt_fold_end(&f, out);
	return 0;
}

/* Applies one change to the leaves; *changed says whether it did anything,
 * *delta how the count moves. */
static int put_leaf(MDB_cursor *c, const smt_change *ch, bool *changed, long *delta)
{
	MDB_val k = { CK_HASH_BYTES, (void *)ch->key }, v;
	int rc = mdb_cursor_get(c, &k, &v, MDB_SET_KEY);
	if (rc != 0 && rc != MDB_NOTFOUND)
		return dberr(rc, "read leaf");
	bool found = rc == 0;
	if (found && v.mv_size != CK_HASH_BYTES)
		return corrupt_leaf();
	*changed = false;
	if (ch->del) {
		if (!found)
			return 0;
		if ((rc = mdb_cursor_del(c, 0)) != 0)
			return dberr(rc, "delete leaf");
		*changed = true;
		(*delta)--;
		return 0;
	}
	ck_hash lh;
	smt_leaf(lh, ch->key, ch->value);
	if (found && memcmp(v.mv_data, lh, CK_HASH_BYTES) == 0)
		return 0;
	MDB_val nv = { CK_HASH_BYTES, lh };
	k = (MDB_val){ CK_HASH_BYTES, (void *)ch->key };
	if ((rc = mdb_cursor_put(c, &k, &nv, found ? MDB_CURRENT : 0)) != 0)
		return dberr(rc, "write leaf");
	*changed = true;
	if (!found)
		(*delta)++;
	return 0;
}

static void set_top(smt *t, uint32_t idx, const ck_hash h)
{
	assert(idx >= 1 && idx < 2 * TOP_N);
	if (memcmp(t->top[idx], h, CK_HASH_BYTES) == 0)
		return;
	if (t->recording) {
		assert(t->undo_len < t->undo_cap);
		smt_undo *u = &t->undo[t->undo_len++];
		u->idx = idx;
		memcpy(u->h, t->top[idx], CK_HASH_BYTES);
	}
	memcpy(t->top[idx], h, CK_HASH_BYTES);
}

int smt_update(smt *t, MDB_txn *txn, const smt_change *c, size_t n)
{
	assert(t != NULL);
	if (n == 0)
		return 0;
	int rc = grow((void **)&t->dirty, &t->dirty_cap, n, sizeof *t->dirty);
	if (rc != 0)
		return rc;
	MDB_cursor *cur = NULL;
	if ((rc = mdb_cursor_open(txn, t->dbi, &cur)) != 0)
		return dberr(rc, "open cursor");

	/* Leaves first, bucket by bucket (the changes are in key order, so a
	 * bucket's changes are consecutive), and each bucket that really
	 * changed is rehashed while its pages are at hand. */
	size_t nd = 0;
	long delta = 0;
	for (size_t i = 0; i < n && rc == 0;) {
		uint32_t b = bucket_of(c[i].key);
		bool dirty = false;
		for (; i < n && bucket_of(c[i].key) == b && rc == 0; i++) {
			bool changed;
			assert(i == 0 || memcmp(c[i - 1].key, c[i].key, CK_HASH_BYTES) < 0);
			rc = put_leaf(cur, &c[i], &changed, &delta);
			dirty |= changed;
		}
		if (rc == 0 && dirty) {
			t->dirty[nd].idx = TOP_N + b;
			rc = hash_bucket(cur, b, t->dirty[nd].h);
			nd++;
		}
	}
	mdb_cursor_close(cur);
	if (rc != 0)
		return rc;
	/* Then the top, which must not fail half-way: room for the undo of
	 * every entry it may overwrite is taken first. */
	if (t->recording &&
	    (rc = grow((void **)&t->undo, &t->undo_cap, t->undo_len + nd * (TOP_B + 1),
		       sizeof *t->undo)) != 0)
		return rc;
	for (size_t i = 0; i < nd; i++)
		set_top(t, t->dirty[i].idx, t->dirty[i].h);
	/* Level by level upwards: the dirty indices stay sorted, so a parent's
	 * two dirty children are neighbours and it is rehashed once. */
	for (unsigned depth = TOP_B; depth-- > 0;) {
		size_t m = 0;
		for (size_t i = 0; i < nd; i++) {
			uint32_t p = t->dirty[i].idx >> 1;
			if (m > 0 && t->dirty[m - 1].idx == p)
				continue;
			t->dirty[m++].idx = p;
			ck_hash h;
			combine(h, depth, t->top[2 * p], t->top[2 * p + 1]);
			set_top(t, p, h);
		}
		nd = m;
	}
	assert(delta >= 0 || (size_t)-delta <= t->count);
	t->count = (size_t)((long)t->count + delta);
	return 0;
}

/* ---- snapshot and rollback -------------------------------------------- */

int smt_begin(smt *t)
{
	assert(t != NULL);
	assert(!t->recording);
	assert(t->undo_len == 0);
	t->recording = true;
	t->count_before = t->count;
	return 0;
}

void smt_rollback(smt *t)
{
	assert(t != NULL);
	assert(t->recording);
	while (t->undo_len > 0) {
		const smt_undo *u = &t->undo[--t->undo_len];
		memcpy(t->top[u->idx], u->h, CK_HASH_BYTES);
	}
	t->count = t->count_before;
	t->recording = false;
}

void smt_commit(smt *t)
{
	assert(t != NULL);
	assert(t->recording);
	t->recording = false;
	t->undo_len = 0;
}

/* ---- proofs ------------------------------------------------------------ */

static void fold_range(const smt_kl *e, size_t lo, size_t hi, ck_hash out)
{
	smt_fold f;
	smt_fold_init(&f);
	for (size_t i = lo; i < hi; i++)
		smt_fold_add(&f, e[i].key, e[i].leaf);
	smt_fold_end(&f, out);
}

int smt_prove(smt *t, MDB_txn *txn, const ck_hash key, uint32_t *nsiblings, uint8_t bits[256],
	      ck_hash siblings[256])
{
	assert(t != NULL);
	MDB_cursor *c = NULL;
	MDB_val k = { CK_HASH_BYTES, (void *)key }, v;
	int rc = mdb_get(txn, t->dbi, &k, &v);
	if (rc == MDB_NOTFOUND)
		return LEDGER_E_NOTFOUND;
	if (rc != 0)
		return dberr(rc, "read leaf");

	/* The key's bucket, sorted as the trie orders it. */
	uint32_t b = bucket_of(key);
	uint8_t first[CK_HASH_BYTES];
	uint32_t p = b << (24u - TOP_B);
	memset(first, 0, sizeof first);
	first[0] = (uint8_t)(p >> 16);
	first[1] = (uint8_t)(p >> 8);
	first[2] = (uint8_t)p;
	size_t n = 0, pos = SIZE_MAX;
	if ((rc = mdb_cursor_open(txn, t->dbi, &c)) != 0)
		return dberr(rc, "open cursor");
	k = (MDB_val){ sizeof first, first };
	int out = 0;
	for (rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE); rc == 0;
	     rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		if (k.mv_size != CK_HASH_BYTES || v.mv_size != CK_HASH_BYTES) {
			out = corrupt_leaf();
			break;
		}
		if (bucket_of(k.mv_data) != b)
			break;
		if ((out = grow((void **)&t->kl, &t->kl_cap, n + 1, sizeof *t->kl)) != 0)
			break;
		memcpy(t->kl[n].key, k.mv_data, CK_HASH_BYTES);
		memcpy(t->kl[n].leaf, v.mv_data, CK_HASH_BYTES);
		if (memcmp(k.mv_data, key, CK_HASH_BYTES) == 0)
			pos = n;
		n++;
	}
	mdb_cursor_close(c);
	if (out != 0)
		return out;
	if (rc != 0 && rc != MDB_NOTFOUND)
		return dberr(rc, "read bucket");
	assert(pos < n); /* mdb_get found it in this snapshot */

	/* Down the bucket's trie from its top to the key: at each node the
	 * range splits where the branch bit turns to 1; the other side is the
	 * sibling. Collected root-first, listed leaf-first. */
	uint8_t dbits[256];
	uint32_t nd = 0;
	size_t lo = 0, hi = n;
	while (hi - lo > 1) {
		unsigned d = first_diff(t->kl[lo].key, t->kl[hi - 1].key);
		assert(d >= TOP_B && d < 256);
		size_t a = lo, z = hi - 1; /* first index in [lo, hi) with bit d set */
		while (a < z) {
			size_t mid = a + (z - a) / 2;
			if (key_bit(t->kl[mid].key, d))
				z = mid;
			else
				a = mid + 1;
		}
		assert(nd < 256);
		dbits[nd] = (uint8_t)d;
		if (pos < a) {
			fold_range(t->kl, a, hi, siblings[nd]);
			hi = a;
		} else {
			fold_range(t->kl, lo, a, siblings[nd]);
			lo = a;
		}
		nd++;
	}
	assert(lo == pos);
	uint32_t ns = 0;
	ck_hash tmp;
	for (uint32_t i = 0; i < nd / 2; i++) {
		memcpy(tmp, siblings[i], CK_HASH_BYTES);
		memcpy(siblings[i], siblings[nd - 1 - i], CK_HASH_BYTES);
		memcpy(siblings[nd - 1 - i], tmp, CK_HASH_BYTES);
	}
	for (uint32_t i = 0; i < nd; i++)
		bits[i] = dbits[nd - 1 - i];
	ns = nd;
	/* Up the top: a prefix whose two halves both hold keys is a node. */
	for (unsigned depth = TOP_B; depth-- > 0;) {
		uint32_t idx = (1u << depth) + (b >> (TOP_B - depth));
		const uint8_t *l = t->top[2 * idx], *r = t->top[2 * idx + 1];
		if (is_zero(l) || is_zero(r))
			continue;
		assert(ns < 256);
		bits[ns] = (uint8_t)depth;
		memcpy(siblings[ns], key_bit(key, depth) ? l : r, CK_HASH_BYTES);
		ns++;
	}
	*nsiblings = ns;
	return 0;
}

int smt_verify(const ck_hash root, const ck_hash key, const ck_hash value, uint32_t nsiblings,
	       const uint8_t bits[256], const ck_hash siblings[256])
{
	if (nsiblings > 256)
		return LEDGER_E_PROOF;
	ck_hash h;
	smt_leaf(h, key, value);
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
