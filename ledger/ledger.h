/*
 * ledger: the replicated state machine of Carbon Ledger. Transactions and
 * blocks with their canonical codec, the methodology that turns trips into
 * grams of CO2e, the business rules, and the consensus state in LMDB with
 * an authenticated state root. Integers only, no clock: block time comes in
 * the header, everything else from the state.
 *
 * Ownership: a decoded object (ledger_tx, ledger_block, ledger_genesis) is
 * owned by the caller and freed with its _free function; pointers inside it
 * never point into the input buffer. A ledger handle is single-writer: one
 * thread applies blocks; read-only queries may run from other threads
 * (LMDB read transactions, MDB_NOTLS).
 *
 * Execution is deferred (as CometBFT's app hash): header h carries the state
 * root and the results root *after block h-1*. Validating a proposal
 * therefore needs no execution, only decoding, signatures and nonce checks
 * against the state after h-1 (docs/PROTOCOL.md, "Blocks").
 */
#ifndef CARBON_LEDGER_H
#define CARBON_LEDGER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/cm.h"
#include "common/limits.h"
#include "crypto/ck.h"

#define LEDGER_WUR __attribute__((warn_unused_result))

#define LEDGER_TX_VERSION     1u
#define LEDGER_HEADER_VERSION 1u
#define LEDGER_GRAMS_PER_COIN 1000u    /* 1 carbon coin = 1 kg CO2e */
/* A methodology version may widen the claim window by at most this much
 * over any version that may be in effect before it (the pruning margin). */
#define LEDGER_CLAIM_WIDEN_MAX_S 86400u

/* ---- error codes (-200..-299): the call failed, nothing was changed ---- */
#define LEDGER_ERRORS(X)                                                       \
	X(LEDGER_E_CHAIN_ID,     -200, "wrong chain id")                          \
	X(LEDGER_E_VERSION,      -201, "unsupported version")                      \
	X(LEDGER_E_KIND,         -202, "unknown transaction kind")                 \
	X(LEDGER_E_BADSIG,       -203, "bad signature")                            \
	X(LEDGER_E_NONCE,        -204, "nonce outside the window")                 \
	X(LEDGER_E_FIELD,        -205, "field value not allowed")                  \
	X(LEDGER_E_BLOCK,        -206, "block is invalid")                         \
	X(LEDGER_E_HEIGHT,       -207, "block height is not the next one")         \
	X(LEDGER_E_PARENT,       -208, "parent hash does not match")               \
	X(LEDGER_E_TIME,         -209, "block time not after the parent's")        \
	X(LEDGER_E_ROOT,         -210, "header root does not match the state")     \
	X(LEDGER_E_VALSET,       -211, "validator set hash does not match")        \
	X(LEDGER_E_DB,           -212, "database error")                           \
	X(LEDGER_E_MAP_FULL,     -213, "database map is full")                     \
	X(LEDGER_E_NOTFOUND,     -214, "not found")                                \
	X(LEDGER_E_GENESIS,      -215, "genesis file is invalid")                  \
	X(LEDGER_E_PROOF,        -216, "proof does not verify")                    \
	X(LEDGER_E_AUDIT,        -217, "state audit found a violated invariant")   \
	X(LEDGER_E_NOMEM,        -218, "out of memory")                            \
	X(LEDGER_E_MISMATCH,     -219, "data directory belongs to another chain")  \
	X(LEDGER_E_TXS_ROOT,     -220, "transactions root does not match")        \
	X(LEDGER_E_LAYOUT,       -221, "data directory has another layout version")

enum ledger_err {
#define LEDGER_ENUM(name, val, msg) name = val,
	LEDGER_ERRORS(LEDGER_ENUM)
#undef LEDGER_ENUM
};
/* Describes ledger codes; defers to ck_strerror()/cm_strerror(). */
const char *ledger_strerror(int rc);

/* ---- result codes: recorded per transaction and per trip in a block ---- */
/* A well-formed, correctly signed transaction that breaks a business rule
 * still consumes its nonce and is recorded with one of these (wire
 * constants, never renumber). */
