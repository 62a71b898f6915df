/*
 * libFuzzer target for the ledger's business rules under hostile blocks:
 * the transactions a proposer puts in a block are outside input for every
 * other validator. Each run opens a fresh ledger (LMDB in /dev/shm, no
 * sync) from a small city genesis, then applies the blocks the input
 * spells, twice over (two ledgers side by side), with signatures taken as
 * checked (ledger_check_block's sigs_verified), so the fuzzer can play
 * every member and citizen: issuers, merchants, governors.
 *
 * Properties, after every block: a block ledger_check_block accepts is
 * applied by ledger_apply_block (or the map is full); results name every
 * transaction with a known code, issue results every trip; ledger_audit
 * finds every invariant intact (supply equals the sum of balances, no trip
 * credited twice, no overlapping trips of one citizen, the state root
 * rebuilt from scratch equals the live one); and the two ledgers agree on
 * height, state root and results root (determinism).
 *
 * Input: blocks of [time step][ntxs][ntxs x (len lo, len hi, bytes)]; the
 * time step b advances the block time by b+1 seconds (b < 200) or by b-199
 * days, so claim windows, daily caps and pruning come into play. Members
 * (keys: 32 equal bytes): 1 city (validator, governor), 2 metro (validator,
 * issuer of metro, bus, rail), 3 bike share (issuer of cycle and walk), 4
 * store (merchant), 5 bank (bank, governor); threshold 2. Seeds: gen_corpus.
 */
#include <ftw.h>
#include <sys/stat.h>

#include "ledger/ledger.h"
#include "tests/fuzz/fuzz.h"

#define BLOCKS_MAX   16u
#define BLOCK_TXS    8u
#define GENESIS_MS   1767225600000ull /* 2026-01-01T00:00:00Z */
#define MAP_BYTES    ((size_t)64 << 20)

static ledger_genesis *genesis;
static char base[64];
static unsigned runs;

static void add_member(ledger_genesis *g, uint32_t id, const char *name, uint32_t roles,
		       uint32_t modes)
{
	ledger_member *m = &g->members[id - 1];
	m->id = id;
	snprintf(m->name, sizeof m->name, "%s", name);
	m->roles = roles;
	m->modes = modes;
	m->nkeys = 1;
	memset(m->keys[0], (int)id, CK_PUBKEY_BYTES);
}

static int rm_cb(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(p);
}

static void cleanup(void)
{
	nftw(base, rm_cb, 8, FTW_DEPTH | FTW_PHYS);
}

static void init(void)
{
	FUZZ_CHECK(ck_init() == 0);
	ledger_genesis *g = calloc(1, sizeof *g);
	FUZZ_CHECK(g != NULL);
	strcpy(g->chain_id, FUZZ_CHAIN);
	g->genesis_time_ms = GENESIS_MS;
	g->tz_offset_s = 8 * 3600;
	g->governor_threshold = 2;
	g->nmembers = 5;
	g->members = calloc(5, sizeof *g->members);
	FUZZ_CHECK(g->members != NULL);
	add_member(g, 1, "city", LEDGER_ROLE_VALIDATOR | LEDGER_ROLE_GOVERNOR, 0);
	add_member(g, 2, "metro", LEDGER_ROLE_VALIDATOR | LEDGER_ROLE_ISSUER,
		   1u << LEDGER_MODE_METRO | 1u << LEDGER_MODE_BUS | 1u << LEDGER_MODE_RAIL);
	add_member(g, 3, "bike", LEDGER_ROLE_ISSUER, 1u << LEDGER_MODE_CYCLE | 1u << LEDGER_MODE_WALK);
	add_member(g, 4, "store", LEDGER_ROLE_MERCHANT, 0);
	add_member(g, 5, "bank", LEDGER_ROLE_BANK | LEDGER_ROLE_GOVERNOR, 0);
	ledger_methodology_default(&g->methodology);
	ledger_genesis_hash(g->hash, g);
	genesis = g;
	const char *tmp = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
	snprintf(base, sizeof base, "%s/carbon-fuzz-ledger.XXXXXX", tmp);
	FUZZ_CHECK(mkdtemp(base) != NULL);
	atexit(cleanup);
}

static ledger *open_fresh(char *dir, size_t dirlen, int which)
{
	snprintf(dir, dirlen, "%s/%u-%d", base, runs, which);
	ledger *l;
	ledger_options opt = {.map_bytes = MAP_BYTES, .nosync = true};
	int rc = ledger_open(&l, dir, genesis, &opt);
	if (rc != 0)
		fprintf(stderr, "ledger_open: %s\n", ledger_strerror(rc));
	FUZZ_CHECK(rc == 0);
	return l;
}

static void audit(ledger *l)
{
	char msg[256] = "";
	int rc = ledger_audit(l, msg, sizeof msg);
	if (rc != 0)
		fprintf(stderr, "audit: %s (%s)\n", msg, ledger_strerror(rc));
	FUZZ_CHECK(rc == 0);
}

