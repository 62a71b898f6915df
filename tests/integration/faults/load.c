/*
 * load: the steady, fault-tolerant load of the fault-injection scripts
 * (tests/integration/3x-*.sh) and of the node soak (tests/soak/soak.sh).
 * The scripts compile it on the fly against the module libraries of the
 * build (fault_build_tools in tests/integration/lib.sh); it is not part of
 * any library.
 *
 * bench/bench_node_load measures throughput on a healthy cluster; this
 * tool keeps going while nodes die, links are cut and clients misbehave,
 * and it records what the cluster acknowledged, so a script can check
 * afterwards that nothing acknowledged was lost:
 *
 *   load run --net DIR --api H:P[,H:P...] --out FILE [options]
 *       An operator (the genesis member with the metro mode) funds N
 *       citizens with one trip each, then the citizens send each other
 *       1..3 g at --rate transactions per second and the operator issues
 *       a batch of trips every --issue-ms, until SIGTERM or --seconds.
 *       Every transaction goes to POST /v1/tx?wait_ms= of a live node,
 *       round robin. Each line of --out is one transaction a node
 *       answered "committed" for: "<hash> <height> <T|I|F>" (transfer,
 *       issue, funding). --stats FILE is rewritten every second with the
 *       counters as JSON.
 *
 *   load flood --net DIR --api H:P --count N [--senders K] [--batch B]
 *       Signs N valid transfers from K fresh keys (default N/4), in
 *       rounds: nonce 0 of every key, then nonce 1 of every key, and so
 *       on, so no transaction waits behind a missing nonce for long;
 *       posts them to one node in POST /v1/txs batches of B as fast as the
 *       node answers, and prints a JSON summary: results by error name
 *       and HTTP status.
 *
 * One transaction in flight per sender, so no sender ever has a nonce gap:
 * after any doubt (a timeout, a lost connection, a 409) the sender asks
 * GET /v1/tx/{hash}, then its account's committed nonce, and resends. The
 * content of a transaction is a function of (sender, nonce) alone (and
 * Ed25519 signatures are deterministic), so a resend is the very same
 * bytes and can commit at most once.
 *
 * Trips follow the methodology of the default genesis (7-day claim
 * window): the funding trip of citizen i is a 40 km metro ride at the old
 * end of the window; later trips are 1 km metro rides, one per citizen per
 * half-hour slot from a day later, so none overlaps and no cap is reached
 * within the slots there are.
 */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>

#include "common/cm.h"
#include "crypto/ck.h"
#include "ledger/ledger.h"

#define NODES_MAX        8u
#define CITIZENS_MAX     100000u
#define FUND_TRIPS       100u     /* trips per funding transaction */
#define ISSUE_TRIPS      10u      /* trips per later issue transaction */
#define FUND_M           40000u
#define FUND_S           2400u
#define RIDE_M           1000u
#define RIDE_S           300u
#define SLOT_S           1800u
#define SLOT_FIRST       48u      /* later rides start a day after funding */
#define SLOTS_MAX        320u     /* 7 days less the margins */
#define TICK_MS          10u
#define BACKOFF_MS_MIN   100u
#define BACKOFF_MS_MAX   3000u
#define NODE_DOWN_MS     500u
#define REASONS_MAX      32u

static void die(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
static void die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "load: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	exit(1);
}

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);
	if (!p)
		die("out of memory");
	return p;
}

/* ---- nodes and their connections ----------------------------------------- */

typedef struct node_ep {
	char host[64];
	uint16_t port;
	char hostport[80];
	uint64_t down_until_ms;
	struct evhttp_connection **idle;
	size_t nidle, cap;
} node_ep;

static struct event_base *base;
static node_ep nodes[NODES_MAX];
static unsigned nnodes, rr;
static unsigned wait_ms = 8000;

static void parse_api(const char *list)
{
	const char *p = list;
	while (*p) {
		size_t n = strcspn(p, ",");
		char one[64];
		if (nnodes == NODES_MAX || n == 0 || n >= sizeof one)
			die("bad --api list");
		memcpy(one, p, n);
		one[n] = 0;
		char *colon = strrchr(one, ':');
		if (!colon)
			die("--api wants HOST:PORT, got %s", one);
		*colon = 0;
		node_ep *ep = &nodes[nnodes++];
		snprintf(ep->host, sizeof ep->host, "%s", one);
		ep->port = (uint16_t)atoi(colon + 1);
		snprintf(ep->hostport, sizeof ep->hostport, "%s:%u", one, ep->port);
		p += n + (p[n] == ',');
	}
	if (nnodes == 0)
		die("--api is required");
}

