/*
 * node HTTP API: the JSON interface of carbon-node (docs/API.md lists every
 * endpoint). It runs its own event_base on its own thread, so a slow or
 * hostile client cannot delay the consensus loop; read-only queries go
 * straight to the ledger (LMDB read transactions are safe from any
 * thread); what lives on the node's loop (mempool, peers, consensus) is
 * reached through a backend vtable the node implements.
 *
 * Submissions are asynchronous: the HTTP thread calls backend.submit()
 * with the transactions and a cookie and goes on serving other clients;
 * the node, on any thread and at any later time, hands the results back
 * with node_http_submit_done(), which queues them and wakes the HTTP
 * thread (event_active on its base). Nothing blocks either thread.
 *
 * Bounds: body (LIM_HTTP_BODY_BYTES_MAX) and headers
 * (LIM_HTTP_HEADERS_BYTES_MAX) are enforced by evhttp; every connection
 * must deliver each complete request within LIM_HTTP_TIMEOUT_S of the
 * previous answer (or of connecting), which also catches clients that
 * trickle bytes to dodge evhttp's inactivity timeout; at most
 * LIM_HTTP_CONNS_MAX connections are open (a newer one is closed at once);
 * when accept fails for want of file descriptors, the listener backs off
 * and retries instead of spinning.
 */
#ifndef CARBON_NODE_HTTP_H
#define CARBON_NODE_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "common/limits.h"
#include "crypto/ck.h"
#include "ledger/ledger.h"

struct evbuffer;

#define NODE_HTTP_WUR __attribute__((warn_unused_result))

/* Error codes of the HTTP API: -470..-489 inside node/'s range (mempool
 * -400..-429, transport -440..-469). The first ones are also the
 * machine-readable reasons of 4xx answers to malformed requests. */
#define NODE_HTTP_ERRORS(X)                                                                   \
	X(NODE_E_HTTP_NOT_FOUND,   -470, "not_found",   "no such endpoint")                      \
	X(NODE_E_HTTP_BAD_PATH,    -471, "bad_path",    "malformed request target")              \
	X(NODE_E_HTTP_BAD_ADDRESS, -472, "bad_address", "malformed address")                     \
	X(NODE_E_HTTP_BAD_HASH,    -473, "bad_hash",    "malformed hash: 64 hex digits expected") \
	X(NODE_E_HTTP_BAD_NUMBER,  -474, "bad_number",  "malformed or out-of-range number")      \
	X(NODE_E_HTTP_BAD_QUERY,   -475, "bad_query",   "unknown, repeated, missing or malformed query parameter") \
	X(NODE_E_HTTP_CONFIG,      -476, "config",      "invalid HTTP API configuration")        \
	X(NODE_E_HTTP_LISTEN,      -477, "listen",      "cannot listen on the API address")      \
	X(NODE_E_HTTP_NOMEM,       -478, "nomem",       "out of memory")                         \
	X(NODE_E_HTTP_THREAD,      -479, "thread",      "cannot start the HTTP thread")

enum node_http_err {
#define NODE_HTTP_ENUM(name, val, id, msg) name = val,
	NODE_HTTP_ERRORS(NODE_HTTP_ENUM)
#undef NODE_HTTP_ENUM
};
const char *node_http_strerror(int rc);
/* Short machine name of an HTTP code ("bad_address", ...). */
const char *node_http_reason(int rc);

/* ---- request targets (pure; fuzzed by tests/fuzz/fuzz_http_path.c) ---- */

enum node_http_route {
	NODE_HTTP_R_TX_POST = 1,      /* POST /v1/tx */
	NODE_HTTP_R_TXS_POST,         /* POST /v1/txs */
	NODE_HTTP_R_TX,               /* GET /v1/tx/{hash} */
	NODE_HTTP_R_ACCOUNT,          /* GET /v1/account/{address} */
	NODE_HTTP_R_HISTORY,          /* GET /v1/account/{address}/history */
	NODE_HTTP_R_PROOF,            /* GET /v1/account/{address}/proof */
	NODE_HTTP_R_BLOCK,            /* GET /v1/block/{height|latest} */
	NODE_HTTP_R_TRIP,             /* GET /v1/trip/{trip-id} */
	NODE_HTTP_R_OPERATOR_TRIPS,   /* GET /v1/operator/{address}/trips */
	NODE_HTTP_R_OFFERS,           /* GET /v1/offers */
	NODE_HTTP_R_RECEIPTS,         /* GET /v1/receipts */
	NODE_HTTP_R_SUPPLY,           /* GET /v1/supply */
	NODE_HTTP_R_EVIDENCE,         /* GET /v1/evidence */
	NODE_HTTP_R_STATUS,           /* GET /v1/status */
	NODE_HTTP_R_HEADER,           /* GET /v1/header/{height|latest} */
	NODE_HTTP_R_VALSET,           /* GET /v1/valset/{height} */
	/* Last: tests/fuzz/fuzz_http_path.c bounds the routes by it. */
	NODE_HTTP_R_METRICS,          /* GET /metrics */
};

/* Query parameters present (bits of node_http_target.query). */
enum node_http_query {
	NODE_HTTP_Q_WAIT_MS = 1u << 0,
	NODE_HTTP_Q_CURSOR = 1u << 1,
	NODE_HTTP_Q_LIMIT = 1u << 2,
	NODE_HTTP_Q_DAY = 1u << 3,
	NODE_HTTP_Q_MERCHANT = 1u << 4,
	NODE_HTTP_Q_AFTER = 1u << 5,
};

