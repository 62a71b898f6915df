/* The consensus core's codecs, certificates, evidence, and the core on its
 * own (n = 1, persist ordering, equivocation) with real Ed25519. The
 * protocol under faults is tested by the simulator (tests/sim). */
#include <criterion/criterion.h>
#include <string.h>

#include "consensus/cons.h"

#define CHAIN "carbon-test"

static ck_pubkey pk[4];
static ck_seckey sk[4];
static cons_valset vs4;

static void keys_init(void)
{
	cr_assert_eq(ck_init(), 0);
	for (int i = 0; i < 4; i++) {
		uint8_t seed[CK_SEED_BYTES];
		memset(seed, 0x40 + i, sizeof seed);
		ck_keypair_from_seed(pk[i], sk[i], seed);
	}
	/* index in the sorted set == index here, so sort the keys first */
	for (int i = 0; i < 4; i++)
		for (int j = i + 1; j < 4; j++)
			if (memcmp(pk[j], pk[i], CK_PUBKEY_BYTES) < 0) {
				ck_pubkey tp;
				ck_seckey ts;
				memcpy(tp, pk[i], sizeof tp);
				memcpy(pk[i], pk[j], sizeof tp);
				memcpy(pk[j], tp, sizeof tp);
				memcpy(ts, sk[i], sizeof ts);
				memcpy(sk[i], sk[j], sizeof ts);
				memcpy(sk[j], ts, sizeof ts);
			}
	vs4.n = 4;
	memcpy(vs4.keys, pk, sizeof pk);
	cr_assert_eq(cons_valset_check(&vs4), 0);
}

static void block_id(void *ctx, const uint8_t *b, size_t len, cons_id out)
{
	(void)ctx;
	ck_hash_tagged(out, "block", b, len);
}

static void precommit_sig(int who, uint64_t h, uint32_t r, const cons_id id, ck_sig sig)
{
	uint8_t sb[CONS_SIGN_BYTES_MAX];
	size_t n = cons_vote_sign_bytes(sb, h, r, true, id);
	ck_sign(sig, sk[who], CK_DOM_PRECOMMIT, CHAIN, sb, n);
}

static void make_cert(cons_cert *c, const cons_id id, int nsig)
{
	memset(c, 0, sizeof *c);
	c->height = 7;
	c->round = 2;
	memcpy(c->id, id, CONS_ID_BYTES);
	for (int i = 0; i < nsig; i++) {
		c->idx[i] = (uint32_t)i;
		precommit_sig(i, 7, 2, id, c->sig[i]);
	}
	c->n = (uint32_t)nsig;
}

TestSuite(cons, .init = keys_init);

Test(cons, quorum_and_thresholds)
{
	cr_assert_eq(cons_quorum(1), 1);
	cr_assert_eq(cons_quorum(4), 3);
	cr_assert_eq(cons_quorum(7), 5);
	cr_assert_eq(cons_honest_min(1), 1);
	cr_assert_eq(cons_honest_min(4), 2);
	cr_assert_eq(cons_honest_min(7), 3);
}

Test(cons, sign_bytes_match_canonical_writer)
{
	cons_id id;
	memset(id, 0xab, sizeof id);
	const uint64_t hs[] = {1, 127, 128, 65536, 0x100000000ull};
	for (size_t k = 0; k < sizeof hs / sizeof hs[0]; k++) {
		uint8_t sb[CONS_SIGN_BYTES_MAX];
		cm_wr w;
		cm_wr_init(&w);
		cm_wr_array(&w, 3);
		cm_wr_uint(&w, hs[k]);
		cm_wr_uint(&w, 300);
		cm_wr_nil(&w);
		size_t n = cons_vote_sign_bytes(sb, hs[k], 300, false, id);
		cr_assert_eq(n, cm_wr_len(&w));
		cr_assert_eq(memcmp(sb, cm_wr_data(&w), n), 0);
		cm_wr_reset(&w);
		cm_wr_array(&w, 4);
		cm_wr_uint(&w, hs[k]);
		cm_wr_uint(&w, 5);
		cm_wr_uint(&w, 3);
		cm_wr_bin(&w, id, CONS_ID_BYTES);
		n = cons_proposal_sign_bytes(sb, hs[k], 5, 2, id);
		cr_assert_eq(n, cm_wr_len(&w));
		cr_assert_eq(memcmp(sb, cm_wr_data(&w), n), 0);
		cm_wr_free(&w);
	}
}

/* Encodes into a static buffer that outlives the call: decoded blocks
 * point into it. */
static void round_trip(const cons_msg *m, cons_msg *out)
{
	static cm_wr w;
	static bool init;
	if (!init) {
		cm_wr_init(&w);
		init = true;
	}
	cm_wr_reset(&w);
	cons_msg_encode(m, &w);
	cr_assert_eq(cm_wr_error(&w), 0);
	cr_assert_eq(cons_msg_decode(out, cm_wr_data(&w), cm_wr_len(&w)), 0);
	/* one byte more, or one byte less, is rejected */
	uint8_t *b = malloc(cm_wr_len(&w) + 1);
	memcpy(b, cm_wr_data(&w), cm_wr_len(&w));
	b[cm_wr_len(&w)] = 0;
	cons_msg x;
	cr_assert_eq(cons_msg_decode(&x, b, cm_wr_len(&w) + 1), CONS_E_DECODE);
	cr_assert_eq(cons_msg_decode(&x, b, cm_wr_len(&w) - 1), CONS_E_DECODE);
	free(b);
}

