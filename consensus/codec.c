/*
 * The bytes of consensus: what votes and proposals sign, the wire messages,
 * commit certificates, evidence and the persisted safety state. Kept apart
 * from the state machine so that wallets and banks can link certificate
 * checking without the core. Everything is canonical msgpack
 * (common/cm.h); docs/CONSENSUS.md, "Wire format", is the specification.
 */
#include <assert.h>
#include <string.h>

#include "consensus/cons.h"

const char *cons_strerror(int rc)
{
	switch (rc) {
#define CONS_CASE(name, val, msg) case name: return msg;
		CONS_ERRORS(CONS_CASE)
#undef CONS_CASE
	default: return ck_strerror(rc);
	}
}

/* ---- sign bytes -------------------------------------------------------- */

/* Sign bytes are tiny and made on the hot path, so they are written into a
 * fixed buffer here rather than through a growable cm_wr. The encoding is
 * the same canonical msgpack (shortest forms); a unit test compares it with
 * cm_wr's output. */
static size_t put_uint(uint8_t *p, uint64_t v)
{
	if (v < 128) {
		p[0] = (uint8_t)v;
		return 1;
	}
	if (v <= 0xff) {
		p[0] = 0xcc;
		p[1] = (uint8_t)v;
		return 2;
	}
	if (v <= 0xffff) {
		p[0] = 0xcd;
		p[1] = (uint8_t)(v >> 8);
		p[2] = (uint8_t)v;
		return 3;
	}
	if (v <= 0xffffffffu) {
		p[0] = 0xce;
		for (int i = 0; i < 4; i++)
			p[1 + i] = (uint8_t)(v >> (24 - 8 * i));
		return 5;
	}
	p[0] = 0xcf;
	for (int i = 0; i < 8; i++)
		p[1 + i] = (uint8_t)(v >> (56 - 8 * i));
	return 9;
}

static size_t put_id(uint8_t *p, const cons_id id)
{
	p[0] = 0xc4;
	p[1] = CONS_ID_BYTES;
	memcpy(p + 2, id, CONS_ID_BYTES);
	return 2 + CONS_ID_BYTES;
}

size_t cons_proposal_sign_bytes(uint8_t out[CONS_SIGN_BYTES_MAX], uint64_t height,
				uint32_t round, int32_t pol_round, const cons_id id)
{
	assert(pol_round >= -1);
	assert(pol_round < (int64_t)round);
	size_t n = 0;
	out[n++] = 0x94;
	n += put_uint(out + n, height);
	n += put_uint(out + n, round);
	n += put_uint(out + n, (uint64_t)(pol_round + 1));
	n += put_id(out + n, id);
	assert(n <= CONS_SIGN_BYTES_MAX);
	return n;
}

size_t cons_vote_sign_bytes(uint8_t out[CONS_SIGN_BYTES_MAX], uint64_t height,
			    uint32_t round, bool has_id, const cons_id id)
{
	size_t n = 0;
	out[n++] = 0x93;
	n += put_uint(out + n, height);
	n += put_uint(out + n, round);
	if (has_id)
		n += put_id(out + n, id);
	else
		out[n++] = 0xc0;
	assert(n <= CONS_SIGN_BYTES_MAX);
	return n;
}

enum ck_domain cons_step_domain(enum cons_step step)
{
	switch (step) {
	case CONS_STEP_PROPOSE: return CK_DOM_PROPOSAL;
	case CONS_STEP_PREVOTE: return CK_DOM_PREVOTE;
	case CONS_STEP_PRECOMMIT: return CK_DOM_PRECOMMIT;
	}
	assert(!"unknown step");
	return CK_DOM_PROPOSAL;
}

/* ---- helpers for reading ----------------------------------------------- */

#define TRY(expr)                          \
	do {                               \
		if ((expr) != 0)           \
			return CONS_E_DECODE; \
	} while (0)

