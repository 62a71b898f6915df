/*
 * Golden vectors of consensus/'s bytes, in tests/vectors/consensus_*.hex
 * (paths relative to the repository root, where the tests run): sign
 * bytes, the five messages, a commit certificate, evidence, the safety
 * state and a validator set. Certificates are stored beside every block
 * and checked by wallets and banks, and validators sign these bytes, so a
 * change to any of them is a protocol change that must show as a diff.
 * Every vector carries real Ed25519 signatures from fixed seeds, which the
 * test also verifies after decoding. After an intended change, regenerate
 * with
 *   CARBON_WRITE_VECTORS=1 build/tests/test_consensus_vectors
 * and review the diff.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "consensus/cons.h"

#define CHAIN "carbon-test-1"

static ck_pubkey pk[4];
static ck_seckey sk[4];
static cons_valset vs;
static cons_id id_a, id_b;
static const uint8_t block[] = "block five: opaque bytes to consensus";

/* Validators from the seeds 32 x 1, ..., 32 x 4, sorted by key bytes:
 * index i is pk[i]. */
static void setup(void)
{
	cr_assert_eq(ck_init(), 0);
	for (int i = 0; i < 4; i++) {
		uint8_t seed[CK_SEED_BYTES];
		memset(seed, i + 1, sizeof seed);
		ck_keypair_from_seed(pk[i], sk[i], seed);
	}
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
	vs.n = 4;
	memcpy(vs.keys, pk, sizeof pk);
	cr_assert_eq(cons_valset_check(&vs), 0);
	ck_hash_tagged(id_a, "block", block, sizeof block);
	memset(id_b, 0xb0, sizeof id_b);
}

TestSuite(vectors, .init = setup);

/* ---- reading and writing the files ------------------------------------- */

static bool writing_vectors(void)
{
	const char *v = getenv("CARBON_WRITE_VECTORS");
	return v != NULL && strcmp(v, "1") == 0;
}

/* Appends one line of hex to text (of cap bytes). */
static void add_line(char *text, size_t cap, const uint8_t *b, size_t n)
{
	size_t used = strlen(text);
	cr_assert_lt(used + 2 * n + 1, cap);
	cm_hex_encode(text + used, b, n);
	strcat(text, "\n");
}

/* Compares text with tests/vectors/<name> (or writes it there). */
static void check_text(const char *name, const char *text)
{
	char path[256];
	snprintf(path, sizeof path, "tests/vectors/%s", name);
	if (writing_vectors()) {
		FILE *f = fopen(path, "w");
		cr_assert_not_null(f, "cannot write %s", path);
		cr_assert_geq(fputs(text, f), 0);
		cr_assert_eq(fclose(f), 0);
		return;
	}
	FILE *f = fopen(path, "r");
	cr_assert_not_null(f, "cannot read %s (tests run from the repository root)", path);
	size_t cap = strlen(text) + 2;
	char *got = calloc(1, cap + 1);
	cr_assert_not_null(got);
	size_t n = fread(got, 1, cap, f);
	fclose(f);
	got[n] = '\0';
	cr_assert_str_eq(got, text, "%s differs from the canonical bytes produced now", path);
	free(got);
}

/* One vector: the bytes in w, then a decode of the file's bytes (here,
 * the same bytes) by the caller. */
static void check_wr(const char *name, cm_wr *w)
{
	cr_assert_eq(cm_wr_error(w), 0);
	size_t cap = 2 * cm_wr_len(w) + 2;
	char *text = calloc(1, cap);
	cr_assert_not_null(text);
	add_line(text, cap, cm_wr_data(w), cm_wr_len(w));
	check_text(name, text);
	free(text);
}

/* ---- fixtures ----------------------------------------------------------- */

