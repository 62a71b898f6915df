/*
 * The HTTP server of carbon-node: its thread and event base, connection
 * accounting, request dispatch, transaction submission with asynchronous
 * completion, and requests that wait for a commit. Read-only endpoints
 * live in http_query.c, target parsing in http_path.c.
 *
 * Connection accounting. evhttp 2.1 has no connection cap and no hook
 * before it reads from a new connection, but it asks a bevcb for each new
 * connection's bufferevent: we make it, note it, and activate the adopt
 * event, which runs before the loop next polls (so before any byte is
 * read). There the bufferevent's callback argument is its evhttp
 * connection: over the cap it is freed at once, otherwise it gets a close
 * callback (to count it down) and a deadline: each complete request must
 * arrive within LIM_HTTP_TIMEOUT_S of connecting or of the previous
 * answer, whatever the pace of the bytes.
 */
#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>
#include <event2/thread.h>

#include "common/cm.h"
#include "node/http_internal.h"
#include "node/mempool.h"

struct hconn {
	node_http *h;
	struct evhttp_connection *evcon;
	struct event *deadline;
};

enum hreq_kind { HR_SUBMIT, HR_PROOF };

/* A request answered later: a submission (waiting for the backend, then
 * perhaps for its commit) or a proof waiting for the certifying header. */
struct hreq {
	node_http *h;
	struct evhttp_request *req;   /* NULL once orphaned by shutdown */
	enum hreq_kind kind;
	bool batch;
	bool inflight;                /* the backend holds it */
	uint64_t wait_ms;
	uint8_t *buf;                 /* owns the transaction bytes */
	size_t n;                     /* submitted to the backend */
	node_http_tx *txs;
	size_t nall;                  /* batch entries, with the ones not sent */
	const char **pre;             /* batch: reason an entry was not sent, or NULL */
	node_http_submit_result *res;
	ledger_account_proof *proof;
	struct event *timer;
	hreq *prev, *next;            /* h->live */
	hreq *done_next;              /* h->done queue */
};

/* ---- replies ----------------------------------------------------------- */

void http_reply(node_http *h, struct evhttp_request *req, int status, json_t *body)
{
	struct evbuffer *out = evbuffer_new();
	char *s = body ? json_dumps(body, JSON_COMPACT) : NULL;
	json_decref(body);
	if (out == NULL || (body != NULL && s == NULL)) {
		free(s);
		if (out)
			evbuffer_free(out);
		evhttp_send_error(req, 500, NULL);
		h->ctr.status_5xx++;
		return;
	}
	evbuffer_add(out, s ? s : "{}", s ? strlen(s) : 2);
	evbuffer_add(out, "\n", 1);
	free(s);
	struct evkeyvalq *hd = evhttp_request_get_output_headers(req);
	evhttp_add_header(hd, "Content-Type", "application/json");
	evhttp_add_header(hd, "Cache-Control", "no-store");
	if (status < 300)
		h->ctr.status_2xx++;
	else if (status < 500)
		h->ctr.status_4xx++;
	else
		h->ctr.status_5xx++;
	evhttp_send_reply(req, status, NULL, out);
	evbuffer_free(out);
}

void http_reply_error(node_http *h, struct evhttp_request *req, int status, const char *code,
		      const char *msg)
{
	http_reply(h, req, status, json_pack("{s:s, s:s}", "error", code, "message", msg));
}

/* HTTP status of an admission failure. */
static int submit_status(int rc)
{
	switch (rc) {
	case NODE_E_DUPLICATE:
	case NODE_E_NONCE_LOW:
	case NODE_E_NONCE_HIGH:
	case NODE_E_NONCE_PENDING:
	case NODE_E_TRIP_CREDITED:
	case NODE_E_TRIP_PENDING:
		return 409;
	case NODE_E_MEMPOOL_FULL:
	case NODE_E_SENDER_FULL:
	case NODE_E_HELD_FULL:
	case NODE_E_SENDER_HELD_FULL:
		return 429;
	case NODE_E_ROLE:
		return 403;
	case NODE_E_TX_SIZE:
		return 413;
	case NODE_E_MP_NOMEM:
		return 503;
	default:
		break;
	}
	return strcmp(node_mempool_reason(rc), "internal") == 0 ? 500 : 400;
}