static int rd_height(cm_rd *r, uint64_t *h)
{
	TRY(cm_rd_uint(r, h));
	if (*h == 0)
		return CONS_E_DECODE; /* heights start at 1 */
	return 0;
}

static int rd_round(cm_rd *r, uint32_t *round)
{
	uint64_t v;
	TRY(cm_rd_uint_max(r, LIM_CONS_ROUND_MAX, &v));
	*round = (uint32_t)v;
	return 0;
}

/* pol_round is carried as pol_round + 1 (0 = none) and is below round. */
static int rd_pol_round(cm_rd *r, uint32_t round, int32_t *pol)
{
	uint64_t v;
	TRY(cm_rd_uint_max(r, round, &v));
	*pol = (int32_t)v - 1;
	return 0;
}

static int rd_index(cm_rd *r, uint32_t *idx)
{
	uint64_t v;
	TRY(cm_rd_uint_max(r, LIM_VALIDATORS_MAX - 1, &v));
	*idx = (uint32_t)v;
	return 0;
}

static int rd_opt_id(cm_rd *r, bool *has_id, cons_id id)
{
	if (cm_rd_peek_nil(r)) {
		TRY(cm_rd_nil(r));
		*has_id = false;
		memset(id, 0, CONS_ID_BYTES);
		return 0;
	}
	TRY(cm_rd_bin_fixed(r, id, CONS_ID_BYTES));
	*has_id = true;
	return 0;
}

static void wr_opt_id(cm_wr *w, bool has_id, const cons_id id)
{
	if (has_id)
		cm_wr_bin(w, id, CONS_ID_BYTES);
	else
		cm_wr_nil(w);
}

/* ---- certificates ------------------------------------------------------ */

void cons_cert_encode(const cons_cert *c, cm_wr *w)
{
	assert(c->height >= 1);
	assert(c->n >= 1);
	assert(c->n <= LIM_VALIDATORS_MAX);
	cm_wr_array(w, 4);
	cm_wr_uint(w, c->height);
	cm_wr_uint(w, c->round);
	cm_wr_bin(w, c->id, CONS_ID_BYTES);
	cm_wr_array(w, c->n);
	for (uint32_t i = 0; i < c->n; i++) {
		assert(i == 0 || c->idx[i] > c->idx[i - 1]);
		cm_wr_array(w, 2);
		cm_wr_uint(w, c->idx[i]);
		cm_wr_bin(w, c->sig[i], CK_SIG_BYTES);
	}
}

int cons_cert_read(cons_cert *c, cm_rd *r)
{
	TRY(cm_rd_array_exact(r, 4));
	if (rd_height(r, &c->height) || rd_round(r, &c->round))
		return CONS_E_DECODE;
	TRY(cm_rd_bin_fixed(r, c->id, CONS_ID_BYTES));
	uint32_t n;
	TRY(cm_rd_array(r, &n, LIM_VALIDATORS_MAX));
	if (n == 0)
		return CONS_E_DECODE;
	c->n = n;
	for (uint32_t i = 0; i < n; i++) {
		TRY(cm_rd_array_exact(r, 2));
		if (rd_index(r, &c->idx[i]))
			return CONS_E_DECODE;
		/* Strictly increasing: one encoding per certificate, and no
		 * signer counted twice. */
		if (i > 0 && c->idx[i] <= c->idx[i - 1])
			return CONS_E_DECODE;
		TRY(cm_rd_bin_fixed(r, c->sig[i], CK_SIG_BYTES));
	}
	return 0;
}

int cons_cert_decode(cons_cert *c, const uint8_t *p, size_t len)
{
	cm_rd r;
	cm_rd_init(&r, p, len);
	int rc = cons_cert_read(c, &r);
	if (rc)
		return rc;
	TRY(cm_rd_end(&r));
	return 0;
}

