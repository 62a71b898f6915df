/*
 * Business rules of the ledger: acceptance and every rejection or failure
 * code of each transaction kind, block validity (nonces, signatures, chain
 * id, header fields), validator-set timing, methodology versions, pruning,
 * queries and account proofs.
 */
#include "tests/unit/ledger_fixture.h"

static fx F;
static ledger_results R;

static void setup(void) { fx_init(&F); }
static void teardown(void)
{
	ledger_results_free(&R);
	fx_fini(&F);
}

TestSuite(ledger_rules, .init = setup, .fini = teardown);

/* ---- helpers ---------------------------------------------------------------- */

static void trip_at(ledger_trip *t, uint32_t issuer, const char *ref, const ck_pubkey citizen,
		    uint8_t mode, uint32_t dist_m, uint64_t start_s, uint64_t end_s)
{
	ledger_trip_id(t->trip_id, issuer, ref, strlen(ref));
	memcpy(t->citizen, citizen, CK_PUBKEY_BYTES);
	t->mode = mode;
	t->distance_m = dist_m;
	t->start_s = start_s;
	t->end_s = end_s;
}

/* A block-time-relative metro trip of 10 km (467 g) starting `ago` seconds
 * before the block and lasting 20 minutes. */
static uint64_t T(uint64_t ago) { return fx_now_s(&F) - ago; }

static ledger_tx *issue_tx(uint32_t member, uint32_t ntrips)
{
	return fx_tx(&F, LEDGER_TX_ISSUE, &F.member[member], ntrips);
}

/* Applies the block being built and returns the result of its tx i. */
static const ledger_tx_result *commit_r(uint32_t i)
{
	ledger_results_free(&R);
	fx_commit(&F, &R);
	cr_assert(i < R.ntxs);
	return &R.r[i];
}

static void one_trip(uint32_t member, const char *ref, int citizen, uint8_t mode, uint32_t dist,
		     uint64_t start, uint64_t end)
{
	ledger_tx *tx = issue_tx(member, 1);
	trip_at(&tx->u.issue.trips[0], member, ref, F.citizen[citizen].pk, mode, dist, start, end);
	fx_add(&F, tx, &F.member[member]);
}

static uint8_t one_trip_code(uint32_t member, const char *ref, int citizen, uint8_t mode,
			     uint32_t dist, uint64_t start, uint64_t end)
{
	one_trip(member, ref, citizen, mode, dist, start, end);
	const ledger_tx_result *r = commit_r(0);
	cr_assert_eq(r->ntrips, 1);
	return r->trip_codes[0];
}

static void fund(int citizen, uint32_t trips)
{
	/* Each metro trip of 10 km credits 467 g; six fill the mode cap. */
	ledger_tx *tx = issue_tx(FX_METRO, trips);
	for (uint32_t j = 0; j < trips; j++) {
		char ref[32];
		snprintf(ref, sizeof ref, "fund-%d-%u-%llu", citizen, j, (unsigned long long)F.time_ms);
		trip_at(&tx->u.issue.trips[j], FX_METRO, ref, F.citizen[citizen].pk, LEDGER_MODE_METRO,
			10000, T(20000) + j * 1500, T(20000) + j * 1500 + 1200);
	}
	fx_add(&F, tx, &F.member[FX_METRO]);
	const ledger_tx_result *r = commit_r(0);
	cr_assert_eq(r->code, LEDGER_R_OK);
}

static ledger_tx *govern_tx(const fx_key *sender, uint8_t action)
{
	ledger_tx *tx = fx_tx(&F, LEDGER_TX_GOVERN, sender, 0);
	tx->u.govern.action = action;
	return tx;
}

static void approve_and_add(ledger_tx *tx, const fx_key *sender, const fx_key *approver)
{
	if (approver != NULL)
		cr_assert_eq(ledger_tx_approve(tx, approver->sk), 0);
	fx_add(&F, tx, sender);
}

/* ---- issue -------------------------------------------------------------------- */

Test(ledger_rules, issue_credits_from_methodology)
{
	one_trip(FX_METRO, "r1", 0, LEDGER_MODE_METRO, 10000, T(3600), T(3600) + 1200);
	const ledger_tx_result *r = commit_r(0);
	cr_assert_eq(r->code, LEDGER_R_OK);
	cr_assert_eq(r->credited_g, 467);
	cr_assert_eq(fx_balance(&F, F.citizen[0].pk), 467);

	ck_hash id;
	ledger_trip_id(id, FX_METRO, "r1", 2);
	ledger_trip_record tr;
	cr_assert_eq(ledger_get_trip(F.l, id, &tr), 0);
	cr_assert_eq(tr.credited_g, 467);
	cr_assert_eq(tr.methodology_version, 1);
	cr_assert_eq(tr.issuer_member_id, FX_METRO);
	cr_assert_eq(tr.height, 1);

	ledger_supply s;
	cr_assert_eq(ledger_get_supply(F.l, &s), 0);
	cr_assert_eq(s.issued_g, 467);
	cr_assert_eq(s.circulating_g, 467);
	cr_assert_eq(s.by_mode_g[LEDGER_MODE_METRO], 467);
	cr_assert_eq(s.trips_credited, 1);
	fx_audit(&F);
}

Test(ledger_rules, duplicate_trip_id)
{
	cr_assert_eq(one_trip_code(FX_METRO, "dup", 0, LEDGER_MODE_METRO, 10000, T(7200), T(7200) + 1200),
		     LEDGER_R_OK);
	/* Same record sent again, even with other times: credited once. */
	cr_assert_eq(one_trip_code(FX_METRO, "dup", 0, LEDGER_MODE_METRO, 10000, T(3600), T(3600) + 1200),
		     LEDGER_R_DUP_TRIP);
	/* Twice in one batch. */
	ledger_tx *tx = issue_tx(FX_METRO, 2);
	trip_at(&tx->u.issue.trips[0], FX_METRO, "dup2", F.citizen[1].pk, LEDGER_MODE_METRO, 10000,
		T(7200), T(7200) + 1200);
	trip_at(&tx->u.issue.trips[1], FX_METRO, "dup2", F.citizen[1].pk, LEDGER_MODE_METRO, 10000,
		T(3600), T(3600) + 1200);
	fx_add(&F, tx, &F.member[FX_METRO]);
	const ledger_tx_result *r = commit_r(0);
	cr_assert_eq(r->trip_codes[0], LEDGER_R_OK);
	cr_assert_eq(r->trip_codes[1], LEDGER_R_DUP_TRIP);
	cr_assert_eq(r->code, LEDGER_R_PARTIAL);
	cr_assert_eq(fx_balance(&F, F.citizen[1].pk), 467);
	fx_audit(&F);
}

Test(ledger_rules, same_physical_trip_two_operators)
{
	uint64_t s = T(7200);
	cr_assert_eq(one_trip_code(FX_METRO, "m-1", 0, LEDGER_MODE_METRO, 10000, s, s + 1200),
		     LEDGER_R_OK);
	/* The bike operator reports the same ride under its own id, times a
	 * little off: overlapping, rejected whichever operator. */
	cr_assert_eq(one_trip_code(FX_BIKE, "b-1", 0, LEDGER_MODE_METRO, 10000, s + 60, s + 1300),
		     LEDGER_R_OVERLAP);
	cr_assert_eq(one_trip_code(FX_BIKE, "b-2", 0, LEDGER_MODE_METRO, 10000, s - 600, s + 1),
		     LEDGER_R_OVERLAP);
	cr_assert_eq(one_trip_code(FX_BIKE, "b-3", 0, LEDGER_MODE_METRO, 10000, s - 100, s + 2000),
		     LEDGER_R_OVERLAP);
	/* Adjacent intervals are fine ([start, end) semantics). */
	cr_assert_eq(one_trip_code(FX_BIKE, "b-4", 0, LEDGER_MODE_METRO, 10000, s + 1200, s + 2400),
		     LEDGER_R_OK);
	cr_assert_eq(one_trip_code(FX_BIKE, "b-5", 0, LEDGER_MODE_METRO, 10000, s - 1200, s),
		     LEDGER_R_OK);
	/* Another citizen at the same time is fine. */
	cr_assert_eq(one_trip_code(FX_BIKE, "b-6", 1, LEDGER_MODE_METRO, 10000, s, s + 1200),
		     LEDGER_R_OK);
	fx_audit(&F);
}