#define LEDGER_RESULTS(X)                                                   \
	X(LEDGER_R_OK,                 0, "ok")                                \
	X(LEDGER_R_PARTIAL,            1, "some trips of the batch rejected")  \
	X(LEDGER_R_INSUFFICIENT,       2, "insufficient balance")              \
	X(LEDGER_R_ROLE,               3, "sender lacks the role")             \
	X(LEDGER_R_MODE_NOT_ALLOWED,   4, "operator may not issue this mode")  \
	X(LEDGER_R_DUP_TRIP,           5, "trip id already credited")          \
	X(LEDGER_R_OVERLAP,            6, "citizen already credited for an overlapping trip") \
	X(LEDGER_R_CAP,                7, "citizen's daily cap reached")       \
	X(LEDGER_R_MIN_DISTANCE,       8, "below the mode's minimum distance") \
	X(LEDGER_R_WINDOW,             9, "trip outside the claim window")     \
	X(LEDGER_R_BAD_TRIP,          10, "trip times or distance implausible") \
	X(LEDGER_R_NO_OFFER,          11, "offer unknown or withdrawn")        \
	X(LEDGER_R_STOCK,             12, "offer out of stock")                \
	X(LEDGER_R_PRICE,             13, "offer price above the buyer's limit") \
	X(LEDGER_R_NO_RECEIPT,        14, "receipt unknown")                   \
	X(LEDGER_R_REFUNDED,          15, "receipt already refunded")          \
	X(LEDGER_R_NOT_MERCHANT,      16, "not the merchant of this offer or receipt") \
	X(LEDGER_R_OFFER_EXISTS,      17, "offer id already used")             \
	X(LEDGER_R_THRESHOLD,         18, "governor threshold not met")        \
	X(LEDGER_R_MEMBER,            19, "member unknown or already exists")  \
	X(LEDGER_R_KEY,               20, "key unknown, revoked or already registered") \
	X(LEDGER_R_METHODOLOGY,       21, "methodology change not allowed")    \
	X(LEDGER_R_SELF,              22, "sender and receiver are the same")  \
	X(LEDGER_R_ZERO,              23, "amount must be positive")           \
	X(LEDGER_R_VALSET,            24, "validator set change not allowed")  \
	X(LEDGER_R_OVERFLOW,          25, "amount overflows")

enum ledger_result {
#define LEDGER_RENUM(name, val, msg) name = val,
	LEDGER_RESULTS(LEDGER_RENUM)
#undef LEDGER_RENUM
};
const char *ledger_result_str(int result);

/* ---- roles and modes --------------------------------------------------- */
enum ledger_role {
	LEDGER_ROLE_VALIDATOR = 1u << 0,
	LEDGER_ROLE_ISSUER = 1u << 1,    /* transport operator: issues credits */
	LEDGER_ROLE_MERCHANT = 1u << 2,  /* green store */
	LEDGER_ROLE_BANK = 1u << 3,
	LEDGER_ROLE_GOVERNOR = 1u << 4,  /* city: signs governance */
};
#define LEDGER_ROLES_ALL 0x1fu

/* Transport modes (wire constants). An issuer's allowed modes are a bit
 * mask (1u << mode). */
enum ledger_mode {
	LEDGER_MODE_WALK = 1,
	LEDGER_MODE_CYCLE = 2,   /* own or shared bicycle */
	LEDGER_MODE_BUS = 3,
	LEDGER_MODE_METRO = 4,
	LEDGER_MODE_RAIL = 5,    /* suburban rail */
	LEDGER_MODE_CARPOOL = 6,
};
#define LEDGER_MODE_MAX 6u
const char *ledger_role_name(uint32_t role);    /* one role bit: "validator", ...; NULL otherwise */
const char *ledger_mode_name(unsigned mode);    /* "walk", ...; NULL if none */
LEDGER_WUR int ledger_mode_parse(const char *name, unsigned *mode);

/* ---- methodology ------------------------------------------------------- */

/* Per-mode parameters of one methodology version; all integers. The credit
 * of a trip is floor(distance_m * reduction_mg_per_km / 1e6) grams, where
 * reduction_mg_per_km = baseline - mode factor (docs/METHODOLOGY.md), then
 * limited by the mode's and the citizen's daily caps. */
