/*
 * The simulator's invariants, checked as every step's actions are carried
 * out: agreement, certificates, no honest double signing, the persist
 * barrier (last signed messages, lock and validValue), and the paper's
 * rules seen from outside: an honest validator's first prevote and
 * precommit of a round must be justified by messages that really exist,
 * whatever its core believes it received. The last family is what finds a
 * core that counts a forged vote, accepts a proof of lock that never
 * formed, or forgets or ignores its lock: the world records every honest
 * prevote sent, every proposal delivered to each node and every honest
 * lock, and assumes the Byzantine validators signed anything.
 */
#include <assert.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "tests/sim/world.h"

/* ---- records ----------------------------------------------------------- */

static uint64_t mix(uint64_t a, uint64_t b)
{
	uint64_t x = a * 0x9e3779b97f4a7c15ull ^ (b + 0x632be59bd9b4e019ull + (a << 6) + (a >> 2));
	x ^= x >> 31;
	x *= 0xbf58476d1ce4e5b9ull;
	return x ^ (x >> 29);
}

static uint64_t id_word(const cons_id id)
{
	uint64_t v;
	memcpy(&v, id, sizeof v);
	return v;
}

static void table_grow(struct table *t)
{
	size_t ncap = t->cap ? 2 * t->cap : 4096;
	struct rec *nr = calloc(ncap, sizeof *nr);
	assert(nr);
	for (size_t i = 0; i < t->cap; i++) {
		if (!t->r[i].key)
			continue;
		size_t j = t->r[i].key & (ncap - 1);
		while (nr[j].key)
			j = (j + 1) & (ncap - 1);
		nr[j] = t->r[i];
	}
	free(t->r);
	t->r = nr;
	t->cap = ncap;
}

typedef bool (*rec_same_fn)(const struct rec *a, const struct rec *b);

/* The record that is the same as want, inserted (as a copy of want) if
 * there is none; *fresh says which. */
static struct rec *table_get(struct table *t, const struct rec *want, rec_same_fn same,
			     bool *fresh)
{
	if (2 * (t->n + 1) > t->cap)
		table_grow(t);
	assert(want->key != 0);
	size_t j = want->key & (t->cap - 1);
	for (;; j = (j + 1) & (t->cap - 1)) {
		struct rec *r = &t->r[j];
		if (!r->key) {
			*r = *want;
			t->n++;
			*fresh = true;
			return r;
		}
		if (r->key == want->key && same(r, want)) {
			*fresh = false;
			return r;
		}
	}
}

/* Calls visit on every record with this key that matches want. */
static void table_each(const struct table *t, const struct rec *want, rec_same_fn same,
		       void (*visit)(const struct rec *r, void *ctx), void *ctx)
{
	if (t->cap == 0)
		return;
	for (size_t j = want->key & (t->cap - 1);; j = (j + 1) & (t->cap - 1)) {
		const struct rec *r = &t->r[j];
		if (!r->key)
			return;
		if (r->key == want->key && same(r, want))
			visit(r, ctx);
	}
}

void check_free(struct world *w)
{
	free(w->recs.r);
	w->recs.r = NULL;
	w->recs.cap = w->recs.n = 0;
}

/* REC_SIG: one per (key, height, round, step). */
static bool same_sig(const struct rec *a, const struct rec *b)
{
	return a->kind == REC_SIG && b->kind == REC_SIG && a->who == b->who &&
	       a->height == b->height && a->round == b->round && a->step == b->step;
}

/* REC_PREVOTES: one per (height, round, id). */
static bool same_tally(const struct rec *a, const struct rec *b)
{
	return a->kind == REC_PREVOTES && b->kind == REC_PREVOTES && a->height == b->height &&
	       a->round == b->round && memcmp(a->id, b->id, CONS_ID_BYTES) == 0;
}