typedef struct node_http_target {
	enum node_http_route route;
	bool post;                    /* the route's method: POST, else GET */
	ck_pubkey key;                /* {address} */
	ck_hash hash;                 /* {hash}, {trip-id} */
	uint64_t height;              /* {height}; 0 with latest */
	bool latest;
	uint32_t query;               /* enum node_http_query bits */
	uint64_t wait_ms;             /* <= LIM_HTTP_WAIT_MS_MAX */
	uint64_t cursor;
	uint64_t after;               /* offers: ids above this */
	uint32_t limit;               /* 1..LIM_HISTORY_PAGE_MAX */
	int64_t day;                  /* days since 1970-01-01 (city time) */
	ck_pubkey merchant;
} node_http_target;

/* Parses a request target (path and query, len bytes, need not be
 * NUL-terminated) into out. Paths match exactly (no trailing slash, no
 * empty segment); each route accepts only its own query parameters, each at
 * most once, percent-decoding allowed; numbers are decimal digits without
 * sign (day also YYYY-MM-DD or a signed day number) that must not
 * overflow. Returns 0, NODE_E_HTTP_NOT_FOUND (no route has this shape), or
 * a NODE_E_HTTP_BAD_* code with a one-line reason in msg (size msglen),
 * e.g. the address decoder's "address checksum mismatch (mistyped?)". Pure;
 * any thread. */
NODE_HTTP_WUR int node_http_parse_target(const char *target, size_t len, node_http_target *out,
					 char *msg, size_t msglen);

/* ---- server ------------------------------------------------------------ */

typedef struct node_http node_http;

/* One transaction of a submission: bytes owned by the HTTP thread, valid
 * until node_http_submit_done() is called for the submission's cookie. */
typedef struct node_http_tx {
	const uint8_t *tx;
	size_t len;
} node_http_tx;

/* Outcome of one transaction: rc 0 (admitted) or the mempool's code
 * (node_mempool_reason() names it for the client); hash as the mempool
 * computed it (zero if the bytes were too big to hash). */
typedef struct node_http_submit_result {
	int rc;
	ck_hash hash;
} node_http_submit_result;

/* What the node provides. Every callback runs on the HTTP thread and must
 * be thread-safe with respect to the node's loop; all but submit must
 * answer promptly from state the node keeps for the purpose (a mutex-held
 * snapshot, atomics). Return 0 or a negative code (the request then gets a
 * 500 with the code's text). */
typedef struct node_http_backend {
	void *ctx;
	/* Takes n transactions for admission and returns at once; later
	 * calls node_http_submit_done(http, cookie, results, n) exactly once,
	 * from any thread (also from inside this call). */
	void (*submit)(void *ctx, node_http *http, const node_http_tx *txs, size_t n, void *cookie);
	/* Adds the node's fields to the /v1/status object: "peers",
	 * "mempool_txs", "version", "validator" (bool), and whatever else the
	 * node reports (chain, height, state root, validators come from the
	 * ledger). */
	int (*status)(void *ctx, json_t *out);
	/* *pending true if the transaction is in the mempool. */
	int (*tx_status)(void *ctx, const ck_hash hash, bool *pending);
	/* Next nonce of key counting pending transactions, given the
	 * committed one (node_mempool_pending_nonce). */
	int (*pending_nonce)(void *ctx, const ck_pubkey key, uint64_t committed, uint64_t *next);
	/* A new JSON array of equivocation evidence (the caller decrefs). */
	int (*evidence)(void *ctx, json_t **out);
	/* Appends Prometheus text lines (node metrics) to out. */
	int (*metrics)(void *ctx, struct evbuffer *out);
} node_http_backend;

typedef struct node_http_config {
	char listen[128];             /* "host:port"; port 0 picks a free one */
	ledger *ledger;               /* read-only use; outlives the server */
	char chain_id[LIM_CHAIN_ID_BYTES_MAX + 1];
	node_http_backend backend;
	/* 0 takes the limit; smaller values are for tests. */
	uint32_t timeout_s;           /* [LIM_HTTP_TIMEOUT_S] */
	uint32_t conns_max;           /* [LIM_HTTP_CONNS_MAX] */
} node_http_config;

/* Binds, then starts the HTTP thread. Calls evthread_use_pthreads() (the
 * daemon should also call it first thing, before any event_base exists).
 * NODE_E_HTTP_CONFIG (missing ledger, chain id or callback, bad listen
 * address, a limit above its default), NODE_E_HTTP_LISTEN, NODE_E_HTTP_NOMEM, NODE_E_HTTP_THREAD; *out
 * is NULL then. Any thread. */
NODE_HTTP_WUR int node_http_start(node_http **out, const node_http_config *cfg);

/* The TCP port actually bound (useful with port 0). */
uint16_t node_http_port(const node_http *http);

/* Answers every waiting request with 503, closes every connection, joins
 * the thread and frees the server. Submissions the backend still holds
 * stay valid: their node_http_submit_done() is still allowed (it finds the
 * server stopped and frees what is left; the last one frees the server's
 * remains). NULL is a no-op. Not from the HTTP thread itself. */
void node_http_stop(node_http *http);

/* Results of a submission (n as submitted; res NULL if the backend ran
 * out of memory: every transaction then fails with NODE_E_MP_NOMEM).
 * Thread-safe; non-blocking. */
void node_http_submit_done(node_http *http, void *cookie, const node_http_submit_result *res,
			   size_t n);

/* Tells the server a block committed (call after the mempool has been
 * updated for it): requests waiting with ?wait_ms re-check their
 * transaction, proofs waiting for a certifying header re-check. Thread-safe;
 * non-blocking. */
void node_http_notify_commit(node_http *http, uint64_t height);

#endif
