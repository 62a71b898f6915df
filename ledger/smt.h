/*
 * Internal to ledger/: the authenticated map behind the state root. A
 * compressed binary Merkle trie (sparse Merkle tree with single-leaf
 * subtrees collapsed) from 32-byte key hashes to 32-byte value hashes:
 *
 *   leaf(k, v)        = H("sleaf", k || v)
 *   node(bit, l, r)   = H("snode", u8 bit || l || r)   bit = branch index 0..255
 *   empty map         = 32 zero bytes
 *
 * The shape depends only on the set of keys, never on the order of
 * updates, so every node computes the same root from the same state.
 *
 * Where it lives. The leaves are on disk, in an LMDB database of the
 * ledger's environment (key = 32-byte key hash, value = 32-byte leaf hash
 * H("sleaf", k || v)), written in the block's own write transaction: an
 * aborted block takes its leaf changes with it and a crash cannot separate
 * the leaves from the state. In memory there is only the top of the trie:
 * for every prefix of up to SMT_TOP_BITS bits, the hash of the compressed
 * trie of the keys under it (a fixed 2^(SMT_TOP_BITS+1) x 32 bytes). The
 * trie below such a prefix (a "bucket") is rehashed from its leaves, read
 * with one cursor range, when one of its keys changes. Changes come in
 * batches (one per block, sorted by key), so each dirty bucket and each
 * top entry is rehashed once per batch.
 *
 * The ledger derives keys as H("skey", u8 table || key bytes) and values as
 * H("sval", value bytes), so the root commits to every table of the
 * consensus state.
 */
#ifndef CARBON_LEDGER_SMT_H
#define CARBON_LEDGER_SMT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <lmdb.h>

#include "crypto/ck.h"

/* Bits of key prefix the in-memory top covers: 2^(B+1) x 32 bytes of
 * memory (16 MiB at 18) against about keys / 2^B leaves per bucket to
 * reread and rehash when one of them changes (15 at 4 million keys).
 * docs/ARCHITECTURE.md, "Storage layout", has the measurements behind
 * 18. Changing it changes no root. */
#ifndef SMT_TOP_BITS /* a measurement build may set it (bench_ledger_smt) */
#define SMT_TOP_BITS 18u
#endif

typedef struct smt smt;

/* One change of a batch: set key to value (a value hash, see smt_value),
 * or delete it (value unused). */
typedef struct smt_change {
	ck_hash key;
	ck_hash value;
	bool del;
} smt_change;

/* Allocates the top (LEDGER_E_NOMEM) of an empty map whose leaves live in
 * database dbi of the caller's environment; the caller keeps dbi open while
 * the map lives. Call smt_load for a database that may hold leaves. */
int smt_new(smt **out, MDB_dbi dbi);
void smt_free(smt *t);

/* Rebuilds the top from the leaves in one pass over the database (no value
 * is rehashed, only the inner nodes of the buckets). LEDGER_E_DB if a
 * stored leaf is malformed. */
int smt_load(smt *t, MDB_txn *txn);

/* Applies n changes to the leaves inside write transaction txn and to the
 * top. The keys must be strictly increasing (one change per key). Setting a
 * present key to its value and deleting an absent one change nothing. On
 * an error (LEDGER_E_DB, LEDGER_E_MAP_FULL, LEDGER_E_NOMEM) the top is as
 * before the call and txn must be aborted: it may hold some of the leaf
 * changes. */
int smt_update(smt *t, MDB_txn *txn, const smt_change *c, size_t n);

/* Root hash of the map as of the last smt_update/smt_load/rollback. */
void smt_root(const smt *t, ck_hash out);
/* Number of keys. */
size_t smt_count(const smt *t);

/* Membership proof of key: siblings from the leaf up to the root with the
 * branch bit of each, the lower ones from the leaves of the key's bucket
 * read in txn (which must see the state the top was last updated to).
 * LEDGER_E_NOTFOUND if absent, LEDGER_E_DB, LEDGER_E_NOMEM. */
int smt_prove(smt *t, MDB_txn *txn, const ck_hash key, uint32_t *nsiblings, uint8_t bits[256],
	      ck_hash siblings[256]);
/* Pure check: 0 if (key, value) is in the map with this root, else
 * LEDGER_E_PROOF. Bits must strictly decrease from leaf to root... i.e. be
 * strictly increasing from the root down. */
int smt_verify(const ck_hash root, const ck_hash key, const ck_hash value, uint32_t nsiblings,
	       const uint8_t bits[256], const ck_hash siblings[256]);

/* Snapshot/rollback of the top so a failed block application leaves the
 * map as it was: smt_begin() starts recording the top entries smt_update
 * changes, smt_rollback() restores them (the caller aborts the transaction
 * that held the leaf changes), smt_commit() forgets the record. */
int smt_begin(smt *t);
void smt_rollback(smt *t);
void smt_commit(smt *t);

/* Root of a whole sorted key set computed in one pass with O(256) memory
 * (the audit's from-scratch root, and each bucket's hash): smt_fold_init,
 * then smt_fold_add for every key in strictly increasing order with its
 * leaf hash, then smt_fold_end. */
typedef struct smt_fold {
	ck_hash h[257];    /* subtrees on the right spine, left to right */
	uint8_t bit[257];  /* bit[i]: branch bit between h[i] and h[i+1] */
	unsigned n;        /* subtrees held */
	ck_hash last;      /* the last key added */
} smt_fold;
void smt_fold_init(smt_fold *f);
void smt_fold_add(smt_fold *f, const ck_hash key, const ck_hash leaf);
void smt_fold_end(smt_fold *f, ck_hash root);
/* H("sleaf", key || value): what the leaf database holds for a key. */
void smt_leaf(ck_hash out, const ck_hash key, const ck_hash value);

/* Derivations used by the ledger (and by proof verifiers elsewhere). */
void smt_key(ck_hash out, uint8_t table, const void *key, size_t len);
void smt_value(ck_hash out, const void *value, size_t len);

#endif
