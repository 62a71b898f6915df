/*
 * The deterministic simulator of the consensus core (docs/CONSENSUS.md,
 * "Simulator"): n real cores over a simulated network and clock, all driven
 * by one seed. Internal to tests/sim.
 */
#ifndef CARBON_SIM_H
#define CARBON_SIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "consensus/cons.h"

#define SIM_NODES_MAX 12u
#define SIM_GOV_MAX 4u
#define SIM_CHAIN "carbon-sim"

/* ---- PRNG: xoshiro256** seeded by splitmix64 ---------------------------- */

typedef struct sim_rng {
	uint64_t s[4];
} sim_rng;

void rng_seed(sim_rng *r, uint64_t seed);
uint64_t rng_next(sim_rng *r);
/* Uniform in [0, n), n > 0 (multiply-shift; the bias is irrelevant here). */
uint32_t rng_below(sim_rng *r, uint32_t n);
/* True with probability per_mille / 1000. */
bool rng_chance(sim_rng *r, uint32_t per_mille);

/* ---- fake signatures and keys (model.c) -------------------------------- */

/* The public key of simulated identity k. The fake scheme: a signature is
 * SipHash keyed by the first 16 bytes of the public key over the domain,
 * chain and message, zero-padded to 64 bytes. Anyone could compute it; the
 * simulator's convention is that a node signs a message only with its own
 * key. Byzantine forgers break the convention only in ways a real
 * signature would not survive either (their own key under another
 * validator's name, another validator's signature of other bytes, noise). */
void sim_pubkey(uint32_t k, ck_pubkey out);
void sim_sign(const ck_pubkey pk, enum ck_domain dom, const char *chain, const uint8_t *msg,
	      size_t len, ck_sig sig);
void sim_signer(cons_signer *s, const ck_pubkey *pk);
void sim_verifier(cons_verifier *v);
void sim_block_id_fn(cons_block_id_fn *f);
void sim_block_id(const uint8_t *block, size_t len, cons_id out);

/* ---- model ledger (model.c) -------------------------------------------- */

/* A governance operation: remove one key and/or add one (-1 = none). Every
 * node knows the list (as if signed by the governors); a block may carry
 * only the next one, so Byzantine proposers cannot invent changes. */
typedef struct sim_gov {
	int32_t remove_key, add_key;
	uint64_t release_us; /* honest proposers include it from then on */
} sim_gov;

typedef struct sim_model {
	uint64_t height;          /* applied */
	cons_id last_id;
	cons_valset vs_cur;       /* set of height + 1 */
	cons_valset vs_next;      /* set of height + 2 */
	uint32_t gov_next;
	uint64_t now_us;          /* simulated time, for governance releases */
	const sim_gov *gov;
	uint32_t ngov;
	/* DECIDED messages of every applied height, for catch-up */
	uint8_t **decided;
	size_t *decided_len;
	size_t decided_cap;
} sim_model;

void model_init(sim_model *m, const cons_valset *genesis, const sim_gov *gov, uint32_t ngov);
void model_free(sim_model *m);
/* Builds the block at height m->height+1 into w. invalid: a block that
 * check rejects (for Byzantine proposers). salt varies the payload. */
void model_build(const sim_model *m, uint64_t now_us, uint32_t proposer_key, uint32_t round,
		 uint64_t salt, bool invalid, cm_wr *w);
int model_check(const sim_model *m, uint64_t height, const uint8_t *b, size_t len);
/* Applies the block of height m->height+1 with its certificate. */
void model_apply(sim_model *m, const uint8_t *b, size_t len, const cons_cert *cert);
/* The cons_ledger interface over a model (the calls the node wires). */
void model_ledger(cons_ledger *l, sim_model *m);
bool model_valset_has(const cons_valset *vs, uint32_t key);

/* ---- scenario and run (world.c) ---------------------------------------- */

enum sim_byz {
	BYZ_EQUIV_PROPOSAL = 1u << 0, /* two proposals per round */
	BYZ_DOUBLE_VOTE = 1u << 1,    /* conflicting votes to two halves */
	BYZ_INVALID_BLOCK = 1u << 2,  /* proposes (and votes for) invalid blocks */
	BYZ_GARBAGE = 1u << 3,        /* random and bit-flipped messages */
	BYZ_REPLAY = 1u << 4,         /* old messages sent again */
	BYZ_SILENT = 1u << 5,         /* sends nothing */
	BYZ_YES = 1u << 6,            /* prevotes and precommits every proposal */
	BYZ_TWIN = 1u << 7,           /* two nodes with one key */
	BYZ_FORGE = 1u << 8,          /* proposals and votes in honest names, forged */
	BYZ_POL = 1u << 9,            /* proposals with a fake or stale vr */
};

enum sim_scenario {
	/* Everything drawn from the seed: sizes, faults, Byzantine mixes,
	 * crashes, set changes. */
	SIM_RANDOM = 0,
	/* The dangerous schedule for locks, with random variations: one
	 * honest node commits while the others time out locked; Byzantine
	 * proposers then offer them other values with a fake, a stale or no
	 * proof of lock; some restart right after locking; forged votes and
	 * proposals in honest names (lock.c). */
	SIM_LOCK = 1,
};

typedef struct sim_opts {
	uint64_t seed;
	enum sim_scenario scenario;
	bool verbose;
} sim_opts;

/* Runs one seed; 0 if every invariant held, else 1 after printing the
 * failure and the replay command. *trace (if not NULL) gets a hash of
 * every event of the run: two runs of one seed are the same run exactly
 * when their traces are equal. */
int sim_run(const sim_opts *o, uint64_t *trace);

#endif
