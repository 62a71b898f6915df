/*
 * The core's message log: per round, the proposals and the two vote sets
 * with their tallies, in a fixed number of slots allocated with the core;
 * and the evidence ring. The paper keeps an unbounded log; here memory is
 * bounded and a round that cannot be kept is simply not stored (its
 * messages are re-sent by gossip), which can cost liveness in extreme
 * cases but never safety: a rule only fires on what is stored.
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "consensus/internal.h"

static void voteset_reset(struct cons_voteset *vs)
{
	vs->count = 0;
	vs->nil_count = 0;
	vs->ntally = 0;
	vs->nextra = 0;
	memset(vs->seen, 0, sizeof vs->seen);
}

static void slot_reset(struct cons_slot *s, uint32_t round)
{
	s->used = true;
	s->round = round;
	s->prevote_timer_set = false;
	s->polka_done = false;
	s->precommit_timer_set = false;
	for (uint32_t i = 0; i < LIM_CONS_PROPOSALS_PER_ROUND; i++)
		s->prop[i].used = false;
	voteset_reset(&s->votes[0]);
	voteset_reset(&s->votes[1]);
}

void cons_store_reset(cons *c)
{
	for (uint32_t i = 0; i < LIM_CONS_ROUND_SLOTS; i++)
		c->slots[i].used = false;
}

struct cons_slot *cons_slot_find(cons *c, uint32_t round)
{
	for (uint32_t i = 0; i < LIM_CONS_ROUND_SLOTS; i++)
		if (c->slots[i].used && c->slots[i].round == round)
			return &c->slots[i];
	return NULL;
}

static bool pinned(const cons *c, uint32_t round)
{
	return round == c->safe.round || (int64_t)round == c->safe.locked_round ||
	       (int64_t)round == c->safe.valid_round;
}

static uint32_t distance(uint32_t a, uint32_t b)
{
	return a > b ? a - b : b - a;
}

struct cons_slot *cons_slot_get(cons *c, uint32_t round)
{
	struct cons_slot *s = cons_slot_find(c, round);
	if (s)
		return s;
	/* A free slot, else the kept round farthest from the current one,
	 * if it is farther than the newcomer. The current round, the locked
	 * round and the valid round are never evicted: the rules of lines
	 * 28, 36 and 49 look at them. */
	struct cons_slot *victim = NULL;
	uint32_t worst = distance(round, c->safe.round);
	for (uint32_t i = 0; i < LIM_CONS_ROUND_SLOTS; i++) {
		struct cons_slot *x = &c->slots[i];
		if (!x->used) {
			victim = x;
			break;
		}
		if (pinned(c, x->round))
			continue;
		uint32_t d = distance(x->round, c->safe.round);
		if (d > worst) {
			worst = d;
			victim = x;
		}
	}
	if (victim)
		slot_reset(victim, round);
	return victim;
}

bool cons_voteset_has(const struct cons_voteset *vs, uint32_t idx)
{
	assert(idx < LIM_VALIDATORS_MAX);
	return (vs->seen[idx / 64] >> (idx % 64)) & 1u;
}

static bool same_vote(const struct cons_vote_entry *e, bool has_id, const cons_id id)
{
	return e->has_id == has_id && (!has_id || memcmp(e->id, id, CONS_ID_BYTES) == 0);
}

const struct cons_vote_entry *cons_voteset_find(const struct cons_voteset *vs, uint32_t idx,
						bool has_id, const cons_id id)
{
	if (!cons_voteset_has(vs, idx))
		return NULL;
	if (same_vote(&vs->v[idx], has_id, id))
		return &vs->v[idx];
	for (uint32_t i = 0; i < vs->nextra; i++)
		if (vs->extra[i].idx == idx && same_vote(&vs->extra[i].e, has_id, id))
			return &vs->extra[i].e;
	return NULL;
}

static void tally(struct cons_voteset *vs, bool has_id, const cons_id id)
{
	if (!has_id) {
		vs->nil_count++;
		return;
	}
	for (uint32_t i = 0; i < vs->ntally; i++) {
		if (memcmp(vs->t[i].id, id, CONS_ID_BYTES) == 0) {
			vs->t[i].count++;
			return;
		}
	}
	assert(vs->ntally < LIM_VALIDATORS_MAX * LIM_CONS_VOTES_PER_VALIDATOR);
	memcpy(vs->t[vs->ntally].id, id, CONS_ID_BYTES);
	vs->t[vs->ntally].count = 1;
	vs->ntally++;
}

static void entry_set(struct cons_vote_entry *e, bool has_id, const cons_id id, const ck_sig sig)
{
	e->has_id = has_id;
	memcpy(e->id, id, CONS_ID_BYTES);
	memcpy(e->sig, sig, CK_SIG_BYTES);
}

void cons_voteset_add(struct cons_voteset *vs, uint32_t idx, bool has_id, const cons_id id,
		      const ck_sig sig)
{
	assert(!cons_voteset_has(vs, idx));
	vs->seen[idx / 64] |= (uint64_t)1 << (idx % 64);
	entry_set(&vs->v[idx], has_id, id, sig);
	vs->count++;
	tally(vs, has_id, id);
}

