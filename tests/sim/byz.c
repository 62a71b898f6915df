/*
 * Random Byzantine behaviour of the simulator's default scenario. A
 * Byzantine node runs the real core, and what it sends is rewritten here:
 * equivocating proposals, double votes, invalid blocks, votes for every
 * proposal, garbage, replays, silence, twins, proposals with a fake or a
 * stale proof of lock, and proposals and votes forged in honest
 * validators' names. Also the signing helpers the lock scenario uses.
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "tests/sim/world.h"

uint32_t all_mask(const struct world *w)
{
	return (uint32_t)((1ull << w->n_nodes) - 1);
}

uint32_t random_half(struct world *w)
{
	uint32_t m = 0;
	for (uint32_t j = 0; j < w->n_nodes; j++)
		if (rng_below(&w->rng, 2))
			m |= 1u << j;
	return m;
}

void send_msg(struct world *w, uint32_t i, const cons_msg *m, uint32_t mask)
{
	cm_wr wr;
	cm_wr_init(&wr);
	cons_msg_encode(m, &wr);
	assert(cm_wr_error(&wr) == 0);
	net_broadcast(w, i, cm_wr_data(&wr), cm_wr_len(&wr), mask);
	cm_wr_free(&wr);
}

void sign_vote(struct world *w, uint32_t i, cons_msg *m, enum cons_step step, uint64_t height,
	       uint32_t round, bool has_id, const cons_id id, uint32_t validator)
{
	uint8_t sb[CONS_SIGN_BYTES_MAX];
	memset(m, 0, sizeof *m);
	m->kind = step == CONS_STEP_PREVOTE ? CONS_MSG_PREVOTE : CONS_MSG_PRECOMMIT;
	cons_vote *v = &m->u.vote;
	v->step = (uint8_t)step;
	v->height = height;
	v->round = round;
	v->has_id = has_id;
	if (has_id)
		memcpy(v->id, id, CONS_ID_BYTES);
	v->validator = validator;
	size_t l = cons_vote_sign_bytes(sb, height, round, has_id, v->id);
	sim_sign(w->nodes[i].pk, cons_step_domain(step), SIM_CHAIN, sb, l, v->sig);
}

void sign_proposal(struct world *w, uint32_t i, cons_msg *m, uint64_t height, uint32_t round,
		   int32_t pol, const uint8_t *block, size_t len, uint32_t proposer)
{
	uint8_t sb[CONS_SIGN_BYTES_MAX];
	assert(pol < (int64_t)round);
	memset(m, 0, sizeof *m);
	m->kind = CONS_MSG_PROPOSAL;
	cons_proposal *p = &m->u.proposal;
	p->height = height;
	p->round = round;
	p->pol_round = pol;
	p->proposer = proposer;
	p->block = block;
	p->block_len = (uint32_t)len;
	sim_block_id(block, len, p->id);
	size_t l = cons_proposal_sign_bytes(sb, height, round, pol, p->id);
	sim_sign(w->nodes[i].pk, CK_DOM_PROPOSAL, SIM_CHAIN, sb, l, p->sig);
}

/* The claimed signer's key: the node whose key is at that index of the
 * set of the message's height, as node i sees it. */
static const uint8_t *claimed_key(const struct world *w, uint32_t i, uint32_t idx)
{
	const cons_valset *vs = &w->nodes[i].led.vs_cur;
	return idx < vs->n ? vs->keys[idx] : w->nodes[i].pk;
}

void forge_sig(struct world *w, uint32_t i, cons_msg *m)
{
	bool prop = m->kind == CONS_MSG_PROPOSAL;
	uint32_t claimed = prop ? m->u.proposal.proposer : m->u.vote.validator;
	uint8_t *sig = prop ? m->u.proposal.sig : m->u.vote.sig;
	uint8_t sb[CONS_SIGN_BYTES_MAX];
	size_t l;
	switch (rng_below(&w->rng, 3)) {
	case 0: /* our own signature under the other validator's name */
		l = prop ? cons_proposal_sign_bytes(sb, m->u.proposal.height, m->u.proposal.round,
						    m->u.proposal.pol_round, m->u.proposal.id)
			 : cons_vote_sign_bytes(sb, m->u.vote.height, m->u.vote.round,
						m->u.vote.has_id, m->u.vote.id);
		sim_sign(w->nodes[i].pk, prop ? CK_DOM_PROPOSAL
					      : cons_step_domain((enum cons_step)m->u.vote.step),
			 SIM_CHAIN, sb, l, sig);
		break;
	case 1: /* the claimed validator's real signature of other bytes */
		l = prop ? cons_proposal_sign_bytes(sb, m->u.proposal.height,
						    m->u.proposal.round + 1,
						    m->u.proposal.pol_round, m->u.proposal.id)
			 : cons_vote_sign_bytes(sb, m->u.vote.height, m->u.vote.round + 1,
						m->u.vote.has_id, m->u.vote.id);
		sim_sign(claimed_key(w, i, claimed),
			 prop ? CK_DOM_PROPOSAL : cons_step_domain((enum cons_step)m->u.vote.step),
			 SIM_CHAIN, sb, l, sig);
		break;
	default: { /* noise in the shape of a signature */
		uint64_t x = rng_next(&w->rng);
		memset(sig, 0, CK_SIG_BYTES);
		memcpy(sig, &x, sizeof x);
		break;
	}
	}
}