int cons_cert_check(const cons_cert *cert, const cons_valset *vs, const char *chain_id,
		    const cons_id id, const cons_verifier *v)
{
	if (memcmp(cert->id, id, CONS_ID_BYTES) != 0)
		return CONS_E_CERT_BLOCK;
	if (cert->n > vs->n)
		return CONS_E_CERT_SIGNER;
	if (cert->n < cons_quorum(vs->n))
		return CONS_E_CERT_QUORUM;
	uint8_t sb[CONS_SIGN_BYTES_MAX];
	size_t sblen = cons_vote_sign_bytes(sb, cert->height, cert->round, true, cert->id);
	for (uint32_t i = 0; i < cert->n; i++) {
		/* Decoded certificates are already strictly increasing; a
		 * certificate built in memory is checked here too. */
		if (cert->idx[i] >= vs->n || (i > 0 && cert->idx[i] <= cert->idx[i - 1]))
			return CONS_E_CERT_SIGNER;
		if (v->verify(v->ctx, vs->keys[cert->idx[i]], CK_DOM_PRECOMMIT, chain_id, sb,
			      sblen, cert->sig[i]) != 0)
			return CONS_E_BADSIG;
	}
	return 0;
}

void cons_decided_encode(const cons_cert *cert, const uint8_t *block, size_t len, cm_wr *w)
{
	assert(len >= 1);
	assert(len <= LIM_BLOCK_BYTES_MAX);
	cm_wr_array(w, 3);
	cm_wr_uint(w, CONS_MSG_DECIDED);
	cons_cert_encode(cert, w);
	cm_wr_bin(w, block, len);
}

/* ---- messages ---------------------------------------------------------- */

void cons_msg_encode(const cons_msg *m, cm_wr *w)
{
	switch (m->kind) {
	case CONS_MSG_PROPOSAL: {
		const cons_proposal *p = &m->u.proposal;
		assert(p->pol_round >= -1 && p->pol_round < (int64_t)p->round);
		assert(p->block_len >= 1);
		cm_wr_array(w, 8);
		cm_wr_uint(w, CONS_MSG_PROPOSAL);
		cm_wr_uint(w, p->height);
		cm_wr_uint(w, p->round);
		cm_wr_uint(w, (uint64_t)(p->pol_round + 1));
		cm_wr_bin(w, p->id, CONS_ID_BYTES);
		cm_wr_uint(w, p->proposer);
		cm_wr_bin(w, p->sig, CK_SIG_BYTES);
		cm_wr_bin(w, p->block, p->block_len);
		return;
	}
	case CONS_MSG_PREVOTE:
	case CONS_MSG_PRECOMMIT: {
		const cons_vote *v = &m->u.vote;
		assert(v->step == (m->kind == CONS_MSG_PREVOTE ? CONS_STEP_PREVOTE
								: CONS_STEP_PRECOMMIT));
		cm_wr_array(w, 6);
		cm_wr_uint(w, m->kind);
		cm_wr_uint(w, v->height);
		cm_wr_uint(w, v->round);
		wr_opt_id(w, v->has_id, v->id);
		cm_wr_uint(w, v->validator);
		cm_wr_bin(w, v->sig, CK_SIG_BYTES);
		return;
	}
	case CONS_MSG_DECIDED:
		cons_decided_encode(&m->u.decided.cert, m->u.decided.block,
				    m->u.decided.block_len, w);
		return;
	case CONS_MSG_STATUS:
		cm_wr_array(w, 3);
		cm_wr_uint(w, CONS_MSG_STATUS);
		cm_wr_uint(w, m->u.status.height);
		cm_wr_uint(w, m->u.status.round);
		return;
	}
	assert(!"unknown message kind");
}

