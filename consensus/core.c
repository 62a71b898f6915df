/*
 * The Tendermint state machine: Algorithm 1 of "The latest gossip on BFT
 * consensus" (Buchman, Kwon, Milosevic, 2018), one event in, actions out.
 * Each "upon" rule of the paper is one function below, quoted next to it;
 * after every event they are evaluated until none fires, which is how the
 * paper's rules are meant to be read (a rule fires as soon as its condition
 * holds). docs/CONSENSUS.md maps the lines and lists the deviations.
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "consensus/internal.h"

/* Mutants for the simulator's mutation check (Makefile target simmutant):
 * each breaks one rule so that the simulator must find a violation. Never
 * defined in a normal build.
 *   IGNORE_LOCK           lines 23 and 29 ignore the lock
 *   QUORUM                quorum floor(2n/3) instead of floor(2n/3)+1
 *   SEND_BEFORE_PERSIST   the persist barrier after the message it covers
 *   SKIP_POL_CHECK        line 28 without its 2f+1 PREVOTE(vr, id(v))
 *   UNLOCK_ANY_VR         line 29 without lockedRound <= vr
 *   FORGET_LOCK           a restart drops the persisted lock
 *   LOCK_AFTER_PRECOMMIT  the lock is set after the precommit's persist
 *   NO_VERIFY             signatures of proposals and votes not verified */
#if defined(CONS_MUTANT_IGNORE_LOCK) + defined(CONS_MUTANT_QUORUM) + \
		defined(CONS_MUTANT_SEND_BEFORE_PERSIST) + defined(CONS_MUTANT_SKIP_POL_CHECK) + \
		defined(CONS_MUTANT_UNLOCK_ANY_VR) + defined(CONS_MUTANT_FORGET_LOCK) + \
		defined(CONS_MUTANT_LOCK_AFTER_PRECOMMIT) + defined(CONS_MUTANT_NO_VERIFY) > 1
#error "one mutant at a time"
#endif

/* The id argument of a nil vote: ignored, but always initialised. */
static const cons_id nil_id;

/* ---- output ------------------------------------------------------------ */

static cons_action *push(cons *c, enum cons_action_kind kind)
{
	cons_actions *o = c->out;
	assert(o->n < LIM_CONS_ACTIONS_MAX);
	cons_action *a = &o->a[o->n++];
	a->kind = kind;
	return a;
}

static void push_persist(cons *c)
{
	/* What a restart could not load must never be stored. */
	assert(cons_safety_check(&c->safe) == 0);
	cons_action *a = push(c, CONS_ACT_PERSIST);
	a->u.persist.safety = c->safe;
	a->u.persist.valid_block = NULL;
	a->u.persist.valid_len = 0;
	a->u.persist.valid_pol = NULL;
	c->need_persist = false;
	if (!c->valid_dirty || c->safe.valid_round < 0 || c->valid_len == 0)
		return;
	assert(c->nvsnap < CONS_VSNAP_MAX);
	struct cons_vsnap *v = &c->vsnap[c->nvsnap];
	if (v->cap < c->valid_len) {
		uint8_t *nb = realloc(v->block, c->valid_len);
		if (!nb)
			return; /* stays dirty: the next persist carries it */
		v->block = nb;
		v->cap = c->valid_len;
	}
	c->nvsnap++;
	memcpy(v->block, c->valid_block, c->valid_len);
	v->len = c->valid_len;
	v->pol = c->valid_pol;
	a->u.persist.valid_block = v->block;
	a->u.persist.valid_len = v->len;
	a->u.persist.valid_pol = &v->pol;
	c->valid_dirty = false;
}

/* Encodes m into the step's arena and emits it: to everyone (peer < 0) or
 * to one peer. The persist barrier goes first if anything signed since the
 * last PERSIST is not yet covered: nothing we signed leaves before it is
 * durable. */
static void emit_msg(cons *c, const cons_msg *m, int64_t peer)
{
#ifndef CONS_MUTANT_SEND_BEFORE_PERSIST
	if (c->need_persist)
		push_persist(c);
#endif
	size_t off = cm_wr_len(&c->arena);
	cons_msg_encode(m, &c->arena);
	cons_action *a = push(c, peer < 0 ? CONS_ACT_BROADCAST : CONS_ACT_SEND);
	a->u.msg.peer = peer < 0 ? 0 : (uint32_t)peer;
	a->u.msg.bytes = NULL; /* set when the step ends: the arena may move */
	a->u.msg.len = cm_wr_len(&c->arena) - off;
	c->arena_off[c->out->n - 1] = off;
#ifdef CONS_MUTANT_SEND_BEFORE_PERSIST
	if (c->need_persist)
		push_persist(c);
#endif
}

static uint32_t timeout_ms(const cons *c, enum cons_timer t, uint32_t round)
{
	uint64_t base, delta;
	switch (t) {
	case CONS_TIMER_PROPOSE:
		base = c->to.propose_ms, delta = c->to.propose_delta_ms;
		break;
	case CONS_TIMER_PREVOTE:
		base = c->to.prevote_ms, delta = c->to.prevote_delta_ms;
		break;
	case CONS_TIMER_PRECOMMIT:
		base = c->to.precommit_ms, delta = c->to.precommit_delta_ms;
		break;
	default:
		return c->to.gossip_ms;
	}
	uint64_t ms = base + (uint64_t)round * delta;
	return ms > c->to.cap_ms ? c->to.cap_ms : (uint32_t)ms;
}

static void set_timer(cons *c, enum cons_timer t, uint32_t round)
{
	cons_action *a = push(c, CONS_ACT_SET_TIMER);
	a->u.timer.timer = t;
	a->u.timer.height = c->height;
	a->u.timer.round = round;
	a->u.timer.delay_ms = timeout_ms(c, t, round);
}

/* ---- signing ----------------------------------------------------------- */

static int cmp_pos(uint64_t h1, uint32_t r1, int s1, uint64_t h2, uint32_t r2, int s2)
{
	if (h1 != h2)
		return h1 < h2 ? -1 : 1;
	if (r1 != r2)
		return r1 < r2 ? -1 : 1;
	return s1 < s2 ? -1 : s1 > s2;
}

/* The only place the core signs. It signs (height, round, step) only above
 * every message it ever signed (the persisted last[] survives restarts),
 * or returns the stored signature of the identical message; anything else
 * is refused. This is what makes "never sign two conflicting messages"
 * hold even if the rules above were wrong or the state was lost. */
