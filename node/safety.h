/*
 * The safety store of carbon-node: the consensus core's safety state (last
 * signed height/round/step, lock, valid value, the signed messages
 * themselves) in its own small LMDB environment, synced on every write, so
 * that persisting a vote never waits behind a large block commit in the
 * ledger's environment. The bytes are opaque here (consensus/ encodes
 * them); a checksum beside them tells a corrupted store from an empty one.
 *
 * Writes happen on one thread (the safety writer); open and load happen
 * before that thread starts.
 */
#ifndef CARBON_NODE_SAFETY_H
#define CARBON_NODE_SAFETY_H

#include <stddef.h>
#include <stdint.h>

typedef struct node_safety node_safety;

/* Opens (creating) the store in directory dir. -1 with a logged reason. */
int node_safety_open(node_safety **out, const char *dir);
void node_safety_close(node_safety *s);
/* The store holds: "safety" (the core's safety state, small, written on
 * every change), "valid" (validValue's block bytes and its proof of lock,
 * large, written only when validValue changes), and "decided0/1" (each
 * decided block with its commit certificate, in slot height % 2, written
 * before the next height may sign anything: the next height starts while
 * the ledger's commit of the block still syncs, so a restart may need the
 * block, and the peers may all have lost it too). */
enum node_safety_record {
	NODE_SAFETY_STATE = 0,
	NODE_SAFETY_VALID = 1,
	NODE_SAFETY_DECIDED0 = 2,
	NODE_SAFETY_DECIDED1 = 3,
};

/* Loads a record: *buf is malloc'd (caller frees), *len 0 and *buf NULL if
 * nothing was ever stored. -1 if the store is unreadable or the checksum
 * fails (a corrupted safety state must stop the node: signing without it
 * risks a double vote). */
int node_safety_load(node_safety *s, enum node_safety_record rec, uint8_t **buf, size_t *len);
/* Stores the state record and, if valid is not NULL, the valid record, in
 * one synced transaction; returns only once the bytes are durable. -1 on
 * error (the caller must not send what this state implies). */
int node_safety_store(node_safety *s, const uint8_t *state, size_t len, const uint8_t *valid,
		      size_t vlen);
/* Stores one record alone in one synced transaction; -1 on error. */
int node_safety_store_one(node_safety *s, enum node_safety_record rec, const uint8_t *buf,
			  size_t len);

#endif