Test(ledger_rules, mode_not_allowed)
{
	/* Metro operator may not issue cycling. */
	cr_assert_eq(one_trip_code(FX_METRO, "c", 0, LEDGER_MODE_CYCLE, 5000, T(7200), T(7200) + 1200),
		     LEDGER_R_MODE_NOT_ALLOWED);
	/* Car-pooling is disabled by the methodology. */
	cr_assert_eq(one_trip_code(FX_BIKE, "cp", 0, LEDGER_MODE_CARPOOL, 5000, T(7200), T(7200) + 1200),
		     LEDGER_R_MODE_NOT_ALLOWED);
	cr_assert_eq(fx_balance(&F, F.citizen[0].pk), 0);
}

Test(ledger_rules, daily_cap)
{
	/* Metro's cap is 2,800 g a day: five trips of 467 g, the sixth is cut
	 * to the remaining 465 g, the seventh finds nothing left. */
	ledger_tx *tx = issue_tx(FX_METRO, 7);
	uint64_t s0 = T(20000);
	for (uint32_t j = 0; j < 7; j++) {
		char ref[16];
		snprintf(ref, sizeof ref, "cap-%u", j);
		trip_at(&tx->u.issue.trips[j], FX_METRO, ref, F.citizen[0].pk, LEDGER_MODE_METRO,
			10000, s0 + j * 1500, s0 + j * 1500 + 1200);
	}
	fx_add(&F, tx, &F.member[FX_METRO]);
	const ledger_tx_result *r = commit_r(0);
	for (uint32_t j = 0; j < 6; j++)
		cr_assert_eq(r->trip_codes[j], LEDGER_R_OK, "trip %u", j);
	cr_assert_eq(r->trip_codes[6], LEDGER_R_CAP);
	cr_assert_eq(r->code, LEDGER_R_PARTIAL);
	cr_assert_eq(r->credited_g, 2800);
	cr_assert_eq(fx_balance(&F, F.citizen[0].pk), 2800);
	/* The all-modes cap (3,000 g) leaves 200 g for a bike ride that day. */
	uint64_t s1 = s0 + 7 * 1500;
	cr_assert_eq(one_trip_code(FX_BIKE, "bk", 0, LEDGER_MODE_CYCLE, 10000, s1, s1 + 1800),
		     LEDGER_R_OK);
	cr_assert_eq(fx_balance(&F, F.citizen[0].pk), 3000);
	cr_assert_eq(one_trip_code(FX_BIKE, "bk2", 0, LEDGER_MODE_CYCLE, 10000, s1 + 1800, s1 + 3600),
		     LEDGER_R_CAP);
	fx_audit(&F);
}

Test(ledger_rules, min_distance_window_and_plausibility)
{
	cr_assert_eq(one_trip_code(FX_METRO, "short", 0, LEDGER_MODE_METRO, 999, T(7200), T(7200) + 600),
		     LEDGER_R_MIN_DISTANCE);
	/* Ended more than 7 days before the block. */
	uint64_t old = T(7 * 86400 + 3600);
	cr_assert_eq(one_trip_code(FX_METRO, "old", 0, LEDGER_MODE_METRO, 10000, old, old + 1200),
		     LEDGER_R_WINDOW);
	/* Started before the window even though it ends inside. */
	uint64_t edge = T(7 * 86400 + 60);
	cr_assert_eq(one_trip_code(FX_METRO, "edge", 0, LEDGER_MODE_METRO, 10000, edge, edge + 1200),
		     LEDGER_R_WINDOW);
	/* Ends more than 10 minutes after the block. */
	uint64_t fut = fx_now_s(&F);
	cr_assert_eq(one_trip_code(FX_METRO, "fut", 0, LEDGER_MODE_METRO, 10000, fut, fut + 1200),
		     LEDGER_R_WINDOW);
	/* 10 km in a minute is 600 km/h. */
	cr_assert_eq(one_trip_code(FX_METRO, "fast", 0, LEDGER_MODE_METRO, 10000, T(7200), T(7200) + 60),
		     LEDGER_R_BAD_TRIP);
	/* Exactly the maximum speed is allowed: 10 km at 120 km/h = 300 s. */
	cr_assert_eq(one_trip_code(FX_METRO, "max", 0, LEDGER_MODE_METRO, 10000, T(7200), T(7200) + 300),
		     LEDGER_R_OK);
	cr_assert_eq(one_trip_code(FX_METRO, "inv", 0, LEDGER_MODE_METRO, 10000, T(3600), T(3600)),
		     LEDGER_R_BAD_TRIP);
	cr_assert_eq(one_trip_code(FX_METRO, "zero", 0, LEDGER_MODE_METRO, 0, T(3000), T(2000)),
		     LEDGER_R_BAD_TRIP);
}

Test(ledger_rules, batch_with_mixed_trips_credits_the_good_ones)
{
	ledger_tx *tx = issue_tx(FX_METRO, 4);
	trip_at(&tx->u.issue.trips[0], FX_METRO, "a", F.citizen[0].pk, LEDGER_MODE_METRO, 10000,
		T(9000), T(9000) + 1200);
	trip_at(&tx->u.issue.trips[1], FX_METRO, "b", F.citizen[1].pk, LEDGER_MODE_METRO, 10,
		T(9000), T(9000) + 1200);
	trip_at(&tx->u.issue.trips[2], FX_METRO, "c", F.citizen[2].pk, LEDGER_MODE_BUS, 20000,
		T(9000), T(9000) + 1800);
	trip_at(&tx->u.issue.trips[3], FX_METRO, "d", F.citizen[0].pk, LEDGER_MODE_METRO, 10000,
		T(9000) + 600, T(9000) + 1800);
	fx_add(&F, tx, &F.member[FX_METRO]);
	const ledger_tx_result *r = commit_r(0);
	cr_assert_eq(r->code, LEDGER_R_PARTIAL);
	cr_assert_eq(r->trip_codes[0], LEDGER_R_OK);
	cr_assert_eq(r->trip_codes[1], LEDGER_R_MIN_DISTANCE);
	cr_assert_eq(r->trip_codes[2], LEDGER_R_OK);
	cr_assert_eq(r->trip_codes[3], LEDGER_R_OVERLAP);
	cr_assert_eq(r->credited_g, 467 + 538);
	cr_assert_eq(fx_balance(&F, F.citizen[2].pk), 538);

	/* A batch with nothing credited carries its first trip's code, and
	 * still consumes the nonce. */
	one_trip(FX_METRO, "e", 0, LEDGER_MODE_METRO, 10, T(100), T(50));
	cr_assert_eq(commit_r(0)->code, LEDGER_R_MIN_DISTANCE);
	ledger_account a;
	cr_assert_eq(ledger_get_account(F.l, F.member[FX_METRO].pk, &a), 0);
	cr_assert_eq(a.nonce, 2);

	/* The issuer's reconciliation view of the day. */
	ledger_issued_trip it[8];
	uint32_t n;
	uint64_t next;
	int64_t day = ledger_day(T(9000), FX_TZ);
	cr_assert_eq(ledger_issuer_trips(F.l, FX_METRO, day, 0, it, 3, &n, &next), 0);
	cr_assert_eq(n, 3);
	cr_assert_eq(it[1].code, LEDGER_R_MIN_DISTANCE);
	cr_assert_neq(next, 0);
	cr_assert_eq(ledger_issuer_trips(F.l, FX_METRO, day, next, it, 8, &n, &next), 0);
	cr_assert_eq(n, 1 + (ledger_day(T(100), FX_TZ) == day));
	cr_assert_eq(it[0].code, LEDGER_R_OVERLAP);
	fx_audit(&F);
}

