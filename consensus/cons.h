/*
 * consensus: Tendermint ("The latest gossip on BFT consensus", Buchman, Kwon,
 * Milosevic, 2018, Algorithm 1) as a pure state machine. The core takes
 * events (a message, a timer, a validity answer, a built block, a restart)
 * and appends actions (persist, send, set a timer, build or check a block,
 * commit) to a caller-owned buffer. It owns no socket, clock, thread or
 * storage: the node drives it over the network, the simulator (tests/sim)
 * drives it over a simulated one. docs/CONSENSUS.md maps every line of the
 * paper to the code and specifies the bytes.
 *
 * Contexts: nothing here is thread-safe; one core is driven by one thread.
 * Every function that is not about one core (codecs, certificate and
 * evidence checks) is reentrant.
 */
#ifndef CARBON_CONS_H
#define CARBON_CONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/cm.h"
#include "common/limits.h"
#include "crypto/ck.h"

#define CONS_WUR __attribute__((warn_unused_result))

/* Error codes of consensus/: -300..-399. Codes for bad peer input are
 * ordinary (count them, drop the input); they never mean the core is hurt. */
#define CONS_ERRORS(X)                                                         \
	X(CONS_E_ARG,          -300, "invalid argument")                         \
	X(CONS_E_NOMEM,        -301, "out of memory")                            \
	X(CONS_E_DECODE,       -302, "malformed consensus message")              \
	X(CONS_E_BADSIG,       -303, "consensus signature does not verify")      \
	X(CONS_E_NOT_VALIDATOR,-304, "signer is not in the validator set")       \
	X(CONS_E_NOT_PROPOSER, -305, "proposal not from the round's proposer")   \
	X(CONS_E_HEIGHT,       -306, "message for another height")               \
	X(CONS_E_ROUND,        -307, "no room kept for that round")              \
	X(CONS_E_DUPLICATE,    -308, "message already known")                    \
	X(CONS_E_EQUIVOCATION, -309, "conflicting message; kept as evidence")    \
	X(CONS_E_CERT_QUORUM,  -310, "certificate has fewer than a quorum")      \
	X(CONS_E_CERT_BLOCK,   -311, "certificate is for another block")         \
	X(CONS_E_CERT_SIGNER,  -312, "certificate signer unknown or repeated")   \
	X(CONS_E_STATE,        -313, "event not expected in this state")         \
	X(CONS_E_EVIDENCE,     -314, "evidence does not show a conflict")        \
	X(CONS_E_BLOCK_ID,     -315, "block bytes do not hash to the signed id") \
	X(CONS_E_STALE,        -316, "stale event ignored")                    \
	X(CONS_E_SAFETY,       -317, "safety state is inconsistent")

enum cons_err {
#define CONS_ENUM(name, val, msg) name = val,
	CONS_ERRORS(CONS_ENUM)
#undef CONS_ENUM
};

/* Describes a consensus code; defers to ck_strerror() for other codes. */
const char *cons_strerror(int rc);

/* ---- values, validators ------------------------------------------------ */

#define CONS_ID_BYTES 32u
typedef uint8_t cons_id[CONS_ID_BYTES];

/* Steps of a round, in order. Also the step a signature is for: the
 * proposal is signed in step propose. Wire values. */
enum cons_step {
	CONS_STEP_PROPOSE = 0,
	CONS_STEP_PREVOTE = 1,
	CONS_STEP_PRECOMMIT = 2,
};

/* The validators of one height: n keys sorted ascending (memcmp), no
 * duplicates, equal voting power. A validator's index is its position. */
typedef struct cons_valset {
	uint32_t n;
	ck_pubkey keys[LIM_VALIDATORS_MAX];
} cons_valset;

/* 0 if vs is well-formed (1 <= n <= LIM_VALIDATORS_MAX, strictly sorted). */
CONS_WUR int cons_valset_check(const cons_valset *vs);
/* Index of pk in vs, or -1. */
int cons_valset_index(const cons_valset *vs, const ck_pubkey pk);
/* Sorts keys and checks the set (CONS_E_ARG on a duplicate or bad n). */
CONS_WUR int cons_valset_sort(cons_valset *vs);
/* Canonical bytes of a set ([n keys as bin32]) and its hash
 * H("valset", bytes), which block headers carry for the current and the
 * next set. */