static void check_results(const ledger_block *b, const ledger_results *res)
{
	FUZZ_CHECK(res->ntxs == b->ntxs);
	for (uint32_t i = 0; i < res->ntxs; i++) {
		const ledger_tx_result *r = &res->r[i];
		FUZZ_CHECK(r->code <= LEDGER_R_OVERFLOW);
		for (uint32_t k = 0; k < r->ntrips; k++)
			FUZZ_CHECK(r->trip_codes[k] <= LEDGER_R_OVERFLOW);
	}
}

/* FUZZ_TRACE=1 prints each block's outcome and result codes. */
static bool trace;

/* Applies b to l; true if it was accepted. */
static bool apply(ledger *l, ledger_block *b, const bool *verified)
{
	int rc = ledger_check_block(l, b, verified);
	if (trace)
		fprintf(stderr, "block %llu: %u txs, check %s\n",
			(unsigned long long)b->header.height, b->ntxs, ledger_strerror(rc));
	if (rc != 0) {
		/* A ledger code, or a codec one from a transaction that does
		 * not decode (ledger_tx_decode passes cm_ codes through). */
		FUZZ_CHECK((rc <= -200 && rc > -300) || (rc < 0 && rc > -100));
		FUZZ_CHECK(rc != LEDGER_E_DB && rc != LEDGER_E_AUDIT);
		return false;
	}
	ledger_results res;
	rc = ledger_apply_block(l, b, NULL, 0, &res);
	if (rc == LEDGER_E_MAP_FULL)
		return false;
	if (rc != 0)
		fprintf(stderr, "apply after a passing check: %s\n", ledger_strerror(rc));
	FUZZ_CHECK(rc == 0);
	check_results(b, &res);
	for (uint32_t i = 0; trace && i < res.ntxs; i++) {
		fprintf(stderr, "  tx %u: %s, %llu g", i, ledger_result_str(res.r[i].code),
			(unsigned long long)res.r[i].credited_g);
		for (uint32_t k = 0; k < res.r[i].ntrips; k++)
			fprintf(stderr, " [%s]", ledger_result_str(res.r[i].trip_codes[k]));
		fprintf(stderr, "\n");
	}
	ledger_results_free(&res);
	return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (genesis == NULL) {
		init();
		trace = getenv("FUZZ_TRACE") != NULL;
	}
	runs++;
	char dir[2][128];
	ledger *l[2] = {open_fresh(dir[0], sizeof dir[0], 0), open_fresh(dir[1], sizeof dir[1], 1)};
	uint64_t time_ms = GENESIS_MS;
	size_t off = 0;
	bool verified[BLOCK_TXS];
	for (uint32_t i = 0; i < BLOCK_TXS; i++)
		verified[i] = true;

	for (uint32_t blk = 0; blk < BLOCKS_MAX && off + 2 <= size; blk++) {
		uint8_t step = data[off++];
		time_ms += step < 200 ? (uint64_t)(step + 1) * 1000 : (uint64_t)(step - 199) * 86400000;
		uint32_t ntxs = data[off++] % (BLOCK_TXS + 1);
		ledger_block *b = calloc(1, sizeof *b);
		FUZZ_CHECK(b != NULL);
		b->txs = calloc(BLOCK_TXS, sizeof *b->txs);
		b->tx_lens = calloc(BLOCK_TXS, sizeof *b->tx_lens);
		FUZZ_CHECK(b->txs != NULL && b->tx_lens != NULL);
		for (uint32_t i = 0; i < ntxs && off + 2 <= size; i++) {
			size_t len = data[off] | (size_t)data[off + 1] << 8;
			off += 2;
			if (len > size - off)
				len = size - off;
			b->txs[i] = malloc(len ? len : 1);
			FUZZ_CHECK(b->txs[i] != NULL);
			memcpy(b->txs[i], data + off, len);
			b->tx_lens[i] = (uint32_t)len;
			b->ntxs++;
			off += len;
		}
		ledger_info info;
		FUZZ_CHECK(ledger_next_header(l[0], &b->header) == 0);
		FUZZ_CHECK(ledger_get_info(l[0], &info) == 0);
		b->header.time_ms = time_ms;
		memcpy(b->header.proposer, info.valset.keys[0], CK_PUBKEY_BYTES);
		ledger_block_txs_root(b, b->header.txs_root);

		bool a0 = apply(l[0], b, verified);
		bool a1 = apply(l[1], b, verified);
		FUZZ_CHECK(a0 == a1);
		ledger_block_free(b);
		if (!a0)
			continue;
		audit(l[0]);
		ledger_info i0, i1;
		FUZZ_CHECK(ledger_get_info(l[0], &i0) == 0 && ledger_get_info(l[1], &i1) == 0);
		FUZZ_CHECK(i0.height == i1.height);
		FUZZ_CHECK(memcmp(i0.state_root, i1.state_root, CK_HASH_BYTES) == 0);
		FUZZ_CHECK(memcmp(i0.results_root, i1.results_root, CK_HASH_BYTES) == 0);
		FUZZ_CHECK(memcmp(i0.last_block_hash, i1.last_block_hash, CK_HASH_BYTES) == 0);
	}
	for (int k = 0; k < 2; k++) {
		ledger_close(l[k]);
		nftw(dir[k], rm_cb, 8, FTW_DEPTH | FTW_PHYS);
	}
	return 0;
}
