/*
 * Shared by the ledger state and rules tests: a small city genesis built in
 * memory, deterministic keys, and a block builder that signs transactions,
 * fills the header from ledger_next_header(), checks and applies.
 */
#ifndef CARBON_TEST_LEDGER_FIXTURE_H
#define CARBON_TEST_LEDGER_FIXTURE_H

#include <criterion/criterion.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ledger/ledger.h"

#define FX_CHAIN "test-city-1"
#define FX_GENESIS_MS 1700000000000ull
#define FX_TZ (8 * 3600)
#define FX_CITIZENS 64

enum { FX_CITY = 1, FX_METRO, FX_BIKE, FX_STORE, FX_BANK, FX_AUTH, FX_NMEMBERS = FX_AUTH };

typedef struct fx_key {
	ck_pubkey pk;
	ck_seckey sk;
} fx_key;

typedef struct fx {
	char dir[64];
	ledger_genesis *g;
	ledger *l;
	fx_key member[FX_NMEMBERS + 1];  /* first key of each member */
	fx_key citizen[FX_CITIZENS];
	/* the block being built */
	ledger_block *b;
	uint32_t cap;
	uint64_t time_ms;                /* time of the next block */
} fx;

static inline void fx_keygen(fx_key *k, uint32_t a, uint32_t b)
{
	uint8_t seed[CK_SEED_BYTES] = { 0 };
	seed[0] = (uint8_t)a;
	seed[1] = (uint8_t)(a >> 8);
	seed[2] = (uint8_t)b;
	seed[3] = (uint8_t)(b >> 8);
	seed[4] = (uint8_t)(b >> 16);
	ck_keypair_from_seed(k->pk, k->sk, seed);
}

static inline void fx_member(ledger_genesis *g, fx *f, uint32_t id, const char *name, uint32_t roles,
			     uint32_t modes)
{
	ledger_member *m = &g->members[id - 1];
	m->id = id;
	snprintf(m->name, sizeof m->name, "%s", name);
	m->roles = roles;
	m->modes = modes;
	m->nkeys = 1;
	memcpy(m->keys[0], f->member[id].pk, CK_PUBKEY_BYTES);
}

static inline ledger_genesis *fx_genesis(fx *f)
{
	ledger_genesis *g = calloc(1, sizeof *g);
	cr_assert(g != NULL);
	snprintf(g->chain_id, sizeof g->chain_id, "%s", FX_CHAIN);
	g->genesis_time_ms = FX_GENESIS_MS;
	g->tz_offset_s = FX_TZ;
	g->governor_threshold = 2;
	g->nmembers = FX_NMEMBERS;
	g->members = calloc(FX_NMEMBERS, sizeof *g->members);
	cr_assert(g->members != NULL);
	fx_member(g, f, FX_CITY, "city", LEDGER_ROLE_GOVERNOR | LEDGER_ROLE_VALIDATOR, 0);
	fx_member(g, f, FX_METRO, "metro", LEDGER_ROLE_ISSUER | LEDGER_ROLE_VALIDATOR,
		  1u << LEDGER_MODE_METRO | 1u << LEDGER_MODE_BUS);
	fx_member(g, f, FX_BIKE, "bike", LEDGER_ROLE_ISSUER,
		  1u << LEDGER_MODE_CYCLE | 1u << LEDGER_MODE_WALK | 1u << LEDGER_MODE_METRO);
	fx_member(g, f, FX_STORE, "store", LEDGER_ROLE_MERCHANT, 0);
	fx_member(g, f, FX_BANK, "bank", LEDGER_ROLE_BANK | LEDGER_ROLE_GOVERNOR, 0);
	fx_member(g, f, FX_AUTH, "transit", LEDGER_ROLE_GOVERNOR, 0);
	ledger_methodology_default(&g->methodology);
	ledger_genesis_hash(g->hash, g);
	return g;
}

static inline void fx_mkdir(fx *f)
{
	snprintf(f->dir, sizeof f->dir, "/tmp/ledger-test-XXXXXX");
	cr_assert(mkdtemp(f->dir) != NULL);
}

static inline int fx_rm_cb(const char *p, const struct stat *s, int flag, struct FTW *ftw)
{
	(void)s;
	(void)flag;
	(void)ftw;
	return remove(p);
}

static inline void fx_rmdir(const char *dir) { nftw(dir, fx_rm_cb, 8, FTW_DEPTH | FTW_PHYS); }

static inline void fx_open(fx *f)
{
	ledger_options opt = { .map_bytes = (size_t)1 << 30, .nosync = true };
	int rc = ledger_open(&f->l, f->dir, f->g, &opt);
	cr_assert_eq(rc, 0, "ledger_open: %s", ledger_strerror(rc));
	ledger_info info;
	cr_assert_eq(ledger_get_info(f->l, &info), 0);
	f->time_ms = info.time_ms + 10000;
}

/* A fresh ledger in a new temporary directory. */
static inline void fx_init(fx *f)
{
	memset(f, 0, sizeof *f);
	cr_assert_eq(ck_init(), 0);
	for (uint32_t i = 1; i <= FX_NMEMBERS; i++)
		fx_keygen(&f->member[i], 1, i);
	for (uint32_t i = 0; i < FX_CITIZENS; i++)
		fx_keygen(&f->citizen[i], 2, i);
	f->g = fx_genesis(f);
	fx_mkdir(f);
	fx_open(f);
}

