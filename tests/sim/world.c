/*
 * One simulated run: the scenario drawn from the seed, the event queue, the
 * network with its faults, the driver that carries out the cores' actions
 * (the same contract the node follows, persist barrier included), crashes
 * and restarts, and the run loop. The invariants are in check.c, the
 * Byzantine behaviours in byz.c and lock.c. Everything is a function of the
 * seed: no clock, no address-dependent order, no unseeded randomness, and
 * never two draws of the PRNG in one expression (the order in which C
 * evaluates function arguments is unspecified: gcc and clang differ).
 */
#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/sim/world.h"

static const char *ev_name[] = {"?",       "crash", "restart", "persist", "start",
				"deliver", "timer", "check",   "build",   "byz",
				"adv",     "partition", "heal",  "end"};

/* ---- failure reporting ------------------------------------------------- */

void fail(struct world *w, const char *what, uint32_t node, uint64_t height)
{
	if (w->failed)
		return;
	w->failed = true;
	fprintf(stderr,
		"carbon-sim: INVARIANT VIOLATED: %s (node %" PRIu32 ", height %" PRIu64
		", t=%" PRIu64 " us, step %" PRIu64 ")\n"
		"carbon-sim: seed %" PRIu64 "; replay with: make sim SEED=%" PRIu64 "%s\n",
		what, node, height, w->now, w->steps, w->o.seed, w->o.seed,
		w->o.scenario == SIM_LOCK ? " SCENARIO=lock" : "");
}

/* ---- heap -------------------------------------------------------------- */

static bool ev_less(const struct sev *a, const struct sev *b)
{
	if (a->t != b->t)
		return a->t < b->t;
	if (a->node != b->node)
		return a->node < b->node;
	if (a->kind != b->kind)
		return a->kind < b->kind;
	return a->seq < b->seq;
}

struct sev *ev_new(struct world *w, uint64_t t, uint32_t node, uint32_t kind)
{
	if (w->hn == w->hcap) {
		w->hcap = w->hcap ? 2 * w->hcap : 1024;
		w->h = realloc(w->h, w->hcap * sizeof *w->h);
		assert(w->h);
	}
	struct sev *e = &w->h[w->hn];
	memset(e, 0, sizeof *e);
	e->t = t;
	e->node = node;
	e->kind = kind;
	e->seq = w->seq++;
	e->inc = node < SIM_NODES_MAX ? w->nodes[node].inc : 0;
	return e;
}

/* Called after filling the event returned by ev_new. */
void ev_push(struct world *w)
{
	size_t i = w->hn++;
	while (i > 0) {
		size_t p = (i - 1) / 2;
		if (!ev_less(&w->h[i], &w->h[p]))
			break;
		struct sev t = w->h[i];
		w->h[i] = w->h[p];
		w->h[p] = t;
		i = p;
	}
}

static struct sev ev_pop(struct world *w)
{
	struct sev top = w->h[0];
	w->h[0] = w->h[--w->hn];
	size_t i = 0;
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;
		if (l < w->hn && ev_less(&w->h[l], &w->h[m]))
			m = l;
		if (r < w->hn && ev_less(&w->h[r], &w->h[m]))
			m = r;
		if (m == i)
			break;
		struct sev t = w->h[i];
		w->h[i] = w->h[m];
		w->h[m] = t;
		i = m;
	}
	return top;
}

/* An event without payload. */
void ev_plain(struct world *w, uint64_t t, uint32_t node, uint32_t kind)
{
	ev_new(w, t, node, kind);
	ev_push(w);
}

uint8_t *dup_bytes(const uint8_t *p, size_t n)
{
	uint8_t *c = malloc(n ? n : 1);
	assert(c);
	memcpy(c, p, n);
	return c;
}

/* ---- network ----------------------------------------------------------- */

static void ring_put(struct world *w, const uint8_t *b, size_t len)
{
	uint32_t i = w->ring_next++ % REPLAY_RING;
	free(w->ring[i]);
	w->ring[i] = dup_bytes(b, len);
	w->ring_len[i] = len;
}

void net_send(struct world *w, uint32_t from, uint32_t to, const uint8_t *b, size_t len)
{
	if (to == from || to >= w->n_nodes)
		return;
	if (w->lock_on && !w->healed && !w->injecting && !lock_filter(w, from, to, b, len))
		return;
	if (w->partitioned && ((w->groups >> from) & 1) != ((w->groups >> to) & 1))
		return;
	if (w->loss_pm && rng_chance(&w->rng, w->loss_pm))
		return;
	int copies = (w->dup_pm && rng_chance(&w->rng, w->dup_pm)) ? 2 : 1;
	for (int k = 0; k < copies; k++) {
		uint64_t d = w->delay_min_us + rng_below(&w->rng, w->jitter_us + 1);
		struct sev *e = ev_new(w, w->now + d, to, EV_DELIVER);
		e->from = from;
		e->bytes = dup_bytes(b, len);
		e->len = len;
		ev_push(w);
	}
	observe_delivery(w, to, b, len);
	if (rng_chance(&w->rng, 20))
		ring_put(w, b, len);
}