static uint64_t tally_key(uint64_t height, uint32_t round, const cons_id id)
{
	return mix(mix(REC_PREVOTES, height), mix(round, id_word(id))) | 1;
}

/* REC_PROPOSAL: one per distinct signed proposal; looked up by (height,
 * round, id). */
static bool same_proposal(const struct rec *a, const struct rec *b)
{
	return a->kind == REC_PROPOSAL && b->kind == REC_PROPOSAL && a->height == b->height &&
	       a->round == b->round && memcmp(a->id, b->id, CONS_ID_BYTES) == 0 &&
	       a->pol == b->pol && a->who == b->who && memcmp(a->sig, b->sig, CK_SIG_BYTES) == 0;
}

static bool same_proposal_value(const struct rec *a, const struct rec *b)
{
	return a->kind == REC_PROPOSAL && b->kind == REC_PROPOSAL && a->height == b->height &&
	       a->round == b->round && memcmp(a->id, b->id, CONS_ID_BYTES) == 0;
}

static uint64_t proposal_key(uint64_t height, uint32_t round, const cons_id id)
{
	return mix(mix(REC_PROPOSAL, height), mix(round, id_word(id))) | 1;
}

static void note_proposal(struct world *w, uint32_t to, const cons_proposal *p)
{
	struct rec want;
	memset(&want, 0, sizeof want);
	want.key = proposal_key(p->height, p->round, p->id);
	want.kind = REC_PROPOSAL;
	want.height = p->height;
	want.round = p->round;
	want.pol = p->pol_round;
	want.who = p->proposer;
	memcpy(want.id, p->id, CONS_ID_BYTES);
	memcpy(want.sig, p->sig, CK_SIG_BYTES);
	bool fresh;
	struct rec *r = table_get(&w->recs, &want, same_proposal, &fresh);
	r->mask |= 1u << to;
}

void observe_delivery(struct world *w, uint32_t to, const uint8_t *b, size_t len)
{
	/* [1, ...] of 8 elements: only proposals are decoded here. */
	if (w->nodes[to].byz || len < 2 || b[0] != 0x98 || b[1] != CONS_MSG_PROPOSAL)
		return;
	cons_msg m;
	if (cons_msg_decode(&m, b, len) == 0)
		note_proposal(w, to, &m.u.proposal);
}

static uint32_t honest_prevotes(const struct world *w, uint64_t height, uint32_t round,
				const cons_id id)
{
	struct rec want;
	memset(&want, 0, sizeof want);
	want.key = tally_key(height, round, id);
	want.kind = REC_PREVOTES;
	want.height = height;
	want.round = round;
	memcpy(want.id, id, CONS_ID_BYTES);
	if (w->recs.cap == 0)
		return 0;
	for (size_t j = want.key & (w->recs.cap - 1);; j = (j + 1) & (w->recs.cap - 1)) {
		const struct rec *r = &w->recs.r[j];
		if (!r->key)
			return 0;
		if (r->key == want.key && same_tally(r, &want))
			return r->count;
	}
}

/* Whether 2f+1 prevotes for id at (height, round) exist in the world: the
 * honest ones that were sent, and every Byzantine validator's. */
static bool polka_exists(const struct world *w, const cons_valset *vs, uint64_t height,
			 uint32_t round, const cons_id id)
{
	return honest_prevotes(w, height, round, id) + byz_keys_in(w, vs) >= cons_quorum(vs->n);
}

/* ---- signed messages --------------------------------------------------- */

/* "No honest validator ever signed two conflicting messages", checked on
 * what leaves the node: a signature made but lost in a crash before its
 * persist completed was never sent and cannot conflict with anything.
 * Returns true the first time this message is sent. */
