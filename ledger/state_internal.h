/*
 * Internal to ledger/: the layout of the data directory and the helpers
 * that state.c (open, queries), apply.c (rules), audit.c and prove.c share.
 *
 * One LMDB environment holds the state, the chain and the indexes, so a
 * block lands in one synced write transaction (all or nothing):
 *   "state"   the consensus state but the credited trips, key = u8 table ||
 *             key bytes, value = canonical msgpack. Every entry is in the
 *             state root under smt_key(table, key bytes) -> smt_value(value
 *             bytes), but the local rows (st_state_local): the accounts'
 *             history heads, kept beside the account rows.
 *   "trips"   the credited trips of the claim window (tables TRIP and
 *             INTERVAL of the state root), key = st_day_key(end day) ||
 *             height || trip id, value = the TRIP entry's canonical bytes.
 *             Each record stands for two root entries: TRIP (trip id ->
 *             these bytes) and INTERVAL (citizen || start -> end). Keys grow
 *             with the chain, so crediting appends and pruning walks from
 *             the first key; tripset.h indexes the records in memory.
 *   "chain"   local facts: genesis hash, tip (height, time, hash, roots),
 *             layout version.
 *   "blocks", "certs", "results": height -> bytes (results packed, see
 *             st_results_pack).
 *   "txidx", "hist", "itrips", "receipts", "valsets", "txids", and the
 *             history heads in "state": query indexes, rebuildable from
 *             blocks.
 * The state root's leaves are derived data and live in another, unsynced
 * environment in the subdirectory ST_CACHE_DIR, a cache rebuilt from
 * "state" and "trips" when it cannot be trusted (state.c):
 *   "smt"     key = the 32-byte state-root key of every entry above
 *             (smt_key), value = its 32-byte leaf hash (smt_leaf of
 *             smt_value of the value bytes); written in a transaction begun
 *             with the block's and committed after it, read back a bucket
 *             at a time (smt.h).
 *   "cache"   "height": u64be, the tip whose leaves "smt" holds.
 * docs/ARCHITECTURE.md, "Storage layout", describes every key and value.
 */
#ifndef CARBON_LEDGER_STATE_INTERNAL_H
#define CARBON_LEDGER_STATE_INTERNAL_H

#include <assert.h>
#include <pthread.h>
#include <string.h>

#include <lmdb.h>

#include "ledger/ledger.h"
#include "ledger/smt.h"
#include "ledger/tables.h"
#include "ledger/tripset.h"

/* Longest "state" key: u8 table || day(8) || pubkey(32). */
#define ST_KEY_BYTES_MAX 48u
/* Subdirectory of the data directory holding the leaves' cache. */
#define ST_CACHE_DIR "smt"

/* Keys of LEDGER_TABLE_META (consensus values that are not per-entity). */
#define ST_META_PARAMS      "params"      /* [chain id, tz, threshold, genesis ms] */
#define ST_META_VALSET1     "vs1"         /* validators of height+1 */
#define ST_META_VALSET2     "vs2"         /* validators of height+2 */
#define ST_META_NEXT_MEMBER "next_member" /* next member id to assign */

/* The tip: what the last applied block left (local, not in the root). */
typedef struct st_tip {
	uint64_t height;
	uint64_t time_ms;
	ck_hash last_hash;
	ck_hash state_root;
	ck_hash results_root;
} st_tip;

/* An account's next nonce after the executed block (ledger/executed.c). */
typedef struct st_nonce {
	ck_pubkey key;
	uint64_t nonce;
} st_nonce;

/* A state-root change waiting for the end of the block (see st_flush). */
typedef struct st_pending {
	ck_hash key;
	ck_hash value;
	uint32_t seq;            /* order of the change within the block */
	bool del;
} st_pending;

