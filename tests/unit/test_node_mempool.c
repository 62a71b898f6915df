/* The mempool (node/mempool.c) against a fake view: every rejection
 * reason, pipelined nonces, reap order and gaps, limits, the verified
 * signature cache, clean-up after a commit, and the bounds, eviction and
 * expiry of held (gapped) transactions. */
#include <criterion/criterion.h>
#include <string.h>

#include <sodium.h>

#include "node/mempool.h"

#define CHAIN "test-chain"
#define NKEYS 8

/* ---- fake committed state --------------------------------------------- */

typedef struct fake_view {
	ck_pubkey keys[NKEYS];
	ledger_account acct[NKEYS];
	ck_hash credited[16];
	unsigned ncredited;
	unsigned account_reads;
} fake_view;

static int fv_get_account(void *ctx, const ck_pubkey key, ledger_account *out)
{
	fake_view *fv = ctx;
	fv->account_reads++;
	memset(out, 0, sizeof *out);
	for (unsigned i = 0; i < NKEYS; i++)
		if (memcmp(fv->keys[i], key, sizeof(ck_pubkey)) == 0)
			*out = fv->acct[i];
	return 0;
}

static int fv_trip_credited(void *ctx, const ck_hash id, bool *credited)
{
	fake_view *fv = ctx;
	*credited = false;
	for (unsigned i = 0; i < fv->ncredited; i++)
		if (memcmp(fv->credited[i], id, sizeof(ck_hash)) == 0)
			*credited = true;
	return 0;
}

static fake_view fv;
static node_mempool_view view;
static ck_seckey sks[NKEYS];
static node_mempool *mp;

static void setup(void)
{
	cr_assert_eq(ck_init(), 0);
	memset(&fv, 0, sizeof fv);
	for (unsigned i = 0; i < NKEYS; i++) {
		uint8_t seed[CK_SEED_BYTES] = {(uint8_t)(i + 1)};
		ck_keypair_from_seed(fv.keys[i], sks[i], seed);
	}
	fv.acct[1].roles = LEDGER_ROLE_ISSUER;
	fv.acct[1].member_id = 1;
	fv.acct[2].roles = LEDGER_ROLE_MERCHANT;
	fv.acct[2].member_id = 2;
	view = (node_mempool_view){&fv, fv_get_account, fv_trip_credited};
	node_mempool_config cfg = {.chain_id = CHAIN};
	cr_assert_eq(node_mempool_new(&mp, &cfg), 0);
}

static void teardown(void)
{
	node_mempool_free(mp);
	mp = NULL;
}

static void remake(uint32_t txs_max, uint64_t bytes_max, uint32_t per_sender_max)
{
	node_mempool_free(mp);
	node_mempool_config cfg = {.chain_id = CHAIN,
	                           .txs_max = txs_max,
	                           .bytes_max = bytes_max,
	                           .per_sender_max = per_sender_max};
	cr_assert_eq(node_mempool_new(&mp, &cfg), 0);
}

/* ---- transactions ------------------------------------------------------- */

typedef struct txb {
	uint8_t b[4096];
	size_t len;
	ck_hash hash;
} txb;

static void finish_with(ledger_tx *tx, const ck_pubkey pk, const ck_seckey sk, txb *out,
                        const char *chain)
{
	snprintf(tx->chain_id, sizeof tx->chain_id, "%s", chain);
	memcpy(tx->sender, pk, sizeof(ck_pubkey));
	ledger_tx_sign(tx, sk);
	cm_wr w;
	cm_wr_init(&w);
	ledger_tx_encode(tx, &w);
	cr_assert_eq(cm_wr_error(&w), 0);
	cr_assert_leq(cm_wr_len(&w), sizeof out->b);
	memcpy(out->b, cm_wr_data(&w), cm_wr_len(&w));
	out->len = cm_wr_len(&w);
	ledger_tx_hash(out->hash, out->b, out->len);
	cm_wr_free(&w);
	ledger_tx_free(tx);
}

static void finish(ledger_tx *tx, unsigned who, txb *out, const char *chain)
{
	finish_with(tx, fv.keys[who], sks[who], out, chain);
}

static txb transfer_on(unsigned who, uint64_t nonce, uint64_t amount, const char *chain)
{
	ledger_tx *tx;
	txb out;
	cr_assert_eq(ledger_tx_new(&tx, LEDGER_TX_TRANSFER, 0), 0);
	tx->nonce = nonce;
	memcpy(tx->u.transfer.to, fv.keys[7], sizeof(ck_pubkey));
	tx->u.transfer.amount_g = amount;
	finish(tx, who, &out, chain);
	return out;
}

static txb transfer(unsigned who, uint64_t nonce)
{
	return transfer_on(who, nonce, 100, CHAIN);
}

/* A transfer from one of many keys outside the fake view (accounts that
 * read as zero: nonce 0, no roles), as an attacker makes them for free. */
typedef struct outsider {
	ck_pubkey pk;
	ck_seckey sk;
} outsider;

static void outsider_key(outsider *o, unsigned id)
{
	uint8_t seed[CK_SEED_BYTES] = {0xa0, (uint8_t)id, (uint8_t)(id >> 8)};
	ck_keypair_from_seed(o->pk, o->sk, seed);
}

static void outsider_transfer(const outsider *o, uint64_t nonce, txb *out)
{
	ledger_tx *tx;
	cr_assert_eq(ledger_tx_new(&tx, LEDGER_TX_TRANSFER, 0), 0);
	tx->nonce = nonce;
	memcpy(tx->u.transfer.to, fv.keys[7], sizeof(ck_pubkey));
	tx->u.transfer.amount_g = 1;
	finish_with(tx, o->pk, o->sk, out, CHAIN);
}