void cons_valset_encode(const cons_valset *vs, cm_wr *w);
void cons_valset_hash(const cons_valset *vs, ck_hash out);

/* Quorum of n equal-power validators: floor(2n/3)+1, i.e. more than two
 * thirds (n=1 -> 1, n=4 -> 3, n=7 -> 5). */
uint32_t cons_quorum(uint32_t n);
/* f+1 with f = floor((n-1)/3): that many validators include an honest one
 * (the paper's round-skip threshold). */
uint32_t cons_honest_min(uint32_t n);
/* Proposer of (height, round): round-robin, index (height + round) mod n. */
uint32_t cons_proposer(const cons_valset *vs, uint64_t height, uint32_t round);

/* ---- injected crypto and block ids ------------------------------------- */

/* Signs msg in domain dom for chain_id with the validator's key. The node
 * wraps ck_sign and its keystore key (cons_ck_signer); the simulator plugs a
 * fast deterministic scheme. Must not fail. */
typedef struct cons_signer {
	void *ctx;
	void (*sign)(void *ctx, enum ck_domain dom, const char *chain_id,
		     const uint8_t *msg, size_t len, ck_sig sig_out);
} cons_signer;

/* 0 if sig is pk's signature, else non-zero (cons_ck_verifier wraps
 * ck_verify). */
typedef struct cons_verifier {
	void *ctx;
	int (*verify)(void *ctx, const ck_pubkey pk, enum ck_domain dom,
		      const char *chain_id, const uint8_t *msg, size_t len,
		      const ck_sig sig);
} cons_verifier;

/* The id votes sign for a block: a pure function of the bytes (the node: the
 * header hash; the simulator: its model ledger's hash). */
typedef struct cons_block_id_fn {
	void *ctx;
	void (*id)(void *ctx, const uint8_t *block, size_t len, cons_id out);
} cons_block_id_fn;

/* Real Ed25519 through crypto/: a signer over a secret key the caller keeps
 * alive (sodium_malloc'd), and a verifier over ck_verify. */
void cons_ck_signer(cons_signer *s, const ck_seckey *sk);
void cons_ck_verifier(cons_verifier *v);

/* ---- messages ---------------------------------------------------------- */

/* Wire kinds (docs/CONSENSUS.md, "Wire format"). */
enum cons_msg_kind {
	CONS_MSG_PROPOSAL = 1,
	CONS_MSG_PREVOTE = 2,
	CONS_MSG_PRECOMMIT = 3,
	CONS_MSG_DECIDED = 4,   /* certificate + block: catch-up */
	CONS_MSG_STATUS = 5,    /* "I am at height h, round r": unsigned, asks for help */
};

typedef struct cons_proposal {
	uint64_t height;
	uint32_t round;
	int32_t pol_round;      /* the paper's validRound vr; -1 = none */
	cons_id id;
	uint32_t proposer;      /* index in the height's validator set */
	ck_sig sig;
	const uint8_t *block;   /* not owned: points into the decoded input */
	uint32_t block_len;
} cons_proposal;

typedef struct cons_vote {
	uint8_t step;           /* CONS_STEP_PREVOTE or CONS_STEP_PRECOMMIT */
	uint64_t height;
	uint32_t round;
	bool has_id;            /* false: a vote for nil */
	cons_id id;
	uint32_t validator;
	ck_sig sig;
} cons_vote;

/* Commit certificate: precommits of one round for one block, at least a
 * quorum of the height's validator set, indices strictly increasing. */
typedef struct cons_cert {
	uint64_t height;
	uint32_t round;
	cons_id id;
	uint32_t n;
	uint32_t idx[LIM_VALIDATORS_MAX];
	ck_sig sig[LIM_VALIDATORS_MAX];
} cons_cert;

