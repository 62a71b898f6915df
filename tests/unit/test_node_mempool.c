/* The mempool (node/mempool.c) against a fake view: every rejection
 * reason, pipelined nonces, reap order and gaps, limits, the verified
 * signature cache, and clean-up after a commit. */
#include <criterion/criterion.h>
#include <string.h>

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
	node_mempool_config cfg = {.chain_id = CHAIN, .txs_max = txs_max,
				   .bytes_max = bytes_max, .per_sender_max = per_sender_max};
	cr_assert_eq(node_mempool_new(&mp, &cfg), 0);
}

/* ---- transactions ------------------------------------------------------- */

typedef struct txb {
	uint8_t b[4096];
	size_t len;
	ck_hash hash;
} txb;

static void finish(ledger_tx *tx, unsigned who, txb *out, const char *chain)
{
	snprintf(tx->chain_id, sizeof tx->chain_id, "%s", chain);
	memcpy(tx->sender, fv.keys[who], sizeof(ck_pubkey));
	ledger_tx_sign(tx, sks[who]);
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
	cr_assert_eq(node_mempool_reap(mp, &view, max_txs, max_bytes, out, &n), 0);
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
	u.b[u.len] = 0xc0;  /* trailing nil */
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
	bad.b[bad.len - 10] ^= 1;  /* inside the signature (approvals follow) */
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
	txb low = transfer(0, 4), first = transfer(0, 5), last = transfer(0, 5 + LIM_NONCE_WINDOW - 1);
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
	txb i0 = issue(0, 0, refs, 1), o0 = offer(0, 0), i1 = issue(1, 0, refs, 1), o2 = offer(2, 0);
	cr_assert_eq(add(&i0), NODE_E_ROLE);
	cr_assert_eq(add(&o0), NODE_E_ROLE);
	cr_assert_eq(add(&i1), 0);
	cr_assert_eq(add(&o2), 0);
	txb o1 = offer(1, 1);  /* an issuer is not a merchant */
	cr_assert_eq(add(&o1), NODE_E_ROLE);
}

Test(mempool, trip_ids)
{
	static const char *const a[] = {"a", "b"}, *const b[] = {"c", "b"}, *const rep[] = {"d", "d"},
				 *const cred[] = {"e", "f"};
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
		cr_assert_eq(memcmp(out[i].hash, want[i]->hash, sizeof(ck_hash)), 0, "position %d", i);
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
		cr_assert_eq(memcmp(out[i].hash, want[i]->hash, sizeof(ck_hash)), 0, "position %d", i);
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
	cr_assert_eq(node_mempool_precheck(mp, t.b, t.len, &view, NULL, &need), 0);
	cr_assert_not(need);
	cr_assert_eq(add(&t), 0);
	cr_assert_eq(stats().sig_verifies, 1);
	cr_assert_eq(stats().sig_cache_hits, 1);
}

Test(mempool, worker_path_precheck_verify_add_verified)
{
	txb t = transfer(0, 0);
	bool need = false;
	ck_hash h;
	cr_assert_eq(node_mempool_precheck(mp, t.b, t.len, &view, h, &need), 0);
	cr_assert(need);
	cr_assert_eq(stats().txs, 0, "precheck admits nothing");
	cr_assert_eq(node_mempool_verify(CHAIN, t.b, t.len), 0);
	cr_assert_eq(node_mempool_add_verified(mp, t.b, t.len, &view, h), 0);
	cr_assert(node_mempool_contains(mp, h));
	cr_assert(node_mempool_sig_known(mp, h));
	cr_assert_eq(stats().sig_verifies, 0, "no inline verification");

	txb bad = transfer(0, 1);
	bad.b[bad.len - 10] ^= 1;
	cr_assert_lt(node_mempool_verify(CHAIN, bad.b, bad.len), 0);
	node_mempool_note_reject(mp, LEDGER_E_BADSIG);
	cr_assert_eq(stats().rejected_badsig, 1);
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
