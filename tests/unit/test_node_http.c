/* The HTTP API (node/http*.c) end to end over a real socket: a ledger on a
 * temporary directory (the ledger tests' fixture), a fake backend that
 * admits through a real mempool, and a tiny blocking HTTP client. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <event2/buffer.h>

#include "ledger_fixture.h"
#include "node/http.h"
#include "node/mempool.h"

/* ---- fake backend: a mempool behind a mutex ------------------------------ */

typedef struct backend {
	pthread_mutex_t mu;
	node_mempool *mp;
	node_mempool_view view;
	unsigned submits, txs_seen;
	bool async;                   /* complete from another thread */
} backend;

typedef struct async_job {
	node_http *http;
	void *cookie;
	node_http_submit_result *res;
	size_t n;
} async_job;

static void *async_done(void *arg)
{
	async_job *j = arg;
	usleep(20000);
	node_http_submit_done(j->http, j->cookie, j->res, j->n);
	free(j->res);
	free(j);
	return NULL;
}

static void be_submit(void *ctx, node_http *http, const node_http_tx *txs, size_t n, void *cookie)
{
	backend *b = ctx;
	node_http_submit_result *res = calloc(n, sizeof *res);
	cr_assert(res != NULL);
	pthread_mutex_lock(&b->mu);
	b->submits++;
	b->txs_seen += (unsigned)n;
	for (size_t i = 0; i < n; i++)
		res[i].rc = node_mempool_add(b->mp, txs[i].tx, txs[i].len, &b->view, res[i].hash);
	pthread_mutex_unlock(&b->mu);
	if (b->async) {
		async_job *j = malloc(sizeof *j);
		cr_assert(j != NULL);
		*j = (async_job){http, cookie, res, n};
		pthread_t t;
		cr_assert_eq(pthread_create(&t, NULL, async_done, j), 0);
		pthread_detach(t);
		return;
	}
	node_http_submit_done(http, cookie, res, n);
	free(res);
}

static int be_status(void *ctx, json_t *out)
{
	backend *b = ctx;
	node_mempool_stats st;
	pthread_mutex_lock(&b->mu);
	node_mempool_get_stats(b->mp, &st);
	pthread_mutex_unlock(&b->mu);
	json_object_set_new(out, "peers", json_integer(0));
	json_object_set_new(out, "mempool_txs", json_integer((json_int_t)st.txs));
	json_object_set_new(out, "version", json_string("test"));
	return 0;
}

static int be_tx_status(void *ctx, const ck_hash hash, bool *pending)
{
	backend *b = ctx;
	pthread_mutex_lock(&b->mu);
	*pending = node_mempool_contains(b->mp, hash);
	pthread_mutex_unlock(&b->mu);
	return 0;
}

static int be_pending_nonce(void *ctx, const ck_pubkey key, uint64_t committed, uint64_t *next)
{
	backend *b = ctx;
	pthread_mutex_lock(&b->mu);
	*next = node_mempool_pending_nonce(b->mp, key, committed);
	pthread_mutex_unlock(&b->mu);
	return 0;
}

static int be_evidence(void *ctx, json_t **out)
{
	(void)ctx;
	*out = json_array();
	return 0;
}

static int be_metrics(void *ctx, struct evbuffer *out)
{
	(void)ctx;
	evbuffer_add_printf(out, "carbon_test_backend 1\n");
	return 0;
}

/* ---- fixture ------------------------------------------------------------- */

static fx F;
static backend B;
static node_http *H;
static uint16_t port;

static void start(uint32_t timeout_s, uint32_t conns_max)
{
	node_http_config cfg = {.listen = "127.0.0.1:0", .ledger = F.l, .chain_id = FX_CHAIN,
				.timeout_s = timeout_s, .conns_max = conns_max};
	cfg.backend = (node_http_backend){&B, be_submit, be_status, be_tx_status, be_pending_nonce,
					  be_evidence, be_metrics};
	int rc = node_http_start(&H, &cfg);
	cr_assert_eq(rc, 0, "node_http_start: %s", node_http_strerror(rc));
	port = node_http_port(H);
	cr_assert_neq(port, 0);
}