typedef struct ledger_mode_params {
	bool enabled;
	uint32_t reduction_mg_per_km;  /* baseline minus mode emissions */
	uint32_t min_distance_m;
	uint32_t max_speed_kmh;        /* plausibility: faster is rejected */
	uint32_t daily_cap_g;          /* per citizen per mode per day; 0 = none */
} ledger_mode_params;

typedef struct ledger_methodology {
	uint32_t version;
	uint64_t effective_height;     /* first height it applies to */
	ledger_mode_params mode[LEDGER_MODE_MAX + 1]; /* index 0 unused */
	uint32_t daily_cap_g;          /* per citizen per day, all modes */
	uint32_t claim_before_s;       /* trips may end this long before block time */
	uint32_t claim_after_s;        /* ... and this long after (clock skew) */
} ledger_methodology;

/* Fills m with methodology version 1 as docs/METHODOLOGY.md derives it from
 * published sources: the one place in code where the default factors live.
 * carbon-genesis starts from it and applies a description's overrides. */
void ledger_methodology_default(ledger_methodology *m);
/* Checks that every parameter of m is inside the bounds docs/METHODOLOGY.md
 * lists ("Bounds"); for genesis and for a governance change (whose version
 * and effective height rules against the current state are the caller's).
 * 0, or LEDGER_E_FIELD with a message naming the field (e.g.
 * "modes.walk.max_speed_kmh: ...") in err (size errlen; err may be NULL). */
LEDGER_WUR int ledger_methodology_check(const ledger_methodology *m, char *err, size_t errlen);

/* ---- transactions ------------------------------------------------------ */

enum ledger_tx_kind {
	LEDGER_TX_ISSUE = 1,
	LEDGER_TX_TRANSFER = 2,
	LEDGER_TX_REDEEM = 3,
	LEDGER_TX_REFUND = 4,
	LEDGER_TX_OFFER = 5,
	LEDGER_TX_GOVERN = 6,
};

typedef struct ledger_trip {
	ck_hash trip_id;          /* derived by ledger_trip_id() */
	ck_pubkey citizen;
	uint8_t mode;
	uint32_t distance_m;
	uint64_t start_s;         /* Unix seconds, UTC */
	uint64_t end_s;
} ledger_trip;

/* The trip id an operator derives from its own record: H("trip",
 * [issuer member id, record reference string]) (docs/PROTOCOL.md). The same
 * record always gives the same id, so re-sending a file credits nothing
 * twice. ref is at most LIM_NAME_BYTES_MAX bytes. */
void ledger_trip_id(ck_hash out, uint32_t issuer_member_id, const char *ref, size_t reflen);

enum ledger_offer_action { LEDGER_OFFER_PUBLISH = 1, LEDGER_OFFER_UPDATE = 2, LEDGER_OFFER_WITHDRAW = 3 };

enum ledger_govern_action {
	LEDGER_GOV_ADD_MEMBER = 1,     /* name, roles, modes, keys */
	LEDGER_GOV_SET_ROLES = 2,      /* member_id, roles, modes */
	LEDGER_GOV_ADD_KEY = 3,        /* member_id, key */
	LEDGER_GOV_REVOKE_KEY = 4,     /* member_id, key */
	LEDGER_GOV_REMOVE_MEMBER = 5,  /* member_id */
	LEDGER_GOV_METHODOLOGY = 6,    /* methodology (version, effective height, params) */
	LEDGER_GOV_CLAWBACK = 7,       /* account, amount_g, trip_id, reason */
	LEDGER_GOV_RECOVER = 8,        /* old account, new account, reason */
};

typedef struct ledger_approval {
	ck_pubkey key;            /* a governor member's key */
	ck_sig sig;               /* over the tx signing bytes, CK_DOM_GOVERN */
} ledger_approval;

typedef struct ledger_govern {
	uint8_t action;
	uint32_t member_id;
	char name[LIM_NAME_BYTES_MAX + 1];
	uint32_t roles;
	uint32_t modes;               /* bit mask 1u << mode */
	uint32_t nkeys;
	ck_pubkey keys[LIM_MEMBER_KEYS_MAX];
	ck_pubkey account;            /* clawback target, or recover: old */
	ck_pubkey new_account;        /* recover: new */
	uint64_t amount_g;
	ck_hash trip_id;              /* clawback: the fraudulent trip (or zero) */
	char reason[LIM_TEXT_BYTES_MAX + 1];
	ledger_methodology methodology;
} ledger_govern;