/* The next node not recently found down (any, if all are). */
static unsigned pick_node(void)
{
	uint64_t t = now_ms();
	for (unsigned k = 0; k < nnodes; k++) {
		unsigned i = rr++ % nnodes;
		if (nodes[i].down_until_ms <= t)
			return i;
	}
	return rr++ % nnodes;
}

static struct evhttp_connection *conn_get(unsigned ni)
{
	node_ep *ep = &nodes[ni];
	if (ep->nidle)
		return ep->idle[--ep->nidle];
	struct evhttp_connection *c = evhttp_connection_base_new(base, NULL, ep->host, ep->port);
	if (!c)
		die("cannot create a connection to %s", ep->hostport);
	evhttp_connection_set_timeout(c, (int)(wait_ms / 1000u) + 10);
	evhttp_connection_set_retries(c, 0);
	return c;
}

static void conn_put(unsigned ni, struct evhttp_connection *c)
{
	node_ep *ep = &nodes[ni];
	if (ep->nidle == ep->cap) {
		ep->cap = ep->cap ? 2 * ep->cap : 64;
		ep->idle = realloc(ep->idle, ep->cap * sizeof *ep->idle);
		if (!ep->idle)
			die("out of memory");
	}
	ep->idle[ep->nidle++] = c;
}

/* ---- counters ---------------------------------------------------------------- */

static struct {
	uint64_t sent, acked_transfer, acked_issue, acked_fund, status_202, conn_errors;
	uint64_t http_5xx, resent, checks;
	struct { char name[40]; uint64_t n; } reasons[REASONS_MAX];
	unsigned nreasons;
} st;

static void count_reason(const char *name)
{
	for (unsigned i = 0; i < st.nreasons; i++)
		if (strcmp(st.reasons[i].name, name) == 0) {
			st.reasons[i].n++;
			return;
		}
	if (st.nreasons < REASONS_MAX) {
		snprintf(st.reasons[st.nreasons].name, sizeof st.reasons[0].name, "%s", name);
		st.reasons[st.nreasons++].n = 1;
	}
}

/* ---- the actors: citizens and the operator --------------------------------------- */

enum actor_state { A_SYNC, A_READY, A_INFLIGHT, A_CHECK, A_OFF };

typedef struct actor {
	bool issuer;
	uint32_t idx;
	ck_pubkey pk;
	ck_seckey sk;
	char addr[CK_ADDRESS_STRLEN + 1];
	uint64_t nonce;               /* next nonce to send */
	uint64_t batch;               /* issuer: the batch the next nonce carries */
	enum actor_state state;
	uint64_t due_ms;
	unsigned tries;               /* since the last acknowledgement */
	bool built;                   /* tx holds the transaction for nonce */
	cm_wr tx;
	ck_hash hash;
	char hash_hex[2 * CK_HASH_BYTES + 1];
} actor;

static char chain_id[LIM_CHAIN_ID_BYTES_MAX + 1];
static uint32_t issuer_member_id;
static actor *cit;
static uint32_t ncit;
static actor op;
static uint64_t fund_batches;         /* batches 0..fund_batches-1 fund citizens */
static uint32_t funded_upto;          /* citizens [0, funded_upto) may send */
static uint64_t lo_s;                 /* slot 0 of the claim window */
static double rate = 50;
static double tokens;
static unsigned issue_ms = 500;
static FILE *out;
static const char *stats_path;
static char run_tag[24];
static bool stopping;
static uint64_t t_start_ms, stop_at_ms;

/* Funding batches are the operator's first: everything below its batch
 * counter committed. */
static void note_funded(const actor *a)
{
	uint64_t b = a->batch < fund_batches ? a->batch : fund_batches;
	uint64_t upto = b * FUND_TRIPS;
	funded_upto = (uint32_t)(upto < ncit ? upto : ncit);
}

static void backoff(actor *a)
{
	uint64_t d = (uint64_t)BACKOFF_MS_MIN << (a->tries < 5 ? a->tries : 5);
	a->due_ms = now_ms() + (d < BACKOFF_MS_MAX ? d : BACKOFF_MS_MAX);
	a->tries++;
}