void net_broadcast(struct world *w, uint32_t from, const uint8_t *b, size_t len, uint32_t mask)
{
	for (uint32_t j = 0; j < w->n_nodes; j++)
		if ((mask >> j) & 1)
			net_send(w, from, j, b, len);
}

void crash_later(struct world *w, uint32_t i, uint64_t t, uint64_t down_us)
{
	ev_plain(w, t, i, EV_CRASH);
	ev_plain(w, t + down_us, i, EV_RESTART);
}

uint32_t byz_keys_in(const struct world *w, const cons_valset *vs)
{
	uint32_t k = 0;
	for (uint32_t i = 0; i < w->n_nodes; i++) {
		const struct node *n = &w->nodes[i];
		if (!n->byz || cons_valset_index(vs, n->pk) < 0)
			continue;
		bool twin_of_earlier = false;
		for (uint32_t j = 0; j < i; j++)
			twin_of_earlier |= w->nodes[j].byz && w->nodes[j].key == n->key;
		k += !twin_of_earlier;
	}
	return k;
}

/* ---- the driver -------------------------------------------------------- */

static void feed(struct world *w, uint32_t i, const cons_event *ev);

static void persist_done(struct world *w, uint32_t i)
{
	struct node *n = &w->nodes[i];
	n->durable = n->pending;
	free(n->durable_block);
	n->durable_block = n->pending_block;
	n->durable_len = n->pending_len;
	if (n->durable_block)
		n->durable_pol = n->pending_pol;
	n->pending_block = NULL;
	n->has_durable = true;
	n->inflight = false;
	check_durable(w, i);
}