static bool sign_guarded(cons *c, enum cons_step step, uint32_t round, int32_t pol_round,
			 bool has_id, const cons_id id, ck_sig sig)
{
	if (c->me < 0)
		return false;
	cons_signed *m = &c->safe.last[step];
	if (m->height == c->height && m->round == round)
		goto same;
	for (int s = 0; s < 3; s++) {
		const cons_signed *l = &c->safe.last[s];
		if (l->height != 0 && cmp_pos(l->height, l->round, s, c->height, round, step) >= 0)
			return false;
	}
	uint8_t sb[CONS_SIGN_BYTES_MAX];
	size_t n = step == CONS_STEP_PROPOSE
			   ? cons_proposal_sign_bytes(sb, c->height, round, pol_round, id)
			   : cons_vote_sign_bytes(sb, c->height, round, has_id, id);
	c->signer.sign(c->signer.ctx, cons_step_domain(step), c->chain_id, sb, n, sig);
	m->height = c->height;
	m->round = round;
	m->pol_round = pol_round;
	m->has_id = has_id;
	if (has_id)
		memcpy(m->id, id, CONS_ID_BYTES);
	else
		memset(m->id, 0, CONS_ID_BYTES);
	memcpy(m->sig, sig, CK_SIG_BYTES);
	c->need_persist = true;
	return true;
same:
	if (m->pol_round != pol_round || m->has_id != has_id ||
	    (has_id && memcmp(m->id, id, CONS_ID_BYTES) != 0))
		return false;
	memcpy(sig, m->sig, CK_SIG_BYTES);
	return true;
}

static void vote_msg(cons_msg *m, enum cons_step step, uint64_t height, uint32_t round,
		     bool has_id, const cons_id id, uint32_t validator, const ck_sig sig)
{
	m->kind = step == CONS_STEP_PREVOTE ? CONS_MSG_PREVOTE : CONS_MSG_PRECOMMIT;
	m->u.vote.step = (uint8_t)step;
	m->u.vote.height = height;
	m->u.vote.round = round;
	m->u.vote.has_id = has_id;
	if (has_id)
		memcpy(m->u.vote.id, id, CONS_ID_BYTES);
	else
		memset(m->u.vote.id, 0, CONS_ID_BYTES);
	m->u.vote.validator = validator;
	memcpy(m->u.vote.sig, sig, CK_SIG_BYTES);
}

/* broadcast <PREVOTE|PRECOMMIT, h_p, round_p, id or nil>: sign, count our
 * own vote as received (broadcast includes ourselves), send. */
static void cast_vote(cons *c, enum cons_step step, bool has_id, const cons_id id)
{
	ck_sig sig;
	uint32_t round = c->safe.round;
	if (!sign_guarded(c, step, round, -1, has_id, id, sig))
		return;
	struct cons_slot *s = cons_slot_get(c, round);
	assert(s != NULL); /* the current round is always kept */
	struct cons_voteset *vs = &s->votes[step == CONS_STEP_PREVOTE ? 0 : 1];
	if (!cons_voteset_has(vs, (uint32_t)c->me))
		cons_voteset_add(vs, (uint32_t)c->me, has_id, id, sig);
	cons_msg m;
	vote_msg(&m, step, c->height, round, has_id, id, (uint32_t)c->me, sig);
	emit_msg(c, &m, -1);
}

/* Forwards the prevotes of pol_round for id that justify a proposal (the
 * paper's gossip assumption: whoever sees the proposal must eventually see
 * its proof of lock). At most a quorum of them. */
static void emit_pol(cons *c, int32_t pol_round, const cons_id id)
{
	if (pol_round < 0)
		return;
	struct cons_slot *s = cons_slot_find(c, (uint32_t)pol_round);
	if (!s)
		return;
	const struct cons_voteset *vs = &s->votes[0];
	uint32_t sent = 0;
	for (uint32_t i = 0; i < c->vs.n && sent < c->quorum; i++) {
		const struct cons_vote_entry *e = cons_voteset_find(vs, i, true, id);
		if (!e)
			continue;
		cons_msg m;
		vote_msg(&m, CONS_STEP_PREVOTE, c->height, (uint32_t)pol_round, true, id, i,
			 e->sig);
		emit_msg(c, &m, -1);
		sent++;
	}
}

static void emit_proposal(cons *c, uint32_t round, const struct cons_prop *p)
{
	cons_msg m;
	m.kind = CONS_MSG_PROPOSAL;
	m.u.proposal.height = c->height;
	m.u.proposal.round = round;
	m.u.proposal.pol_round = p->pol_round;
	memcpy(m.u.proposal.id, p->id, CONS_ID_BYTES);
	m.u.proposal.proposer = (uint32_t)c->me;
	memcpy(m.u.proposal.sig, p->sig, CK_SIG_BYTES);
	m.u.proposal.block = p->block;
	m.u.proposal.block_len = p->len;
	emit_msg(c, &m, -1);
	emit_pol(c, p->pol_round, p->id);
}

/* Line 19: broadcast <PROPOSAL, h_p, round_p, proposal, validRound_p>. */
static void propose(cons *c, const uint8_t *block, uint32_t len, int32_t pol_round)
{
	cons_id id;
	ck_sig sig;
	uint32_t round = c->safe.round;
	c->block_id.id(c->block_id.ctx, block, len, id);
	if (!sign_guarded(c, CONS_STEP_PROPOSE, round, pol_round, true, id, sig))
		return;
	struct cons_slot *s = cons_slot_get(c, round);
	assert(s != NULL);
	bool fresh;
	struct cons_prop *p = cons_prop_store(c, s, pol_round, id, sig, block, len, &fresh);
	if (!p)
		return; /* a twin's proposals took both entries; ours is lost */
	/* Our own block: the driver built it from checked transactions, or it
	 * is validValue, which we already found valid. */
	p->validity = CONS_VALIDITY_VALID;
	emit_proposal(c, round, p);
}

/* The votes of a set for id, as a certificate (indices increasing). */
static void collect(const cons *c, const struct cons_voteset *vs, uint32_t round, const cons_id id,
		    cons_cert *cert)
{
	cert->height = c->height;
	cert->round = round;
	memcpy(cert->id, id, CONS_ID_BYTES);
	cert->n = 0;
	for (uint32_t k = 0; k < c->vs.n; k++) {
		const struct cons_vote_entry *e = cons_voteset_find(vs, k, true, id);
		if (!e)
			continue;
		cert->idx[cert->n] = k;
		memcpy(cert->sig[cert->n], e->sig, CK_SIG_BYTES);
		cert->n++;
	}
}

/* Keeps validValue's bytes; false if out of memory (the caller then holds
 * no bytes for validValue: a missed copy costs liveness at most). */
static bool keep_valid_block(cons *c, const uint8_t *block, uint32_t len)
{
	if (c->valid_cap < len) {
		uint8_t *nb = realloc(c->valid_block, len);
		if (!nb)
			return false;
		c->valid_block = nb;
		c->valid_cap = len;
	}
	memcpy(c->valid_block, block, len);
	c->valid_len = len;
	return true;
}