typedef struct cons_msg {
	enum cons_msg_kind kind;
	union {
		cons_proposal proposal;
		cons_vote vote;         /* PREVOTE, PRECOMMIT (vote.step agrees) */
		struct {
			cons_cert cert;
			const uint8_t *block; /* not owned */
			uint32_t block_len;
		} decided;
		struct {
			uint64_t height;
			uint32_t round;
		} status;
	} u;
} cons_msg;

/* Bytes a proposal signs: [height, round, pol_round+1, id] (domain
 * CK_DOM_PROPOSAL). */
#define CONS_SIGN_BYTES_MAX 64u
size_t cons_proposal_sign_bytes(uint8_t out[CONS_SIGN_BYTES_MAX], uint64_t height,
				uint32_t round, int32_t pol_round, const cons_id id);
/* Bytes a vote signs: [height, round, id or nil] (domain CK_DOM_PREVOTE or
 * CK_DOM_PRECOMMIT as the step says). */
size_t cons_vote_sign_bytes(uint8_t out[CONS_SIGN_BYTES_MAX], uint64_t height,
			    uint32_t round, bool has_id, const cons_id id);
/* The signature domain of a step. */
enum ck_domain cons_step_domain(enum cons_step step);

/* Appends the canonical encoding of m to w. Asserts m is well-formed (it is
 * ours). Out-of-memory is w's sticky error. */
void cons_msg_encode(const cons_msg *m, cm_wr *w);
/* Strict decode of one message: bounded, canonical, no trailing bytes.
 * Block pointers point into p. CONS_E_DECODE (the cm_ code is not kept: a
 * peer's bad bytes are one kind of failure). Signatures are NOT checked. */
CONS_WUR int cons_msg_decode(cons_msg *m, const uint8_t *p, size_t len);

/* ---- certificates ------------------------------------------------------ */

void cons_cert_encode(const cons_cert *c, cm_wr *w);
CONS_WUR int cons_cert_decode(cons_cert *c, const uint8_t *p, size_t len);
/* Reads a certificate as one value of a larger message. */
CONS_WUR int cons_cert_read(cons_cert *c, cm_rd *r);
/* 0 if cert proves that block id was decided at cert->height by vs:
 * cert->id equals id, indices strictly increasing and inside vs, at least
 * cons_quorum(vs->n) precommit signatures that verify with v.
 * CONS_E_CERT_BLOCK, CONS_E_CERT_SIGNER, CONS_E_CERT_QUORUM, CONS_E_BADSIG. */
CONS_WUR int cons_cert_check(const cons_cert *cert, const cons_valset *vs,
			     const char *chain_id, const cons_id id,
			     const cons_verifier *v);
/* cons_cert_check with real Ed25519 (ck_verify): what wallets, banks and the
 * node use. */
CONS_WUR int cons_cert_verify(const cons_cert *cert, const cons_valset *vs,
			      const char *chain_id, const cons_id id);
/* Encodes a DECIDED message (certificate + block) for a lagging peer. */
void cons_decided_encode(const cons_cert *cert, const uint8_t *block, size_t len, cm_wr *w);

/* ---- evidence ---------------------------------------------------------- */

/* Two messages one validator signed for the same height, round and step
 * that differ. For votes pol_round is -1 on both sides. */
typedef struct cons_evidence_side {
	int32_t pol_round;
	bool has_id;
	cons_id id;
	ck_sig sig;
} cons_evidence_side;

typedef struct cons_evidence {
	uint8_t step;           /* enum cons_step */
	uint64_t height;
	uint32_t round;
	uint32_t validator;
	cons_evidence_side a, b; /* a's sign bytes sort before b's */
} cons_evidence;

void cons_evidence_encode(const cons_evidence *e, cm_wr *w);
CONS_WUR int cons_evidence_decode(cons_evidence *e, const uint8_t *p, size_t len);
/* 0 if both sides are valid signatures of the validator (index into vs, the
 * set of e->height) over different sign bytes. CONS_E_EVIDENCE,
 * CONS_E_NOT_VALIDATOR, CONS_E_BADSIG. */
