/*
 * What the simulated nodes stand on: a seeded PRNG, fake but unforgeable
 * (by convention) signatures that cost a SipHash instead of an Ed25519
 * verification, and an in-memory model ledger whose blocks chain by id,
 * carry the hashes of the current and next validator sets and may carry a
 * governance change of the set that takes effect two heights later.
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "tests/sim/sim.h"

/* ---- PRNG -------------------------------------------------------------- */

static uint64_t splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

void rng_seed(sim_rng *r, uint64_t seed)
{
	uint64_t x = seed;
	for (int i = 0; i < 4; i++)
		r->s[i] = splitmix64(&x);
}

static uint64_t rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

uint64_t rng_next(sim_rng *r)
{
	uint64_t *s = r->s;
	uint64_t res = rotl(s[1] * 5, 7) * 9;
	uint64_t t = s[1] << 17;
	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return res;
}

uint32_t rng_below(sim_rng *r, uint32_t n)
{
	assert(n > 0);
	return (uint32_t)(((rng_next(r) >> 32) * (uint64_t)n) >> 32);
}

bool rng_chance(sim_rng *r, uint32_t per_mille)
{
	return rng_below(r, 1000) < per_mille;
}

/* ---- fake signatures --------------------------------------------------- */

void sim_pubkey(uint32_t k, ck_pubkey out)
{
	uint64_t x = 0x51ed5eedull + k;
	for (int i = 0; i < 4; i++) {
		uint64_t v = splitmix64(&x);
		memcpy(out + 8 * i, &v, 8);
	}
}

static void fake_mac(const ck_pubkey pk, enum ck_domain dom, const char *chain,
		     const uint8_t *msg, size_t len, uint8_t out[8])
{
	uint8_t buf[2 + LIM_CHAIN_ID_BYTES_MAX + CONS_SIGN_BYTES_MAX];
	size_t cl = strlen(chain);
	assert(cl <= LIM_CHAIN_ID_BYTES_MAX);
	assert(len <= CONS_SIGN_BYTES_MAX);
	buf[0] = (uint8_t)dom;
	buf[1] = (uint8_t)cl;
	memcpy(buf + 2, chain, cl);
	memcpy(buf + 2 + cl, msg, len);
	crypto_shorthash(out, buf, 2 + cl + len, pk);
}

void sim_sign(const ck_pubkey pk, enum ck_domain dom, const char *chain, const uint8_t *msg,
	      size_t len, ck_sig sig)
{
	memset(sig, 0, CK_SIG_BYTES);
	fake_mac(pk, dom, chain, msg, len, sig);
}

static void signer_cb(void *ctx, enum ck_domain dom, const char *chain, const uint8_t *msg,
		      size_t len, ck_sig sig)
{
	sim_sign(*(const ck_pubkey *)ctx, dom, chain, msg, len, sig);
}

static int verifier_cb(void *ctx, const ck_pubkey pk, enum ck_domain dom, const char *chain,
		       const uint8_t *msg, size_t len, const ck_sig sig)
{
	(void)ctx;
	uint8_t mac[8];
	static const uint8_t zero[CK_SIG_BYTES - 8];
	if (len > CONS_SIGN_BYTES_MAX)
		return -1;
	fake_mac(pk, dom, chain, msg, len, mac);
	return memcmp(mac, sig, 8) != 0 || memcmp(sig + 8, zero, sizeof zero) != 0;
}

void sim_signer(cons_signer *s, const ck_pubkey *pk)
{
	s->ctx = (void *)pk;
	s->sign = signer_cb;
}

void sim_verifier(cons_verifier *v)
{
	v->ctx = NULL;
	v->verify = verifier_cb;
}

void sim_block_id(const uint8_t *block, size_t len, cons_id out)
{
	crypto_generichash(out, CONS_ID_BYTES, block, len, NULL, 0);
}

static void block_id_cb(void *ctx, const uint8_t *block, size_t len, cons_id out)
{
	(void)ctx;
	sim_block_id(block, len, out);
}

void sim_block_id_fn(cons_block_id_fn *f)
{
	f->ctx = NULL;
	f->id = block_id_cb;
}

/* ---- model ledger ------------------------------------------------------ */

