/*
 * Internal to ledger/: the credited trips of the claim window, indexed in
 * memory. Their records live in the "trips" database under keys that grow
 * with the chain (end day || height || trip id), so crediting a trip
 * appends to the database instead of writing a random page of a B-tree
 * keyed by trip id and another keyed by citizen; the two lookups the rules
 * need, "is this trip id credited?" and "does this citizen have a credited
 * trip overlapping [start, end)?", are answered here. The ledger fills the
 * set from the database at open, as it does the state-root map.
 *
 * Lookups by trip id give candidate locations (64-bit hashes of the ids
 * match), which the caller confirms by reading the record; citizens are
 * compared whole. Both hashes are keyed with a secret drawn at creation, so
 * an operator choosing trip ids or citizen keys cannot make probes long.
 *
 * Rollback works as the state-root map's: between ts_begin() and
 * ts_commit()/ts_rollback() every change is logged first, and a rollback
 * replays the log backwards without allocating (tables never shrink and an
 * emptied citizen keeps its room until the commit).
 *
 * Not thread-safe: the ledger uses it under its mutex.
 */
#ifndef CARBON_LEDGER_TRIPSET_H
#define CARBON_LEDGER_TRIPSET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "crypto/ck.h"

typedef struct tripset tripset;

/* Where a credited trip's record is: its "trips" key is
 * st_day_key(endday) || height || trip id. */
typedef struct ts_loc {
	int64_t endday;
	uint64_t height;
} ts_loc;

int ts_new(tripset **out);   /* LEDGER_E_NOMEM, or LEDGER_E_DB without randomness */
void ts_free(tripset *t);
size_t ts_count(const tripset *t);

/* Adds a credited trip: its id at loc and the citizen's interval
 * [start, end). LEDGER_E_NOMEM leaves the set unchanged; LEDGER_E_DB if the
 * citizen already has an interval starting at start (only a corrupt store
 * can ask for that: the rules never credit overlapping trips). */
int ts_add(tripset *t, const ck_hash id, const ts_loc *loc, const ck_pubkey citizen,
	   uint64_t start, uint64_t end);
/* Removes a trip added with exactly these arguments (it must be present).
 * LEDGER_E_NOMEM (recording only) leaves the set unchanged. */
int ts_del(tripset *t, const ck_hash id, const ts_loc *loc, const ck_pubkey citizen,
	   uint64_t start);

/* Candidate locations of trip id, one per call: start with *it = 0; false
 * when there are no more. */
bool ts_find(const tripset *t, const ck_hash id, size_t *it, ts_loc *loc);
/* Whether citizen has an interval overlapping [start, end) (start < end). */
bool ts_overlaps(const tripset *t, const ck_pubkey citizen, uint64_t start, uint64_t end);

int ts_begin(tripset *t);      /* LEDGER_E_NOMEM */
void ts_rollback(tripset *t);
void ts_commit(tripset *t);

#endif