static void exec_action(struct world *w, uint32_t i, const cons_action *a)
{
	struct node *n = &w->nodes[i];
	switch (a->kind) {
	case CONS_ACT_PERSIST: {
		/* Usually synchronous; sometimes the write takes a while, and
		 * then everything after it waits (and a crash may hit). */
		uint32_t d = rng_chance(&w->rng, 300) ? 200 + rng_below(&w->rng, 3000) : 0;
		if (!n->byz)
			check_persist(w, i, a);
		if (a->u.persist.safety.valid_round < 0 || a->u.persist.valid_block) {
			free(n->cur_block);
			n->cur_block = NULL;
			n->cur_len = 0;
		}
		if (a->u.persist.valid_block) {
			n->cur_block = dup_bytes(a->u.persist.valid_block, a->u.persist.valid_len);
			n->cur_len = a->u.persist.valid_len;
			n->cur_pol = *a->u.persist.valid_pol;
		}
		free(n->pending_block);
		n->pending = a->u.persist.safety;
		n->pending_block = n->cur_block ? dup_bytes(n->cur_block, n->cur_len) : NULL;
		n->pending_len = n->cur_len;
		n->pending_pol = n->cur_pol;
		if (d == 0) {
			persist_done(w, i);
			return;
		}
		n->inflight = true;
		ev_plain(w, w->now + d, i, EV_PERSIST);
		if (w->crash_at_persist && !n->byz && rng_chance(&w->rng, 20))
			crash_later(w, i, w->now + d / 2,
				    d / 2 + 20000 + rng_below(&w->rng, 200000));
		return;
	}
	case CONS_ACT_BROADCAST:
		if (!n->byz)
			check_sent(w, i, a->u.msg.bytes, a->u.msg.len);
		if (n->byz)
			byz_broadcast(w, i, a->u.msg.bytes, a->u.msg.len);
		else
			net_broadcast(w, i, a->u.msg.bytes, a->u.msg.len, all_mask(w));
		return;
	case CONS_ACT_SEND:
		if (!n->byz)
			check_sent(w, i, a->u.msg.bytes, a->u.msg.len);
		if (!(n->modes & BYZ_SILENT))
			net_send(w, i, a->u.msg.peer, a->u.msg.bytes, a->u.msg.len);
		return;
	case CONS_ACT_SET_TIMER: {
		struct sev *e = ev_new(w, w->now + (uint64_t)a->u.timer.delay_ms * 1000, i, EV_TIMER);
		e->timer = a->u.timer.timer;
		e->height = a->u.timer.height;
		e->round = a->u.timer.round;
		ev_push(w);
		return;
	}
	case CONS_ACT_BUILD_BLOCK: {
		cm_wr blk;
		cm_wr_init(&blk);
		n->led.now_us = w->now;
		if (a->u.build.height != n->led.height + 1) {
			fail(w, "block requested for a height other than the next", i,
			     a->u.build.height);
			cm_wr_free(&blk);
			return;
		}
		if (n->byz && (n->modes & BYZ_INVALID_BLOCK) && rng_below(&w->rng, 2)) {
			model_build(&n->led, w->now, n->key, a->u.build.round, rng_next(&w->rng), true,
				    &blk);
		} else {
			/* Through the ledger-facing interface, as the node does:
			 * one "transaction" whose bytes salt the block. */
			cons_ledger l;
			uint8_t tx[8];
			uint64_t salt = rng_next(&w->rng);
			for (int k = 0; k < 8; k++)
				tx[k] = (uint8_t)(salt >> (56 - 8 * k));
			const uint8_t *txs[1] = {tx};
			size_t lens[1] = {8};
			model_ledger(&l, &n->led);
			int rc = l.build_block(l.ctx, a->u.build.height, txs, lens, 1, &blk);
			assert(rc == 0);
			(void)rc;
		}
		struct sev *e = ev_new(w, w->now + rng_below(&w->rng, 2000), i, EV_BUILD);
		e->height = a->u.build.height;
		e->round = a->u.build.round;
		e->bytes = dup_bytes(cm_wr_data(&blk), cm_wr_len(&blk));
		e->len = cm_wr_len(&blk);
		ev_push(w);
		cm_wr_free(&blk);
		return;
	}
	case CONS_ACT_CHECK_BLOCK: {
		cons_ledger l;
		model_ledger(&l, &n->led);
		struct sev *e = ev_new(w, w->now + rng_below(&w->rng, 3000), i, EV_CHECK);
		e->height = a->u.check.height;
		memcpy(e->id, a->u.check.id, CONS_ID_BYTES);
		e->valid = l.check_block(l.ctx, a->u.check.height, a->u.check.block,
					 a->u.check.len) == 0;
		ev_push(w);
		return;
	}
	case CONS_ACT_COMMIT: {
		if (!n->byz)
			check_commit(w, i, a->u.commit.height, a->u.commit.id, a->u.commit.block,
				     a->u.commit.len, a->u.commit.cert);
		if (w->failed || a->u.commit.height != n->led.height + 1)
			return;
		cons_ledger l;
		model_ledger(&l, &n->led);
		uint32_t gov_before = n->led.gov_next;
		int rc = l.apply_block(l.ctx, a->u.commit.height, a->u.commit.block,
				       a->u.commit.len, a->u.commit.cert);
		assert(rc == 0);
		(void)rc;
		if (n->led.gov_next != gov_before)
			TRACE(w, "%10" PRIu64 " n%u valset change %u in block %" PRIu64
			      ": %u validators from height %" PRIu64 "\n",
			      w->now, i, gov_before, a->u.commit.height, n->led.vs_next.n,
			      a->u.commit.height + 2);
		n->commits++;
		TRACE(w, "%10" PRIu64 " n%u COMMIT h=%" PRIu64 " r=%u sigs=%u\n", w->now, i,
		      a->u.commit.height, a->u.commit.cert->round, a->u.commit.cert->n);
		/* Applying takes a little time; then the next height starts,
		 * after a pause that paces live heights (CometBFT's
		 * timeout_commit) but not catch-up. */
		ev_plain(w,
			 w->now + 1000 + rng_below(&w->rng, 5000) +
				 (a->u.commit.from_cert ? 0 : w->commit_pause_us),
			 i, EV_START);
		return;
	}
	case CONS_ACT_SEND_DECIDED: {
		cons_ledger l;
		const uint8_t *blk;
		size_t blen;
		cons_cert cert;
		model_ledger(&l, &n->led);
		if (l.decided(l.ctx, a->u.decided.height, &blk, &blen, &cert) != 0)
			return; /* not applied yet */
		if (!(n->modes & BYZ_SILENT))
			net_send(w, i, a->u.decided.peer, n->led.decided[a->u.decided.height - 1],
				 n->led.decided_len[a->u.decided.height - 1]);
		return;
	}
	}
	fail(w, "unknown action", i, 0);
}