static bool hash_is_zero(const ck_hash h)
{
	uint8_t acc = 0;
	for (size_t i = 0; i < CK_HASH_BYTES; i++)
		acc |= h[i];
	return acc == 0;
}

static json_t *result_json(const node_http_submit_result *r)
{
	json_t *o = json_object();
	if (!hash_is_zero(r->hash))
		json_object_set_new(o, "hash", http_hex(r->hash, CK_HASH_BYTES));
	if (r->rc == 0) {
		json_object_set_new(o, "status", json_string("pending"));
	} else {
		json_object_set_new(o, "error", json_string(node_mempool_reason(r->rc)));
		json_object_set_new(o, "message", json_string(node_mempool_strerror(r->rc)));
	}
	return o;
}

/* ---- live requests --------------------------------------------------------- */

static void live_link(node_http *h, hreq *r)
{
	r->prev = NULL;
	r->next = h->live;
	if (h->live)
		h->live->prev = r;
	h->live = r;
}

static void live_unlink(node_http *h, hreq *r)
{
	if (r->prev)
		r->prev->next = r->next;
	else
		h->live = r->next;
	if (r->next)
		r->next->prev = r->prev;
	r->prev = r->next = NULL;
}

static void hreq_free(hreq *r)
{
	if (r == NULL)
		return;
	if (r->timer)
		event_free(r->timer);
	free(r->buf);
	free(r->txs);
	free(r->pre);
	free(r->res);
	free(r->proof);
	free(r);
}

static hreq *hreq_new(node_http *h, struct evhttp_request *req, enum hreq_kind kind)
{
	hreq *r = calloc(1, sizeof *r);
	if (r == NULL)
		return NULL;
	r->h = h;
	r->req = req;
	r->kind = kind;
	return r;
}

/* Finishes a live request: unlinks and frees it. */
static void hreq_finish(node_http *h, hreq *r)
{
	live_unlink(h, r);
	hreq_free(r);
}

/* ---- waiting for a commit ------------------------------------------------------ */

static void wait_timeout(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	hreq *r = arg;
	node_http *h = r->h;
	if (r->kind == HR_PROOF) {
		http_answer_proof(h, r->req, r->proof, true);
	} else {
		json_t *o = result_json(&r->res[0]);
		http_reply(h, r->req, 202, o);
	}
	hreq_finish(h, r);
}

/* Re-checks a waiting request after a commit; true if it was answered. */
static bool wait_check(node_http *h, hreq *r)
{
	if (r->kind == HR_PROOF)
		return http_answer_proof(h, r->req, r->proof, false);
	if (http_answer_committed(h, r->req, r->res[0].hash))
		return true;
	/* Neither committed nor pending any more: dropped by the mempool
	 * (another transaction took its nonce or credited its trip). */
	bool pending = true;
	if (h->cfg.backend.tx_status(h->cfg.backend.ctx, r->res[0].hash, &pending) == 0 &&
	    !pending) {
		json_t *o = json_pack("{s:o, s:s, s:s, s:s}", "hash",
				      http_hex(r->res[0].hash, CK_HASH_BYTES), "status", "dropped",
				      "error", "dropped", "message",
				      "transaction left the mempool without being committed");
		http_reply(h, r->req, 409, o);
		return true;
	}
	return false;
}

static void park(node_http *h, hreq *r, uint64_t ms)
{
	r->timer = evtimer_new(h->base, wait_timeout, r);
	struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000};
	if (r->timer == NULL || evtimer_add(r->timer, &tv) != 0) {
		http_reply_error(h, r->req, 503, "nomem", "cannot wait: out of memory");
		hreq_finish(h, r);
	}
}