CONS_WUR int cons_evidence_check(const cons_evidence *e, const cons_valset *vs,
				 const char *chain_id, const cons_verifier *v);
/* cons_evidence_check with real Ed25519. */
CONS_WUR int cons_evidence_verify(const cons_evidence *e, const cons_valset *vs,
				  const char *chain_id);

/* ---- safety state ------------------------------------------------------ */

/* One message this validator signed; height 0 means none (heights start at
 * 1). pol_round is -1 for votes. */
typedef struct cons_signed {
	uint64_t height;
	uint32_t round;
	int32_t pol_round;
	bool has_id;
	cons_id id;
	ck_sig sig;
} cons_signed;

/* What must survive a crash for the validator never to sign two
 * conflicting messages and never to unlock wrongly: the position in the
 * protocol, the lock and valid value (ids: the bytes are not needed for
 * safety) and the last signed message of each step. The core never signs at
 * a (height, round, step) at or below the highest of last[] unless it is
 * the identical message (then it re-sends the stored signature). */
typedef struct cons_safety {
	uint64_t height;
	uint32_t round;
	uint8_t step;
	int32_t locked_round;   /* -1 = none */
	cons_id locked_id;
	int32_t valid_round;    /* -1 = none */
	cons_id valid_id;
	cons_signed last[3];    /* by enum cons_step */
} cons_safety;

void cons_safety_encode(const cons_safety *s, cm_wr *w);
/* Strict decode (CONS_E_DECODE), then cons_safety_check (CONS_E_SAFETY). */
CONS_WUR int cons_safety_decode(cons_safety *s, const uint8_t *p, size_t len);
/* 0 if s is a state the core can have written, else CONS_E_SAFETY: a
 * height >= 1, a step and rounds in range; the lock and validValue at
 * rounds <= round; every last signed message at or below the position
 * (height, round, step), with pol_round < its round for the proposal and
 * -1 for votes. A store whose checksum matched but whose record breaks
 * these is corrupt (or written by a bug), and resuming from it could
 * crash the core or silence it: the driver must stop instead. */
CONS_WUR int cons_safety_check(const cons_safety *s);

/* ---- events and actions ------------------------------------------------ */

enum cons_timer {
	CONS_TIMER_PROPOSE = 1,
	CONS_TIMER_PREVOTE = 2,
	CONS_TIMER_PRECOMMIT = 3,
	CONS_TIMER_GOSSIP = 4,
};

enum cons_event_kind {
	/* Load the persisted safety state (and validValue's bytes, if any
	 * were persisted with it). Only on a new core, before the first
	 * START_HEIGHT. A state that fails cons_safety_check is refused with
	 * CONS_E_SAFETY and the core then refuses every event (CONS_E_STATE,
	 * no actions): it never runs without its signing watermark. */
	CONS_EV_RESTART = 1,
	/* Start (or, after RESTART, resume) height with its validator set,
	 * taken from the ledger after height-1 is applied. Heights increase. */
	CONS_EV_START_HEIGHT = 2,
	/* Bytes from a peer; peer < LIM_PEERS_MAX is the driver's name for it
	 * (used only to address replies). */
	CONS_EV_MESSAGE = 3,
	/* A timer set by CONS_ACT_SET_TIMER fired (same fields). */
	CONS_EV_TIMEOUT = 4,
	/* Answer to CONS_ACT_CHECK_BLOCK. */
	CONS_EV_BLOCK_CHECKED = 5,
	/* Answer to CONS_ACT_BUILD_BLOCK: the block to propose. The core takes
	 * it as valid (the driver built it from checked transactions). */
	CONS_EV_BLOCK_BUILT = 6,
};

typedef struct cons_event {
	enum cons_event_kind kind;
	union {
		struct {
			const cons_safety *safety;
			const uint8_t *valid_block; /* NULL if none */
			size_t valid_len;
			const cons_cert *valid_pol; /* NULL if none */
		} restart;
		struct { uint64_t height; const cons_valset *valset; } start;
		struct { uint32_t peer; const uint8_t *bytes; size_t len; } message;
		struct { enum cons_timer timer; uint64_t height; uint32_t round; } timeout;
		struct { uint64_t height; cons_id id; bool valid; } checked;
		struct { uint64_t height; uint32_t round; const uint8_t *block; size_t len; } built;
	} u;
} cons_event;