static void queue_action(struct node *n, const cons_action *a)
{
	if (n->qhead + n->qlen == n->qcap) {
		if (n->qhead > 0) {
			memmove(n->q, n->q + n->qhead, n->qlen * sizeof *n->q);
			n->qhead = 0;
		} else {
			n->qcap = n->qcap ? 2 * n->qcap : 16;
			n->q = realloc(n->q, n->qcap * sizeof *n->q);
			assert(n->q);
		}
	}
	struct pact *p = &n->q[n->qhead + n->qlen++];
	p->a = *a;
	p->own = NULL;
	p->cert = NULL;
	switch (a->kind) {
	case CONS_ACT_BROADCAST:
	case CONS_ACT_SEND:
		p->own = dup_bytes(a->u.msg.bytes, a->u.msg.len);
		p->a.u.msg.bytes = p->own;
		break;
	case CONS_ACT_PERSIST:
		if (a->u.persist.valid_block) {
			p->own = dup_bytes(a->u.persist.valid_block, a->u.persist.valid_len);
			p->a.u.persist.valid_block = p->own;
			p->cert = malloc(sizeof *p->cert);
			assert(p->cert);
			*p->cert = *a->u.persist.valid_pol;
			p->a.u.persist.valid_pol = p->cert;
		}
		break;
	case CONS_ACT_CHECK_BLOCK:
		p->own = dup_bytes(a->u.check.block, a->u.check.len);
		p->a.u.check.block = p->own;
		break;
	case CONS_ACT_COMMIT:
		p->own = dup_bytes(a->u.commit.block, a->u.commit.len);
		p->a.u.commit.block = p->own;
		p->cert = malloc(sizeof *p->cert);
		assert(p->cert);
		*p->cert = *a->u.commit.cert;
		p->a.u.commit.cert = p->cert;
		break;
	default:
		break;
	}
}

static void pact_free(struct pact *p)
{
	free(p->own);
	free(p->cert);
}

static void drain(struct world *w, uint32_t i)
{
	struct node *n = &w->nodes[i];
	while (!n->inflight && n->qlen > 0 && n->up) {
		struct pact p = n->q[n->qhead++];
		n->qlen--;
		exec_action(w, i, &p.a);
		pact_free(&p);
	}
	if (n->qlen == 0)
		n->qhead = 0;
}

/* Carries out the actions of one step in order. The persist barrier:
 * once a persist is in flight, every later action waits in the node's
 * queue until it completes. */
static void run_actions(struct world *w, uint32_t i)
{
	struct node *n = &w->nodes[i];
	for (uint32_t k = 0; k < w->acts.n && !w->failed; k++) {
		const cons_action *a = &w->acts.a[k];
		if (n->inflight || n->qlen > 0)
			queue_action(n, a);
		else
			exec_action(w, i, a);
	}
}

static void feed(struct world *w, uint32_t i, const cons_event *ev)
{
	struct node *n = &w->nodes[i];
	if (!n->up)
		return;
	int rc = cons_step(n->core, ev, &w->acts);
	if (rc != 0 && w->o.verbose && rc != CONS_E_DUPLICATE && rc != CONS_E_STALE &&
	    rc != CONS_E_HEIGHT)
		TRACE(w, "%10" PRIu64 " n%u event %d: %s\n", w->now, i, ev->kind,
		      cons_strerror(rc));
	if (!n->byz)
		check_evidence(w, i);
	run_actions(w, i);
}

static void start_height(struct world *w, uint32_t i)
{
	struct node *n = &w->nodes[i];
	cons_event ev = {.kind = CONS_EV_START_HEIGHT};
	cons_valset vs;
	cons_ledger l;
	model_ledger(&l, &n->led);
	int rc = l.valset(l.ctx, n->led.height + 1, &vs);
	assert(rc == 0);
	(void)rc;
	ev.u.start.height = n->led.height + 1;
	ev.u.start.valset = &vs;
	feed(w, i, &ev);
}

static void node_boot(struct world *w, uint32_t i)
{
	struct node *n = &w->nodes[i];
	cons_config cfg;
	memset(&cfg, 0, sizeof cfg);
	cfg.chain_id = SIM_CHAIN;
	memcpy(cfg.self, n->pk, CK_PUBKEY_BYTES);
	sim_signer(&cfg.signer, &n->pk);
	sim_verifier(&cfg.verifier);
	sim_block_id_fn(&cfg.block_id);
	cfg.timeouts = w->to;
	int rc = cons_new(&n->core, &cfg);
	assert(rc == 0);
	(void)rc;
	n->up = true;
	n->inc++;
	n->evidence_seen = 0;
	if (n->has_durable) {
		cons_event ev = {.kind = CONS_EV_RESTART};
		ev.u.restart.safety = &n->durable;
		ev.u.restart.valid_block = n->durable_block;
		ev.u.restart.valid_len = n->durable_len;
		ev.u.restart.valid_pol = n->durable_block ? &n->durable_pol : NULL;
		feed(w, i, &ev);
	}
	start_height(w, i);
}