void http_park_proof(node_http *h, struct evhttp_request *req, ledger_account_proof *proof)
{
	hreq *r = hreq_new(h, req, HR_PROOF);
	if (r == NULL) {
		free(proof);
		http_reply_error(h, req, 503, "nomem", "out of memory");
		return;
	}
	r->proof = proof;
	live_link(h, r);
	park(h, r, LIM_HTTP_PROOF_WAIT_MS);
}

static void on_commit(node_http *h)
{
	for (hreq *r = h->live, *next; r != NULL; r = next) {
		next = r->next;
		if (r->inflight || r->timer == NULL)
			continue;
		if (wait_check(h, r))
			hreq_finish(h, r);
	}
}

/* ---- submissions ------------------------------------------------------------ */

/* A submission the backend finished, back on the HTTP thread. */
static void submit_finished(node_http *h, hreq *r)
{
	r->inflight = false;
	if (r->batch) {
		json_t *arr = json_array();
		size_t k = 0, accepted = 0;
		for (size_t i = 0; i < r->nall; i++) {
			if (r->pre[i] != NULL) {
				const char *m = strcmp(r->pre[i], "bad_hex") == 0
							? "transaction must be an even number of hex digits"
							: node_mempool_strerror(NODE_E_TX_SIZE);
				json_array_append_new(arr, json_pack("{s:s, s:s}", "error", r->pre[i],
								     "message", m));
				continue;
			}
			accepted += r->res[k].rc == 0;
			json_array_append_new(arr, result_json(&r->res[k++]));
		}
		assert(k == r->n);
		http_reply(h, r->req, 200,
			   json_pack("{s:o, s:I, s:I}", "results", arr, "accepted",
				     (json_int_t)accepted, "rejected", (json_int_t)(r->nall - accepted)));
		hreq_finish(h, r);
		return;
	}
	const node_http_submit_result *res = &r->res[0];
	if (res->rc != 0) {
		http_reply(h, r->req, submit_status(res->rc), result_json(res));
		hreq_finish(h, r);
		return;
	}
	if (r->wait_ms == 0 || http_answer_committed(h, r->req, res->hash)) {
		if (r->wait_ms == 0)
			http_reply(h, r->req, 200, result_json(res));
		hreq_finish(h, r);
		return;
	}
	park(h, r, r->wait_ms);
}

void node_http_submit_done(node_http *h, void *cookie, const node_http_submit_result *res,
			   size_t n)
{
	hreq *r = cookie;
	if (res == NULL) {
		/* The backend could not even allocate the results. */
		for (size_t i = 0; i < r->n; i++)
			r->res[i].rc = NODE_E_MP_NOMEM;
	} else {
		assert(n == r->n);
		memcpy(r->res, res, n * sizeof *res);
	}
	pthread_mutex_lock(&h->mu);
	assert(h->outstanding > 0);
	h->outstanding--;
	if (h->stopped) {
		/* Orphaned by shutdown: nobody to answer. */
		bool last = h->joined && h->outstanding == 0;
		pthread_mutex_unlock(&h->mu);
		hreq_free(r);
		if (last) {
			pthread_mutex_destroy(&h->mu);
			free(h);
		}
		return;
	}
	r->done_next = NULL;
	if (h->done_tail)
		h->done_tail->done_next = r;
	else
		h->done_head = r;
	h->done_tail = r;
	/* Under mu, so the HTTP thread cannot free the base in between. */
	event_active(h->wake, 0, 0);
	pthread_mutex_unlock(&h->mu);
}

static void submit(node_http *h, hreq *r)
{
	r->res = calloc(r->n ? r->n : 1, sizeof *r->res);
	if (r->res == NULL) {
		http_reply_error(h, r->req, 503, "nomem", "out of memory");
		hreq_free(r);
		return;
	}
	live_link(h, r);
	h->ctr.submitted_txs += r->n;
	if (r->n == 0) {  /* a batch with nothing valid in it */
		submit_finished(h, r);
		return;
	}
	r->inflight = true;
	pthread_mutex_lock(&h->mu);
	h->outstanding++;
	pthread_mutex_unlock(&h->mu);
	h->cfg.backend.submit(h->cfg.backend.ctx, h, r->txs, r->n, r);
}