static void vote(cons_msg *m, enum cons_step step, uint32_t who, bool has_id, const cons_id id)
{
	memset(m, 0, sizeof *m);
	m->kind = step == CONS_STEP_PREVOTE ? CONS_MSG_PREVOTE : CONS_MSG_PRECOMMIT;
	m->u.vote.step = (uint8_t)step;
	m->u.vote.height = 5;
	m->u.vote.round = 2;
	m->u.vote.has_id = has_id;
	if (has_id)
		memcpy(m->u.vote.id, id, CONS_ID_BYTES);
	m->u.vote.validator = who;
	uint8_t sb[CONS_SIGN_BYTES_MAX];
	size_t n = cons_vote_sign_bytes(sb, 5, 2, has_id, m->u.vote.id);
	ck_sign(m->u.vote.sig, sk[who], cons_step_domain(step), CHAIN, sb, n);
}

static void cert(cons_cert *c)
{
	memset(c, 0, sizeof *c);
	c->height = 5;
	c->round = 2;
	memcpy(c->id, id_a, CONS_ID_BYTES);
	const uint32_t who[3] = {0, 1, 3};
	for (uint32_t k = 0; k < 3; k++) {
		cons_msg m;
		vote(&m, CONS_STEP_PRECOMMIT, who[k], true, id_a);
		c->idx[k] = who[k];
		memcpy(c->sig[k], m.u.vote.sig, CK_SIG_BYTES);
	}
	c->n = 3;
}

/* Re-encodes what was decoded from w and expects w's bytes. */
static void expect_same(const cm_wr *w, void (*encode)(const void *x, cm_wr *out), const void *x)
{
	cm_wr w2;
	cm_wr_init(&w2);
	encode(x, &w2);
	cr_assert_eq(cm_wr_len(&w2), cm_wr_len(w));
	cr_assert_eq(memcmp(cm_wr_data(&w2), cm_wr_data(w), cm_wr_len(w)), 0);
	cm_wr_free(&w2);
}

static void encode_msg(const void *x, cm_wr *out)
{
	cons_msg_encode(x, out);
}

/* Encodes m into w (the caller's, which back's block pointer then points
 * into), checks the vector, decodes it into back and re-encodes that. */
static void check_msg(const char *name, const cons_msg *m, cm_wr *w, cons_msg *back)
{
	cons_msg_encode(m, w);
	check_wr(name, w);
	cr_assert_eq(cons_msg_decode(back, cm_wr_data(w), cm_wr_len(w)), 0);
	expect_same(w, encode_msg, back);
}

/* ---- the vectors -------------------------------------------------------- */

Test(vectors, sign_bytes)
{
	/* proposal (h 5, r 2, vr 1), prevote for a value, precommit for nil */
	uint8_t sb[CONS_SIGN_BYTES_MAX];
	char text[1024] = "";
	size_t n = cons_proposal_sign_bytes(sb, 5, 2, 1, id_a);
	add_line(text, sizeof text, sb, n);
	n = cons_vote_sign_bytes(sb, 5, 2, true, id_a);
	add_line(text, sizeof text, sb, n);
	n = cons_vote_sign_bytes(sb, 5, 2, false, id_b);
	add_line(text, sizeof text, sb, n);
	/* a height and round past the one-byte forms */
	n = cons_proposal_sign_bytes(sb, 0x100000000ull, 300, -1, id_b);
	add_line(text, sizeof text, sb, n);
	check_text("consensus_sign_bytes.hex", text);
}

Test(vectors, proposal)
{
	cons_msg m, back;
	memset(&m, 0, sizeof m);
	m.kind = CONS_MSG_PROPOSAL;
	cons_proposal *p = &m.u.proposal;
	p->height = 5;
	p->round = 2;
	p->pol_round = 1;
	memcpy(p->id, id_a, CONS_ID_BYTES);
	p->proposer = cons_proposer(&vs, 5, 2);
	p->block = block;
	p->block_len = sizeof block;
	uint8_t sb[CONS_SIGN_BYTES_MAX];
	size_t n = cons_proposal_sign_bytes(sb, 5, 2, 1, id_a);
	ck_sign(p->sig, sk[p->proposer], CK_DOM_PROPOSAL, CHAIN, sb, n);
	cm_wr w;
	cm_wr_init(&w);
	check_msg("consensus_proposal.hex", &m, &w, &back);
	cr_assert_eq(back.u.proposal.pol_round, 1);
	cr_assert_eq(back.u.proposal.block_len, sizeof block);
	cr_assert_eq(ck_verify(back.u.proposal.sig, pk[back.u.proposal.proposer], CK_DOM_PROPOSAL,
			       CHAIN, sb, n),
		     0);
	cm_wr_free(&w);
}