typedef struct ledger_tx {
	uint32_t version;
	char chain_id[LIM_CHAIN_ID_BYTES_MAX + 1];
	uint8_t kind;
	ck_pubkey sender;
	uint64_t nonce;               /* per sender key, starts at 0 */
	union {
		struct { uint32_t ntrips; ledger_trip *trips; } issue;
		struct { ck_pubkey to; uint64_t amount_g; } transfer;
		struct { uint64_t offer_id; uint64_t max_price_g; } redeem;
		struct { ck_hash receipt_id; } refund;
		struct {
			uint8_t action;
			uint64_t offer_id;
			uint64_t price_g;
			uint32_t stock;
			char name[LIM_NAME_BYTES_MAX + 1];
			char description[LIM_TEXT_BYTES_MAX + 1];
		} offer;
		ledger_govern govern;
	} u;
	ck_sig sig;                   /* sender's, CK_DOM_TX over the signing bytes */
	uint32_t napprovals;          /* govern only; 0 otherwise */
	ledger_approval approvals[LIM_TX_SIGS_MAX];
} ledger_tx;

/* Allocates a zeroed transaction for the given kind; issue transactions get
 * room for ntrips trips. The caller frees it with ledger_tx_free(). */
LEDGER_WUR int ledger_tx_new(ledger_tx **out, uint8_t kind, uint32_t ntrips);
void ledger_tx_free(ledger_tx *tx);

/* Canonical bytes of the whole transaction into w (docs/PROTOCOL.md). */
void ledger_tx_encode(const ledger_tx *tx, cm_wr *w);
/* Bytes the sender signs (everything but sig and approvals). */
void ledger_tx_signing_bytes(const ledger_tx *tx, cm_wr *w);
/* Bytes the governors sign: the transaction's signing bytes (they name the
 * sender key and nonce, which are used once, so approvals cannot be
 * replayed onto another transaction), in the GOVERN signature domain
 * (docs/PROTOCOL.md section 2). */
void ledger_govern_signing_bytes(const ledger_tx *tx, cm_wr *w);
/* Strict decode: canonical, bounded, no trailing bytes, chain id must equal
 * chain_id (LEDGER_E_CHAIN_ID). Does NOT verify signatures. */
LEDGER_WUR int ledger_tx_decode(const uint8_t *buf, size_t len, const char *chain_id,
				ledger_tx **out);
/* H("tx", canonical bytes): the transaction's id; receipts use it too. */
void ledger_tx_hash(ck_hash out, const uint8_t *buf, size_t len);
/* Signs tx as sender (sets sig); govern approvals are added with
 * ledger_tx_approve(). */
void ledger_tx_sign(ledger_tx *tx, const ck_seckey sk);
LEDGER_WUR int ledger_tx_approve(ledger_tx *tx, const ck_seckey sk);
/* Verifies the sender's signature and every approval signature (not
 * whether the approvers are governors: that is a state rule). */
LEDGER_WUR int ledger_tx_verify_sigs(const ledger_tx *tx);

/* ---- blocks ------------------------------------------------------------ */

typedef struct ledger_header {
	uint32_t version;
	char chain_id[LIM_CHAIN_ID_BYTES_MAX + 1];
	uint64_t height;              /* genesis state is height 0; first block 1 */
	uint64_t time_ms;             /* proposer's time, > parent's */
	ck_hash parent_hash;          /* header hash of height-1 (zero for 1) */
	ck_hash txs_root;             /* Merkle root over tx hashes */
	ck_hash state_root;           /* state after block height-1 */
	ck_hash results_root;         /* results of block height-1 */
	ck_hash valset_hash;          /* validators of this height */
	ck_hash next_valset_hash;     /* validators of height+1 */
	ck_pubkey proposer;
} ledger_header;

/* A block owns copies of its transactions' canonical bytes; decoded
 * transactions are produced on demand by ledger_tx_decode. */
typedef struct ledger_block {
	ledger_header header;
	uint32_t ntxs;
	uint8_t **txs;                /* canonical bytes of each transaction */
	uint32_t *tx_lens;
} ledger_block;

