/*
 * The lock scenario (carbon-sim --scenario lock): the schedule under which
 * a broken lock rule forks Tendermint, built on purpose every time, with
 * random variations (n = 4 or 7, the attacked height, the committer, the
 * rounds, the order of the traps, delays, who restarts, forgeries). The f
 * Byzantine validators are silent cores; an adversary that also controls
 * the network until the heal speaks for them:
 *
 *   round q    the value v' is proposed to only f+1 honest validators;
 *              they prevote it, the others time out; the Byzantine prevotes
 *              for v' are withheld, so a real polka for v' at q exists but
 *              nobody honest sees it in round q;
 *   round r    a fresh v is proposed to all; every honest validator locks v
 *              and precommits it, but only the committer c receives the
 *              precommits: c commits v and is cut off, the others see
 *              Byzantine nil precommits and time out, locked on v (some of
 *              them crash and restart right after locking);
 *   traps      in each of the next three rounds with a Byzantine proposer
 *              the locked validators are offered another value: fresh with
 *              a fake vr in [r, R) (line 28's polka check), v' with the
 *              stale vr = q and its real polka (line 29's lockedRound <=
 *              vr), or fresh with vr = -1 (line 23), each with Byzantine
 *              prevotes and precommits for it and, with forgery, prevotes
 *              and precommits for it in every honest validator's name;
 *   nil rounds the Byzantine validators vote nil so the 2f locked honest
 *              validators can move on; with forgery, proposals of v are
 *              forged in the honest proposers' names.
 *
 * A correct core prevotes nil in every trap and never counts a forgery;
 * the heal then lets c's certificate catch the others up. A core with a
 * broken rule prevotes or precommits what check.c's oracle proves
 * unjustified, and with f Byzantine votes that also forks.
 */
#include <assert.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "tests/sim/world.h"

static bool bit(uint32_t mask, uint32_t i)
{
	return (mask >> i) & 1;
}

static uint32_t popcount(uint32_t m)
{
	uint32_t k = 0;
	for (; m; m &= m - 1)
		k++;
	return k;
}

/* A random member of mask (non-empty). */
static uint32_t pick(struct world *w, uint32_t mask)
{
	uint32_t k = rng_below(&w->rng, popcount(mask));
	for (uint32_t i = 0;; i++)
		if (bit(mask, i) && k-- == 0)
			return i;
}

static uint32_t proposer_node(const struct world *w, uint32_t round)
{
	return w->lock.idx_node[cons_proposer(&w->genesis, w->lock.h, round)];
}