static int decode_body(cons_msg *m, cm_rd *r)
{
	uint32_t n;
	uint64_t kind;
	TRY(cm_rd_array(r, &n, 8));
	if (n < 2)
		return CONS_E_DECODE;
	TRY(cm_rd_uint(r, &kind));
	switch (kind) {
	case CONS_MSG_PROPOSAL: {
		cons_proposal *p = &m->u.proposal;
		const uint8_t *b;
		uint32_t blen;
		if (n != 8)
			return CONS_E_DECODE;
		m->kind = CONS_MSG_PROPOSAL;
		if (rd_height(r, &p->height) || rd_round(r, &p->round) ||
		    rd_pol_round(r, p->round, &p->pol_round))
			return CONS_E_DECODE;
		TRY(cm_rd_bin_fixed(r, p->id, CONS_ID_BYTES));
		if (rd_index(r, &p->proposer))
			return CONS_E_DECODE;
		TRY(cm_rd_bin_fixed(r, p->sig, CK_SIG_BYTES));
		TRY(cm_rd_bin(r, &b, &blen, LIM_BLOCK_BYTES_MAX));
		if (blen == 0)
			return CONS_E_DECODE;
		p->block = b;
		p->block_len = blen;
		return 0;
	}
	case CONS_MSG_PREVOTE:
	case CONS_MSG_PRECOMMIT: {
		cons_vote *v = &m->u.vote;
		if (n != 6)
			return CONS_E_DECODE;
		m->kind = (enum cons_msg_kind)kind;
		v->step = kind == CONS_MSG_PREVOTE ? CONS_STEP_PREVOTE : CONS_STEP_PRECOMMIT;
		if (rd_height(r, &v->height) || rd_round(r, &v->round) ||
		    rd_opt_id(r, &v->has_id, v->id) || rd_index(r, &v->validator))
			return CONS_E_DECODE;
		TRY(cm_rd_bin_fixed(r, v->sig, CK_SIG_BYTES));
		return 0;
	}
	case CONS_MSG_DECIDED: {
		const uint8_t *b;
		uint32_t blen;
		if (n != 3)
			return CONS_E_DECODE;
		m->kind = CONS_MSG_DECIDED;
		if (cons_cert_read(&m->u.decided.cert, r))
			return CONS_E_DECODE;
		TRY(cm_rd_bin(r, &b, &blen, LIM_BLOCK_BYTES_MAX));
		if (blen == 0)
			return CONS_E_DECODE;
		m->u.decided.block = b;
		m->u.decided.block_len = blen;
		return 0;
	}
	case CONS_MSG_STATUS:
		if (n != 3)
			return CONS_E_DECODE;
		m->kind = CONS_MSG_STATUS;
		if (rd_height(r, &m->u.status.height) || rd_round(r, &m->u.status.round))
			return CONS_E_DECODE;
		return 0;
	default:
		return CONS_E_DECODE;
	}
}

int cons_msg_decode(cons_msg *m, const uint8_t *p, size_t len)
{
	cm_rd r;
	cm_rd_init(&r, p, len);
	int rc = decode_body(m, &r);
	if (rc)
		return rc;
	TRY(cm_rd_end(&r));
	return 0;
}

/* ---- evidence ---------------------------------------------------------- */

static size_t evidence_side_bytes(const cons_evidence *e, int side, uint8_t out[CONS_SIGN_BYTES_MAX])
{
	const cons_evidence_side *s = side == 0 ? &e->a : &e->b;
	if (e->step == CONS_STEP_PROPOSE)
		return cons_proposal_sign_bytes(out, e->height, e->round, s->pol_round, s->id);
	return cons_vote_sign_bytes(out, e->height, e->round, s->has_id, s->id);
}

/* Canonical order of the two sides: by sign bytes, then by signature (two
 * signatures of the same bytes are not a conflict and are rejected). */
static int evidence_order(const cons_evidence *e)
{
	uint8_t a[CONS_SIGN_BYTES_MAX], b[CONS_SIGN_BYTES_MAX];
	size_t al = evidence_side_bytes(e, 0, a), bl = evidence_side_bytes(e, 1, b);
	size_t m = al < bl ? al : bl;
	int c = memcmp(a, b, m);
	if (c == 0)
		c = al < bl ? -1 : al > bl ? 1 : 0;
	return c;
}

