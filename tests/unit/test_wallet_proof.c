/*
 * Balance proofs checked the way a bank's wallet checks them: a real
 * ledger (tests/unit/ledger_fixture.h) applies blocks, commit certificates
 * are signed with the validators' keys as consensus signs precommits, and
 * the light client follows the headers from the genesis, through a
 * validator-set change, to the header that certifies the proof. Then every
 * part is tampered with in turn and must be refused.
 */
#include "tests/unit/ledger_fixture.h"
#include "wallet/wallet.h"

static fx F;

static void setup(void) { fx_init(&F); }
static void teardown(void) { fx_fini(&F); }
TestSuite(wallet_proof, .init = setup, .fini = teardown);

/* ---- a header source over the fixture's ledger ---------------------------- */

/* What valset() answers, like the nodes of docs/WALLET.md can. */
enum offer {
	OFFER_NONE,                   /* no set at all */
	OFFER_CURRENT,                /* only the latest set (GET /v1/status) */
	OFFER_BY_HEIGHT,              /* the set of any height (GET /v1/valset/{h}) */
	OFFER_FAKE,                   /* a set nobody announced, for any height */
};

typedef struct src_ctx {
	uint32_t nchanges;
	uint64_t change_at[2];        /* first height signed by set[i + 1] */
	cons_valset set[3];           /* set[0]: the genesis validators */
	enum offer offer;
	uint32_t asked;               /* valset() calls */
	uint32_t signers;             /* precommits per certificate (0: all) */
	uint64_t corrupt_height;      /* flip a signature byte of this height's cert */
} src_ctx;

static const cons_valset *set_at(const src_ctx *s, uint64_t height)
{
	uint32_t i = 0;
	while (i < s->nchanges && height >= s->change_at[i])
		i++;
	return &s->set[i];
}

static const fx_key *key_of(const ck_pubkey pk)
{
	for (uint32_t i = 1; i <= FX_NMEMBERS; i++)
		if (memcmp(F.member[i].pk, pk, CK_PUBKEY_BYTES) == 0)
			return &F.member[i];
	cr_assert_fail("no fixture key for a validator");
	return NULL;
}

/* Precommits of (height, round 0, id) by the first n validators of vs. */
static void make_cert(cons_cert *c, uint64_t height, const cons_id id, const cons_valset *vs,
		      uint32_t n)
{
	memset(c, 0, sizeof *c);
	c->height = height;
	memcpy(c->id, id, CONS_ID_BYTES);
	uint8_t b[CONS_SIGN_BYTES_MAX];
	size_t len = cons_vote_sign_bytes(b, height, 0, true, id);
	for (uint32_t i = 0; i < vs->n && c->n < n; i++) {
		ck_sign(c->sig[c->n], key_of(vs->keys[i])->sk, cons_step_domain(CONS_STEP_PRECOMMIT),
			FX_CHAIN, b, len);
		c->idx[c->n++] = i;
	}
}

/* The stored header of height, decoded for chain_id (as a node's header
 * would be: another chain id does not decode). */
static int header_for(const char *chain_id, uint64_t height, ledger_header *h)
{
	uint8_t *blk, *cert;
	size_t blen, clen;
	ledger_block *b;
	cr_assert_eq(ledger_get_block(F.l, height, &blk, &blen, &cert, &clen), 0);
	int rc = ledger_block_decode(blk, blen, chain_id, &b);
	if (rc == 0)
		*h = b->header;
	ledger_block_free(b);
	free(blk);
	free(cert);
	return rc;
}

static void stored_header(uint64_t height, ledger_header *h)
{
	cr_assert_eq(header_for(FX_CHAIN, height, h), 0);
}

static void cert_for(src_ctx *s, const ledger_header *h, cons_cert *c)
{
	ck_hash id;
	ledger_header_hash(id, h);
	const cons_valset *vs = set_at(s, h->height);
	make_cert(c, h->height, id, vs, s->signers ? s->signers : vs->n);
	if (h->height == s->corrupt_height)
		c->sig[0][5] ^= 1;
}

