/*
 * Speed, memory and disk writes of the state-root map (ledger/smt.c): its
 * leaves in an LMDB database, its top in memory. For 1M and 4M keys (the
 * state of 250,000 and 1,000,000 citizens funded by one credited trip):
 * building the map in sorted batches of 100,000, rebuilding the top from
 * the leaves as ledger_open does, batches of 3,000 updates (a third of
 * them new keys) with the root after each, inside smt_begin/smt_commit and
 * a write transaction as a block applies them, proof generation and
 * checking, the resident heap of the map and the bytes each batch's commit
 * writes. Integers only. Times are the process's CPU time (one thread),
 * not wall time: the bench machines are shared, and CPU time is what "per
 * core" means; the clock is read here because this is a measurement, not a
 * rule. Commits are not synced (the fsync is the disk's cost, the same
 * per commit in any design); the bytes written are what a synced commit
 * would flush.
 *
 *   make build/bench/bench_ledger_smt && build/bench/bench_ledger_smt [N]
 *
 * N (default 4,000,000) is the larger map; the smaller is N/4. The data
 * directory is made under $TMPDIR (or /var/tmp) and removed at the end.
 * Another SMT_TOP_BITS is measured with a separate build, e.g.
 *   make BUILD=/tmp/b20 CFLAGS='-O2 -g -DSMT_TOP_BITS=20u' /tmp/b20/bench/bench_ledger_smt
 */
#include <inttypes.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <ftw.h>
#include <lmdb.h>

#include "ledger/ledger.h"
#include "ledger/smt.h"

#define BATCH      3000u
#define BATCHES    100u
#define LOAD_BATCH 100000u