static void ride(ledger_trip *t, uint64_t n)
{
	char ref[64];
	int rl = snprintf(ref, sizeof ref, "ride-%s-%llu", run_tag, (unsigned long long)n);
	uint64_t slot = SLOT_FIRST + n / ncit;
	if (slot >= SLOTS_MAX)
		die("out of trip slots: raise --citizens or --issue-ms");
	t->mode = LEDGER_MODE_METRO;
	memcpy(t->citizen, cit[n % ncit].pk, CK_PUBKEY_BYTES);
	t->distance_m = RIDE_M;
	t->start_s = lo_s + slot * SLOT_S;
	t->end_s = t->start_s + RIDE_S;
	ledger_trip_id(t->trip_id, issuer_member_id, ref, (size_t)rl);
}

static void fund_trip(ledger_trip *t, uint32_t c)
{
	char ref[64];
	int rl = snprintf(ref, sizeof ref, "fund-%s-%u", run_tag, c);
	t->mode = LEDGER_MODE_METRO;
	memcpy(t->citizen, cit[c].pk, CK_PUBKEY_BYTES);
	t->distance_m = FUND_M;
	t->start_s = lo_s;
	t->end_s = lo_s + FUND_S;
	ledger_trip_id(t->trip_id, issuer_member_id, ref, (size_t)rl);
}

/* The transaction of a's current nonce (and batch): a function of those
 * alone, so resending it is sending the same bytes. */
static void build(actor *a)
{
	ledger_tx *tx = NULL;
	if (a->issuer) {
		uint32_t n;
		if (a->batch < fund_batches) {
			uint64_t c0 = a->batch * FUND_TRIPS;
			n = (uint32_t)(ncit - c0 < FUND_TRIPS ? ncit - c0 : FUND_TRIPS);
			if (ledger_tx_new(&tx, LEDGER_TX_ISSUE, n) != 0)
				die("out of memory");
			for (uint32_t k = 0; k < n; k++)
				fund_trip(&tx->u.issue.trips[k], (uint32_t)(c0 + k));
		} else {
			n = ISSUE_TRIPS;
			if (ledger_tx_new(&tx, LEDGER_TX_ISSUE, n) != 0)
				die("out of memory");
			for (uint32_t k = 0; k < n; k++)
				ride(&tx->u.issue.trips[k], (a->batch - fund_batches) * ISSUE_TRIPS + k);
		}
		tx->u.issue.ntrips = n;
	} else {
		if (ledger_tx_new(&tx, LEDGER_TX_TRANSFER, 0) != 0)
			die("out of memory");
		uint32_t to = (uint32_t)((a->idx + 1 + a->nonce * 7u) % ncit);
		if (to == a->idx)
			to = (to + 1) % ncit;
		memcpy(tx->u.transfer.to, cit[to].pk, CK_PUBKEY_BYTES);
		tx->u.transfer.amount_g = 1 + a->nonce % 3u;
	}
	tx->version = LEDGER_TX_VERSION;
	snprintf(tx->chain_id, sizeof tx->chain_id, "%s", chain_id);
	memcpy(tx->sender, a->pk, CK_PUBKEY_BYTES);
	tx->nonce = a->nonce;
	ledger_tx_sign(tx, a->sk);
	cm_wr_reset(&a->tx);
	ledger_tx_encode(tx, &a->tx);
	ledger_tx_free(tx);
	if (cm_wr_error(&a->tx))
		die("out of memory");
	ledger_tx_hash(a->hash, cm_wr_data(&a->tx), cm_wr_len(&a->tx));
	cm_hex_encode(a->hash_hex, a->hash, CK_HASH_BYTES);
	a->built = true;
}

static void acked(actor *a, uint64_t height)
{
	char kind = a->issuer ? (a->batch < fund_batches ? 'F' : 'I') : 'T';
	fprintf(out, "%s %llu %c\n", a->hash_hex, (unsigned long long)height, kind);
	if (!a->issuer) {
		st.acked_transfer++;
	} else if (a->batch < fund_batches) {
		st.acked_fund++;
	} else {
		st.acked_issue++;
	}
	a->nonce++;
	a->batch++;
	if (a->issuer)
		note_funded(a);
	a->built = false;
	a->tries = 0;
	a->state = A_READY;
	a->due_ms = now_ms() + (a->issuer && a->batch > fund_batches ? issue_ms : 0);
}

/* ---- requests ------------------------------------------------------------------- */

typedef struct req_ctx {
	actor *a;
	unsigned node;
	struct evhttp_connection *c;
	enum { R_SUBMIT, R_TX, R_ACCOUNT } kind;
} req_ctx;

static json_t *body_json(struct evhttp_request *req)
{
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	size_t len = evbuffer_get_length(in);
	return json_loadb((const char *)evbuffer_pullup(in, (ev_ssize_t)len), len, 0, NULL);
}

