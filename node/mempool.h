/*
 * node mempool: the transactions this node has admitted and not yet seen
 * committed. A pure data structure (no I/O, no threads, no clock) owned by
 * the node's loop thread; the committed state it checks against comes in
 * through a view of callbacks, so tests can drive it without a ledger.
 *
 * Admission checks, in this order, everything that is cheap before the one
 * thing that is not (the signature):
 *   size, strict decode (chain id), duplicate hash, nonce window against the
 *   committed next nonce, nonce not already taken by another pending
 *   transaction of the sender, sender's role for the kind, per-sender
 *   bound, room in the pool (total and held bounds, counting the evictions
 *   allowed below), trip ids (issue) neither credited nor pending nor
 *   repeated, and finally the signatures, unless the verified-signature
 *   cache has the transaction's hash. Evictions happen only after every
 *   check passed, so a transaction with a bad signature pushes none out.
 *
 * Verified-signature cache: keyed by H("tx", canonical bytes). That hash
 * covers the signature and the approvals too, so a hit means "these exact
 * bytes were verified"; a bad signature under a good transaction's fields
 * has another hash and misses. Bounded (FIFO eviction); it outlives the
 * pool entries so a transaction re-gossiped after admission, or seen again
 * in a peer's proposal (node_mempool_sig_known), is not verified twice.
 *
 * Ready and held. A sender's pending transactions whose nonces run
 * consecutively from its committed next nonce are *ready*: reap can put
 * them in the next block. The others wait behind a missing nonce and are
 * *held*: a transaction with nonce in [next, next + window) is admitted
 * even if nonces before it are missing, so a client may pipeline (and
 * transactions verified out of order on the worker pool still get in), but
 * reap never hands out one after a gap. A held transaction becomes ready
 * when the missing nonces arrive or commit.
 *
 * Held transactions cost an attacker nothing to keep: keys are free, there
 * is no fee or balance check, and a gap that is never filled means the
 * transaction is never included and never leaves. So they are bounded
 * (config held_per_sender_max, held_max, held_bytes_max: 64 per sender and
 * a tenth of the pool by default) and are best-effort:
 *   - expiry: a transaction held for held_blocks committed blocks (100 by
 *     default, counted from its admission or from the moment it stopped
 *     being ready) is dropped by node_mempool_set_height;
 *   - eviction: when a ready transaction finds the pool full, held
 *     transactions are evicted to make room, each time the held one with
 *     the highest nonce (the furthest from becoming ready) of the sender
 *     holding the most (ties: the sender that reached that count last);
 *     a held newcomer that finds the held bound reached may evict one held
 *     transaction the same way, but only from a sender holding more than
 *     its own sender does, so many keys cannot lock out a light sender;
 *   - the bounds are kept after a commit too (a transaction dropped from
 *     the middle of a run turns the rest of the run into held ones).
 *
 * Ready transactions are never evicted. There are no fees to rank them by,
 * so eviction would let anyone with many keys push out honest ones; a
 * ready transaction that does not fit, once no held one is left to evict,
 * is rejected (NODE_E_MEMPOOL_FULL, NODE_E_SENDER_FULL) and the client
 * retries. An attacker can still fill the pool with ready transactions,
 * but those are included in blocks and drain at the chain's throughput;
 * what the held bounds remove is a pool filled for good by transactions
 * that never become includable.
 *
 * Verification off the loop thread: the node calls node_mempool_precheck()
 * (everything but the signature; says whether the signature still needs
 * checking, and hands out the decoded transaction), verifies its
 * signatures on its worker pool (pure, any thread), then calls
 * node_mempool_add_decoded() on the loop thread, which repeats the cheap
 * checks (the state may have moved meanwhile), records the hash in the
 * cache and admits. node_mempool_add() does all of it inline.
 */
#ifndef CARBON_NODE_MEMPOOL_H
#define CARBON_NODE_MEMPOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/limits.h"
#include "crypto/ck.h"
#include "ledger/ledger.h"

#define NODE_MEMPOOL_WUR __attribute__((warn_unused_result))

/* Error codes of the mempool: -400..-429 inside node/'s range (node/net.h
 * has -440..-469, node/http.h -470..-489). Each has a short machine name
 * for API answers and metrics labels. */