static int src_header(void *ctx, const char *chain_id, uint64_t height, ledger_header *h,
		      cons_cert *cert, char *msg, size_t msglen)
{
	int rc = header_for(chain_id, height, h);
	if (rc != 0) {
		snprintf(msg, msglen, "header %llu: %s", (unsigned long long)height, ledger_strerror(rc));
		return rc;
	}
	cert_for(ctx, h, cert);
	return 0;
}

/* A source that answers even when its set does not have the hash wanted,
 * as a lying or confused node would: the light client must check. */
static int src_valset(void *ctx, uint64_t height, const ck_hash want, cons_valset *out, char *msg,
		      size_t msglen)
{
	src_ctx *s = ctx;
	(void)want;
	s->asked++;
	snprintf(msg, msglen, "asked the test source");
	switch (s->offer) {
	case OFFER_NONE:
		return WALLET_E_VALSET_GAP;
	case OFFER_CURRENT:
		*out = s->set[s->nchanges];
		return 0;
	case OFFER_BY_HEIGHT:
		*out = *set_at(s, height);
		return 0;
	case OFFER_FAKE:
		/* A set with a key nobody announced: must never be taken. */
		*out = s->set[0];
		memset(out->keys[0], 0x55, CK_PUBKEY_BYTES);
		cr_assert_eq(cons_valset_sort(out), 0);
		return 0;
	}
	return WALLET_E_VALSET_GAP;
}

static src_ctx S;
static wallet_lc_source SRC = {&S, src_header, src_valset};

/* ---- chain building ------------------------------------------------------------ */

static void credit(int citizen, const char *ref, uint32_t dist_m)
{
	ledger_tx *tx = fx_tx(&F, LEDGER_TX_ISSUE, &F.member[FX_METRO], 1);
	ledger_trip *t = &tx->u.issue.trips[0];
	ledger_trip_id(t->trip_id, FX_METRO, ref, strlen(ref));
	memcpy(t->citizen, F.citizen[citizen].pk, CK_PUBKEY_BYTES);
	t->mode = LEDGER_MODE_METRO;
	t->distance_m = dist_m;
	t->start_s = fx_now_s(&F) - 3600;
	t->end_s = t->start_s + 1200;
	fx_add(&F, tx, &F.member[FX_METRO]);
}

static void empty_blocks(unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		fx_commit(&F, NULL);
}

static void sets_from_ledger(void)
{
	memset(&S, 0, sizeof S);
	cr_assert_eq(wallet_genesis_valset(F.g, &S.set[0]), 0);
	ledger_info info;
	cr_assert_eq(ledger_get_info(F.l, &info), 0);
	cr_assert_eq(info.valset.n, S.set[0].n);
	cr_assert_eq(memcmp(info.valset.keys, S.set[0].keys, S.set[0].n * CK_PUBKEY_BYTES), 0);
}

/* Proof of citizen's balance after the last block, with header (the next
 * block, committed here) and its certificate. */
static void prove(int citizen, wallet_balance_proof *bp)
{
	memset(bp, 0, sizeof *bp);
	cr_assert_eq(ledger_prove_account(F.l, F.citizen[citizen].pk, &bp->proof), 0);
	fx_commit(&F, NULL);
	stored_header(bp->proof.height + 1, &bp->header);
	cert_for(&S, &bp->header, &bp->cert);
}

static int verify(int citizen, const wallet_balance_proof *bp, char *why, size_t n)
{
	wallet_lc lc;
	cr_assert_eq(wallet_lc_init(&lc, F.g), 0);
	return wallet_verify_balance(&lc, &SRC, F.citizen[citizen].pk, bp, why, n);
}

/* ---- tests ---------------------------------------------------------------------- */

Test(wallet_proof, genesis_valset_matches_the_ledger)
{
	sets_from_ledger();
	cr_assert_eq(S.set[0].n, 2); /* city and metro */
}