/* The worker-pool path with the signature taken as checked: these tests
 * are about the pool's bounds, not about verification cost. */
static int add_checked(const txb *t)
{
	ck_hash h;
	bool need;
	ledger_tx *dec = NULL;
	int rc = node_mempool_precheck(mp, t->b, t->len, &view, h, &need, &dec);
	if (rc == 0)
		rc = node_mempool_add_decoded(mp, t->b, t->len, dec, h, &view);
	ledger_tx_free(dec);
	return rc;
}

static txb issue(unsigned who, uint64_t nonce, const char *const *refs, unsigned n)
{
	ledger_tx *tx;
	txb out;
	cr_assert_eq(ledger_tx_new(&tx, LEDGER_TX_ISSUE, n), 0);
	tx->nonce = nonce;
	for (unsigned i = 0; i < n; i++) {
		ledger_trip *t = &tx->u.issue.trips[i];
		ledger_trip_id(t->trip_id, 1, refs[i], strlen(refs[i]));
		memcpy(t->citizen, fv.keys[6], sizeof(ck_pubkey));
		t->mode = LEDGER_MODE_METRO;
		t->distance_m = 5000;
		t->start_s = 1700000000;
		t->end_s = 1700000900;
	}
	finish(tx, who, &out, CHAIN);
	return out;
}

static txb offer(unsigned who, uint64_t nonce)
{
	ledger_tx *tx;
	txb out;
	cr_assert_eq(ledger_tx_new(&tx, LEDGER_TX_OFFER, 0), 0);
	tx->nonce = nonce;
	tx->u.offer.action = LEDGER_OFFER_PUBLISH;
	tx->u.offer.offer_id = 1;
	tx->u.offer.price_g = 500;
	tx->u.offer.stock = 10;
	strcpy(tx->u.offer.name, "metro ride");
	finish(tx, who, &out, CHAIN);
	return out;
}

static int add(const txb *t)
{
	ck_hash h;
	int rc = node_mempool_add(mp, t->b, t->len, &view, h);
	cr_assert_eq(memcmp(h, t->hash, sizeof h), 0);
	return rc;
}

static node_mempool_stats stats(void)
{
	node_mempool_stats s;
	node_mempool_get_stats(mp, &s);
	return s;
}

static uint32_t reap(node_mempool_txref *out, uint32_t max_txs, uint64_t max_bytes)
{
	uint32_t n;
	cr_assert_eq(node_mempool_reap(mp, &view, max_txs, max_bytes, UINT64_MAX, out, &n), 0);
	return n;
}

static void commit(const txb *const *txs, uint32_t n)
{
	const uint8_t *b[8];
	size_t l[8];
	for (uint32_t i = 0; i < n; i++) {
		b[i] = txs[i]->b;
		l[i] = txs[i]->len;
	}
	cr_assert_eq(node_mempool_update(mp, &view, b, l, n), 0);
}

TestSuite(mempool, .init = setup, .fini = teardown);

/* ---- admission ------------------------------------------------------------ */

Test(mempool, admits_then_rejects_duplicate)
{
	txb t = transfer(0, 0);
	cr_assert_eq(add(&t), 0);
	cr_assert(node_mempool_contains(mp, t.hash));
	cr_assert_eq(add(&t), NODE_E_DUPLICATE);
	node_mempool_stats s = stats();
	cr_assert_eq(s.txs, 1);
	cr_assert_eq(s.bytes, t.len);
	cr_assert_eq(s.admitted, 1);
	cr_assert_eq(s.rejected[NODE_MEMPOOL_E_FIRST - NODE_E_DUPLICATE], 1);
	cr_assert_str_eq(node_mempool_reason(NODE_E_DUPLICATE), "duplicate");
}

Test(mempool, rejects_malformed_wrong_chain_and_size)
{
	static const uint8_t junk[] = {0x93, 0x01, 0x02};
	cr_assert_lt(node_mempool_add(mp, junk, sizeof junk, &view, NULL), 0);
	txb t = transfer_on(0, 0, 100, "other-chain");
	cr_assert_eq(add(&t), LEDGER_E_CHAIN_ID);
	cr_assert_str_eq(node_mempool_reason(LEDGER_E_CHAIN_ID), "wrong_chain");
	txb u = transfer(0, 0);
	u.b[u.len] = 0xc0; /* trailing nil */
	cr_assert_lt(node_mempool_add(mp, u.b, u.len + 1, &view, NULL), 0);
	cr_assert_eq(node_mempool_add(mp, u.b, 0, &view, NULL), NODE_E_TX_SIZE);
	cr_assert_eq(stats().rejected_malformed, 3);
	cr_assert_eq(stats().txs, 0);
	cr_assert_eq(stats().sig_verifies, 0, "no signature checked for undecodable bytes");
}

Test(mempool, bad_signature_under_good_fields_misses_the_cache)
{
	txb good = transfer(0, 0);
	txb bad = good;
	bad.b[bad.len - 10] ^= 1; /* inside the signature (approvals follow) */
	ledger_tx_hash(bad.hash, bad.b, bad.len);
	int rc = add(&bad);
	cr_assert(rc == LEDGER_E_BADSIG || rc == CK_E_BADSIG, "rc %d", rc);
	cr_assert_str_eq(node_mempool_reason(rc), "bad_signature");
	cr_assert_not(node_mempool_sig_known(mp, bad.hash));
	cr_assert_eq(add(&good), 0);
	cr_assert_eq(stats().sig_verifies, 2);
	cr_assert_eq(stats().rejected_badsig, 1);
}