Test(cons, message_round_trips)
{
	const uint8_t block[] = "a block";
	cons_msg m, d;
	memset(&m, 0, sizeof m);
	m.kind = CONS_MSG_PROPOSAL;
	m.u.proposal.height = 9;
	m.u.proposal.round = 3;
	m.u.proposal.pol_round = 1;
	memset(m.u.proposal.id, 1, CONS_ID_BYTES);
	m.u.proposal.proposer = 2;
	memset(m.u.proposal.sig, 2, CK_SIG_BYTES);
	m.u.proposal.block = block;
	m.u.proposal.block_len = sizeof block;
	round_trip(&m, &d);
	cr_assert_eq(d.kind, CONS_MSG_PROPOSAL);
	cr_assert_eq(d.u.proposal.pol_round, 1);
	cr_assert_eq(d.u.proposal.block_len, sizeof block);
	cr_assert_eq(memcmp(d.u.proposal.block, block, sizeof block), 0);

	memset(&m, 0, sizeof m);
	m.kind = CONS_MSG_PRECOMMIT;
	m.u.vote.step = CONS_STEP_PRECOMMIT;
	m.u.vote.height = 1;
	m.u.vote.round = 0;
	m.u.vote.validator = 3;
	round_trip(&m, &d);
	cr_assert_eq(d.u.vote.has_id, false);
	cr_assert_eq(d.u.vote.step, CONS_STEP_PRECOMMIT);

	m.kind = CONS_MSG_STATUS;
	m.u.status.height = 44;
	m.u.status.round = 2;
	round_trip(&m, &d);
	cr_assert_eq(d.u.status.height, 44);

	cons_id id;
	memset(id, 5, sizeof id);
	memset(&m, 0, sizeof m);
	m.kind = CONS_MSG_DECIDED;
	make_cert(&m.u.decided.cert, id, 3);
	m.u.decided.block = block;
	m.u.decided.block_len = sizeof block;
	round_trip(&m, &d);
	cr_assert_eq(d.u.decided.cert.n, 3);
	cr_assert_eq(cons_cert_verify(&d.u.decided.cert, &vs4, CHAIN, id), 0);
}

Test(cons, malformed_messages_rejected)
{
	cons_msg m;
	/* [2, 0, 0, nil, 0, sig]: height 0 */
	uint8_t h0[6 + 2 + 64] = {0x96, 0x02, 0x00, 0x00, 0xc0, 0x00, 0xc4, 64};
	cr_assert_eq(cons_msg_decode(&m, h0, sizeof h0), CONS_E_DECODE);
	h0[2] = 1;
	cr_assert_eq(cons_msg_decode(&m, h0, sizeof h0), 0);
	/* non-minimal height (0xcc 0x01) */
	uint8_t nm[7 + 2 + 64] = {0x96, 0x02, 0xcc, 0x01, 0x00, 0xc0, 0x00, 0xc4, 64};
	cr_assert_eq(cons_msg_decode(&m, nm, sizeof nm), CONS_E_DECODE);
	/* unknown kind, wrong arity, validator index out of range */
	const uint8_t unk[] = {0x92, 0x09, 0x01};
	cr_assert_eq(cons_msg_decode(&m, unk, sizeof unk), CONS_E_DECODE);
	const uint8_t st2[] = {0x92, 0x05, 0x01};
	cr_assert_eq(cons_msg_decode(&m, st2, sizeof st2), CONS_E_DECODE);
	uint8_t big[6 + 3 + 2 + 64] = {0x96, 0x02, 0x01, 0x00, 0xc0, 0xcd, 0x01, 0x00, 0xc4, 64};
	cr_assert_eq(cons_msg_decode(&m, big, sizeof big), CONS_E_DECODE);
	/* a proposal whose pol_round is not below its round */
	uint8_t pr[8 + 34 + 1 + 66 + 3] = {0x98, 0x01, 0x01, 0x01, 0x02, 0xc4, 32};
	size_t o = 7 + 32;
	pr[o++] = 0x00;
	pr[o++] = 0xc4;
	pr[o++] = 64;
	o += 64;
	pr[o++] = 0xc4;
	pr[o++] = 1;
	pr[o++] = 'x';
	cr_assert_eq(cons_msg_decode(&m, pr, o), CONS_E_DECODE);
	pr[4] = 0x01; /* pol_round 0 < round 1 */
	cr_assert_eq(cons_msg_decode(&m, pr, o), 0);
	cr_assert_eq(cons_msg_decode(&m, pr, 0), CONS_E_DECODE);
}

Test(cons, certificate_checks)
{
	cons_id id, other;
	cons_cert c;
	memset(id, 7, sizeof id);
	memset(other, 8, sizeof other);
	make_cert(&c, id, 3);
	cr_assert_eq(cons_cert_verify(&c, &vs4, CHAIN, id), 0);
	cr_assert_eq(cons_cert_verify(&c, &vs4, CHAIN, other), CONS_E_CERT_BLOCK);
	cr_assert_eq(cons_cert_verify(&c, &vs4, "another-chain", id), CONS_E_BADSIG);
	make_cert(&c, id, 2);
	cr_assert_eq(cons_cert_verify(&c, &vs4, CHAIN, id), CONS_E_CERT_QUORUM);
	/* the same signer twice */
	make_cert(&c, id, 3);
	c.idx[2] = 1;
	memcpy(c.sig[2], c.sig[1], CK_SIG_BYTES);
	cr_assert_eq(cons_cert_verify(&c, &vs4, CHAIN, id), CONS_E_CERT_SIGNER);
	/* a signer outside the set */
	make_cert(&c, id, 3);
	c.idx[2] = 4;
	cr_assert_eq(cons_cert_verify(&c, &vs4, CHAIN, id), CONS_E_CERT_SIGNER);
	/* a forged signature */
	make_cert(&c, id, 3);
	c.sig[1][0] ^= 1;
	cr_assert_eq(cons_cert_verify(&c, &vs4, CHAIN, id), CONS_E_BADSIG);
	/* a repeated index never decodes */
	make_cert(&c, id, 3);
	c.idx[2] = 1;
	cm_wr w;
	cm_wr_init(&w);
	cm_wr_array(&w, 4);
	cm_wr_uint(&w, 7);
	cm_wr_uint(&w, 2);
	cm_wr_bin(&w, id, 32);
	cm_wr_array(&w, 2);
	for (int i = 0; i < 2; i++) {
		cm_wr_array(&w, 2);
		cm_wr_uint(&w, 1);
		cm_wr_bin(&w, c.sig[i], 64);
	}
	cons_cert d;
	cr_assert_eq(cons_cert_decode(&d, cm_wr_data(&w), cm_wr_len(&w)), CONS_E_DECODE);
	cm_wr_free(&w);
}