/* ---- rewriting what a Byzantine core sends ----------------------------- */

/* A proposal of ours with another value and a proof of lock that does not
 * hold: the last value seen at this height re-proposed with its round as
 * vr (stale: a polka there is possible), or a fresh block with a vr chosen
 * at random below the round (fake). Returns false if there is neither. */
static bool byz_pol_proposal(struct world *w, uint32_t i, const cons_proposal *own, cons_msg *alt,
			     cm_wr *blk)
{
	struct node *n = &w->nodes[i];
	if (n->seen_block && n->seen_h == own->height && n->seen_round < own->round &&
	    rng_below(&w->rng, 2)) {
		sign_proposal(w, i, alt, own->height, own->round, (int32_t)n->seen_round,
			      n->seen_block, n->seen_len, own->proposer);
		return true;
	}
	if (own->round == 0)
		return false;
	int32_t vr = (int32_t)rng_below(&w->rng, own->round);
	uint64_t salt = rng_next(&w->rng);
	n->led.now_us = w->now;
	model_build(&n->led, w->now, n->key, own->round, salt, false, blk);
	sign_proposal(w, i, alt, own->height, own->round, vr, cm_wr_data(blk), cm_wr_len(blk),
		      own->proposer);
	return true;
}

/* A Byzantine node's broadcast: equivocate, double-vote, or stay silent. */
void byz_broadcast(struct world *w, uint32_t i, const uint8_t *b, size_t len)
{
	struct node *n = &w->nodes[i];
	cons_msg m;
	if (n->modes & BYZ_SILENT)
		return;
	if (cons_msg_decode(&m, b, len) != 0) {
		net_broadcast(w, i, b, len, n->sendmask);
		return;
	}
	uint32_t half = random_half(w);
	if (m.kind == CONS_MSG_PROPOSAL && (n->modes & BYZ_POL)) {
		cons_msg alt;
		cm_wr blk;
		cm_wr_init(&blk);
		if (byz_pol_proposal(w, i, &m.u.proposal, &alt, &blk)) {
			net_broadcast(w, i, b, len, half & n->sendmask);
			send_msg(w, i, &alt, ~half & n->sendmask);
			cm_wr_free(&blk);
			return;
		}
		cm_wr_free(&blk);
	}
	if (m.kind == CONS_MSG_PROPOSAL && (n->modes & BYZ_EQUIV_PROPOSAL)) {
		cm_wr blk;
		cm_wr_init(&blk);
		n->led.now_us = w->now;
		uint64_t salt = rng_next(&w->rng);
		bool invalid = rng_below(&w->rng, 3) == 0;
		model_build(&n->led, w->now, n->key, m.u.proposal.round, salt, invalid, &blk);
		cons_msg alt;
		sign_proposal(w, i, &alt, m.u.proposal.height, m.u.proposal.round, -1,
			      cm_wr_data(&blk), cm_wr_len(&blk), m.u.proposal.proposer);
		net_broadcast(w, i, b, len, half & n->sendmask);
		send_msg(w, i, &alt, ~half & n->sendmask);
		cm_wr_free(&blk);
		return;
	}
	if ((m.kind == CONS_MSG_PREVOTE || m.kind == CONS_MSG_PRECOMMIT) &&
	    (n->modes & BYZ_DOUBLE_VOTE) &&
	    m.u.vote.validator == (uint32_t)cons_valset_index(&n->led.vs_cur, n->pk)) {
		cons_msg alt;
		sign_vote(w, i, &alt, (enum cons_step)m.u.vote.step, m.u.vote.height,
			  m.u.vote.round, !m.u.vote.has_id, n->seen_prop, m.u.vote.validator);
		net_broadcast(w, i, b, len, half & n->sendmask);
		send_msg(w, i, &alt, ~half & n->sendmask);
		return;
	}
	net_broadcast(w, i, b, len, n->sendmask);
}

/* What a Byzantine node does with a proposal it receives: remember it, and
 * (BYZ_YES) prevote and precommit it at once to a random subset, lock or
 * no lock, valid or not: the votes that make a broken lock rule fatal. */