/* Block layout (big-endian integers):
 *   0 'B' | 1 height u64 | 9 round u32 | 13 proposer key u32 | 17 prev id
 *   | 49 H(set of height) | 81 H(set of height+1) | 113 has_op u8
 *   | 114 op index u32 | 118 flags u8 (1 = invalid) | 119 salt u64
 *   | 127 ntx u8 | 128 ntx * 16 bytes of transactions */
#define BLK_HEAD 128u
#define BLK_TX 16u
#define BLK_TXS_MAX 8u

static void put_be(uint8_t *p, uint64_t v, int n)
{
	for (int i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * (n - 1 - i)));
}

static uint64_t get_be(const uint8_t *p, int n)
{
	uint64_t v = 0;
	for (int i = 0; i < n; i++)
		v = v << 8 | p[i];
	return v;
}

bool model_valset_has(const cons_valset *vs, uint32_t key)
{
	ck_pubkey pk;
	sim_pubkey(key, pk);
	return cons_valset_index(vs, pk) >= 0;
}

/* The set after a governance operation, or -1 if it does not apply. */
static int gov_apply(const cons_valset *in, const sim_gov *g, cons_valset *out)
{
	*out = *in;
	if (g->remove_key >= 0) {
		ck_pubkey pk;
		sim_pubkey((uint32_t)g->remove_key, pk);
		int i = cons_valset_index(out, pk);
		if (i < 0 || out->n == 1)
			return -1;
		memmove(out->keys[i], out->keys[i + 1], (out->n - (uint32_t)i - 1) * CK_PUBKEY_BYTES);
		out->n--;
	}
	if (g->add_key >= 0) {
		if (model_valset_has(out, (uint32_t)g->add_key) || out->n == LIM_VALIDATORS_MAX)
			return -1;
		sim_pubkey((uint32_t)g->add_key, out->keys[out->n++]);
		if (cons_valset_sort(out) != 0)
			return -1;
	}
	return 0;
}

void model_init(sim_model *m, const cons_valset *genesis, const sim_gov *gov, uint32_t ngov)
{
	memset(m, 0, sizeof *m);
	m->vs_cur = *genesis;
	m->vs_next = *genesis;
	m->gov = gov;
	m->ngov = ngov;
}

void model_free(sim_model *m)
{
	for (uint64_t h = 0; h < m->height; h++)
		free(m->decided[h]);
	free(m->decided);
	free(m->decided_len);
}

void model_build(const sim_model *m, uint64_t now_us, uint32_t proposer_key, uint32_t round,
		 uint64_t salt, bool invalid, cm_wr *w)
{
	uint8_t b[BLK_HEAD + BLK_TXS_MAX * BLK_TX];
	ck_hash hc, hn;
	uint32_t ntx = (uint32_t)(salt % (BLK_TXS_MAX + 1));
	bool op = m->gov_next < m->ngov && m->gov[m->gov_next].release_us <= now_us;
	cons_valset tmp;
	if (op && gov_apply(&m->vs_next, &m->gov[m->gov_next], &tmp) != 0)
		op = false;
	cons_valset_hash(&m->vs_cur, hc);
	cons_valset_hash(&m->vs_next, hn);
	memset(b, 0, sizeof b);
	b[0] = 'B';
	put_be(b + 1, m->height + 1, 8);
	put_be(b + 9, round, 4);
	put_be(b + 13, proposer_key, 4);
	memcpy(b + 17, m->last_id, 32);
	memcpy(b + 49, hc, 32);
	memcpy(b + 81, hn, 32);
	b[113] = op;
	put_be(b + 114, op ? m->gov_next : 0, 4);
	b[118] = invalid ? 1 : 0;
	put_be(b + 119, salt, 8);
	b[127] = (uint8_t)ntx;
	for (uint32_t i = 0; i < ntx * BLK_TX; i++)
		b[BLK_HEAD + i] = (uint8_t)(salt >> (i % 8 * 8)) ^ (uint8_t)i;
	cm_wr_raw(w, b, BLK_HEAD + ntx * BLK_TX);
}