/* ---- the core ---------------------------------------------------------- */

struct signer_ctx {
	const ck_seckey *sk;
};

static cons *new_core(int who, cons_timeouts *to_out)
{
	cons_config cfg;
	memset(&cfg, 0, sizeof cfg);
	cfg.chain_id = CHAIN;
	memcpy(cfg.self, pk[who], CK_PUBKEY_BYTES);
	cons_ck_signer(&cfg.signer, (const ck_seckey *)&sk[who]);
	cons_ck_verifier(&cfg.verifier);
	cfg.block_id.id = block_id;
	cons_timeouts_default(&cfg.timeouts);
	if (to_out)
		*to_out = cfg.timeouts;
	cons *c;
	cr_assert_eq(cons_new(&c, &cfg), 0);
	return c;
}

/* Every own signed message in the output is preceded by a PERSIST whose
 * state already holds it. */
static void assert_persist_before_send(const cons_actions *a, const ck_pubkey self,
				       const cons_valset *vs)
{
	const cons_safety *persisted = NULL;
	int me = cons_valset_index(vs, self);
	for (uint32_t i = 0; i < a->n; i++) {
		if (a->a[i].kind == CONS_ACT_PERSIST) {
			persisted = &a->a[i].u.persist.safety;
			continue;
		}
		if (a->a[i].kind != CONS_ACT_BROADCAST && a->a[i].kind != CONS_ACT_SEND)
			continue;
		cons_msg m;
		cr_assert_eq(cons_msg_decode(&m, a->a[i].u.msg.bytes, a->a[i].u.msg.len), 0);
		int step;
		uint32_t round, who;
		if (m.kind == CONS_MSG_PROPOSAL) {
			step = 0, round = m.u.proposal.round, who = m.u.proposal.proposer;
		} else if (m.kind == CONS_MSG_PREVOTE || m.kind == CONS_MSG_PRECOMMIT) {
			step = m.u.vote.step, round = m.u.vote.round, who = m.u.vote.validator;
		} else {
			continue;
		}
		if ((int)who != me)
			continue;
		cr_assert_not_null(persisted, "signed message before any PERSIST");
		cr_assert_eq(persisted->last[step].round, round);
		cr_assert_neq(persisted->last[step].height, 0);
	}
}

Test(cons, one_validator_commits_through_the_same_path)
{
	cons_valset vs1 = {.n = 1};
	memcpy(vs1.keys[0], pk[0], CK_PUBKEY_BYTES);
	cons *c = new_core(0, NULL);
	cons_actions *out = malloc(sizeof *out);
	cons_event ev = {.kind = CONS_EV_START_HEIGHT};
	ev.u.start.height = 1;
	ev.u.start.valset = &vs1;
	cr_assert_eq(cons_step(c, &ev, out), 0);
	bool build = false;
	for (uint32_t i = 0; i < out->n; i++)
		if (out->a[i].kind == CONS_ACT_BUILD_BLOCK) {
			build = true;
			cr_assert_eq(out->a[i].u.build.height, 1);
		}
	cr_assert(build, "the only validator is the proposer");

	const uint8_t block[] = "block one";
	ev.kind = CONS_EV_BLOCK_BUILT;
	ev.u.built.height = 1;
	ev.u.built.round = 0;
	ev.u.built.block = block;
	ev.u.built.len = sizeof block;
	cr_assert_eq(cons_step(c, &ev, out), 0);
	assert_persist_before_send(out, pk[0], &vs1);
	const cons_action *commit = NULL;
	int persists = 0;
	for (uint32_t i = 0; i < out->n; i++) {
		persists += out->a[i].kind == CONS_ACT_PERSIST;
		if (out->a[i].kind == CONS_ACT_COMMIT)
			commit = &out->a[i];
	}
	cr_assert_geq(persists, 1);
	cr_assert_not_null(commit, "n = 1 decides on its own proposal");
	cons_id id;
	block_id(NULL, block, sizeof block, id);
	cr_assert_eq(memcmp(commit->u.commit.id, id, CONS_ID_BYTES), 0);
	cr_assert_eq(commit->u.commit.cert->n, 1);
	cr_assert_eq(cons_cert_verify(commit->u.commit.cert, &vs1, CHAIN, id), 0);

	/* the next height starts fresh, and a stale timer is ignored */
	ev.kind = CONS_EV_START_HEIGHT;
	ev.u.start.height = 2;
	ev.u.start.valset = &vs1;
	cr_assert_eq(cons_step(c, &ev, out), 0);
	cr_assert_eq(cons_height(c), 2);
	ev.kind = CONS_EV_TIMEOUT;
	ev.u.timeout.timer = CONS_TIMER_PROPOSE;
	ev.u.timeout.height = 1;
	ev.u.timeout.round = 0;
	cr_assert_eq(cons_step(c, &ev, out), CONS_E_STALE);
	free(out);
	cons_free(c);
}