Test(ledger_rules, issue_needs_the_issuer_role)
{
	one_trip(FX_STORE, "x", 0, LEDGER_MODE_METRO, 10000, T(7200), T(7200) + 1200);
	const ledger_tx_result *r = commit_r(0);
	cr_assert_eq(r->code, LEDGER_R_ROLE);
	cr_assert_eq(r->trip_codes[0], LEDGER_R_ROLE);
	/* A citizen key is no issuer either. */
	ledger_tx *tx = fx_tx(&F, LEDGER_TX_ISSUE, &F.citizen[5], 1);
	trip_at(&tx->u.issue.trips[0], 0, "y", F.citizen[5].pk, LEDGER_MODE_METRO, 10000, T(7200),
		T(7200) + 1200);
	fx_add(&F, tx, &F.citizen[5]);
	cr_assert_eq(commit_r(0)->code, LEDGER_R_ROLE);
	cr_assert_eq(fx_balance(&F, F.citizen[5].pk), 0);
}

/* ---- transfer ------------------------------------------------------------------- */

Test(ledger_rules, transfer_rules)
{
	fund(0, 2); /* 934 g */
	fx_transfer(&F, &F.citizen[0], F.citizen[1].pk, 400);
	fx_transfer(&F, &F.citizen[0], F.citizen[1].pk, 600);   /* only 534 left */
	fx_transfer(&F, &F.citizen[0], F.citizen[1].pk, 0);
	fx_transfer(&F, &F.citizen[0], F.citizen[0].pk, 10);
	fx_transfer(&F, &F.citizen[1], F.citizen[2].pk, 400);   /* uses the credit just received */
	ledger_results_free(&R);
	fx_commit(&F, &R);
	cr_assert_eq(R.r[0].code, LEDGER_R_OK);
	cr_assert_eq(R.r[1].code, LEDGER_R_INSUFFICIENT);
	cr_assert_eq(R.r[2].code, LEDGER_R_ZERO);
	cr_assert_eq(R.r[3].code, LEDGER_R_SELF);
	cr_assert_eq(R.r[4].code, LEDGER_R_OK);
	cr_assert_eq(fx_balance(&F, F.citizen[0].pk), 534);
	cr_assert_eq(fx_balance(&F, F.citizen[1].pk), 0);
	cr_assert_eq(fx_balance(&F, F.citizen[2].pk), 400);
	ledger_account a;
	cr_assert_eq(ledger_get_account(F.l, F.citizen[0].pk, &a), 0);
	cr_assert_eq(a.nonce, 4, "failed transactions consume their nonce");

	/* History, newest first, with deltas. */
	ledger_history_entry h[4];
	uint32_t n;
	uint64_t next;
	cr_assert_eq(ledger_history(F.l, F.citizen[1].pk, 0, h, 4, &n, &next), 0);
	cr_assert_eq(n, 2);
	cr_assert_eq(h[0].delta_g, -400);
	cr_assert_eq(h[0].index, 4);
	cr_assert_eq(h[1].delta_g, 400);
	cr_assert_eq(next, 0);
	cr_assert_eq(ledger_history(F.l, F.citizen[0].pk, 0, h, 2, &n, &next), 0);
	cr_assert_eq(n, 2);
	cr_assert_eq(h[0].code, LEDGER_R_SELF);
	cr_assert_neq(next, 0);
	cr_assert_eq(ledger_history(F.l, F.citizen[0].pk, next, h, 4, &n, &next), 0);
	cr_assert_eq(n, 3);
	cr_assert_eq(h[1].delta_g, -400);
	cr_assert_eq(h[2].delta_g, 934);
	cr_assert_eq(h[2].kind, LEDGER_TX_ISSUE);
	/* A cursor that names none of the account's entries gives an empty
	 * page, as does an account without history. */
	cr_assert_eq(ledger_history(F.l, F.citizen[0].pk, (uint64_t)2 << 16 | 7, h, 4, &n, &next), 0);
	cr_assert_eq(n, 0);
	cr_assert_eq(next, 0);
	cr_assert_eq(ledger_history(F.l, F.citizen[9].pk, 0, h, 4, &n, &next), 0);
	cr_assert_eq(n, 0);
	cr_assert_eq(next, 0);

	ledger_tx_location loc;
	cr_assert_eq(ledger_find_tx(F.l, h[1].txhash, &loc), 0);
	cr_assert_eq(loc.height, 2);
	cr_assert_eq(loc.index, 0);
	cr_assert_eq(loc.code, LEDGER_R_OK);
	ck_hash none = { 1 };
	cr_assert_eq(ledger_find_tx(F.l, none, &loc), LEDGER_E_NOTFOUND);
	fx_audit(&F);
}

/* ---- block validity --------------------------------------------------------------- */

Test(ledger_rules, bad_nonce_makes_the_block_invalid)
{
	fund(0, 1);
	ledger_info before;
	cr_assert_eq(ledger_get_info(F.l, &before), 0);

	/* A gap. */
	ledger_tx *tx = fx_tx(&F, LEDGER_TX_TRANSFER, &F.citizen[0], 0);
	tx->nonce += 1;
	memcpy(tx->u.transfer.to, F.citizen[1].pk, CK_PUBKEY_BYTES);
	tx->u.transfer.amount_g = 1;
	fx_add(&F, tx, &F.citizen[0]);
	cr_assert_eq(fx_check(&F), LEDGER_E_NONCE);
	cr_assert_eq(ledger_apply_block(F.l, F.b, NULL, 0, NULL), LEDGER_E_NONCE);

	/* A replay of a used nonce. */
	fx_begin(&F);
	tx = fx_tx(&F, LEDGER_TX_TRANSFER, &F.citizen[0], 0);
	tx->nonce = 0;
	memcpy(tx->u.transfer.to, F.citizen[1].pk, CK_PUBKEY_BYTES);
	tx->u.transfer.amount_g = 1;
	fx_add(&F, tx, &F.citizen[0]);
	cr_assert_eq(fx_check(&F), 0);   /* citizen 0 has nonce 0: fine */
	fx_transfer(&F, &F.citizen[0], F.citizen[1].pk, 1);
	/* The same bytes twice in one block: nonce repeated. */
	fx_add_raw(&F, F.b->txs[0], F.b->tx_lens[0]);
	cr_assert_eq(fx_check(&F), LEDGER_E_NONCE);

	ledger_info after;
	cr_assert_eq(ledger_get_info(F.l, &after), 0);
	cr_assert_eq(after.height, before.height);
	cr_assert_eq(memcmp(after.state_root, before.state_root, CK_HASH_BYTES), 0);
}

Test(ledger_rules, bad_signature_makes_the_block_invalid)
{
	fund(0, 1);
	ledger_tx *tx = fx_tx(&F, LEDGER_TX_TRANSFER, &F.citizen[0], 0);
	memcpy(tx->u.transfer.to, F.citizen[1].pk, CK_PUBKEY_BYTES);
	tx->u.transfer.amount_g = 5;
	ledger_tx_sign(tx, F.citizen[0].sk);
	tx->sig[7] ^= 1;
	fx_add(&F, tx, NULL);
	cr_assert_eq(fx_check(&F), LEDGER_E_BADSIG);
	/* The caller may vouch for signatures it checked (mempool cache). */
	bool verified[1] = { true };
	cr_assert_eq(ledger_check_block(F.l, F.b, verified), 0);
}