/* ---- StartRound (lines 11-21) ------------------------------------------ */

static bool is_proposer(const cons *c, uint32_t round)
{
	return c->me >= 0 && cons_proposer(&c->vs, c->height, round) == (uint32_t)c->me;
}

/* Function StartRound(round):
 *   round_p <- round; step_p <- propose
 *   if proposer(h_p, round_p) = p then
 *     if validValue_p != nil then proposal <- validValue_p
 *     else proposal <- getValue()
 *     broadcast <PROPOSAL, h_p, round_p, proposal, validRound_p>
 *   else schedule OnTimeoutPropose(h_p, round_p) after timeoutPropose(round_p)
 * getValue() is asynchronous here (CONS_ACT_BUILD_BLOCK), so the proposer
 * schedules the propose timeout as well: if no block comes, it prevotes nil
 * like everyone else. */
static void start_round(cons *c, uint32_t round)
{
	c->safe.round = round;
	c->safe.step = CONS_STEP_PROPOSE;
	if (is_proposer(c, round)) {
		if (c->safe.valid_round >= 0 && c->valid_len > 0)
			propose(c, c->valid_block, c->valid_len, c->safe.valid_round);
		else {
			cons_action *a = push(c, CONS_ACT_BUILD_BLOCK);
			a->u.build.height = c->height;
			a->u.build.round = round;
		}
	}
	set_timer(c, CONS_TIMER_PROPOSE, round);
}

/* ---- the upon rules ---------------------------------------------------- */

/* Lines 22-27 and 28-33:
 *   upon <PROPOSAL, h_p, round_p, v, -1> from proposer(h_p, round_p)
 *        while step_p = propose do
 *     if valid(v) and (lockedRound_p = -1 or lockedValue_p = v)
 *       then broadcast <PREVOTE, h_p, round_p, id(v)>
 *       else broadcast <PREVOTE, h_p, round_p, nil>
 *     step_p <- prevote
 *   upon <PROPOSAL, h_p, round_p, v, vr> from proposer(h_p, round_p) AND
 *        2f+1 <PREVOTE, h_p, vr, id(v)> while step_p = propose and
 *        (vr >= 0 and vr < round_p) do
 *     if valid(v) and (lockedRound_p <= vr or lockedValue_p = v) ...
 * The first stored proposal of the round is the one acted on; a second,
 * conflicting one only becomes evidence. While valid(v) is unanswered the
 * rule waits (the propose timeout bounds the wait). */
static bool rule_proposal(cons *c)
{
	if (c->safe.step != CONS_STEP_PROPOSE)
		return false;
	struct cons_slot *s = cons_slot_find(c, c->safe.round);
	if (!s || !s->prop[0].used)
		return false;
	const struct cons_prop *p = &s->prop[0];
	if (p->validity == CONS_VALIDITY_PENDING)
		return false;
	bool valid = p->validity == CONS_VALIDITY_VALID;
	bool locked_ok;
	if (p->pol_round < 0) {
		locked_ok = c->safe.locked_round == -1 ||
			    memcmp(c->safe.locked_id, p->id, CONS_ID_BYTES) == 0;
	} else {
		assert(p->pol_round < (int64_t)c->safe.round);
		const struct cons_slot *pol = cons_slot_find(c, (uint32_t)p->pol_round);
#ifndef CONS_MUTANT_SKIP_POL_CHECK
		if (!pol || cons_voteset_count_id(&pol->votes[0], p->id) < c->quorum)
			return false;
#else
		(void)pol;
#endif
		locked_ok = c->safe.locked_round <= p->pol_round ||
			    memcmp(c->safe.locked_id, p->id, CONS_ID_BYTES) == 0;
#ifdef CONS_MUTANT_UNLOCK_ANY_VR
		locked_ok = true;
#endif
	}
#ifdef CONS_MUTANT_IGNORE_LOCK
	locked_ok = true;
#endif
	cons_id id;
	memcpy(id, p->id, CONS_ID_BYTES);
	c->safe.step = CONS_STEP_PREVOTE;
	cast_vote(c, CONS_STEP_PREVOTE, valid && locked_ok, id);
	return true;
}

/* Lines 34-35:
 *   upon 2f+1 <PREVOTE, h_p, round_p, *> while step_p = prevote
 *        for the first time do
 *     schedule OnTimeoutPrevote(h_p, round_p) after timeoutPrevote(round_p) */
static bool rule_prevote_timer(cons *c)
{
	if (c->safe.step != CONS_STEP_PREVOTE)
		return false;
	struct cons_slot *s = cons_slot_find(c, c->safe.round);
	if (!s || s->prevote_timer_set || s->votes[0].count < c->quorum)
		return false;
	s->prevote_timer_set = true;
	set_timer(c, CONS_TIMER_PREVOTE, c->safe.round);
	return true;
}

/* Lines 36-43:
 *   upon <PROPOSAL, h_p, round_p, v, *> from proposer(h_p, round_p) AND
 *        2f+1 <PREVOTE, h_p, round_p, id(v)> while valid(v) and
 *        step_p >= prevote for the first time do
 *     if step_p = prevote then
 *       lockedValue_p <- v; lockedRound_p <- round_p
 *       broadcast <PRECOMMIT, h_p, round_p, id(v)>
 *       step_p <- precommit
 *     validValue_p <- v; validRound_p <- round_p */