void ledger_header_encode(const ledger_header *h, cm_wr *w);
LEDGER_WUR int ledger_header_decode(cm_rd *r, const char *chain_id, ledger_header *h);
/* The block id: H("header", canonical header bytes). */
void ledger_header_hash(ck_hash out, const ledger_header *h);
/* Block = [header, [tx bytes...]] (each tx as bin of its canonical bytes). */
void ledger_block_encode(const ledger_block *b, cm_wr *w);
LEDGER_WUR int ledger_block_decode(const uint8_t *buf, size_t len, const char *chain_id,
				   ledger_block **out);
void ledger_block_free(ledger_block *b);
/* Merkle root (crypto/ck.h) over H("tx", bytes) of each transaction. */
void ledger_block_txs_root(const ledger_block *b, ck_hash out);

/* Result of one transaction in an applied block. */
typedef struct ledger_tx_result {
	uint8_t code;                 /* enum ledger_result */
	uint64_t credited_g;          /* issue: grams credited in total */
	uint32_t ntrips;              /* issue: per-trip codes follow */
	uint8_t *trip_codes;          /* owned by the results array */
} ledger_tx_result;

/* Results of a block, owned by the caller: ledger_results_free(). */
typedef struct ledger_results {
	uint32_t ntxs;
	ledger_tx_result *r;
} ledger_results;
void ledger_results_free(ledger_results *res);
void ledger_results_encode(const ledger_results *res, cm_wr *w);
LEDGER_WUR int ledger_results_decode(const uint8_t *buf, size_t len, ledger_results *out);
/* Merkle root over the canonical bytes of each transaction's result. */
void ledger_results_root(const ledger_results *res, ck_hash out);

/* ---- genesis ----------------------------------------------------------- */

typedef struct ledger_member {
	uint32_t id;                  /* 1-based, assigned in order */
	char name[LIM_NAME_BYTES_MAX + 1];
	uint32_t roles;               /* enum ledger_role bits */
	uint32_t modes;               /* issuer: allowed modes (1u << mode) */
	uint32_t nkeys;
	ck_pubkey keys[LIM_MEMBER_KEYS_MAX];
	char p2p_addr[LIM_NAME_BYTES_MAX + 1];  /* "host:port" hint; may be empty */
} ledger_member;

typedef struct ledger_genesis {
	char chain_id[LIM_CHAIN_ID_BYTES_MAX + 1];
	uint64_t genesis_time_ms;
	int32_t tz_offset_s;          /* city time zone: day boundary */
	uint32_t governor_threshold;  /* distinct governor members per govern tx */
	uint32_t nmembers;
	ledger_member *members;       /* owned */
	ledger_methodology methodology;   /* version 1 */
	ck_hash hash;                 /* H("genesis", canonical msgpack form) */
} ledger_genesis;

/* Parses genesis JSON (at most LIM_GENESIS_BYTES_MAX); validates every
 * field; computes hash. LEDGER_E_GENESIS with a message in err (size errlen)
 * naming the bad field. */
LEDGER_WUR int ledger_genesis_parse(const char *json, size_t len, ledger_genesis **out,
				    char *err, size_t errlen);
LEDGER_WUR int ledger_genesis_load(const char *path, ledger_genesis **out, char *err,
				   size_t errlen);
/* Serialises to JSON (the caller frees *json with free()). */
LEDGER_WUR int ledger_genesis_to_json(const ledger_genesis *g, char **json);
void ledger_genesis_free(ledger_genesis *g);
/* The canonical msgpack form the genesis hash covers (docs/GENESIS.md,
 * "Canonical form"), for a genesis built in memory (tests, simulator) as
 * well as a parsed one. */
void ledger_genesis_encode(const ledger_genesis *g, cm_wr *w);
/* H("genesis", ledger_genesis_encode bytes): what parse stores in g->hash. */
void ledger_genesis_hash(ck_hash out, const ledger_genesis *g);

/* ---- validator sets ---------------------------------------------------- */

/* Validators of a height: the keys of members with the validator role,
 * first key of each member, sorted by key bytes. */
typedef struct ledger_valset {
	uint32_t n;
	ck_pubkey keys[LIM_VALIDATORS_MAX];
} ledger_valset;
/* H("valset", canonical msgpack array of the keys). */
void ledger_valset_hash(const ledger_valset *vs, ck_hash out);