/* The request body as one contiguous malloc'd buffer (NUL-terminated for
 * the text parsers; *len excludes the NUL). */
static uint8_t *body_copy(struct evhttp_request *req, size_t *len)
{
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	*len = evbuffer_get_length(in);
	uint8_t *b = malloc(*len + 1);
	if (b == NULL)
		return NULL;
	if (evbuffer_copyout(in, b, *len) != (ev_ssize_t)*len) {
		free(b);
		return NULL;
	}
	b[*len] = 0;
	return b;
}

/* POST /v1/tx (wait_ms from the target) and POST /v1/txs (batch). */
static void post_submission(node_http *h, struct evhttp_request *req, const node_http_target *t,
			    bool batch)
{
	const char *ct = evhttp_find_header(evhttp_request_get_input_headers(req), "Content-Type");
	const char *err = "nomem", *msg = "out of memory";
	http_submission s;
	size_t blen;
	uint8_t *body = body_copy(req, &blen);
	if (body == NULL || http_parse_submission(ct, batch, body, blen, &s, &err, &msg) != 0)
		goto fail;
	hreq *r = hreq_new(h, req, HR_SUBMIT);
	if (r == NULL) {
		http_submission_free(&s);
		err = "nomem";
		msg = "out of memory";
		goto fail;
	}
	r->batch = batch;
	r->buf = s.buf;
	r->txs = s.txs;
	r->n = s.n;
	r->pre = s.pre;
	r->nall = s.nall;
	r->wait_ms = batch ? 0 : t->wait_ms;
	submit(h, r);
	return;
fail:
	http_reply_error(h, req,
			 strcmp(err, "nomem") == 0 ? 503
			 : strcmp(err, "unsupported_media_type") == 0 ? 415
			 : strcmp(err, "tx_size") == 0 ? 413 : 400,
			 err, msg);
}

/* ---- wake-ups from other threads ------------------------------------------- */

static void shutdown_thread(node_http *h);

static void on_wake(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	node_http *h = arg;
	pthread_mutex_lock(&h->mu);
	hreq *done = h->done_head;
	h->done_head = h->done_tail = NULL;
	uint64_t height = h->commit_height;
	bool stop = h->stop_requested;
	pthread_mutex_unlock(&h->mu);
	while (done) {
		hreq *r = done;
		done = r->done_next;
		submit_finished(h, r);
	}
	if (height > h->seen_height) {
		h->seen_height = height;
		on_commit(h);
	}
	if (stop)
		shutdown_thread(h);
}

void node_http_notify_commit(node_http *h, uint64_t height)
{
	pthread_mutex_lock(&h->mu);
	if (!h->stopped && height > h->commit_height) {
		h->commit_height = height;
		event_active(h->wake, 0, 0);
	}
	pthread_mutex_unlock(&h->mu);
}

/* ---- connections --------------------------------------------------------------- */

static size_t conn_home(const struct evhttp_connection *evcon)
{
	uintptr_t v = (uintptr_t)evcon;
	return (size_t)((v >> 4) * 0x9e3779b97f4a7c15ull >> 40) & (HTTP_CONN_SLOTS - 1);
}

static hconn *conn_find(node_http *h, const struct evhttp_connection *evcon)
{
	if (evcon == NULL)
		return NULL;
	for (size_t i = conn_home(evcon);; i = (i + 1) & (HTTP_CONN_SLOTS - 1)) {
		if (h->conn_slot[i] == NULL)
			return NULL;
		if (h->conn_slot[i]->evcon == evcon)
			return h->conn_slot[i];
	}
}