static bool check_no_equivocation(struct world *w, uint32_t node, uint32_t key, uint64_t height,
				  uint32_t round, uint8_t step, const uint8_t *sb, size_t sblen)
{
	struct rec want;
	memset(&want, 0, sizeof want);
	want.key = mix(mix(key, height), (uint64_t)round << 2 | step) | 1;
	want.kind = REC_SIG;
	want.who = key;
	want.height = height;
	want.round = round;
	want.step = step;
	memcpy(want.content, sb, sblen);
	want.clen = (uint8_t)sblen;
	bool fresh;
	const struct rec *r = table_get(&w->recs, &want, same_sig, &fresh);
	if (!fresh && (r->clen != sblen || memcmp(r->content, sb, sblen) != 0))
		fail(w, "honest validator signed two conflicting messages", node, height);
	return fresh;
}

struct justify {
	const struct world *w;
	const struct node *n;
	const cons_valset *vs;
	uint32_t me, proposer;
	uint64_t height;
	uint32_t round;
	bool signed_seen, polka_missing, lock_broken, ok;
};

/* Lines 22-33 for one proposal delivered to the node: is a prevote for its
 * value allowed? */
static void justify_prevote(const struct rec *r, void *ctx)
{
	struct justify *j = ctx;
	if (!((r->mask >> j->me) & 1) || r->who != j->proposer || j->ok)
		return;
	uint8_t sb[CONS_SIGN_BYTES_MAX];
	size_t n = cons_proposal_sign_bytes(sb, r->height, r->round, r->pol, r->id);
	if (j->w->verifier.verify(NULL, j->vs->keys[r->who], CK_DOM_PROPOSAL, SIM_CHAIN, sb, n,
				  r->sig) != 0)
		return;
	j->signed_seen = true;
	bool locked = j->n->lock_h == j->height;
	bool same_value = locked && memcmp(j->n->lock_id, r->id, CONS_ID_BYTES) == 0;
	if (r->pol < 0) {
		if (!locked || same_value)
			j->ok = true;
		else
			j->lock_broken = true;
		return;
	}
	if (!polka_exists(j->w, j->vs, r->height, (uint32_t)r->pol, r->id)) {
		j->polka_missing = true;
		return;
	}
	if (!locked || j->n->lock_r <= (uint32_t)r->pol || same_value)
		j->ok = true;
	else
		j->lock_broken = true;
}

/* An honest validator's first prevote for a value at (height, round):
 * some proposal of the round's proposer for that value was delivered to
 * it, verifies, and passes line 22 (no lock or the same value) or line 28
 * (a polka at vr exists, and lockedRound <= vr or the same value). The
 * lock the oracle knows is the latest precommit sent, never ahead of the
 * core's, so the check can only be weaker than the rule. */
static void check_prevote(struct world *w, uint32_t i, uint64_t height, uint32_t round,
			  const cons_id id)
{
	struct node *n = &w->nodes[i];
	struct justify j = {.w = w, .n = n, .vs = &n->led.vs_cur, .me = i, .height = height,
			    .round = round};
	j.proposer = cons_proposer(j.vs, height, round);
	struct rec want;
	memset(&want, 0, sizeof want);
	want.key = proposal_key(height, round, id);
	want.kind = REC_PROPOSAL;
	want.height = height;
	want.round = round;
	memcpy(want.id, id, CONS_ID_BYTES);
	table_each(&w->recs, &want, same_proposal_value, justify_prevote, &j);
	if (j.ok)
		return;
	if (!j.signed_seen)
		fail(w, "honest validator prevoted a value no signed proposal of the round gave it "
			"(a forged proposal was counted)", i, height);
	else if (j.lock_broken)
		fail(w, "honest validator prevoted against its lock (lines 22-33)", i, height);
	else
		fail(w, "honest validator prevoted on a proof of lock that does not exist "
			"(line 28: no 2f+1 prevotes at vr)", i, height);
}

/* Line 36: an honest precommit for a value needs 2f+1 prevotes for it in
 * that round. */
