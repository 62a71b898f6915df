/* The state-root map (ledger/smt.c) and account proofs (ledger/proof.c):
 * roots against an independent from-scratch computation, order
 * independence, rollback, proofs and their tampering, the proof codec.
 *
 * The map keeps its leaves in LMDB and takes changes in sorted batches;
 * the tests drive it through tmap below, which queues single changes as
 * the ledger does (the last change of a key wins) and hands them over as
 * one batch when a root, count or proof is asked for, inside the open
 * transaction between tm_begin and tm_commit/tm_rollback (a block) or in
 * one of its own otherwise. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ftw.h>
#include <lmdb.h>

#include "ledger/ledger.h"
#include "ledger/smt.h"
#include "ledger/tables.h"
#include "tests/unit/ledger_fixture.h"

/* ---- helpers ----------------------------------------------------------- */

static uint64_t rng_next(uint64_t *s)
{
	/* splitmix64: deterministic, seedable, good enough for test data. */
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static void rng_hash(uint64_t *s, ck_hash out)
{
	for (unsigned i = 0; i < CK_HASH_BYTES; i += 8) {
		uint64_t v = rng_next(s);
		memcpy(out + i, &v, 8);
	}
}

static void shuffle(uint32_t *a, size_t n, uint64_t *s)
{
	for (size_t i = n; i > 1; i--) {
		size_t j = (size_t)(rng_next(s) % i);
		uint32_t x = a[i - 1];
		a[i - 1] = a[j];
		a[j] = x;
	}
}

static unsigned bit_of(const uint8_t *k, unsigned i)
{
	return (k[i / 8] >> (7 - i % 8)) & 1u;
}

typedef struct kv {
	ck_hash k;
	ck_hash v;
} kv;

static int kv_cmp(const void *a, const void *b)
{
	return memcmp(((const kv *)a)->k, ((const kv *)b)->k, CK_HASH_BYTES);
}

static void ref_leaf(ck_hash out, const kv *e)
{
	uint8_t buf[64];
	memcpy(buf, e->k, 32);
	memcpy(buf + 32, e->v, 32);
	ck_hash_tagged(out, "sleaf", buf, sizeof buf);
}

/* Root of a sorted, duplicate-free set straight from the definition,
 * sharing no code with smt.c: split at the first bit where the smallest and
 * largest keys differ. */
static void ref_root_sorted(ck_hash out, const kv *e, size_t n)
{
	if (n == 0) {
		memset(out, 0, 32);
		return;
	}
	if (n == 1) {
		ref_leaf(out, e);
		return;
	}
	unsigned d = 0;
	while (bit_of(e[0].k, d) == bit_of(e[n - 1].k, d))
		d++;
	size_t m = 0;
	while (bit_of(e[m].k, d) == 0)
		m++;
	uint8_t buf[65];
	buf[0] = (uint8_t)d;
	ref_root_sorted(buf + 1, e, m);
	ref_root_sorted(buf + 33, e + m, n - m);
	ck_hash_tagged(out, "snode", buf, sizeof buf);
}

static void ref_root(ck_hash out, const kv *e, size_t n)
{
	kv *c = malloc((n ? n : 1) * sizeof *c);
	cr_assert_not_null(c);
	memcpy(c, e, n * sizeof *c);
	qsort(c, n, sizeof *c, kv_cmp);
	ref_root_sorted(out, c, n);
	free(c);
}

/* ---- tmap: the map on a scratch LMDB environment ---------------------- */

typedef struct tchange {
	smt_change c;
	size_t seq;
} tchange;

typedef struct tmap {
	char dir[64];
	MDB_env *env;
	MDB_dbi dbi;
	MDB_txn *txn; /* the block's, between tm_begin and commit/rollback */
	smt *t;
	tchange *q;
	size_t nq, capq;
	smt_change *batch;
} tmap;

static int tchange_cmp(const void *a, const void *b)
{
	const tchange *x = a, *y = b;
	int c = memcmp(x->c.key, y->c.key, CK_HASH_BYTES);
	if (c != 0)
		return c;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static tmap *new_map(void)
{
	tmap *m = calloc(1, sizeof *m);
	cr_assert_not_null(m);
	snprintf(m->dir, sizeof m->dir, "/tmp/smt-test-XXXXXX");
	cr_assert_not_null(mkdtemp(m->dir));
	cr_assert_eq(mdb_env_create(&m->env), 0);
	cr_assert_eq(mdb_env_set_maxdbs(m->env, 2), 0);
	cr_assert_eq(mdb_env_set_mapsize(m->env, (size_t)1 << 30), 0);
	cr_assert_eq(mdb_env_open(m->env, m->dir, MDB_NOSYNC, 0600), 0);
	MDB_txn *txn;
	cr_assert_eq(mdb_txn_begin(m->env, NULL, 0, &txn), 0);
	cr_assert_eq(mdb_dbi_open(txn, "smt", MDB_CREATE, &m->dbi), 0);
	cr_assert_eq(mdb_txn_commit(txn), 0);
	cr_assert_eq(smt_new(&m->t, m->dbi), 0);
	return m;
}

static int rm_cb(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(p);
}

static void tm_free(tmap *m)
{
	if (m == NULL)
		return;
	cr_assert_null(m->txn);
	smt_free(m->t);
	mdb_env_close(m->env);
	nftw(m->dir, rm_cb, 4, FTW_DEPTH | FTW_PHYS);
	free(m->q);
	free(m->batch);
	free(m);
}

static void tm_queue(tmap *m, const ck_hash k, const ck_hash v, bool del)
{
	if (m->nq == m->capq) {
		m->capq = m->capq ? 2 * m->capq : 256;
		m->q = realloc(m->q, m->capq * sizeof *m->q);
		m->batch = realloc(m->batch, m->capq * sizeof *m->batch);
		cr_assert(m->q && m->batch);
	}
	tchange *e = &m->q[m->nq];
	memcpy(e->c.key, k, 32);
	memset(e->c.value, 0, 32);
	if (!del)
		memcpy(e->c.value, v, 32);
	e->c.del = del;
	e->seq = m->nq++;
}

static int tm_set(tmap *m, const ck_hash k, const ck_hash v)
{
	tm_queue(m, k, v, false);
	return 0;
}

static int tm_delete(tmap *m, const ck_hash k)
{
	tm_queue(m, k, NULL, true);
	return 0;
}

/* Hands the queue to the map as one sorted batch, the last change of each
 * key winning. */
static void tm_flush(tmap *m)
{
	if (m->nq == 0)
		return;
	qsort(m->q, m->nq, sizeof *m->q, tchange_cmp);
	size_t n = 0;
	for (size_t i = 0; i < m->nq; i++)
		if (i + 1 == m->nq || memcmp(m->q[i].c.key, m->q[i + 1].c.key, 32) != 0)
			m->batch[n++] = m->q[i].c;
	m->nq = 0;
	if (m->txn != NULL) {
		cr_assert_eq(smt_update(m->t, m->txn, m->batch, n), 0);
		return;
	}
	MDB_txn *txn;
	cr_assert_eq(mdb_txn_begin(m->env, NULL, 0, &txn), 0);
	cr_assert_eq(smt_update(m->t, txn, m->batch, n), 0);
	cr_assert_eq(mdb_txn_commit(txn), 0);
}

static void tm_root(tmap *m, ck_hash out)
{
	tm_flush(m);
	smt_root(m->t, out);
}

static size_t tm_count(tmap *m)
{
	tm_flush(m);
	return smt_count(m->t);
}

static int tm_prove(tmap *m, const ck_hash k, uint32_t *n, uint8_t bits[256], ck_hash sib[256])
{
	tm_flush(m);
	if (m->txn != NULL)
		return smt_prove(m->t, m->txn, k, n, bits, sib);
	MDB_txn *txn;
	cr_assert_eq(mdb_txn_begin(m->env, NULL, MDB_RDONLY, &txn), 0);
	int rc = smt_prove(m->t, txn, k, n, bits, sib);
	mdb_txn_abort(txn);
	return rc;
}

static int tm_begin(tmap *m)
{
	tm_flush(m);
	cr_assert_null(m->txn);
	cr_assert_eq(mdb_txn_begin(m->env, NULL, 0, &m->txn), 0);
	return smt_begin(m->t);
}

static void tm_commit(tmap *m)
{
	tm_flush(m);
	cr_assert_eq(mdb_txn_commit(m->txn), 0);
	m->txn = NULL;
	smt_commit(m->t);
}

static void tm_rollback(tmap *m)
{
	m->nq = 0;
	mdb_txn_abort(m->txn);
	m->txn = NULL;
	smt_rollback(m->t);
}

/* A second map rebuilt from m's leaves by smt_load: its root must be m's. */
static void tm_reload_root(tmap *m, ck_hash out, size_t *count)
{
	tm_flush(m);
	smt *t2;
	MDB_txn *txn;
	cr_assert_eq(smt_new(&t2, m->dbi), 0);
	cr_assert_eq(mdb_txn_begin(m->env, NULL, MDB_RDONLY, &txn), 0);
	cr_assert_eq(smt_load(t2, txn), 0);
	mdb_txn_abort(txn);
	smt_root(t2, out);
	*count = smt_count(t2);
	smt_free(t2);
}

static void init(void)
{
	cr_assert_eq(ck_init(), 0);
}

TestSuite(smt, .init = init);
TestSuite(account_proof, .init = init);

/* ---- shape and hashing ------------------------------------------------- */

Test(smt, empty_single_and_pair_follow_the_definition)
{
	tmap *t = new_map();
	ck_hash r, want;
	tm_root(t, r);
	memset(want, 0, 32);
	cr_assert_arr_eq(r, want, 32, "empty map root is 32 zero bytes");

	kv a, b;
	memset(&a, 0, sizeof a);
	memset(&b, 0, sizeof b);
	a.k[0] = 0x10; /* 0001 0000 */
	b.k[0] = 0x00; /* differs from a at bit 3 */
	memset(a.v, 0xaa, 32);
	memset(b.v, 0xbb, 32);

	cr_assert_eq(tm_set(t, a.k, a.v), 0);
	tm_root(t, r);
	ref_leaf(want, &a);
	cr_assert_arr_eq(r, want, 32, "single key root is its leaf hash");

	cr_assert_eq(tm_set(t, b.k, b.v), 0);
	tm_root(t, r);
	uint8_t buf[65];
	buf[0] = 3;
	ref_leaf(buf + 1, &b); /* bit 3 is 0 in b: left */
	ref_leaf(buf + 33, &a);
	ck_hash_tagged(want, "snode", buf, sizeof buf);
	cr_assert_arr_eq(r, want, 32);
	cr_assert_eq(tm_count(t), 2);

	/* Replacing a value changes the root; deleting everything empties it. */
	memset(a.v, 0xcc, 32);
	cr_assert_eq(tm_set(t, a.k, a.v), 0);
	cr_assert_eq(tm_count(t), 2);
	ck_hash r2;
	tm_root(t, r2);
	cr_assert(memcmp(r, r2, 32) != 0);
	cr_assert_eq(tm_delete(t, a.k), 0);
	cr_assert_eq(tm_delete(t, a.k), 0, "deleting an absent key is not an error");
	tm_root(t, r);
	ref_leaf(want, &b);
	cr_assert_arr_eq(r, want, 32);
	cr_assert_eq(tm_delete(t, b.k), 0);
	tm_root(t, r);
	memset(want, 0, 32);
	cr_assert_arr_eq(r, want, 32);
	cr_assert_eq(tm_count(t), 0);
	tm_free(t);
	tm_free(NULL);
	smt_free(NULL);
}

Test(smt, keys_differing_only_in_the_last_bit)
{
	tmap *t = new_map();
	kv e[3];
	memset(e, 0, sizeof e);
	memset(e[0].k, 0xff, 32);
	memset(e[1].k, 0xff, 32);
	e[1].k[31] = 0xfe; /* differs at bit 255 */
	e[2].k[0] = 0x7f;  /* differs at bit 0 */
	for (int i = 0; i < 3; i++) {
		e[i].v[0] = (uint8_t)i;
		cr_assert_eq(tm_set(t, e[i].k, e[i].v), 0);
	}
	ck_hash r, want;
	tm_root(t, r);
	ref_root(want, e, 3);
	cr_assert_arr_eq(r, want, 32);

	uint32_t n;
	uint8_t bits[256];
	ck_hash sib[256];
	cr_assert_eq(tm_prove(t, e[1].k, &n, bits, sib), 0);
	cr_assert_eq(n, 2);
	cr_assert_eq(bits[0], 255, "nearest the leaf first");
	cr_assert_eq(bits[1], 0);
	cr_assert_eq(smt_verify(r, e[1].k, e[1].v, n, bits, sib), 0);
	tm_free(t);
}

/* The root depends only on the key/value set: the same 10,000 pairs in
 * several orders, with keys inserted and deleted along the way and values
 * overwritten, give one root, equal to the from-scratch one. */
Test(smt, root_is_independent_of_update_order)
{
	enum { N = 10000, EXTRA = 2000, ORDERS = 4 };
	uint64_t s = 42;
	kv *e = malloc(N * sizeof *e);
	kv *x = malloc(EXTRA * sizeof *x);
	uint32_t *ord = malloc(N * sizeof *ord);
	cr_assert(e && x && ord);
	for (uint32_t i = 0; i < N; i++) {
		rng_hash(&s, e[i].k);
		rng_hash(&s, e[i].v);
		ord[i] = i;
	}
	for (uint32_t i = 0; i < EXTRA; i++) {
		rng_hash(&s, x[i].k);
		rng_hash(&s, x[i].v);
	}
	ck_hash want;
	ref_root(want, e, N);

	for (int o = 0; o < ORDERS; o++) {
		tmap *t = new_map();
		shuffle(ord, N, &s);
		ck_hash junk, r;
		for (uint32_t i = 0; i < N; i++) {
			const kv *p = &e[ord[i]];
			if (rng_next(&s) % 4 == 0) {
				/* A stale value first, fixed below. */
				rng_hash(&s, junk);
				cr_assert_eq(tm_set(t, p->k, junk), 0);
			}
			cr_assert_eq(tm_set(t, p->k, p->v), 0);
			if (i % 5 == 0) {
				const kv *q = &x[rng_next(&s) % EXTRA];
				cr_assert_eq(tm_set(t, q->k, q->v), 0);
			}
			if (i % 7 == 0) {
				const kv *q = &x[rng_next(&s) % EXTRA];
				cr_assert_eq(tm_delete(t, q->k), 0);
			}
			if (i % 11 == 0) {
				/* Delete a placed key and put it back. */
				const kv *q = &e[ord[rng_next(&s) % (i + 1)]];
				cr_assert_eq(tm_delete(t, q->k), 0);
				cr_assert_eq(tm_set(t, q->k, q->v), 0);
			}
			if (i % 997 == 0)
				tm_root(t, r); /* interleave incremental rehashing */
		}
		for (uint32_t i = 0; i < EXTRA; i++)
			cr_assert_eq(tm_delete(t, x[i].k), 0);
		cr_assert_eq(tm_count(t), N);
		tm_root(t, r);
		cr_assert_arr_eq(r, want, 32, "order %d", o);
		tm_free(t);
	}
	free(e);
	free(x);
	free(ord);
}

/* Incremental roots after every small batch equal the from-scratch root of
 * a model kept beside the map. */
Test(smt, incremental_root_matches_model)
{
	enum { POOL = 600, STEPS = 3000 };
	uint64_t s = 7;
	kv *pool = malloc(POOL * sizeof *pool);
	bool *in = calloc(POOL, sizeof *in);
	kv *model = malloc(POOL * sizeof *model);
	cr_assert(pool && in && model);
	for (int i = 0; i < POOL; i++)
		rng_hash(&s, pool[i].k);
	/* Keys sharing long prefixes exercise deep branch bits. */
	for (int i = 0; i < 40; i++) {
		memcpy(pool[i + 40].k, pool[i].k, 32);
		unsigned b = (unsigned)(rng_next(&s) % 256);
		pool[i + 40].k[b / 8] ^= (uint8_t)(0x80u >> (b % 8));
	}
	tmap *t = new_map();
	for (int step = 0; step < STEPS; step++) {
		int i = (int)(rng_next(&s) % POOL);
		if (rng_next(&s) % 3 == 0) {
			cr_assert_eq(tm_delete(t, pool[i].k), 0);
			in[i] = false;
		} else {
			rng_hash(&s, pool[i].v);
			cr_assert_eq(tm_set(t, pool[i].k, pool[i].v), 0);
			in[i] = true;
		}
		if (step % 50 == 0) {
			size_t n = 0;
			for (int j = 0; j < POOL; j++)
				if (in[j])
					model[n++] = pool[j];
			ck_hash r, want;
			tm_root(t, r);
			ref_root(want, model, n);
			cr_assert_arr_eq(r, want, 32, "step %d", step);
			cr_assert_eq(tm_count(t), n);
		}
	}
	tm_free(t);
	free(pool);
	free(in);
	free(model);
}

/* ---- rollback ---------------------------------------------------------- */

static void random_ops(tmap *t, kv *pool, size_t npool, int nops, uint64_t *s)
{
	for (int j = 0; j < nops; j++) {
		kv *p = &pool[rng_next(s) % npool];
		switch (rng_next(s) % 4) {
		case 0:
			cr_assert_eq(tm_delete(t, p->k), 0);
			break;
		case 1: /* same value again: a no-op change */
			cr_assert_eq(tm_set(t, p->k, p->v), 0);
			break;
		default:
			rng_hash(s, p->v);
			cr_assert_eq(tm_set(t, p->k, p->v), 0);
			break;
		}
	}
}

Test(smt, rollback_restores_the_exact_map)
{
	enum { POOL = 3000 };
	uint64_t s = 99;
	kv *pool = malloc(POOL * sizeof *pool);
	cr_assert_not_null(pool);
	for (int i = 0; i < POOL; i++) {
		rng_hash(&s, pool[i].k);
		rng_hash(&s, pool[i].v);
	}
	tmap *t = new_map();
	tmap *twin = new_map(); /* gets only the committed changes, no rollback */
	for (int i = 0; i < POOL / 2; i++) {
		cr_assert_eq(tm_set(t, pool[i].k, pool[i].v), 0);
		cr_assert_eq(tm_set(twin, pool[i].k, pool[i].v), 0);
	}

	for (int round = 0; round < 20; round++) {
		ck_hash before, after, r;
		tm_root(t, before);
		size_t count = tm_count(t);
		cr_assert_eq(tm_begin(t), 0);
		/* Work on a copy of the values so the model can be rolled back
		 * too: pool holds the latest value set, which the twin needs. */
		kv *scratch = malloc(POOL * sizeof *scratch);
		cr_assert_not_null(scratch);
		memcpy(scratch, pool, POOL * sizeof *scratch);
		uint64_t s_before = s;
		/* Sometimes hash midway, sometimes not: dirty state must not
		 * matter. */
		random_ops(t, scratch, POOL, 500 + round * 50, &s);
		if (round % 2)
			tm_root(t, after);
		random_ops(t, scratch, POOL, 200, &s);
		tm_root(t, after);
		if (round % 3 == 0) {
			tm_rollback(t);
			tm_root(t, r);
			cr_assert_arr_eq(r, before, 32, "round %d", round);
			cr_assert_eq(tm_count(t), count);
		} else {
			tm_commit(t);
			/* Replay the same operations on the twin. */
			uint64_t s2 = s_before;
			memcpy(scratch, pool, POOL * sizeof *scratch);
			random_ops(twin, scratch, POOL, 500 + round * 50, &s2);
			random_ops(twin, scratch, POOL, 200, &s2);
			memcpy(pool, scratch, POOL * sizeof *scratch);
			tm_root(twin, r);
			cr_assert_arr_eq(r, after, 32, "round %d", round);
			tm_root(t, r);
			cr_assert_arr_eq(r, after, 32, "commit keeps the changes");
		}
		free(scratch);
		/* After a rollback both maps keep agreeing on new changes. */
		tm_root(twin, after);
		tm_root(t, r);
		cr_assert_arr_eq(r, after, 32, "round %d against twin", round);
	}
	tm_free(t);
	tm_free(twin);
	free(pool);
}

Test(smt, rollback_of_everything_back_to_empty)
{
	uint64_t s = 5;
	tmap *t = new_map();
	cr_assert_eq(tm_begin(t), 0);
	kv e[100];
	for (int i = 0; i < 100; i++) {
		rng_hash(&s, e[i].k);
		rng_hash(&s, e[i].v);
		cr_assert_eq(tm_set(t, e[i].k, e[i].v), 0);
	}
	tm_rollback(t);
	ck_hash r, zero;
	memset(zero, 0, 32);
	tm_root(t, r);
	cr_assert_arr_eq(r, zero, 32);
	cr_assert_eq(tm_count(t), 0);

	for (int i = 0; i < 100; i++)
		cr_assert_eq(tm_set(t, e[i].k, e[i].v), 0);
	ck_hash full;
	tm_root(t, full);
	cr_assert_eq(tm_begin(t), 0);
	for (int i = 0; i < 100; i++)
		cr_assert_eq(tm_delete(t, e[i].k), 0);
	tm_root(t, r);
	cr_assert_arr_eq(r, zero, 32);
	tm_rollback(t);
	tm_root(t, r);
	cr_assert_arr_eq(r, full, 32);
	tm_free(t);
}

/* ---- proofs ------------------------------------------------------------ */

typedef struct proof {
	uint32_t n;
	uint8_t bits[256];
	ck_hash sib[256];
} proof;

/* Keys crowded into a few buckets (hundreds share their first 18 bits, as
 * at tens of millions of keys, and some share 200 bits), in random batches
 * of sets, deletes and same-value sets, a third of them rolled back. After
 * every batch: the root is the from-scratch one of a model, a map rebuilt
 * from the leaves by smt_load has it too, the fold of the sorted model
 * gives it, and proofs of present keys verify while absent ones have none. */
Test(smt, crowded_buckets_batches_rollback_reload_and_proofs)
{
	enum { POOL = 2000, ROUNDS = 40, OPS = 150 };
	uint64_t s = 2027;
	kv *pool = malloc(POOL * sizeof *pool), *scratch = malloc(POOL * sizeof *scratch);
	kv *model = malloc(POOL * sizeof *model);
	bool *in = calloc(POOL, sizeof *in), *in2 = malloc(POOL * sizeof *in2);
	proof *p = malloc(sizeof *p);
	cr_assert(pool && scratch && model && in && in2 && p);
	static const uint8_t prefixes[4][3] = {
		{ 0x00, 0x00, 0x00 }, { 0x12, 0x34, 0x40 }, { 0x12, 0x34, 0x7f }, { 0xff, 0xff, 0xff }
	};
	for (int i = 0; i < POOL; i++) {
		rng_hash(&s, pool[i].k);
		rng_hash(&s, pool[i].v);
		if (i % 10 != 0) /* one in ten keeps a random prefix */
			memcpy(pool[i].k, prefixes[i % 4], 3);
		if (i % 20 == 1 && i > 1) { /* a near twin of an earlier key */
			memcpy(pool[i].k, pool[i - 1].k, 32);
			unsigned b = 200 + (unsigned)(rng_next(&s) % 56);
			pool[i].k[b / 8] ^= (uint8_t)(0x80u >> (b % 8));
		}
	}
	tmap *t = new_map();
	for (int round = 0; round < ROUNDS; round++) {
		memcpy(scratch, pool, POOL * sizeof *scratch);
		memcpy(in2, in, POOL * sizeof *in2);
		cr_assert_eq(tm_begin(t), 0);
		for (int j = 0; j < OPS + round * 10; j++) {
			int i = (int)(rng_next(&s) % POOL);
			switch (rng_next(&s) % 5) {
			case 0:
				cr_assert_eq(tm_delete(t, scratch[i].k), 0);
				in2[i] = false;
				break;
			case 1: /* the value it has (or gets) again */
				cr_assert_eq(tm_set(t, scratch[i].k, scratch[i].v), 0);
				in2[i] = true;
				break;
			default:
				rng_hash(&s, scratch[i].v);
				cr_assert_eq(tm_set(t, scratch[i].k, scratch[i].v), 0);
				in2[i] = true;
				break;
			}
		}
		ck_hash r, want, reload;
		tm_root(t, r);
		if (round % 3 == 0) {
			tm_rollback(t);
		} else {
			tm_commit(t);
			memcpy(pool, scratch, POOL * sizeof *pool);
			memcpy(in, in2, POOL * sizeof *in);
		}
		size_t n = 0, count;
		for (int i = 0; i < POOL; i++)
			if (in[i])
				model[n++] = pool[i];
		ref_root(want, model, n);
		tm_root(t, r);
		cr_assert_arr_eq(r, want, 32, "round %d", round);
		cr_assert_eq(tm_count(t), n);
		tm_reload_root(t, reload, &count);
		cr_assert_arr_eq(reload, want, 32, "reload, round %d", round);
		cr_assert_eq(count, n);

		qsort(model, n, sizeof *model, kv_cmp);
		smt_fold f;
		smt_fold_init(&f);
		for (size_t i = 0; i < n; i++) {
			ck_hash lh;
			smt_leaf(lh, model[i].k, model[i].v);
			smt_fold_add(&f, model[i].k, lh);
		}
		smt_fold_end(&f, reload);
		cr_assert_arr_eq(reload, want, 32, "fold, round %d", round);

		for (int trial = 0; trial < 20; trial++) {
			int i = (int)(rng_next(&s) % POOL);
			int rc = tm_prove(t, pool[i].k, &p->n, p->bits, p->sib);
			if (!in[i]) {
				cr_assert_eq(rc, LEDGER_E_NOTFOUND);
				continue;
			}
			cr_assert_eq(rc, 0);
			cr_assert_eq(smt_verify(r, pool[i].k, pool[i].v, p->n, p->bits, p->sib), 0,
				     "round %d key %d", round, i);
		}
	}
	tm_free(t);
	free(pool);
	free(scratch);
	free(model);
	free(in);
	free(in2);
	free(p);
}


Test(smt, proofs_verify_and_tampering_fails)
{
	enum { N = 5000 };
	uint64_t s = 1234;
	kv *e = malloc(N * sizeof *e);
	cr_assert_not_null(e);
	tmap *t = new_map();
	for (int i = 0; i < N; i++) {
		rng_hash(&s, e[i].k);
		rng_hash(&s, e[i].v);
		cr_assert_eq(tm_set(t, e[i].k, e[i].v), 0);
	}
	ck_hash root;
	/* tm_prove hands the queued changes over itself: no root before it. */
	proof *p = malloc(sizeof *p);
	proof *q = malloc(sizeof *q);
	cr_assert(p && q);
	cr_assert_eq(tm_prove(t, e[0].k, &p->n, p->bits, p->sib), 0);
	tm_root(t, root);
	cr_assert_eq(smt_verify(root, e[0].k, e[0].v, p->n, p->bits, p->sib), 0);

	for (int trial = 0; trial < 200; trial++) {
		const kv *a = &e[rng_next(&s) % N];
		const kv *b = &e[rng_next(&s) % N];
		cr_assert_eq(tm_prove(t, a->k, &p->n, p->bits, p->sib), 0);
		cr_assert_gt(p->n, 0);
		cr_assert_eq(smt_verify(root, a->k, a->v, p->n, p->bits, p->sib), 0);
		for (uint32_t i = 1; i < p->n; i++)
			cr_assert_lt(p->bits[i], p->bits[i - 1]);
		uint32_t i = (uint32_t)(rng_next(&s) % p->n);

		*q = *p;
		q->sib[i][rng_next(&s) % 32] ^= 1;
		cr_assert_eq(smt_verify(root, a->k, a->v, q->n, q->bits, q->sib), LEDGER_E_PROOF,
			     "tampered sibling");

		*q = *p;
		q->bits[i] ^= 1;
		cr_assert_eq(smt_verify(root, a->k, a->v, q->n, q->bits, q->sib), LEDGER_E_PROOF,
			     "tampered bit");

		ck_hash v;
		memcpy(v, a->v, 32);
		v[31] ^= 0x80;
		cr_assert_eq(smt_verify(root, a->k, v, p->n, p->bits, p->sib), LEDGER_E_PROOF,
			     "wrong value");
		if (a != b) {
			cr_assert_eq(smt_verify(root, b->k, a->v, p->n, p->bits, p->sib),
				     LEDGER_E_PROOF, "wrong key");
			cr_assert_eq(smt_verify(root, b->k, b->v, p->n, p->bits, p->sib),
				     LEDGER_E_PROOF, "another key's pair with this path");
		}
		cr_assert_eq(smt_verify(root, a->k, a->v, p->n - 1, p->bits, p->sib),
			     LEDGER_E_PROOF, "truncated proof");
		/* Truncated from the leaf end: the leaf's parent's hash is not a
		 * leaf hash. */
		*q = *p;
		memmove(q->bits, q->bits + 1, q->n - 1);
		memmove(q->sib, q->sib + 1, (q->n - 1) * sizeof q->sib[0]);
		cr_assert_eq(smt_verify(root, a->k, a->v, q->n - 1, q->bits, q->sib),
			     LEDGER_E_PROOF, "truncated at the leaf");

		if (p->n < 256) {
			*q = *p;
			q->bits[q->n] = q->n ? (uint8_t)(q->bits[q->n - 1] ? q->bits[q->n - 1] - 1 : 0) : 0;
			rng_hash(&s, q->sib[q->n]);
			q->n++;
			cr_assert_eq(smt_verify(root, a->k, a->v, q->n, q->bits, q->sib),
				     LEDGER_E_PROOF, "extra sibling");
		}
		ck_hash other;
		memcpy(other, root, 32);
		other[0] ^= 1;
		cr_assert_eq(smt_verify(other, a->k, a->v, p->n, p->bits, p->sib), LEDGER_E_PROOF,
			     "another root");
	}

	/* Bits out of order are refused even if the hashes were computed for
	 * them. */
	cr_assert_eq(tm_prove(t, e[1].k, &p->n, p->bits, p->sib), 0);
	cr_assert_geq(p->n, 2);
	*q = *p;
	q->bits[1] = q->bits[0];
	cr_assert_eq(smt_verify(root, e[1].k, e[1].v, q->n, q->bits, q->sib), LEDGER_E_PROOF);
	cr_assert_eq(smt_verify(root, e[1].k, e[1].v, 257, p->bits, p->sib), LEDGER_E_PROOF);
	/* A root made up for a path whose bits increase towards the root: no
	 * trie has that shape, so the proof is refused although it hashes. */
	{
		uint8_t buf[65];
		ck_hash h, made_up;
		ref_leaf(h, &e[1]);
		const uint8_t up_bits[2] = {5, 9};
		for (int i = 0; i < 2; i++) {
			rng_hash(&s, q->sib[i]);
			q->bits[i] = up_bits[i];
			buf[0] = up_bits[i];
			unsigned side = bit_of(e[1].k, up_bits[i]);
			memcpy(buf + 1 + 32 * side, h, 32);
			memcpy(buf + 1 + 32 * (side ^ 1u), q->sib[i], 32);
			ck_hash_tagged(h, "snode", buf, sizeof buf);
		}
		memcpy(made_up, h, 32);
		cr_assert_eq(smt_verify(made_up, e[1].k, e[1].v, 2, q->bits, q->sib),
			     LEDGER_E_PROOF, "bits out of order");
		q->bits[0] = 9;
		q->bits[1] = 5;
		cr_assert_eq(smt_verify(made_up, e[1].k, e[1].v, 2, q->bits, q->sib),
			     LEDGER_E_PROOF);
	}

	/* Absent keys have no proof. */
	ck_hash absent;
	for (int i = 0; i < 50; i++) {
		rng_hash(&s, absent);
		cr_assert_eq(tm_prove(t, absent, &p->n, p->bits, p->sib), LEDGER_E_NOTFOUND);
	}
	/* A key sharing all but the last bit with a present one. */
	memcpy(absent, e[2].k, 32);
	absent[31] ^= 1;
	cr_assert_eq(tm_prove(t, absent, &p->n, p->bits, p->sib), LEDGER_E_NOTFOUND);
	cr_assert_eq(tm_delete(t, e[2].k), 0);
	cr_assert_eq(tm_prove(t, e[2].k, &p->n, p->bits, p->sib), LEDGER_E_NOTFOUND);
	tm_free(t);

	tmap *empty = new_map();
	cr_assert_eq(tm_prove(empty, e[0].k, &p->n, p->bits, p->sib), LEDGER_E_NOTFOUND);
	ck_hash zero;
	memset(zero, 0, 32);
	cr_assert_eq(smt_verify(zero, e[0].k, e[0].v, 0, p->bits, p->sib), LEDGER_E_PROOF);
	tm_free(empty);

	tmap *one = new_map();
	cr_assert_eq(tm_set(one, e[0].k, e[0].v), 0);
	cr_assert_eq(tm_prove(one, e[0].k, &p->n, p->bits, p->sib), 0);
	cr_assert_eq(p->n, 0, "a lone leaf is the root");
	tm_root(one, root);
	cr_assert_eq(smt_verify(root, e[0].k, e[0].v, 0, p->bits, p->sib), 0);
	tm_free(one);
	free(p);
	free(q);
	free(e);
}

Test(smt, derivations_are_tagged_and_separate_tables)
{
	uint8_t pk[32];
	memset(pk, 7, sizeof pk);
	ck_hash a, b, want;
	smt_key(a, LEDGER_TABLE_ACCOUNT, pk, 32);
	smt_key(b, LEDGER_TABLE_MEMBER, pk, 32);
	cr_assert(memcmp(a, b, 32) != 0);
	uint8_t buf[33];
	buf[0] = LEDGER_TABLE_ACCOUNT;
	memcpy(buf + 1, pk, 32);
	ck_hash_tagged(want, "skey", buf, sizeof buf);
	cr_assert_arr_eq(a, want, 32);
	smt_value(a, pk, 32);
	ck_hash_tagged(want, "sval", pk, 32);
	cr_assert_arr_eq(a, want, 32);
}

/* ---- account proofs ---------------------------------------------------- */

static void account_value(ck_hash out, uint64_t balance_g, uint64_t nonce)
{
	cm_wr w;
	cm_wr_init(&w);
	cm_wr_array(&w, 2);
	cm_wr_uint(&w, balance_g);
	cm_wr_uint(&w, nonce);
	cr_assert_eq(cm_wr_error(&w), 0);
	smt_value(out, cm_wr_data(&w), cm_wr_len(&w));
	cm_wr_free(&w);
}

/* Builds a map of accounts as the state code does (the contract at the top
 * of ledger/proof.c) and a proof for account `which`. */
static tmap *accounts(ledger_account_proof *p, int naccounts, int which)
{
	tmap *t = new_map();
	uint64_t s = 77;
	memset(p, 0, sizeof *p);
	for (int i = 0; i < naccounts; i++) {
		ck_pubkey pk;
		ck_hash k, v;
		rng_hash(&s, pk);
		uint64_t bal = rng_next(&s) % 1000000000u, nonce = (uint64_t)i;
		smt_key(k, LEDGER_TABLE_ACCOUNT, pk, 32);
		account_value(v, bal, nonce);
		cr_assert_eq(tm_set(t, k, v), 0);
		if (i == which) {
			memcpy(p->account, pk, 32);
			p->balance_g = bal;
			p->nonce = nonce;
		}
	}
	/* Another table's entries share the map. */
	for (int i = 0; i < naccounts; i++) {
		ck_hash k, v;
		uint8_t id[8];
		memcpy(id, &i, sizeof i);
		memset(id + sizeof i, 0, sizeof id - sizeof i);
		smt_key(k, LEDGER_TABLE_TRIP, id, sizeof id);
		smt_value(v, id, sizeof id);
		cr_assert_eq(tm_set(t, k, v), 0);
	}
	ck_hash k;
	smt_key(k, LEDGER_TABLE_ACCOUNT, p->account, 32);
	cr_assert_eq(tm_prove(t, k, &p->nsiblings, p->bits, p->siblings), 0);
	tm_root(t, p->state_root);
	p->height = 12345;
	return t;
}

static void encode(const ledger_account_proof *p, cm_wr *w)
{
	cm_wr_init(w);
	ledger_account_proof_encode(p, w);
	cr_assert_eq(cm_wr_error(w), 0);
}

Test(account_proof, verifies_and_rejects_other_claims)
{
	ledger_account_proof *p = malloc(sizeof *p), *q = malloc(sizeof *q);
	cr_assert(p && q);
	tmap *t = accounts(p, 1000, 321);
	cr_assert_eq(ledger_verify_account_proof(p), 0);

	*q = *p;
	q->balance_g++;
	cr_assert_eq(ledger_verify_account_proof(q), LEDGER_E_PROOF, "other balance");
	*q = *p;
	q->nonce++;
	cr_assert_eq(ledger_verify_account_proof(q), LEDGER_E_PROOF, "other nonce");
	*q = *p;
	q->account[5] ^= 1;
	cr_assert_eq(ledger_verify_account_proof(q), LEDGER_E_PROOF, "other account");
	*q = *p;
	q->state_root[0] ^= 1;
	cr_assert_eq(ledger_verify_account_proof(q), LEDGER_E_PROOF, "other root");
	*q = *p;
	q->siblings[0][0] ^= 1;
	cr_assert_eq(ledger_verify_account_proof(q), LEDGER_E_PROOF, "tampered sibling");
	*q = *p;
	q->nsiblings = 300;
	cr_assert_eq(ledger_verify_account_proof(q), LEDGER_E_PROOF, "too many siblings");
	/* The height is not committed to by the root; it says which header
	 * the verifier must take the root from. */
	*q = *p;
	q->height++;
	cr_assert_eq(ledger_verify_account_proof(q), 0);
	tm_free(t);
	free(p);
	free(q);
}

static size_t uint_len(uint64_t v)
{
	return v < 128 ? 1 : v < 256 ? 2 : v < 65536 ? 3 : v <= UINT32_MAX ? 5 : 9;
}

Test(account_proof, codec_round_trip)
{
	ledger_account_proof *p = malloc(sizeof *p), *q = malloc(sizeof *q);
	cr_assert(p && q);
	tmap *t = accounts(p, 200, 17);
	cm_wr w;
	encode(p, &w);
	size_t len = cm_wr_len(&w);
	const uint8_t *b = cm_wr_data(&w);
	size_t want = 1 + 34 + uint_len(p->height) + uint_len(p->balance_g) +
		      uint_len(p->nonce) + 34 + 1;
	for (uint32_t i = 0; i < p->nsiblings; i++)
		want += 1 + uint_len(p->bits[i]) + 34;
	cr_assert_eq(len, want);
	cr_assert_eq(b[0], 0x96, "fixarray of 6");
	cr_assert_eq(b[1], 0xc4, "bin8 account");
	cr_assert_eq(b[2], 32);

	memset(q, 0xee, sizeof *q);
	cr_assert_eq(ledger_account_proof_decode(b, len, q), 0);
	cr_assert_eq(memcmp(q->account, p->account, 32), 0);
	cr_assert_eq(q->height, p->height);
	cr_assert_eq(q->balance_g, p->balance_g);
	cr_assert_eq(q->nonce, p->nonce);
	cr_assert_eq(memcmp(q->state_root, p->state_root, 32), 0);
	cr_assert_eq(q->nsiblings, p->nsiblings);
	cr_assert_eq(memcmp(q->bits, p->bits, p->nsiblings), 0);
	cr_assert_eq(memcmp(q->siblings, p->siblings, p->nsiblings * 32), 0);
	cr_assert_eq(ledger_verify_account_proof(q), 0);

	/* Re-encoding the decoded proof gives the same bytes. */
	cm_wr w2;
	encode(q, &w2);
	cr_assert_eq(cm_wr_len(&w2), len);
	cr_assert_eq(memcmp(cm_wr_data(&w2), b, len), 0);
	cm_wr_free(&w2);
	cm_wr_free(&w);
	tm_free(t);
	free(p);
	free(q);
}

/* Fixed bytes, so a change of the wire form is a visible diff: account
 * 0x01.., height 2, balance 1000, nonce 3, root 0x04.., one sibling at bit
 * 200 (0xcc 0xc8) of 0x05... */
Test(account_proof, golden_bytes)
{
	ledger_account_proof *p = calloc(1, sizeof *p), *q = malloc(sizeof *q);
	cr_assert(p && q);
	memset(p->account, 1, 32);
	p->height = 2;
	p->balance_g = 1000;
	p->nonce = 3;
	memset(p->state_root, 4, 32);
	p->nsiblings = 1;
	p->bits[0] = 200;
	memset(p->siblings[0], 5, 32);
	uint8_t want[1 + 34 + 1 + 3 + 1 + 34 + 1 + 1 + 2 + 34];
	size_t o = 0;
	want[o++] = 0x96;
	want[o++] = 0xc4;
	want[o++] = 32;
	memset(want + o, 1, 32);
	o += 32;
	want[o++] = 0x02;
	want[o++] = 0xcd;
	want[o++] = 0x03;
	want[o++] = 0xe8;
	want[o++] = 0x03;
	want[o++] = 0xc4;
	want[o++] = 32;
	memset(want + o, 4, 32);
	o += 32;
	want[o++] = 0x91;
	want[o++] = 0x92;
	want[o++] = 0xcc;
	want[o++] = 200;
	want[o++] = 0xc4;
	want[o++] = 32;
	memset(want + o, 5, 32);
	o += 32;
	cr_assert_eq(o, sizeof want);

	cm_wr w;
	encode(p, &w);
	cr_assert_eq(cm_wr_len(&w), sizeof want);
	cr_assert_eq(memcmp(cm_wr_data(&w), want, sizeof want), 0);
	cr_assert_eq(ledger_account_proof_decode(want, sizeof want, q), 0);
	cr_assert_eq(q->bits[0], 200);
	cr_assert_eq(ledger_verify_account_proof(q), LEDGER_E_PROOF, "made-up hashes");
	cm_wr_free(&w);
	free(p);
	free(q);
}

static int decode(const uint8_t *b, size_t len)
{
	ledger_account_proof *q = malloc(sizeof *q);
	cr_assert_not_null(q);
	int rc = ledger_account_proof_decode(b, len, q);
	free(q);
	return rc;
}

Test(account_proof, decoder_rejects_malformed_input)
{
	ledger_account_proof *p = malloc(sizeof *p);
	cr_assert_not_null(p);
	tmap *t = accounts(p, 300, 5);
	cr_assert_geq(p->nsiblings, 3);
	cm_wr w;
	encode(p, &w);
	size_t len = cm_wr_len(&w);
	uint8_t *b = malloc(len + 1);
	cr_assert_not_null(b);
	memcpy(b, cm_wr_data(&w), len);

	for (size_t cut = 0; cut < len; cut++)
		cr_assert_eq(decode(b, cut), CM_E_TRUNCATED, "truncated at %zu", cut);
	b[len] = 0xc0;
	cr_assert_eq(decode(b, len + 1), CM_E_TRAILING);

	/* Sibling list with bits out of order, repeated, or 256. */
	cm_wr v;
	ledger_account_proof *q = malloc(sizeof *q);
	cr_assert_not_null(q);
	*q = *p;
	uint8_t tmp = q->bits[0];
	q->bits[0] = q->bits[1];
	q->bits[1] = tmp;
	cm_wr_init(&v); /* written by hand: the encoder asserts on this */
	cm_wr_array(&v, 6);
	cm_wr_bin(&v, q->account, 32);
	cm_wr_uint(&v, q->height);
	cm_wr_uint(&v, q->balance_g);
	cm_wr_uint(&v, q->nonce);
	cm_wr_bin(&v, q->state_root, 32);
	cm_wr_array(&v, 2);
	cm_wr_array(&v, 2);
	cm_wr_uint(&v, q->bits[0]);
	cm_wr_bin(&v, q->siblings[0], 32);
	cm_wr_array(&v, 2);
	cm_wr_uint(&v, q->bits[1]);
	cm_wr_bin(&v, q->siblings[1], 32);
	cr_assert_eq(decode(cm_wr_data(&v), cm_wr_len(&v)), CM_E_RANGE, "increasing bits");

	static const uint64_t bad_pairs[][2] = {{7, 7}, {256, 3}};
	for (size_t k = 0; k < 2; k++) {
		cm_wr_reset(&v);
		cm_wr_array(&v, 6);
		cm_wr_bin(&v, q->account, 32);
		cm_wr_uint(&v, 1);
		cm_wr_uint(&v, 1);
		cm_wr_uint(&v, 1);
		cm_wr_bin(&v, q->state_root, 32);
		cm_wr_array(&v, 2);
		for (int j = 0; j < 2; j++) {
			cm_wr_array(&v, 2);
			cm_wr_uint(&v, bad_pairs[k][j]);
			cm_wr_bin(&v, q->siblings[0], 32);
		}
		cr_assert_eq(decode(cm_wr_data(&v), cm_wr_len(&v)), CM_E_RANGE, "pair %zu", k);
	}

	/* 257 siblings: refused at the array header, before reading them. */
	cm_wr_reset(&v);
	cm_wr_array(&v, 6);
	cm_wr_bin(&v, q->account, 32);
	cm_wr_uint(&v, 1);
	cm_wr_uint(&v, 1);
	cm_wr_uint(&v, 1);
	cm_wr_bin(&v, q->state_root, 32);
	cm_wr_array(&v, 257);
	cr_assert_eq(decode(cm_wr_data(&v), cm_wr_len(&v)), CM_E_LIMIT);

	/* A short account, a pair of three, a seventh field. */
	cm_wr_reset(&v);
	cm_wr_array(&v, 6);
	cm_wr_bin(&v, q->account, 31);
	cr_assert_eq(decode(cm_wr_data(&v), cm_wr_len(&v)), CM_E_RANGE);
	cm_wr_reset(&v);
	cm_wr_array(&v, 6);
	cm_wr_bin(&v, q->account, 32);
	cm_wr_uint(&v, 1);
	cm_wr_uint(&v, 1);
	cm_wr_uint(&v, 1);
	cm_wr_bin(&v, q->state_root, 32);
	cm_wr_array(&v, 1);
	cm_wr_array(&v, 3);
	cr_assert_eq(decode(cm_wr_data(&v), cm_wr_len(&v)), CM_E_RANGE);
	cm_wr_reset(&v);
	cm_wr_array(&v, 7);
	cr_assert_eq(decode(cm_wr_data(&v), cm_wr_len(&v)), CM_E_RANGE);
	cr_assert_eq(decode(NULL, 0), CM_E_TRUNCATED);

	/* Every single-byte change either fails to decode or fails to verify
	 * (or, for the height, which the root does not cover, changes only
	 * the height). */
	for (size_t i = 0; i < len; i++) {
		memcpy(b, cm_wr_data(&w), len);
		b[i] ^= 0x01;
		int rc = ledger_account_proof_decode(b, len, q);
		if (rc != 0)
			continue;
		if (q->height != p->height)
			continue;
		cr_assert_eq(ledger_verify_account_proof(q), LEDGER_E_PROOF, "byte %zu", i);
	}
	cm_wr_free(&v);
	cm_wr_free(&w);
	free(b);
	free(q);
	free(p);
	tm_free(t);
}

/* ---- the leaves in a ledger's data directory ---------------------------- */

/* Opens F's closed directory with LMDB alone, runs edit in one write
 * transaction on database db: "smt" (the leaves) is in the leaves' cache,
 * the others in the main environment. */
static void raw_edit(fx *f, const char *db, void (*edit)(MDB_txn *txn, MDB_dbi dbi))
{
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	char cache[128];
	bool leaves = strcmp(db, "smt") == 0;
	snprintf(cache, sizeof cache, "%s/smt", f->dir);
	cr_assert_eq(mdb_env_create(&env), 0);
	cr_assert_eq(mdb_env_set_maxdbs(env, 16), 0);
	cr_assert_eq(mdb_env_open(env, leaves ? cache : f->dir, 0, 0600), 0);
	cr_assert_eq(mdb_txn_begin(env, NULL, 0, &txn), 0);
	cr_assert_eq(mdb_dbi_open(txn, db, 0, &dbi), 0);
	edit(txn, dbi);
	cr_assert_eq(mdb_txn_commit(txn), 0);
	mdb_env_close(env);
}

static void empty_leaves(MDB_txn *txn, MDB_dbi dbi)
{
	cr_assert_eq(mdb_drop(txn, dbi, 0), 0);
}

/* Changes the first value of "state" (every state value is hashed into a
 * leaf, so the root computed from the state changes). */
static void tamper_first_state_value(MDB_txn *txn, MDB_dbi dbi)
{
	MDB_cursor *c;
	MDB_val k, v;
	uint8_t buf[256];
	cr_assert_eq(mdb_cursor_open(txn, dbi, &c), 0);
	cr_assert_eq(mdb_cursor_get(c, &k, &v, MDB_FIRST), 0);
	cr_assert(v.mv_size > 0 && v.mv_size <= sizeof buf);
	memcpy(buf, v.mv_data, v.mv_size);
	buf[v.mv_size - 1] ^= 1;
	v.mv_data = buf;
	cr_assert_eq(mdb_cursor_put(c, &k, &v, MDB_CURRENT), 0);
	mdb_cursor_close(c);
}

static void tamper_first_leaf(MDB_txn *txn, MDB_dbi dbi)
{
	MDB_cursor *c;
	MDB_val k, v;
	uint8_t h[32];
	cr_assert_eq(mdb_cursor_open(txn, dbi, &c), 0);
	cr_assert_eq(mdb_cursor_get(c, &k, &v, MDB_FIRST), 0);
	cr_assert_eq(v.mv_size, 32);
	memcpy(h, v.mv_data, 32);
	h[0] ^= 1;
	v = (MDB_val){ 32, h };
	cr_assert_eq(mdb_cursor_put(c, &k, &v, MDB_CURRENT), 0);
	mdb_cursor_close(c);
}

static void layout_3(MDB_txn *txn, MDB_dbi dbi)
{
	uint8_t three = 3;
	MDB_val k = { 6, "layout" }, v = { 1, &three };
	cr_assert_eq(mdb_put(txn, dbi, &k, &v, 0), 0);
}

static fx F;

static void ledger_setup(void) { fx_init(&F); }
static void ledger_teardown(void) { fx_fini(&F); }

TestSuite(smt_ledger, .init = ledger_setup, .fini = ledger_teardown);

/* Genesis wrote its leaves in "smt"; reopening rebuilds the same top from
 * them alone (ledger_open compares its root with the tip's). */
Test(smt_ledger, reopen_rebuilds_the_root_from_the_leaves)
{
	ledger_info before, after;
	cr_assert_eq(ledger_get_info(F.l, &before), 0);
	ledger_close(F.l);
	F.l = NULL;
	fx_open(&F);
	cr_assert_eq(ledger_get_info(F.l, &after), 0);
	cr_assert_arr_eq(after.state_root, before.state_root, 32);
	fx_audit(&F);
}

/* The leaves are a cache: one that gives another root than the tip's is
 * rebuilt from the state, and the ledger opens at the same root. */
static void reopen_rebuilds(void (*edit)(MDB_txn *txn, MDB_dbi dbi))
{
	ledger_info before, after;
	cr_assert_eq(ledger_get_info(F.l, &before), 0);
	ledger_close(F.l);
	F.l = NULL;
	raw_edit(&F, "smt", edit);
	fx_open(&F);
	cr_assert_eq(ledger_get_info(F.l, &after), 0);
	cr_assert_arr_eq(after.state_root, before.state_root, 32);
	fx_audit(&F);
}

Test(smt_ledger, emptied_leaves_are_rebuilt) { reopen_rebuilds(empty_leaves); }

Test(smt_ledger, a_tampered_leaf_is_rebuilt) { reopen_rebuilds(tamper_first_leaf); }

/* What the rebuild cannot mend: a state that is not the tip's. */
Test(smt_ledger, a_tampered_state_is_found_when_the_leaves_are_rebuilt)
{
	ledger_close(F.l);
	F.l = NULL;
	raw_edit(&F, "state", tamper_first_state_value);
	raw_edit(&F, "smt", empty_leaves);
	ledger_options opt = { .map_bytes = (size_t)1 << 30, .nosync = true };
	cr_assert_eq(ledger_open(&F.l, F.dir, F.g, &opt), LEDGER_E_DB);
	cr_assert_null(F.l);
}

Test(smt_ledger, layout_3_directory_is_refused)
{
	ledger_close(F.l);
	F.l = NULL;
	raw_edit(&F, "chain", layout_3);
	ledger_options opt = { .map_bytes = (size_t)1 << 30, .nosync = true };
	cr_assert_eq(ledger_open(&F.l, F.dir, F.g, &opt), LEDGER_E_LAYOUT);
	cr_assert_null(F.l);
}