Test(mempool, nonce_window)
{
	fv.acct[0].nonce = 5;
	txb low = transfer(0, 4), first = transfer(0, 5),
	    last = transfer(0, 5 + LIM_NONCE_WINDOW - 1);
	txb high = transfer(0, 5 + LIM_NONCE_WINDOW);
	cr_assert_eq(add(&low), NODE_E_NONCE_LOW);
	cr_assert_eq(add(&high), NODE_E_NONCE_HIGH);
	cr_assert_eq(add(&first), 0);
	cr_assert_eq(add(&last), 0);
	txb again = transfer_on(0, 5, 999, CHAIN);
	cr_assert_eq(add(&again), NODE_E_NONCE_PENDING);
	cr_assert_eq(stats().sig_verifies, 2, "nonce rejections cost no verification");
}

Test(mempool, roles)
{
	static const char *const refs[] = {"r1"};
	txb i0 = issue(0, 0, refs, 1), o0 = offer(0, 0), i1 = issue(1, 0, refs, 1),
	    o2 = offer(2, 0);
	cr_assert_eq(add(&i0), NODE_E_ROLE);
	cr_assert_eq(add(&o0), NODE_E_ROLE);
	cr_assert_eq(add(&i1), 0);
	cr_assert_eq(add(&o2), 0);
	txb o1 = offer(1, 1); /* an issuer is not a merchant */
	cr_assert_eq(add(&o1), NODE_E_ROLE);
}

Test(mempool, trip_ids)
{
	static const char *const a[] = {"a", "b"}, *const b[] = {"c", "b"},
	                         *const rep[] = {"d", "d"}, *const cred[] = {"e", "f"};
	txb ta = issue(1, 0, a, 2), tb = issue(1, 1, b, 2), tr = issue(1, 1, rep, 2),
	    tc = issue(1, 1, cred, 2);
	ledger_trip_id(fv.credited[fv.ncredited++], 1, "f", 1);
	cr_assert_eq(add(&ta), 0);
	cr_assert_eq(add(&tb), NODE_E_TRIP_PENDING);
	cr_assert_eq(add(&tr), NODE_E_TRIP_REPEATED);
	cr_assert_eq(add(&tc), NODE_E_TRIP_CREDITED);
	cr_assert_eq(stats().txs, 1);
}

/* ---- limits ---------------------------------------------------------------- */

Test(mempool, total_and_per_sender_limits_reject_without_evicting)
{
	remake(3, 0, 2);
	txb a0 = transfer(0, 0), a1 = transfer(0, 1), a2 = transfer(0, 2);
	txb b0 = transfer(3, 0), c0 = transfer(4, 0);
	cr_assert_eq(add(&a0), 0);
	cr_assert_eq(add(&a1), 0);
	cr_assert_eq(add(&a2), NODE_E_SENDER_FULL);
	cr_assert_eq(add(&b0), 0);
	cr_assert_eq(add(&c0), NODE_E_MEMPOOL_FULL);
	cr_assert(node_mempool_contains(mp, a0.hash));
	cr_assert_eq(stats().txs, 3);

	remake(0, a0.len * 2, 0);
	cr_assert_eq(add(&a0), 0);
	cr_assert_eq(add(&b0), 0);
	cr_assert_eq(add(&c0), NODE_E_MEMPOOL_FULL);

	node_mempool_config cfg = {.chain_id = CHAIN, .txs_max = LIM_MEMPOOL_TXS_MAX + 1};
	node_mempool *bad;
	cr_assert_eq(node_mempool_new(&bad, &cfg), NODE_E_MP_CONFIG);
	cr_assert_null(bad);
}

/* ---- reap ------------------------------------------------------------------- */

Test(mempool, pipelined_future_nonces_wait_for_the_gap)
{
	txb t0 = transfer(0, 0), t1 = transfer(0, 1), t2 = transfer(0, 2);
	node_mempool_txref out[8];
	cr_assert_eq(add(&t2), 0);
	cr_assert_eq(add(&t1), 0);
	cr_assert_eq(reap(out, 8, UINT64_MAX), 0);
	cr_assert_eq(node_mempool_pending_nonce(mp, fv.keys[0], 0), 0);
	cr_assert_eq(add(&t0), 0);
	cr_assert_eq(node_mempool_pending_nonce(mp, fv.keys[0], 0), 3);
	cr_assert_eq(reap(out, 8, UINT64_MAX), 3);
	const txb *want[] = {&t0, &t1, &t2};
	for (int i = 0; i < 3; i++)
		cr_assert_eq(memcmp(out[i].hash, want[i]->hash, sizeof(ck_hash)), 0, "position %d",
		             i);
}

Test(mempool, reap_never_returns_a_gap)
{
	txb t0 = transfer(0, 0), t1 = transfer(0, 1), t3 = transfer(0, 3), t4 = transfer(0, 4);
	cr_assert_eq(add(&t4), 0);
	cr_assert_eq(add(&t0), 0);
	cr_assert_eq(add(&t3), 0);
	cr_assert_eq(add(&t1), 0);
	node_mempool_txref out[8];
	cr_assert_eq(reap(out, 8, UINT64_MAX), 2);
	cr_assert_eq(memcmp(out[0].hash, t0.hash, sizeof(ck_hash)), 0);
	cr_assert_eq(memcmp(out[1].hash, t1.hash, sizeof(ck_hash)), 0);
	cr_assert_eq(out[0].len, t0.len);
	cr_assert_eq(memcmp(out[0].tx, t0.b, t0.len), 0);
	/* The committed nonce moved past the run: a pending tx below it is
	 * stale and not handed out. */
	fv.acct[0].nonce = 3;
	cr_assert_eq(reap(out, 8, UINT64_MAX), 2);
	cr_assert_eq(memcmp(out[0].hash, t3.hash, sizeof(ck_hash)), 0);
}