static bool rule_polka(cons *c)
{
	if (c->safe.step < CONS_STEP_PREVOTE)
		return false;
	struct cons_slot *s = cons_slot_find(c, c->safe.round);
	if (!s || s->polka_done)
		return false;
	for (uint32_t j = 0; j < LIM_CONS_PROPOSALS_PER_ROUND; j++) {
		const struct cons_prop *p = &s->prop[j];
		if (!p->used || p->validity != CONS_VALIDITY_VALID ||
		    cons_voteset_count_id(&s->votes[0], p->id) < c->quorum)
			continue;
		s->polka_done = true;
		/* Line 42 (validValue, validRound) goes first, so that the
		 * persist barrier of the precommit carries it together with the
		 * lock: a validator restarted between the two would hold a lock
		 * it cannot propose, and a quorum of such locks waits forever.
		 * validValue and validRound always move, so the lock is never
		 * ahead of them; only keeping the bytes can fail, and without them
		 * line 16 proposes a fresh value (liveness only). Bytes already
		 * held for this id are kept. */
		if (!(c->valid_len > 0 && memcmp(c->safe.valid_id, p->id, CONS_ID_BYTES) == 0) &&
		    !keep_valid_block(c, p->block, p->len))
			c->valid_len = 0;
		c->safe.valid_round = (int32_t)c->safe.round;
		memcpy(c->safe.valid_id, p->id, CONS_ID_BYTES);
		collect(c, &s->votes[0], s->round, p->id, &c->valid_pol);
		c->valid_dirty = true;
		/* Liveness state: stored with the next persist, or at the end of
		 * this step. Not below a restored height (the core cannot vote
		 * here, and storing this height's state would replace the
		 * restored lock on disk). */
		if (c->me >= 0 && !c->have_restore)
			c->need_persist = true;
		if (c->safe.step == CONS_STEP_PREVOTE) {
#ifndef CONS_MUTANT_LOCK_AFTER_PRECOMMIT
			c->safe.locked_round = (int32_t)c->safe.round;
			memcpy(c->safe.locked_id, p->id, CONS_ID_BYTES);
#endif
			c->safe.step = CONS_STEP_PRECOMMIT;
			cast_vote(c, CONS_STEP_PRECOMMIT, true, p->id);
#ifdef CONS_MUTANT_LOCK_AFTER_PRECOMMIT
			c->safe.locked_round = (int32_t)c->safe.round;
			memcpy(c->safe.locked_id, p->id, CONS_ID_BYTES);
#endif
		}
		return true;
	}
	return false;
}

/* Lines 44-46:
 *   upon 2f+1 <PREVOTE, h_p, round_p, nil> while step_p = prevote do
 *     broadcast <PRECOMMIT, h_p, round_p, nil>; step_p <- precommit */
static bool rule_nil_polka(cons *c)
{
	if (c->safe.step != CONS_STEP_PREVOTE)
		return false;
	struct cons_slot *s = cons_slot_find(c, c->safe.round);
	if (!s || s->votes[0].nil_count < c->quorum)
		return false;
	c->safe.step = CONS_STEP_PRECOMMIT;
	cast_vote(c, CONS_STEP_PRECOMMIT, false, nil_id);
	return true;
}

/* Lines 47-48:
 *   upon 2f+1 <PRECOMMIT, h_p, round_p, *> for the first time do
 *     schedule OnTimeoutPrecommit(h_p, round_p) after timeoutPrecommit(round_p) */
static bool rule_precommit_timer(cons *c)
{
	struct cons_slot *s = cons_slot_find(c, c->safe.round);
	if (!s || s->precommit_timer_set || s->votes[1].count < c->quorum)
		return false;
	s->precommit_timer_set = true;
	set_timer(c, CONS_TIMER_PRECOMMIT, c->safe.round);
	return true;
}

static void emit_commit(cons *c, const uint8_t *block, uint32_t len, bool from_cert)
{
	c->decided = true;
	cons_action *a = push(c, CONS_ACT_COMMIT);
	a->u.commit.height = c->height;
	memcpy(a->u.commit.id, c->cert.id, CONS_ID_BYTES);
	a->u.commit.block = block;
	a->u.commit.len = len;
	a->u.commit.cert = &c->cert;
	a->u.commit.from_cert = from_cert;
}

/* Lines 49-54:
 *   upon <PROPOSAL, h_p, r, v, *> from proposer(h_p, r) AND
 *        2f+1 <PRECOMMIT, h_p, r, id(v)> while decision_p[h_p] = nil do
 *     if valid(v) then decision_p[h_p] = v; h_p <- h_p + 1; reset; StartRound(0)
 * The decision is handed to the driver with its certificate (every
 * precommit for id(v) of round r we hold); the next height starts when the
 * driver has applied the block (CONS_EV_START_HEIGHT). */
static bool rule_commit(cons *c)
{
	for (uint32_t i = 0; i < LIM_CONS_ROUND_SLOTS; i++) {
		struct cons_slot *s = &c->slots[i];
		if (!s->used || s->votes[1].count < c->quorum)
			continue;
		for (uint32_t j = 0; j < LIM_CONS_PROPOSALS_PER_ROUND; j++) {
			const struct cons_prop *p = &s->prop[j];
			if (!p->used || p->validity != CONS_VALIDITY_VALID ||
			    cons_voteset_count_id(&s->votes[1], p->id) < c->quorum)
				continue;
			const struct cons_voteset *vs = &s->votes[1];
			collect(c, vs, s->round, p->id, &c->cert);
			assert(c->cert.n >= c->quorum);
			emit_commit(c, p->block, p->len, false);
			return true;
		}
	}
	return false;
}

/* Lines 55-56:
 *   upon f+1 <*, h_p, round, *, *> with round > round_p do StartRound(round)
 * Counted per validator by the highest round it signed anything for: if
 * f+1 validators were seen at round >= R, one of them is honest and has
 * reached R, so jumping to the highest such R is what the rule does, and it
 * needs O(n) memory instead of a log of every future round. */
static bool rule_round_skip(cons *c)
{
	if (!c->skip_dirty)
		return false;
	c->skip_dirty = false;
	uint32_t above[LIM_VALIDATORS_MAX];
	uint32_t k = 0;
	for (uint32_t i = 0; i < c->vs.n; i++)
		if (((c->max_round_seen[i / 64] >> (i % 64)) & 1u) &&
		    c->max_round[i] > c->safe.round)
			above[k++] = c->max_round[i];
	if (k < c->honest_min)
		return false;
	/* The (f+1)-th largest: partial selection sort, k <= n is small. */
	for (uint32_t i = 0; i < c->honest_min; i++)
		for (uint32_t j = i + 1; j < k; j++)
			if (above[j] > above[i]) {
				uint32_t t = above[i];
				above[i] = above[j];
				above[j] = t;
			}
	start_round(c, above[c->honest_min - 1]);
	return true;
}

static void progress(cons *c)
{
	for (int iter = 0;; iter++) {
		/* Every firing advances the step, the round or a first-time
		 * flag, so this terminates quickly. */
		assert(iter < 64);
		if (!c->started || c->decided)
			return;
		if (rule_commit(c) || rule_round_skip(c) || rule_proposal(c) ||
		    rule_prevote_timer(c) || rule_polka(c) || rule_nil_polka(c) ||
		    rule_precommit_timer(c))
			continue;
		return;
	}
}

/* ---- incoming messages ------------------------------------------------- */

static void note_round(cons *c, uint32_t validator, uint32_t round)
{
	uint64_t bit = (uint64_t)1 << (validator % 64);
	uint64_t *w = &c->max_round_seen[validator / 64];
	if (!(*w & bit) || c->max_round[validator] < round) {
		*w |= bit;
		c->max_round[validator] = round;
		if (round > c->safe.round)
			c->skip_dirty = true;
	}
}