static void setup(void)
{
	fx_init(&F);
	memset(&B, 0, sizeof B);
	pthread_mutex_init(&B.mu, NULL);
	node_mempool_config mc = {.chain_id = FX_CHAIN};
	cr_assert_eq(node_mempool_new(&B.mp, &mc), 0);
	node_mempool_view_ledger(&B.view, F.l);
	start(0, 0);
}

static void teardown(void)
{
	node_http_stop(H);
	H = NULL;
	node_mempool_free(B.mp);
	pthread_mutex_destroy(&B.mu);
	fx_fini(&F);
}

/* ---- a tiny blocking HTTP/1.1 client ---------------------------------------- */

static int dial(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	cr_assert_geq(fd, 0);
	struct timeval tv = {5, 0};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cr_assert_eq(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
	return fd;
}

static void send_all(int fd, const void *p, size_t n)
{
	const char *c = p;
	while (n > 0) {
		ssize_t w = send(fd, c, n, MSG_NOSIGNAL);
		cr_assert_gt(w, 0);
		c += w;
		n -= (size_t)w;
	}
}

static void send_request(int fd, const char *method, const char *target, const char *ctype,
			 const void *body, size_t len)
{
	char head[512];
	int n = snprintf(head, sizeof head,
			 "%s %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n%s%s%sContent-Length: %zu\r\n\r\n",
			 method, target, ctype ? "Content-Type: " : "", ctype ? ctype : "",
			 ctype ? "\r\n" : "", len);
	send_all(fd, head, (size_t)n);
	if (len)
		send_all(fd, body, len);
}

typedef struct resp {
	int status;
	char *body;                   /* NUL-terminated */
	json_t *json;                 /* parsed body, or NULL */
} resp;

static resp read_response(int fd)
{
	size_t cap = 1 << 16, len = 0;
	char *buf = malloc(cap);
	cr_assert(buf != NULL);
	for (;;) {
		if (len + 1 == cap) {
			cap *= 2;
			buf = realloc(buf, cap);
			cr_assert(buf != NULL);
		}
		ssize_t r = recv(fd, buf + len, cap - len - 1, 0);
		if (r <= 0)
			break;
		len += (size_t)r;
	}
	buf[len] = '\0';
	close(fd);
	resp out = {0, NULL, NULL};
	cr_assert(sscanf(buf, "HTTP/1.1 %d", &out.status) == 1, "no status line in \"%s\"", buf);
	char *body = strstr(buf, "\r\n\r\n");
	cr_assert(body != NULL);
	out.body = strdup(body + 4);
	free(buf);
	out.json = json_loads(out.body, 0, NULL);
	return out;
}

static resp request(const char *method, const char *target, const char *ctype, const void *body,
		    size_t len)
{
	int fd = dial();
	send_request(fd, method, target, ctype, body, len);
	return read_response(fd);
}

static resp get(const char *target)
{
	return request("GET", target, NULL, NULL, 0);
}

static void resp_free(resp *r)
{
	free(r->body);
	json_decref(r->json);
}

static const char *jstr(const resp *r, const char *key)
{
	cr_assert(r->json != NULL, "body is not JSON: %s", r->body);
	const char *s = json_string_value(json_object_get(r->json, key));
	cr_assert(s != NULL, "no string \"%s\" in %s", key, r->body);
	return s;
}

static json_int_t jint(const resp *r, const char *key)
{
	cr_assert(r->json != NULL, "body is not JSON: %s", r->body);
	json_t *v = json_object_get(r->json, key);
	cr_assert(json_is_integer(v), "no integer \"%s\" in %s", key, r->body);
	return json_integer_value(v);
}

/* ---- transactions ---------------------------------------------------------- */

typedef struct txb {
	uint8_t b[2048];
	size_t len;
	ck_hash hash;
	char hex[4097];
} txb;

static txb transfer(const fx_key *from, uint64_t nonce, uint64_t amount)
{
	ledger_tx *tx;
	cr_assert_eq(ledger_tx_new(&tx, LEDGER_TX_TRANSFER, 0), 0);
	snprintf(tx->chain_id, sizeof tx->chain_id, "%s", FX_CHAIN);
	memcpy(tx->sender, from->pk, CK_PUBKEY_BYTES);
	tx->nonce = nonce;
	memcpy(tx->u.transfer.to, F.citizen[1].pk, CK_PUBKEY_BYTES);
	tx->u.transfer.amount_g = amount;
	ledger_tx_sign(tx, from->sk);
	cm_wr w;
	cm_wr_init(&w);
	ledger_tx_encode(tx, &w);
	txb t;
	t.len = cm_wr_len(&w);
	cr_assert_leq(t.len, sizeof t.b);
	memcpy(t.b, cm_wr_data(&w), t.len);
	cm_wr_free(&w);
	ledger_tx_free(tx);
	ledger_tx_hash(t.hash, t.b, t.len);
	cm_hex_encode(t.hex, t.b, t.len);
	return t;
}

static void hash_hex(char out[65], const ck_hash h)
{
	cm_hex_encode(out, h, CK_HASH_BYTES);
}

/* Commits a block holding the given transactions and tells the server. */
static void commit(const txb *const *txs, size_t n)
{
	fx_begin(&F);
	for (size_t i = 0; i < n; i++)
		fx_add_raw(&F, txs[i]->b, txs[i]->len);
	fx_commit(&F, NULL);
	ledger_info info;
	cr_assert_eq(ledger_get_info(F.l, &info), 0);
	const uint8_t *b[8];
	size_t l[8];
	for (size_t i = 0; i < n; i++) {
		b[i] = txs[i]->b;
		l[i] = txs[i]->len;
	}
	pthread_mutex_lock(&B.mu);
	cr_assert_eq(node_mempool_update(B.mp, &B.view, b, l, (uint32_t)n), 0);
	pthread_mutex_unlock(&B.mu);
	node_http_notify_commit(H, info.height);
}

TestSuite(http, .init = setup, .fini = teardown, .timeout = 30);

/* ---- malformed requests ------------------------------------------------------- */

Test(http, status)
{
	resp r = get("/v1/status");
	cr_assert_eq(r.status, 200, "%s", r.body);
	cr_assert_str_eq(jstr(&r, "chain_id"), FX_CHAIN);
	cr_assert_eq(jint(&r, "height"), 0);
	cr_assert_str_eq(jstr(&r, "version"), "test");
	cr_assert_eq(json_array_size(json_object_get(r.json, "validators")), 2);
	resp_free(&r);
}

Test(http, unknown_path_and_wrong_method)
{
	resp r = get("/v1/nothing");
	cr_assert_eq(r.status, 404);
	cr_assert_str_eq(jstr(&r, "error"), "not_found");
	resp_free(&r);
	r = get("/v1/status/");
	cr_assert_eq(r.status, 404);
	resp_free(&r);
	r = get("/v1/tx");
	cr_assert_eq(r.status, 405);
	cr_assert_str_eq(jstr(&r, "error"), "method_not_allowed");
	resp_free(&r);
	r = request("POST", "/v1/status", "application/json", "{}", 2);
	cr_assert_eq(r.status, 405);
	resp_free(&r);
}

Test(http, malformed_parameters)
{
	resp r = get("/v1/tx/zz");
	cr_assert_eq(r.status, 400);
	cr_assert_str_eq(jstr(&r, "error"), "bad_hash");
	resp_free(&r);
	r = get("/v1/block/18446744073709551616");
	cr_assert_eq(r.status, 400);
	cr_assert_str_eq(jstr(&r, "error"), "bad_number");
	resp_free(&r);
	static const char *const bad_heights[] = {"/v1/header/-1", "/v1/header/1x",
						  "/v1/valset/latest", "/v1/valset/0x10",
						  "/v1/valset/18446744073709551616"};
	for (size_t i = 0; i < sizeof bad_heights / sizeof bad_heights[0]; i++) {
		r = get(bad_heights[i]);
		cr_assert_eq(r.status, 400, "%s: %s", bad_heights[i], r.body);
		cr_assert_str_eq(jstr(&r, "error"), "bad_number");
		resp_free(&r);
	}
	char addr[CK_ADDRESS_STRLEN + 1], target[128];
	ck_address_encode(addr, F.citizen[0].pk);
	snprintf(target, sizeof target, "/v1/account/%s/history?limit=0", addr);
	r = get(target);
	cr_assert_eq(r.status, 400);
	resp_free(&r);
	snprintf(target, sizeof target, "/v1/account/%s?color=blue", addr);
	r = get(target);
	cr_assert_eq(r.status, 400);
	cr_assert_str_eq(jstr(&r, "error"), "bad_query");
	resp_free(&r);
}

Test(http, bad_address_says_checksum)
{
	char addr[CK_ADDRESS_STRLEN + 1], target[128];
	ck_address_encode(addr, F.citizen[0].pk);
	addr[10] = addr[10] == 'a' ? 'b' : 'a';
	snprintf(target, sizeof target, "/v1/account/%s", addr);
	resp r = get(target);
	cr_assert_eq(r.status, 400);
	cr_assert_str_eq(jstr(&r, "error"), "bad_address");
	cr_assert(strstr(jstr(&r, "message"), "checksum") != NULL, "%s", r.body);
	resp_free(&r);
}

Test(http, malformed_hex_and_json)
{
	resp r = request("POST", "/v1/tx", "text/plain", "abc", 3);
	cr_assert_eq(r.status, 400);
	cr_assert_str_eq(jstr(&r, "error"), "bad_hex");
	resp_free(&r);
	r = request("POST", "/v1/tx", "application/json", "{\"tx\":", 6);
	cr_assert_eq(r.status, 400);
	cr_assert_str_eq(jstr(&r, "error"), "bad_json");
	resp_free(&r);
	r = request("POST", "/v1/tx", "application/octet-stream", "\x93\x01\x02", 3);
	cr_assert_eq(r.status, 400);
	resp_free(&r);
	r = request("POST", "/v1/txs", "application/msgpack", "\x92\xc4", 2);
	cr_assert_eq(r.status, 400);
	cr_assert_str_eq(jstr(&r, "error"), "bad_msgpack");
	resp_free(&r);
	r = request("POST", "/v1/tx", "image/png", "x", 1);
	cr_assert_eq(r.status, 415);
	resp_free(&r);
	cr_assert_eq(B.txs_seen, 1, "only the undecodable raw bytes reached the backend");
}

Test(http, oversize_body_is_413)
{
	int fd = dial();
	char head[256];
	int n = snprintf(head, sizeof head,
			 "POST /v1/tx HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\n"
			 "Content-Length: %u\r\n\r\n",
			 LIM_HTTP_BODY_BYTES_MAX + 1);
	send_all(fd, head, (size_t)n);
	resp r = read_response(fd);
	cr_assert_eq(r.status, 413);
	resp_free(&r);
	cr_assert_eq(B.submits, 0);
}

/* ---- submission ------------------------------------------------------------------ */

Test(http, submit_goes_to_the_backend)
{
	txb t = transfer(&F.member[FX_METRO], 0, 5);
	char hh[65];
	hash_hex(hh, t.hash);
	resp r = request("POST", "/v1/tx", "application/octet-stream", t.b, t.len);
	cr_assert_eq(r.status, 200, "%s", r.body);
	cr_assert_str_eq(jstr(&r, "hash"), hh);
	cr_assert_str_eq(jstr(&r, "status"), "pending");
	resp_free(&r);
	cr_assert_eq(B.submits, 1);
	cr_assert(node_mempool_contains(B.mp, t.hash));

	/* The same again, as hex: the mempool's reason comes back. */
	r = request("POST", "/v1/tx", NULL, t.hex, strlen(t.hex));
	cr_assert_eq(r.status, 409, "%s", r.body);
	cr_assert_str_eq(jstr(&r, "error"), "duplicate");
	cr_assert_str_eq(jstr(&r, "hash"), hh);
	resp_free(&r);

	/* As JSON, the next nonce; the account counts both pending. */
	txb u = transfer(&F.member[FX_METRO], 1, 5);
	char body[4200];
	snprintf(body, sizeof body, "{\"tx\":\"%s\"}", u.hex);
	r = request("POST", "/v1/tx", "application/json", body, strlen(body));
	cr_assert_eq(r.status, 200, "%s", r.body);
	resp_free(&r);
	char addr[CK_ADDRESS_STRLEN + 1], target[128];
	ck_address_encode(addr, F.member[FX_METRO].pk);
	snprintf(target, sizeof target, "/v1/account/%s", addr);
	r = get(target);
	cr_assert_eq(r.status, 200, "%s", r.body);
	cr_assert_eq(jint(&r, "nonce"), 2);
	cr_assert_eq(jint(&r, "committed_nonce"), 0);
	cr_assert_str_eq(jstr(&r, "member"), "metro");
	resp_free(&r);

	hash_hex(hh, u.hash);
	snprintf(target, sizeof target, "/v1/tx/%s", hh);
	r = get(target);
	cr_assert_eq(r.status, 200);
	cr_assert_str_eq(jstr(&r, "status"), "pending");
	resp_free(&r);
}

Test(http, async_backend_and_signature_rejection)
{
	B.async = true;
	txb t = transfer(&F.member[FX_METRO], 0, 5);
	t.b[t.len - 10] ^= 1;
	resp r = request("POST", "/v1/tx", "application/octet-stream", t.b, t.len);
	cr_assert_eq(r.status, 400, "%s", r.body);
	cr_assert_str_eq(jstr(&r, "error"), "bad_signature");
	resp_free(&r);
}

Test(http, batch_json_and_msgpack)
{
	txb a = transfer(&F.member[FX_METRO], 0, 5), b = transfer(&F.member[FX_METRO], 1, 5);
	char body[9000];
	snprintf(body, sizeof body, "{\"txs\":[\"%s\",\"xyz\",\"%s\"]}", a.hex, a.hex);
	resp r = request("POST", "/v1/txs", "application/json", body, strlen(body));
	cr_assert_eq(r.status, 200, "%s", r.body);
	json_t *res = json_object_get(r.json, "results");
	cr_assert_eq(json_array_size(res), 3);
	cr_assert_str_eq(json_string_value(json_object_get(json_array_get(res, 0), "status")),
			 "pending");
	cr_assert_str_eq(json_string_value(json_object_get(json_array_get(res, 1), "error")),
			 "bad_hex");
	cr_assert_str_eq(json_string_value(json_object_get(json_array_get(res, 2), "error")),
			 "duplicate");
	cr_assert_eq(jint(&r, "accepted"), 1);
	resp_free(&r);

	cm_wr w;
	cm_wr_init(&w);
	cm_wr_array(&w, 1);
	cm_wr_bin(&w, b.b, b.len);
	r = request("POST", "/v1/txs", "application/msgpack", cm_wr_data(&w), cm_wr_len(&w));
	cm_wr_free(&w);
	cr_assert_eq(r.status, 200, "%s", r.body);
	cr_assert_eq(jint(&r, "accepted"), 1);
	resp_free(&r);
	cr_assert_eq(B.txs_seen, 3);
}

Test(http, wait_until_committed_or_timeout)
{
	txb t = transfer(&F.member[FX_METRO], 0, 5);
	resp r = request("POST", "/v1/tx?wait_ms=100", "application/octet-stream", t.b, t.len);
	cr_assert_eq(r.status, 202, "%s", r.body);
	cr_assert_str_eq(jstr(&r, "status"), "pending");
	resp_free(&r);

	txb u = transfer(&F.member[FX_METRO], 1, 5);
	int fd = dial();
	send_request(fd, "POST", "/v1/tx?wait_ms=5000", "application/octet-stream", u.b, u.len);
	/* Wait until the server has it, then commit both. */
	for (int i = 0; i < 500; i++) {
		pthread_mutex_lock(&B.mu);
		bool in = node_mempool_contains(B.mp, u.hash);
		pthread_mutex_unlock(&B.mu);
		if (in)
			break;
		usleep(10000);
	}
	const txb *blk[] = {&t, &u};
	commit(blk, 2);
	r = read_response(fd);
	cr_assert_eq(r.status, 200, "%s", r.body);
	cr_assert_str_eq(jstr(&r, "status"), "committed");
	cr_assert_eq(jint(&r, "height"), 1);
	cr_assert_eq(jint(&r, "index"), 1);
	resp_free(&r);

	r = get("/v1/block/latest");
	cr_assert_eq(r.status, 200, "%s", r.body);
	json_t *txs = json_object_get(r.json, "txs");
	cr_assert_eq(json_array_size(txs), 2);
	cr_assert_str_eq(json_string_value(json_object_get(json_array_get(txs, 0), "kind")),
			 "transfer");
	resp_free(&r);
	r = get("/v1/block/2");
	cr_assert_eq(r.status, 404);
	resp_free(&r);
}

Test(http, proof_waits_for_the_certifying_header)
{
	char addr[CK_ADDRESS_STRLEN + 1], target[160];
	ck_address_encode(addr, F.member[FX_METRO].pk);
	snprintf(target, sizeof target, "/v1/account/%s/proof", addr);
	/* Never used: nothing in the state to prove. */
	resp r0 = get(target);
	cr_assert_eq(r0.status, 404, "%s", r0.body);
	resp_free(&r0);
	/* Used once (an insufficient transfer still takes the nonce). */
	txb t = transfer(&F.member[FX_METRO], 0, 5);
	const txb *blk[] = {&t};
	commit(blk, 1);
	int fd = dial();
	send_request(fd, "GET", target, NULL, NULL, 0);
	usleep(100000);
	commit(NULL, 0);
	resp r = read_response(fd);
	cr_assert_eq(r.status, 200, "%s", r.body);
	cr_assert(json_is_true(json_object_get(r.json, "certified")), "%s", r.body);
	cr_assert_eq(jint(&r, "height"), 1);
	cr_assert_eq(jint(&r, "nonce"), 1);
	json_t *hd = json_object_get(r.json, "header");
	cr_assert_eq(json_integer_value(json_object_get(hd, "height")), 2);
	cr_assert_str_neq(json_string_value(json_object_get(r.json, "cert")), "x");
	cr_assert_str_eq(json_string_value(json_object_get(hd, "state_root")), jstr(&r, "state_root"));
	/* The proof decodes and verifies. */
	const char *ph = jstr(&r, "proof");
	size_t n = strlen(ph) / 2;
	uint8_t *pb = malloc(n);
	cr_assert_eq(cm_hex_decode(pb, n, ph, 2 * n), 0);
	ledger_account_proof *p = malloc(sizeof *p);
	cr_assert_eq(ledger_account_proof_decode(pb, n, p), 0);
	cr_assert_eq(ledger_verify_account_proof(p), 0);
	free(p);
	free(pb);
	resp_free(&r);
}

/* ---- other reads ---------------------------------------------------------------- */

Test(http, reads)
{
	static const char *const ok[] = {"/v1/supply", "/v1/offers?limit=10", "/v1/evidence"};
	for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
		resp r = get(ok[i]);
		cr_assert_eq(r.status, 200, "%s: %s", ok[i], r.body);
		resp_free(&r);
	}
	char addr[CK_ADDRESS_STRLEN + 1], target[200];
	ck_address_encode(addr, F.citizen[0].pk);
	snprintf(target, sizeof target, "/v1/account/%s/history?limit=5", addr);
	resp r = get(target);
	cr_assert_eq(r.status, 200, "%s", r.body);
	cr_assert(json_is_null(json_object_get(r.json, "next_cursor")));
	resp_free(&r);
	ck_address_encode(addr, F.member[FX_METRO].pk);
	snprintf(target, sizeof target, "/v1/operator/%s/trips?day=2023-11-14", addr);
	r = get(target);
	cr_assert_eq(r.status, 200, "%s", r.body);
	cr_assert_eq(jint(&r, "day"), 19675);
	resp_free(&r);
	snprintf(target, sizeof target, "/v1/receipts?merchant=%s", addr);
	r = get(target);
	cr_assert_eq(r.status, 200, "%s", r.body);
	resp_free(&r);
	r = get("/v1/trip/00000000000000000000000000000000000000000000000000000000000000ff");
	cr_assert_eq(r.status, 404);
	resp_free(&r);
	r = get("/metrics");
	cr_assert_eq(r.status, 200);
	cr_assert(strstr(r.body, "carbon_test_backend 1") != NULL);
	cr_assert(strstr(r.body, "carbon_http_requests_total") != NULL);
	resp_free(&r);
}

