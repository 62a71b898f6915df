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
 * updates, so every node computes the same root from the same state. Nodes
 * live in memory; the ledger rebuilds them from LMDB at open. Updates are
 * batched: set/delete mark paths dirty, smt_root() rehashes only the dirty
 * nodes (a bounded number of hashes per changed key).
 *
 * The ledger derives keys as H("skey", u8 table || key bytes) and values as
 * H("sval", value bytes), so the root commits to every table of the
 * consensus state.
 */
#ifndef CARBON_LEDGER_SMT_H
#define CARBON_LEDGER_SMT_H

#include <stddef.h>
#include <stdint.h>

#include "crypto/ck.h"

typedef struct smt smt;

int smt_new(smt **out);                       /* LEDGER_E_NOMEM */
void smt_free(smt *t);
/* Inserts or replaces. LEDGER_E_NOMEM leaves the map unchanged. */
int smt_set(smt *t, const ck_hash key, const ck_hash value);
/* Removes key if present (0 either way). */
int smt_delete(smt *t, const ck_hash key);
/* Root hash (rehashes dirty nodes first). */
void smt_root(smt *t, ck_hash out);
size_t smt_count(const smt *t);

/* Brings into the cache the paths of up to SMT_WARM_MAX keys about to be
 * set or deleted, walking them side by side so that their cache misses
 * overlap instead of following one another. Changes nothing. */
#define SMT_WARM_MAX 16u
void smt_warm(const smt *t, const uint8_t *const keys[], unsigned n);

/* Membership proof of key: siblings from the leaf up to the root with the
 * branch bit of each. LEDGER_E_NOTFOUND if absent. */
int smt_prove(smt *t, const ck_hash key, uint32_t *nsiblings, uint8_t bits[256],
	      ck_hash siblings[256]);
/* Pure check: 0 if (key, value) is in the map with this root, else
 * LEDGER_E_PROOF. Bits must strictly decrease from leaf to root... i.e. be
 * strictly increasing from the root down. */
int smt_verify(const ck_hash root, const ck_hash key, const ck_hash value, uint32_t nsiblings,
	       const uint8_t bits[256], const ck_hash siblings[256]);

/* Snapshot/rollback so a failed block application leaves the map as it
 * was: smt_begin() starts recording, smt_rollback() undoes every change
 * since, smt_commit() forgets the record. */
int smt_begin(smt *t);
void smt_rollback(smt *t);
void smt_commit(smt *t);

/* Derivations used by the ledger (and by proof verifiers elsewhere). */
void smt_key(ck_hash out, uint8_t table, const void *key, size_t len);
void smt_value(ck_hash out, const void *value, size_t len);

#endif