static void check_precommit(struct world *w, uint32_t i, uint64_t height, uint32_t round,
			    const cons_id id)
{
	struct node *n = &w->nodes[i];
	if (!polka_exists(w, &n->led.vs_cur, height, round, id))
		fail(w, "honest validator precommitted without 2f+1 real prevotes for the value "
			"(line 36: a forged or missing prevote was counted)", i, height);
}

static void count_prevote(struct world *w, uint64_t height, uint32_t round, const cons_id id)
{
	struct rec want;
	memset(&want, 0, sizeof want);
	want.key = tally_key(height, round, id);
	want.kind = REC_PREVOTES;
	want.height = height;
	want.round = round;
	memcpy(want.id, id, CONS_ID_BYTES);
	bool fresh;
	struct rec *r = table_get(&w->recs, &want, same_tally, &fresh);
	r->count++;
}

/* The persist barrier for what the message implies beyond its own
 * signature: a precommit for a value is sent only once the lock on it is
 * durable (else a crash forgets the lock of a precommit a quorum may
 * count), and validValue with it (else a restarted validator holds a lock
 * it cannot propose); a proposal of validValue only once validValue, its
 * round and its bytes are. */
static void check_barrier_state(struct world *w, uint32_t i, uint8_t step, uint64_t height,
				uint32_t round, int32_t pol, bool has_id, const uint8_t *id)
{
	const struct node *n = &w->nodes[i];
	const cons_safety *d = &n->durable;
	if (step == CONS_STEP_PRECOMMIT && has_id &&
	    (d->height != height || d->locked_round < (int64_t)round ||
	     (d->locked_round == (int64_t)round && memcmp(d->locked_id, id, CONS_ID_BYTES) != 0)))
		fail(w, "precommit sent before its lock was durable", i, height);
	if (step == CONS_STEP_PRECOMMIT && has_id && d->valid_round < (int64_t)round)
		fail(w, "precommit sent before validValue (set by the same polka) was durable", i,
		     height);
	if (step == CONS_STEP_PROPOSE && pol >= 0) {
		bool ok = d->height == height && d->valid_round >= pol;
		if (ok && d->valid_round == pol) {
			cons_id bid;
			ok = memcmp(d->valid_id, id, CONS_ID_BYTES) == 0 && n->durable_block;
			if (ok) {
				sim_block_id(n->durable_block, n->durable_len, bid);
				ok = memcmp(bid, id, CONS_ID_BYTES) == 0;
			}
		}
		if (!ok)
			fail(w, "proposal of validValue sent before validValue was durable", i,
			     height);
	}
}

/* Checks an honest node's outgoing message: if it is its own signed
 * message, the safety state that covers it must already be durable
 * (persist barrier), it must not conflict with anything it sent, and the
 * first time it is sent it must follow from messages that exist. */