Test(mempool, reap_round_robin_by_arrival_within_limits)
{
	txb a0 = transfer(0, 0), a1 = transfer(0, 1), a2 = transfer(0, 2);
	txb b0 = transfer(3, 0), b1 = transfer(3, 1);
	cr_assert_eq(add(&a0), 0);
	cr_assert_eq(add(&a1), 0);
	cr_assert_eq(add(&a2), 0);
	cr_assert_eq(add(&b1), 0);
	cr_assert_eq(add(&b0), 0);
	node_mempool_txref out[8];
	const txb *want[] = {&a0, &b0, &a1, &b1, &a2};
	cr_assert_eq(reap(out, 8, UINT64_MAX), 5);
	for (int i = 0; i < 5; i++)
		cr_assert_eq(memcmp(out[i].hash, want[i]->hash, sizeof(ck_hash)), 0, "position %d",
		             i);
	cr_assert_eq(reap(out, 3, UINT64_MAX), 3);
	cr_assert_eq(memcmp(out[2].hash, a1.hash, sizeof(ck_hash)), 0);
	/* Room for two transactions' bytes: the first pass fills it. */
	cr_assert_eq(reap(out, 8, a0.len + b0.len), 2);
	cr_assert_eq(memcmp(out[1].hash, b0.hash, sizeof(ck_hash)), 0);
	/* Deterministic: the same state gives the same block. */
	node_mempool_txref again[8];
	cr_assert_eq(reap(again, 8, UINT64_MAX), 5);
	cr_assert_eq(reap(out, 8, UINT64_MAX), 5);
	cr_assert_eq(memcmp(out, again, sizeof out[0] * 5), 0);
}

/* ---- verified-signature cache ------------------------------------------------- */

Test(mempool, signature_verified_once)
{
	txb t = transfer(0, 0);
	cr_assert_eq(add(&t), 0);
	cr_assert_eq(stats().sig_verifies, 1);
	cr_assert(node_mempool_sig_known(mp, t.hash));
	/* Leaves the pool (committed), then comes back (say, re-gossiped
	 * while the committed nonce is not yet visible): no new check. */
	const txb *blk[] = {&t};
	commit(blk, 1);
	cr_assert_eq(stats().txs, 0);
	cr_assert_eq(stats().removed_committed, 1);
	bool need = true;
	ledger_tx *dec = NULL;
	cr_assert_eq(node_mempool_precheck(mp, t.b, t.len, &view, NULL, &need, &dec), 0);
	cr_assert_not(need);
	cr_assert_not_null(dec);
	ledger_tx_free(dec);
	cr_assert_eq(add(&t), 0);
	cr_assert_eq(stats().sig_verifies, 1);
	cr_assert_eq(stats().sig_cache_hits, 1);
}

Test(mempool, worker_path_precheck_verify_add_decoded)
{
	txb t = transfer(0, 0);
	bool need = false;
	ck_hash h;
	ledger_tx *dec = NULL;
	cr_assert_eq(node_mempool_precheck(mp, t.b, t.len, &view, h, &need, &dec), 0);
	cr_assert(need);
	cr_assert_not_null(dec);
	cr_assert_eq(memcmp(h, t.hash, sizeof h), 0);
	cr_assert_eq(stats().txs, 0, "precheck admits nothing");
	cr_assert_eq(ledger_tx_verify_sigs(dec), 0);
	cr_assert_eq(node_mempool_add_decoded(mp, t.b, t.len, dec, h, &view), 0);
	ledger_tx_free(dec);
	cr_assert(node_mempool_contains(mp, h));
	cr_assert(node_mempool_sig_known(mp, h));
	cr_assert_eq(stats().sig_verifies, 0, "no inline verification");
	/* The same bytes again: a duplicate, found before any decoding. */
	dec = NULL;
	cr_assert_eq(node_mempool_precheck(mp, t.b, t.len, &view, h, &need, &dec),
		     NODE_E_DUPLICATE);
	cr_assert_null(dec);

	txb bad = transfer(0, 1);
	bad.b[bad.len - 10] ^= 1;
	cr_assert_eq(node_mempool_precheck(mp, bad.b, bad.len, &view, h, &need, &dec), 0);
	cr_assert_lt(ledger_tx_verify_sigs(dec), 0);
	ledger_tx_free(dec);
	node_mempool_note_reject(mp, LEDGER_E_BADSIG);
	cr_assert_eq(stats().rejected_badsig, 1);
	cr_assert_eq(stats().txs, 1);
}

Test(mempool, sig_cache_is_bounded)
{
	node_mempool_free(mp);
	node_mempool_config cfg = {.chain_id = CHAIN, .sigcache_max = 2};
	cr_assert_eq(node_mempool_new(&mp, &cfg), 0);
	ck_hash h[3];
	for (int i = 0; i < 3; i++) {
		memset(h[i], i + 1, sizeof h[i]);
		node_mempool_sig_remember(mp, h[i]);
	}
	cr_assert_not(node_mempool_sig_known(mp, h[0]));
	cr_assert(node_mempool_sig_known(mp, h[1]));
	cr_assert(node_mempool_sig_known(mp, h[2]));
	cr_assert_eq(stats().sigcache_entries, 2);
}

/* ---- after a commit -------------------------------------------------------------- */