/* ---- the ledger (state on LMDB) ---------------------------------------- */

typedef struct ledger ledger;

typedef struct ledger_options {
	size_t map_bytes;             /* LMDB map size; default 8 GiB */
	bool nosync;                  /* tests only: skip fsync on commit */
} ledger_options;

/* Opens (creating if empty) the data directory dir and initialises it from
 * genesis if new; an existing directory must match genesis->hash
 * (LEDGER_E_MISMATCH) and have this build's layout (LEDGER_E_LAYOUT).
 * Rebuilds in memory the state-root nodes and the index of the credited
 * trips in the claim window. */
LEDGER_WUR int ledger_open(ledger **out, const char *dir, const ledger_genesis *genesis,
			   const ledger_options *opt);
void ledger_close(ledger *l);

typedef struct ledger_info {
	uint64_t height;              /* last applied block; 0 = genesis only */
	uint64_t time_ms;             /* its time */
	ck_hash last_block_hash;      /* its header hash (zero at genesis) */
	ck_hash state_root;           /* after that block */
	ck_hash results_root;         /* of that block */
	ledger_valset valset;         /* validators for height+1 */
	ledger_valset next_valset;    /* validators for height+2 */
} ledger_info;
LEDGER_WUR int ledger_get_info(ledger *l, ledger_info *out);

/* Validators of any height from 1 to the applied height + 2 (the set whose
 * hash header `height` carries as valset_hash), for light clients that
 * follow certified headers from the genesis. Read from the validator-set
 * history that genesis and each block changing the set write (a query
 * index, not in the state root). LEDGER_E_NOTFOUND for height 0 or above
 * the applied height + 2. Read-only, any thread. */
LEDGER_WUR int ledger_get_valset(ledger *l, uint64_t height, ledger_valset *out);

/* Fills the header of the next block (height, parent, roots, valsets) for a
 * proposer; the caller sets time_ms and proposer, adds txs and computes
 * txs_root with ledger_block_txs_root. */
LEDGER_WUR int ledger_next_header(ledger *l, ledger_header *h);

/* Validity of a proposed block for height+1, without executing it: header
 * fields against the state, txs root, every tx decodes, signatures verified
 * (unless sigs_verified says the caller already checked them; array of
 * ntxs bools or NULL), nonces inside the window. Returns 0 or the first
 * LEDGER_E_* found. */
LEDGER_WUR int ledger_check_block(ledger *l, const ledger_block *b, const bool *sigs_verified);
/* (ledger_check_block and ledger_next_header read the state after the
 * executed block while its commit syncs: see ledger_set_executed_hook.) */

/* Applies block height+1 in one LMDB write transaction (all or nothing),
 * durably unless opt.nosync: the consensus state, the state root, the block
 * bytes with its commit certificate (cert, certlen: opaque bytes of
 * consensus/, may be empty in tests) and its results, and the query indexes
 * (tx hash -> location, account history, issuer trips by day, receipts
 * by merchant) all land in
 * the same transaction, so a crash leaves the ledger exactly before or
 * exactly after the block. Does not re-check signatures (the block was
 * checked or is certified). results (optional) receives the results. */
LEDGER_WUR int ledger_apply_block(ledger *l, const ledger_block *b, const uint8_t *cert,
				  size_t certlen, ledger_results *results);

/* ---- queries (read-only, any thread) ------------------------------------ */

typedef struct ledger_account {
	uint64_t balance_g;
	uint64_t nonce;               /* next nonce the account must use */
	uint32_t member_id;           /* 0 for a citizen */
	uint32_t roles;               /* member's roles, 0 for a citizen */
} ledger_account;
/* An unknown account reads as zero balance and nonce (not an error). */
LEDGER_WUR int ledger_get_account(ledger *l, const ck_pubkey key, ledger_account *out);

/* ---- the next height while a commit syncs -------------------------------- */

/* Once ledger_apply_block has executed block h, and before its synced
 * commit returns, everything height h+1 needs is final: the header fields
 * and validator sets after h (the roots included) and the next nonce of
 * every account h touched. The ledger keeps that, and calls fn(ctx, after)
 * on the applying thread, so that a node can start height h+1 (propose,
 * check proposals, vote) while the disk syncs h. fn must not block; after
 * is valid during the call only. Until the commit lands the queries below
 * read the state after h through it; if the commit fails it is dropped
 * (the block is then not applied, and the caller of ledger_apply_block
 * learns it). Set before the first apply; fn NULL to stop. */