static void conn_insert(node_http *h, hconn *c)
{
	assert(h->nconns < LIM_HTTP_CONNS_MAX);
	size_t i = conn_home(c->evcon);
	while (h->conn_slot[i] != NULL)
		i = (i + 1) & (HTTP_CONN_SLOTS - 1);
	h->conn_slot[i] = c;
	h->nconns++;
}

static void conn_remove(node_http *h, hconn *c)
{
	const size_t mask = HTTP_CONN_SLOTS - 1;
	size_t i = conn_home(c->evcon);
	while (h->conn_slot[i] != c)
		i = (i + 1) & mask;
	for (size_t j = (i + 1) & mask; h->conn_slot[j] != NULL; j = (j + 1) & mask) {
		size_t home = conn_home(h->conn_slot[j]->evcon);
		bool stays = (i <= j) ? (i < home && home <= j) : (i < home || home <= j);
		if (!stays) {
			h->conn_slot[i] = h->conn_slot[j];
			i = j;
		}
	}
	h->conn_slot[i] = NULL;
	h->nconns--;
}

static void conn_release(hconn *c)
{
	conn_remove(c->h, c);
	event_free(c->deadline);
	free(c);
}

static void on_conn_close(struct evhttp_connection *evcon, void *arg)
{
	(void)evcon;
	conn_release(arg);
}

static void arm_deadline(hconn *c)
{
	struct timeval tv = {(time_t)c->h->cfg.timeout_s, 0};
	evtimer_add(c->deadline, &tv);
}

static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	hconn *c = arg;
	struct evhttp_connection *evcon = c->evcon;
	c->h->ctr.conns_timed_out++;
	evhttp_connection_set_closecb(evcon, NULL, NULL);
	conn_release(c);
	evhttp_connection_free(evcon);
}

static struct bufferevent *on_new_bev(struct event_base *base, void *arg)
{
	node_http *h = arg;
	struct bufferevent *bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
	if (bev == NULL)
		return NULL;
	if (h->nfresh == h->fresh_cap) {
		size_t ncap = h->fresh_cap ? h->fresh_cap * 2 : 16;
		struct bufferevent **nf = realloc(h->fresh, ncap * sizeof *nf);
		if (nf == NULL)
			return bev;  /* untracked under memory pressure only */
		h->fresh = nf;
		h->fresh_cap = ncap;
	}
	h->fresh[h->nfresh++] = bev;
	event_active(h->adopt, 0, 0);
	return bev;
}

static void on_adopt(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	node_http *h = arg;
	for (size_t i = 0; i < h->nfresh; i++) {
		void *cbarg = NULL;
		bufferevent_getcb(h->fresh[i], NULL, NULL, NULL, &cbarg);
		struct evhttp_connection *evcon = cbarg;
		if (evcon == NULL)
			continue;
		hconn *c = NULL;
		if (h->nconns < h->cfg.conns_max && (c = calloc(1, sizeof *c)) != NULL) {
			c->h = h;
			c->evcon = evcon;
			c->deadline = evtimer_new(h->base, on_deadline, c);
		}
		if (c == NULL || c->deadline == NULL) {
			free(c);
			h->ctr.conns_rejected++;
			evhttp_connection_free(evcon);
			continue;
		}
		conn_insert(h, c);
		evhttp_connection_set_closecb(evcon, on_conn_close, c);
		arm_deadline(c);
		h->ctr.conns_accepted++;
	}
	h->nfresh = 0;
}

static void on_backoff(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	node_http *h = arg;
	evconnlistener_enable(h->listener);
}

/* accept() failed. Out of descriptors (or buffers) the listening socket
 * stays readable and the loop would spin: stop accepting for a while,
 * doubling the pause up to a second while it persists. */