Test(mempool, update_removes_included_and_stale)
{
	txb a0 = transfer(0, 0), a1 = transfer(0, 1), a2 = transfer(0, 2);
	txb b0 = transfer(3, 0), b0_other = transfer_on(3, 0, 7, CHAIN), c0 = transfer(4, 0);
	cr_assert_eq(add(&a0), 0);
	cr_assert_eq(add(&a1), 0);
	cr_assert_eq(add(&a2), 0);
	cr_assert_eq(add(&b0), 0);
	cr_assert_eq(add(&c0), 0);
	/* The block has a0, a1 and another transaction of sender 3 with
	 * nonce 0, which makes our b0 stale. */
	fv.acct[0].nonce = 2;
	fv.acct[3].nonce = 1;
	const txb *blk[] = {&a0, &a1, &b0_other};
	commit(blk, 3);
	cr_assert_not(node_mempool_contains(mp, a0.hash));
	cr_assert_not(node_mempool_contains(mp, a1.hash));
	cr_assert_not(node_mempool_contains(mp, b0.hash));
	cr_assert(node_mempool_contains(mp, a2.hash));
	cr_assert(node_mempool_contains(mp, c0.hash));
	node_mempool_stats s = stats();
	cr_assert_eq(s.txs, 2);
	cr_assert_eq(s.senders, 2);
	cr_assert_eq(s.removed_committed, 2);
	cr_assert_eq(s.dropped_stale, 1);
	cr_assert_eq(s.bytes, a2.len + c0.len);
	node_mempool_txref out[4];
	cr_assert_eq(reap(out, 4, UINT64_MAX), 2);
	cr_assert_eq(memcmp(out[0].hash, a2.hash, sizeof(ck_hash)), 0);
}

Test(mempool, update_drops_trips_credited_by_another_transaction)
{
	static const char *const mine[] = {"x", "y"}, *const theirs[] = {"y"};
	txb ours = issue(1, 5, mine, 2);
	fv.acct[1].nonce = 5;
	cr_assert_eq(add(&ours), 0);
	/* Another node's issue transaction, same issuer key, credits "y"
	 * under nonce 6 (our nonce 5 is not used by it). */
	fv.acct[3].roles = LEDGER_ROLE_ISSUER;
	txb other = issue(3, 0, theirs, 1);
	ledger_trip_id(fv.credited[fv.ncredited++], 1, "y", 1);
	fv.acct[3].nonce = 1;
	const txb *blk[] = {&other};
	commit(blk, 1);
	cr_assert_not(node_mempool_contains(mp, ours.hash));
	cr_assert_eq(stats().txs, 0);
	/* The trip id is free in the pool index again. */
	static const char *const x[] = {"x"};
	txb again = issue(1, 5, x, 1);
	cr_assert_eq(add(&again), 0);
}

Test(mempool, recheck_sweeps_everything)
{
	static const char *const t[] = {"t"};
	txb a0 = transfer(0, 0), i0 = issue(1, 0, t, 1), b0 = transfer(3, 0);
	cr_assert_eq(add(&a0), 0);
	cr_assert_eq(add(&i0), 0);
	cr_assert_eq(add(&b0), 0);
	fv.acct[0].nonce = 1;
	ledger_trip_id(fv.credited[fv.ncredited++], 1, "t", 1);
	cr_assert_eq(node_mempool_recheck(mp, &view), 0);
	cr_assert_eq(stats().txs, 1);
	cr_assert(node_mempool_contains(mp, b0.hash));
}

Test(mempool, many_senders_churn)
{
	/* Table growth and backward-shift deletion under churn. */
	static txb t[NKEYS - 1][40];
	unsigned n = 0;
	for (unsigned k = 0; k < NKEYS - 1; k++)
		for (unsigned i = 0; i < 40; i++) {
			t[k][i] = transfer(k, i);
			cr_assert_eq(add(&t[k][i]), 0);
			n++;
		}
	cr_assert_eq(stats().txs, n);
	for (unsigned k = 0; k < NKEYS - 1; k++)
		fv.acct[k].nonce = 20;
	cr_assert_eq(node_mempool_recheck(mp, &view), 0);
	cr_assert_eq(stats().txs, n / 2);
	for (unsigned k = 0; k < NKEYS - 1; k++)
		for (unsigned i = 0; i < 40; i++)
			cr_assert_eq(node_mempool_contains(mp, t[k][i].hash), i >= 20);
	static node_mempool_txref out[400];
	cr_assert_eq(reap(out, 400, UINT64_MAX), n / 2);
}

/* ---- held transactions ------------------------------------------------------------ */

static void remake_held(uint32_t txs_max, uint32_t held_max, uint32_t held_per_sender_max,
                        uint32_t held_blocks)
{
	node_mempool_free(mp);
	node_mempool_config cfg = {.chain_id = CHAIN,
	                           .txs_max = txs_max,
	                           .held_max = held_max,
	                           .held_per_sender_max = held_per_sender_max,
	                           .held_blocks = held_blocks};
	cr_assert_eq(node_mempool_new(&mp, &cfg), 0);
}