struct ledger {
	MDB_env *env;
	MDB_dbi db_state, db_trips, db_chain, db_blocks, db_certs, db_results;
	MDB_dbi db_txidx, db_hist, db_itrips, db_receipts, db_valsets, db_txids;
	/* The state root's leaves (smt.h) in their own environment, a cache
	 * of derived data in ST_CACHE_DIR (state.c, "The leaves' cache"):
	 * unsynced, rebuilt at open when it cannot be trusted. */
	MDB_env *cenv;
	MDB_dbi db_smt;          /* the leaves, in cenv */
	MDB_dbi db_cmeta;        /* cenv's height record */
	MDB_txn *ctxn;           /* the block's leaf writes (st_flush to st_cache_commit) */
	bool cache_ok;           /* cenv holds the leaves of the committed tip */
	unsigned cache_rebuilds; /* times this ledger rebuilt cenv (open, a failed commit) */
	char cache_dir[4096];
	smt *tree;               /* the state root's top; guarded by mu */
	tripset *trips;          /* the "trips" records in memory; guarded by mu */
	pthread_mutex_t mu;      /* serialises tree and trips between apply and readers */
	bool nosync;
	char chain_id[LIM_CHAIN_ID_BYTES_MAX + 1];
	int32_t tz_offset_s;
	uint32_t governor_threshold;
	uint64_t genesis_time_ms;
	ck_hash genesis_hash;
	ledger_genesis genesis;  /* a copy (members owned), for ledger_reindex */
	cm_wr wr;                /* writer's scratch encoder (apply only) */
	cm_wr iwr;               /* st_root_trip's, for the INTERVAL value (under mu) */
	/* While a block (or genesis) applies, state-root changes are queued
	 * and applied once per key, in key order, at its end (st_flush): a
	 * key written several times costs one leaf write, a bucket changed
	 * several times one rehash, and the leaf writes walk the "smt"
	 * database in order. */
	bool batching;
	st_pending *pend;
	size_t npend, cappend;
	smt_change *chg;         /* st_flush's scratch: the last change of each key */
	size_t capchg;
	/* The block executed and not yet committed (ledger/executed.c): set
	 * by ledger_apply_block just before its synced commit, read by the
	 * next height's checks and header while the commit syncs. Entries of
	 * exec_nonces are sorted by key. Guarded by exec_mu. */
	pthread_mutex_t exec_mu;
	bool exec_valid;
	ledger_info exec_info;
	st_nonce *exec_nonces;
	size_t exec_n, exec_cap;
	ledger_executed_fn exec_fn;
	void *exec_ctx;
};

/* Maps an LMDB code to LEDGER_E_MAP_FULL / LEDGER_E_DB, logging it once
 * with its context. */
int st_dberr(int mdbrc, const char *ctx);

/* The executed block (ledger/executed.c). st_exec_publish keeps after and
 * the n nonces (any order; copied) and calls the hook; on no memory it
 * keeps nothing and does not call it (the next height then waits for the
 * commit). st_exec_drop forgets it, once its commit landed or failed.
 * Readers hold exec_mu while they open their snapshot and use the
 * executed block, so that it cannot be dropped in between; st_exec_nonce
 * (under exec_mu) looks an account up. */
void st_exec_publish(ledger *l, const ledger_info *after, const st_nonce *nonces, size_t n);
/* ledger_get_info's answer from txn (a write transaction: after its block). */
int st_get_info(ledger *l, MDB_txn *txn, ledger_info *out);
void st_exec_drop(ledger *l);
bool st_exec_nonce(const ledger *l, const ck_pubkey key, uint64_t *nonce);

/* Big-endian fixed-width helpers for keys (so LMDB's byte order is the
 * numeric order). Days are signed: stored with the sign bit flipped. */
static inline void st_be64(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--) {
		p[i] = (uint8_t)v;
		v >>= 8;
	}
}
static inline void st_be32(uint8_t *p, uint32_t v)
{
	for (int i = 3; i >= 0; i--) {
		p[i] = (uint8_t)v;
		v >>= 8;
	}
}
static inline uint64_t st_rd64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = (v << 8) | p[i];
	return v;
}
static inline uint32_t st_rd32(const uint8_t *p)
{
	uint32_t v = 0;
	for (int i = 0; i < 4; i++)
		v = (v << 8) | p[i];
	return v;
}
static inline uint64_t st_day_key(int64_t day) { return (uint64_t)day ^ (1ull << 63); }
static inline int64_t st_day_unkey(uint64_t k) { return (int64_t)(k ^ (1ull << 63)); }