void byz_on_deliver(struct world *w, uint32_t i, const uint8_t *b, size_t len)
{
	struct node *n = &w->nodes[i];
	cons_msg m;
	if (cons_msg_decode(&m, b, len) != 0 || m.kind != CONS_MSG_PROPOSAL)
		return;
	memcpy(n->seen_prop, m.u.proposal.id, CONS_ID_BYTES);
	free(n->seen_block);
	n->seen_block = dup_bytes(m.u.proposal.block, m.u.proposal.block_len);
	n->seen_len = m.u.proposal.block_len;
	n->seen_h = m.u.proposal.height;
	n->seen_round = m.u.proposal.round;
	int me = cons_valset_index(&n->led.vs_cur, n->pk);
	if (!(n->modes & BYZ_YES) || me < 0 || m.u.proposal.height != n->led.height + 1 ||
	    (n->modes & BYZ_SILENT))
		return;
	for (int step = CONS_STEP_PREVOTE; step <= CONS_STEP_PRECOMMIT; step++) {
		cons_msg v;
		sign_vote(w, i, &v, (enum cons_step)step, m.u.proposal.height, m.u.proposal.round,
			  true, m.u.proposal.id, (uint32_t)me);
		send_msg(w, i, &v, random_half(w));
	}
}

/* Forges, in the names of the honest validators of its height, what would
 * decide a valid block of its own at its round: the proposal (in the
 * round's proposer's name, if honest) and every honest validator's prevote
 * and precommit for it; sends them to a random half. A core that counted
 * them would commit a block with a forged certificate. */
static void byz_forge(struct world *w, uint32_t i)
{
	struct node *n = &w->nodes[i];
	if (!n->up || cons_height(n->core) != n->led.height + 1)
		return;
	const cons_valset *vs = &n->led.vs_cur;
	uint64_t h = cons_height(n->core);
	uint32_t r = cons_round(n->core);
	uint32_t mask = random_half(w);
	uint64_t salt = rng_next(&w->rng);
	cm_wr blk;
	cm_wr_init(&blk);
	n->led.now_us = w->now;
	model_build(&n->led, w->now, n->key, r, salt, false, &blk);
	for (uint32_t x = 0; x < vs->n; x++) {
		bool honest = false;
		for (uint32_t j = 0; j < w->n_nodes; j++)
			honest |= !w->nodes[j].byz &&
				  memcmp(w->nodes[j].pk, vs->keys[x], CK_PUBKEY_BYTES) == 0;
		if (!honest)
			continue;
		cons_msg m;
		if (x == cons_proposer(vs, h, r)) {
			sign_proposal(w, i, &m, h, r, -1, cm_wr_data(&blk), cm_wr_len(&blk), x);
			forge_sig(w, i, &m);
			send_msg(w, i, &m, mask);
		}
		cons_id id;
		sim_block_id(cm_wr_data(&blk), cm_wr_len(&blk), id);
		for (int step = CONS_STEP_PREVOTE; step <= CONS_STEP_PRECOMMIT; step++) {
			sign_vote(w, i, &m, (enum cons_step)step, h, r, true, id, x);
			forge_sig(w, i, &m);
			send_msg(w, i, &m, mask);
		}
	}
	cm_wr_free(&blk);
}

/* Periodic mischief: garbage, bit-flipped and replayed messages, forgeries. */
void byz_tick(struct world *w, uint32_t i)
{
	struct node *n = &w->nodes[i];
	uint32_t to = rng_below(&w->rng, w->n_nodes);
	uint32_t r = rng_below(&w->rng, REPLAY_RING);
	if ((n->modes & BYZ_GARBAGE)) {
		uint8_t g[128];
		size_t len = rng_below(&w->rng, sizeof g);
		for (size_t k = 0; k < len; k++)
			g[k] = (uint8_t)rng_next(&w->rng);
		if (len > 0 && rng_below(&w->rng, 2))
			g[0] = (uint8_t)(0x90 | rng_below(&w->rng, 9)); /* looks like an array */
		net_send(w, i, to, g, len);
		if (w->ring[r] && w->ring_len[r] > 0) {
			uint8_t *c = dup_bytes(w->ring[r], w->ring_len[r]);
			size_t pos = rng_below(&w->rng, (uint32_t)w->ring_len[r]);
			c[pos] ^= (uint8_t)(1u << rng_below(&w->rng, 8));
			net_send(w, i, to, c, w->ring_len[r]);
			free(c);
		}
	}
	if ((n->modes & BYZ_REPLAY) && w->ring[r])
		net_send(w, i, to, w->ring[r], w->ring_len[r]);
	if (n->modes & BYZ_FORGE)
		byz_forge(w, i);
}