static void emit_status(cons *c)
{
	cons_msg st;
	st.kind = CONS_MSG_STATUS;
	st.u.status.height = c->height;
	st.u.status.round = c->safe.round;
	emit_msg(c, &st, -1);
}

/* A peer of our height is in an earlier round. The paper's gossip would
 * eventually hand it every message we received; we send what moves it on:
 * a quorum of precommits of its round (line 47, then its precommit timeout
 * takes it to the next round) if we hold them, else the prevotes of our
 * round (line 55: f+1 of them let it skip to us). Once per peer per gossip
 * period. */
static void help_round(cons *c, uint32_t peer, uint32_t round)
{
	if (peer >= LIM_PEERS_MAX || c->helped_epoch[peer] == c->gossip_epoch + 1)
		return;
	c->helped_epoch[peer] = c->gossip_epoch + 1;
	struct cons_slot *s = cons_slot_find(c, round);
	int step = CONS_STEP_PRECOMMIT;
	if (!s || s->votes[1].count < c->quorum) {
		s = cons_slot_find(c, c->safe.round);
		step = CONS_STEP_PREVOTE;
	}
	if (!s)
		return;
	const struct cons_voteset *vs = &s->votes[step - 1];
	uint32_t sent = 0;
	for (uint32_t i = 0; i < c->vs.n && sent < c->quorum; i++) {
		if (!cons_voteset_has(vs, i))
			continue;
		cons_msg m;
		vote_msg(&m, (enum cons_step)step, c->height, s->round, vs->v[i].has_id,
			 vs->v[i].id, i, vs->v[i].sig);
		emit_msg(c, &m, peer);
		sent++;
	}
}

/* A peer sent something for a height we decided: it is lagging, so it gets
 * the decided block and certificate. Each answer costs a block read and up
 * to a block's bytes on the wire for a few bytes in, so a peer gets at most
 * LIM_CONS_DECIDED_PER_PERIOD answers per gossip period, each height once,
 * whichever heights it names (a peer alternating two heights used to get
 * an answer per message). An honest lagging node asks for its next height
 * after each answer, so it catches up that many heights per period. */
static void maybe_answer(cons *c, uint32_t peer, uint64_t height)
{
	if (peer >= LIM_PEERS_MAX)
		return;
	if (height > c->height || (height == c->height && !c->decided))
		return;
	struct cons_answered *ans = &c->answered[peer];
	if (ans->epoch != c->gossip_epoch) {
		ans->epoch = c->gossip_epoch;
		ans->n = 0;
	}
	for (uint32_t k = 0; k < ans->n; k++)
		if (ans->height[k] == height)
			return;
	if (ans->n == LIM_CONS_DECIDED_PER_PERIOD)
		return;
	ans->height[ans->n++] = height;
	cons_action *a = push(c, CONS_ACT_SEND_DECIDED);
	a->u.decided.peer = peer;
	a->u.decided.height = height;
}

static int verify(cons *c, uint32_t validator, enum cons_step step, const uint8_t *sb, size_t n,
		  const ck_sig sig)
{
	c->stats.sigs_checked++;
#ifdef CONS_MUTANT_NO_VERIFY
	(void)validator, (void)step, (void)sb, (void)n, (void)sig;
	return 0;
#endif
	if (c->verifier.verify(c->verifier.ctx, c->vs.keys[validator], cons_step_domain(step),
			       c->chain_id, sb, n, sig) != 0)
		return CONS_E_BADSIG;
	return 0;
}

static int on_proposal(cons *c, const cons_proposal *p)
{
	if (p->proposer >= c->vs.n)
		return CONS_E_NOT_VALIDATOR;
	if (p->proposer != cons_proposer(&c->vs, c->height, p->round))
		return CONS_E_NOT_PROPOSER;
	struct cons_slot *s = cons_slot_find(c, p->round);
	const struct cons_prop *first = NULL;
	if (s) {
		for (uint32_t j = 0; j < LIM_CONS_PROPOSALS_PER_ROUND; j++) {
			const struct cons_prop *e = &s->prop[j];
			if (!e->used)
				continue;
			if (e->pol_round == p->pol_round &&
			    memcmp(e->id, p->id, CONS_ID_BYTES) == 0) {
				c->stats.votes_dup++;
				return CONS_E_DUPLICATE;
			}
			if (!first)
				first = e;
		}
	}
	uint8_t sb[CONS_SIGN_BYTES_MAX];
	size_t n = cons_proposal_sign_bytes(sb, p->height, p->round, p->pol_round, p->id);
	int rc = verify(c, p->proposer, CONS_STEP_PROPOSE, sb, n, p->sig);
	if (rc)
		return rc;
	note_round(c, p->proposer, p->round);
	if (first) {
		cons_evidence_side x = {first->pol_round, true, {0}, {0}};
		cons_evidence_side y = {p->pol_round, true, {0}, {0}};
		memcpy(x.id, first->id, CONS_ID_BYTES);
		memcpy(x.sig, first->sig, CK_SIG_BYTES);
		memcpy(y.id, p->id, CONS_ID_BYTES);
		memcpy(y.sig, p->sig, CK_SIG_BYTES);
		cons_evidence_add(c, CONS_STEP_PROPOSE, p->round, p->proposer, &x, &y);
		rc = CONS_E_EQUIVOCATION;
	}
	/* The block must be the one signed: votes are for ids, and whoever
	 * votes for an id must hold its bytes. */
	cons_id id;
	c->block_id.id(c->block_id.ctx, p->block, p->block_len, id);
	if (memcmp(id, p->id, CONS_ID_BYTES) != 0)
		return CONS_E_BLOCK_ID;
	if (!s)
		s = cons_slot_get(c, p->round);
	if (!s)
		return CONS_E_ROUND;
	bool fresh;
	struct cons_prop *e = cons_prop_store(c, s, p->pol_round, p->id, p->sig, p->block,
					      p->block_len, &fresh);
	if (!e)
		return rc ? rc : CONS_E_NOMEM;
	if (fresh) {
		cons_action *a = push(c, CONS_ACT_CHECK_BLOCK);
		a->u.check.height = c->height;
		memcpy(a->u.check.id, e->id, CONS_ID_BYTES);
		a->u.check.block = e->block;
		a->u.check.len = e->len;
	}
	return rc;
}