static uint64_t ju64(const json_t *o, const char *k)
{
	json_t *v = json_object_get(o, k);
	if (json_is_integer(v))
		return (uint64_t)json_integer_value(v);
	if (json_is_string(v))
		return strtoull(json_string_value(v), NULL, 10);
	return 0;
}

static void on_submit(actor *a, int code, json_t *j)
{
	const char *err = json_string_value(json_object_get(j, "error"));
	const char *status = json_string_value(json_object_get(j, "status"));
	if (code == 200 && status && strcmp(status, "committed") == 0) {
		acked(a, ju64(j, "height"));
		return;
	}
	if (code == 202) {
		st.status_202++;
		a->state = A_CHECK;
		backoff(a);
		return;
	}
	if (code == 429) {
		count_reason(err ? err : "429");
		a->state = A_READY;
		backoff(a);
		return;
	}
	if (code >= 500) {
		st.http_5xx++;
		a->state = A_READY;
		backoff(a);
		return;
	}
	if (!err) {
		count_reason("no_error_field");
		a->state = A_CHECK;
		backoff(a);
		return;
	}
	if (a->issuer && a->batch < fund_batches && strcmp(err, "trip_credited") == 0) {
		/* A funding batch of an earlier run: those citizens have money. */
		a->batch++;
		note_funded(a);
		a->built = false;
		a->state = A_READY;
		return;
	}
	if (strcmp(err, "duplicate") == 0 || strcmp(err, "nonce_pending") == 0 ||
	    strcmp(err, "nonce_used") == 0 || strcmp(err, "dropped") == 0 ||
	    strcmp(err, "trip_pending") == 0) {
		count_reason(err);
		a->state = A_CHECK;
		backoff(a);
		return;
	}
	/* Anything else is a refusal of a valid transaction: the scripts
	 * require none (the reasons are in the stats). */
	count_reason(err);
	fprintf(stderr, "load: %s of %s refused: %d %s\n", a->hash_hex, a->addr, code, err);
	a->state = A_SYNC;
	a->built = false;
	backoff(a);
}

static void on_tx(actor *a, int code, json_t *j)
{
	const char *status = json_string_value(json_object_get(j, "status"));
	if (code == 200 && status && strcmp(status, "committed") == 0) {
		acked(a, ju64(j, "height"));
		return;
	}
	a->state = A_SYNC;
	a->due_ms = now_ms();
}

static void on_account(actor *a, int code, json_t *j)
{
	if (code != 200 || !json_object_get(j, "committed_nonce")) {
		a->state = A_SYNC;
		backoff(a);
		return;
	}
	uint64_t c = ju64(j, "committed_nonce");
	if (c > a->nonce) {
		/* Our transaction at a->nonce committed (it is the only one a
		 * nonce can carry), seen by a node that had not answered us. */
		a->batch += c - a->nonce;
		a->nonce = c;
		a->built = false;
		if (a->issuer)
			note_funded(a);
	}
	/* c < a->nonce: this node lags behind the one that acknowledged;
	 * resend, which the up-to-date nodes answer nonce_used. */
	a->state = A_READY;
	if (a->tries == 0)
		a->due_ms = now_ms();
}

static void req_done(struct evhttp_request *req, void *arg)
{
	req_ctx *r = arg;
	actor *a = r->a;
	int code = req ? evhttp_request_get_response_code(req) : 0;
	json_t *j = code ? body_json(req) : NULL;
	conn_put(r->node, r->c);
	if (code == 0) {
		/* No answer: the node is down or the connection broke. The
		 * transaction may or may not have arrived: check. */
		st.conn_errors++;
		nodes[r->node].down_until_ms = now_ms() + NODE_DOWN_MS;
		a->state = r->kind == R_SUBMIT ? A_CHECK : (r->kind == R_TX ? A_CHECK : A_SYNC);
		backoff(a);
	} else if (r->kind == R_SUBMIT) {
		on_submit(a, code, j);
	} else if (r->kind == R_TX) {
		on_tx(a, code, j);
	} else {
		on_account(a, code, j);
	}
	json_decref(j);
	free(r);
}