int model_check(const sim_model *m, uint64_t height, const uint8_t *b, size_t len)
{
	ck_hash hc, hn;
	if (height != m->height + 1 || len < BLK_HEAD || b[0] != 'B')
		return -1;
	if (b[127] > BLK_TXS_MAX || len != BLK_HEAD + b[127] * BLK_TX)
		return -1;
	if (get_be(b + 1, 8) != height || memcmp(b + 17, m->last_id, 32) != 0)
		return -1;
	cons_valset_hash(&m->vs_cur, hc);
	cons_valset_hash(&m->vs_next, hn);
	if (memcmp(b + 49, hc, 32) != 0 || memcmp(b + 81, hn, 32) != 0)
		return -1;
	if (b[118] != 0 || b[113] > 1)
		return -1;
	if (b[113]) {
		cons_valset tmp;
		if (get_be(b + 114, 4) != m->gov_next || m->gov_next >= m->ngov ||
		    gov_apply(&m->vs_next, &m->gov[m->gov_next], &tmp) != 0)
			return -1;
	} else if (get_be(b + 114, 4) != 0) {
		return -1;
	}
	return 0;
}

void model_apply(sim_model *m, const uint8_t *b, size_t len, const cons_cert *cert)
{
	assert(get_be(b + 1, 8) == m->height + 1);
	cons_valset after = m->vs_next;
	if (b[113]) {
		int rc = gov_apply(&m->vs_next, &m->gov[m->gov_next], &after);
		assert(rc == 0);
		(void)rc;
		m->gov_next++;
	}
	sim_block_id(b, len, m->last_id);
	m->vs_cur = m->vs_next;
	m->vs_next = after;
	if (m->height == m->decided_cap) {
		size_t cap = m->decided_cap ? 2 * m->decided_cap : 16;
		m->decided = realloc(m->decided, cap * sizeof *m->decided);
		m->decided_len = realloc(m->decided_len, cap * sizeof *m->decided_len);
		assert(m->decided && m->decided_len);
		m->decided_cap = cap;
	}
	cm_wr w;
	cm_wr_init(&w);
	cons_decided_encode(cert, b, len, &w);
	assert(cm_wr_error(&w) == 0);
	m->decided[m->height] = malloc(cm_wr_len(&w));
	assert(m->decided[m->height]);
	memcpy(m->decided[m->height], cm_wr_data(&w), cm_wr_len(&w));
	m->decided_len[m->height] = cm_wr_len(&w);
	cm_wr_free(&w);
	m->height++;
}

/* ---- the cons_ledger interface over the model -------------------------- */

static int l_build(void *ctx, uint64_t height, const uint8_t *const *txs, const size_t *tx_lens,
		   size_t ntx, cm_wr *out)
{
	/* The model's transactions are opaque salt: the first transaction's
	 * first 8 bytes, if any. */
	sim_model *m = ctx;
	uint64_t salt = 0;
	if (height != m->height + 1)
		return -1;
	if (ntx > 0 && tx_lens[0] >= 8)
		salt = get_be(txs[0], 8);
	model_build(m, m->now_us, 0, 0, salt, false, out);
	return 0;
}

static int l_check(void *ctx, uint64_t height, const uint8_t *block, size_t len)
{
	return model_check(ctx, height, block, len);
}

static int l_apply(void *ctx, uint64_t height, const uint8_t *block, size_t len,
		   const cons_cert *cert)
{
	sim_model *m = ctx;
	if (height != m->height + 1)
		return -1;
	model_apply(m, block, len, cert);
	return 0;
}

static int l_valset(void *ctx, uint64_t height, cons_valset *out)
{
	sim_model *m = ctx;
	if (height == m->height + 1)
		*out = m->vs_cur;
	else if (height == m->height + 2)
		*out = m->vs_next;
	else
		return -1;
	return 0;
}

static int l_decided(void *ctx, uint64_t height, const uint8_t **block, size_t *len,
		     cons_cert *cert)
{
	sim_model *m = ctx;
	cons_msg msg;
	if (height == 0 || height > m->height)
		return -1;
	if (cons_msg_decode(&msg, m->decided[height - 1], m->decided_len[height - 1]) != 0)
		return -1;
	*block = msg.u.decided.block;
	*len = msg.u.decided.block_len;
	*cert = msg.u.decided.cert;
	return 0;
}

void model_ledger(cons_ledger *l, sim_model *m)
{
	l->ctx = m;
	l->build_block = l_build;
	l->check_block = l_check;
	l->apply_block = l_apply;
	l->valset = l_valset;
	l->decided = l_decided;
}