void lock_plan(struct world *w)
{
	struct lock_plan *L = &w->lock;
	/* Fast rounds on a fast, lossless network: the schedule is the
	 * adversary's, not the dice's. */
	w->to.propose_ms = 40;
	w->to.propose_delta_ms = 10;
	w->to.prevote_ms = 20;
	w->to.prevote_delta_ms = 10;
	w->to.precommit_ms = 20;
	w->to.precommit_delta_ms = 10;
	w->to.cap_ms = 200;
	w->to.gossip_ms = 50;
	w->commit_pause_us = 10000;
	w->delay_min_us = 200 + rng_below(&w->rng, 800);
	w->jitter_us = rng_below(&w->rng, 3000);
	w->dup_pm = rng_chance(&w->rng, 300) ? rng_below(&w->rng, 100) : 0;

	for (uint32_t b = 0; b < w->f;) {
		uint32_t k = rng_below(&w->rng, w->n_val);
		if (w->nodes[k].byz)
			continue;
		w->nodes[k].byz = true;
		w->nodes[k].modes = BYZ_SILENT;
		b++;
	}
	for (uint32_t x = 0; x < w->genesis.n; x++)
		for (uint32_t i = 0; i < w->n_nodes; i++)
			if (memcmp(w->nodes[i].pk, w->genesis.keys[x], CK_PUBKEY_BYTES) == 0)
				L->idx_node[x] = i;
	for (uint32_t i = 0; i < w->n_nodes; i++)
		if (!w->nodes[i].byz)
			L->honest |= 1u << i;

	L->h = 1 + rng_below(&w->rng, 2);
	L->c = pick(w, L->honest);
	L->nc = L->honest & ~(1u << L->c);
	L->q = rng_below(&w->rng, 2);
	L->r = L->q + 1 + rng_below(&w->rng, 2);
	uint32_t pq = proposer_node(w, L->q);
	if (!w->nodes[pq].byz)
		L->s_mask = 1u << pq;
	while (popcount(L->s_mask) < w->f + 1)
		L->s_mask |= 1u << pick(w, L->honest & ~L->s_mask);
	uint32_t k = 0;
	for (uint32_t x = L->r + 1; k < LOCK_TRAPS; x++)
		if (w->nodes[proposer_node(w, x)].byz)
			L->trap_round[k++] = x;
	for (uint32_t t = 0; t < LOCK_TRAPS; t++)
		L->trap[t] = (uint8_t)t;
	for (uint32_t t = LOCK_TRAPS - 1; t > 0; t--) {
		uint32_t u = rng_below(&w->rng, t + 1);
		uint8_t x = L->trap[t];
		L->trap[t] = L->trap[u];
		L->trap[u] = x;
	}
	for (uint32_t t = 0; t < LOCK_TRAPS; t++) {
		if (L->trap[t] == TRAP_FAKE_VR)
			L->trap_vr[t] = (int32_t)(L->r + rng_below(&w->rng, L->trap_round[t] - L->r));
		else if (L->trap[t] == TRAP_STALE_VR)
			L->trap_vr[t] = (int32_t)L->q;
		else
			L->trap_vr[t] = -1;
	}
	if (rng_chance(&w->rng, 700))
		while (!L->crash_mask)
			for (uint32_t i = 0; i < w->n_nodes; i++)
				if (bit(L->nc, i) && rng_below(&w->rng, 2))
					L->crash_mask |= 1u << i;
	L->forge = rng_chance(&w->rng, 700);

	/* The adversary ends the attack itself (lock_tick); this heal is the
	 * backstop if it never can. */
	w->t_heal = 30000000;
	ev_plain(w, rng_below(&w->rng, 5000), SIM_NODES_MAX, EV_ADV);
	ev_plain(w, w->t_heal, SIM_NODES_MAX, EV_HEAL);
	TRACE(w,
	      "lock: height %" PRIu64 " committer n%u q=%u (to %#x) r=%u traps %u:%u %u:%u %u:%u "
	      "crash %#x forge %d\n",
	      L->h, L->c, L->q, L->s_mask, L->r, L->trap_round[0], L->trap[0], L->trap_round[1],
	      L->trap[1], L->trap_round[2], L->trap[2], L->crash_mask, L->forge);
}

void lock_free(struct world *w)
{
	struct lock_plan *L = &w->lock;
	free(L->q_block);
	free(L->v_block);
	free(L->prop_msg[0]);
	free(L->prop_msg[1]);
	for (uint32_t i = 0; i < SIM_NODES_MAX; i++)
		free(L->q_prevote[i]);
	for (uint32_t i = 0; i < 2 + LOCK_TRAPS; i++)
		free(L->blk[i]);
}

static uint64_t msg_height(const cons_msg *m)
{
	switch (m->kind) {
	case CONS_MSG_PROPOSAL:
		return m->u.proposal.height;
	case CONS_MSG_DECIDED:
		return m->u.decided.cert.height;
	case CONS_MSG_STATUS:
		return m->u.status.height;
	default:
		return m->u.vote.height;
	}
}

bool lock_filter(struct world *w, uint32_t from, uint32_t to, const uint8_t *b, size_t len)
{
	struct lock_plan *L = &w->lock;
	cons_msg m;
	if (cons_msg_decode(&m, b, len) != 0)
		return true;
	uint64_t h = msg_height(&m);
	if (from == L->c) {
		/* c must not help anyone decide v: no precommit of r or later,
		 * no certificate, nothing of later heights. */
		if (h > L->h || (h == L->h && (m.kind == CONS_MSG_STATUS ||
					       m.kind == CONS_MSG_DECIDED)))
			return false;
		if (m.kind == CONS_MSG_PRECOMMIT && h == L->h && m.u.vote.round >= L->r)
			return false;
	}
	if (h != L->h)
		return true;
	if (m.kind == CONS_MSG_PROPOSAL) {
		const cons_proposal *p = &m.u.proposal;
		if (p->round == L->q) {
			if (!L->q_block) {
				L->q_block = dup_bytes(p->block, p->block_len);
				L->q_len = p->block_len;
				memcpy(L->q_id, p->id, CONS_ID_BYTES);
				L->prop_msg[0] = dup_bytes(b, len);
				L->prop_len[0] = len;
			}
			return bit(L->s_mask, to);
		}
		if (p->round == L->r) {
			if (!L->v_block) {
				L->v_block = dup_bytes(p->block, p->block_len);
				L->v_len = p->block_len;
				memcpy(L->v_id, p->id, CONS_ID_BYTES);
				L->prop_msg[1] = dup_bytes(b, len);
				L->prop_len[1] = len;
			}
			return true;
		}
		return false; /* every other round has no proposal */
	}
	if (m.kind == CONS_MSG_PREVOTE && m.u.vote.round == L->q && m.u.vote.has_id && L->q_block &&
	    memcmp(m.u.vote.id, L->q_id, CONS_ID_BYTES) == 0 && !L->q_prevote[from]) {
		L->q_prevote[from] = dup_bytes(b, len);
		L->q_prevote_len[from] = len;
	}
	return true;
}