static int on_vote(cons *c, const cons_vote *v)
{
	if (v->validator >= c->vs.n)
		return CONS_E_NOT_VALIDATOR;
	int k = v->step == CONS_STEP_PREVOTE ? 0 : 1;
	struct cons_slot *s = cons_slot_find(c, v->round);
	bool conflict = false;
	if (s && cons_voteset_has(&s->votes[k], v->validator)) {
		if (cons_voteset_find(&s->votes[k], v->validator, v->has_id, v->id)) {
			c->stats.votes_dup++;
			return CONS_E_DUPLICATE;
		}
		conflict = true;
	}
	uint8_t sb[CONS_SIGN_BYTES_MAX];
	size_t n = cons_vote_sign_bytes(sb, v->height, v->round, v->has_id, v->id);
	int rc = verify(c, v->validator, (enum cons_step)v->step, sb, n, v->sig);
	if (rc)
		return rc;
	note_round(c, v->validator, v->round);
	if (conflict) {
		const struct cons_vote_entry *old = &s->votes[k].v[v->validator];
		cons_evidence_side x = {-1, old->has_id, {0}, {0}};
		cons_evidence_side y = {-1, v->has_id, {0}, {0}};
		memcpy(x.id, old->id, CONS_ID_BYTES);
		memcpy(x.sig, old->sig, CK_SIG_BYTES);
		memcpy(y.id, v->id, CONS_ID_BYTES);
		memcpy(y.sig, v->sig, CK_SIG_BYTES);
		cons_evidence_add(c, v->step, v->round, v->validator, &x, &y);
		/* Still a signed vote for its id: it counts there. */
		(void)cons_voteset_add_extra(&s->votes[k], v->validator, v->has_id, v->id, v->sig);
		return CONS_E_EQUIVOCATION;
	}
	if (!s)
		s = cons_slot_get(c, v->round);
	if (!s)
		return CONS_E_ROUND;
	cons_voteset_add(&s->votes[k], v->validator, v->has_id, v->id, v->sig);
	return 0;
}

/* A certificate with its block for our height: a quorum precommitted it,
 * so it is decided; commit without asking valid(v) (docs/CONSENSUS.md,
 * "Catch-up"). This is how a lagging or non-voting node follows. */
static int on_decided(cons *c, const cons_cert *cert, const uint8_t *block, uint32_t len)
{
	if (cert->height != c->height)
		return CONS_E_HEIGHT;
	cons_id id;
	c->block_id.id(c->block_id.ctx, block, len, id);
	if (memcmp(id, cert->id, CONS_ID_BYTES) != 0)
		return CONS_E_BLOCK_ID;
	int rc = cons_cert_check(cert, &c->vs, c->chain_id, id, &c->verifier);
	if (rc)
		return rc;
	if (c->decided_cap < len) {
		uint8_t *nb = realloc(c->decided_block, len);
		if (!nb)
			return CONS_E_NOMEM;
		c->decided_block = nb;
		c->decided_cap = len;
	}
	memcpy(c->decided_block, block, len);
	c->decided_len = len;
	c->cert = *cert;
	emit_commit(c, c->decided_block, len, true);
	return 0;
}

static int on_message(cons *c, uint32_t peer, const uint8_t *bytes, size_t len)
{
	cons_msg m;
	c->stats.msgs_in++;
	if (cons_msg_decode(&m, bytes, len) != 0) {
		c->stats.msgs_bad++;
		return CONS_E_DECODE;
	}
	uint64_t h;
	switch (m.kind) {
	case CONS_MSG_STATUS:
		if (c->started && !c->decided && m.u.status.height == c->height &&
		    m.u.status.round < c->safe.round)
			help_round(c, peer, m.u.status.round);
		else
			maybe_answer(c, peer, m.u.status.height);
		return 0;
	case CONS_MSG_DECIDED:
		if (!c->started || c->decided)
			return CONS_E_STALE;
		return on_decided(c, &m.u.decided.cert, m.u.decided.block, m.u.decided.block_len);
	case CONS_MSG_PROPOSAL:
		h = m.u.proposal.height;
		break;
	default:
		h = m.u.vote.height;
		break;
	}
	if (!c->started)
		return CONS_E_STATE;
	if (h < c->height || (h == c->height && c->decided)) {
		maybe_answer(c, peer, h);
		return CONS_E_HEIGHT;
	}
	if (h > c->height)
		return CONS_E_HEIGHT; /* re-sent by gossip once we get there */
	int rc = m.kind == CONS_MSG_PROPOSAL ? on_proposal(c, &m.u.proposal)
					      : on_vote(c, &m.u.vote);
	if (rc && rc != CONS_E_DUPLICATE && rc != CONS_E_EQUIVOCATION)
		c->stats.msgs_bad++;
	return rc;
}

/* ---- timers (lines 57-67) and gossip ----------------------------------- */

/* Re-sends what we signed at this height (and the proof of lock of our
 * proposal): the paper assumes that a message an honest node received
 * eventually reaches every honest node; over a lossy network that takes
 * re-sending. Also says where we are, so a node ahead answers with a
 * certificate if we are behind. */
static void gossip(cons *c)
{
	const cons_signed *l = c->safe.last;
	if (l[CONS_STEP_PROPOSE].height == c->height) {
		struct cons_slot *s = cons_slot_find(c, l[CONS_STEP_PROPOSE].round);
		for (uint32_t j = 0; s && j < LIM_CONS_PROPOSALS_PER_ROUND; j++) {
			const struct cons_prop *p = &s->prop[j];
			if (p->used && memcmp(p->sig, l[CONS_STEP_PROPOSE].sig, CK_SIG_BYTES) == 0) {
				emit_proposal(c, s->round, p);
				break;
			}
		}
	}
	for (int step = CONS_STEP_PREVOTE; step <= CONS_STEP_PRECOMMIT; step++) {
		if (l[step].height != c->height || c->me < 0)
			continue;
		cons_msg m;
		vote_msg(&m, (enum cons_step)step, c->height, l[step].round, l[step].has_id,
			 l[step].id, (uint32_t)c->me, l[step].sig);
		emit_msg(c, &m, -1);
	}
	emit_status(c);
}

static int on_timeout(cons *c, enum cons_timer t, uint64_t height, uint32_t round)
{
	/* Any gossip timer that fires, stale or not, marks a gossip period:
	 * catch-up answers are limited per period (a node that decides faster
	 * than the gossip period has only stale gossip timers). */
	if (t == CONS_TIMER_GOSSIP)
		c->gossip_epoch++;
	if (!c->started || height != c->height)
		return CONS_E_STALE;
	if (t == CONS_TIMER_GOSSIP) {
		if (c->decided)
			return 0; /* the next START_HEIGHT starts a new chain */
		gossip(c);
		set_timer(c, CONS_TIMER_GOSSIP, 0);
		return 0;
	}
	if (c->decided || round != c->safe.round)
		return CONS_E_STALE;
	switch (t) {
	case CONS_TIMER_PROPOSE:
		/* OnTimeoutPropose: if step_p = propose then
		 *   broadcast <PREVOTE, h_p, round_p, nil>; step_p <- prevote */
		if (c->safe.step != CONS_STEP_PROPOSE)
			return CONS_E_STALE;
		c->safe.step = CONS_STEP_PREVOTE;
		cast_vote(c, CONS_STEP_PREVOTE, false, nil_id);
		return 0;
	case CONS_TIMER_PREVOTE:
		/* OnTimeoutPrevote: if step_p = prevote then
		 *   broadcast <PRECOMMIT, h_p, round_p, nil>; step_p <- precommit */
		if (c->safe.step != CONS_STEP_PREVOTE)
			return CONS_E_STALE;
		c->safe.step = CONS_STEP_PRECOMMIT;
		cast_vote(c, CONS_STEP_PRECOMMIT, false, nil_id);
		return 0;
	case CONS_TIMER_PRECOMMIT:
		/* OnTimeoutPrecommit: StartRound(round_p + 1) */
		if (round >= LIM_CONS_ROUND_MAX)
			return CONS_E_ROUND;
		start_round(c, round + 1);
		return 0;
	default:
		return CONS_E_ARG;
	}
}

