/*
 * libFuzzer target for the certificates and evidence of consensus/: the
 * input is tried as a commit certificate (cons_cert_decode) and as
 * equivocation evidence (cons_evidence_decode). Whatever decodes must
 * re-encode to exactly the input, and is then checked against fixed
 * validator sets of 4 and of LIM_VALIDATORS_MAX with the test crypto of
 * fuzz.h (every signature forgeable, so the fuzzer reaches the quorum and
 * signer rules, not only the first signature check). A certificate the
 * check accepts must really hold a quorum of distinct members of the set
 * for the id asked; accepted evidence must show two different signed
 * messages of one validator. Seeds: tests/fuzz/corpus/cert (gen_corpus).
 */
#include "tests/fuzz/fuzz.h"

static cons_valset small, full;
static ck_pubkey nobody; /* the verifier's own key: in no set */
static cons_verifier ver = {nobody, fuzz_verifier_verify};

static void check_cert(const cons_cert *c, const cons_valset *vs, const cons_id id)
{
	int rc = cons_cert_check(c, vs, FUZZ_CHAIN, id, &ver);
	if (rc != 0) {
		FUZZ_CHECK(rc == CONS_E_CERT_BLOCK || rc == CONS_E_CERT_SIGNER ||
			   rc == CONS_E_CERT_QUORUM || rc == CONS_E_BADSIG);
		return;
	}
	FUZZ_CHECK(memcmp(c->id, id, CONS_ID_BYTES) == 0);
	FUZZ_CHECK(c->n >= cons_quorum(vs->n));
	FUZZ_CHECK(c->n <= vs->n);
	for (uint32_t i = 0; i < c->n; i++) {
		FUZZ_CHECK(c->idx[i] < vs->n);
		FUZZ_CHECK(i == 0 || c->idx[i] > c->idx[i - 1]);
		FUZZ_CHECK(c->sig[i][0] == FUZZ_SIG_MAGIC);
	}
}

static void try_cert(const uint8_t *data, size_t size)
{
	cons_cert c;
	if (cons_cert_decode(&c, data, size) != 0)
		return;
	FUZZ_CHECK(c.height >= 1 && c.round <= LIM_CONS_ROUND_MAX);
	FUZZ_CHECK(c.n >= 1 && c.n <= LIM_VALIDATORS_MAX);
	cm_wr w;
	cm_wr_init(&w);
	cons_cert_encode(&c, &w);
	fuzz_same_bytes(&w, data, size);
	cm_wr_free(&w);

	check_cert(&c, &small, c.id);
	check_cert(&c, &full, c.id);
	cons_id other;
	memcpy(other, c.id, sizeof other);
	other[0] ^= 1;
	FUZZ_CHECK(cons_cert_check(&c, &full, FUZZ_CHAIN, other, &ver) == CONS_E_CERT_BLOCK);
}

static void check_evidence(const cons_evidence *e, const cons_valset *vs)
{
	int rc = cons_evidence_check(e, vs, FUZZ_CHAIN, &ver);
	if (rc != 0) {
		FUZZ_CHECK(rc == CONS_E_EVIDENCE || rc == CONS_E_NOT_VALIDATOR ||
			   rc == CONS_E_BADSIG);
		return;
	}
	FUZZ_CHECK(e->validator < vs->n);
	FUZZ_CHECK(e->a.sig[0] == FUZZ_SIG_MAGIC && e->b.sig[0] == FUZZ_SIG_MAGIC);
	/* Two different messages: their sign bytes differ. */
	uint8_t sa[CONS_SIGN_BYTES_MAX], sb[CONS_SIGN_BYTES_MAX];
	size_t la, lb;
	if (e->step == CONS_STEP_PROPOSE) {
		la = cons_proposal_sign_bytes(sa, e->height, e->round, e->a.pol_round, e->a.id);
		lb = cons_proposal_sign_bytes(sb, e->height, e->round, e->b.pol_round, e->b.id);
	} else {
		la = cons_vote_sign_bytes(sa, e->height, e->round, e->a.has_id, e->a.id);
		lb = cons_vote_sign_bytes(sb, e->height, e->round, e->b.has_id, e->b.id);
	}
	FUZZ_CHECK(la != lb || memcmp(sa, sb, la) != 0);
}

static void try_evidence(const uint8_t *data, size_t size)
{
	cons_evidence e;
	if (cons_evidence_decode(&e, data, size) != 0)
		return;
	FUZZ_CHECK(e.step <= CONS_STEP_PRECOMMIT);
	cm_wr w;
	cm_wr_init(&w);
	cons_evidence_encode(&e, &w);
	fuzz_same_bytes(&w, data, size);
	cm_wr_free(&w);
	check_evidence(&e, &small);
	check_evidence(&e, &full);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (small.n == 0) {
		fuzz_valset(&small, 4);
		fuzz_valset(&full, LIM_VALIDATORS_MAX);
	}
	try_cert(data, size);
	try_evidence(data, size);
	return 0;
}