void check_sent(struct world *w, uint32_t i, const uint8_t *b, size_t len)
{
	struct node *n = &w->nodes[i];
	cons_msg m;
	if (cons_msg_decode(&m, b, len) != 0) {
		fail(w, "honest node sent an undecodable message", i, 0);
		return;
	}
	uint8_t sb[CONS_SIGN_BYTES_MAX];
	size_t sblen;
	uint8_t step;
	uint64_t height;
	uint32_t round, signer;
	int32_t pol = -1;
	bool has_id = true;
	const uint8_t *id;
	if (m.kind == CONS_MSG_PROPOSAL) {
		step = CONS_STEP_PROPOSE;
		height = m.u.proposal.height;
		round = m.u.proposal.round;
		signer = m.u.proposal.proposer;
		pol = m.u.proposal.pol_round;
		id = m.u.proposal.id;
		sblen = cons_proposal_sign_bytes(sb, height, round, pol, id);
	} else if (m.kind == CONS_MSG_PREVOTE || m.kind == CONS_MSG_PRECOMMIT) {
		step = m.u.vote.step;
		height = m.u.vote.height;
		round = m.u.vote.round;
		signer = m.u.vote.validator;
		has_id = m.u.vote.has_id;
		id = m.u.vote.id;
		sblen = cons_vote_sign_bytes(sb, height, round, has_id, id);
	} else {
		return;
	}
	if (height != n->led.height + 1) {
		fail(w, "honest node sent a signed message for another height", i, height);
		return;
	}
	if ((int)signer != cons_valset_index(&n->led.vs_cur, n->pk))
		return; /* a forwarded vote (proof of lock) */
	TRACE(w, "%10" PRIu64 " n%u sends %s h=%" PRIu64 " r=%u pol=%d %02x%02x\n", w->now, i,
	      step == 0 ? "proposal" : step == 1 ? "prevote" : "precommit", height, round, pol,
	      has_id ? id[0] : 0, has_id ? id[1] : 0);
	/* Covered: the durable state holds this very message, or a later one
	 * of the same step (a vote of ours forwarded as proof of lock). */
	const cons_signed *d = &n->durable.last[step];
	bool later = n->has_durable &&
		     (d->height > height || (d->height == height && d->round > round));
	bool same = n->has_durable && d->height == height && d->round == round &&
		    d->pol_round == pol && d->has_id == has_id &&
		    (!has_id || memcmp(d->id, id, CONS_ID_BYTES) == 0);
	if (!later && !same) {
		fail(w, "signed message sent before its safety state was durable", i, height);
		return;
	}
	check_barrier_state(w, i, step, height, round, pol, has_id, id);
	if (step == CONS_STEP_PROPOSE)
		note_proposal(w, i, &m.u.proposal); /* its own, for its own prevote */
	if (!check_no_equivocation(w, i, n->key, height, round, step, sb, sblen) || !has_id)
		return;
	/* First sent now: it must follow from what exists now (everything
	 * it was derived from was sent before it). */
	if (step == CONS_STEP_PREVOTE) {
		check_prevote(w, i, height, round, id);
		count_prevote(w, height, round, id);
	} else if (step == CONS_STEP_PRECOMMIT) {
		check_precommit(w, i, height, round, id);
		n->lock_h = height;
		n->lock_r = round;
		memcpy(n->lock_id, id, CONS_ID_BYTES);
		if (w->lock_on)
			lock_on_locked(w, i, height, round);
		else if (w->crash_lock_pm && !w->healed && rng_chance(&w->rng, w->crash_lock_pm)) {
			uint64_t t = w->now + rng_below(&w->rng, 3000);
			crash_later(w, i, t, 20000 + rng_below(&w->rng, 300000));
		}
	}
}

void check_commit(struct world *w, uint32_t i, uint64_t height, const cons_id id,
		  const uint8_t *block, size_t len, const cons_cert *cert)
{
	struct node *n = &w->nodes[i];
	cons_id bid;
	sim_block_id(block, len, bid);
	if (height != n->led.height + 1)
		fail(w, "commit of a height other than the next", i, height);
	if (memcmp(bid, id, CONS_ID_BYTES) != 0 || memcmp(cert->id, id, CONS_ID_BYTES) != 0 ||
	    cert->height != height)
		fail(w, "committed block does not match its id or certificate", i, height);
	if (cons_cert_check(cert, &n->led.vs_cur, SIM_CHAIN, id, &w->verifier) != 0)
		fail(w, "committed block has no valid commit certificate", i, height);
	if (model_check(&n->led, height, block, len) != 0)
		fail(w, "committed block is not valid", i, height);
	while (height >= w->committed_cap) {
		size_t ncap = w->committed_cap ? 2 * w->committed_cap : 256;
		w->committed = realloc(w->committed, ncap * sizeof *w->committed);
		w->committed_set = realloc(w->committed_set, ncap * sizeof *w->committed_set);
		assert(w->committed && w->committed_set);
		memset(w->committed_set + w->committed_cap, 0,
		       (ncap - w->committed_cap) * sizeof *w->committed_set);
		w->committed_cap = ncap;
	}
	if (!w->committed_set[height]) {
		w->committed_set[height] = true;
		memcpy(w->committed[height], id, CONS_ID_BYTES);
	} else if (memcmp(w->committed[height], id, CONS_ID_BYTES) != 0) {
		fail(w, "two honest validators committed different blocks at one height", i,
		     height);
	}
}