static inline void fx_fini(fx *f)
{
	ledger_close(f->l);
	f->l = NULL;
	ledger_block_free(f->b);
	f->b = NULL;
	fx_rmdir(f->dir);
	ledger_genesis_free(f->g);
}

static inline void fx_begin(fx *f)
{
	ledger_block_free(f->b);
	f->b = calloc(1, sizeof *f->b);
	cr_assert(f->b != NULL);
	f->cap = 0;
}

/* Next nonce of a sender: the ledger's plus its transactions already in
 * the block being built. */
static inline uint64_t fx_nonce(fx *f, const ck_pubkey pk)
{
	ledger_account a;
	cr_assert_eq(ledger_get_account(f->l, pk, &a), 0);
	uint64_t n = a.nonce;
	for (uint32_t i = 0; f->b != NULL && i < f->b->ntxs; i++) {
		ledger_tx *tx;
		cr_assert_eq(ledger_tx_decode(f->b->txs[i], f->b->tx_lens[i], FX_CHAIN, &tx), 0);
		if (memcmp(tx->sender, pk, CK_PUBKEY_BYTES) == 0)
			n++;
		ledger_tx_free(tx);
	}
	return n;
}

static inline ledger_tx *fx_tx(fx *f, uint8_t kind, const fx_key *k, uint32_t ntrips)
{
	ledger_tx *tx;
	cr_assert_eq(ledger_tx_new(&tx, kind, ntrips), 0);
	snprintf(tx->chain_id, sizeof tx->chain_id, "%s", FX_CHAIN);
	memcpy(tx->sender, k->pk, CK_PUBKEY_BYTES);
	tx->nonce = fx_nonce(f, k->pk);
	return tx;
}

/* Appends raw bytes as the block's next transaction. */
static inline void fx_add_raw(fx *f, const uint8_t *p, size_t len)
{
	if (f->b == NULL)
		fx_begin(f);
	ledger_block *b = f->b;
	if (b->ntxs == f->cap) {
		f->cap = f->cap ? 2 * f->cap : 16;
		b->txs = realloc(b->txs, f->cap * sizeof *b->txs);
		b->tx_lens = realloc(b->tx_lens, f->cap * sizeof *b->tx_lens);
		cr_assert(b->txs != NULL && b->tx_lens != NULL);
	}
	b->txs[b->ntxs] = malloc(len);
	cr_assert(b->txs[b->ntxs] != NULL);
	memcpy(b->txs[b->ntxs], p, len);
	b->tx_lens[b->ntxs] = (uint32_t)len;
	b->ntxs++;
}

/* Signs (unless presigned) and appends tx; frees it. */
static inline void fx_add(fx *f, ledger_tx *tx, const fx_key *k)
{
	if (k != NULL)
		ledger_tx_sign(tx, k->sk);
	cm_wr w;
	cm_wr_init(&w);
	ledger_tx_encode(tx, &w);
	cr_assert_eq(cm_wr_error(&w), 0);
	fx_add_raw(f, cm_wr_data(&w), cm_wr_len(&w));
	cm_wr_free(&w);
	ledger_tx_free(tx);
}

static inline void fx_transfer(fx *f, const fx_key *from, const ck_pubkey to, uint64_t amount)
{
	ledger_tx *tx = fx_tx(f, LEDGER_TX_TRANSFER, from, 0);
	memcpy(tx->u.transfer.to, to, CK_PUBKEY_BYTES);
	tx->u.transfer.amount_g = amount;
	fx_add(f, tx, from);
}

/* Fills the header for the block being built (time f->time_ms). */
static inline void fx_header(fx *f)
{
	if (f->b == NULL)
		fx_begin(f);
	ledger_info info;
	cr_assert_eq(ledger_next_header(f->l, &f->b->header), 0);
	cr_assert_eq(ledger_get_info(f->l, &info), 0);
	f->b->header.time_ms = f->time_ms;
	memcpy(f->b->header.proposer, info.valset.keys[0], CK_PUBKEY_BYTES);
	ledger_block_txs_root(f->b, f->b->header.txs_root);
}

/* Checks the block being built: the ledger_check_block code. */
static inline int fx_check(fx *f)
{
	fx_header(f);
	return ledger_check_block(f->l, f->b, NULL);
}

/* Checks and applies the block being built, expecting success; results
 * go to res if not NULL. */
static inline void fx_commit(fx *f, ledger_results *res)
{
	int rc = fx_check(f);
	cr_assert_eq(rc, 0, "check_block: %s", ledger_strerror(rc));
	ledger_results tmp;
	rc = ledger_apply_block(f->l, f->b, NULL, 0, res != NULL ? res : &tmp);
	cr_assert_eq(rc, 0, "apply_block: %s", ledger_strerror(rc));
	if (res == NULL)
		ledger_results_free(&tmp);
	ledger_block_free(f->b);
	f->b = NULL;
	f->time_ms += 10000;
}

static inline uint64_t fx_balance(fx *f, const ck_pubkey pk)
{
	ledger_account a;
	cr_assert_eq(ledger_get_account(f->l, pk, &a), 0);
	return a.balance_g;
}

static inline void fx_audit(fx *f)
{
	char msg[256];
	int rc = ledger_audit(f->l, msg, sizeof msg);
	cr_assert_eq(rc, 0, "audit: %s (%s)", msg, ledger_strerror(rc));
}

/* Block time in seconds of the block being built. */
static inline uint64_t fx_now_s(const fx *f) { return f->time_ms / 1000; }

#endif