/* Feeds a vote claiming validator who, signed with sk_signer (a forgery
 * unless it is who's key), and expects rc. */
static void feed_vote_signed(cons *c, cons_actions *out, int who, const ck_seckey sk_signer,
			     enum cons_step step, uint64_t h, uint32_t r, bool has_id,
			     const cons_id id, int expect)
{
	cons_msg m;
	memset(&m, 0, sizeof m);
	m.kind = step == CONS_STEP_PREVOTE ? CONS_MSG_PREVOTE : CONS_MSG_PRECOMMIT;
	m.u.vote.step = (uint8_t)step;
	m.u.vote.height = h;
	m.u.vote.round = r;
	m.u.vote.has_id = has_id;
	if (has_id)
		memcpy(m.u.vote.id, id, CONS_ID_BYTES);
	m.u.vote.validator = (uint32_t)who;
	uint8_t sb[CONS_SIGN_BYTES_MAX];
	size_t n = cons_vote_sign_bytes(sb, h, r, has_id, id);
	ck_sign(m.u.vote.sig, sk_signer, cons_step_domain(step), CHAIN, sb, n);
	cm_wr w;
	cm_wr_init(&w);
	cons_msg_encode(&m, &w);
	cons_event ev = {.kind = CONS_EV_MESSAGE};
	ev.u.message.peer = (uint32_t)who;
	ev.u.message.bytes = cm_wr_data(&w);
	ev.u.message.len = cm_wr_len(&w);
	cr_assert_eq(cons_step(c, &ev, out), expect);
	cm_wr_free(&w);
}

static void feed_vote(cons *c, cons_actions *out, int who, enum cons_step step, uint64_t h,
		      uint32_t r, bool has_id, const cons_id id, int expect)
{
	feed_vote_signed(c, out, who, sk[who], step, h, r, has_id, id, expect);
}

Test(cons, equivocation_becomes_verifiable_evidence)
{
	cons *c = new_core(0, NULL);
	cons_actions *out = malloc(sizeof *out);
	cons_event ev = {.kind = CONS_EV_START_HEIGHT};
	ev.u.start.height = 3;
	ev.u.start.valset = &vs4;
	cr_assert_eq(cons_step(c, &ev, out), 0);
	cons_id a, b;
	memset(a, 0xa, sizeof a);
	memset(b, 0xb, sizeof b);
	feed_vote(c, out, 2, CONS_STEP_PREVOTE, 3, 0, true, a, 0);
	feed_vote(c, out, 2, CONS_STEP_PREVOTE, 3, 0, true, a, CONS_E_DUPLICATE);
	feed_vote(c, out, 2, CONS_STEP_PREVOTE, 3, 0, true, b, CONS_E_EQUIVOCATION);
	cr_assert_eq(cons_evidence_count(c), 1);
	cons_evidence e, d;
	cr_assert_eq(cons_evidence_get(c, 0, &e), 0);
	cr_assert_eq(e.validator, 2);
	cr_assert_eq(cons_evidence_verify(&e, &vs4, CHAIN), 0);
	cm_wr w;
	cm_wr_init(&w);
	cons_evidence_encode(&e, &w);
	cr_assert_eq(cons_evidence_decode(&d, cm_wr_data(&w), cm_wr_len(&w)), 0);
	cr_assert_eq(cons_evidence_verify(&d, &vs4, CHAIN), 0);
	cm_wr_free(&w);
	d.b.sig[3] ^= 1;
	cr_assert_eq(cons_evidence_verify(&d, &vs4, CHAIN), CONS_E_BADSIG);
	d = e;
	d.validator = 1;
	cr_assert_eq(cons_evidence_verify(&d, &vs4, CHAIN), CONS_E_BADSIG);
	d = e;
	d.b = d.a;
	cr_assert_eq(cons_evidence_verify(&d, &vs4, CHAIN), CONS_E_EVIDENCE);
	/* A vote signed by a key outside the set in a member's name, one
	 * signed by another member, one from an index outside the set: none
	 * is counted, and the member's real vote still is. */
	ck_pubkey pk_out;
	ck_seckey sk_out;
	uint8_t seed[CK_SEED_BYTES];
	memset(seed, 0x50, sizeof seed);
	ck_keypair_from_seed(pk_out, sk_out, seed);
	cons_stats st0, st1;
	cons_stats_get(c, &st0);
	feed_vote_signed(c, out, 1, sk_out, CONS_STEP_PRECOMMIT, 3, 5, false, a, CONS_E_BADSIG);
	feed_vote_signed(c, out, 1, sk[2], CONS_STEP_PRECOMMIT, 3, 5, false, a, CONS_E_BADSIG);
	feed_vote_signed(c, out, 4, sk[1], CONS_STEP_PRECOMMIT, 3, 5, false, a,
			 CONS_E_NOT_VALIDATOR);
	cons_stats_get(c, &st1);
	cr_assert_eq(st1.msgs_bad - st0.msgs_bad, 3);
	feed_vote(c, out, 1, CONS_STEP_PRECOMMIT, 3, 5, false, a, 0);
	free(out);
	cons_free(c);
}