static void request(actor *a, int kind)
{
	req_ctx *r = xcalloc(1, sizeof *r);
	char path[256];
	r->a = a;
	r->kind = kind;
	r->node = pick_node();
	r->c = conn_get(r->node);
	struct evhttp_request *req = evhttp_request_new(req_done, r);
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);
	evhttp_add_header(h, "Host", nodes[r->node].hostport);
	enum evhttp_cmd_type cmd = EVHTTP_REQ_GET;
	if (kind == R_SUBMIT) {
		char cl[24];
		snprintf(cl, sizeof cl, "%zu", cm_wr_len(&a->tx));
		evhttp_add_header(h, "Content-Type", "application/octet-stream");
		evhttp_add_header(h, "Content-Length", cl);
		evbuffer_add(evhttp_request_get_output_buffer(req), cm_wr_data(&a->tx),
			     cm_wr_len(&a->tx));
		snprintf(path, sizeof path, "/v1/tx?wait_ms=%u", wait_ms);
		cmd = EVHTTP_REQ_POST;
		st.sent++;
		if (a->tries)
			st.resent++;
	} else if (kind == R_TX) {
		snprintf(path, sizeof path, "/v1/tx/%s", a->hash_hex);
		st.checks++;
	} else {
		snprintf(path, sizeof path, "/v1/account/%s", a->addr);
	}
	a->state = A_INFLIGHT;
	if (evhttp_make_request(r->c, req, cmd, path) != 0) {
		/* Leaves the connection alone: evhttp may still hold it. */
		free(r);
		st.conn_errors++;
		a->state = kind == R_SUBMIT ? A_READY : (kind == R_TX ? A_CHECK : A_SYNC);
		backoff(a);
	}
}

/* Moves one actor on if it is due. */
static void step(actor *a, uint64_t t)
{
	if (a->state == A_INFLIGHT || a->state == A_OFF || a->due_ms > t)
		return;
	switch (a->state) {
	case A_SYNC:
		request(a, R_ACCOUNT);
		break;
	case A_CHECK:
		if (a->built)
			request(a, R_TX);
		else
			request(a, R_ACCOUNT);
		break;
	case A_READY:
		if (!a->issuer) {
			if (a->idx >= funded_upto || tokens < 1)
				return;
			tokens -= 1;
		}
		if (!a->built)
			build(a);
		request(a, R_SUBMIT);
		break;
	default:
		break;
	}
}

static void write_stats(void)
{
	if (!stats_path)
		return;
	json_t *why = json_object();
	for (unsigned i = 0; i < st.nreasons; i++)
		json_object_set_new(why, st.reasons[i].name, json_integer((json_int_t)st.reasons[i].n));
	json_t *o = json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:o}",
			      "seconds", (json_int_t)((now_ms() - t_start_ms) / 1000u),
			      "sent", (json_int_t)st.sent, "resent", (json_int_t)st.resent,
			      "acked_transfer", (json_int_t)st.acked_transfer,
			      "acked_issue", (json_int_t)st.acked_issue,
			      "acked_fund", (json_int_t)st.acked_fund,
			      "funded", (json_int_t)funded_upto,
			      "status_202", (json_int_t)st.status_202,
			      "conn_errors", (json_int_t)st.conn_errors,
			      "http_5xx", (json_int_t)st.http_5xx, "checks", (json_int_t)st.checks,
			      "reasons", why);
	char tmp[1024];
	snprintf(tmp, sizeof tmp, "%s.tmp", stats_path);
	if (json_dump_file(o, tmp, JSON_COMPACT) == 0)
		rename(tmp, stats_path);
	json_decref(o);
}

static uint64_t last_tick_ms, last_stats_ms;
static uint32_t cursor;

static void tick_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	uint64_t t = now_ms();
	tokens += rate * (double)(t - last_tick_ms) / 1000.0;
	if (tokens > rate / 5 + 1)
		tokens = rate / 5 + 1;
	last_tick_ms = t;
	step(&op, t);
	/* Round robin over the citizens, starting where the tokens ran out. */
	for (uint32_t k = 0; k < ncit; k++)
		step(&cit[(cursor + k) % ncit], t);
	cursor = (cursor + 17u) % ncit;
	if (t - last_stats_ms >= 1000) {
		last_stats_ms = t;
		fflush(out);
		write_stats();
	}
	if (stop_at_ms && t >= stop_at_ms)
		stopping = true;
	if (stopping)
		event_base_loopbreak(base);
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
	(void)sig;
	(void)what;
	(void)arg;
	stopping = true;
	event_base_loopbreak(base);
}

/* ---- set-up ------------------------------------------------------------------------ */

/* One blocking GET (set-up only). */
typedef struct sync_get {
	bool done;
	int code;
	json_t *j;
} sync_get;