Test(http, receipts_by_merchant)
{
	/* A 10 km metro trip for citizen 0 and an offer, then a redemption. */
	ledger_tx *tx = fx_tx(&F, LEDGER_TX_ISSUE, &F.member[FX_METRO], 1);
	ledger_trip *t = &tx->u.issue.trips[0];
	ledger_trip_id(t->trip_id, FX_METRO, "R-1", 3);
	memcpy(t->citizen, F.citizen[0].pk, CK_PUBKEY_BYTES);
	t->mode = LEDGER_MODE_METRO;
	t->distance_m = 10000;
	t->start_s = fx_now_s(&F) - 3600;
	t->end_s = t->start_s + 1200;
	fx_add(&F, tx, &F.member[FX_METRO]);
	tx = fx_tx(&F, LEDGER_TX_OFFER, &F.member[FX_STORE], 0);
	tx->u.offer.action = LEDGER_OFFER_PUBLISH;
	tx->u.offer.offer_id = 7;
	tx->u.offer.price_g = 100;
	tx->u.offer.stock = 5;
	snprintf(tx->u.offer.name, sizeof tx->u.offer.name, "ride");
	fx_add(&F, tx, &F.member[FX_STORE]);
	fx_commit(&F, NULL);
	tx = fx_tx(&F, LEDGER_TX_REDEEM, &F.citizen[0], 0);
	tx->u.redeem.offer_id = 7;
	tx->u.redeem.max_price_g = 100;
	fx_add(&F, tx, &F.citizen[0]);
	fx_commit(&F, NULL);

	char addr[CK_ADDRESS_STRLEN + 1], citizen[CK_ADDRESS_STRLEN + 1], target[200];
	ck_address_encode(addr, F.member[FX_STORE].pk);
	ck_address_encode(citizen, F.citizen[0].pk);
	snprintf(target, sizeof target, "/v1/receipts?merchant=%s", addr);
	resp r = get(target);
	cr_assert_eq(r.status, 200, "%s", r.body);
	json_t *list = json_object_get(r.json, "receipts");
	cr_assert_eq(json_array_size(list), 1, "%s", r.body);
	json_t *e = json_array_get(list, 0);
	cr_assert_str_eq(json_string_value(json_object_get(e, "citizen")), citizen);
	cr_assert_eq(json_integer_value(json_object_get(e, "price_g")), 100);
	cr_assert_eq(json_integer_value(json_object_get(e, "merchant_id")), FX_STORE);
	cr_assert(json_is_false(json_object_get(e, "refunded")));
	cr_assert(json_is_null(json_object_get(r.json, "next_cursor")));
	resp_free(&r);

	/* A citizen's address names no merchant. */
	snprintf(target, sizeof target, "/v1/receipts?merchant=%s", citizen);
	r = get(target);
	cr_assert_eq(r.status, 404, "%s", r.body);
	cr_assert_str_eq(jstr(&r, "error"), "not_a_member");
	resp_free(&r);
}