#define NODE_MEMPOOL_ERRORS(X)                                                                 \
	X(NODE_E_DUPLICATE, -400, "duplicate", "transaction already in the mempool")           \
	X(NODE_E_MEMPOOL_FULL, -401, "mempool_full", "mempool is full, retry later")           \
	X(NODE_E_SENDER_FULL, -402, "sender_full",                                             \
	  "too many pending transactions from this sender")                                    \
	X(NODE_E_NONCE_LOW, -403, "nonce_used", "nonce below the account's next nonce")        \
	X(NODE_E_NONCE_HIGH, -404, "nonce_too_high", "nonce beyond the pending window")        \
	X(NODE_E_NONCE_PENDING, -405, "nonce_pending",                                         \
	  "another pending transaction uses this nonce")                                       \
	X(NODE_E_ROLE, -406, "role", "sender lacks the role for this transaction kind")        \
	X(NODE_E_TRIP_CREDITED, -407, "trip_credited",                                         \
	  "a trip id of the batch is already credited")                                        \
	X(NODE_E_TRIP_PENDING, -408, "trip_pending",                                           \
	  "a trip id of the batch is pending in another transaction")                          \
	X(NODE_E_TRIP_REPEATED, -409, "trip_repeated", "a trip id appears twice in the batch") \
	X(NODE_E_TX_SIZE, -410, "tx_size", "transaction empty or above the size limit")        \
	X(NODE_E_MP_CONFIG, -411, "config", "invalid mempool configuration")                   \
	X(NODE_E_MP_NOMEM, -412, "nomem", "out of memory")                                     \
	X(NODE_E_HELD_FULL, -413, "held_full",                                                 \
	  "too many transactions wait behind missing nonces, send the missing nonce first")    \
	X(NODE_E_SENDER_HELD_FULL, -414, "sender_held_full",                                   \
	  "too many of this sender's transactions wait behind a missing nonce")

enum node_mempool_err {
#define NODE_MEMPOOL_ENUM(name, val, id, msg) name = val,
	NODE_MEMPOOL_ERRORS(NODE_MEMPOOL_ENUM)
#undef NODE_MEMPOOL_ENUM
};
#define NODE_MEMPOOL_E_FIRST NODE_E_DUPLICATE
#define NODE_MEMPOOL_E_COUNT 15

/* Describes a mempool code; defers to ledger_strerror() (and through it to
 * crypto and common) for the codes admission passes through. */
const char *node_mempool_strerror(int rc);
/* Short machine name ("duplicate", "bad_signature", "malformed", ...) of
 * any code admission can return; "internal" for anything else. */
const char *node_mempool_reason(int rc);

/* Committed state, as the loop thread sees it. Both callbacks return 0 or
 * a negative code (passed through to the caller of the mempool function).
 * get_account must read an unknown account as zero (ledger semantics). */
typedef struct node_mempool_view {
	void *ctx;
	int (*get_account)(void *ctx, const ck_pubkey key, ledger_account *out);
	int (*trip_credited)(void *ctx, const ck_hash trip_id, bool *credited);
} node_mempool_view;

/* A view reading a ledger's committed state (ledger_get_account,
 * ledger_get_trip). l must outlive the view. */
void node_mempool_view_ledger(node_mempool_view *v, ledger *l);
/* The same, but with the nonces after the block the ledger executed and
 * is still committing (ledger_get_account_next): for reaping the next
 * block while that commit syncs. The pool's own bookkeeping (admission,
 * update) keeps the committed view, so the block's transactions stay
 * pending until their commit lands; this view only makes reap skip
 * them. Two things wait for that commit, each at most one block: a sender
 * whose entries were all held stays skipped although the executed block
 * may have closed its gap, and a trip the executed block credited is not
 * known to the view (the ledger's trips are read as committed), so a
 * proposal may carry it again, to be recorded as a duplicate trip
 * (LEDGER_R_DUP_TRIP), never credited twice. */
void node_mempool_view_ledger_next(node_mempool_view *v, ledger *l);

/* Limits; 0 takes the default in brackets. Above the default is
 * NODE_E_MP_CONFIG (the defaults are the resource limits of limits.h). */