typedef void (*ledger_executed_fn)(void *ctx, const ledger_info *after);
void ledger_set_executed_hook(ledger *l, ledger_executed_fn fn, void *ctx);

/* ledger_get_info, but of the executed block while its commit syncs. */
LEDGER_WUR int ledger_get_info_next(ledger *l, ledger_info *out);

/* ledger_get_account, with the nonce after the executed block while its
 * commit syncs (the balance stays the committed one): what a mempool
 * needs to know which transactions the next block can take. */
LEDGER_WUR int ledger_get_account_next(ledger *l, const ck_pubkey key, ledger_account *out);

LEDGER_WUR int ledger_get_member(ledger *l, uint32_t id, ledger_member *out);

typedef struct ledger_supply {
	uint64_t issued_g, redeemed_g, refunded_g, clawed_back_g, circulating_g;
	uint64_t by_mode_g[LEDGER_MODE_MAX + 1];
	uint64_t trips_credited;
} ledger_supply;
LEDGER_WUR int ledger_get_supply(ledger *l, ledger_supply *out);

typedef struct ledger_offer {
	uint64_t id;
	uint32_t merchant_id;
	uint64_t price_g;
	uint32_t stock;
	bool active;
	char name[LIM_NAME_BYTES_MAX + 1];
	char description[LIM_TEXT_BYTES_MAX + 1];
} ledger_offer;
LEDGER_WUR int ledger_get_offer(ledger *l, uint64_t id, ledger_offer *out);
/* Lists up to max active offers with id > after_id, in id order. */
LEDGER_WUR int ledger_list_offers(ledger *l, uint64_t after_id, ledger_offer *out, uint32_t max,
				  uint32_t *n);

typedef struct ledger_receipt {
	ck_hash id;                   /* hash of the redeem transaction */
	uint64_t offer_id;
	uint32_t merchant_id;
	ck_pubkey citizen;
	uint64_t price_g;
	uint64_t height;
	bool refunded;
} ledger_receipt;
LEDGER_WUR int ledger_get_receipt(ledger *l, const ck_hash id, ledger_receipt *out);
/* Receipts of redemptions at merchant member merchant_id (refunded ones
 * included, with refunded set), newest first; cursor semantics as
 * ledger_history; max <= LIM_HISTORY_PAGE_MAX. Read from the receipts
 * index that each redemption writes (a query index, not in the state
 * root): a redemption is not entered in the history of the merchant's
 * keys, whose balances it does not change. An unknown merchant has no
 * receipts (not an error). */
LEDGER_WUR int ledger_list_receipts(ledger *l, uint32_t merchant_id, uint64_t cursor,
				    ledger_receipt *out, uint32_t max, uint32_t *n,
				    uint64_t *next_cursor);

typedef struct ledger_trip_record {
	uint64_t height;              /* block that credited it */
	uint32_t issuer_member_id;
	ck_pubkey citizen;
	uint8_t mode;
	uint32_t methodology_version;
	uint64_t credited_g;
	uint64_t end_s;
} ledger_trip_record;
/* LEDGER_E_NOTFOUND if the trip id is not credited (or pruned). Waits for
 * a block being applied (the trip index in memory is the writer's). */
LEDGER_WUR int ledger_get_trip(ledger *l, const ck_hash trip_id, ledger_trip_record *out);

/* Methodology in effect at a height. */
LEDGER_WUR int ledger_get_methodology(ledger *l, uint64_t height, ledger_methodology *out);

/* Stored block of a height with its certificate: *block and *cert are
 * malloc'd copies the caller frees. LEDGER_E_NOTFOUND above the height. */
LEDGER_WUR int ledger_get_block(ledger *l, uint64_t height, uint8_t **block, size_t *blocklen,
				uint8_t **cert, size_t *certlen);
/* Results of a stored block (caller frees with ledger_results_free). */
LEDGER_WUR int ledger_get_results(ledger *l, uint64_t height, ledger_results *out);

