/*
 * Speed and memory of the state-root map (ledger/smt.c): build from scratch
 * at 1M and 2M keys, batches of 3,000 updates on a 1M-key map with the
 * root after each batch (with and without the undo log a block uses), proof
 * generation and checking, and resident memory per key. Integers only.
 * Times are the process's CPU time (one thread), not wall time: the bench
 * machines are shared, and CPU time is what "per core" means; the clock is
 * read here because this is a measurement, not a rule.
 *
 *   make build/bench/bench_ledger_smt && build/bench/bench_ledger_smt
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ledger/ledger.h"
#include "ledger/smt.h"

#define BATCH    3000u
#define BATCHES  100u
#define WARM     8u     /* keys warmed together, as st_flush() does */

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

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
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

static uint64_t per_s(uint64_t n, uint64_t ns)
{
	return ns ? n * 1000000000u / ns : 0;
}

static void die(const char *what, int rc)
{
	fprintf(stderr, "bench_ledger_smt: %s: %d\n", what, rc);
	exit(1);
}

/* Builds a map of the first n keys, values derived from the keys. */
static smt *build(const ck_hash *keys, size_t n, const char *label)
{
	uint64_t rss0 = status_kb("VmRSS"), anon0 = status_kb("RssAnon");
	uint64_t t0 = now_ns();
	smt *t = NULL;
	int rc = smt_new(&t);
	if (rc != 0)
		die("smt_new", rc);
	for (size_t i = 0; i < n; i++) {
		ck_hash v;
		memcpy(v, keys[i], CK_HASH_BYTES);
		v[0] ^= 0x5a;
		if ((rc = smt_set(t, keys[i], v)) != 0)
			die("smt_set", rc);
	}
	uint64_t t1 = now_ns();
	ck_hash root;
	smt_root(t, root);
	uint64_t t2 = now_ns();
	uint64_t rss1 = status_kb("VmRSS"), anon1 = status_kb("RssAnon");
	printf("build %s keys: inserts %" PRIu64 " ms, first root %" PRIu64 " ms, total %" PRIu64
	       " ms (%" PRIu64 " keys/s)\n",
	       label, (t1 - t0) / 1000000u, (t2 - t1) / 1000000u, (t2 - t0) / 1000000u,
	       per_s(n, t2 - t0));
	printf("  memory: VmRSS +%" PRIu64 " kB, RssAnon +%" PRIu64 " kB, %" PRIu64
	       " bytes/key (RssAnon)\n",
	       rss1 - rss0, anon1 - anon0, (anon1 - anon0) * 1024u / n);
	return t;
}

/* BATCH updates (a third of them new keys, the rest existing keys with a
 * new value), warmed WARM at a time, then the root, BATCHES times; inside
 * smt_begin/smt_commit when logged, as a block application runs. */
static void updates(smt *t, const ck_hash *keys, size_t nkeys, uint64_t *s, bool logged)
{
	uint64_t total_ns = 0, root_ns = 0;
	uint64_t worst_ns = 0;
	for (unsigned b = 0; b < BATCHES; b++) {
		ck_hash k[BATCH], v[BATCH];
		for (unsigned i = 0; i < BATCH; i++) {
			if (i % 3 == 0)
				rng_hash(s, k[i]);
			else
				memcpy(k[i], keys[rng_next(s) % nkeys], CK_HASH_BYTES);
			rng_hash(s, v[i]);
		}
		uint64_t t0 = now_ns();
		int rc;
		if (logged && (rc = smt_begin(t)) != 0)
			die("smt_begin", rc);
		for (unsigned i = 0; i < BATCH; i++) {
			if (i % WARM == 0) {
				const uint8_t *w[WARM];
				unsigned m = 0;
				for (; m < WARM && i + m < BATCH; m++)
					w[m] = k[i + m];
				smt_warm(t, w, m);
			}
			if ((rc = smt_set(t, k[i], v[i])) != 0)
				die("smt_set", rc);
		}
		ck_hash root;
		uint64_t t1 = now_ns();
		smt_root(t, root);
		if (logged)
			smt_commit(t);
		uint64_t dt = now_ns() - t0;
		root_ns += now_ns() - t1;
		total_ns += dt;
		if (dt > worst_ns)
			worst_ns = dt;
	}
	printf("updates on %zu keys, %u batches of %u (1/3 new) + root%s: %" PRIu64
	       " updates/s\n  mean batch %" PRIu64 " us (sets %" PRIu64 ", root %" PRIu64
	       "), worst %" PRIu64 " us\n",
	       nkeys, BATCHES, BATCH, logged ? " in begin/commit" : "",
	       per_s((uint64_t)BATCHES * BATCH, total_ns), total_ns / BATCHES / 1000u,
	       (total_ns - root_ns) / BATCHES / 1000u, root_ns / BATCHES / 1000u,
	       worst_ns / 1000u);
}

static void proofs(smt *t, const ck_hash *keys, size_t nkeys, uint64_t *s)
{
	enum { N = 20000 };
	static uint8_t bits[256];
	static ck_hash sib[256];
	ck_hash root;
	smt_root(t, root);
	uint64_t prove_ns = 0, verify_ns = 0, depth_sum = 0;
	for (unsigned i = 0; i < N; i++) {
		const uint8_t *k = keys[rng_next(s) % nkeys];
		uint32_t n;
		uint64_t t0 = now_ns();
		int rc = smt_prove(t, k, &n, bits, sib);
		uint64_t t1 = now_ns();
		if (rc != 0)
			die("smt_prove", rc);
		ck_hash v;
		memcpy(v, k, CK_HASH_BYTES);
		v[0] ^= 0x5a;
		/* Keys touched by the update batches carry other values. */
		rc = smt_verify(root, k, v, n, bits, sib);
		uint64_t t2 = now_ns();
		(void)rc;
		prove_ns += t1 - t0;
		verify_ns += t2 - t1;
		depth_sum += n;
	}
	printf("proofs on %zu keys: prove %" PRIu64 "/s, verify %" PRIu64
	       "/s, mean siblings %" PRIu64 ".%02" PRIu64 "\n",
	       nkeys, per_s(N, prove_ns), per_s(N, verify_ns), depth_sum / N,
	       depth_sum * 100u / N % 100u);
}

int main(int argc, char **argv)
{
	size_t big = 2000000;
	if (argc > 1)
		big = (size_t)strtoull(argv[1], NULL, 10);
	size_t small = big / 2;
	if (ck_init() != 0)
		die("ck_init", -1);
	uint64_t s = 2026;
	ck_hash *keys = malloc(big * sizeof *keys);
	if (keys == NULL)
		die("malloc", -1);
	for (size_t i = 0; i < big; i++)
		rng_hash(&s, keys[i]);

	char label[32];
	snprintf(label, sizeof label, "%zu", small);
	smt *t = build(keys, small, label);
	updates(t, keys, small, &s, false);
	updates(t, keys, small, &s, true);
	proofs(t, keys, small, &s);
	smt_free(t);

	snprintf(label, sizeof label, "%zu", big);
	t = build(keys, big, label);
	updates(t, keys, big, &s, true);
	smt_free(t);
	free(keys);
	return 0;
}