Test(vectors, votes)
{
	cons_msg m, back;
	uint8_t sb[CONS_SIGN_BYTES_MAX];
	cm_wr w;
	cm_wr_init(&w);
	vote(&m, CONS_STEP_PREVOTE, 1, true, id_a);
	check_msg("consensus_prevote.hex", &m, &w, &back);
	size_t n = cons_vote_sign_bytes(sb, 5, 2, true, id_a);
	cr_assert_eq(ck_verify(back.u.vote.sig, pk[1], CK_DOM_PREVOTE, CHAIN, sb, n), 0);
	cm_wr_reset(&w);
	vote(&m, CONS_STEP_PRECOMMIT, 2, false, id_b);
	check_msg("consensus_precommit.hex", &m, &w, &back);
	cr_assert_eq(back.u.vote.has_id, false);
	n = cons_vote_sign_bytes(sb, 5, 2, false, id_b);
	cr_assert_eq(ck_verify(back.u.vote.sig, pk[2], CK_DOM_PRECOMMIT, CHAIN, sb, n), 0);
	cm_wr_free(&w);
}

Test(vectors, status)
{
	cons_msg m = {.kind = CONS_MSG_STATUS}, back;
	m.u.status.height = 5;
	m.u.status.round = 2;
	cm_wr w;
	cm_wr_init(&w);
	check_msg("consensus_status.hex", &m, &w, &back);
	cr_assert_eq(back.u.status.height, 5);
	cm_wr_free(&w);
}

static void encode_cert(const void *x, cm_wr *out)
{
	cons_cert_encode(x, out);
}

Test(vectors, certificate_and_decided)
{
	cons_cert c, d;
	cert(&c);
	cm_wr w;
	cm_wr_init(&w);
	cons_cert_encode(&c, &w);
	check_wr("consensus_cert.hex", &w);
	cr_assert_eq(cons_cert_decode(&d, cm_wr_data(&w), cm_wr_len(&w)), 0);
	cr_assert_eq(cons_cert_verify(&d, &vs, CHAIN, id_a), 0);
	expect_same(&w, encode_cert, &d);
	cm_wr_free(&w);

	cons_msg m = {.kind = CONS_MSG_DECIDED}, back;
	m.u.decided.cert = c;
	m.u.decided.block = block;
	m.u.decided.block_len = sizeof block;
	cm_wr_init(&w);
	check_msg("consensus_decided.hex", &m, &w, &back);
	cr_assert_eq(cons_cert_verify(&back.u.decided.cert, &vs, CHAIN, id_a), 0);
	cr_assert_eq(back.u.decided.block_len, sizeof block);
	cm_wr_free(&w);
	/* cons_decided_encode writes the same bytes */
	cm_wr a, b;
	cm_wr_init(&a);
	cm_wr_init(&b);
	cons_decided_encode(&c, block, sizeof block, &a);
	cons_msg_encode(&m, &b);
	cr_assert_eq(cm_wr_len(&a), cm_wr_len(&b));
	cr_assert_eq(memcmp(cm_wr_data(&a), cm_wr_data(&b), cm_wr_len(&a)), 0);
	cm_wr_free(&a);
	cm_wr_free(&b);
}

static void encode_evidence(const void *x, cm_wr *out)
{
	cons_evidence_encode(x, out);
}