static void sync_cb(struct evhttp_request *req, void *arg)
{
	sync_get *s = arg;
	s->done = true;
	s->code = req ? evhttp_request_get_response_code(req) : 0;
	s->j = s->code ? body_json(req) : NULL;
}

static json_t *get_any(const char *path)
{
	for (unsigned tries = 0; tries < 300; tries++) {
		unsigned ni = pick_node();
		struct evhttp_connection *c =
			evhttp_connection_base_new(base, NULL, nodes[ni].host, nodes[ni].port);
		sync_get s = {0};
		struct evhttp_request *req = evhttp_request_new(sync_cb, &s);
		evhttp_add_header(evhttp_request_get_output_headers(req), "Host", nodes[ni].hostport);
		evhttp_connection_set_timeout(c, 10);
		if (evhttp_make_request(c, req, EVHTTP_REQ_GET, path) == 0)
			while (!s.done)
				event_base_loop(base, EVLOOP_ONCE);
		evhttp_connection_free(c);
		if (s.code == 200 && s.j)
			return s.j;
		json_decref(s.j);
		usleep(100000);
	}
	die("GET %s: no node answered", path);
}

static void derive(actor *a, const char *tag, uint64_t i)
{
	uint8_t seed[CK_SEED_BYTES];
	ck_hasher h;
	ck_hasher_init(&h, tag);
	ck_hasher_update(&h, chain_id, strlen(chain_id));
	ck_hasher_update(&h, &i, sizeof i);
	ck_hasher_final(&h, seed);
	ck_keypair_from_seed(a->pk, a->sk, seed);
	ck_address_encode(a->addr, a->pk);
}

static ledger_genesis *load_genesis(const char *net)
{
	char path[600], err[256];
	ledger_genesis *g = NULL;
	snprintf(path, sizeof path, "%s/genesis.json", net);
	if (ledger_genesis_load(path, &g, err, sizeof err) != 0)
		die("%s: %s", path, err);
	snprintf(chain_id, sizeof chain_id, "%s", g->chain_id);
	return g;
}

static void read_operator(const char *net, const ledger_genesis *g)
{
	const ledger_member *m = NULL;
	for (uint32_t i = 0; i < g->nmembers && !m; i++)
		if ((g->members[i].roles & LEDGER_ROLE_ISSUER) &&
		    (g->members[i].modes & (1u << LEDGER_MODE_METRO)))
			m = &g->members[i];
	if (!m)
		die("the genesis has no issuer of metro trips");
	char path[700];
	snprintf(path, sizeof path, "%s/keys/%s.key", net, m->name);
	const char *pass = getenv("CARBON_PASSPHRASE");
	if (!pass)
		die("CARBON_PASSPHRASE is not set");
	int rc = ck_keystore_read(path, pass, strlen(pass), op.sk);
	if (rc != 0)
		die("%s: %s", path, ck_strerror(rc));
	ck_seckey_pubkey(op.pk, op.sk);
	ck_address_encode(op.addr, op.pk);
	op.issuer = true;
	issuer_member_id = m->id;
}