/* ---- light-client reads: headers and validator sets ---------------------------------- */

/* The "hash" of /v1/valset/{height} and the number of its validators. */
static size_t valset_at(uint64_t height, char hash[65])
{
	char target[64];
	snprintf(target, sizeof target, "/v1/valset/%llu", (unsigned long long)height);
	resp r = get(target);
	cr_assert_eq(r.status, 200, "%s: %s", target, r.body);
	cr_assert_eq(jint(&r, "height"), (json_int_t)height);
	snprintf(hash, 65, "%s", jstr(&r, "hash"));
	size_t n = json_array_size(json_object_get(r.json, "validators"));
	const char *v0 = json_string_value(json_array_get(json_object_get(r.json, "validators"), 0));
	cr_assert(v0 != NULL && strncmp(v0, "cb1", 3) == 0, "%s", r.body);
	resp_free(&r);
	return n;
}

Test(http, headers_and_validator_sets_of_each_height)
{
	char h1[65], h[65], target[64];
	cr_assert_eq(valset_at(1, h1), 2);
	cr_assert_eq(valset_at(2, h), 2);
	cr_assert_str_eq(h, h1);
	static const char *const missing[] = {"/v1/valset/0", "/v1/valset/3", "/v1/header/0",
					      "/v1/header/1", "/v1/header/latest"};
	for (size_t i = 0; i < sizeof missing / sizeof missing[0]; i++) {
		resp r = get(missing[i]);
		cr_assert_eq(r.status, 404, "%s: %s", missing[i], r.body);
		cr_assert_str_eq(jstr(&r, "error"), "not_found");
		resp_free(&r);
	}

	/* Block 1 makes the bank a validator: the set of height 3 on. */
	ledger_tx *tx = fx_tx(&F, LEDGER_TX_GOVERN, &F.member[FX_CITY], 0);
	tx->u.govern.action = LEDGER_GOV_SET_ROLES;
	tx->u.govern.member_id = FX_BANK;
	tx->u.govern.roles = LEDGER_ROLE_BANK | LEDGER_ROLE_GOVERNOR | LEDGER_ROLE_VALIDATOR;
	cr_assert_eq(ledger_tx_approve(tx, F.member[FX_AUTH].sk), 0);
	fx_add(&F, tx, &F.member[FX_CITY]);
	fx_commit(&F, NULL);
	commit(NULL, 0);

	const size_t want[] = {0, 2, 2, 3, 3};
	for (uint64_t height = 1; height <= 4; height++) {
		cr_assert_eq(valset_at(height, h), want[height], "height %llu",
			     (unsigned long long)height);
		if (height > 2)
			continue;
		/* Each stored header names the set the endpoint gives. */
		snprintf(target, sizeof target, "/v1/header/%llu", (unsigned long long)height);
		resp r = get(target);
		cr_assert_eq(r.status, 200, "%s: %s", target, r.body);
		json_t *hd = json_object_get(r.json, "header");
		cr_assert_eq(json_integer_value(json_object_get(hd, "height")), (json_int_t)height);
		cr_assert_str_eq(json_string_value(json_object_get(hd, "valset_hash")), h);
		cr_assert(json_is_string(json_object_get(r.json, "cert")), "%s", r.body);
		cr_assert_null(json_object_get(r.json, "txs"), "%s", r.body);
		resp_free(&r);
	}
	cr_assert_eq(valset_at(3, h), 3);
	cr_assert_str_neq(h, h1);
	resp r = get("/v1/valset/5");
	cr_assert_eq(r.status, 404, "%s", r.body);
	resp_free(&r);
	r = get("/v1/header/latest");
	cr_assert_eq(r.status, 200, "%s", r.body);
	json_t *hd = json_object_get(r.json, "header");
	cr_assert_eq(json_integer_value(json_object_get(hd, "height")), 2);
	/* The next set it names is the one of height 3. */
	cr_assert_str_eq(json_string_value(json_object_get(hd, "next_valset_hash")), h);
	resp_free(&r);
	r = get("/v1/header/3");
	cr_assert_eq(r.status, 404, "%s", r.body);
	resp_free(&r);
}