Test(ledger_rules, wrong_chain_id_makes_the_block_invalid)
{
	ledger_tx *tx = fx_tx(&F, LEDGER_TX_TRANSFER, &F.citizen[0], 0);
	snprintf(tx->chain_id, sizeof tx->chain_id, "other-city");
	memcpy(tx->u.transfer.to, F.citizen[1].pk, CK_PUBKEY_BYTES);
	tx->u.transfer.amount_g = 5;
	fx_add(&F, tx, &F.citizen[0]);
	cr_assert_eq(fx_check(&F), LEDGER_E_CHAIN_ID);
	/* Garbage bytes do not decode either. */
	fx_begin(&F);
	uint8_t junk[3] = { 0x93, 0x01, 0x02 };
	fx_add_raw(&F, junk, sizeof junk);
	cr_assert_neq(fx_check(&F), 0);
}

Test(ledger_rules, header_fields_are_checked)
{
	fx_begin(&F);
	cr_assert_eq(fx_check(&F), 0);
	ledger_header good = F.b->header;

	F.b->header.height++;
	cr_assert_eq(ledger_check_block(F.l, F.b, NULL), LEDGER_E_HEIGHT);
	F.b->header = good;
	F.b->header.parent_hash[0] ^= 1;
	cr_assert_eq(ledger_check_block(F.l, F.b, NULL), LEDGER_E_PARENT);
	F.b->header = good;
	F.b->header.state_root[0] ^= 1;
	cr_assert_eq(ledger_check_block(F.l, F.b, NULL), LEDGER_E_ROOT);
	F.b->header = good;
	F.b->header.next_valset_hash[0] ^= 1;
	cr_assert_eq(ledger_check_block(F.l, F.b, NULL), LEDGER_E_VALSET);
	F.b->header = good;
	F.b->header.time_ms = FX_GENESIS_MS;
	cr_assert_eq(ledger_check_block(F.l, F.b, NULL), LEDGER_E_TIME);
	F.b->header = good;
	F.b->header.txs_root[0] ^= 1;
	cr_assert_eq(ledger_check_block(F.l, F.b, NULL), LEDGER_E_TXS_ROOT);
	F.b->header = good;
	memcpy(F.b->header.proposer, F.citizen[0].pk, CK_PUBKEY_BYTES);
	cr_assert_eq(ledger_check_block(F.l, F.b, NULL), LEDGER_E_BLOCK);
	F.b->header = good;
	cr_assert_eq(ledger_apply_block(F.l, F.b, (const uint8_t *)"cert", 4, NULL), 0);

	/* The next header carries the state root after block 1 (deferred). */
	ledger_info info;
	ledger_header h2;
	cr_assert_eq(ledger_get_info(F.l, &info), 0);
	cr_assert_eq(ledger_next_header(F.l, &h2), 0);
	cr_assert_eq(h2.height, 2);
	cr_assert_eq(memcmp(h2.state_root, info.state_root, CK_HASH_BYTES), 0);
	ck_hash bh;
	ledger_header_hash(bh, &good);
	cr_assert_eq(memcmp(h2.parent_hash, bh, CK_HASH_BYTES), 0);

	uint8_t *blk, *cert;
	size_t blen, clen;
	cr_assert_eq(ledger_get_block(F.l, 1, &blk, &blen, &cert, &clen), 0);
	cr_assert_eq(clen, 4);
	cr_assert_eq(memcmp(cert, "cert", 4), 0);
	ledger_block *back;
	cr_assert_eq(ledger_block_decode(blk, blen, FX_CHAIN, &back), 0);
	cr_assert_eq(back->header.height, 1);
	ledger_block_free(back);
	free(blk);
	free(cert);
	cr_assert_eq(ledger_get_block(F.l, 2, &blk, &blen, &cert, &clen), LEDGER_E_NOTFOUND);
	ledger_results res;
	cr_assert_eq(ledger_get_results(F.l, 1, &res), 0);
	cr_assert_eq(res.ntxs, 0);
	ledger_results_free(&res);
	F.time_ms += 10000;
}

/* ---- store -------------------------------------------------------------------------- */

static void offer(uint8_t action, uint64_t id, uint64_t price, uint32_t stock, uint32_t member)
{
	ledger_tx *tx = fx_tx(&F, LEDGER_TX_OFFER, &F.member[member], 0);
	tx->u.offer.action = action;
	tx->u.offer.offer_id = id;
	tx->u.offer.price_g = price;
	tx->u.offer.stock = stock;
	snprintf(tx->u.offer.name, sizeof tx->u.offer.name, "metro ride");
	snprintf(tx->u.offer.description, sizeof tx->u.offer.description, "single metro ride");
	fx_add(&F, tx, &F.member[member]);
}

static void redeem(int citizen, uint64_t id, uint64_t max_price)
{
	ledger_tx *tx = fx_tx(&F, LEDGER_TX_REDEEM, &F.citizen[citizen], 0);
	tx->u.redeem.offer_id = id;
	tx->u.redeem.max_price_g = max_price;
	fx_add(&F, tx, &F.citizen[citizen]);
}

static void refund(uint32_t member, const ck_hash receipt)
{
	ledger_tx *tx = fx_tx(&F, LEDGER_TX_REFUND, &F.member[member], 0);
	memcpy(tx->u.refund.receipt_id, receipt, CK_HASH_BYTES);
	fx_add(&F, tx, &F.member[member]);
}