void lock_on_locked(struct world *w, uint32_t i, uint64_t height, uint32_t round)
{
	struct lock_plan *L = &w->lock;
	if (height != L->h || round != L->r || !bit(L->crash_mask, i) || bit(L->crashed, i) ||
	    w->healed)
		return;
	L->crashed |= 1u << i;
	uint64_t t = w->now + rng_below(&w->rng, 2000);
	crash_later(w, i, t, 10000 + rng_below(&w->rng, 50000));
}

/* ---- the adversary ----------------------------------------------------- */

static void inject(struct world *w, uint32_t from, const cons_msg *m, uint32_t mask)
{
	w->injecting = true;
	send_msg(w, from, m, mask);
	w->injecting = false;
}

/* A valid block for the attacked height, built once into blk[slot] from
 * the ledger of node j (which is at that height). */
static const uint8_t *adv_block(struct world *w, uint32_t slot, uint32_t j, uint32_t round,
				size_t *len)
{
	struct lock_plan *L = &w->lock;
	if (!L->blk[slot]) {
		cm_wr blk;
		cm_wr_init(&blk);
		uint64_t salt = rng_next(&w->rng);
		model_build(&w->nodes[j].led, w->now, w->nodes[proposer_node(w, round)].key, round,
			    salt, false, &blk);
		L->blk[slot] = dup_bytes(cm_wr_data(&blk), cm_wr_len(&blk));
		L->blk_len[slot] = cm_wr_len(&blk);
		cm_wr_free(&blk);
	}
	*len = L->blk_len[slot];
	return L->blk[slot];
}

static void byz_votes(struct world *w, uint32_t j, uint32_t round, bool prevote, bool has_id,
		      const cons_id id)
{
	struct lock_plan *L = &w->lock;
	for (uint32_t b = 0; b < w->n_nodes; b++) {
		if (!w->nodes[b].byz)
			continue;
		uint32_t idx = (uint32_t)cons_valset_index(&w->genesis, w->nodes[b].pk);
		cons_msg m;
		if (prevote) {
			sign_vote(w, b, &m, CONS_STEP_PREVOTE, L->h, round, has_id, id, idx);
			inject(w, b, &m, 1u << j);
		}
		sign_vote(w, b, &m, CONS_STEP_PRECOMMIT, L->h, round, has_id, id, idx);
		inject(w, b, &m, 1u << j);
	}
}

/* Prevotes and precommits for id at round in every honest validator's
 * name, each with a forged signature. */
static void forged_votes(struct world *w, uint32_t j, uint32_t round, const cons_id id)
{
	struct lock_plan *L = &w->lock;
	uint32_t b = pick(w, ~L->honest & all_mask(w));
	for (uint32_t x = 0; x < w->genesis.n; x++) {
		if (!bit(L->honest, L->idx_node[x]))
			continue;
		for (int step = CONS_STEP_PREVOTE; step <= CONS_STEP_PRECOMMIT; step++) {
			cons_msg m;
			sign_vote(w, b, &m, (enum cons_step)step, L->h, round, true, id, x);
			forge_sig(w, b, &m);
			inject(w, b, &m, 1u << j);
		}
	}
}

/* Trap k for the locked node j, in its round. */
static void adv_trap(struct world *w, uint32_t j, uint32_t k)
{
	struct lock_plan *L = &w->lock;
	uint32_t x = L->trap_round[k];
	uint32_t p = proposer_node(w, x);
	bool stale = L->trap[k] == TRAP_STALE_VR && L->q_block;
	const uint8_t *block;
	size_t len;
	if (stale) {
		block = L->q_block;
		len = L->q_len;
	} else {
		block = adv_block(w, 2 + k, j, x, &len);
	}
	/* without v' (round q's proposal never went out), a fresh value */
	int32_t vr = L->trap[k] == TRAP_STALE_VR && !stale ? -1 : L->trap_vr[k];
	cons_msg m;
	sign_proposal(w, p, &m, L->h, x, vr, block, len, cons_proposer(&w->genesis, L->h, x));
	inject(w, p, &m, 1u << j);
	cons_id id;
	memcpy(id, m.u.proposal.id, CONS_ID_BYTES);
	if (stale) {
		/* the proof of lock: the honest prevotes of round q and the
		 * withheld Byzantine ones */
		w->injecting = true;
		for (uint32_t i = 0; i < w->n_nodes; i++)
			if (L->q_prevote[i])
				net_send(w, i, j, L->q_prevote[i], L->q_prevote_len[i]);
		w->injecting = false;
		for (uint32_t b = 0; b < w->n_nodes; b++) {
			if (!w->nodes[b].byz)
				continue;
			sign_vote(w, b, &m, CONS_STEP_PREVOTE, L->h, L->q, true, L->q_id,
				  (uint32_t)cons_valset_index(&w->genesis, w->nodes[b].pk));
			inject(w, b, &m, 1u << j);
		}
	}
	byz_votes(w, j, x, true, true, id);
	if (L->forge)
		forged_votes(w, j, x, id);
}