Test(wallet_proof, verifies_and_refuses_tampering)
{
	sets_from_ledger();
	credit(0, "a", 10000);
	credit(0, "b", 12000);
	fx_commit(&F, NULL);
	empty_blocks(3);
	wallet_balance_proof *bp = malloc(sizeof *bp), *t = malloc(sizeof *t);
	cr_assert(bp && t);
	prove(0, bp);
	cr_assert(bp->proof.balance_g > 0);
	cr_assert_eq(bp->proof.balance_g, fx_balance(&F, F.citizen[0].pk));
	char why[512] = "";

	wallet_lc lc;
	cr_assert_eq(wallet_lc_init(&lc, F.g), 0);
	cr_assert_eq(wallet_verify_balance(&lc, &SRC, F.citizen[0].pk, bp, why, sizeof why), 0, "%s",
		     why);
	cr_assert_eq(lc.height, bp->header.height);
	cr_assert_eq(lc.changes, 0);
	/* A light client already at this header does not step back. */
	cr_assert_eq(wallet_verify_balance(&lc, &SRC, F.citizen[0].pk, bp, why, sizeof why),
		     WALLET_E_VERIFY);
	cr_assert(strstr(why, "start again from the genesis") != NULL, "%s", why);
	cr_assert_eq(wallet_tier_of(bp->proof.balance_g), WALLET_TIER_LIGHT);

	/* The balance. */
	*t = *bp;
	t->proof.balance_g += 1000;
	cr_assert_eq(verify(0, t, why, sizeof why), WALLET_E_VERIFY);
	cr_assert(strstr(why, "Merkle") != NULL, "%s", why);
	/* Another account's proof. */
	cr_assert_eq(verify(1, bp, why, sizeof why), WALLET_E_VERIFY);
	cr_assert(strstr(why, "another account") != NULL, "%s", why);
	/* A sibling of the Merkle path. */
	*t = *bp;
	cr_assert(t->proof.nsiblings > 0);
	t->proof.siblings[0][0] ^= 1;
	cr_assert_eq(verify(0, t, why, sizeof why), WALLET_E_VERIFY);
	/* A header of the wrong height. */
	*t = *bp;
	stored_header(bp->proof.height, &t->header);
	cert_for(&S, &t->header, &t->cert);
	cr_assert_eq(verify(0, t, why, sizeof why), WALLET_E_VERIFY);
	cr_assert(strstr(why, "needs header") != NULL, "%s", why);
	/* A header claiming the proof's root, but not the signed one. */
	*t = *bp;
	t->header.time_ms += 1;
	cr_assert_eq(verify(0, t, why, sizeof why), WALLET_E_VERIFY);
	cr_assert(strstr(why, "certificate") != NULL, "%s", why);
	/* The header's state root swapped for another. */
	*t = *bp;
	t->header.state_root[0] ^= 1;
	cr_assert_eq(verify(0, t, why, sizeof why), WALLET_E_VERIFY);
	cr_assert(strstr(why, "state root") != NULL, "%s", why);
	/* A signature. */
	*t = *bp;
	t->cert.sig[1][10] ^= 1;
	cr_assert_eq(verify(0, t, why, sizeof why), WALLET_E_VERIFY);
	cr_assert(strstr(why, "signature") != NULL, "%s", why);
	/* One signer of two is no quorum (2 validators need 2). */
	*t = *bp;
	t->cert.n = 1;
	cr_assert_eq(verify(0, t, why, sizeof why), WALLET_E_VERIFY);
	cr_assert(strstr(why, "quorum") != NULL, "%s", why);
	/* A certificate of another height. */
	*t = *bp;
	t->cert.height += 1;
	cr_assert_eq(verify(0, t, why, sizeof why), WALLET_E_VERIFY);
	/* A forged header in the chain below: its certificate fails. */
	S.corrupt_height = 2;
	cr_assert_eq(verify(0, bp, why, sizeof why), WALLET_E_VERIFY);
	cr_assert(strstr(why, "header 2") != NULL, "%s", why);
	S.corrupt_height = 0;
	/* Certificates below the quorum along the way. */
	S.signers = 1;
	cr_assert_eq(verify(0, bp, why, sizeof why), WALLET_E_VERIFY);
	S.signers = 0;
	cr_assert_eq(verify(0, bp, why, sizeof why), 0, "%s", why);
	free(bp);
	free(t);
}

