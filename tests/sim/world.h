/*
 * The simulated world shared by the simulator's files: events, nodes, the
 * network, the oracle's records and the targeted adversary. world.c runs
 * it (heap, network, driver, scenario, run), check.c holds the invariants,
 * byz.c the random Byzantine behaviours, lock.c the targeted lock scenario.
 * Internal to tests/sim.
 */
#ifndef CARBON_SIM_WORLD_H
#define CARBON_SIM_WORLD_H

#include <stdio.h>

#include "tests/sim/sim.h"

/* ---- events ------------------------------------------------------------ */

/* The kind is part of the total order (time, node, kind, sequence). */
enum ev_kind {
	EV_CRASH = 1,
	EV_RESTART,
	EV_PERSIST,
	EV_START,     /* the driver finished applying a block */
	EV_DELIVER,
	EV_TIMER,
	EV_CHECK,
	EV_BUILD,
	EV_BYZ,
	EV_ADV,       /* the lock scenario's adversary acts (node SIM_NODES_MAX) */
	EV_PARTITION,
	EV_HEAL,
	EV_END,
};

struct sev {
	uint64_t t;
	uint64_t seq;
	uint32_t node;
	uint32_t kind;
	uint32_t inc;     /* node incarnation when scheduled (stale if changed) */
	uint32_t from;
	uint8_t *bytes;
	size_t len;
	uint32_t timer;
	uint64_t height;
	uint32_t round;
	cons_id id;
	bool valid;
	uint32_t groups;  /* EV_PARTITION: bit i = group of node i */
};

/* An action copied out of the core to wait behind a persist barrier. */
struct pact {
	cons_action a;
	uint8_t *own;     /* owned copy of message or block bytes */
	cons_cert *cert;  /* owned copy for COMMIT */
};

struct node {
	uint32_t key;
	ck_pubkey pk;
	bool byz;
	uint32_t modes;
	uint32_t sendmask;  /* twins: which nodes their broadcasts reach */
	cons *core;
	bool up;
	uint32_t inc;
	bool has_durable;
	cons_safety durable;
	uint8_t *durable_block;   /* validValue's bytes persisted with it */
	size_t durable_len;
	cons_cert durable_pol;    /* and its proof of lock */
	bool inflight;
	cons_safety pending;
	uint8_t *pending_block;
	size_t pending_len;
	cons_cert pending_pol;
	/* validValue as of the last PERSIST carried out (a PERSIST without
	 * bytes means "unchanged") */
	uint8_t *cur_block;
	size_t cur_len;
	cons_cert cur_pol;
	struct pact *q;
	size_t qhead, qlen, qcap;
	sim_model led;
	uint64_t commits;
	uint64_t evidence_seen;   /* of the running core's evidence counter */
	/* The lock as the oracle knows it: the latest precommit for a value
	 * this honest node sent (line 36 locks before precommitting, and
	 * nothing else moves the lock within a height). */
	uint64_t lock_h;          /* 0: none */
	uint32_t lock_r;
	cons_id lock_id;
	/* Byzantine memory: the last proposal seen (double votes, stale
	 * re-proposals) */
	cons_id seen_prop;
	uint64_t seen_h;
	uint32_t seen_round;
	uint8_t *seen_block;
	size_t seen_len;
};

/* ---- the oracle's records (check.c) ------------------------------------ */

/* One open-addressing table of records, keyed by a non-zero hash of their
 * identifying fields; records with one hash are told apart by their
 * fields. Never shrinks (a run is short). */
enum rec_kind {
	REC_SIG = 1,      /* an honest validator's signed message, by position */
	REC_PREVOTES,     /* honest prevotes for (height, round, id) */
	REC_PROPOSAL,     /* a proposal that was delivered to someone */
};