static void node_crash(struct world *w, uint32_t i)
{
	struct node *n = &w->nodes[i];
	if (!n->up)
		return;
	TRACE(w, "%10" PRIu64 " n%u CRASH (durable h=%" PRIu64 " r=%u, lost %zu queued)\n", w->now,
	      i, n->durable.height, n->durable.round, n->qlen);
	cons_free(n->core);
	n->core = NULL;
	n->up = false;
	n->inc++;
	n->inflight = false;
	free(n->pending_block);
	n->pending_block = NULL;
	/* what the next PERSIST extends is what is durable */
	free(n->cur_block);
	n->cur_block = n->durable_block ? dup_bytes(n->durable_block, n->durable_len) : NULL;
	n->cur_len = n->durable_len;
	n->cur_pol = n->durable_pol;
	for (size_t k = 0; k < n->qlen; k++)
		pact_free(&n->q[n->qhead + k]);
	n->qhead = n->qlen = 0;
}

/* ---- scenario ---------------------------------------------------------- */

/* Governance changes that keep the Byzantine validators at most f of the
 * set at every height. */
static void plan_gov(struct world *w, uint32_t n_keys)
{
	cons_valset s = w->genesis;
	uint32_t want = 1 + rng_below(&w->rng, SIM_GOV_MAX);
	for (uint32_t g = 0; g < want && w->ngov < SIM_GOV_MAX; g++) {
		sim_gov op = {-1, -1, 0};
		uint32_t kind = rng_below(&w->rng, 3); /* swap, add, remove */
		int32_t out = -1, in = -1;
		for (uint32_t t = 0; t < 8 && out < 0; t++) {
			uint32_t k = rng_below(&w->rng, n_keys);
			if (model_valset_has(&s, k) && !w->nodes[k].byz)
				out = (int32_t)k;
		}
		for (uint32_t t = 0; t < 8 && in < 0; t++) {
			uint32_t k = rng_below(&w->rng, n_keys);
			if (!model_valset_has(&s, k) && !w->nodes[k].byz)
				in = (int32_t)k;
		}
		if (kind == 0 || s.n == 1) {
			op.remove_key = out;
			op.add_key = in;
			if (out < 0 || in < 0)
				continue;
		} else if (kind == 1) {
			op.add_key = in;
			if (in < 0)
				continue;
		} else {
			op.remove_key = out;
			if (out < 0)
				continue;
		}
		cons_valset next = s;
		if (op.remove_key >= 0) {
			ck_pubkey pk;
			sim_pubkey((uint32_t)op.remove_key, pk);
			int ix = cons_valset_index(&next, pk);
			memmove(next.keys[ix], next.keys[ix + 1],
				(next.n - (uint32_t)ix - 1) * CK_PUBKEY_BYTES);
			next.n--;
		}
		if (op.add_key >= 0) {
			sim_pubkey((uint32_t)op.add_key, next.keys[next.n++]);
			if (cons_valset_sort(&next) != 0)
				continue;
		}
		if (next.n < 1 || byz_keys_in(w, &next) > (next.n - 1) / 3)
			continue;
		op.release_us = rng_below(&w->rng, (uint32_t)w->t_heal);
		w->gov[w->ngov++] = op;
		s = next;
	}
}

/* Keys 0..n_keys-1 and the genesis set of the first n_val of them. */
static void plan_keys(struct world *w, uint32_t n_keys)
{
	for (uint32_t i = 0; i < n_keys; i++) {
		struct node *n = &w->nodes[i];
		n->key = i;
		sim_pubkey(i, n->pk);
	}
	w->genesis.n = w->n_val;
	for (uint32_t i = 0; i < w->n_val; i++)
		memcpy(w->genesis.keys[i], w->nodes[i].pk, CK_PUBKEY_BYTES);
	int rc = cons_valset_sort(&w->genesis);
	assert(rc == 0);
	(void)rc;
	for (uint32_t i = 0; i < SIM_NODES_MAX; i++)
		w->nodes[i].sendmask = (uint32_t)((1ull << SIM_NODES_MAX) - 1);
}