static int cmd_run(int argc, char **argv)
{
	const char *net = NULL, *api = NULL, *outp = NULL;
	unsigned seconds = 0;
	ncit = 200;
	for (int i = 2; i < argc; i += 2) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!v)
			die("%s needs a value", a);
		if (strcmp(a, "--net") == 0) net = v;
		else if (strcmp(a, "--api") == 0) api = v;
		else if (strcmp(a, "--out") == 0) outp = v;
		else if (strcmp(a, "--stats") == 0) stats_path = v;
		else if (strcmp(a, "--citizens") == 0) ncit = (uint32_t)atoi(v);
		else if (strcmp(a, "--rate") == 0) rate = atof(v);
		else if (strcmp(a, "--issue-ms") == 0) issue_ms = (unsigned)atoi(v);
		else if (strcmp(a, "--wait-ms") == 0) wait_ms = (unsigned)atoi(v);
		else if (strcmp(a, "--seconds") == 0) seconds = (unsigned)atoi(v);
		else die("unknown option %s", a);
	}
	if (!net || !api || !outp || ncit < 2 || ncit > CITIZENS_MAX || rate <= 0)
		die("usage: load run --net DIR --api H:P[,...] --out FILE [--stats FILE] "
		    "[--citizens N] [--rate R] [--issue-ms MS] [--wait-ms MS] [--seconds S]");
	parse_api(api);
	ledger_genesis *g = load_genesis(net);
	read_operator(net, g);
	ledger_genesis_free(g);
	out = fopen(outp, "a");
	if (!out)
		die("%s: %s", outp, strerror(errno));
	/* One write per line: the scripts read the file while it grows and
	 * must never see half a line. */
	setvbuf(out, NULL, _IOLBF, 0);
	snprintf(run_tag, sizeof run_tag, "%lx", (unsigned long)getpid());

	json_t *s = get_any("/v1/status");
	lo_s = ju64(s, "latest_block_time_ms") / 1000u - 7u * 86400u + 3600u;
	json_decref(s);
	if (lo_s < 7u * 86400u)
		die("no block time yet");

	cit = xcalloc(ncit, sizeof *cit);
	for (uint32_t i = 0; i < ncit; i++) {
		cit[i].idx = i;
		derive(&cit[i], "fault-load", i);
		cm_wr_init(&cit[i].tx);
		cit[i].state = A_SYNC;
	}
	cm_wr_init(&op.tx);
	op.state = A_SYNC;
	fund_batches = (ncit + FUND_TRIPS - 1) / FUND_TRIPS;
	t_start_ms = last_tick_ms = last_stats_ms = now_ms();
	if (seconds)
		stop_at_ms = t_start_ms + (uint64_t)seconds * 1000u;

	struct event *tick = event_new(base, -1, EV_PERSIST, tick_cb, NULL);
	struct event *sterm = evsignal_new(base, SIGTERM, on_signal, NULL);
	struct event *sint = evsignal_new(base, SIGINT, on_signal, NULL);
	struct timeval tv = {0, TICK_MS * 1000};
	evtimer_add(tick, &tv);
	evsignal_add(sterm, NULL);
	evsignal_add(sint, NULL);
	event_base_dispatch(base);

	fflush(out);
	write_stats();
	fprintf(stderr,
		"load: %llu sent (%llu resent), acknowledged %llu transfers, %llu issues, "
		"%llu funding; %llu timeouts, %llu connection errors\n",
		(unsigned long long)st.sent, (unsigned long long)st.resent,
		(unsigned long long)st.acked_transfer, (unsigned long long)st.acked_issue,
		(unsigned long long)st.acked_fund, (unsigned long long)st.status_202,
		(unsigned long long)st.conn_errors);
	fclose(out);
	event_free(tick);
	event_free(sterm);
	event_free(sint);
	for (uint32_t i = 0; i < ncit; i++)
		cm_wr_free(&cit[i].tx);
	cm_wr_free(&op.tx);
	free(cit);
	return 0;
}

/* ---- flood ------------------------------------------------------------------------ */