void cons_evidence_encode(const cons_evidence *e, cm_wr *w)
{
	assert(evidence_order(e) < 0);
	cm_wr_array(w, 6);
	cm_wr_uint(w, e->step);
	cm_wr_uint(w, e->height);
	cm_wr_uint(w, e->round);
	cm_wr_uint(w, e->validator);
	for (int side = 0; side < 2; side++) {
		const cons_evidence_side *s = side == 0 ? &e->a : &e->b;
		cm_wr_array(w, 3);
		cm_wr_uint(w, (uint64_t)(s->pol_round + 1));
		wr_opt_id(w, s->has_id, s->id);
		cm_wr_bin(w, s->sig, CK_SIG_BYTES);
	}
}

int cons_evidence_decode(cons_evidence *e, const uint8_t *p, size_t len)
{
	cm_rd r;
	uint64_t step;
	cm_rd_init(&r, p, len);
	TRY(cm_rd_array_exact(&r, 6));
	TRY(cm_rd_uint_max(&r, CONS_STEP_PRECOMMIT, &step));
	e->step = (uint8_t)step;
	if (rd_height(&r, &e->height) || rd_round(&r, &e->round) || rd_index(&r, &e->validator))
		return CONS_E_DECODE;
	for (int side = 0; side < 2; side++) {
		cons_evidence_side *s = side == 0 ? &e->a : &e->b;
		TRY(cm_rd_array_exact(&r, 3));
		if (rd_pol_round(&r, e->round, &s->pol_round) || rd_opt_id(&r, &s->has_id, s->id))
			return CONS_E_DECODE;
		TRY(cm_rd_bin_fixed(&r, s->sig, CK_SIG_BYTES));
		/* A proposal always names a block; a vote has no pol_round. */
		if (e->step == CONS_STEP_PROPOSE ? !s->has_id : s->pol_round != -1)
			return CONS_E_DECODE;
	}
	TRY(cm_rd_end(&r));
	if (evidence_order(e) >= 0)
		return CONS_E_DECODE;
	return 0;
}

int cons_evidence_check(const cons_evidence *e, const cons_valset *vs, const char *chain_id,
			const cons_verifier *v)
{
	if (e->step > CONS_STEP_PRECOMMIT || evidence_order(e) == 0)
		return CONS_E_EVIDENCE;
	if (e->validator >= vs->n)
		return CONS_E_NOT_VALIDATOR;
	for (int side = 0; side < 2; side++) {
		uint8_t sb[CONS_SIGN_BYTES_MAX];
		size_t n = evidence_side_bytes(e, side, sb);
		const cons_evidence_side *s = side == 0 ? &e->a : &e->b;
		if (v->verify(v->ctx, vs->keys[e->validator], cons_step_domain(e->step), chain_id,
			      sb, n, s->sig) != 0)
			return CONS_E_BADSIG;
	}
	return 0;
}

/* ---- safety state ------------------------------------------------------ */

static void wr_lock(cm_wr *w, int32_t round, const cons_id id)
{
	if (round < 0) {
		cm_wr_nil(w);
		return;
	}
	cm_wr_array(w, 2);
	cm_wr_uint(w, (uint64_t)round);
	cm_wr_bin(w, id, CONS_ID_BYTES);
}

static int rd_lock(cm_rd *r, int32_t *round, cons_id id)
{
	uint32_t rr;
	if (cm_rd_peek_nil(r)) {
		TRY(cm_rd_nil(r));
		*round = -1;
		memset(id, 0, CONS_ID_BYTES);
		return 0;
	}
	TRY(cm_rd_array_exact(r, 2));
	if (rd_round(r, &rr))
		return CONS_E_DECODE;
	*round = (int32_t)rr;
	TRY(cm_rd_bin_fixed(r, id, CONS_ID_BYTES));
	return 0;
}