static void feed_proposal(cons *c, cons_actions *out, const cons_proposal *p, int expect)
{
	cons_msg m = {.kind = CONS_MSG_PROPOSAL};
	m.u.proposal = *p;
	cm_wr w;
	cm_wr_init(&w);
	cons_msg_encode(&m, &w);
	cons_event ev = {.kind = CONS_EV_MESSAGE};
	ev.u.message.peer = p->proposer;
	ev.u.message.bytes = cm_wr_data(&w);
	ev.u.message.len = cm_wr_len(&w);
	cr_assert_eq(cons_step(c, &ev, out), expect);
	cm_wr_free(&w);
}

static void sign_proposal(cons_proposal *p, const ck_seckey signer)
{
	uint8_t sb[CONS_SIGN_BYTES_MAX];
	size_t n = cons_proposal_sign_bytes(sb, p->height, p->round, p->pol_round, p->id);
	ck_sign(p->sig, signer, CK_DOM_PROPOSAL, CHAIN, sb, n);
}

static bool has_action(const cons_actions *out, enum cons_action_kind kind)
{
	for (uint32_t i = 0; i < out->n; i++)
		if (out->a[i].kind == kind)
			return true;
	return false;
}

Test(cons, forged_proposals_and_votes_are_never_counted)
{
	/* Validator 0 of 4 at height 3; the proposer of round 0 is 3. */
	cons *c = new_core(0, NULL);
	cons_actions *out = malloc(sizeof *out);
	cons_event ev = {.kind = CONS_EV_START_HEIGHT};
	ev.u.start.height = 3;
	ev.u.start.valset = &vs4;
	cr_assert_eq(cons_step(c, &ev, out), 0);
	const uint8_t block[] = "block three";
	cons_proposal p = {.height = 3, .round = 0, .pol_round = -1, .proposer = 3};
	block_id(NULL, block, sizeof block, p.id);
	p.block = block;
	p.block_len = sizeof block;

	/* In the proposer's name, signed by another validator; from a
	 * validator that is not the round's proposer; from an index outside
	 * the set; and signed right but carrying other bytes than the id. */
	sign_proposal(&p, sk[1]);
	feed_proposal(c, out, &p, CONS_E_BADSIG);
	cr_assert(!has_action(out, CONS_ACT_CHECK_BLOCK) && !has_action(out, CONS_ACT_BROADCAST));
	p.proposer = 1;
	feed_proposal(c, out, &p, CONS_E_NOT_PROPOSER);
	p.proposer = 4;
	feed_proposal(c, out, &p, CONS_E_NOT_VALIDATOR);
	p.proposer = 3;
	sign_proposal(&p, sk[3]);
	const uint8_t other[] = "block four!";
	p.block = other;
	p.block_len = sizeof other;
	feed_proposal(c, out, &p, CONS_E_BLOCK_ID);
	cr_assert(!has_action(out, CONS_ACT_CHECK_BLOCK));
	cr_assert_eq(cons_current_step(c), CONS_STEP_PROPOSE);

	/* The real proposal: checked, then prevoted. */
	p.block = block;
	p.block_len = sizeof block;
	feed_proposal(c, out, &p, 0);
	cr_assert(has_action(out, CONS_ACT_CHECK_BLOCK));
	ev.kind = CONS_EV_BLOCK_CHECKED;
	ev.u.checked.height = 3;
	memcpy(ev.u.checked.id, p.id, CONS_ID_BYTES);
	ev.u.checked.valid = true;
	cr_assert_eq(cons_step(c, &ev, out), 0);
	cr_assert_eq(cons_current_step(c), CONS_STEP_PREVOTE);

	/* Forged prevotes and precommits of the others for it: no lock, no
	 * decision. */
	for (int who = 1; who < 4; who++) {
		feed_vote_signed(c, out, who, sk[(who % 3) + 1], CONS_STEP_PREVOTE, 3, 0, true, p.id,
				 CONS_E_BADSIG);
		feed_vote_signed(c, out, who, sk[0], CONS_STEP_PRECOMMIT, 3, 0, true, p.id,
				 CONS_E_BADSIG);
		cr_assert(!has_action(out, CONS_ACT_COMMIT));
	}
	cons_safety s;
	cons_safety_get(c, &s);
	cr_assert_eq(s.locked_round, -1, "a forged polka must not lock");
	cr_assert_eq(cons_current_step(c), CONS_STEP_PREVOTE);

	/* The real votes lock and decide. */
	feed_vote(c, out, 1, CONS_STEP_PREVOTE, 3, 0, true, p.id, 0);
	feed_vote(c, out, 3, CONS_STEP_PREVOTE, 3, 0, true, p.id, 0);
	cons_safety_get(c, &s);
	cr_assert_eq(s.locked_round, 0);
	feed_vote(c, out, 1, CONS_STEP_PRECOMMIT, 3, 0, true, p.id, 0);
	feed_vote(c, out, 3, CONS_STEP_PRECOMMIT, 3, 0, true, p.id, 0);
	cr_assert(has_action(out, CONS_ACT_COMMIT));
	free(out);
	cons_free(c);
}