/* What node j (honest, at the attacked height) gets in its round x. */
static void adv_round(struct world *w, uint32_t j, uint32_t x)
{
	struct lock_plan *L = &w->lock;
	uint32_t p = proposer_node(w, x);
	uint32_t pidx = cons_proposer(&w->genesis, L->h, x);
	cons_msg m;
	size_t len;
	/* An honest proposal of round q or r is sent again to whoever is in
	 * that round (a node that started the height late would have timed
	 * out before the proposer's gossip). */
	for (uint32_t k = 0; k < 2; k++)
		if (L->prop_msg[k] && x == (k == 0 ? L->q : L->r) &&
		    (k == 1 || bit(L->s_mask, j)) && !w->nodes[p].byz) {
			w->injecting = true;
			net_send(w, p, j, L->prop_msg[k], L->prop_len[k]);
			w->injecting = false;
		}
	if (x == L->q && bit(L->s_mask, j) && w->nodes[p].byz) {
		const uint8_t *block = adv_block(w, 0, j, x, &len);
		sign_proposal(w, p, &m, L->h, x, -1, block, len, pidx);
		if (!L->q_block) {
			L->q_block = dup_bytes(block, len);
			L->q_len = len;
			memcpy(L->q_id, m.u.proposal.id, CONS_ID_BYTES);
		}
		inject(w, p, &m, 1u << j);
	}
	if (x == L->r && w->nodes[p].byz) {
		const uint8_t *block = adv_block(w, 1, j, x, &len);
		sign_proposal(w, p, &m, L->h, x, -1, block, len, pidx);
		if (!L->v_block) {
			L->v_block = dup_bytes(block, len);
			L->v_len = len;
			memcpy(L->v_id, m.u.proposal.id, CONS_ID_BYTES);
		}
		inject(w, p, &m, 1u << j);
	}
	if (!bit(L->nc, j) || x < L->r)
		return;
	for (uint32_t k = 0; k < LOCK_TRAPS; k++)
		if (L->trap_round[k] == x) {
			adv_trap(w, j, k);
			return;
		}
	/* Round r: nil precommits so that the locked validators time out;
	 * later rounds: nil prevotes as well. */
	static const cons_id nil;
	byz_votes(w, j, x, x > L->r, false, nil);
	if (L->forge && x > L->r && L->v_block && p != j && !w->nodes[p].byz) {
		int32_t vr = rng_below(&w->rng, 2) ? (int32_t)L->r : -1;
		uint32_t b = pick(w, ~L->honest & all_mask(w));
		sign_proposal(w, b, &m, L->h, x, vr, L->v_block, L->v_len, pidx);
		forge_sig(w, b, &m);
		inject(w, b, &m, 1u << j);
	}
}

void lock_tick(struct world *w)
{
	struct lock_plan *L = &w->lock;
	if (L->done || w->healed)
		return;
	uint32_t last = L->trap_round[LOCK_TRAPS - 1];
	bool past = true; /* every non-committer is past the last trap */
	for (uint32_t j = 0; j < w->n_nodes; j++) {
		struct node *n = &w->nodes[j];
		if (!bit(L->honest, j))
			continue;
		if (!n->up) {
			past &= !bit(L->nc, j);
			continue;
		}
		uint64_t h = cons_height(n->core);
		uint32_t x = cons_round(n->core);
		if (bit(L->nc, j) && (h < L->h || (h == L->h && x <= last)))
			past = false;
		if (h == L->h && n->led.height + 1 == L->h)
			adv_round(w, j, x);
	}
	if (past) {
		L->done = true;
		ev_plain(w, w->now + 1000, SIM_NODES_MAX, EV_HEAL);
		return;
	}
	ev_plain(w, w->now + 10000 + rng_below(&w->rng, 15000), SIM_NODES_MAX, EV_ADV);
}
