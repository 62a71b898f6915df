/*
 * The core's private layout, shared by core.c (the paper's rules) and
 * store.c (the message log: proposals and votes by round, evidence). Not
 * part of the API: drivers see only consensus/cons.h.
 */
#ifndef CARBON_CONS_INTERNAL_H
#define CARBON_CONS_INTERNAL_H

#include "consensus/cons.h"

/* What the core knows about valid(v) for a block id (the answer comes
 * asynchronously through CONS_EV_BLOCK_CHECKED). */
enum cons_validity {
	CONS_VALIDITY_PENDING = 0,
	CONS_VALIDITY_VALID = 1,
	CONS_VALIDITY_INVALID = 2,
};

/* A proposal of one round from the round's proposer. Block buffers are kept
 * across heights and reused (allocation only when a block is larger than
 * any seen before in that entry). */
struct cons_prop {
	bool used;
	uint8_t validity;
	int32_t pol_round;
	cons_id id;
	ck_sig sig;
	uint8_t *block;
	uint32_t len, cap;
};

struct cons_vote_entry {
	bool has_id;
	cons_id id;
	ck_sig sig;
};

/* A further, conflicting vote of a validator that already voted. */
struct cons_vote_extra {
	uint32_t idx;
	struct cons_vote_entry e;
};

struct cons_tally {
	cons_id id;
	uint32_t count;
};

/* The votes of one step of one round. The first vote of each validator is
 * in v[]; a conflicting one becomes evidence and is kept in extra[] (up to
 * LIM_CONS_VOTES_PER_VALIDATOR votes per validator): the paper counts
 * "2f+1 <PREVOTE, h, r, id(v)>" over distinct senders per id, and a
 * Byzantine sender's vote for id(v) must count towards id(v) at every
 * honest node, or a proof of lock that needed it could be seen by some and
 * never by others. Honest validators never equivocate, so the quorum
 * intersection argument is unchanged. */
#define CONS_EXTRA_MAX (LIM_VALIDATORS_MAX * 2u)
struct cons_voteset {
	uint32_t count;     /* validators that voted, for anything */
	uint32_t nil_count; /* validators that voted nil */
	uint32_t ntally;
	uint32_t nextra;
	uint64_t seen[(LIM_VALIDATORS_MAX + 63) / 64];
	struct cons_vote_entry v[LIM_VALIDATORS_MAX];
	struct cons_tally t[LIM_VALIDATORS_MAX * LIM_CONS_VOTES_PER_VALIDATOR];
	struct cons_vote_extra extra[CONS_EXTRA_MAX];
};

/* Everything of one round, plus the paper's "for the first time" flags of
 * lines 34, 36 and 47. */
struct cons_slot {
	bool used;
	uint32_t round;
	bool prevote_timer_set;   /* line 34 */
	bool polka_done;          /* line 36 */
	bool precommit_timer_set; /* line 47 */
	struct cons_prop prop[LIM_CONS_PROPOSALS_PER_ROUND];
	struct cons_voteset votes[2]; /* [0] prevotes, [1] precommits */
};

/* The catch-up answers (CONS_ACT_SEND_DECIDED) given to one peer in the
 * gossip period epoch. */
struct cons_answered {
	uint64_t epoch;
	uint32_t n;
	uint64_t height[LIM_CONS_DECIDED_PER_PERIOD];
};

/* validValue changes at most once per round (line 36 fires once per
 * round) and one event enters at most two rounds. */
#define CONS_VSNAP_MAX 4u

struct cons_vsnap {
	uint8_t *block;
	uint32_t len, cap;
	cons_cert pol;
};

struct cons {
	/* configuration */
	char chain_id[LIM_CHAIN_ID_BYTES_MAX + 1];
	ck_pubkey self;
	cons_signer signer;
	cons_verifier verifier;
	cons_block_id_fn block_id;
	cons_timeouts to;

	/* lifecycle */
	bool halted;           /* refused an inconsistent restored state */
	bool have_restore;     /* CONS_EV_RESTART seen, not yet used */
	cons_safety restore;
	/* the restored validValue's bytes and proof of lock, kept apart until
	 * restore.height starts: heights below it may run first (the
	 * driver's ledger catching up) and use valid_block for their own */
	uint8_t *restore_block;
	uint32_t restore_len, restore_cap;
	cons_cert restore_pol;
	bool started;          /* a height is running */
	bool decided;          /* COMMIT emitted; waiting for START_HEIGHT */