static void plan_random(struct world *w)
{
	uint32_t pick = rng_below(&w->rng, 10);
	w->n_val = pick < 2 ? 1 : pick < 7 ? 4 : 7;
	w->f = (w->n_val - 1) / 3;
	uint32_t spares = w->n_val == 1 ? rng_below(&w->rng, 2) : 1 + rng_below(&w->rng, 2);
	uint32_t n_keys = w->n_val + spares;
	w->n_nodes = n_keys;
	w->t_heal = 800000 + rng_below(&w->rng, 1200000);

	/* Timeouts grow with the round and are capped (scaled to the
	 * simulated network's milliseconds). */
	w->to.propose_ms = 120;
	w->to.propose_delta_ms = 40;
	w->to.prevote_ms = 60;
	w->to.prevote_delta_ms = 30;
	w->to.precommit_ms = 60;
	w->to.precommit_delta_ms = 30;
	w->to.cap_ms = 600;
	w->to.gossip_ms = 150;
	w->commit_pause_us = 60000;
	plan_keys(w, n_keys);

	/* f Byzantine validators (usually exactly f), each with a random mix
	 * of behaviours; one may be a twin. */
	uint32_t nb = w->f == 0 ? 0 : rng_chance(&w->rng, 850) ? w->f : rng_below(&w->rng, w->f + 1);
	for (uint32_t b = 0; b < nb;) {
		uint32_t k = rng_below(&w->rng, w->n_val);
		if (w->nodes[k].byz)
			continue;
		struct node *n = &w->nodes[k];
		n->byz = true;
		n->modes = (uint32_t)rng_below(&w->rng, 1u << 7) & ~(uint32_t)BYZ_SILENT;
		n->modes |= rng_below(&w->rng, 4) << 8; /* BYZ_FORGE, BYZ_POL */
		if (n->modes == 0)
			n->modes = BYZ_YES;
		if (rng_chance(&w->rng, 150))
			n->modes = BYZ_SILENT;
		b++;
	}
	/* Twins: a second node with the same key as a Byzantine validator;
	 * each copy talks to its own random part of the network. */
	for (uint32_t k = 0; k < w->n_val && w->n_nodes < SIM_NODES_MAX; k++) {
		if (!w->nodes[k].byz || !rng_chance(&w->rng, 350))
			continue;
		uint32_t t = w->n_nodes++;
		struct node *n = &w->nodes[t];
		*n = w->nodes[k];
		n->modes = BYZ_TWIN;
		w->nodes[k].modes |= BYZ_TWIN;
		uint32_t half = random_half(w);
		w->nodes[k].sendmask = half;
		n->sendmask = ~half;
		break;
	}
	for (uint32_t i = 0; i < w->n_nodes; i++)
		w->nodes[i].sendmask &= (uint32_t)((1ull << w->n_nodes) - 1);

	/* network faults */
	w->delay_min_us = 500 + rng_below(&w->rng, 5000);
	w->jitter_us = rng_below(&w->rng, 40000);
	w->loss_pm = rng_chance(&w->rng, 500) ? rng_below(&w->rng, 300) : 0;
	w->dup_pm = rng_chance(&w->rng, 400) ? rng_below(&w->rng, 150) : 0;
	w->crash_at_persist = rng_chance(&w->rng, 400);
	w->crash_lock_pm = rng_chance(&w->rng, 300) ? 300 : 0;

	if ((w->n_val >= 4 && rng_chance(&w->rng, 700)) || (w->n_val == 1 && spares > 0 &&
							  rng_chance(&w->rng, 500)))
		plan_gov(w, n_keys);

	/* partitions that come and go */
	if (rng_chance(&w->rng, 600)) {
		uint32_t k = 1 + rng_below(&w->rng, 3);
		for (uint32_t j = 0; j < k; j++) {
			uint64_t t = rng_below(&w->rng, (uint32_t)w->t_heal);
			struct sev *e = ev_new(w, t, SIM_NODES_MAX, EV_PARTITION);
			e->groups = rng_below(&w->rng, 2)
					    ? (uint32_t)rng_next(&w->rng)
					    : 1u << rng_below(&w->rng, w->n_nodes);
			e->valid = true;
			ev_push(w);
			e = ev_new(w, t + 100000 + rng_below(&w->rng, 700000), SIM_NODES_MAX,
				   EV_PARTITION);
			e->valid = false;
			ev_push(w);
		}
	}
	/* crashes and restarts of honest nodes */
	if (rng_chance(&w->rng, 500)) {
		uint32_t k = 1 + rng_below(&w->rng, 3);
		for (uint32_t j = 0; j < k; j++) {
			uint32_t i = rng_below(&w->rng, w->n_nodes);
			if (w->nodes[i].byz)
				continue;
			uint64_t t = rng_below(&w->rng, (uint32_t)w->t_heal);
			ev_plain(w, t, i, EV_CRASH);
			ev_plain(w, t + 50000 + rng_below(&w->rng, 600000), i, EV_RESTART);
		}
	}
	for (uint32_t i = 0; i < w->n_nodes; i++)
		if (w->nodes[i].byz && (w->nodes[i].modes & (BYZ_GARBAGE | BYZ_REPLAY | BYZ_FORGE)))
			ev_plain(w, rng_below(&w->rng, 50000), i, EV_BYZ);
	ev_plain(w, w->t_heal, SIM_NODES_MAX, EV_HEAL);
}