Test(ledger_rules, offers_redeem_and_refund)
{
	fund(0, 2); /* 934 g */
	offer(LEDGER_OFFER_PUBLISH, 7, 300, 2, FX_STORE);
	offer(LEDGER_OFFER_PUBLISH, 7, 100, 2, FX_STORE);   /* id taken */
	offer(LEDGER_OFFER_PUBLISH, 8, 100, 1, FX_METRO);   /* not a merchant */
	offer(LEDGER_OFFER_PUBLISH, 9, 0, 1, FX_STORE);     /* zero price */
	ledger_results_free(&R);
	fx_commit(&F, &R);
	cr_assert_eq(R.r[0].code, LEDGER_R_OK);
	cr_assert_eq(R.r[1].code, LEDGER_R_OFFER_EXISTS);
	cr_assert_eq(R.r[2].code, LEDGER_R_ROLE);
	cr_assert_eq(R.r[3].code, LEDGER_R_ZERO);

	redeem(0, 7, 299);   /* price above the limit */
	redeem(0, 8, 1000);  /* no such offer */
	redeem(0, 7, 300);
	redeem(0, 7, 300);
	redeem(0, 7, 300);   /* stock exhausted */
	ledger_results_free(&R);
	fx_commit(&F, &R);
	cr_assert_eq(R.r[0].code, LEDGER_R_PRICE);
	cr_assert_eq(R.r[1].code, LEDGER_R_NO_OFFER);
	cr_assert_eq(R.r[2].code, LEDGER_R_OK);
	cr_assert_eq(R.r[3].code, LEDGER_R_OK);
	cr_assert_eq(R.r[4].code, LEDGER_R_STOCK);
	cr_assert_eq(fx_balance(&F, F.citizen[0].pk), 334);

	/* The receipt id is the redeem transaction's hash. */
	ck_hash rid;
	uint8_t *blk, *cert;
	size_t blen, clen;
	cr_assert_eq(ledger_get_block(F.l, 3, &blk, &blen, &cert, &clen), 0);
	ledger_block *b3;
	cr_assert_eq(ledger_block_decode(blk, blen, FX_CHAIN, &b3), 0);
	ledger_tx_hash(rid, b3->txs[2], b3->tx_lens[2]);
	ledger_block_free(b3);
	free(blk);
	free(cert);
	ledger_receipt rc;
	cr_assert_eq(ledger_get_receipt(F.l, rid, &rc), 0);
	cr_assert_eq(rc.price_g, 300);
	cr_assert_eq(rc.merchant_id, FX_STORE);
	cr_assert_eq(rc.refunded, false);
	ledger_offer o;
	cr_assert_eq(ledger_get_offer(F.l, 7, &o), 0);
	cr_assert_eq(o.stock, 0);

	ck_hash unknown = { 9 };
	refund(FX_STORE, unknown);
	refund(FX_METRO, rid);     /* not a merchant */
	refund(FX_STORE, rid);
	refund(FX_STORE, rid);     /* already refunded */
	ledger_results_free(&R);
	fx_commit(&F, &R);
	cr_assert_eq(R.r[0].code, LEDGER_R_NO_RECEIPT);
	cr_assert_eq(R.r[1].code, LEDGER_R_ROLE);
	cr_assert_eq(R.r[2].code, LEDGER_R_OK);
	cr_assert_eq(R.r[3].code, LEDGER_R_REFUNDED);
	cr_assert_eq(fx_balance(&F, F.citizen[0].pk), 634);
	ledger_supply s;
	cr_assert_eq(ledger_get_supply(F.l, &s), 0);
	cr_assert_eq(s.redeemed_g, 600);
	cr_assert_eq(s.refunded_g, 300);
	cr_assert_eq(s.circulating_g, 634);

	/* Update and withdraw. */
	offer(LEDGER_OFFER_UPDATE, 7, 200, 5, FX_STORE);
	offer(LEDGER_OFFER_UPDATE, 99, 200, 5, FX_STORE);
	ledger_results_free(&R);
	fx_commit(&F, &R);
	cr_assert_eq(R.r[0].code, LEDGER_R_OK);
	cr_assert_eq(R.r[1].code, LEDGER_R_NO_OFFER);
	ledger_offer list[4];
	uint32_t n;
	cr_assert_eq(ledger_list_offers(F.l, 0, list, 4, &n), 0);
	cr_assert_eq(n, 1);
	cr_assert_eq(list[0].price_g, 200);
	cr_assert_eq(list[0].stock, 5);
	offer(LEDGER_OFFER_WITHDRAW, 7, 0, 0, FX_STORE);
	redeem(0, 7, 1000);
	ledger_results_free(&R);
	fx_commit(&F, &R);
	cr_assert_eq(R.r[0].code, LEDGER_R_OK);
	cr_assert_eq(R.r[1].code, LEDGER_R_NO_OFFER);
	cr_assert_eq(ledger_list_offers(F.l, 0, list, 4, &n), 0);
	cr_assert_eq(n, 0);
	fx_audit(&F);
}

/* Hash of transaction i of the stored block at height. */
static void stored_tx_hash(uint64_t height, uint32_t i, ck_hash out)
{
	uint8_t *blk, *cert;
	size_t blen, clen;
	ledger_block *b;
	cr_assert_eq(ledger_get_block(F.l, height, &blk, &blen, &cert, &clen), 0);
	cr_assert_eq(ledger_block_decode(blk, blen, FX_CHAIN, &b), 0);
	cr_assert(i < b->ntxs);
	ledger_tx_hash(out, b->txs[i], b->tx_lens[i]);
	ledger_block_free(b);
	free(blk);
	free(cert);
}

Test(ledger_rules, receipts_by_merchant)
{
	ledger_receipt list[4];
	uint32_t n;
	uint64_t next;

	fund(0, 2); /* 934 g */
	fund(1, 1); /* 467 g */
	offer(LEDGER_OFFER_PUBLISH, 7, 100, 10, FX_STORE);
	offer(LEDGER_OFFER_PUBLISH, 8, 50, 10, FX_STORE);
	fx_commit(&F, NULL);
	ledger_info info;
	cr_assert_eq(ledger_get_info(F.l, &info), 0);
	uint64_t h1 = info.height + 1;
	redeem(0, 7, 100);
	redeem(1, 8, 50);
	redeem(1, 7, 10);    /* price above the limit: no receipt */
	fx_commit(&F, NULL);
	redeem(0, 8, 50);
	fx_commit(&F, NULL);
	ck_hash r0, r1, r2;
	stored_tx_hash(h1, 0, r0);
	stored_tx_hash(h1, 1, r1);
	stored_tx_hash(h1 + 1, 0, r2);

	/* Newest first, in pages. */
	cr_assert_eq(ledger_list_receipts(F.l, FX_STORE, 0, list, 2, &n, &next), 0);
	cr_assert_eq(n, 2);
	cr_assert_eq(memcmp(list[0].id, r2, CK_HASH_BYTES), 0);
	cr_assert_eq(list[0].height, h1 + 1);
	cr_assert_eq(list[0].offer_id, 8);
	cr_assert_eq(list[0].price_g, 50);
	cr_assert_eq(memcmp(list[0].citizen, F.citizen[0].pk, CK_PUBKEY_BYTES), 0);
	cr_assert_eq(memcmp(list[1].id, r1, CK_HASH_BYTES), 0);
	cr_assert_eq(memcmp(list[1].citizen, F.citizen[1].pk, CK_PUBKEY_BYTES), 0);
	cr_assert_eq(next, h1 << 16 | 0);
	cr_assert_eq(ledger_list_receipts(F.l, FX_STORE, next, list, 2, &n, &next), 0);
	cr_assert_eq(n, 1);
	cr_assert_eq(memcmp(list[0].id, r0, CK_HASH_BYTES), 0);
	cr_assert_eq(list[0].merchant_id, FX_STORE);
	cr_assert_eq(list[0].refunded, false);
	cr_assert_eq(next, 0);

	/* A refund shows in the listing; the merchant's own history holds its
	 * offers and refund, not the citizens' redemptions. */
	refund(FX_STORE, r0);
	fx_commit(&F, NULL);
	cr_assert_eq(ledger_list_receipts(F.l, FX_STORE, 0, list, 4, &n, &next), 0);
	cr_assert_eq(n, 3);
	cr_assert_eq(list[2].refunded, true);
	cr_assert_eq(list[0].refunded, false);
	ledger_history_entry hist[8];
	cr_assert_eq(ledger_history(F.l, F.member[FX_STORE].pk, 0, hist, 8, &n, &next), 0);
	cr_assert_eq(n, 3);
	for (uint32_t i = 0; i < n; i++)
		cr_assert_neq(hist[i].kind, LEDGER_TX_REDEEM);

	/* Other members and unknown ids have none. */
	cr_assert_eq(ledger_list_receipts(F.l, FX_METRO, 0, list, 4, &n, &next), 0);
	cr_assert_eq(n, 0);
	cr_assert_eq(next, 0);
	cr_assert_eq(ledger_list_receipts(F.l, 999, 0, list, 4, &n, &next), 0);
	cr_assert_eq(n, 0);
	fx_audit(&F);
}

/* ---- govern --------------------------------------------------------------------------- */