static uint64_t rng_next(uint64_t *s)
{
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

/* CPU time of the process (user + system), so LMDB's page writes count. */
static uint64_t now_ns(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return ((uint64_t)ru.ru_utime.tv_sec + (uint64_t)ru.ru_stime.tv_sec) * 1000000000u +
	       ((uint64_t)ru.ru_utime.tv_usec + (uint64_t)ru.ru_stime.tv_usec) * 1000u;
}

/* kB of a /proc/self/status field, 0 if absent. */
static uint64_t status_kb(const char *field)
{
	FILE *f = fopen("/proc/self/status", "r");
	if (f == NULL)
		return 0;
	char line[256];
	size_t flen = strlen(field);
	uint64_t kb = 0;
	while (fgets(line, sizeof line, f) != NULL) {
		if (strncmp(line, field, flen) == 0 && line[flen] == ':') {
			kb = strtoull(line + flen + 1, NULL, 10);
			break;
		}
	}
	fclose(f);
	return kb;
}

/* Bytes this process has written so far (/proc/self/io wchar). */
static uint64_t written_bytes(void)
{
	FILE *f = fopen("/proc/self/io", "r");
	char line[128];
	unsigned long long w = 0;
	if (f == NULL)
		return 0;
	while (fgets(line, sizeof line, f) != NULL)
		if (sscanf(line, "wchar: %llu", &w) == 1)
			break;
	fclose(f);
	return w;
}

static uint64_t per_s(uint64_t n, uint64_t ns)
{
	return ns ? n * 1000000000u / ns : 0;
}

static void die(const char *what, int rc)
{
	fprintf(stderr, "bench_ledger_smt: %s: %d\n", what, rc);
	exit(1);
}

static int rm_cb(const char *p, const struct stat *s, int flag, struct FTW *ftw)
{
	(void)s;
	(void)flag;
	(void)ftw;
	return remove(p);
}

typedef struct env {
	char dir[256];
	MDB_env *env;
	MDB_dbi dbi;
} env;

static void env_open(env *e)
{
	const char *tmp = getenv("TMPDIR");
	snprintf(e->dir, sizeof e->dir, "%s/bench-smt-XXXXXX", tmp != NULL ? tmp : "/var/tmp");
	if (mkdtemp(e->dir) == NULL) {
		perror("mkdtemp");
		exit(1);
	}
	MDB_txn *txn;
	int rc;
	if ((rc = mdb_env_create(&e->env)) != 0 || (rc = mdb_env_set_maxdbs(e->env, 2)) != 0 ||
	    (rc = mdb_env_set_mapsize(e->env, (size_t)16 << 30)) != 0 ||
	    (rc = mdb_env_open(e->env, e->dir, MDB_NOSYNC, 0600)) != 0 ||
	    (rc = mdb_txn_begin(e->env, NULL, 0, &txn)) != 0 ||
	    (rc = mdb_dbi_open(txn, "smt", MDB_CREATE, &e->dbi)) != 0 ||
	    (rc = mdb_txn_commit(txn)) != 0)
		die("lmdb", rc);
}

static void env_close(env *e)
{
	mdb_env_close(e->env);
	nftw(e->dir, rm_cb, 8, FTW_DEPTH | FTW_PHYS);
}

static int cmp_change(const void *a, const void *b)
{
	return memcmp(((const smt_change *)a)->key, ((const smt_change *)b)->key, CK_HASH_BYTES);
}

/* One batch as a block applies it: sorted, in a write transaction, inside
 * smt_begin/smt_commit when logged. */
static void apply(env *e, smt *t, smt_change *c, size_t n, bool logged)
{
	MDB_txn *txn;
	int rc;
	qsort(c, n, sizeof *c, cmp_change);
	if ((rc = mdb_txn_begin(e->env, NULL, 0, &txn)) != 0)
		die("begin", rc);
	if (logged && (rc = smt_begin(t)) != 0)
		die("smt_begin", rc);
	if ((rc = smt_update(t, txn, c, n)) != 0)
		die("smt_update", rc);
	if ((rc = mdb_txn_commit(txn)) != 0)
		die("commit", rc);
	if (logged)
		smt_commit(t);
}

static void value_of(ck_hash v, const ck_hash k)
{
	memcpy(v, k, CK_HASH_BYTES);
	v[0] ^= 0x5a;
}

/* Builds a map of the first n keys, values derived from the keys, in
 * sorted batches of LOAD_BATCH; then rebuilds the top from the leaves in a
 * second map, as ledger_open does, and frees the first. */
static smt *build(env *e, const ck_hash *keys, size_t n)
{
	smt_change *c = malloc(LOAD_BATCH * sizeof *c);
	smt *t = NULL;
	int rc;
	if (c == NULL)
		die("malloc", -1);
	if ((rc = smt_new(&t, e->dbi)) != 0)
		die("smt_new", rc);
	uint64_t t0 = now_ns();
	for (size_t i = 0; i < n; i += LOAD_BATCH) {
		size_t m = n - i < LOAD_BATCH ? n - i : LOAD_BATCH;
		for (size_t j = 0; j < m; j++) {
			memcpy(c[j].key, keys[i + j], CK_HASH_BYTES);
			value_of(c[j].value, keys[i + j]);
			c[j].del = false;
		}
		apply(e, t, c, m, false);
	}
	uint64_t t1 = now_ns();
	ck_hash root, root2;
	smt_root(t, root);
	smt_free(t);
	free(c);

	MDB_txn *txn;
	MDB_envinfo info;
	MDB_stat st;
	uint64_t anon0 = status_kb("RssAnon");
	uint64_t t2 = now_ns();
	if ((rc = smt_new(&t, e->dbi)) != 0)
		die("smt_new", rc);
	if ((rc = mdb_txn_begin(e->env, NULL, MDB_RDONLY, &txn)) != 0)
		die("begin", rc);
	if ((rc = smt_load(t, txn)) != 0)
		die("smt_load", rc);
	uint64_t t3 = now_ns();
	if ((rc = mdb_stat(txn, e->dbi, &st)) != 0 || (rc = mdb_env_info(e->env, &info)) != 0)
		die("stat", rc);
	mdb_txn_abort(txn);
	uint64_t anon1 = status_kb("RssAnon");
	smt_root(t, root2);
	if (memcmp(root, root2, CK_HASH_BYTES) != 0 || smt_count(t) != n)
		die("the rebuilt top differs", -1);
	uint64_t pages = st.ms_branch_pages + st.ms_leaf_pages + st.ms_overflow_pages;
	printf("%zu keys, SMT_TOP_BITS %u (%.1f keys per bucket):\n", n, SMT_TOP_BITS,
	       (double)n / (double)(1u << SMT_TOP_BITS));
	printf("  build in batches of %u: %" PRIu64 " ms (%" PRIu64 " keys/s)\n", LOAD_BATCH,
	       (t1 - t0) / 1000000u, per_s(n, t1 - t0));
	printf("  rebuild of the top from the leaves (ledger_open): %" PRIu64 " ms\n",
	       (t3 - t2) / 1000000u);
	/* The top is 2^(B+1) x 32 bytes whatever n is; RssAnon shows it only
	 * if the allocator did not hand back pages already resident (the
	 * second run's figure can read +0). */
	printf("  heap of the map: the top, %u kB; RssAnon +%" PRIu64 " kB; leaves on disk: "
	       "%" PRIu64 " pages of %u bytes (%" PRIu64 " bytes/key, depth %u)\n",
	       (2u << SMT_TOP_BITS) * CK_HASH_BYTES / 1024u, anon1 - anon0, pages, st.ms_psize,
	       pages * st.ms_psize / n, st.ms_depth);
	return t;
}

/* BATCHES batches of BATCH updates (a third of them new keys, the rest
 * existing keys with a new value) + the root. */
static void updates(env *e, smt *t, const ck_hash *keys, size_t nkeys, uint64_t *s)
{
	uint64_t total_ns = 0, worst_ns = 0, written = 0;
	static smt_change c[BATCH];
	for (unsigned b = 0; b < BATCHES; b++) {
		for (unsigned i = 0; i < BATCH; i++) {
			if (i % 3 == 0)
				rng_hash(s, c[i].key);
			else
				memcpy(c[i].key, keys[rng_next(s) % nkeys], CK_HASH_BYTES);
			rng_hash(s, c[i].value);
			c[i].del = false;
		}
		/* A key drawn twice would be two changes of one key. */
		qsort(c, BATCH, sizeof *c, cmp_change);
		size_t n = 0;
		for (size_t i = 0; i < BATCH; i++)
			if (n == 0 || memcmp(c[n - 1].key, c[i].key, CK_HASH_BYTES) != 0)
				c[n++] = c[i];
		uint64_t w0 = written_bytes(), t0 = now_ns();
		apply(e, t, c, n, true);
		ck_hash root;
		smt_root(t, root);
		uint64_t dt = now_ns() - t0;
		written += written_bytes() - w0;
		total_ns += dt;
		if (dt > worst_ns)
			worst_ns = dt;
	}
	printf("  updates, %u batches of %u (1/3 new) + root, in begin/commit and a write "
	       "transaction: %" PRIu64 " updates/s\n    mean batch %" PRIu64 " us, worst %" PRIu64
	       " us; %.2f MB written per commit (%.0f pages of 4 KiB)\n",
	       BATCHES, BATCH, per_s((uint64_t)BATCHES * BATCH, total_ns), total_ns / BATCHES / 1000u,
	       worst_ns / 1000u, (double)written / 1e6 / BATCHES, (double)written / 4096.0 / BATCHES);
}

static void proofs(env *e, smt *t, const ck_hash *keys, size_t nkeys, uint64_t *s)
{
	enum { N = 20000 };
	static uint8_t bits[256];
	static ck_hash sib[256];
	ck_hash root;
	MDB_txn *txn;
	int rc;
	smt_root(t, root);
	if ((rc = mdb_txn_begin(e->env, NULL, MDB_RDONLY, &txn)) != 0)
		die("begin", rc);
	uint64_t prove_ns = 0, verify_ns = 0, depth_sum = 0;
	for (unsigned i = 0; i < N; i++) {
		const uint8_t *k = keys[rng_next(s) % nkeys];
		uint32_t n;
		uint64_t t0 = now_ns();
		rc = smt_prove(t, txn, k, &n, bits, sib);
		uint64_t t1 = now_ns();
		if (rc != 0)
			die("smt_prove", rc);
		ck_hash v;
		value_of(v, k);
		/* Keys touched by the update batches carry other values. */
		rc = smt_verify(root, k, v, n, bits, sib);
		uint64_t t2 = now_ns();
		(void)rc;
		prove_ns += t1 - t0;
		verify_ns += t2 - t1;
		depth_sum += n;
	}
	mdb_txn_abort(txn);
	printf("  proofs: prove %" PRIu64 "/s, verify %" PRIu64 "/s, mean siblings %" PRIu64
	       ".%02" PRIu64 "\n",
	       per_s(N, prove_ns), per_s(N, verify_ns), depth_sum / N, depth_sum * 100u / N % 100u);
}

static void run(const ck_hash *keys, size_t n, uint64_t *s)
{
	env e;
	env_open(&e);
	smt *t = build(&e, keys, n);
	updates(&e, t, keys, n, s);
	proofs(&e, t, keys, n, s);
	smt_free(t);
	env_close(&e);
}

int main(int argc, char **argv)
{
	size_t big = 4000000;
	if (argc > 1)
		big = (size_t)strtoull(argv[1], NULL, 10);
	setvbuf(stdout, NULL, _IOLBF, 0);
	/* Large blocks always from fresh mappings, returned when freed: the
	 * second run's heap figure must not reuse the first run's pages. */
	mallopt(M_MMAP_THRESHOLD, 1 << 20);
	if (ck_init() != 0)
		die("ck_init", -1);
	uint64_t s = 2026;
	ck_hash *keys = malloc(big * sizeof *keys);
	if (keys == NULL)
		die("malloc", -1);
	for (size_t i = 0; i < big; i++)
		rng_hash(&s, keys[i]);
	run(keys, big / 4, &s);
	run(keys, big, &s);
	free(keys);
	return 0;
}