/* ---- persisted validValue ---------------------------------------------- */

void check_persist(struct world *w, uint32_t i, const cons_action *a)
{
	const struct node *n = &w->nodes[i];
	const cons_safety *s = &a->u.persist.safety;
	const cons_cert *pol = a->u.persist.valid_pol;
	if (!a->u.persist.valid_block || s->height != n->led.height + 1)
		return;
	const cons_valset *vs = &n->led.vs_cur;
	uint32_t good = 0;
	for (uint32_t k = 0; k < pol->n; k++) {
		uint8_t sb[CONS_SIGN_BYTES_MAX];
		size_t len = cons_vote_sign_bytes(sb, pol->height, pol->round, true, pol->id);
		if (pol->idx[k] < vs->n && (k == 0 || pol->idx[k] > pol->idx[k - 1]) &&
		    w->verifier.verify(NULL, vs->keys[pol->idx[k]], CK_DOM_PREVOTE, SIM_CHAIN, sb,
				       len, pol->sig[k]) == 0)
			good++;
	}
	if (good < cons_quorum(vs->n))
		fail(w, "validValue's proof of lock is not 2f+1 valid prevotes "
			"(too few counted, or forged ones)", i, s->height);
}

void check_durable(struct world *w, uint32_t i)
{
	const struct node *n = &w->nodes[i];
	const cons_safety *d = &n->durable;
	if (n->byz)
		return;
	if (cons_safety_check(d) != 0) {
		fail(w, "durable safety state is inconsistent (a restart would refuse it)", i,
		     d->height);
		return;
	}
	if (d->valid_round < 0)
		return;
	cons_id bid;
	bool ok = n->durable_block != NULL;
	if (ok) {
		sim_block_id(n->durable_block, n->durable_len, bid);
		ok = memcmp(bid, d->valid_id, CONS_ID_BYTES) == 0;
	}
	const cons_cert *pol = &n->durable_pol;
	if (!ok || pol->height != d->height || pol->round != (uint32_t)d->valid_round ||
	    memcmp(pol->id, d->valid_id, CONS_ID_BYTES) != 0)
		fail(w, "durable validValue (bytes or proof of lock) does not match the safety "
			"state", i, d->height);
}

/* ---- evidence ---------------------------------------------------------- */

void check_evidence(struct world *w, uint32_t i)
{
	struct node *n = &w->nodes[i];
	cons_stats st;
	cons_stats_get(n->core, &st);
	uint64_t fresh = st.evidence - n->evidence_seen;
	n->evidence_seen = st.evidence;
	uint32_t count = cons_evidence_count(n->core);
	if (fresh > count)
		fresh = count;
	const cons_valset *vs = &n->led.vs_cur;
	for (uint32_t k = count - (uint32_t)fresh; k < count; k++) {
		cons_evidence e;
		if (cons_evidence_get(n->core, k, &e) != 0 || e.height != n->led.height + 1) {
			fail(w, "evidence recorded for another height than the current one", i, e.height);
			return;
		}
		if (cons_evidence_check(&e, vs, SIM_CHAIN, &w->verifier) != 0) {
			fail(w, "recorded evidence does not verify", i, e.height);
			return;
		}
		for (uint32_t j = 0; j < w->n_nodes; j++)
			if (!w->nodes[j].byz &&
			    memcmp(w->nodes[j].pk, vs->keys[e.validator], CK_PUBKEY_BYTES) == 0) {
				fail(w, "evidence accuses an honest validator (a forged signature was "
					"accepted)", i, e.height);
				return;
			}
	}
}