Test(mempool, gapped_flood_under_default_limits_leaves_room)
{
	/* The review's attack: fresh keys each sending a long run of nonces
	 * from 1, nonce 0 never sent, so nothing ever becomes ready. Under
	 * the default limits the flood stops at 64 per key and at a tenth of
	 * the pool, and an honest transfer is still admitted. */
	static txb t;
	unsigned keys = LIM_MEMPOOL_HELD_MAX / LIM_MEMPOOL_HELD_PER_SENDER_MAX + 4, admitted = 0,
	         sender_held_full = 0, other = 0;
	outsider o;
	for (unsigned k = 0; k < keys; k++) {
		outsider_key(&o, k);
		for (uint64_t nonce = 1; nonce <= LIM_MEMPOOL_HELD_PER_SENDER_MAX + 2; nonce++) {
			outsider_transfer(&o, nonce, &t);
			int rc = add_checked(&t);
			if (rc == 0)
				admitted++;
			else if (rc == NODE_E_SENDER_HELD_FULL)
				sender_held_full++;
			else
				other++;
		}
	}
	node_mempool_stats s = stats();
	cr_assert_eq(s.held, LIM_MEMPOOL_HELD_MAX);
	cr_assert_eq(s.txs, LIM_MEMPOOL_HELD_MAX, "the rest of the pool stays free");
	cr_assert_geq(sender_held_full,
	              2 * (LIM_MEMPOOL_HELD_MAX / LIM_MEMPOOL_HELD_PER_SENDER_MAX),
	              "at most 64 held per key");
	cr_assert_gt(other, 0, "the held bound was reached");
	cr_assert_gt(s.evicted_held, 0, "later keys took places from the heaviest");
	cr_assert_eq(s.rejected[NODE_MEMPOOL_E_FIRST - NODE_E_HELD_FULL], other);
	cr_assert_str_eq(node_mempool_reason(NODE_E_HELD_FULL), "held_full");
	(void)admitted;

	txb honest = transfer(0, 0);
	cr_assert_eq(add(&honest), 0);
	node_mempool_txref out[4];
	cr_assert_eq(reap(out, 4, UINT64_MAX), 1, "only the honest transfer is ready");
	cr_assert_eq(memcmp(out[0].hash, honest.hash, sizeof(ck_hash)), 0);
}

Test(mempool, full_pool_evicts_held_for_a_ready_transfer)
{
	/* A small pool: 40 txs, at most 8 held, 4 per sender. The attacker
	 * takes every held place, then fills the rest with ready ones. */
	remake_held(40, 8, 4, 0);
	static txb t;
	outsider o;
	for (unsigned k = 0; k < 6; k++) {
		outsider_key(&o, k);
		for (uint64_t nonce = 1; nonce <= 6; nonce++) {
			outsider_transfer(&o, nonce, &t);
			int rc = add_checked(&t);
			cr_assert(rc == 0 || rc == NODE_E_SENDER_HELD_FULL ||
			              rc == NODE_E_HELD_FULL,
			          "rc %d", rc);
		}
	}
	cr_assert_eq(stats().held, 8);
	for (unsigned k = 100; k < 104; k++) {
		outsider_key(&o, k);
		for (uint64_t nonce = 0; nonce < 8; nonce++) {
			outsider_transfer(&o, nonce, &t);
			cr_assert_eq(add_checked(&t), 0);
		}
	}
	cr_assert_eq(stats().txs, 40);
	uint64_t evicted = stats().evicted_held;
	/* Full: a ready transfer pushes out a held one, ... */
	txb a0 = transfer(0, 0), a1 = transfer(0, 1);
	cr_assert_eq(add(&a0), 0);
	cr_assert_eq(add(&a1), 0);
	node_mempool_stats s = stats();
	cr_assert_eq(s.txs, 40);
	cr_assert_eq(s.held, 6);
	cr_assert_eq(s.evicted_held, evicted + 2);
	/* ... a held one only takes the place of a held one of a heavier
	 * sender, ... */
	txb gap = transfer(3, 5);
	cr_assert_eq(add(&gap), 0);
	cr_assert_eq(stats().held, 6);
	cr_assert_eq(stats().txs, 40);
	/* ... and once nothing held is left, ready ones are refused, not
	 * evicted, and a held one finds no place either. */
	for (uint64_t nonce = 2; nonce < 8; nonce++) {
		txb r = transfer(0, nonce);
		cr_assert_eq(add(&r), 0);
	}
	cr_assert_eq(stats().held, 0);
	txb over = transfer(0, 8), gap2 = transfer(4, 5);
	cr_assert_eq(add(&over), NODE_E_MEMPOOL_FULL);
	cr_assert_eq(add(&gap2), NODE_E_MEMPOOL_FULL);
	cr_assert(node_mempool_contains(mp, a0.hash));
	cr_assert_eq(stats().evicted_held, evicted + 9);
	cr_assert_eq(stats().txs, 40);
}

Test(mempool, eviction_takes_the_highest_held_nonce_of_the_heaviest_sender)
{
	remake_held(6, 0, 0, 0);
	txb a2 = transfer(0, 2), a3 = transfer(0, 3), a4 = transfer(0, 4);
	txb b5 = transfer(3, 5), b6 = transfer(3, 6), c0 = transfer(4, 0);
	const txb *all[] = {&a2, &a3, &a4, &b5, &b6, &c0};
	for (int i = 0; i < 6; i++)
		cr_assert_eq(add(all[i]), 0);
	cr_assert_eq(stats().held, 5);
	/* Sender 0 holds 3: its highest nonce goes first. */
	txb d0 = transfer(5, 0);
	cr_assert_eq(add(&d0), 0);
	cr_assert_not(node_mempool_contains(mp, a4.hash));
	/* Senders 0 and 3 now hold 2 each; sender 0 reached 2 last. */
	txb d1 = transfer(5, 1);
	cr_assert_eq(add(&d1), 0);
	cr_assert_not(node_mempool_contains(mp, a3.hash));
	txb d2 = transfer(5, 2);
	cr_assert_eq(add(&d2), 0);
	cr_assert_not(node_mempool_contains(mp, b6.hash));
	cr_assert(node_mempool_contains(mp, a2.hash));
	cr_assert(node_mempool_contains(mp, b5.hash));
	cr_assert(node_mempool_contains(mp, c0.hash));
	cr_assert_eq(stats().evicted_held, 3);
	cr_assert_eq(stats().held, 2);

	/* A sender whose only entries are held sends its missing nonce into a
	 * full pool: its own held entry may be the one evicted (the sender's
	 * record is then freed and made again). */
	remake_held(2, 0, 0, 0);
	txb e2 = transfer(3, 2), e3 = transfer(3, 3), e0 = transfer(3, 0);
	cr_assert_eq(add(&e2), 0);
	cr_assert_eq(add(&e3), 0);
	cr_assert_eq(add(&e0), 0);
	cr_assert_not(node_mempool_contains(mp, e3.hash));
	cr_assert_eq(stats().txs, 2);
	cr_assert_eq(stats().senders, 1);
	cr_assert_eq(node_mempool_pending_nonce(mp, fv.keys[3], 0), 1);
}