/* ---- heights ----------------------------------------------------------- */

static int on_start_height(cons *c, uint64_t height, const cons_valset *vs)
{
	if (height == 0 || cons_valset_check(vs) != 0)
		return CONS_E_ARG;
	if (c->started && height <= c->height)
		return CONS_E_STATE;
	c->started = true;
	c->decided = false;
	c->height = height;
	c->vs = *vs;
	c->me = cons_valset_index(vs, c->self);
	c->quorum = cons_quorum(vs->n);
#ifdef CONS_MUTANT_QUORUM
	c->quorum = 2 * vs->n / 3 > 0 ? 2 * vs->n / 3 : 1;
#endif
	c->honest_min = cons_honest_min(vs->n);
	cons_store_reset(c);
	memset(c->max_round_seen, 0, sizeof c->max_round_seen);
	c->skip_dirty = false;
	set_timer(c, CONS_TIMER_GOSSIP, 0);

	bool resume = c->have_restore && c->restore.height == height;
	/* A height below the restored one runs first when the driver's ledger
	 * is behind what this validator last signed at (it catches up): the
	 * restore, with the lock, waits for its height. */
	if (!c->have_restore || height >= c->restore.height) {
		c->have_restore = false;
		if (!resume)
			c->restore_len = 0;
	}
	if (!resume) {
		/* Line 53: reset lockedRound_p, lockedValue_p, validRound_p,
		 * validValue_p; then StartRound(0). last[] is kept: it is the
		 * signing watermark across heights. */
		c->safe.height = height;
		c->safe.locked_round = -1;
		c->safe.valid_round = -1;
		memset(c->safe.locked_id, 0, CONS_ID_BYTES);
		memset(c->safe.valid_id, 0, CONS_ID_BYTES);
		c->valid_len = 0;
		c->valid_dirty = false;
		start_round(c, 0);
		emit_status(c);
		progress(c);
		return 0;
	}
	/* Resuming after a crash: same round, step, lock and valid value
	 * (with its bytes); re-send exactly what we had signed (it is durable
	 * already). The bytes of our own last proposal were not persisted: if
	 * it was not validValue, the round moves on by timeout. */
	c->safe = c->restore;
#ifdef CONS_MUTANT_FORGET_LOCK
	c->safe.locked_round = -1;
#endif
	c->valid_len = 0;
	c->valid_dirty = false;
	if (c->safe.valid_round >= 0 && c->restore_len > 0 &&
	    keep_valid_block(c, c->restore_block, c->restore_len))
		c->valid_pol = c->restore_pol;
	c->restore_len = 0;
	/* validValue's proof of lock counts again: it was verified when it
	 * arrived and comes back from our own storage, like the rest. */
	if (c->valid_len > 0) {
		struct cons_slot *s = cons_slot_get(c, (uint32_t)c->safe.valid_round);
		const cons_cert *pol = &c->valid_pol;
		for (uint32_t k = 0; s && k < pol->n; k++)
			if (pol->idx[k] < c->vs.n && !cons_voteset_has(&s->votes[0], pol->idx[k]))
				cons_voteset_add(&s->votes[0], pol->idx[k], true, pol->id,
						 pol->sig[k]);
	}
	if (c->safe.step == CONS_STEP_PROPOSE) {
		if (is_proposer(c, c->safe.round) &&
		    !(c->safe.last[CONS_STEP_PROPOSE].height == height &&
		      c->safe.last[CONS_STEP_PROPOSE].round == c->safe.round)) {
			cons_action *a = push(c, CONS_ACT_BUILD_BLOCK);
			a->u.build.height = height;
			a->u.build.round = c->safe.round;
		}
		set_timer(c, CONS_TIMER_PROPOSE, c->safe.round);
	}
	/* Our own votes of this height count again (we sent them). */
	for (int step = CONS_STEP_PREVOTE; step <= CONS_STEP_PRECOMMIT && c->me >= 0; step++) {
		const cons_signed *l = &c->safe.last[step];
		if (l->height != height)
			continue;
		struct cons_slot *s = cons_slot_get(c, l->round);
		if (s && !cons_voteset_has(&s->votes[step - 1], (uint32_t)c->me))
			cons_voteset_add(&s->votes[step - 1], (uint32_t)c->me, l->has_id, l->id,
					 l->sig);
	}
	gossip(c);
	progress(c);
	return 0;
}

static int on_restart(cons *c, const cons_safety *s, const uint8_t *valid_block,
		      size_t valid_len, const cons_cert *pol)
{
	if (c->started)
		return CONS_E_STATE;
	if (cons_safety_check(s) != 0) {
		/* Resuming without the watermark could sign a conflicting
		 * vote; resuming from it could crash: stop for good. */
		c->halted = true;
		return CONS_E_SAFETY;
	}
	c->restore = *s;
	c->have_restore = true;
	c->restore_len = 0;
	if (s->valid_round >= 0 && valid_block && valid_len > 0 && valid_len <= LIM_BLOCK_BYTES_MAX &&
	    pol && pol->height == s->height && pol->round == (uint32_t)s->valid_round &&
	    memcmp(pol->id, s->valid_id, CONS_ID_BYTES) == 0 && pol->n <= LIM_VALIDATORS_MAX) {
		cons_id id;
		c->block_id.id(c->block_id.ctx, valid_block, valid_len, id);
		if (memcmp(id, s->valid_id, CONS_ID_BYTES) == 0) {
			if (c->restore_cap < valid_len) {
				uint8_t *nb = realloc(c->restore_block, valid_len);
				if (!nb)
					return CONS_E_NOMEM;
				c->restore_block = nb;
				c->restore_cap = (uint32_t)valid_len;
			}
			memcpy(c->restore_block, valid_block, valid_len);
			c->restore_len = (uint32_t)valid_len;
			c->restore_pol = *pol;
		}
	}
	/* The watermark applies from now on, whatever height starts. */
	memcpy(c->safe.last, s->last, sizeof c->safe.last);
	return 0;
}