enum cons_action_kind {
	/* Make .persist.safety durable, with .persist.valid_block (the bytes
	 * of validValue) and .persist.valid_pol, its proof of lock: the
	 * quorum of prevotes of safety.valid_round for it, in certificate
	 * form (prevote signatures, not precommits), which a proposal of
	 * validValue needs for the others to accept it (line 28). Both are
	 * NULL when validValue did not change since the previous PERSIST
	 * (keep what was stored) or when safety.valid_round is -1 (none).
	 * A BARRIER: every action after it in this buffer, and every action
	 * of later cons_step calls, may only be carried out once this state
	 * is durable (a vote sent before its safety state is stored could be
	 * contradicted after a crash). The bytes matter for liveness only: a
	 * validator locked on a value must be able to propose it again after
	 * a restart, or a quorum of locked validators could wait forever. */
	CONS_ACT_PERSIST = 1,
	/* Send .msg to every peer (the core has already processed it itself). */
	CONS_ACT_BROADCAST = 2,
	/* Send .msg to .msg.peer. */
	CONS_ACT_SEND = 3,
	/* Fire CONS_EV_TIMEOUT with these fields after delay_ms. Timers are
	 * never cancelled: stale ones are ignored. */
	CONS_ACT_SET_TIMER = 4,
	/* Build a block for (height, round) from the mempool; answer with
	 * CONS_EV_BLOCK_BUILT (or never, if there is nothing: the propose
	 * timeout then moves on). */
	CONS_ACT_BUILD_BLOCK = 5,
	/* Is .check.block (id .check.id) a valid block at .check.height?
	 * Answer with CONS_EV_BLOCK_CHECKED; may be asynchronous. */
	CONS_ACT_CHECK_BLOCK = 6,
	/* Height .commit.height is decided: apply the block, store it with
	 * .commit.cert, then send CONS_EV_START_HEIGHT for the next height.
	 * .commit.from_cert: decided by a certificate received whole (the
	 * node is catching up), so a driver that paces heights (CometBFT's
	 * timeout_commit) should start the next one at once. */
	CONS_ACT_COMMIT = 7,
	/* A peer is behind: send it the stored block and certificate of
	 * .decided.height (cons_decided_encode), if the driver has them. */
	CONS_ACT_SEND_DECIDED = 8,
};

typedef struct cons_action {
	enum cons_action_kind kind;
	union {
		struct {
			cons_safety safety;
			const uint8_t *valid_block;
			size_t valid_len;
			const cons_cert *valid_pol;
		} persist;
		struct { uint32_t peer; const uint8_t *bytes; size_t len; } msg;
		struct { enum cons_timer timer; uint64_t height; uint32_t round; uint32_t delay_ms; } timer;
		struct { uint64_t height; uint32_t round; } build;
		struct { uint64_t height; cons_id id; const uint8_t *block; size_t len; } check;
		struct {
			uint64_t height;
			cons_id id;
			const uint8_t *block;
			size_t len;
			const cons_cert *cert;
			bool from_cert;
		} commit;
		struct { uint32_t peer; uint64_t height; } decided;
	} u;
} cons_action;

/* Caller-owned output of one step. Pointers inside actions point into the
 * core and stay valid until the next cons_step or cons_free on that core:
 * a driver that acts later (after a persist completes, on another thread)
 * copies what it keeps. */
typedef struct cons_actions {
	uint32_t n;
	cons_action a[LIM_CONS_ACTIONS_MAX];
} cons_actions;

/* ---- the core ---------------------------------------------------------- */

/* Timeouts of round r: min(base + r * delta, cap) per step (the paper's
 * timeoutPropose(r) etc.), and the period of the gossip re-send. */
typedef struct cons_timeouts {
	uint32_t propose_ms, propose_delta_ms;
	uint32_t prevote_ms, prevote_delta_ms;
	uint32_t precommit_ms, precommit_delta_ms;
	uint32_t cap_ms;
	uint32_t gossip_ms;
} cons_timeouts;