Test(mempool, held_newcomer_evicts_only_from_a_heavier_sender)
{
	remake_held(0, 3, 0, 0);
	txb a1 = transfer(0, 1), a2 = transfer(0, 2), a3 = transfer(0, 3);
	cr_assert_eq(add(&a1), 0);
	cr_assert_eq(add(&a2), 0);
	cr_assert_eq(add(&a3), 0);
	/* Sender 3 holds nothing, sender 0 holds 3. */
	txb b1 = transfer(3, 1);
	cr_assert_eq(add(&b1), 0);
	cr_assert_not(node_mempool_contains(mp, a3.hash));
	/* Sender 0 (2 held) against the heaviest, itself: refused. */
	cr_assert_eq(add(&a3), NODE_E_HELD_FULL);
	/* Sender 3 (1 held) against sender 0 (2 held): one more place. */
	txb b2 = transfer(3, 2);
	cr_assert_eq(add(&b2), 0);
	cr_assert_not(node_mempool_contains(mp, a2.hash));
	/* Now 1 and 2: sender 3 may not take from the lighter sender 0. */
	txb b3 = transfer(3, 3);
	cr_assert_eq(add(&b3), NODE_E_HELD_FULL);
	cr_assert_eq(stats().held, 3);
	cr_assert_eq(stats().evicted_held, 2);
	/* A ready transaction is never refused for the held bound. */
	txb r0 = transfer(4, 0);
	cr_assert_eq(add(&r0), 0);
}

Test(mempool, held_per_sender_bound)
{
	remake_held(0, 0, 2, 0);
	txb a0 = transfer(0, 0), a2 = transfer(0, 2), a3 = transfer(0, 3), a4 = transfer(0, 4);
	cr_assert_eq(add(&a0), 0);
	cr_assert_eq(add(&a2), 0);
	cr_assert_eq(add(&a3), 0);
	cr_assert_eq(add(&a4), NODE_E_SENDER_HELD_FULL);
	cr_assert_str_eq(node_mempool_reason(NODE_E_SENDER_HELD_FULL), "sender_held_full");
	/* Ready ones of the same sender still come in, and filling the gap
	 * makes the held ones ready. */
	txb a1 = transfer(0, 1);
	cr_assert_eq(add(&a1), 0);
	cr_assert_eq(stats().held, 0);
	cr_assert_eq(add(&a4), 0);
	cr_assert_eq(node_mempool_pending_nonce(mp, fv.keys[0], 0), 5);
}

Test(mempool, held_transactions_expire_by_age_ready_ones_do_not)
{
	remake_held(0, 0, 0, 5);
	node_mempool_set_height(mp, 10);
	txb held = transfer(0, 2), ready = transfer(3, 0);
	txb late1 = transfer(4, 1), late0 = transfer(4, 0);
	cr_assert_eq(add(&held), 0);
	cr_assert_eq(add(&ready), 0);
	cr_assert_eq(add(&late1), 0);
	node_mempool_set_height(mp, 12);
	cr_assert_eq(add(&late0), 0, "fills the gap: both of sender 4 are ready");
	node_mempool_set_height(mp, 14);
	cr_assert_eq(stats().txs, 4, "held for 4 blocks, under the bound");
	node_mempool_set_height(mp, 15);
	cr_assert_not(node_mempool_contains(mp, held.hash));
	cr_assert(node_mempool_contains(mp, ready.hash));
	cr_assert(node_mempool_contains(mp, late1.hash));
	node_mempool_stats s = stats();
	cr_assert_eq(s.expired_held, 1);
	cr_assert_eq(s.held, 0);
	cr_assert_eq(s.senders, 2);
	node_mempool_set_height(mp, 1000);
	cr_assert_eq(stats().txs, 3, "ready transactions never expire");
	/* Age counts from the height a transaction became held. */
	txb again = transfer(0, 2);
	cr_assert_eq(add(&again), 0);
	node_mempool_set_height(mp, 1004);
	cr_assert(node_mempool_contains(mp, again.hash));
	node_mempool_set_height(mp, 1005);
	cr_assert_not(node_mempool_contains(mp, again.hash));
}

Test(mempool, reap_skips_senders_with_only_held_transactions)
{
	txb a0 = transfer(0, 0);
	cr_assert_eq(add(&a0), 0);
	for (unsigned k = 1; k < 6; k++) {
		txb g = transfer(k, 3);
		cr_assert_eq(add(&g), 0);
	}
	cr_assert_eq(stats().held, 5);
	node_mempool_txref out[8];
	unsigned before = fv.account_reads;
	cr_assert_eq(reap(out, 8, UINT64_MAX), 1);
	cr_assert_eq(fv.account_reads - before, 1, "one read, for the one ready sender");
}