typedef struct node_mempool_config {
	char chain_id[LIM_CHAIN_ID_BYTES_MAX + 1];
	uint32_t txs_max;        /* [LIM_MEMPOOL_TXS_MAX] */
	uint64_t bytes_max;      /* [LIM_MEMPOOL_BYTES_MAX] canonical bytes */
	uint32_t per_sender_max; /* [LIM_MEMPOOL_PER_SENDER_MAX] */
	uint32_t nonce_window;   /* [LIM_NONCE_WINDOW] */
	uint32_t sigcache_max;   /* [LIM_SIGCACHE_ENTRIES_MAX] */
	/* Held transactions (file comment). */
	uint32_t held_max;            /* [LIM_MEMPOOL_HELD_MAX] */
	uint64_t held_bytes_max;      /* [LIM_MEMPOOL_HELD_BYTES_MAX] */
	uint32_t held_per_sender_max; /* [LIM_MEMPOOL_HELD_PER_SENDER_MAX] */
	uint32_t held_blocks;         /* [LIM_MEMPOOL_HELD_BLOCKS] */
} node_mempool_config;

typedef struct node_mempool node_mempool;

/* NODE_E_MP_CONFIG (empty chain id, a limit above its default),
 * NODE_E_MP_NOMEM. *out is NULL on failure. */
NODE_MEMPOOL_WUR int node_mempool_new(node_mempool **out, const node_mempool_config *cfg);
void node_mempool_free(node_mempool *mp);

/* Admits tx (len bytes, copied) after every check of the file comment,
 * verifying the signatures inline on a cache miss; a ready transaction
 * may evict held ones to fit, a held one may evict one held transaction
 * of a heavier sender (file comment). txhash_out (may be
 * NULL) receives the transaction hash whenever the bytes were not too big,
 * also on rejection. Returns 0, a NODE_E_* code, a decode code
 * (LEDGER_E_*, CM_E_*), LEDGER_E_BADSIG/CK_E_BADSIG, or a view error.
 * Loop thread. */
NODE_MEMPOOL_WUR int node_mempool_add(node_mempool *mp, const uint8_t *tx, size_t len,
                                      const node_mempool_view *view, ck_hash txhash_out);

/* Every admission check except the signatures; changes nothing but the
 * rejection counters. *need_verify is false if the verified-signature cache
 * holds the hash (add_decoded may then follow at once). On success
 * *decoded is the decoded transaction, the caller's to free with
 * ledger_tx_free() once it has verified its signatures
 * (ledger_tx_verify_sigs, any thread: the part of admission worth moving to
 * a worker pool) and handed it to node_mempool_add_decoded: the bytes are
 * decoded and hashed once per admission. Same returns as node_mempool_add.
 * Loop thread. */
NODE_MEMPOOL_WUR int node_mempool_precheck(node_mempool *mp, const uint8_t *tx, size_t len,
                                           const node_mempool_view *view, ck_hash txhash_out,
                                           bool *need_verify, ledger_tx **decoded);

/* Admits tx, which precheck decoded (decoded) and hashed (txhash), once the
 * caller has verified its signatures (or precheck found them cached): the
 * checks run again on the state as it is now, without decoding or hashing
 * again. The hash goes into the verified-signature cache even if admission
 * then fails on state that changed meanwhile. Same returns as
 * node_mempool_add minus the signature codes. Loop thread. */
NODE_MEMPOOL_WUR int node_mempool_add_decoded(node_mempool *mp, const uint8_t *tx, size_t len,
                                              const ledger_tx *decoded, const ck_hash txhash,
                                              const node_mempool_view *view);

/* Counts a rejection found outside the pool (e.g. a signature check
 * failing on a worker after precheck), so the metrics see it. */
void node_mempool_note_reject(node_mempool *mp, int rc);

/* True if the exact bytes with this hash had their signatures verified
 * (cache hit): ledger_check_block's sigs_verified for a peer's proposal. */
bool node_mempool_sig_known(node_mempool *mp, const ck_hash txhash);
/* Marks a hash verified (e.g. after a proposal's batch check). */
void node_mempool_sig_remember(node_mempool *mp, const ck_hash txhash);

/* True if a transaction with this hash is pending. */
bool node_mempool_contains(const node_mempool *mp, const ck_hash txhash);
/* Next nonce of key counting its pending transactions: committed next
 * nonce (the caller reads it, e.g. from ledger_get_account) plus the run of
 * consecutive pending nonces starting there. */