Test(ledger_rules, governor_threshold)
{
	fx_key nk;
	fx_keygen(&nk, 3, 1);
	/* The city alone: 1 of 2. */
	ledger_tx *tx = govern_tx(&F.member[FX_CITY], LEDGER_GOV_ADD_MEMBER);
	snprintf(tx->u.govern.name, sizeof tx->u.govern.name, "ferry");
	tx->u.govern.roles = LEDGER_ROLE_ISSUER;
	tx->u.govern.modes = 1u << LEDGER_MODE_RAIL;
	tx->u.govern.nkeys = 1;
	memcpy(tx->u.govern.keys[0], nk.pk, CK_PUBKEY_BYTES);
	approve_and_add(tx, &F.member[FX_CITY], NULL);
	cr_assert_eq(commit_r(0)->code, LEDGER_R_THRESHOLD);

	/* The city approving its own transaction still counts once. */
	tx = govern_tx(&F.member[FX_CITY], LEDGER_GOV_ADD_MEMBER);
	snprintf(tx->u.govern.name, sizeof tx->u.govern.name, "ferry");
	tx->u.govern.roles = LEDGER_ROLE_ISSUER;
	tx->u.govern.nkeys = 1;
	memcpy(tx->u.govern.keys[0], nk.pk, CK_PUBKEY_BYTES);
	approve_and_add(tx, &F.member[FX_CITY], &F.member[FX_CITY]);
	cr_assert_eq(commit_r(0)->code, LEDGER_R_THRESHOLD);

	/* An approval by a non-governor. */
	tx = govern_tx(&F.member[FX_CITY], LEDGER_GOV_ADD_MEMBER);
	snprintf(tx->u.govern.name, sizeof tx->u.govern.name, "ferry");
	tx->u.govern.roles = LEDGER_ROLE_ISSUER;
	tx->u.govern.nkeys = 1;
	memcpy(tx->u.govern.keys[0], nk.pk, CK_PUBKEY_BYTES);
	approve_and_add(tx, &F.member[FX_CITY], &F.member[FX_METRO]);
	cr_assert_eq(commit_r(0)->code, LEDGER_R_THRESHOLD);

	/* A non-governor sender. */
	tx = govern_tx(&F.member[FX_METRO], LEDGER_GOV_ADD_MEMBER);
	snprintf(tx->u.govern.name, sizeof tx->u.govern.name, "ferry");
	tx->u.govern.roles = LEDGER_ROLE_ISSUER;
	tx->u.govern.nkeys = 1;
	memcpy(tx->u.govern.keys[0], nk.pk, CK_PUBKEY_BYTES);
	approve_and_add(tx, &F.member[FX_METRO], &F.member[FX_BANK]);
	cr_assert_eq(commit_r(0)->code, LEDGER_R_ROLE);

	/* City + bank: two governor members. */
	tx = govern_tx(&F.member[FX_CITY], LEDGER_GOV_ADD_MEMBER);
	snprintf(tx->u.govern.name, sizeof tx->u.govern.name, "ferry");
	tx->u.govern.roles = LEDGER_ROLE_ISSUER;
	tx->u.govern.modes = 1u << LEDGER_MODE_RAIL;
	tx->u.govern.nkeys = 1;
	memcpy(tx->u.govern.keys[0], nk.pk, CK_PUBKEY_BYTES);
	approve_and_add(tx, &F.member[FX_CITY], &F.member[FX_BANK]);
	cr_assert_eq(commit_r(0)->code, LEDGER_R_OK);
	ledger_member m;
	cr_assert_eq(ledger_get_member(F.l, FX_NMEMBERS + 1, &m), 0);
	cr_assert_str_eq(m.name, "ferry");
	ledger_account a;
	cr_assert_eq(ledger_get_account(F.l, nk.pk, &a), 0);
	cr_assert_eq(a.member_id, FX_NMEMBERS + 1);
	cr_assert_eq(a.roles, LEDGER_ROLE_ISSUER);

	/* The new issuer can issue rail trips right away. */
	ledger_tx *it = fx_tx(&F, LEDGER_TX_ISSUE, &nk, 1);
	trip_at(&it->u.issue.trips[0], FX_NMEMBERS + 1, "f1", F.citizen[3].pk, LEDGER_MODE_RAIL,
		20000, T(7200), T(7200) + 1200);
	fx_add(&F, it, &nk);
	cr_assert_eq(commit_r(0)->code, LEDGER_R_OK);
	fx_audit(&F);
}

static void set_roles(uint32_t member, uint32_t roles, uint32_t modes)
{
	ledger_tx *tx = govern_tx(&F.member[FX_CITY], LEDGER_GOV_SET_ROLES);
	tx->u.govern.member_id = member;
	tx->u.govern.roles = roles;
	tx->u.govern.modes = modes;
	approve_and_add(tx, &F.member[FX_CITY], &F.member[FX_AUTH]);
}

Test(ledger_rules, validator_set_change_takes_effect_two_blocks_later)
{
	ledger_info i0, i1, i2;
	cr_assert_eq(ledger_get_info(F.l, &i0), 0);
	cr_assert_eq(i0.valset.n, 2);
	/* Block 1 makes the bank a validator. */
	set_roles(FX_BANK, LEDGER_ROLE_BANK | LEDGER_ROLE_GOVERNOR | LEDGER_ROLE_VALIDATOR, 0);
	cr_assert_eq(commit_r(0)->code, LEDGER_R_OK);
	cr_assert_eq(ledger_get_info(F.l, &i1), 0);
	cr_assert_eq(i1.valset.n, 2, "height 2 keeps the old set");
	cr_assert_eq(i1.next_valset.n, 3, "height 3 gets the new one");
	/* Block 2 is proposed and checked against the old set's hash. */
	fx_commit(&F, NULL);
	cr_assert_eq(ledger_get_info(F.l, &i2), 0);
	cr_assert_eq(i2.valset.n, 3);
	ledger_header h;
	cr_assert_eq(ledger_next_header(F.l, &h), 0);
	ck_hash vh;
	ledger_valset_hash(&i2.valset, vh);
	cr_assert_eq(memcmp(h.valset_hash, vh, CK_HASH_BYTES), 0);

	/* Dropping every validator is refused. */
	set_roles(FX_CITY, LEDGER_ROLE_GOVERNOR, 0);
	set_roles(FX_METRO, LEDGER_ROLE_ISSUER, 1u << LEDGER_MODE_METRO);
	set_roles(FX_BANK, LEDGER_ROLE_GOVERNOR, 0);
	ledger_results_free(&R);
	fx_commit(&F, &R);
	cr_assert_eq(R.r[0].code, LEDGER_R_OK);
	cr_assert_eq(R.r[1].code, LEDGER_R_OK);
	cr_assert_eq(R.r[2].code, LEDGER_R_VALSET);
	fx_audit(&F);
}

/* The set a stored header names for its own height. */
static void header_valset_hash(uint64_t height, ck_hash out)
{
	uint8_t *bytes, *cert;
	size_t len, certlen;
	ledger_block *b;
	cr_assert_eq(ledger_get_block(F.l, height, &bytes, &len, &cert, &certlen), 0);
	cr_assert_eq(ledger_block_decode(bytes, len, FX_CHAIN, &b), 0);
	memcpy(out, b->header.valset_hash, CK_HASH_BYTES);
	ledger_block_free(b);
	free(bytes);
	free(cert);
}

static void valset_is(uint64_t height, uint32_t n, const ck_hash want)
{
	ledger_valset vs;
	ck_hash got;
	int rc = ledger_get_valset(F.l, height, &vs);
	cr_assert_eq(rc, 0, "height %llu: %s", (unsigned long long)height, ledger_strerror(rc));
	cr_assert_eq(vs.n, n, "height %llu", (unsigned long long)height);
	ledger_valset_hash(&vs, got);
	cr_assert_eq(memcmp(got, want, CK_HASH_BYTES), 0, "height %llu", (unsigned long long)height);
}

