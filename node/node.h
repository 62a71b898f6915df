/*
 * node: carbon-node, the daemon every member organisation runs. This header
 * is what node/main.c (the command line) needs; the pieces the driver
 * wires together have their own internal headers in node/: net.h (peer
 * transport), mempool.h, http.h (API server), safety.h (synced safety
 * store), work.h (worker threads), config.h, log.h.
 *
 * The driver (node/node.c) runs the consensus core of consensus/ over the
 * network: it turns peer messages, timers and worker completions into
 * events, and carries out the actions, honouring the persist barrier
 * (docs/ARCHITECTURE.md, "Threads of carbon-node").
 */
#ifndef CARBON_NODE_H
#define CARBON_NODE_H

#include <stdbool.h>
#include <stddef.h>

#include "node/config.h"

/* Error codes of the daemon driver: -490..-499 inside node/'s range. */
#define NODE_ERRORS(X)                                                    \
	X(NODE_E_SETUP,     -490, "node set-up failed (see the log)")        \
	X(NODE_E_HOME,      -491, "home directory missing or not initialised") \
	X(NODE_E_KEY,       -492, "member key cannot be read")               \
	X(NODE_E_FATAL,     -493, "node stopped to stay safe (see the log)")

enum node_err {
#define NODE_ENUM(name, val, msg) name = val,
	NODE_ERRORS(NODE_ENUM)
#undef NODE_ENUM
};
const char *node_strerror(int rc);

/* Overrides from the command line of `carbon-node start`; NULL or 0 keeps
 * the configuration file's value. */
typedef struct node_overrides {
	const char *p2p_listen;
	const char *api_listen;
	int log_level;                /* -1: keep */
	int validator;                /* -1: keep, 0: replica, 1: validator */
	/* Allow a validator to start without a stored safety state although
	 * the ledger is past genesis (a new member key, or a validator
	 * replaced after waiting out its last heights: docs/OPERATIONS.md).
	 * Without it such a start is refused: an empty safety/ next to a
	 * used ledger usually means the safety state was lost, and signing
	 * without it risks a double vote. */
	bool fresh_safety;
} node_overrides;

/* `carbon-node init`: creates home (mode 0700) with genesis.json and
 * member.key copied in, data/ and safety/ made on first start, and a
 * config.json whose peers are the genesis members that have a p2p
 * address (except our own key) and whose p2p_listen is our member's
 * p2p_addr. Refuses a home that already has a config.json. */
int node_init_home(const char *home, const char *genesis_path, const char *key_path,
		   const char *p2p_listen, const char *api_listen);

/* `carbon-node audit`: checks every invariant of the ledger in home/data
 * (ledger_audit: supply, balances, trips, intervals, the state root
 * recomputed from scratch) and prints the result. The node must be stopped
 * (the home lock). 0 if every invariant holds, LEDGER_E_AUDIT if one is
 * violated (described on stdout), another code if the audit cannot run. */
int node_audit_home(const char *home);

/* `carbon-node start`: runs until SIGINT/SIGTERM, then shuts down cleanly.
 * passphrase unlocks home/member.key (the caller read it from a prompt, a
 * file or the environment, never the command line) and is not kept.
 * Returns 0 after a clean stop or a NODE_E_* code. */
int node_run(const char *home, const node_overrides *ov, const char *passphrase,
	     size_t passlen);

#endif