Test(cons, precommits_from_others_and_persist_order)
{
	/* Validator 0 of 4; round 0 proposer is (3 + 0) % 4 = 3. A proposal
	 * and a quorum of prevotes make it lock and precommit, persisted
	 * first; a quorum of precommits makes it commit. */
	cons *c = new_core(0, NULL);
	cons_actions *out = malloc(sizeof *out);
	cons_event ev = {.kind = CONS_EV_START_HEIGHT};
	ev.u.start.height = 3;
	ev.u.start.valset = &vs4;
	cr_assert_eq(cons_step(c, &ev, out), 0);
	const uint8_t block[] = "block three";
	cons_id id;
	block_id(NULL, block, sizeof block, id);
	cons_msg m;
	memset(&m, 0, sizeof m);
	m.kind = CONS_MSG_PROPOSAL;
	m.u.proposal.height = 3;
	m.u.proposal.round = 0;
	m.u.proposal.pol_round = -1;
	memcpy(m.u.proposal.id, id, CONS_ID_BYTES);
	m.u.proposal.proposer = 3;
	m.u.proposal.block = block;
	m.u.proposal.block_len = sizeof block;
	uint8_t sb[CONS_SIGN_BYTES_MAX];
	size_t n = cons_proposal_sign_bytes(sb, 3, 0, -1, id);
	ck_sign(m.u.proposal.sig, sk[3], CK_DOM_PROPOSAL, CHAIN, sb, n);
	cm_wr w;
	cm_wr_init(&w);
	cons_msg_encode(&m, &w);
	ev.kind = CONS_EV_MESSAGE;
	ev.u.message.peer = 3;
	ev.u.message.bytes = cm_wr_data(&w);
	ev.u.message.len = cm_wr_len(&w);
	cr_assert_eq(cons_step(c, &ev, out), 0);
	cm_wr_free(&w);
	bool asked = false;
	for (uint32_t i = 0; i < out->n; i++)
		asked |= out->a[i].kind == CONS_ACT_CHECK_BLOCK;
	cr_assert(asked, "valid(v) is asked of the driver");
	ev.kind = CONS_EV_BLOCK_CHECKED;
	ev.u.checked.height = 3;
	memcpy(ev.u.checked.id, id, CONS_ID_BYTES);
	ev.u.checked.valid = true;
	cr_assert_eq(cons_step(c, &ev, out), 0);
	assert_persist_before_send(out, pk[0], &vs4);
	cr_assert_eq(cons_current_step(c), CONS_STEP_PREVOTE);
	feed_vote(c, out, 1, CONS_STEP_PREVOTE, 3, 0, true, id, 0);
	feed_vote(c, out, 3, CONS_STEP_PREVOTE, 3, 0, true, id, 0);
	assert_persist_before_send(out, pk[0], &vs4);
	cr_assert_eq(cons_current_step(c), CONS_STEP_PRECOMMIT);
	cons_safety s;
	cons_safety_get(c, &s);
	cr_assert_eq(s.locked_round, 0);
	cr_assert_eq(memcmp(s.locked_id, id, CONS_ID_BYTES), 0);
	feed_vote(c, out, 1, CONS_STEP_PRECOMMIT, 3, 0, true, id, 0);
	feed_vote(c, out, 2, CONS_STEP_PRECOMMIT, 3, 0, true, id, 0);
	bool committed = false;
	for (uint32_t i = 0; i < out->n; i++)
		if (out->a[i].kind == CONS_ACT_COMMIT) {
			committed = true;
			cr_assert_eq(cons_cert_verify(out->a[i].u.commit.cert, &vs4, CHAIN, id), 0);
		}
	cr_assert(committed);

	/* the safety state round-trips through its canonical encoding */
	cons_safety d;
	cm_wr_init(&w);
	cons_safety_encode(&s, &w);
	cr_assert_eq(cons_safety_decode(&d, cm_wr_data(&w), cm_wr_len(&w)), 0);
	cr_assert_eq(memcmp(&d.last, &s.last, sizeof s.last), 0);
	cr_assert_eq(d.locked_round, 0);
	cm_wr_free(&w);
	free(out);
	cons_free(c);
}

Test(cons, restart_never_signs_a_conflicting_vote)
{
	/* A validator that prevoted nil in round 0 and restarts from that
	 * state re-sends the same prevote and does not sign another. */
	cons *c = new_core(0, NULL);
	cons_actions *out = malloc(sizeof *out);
	cons_event ev = {.kind = CONS_EV_START_HEIGHT};
	ev.u.start.height = 3;
	ev.u.start.valset = &vs4;
	cr_assert_eq(cons_step(c, &ev, out), 0);
	ev.kind = CONS_EV_TIMEOUT;
	ev.u.timeout.timer = CONS_TIMER_PROPOSE;
	ev.u.timeout.height = 3;
	ev.u.timeout.round = 0;
	cr_assert_eq(cons_step(c, &ev, out), 0);
	cons_safety s;
	cons_safety_get(c, &s);
	cr_assert_eq(s.last[CONS_STEP_PREVOTE].height, 3);
	cr_assert_eq(s.last[CONS_STEP_PREVOTE].has_id, false);
	cons_free(c);

	c = new_core(0, NULL);
	ev.kind = CONS_EV_RESTART;
	ev.u.restart.safety = &s;
	ev.u.restart.valid_block = NULL;
	ev.u.restart.valid_len = 0;
	ev.u.restart.valid_pol = NULL;
	cr_assert_eq(cons_step(c, &ev, out), 0);
	ev.kind = CONS_EV_START_HEIGHT;
	ev.u.start.height = 3;
	ev.u.start.valset = &vs4;
	cr_assert_eq(cons_step(c, &ev, out), 0);
	cr_assert_eq(cons_current_step(c), CONS_STEP_PREVOTE);
	int prevotes = 0;
	for (uint32_t i = 0; i < out->n; i++) {
		cons_msg m;
		if (out->a[i].kind != CONS_ACT_BROADCAST)
			continue;
		cr_assert_eq(cons_msg_decode(&m, out->a[i].u.msg.bytes, out->a[i].u.msg.len), 0);
		if (m.kind == CONS_MSG_PREVOTE) {
			prevotes++;
			cr_assert_eq(m.u.vote.has_id, false);
			cr_assert_eq(memcmp(m.u.vote.sig, s.last[1].sig, CK_SIG_BYTES), 0);
		}
	}
	cr_assert_eq(prevotes, 1, "the signed prevote is re-sent as it was");
	free(out);
	cons_free(c);
}