struct rec {
	uint64_t key;     /* 0 = empty */
	uint8_t kind;
	uint8_t step;
	uint8_t clen;
	uint64_t height;
	uint32_t round;
	uint32_t who;     /* REC_SIG: key number; REC_PROPOSAL: proposer index */
	int32_t pol;
	uint32_t count;   /* REC_PREVOTES */
	uint32_t mask;    /* REC_PROPOSAL: nodes it was delivered to */
	cons_id id;
	ck_sig sig;
	uint8_t content[CONS_SIGN_BYTES_MAX]; /* REC_SIG: the sign bytes */
};

struct table {
	struct rec *r;
	size_t cap, n;
};

/* ---- the lock scenario (lock.c) ---------------------------------------- */

#define LOCK_TRAPS 3u

/* What a Byzantine proposer offers validators locked on v in a trap round. */
enum lock_trap {
	TRAP_FAKE_VR = 0, /* a fresh value, vr in [lockedRound, R): no polka at vr */
	TRAP_STALE_VR,    /* the value of a real polka at q < lockedRound, vr = q */
	TRAP_FRESH,       /* a fresh value, vr = -1 */
};

struct lock_plan {
	uint64_t h;               /* the attacked height */
	uint32_t c;               /* the honest node that commits in round r */
	uint32_t honest, nc;      /* masks: honest nodes, honest non-committers */
	uint32_t q, r;            /* round of the withheld polka, the lock round */
	uint32_t s_mask;          /* f+1 honest nodes that see round q's proposal */
	uint32_t trap_round[LOCK_TRAPS];
	uint8_t trap[LOCK_TRAPS];
	uint32_t crash_mask;      /* non-committers crashed right after locking */
	uint32_t crashed;
	bool forge;
	uint32_t idx_node[LIM_VALIDATORS_MAX]; /* validator index -> node */
	/* what the adversary has seen or built */
	uint8_t *q_block;         /* round q's proposal */
	size_t q_len;
	cons_id q_id;
	uint8_t *prop_msg[2];     /* the proposals of rounds q and r, signed */
	size_t prop_len[2];
	uint8_t *q_prevote[SIM_NODES_MAX]; /* honest prevotes for it at q */
	size_t q_prevote_len[SIM_NODES_MAX];
	uint8_t *blk[2 + LOCK_TRAPS]; /* injected blocks: q, r, then traps */
	size_t blk_len[2 + LOCK_TRAPS];
	uint8_t *v_block;         /* round r's value */
	size_t v_len;
	cons_id v_id;
	int32_t trap_vr[LOCK_TRAPS];
	bool done;
};

/* ---- the world --------------------------------------------------------- */

#define REPLAY_RING 64u

struct world {
	sim_opts o;
	sim_rng rng;
	uint64_t now;
	uint64_t seq;
	uint64_t steps;
	bool failed;
	uint64_t trace;           /* hash of every event popped */

	uint32_t n_val, n_nodes, f;
	struct node nodes[SIM_NODES_MAX];
	sim_gov gov[SIM_GOV_MAX];
	uint32_t ngov;
	cons_valset genesis;
	cons_timeouts to;

	/* the event heap */
	struct sev *h;
	size_t hn, hcap;

	/* network */
	uint32_t delay_min_us, jitter_us, loss_pm, dup_pm;
	bool partitioned;
	uint32_t groups;
	bool crash_at_persist;
	uint32_t crash_lock_pm;   /* chance of a crash right after a lock */

	/* phases */
	uint64_t t_heal, t_end;
	uint64_t commit_pause_us;
	bool healed;
	uint64_t heal_height;

	/* invariants */
	cons_id *committed;
	bool *committed_set;
	size_t committed_cap;
	struct table recs;

	/* Byzantine replay material */
	uint8_t *ring[REPLAY_RING];
	size_t ring_len[REPLAY_RING];
	uint32_t ring_next;

	/* the lock scenario */
	bool lock_on;
	bool injecting;           /* the adversary is sending: no filter */
	struct lock_plan lock;