Test(vectors, evidence)
{
	/* validator 2 prevoted id_a and nil in (5, 2) */
	cons_msg x, y;
	vote(&x, CONS_STEP_PREVOTE, 2, true, id_a);
	vote(&y, CONS_STEP_PREVOTE, 2, false, id_b);
	cons_evidence e;
	memset(&e, 0, sizeof e);
	e.step = CONS_STEP_PREVOTE;
	e.height = 5;
	e.round = 2;
	e.validator = 2;
	/* a's sign bytes sort first: [5, 2, nil] < [5, 2, bin] (0xc0 < 0xc4) */
	e.a = (cons_evidence_side){.pol_round = -1, .has_id = false};
	memcpy(e.a.sig, y.u.vote.sig, CK_SIG_BYTES);
	e.b = (cons_evidence_side){.pol_round = -1, .has_id = true};
	memcpy(e.b.id, id_a, CONS_ID_BYTES);
	memcpy(e.b.sig, x.u.vote.sig, CK_SIG_BYTES);
	cm_wr w;
	cm_wr_init(&w);
	cons_evidence_encode(&e, &w);
	check_wr("consensus_evidence.hex", &w);
	cons_evidence d;
	cr_assert_eq(cons_evidence_decode(&d, cm_wr_data(&w), cm_wr_len(&w)), 0);
	cr_assert_eq(cons_evidence_verify(&d, &vs, CHAIN), 0);
	expect_same(&w, encode_evidence, &d);
	cm_wr_free(&w);
}

static void encode_safety(const void *x, cm_wr *out)
{
	cons_safety_encode(x, out);
}

Test(vectors, safety_state)
{
	/* At (5, 2, precommit), locked and valid on id_a in round 2; signed
	 * a proposal of round 1 (vr 0), a prevote and a precommit of round 2. */
	cons_safety s, d;
	memset(&s, 0, sizeof s);
	s.height = 5;
	s.round = 2;
	s.step = CONS_STEP_PRECOMMIT;
	s.locked_round = 2;
	memcpy(s.locked_id, id_a, CONS_ID_BYTES);
	s.valid_round = 2;
	memcpy(s.valid_id, id_a, CONS_ID_BYTES);
	uint8_t sb[CONS_SIGN_BYTES_MAX];
	size_t n = cons_proposal_sign_bytes(sb, 5, 1, 0, id_b);
	s.last[0] = (cons_signed){.height = 5, .round = 1, .pol_round = 0, .has_id = true};
	memcpy(s.last[0].id, id_b, CONS_ID_BYTES);
	ck_sign(s.last[0].sig, sk[0], CK_DOM_PROPOSAL, CHAIN, sb, n);
	cons_msg m;
	vote(&m, CONS_STEP_PREVOTE, 0, true, id_a);
	s.last[1] = (cons_signed){.height = 5, .round = 2, .pol_round = -1, .has_id = true};
	memcpy(s.last[1].id, id_a, CONS_ID_BYTES);
	memcpy(s.last[1].sig, m.u.vote.sig, CK_SIG_BYTES);
	vote(&m, CONS_STEP_PRECOMMIT, 0, true, id_a);
	s.last[2] = s.last[1];
	memcpy(s.last[2].sig, m.u.vote.sig, CK_SIG_BYTES);
	cm_wr w;
	cm_wr_init(&w);
	cons_safety_encode(&s, &w);
	check_wr("consensus_safety.hex", &w);
	cr_assert_eq(cons_safety_decode(&d, cm_wr_data(&w), cm_wr_len(&w)), 0);
	cr_assert_eq(d.locked_round, 2);
	cr_assert_eq(d.last[0].pol_round, 0);
	expect_same(&w, encode_safety, &d);
	cm_wr_free(&w);
}

Test(vectors, valset)
{
	cm_wr w;
	cm_wr_init(&w);
	cons_valset_encode(&vs, &w);
	cr_assert_eq(cm_wr_error(&w), 0);
	ck_hash h;
	cons_valset_hash(&vs, h);
	char text[1024] = "";
	add_line(text, sizeof text, cm_wr_data(&w), cm_wr_len(&w));
	add_line(text, sizeof text, h, sizeof h);
	check_text("consensus_valset.hex", text);
	cm_wr_free(&w);
}