static void on_accept_error(struct evconnlistener *l, void *arg)
{
	(void)l;
	node_http *h = arg;
	int err = EVUTIL_SOCKET_ERROR();
	h->ctr.accept_errors++;
	if (err != EMFILE && err != ENFILE && err != ENOBUFS && err != ENOMEM)
		return;
	evconnlistener_disable(h->listener);
	h->backoff_ms = h->backoff_ms ? (h->backoff_ms * 2 > 1000 ? 1000 : h->backoff_ms * 2) : 50;
	struct timeval tv = {0, (suseconds_t)h->backoff_ms * 1000};
	evtimer_add(h->backoff, &tv);
}

static void on_complete(struct evhttp_request *req, void *arg)
{
	node_http *h = arg;
	hconn *c = conn_find(h, evhttp_request_get_connection(req));
	if (c != NULL)
		arm_deadline(c);
	h->backoff_ms = 0;
}

/* ---- dispatch ----------------------------------------------------------------------- */

static void append_own_metrics(node_http *h, struct evbuffer *out)
{
	const http_counters *k = &h->ctr;
	evbuffer_add_printf(out,
			    "# TYPE carbon_http_requests_total counter\n"
			    "carbon_http_requests_total %llu\n"
			    "# TYPE carbon_http_responses_total counter\n"
			    "carbon_http_responses_total{class=\"2xx\"} %llu\n"
			    "carbon_http_responses_total{class=\"4xx\"} %llu\n"
			    "carbon_http_responses_total{class=\"5xx\"} %llu\n"
			    "# TYPE carbon_http_connections gauge\n"
			    "carbon_http_connections %zu\n"
			    "# TYPE carbon_http_connections_total counter\n"
			    "carbon_http_connections_total{outcome=\"accepted\"} %llu\n"
			    "carbon_http_connections_total{outcome=\"over_cap\"} %llu\n"
			    "carbon_http_connections_total{outcome=\"timed_out\"} %llu\n"
			    "# TYPE carbon_http_accept_errors_total counter\n"
			    "carbon_http_accept_errors_total %llu\n"
			    "# TYPE carbon_http_submitted_txs_total counter\n"
			    "carbon_http_submitted_txs_total %llu\n",
			    (unsigned long long)k->requests, (unsigned long long)k->status_2xx,
			    (unsigned long long)k->status_4xx, (unsigned long long)k->status_5xx,
			    h->nconns, (unsigned long long)k->conns_accepted,
			    (unsigned long long)k->conns_rejected,
			    (unsigned long long)k->conns_timed_out,
			    (unsigned long long)k->accept_errors,
			    (unsigned long long)k->submitted_txs);
}

static void get_metrics(node_http *h, struct evhttp_request *req)
{
	struct evbuffer *out = evbuffer_new();
	if (out == NULL) {
		evhttp_send_error(req, 503, NULL);
		return;
	}
	int rc = h->cfg.backend.metrics(h->cfg.backend.ctx, out);
	if (rc != 0) {
		evbuffer_free(out);
		http_reply_error(h, req, 500, "internal", node_mempool_strerror(rc));
		return;
	}
	append_own_metrics(h, out);
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
			  "text/plain; version=0.0.4");
	h->ctr.status_2xx++;
	evhttp_send_reply(req, 200, NULL, out);
	evbuffer_free(out);
}

static void on_request(struct evhttp_request *req, void *arg)
{
	node_http *h = arg;
	h->ctr.requests++;
	hconn *c = conn_find(h, evhttp_request_get_connection(req));
	if (c != NULL)
		evtimer_del(c->deadline);
	evhttp_request_set_on_complete_cb(req, on_complete, h);

	const char *uri = evhttp_request_get_uri(req);
	node_http_target t;
	char msg[160];
	int rc = node_http_parse_target(uri, strlen(uri), &t, msg, sizeof msg);
	if (rc == NODE_E_HTTP_NOT_FOUND) {
		http_reply_error(h, req, 404, node_http_reason(rc), "no such endpoint (docs/API.md)");
		return;
	}
	enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
	if (t.route != 0 && cmd != (t.post ? EVHTTP_REQ_POST : EVHTTP_REQ_GET)) {
		evhttp_add_header(evhttp_request_get_output_headers(req), "Allow",
				  t.post ? "POST" : "GET");
		http_reply_error(h, req, 405, "method_not_allowed",
				 t.post ? "this endpoint takes POST" : "this endpoint takes GET");
		return;
	}
	if (rc != 0) {
		http_reply_error(h, req, 400, node_http_reason(rc), msg);
		return;
	}
	switch (t.route) {
	case NODE_HTTP_R_TX_POST:
	case NODE_HTTP_R_TXS_POST:
		post_submission(h, req, &t, t.route == NODE_HTTP_R_TXS_POST);
		return;
	case NODE_HTTP_R_METRICS:
		get_metrics(h, req);
		return;
	default:
		http_handle_query(h, req, &t);
		return;
	}
}