/* Where a transaction was committed. LEDGER_E_NOTFOUND if it was not. */
typedef struct ledger_tx_location {
	uint64_t height;
	uint32_t index;               /* position in the block */
	uint8_t code;                 /* its result code */
} ledger_tx_location;
LEDGER_WUR int ledger_find_tx(ledger *l, const ck_hash txhash, ledger_tx_location *out);

/* One entry of an account's history: a transaction that touched it
 * (as sender, receiver, citizen of a credited trip, merchant, ...). */
typedef struct ledger_history_entry {
	uint64_t height;
	uint32_t index;
	ck_hash txhash;
	uint8_t kind;
	uint8_t code;
	int64_t delta_g;              /* change of this account's balance */
} ledger_history_entry;
/* Newest first. cursor 0 starts at the newest; *next_cursor is 0 when no
 * more entries exist. max <= LIM_HISTORY_PAGE_MAX. */
LEDGER_WUR int ledger_history(ledger *l, const ck_pubkey key, uint64_t cursor,
			      ledger_history_entry *out, uint32_t max, uint32_t *n,
			      uint64_t *next_cursor);

/* An issuer's trips of one day (credited and rejected), for
 * reconciliation; cursor semantics as ledger_history. */
typedef struct ledger_issued_trip {
	ck_hash trip_id;
	uint64_t height;
	uint32_t tx_index;
	uint8_t code;                 /* per-trip result */
	uint64_t credited_g;
} ledger_issued_trip;
LEDGER_WUR int ledger_issuer_trips(ledger *l, uint32_t member_id, int64_t day, uint64_t cursor,
				   ledger_issued_trip *out, uint32_t max, uint32_t *n,
				   uint64_t *next_cursor);

/* Rebuilds the query indexes (tx index, history, issuer trips, receipts,
 * validator-set history)
 * from the stored blocks. They hold what the rules computed (credits after
 * caps, the balance a recovery moved), so the blocks are applied again,
 * from the genesis, to a scratch data directory inside this one (removed
 * afterwards; about the disk and memory of a second ledger while it
 * runs); each block's results must equal the stored ones and the final
 * state the tip (LEDGER_E_DB otherwise, with the indexes left as they
 * were). The rebuilt indexes replace the old ones in one write
 * transaction, so readers see either. Holds the writer's lock throughout:
 * blocks wait. For a maintenance command or a data directory whose
 * indexes are suspect or new. */
LEDGER_WUR int ledger_reindex(ledger *l);

/* ---- proofs ------------------------------------------------------------ */

/* A proof that an account had balance and nonce in the state with root
 * state_root (the state after block `height`, which header height+1
 * carries). */
typedef struct ledger_account_proof {
	ck_pubkey account;
	uint64_t height;
	uint64_t balance_g;
	uint64_t nonce;
	ck_hash state_root;
	uint32_t nsiblings;
	uint8_t bits[256];            /* branch bit index of each sibling */
	ck_hash siblings[256];
} ledger_account_proof;
LEDGER_WUR int ledger_prove_account(ledger *l, const ck_pubkey key, ledger_account_proof *out);
/* 0 if the proof shows (account, balance, nonce) under proof->state_root;
 * LEDGER_E_PROOF otherwise (LEDGER_E_NOMEM if encoding the value cannot
 * allocate). Pure: needs no ledger. */
LEDGER_WUR int ledger_verify_account_proof(const ledger_account_proof *p);
void ledger_account_proof_encode(const ledger_account_proof *p, cm_wr *w);
LEDGER_WUR int ledger_account_proof_decode(const uint8_t *buf, size_t len,
					   ledger_account_proof *out);

/* ---- audit ------------------------------------------------------------- */

/* Checks every invariant against the data directory: sum of balances =
 * issued - redeemed + refunded - clawed back = circulating; no trip credited
 * twice; no two credited trips of one citizen overlap; the state root
 * recomputed from scratch equals the stored one; each account's history
 * head names an entry of that account. LEDGER_E_AUDIT with the first
 * violation described in msg. */
LEDGER_WUR int ledger_audit(ledger *l, char *msg, size_t msglen);

/* Day number of a Unix time in the city's time zone (the cap and
 * de-duplication day). */
int64_t ledger_day(uint64_t unix_s, int32_t tz_offset_s);

#endif