static void plan(struct world *w)
{
	if (w->o.scenario == SIM_LOCK) {
		w->lock_on = true;
		w->n_val = rng_chance(&w->rng, 500) ? 4 : 7;
		w->f = (w->n_val - 1) / 3;
		w->n_nodes = w->n_val;
		plan_keys(w, w->n_nodes);
		lock_plan(w);
	} else {
		plan_random(w);
	}
	if (w->o.verbose) {
		char byz[128] = "";
		size_t bl = 0;
		for (uint32_t i = 0; i < w->n_nodes; i++)
			if (w->nodes[i].byz)
				bl += (size_t)snprintf(byz + bl, sizeof byz - bl, " n%u:%#x", i,
						       w->nodes[i].modes);
		TRACE(w,
		      "seed %" PRIu64 ": n=%u nodes=%u byz=[%s ] loss=%u dup=%u delay=%u+%u us "
		      "gov=%u heal=%" PRIu64 "\n",
		      w->o.seed, w->n_val, w->n_nodes, byz, w->loss_pm, w->dup_pm, w->delay_min_us,
		      w->jitter_us, w->ngov, w->t_heal);
	}
}

/* ---- the run ----------------------------------------------------------- */

/* After the heal (the paper's GST) every honest node must commit
 * LIVE_BLOCKS blocks above the highest height any honest node had then.
 * The bound on the time allowed is the paper's: a validator locked on a
 * value only the proposers holding validValue can unlock may wait until
 * such a proposer's turn, n rounds at the capped timeouts, plus a second
 * for catching up and deciding. The run ends as soon as the condition
 * holds. */
#define LIVE_BLOCKS 3u

static void heal(struct world *w)
{
	if (w->healed)
		return;
	w->healed = true;
	w->partitioned = false;
	w->loss_pm = 0;
	w->dup_pm = 0;
	w->jitter_us = w->jitter_us > 20000 ? 20000 : w->jitter_us;
	w->crash_at_persist = false;
	w->t_heal = w->now;
	uint64_t round_us = 3ull * w->to.cap_ms * 1000;
	w->t_end = w->now + 1000000 + w->n_val * round_us;
	ev_plain(w, w->t_end, SIM_NODES_MAX, EV_END);
	for (uint32_t i = 0; i < w->n_nodes; i++) {
		struct node *n = &w->nodes[i];
		if (!n->up)
			node_boot(w, i);
		if (!n->byz && n->led.height > w->heal_height)
			w->heal_height = n->led.height;
	}
	TRACE(w, "%10" PRIu64 " HEAL at height %" PRIu64 ", deadline %" PRIu64 "\n", w->now,
	      w->heal_height, w->t_end);
}

static bool live(const struct world *w)
{
	for (uint32_t i = 0; i < w->n_nodes; i++)
		if (!w->nodes[i].byz && w->nodes[i].led.height < w->heal_height + LIVE_BLOCKS)
			return false;
	return true;
}

static void check_liveness(struct world *w)
{
	for (uint32_t i = 0; i < w->n_nodes; i++) {
		struct node *n = &w->nodes[i];
		if (n->byz || n->led.height >= w->heal_height + LIVE_BLOCKS)
			continue;
		char what[192];
		snprintf(what, sizeof what,
			 "liveness: not %u new blocks within %" PRIu64
			 " ms after the network healed (at %" PRIu64 ", now %" PRIu64 ")",
			 LIVE_BLOCKS, (w->t_end - w->t_heal) / 1000, w->heal_height, n->led.height);
		fail(w, what, i, n->led.height);
		return;
	}
}

static void dispatch(struct world *w, struct sev *e)
{
	uint32_t i = e->node;
	struct node *n = i < SIM_NODES_MAX ? &w->nodes[i] : NULL;
	switch (e->kind) {
	case EV_PARTITION:
		if (w->healed)
			return;
		w->partitioned = e->valid;
		w->groups = e->groups;
		TRACE(w, "%10" PRIu64 " PARTITION %s %#x\n", w->now, e->valid ? "on" : "off",
		      e->groups);
		return;
	case EV_HEAL:
		heal(w);
		return;
	case EV_ADV:
		lock_tick(w);
		return;
	case EV_END:
		check_liveness(w);
		return;
	case EV_CRASH:
		if (!w->healed)
			node_crash(w, i);
		return;
	case EV_RESTART:
		if (!n->up)
			node_boot(w, i);
		return;
	default:
		break;
	}
	/* Timers, persists, checks and builds die with the incarnation that
	 * asked for them. Deliveries do not, nor does Byzantine mischief
	 * (scheduled before the first boot, and Byzantine nodes never crash). */
	if (!n->up || (e->kind != EV_DELIVER && e->kind != EV_BYZ && e->inc != n->inc))
		return; /* lost with the crash */
	cons_event ev;
	memset(&ev, 0, sizeof ev);
	switch (e->kind) {
	case EV_PERSIST:
		persist_done(w, i);
		drain(w, i);
		return;
	case EV_START:
		start_height(w, i);
		return;
	case EV_DELIVER:
		if (n->byz)
			byz_on_deliver(w, i, e->bytes, e->len);
		ev.kind = CONS_EV_MESSAGE;
		ev.u.message.peer = e->from;
		ev.u.message.bytes = e->bytes;
		ev.u.message.len = e->len;
		break;
	case EV_TIMER:
		ev.kind = CONS_EV_TIMEOUT;
		ev.u.timeout.timer = (enum cons_timer)e->timer;
		ev.u.timeout.height = e->height;
		ev.u.timeout.round = e->round;
		break;
	case EV_CHECK:
		ev.kind = CONS_EV_BLOCK_CHECKED;
		ev.u.checked.height = e->height;
		memcpy(ev.u.checked.id, e->id, CONS_ID_BYTES);
		ev.u.checked.valid = e->valid;
		break;
	case EV_BUILD:
		ev.kind = CONS_EV_BLOCK_BUILT;
		ev.u.built.height = e->height;
		ev.u.built.round = e->round;
		ev.u.built.block = e->bytes;
		ev.u.built.len = e->len;
		break;
	case EV_BYZ: {
		byz_tick(w, i);
		ev_plain(w, w->now + 10000 + rng_below(&w->rng, 60000), i, EV_BYZ);
		return;
	}
	default:
		fail(w, "unknown event", i, 0);
		return;
	}
	feed(w, i, &ev);
}