/* ---- lifecycle ------------------------------------------------------------------------- */

/* On the HTTP thread: answer or orphan every live request, close every
 * connection, leave the loop. */
static void shutdown_thread(node_http *h)
{
	pthread_mutex_lock(&h->mu);
	h->stopped = true;
	hreq *done = h->done_head;
	h->done_head = h->done_tail = NULL;
	pthread_mutex_unlock(&h->mu);
	for (hreq *r = done, *next; r != NULL; r = next) {
		next = r->done_next;
		r->inflight = false;
	}
	for (hreq *r = h->live, *next; r != NULL; r = next) {
		next = r->next;
		live_unlink(h, r);
		if (r->req != NULL)
			http_reply_error(h, r->req, 503, "shutting_down", "node is shutting down");
		r->req = NULL;
		if (r->inflight) {
			/* The backend still holds it: submit_done frees it. */
			if (r->timer) {
				event_free(r->timer);
				r->timer = NULL;
			}
			continue;
		}
		hreq_free(r);
	}
	/* Closing connections runs on_conn_close for each tracked one. */
	evhttp_free(h->evh);
	h->evh = NULL;
	h->nfresh = 0;
	event_base_loopbreak(h->base);
}

static void *thread_main(void *arg)
{
	node_http *h = arg;
	event_base_loop(h->base, EVLOOP_NO_EXIT_ON_EMPTY);
	return NULL;
}

static int parse_listen(const char *s, char *host, size_t hostlen, uint16_t *port)
{
	const char *colon = strrchr(s, ':');
	if (colon == NULL || colon == s || (size_t)(colon - s) >= hostlen)
		return NODE_E_HTTP_CONFIG;
	uint64_t v = 0;
	const char *p = colon + 1;
	if (*p == '\0')
		return NODE_E_HTTP_CONFIG;
	for (; *p; p++) {
		if (*p < '0' || *p > '9' || (v = v * 10 + (uint64_t)(*p - '0')) > 65535)
			return NODE_E_HTTP_CONFIG;
	}
	memcpy(host, s, (size_t)(colon - s));
	host[colon - s] = '\0';
	/* "[::1]:8080" */
	size_t hl = strlen(host);
	if (hl >= 2 && host[0] == '[' && host[hl - 1] == ']') {
		memmove(host, host + 1, hl - 2);
		host[hl - 2] = '\0';
	}
	*port = (uint16_t)v;
	return 0;
}

static void free_base_parts(node_http *h)
{
	if (h->evh)
		evhttp_free(h->evh);
	if (h->wake)
		event_free(h->wake);
	if (h->adopt)
		event_free(h->adopt);
	if (h->backoff)
		event_free(h->backoff);
	if (h->base)
		event_base_free(h->base);
	free(h->fresh);
	h->evh = NULL;
	h->wake = h->adopt = h->backoff = NULL;
	h->base = NULL;
	h->fresh = NULL;
}

