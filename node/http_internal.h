/*
 * Shared inside the HTTP API: the server object, which http.c (thread,
 * connections, submissions, waiting) and http_query.c (read-only
 * endpoints) both use, and the JSON helpers. Everything here runs on the
 * HTTP thread unless a field says otherwise.
 */
#ifndef CARBON_NODE_HTTP_INTERNAL_H
#define CARBON_NODE_HTTP_INTERNAL_H

#include <pthread.h>

#include <event2/event.h>
#include <event2/http.h>

#include "node/http.h"

typedef struct hconn hconn;
typedef struct hreq hreq;

/* Open-addressing set of connections keyed by their evcon pointer; at
 * most LIM_HTTP_CONNS_MAX live, so a fixed table at half load. */
#define HTTP_CONN_SLOTS 2048u
_Static_assert(HTTP_CONN_SLOTS >= 2u * LIM_HTTP_CONNS_MAX, "connection table too small");

typedef struct http_counters {
	uint64_t requests;
	uint64_t status_2xx, status_4xx, status_5xx;
	uint64_t conns_accepted, conns_rejected, conns_timed_out;
	uint64_t accept_errors;
	uint64_t submitted_txs;
} http_counters;

struct node_http {
	node_http_config cfg;
	struct event_base *base;
	struct evhttp *evh;
	struct evconnlistener *listener;
	uint16_t port;
	pthread_t thread;
	struct event *wake;           /* activated by other threads */
	struct event *adopt;          /* adopts just-accepted connections */
	struct event *backoff;        /* re-enables accept after EMFILE */
	unsigned backoff_ms;

	/* Shared with other threads, under mu. */
	pthread_mutex_t mu;
	hreq *done_head, *done_tail;  /* submissions the backend finished */
	uint64_t commit_height;
	bool stop_requested;
	bool stopped;                 /* the HTTP thread has shut down */
	bool joined;                  /* node_http_stop has returned its part */
	size_t outstanding;           /* submissions the backend holds */

	/* HTTP thread only. */
	uint64_t seen_height;
	hreq *live;                   /* every request we answer later */
	hconn *conn_slot[HTTP_CONN_SLOTS];
	size_t nconns;
	struct bufferevent **fresh;   /* accepted, not yet adopted */
	size_t nfresh, fresh_cap;
	http_counters ctr;
};

/* ---- replies (http.c) ---- */
/* Sends body (stolen; NULL sends {}) as JSON with status. */
void http_reply(node_http *h, struct evhttp_request *req, int status, json_t *body);
/* {"error": code, "message": msg} with status. */
void http_reply_error(node_http *h, struct evhttp_request *req, int status, const char *code,
		      const char *msg);
/* Parks a proof request until header height+1 is committed (proof is
 * stolen). */
void http_park_proof(node_http *h, struct evhttp_request *req, ledger_account_proof *proof);

/* ---- submission bodies (http_body.c; fuzzed by tests/fuzz/fuzz_http_body.c) ---- */
/* The transactions of one POST /v1/tx or /v1/txs, before admission. */
typedef struct http_submission {
	uint8_t *buf;                 /* owns the transaction bytes */
	node_http_tx *txs;            /* n entries, pointing into buf */
	size_t n;
	const char **pre;             /* batch: nall entries, the reason one was not sent, or NULL */
	size_t nall;                  /* batch entries, 0 for POST /v1/tx */
} http_submission;
/* Parses a request body of len bytes (a malloc'd buffer with a NUL after
 * them, stolen: freed or kept in out->buf) sent with Content-Type
 * content_type (NULL if absent: hex). batch: /v1/txs, else /v1/tx. 0 with
 * *out filled (free with http_submission_free), or -1 with *err the
 * machine reason of the 4xx/5xx answer ("unsupported_media_type",
 * "bad_json", "bad_hex", "bad_msgpack", "tx_size", "nomem") and *msg its
 * text; *out is then empty. Pure; any thread. */
int http_parse_submission(const char *content_type, bool batch, uint8_t *body, size_t len,
			  http_submission *out, const char **err, const char **msg);
void http_submission_free(http_submission *s);

/* ---- JSON (http_query.c) ---- */
/* A uint64 as a JSON integer, or a decimal string above INT64_MAX. */
json_t *http_u64(uint64_t v);
json_t *http_hex(const void *p, size_t n);
json_t *http_addr(const ck_pubkey pk);
/* "12.345": grams as kilograms with three decimals, integers only. */
json_t *http_kg(uint64_t grams);
/* Read-only endpoints: answer req themselves. */
void http_handle_query(node_http *h, struct evhttp_request *req, const node_http_target *t);
/* Answers a parked proof if header proof->height + 1 is stored (true),
 * or, when final, without it (certified: false). */
bool http_answer_proof(node_http *h, struct evhttp_request *req, const ledger_account_proof *p,
		       bool final);
/* Answers a transaction's committed location if it is committed. */
bool http_answer_committed(node_http *h, struct evhttp_request *req, const ck_hash hash);

#endif