	/* the height: h_p, its validators, and p's index (-1: not one) */
	uint64_t height;
	cons_valset vs;
	int32_t me;
	uint32_t quorum;       /* 2f+1 */
	uint32_t honest_min;   /* f+1 */

	/* round_p, step_p, locks, valid value, last signed messages */
	cons_safety safe;
	bool need_persist;
	/* validValue's bytes (safe.valid_id), kept whole: re-proposed by line
	 * 16 and persisted with the safety state */
	uint8_t *valid_block;
	uint32_t valid_len, valid_cap;
	cons_cert valid_pol;      /* prevotes of valid_round for valid_id */
	bool valid_dirty;         /* changed since the last PERSIST */
	/* copies handed out by PERSIST actions of the current step (validValue
	 * may change again later in the same step) */
	struct cons_vsnap vsnap[CONS_VSNAP_MAX];
	uint32_t nvsnap;

	/* the message log of the height */
	struct cons_slot slots[LIM_CONS_ROUND_SLOTS];
	/* highest round each validator sent a signed message for, for the
	 * round-skip rule (line 55) */
	uint32_t max_round[LIM_VALIDATORS_MAX];
	uint64_t max_round_seen[(LIM_VALIDATORS_MAX + 63) / 64];
	bool skip_dirty;

	/* decision of the height, owned here for the COMMIT action */
	cons_cert cert;
	uint8_t *decided_block;
	uint32_t decided_len, decided_cap;

	/* evidence ring */
	cons_evidence ev[LIM_CONS_EVIDENCE_MAX];
	uint32_t ev_first, ev_n;

	/* catch-up answers: per peer and gossip period, at most
	 * LIM_CONS_DECIDED_PER_PERIOD, each height at most once */
	uint64_t gossip_epoch;
	struct cons_answered answered[LIM_PEERS_MAX];
	/* round help: at most once per peer per gossip tick */
	uint64_t helped_epoch[LIM_PEERS_MAX];

	/* output of the current step: encoded messages live in arena; the
	 * actions hold offsets until the step ends */
	cons_actions *out;
	cm_wr arena;
	size_t arena_off[LIM_CONS_ACTIONS_MAX];

	cons_stats stats;
};

/* store.c */
void cons_store_reset(cons *c);
struct cons_slot *cons_slot_find(cons *c, uint32_t round);
/* Finds or claims a slot for round; NULL when every slot holds a round
 * that matters more (docs/CONSENSUS.md, "Bounded memory"). */
struct cons_slot *cons_slot_get(cons *c, uint32_t round);
bool cons_voteset_has(const struct cons_voteset *vs, uint32_t idx);
void cons_voteset_add(struct cons_voteset *vs, uint32_t idx, bool has_id, const cons_id id,
		      const ck_sig sig);
uint32_t cons_voteset_count_id(const struct cons_voteset *vs, const cons_id id);
/* idx's vote with this content (its first or a further one), or NULL. */
const struct cons_vote_entry *cons_voteset_find(const struct cons_voteset *vs, uint32_t idx,
						bool has_id, const cons_id id);
/* Records a further vote of idx (which already voted otherwise). false if
 * the validator or the store is at its limit. */
bool cons_voteset_add_extra(struct cons_voteset *vs, uint32_t idx, bool has_id,
			    const cons_id id, const ck_sig sig);
/* Stores a proposal in the slot; NULL if both entries are taken. The
 * validity is copied from any known entry with the same id, else PENDING
 * (*fresh set to true: the driver must be asked). */
struct cons_prop *cons_prop_store(cons *c, struct cons_slot *s, int32_t pol_round,
				  const cons_id id, const ck_sig sig, const uint8_t *block,
				  uint32_t len, bool *fresh);
/* Any entry holding the block with this id (for re-proposing validValue). */
const struct cons_prop *cons_prop_find_id(const cons *c, const cons_id id);
void cons_set_validity(cons *c, const cons_id id, bool valid);
/* Records an equivocation (deduplicated; the oldest is dropped when full). */
void cons_evidence_add(cons *c, uint8_t step, uint32_t round, uint32_t validator,
		       const cons_evidence_side *x, const cons_evidence_side *y);

#endif