bool cons_voteset_add_extra(struct cons_voteset *vs, uint32_t idx, bool has_id,
			    const cons_id id, const ck_sig sig)
{
	assert(cons_voteset_has(vs, idx));
	assert(cons_voteset_find(vs, idx, has_id, id) == NULL);
	uint32_t mine = 1;
	for (uint32_t i = 0; i < vs->nextra; i++)
		mine += vs->extra[i].idx == idx;
	if (mine >= LIM_CONS_VOTES_PER_VALIDATOR || vs->nextra == CONS_EXTRA_MAX)
		return false;
	vs->extra[vs->nextra].idx = idx;
	entry_set(&vs->extra[vs->nextra].e, has_id, id, sig);
	vs->nextra++;
	tally(vs, has_id, id);
	return true;
}

uint32_t cons_voteset_count_id(const struct cons_voteset *vs, const cons_id id)
{
	for (uint32_t i = 0; i < vs->ntally; i++)
		if (memcmp(vs->t[i].id, id, CONS_ID_BYTES) == 0)
			return vs->t[i].count;
	return 0;
}

const struct cons_prop *cons_prop_find_id(const cons *c, const cons_id id)
{
	for (uint32_t i = 0; i < LIM_CONS_ROUND_SLOTS; i++) {
		const struct cons_slot *s = &c->slots[i];
		if (!s->used)
			continue;
		for (uint32_t j = 0; j < LIM_CONS_PROPOSALS_PER_ROUND; j++)
			if (s->prop[j].used && memcmp(s->prop[j].id, id, CONS_ID_BYTES) == 0)
				return &s->prop[j];
	}
	return NULL;
}

struct cons_prop *cons_prop_store(cons *c, struct cons_slot *s, int32_t pol_round,
				  const cons_id id, const ck_sig sig, const uint8_t *block,
				  uint32_t len, bool *fresh)
{
	struct cons_prop *p = NULL;
	for (uint32_t j = 0; j < LIM_CONS_PROPOSALS_PER_ROUND && !p; j++)
		if (!s->prop[j].used)
			p = &s->prop[j];
	if (!p)
		return NULL;
	if (p->cap < len) {
		uint8_t *nb = realloc(p->block, len);
		if (!nb)
			return NULL;
		p->block = nb;
		p->cap = len;
	}
	const struct cons_prop *known = cons_prop_find_id(c, id);
	p->used = true;
	p->pol_round = pol_round;
	memcpy(p->id, id, CONS_ID_BYTES);
	memcpy(p->sig, sig, CK_SIG_BYTES);
	memcpy(p->block, block, len);
	p->len = len;
	p->validity = known ? known->validity : CONS_VALIDITY_PENDING;
	*fresh = known == NULL;
	return p;
}

void cons_set_validity(cons *c, const cons_id id, bool valid)
{
	for (uint32_t i = 0; i < LIM_CONS_ROUND_SLOTS; i++) {
		struct cons_slot *s = &c->slots[i];
		if (!s->used)
			continue;
		for (uint32_t j = 0; j < LIM_CONS_PROPOSALS_PER_ROUND; j++) {
			struct cons_prop *p = &s->prop[j];
			if (p->used && p->validity == CONS_VALIDITY_PENDING &&
			    memcmp(p->id, id, CONS_ID_BYTES) == 0)
				p->validity = valid ? CONS_VALIDITY_VALID : CONS_VALIDITY_INVALID;
		}
	}
}

static int side_cmp(uint8_t step, uint64_t height, uint32_t round, const cons_evidence_side *x,
		    const cons_evidence_side *y)
{
	uint8_t a[CONS_SIGN_BYTES_MAX], b[CONS_SIGN_BYTES_MAX];
	size_t al, bl;
	if (step == CONS_STEP_PROPOSE) {
		al = cons_proposal_sign_bytes(a, height, round, x->pol_round, x->id);
		bl = cons_proposal_sign_bytes(b, height, round, y->pol_round, y->id);
	} else {
		al = cons_vote_sign_bytes(a, height, round, x->has_id, x->id);
		bl = cons_vote_sign_bytes(b, height, round, y->has_id, y->id);
	}
	int r = memcmp(a, b, al < bl ? al : bl);
	return r ? r : (al < bl ? -1 : al > bl ? 1 : 0);
}

void cons_evidence_add(cons *c, uint8_t step, uint32_t round, uint32_t validator,
		       const cons_evidence_side *x, const cons_evidence_side *y)
{
	int order = side_cmp(step, c->height, round, x, y);
	assert(order != 0);
	for (uint32_t i = 0; i < c->ev_n; i++) {
		const cons_evidence *e = &c->ev[(c->ev_first + i) % LIM_CONS_EVIDENCE_MAX];
		if (e->step == step && e->height == c->height && e->round == round &&
		    e->validator == validator)
			return;
	}
	cons_evidence *e;
	if (c->ev_n == LIM_CONS_EVIDENCE_MAX) {
		e = &c->ev[c->ev_first];
		c->ev_first = (c->ev_first + 1) % LIM_CONS_EVIDENCE_MAX;
	} else {
		e = &c->ev[(c->ev_first + c->ev_n) % LIM_CONS_EVIDENCE_MAX];
		c->ev_n++;
	}
	e->step = step;
	e->height = c->height;
	e->round = round;
	e->validator = validator;
	e->a = order < 0 ? *x : *y;
	e->b = order < 0 ? *y : *x;
	c->stats.evidence++;
}