static int count_decided(const cons_actions *out, uint64_t *heights_seen)
{
	int k = 0;
	for (uint32_t i = 0; i < out->n; i++)
		if (out->a[i].kind == CONS_ACT_SEND_DECIDED) {
			k++;
			cr_assert_lt(out->a[i].u.decided.height, 64);
			heights_seen[out->a[i].u.decided.height]++;
		}
	return k;
}

static int feed_status(cons *c, cons_actions *out, uint32_t peer, uint64_t h, uint64_t *seen)
{
	cons_msg m = {.kind = CONS_MSG_STATUS};
	m.u.status.height = h;
	m.u.status.round = 0;
	cm_wr w;
	cm_wr_init(&w);
	cons_msg_encode(&m, &w);
	cons_event ev = {.kind = CONS_EV_MESSAGE};
	ev.u.message.peer = peer;
	ev.u.message.bytes = cm_wr_data(&w);
	ev.u.message.len = cm_wr_len(&w);
	cr_assert_eq(cons_step(c, &ev, out), 0);
	cm_wr_free(&w);
	return count_decided(out, seen);
}

Test(cons, catch_up_answers_are_bounded_per_peer_and_period)
{
	/* A core at height 40 asked by one peer for old heights: alternating
	 * two heights, then cycling through many, within one gossip period. */
	cons *c = new_core(0, NULL);
	cons_actions *out = malloc(sizeof *out);
	cons_event ev = {.kind = CONS_EV_START_HEIGHT};
	ev.u.start.height = 40;
	ev.u.start.valset = &vs4;
	cr_assert_eq(cons_step(c, &ev, out), 0);
	uint64_t seen[64] = {0};
	int answers = 0;
	for (int i = 0; i < 1000; i++)
		answers += feed_status(c, out, 7, 1 + (uint64_t)(i % 2), seen);
	cr_assert_eq(answers, 2, "heights 1 and 2 once each, not once per message");
	for (int i = 0; i < 1000; i++)
		answers += feed_status(c, out, 7, 1 + (uint64_t)(i % 39), seen);
	cr_assert_eq(answers, LIM_CONS_DECIDED_PER_PERIOD);
	for (int h = 0; h < 64; h++)
		cr_assert_leq(seen[h], 1, "height %d answered twice in one period", h);
	/* Another peer has its own budget. */
	cr_assert_eq(feed_status(c, out, 8, 1, seen), 1);
	/* The next gossip period gives peer 7 a new budget. */
	ev.kind = CONS_EV_TIMEOUT;
	ev.u.timeout.timer = CONS_TIMER_GOSSIP;
	ev.u.timeout.height = 40;
	ev.u.timeout.round = 0;
	cr_assert_eq(cons_step(c, &ev, out), 0);
	answers = 0;
	for (int i = 0; i < 100; i++)
		answers += feed_status(c, out, 7, 1 + (uint64_t)(i % 39), seen);
	cr_assert_eq(answers, LIM_CONS_DECIDED_PER_PERIOD);
	/* Nothing for a height not decided yet. */
	cr_assert_eq(feed_status(c, out, 9, 40, seen), 0);
	free(out);
	cons_free(c);
}

/* A consistent state: validator at (7, 3, prevote), locked and valid in
 * round 2, signed a proposal in round 1 (vr 0), a prevote in round 3 and
 * a precommit in round 2. */
static void sample_safety(cons_safety *s)
{
	memset(s, 0, sizeof *s);
	s->height = 7;
	s->round = 3;
	s->step = CONS_STEP_PREVOTE;
	s->locked_round = 2;
	memset(s->locked_id, 0x11, CONS_ID_BYTES);
	s->valid_round = 2;
	memset(s->valid_id, 0x11, CONS_ID_BYTES);
	s->last[0] = (cons_signed){.height = 7, .round = 1, .pol_round = 0, .has_id = true};
	memset(s->last[0].id, 0x22, CONS_ID_BYTES);
	s->last[1] = (cons_signed){.height = 7, .round = 3, .pol_round = -1};
	s->last[2] = (cons_signed){.height = 7, .round = 2, .pol_round = -1, .has_id = true};
	memset(s->last[2].id, 0x11, CONS_ID_BYTES);
}

/* Encodes s and expects decode to give rc. */
static void expect_decode(const cons_safety *s, int rc)
{
	cm_wr w;
	cm_wr_init(&w);
	cons_safety_encode(s, &w);
	cons_safety d;
	cr_assert_eq(cons_safety_decode(&d, cm_wr_data(&w), cm_wr_len(&w)), rc);
	cm_wr_free(&w);
}