Test(wallet_proof, another_genesis_is_refused)
{
	sets_from_ledger();
	credit(2, "c", 9000);
	fx_commit(&F, NULL);
	wallet_balance_proof *bp = malloc(sizeof *bp);
	cr_assert(bp);
	prove(2, bp);
	/* The bank's genesis names other validators (a fork's, say). */
	ledger_genesis *g = F.g;
	uint8_t saved[CK_PUBKEY_BYTES];
	memcpy(saved, g->members[FX_CITY - 1].keys[0], CK_PUBKEY_BYTES);
	memcpy(g->members[FX_CITY - 1].keys[0], F.member[FX_STORE].pk, CK_PUBKEY_BYTES);
	wallet_lc lc;
	char why[512];
	cr_assert_eq(wallet_lc_init(&lc, g), 0);
	cr_assert_eq(wallet_verify_balance(&lc, &SRC, F.citizen[2].pk, bp, why, sizeof why),
		     WALLET_E_VERIFY);
	cr_assert(strstr(why, "header 1") != NULL, "%s", why);
	memcpy(g->members[FX_CITY - 1].keys[0], saved, CK_PUBKEY_BYTES);
	/* And another chain id. */
	snprintf(g->chain_id, sizeof g->chain_id, "other-city");
	cr_assert_eq(wallet_lc_init(&lc, g), 0);
	cr_assert_neq(wallet_verify_balance(&lc, &SRC, F.citizen[2].pk, bp, why, sizeof why), 0);
	snprintf(g->chain_id, sizeof g->chain_id, "%s", FX_CHAIN);
	free(bp);
}

/* A governor member becomes a validator by governance in block H (the
 * bank first, then transit); header H+1 announces the new set, which
 * signs from H+2 on. */
static uint64_t change_valset(void)
{
	uint32_t member = S.nchanges == 0 ? FX_BANK : FX_AUTH;
	ledger_tx *tx = fx_tx(&F, LEDGER_TX_GOVERN, &F.member[FX_CITY], 0);
	tx->u.govern.action = LEDGER_GOV_SET_ROLES;
	tx->u.govern.member_id = member;
	tx->u.govern.roles = (member == FX_BANK ? LEDGER_ROLE_BANK : 0) | LEDGER_ROLE_GOVERNOR |
			     LEDGER_ROLE_VALIDATOR;
	cr_assert_eq(ledger_tx_approve(tx, F.member[FX_BANK].sk), 0);
	fx_add(&F, tx, &F.member[FX_CITY]);
	ledger_results res;
	fx_commit(&F, &res);
	cr_assert_eq(res.r[0].code, LEDGER_R_OK, "%s", ledger_result_str(res.r[0].code));
	ledger_results_free(&res);
	ledger_info info;
	cr_assert_eq(ledger_get_info(F.l, &info), 0);
	cr_assert_eq(info.next_valset.n, 3 + S.nchanges);
	cr_assert(S.nchanges < 2);
	cons_valset *vs = &S.set[S.nchanges + 1];
	vs->n = info.next_valset.n;
	memcpy(vs->keys, info.next_valset.keys, sizeof vs->keys);
	S.change_at[S.nchanges++] = info.height + 2;
	return info.height;
}