/* "trips" key of a credited trip. */
#define ST_TRIP_KEY_BYTES (16u + CK_HASH_BYTES)
static inline void st_trip_key(uint8_t *k, int64_t endday, uint64_t height, const ck_hash id)
{
	st_be64(k, st_day_key(endday));
	st_be64(k + 8, height);
	memcpy(k + 16, id, CK_HASH_BYTES);
}

/* Unsigned LEB128 for the local indexes' values (not consensus bytes). */
#define ST_UVARINT_BYTES_MAX 10u
static inline size_t st_put_uvarint(uint8_t *p, uint64_t v)
{
	size_t n = 0;
	while (v >= 0x80) {
		p[n++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	p[n++] = (uint8_t)v;
	return n;
}
/* Reads one from p[0..len): its length, or 0 if truncated or too long. */
static inline size_t st_get_uvarint(const uint8_t *p, size_t len, uint64_t *v)
{
	uint64_t x = 0;
	for (size_t i = 0; i < len && i < ST_UVARINT_BYTES_MAX; i++) {
		x |= (uint64_t)(p[i] & 0x7f) << (7 * i);
		if (!(p[i] & 0x80)) {
			*v = x;
			return i + 1;
		}
	}
	return 0;
}
/* Signed as unsigned, small magnitudes small: 0, -1, 1, -2, ... */
static inline uint64_t st_zigzag(int64_t d)
{
	return d < 0 ? ~(uint64_t)d << 1 | 1u : (uint64_t)d << 1;
}
static inline int64_t st_unzigzag(uint64_t z)
{
	return (int64_t)(z & 1u ? ~(z >> 1) : z >> 1);
}

/* A transaction's place in the chain as one number, height << 16 | index:
 * the cursor of the paged queries and the link between history entries.
 * Heights start at 1, so it is never 0, which therefore means "none". */
_Static_assert(LIM_BLOCK_TXS_MAX <= 0xffffu, "tx index fits 16 bits");
static inline uint64_t st_loc(uint64_t height, uint32_t txi)
{
	assert(height < (1ull << 48));
	assert(txi <= 0xffffu);
	return height << 16 | txi;
}

/* History log ("hist"): key u64be loc || u16be slot, appended in key order
 * by each block (slot numbers the accounts of one transaction in key
 * order); value tag(8) || kind || code || uvarint zigzag(delta) ||
 * uvarint back || (if back != 0) uvarint prev slot, where the account's
 * previous entry is at loc - back, prev slot (back 0: none). The account's
 * head, u64be loc || u16be slot of its newest entry, is a local row of
 * "state" (st_head_key). A block then dirties a few pages at the log's end
 * and one head per account, where a key of account || height would put
 * every entry on a random page.
 * Neither the account nor the tx id is stored: the tx id is the one at
 * (height, index) in "txids", and the account is the one whose head the
 * chain of links starts from; the tag (the first bytes of
 * H("hist-account", account)) only lets a cursor, which names a loc, find
 * the account's slot there. */
#define ST_HIST_KEY_BYTES 10u
#define ST_HIST_TAG_BYTES 8u
#define ST_HIST_VAL_BYTES_MIN (ST_HIST_TAG_BYTES + 4u)
#define ST_HIST_VAL_BYTES_MAX (ST_HIST_TAG_BYTES + 2u + 3u * ST_UVARINT_BYTES_MAX)
#define ST_HIST_HEAD_BYTES 10u
/* The head's key in "state": the account row's key (u8 table || account)
 * and one more byte, so it sorts right after that row and lands on the
 * page the block rewrites for the balance anyway. In its own database
 * ("histhead", layout 4) it cost a second random page per account a block
 * touched. It is a local row: not in the state root (a head moves with
 * every transaction, the rules never read it), so it is written and read
 * with plain mdb_put/mdb_get, never st_put, and every cursor over "state"
 * skips it (st_state_local). A head is read and written by its own key
 * only, so it does not depend on the account's row being there. */
#define ST_HEAD_KEY_BYTES (1u + CK_PUBKEY_BYTES + 1u)
#define ST_HEAD_KEY_SUFFIX 0x00u
static inline void st_head_key(uint8_t k[ST_HEAD_KEY_BYTES], const ck_pubkey account)
{
	k[0] = LEDGER_TABLE_ACCOUNT;
	memcpy(k + 1, account, CK_PUBKEY_BYTES);
	k[1 + CK_PUBKEY_BYTES] = ST_HEAD_KEY_SUFFIX;
}
/* Whether a key of "state" is a local row: one of table ACCOUNT of the
 * head key's length (consensus keys of that table are accounts, 32 bytes).
 * The walks of all of "state" (the leaves' rebuild, the audit) skip these;
 * a walk of one other table never meets them. The audit checks that every
 * such row is a well-formed head. */
static inline bool st_state_local(const MDB_val *k)
{
	return k->mv_size == ST_HEAD_KEY_BYTES &&
	       ((const uint8_t *)k->mv_data)[0] == LEDGER_TABLE_ACCOUNT;
}
/* The account's history head: *loc 0 (and *slot 0) if it has none;
 * LEDGER_E_DB if the row is not a head. */
int st_head_get(ledger *l, MDB_txn *txn, const ck_pubkey account, uint64_t *loc, uint16_t *slot);
/* Sets the account's head to (loc, slot), loc != 0. */
int st_head_put(ledger *l, MDB_txn *txn, const ck_pubkey account, uint64_t loc, uint16_t slot);
/* A transaction touches at most its sender, two accounts of a recovery
 * or the citizens of its trips: slots fit 16 bits. */
_Static_assert(LIM_TRIPS_PER_TX_MAX + 2u <= 0xffffu, "history slot fits 16 bits");
static inline void st_hist_key(uint8_t *k, uint64_t loc, uint16_t slot)
{
	st_be64(k, loc);
	k[8] = (uint8_t)(slot >> 8);
	k[9] = (uint8_t)slot;
}
static inline void st_hist_tag(uint8_t tag[ST_HIST_TAG_BYTES], const ck_pubkey account)
{
	ck_hash h;
	ck_hash_tagged(h, "hist-account", account, CK_PUBKEY_BYTES);
	memcpy(tag, h, ST_HIST_TAG_BYTES);
}

/* The blocks' tx ids ("txids"): key u64be height, value the ids of its
 * transactions in block order, 32 bytes each (empty for an empty block).
 * What a location in the other indexes names is read here, not rehashed
 * from the stored block: an issue batch is up to some 100 KB to hash. */

/* Transaction index ("txidx"): key the first 8 bytes of the tx id || u64be
 * loc, value u8 code. A lookup walks the keys with the prefix and keeps
 * the one whose location holds the id in "txids" (a shared prefix costs a
 * lookup, never a wrong answer). */
#define ST_TXIDX_PREFIX_BYTES 8u
#define ST_TXIDX_KEY_BYTES (ST_TXIDX_PREFIX_BYTES + 8u)

/* Issuer trips ("itrips"): key u32be member || day(start_s) || u64be loc ||
 * u16be trip index, so one issuer's day is one range in chain order; value
 * u8 code || uvarint credited_g. The trip id is read from the issue
 * transaction in the stored block rather than kept (32 of the 41 bytes of
 * value it had). */
#define ST_ITRIP_KEY_BYTES 22u
#define ST_ITRIP_VAL_BYTES_MAX (1u + ST_UVARINT_BYTES_MAX)
_Static_assert(LIM_TRIPS_PER_TX_MAX <= 0xffffu, "trip index fits 16 bits");
static inline void st_itrip_key(uint8_t *k, uint32_t member, int64_t day, uint64_t loc, uint16_t j)
{
	st_be32(k, member);
	st_be64(k + 4, st_day_key(day));
	st_be64(k + 12, loc);
	k[20] = (uint8_t)(j >> 8);
	k[21] = (uint8_t)j;
}

/* Receipts index key: merchant member id || ~height || ~tx index, so a
 * forward walk lists one merchant's receipts newest first. */
#define ST_RECEIPT_KEY_BYTES 16u
static inline void st_receipt_key(uint8_t *k, uint32_t merchant_id, uint64_t height, uint32_t txi)
{
	st_be32(k, merchant_id);
	st_be64(k + 4, ~height);
	st_be32(k + 12, ~txi);
}

/* Stored results ("results", height -> value): the block's canonical
 * results as runs of equal entries, each uvarint count || uvarint length ||
 * the entry's canonical bytes (a block of transfers is one run of
 * [0, 0, <>]). st_results_pack packs canonical bytes into out, or only
 * measures them if out is NULL (*outlen either way); LEDGER_E_FIELD if they
 * are not a canonical results array. st_results_unpack appends the
 * canonical bytes to w; LEDGER_E_DB if p is not a packing. */
int st_results_pack(const uint8_t *canon, size_t len, uint8_t *out, size_t *outlen);
int st_results_unpack(const uint8_t *p, size_t len, cm_wr *w);

/* Validator-set history ("valsets"): key u64be of the first height a set
 * applies to, value the set as st_enc_valset writes it. An entry is
 * written only when the set of a new height differs from the one before
 * (height 1 at genesis, height+2 by the block that changed the members),
 * so the set of a height is the entry with the greatest key <= it. */
int st_put_valset_from(ledger *l, MDB_txn *txn, uint64_t height, const ledger_valset *vs);

/* ---- raw state access (inside a transaction) -------------------------- */

/* Reads state entry (table, key) into *val (pointing into the map, valid
 * until the transaction ends). LEDGER_E_NOTFOUND if absent. */
int st_get(ledger *l, MDB_txn *txn, uint8_t table, const void *key, size_t klen, MDB_val *val);
/* Writes/deletes a state entry and updates the state-root map with it. */
int st_put(ledger *l, MDB_txn *txn, uint8_t table, const void *key, size_t klen,
	   const void *val, size_t vlen);
int st_del(ledger *l, MDB_txn *txn, uint8_t table, const void *key, size_t klen);

/* Only the state-root side of st_put/st_del, for entries stored outside
 * "state" (the trips). Only while batching (st_batch). */
int st_root_put(ledger *l, uint8_t table, const void *key, size_t klen, const void *val,
		size_t vlen);
int st_root_del(ledger *l, uint8_t table, const void *key, size_t klen);

/* Starts queueing state-root changes (every st_put, st_del and st_root_*
 * until st_flush or st_discard). */
void st_batch(ledger *l);
/* Applies the queued state-root changes (the last one of each key wins) to
 * the leaves, in a write transaction of the leaves' cache it begins (kept
 * in l->ctxn for st_cache_commit), and to the top, and empties the queue;
 * stops queueing. LEDGER_E_NOMEM, LEDGER_E_DB, LEDGER_E_MAP_FULL (then
 * st_discard and a rollback of the top). */
int st_flush(ledger *l);
/* Drops the queue and aborts the cache transaction st_flush began, if any
 * (a failed block; the top is rolled back separately). */
void st_discard(ledger *l);
/* After the block's main transaction committed at height: records the
 * height in the cache transaction and commits it (unsynced). If that
 * fails the cache is rebuilt from the committed state; if the rebuild
 * fails too, proofs, audits and blocks return LEDGER_E_DB until the ledger
 * is reopened (which rebuilds it). The block itself stays applied: the
 * cache is derived data. Under mu, with the block's top committed. */
void st_cache_commit(ledger *l, uint64_t height);
/* A read transaction of the leaves' cache (for smt_prove and the audit);
 * taken under mu together with the main one, it sees the leaves of the
 * main one's tip. LEDGER_E_DB if the cache is unusable. */
int st_cache_rtxn(ledger *l, MDB_txn **txn);
/* Removes the leaves' cache of data directory dir (its files and
 * subdirectory); absent is fine. For ledger_reindex's scratch ledger. */
int st_cache_remove(const char *dir);

/* ---- state values (canonical msgpack) --------------------------------- */

typedef struct st_account {
	uint64_t balance_g;
	uint64_t nonce;
} st_account;

/* A key's registration: which member it belongs to (0: a citizen key that
 * governance recovered) and whether it was revoked. */
typedef struct st_keyreg {
	uint32_t member_id;
	bool revoked;
} st_keyreg;

typedef struct st_trip {
	uint64_t height;
	uint32_t issuer_member_id;
	ck_pubkey citizen;
	uint8_t mode;
	uint32_t methodology_version;
	uint64_t credited_g;
	uint64_t start_s;
	uint64_t end_s;
} st_trip;

/* The state-root entries the "trips" record rec of trip id stands for
 * (TRIP and INTERVAL; t is rec decoded): set, or deleted if rec is NULL. */
int st_root_trip(ledger *l, const ck_hash id, const st_trip *t, const MDB_val *rec);

/* Finds the "trips" record of trip id through the in-memory index (call
 * under mu): 0 with the record in *rec and its key in key (may be NULL),
 * or LEDGER_E_NOTFOUND. */
int st_find_trip(ledger *l, MDB_txn *txn, const ck_hash id, MDB_val *rec, uint8_t *key);

/* Grams credited to one citizen on one day: [0] all modes, [m] mode m. */
typedef struct st_cap {
	uint64_t g[LEDGER_MODE_MAX + 1];
} st_cap;

void st_enc_account(cm_wr *w, const st_account *a);
int st_dec_account(const MDB_val *v, st_account *a);
void st_enc_keyreg(cm_wr *w, const st_keyreg *k);
int st_dec_keyreg(const MDB_val *v, st_keyreg *k);
void st_enc_member(cm_wr *w, const ledger_member *m);
int st_dec_member(const MDB_val *v, ledger_member *m);
void st_enc_methodology(cm_wr *w, const ledger_methodology *m);
int st_dec_methodology(const MDB_val *v, ledger_methodology *m);
void st_enc_trip(cm_wr *w, const st_trip *t);
int st_dec_trip(const MDB_val *v, st_trip *t);
/* The INTERVAL entry's value: end_s (the entry lives only in the root). */
void st_enc_interval(cm_wr *w, uint64_t end_s);
void st_enc_cap(cm_wr *w, const st_cap *c);
int st_dec_cap(const MDB_val *v, st_cap *c);
void st_enc_offer(cm_wr *w, const ledger_offer *o);
int st_dec_offer(const MDB_val *v, ledger_offer *o);
void st_enc_receipt(cm_wr *w, const ledger_receipt *r);
int st_dec_receipt(const MDB_val *v, ledger_receipt *r);
void st_enc_supply(cm_wr *w, const ledger_supply *s);
int st_dec_supply(const MDB_val *v, ledger_supply *s);
void st_enc_valset(cm_wr *w, const ledger_valset *vs);
int st_dec_valset(const MDB_val *v, ledger_valset *vs);

/* ---- typed reads shared by apply and the queries ----------------------- */

int st_get_account(ledger *l, MDB_txn *txn, const ck_pubkey key, st_account *a); /* zero if absent */
int st_get_keyreg(ledger *l, MDB_txn *txn, const ck_pubkey key, st_keyreg *k);   /* NOTFOUND */
int st_get_member(ledger *l, MDB_txn *txn, uint32_t id, ledger_member *m);       /* NOTFOUND */
int st_get_supply(ledger *l, MDB_txn *txn, ledger_supply *s);
int st_get_valset(ledger *l, MDB_txn *txn, const char *which, ledger_valset *vs);
/* Methodology in effect at height (the highest version whose effective
 * height is <= height), and the highest version registered at all. */
int st_get_methodology(ledger *l, MDB_txn *txn, uint64_t height, ledger_methodology *m,
		       uint32_t *latest_version);
int st_get_tip(ledger *l, MDB_txn *txn, st_tip *tip);
int st_put_tip(ledger *l, MDB_txn *txn, const st_tip *tip);

/* Validators from the member table: the first key of each member with the
 * validator role, sorted by key bytes. LEDGER_E_FIELD if there would be
 * more than LIM_VALIDATORS_MAX. */
int st_compute_valset(ledger *l, MDB_txn *txn, ledger_valset *vs);

/* Read-only transaction helpers. */
int st_rtxn(ledger *l, MDB_txn **txn);

#endif