static int cmd_flood(int argc, char **argv)
{
	const char *net = NULL, *api = NULL;
	size_t count = 0, senders = 0, batch = 5000;
	for (int i = 2; i < argc; i += 2) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!v)
			die("%s needs a value", a);
		if (strcmp(a, "--net") == 0) net = v;
		else if (strcmp(a, "--api") == 0) api = v;
		else if (strcmp(a, "--count") == 0) count = (size_t)atol(v);
		else if (strcmp(a, "--senders") == 0) senders = (size_t)atol(v);
		else if (strcmp(a, "--batch") == 0) batch = (size_t)atol(v);
		else die("unknown option %s", a);
	}
	if (!net || !api || count == 0 || batch == 0 || batch > LIM_HTTP_BATCH_TXS_MAX)
		die("usage: load flood --net DIR --api H:P --count N [--senders K] [--batch B]");
	if (senders == 0)
		senders = (count + 3) / 4;
	if (senders > count)
		senders = count;
	parse_api(api);
	ledger_genesis *g = load_genesis(net);
	ledger_genesis_free(g);

	/* Sign everything first, so the node sees the flood at wire speed. */
	actor *ks = xcalloc(senders, sizeof *ks);
	for (size_t s = 0; s < senders; s++)
		derive(&ks[s], "fault-flood", (uint64_t)s + (uint64_t)getpid() * 100000000u);
	ck_pubkey sink;
	memset(sink, 0x5a, sizeof sink);
	uint8_t **txs = xcalloc(count, sizeof *txs);
	size_t *lens = xcalloc(count, sizeof *lens);
	ledger_tx *tx;
	cm_wr w;
	cm_wr_init(&w);
	if (ledger_tx_new(&tx, LEDGER_TX_TRANSFER, 0) != 0)
		die("out of memory");
	uint64_t t0 = now_ms();
	for (size_t i = 0; i < count; i++) {
		actor *k = &ks[i % senders];
		tx->version = LEDGER_TX_VERSION;
		snprintf(tx->chain_id, sizeof tx->chain_id, "%s", chain_id);
		tx->kind = LEDGER_TX_TRANSFER;
		memcpy(tx->sender, k->pk, CK_PUBKEY_BYTES);
		tx->nonce = i / senders;
		memcpy(tx->u.transfer.to, sink, CK_PUBKEY_BYTES);
		tx->u.transfer.amount_g = 1;
		ledger_tx_sign(tx, k->sk);
		cm_wr_reset(&w);
		ledger_tx_encode(tx, &w);
		if (cm_wr_error(&w))
			die("out of memory");
		lens[i] = cm_wr_len(&w);
		txs[i] = malloc(lens[i]);
		if (!txs[i])
			die("out of memory");
		memcpy(txs[i], cm_wr_data(&w), lens[i]);
	}
	ledger_tx_free(tx);
	fprintf(stderr, "load: signed %zu transfers from %zu keys in %.1f s\n", count, senders,
		(double)(now_ms() - t0) / 1000.0);

	json_t *by_error = json_object(), *by_status = json_object();
	size_t accepted = 0;
	t0 = now_ms();
	for (size_t at = 0; at < count; at += batch) {
		size_t n = count - at < batch ? count - at : batch;
		cm_wr_reset(&w);
		cm_wr_array(&w, (uint32_t)n);
		for (size_t i = 0; i < n; i++)
			cm_wr_bin(&w, txs[at + i], lens[at + i]);
		if (cm_wr_error(&w))
			die("out of memory");
		struct evhttp_connection *c =
			evhttp_connection_base_new(base, NULL, nodes[0].host, nodes[0].port);
		evhttp_connection_set_timeout(c, 120);
		sync_get s = {0};
		struct evhttp_request *req = evhttp_request_new(sync_cb, &s);
		struct evkeyvalq *h = evhttp_request_get_output_headers(req);
		char cl[24];
		snprintf(cl, sizeof cl, "%zu", cm_wr_len(&w));
		evhttp_add_header(h, "Host", nodes[0].hostport);
		evhttp_add_header(h, "Content-Type", "application/msgpack");
		evhttp_add_header(h, "Content-Length", cl);
		evbuffer_add(evhttp_request_get_output_buffer(req), cm_wr_data(&w), cm_wr_len(&w));
		if (evhttp_make_request(c, req, EVHTTP_REQ_POST, "/v1/txs") == 0)
			while (!s.done)
				event_base_loop(base, EVLOOP_ONCE);
		evhttp_connection_free(c);
		char code[8];
		snprintf(code, sizeof code, "%d", s.code);
		json_object_set_new(by_status, code,
				    json_integer(json_integer_value(json_object_get(by_status, code)) + 1));
		json_t *res = json_object_get(s.j, "results");
		for (size_t i = 0; i < json_array_size(res); i++) {
			const char *e = json_string_value(json_object_get(json_array_get(res, i), "error"));
			if (!e) {
				accepted++;
				continue;
			}
			json_object_set_new(by_error, e,
					    json_integer(json_integer_value(json_object_get(by_error, e)) + 1));
		}
		json_decref(s.j);
	}
	json_t *o = json_pack("{s:I,s:I,s:I,s:o,s:o}", "sent", (json_int_t)count, "accepted",
			      (json_int_t)accepted, "ms", (json_int_t)(now_ms() - t0), "errors",
			      by_error, "http_status", by_status);
	char *text = json_dumps(o, JSON_COMPACT);
	printf("%s\n", text);
	free(text);
	json_decref(o);
	for (size_t i = 0; i < count; i++)
		free(txs[i]);
	free(txs);
	free(lens);
	free(ks);
	cm_wr_free(&w);
	return 0;
}

int main(int argc, char **argv)
{
	if (ck_init() != 0)
		die("libsodium failed to initialise");
	signal(SIGPIPE, SIG_IGN);
	setvbuf(stdout, NULL, _IOLBF, 0);
	base = event_base_new();
	if (!base)
		die("event_base_new failed");
	int rc = 2;
	if (argc >= 2 && strcmp(argv[1], "run") == 0)
		rc = cmd_run(argc, argv);
	else if (argc >= 2 && strcmp(argv[1], "flood") == 0)
		rc = cmd_flood(argc, argv);
	else
		fprintf(stderr, "usage: load run|flood ... (see tests/integration/faults/load.c)\n");
	event_base_free(base);
	return rc;
}
