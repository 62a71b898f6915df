/*
 * Configuration of carbon-node: one JSON file in the home directory
 * (home/config.json), written by `carbon-node init`, overridable by flags
 * of `carbon-node start`. Unknown keys are errors, so a typo is never
 * silently ignored.
 *
 * Home layout: config.json, genesis.json, member.key (keystore), data/
 * (ledger LMDB), safety/ (safety-state LMDB).
 */
#ifndef CARBON_NODE_CONFIG_H
#define CARBON_NODE_CONFIG_H

#include <stdbool.h>
#include <stdint.h>

#include "common/limits.h"
#include "crypto/ck.h"

#define NODE_ADDR_MAX 128u

typedef struct node_peer_cfg {
	ck_pubkey key;
	char addr[NODE_ADDR_MAX];     /* "host:port"; empty: it dials us */
} node_peer_cfg;

typedef struct node_config {
	char p2p_listen[NODE_ADDR_MAX];
	char api_listen[NODE_ADDR_MAX];
	uint32_t npeers;
	node_peer_cfg peers[LIM_PEERS_MAX];
	int log_level;                /* enum node_log_level */
	uint32_t block_interval_ms;   /* proposer closes a block after this */
	uint32_t block_txs_max;
	/* Credited trips per block this node proposes: bounds a block's
	 * apply time (the next height waits for it) and the pages its
	 * write transaction dirties, which LMDB keeps allocated after. */
	uint32_t block_trips_max;
	uint32_t empty_block_ms;      /* ... or this long with nothing to do */
	uint32_t timeout_propose_ms;
	uint32_t timeout_vote_ms;
	uint32_t timeout_delta_ms;    /* added per round */
	uint32_t timeout_max_ms;
	bool validator;               /* false: read replica even if a member */
	uint64_t map_mb;              /* ledger LMDB map size */
} node_config;

void node_config_defaults(node_config *c);
/* Parses JSON at path into c (starting from defaults). -1 with err filled. */
int node_config_load(const char *path, node_config *c, char *err, size_t errlen);
/* Writes c as JSON to path (0600, atomically). -1 on error. */
int node_config_save(const char *path, const node_config *c);

#endif