/* FNV-1a over the fields that make an event, its bytes included. */
static void trace_event(struct world *w, const struct sev *e)
{
	const uint64_t prime = 0x100000001b3ull;
	const uint64_t f[6] = {e->t, e->node, e->kind, e->seq, e->len, e->timer};
	for (int k = 0; k < 6; k++) {
		w->trace ^= f[k];
		w->trace *= prime;
	}
	for (size_t k = 0; k < e->len; k++) {
		w->trace ^= e->bytes[k];
		w->trace *= prime;
	}
}

int sim_run(const sim_opts *o, uint64_t *trace)
{
	struct world *w = calloc(1, sizeof *w);
	assert(w);
	w->o = *o;
	rng_seed(&w->rng, o->seed);
	w->trace = 0xcbf29ce484222325ull;
	sim_verifier(&w->verifier);
	plan(w);
	for (uint32_t i = 0; i < w->n_nodes; i++) {
		model_init(&w->nodes[i].led, &w->genesis, w->gov, w->ngov);
		node_boot(w, i);
	}
	const uint64_t steps_max = 5000000;
	while (w->hn > 0 && !w->failed) {
		struct sev e = ev_pop(w);
		w->now = e.t;
		w->steps++;
		trace_event(w, &e);
		if (o->verbose && e.kind != EV_DELIVER && e.kind != EV_TIMER)
			TRACE(w, "%10" PRIu64 " n%u %s\n", w->now, e.node, ev_name[e.kind]);
		if (o->verbose && e.kind == EV_TIMER && e.node < SIM_NODES_MAX)
			TRACE(w, "%10" PRIu64 " n%u timer %u h=%" PRIu64 " r=%u\n", w->now, e.node,
			      e.timer, e.height, e.round);
		dispatch(w, &e);
		free(e.bytes);
		if (e.kind == EV_END || (w->healed && live(w)))
			break;
		if (w->steps > steps_max)
			fail(w, "step limit reached (livelock?)", 0, 0);
	}
	if (o->verbose) {
		for (uint32_t i = 0; i < w->n_nodes; i++) {
			cons_stats st = {0};
			if (w->nodes[i].core)
				cons_stats_get(w->nodes[i].core, &st);
			printf("node %u%s: height %" PRIu64 " commits %" PRIu64 " msgs %" PRIu64
			       " bad %" PRIu64 " sigs %" PRIu64 " evidence %" PRIu64 "\n",
			       i, w->nodes[i].byz ? " (byz)" : "", w->nodes[i].led.height,
			       w->nodes[i].commits, st.msgs_in, st.msgs_bad, st.sigs_checked,
			       st.evidence);
		}
		printf("steps %" PRIu64 " trace %016" PRIx64 "\n", w->steps, w->trace);
	}
	int failed = w->failed;
	if (trace)
		*trace = w->trace;
	/* teardown */
	while (w->hn > 0) {
		struct sev e = ev_pop(w);
		free(e.bytes);
	}
	free(w->h);
	for (uint32_t i = 0; i < w->n_nodes; i++) {
		struct node *n = &w->nodes[i];
		cons_free(n->core);
		for (size_t k = 0; k < n->qlen; k++)
			pact_free(&n->q[n->qhead + k]);
		free(n->q);
		free(n->durable_block);
		free(n->pending_block);
		free(n->cur_block);
		free(n->seen_block);
		model_free(&n->led);
	}
	check_free(w);
	lock_free(w);
	for (uint32_t i = 0; i < REPLAY_RING; i++)
		free(w->ring[i]);
	free(w->committed);
	free(w->committed_set);
	free(w);
	return failed ? 1 : 0;
}