/* ---- connection limits ------------------------------------------------------------- */

Test(http, connection_cap_and_slow_sender_deadline)
{
	node_http_stop(H);
	start(1, 2);
	int a = dial(), b = dial();
	usleep(50000);
	int c = dial();
	char ch;
	/* Over the cap: closed at once without an answer. */
	cr_assert_eq(recv(c, &ch, 1, 0), 0);
	close(c);
	/* A slow sender: a byte every 300 ms keeps evhttp's inactivity timer
	 * happy, but the whole request must arrive within 1 s. */
	const char *req = "GET /v1/status HTTP/1.1\r\n";
	struct timeval t0, t1;
	gettimeofday(&t0, NULL);
	bool closed = false;
	for (size_t i = 0; i < strlen(req) && !closed; i++) {
		if (send(a, req + i, 1, MSG_NOSIGNAL) != 1)
			closed = true;
		usleep(300000);
		char x;
		ssize_t got = recv(a, &x, 1, MSG_DONTWAIT);
		if (got == 0)
			closed = true;
	}
	gettimeofday(&t1, NULL);
	cr_assert(closed, "slow sender not cut off");
	cr_assert_lt(t1.tv_sec - t0.tv_sec, 4);
	close(a);
	close(b);
	usleep(1200000);  /* b's deadline passes too */
	resp r = get("/v1/status");
	cr_assert_eq(r.status, 200);
	resp_free(&r);
}

Test(http, waiting_outlives_the_connection_timeout)
{
	/* A parked request is ours, not a slow client: neither evhttp's
	 * inactivity timeout nor the request deadline may cut it. */
	node_http_stop(H);
	start(1, 0);
	txb t = transfer(&F.member[FX_METRO], 0, 5);
	resp r = request("POST", "/v1/tx?wait_ms=2500", "application/octet-stream", t.b, t.len);
	cr_assert_eq(r.status, 202, "%s", r.body);
	resp_free(&r);
}