	cons_actions acts;
	cons_verifier verifier;
};

#define TRACE(w, ...)                                 \
	do {                                          \
		if ((w)->o.verbose)                   \
			fprintf(stdout, __VA_ARGS__); \
	} while (0)

/* world.c */
void fail(struct world *w, const char *what, uint32_t node, uint64_t height);
struct sev *ev_new(struct world *w, uint64_t t, uint32_t node, uint32_t kind);
void ev_push(struct world *w);
void ev_plain(struct world *w, uint64_t t, uint32_t node, uint32_t kind);
uint8_t *dup_bytes(const uint8_t *p, size_t n);
void net_send(struct world *w, uint32_t from, uint32_t to, const uint8_t *b, size_t len);
void net_broadcast(struct world *w, uint32_t from, const uint8_t *b, size_t len, uint32_t mask);
/* Schedules a crash of node i at t and its restart at t + down_us. */
void crash_later(struct world *w, uint32_t i, uint64_t t, uint64_t down_us);
/* Distinct Byzantine keys in vs (twins share a key). */
uint32_t byz_keys_in(const struct world *w, const cons_valset *vs);

/* check.c: invariants, checked as actions are carried out */
void check_sent(struct world *w, uint32_t i, const uint8_t *b, size_t len);
void check_commit(struct world *w, uint32_t i, uint64_t height, const cons_id id,
		  const uint8_t *block, size_t len, const cons_cert *cert);
/* A PERSIST handed to the driver: its proof of lock must be 2f+1 real
 * prevotes for validValue. */
void check_persist(struct world *w, uint32_t i, const cons_action *a);
/* A persist completed: the durable validValue must be whole. */
void check_durable(struct world *w, uint32_t i);
/* After a step of honest node i: evidence it recorded must verify and may
 * only accuse Byzantine validators (honest ones never equivocate, so
 * evidence against one means a forged signature was accepted). */
void check_evidence(struct world *w, uint32_t i);
/* A message is on its way to node to: remember the proposals each node
 * could act on. */
void observe_delivery(struct world *w, uint32_t to, const uint8_t *b, size_t len);
void check_free(struct world *w);

/* byz.c: random Byzantine behaviour */
uint32_t all_mask(const struct world *w);
uint32_t random_half(struct world *w);
/* Encodes m and sends it from node i to every node in mask. */
void send_msg(struct world *w, uint32_t i, const cons_msg *m, uint32_t mask);
/* Fills a vote and signs it with node i's own key. */
void sign_vote(struct world *w, uint32_t i, cons_msg *m, enum cons_step step, uint64_t height,
	       uint32_t round, bool has_id, const cons_id id, uint32_t validator);
/* Fills a proposal of block and signs it with node i's own key. */
void sign_proposal(struct world *w, uint32_t i, cons_msg *m, uint64_t height, uint32_t round,
		   int32_t pol, const uint8_t *block, size_t len, uint32_t proposer);
/* Replaces the signature of a message claimed by another validator with a
 * forgery (own key, the claimed key over other bytes, or noise): a core
 * must never count it. */
void forge_sig(struct world *w, uint32_t i, cons_msg *m);
void byz_broadcast(struct world *w, uint32_t i, const uint8_t *b, size_t len);
void byz_on_deliver(struct world *w, uint32_t i, const uint8_t *b, size_t len);
void byz_tick(struct world *w, uint32_t i);

/* lock.c: the targeted lock scenario */
void lock_plan(struct world *w);
/* false: the adversary drops this message */
bool lock_filter(struct world *w, uint32_t from, uint32_t to, const uint8_t *b, size_t len);
void lock_tick(struct world *w);
/* Honest node i sent its precommit for id at (height, round) for the first
 * time: it is locked. */
void lock_on_locked(struct world *w, uint32_t i, uint64_t height, uint32_t round);
void lock_free(struct world *w);

#endif