Test(wallet_proof, follows_a_validator_set_change)
{
	sets_from_ledger();
	credit(3, "d", 15000);
	fx_commit(&F, NULL);
	change_valset();
	credit(3, "e", 11000);
	fx_commit(&F, NULL);
	empty_blocks(2);
	wallet_balance_proof *bp = malloc(sizeof *bp);
	cr_assert(bp);
	prove(3, bp);
	cr_assert(bp->header.height > S.change_at[0]);
	char why[512] = "";

	/* No node supplies the new set: a gap (cannot verify), never a
	 * guess and never a refusal. */
	S.offer = OFFER_NONE;
	cr_assert_eq(verify(3, bp, why, sizeof why), WALLET_E_VALSET_GAP);
	char want[96];
	snprintf(want, sizeof want, "validator set of height %llu is not available from any node",
		 (unsigned long long)S.change_at[0]);
	cr_assert(strstr(why, want) != NULL, "%s", why);
	/* A set nobody announced is not taken: still a gap. */
	S.offer = OFFER_FAKE;
	cr_assert_eq(verify(3, bp, why, sizeof why), WALLET_E_VALSET_GAP);
	S.offer = OFFER_CURRENT;
	wallet_lc lc;
	cr_assert_eq(wallet_lc_init(&lc, F.g), 0);
	cr_assert_eq(wallet_verify_balance(&lc, &SRC, F.citizen[3].pk, bp, why, sizeof why), 0, "%s",
		     why);
	cr_assert_eq(lc.changes, 1);
	cr_assert_eq(lc.next.n, 3);
	/* After the change, a certificate by the old set is not enough: the
	 * new set (3 validators) needs 3 precommits. */
	wallet_balance_proof *t = malloc(sizeof *t);
	cr_assert(t);
	*t = *bp;
	ck_hash id;
	ledger_header_hash(id, &t->header);
	make_cert(&t->cert, t->header.height, id, &S.set[0], 2);
	cr_assert_eq(verify(3, t, why, sizeof why), WALLET_E_VERIFY);
	make_cert(&t->cert, t->header.height, id, &S.set[1], 2);
	cr_assert_eq(verify(3, t, why, sizeof why), WALLET_E_VERIFY);
	cr_assert(strstr(why, "quorum") != NULL, "%s", why);
	free(t);
	free(bp);
}

/* Two changes after the light client's position: the nodes' current sets
 * (GET /v1/status) no longer hold the first new set, so the proof cannot
 * be checked (a gap, not a refusal); a source of the set of any height
 * (GET /v1/valset/{h}) lets it through both changes. */
Test(wallet_proof, two_changes_need_past_sets)
{
	sets_from_ledger();
	credit(6, "h", 12000);
	fx_commit(&F, NULL);
	change_valset();
	empty_blocks(2);
	change_valset();
	empty_blocks(2);
	wallet_balance_proof *bp = malloc(sizeof *bp);
	cr_assert(bp);
	prove(6, bp);
	char why[512] = "";
	S.offer = OFFER_CURRENT;
	cr_assert_eq(verify(6, bp, why, sizeof why), WALLET_E_VALSET_GAP);
	cr_assert(strstr(why, "not available from any node") != NULL, "%s", why);
	S.offer = OFFER_BY_HEIGHT;
	S.asked = 0;
	wallet_lc lc;
	cr_assert_eq(wallet_lc_init(&lc, F.g), 0);
	cr_assert_eq(wallet_verify_balance(&lc, &SRC, F.citizen[6].pk, bp, why, sizeof why), 0, "%s",
		     why);
	cr_assert_eq(lc.changes, 2);
	cr_assert_eq(S.asked, 2);
	cr_assert_eq(lc.next.n, 4);
	free(bp);
}