uint64_t node_mempool_pending_nonce(const node_mempool *mp, const ck_pubkey key,
                                    uint64_t committed_nonce);

/* A pending transaction handed out by reap. Pointers stay valid until the
 * next call that changes the pool (add, add_decoded, update, set_height,
 * recheck, free). */
typedef struct node_mempool_txref {
	const uint8_t *tx;
	size_t len;
	const uint8_t *hash; /* CK_HASH_BYTES */
} node_mempool_txref;

/* Fills out[0..*n) with up to max_txs transactions of at most max_bytes
 * canonical bytes and max_trips credited trips in total, ready for the
 * next block: for each sender the
 * consecutive nonces starting at its committed next nonce (view), never one
 * after a gap, in that order; senders take turns one transaction at a time
 * in the order they first entered the pool (round robin), so one busy
 * sender cannot fill a block. A sender with only held transactions (as of
 * the last add, update or recheck) is skipped without reading the view:
 * the commit that could make them ready also updates the pool. A sender
 * whose next transaction does not fit max_bytes or max_trips drops out of
 * the block. Deterministic for the same pool and
 * view. Leaves the pool unchanged. Returns 0 or a view error. Loop thread. */
NODE_MEMPOOL_WUR int node_mempool_reap(node_mempool *mp, const node_mempool_view *view,
                                       uint32_t max_txs, uint64_t max_bytes,
                                       uint64_t max_trips, node_mempool_txref *out,
                                       uint32_t *n);

/* After a block commits (view already shows the state after it): removes
 * the block's transactions (txs[i], lens[i]) that are pending; drops the
 * pending transactions of the block's senders whose nonce is now below the
 * account's next nonce; drops pending issue transactions with a trip id the
 * block credited; then restores the held bounds (a transaction dropped
 * from the middle of a run turns the rest of it into held ones). It does
 * not expire held transactions: node_mempool_set_height does, so call it
 * right after with the block's height. Transactions of the block that do
 * not decode are ignored here (the block was certified; the ledger
 * recorded them). Returns
 * 0 or a view error (the pool is then consistent but may keep stale
 * entries until the next update or recheck). Loop thread. */
NODE_MEMPOOL_WUR int node_mempool_update(node_mempool *mp, const node_mempool_view *view,
                                         const uint8_t *const *txs, const size_t *lens, uint32_t n);

/* Tells the pool the committed height (after each commit, and once at
 * start-up before the first admission: held transactions count their age
 * from the height they were admitted or became held at) and drops the
 * held transactions that have been held for the config's held_blocks
 * blocks or more. Cost: one pass over the held transactions (at most
 * held_max). Loop thread. */
void node_mempool_set_height(node_mempool *mp, uint64_t height);

/* Re-checks every pending transaction against the view (nonces, trip ids):
 * after catching up several blocks at once, or when the view changed in a
 * way update was not told about. Cost: one account read per sender and one
 * trip read per pending trip. Loop thread. */
NODE_MEMPOOL_WUR int node_mempool_recheck(node_mempool *mp, const node_mempool_view *view);

/* Counters for metrics. */
typedef struct node_mempool_stats {
	uint64_t txs;               /* pending now */
	uint64_t bytes;             /* their canonical bytes */
	uint64_t senders;           /* with at least one pending */
	uint64_t admitted;          /* since creation */
	uint64_t removed_committed; /* left because their block committed */
	uint64_t dropped_stale;     /* dropped by update/recheck */
	uint64_t sig_verifies;      /* inline signature verifications */
	uint64_t sig_cache_hits;
	uint64_t sigcache_entries;
	uint64_t held; /* of txs, held now (txs - held are ready) */
	uint64_t held_bytes;
	uint64_t evicted_held; /* held ones evicted to make room or to keep the bounds */
	uint64_t expired_held; /* held ones dropped by age */
	/* Rejections: mempool codes by index (NODE_MEMPOOL_E_FIRST - rc),
	 * then decode failures, bad signatures, and view errors. */
	uint64_t rejected[NODE_MEMPOOL_E_COUNT];
	uint64_t rejected_malformed;
	uint64_t rejected_badsig;
	uint64_t rejected_other;
} node_mempool_stats;
void node_mempool_get_stats(const node_mempool *mp, node_mempool_stats *out);

#endif