void cons_safety_encode(const cons_safety *s, cm_wr *w)
{
	cm_wr_array(w, 8);
	cm_wr_uint(w, s->height);
	cm_wr_uint(w, s->round);
	cm_wr_uint(w, s->step);
	wr_lock(w, s->locked_round, s->locked_id);
	wr_lock(w, s->valid_round, s->valid_id);
	for (int i = 0; i < 3; i++) {
		const cons_signed *m = &s->last[i];
		if (m->height == 0) {
			cm_wr_nil(w);
			continue;
		}
		cm_wr_array(w, 5);
		cm_wr_uint(w, m->height);
		cm_wr_uint(w, m->round);
		cm_wr_uint(w, (uint64_t)(m->pol_round + 1));
		wr_opt_id(w, m->has_id, m->id);
		cm_wr_bin(w, m->sig, CK_SIG_BYTES);
	}
}

int cons_safety_decode(cons_safety *s, const uint8_t *p, size_t len)
{
	cm_rd r;
	uint64_t step;
	memset(s, 0, sizeof *s);
	cm_rd_init(&r, p, len);
	TRY(cm_rd_array_exact(&r, 8));
	if (rd_height(&r, &s->height) || rd_round(&r, &s->round))
		return CONS_E_DECODE;
	TRY(cm_rd_uint_max(&r, CONS_STEP_PRECOMMIT, &step));
	s->step = (uint8_t)step;
	if (rd_lock(&r, &s->locked_round, s->locked_id) ||
	    rd_lock(&r, &s->valid_round, s->valid_id))
		return CONS_E_DECODE;
	for (int i = 0; i < 3; i++) {
		cons_signed *m = &s->last[i];
		if (cm_rd_peek_nil(&r)) {
			TRY(cm_rd_nil(&r));
			m->pol_round = -1;
			continue;
		}
		TRY(cm_rd_array_exact(&r, 5));
		if (rd_height(&r, &m->height) || rd_round(&r, &m->round) ||
		    rd_pol_round(&r, m->round, &m->pol_round) ||
		    rd_opt_id(&r, &m->has_id, m->id))
			return CONS_E_DECODE;
		TRY(cm_rd_bin_fixed(&r, m->sig, CK_SIG_BYTES));
		if (i == CONS_STEP_PROPOSE ? !m->has_id : m->pol_round != -1)
			return CONS_E_DECODE;
	}
	TRY(cm_rd_end(&r));
	return cons_safety_check(s);
}

int cons_safety_check(const cons_safety *s)
{
	if (s->height == 0 || s->round > LIM_CONS_ROUND_MAX || s->step > CONS_STEP_PRECOMMIT)
		return CONS_E_SAFETY;
	/* The lock and validValue are set in a round the validator was in. */
	if (s->locked_round < -1 || s->locked_round > (int64_t)s->round)
		return CONS_E_SAFETY;
	if (s->valid_round < -1 || s->valid_round > (int64_t)s->round)
		return CONS_E_SAFETY;
	/* The validator signs only at its position: nothing it signed is
	 * ahead of (height, round, step). */
	for (int i = 0; i < 3; i++) {
		const cons_signed *m = &s->last[i];
		if (m->height == 0)
			continue;
		if (m->height > s->height || m->round > LIM_CONS_ROUND_MAX)
			return CONS_E_SAFETY;
		if (m->height == s->height &&
		    (m->round > s->round || (m->round == s->round && i > s->step)))
			return CONS_E_SAFETY;
		if (i == CONS_STEP_PROPOSE ? !m->has_id || m->pol_round < -1 ||
						     m->pol_round >= (int64_t)m->round
					   : m->pol_round != -1)
			return CONS_E_SAFETY;
	}
	return 0;
}