int node_http_start(node_http **out, const node_http_config *cfg)
{
	*out = NULL;
	const node_http_backend *b = &cfg->backend;
	if (cfg->ledger == NULL || cfg->chain_id[0] == '\0' || b->submit == NULL ||
	    b->status == NULL || b->tx_status == NULL || b->pending_nonce == NULL ||
	    b->evidence == NULL || b->metrics == NULL ||
	    memchr(cfg->listen, 0, sizeof cfg->listen) == NULL ||
	    cfg->timeout_s > LIM_HTTP_TIMEOUT_S || cfg->conns_max > LIM_HTTP_CONNS_MAX)
		return NODE_E_HTTP_CONFIG;
	char host[128];
	uint16_t port;
	int rc = parse_listen(cfg->listen, host, sizeof host, &port);
	if (rc != 0)
		return rc;
	if (evthread_use_pthreads() != 0)
		return NODE_E_HTTP_THREAD;

	node_http *h = calloc(1, sizeof *h);
	if (h == NULL)
		return NODE_E_HTTP_NOMEM;
	h->cfg = *cfg;
	if (h->cfg.timeout_s == 0)
		h->cfg.timeout_s = LIM_HTTP_TIMEOUT_S;
	if (h->cfg.conns_max == 0)
		h->cfg.conns_max = LIM_HTTP_CONNS_MAX;
	if (pthread_mutex_init(&h->mu, NULL) != 0) {
		free(h);
		return NODE_E_HTTP_THREAD;
	}
	rc = NODE_E_HTTP_NOMEM;
	h->base = event_base_new();
	if (h->base == NULL)
		goto fail;
	h->evh = evhttp_new(h->base);
	h->wake = event_new(h->base, -1, 0, on_wake, h);
	h->adopt = event_new(h->base, -1, 0, on_adopt, h);
	h->backoff = evtimer_new(h->base, on_backoff, h);
	if (h->evh == NULL || h->wake == NULL || h->adopt == NULL || h->backoff == NULL)
		goto fail;
	evhttp_set_max_body_size(h->evh, LIM_HTTP_BODY_BYTES_MAX);
	evhttp_set_max_headers_size(h->evh, LIM_HTTP_HEADERS_BYTES_MAX);
	evhttp_set_timeout(h->evh, (int)h->cfg.timeout_s);
	evhttp_set_allowed_methods(h->evh, EVHTTP_REQ_GET | EVHTTP_REQ_POST);
	evhttp_set_gencb(h->evh, on_request, h);
	evhttp_set_bevcb(h->evh, on_new_bev, h);

	rc = NODE_E_HTTP_LISTEN;
	struct evhttp_bound_socket *sock = evhttp_bind_socket_with_handle(h->evh, host, port);
	if (sock == NULL)
		goto fail;
	h->listener = evhttp_bound_socket_get_listener(sock);
	evconnlistener_set_error_cb(h->listener, on_accept_error);
	struct sockaddr_storage ss;
	socklen_t sl = sizeof ss;
	if (getsockname(evhttp_bound_socket_get_fd(sock), (struct sockaddr *)&ss, &sl) != 0)
		goto fail;
	h->port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
						 : ((struct sockaddr_in *)&ss)->sin_port);

	rc = NODE_E_HTTP_THREAD;
	if (pthread_create(&h->thread, NULL, thread_main, h) != 0)
		goto fail;
	*out = h;
	return 0;
fail:
	free_base_parts(h);
	pthread_mutex_destroy(&h->mu);
	free(h);
	return rc;
}

uint16_t node_http_port(const node_http *h)
{
	return h->port;
}

void node_http_stop(node_http *h)
{
	if (h == NULL)
		return;
	pthread_mutex_lock(&h->mu);
	h->stop_requested = true;
	event_active(h->wake, 0, 0);
	pthread_mutex_unlock(&h->mu);
	pthread_join(h->thread, NULL);
	free_base_parts(h);
	pthread_mutex_lock(&h->mu);
	assert(h->stopped);
	h->joined = true;
	bool last = h->outstanding == 0;
	pthread_mutex_unlock(&h->mu);
	if (last) {
		pthread_mutex_destroy(&h->mu);
		free(h);
	}
}