Test(wallet_proof, checkpoint_round_trip)
{
	sets_from_ledger();
	credit(4, "f", 10000);
	fx_commit(&F, NULL);
	change_valset();
	empty_blocks(3);
	S.offer = OFFER_CURRENT;
	wallet_lc lc, back;
	char why[256] = "";
	cr_assert_eq(wallet_lc_init(&lc, F.g), 0);
	ledger_info info;
	cr_assert_eq(ledger_get_info(F.l, &info), 0);
	cr_assert_eq(wallet_lc_advance(&lc, &SRC, info.height, NULL, NULL, why, sizeof why), 0, "%s",
		     why);
	char path[96];
	snprintf(path, sizeof path, "%s/trust/x.json", F.dir);
	cr_assert_eq(wallet_lc_save(&lc, path), 0);
	cr_assert_eq(wallet_lc_init(&back, F.g), 0);
	cr_assert_eq(wallet_lc_load(&back, path), 0);
	cr_assert_eq(back.height, lc.height);
	cr_assert_eq(back.time_ms, lc.time_ms);
	cr_assert_eq(back.changes, 1);
	cr_assert_eq(memcmp(back.last_hash, lc.last_hash, CK_HASH_BYTES), 0);
	cr_assert_eq(memcmp(&back.next, &lc.next, sizeof lc.next), 0);
	/* Continuing from the checkpoint verifies a later proof. */
	wallet_balance_proof *bp = malloc(sizeof *bp);
	cr_assert(bp);
	prove(4, bp);
	cr_assert_eq(wallet_verify_balance(&back, &SRC, F.citizen[4].pk, bp, why, sizeof why), 0,
		     "%s", why);
	/* Another genesis does not take this checkpoint. */
	F.g->hash[0] ^= 1;
	cr_assert_eq(wallet_lc_init(&back, F.g), 0);
	cr_assert_eq(wallet_lc_load(&back, path), WALLET_E_VERIFY);
	cr_assert_eq(back.height, 0);
	F.g->hash[0] ^= 1;
	snprintf(path, sizeof path, "%s/trust/missing.json", F.dir);
	cr_assert_eq(wallet_lc_load(&back, path), WALLET_E_IO);
	free(bp);
}

Test(wallet_proof, node_json_form)
{
	sets_from_ledger();
	credit(5, "g", 10000);
	fx_commit(&F, NULL);
	wallet_balance_proof *bp = malloc(sizeof *bp), *got = malloc(sizeof *got);
	cr_assert(bp && got);
	prove(5, bp);
	/* As GET /v1/account/{a}/proof writes it. */
	cm_wr w;
	cm_wr_init(&w);
	ledger_account_proof_encode(&bp->proof, &w);
	char *proof_hex = malloc(2 * cm_wr_len(&w) + 1);
	cm_hex_encode(proof_hex, cm_wr_data(&w), cm_wr_len(&w));
	cm_wr_reset(&w);
	ledger_header_encode(&bp->header, &w);
	char header_hex[4096];
	cm_hex_encode(header_hex, cm_wr_data(&w), cm_wr_len(&w));
	cm_wr_reset(&w);
	cons_cert_encode(&bp->cert, &w);
	char *cert_hex = malloc(2 * cm_wr_len(&w) + 1);
	cm_hex_encode(cert_hex, cm_wr_data(&w), cm_wr_len(&w));
	cm_wr_free(&w);
	json_t *j = json_pack("{s:s, s:b, s:{s:s}, s:s}", "proof", proof_hex, "certified", 1,
			      "header", "hex", header_hex, "cert", cert_hex);
	char why[256] = "";
	cr_assert_eq(wallet_balance_proof_from_json(j, FX_CHAIN, got, why, sizeof why), 0, "%s", why);
	cr_assert_eq(got->proof.balance_g, bp->proof.balance_g);
	cr_assert_eq(verify(5, got, why, sizeof why), 0, "%s", why);
	/* Another chain id does not decode; an uncertified answer is refused. */
	cr_assert_eq(wallet_balance_proof_from_json(j, "other-city", got, why, sizeof why),
		     WALLET_E_VERIFY);
	json_object_set_new(j, "certified", json_false());
	cr_assert_eq(wallet_balance_proof_from_json(j, FX_CHAIN, got, why, sizeof why),
		     WALLET_E_UNCERTIFIED);
	cr_assert(strstr(why, "not certified") != NULL || strstr(why, "no certified") != NULL, "%s",
		  why);
	json_object_set_new(j, "certified", json_true());
	json_object_set_new(j, "proof", json_string("zz"));
	cr_assert_eq(wallet_balance_proof_from_json(j, FX_CHAIN, got, why, sizeof why),
		     WALLET_E_VERIFY);
	json_decref(j);
	free(proof_hex);
	free(cert_hex);
	free(bp);
	free(got);
}