Test(mempool, commit_that_drops_a_run_middle_restores_the_held_bounds)
{
	/* Issuer 1 has a ready run of four issue transactions; a block
	 * credits a trip of the second one through another issuer's
	 * transaction, so the second is dropped and the last two are held
	 * behind the gap: one more than the bound of 1 per sender. */
	remake_held(0, 0, 1, 0);
	static const char *const r0[] = {"p0"}, *const r1[] = {"p1"}, *const r2[] = {"p2"},
	                         *const r3[] = {"p3"}, *const theirs[] = {"p1"};
	txb i0 = issue(1, 0, r0, 1), i1 = issue(1, 1, r1, 1), i2 = issue(1, 2, r2, 1),
	    i3 = issue(1, 3, r3, 1);
	cr_assert_eq(add(&i0), 0);
	cr_assert_eq(add(&i1), 0);
	cr_assert_eq(add(&i2), 0);
	cr_assert_eq(add(&i3), 0);
	cr_assert_eq(stats().held, 0);
	fv.acct[3].roles = LEDGER_ROLE_ISSUER;
	txb other = issue(3, 0, theirs, 1);
	ledger_trip_id(fv.credited[fv.ncredited++], 1, "p1", 2);
	fv.acct[3].nonce = 1;
	const txb *blk[] = {&other};
	commit(blk, 1);
	cr_assert(node_mempool_contains(mp, i0.hash));
	cr_assert_not(node_mempool_contains(mp, i1.hash));
	cr_assert(node_mempool_contains(mp, i2.hash));
	cr_assert_not(node_mempool_contains(mp, i3.hash), "over the bound: the highest goes");
	node_mempool_stats s = stats();
	cr_assert_eq(s.held, 1);
	cr_assert_eq(s.evicted_held, 1);
	cr_assert_eq(s.bytes, i0.len + i2.len);
	cr_assert_eq(s.held_bytes, i2.len);
}

Test(mempool, committed_run_keeps_the_rest_ready)
{
	txb a0 = transfer(0, 0), a1 = transfer(0, 1), a2 = transfer(0, 2), a4 = transfer(0, 4);
	cr_assert_eq(add(&a0), 0);
	cr_assert_eq(add(&a1), 0);
	cr_assert_eq(add(&a2), 0);
	cr_assert_eq(add(&a4), 0);
	cr_assert_eq(stats().held, 1);
	fv.acct[0].nonce = 2;
	const txb *blk[] = {&a0, &a1};
	commit(blk, 2);
	node_mempool_stats s = stats();
	cr_assert_eq(s.txs, 2);
	cr_assert_eq(s.held, 1);
	cr_assert_eq(s.held_bytes, a4.len);
	/* Another node's transaction with nonce 2 and one with 3 commit: a2
	 * is stale and a4 becomes ready without a gap fill here. */
	txb x2 = transfer_on(0, 2, 5, CHAIN), x3 = transfer_on(0, 3, 5, CHAIN);
	fv.acct[0].nonce = 4;
	const txb *blk2[] = {&x2, &x3};
	commit(blk2, 2);
	s = stats();
	cr_assert_eq(s.txs, 1);
	cr_assert_eq(s.held, 0);
	node_mempool_txref out[2];
	cr_assert_eq(reap(out, 2, UINT64_MAX), 1);
	cr_assert_eq(memcmp(out[0].hash, a4.hash, sizeof(ck_hash)), 0);
}

Test(mempool, held_limits_default_and_bound)
{
	node_mempool_config cfg = {.chain_id = CHAIN,
	                           .held_per_sender_max = LIM_MEMPOOL_HELD_PER_SENDER_MAX + 1};
	node_mempool *bad;
	cr_assert_eq(node_mempool_new(&bad, &cfg), NODE_E_MP_CONFIG);
	cfg = (node_mempool_config){.chain_id = CHAIN, .held_blocks = LIM_MEMPOOL_HELD_BLOCKS + 1};
	cr_assert_eq(node_mempool_new(&bad, &cfg), NODE_E_MP_CONFIG);
	/* The default expiry: held at height 0, gone at LIM_MEMPOOL_HELD_BLOCKS. */
	txb g = transfer(0, 1);
	cr_assert_eq(add(&g), 0);
	node_mempool_set_height(mp, LIM_MEMPOOL_HELD_BLOCKS - 1);
	cr_assert(node_mempool_contains(mp, g.hash));
	node_mempool_set_height(mp, LIM_MEMPOOL_HELD_BLOCKS);
	cr_assert_not(node_mempool_contains(mp, g.hash));
}

Test(mempool, reap_stops_a_sender_at_the_trip_budget)
{
	static const char *const a[] = {"t1", "t2"}, *const b[] = {"t3", "t4"};
	txb i0 = issue(1, 0, a, 2), i1 = issue(1, 1, b, 2), t0 = transfer(0, 0);
	cr_assert_eq(add(&i0), 0);
	cr_assert_eq(add(&i1), 0);
	cr_assert_eq(add(&t0), 0);
	node_mempool_txref out[8];
	uint32_t n;
	/* Room for 3 trips: the first batch (2) goes in, the second (2 more)
	 * would not fit, so the issuer stops there; the transfer (no trips)
	 * still goes in. */
	cr_assert_eq(node_mempool_reap(mp, &view, 8, UINT64_MAX, 3, out, &n), 0);
	cr_assert_eq(n, 2);
	bool saw_i0 = false, saw_t0 = false;
	for (uint32_t k = 0; k < n; k++) {
		saw_i0 |= memcmp(out[k].hash, i0.hash, sizeof(ck_hash)) == 0;
		saw_t0 |= memcmp(out[k].hash, t0.hash, sizeof(ck_hash)) == 0;
	}
	cr_assert(saw_i0 && saw_t0);
	/* With room for 4, both batches. */
	cr_assert_eq(node_mempool_reap(mp, &view, 8, UINT64_MAX, 4, out, &n), 0);
	cr_assert_eq(n, 3);
}