static int on_checked(cons *c, uint64_t height, const cons_id id, bool valid)
{
	if (!c->started || height != c->height || c->decided)
		return CONS_E_STALE;
	cons_set_validity(c, id, valid);
	return 0;
}

static int on_built(cons *c, uint64_t height, uint32_t round, const uint8_t *block, size_t len)
{
	if (!c->started || c->decided || height != c->height || round != c->safe.round ||
	    c->safe.step != CONS_STEP_PROPOSE || !is_proposer(c, round))
		return CONS_E_STALE;
	if (len == 0 || len > LIM_BLOCK_BYTES_MAX)
		return CONS_E_ARG;
	const cons_signed *l = &c->safe.last[CONS_STEP_PROPOSE];
	if (l->height == height && l->round == round)
		return CONS_E_STALE; /* already proposed in this round */
	propose(c, block, (uint32_t)len, -1);
	return 0;
}

/* ---- API --------------------------------------------------------------- */

int cons_step(cons *c, const cons_event *ev, cons_actions *out)
{
	int rc;
	out->n = 0;
	if (c->halted)
		return CONS_E_STATE;
	c->out = out;
	c->nvsnap = 0;
	cm_wr_reset(&c->arena);
	switch (ev->kind) {
	case CONS_EV_RESTART:
		rc = on_restart(c, ev->u.restart.safety, ev->u.restart.valid_block,
				ev->u.restart.valid_len, ev->u.restart.valid_pol);
		break;
	case CONS_EV_START_HEIGHT:
		rc = on_start_height(c, ev->u.start.height, ev->u.start.valset);
		break;
	case CONS_EV_MESSAGE:
		rc = on_message(c, ev->u.message.peer, ev->u.message.bytes, ev->u.message.len);
		break;
	case CONS_EV_TIMEOUT:
		rc = on_timeout(c, ev->u.timeout.timer, ev->u.timeout.height, ev->u.timeout.round);
		break;
	case CONS_EV_BLOCK_CHECKED:
		rc = on_checked(c, ev->u.checked.height, ev->u.checked.id, ev->u.checked.valid);
		break;
	case CONS_EV_BLOCK_BUILT:
		rc = on_built(c, ev->u.built.height, ev->u.built.round, ev->u.built.block,
			      ev->u.built.len);
		break;
	default:
		rc = CONS_E_ARG;
		break;
	}
	progress(c);
	/* Anything signed but not yet sent, or a new lock or valid value,
	 * is persisted now. */
	if (c->need_persist)
		push_persist(c);
	if (cm_wr_error(&c->arena)) {
		/* Out of memory while encoding: drop every message of this
		 * step (gossip re-sends them); the persists stay. */
		uint32_t k = 0;
		for (uint32_t i = 0; i < out->n; i++)
			if (out->a[i].kind != CONS_ACT_BROADCAST && out->a[i].kind != CONS_ACT_SEND)
				out->a[k++] = out->a[i];
		out->n = k;
		c->out = NULL;
		return CONS_E_NOMEM;
	}
	for (uint32_t i = 0; i < out->n; i++) {
		cons_action *a = &out->a[i];
		if (a->kind == CONS_ACT_BROADCAST || a->kind == CONS_ACT_SEND)
			a->u.msg.bytes = cm_wr_data(&c->arena) + c->arena_off[i];
	}
	c->out = NULL;
	return rc;
}

void cons_timeouts_default(cons_timeouts *t)
{
	t->propose_ms = 1000;
	t->propose_delta_ms = 500;
	t->prevote_ms = 500;
	t->prevote_delta_ms = 250;
	t->precommit_ms = 500;
	t->precommit_delta_ms = 250;
	t->cap_ms = 10000;
	t->gossip_ms = 500;
}

int cons_new(cons **out, const cons_config *cfg)
{
	*out = NULL;
	if (!cfg->chain_id || strlen(cfg->chain_id) > LIM_CHAIN_ID_BYTES_MAX || !cfg->signer.sign ||
	    !cfg->verifier.verify || !cfg->block_id.id)
		return CONS_E_ARG;
	const cons_timeouts *t = &cfg->timeouts;
	if (t->cap_ms == 0 || t->cap_ms > LIM_CONS_TIMEOUT_MS_MAX || t->gossip_ms == 0 ||
	    t->gossip_ms > LIM_CONS_TIMEOUT_MS_MAX || t->propose_ms == 0 || t->prevote_ms == 0 ||
	    t->precommit_ms == 0)
		return CONS_E_ARG;
	cons *c = calloc(1, sizeof *c);
	if (!c)
		return CONS_E_NOMEM;
	strcpy(c->chain_id, cfg->chain_id);
	memcpy(c->self, cfg->self, CK_PUBKEY_BYTES);
	c->signer = cfg->signer;
	c->verifier = cfg->verifier;
	c->block_id = cfg->block_id;
	c->to = *t;
	c->me = -1;
	c->safe.locked_round = -1;
	c->safe.valid_round = -1;
	for (int s = 0; s < 3; s++)
		c->safe.last[s].pol_round = -1;
	cm_wr_init(&c->arena);
	*out = c;
	return 0;
}

void cons_free(cons *c)
{
	if (!c)
		return;
	for (uint32_t i = 0; i < LIM_CONS_ROUND_SLOTS; i++)
		for (uint32_t j = 0; j < LIM_CONS_PROPOSALS_PER_ROUND; j++)
			free(c->slots[i].prop[j].block);
	free(c->decided_block);
	free(c->valid_block);
	free(c->restore_block);
	for (uint32_t i = 0; i < CONS_VSNAP_MAX; i++)
		free(c->vsnap[i].block);
	cm_wr_free(&c->arena);
	free(c);
}

uint64_t cons_height(const cons *c) { return c->height; }
uint32_t cons_round(const cons *c) { return c->safe.round; }
enum cons_step cons_current_step(const cons *c) { return (enum cons_step)c->safe.step; }
void cons_safety_get(const cons *c, cons_safety *out) { *out = c->safe; }
void cons_stats_get(const cons *c, cons_stats *out) { *out = c->stats; }
uint32_t cons_evidence_count(const cons *c) { return c->ev_n; }

int cons_evidence_get(const cons *c, uint32_t i, cons_evidence *out)
{
	if (i >= c->ev_n)
		return CONS_E_ARG;
	*out = c->ev[(c->ev_first + i) % LIM_CONS_EVIDENCE_MAX];
	return 0;
}