Test(ledger_rules, valset_of_every_height_matches_its_header)
{
	ledger_valset vs;
	ledger_info i0, i;
	ck_hash old_h, new_h, hh;
	const uint64_t H = 3;

	cr_assert_eq(ledger_get_info(F.l, &i0), 0);
	ledger_valset_hash(&i0.valset, old_h);
	cr_assert_eq(ledger_get_valset(F.l, 0, &vs), LEDGER_E_NOTFOUND);
	valset_is(1, 2, old_h);
	valset_is(2, 2, old_h);
	cr_assert_eq(ledger_get_valset(F.l, 3, &vs), LEDGER_E_NOTFOUND);

	/* Blocks 1..H-1 change members without changing the set; block H
	 * makes the bank a validator. */
	fx_commit(&F, NULL);
	set_roles(FX_BIKE, LEDGER_ROLE_ISSUER, 1u << LEDGER_MODE_CYCLE);
	cr_assert_eq(commit_r(0)->code, LEDGER_R_OK);
	set_roles(FX_BANK, LEDGER_ROLE_BANK | LEDGER_ROLE_GOVERNOR | LEDGER_ROLE_VALIDATOR, 0);
	cr_assert_eq(commit_r(0)->code, LEDGER_R_OK);
	cr_assert_eq(ledger_get_info(F.l, &i), 0);
	cr_assert_eq(i.height, H);
	ledger_valset_hash(&i.next_valset, new_h);
	cr_assert_neq(memcmp(old_h, new_h, CK_HASH_BYTES), 0);
	for (int k = 0; k < 3; k++)
		fx_commit(&F, NULL);

	/* Old set up to H+1, new one from H+2, up to applied + 2. */
	for (uint64_t h = 1; h <= H + 1; h++)
		valset_is(h, 2, old_h);
	for (uint64_t h = H + 2; h <= H + 3 + 2; h++)
		valset_is(h, 3, new_h);
	cr_assert_eq(ledger_get_valset(F.l, H + 3 + 3, &vs), LEDGER_E_NOTFOUND);
	for (uint64_t h = 1; h <= H + 3; h++) {
		header_valset_hash(h, hh);
		cr_assert_eq(ledger_get_valset(F.l, h, &vs), 0);
		ck_hash got;
		ledger_valset_hash(&vs, got);
		cr_assert_eq(memcmp(got, hh, CK_HASH_BYTES), 0, "header %llu", (unsigned long long)h);
	}

	/* The history is a query index: a rebuild gives the same answers,
	 * and so does a reopen. */
	cr_assert_eq(ledger_reindex(F.l), 0);
	ledger_close(F.l);
	F.l = NULL;
	fx_open(&F);
	for (uint64_t h = 1; h <= H + 1; h++)
		valset_is(h, 2, old_h);
	for (uint64_t h = H + 2; h <= H + 3 + 2; h++)
		valset_is(h, 3, new_h);
}

Test(ledger_rules, revoked_key_cannot_send)
{
	fx_key k2;
	fx_keygen(&k2, 3, 2);
	ledger_tx *tx = govern_tx(&F.member[FX_CITY], LEDGER_GOV_ADD_KEY);
	tx->u.govern.member_id = FX_METRO;
	tx->u.govern.nkeys = 1;
	memcpy(tx->u.govern.keys[0], k2.pk, CK_PUBKEY_BYTES);
	approve_and_add(tx, &F.member[FX_CITY], &F.member[FX_BANK]);
	cr_assert_eq(commit_r(0)->code, LEDGER_R_OK);

	/* The second key issues with its own nonce. */
	ledger_tx *it = fx_tx(&F, LEDGER_TX_ISSUE, &k2, 1);
	trip_at(&it->u.issue.trips[0], FX_METRO, "k2", F.citizen[0].pk, LEDGER_MODE_METRO, 10000,
		T(7200), T(7200) + 1200);
	fx_add(&F, it, &k2);
	cr_assert_eq(commit_r(0)->code, LEDGER_R_OK);

	tx = govern_tx(&F.member[FX_CITY], LEDGER_GOV_REVOKE_KEY);
	tx->u.govern.member_id = FX_METRO;
	tx->u.govern.nkeys = 1;
	memcpy(tx->u.govern.keys[0], k2.pk, CK_PUBKEY_BYTES);
	approve_and_add(tx, &F.member[FX_CITY], &F.member[FX_BANK]);
	cr_assert_eq(commit_r(0)->code, LEDGER_R_OK);

	it = fx_tx(&F, LEDGER_TX_ISSUE, &k2, 1);
	trip_at(&it->u.issue.trips[0], FX_METRO, "k3", F.citizen[1].pk, LEDGER_MODE_METRO, 10000,
		T(7200), T(7200) + 1200);
	fx_add(&F, it, &k2);
	const ledger_tx_result *r = commit_r(0);
	cr_assert_eq(r->code, LEDGER_R_KEY);
	cr_assert_eq(r->trip_codes[0], LEDGER_R_KEY);
	ledger_account a;
	cr_assert_eq(ledger_get_account(F.l, k2.pk, &a), 0);
	cr_assert_eq(a.nonce, 2, "the revoked key's transaction consumed its nonce");

	/* Re-adding a revoked key is refused. */
	tx = govern_tx(&F.member[FX_CITY], LEDGER_GOV_ADD_KEY);
	tx->u.govern.member_id = FX_METRO;
	tx->u.govern.nkeys = 1;
	memcpy(tx->u.govern.keys[0], k2.pk, CK_PUBKEY_BYTES);
	approve_and_add(tx, &F.member[FX_CITY], &F.member[FX_BANK]);
	cr_assert_eq(commit_r(0)->code, LEDGER_R_KEY);
}

Test(ledger_rules, clawback_and_recover)
{
	fund(0, 2); /* 934 */
	ledger_tx *tx = govern_tx(&F.member[FX_CITY], LEDGER_GOV_CLAWBACK);
	memcpy(tx->u.govern.account, F.citizen[0].pk, CK_PUBKEY_BYTES);
	tx->u.govern.amount_g = 467;
	snprintf(tx->u.govern.reason, sizeof tx->u.govern.reason, "trip proven fake");
	approve_and_add(tx, &F.member[FX_CITY], &F.member[FX_BANK]);
	tx = govern_tx(&F.member[FX_CITY], LEDGER_GOV_CLAWBACK);
	memcpy(tx->u.govern.account, F.citizen[0].pk, CK_PUBKEY_BYTES);
	tx->u.govern.amount_g = 1000;
	approve_and_add(tx, &F.member[FX_CITY], &F.member[FX_BANK]);
	ledger_results_free(&R);
	fx_commit(&F, &R);
	cr_assert_eq(R.r[0].code, LEDGER_R_OK);
	cr_assert_eq(R.r[1].code, LEDGER_R_INSUFFICIENT);
	cr_assert_eq(fx_balance(&F, F.citizen[0].pk), 467);

	tx = govern_tx(&F.member[FX_CITY], LEDGER_GOV_RECOVER);
	memcpy(tx->u.govern.account, F.citizen[0].pk, CK_PUBKEY_BYTES);
	memcpy(tx->u.govern.new_account, F.citizen[9].pk, CK_PUBKEY_BYTES);
	approve_and_add(tx, &F.member[FX_CITY], &F.member[FX_AUTH]);
	cr_assert_eq(commit_r(0)->code, LEDGER_R_OK);
	cr_assert_eq(fx_balance(&F, F.citizen[0].pk), 0);
	cr_assert_eq(fx_balance(&F, F.citizen[9].pk), 467);
	/* The old key can no longer send. */
	fx_transfer(&F, &F.citizen[0], F.citizen[1].pk, 1);
	cr_assert_eq(commit_r(0)->code, LEDGER_R_KEY);
	ledger_supply s;
	cr_assert_eq(ledger_get_supply(F.l, &s), 0);
	cr_assert_eq(s.clawed_back_g, 467);
	cr_assert_eq(s.circulating_g, 467);
	fx_audit(&F);
}