Test(cons, inconsistent_safety_state_is_refused)
{
	cons_safety s;
	sample_safety(&s);
	cr_assert_eq(cons_safety_check(&s), 0);
	expect_decode(&s, 0);
	/* Each a state the core never writes; each decodes as bytes but is
	 * refused as a state. */
	cons_safety t;
	t = s, t.locked_round = 4;            /* lock ahead of the round */
	cr_assert_eq(cons_safety_check(&t), CONS_E_SAFETY);
	expect_decode(&t, CONS_E_SAFETY);
	t = s, t.valid_round = 4;             /* would propose with vr >= round */
	cr_assert_eq(cons_safety_check(&t), CONS_E_SAFETY);
	expect_decode(&t, CONS_E_SAFETY);
	t = s, t.last[1].height = 8;          /* signed at a later height */
	expect_decode(&t, CONS_E_SAFETY);
	t = s, t.last[2].round = 4;           /* signed in a later round */
	expect_decode(&t, CONS_E_SAFETY);
	t = s, t.last[2].round = 3;           /* precommitted while in prevote */
	expect_decode(&t, CONS_E_SAFETY);
	t = s, t.step = CONS_STEP_PRECOMMIT, t.last[2].round = 3;
	expect_decode(&t, 0);
	t = s, t.last[0].pol_round = 1;       /* a proposal's vr not below its round */
	cr_assert_eq(cons_safety_check(&t), CONS_E_SAFETY);
	t = s, t.last[1].pol_round = 0;       /* a vote with a vr */
	cr_assert_eq(cons_safety_check(&t), CONS_E_SAFETY);
	t = s, t.valid_round = -2;
	cr_assert_eq(cons_safety_check(&t), CONS_E_SAFETY);
	t = s, t.height = 0;
	cr_assert_eq(cons_safety_check(&t), CONS_E_SAFETY);

	/* A core handed such a state refuses it and then every event. */
	cons *c = new_core(0, NULL);
	cons_actions *out = malloc(sizeof *out);
	t = s, t.valid_round = 5;
	cons_event ev = {.kind = CONS_EV_RESTART};
	ev.u.restart.safety = &t;
	cr_assert_eq(cons_step(c, &ev, out), CONS_E_SAFETY);
	ev = (cons_event){.kind = CONS_EV_START_HEIGHT};
	cr_assert_eq(out->n, 0);
	ev.kind = CONS_EV_START_HEIGHT;
	ev.u.start.height = 7;
	ev.u.start.valset = &vs4;
	cr_assert_eq(cons_step(c, &ev, out), CONS_E_STATE);
	cr_assert_eq(out->n, 0, "a refused restart never signs or sends");
	cons_free(c);

	/* The consistent one resumes. */
	c = new_core(0, NULL);
	ev.kind = CONS_EV_RESTART;
	ev.u.restart.safety = &s;
	cr_assert_eq(cons_step(c, &ev, out), 0);
	ev.kind = CONS_EV_START_HEIGHT;
	ev.u.start.height = 7;
	ev.u.start.valset = &vs4;
	cr_assert_eq(cons_step(c, &ev, out), 0);
	cr_assert_eq(cons_round(c), 3);
	cr_assert_eq(cons_current_step(c), CONS_STEP_PREVOTE);
	free(out);
	cons_free(c);
}

/* A validator that signed at height 7 restarts with its ledger at 5 (block
 * 6 decided, its commit lost in the crash): the driver runs height 6 first
 * (catch-up) and then 7, where the restored lock must still hold. (The
 * node avoids this by applying the decided block from its safety store
 * first; the core must not rely on that.) Review H6's test. */
Test(cons, restart_below_the_restored_height_keeps_the_lock)
{
	cons_safety s, got;
	sample_safety(&s); /* (7, 3, prevote), locked in round 2 */
	cons *c = new_core(0, NULL);
	cons_actions *out = malloc(sizeof *out);
	cr_assert(out != NULL);
	cons_event ev = {.kind = CONS_EV_RESTART};
	ev.u.restart.safety = &s;
	cr_assert_eq(cons_step(c, &ev, out), 0);
	ev = (cons_event){.kind = CONS_EV_START_HEIGHT};
	ev.u.start.height = 6;
	ev.u.start.valset = &vs4;
	cr_assert_eq(cons_step(c, &ev, out), 0);
	cons_safety_get(c, &got);
	cr_assert_eq(got.height, 6);
	cr_assert_eq(got.locked_round, -1, "height 6 is not locked");
	/* A proposal and a polka at height 6 (the others decide it): the core
	 * cannot vote there, and must store nothing that would replace the
	 * restored lock on disk (review H7). */
	uint32_t P = cons_proposer(&vs4, 6, 0);
	cr_assert_neq(P, 0);
	const uint8_t block[] = "block six";
	cons_proposal p = {.height = 6, .round = 0, .pol_round = -1, .proposer = P};
	block_id(NULL, block, sizeof block, p.id);
	p.block = block;
	p.block_len = sizeof block;
	sign_proposal(&p, sk[P]);
	feed_proposal(c, out, &p, 0);
	ev = (cons_event){.kind = CONS_EV_BLOCK_CHECKED};
	ev.u.checked.height = 6;
	memcpy(ev.u.checked.id, p.id, CONS_ID_BYTES);
	ev.u.checked.valid = true;
	cr_assert_eq(cons_step(c, &ev, out), 0);
	for (uint32_t i = 0; i < out->n; i++)
		cr_assert_neq(out->a[i].kind, CONS_ACT_PERSIST, "persisted below the restored height");
	for (int who = 1; who < 4; who++) {
		feed_vote(c, out, who, CONS_STEP_PREVOTE, 6, 0, true, p.id, 0);
		for (uint32_t i = 0; i < out->n; i++)
			cr_assert_neq(out->a[i].kind, CONS_ACT_PERSIST,
				      "persisted below the restored height");
	}
	ev = (cons_event){.kind = CONS_EV_START_HEIGHT};
	ev.u.start.valset = &vs4;
	ev.u.start.height = 7;
	cr_assert_eq(cons_step(c, &ev, out), 0);
	cons_safety_get(c, &got);
	cr_assert_eq(got.height, 7);
	cr_assert_eq(got.round, 3);
	cr_assert_eq(got.locked_round, 2, "lock at height 7 lost: locked_round=%d round=%u",
		     got.locked_round, got.round);
	cr_assert_eq(memcmp(got.locked_id, s.locked_id, CONS_ID_BYTES), 0);
	free(out);
	cons_free(c);
}