typedef struct cons_config {
	const char *chain_id;     /* copied; at most LIM_CHAIN_ID_BYTES_MAX */
	ck_pubkey self;           /* own key; may be absent from every set */
	cons_signer signer;
	cons_verifier verifier;
	cons_block_id_fn block_id;
	cons_timeouts timeouts;
} cons_config;

typedef struct cons cons;

/* Fills t with the defaults the node uses (docs/CONSENSUS.md). */
void cons_timeouts_default(cons_timeouts *t);
/* Allocates a core (all its memory, bounded by the limits, is taken here).
 * CONS_E_ARG on a bad config, CONS_E_NOMEM. The core then waits for
 * CONS_EV_RESTART or CONS_EV_START_HEIGHT. */
CONS_WUR int cons_new(cons **out, const cons_config *cfg);
void cons_free(cons *c);

/* Processes one event; out is reset and filled with the actions to carry
 * out in order (see CONS_ACT_PERSIST for the barrier). Returns 0, or a
 * negative code saying why the event was dropped (bad message, stale
 * timer, ...): the actions in out are valid in every case. Asserts on a
 * broken invariant of its own. */
int cons_step(cons *c, const cons_event *ev, cons_actions *out);

/* Current height (0 before the first START_HEIGHT), round and step. */
uint64_t cons_height(const cons *c);
uint32_t cons_round(const cons *c);
enum cons_step cons_current_step(const cons *c);
/* Copies the current safety state. */
void cons_safety_get(const cons *c, cons_safety *out);

/* Evidence of equivocation seen so far, oldest first; the store keeps the
 * last LIM_CONS_EVIDENCE_MAX. */
uint32_t cons_evidence_count(const cons *c);
CONS_WUR int cons_evidence_get(const cons *c, uint32_t i, cons_evidence *out);

/* Diagnostic counters: inputs dropped by reason. */
typedef struct cons_stats {
	uint64_t msgs_in, msgs_bad, sigs_checked, votes_dup, evidence;
} cons_stats;
void cons_stats_get(const cons *c, cons_stats *out);

/* ---- ledger-facing calls ----------------------------------------------- */

/* What a driver needs from its ledger to carry out the actions above. The
 * node wires the real ledger; the simulator a model one. The core itself
 * never calls these: it asks through actions, so the answers may come from
 * other threads. Every function returns 0 or a negative code of the
 * implementing module. */
typedef struct cons_ledger {
	void *ctx;
	/* CONS_ACT_BUILD_BLOCK: a block at height from the given transactions
	 * (the mempool's pick, already admitted), appended to out. */
	int (*build_block)(void *ctx, uint64_t height, const uint8_t *const *txs,
			   const size_t *tx_lens, size_t ntx, cm_wr *out);
	/* CONS_ACT_CHECK_BLOCK: 0 if block is valid at height on top of the
	 * applied chain: decoding, header fields, and every transaction's
	 * signature, each verified at most once per node (a cache keyed by
	 * transaction hash is shared with mempool admission). */
	int (*check_block)(void *ctx, uint64_t height, const uint8_t *block, size_t len);
	/* CONS_ACT_COMMIT: apply the decided block durably and store the
	 * certificate beside it. A block with a valid certificate is applied
	 * even if this node never checked it (catch-up): a quorum of the set,
	 * hence an honest validator, did. */
	int (*apply_block)(void *ctx, uint64_t height, const uint8_t *block, size_t len,
			   const cons_cert *cert);
	/* The validator set of height (known up to the applied height + 2:
	 * a change made in block H takes effect at H+2). */
	int (*valset)(void *ctx, uint64_t height, cons_valset *out);
	/* CONS_ACT_SEND_DECIDED: the stored block and certificate of a height
	 * (the pointer stays valid until the next call). */
	int (*decided)(void *ctx, uint64_t height, const uint8_t **block, size_t *len,
		       cons_cert *cert);
} cons_ledger;

#endif