Test(ledger_rules, methodology_versions_by_height)
{
	ledger_methodology m2;
	ledger_info info;
	ledger_methodology_default(&m2);
	m2.version = 2;
	m2.mode[LEDGER_MODE_METRO].reduction_mg_per_km = 50000;
	cr_assert_eq(ledger_get_info(F.l, &info), 0);
	/* Not in the future: refused. */
	ledger_tx *tx = govern_tx(&F.member[FX_CITY], LEDGER_GOV_METHODOLOGY);
	m2.effective_height = info.height + 1;
	tx->u.govern.methodology = m2;
	approve_and_add(tx, &F.member[FX_CITY], &F.member[FX_BANK]);
	cr_assert_eq(commit_r(0)->code, LEDGER_R_METHODOLOGY);
	/* Effective from height 4. */
	tx = govern_tx(&F.member[FX_CITY], LEDGER_GOV_METHODOLOGY);
	m2.effective_height = 4;
	tx->u.govern.methodology = m2;
	approve_and_add(tx, &F.member[FX_CITY], &F.member[FX_BANK]);
	cr_assert_eq(commit_r(0)->code, LEDGER_R_OK);      /* height 2 */
	/* Version 3 must follow 2, not skip. */
	tx = govern_tx(&F.member[FX_CITY], LEDGER_GOV_METHODOLOGY);
	m2.version = 4;
	m2.effective_height = 100;
	tx->u.govern.methodology = m2;
	approve_and_add(tx, &F.member[FX_CITY], &F.member[FX_BANK]);
	one_trip(FX_METRO, "v1", 0, LEDGER_MODE_METRO, 10000, T(7200), T(7200) + 1200);
	ledger_results_free(&R);
	fx_commit(&F, &R);                                     /* height 3 */
	cr_assert_eq(R.r[0].code, LEDGER_R_METHODOLOGY);
	cr_assert_eq(R.r[1].credited_g, 467);
	one_trip(FX_METRO, "v2", 0, LEDGER_MODE_METRO, 10000, T(3600), T(3600) + 1200);
	cr_assert_eq(commit_r(0)->credited_g, 500);            /* height 4 */
	ck_hash id;
	ledger_trip_record tr;
	ledger_trip_id(id, FX_METRO, "v2", 2);
	cr_assert_eq(ledger_get_trip(F.l, id, &tr), 0);
	cr_assert_eq(tr.methodology_version, 2);
	ledger_methodology got;
	cr_assert_eq(ledger_get_methodology(F.l, 3, &got), 0);
	cr_assert_eq(got.version, 1);
	cr_assert_eq(ledger_get_methodology(F.l, 4, &got), 0);
	cr_assert_eq(got.version, 2);
}

Test(ledger_rules, methodology_may_widen_the_claim_window_by_one_day_only)
{
	ledger_methodology m2, cur;
	ledger_info info;
	cr_assert_eq(ledger_get_info(F.l, &info), 0);
	cr_assert_eq(ledger_get_methodology(F.l, info.height + 1, &cur), 0);
	ledger_methodology_default(&m2);
	m2.version = 2;
	m2.effective_height = info.height + 10;
	/* One second more than a day: it would reopen pruned days. */
	m2.claim_before_s = cur.claim_before_s + LEDGER_CLAIM_WIDEN_MAX_S + 1;
	ledger_tx *tx = govern_tx(&F.member[FX_CITY], LEDGER_GOV_METHODOLOGY);
	tx->u.govern.methodology = m2;
	approve_and_add(tx, &F.member[FX_CITY], &F.member[FX_BANK]);
	cr_assert_eq(commit_r(0)->code, LEDGER_R_METHODOLOGY);
	/* Exactly one day more is allowed. */
	m2.claim_before_s = cur.claim_before_s + LEDGER_CLAIM_WIDEN_MAX_S;
	tx = govern_tx(&F.member[FX_CITY], LEDGER_GOV_METHODOLOGY);
	tx->u.govern.methodology = m2;
	approve_and_add(tx, &F.member[FX_CITY], &F.member[FX_BANK]);
	cr_assert_eq(commit_r(0)->code, LEDGER_R_OK);
	/* A further day on top of the pending version is measured from the
	 * smallest window that may still be in effect, the current one. */
	m2.version = 3;
	m2.claim_before_s = cur.claim_before_s + 2 * LEDGER_CLAIM_WIDEN_MAX_S;
	tx = govern_tx(&F.member[FX_CITY], LEDGER_GOV_METHODOLOGY);
	tx->u.govern.methodology = m2;
	approve_and_add(tx, &F.member[FX_CITY], &F.member[FX_BANK]);
	cr_assert_eq(commit_r(0)->code, LEDGER_R_METHODOLOGY);
}

Test(ledger_rules, trips_leave_the_window_and_are_pruned)
{
	fund(0, 2);
	ck_hash id;
	char ref[32];
	snprintf(ref, sizeof ref, "fund-0-0-%llu", (unsigned long long)(F.time_ms - 10000));
	ledger_trip_id(id, FX_METRO, ref, strlen(ref));
	ledger_trip_record tr;
	cr_assert_eq(ledger_get_trip(F.l, id, &tr), 0);
	/* Ten days later the trips, their intervals and caps are gone. */
	F.time_ms += 10ull * 86400 * 1000;
	fx_commit(&F, NULL);
	cr_assert_eq(ledger_get_trip(F.l, id, &tr), LEDGER_E_NOTFOUND);
	cr_assert_eq(fx_balance(&F, F.citizen[0].pk), 934, "balances stay");
	fx_audit(&F);
}

/* ---- proofs ---------------------------------------------------------------------------- */

Test(ledger_rules, account_proofs)
{
	fund(0, 1);
	fx_transfer(&F, &F.citizen[0], F.citizen[1].pk, 67);
	fx_commit(&F, NULL);
	ledger_account_proof p;
	cr_assert_eq(ledger_prove_account(F.l, F.citizen[0].pk, &p), 0);
	cr_assert_eq(p.balance_g, 400);
	cr_assert_eq(p.nonce, 1);
	cr_assert_eq(p.height, 2);
	ledger_info info;
	cr_assert_eq(ledger_get_info(F.l, &info), 0);
	cr_assert_eq(memcmp(p.state_root, info.state_root, CK_HASH_BYTES), 0);
	cr_assert_eq(ledger_verify_account_proof(&p), 0);

	ledger_account_proof bad = p;
	bad.balance_g = 401;
	cr_assert_eq(ledger_verify_account_proof(&bad), LEDGER_E_PROOF);
	bad = p;
	bad.siblings[0][3] ^= 1;
	cr_assert_eq(ledger_verify_account_proof(&bad), LEDGER_E_PROOF);
	bad = p;
	bad.state_root[0] ^= 1;
	cr_assert_eq(ledger_verify_account_proof(&bad), LEDGER_E_PROOF);
	bad = p;
	memcpy(bad.account, F.citizen[1].pk, CK_PUBKEY_BYTES);
	cr_assert_eq(ledger_verify_account_proof(&bad), LEDGER_E_PROOF);

	cr_assert_eq(ledger_prove_account(F.l, F.citizen[1].pk, &p), 0);
	cr_assert_eq(p.balance_g, 67);
	cr_assert_eq(ledger_verify_account_proof(&p), 0);
	cr_assert_eq(ledger_prove_account(F.l, F.citizen[40].pk, &p), LEDGER_E_NOTFOUND);
}

Test(ledger_rules, reopen_keeps_state_and_checks_genesis)
{
	fund(0, 1);
	ledger_info a, b;
	cr_assert_eq(ledger_get_info(F.l, &a), 0);
	ledger_close(F.l);
	fx_open(&F);
	cr_assert_eq(ledger_get_info(F.l, &b), 0);
	cr_assert_eq(a.height, b.height);
	cr_assert_eq(memcmp(a.state_root, b.state_root, CK_HASH_BYTES), 0);
	fx_audit(&F);
	ledger_close(F.l);
	F.l = NULL;

	ledger_genesis other = *F.g;
	other.hash[0] ^= 1;
	ledger *l2;
	ledger_options opt = { .nosync = true, .map_bytes = (size_t)1 << 30 };
	cr_assert_eq(ledger_open(&l2, F.dir, &other, &opt), LEDGER_E_MISMATCH);
	fx_open(&F);
}
