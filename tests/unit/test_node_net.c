/* The peer transport of node/net.c: several nets in one process on
 * 127.0.0.1 with ephemeral ports, raw sockets playing hostile clients, and
 * a recording proxy to replay a real handshake. Every test bounds its
 * event loop with a deadline so it ends in a few seconds at most. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>

#include "node/log.h"
#include "node/net.h"

#define CHAIN "carbon-test"
#define NKEYS 5 /* 0..2 members, 3 an outsider, 4 a read replica */

static struct event_base *base;
static uint8_t *sk[NKEYS];
static ck_pubkey pk[NKEYS];

typedef struct tnode {
	node_net *net;
	int up, down;
	size_t msgs, bytes;
	size_t last_peer;
	uint8_t last[256];
	size_t last_len;
	ck_hash big_hash; /* of the last message longer than last[] */
	size_t big_len;
	bool allow; /* what allow_key answers */
	int asked;  /* times allow_key was asked */
	ck_pubkey asked_key;
} tnode;

static void on_msg(void *ctx, size_t peer, const uint8_t *msg, size_t len)
{
	tnode *t = ctx;
	t->msgs++;
	t->bytes += len;
	t->last_peer = peer;
	if (len <= sizeof t->last) {
		memcpy(t->last, msg, len);
		t->last_len = len;
	} else {
		ck_hash_tagged(t->big_hash, "test", msg, len);
		t->big_len = len;
	}
}

static void on_up(void *ctx, size_t peer)
{
	(void)peer;
	((tnode *)ctx)->up++;
}

static void on_down(void *ctx, size_t peer)
{
	(void)peer;
	((tnode *)ctx)->down++;
}

static bool allow_key(void *ctx, const ck_pubkey key)
{
	tnode *t = ctx;
	t->asked++;
	memcpy(t->asked_key, key, sizeof(ck_pubkey));
	return t->allow;
}

static void setup(void)
{
	cr_assert_eq(ck_init(), 0);
	base = event_base_new();
	cr_assert_not_null(base);
	for (int i = 0; i < NKEYS; i++) {
		uint8_t seed[CK_SEED_BYTES];
		memset(seed, 0x10 + i, sizeof seed);
		sk[i] = sodium_malloc(CK_SECKEY_BYTES);
		ck_keypair_from_seed(pk[i], sk[i], seed);
	}
}

static void teardown(void)
{
	for (int i = 0; i < NKEYS; i++)
		sodium_free(sk[i]);
	event_base_free(base);
}

TestSuite(net, .init = setup, .fini = teardown, .timeout = 20);

/* A peer entry: key id, and the port to dial it on (0: it dials us). */
typedef struct tpeer {
	int id;
	uint16_t port;
} tpeer;

typedef struct topts {
	const char *chain;
	bool no_listen;
	uint16_t listen_port;
	uint32_t idle_ms;
	size_t sendq;
	const int *extra; /* extra key ids, -1 terminated */
	struct event_base *base;
	bool allow_key; /* install allow_key (answers tnode.allow) */
	uint32_t handshake_ms;
	bool log_default; /* node_log's level alone filters, not WARN */
} topts;

static int start(tnode *t, int me, const tpeer *peers, size_t n, const topts *o)
{
	static const topts none = {0};
	if (o == NULL)
		o = &none;
	node_net_peer_cfg pc[NKEYS];
	char addr[NKEYS][32];
	ck_pubkey extra[NKEYS];
	size_t n_extra = 0;
	cr_assert(n <= NKEYS);
	for (size_t i = 0; i < n; i++) {
		memcpy(pc[i].pubkey, pk[peers[i].id], sizeof(ck_pubkey));
		snprintf(addr[i], sizeof addr[i], "127.0.0.1:%u", peers[i].port);
		pc[i].addr = peers[i].port ? addr[i] : NULL;
	}
	for (; o->extra != NULL && o->extra[n_extra] >= 0; n_extra++)
		memcpy(extra[n_extra], pk[o->extra[n_extra]], sizeof(ck_pubkey));
	char listen[32];
	snprintf(listen, sizeof listen, "127.0.0.1:%u", o->listen_port);
	node_net_config cfg = {
	    .chain_id = o->chain ? o->chain : CHAIN,
	    .seckey = sk[me],
	    .listen_addr = o->no_listen ? NULL : listen,
	    .peers = pc,
	    .n_peers = n,
	    .extra_keys = extra,
	    .n_extra_keys = n_extra,
	    .cb = {on_msg, on_up, on_down},
	    .ctx = t,
	    .allow_key = o->allow_key ? allow_key : NULL,
	    .handshake_timeout_ms = o->handshake_ms ? o->handshake_ms : 300,
	    .idle_timeout_ms = o->idle_ms ? o->idle_ms : 3000,
	    .backoff_min_ms = 20,
	    .backoff_max_ms = 200,
	    .sendq_bytes_max = o->sendq,
	    .log_level = o->log_default ? NODE_NET_LOG_DEFAULT : NODE_NET_LOG_WARN,
	};
	memcpy(cfg.pubkey, pk[me], sizeof(ck_pubkey));
	return node_net_new(&t->net, o->base ? o->base : base, &cfg);
}

/* ---- loop driving ------------------------------------------------------ */

typedef bool (*cond_fn)(void *);
struct waiter {
	cond_fn cond;
	void *arg;
};

static void tick_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct waiter *w = arg;
	if (w->cond != NULL && w->cond(w->arg))
		event_base_loopbreak(base);
}

static void deadline_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	event_base_loopbreak(base);
}

/* Runs the loop until cond holds or ms pass; the deadline is an event of
 * its own (not event_base_loopexit) so that nothing outlives the call. */
static bool run_until(cond_fn cond, void *arg, int ms)
{
	struct waiter w = {cond, arg};
	struct event *tick = event_new(base, -1, EV_PERSIST, tick_cb, &w);
	struct event *dl = evtimer_new(base, deadline_cb, NULL);
	struct timeval iv = {0, 2000}, lim = {ms / 1000, (ms % 1000) * 1000};
	event_add(tick, &iv);
	evtimer_add(dl, &lim);
	if (cond == NULL || !cond(arg))
		event_base_dispatch(base);
	event_free(tick);
	event_free(dl);
	return cond != NULL && cond(arg);
}

static void run_for(int ms)
{
	run_until(NULL, NULL, ms);
}

typedef struct ups {
	tnode *t[3];
	size_t want[3];
} ups;

static bool all_up(void *arg)
{
	ups *u = arg;
	for (int i = 0; i < 3; i++)
		if (u->t[i] != NULL && node_net_peer_count(u->t[i]->net) != u->want[i])
			return false;
	return true;
}

static bool wait_up2(tnode *a, size_t wa, tnode *b, size_t wb)
{
	ups u = {{a, b, NULL}, {wa, wb, 0}};
	return run_until(all_up, &u, 3000);
}

typedef struct msgwait {
	tnode *t;
	size_t n;
} msgwait;

static bool got_msgs(void *arg)
{
	msgwait *m = arg;
	return m->t->msgs >= m->n;
}

static bool wait_msgs(tnode *t, size_t n)
{
	msgwait m = {t, n};
	return run_until(got_msgs, &m, 5000);
}

/* An honest pair: a (key 0) dials b (key 1), which only accepts. */
static void honest_pair(tnode *a, tnode *b)
{
	topts ob = {0};
	cr_assert_eq(start(b, 1, &(tpeer){0, 0}, 1, &ob), 0);
	uint16_t pb = node_net_listen_port(b->net);
	cr_assert_neq(pb, 0);
	topts oa = {.no_listen = true};
	cr_assert_eq(start(a, 0, &(tpeer){1, pb}, 1, &oa), 0);
	cr_assert(wait_up2(a, 1, b, 1), "honest pair connects");
}

static void exchange(tnode *a, tnode *b, const char *tag)
{
	size_t na = a->msgs, nb = b->msgs;
	char m[64];
	int len = snprintf(m, sizeof m, "a->b %s", tag);
	cr_assert_eq(node_net_send(a->net, 0, (const uint8_t *)m, (size_t)len), 0);
	cr_assert(wait_msgs(b, nb + 1));
	cr_assert_eq(b->last_len, (size_t)len);
	cr_assert_eq(memcmp(b->last, m, (size_t)len), 0);
	len = snprintf(m, sizeof m, "b->a %s", tag);
	cr_assert_eq(node_net_send(b->net, 0, (const uint8_t *)m, (size_t)len), 0);
	cr_assert(wait_msgs(a, na + 1));
	cr_assert_eq(memcmp(a->last, m, (size_t)len), 0);
}

/* ---- codec ------------------------------------------------------------- */

static size_t hello_bytes(uint8_t *out, uint64_t version, const char *chain, int id)
{
	cm_wr w;
	cm_wr_init(&w);
	cm_wr_array(&w, 4);
	cm_wr_uint(&w, version);
	cm_wr_str(&w, chain, strlen(chain));
	cm_wr_bin(&w, pk[id], 32);
	uint8_t eph[32];
	memset(eph, 9, sizeof eph);
	cm_wr_bin(&w, eph, 32);
	size_t n = cm_wr_len(&w);
	memcpy(out, cm_wr_data(&w), n);
	cm_wr_free(&w);
	return n;
}

Test(net, hello_codec_exact_bytes)
{
	node_net_hello h = {.version = NODE_NET_VERSION};
	strcpy(h.chain_id, "ab");
	memset(h.static_pk, 1, 32);
	memset(h.eph_pk, 2, 32);
	cm_wr w;
	cm_wr_init(&w);
	node_net_hello_encode(&w, &h);
	const uint8_t *p = cm_wr_data(&w);
	cr_assert_eq(cm_wr_len(&w), 1 + 1 + 3 + 34 + 34);
	const uint8_t head[] = {0x94, 0x01, 0xa2, 'a', 'b', 0xc4, 0x20};
	cr_assert_eq(memcmp(p, head, sizeof head), 0);
	cr_assert_eq(p[39], 0xc4);
	cr_assert_eq(p[40], 0x20);

	node_net_hello d;
	cr_assert_eq(node_net_hello_decode(&d, p, cm_wr_len(&w)), 0);
	cr_assert_str_eq(d.chain_id, "ab");
	cr_assert_eq(memcmp(d.eph_pk, h.eph_pk, 32), 0);

	uint8_t buf[128];
	memcpy(buf, p, cm_wr_len(&w));
	buf[cm_wr_len(&w)] = 0;
	cr_assert_eq(node_net_hello_decode(&d, buf, cm_wr_len(&w) + 1), NODE_NET_E_MALFORMED,
	             "trailing byte");
	for (size_t cut = 0; cut < cm_wr_len(&w); cut++)
		cr_assert_eq(node_net_hello_decode(&d, p, cut), NODE_NET_E_MALFORMED, "cut %zu",
		             cut);
	/* The version as a non-minimal uint8 (cc 01). */
	uint8_t nm[130] = {0x94, 0xcc, 0x01};
	memcpy(nm + 3, p + 2, cm_wr_len(&w) - 2);
	cr_assert_eq(node_net_hello_decode(&d, nm, cm_wr_len(&w) + 1), NODE_NET_E_MALFORMED);
	cm_wr_free(&w);

	size_t n = hello_bytes(buf, 2, "ab", 0);
	cr_assert_eq(node_net_hello_decode(&d, buf, n), NODE_NET_E_VERSION);
	cr_assert_eq(d.version, 2);
	/* A future version with another shape still reads as a version. */
	const uint8_t v7[] = {0x92, 0x07, 0xc0};
	cr_assert_eq(node_net_hello_decode(&d, v7, sizeof v7), NODE_NET_E_VERSION);
	cr_assert_eq(d.version, 7);
}

Test(net, auth_binds_role_transcript_chain)
{
	ck_hash t, t2;
	node_net_transcript(t, (const uint8_t *)"\x91\x01", 2, (const uint8_t *)"\x91\x02", 2);
	node_net_transcript(t2, (const uint8_t *)"\x91\x02", 2, (const uint8_t *)"\x91\x01", 2);
	uint8_t auth[66] = {0xc4, 0x40};
	node_net_auth_sign(auth + 2, sk[0], CHAIN, NODE_NET_INITIATOR, t);
	cr_assert_eq(node_net_auth_check(auth, 66, pk[0], CHAIN, NODE_NET_INITIATOR, t), 0);
	cr_assert_eq(node_net_auth_check(auth, 66, pk[0], CHAIN, NODE_NET_RESPONDER, t),
	             NODE_NET_E_BADSIG, "reflected");
	cr_assert_eq(node_net_auth_check(auth, 66, pk[0], CHAIN, NODE_NET_INITIATOR, t2),
	             NODE_NET_E_BADSIG, "swapped hellos");
	cr_assert_eq(node_net_auth_check(auth, 66, pk[0], "other", NODE_NET_INITIATOR, t),
	             NODE_NET_E_BADSIG, "other chain");
	cr_assert_eq(node_net_auth_check(auth, 66, pk[1], CHAIN, NODE_NET_INITIATOR, t),
	             NODE_NET_E_BADSIG, "other key");
	cr_assert_eq(node_net_auth_check(auth, 65, pk[0], CHAIN, NODE_NET_INITIATOR, t),
	             NODE_NET_E_MALFORMED);

	uint32_t n;
	cr_assert_eq(node_net_frame_len((const uint8_t[]){0, 0, 0, 0}, 10, &n), NODE_NET_E_FRAME);
	cr_assert_eq(node_net_frame_len((const uint8_t[]){0, 0, 0, 11}, 10, &n), NODE_NET_E_FRAME);
	cr_assert_eq(node_net_frame_len((const uint8_t[]){0xff, 0, 0, 1}, 10, &n),
	             NODE_NET_E_FRAME);
	cr_assert_eq(node_net_frame_len((const uint8_t[]){0, 0, 0, 10}, 10, &n), 0);
	cr_assert_eq(n, 10);
}

Test(net, config_rejected)
{
	tnode t = {0};
	topts o = {.chain = ""};
	cr_assert_eq(start(&t, 0, NULL, 0, &o), NODE_NET_E_CONFIG);
	cr_assert_null(t.net);
	tpeer dup[2] = {{1, 0}, {1, 0}};
	cr_assert_eq(start(&t, 0, dup, 2, NULL), NODE_NET_E_CONFIG);
	int self_extra[] = {0, -1};
	o = (topts){.extra = self_extra};
	cr_assert_eq(start(&t, 0, NULL, 0, &o), NODE_NET_E_CONFIG);
	node_net_free(NULL);
}

/* ---- honest traffic ---------------------------------------------------- */

Test(net, pair_both_ways_and_big_frame)
{
	tnode a = {0}, b = {0};
	honest_pair(&a, &b);
	cr_assert_eq(a.up, 1);
	cr_assert_eq(b.up, 1);
	cr_assert(node_net_peer_connected(a.net, 0));
	exchange(&a, &b, "one");
	exchange(&a, &b, "two");

	size_t big = NODE_NET_MSG_BYTES_MAX;
	uint8_t *m = malloc(big);
	for (size_t i = 0; i < big; i++)
		m[i] = (uint8_t)(i * 31 + 7);
	ck_hash want;
	ck_hash_tagged(want, "test", m, big);
	cr_assert_eq(node_net_send(a.net, 0, m, big + 1), NODE_NET_E_TOO_BIG);
	cr_assert_eq(node_net_send(a.net, 0, m, 0), NODE_NET_E_TOO_BIG);
	cr_assert_eq(node_net_send(a.net, 1, m, 1), NODE_NET_E_PEER);
	cr_assert_eq(node_net_send(a.net, 0, m, big), 0);
	cr_assert(wait_msgs(&b, b.msgs + 1));
	cr_assert_eq(b.big_len, big);
	cr_assert_eq(memcmp(b.big_hash, want, sizeof want), 0);
	cr_assert_eq(node_net_send(b.net, 0, m, big), 0);
	cr_assert(wait_msgs(&a, a.msgs + 1));
	cr_assert_eq(memcmp(a.big_hash, want, sizeof want), 0);
	free(m);
	exchange(&a, &b, "after big");
	cr_assert_eq(a.down + b.down, 0);
	node_net_free(a.net);
	node_net_free(b.net);
}

/* Three members who all dial each other: simultaneous dials give duplicate
 * connections, and both ends must keep the same one, so no peer ever goes
 * down and every message arrives. */
Test(net, full_mesh_duplicates_settle)
{
	tnode t[3] = {{0}};
	uint16_t port[3];
	/* Learn three free ports first, then start everyone with full
	 * addresses so that every pair dials both ways at once. */
	for (int i = 0; i < 3; i++) {
		cr_assert_eq(start(&t[i], i, NULL, 0, NULL), 0);
		port[i] = node_net_listen_port(t[i].net);
	}
	for (int i = 0; i < 3; i++)
		node_net_free(t[i].net);
	for (int i = 0; i < 3; i++) {
		tpeer p[2];
		int k = 0;
		for (int j = 0; j < 3; j++)
			if (j != i)
				p[k++] = (tpeer){j, port[j]};
		topts o = {.listen_port = port[i]};
		t[i] = (tnode){0};
		cr_assert_eq(start(&t[i], i, p, 2, &o), 0);
	}
	ups u = {{&t[0], &t[1], &t[2]}, {2, 2, 2}};
	cr_assert(run_until(all_up, &u, 3000));
	run_for(200); /* let duplicate connections drain */
	for (int i = 0; i < 3; i++) {
		cr_assert_eq(t[i].down, 0, "node %d saw a peer go down", i);
		cr_assert_eq(node_net_peer_count(t[i].net), 2);
	}
	for (int round = 0; round < 20; round++)
		for (int i = 0; i < 3; i++) {
			char m[32];
			int len = snprintf(m, sizeof m, "%d:%d", i, round);
			cr_assert_eq(node_net_broadcast(t[i].net, (const uint8_t *)m, (size_t)len),
			             2);
		}
	for (int i = 0; i < 3; i++)
		cr_assert(wait_msgs(&t[i], 40), "node %d got %zu", i, t[i].msgs);
	run_for(50);
	for (int i = 0; i < 3; i++) {
		cr_assert_eq(t[i].msgs, 40);
		cr_assert_eq(t[i].down, 0);
		node_net_free(t[i].net);
	}
}

Test(net, read_replica_by_extra_key)
{
	tnode v = {0}, r = {0};
	int extra[] = {4, -1};
	topts ov = {.extra = extra};
	cr_assert_eq(start(&v, 0, &(tpeer){1, 0}, 1, &ov), 0);
	topts orr = {.no_listen = true};
	cr_assert_eq(start(&r, 4, &(tpeer){0, node_net_listen_port(v.net)}, 1, &orr), 0);
	cr_assert(wait_up2(&v, 1, &r, 1));
	cr_assert(node_net_peer_connected(v.net, 1), "replica is peer index n_peers + 0");
	cr_assert_eq(node_net_broadcast(v.net, (const uint8_t *)"blk", 3), 1);
	cr_assert(wait_msgs(&r, 1));
	node_net_free(r.net);
	node_net_free(v.net);
}

/* ---- refusals ---------------------------------------------------------- */

Test(net, unknown_key_refused)
{
	tnode b = {0}, c = {0};
	cr_assert_eq(start(&b, 1, &(tpeer){0, 0}, 1, NULL), 0);
	topts oc = {.no_listen = true};
	cr_assert_eq(start(&c, 3, &(tpeer){1, node_net_listen_port(b.net)}, 1, &oc), 0);
	run_for(400);
	cr_assert_eq(b.up, 0);
	cr_assert_eq(c.up, 0, "the outsider never gets our auth either");
	node_net_stats st;
	node_net_stats_get(b.net, &st);
	cr_assert_geq(st.refused_unknown_key, 1);
	cr_assert_eq(st.handshakes_ok, 0);
	node_net_free(c.net);
	node_net_free(b.net);
}

Test(net, wrong_chain_refused)
{
	tnode b = {0}, c = {0};
	cr_assert_eq(start(&b, 1, &(tpeer){0, 0}, 1, NULL), 0);
	topts oc = {.no_listen = true, .chain = "carbon-other"};
	cr_assert_eq(start(&c, 0, &(tpeer){1, node_net_listen_port(b.net)}, 1, &oc), 0);
	run_for(400);
	cr_assert_eq(b.up + c.up, 0);
	node_net_stats sb, sc;
	node_net_stats_get(b.net, &sb);
	node_net_stats_get(c.net, &sc);
	cr_assert_geq(sb.refused_chain, 1);
	cr_assert_geq(sc.refused_chain, 1);
	node_net_free(c.net);
	node_net_free(b.net);
}

Test(net, self_connection_refused)
{
	tnode t = {0};
	cr_assert_eq(start(&t, 0, NULL, 0, NULL), 0);
	uint16_t p = node_net_listen_port(t.net);
	node_net_free(t.net);
	/* Our own address listed under a member's key. */
	topts o = {.listen_port = p};
	t = (tnode){0};
	cr_assert_eq(start(&t, 0, &(tpeer){1, p}, 1, &o), 0);
	run_for(300);
	node_net_stats st;
	node_net_stats_get(t.net, &st);
	cr_assert_geq(st.refused_self, 1);
	cr_assert_eq(t.up, 0);
	node_net_free(t.net);
}

/* ---- raw hostile clients ----------------------------------------------- */

static int raw_connect(uint16_t port)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	cr_assert_geq(fd, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET,
	                         .sin_port = htons(port),
	                         .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	cr_assert_eq(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	return fd;
}

static void raw_send(int fd, const void *p, size_t n)
{
	cr_assert_eq(send(fd, p, n, MSG_NOSIGNAL), (ssize_t)n);
}

/* True if the other end has closed: reads what it sent (its hello) up to
 * end-of-file or a reset. */
static bool raw_closed(int fd)
{
	uint8_t buf[4096];
	for (;;) {
		ssize_t r = recv(fd, buf, sizeof buf, 0);
		if (r == 0)
			return true;
		if (r < 0)
			return errno == ECONNRESET;
	}
}

Test(net, hostile_raw_clients_dropped_honest_pair_unharmed)
{
	tnode a = {0}, b = {0};
	honest_pair(&a, &b);
	uint16_t pb = node_net_listen_port(b.net);

	int garbage = raw_connect(pb);
	raw_send(garbage, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", 27);
	int oversize = raw_connect(pb);
	raw_send(oversize, "\x7f\xff\xff\xff", 4);
	int just_over = raw_connect(pb);
	raw_send(just_over, "\x00\x00\x01\x01", 4); /* 257 > handshake frame max */
	int half = raw_connect(pb);
	uint8_t h[128];
	size_t hn = hello_bytes(h + 4, NODE_NET_VERSION, CHAIN, 0);
	h[0] = h[1] = h[2] = 0;
	h[3] = (uint8_t)hn;
	raw_send(half, h, 4 + hn / 2);
	int silent = raw_connect(pb);
	int version = raw_connect(pb);
	hn = hello_bytes(h + 4, 2, CHAIN, 0);
	h[3] = (uint8_t)hn;
	raw_send(version, h, 4 + hn);
	int zero = raw_connect(pb);
	raw_send(zero, "\0\0\0\0", 4);

	exchange(&a, &b, "during attack");
	run_for(500); /* past the 300 ms handshake timeout */
	cr_assert(raw_closed(garbage));
	cr_assert(raw_closed(oversize));
	cr_assert(raw_closed(just_over));
	cr_assert(raw_closed(half));
	cr_assert(raw_closed(silent));
	cr_assert(raw_closed(version));
	cr_assert(raw_closed(zero));
	node_net_stats st;
	node_net_stats_get(b.net, &st);
	cr_assert_eq(st.disconnects_frame, 4);
	cr_assert_eq(st.timeouts_handshake, 2);
	cr_assert_eq(st.refused_version, 1);
	cr_assert_eq(a.down + b.down, 0);
	exchange(&a, &b, "after attack");
	int fds[] = {garbage, oversize, just_over, half, silent, version, zero};
	for (size_t i = 0; i < sizeof fds / sizeof fds[0]; i++)
		close(fds[i]);
	node_net_free(a.net);
	node_net_free(b.net);
}

/* ---- replay through a recording proxy ---------------------------------- */

typedef struct proxy {
	struct evconnlistener *lis;
	struct bufferevent *in, *out;
	struct evbuffer *rec; /* everything the dialler sent */
	uint16_t target;
} proxy;

static void pump(struct bufferevent *from, struct bufferevent *to, struct evbuffer *rec)
{
	uint8_t buf[4096];
	size_t n;
	while ((n = bufferevent_read(from, buf, sizeof buf)) > 0) {
		bufferevent_write(to, buf, n);
		if (rec != NULL)
			evbuffer_add(rec, buf, n);
	}
}

static void proxy_in_read(struct bufferevent *bev, void *arg)
{
	proxy *p = arg;
	pump(bev, p->out, p->rec);
}

static void proxy_out_read(struct bufferevent *bev, void *arg)
{
	proxy *p = arg;
	pump(bev, p->in, NULL);
}

static void proxy_event(struct bufferevent *bev, short what, void *arg)
{
	(void)bev;
	(void)what;
	(void)arg;
}

static void proxy_accept(struct evconnlistener *lis, evutil_socket_t fd, struct sockaddr *sa,
                         int salen, void *arg)
{
	(void)lis;
	(void)sa;
	(void)salen;
	proxy *p = arg;
	cr_assert_null(p->in, "one connection through the proxy");
	p->in = bufferevent_socket_new(base, fd, BEV_OPT_CLOSE_ON_FREE);
	p->out = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
	bufferevent_setcb(p->in, proxy_in_read, NULL, proxy_event, p);
	bufferevent_setcb(p->out, proxy_out_read, NULL, proxy_event, p);
	bufferevent_enable(p->in, EV_READ | EV_WRITE);
	bufferevent_enable(p->out, EV_READ | EV_WRITE);
	struct sockaddr_in to = {.sin_family = AF_INET,
	                         .sin_port = htons(p->target),
	                         .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	bufferevent_socket_connect(p->out, (struct sockaddr *)&to, sizeof to);
}

Test(net, replayed_handshake_refused)
{
	tnode a = {0}, b = {0};
	cr_assert_eq(start(&b, 1, &(tpeer){0, 0}, 1, NULL), 0);
	proxy px = {.rec = evbuffer_new(), .target = node_net_listen_port(b.net)};
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	px.lis = evconnlistener_new_bind(base, proxy_accept, &px, LEV_OPT_CLOSE_ON_FREE, 8,
	                                 (struct sockaddr *)&sa, sizeof sa);
	cr_assert_not_null(px.lis);
	struct sockaddr_in bound;
	socklen_t bl = sizeof bound;
	getsockname(evconnlistener_get_fd(px.lis), (struct sockaddr *)&bound, &bl);

	topts oa = {.no_listen = true};
	cr_assert_eq(start(&a, 0, &(tpeer){1, ntohs(bound.sin_port)}, 1, &oa), 0);
	cr_assert(wait_up2(&a, 1, &b, 1));
	exchange(&a, &b, "recorded");
	/* The recording now holds a's hello, auth, stream header and one
	 * sealed message. a goes away for good. */
	node_net_free(a.net);
	bufferevent_free(px.in);
	bufferevent_free(px.out);
	evconnlistener_free(px.lis);
	for (int i = 0; i < 100 && b.down == 0; i++)
		run_for(10);
	cr_assert_eq(b.down, 1);

	size_t n = evbuffer_get_length(px.rec);
	cr_assert_gt(n, 200);
	uint8_t *rec = malloc(n);
	evbuffer_remove(px.rec, rec, n);
	int fd = raw_connect(node_net_listen_port(b.net));
	raw_send(fd, rec, n);
	run_for(300);
	cr_assert(raw_closed(fd));
	node_net_stats st;
	node_net_stats_get(b.net, &st);
	cr_assert_eq(st.refused_badsig, 1, "the replayed auth fails on b's fresh ephemeral key");
	cr_assert_eq(st.handshakes_ok, 1);
	cr_assert_eq(b.up, 1);
	cr_assert_eq(b.msgs, 1, "the replayed message is never delivered");
	close(fd);
	free(rec);
	evbuffer_free(px.rec);
	node_net_free(b.net);
}

/* ---- liveness ---------------------------------------------------------- */

static bool is_down(void *arg)
{
	return ((tnode *)arg)->down > 0;
}

Test(net, reconnect_after_restart)
{
	tnode a = {0}, b = {0};
	honest_pair(&a, &b);
	uint16_t pb = node_net_listen_port(b.net);
	exchange(&a, &b, "first life");
	node_net_free(b.net);
	cr_assert(run_until(is_down, &a, 2000));
	cr_assert_eq(node_net_send(a.net, 0, (const uint8_t *)"x", 1), NODE_NET_E_NOT_CONNECTED);
	run_for(300); /* a few failed dials: backoff grows to its cap */
	b = (tnode){0};
	topts ob = {.listen_port = pb};
	cr_assert_eq(start(&b, 1, &(tpeer){0, 0}, 1, &ob), 0);
	cr_assert(wait_up2(&a, 1, &b, 1), "a redials b within its backoff");
	cr_assert_eq(a.up, 2);
	exchange(&a, &b, "second life");
	node_net_free(a.net);
	node_net_free(b.net);
}

/* Runs two bases, the second one only while *run2. */
static void spin2(struct event_base *b2, int ms, bool run2)
{
	struct timespec t0, t;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		event_base_loop(base, EVLOOP_NONBLOCK);
		if (run2)
			event_base_loop(b2, EVLOOP_NONBLOCK);
		clock_gettime(CLOCK_MONOTONIC, &t);
		if ((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000 >= ms)
			return;
		nanosleep(&(struct timespec){0, 500000}, NULL);
	}
}

/* s runs on a base nobody drives after the handshake: it neither reads nor
 * pings. */
static void silent_peer(tnode *a, tnode *s, struct event_base *b2, uint32_t idle_ms, size_t sendq)
{
	topts os = {.base = b2};
	cr_assert_eq(start(s, 1, &(tpeer){0, 0}, 1, &os), 0);
	topts oa = {.no_listen = true, .idle_ms = idle_ms, .sendq = sendq};
	cr_assert_eq(start(a, 0, &(tpeer){1, node_net_listen_port(s->net)}, 1, &oa), 0);
	for (int i = 0; i < 300 && (a->up == 0 || s->up == 0); i++)
		spin2(b2, 10, true);
	cr_assert_eq(a->up, 1);
	cr_assert_eq(s->up, 1);
}

Test(net, idle_peer_disconnected_live_peer_kept_by_pings)
{
	struct event_base *b2 = event_base_new();
	tnode a = {0}, s = {0}, c = {0}, d = {0};
	silent_peer(&a, &s, b2, 300, 0);
	/* A live pair with the same idle timeout and no traffic. */
	topts od = {.idle_ms = 300};
	cr_assert_eq(start(&d, 1, &(tpeer){2, 0}, 1, &od), 0);
	topts oc = {.no_listen = true, .idle_ms = 300};
	cr_assert_eq(start(&c, 2, &(tpeer){1, node_net_listen_port(d.net)}, 1, &oc), 0);
	spin2(b2, 1000, false);
	cr_assert_eq(a.down, 1, "silent peer dropped");
	node_net_stats st;
	node_net_stats_get(a.net, &st);
	cr_assert_geq(st.timeouts_idle, 1);
	cr_assert_eq(c.up, 1);
	cr_assert_eq(d.up, 1);
	cr_assert_eq(c.down + d.down, 0, "pings every idle/3 keep a quiet link up");
	node_net_free(a.net);
	node_net_free(c.net);
	node_net_free(d.net);
	node_net_free(s.net);
	event_base_free(b2);
}

Test(net, slow_peer_disconnected_at_send_queue_bound)
{
	struct event_base *b2 = event_base_new();
	tnode a = {0}, s = {0};
	silent_peer(&a, &s, b2, 10000, 1u << 20);
	static uint8_t m[64 * 1024];
	int rc = 0;
	int i;
	for (i = 0; i < 2000 && rc == 0; i++) {
		rc = node_net_send(a.net, 0, m, sizeof m);
		event_base_loop(base, EVLOOP_NONBLOCK);
	}
	cr_assert_eq(rc, NODE_NET_E_SLOW, "after %d sends", i);
	cr_assert_eq(a.down, 1);
	cr_assert_eq(node_net_sendq_bytes(a.net, 0), 0);
	node_net_stats st;
	node_net_stats_get(a.net, &st);
	cr_assert_eq(st.disconnects_slow, 1);
	node_net_free(a.net);
	node_net_free(s.net);
	event_base_free(b2);
}

/* ---- throughput (printed, not asserted) -------------------------------- */

typedef struct pacer {
	tnode *from;
	const uint8_t *m;
	size_t len, total, sent;
	size_t window_bytes;
} pacer;

static void pace_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	pacer *p = arg;
	while (p->sent < p->total && node_net_sendq_bytes(p->from->net, 0) < p->window_bytes) {
		cr_assert_eq(node_net_send(p->from->net, 0, p->m, p->len), 0);
		p->sent++;
	}
}

static double measure(tnode *a, tnode *b, size_t len, size_t total)
{
	uint8_t *m = calloc(1, len);
	pacer p = {a, m, len, total, 0, 4u << 20};
	struct event *ev = event_new(base, -1, EV_PERSIST, pace_cb, &p);
	struct timeval iv = {0, 200};
	event_add(ev, &iv);
	size_t start_msgs = b->msgs;
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	msgwait w = {b, start_msgs + total};
	cr_assert(run_until(got_msgs, &w, 15000));
	clock_gettime(CLOCK_MONOTONIC, &t1);
	event_free(ev);
	free(m);
	return (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
}

Test(net, throughput)
{
	tnode a = {0}, b = {0};
	honest_pair(&a, &b);
	size_t n_small = 100000, n_big = 100;
	double s = measure(&a, &b, 200, n_small);
	double l = measure(&a, &b, 1u << 20, n_big);
	fprintf(stderr,
	        "net throughput: %zu x 200 B in %.3f s = %.0f msgs/s; "
	        "%zu x 1 MiB in %.3f s = %.0f MiB/s\n",
	        n_small, s, (double)n_small / s, n_big, l, (double)n_big / l);
	node_net_free(a.net);
	node_net_free(b.net);
}

/* ---- keys admitted after start (allow_key) ------------------------------ */

typedef struct upwait {
	tnode *t;
	int up;
} upwait;

static bool ups_reached(void *arg)
{
	upwait *u = arg;
	return u->t->up >= u->up;
}

static bool went_down(void *arg)
{
	return ((tnode *)arg)->down > 0;
}

Test(net, key_outside_the_list_connects_when_allow_key_says_yes)
{
	/* v knows member 1 only; key 3 (a member added by governance, say)
	 * dials it. */
	tnode v = {0}, r = {0}, q = {0};
	topts ov = {.allow_key = true};
	cr_assert_eq(start(&v, 0, &(tpeer){1, 0}, 1, &ov), 0);
	cr_assert_eq(node_net_peer_slots(v.net), 1 + LIM_NET_DYNAMIC_PEERS_MAX);
	uint16_t pv = node_net_listen_port(v.net);
	topts orr = {.no_listen = true};
	cr_assert_eq(start(&r, 3, &(tpeer){0, pv}, 1, &orr), 0);

	/* The callback says no: refused as an unknown key, nothing bound. */
	run_for(300);
	cr_assert_eq(v.up + r.up, 0);
	cr_assert_geq(v.asked, 1);
	cr_assert_eq(memcmp(v.asked_key, pk[3], sizeof(ck_pubkey)), 0);
	node_net_stats st;
	node_net_stats_get(v.net, &st);
	cr_assert_geq(st.refused_unknown_key, 1);
	ck_pubkey k;
	cr_assert_eq(node_net_peer_key(v.net, 1, k), NODE_NET_E_PEER);

	/* The ledger now lists the key: r's next redial gets in, as the
	 * first dynamic index, after the configured one. */
	v.allow = true;
	cr_assert(wait_up2(&v, 1, &r, 1));
	cr_assert(node_net_peer_connected(v.net, 1));
	cr_assert_eq(node_net_peer_key(v.net, 1, k), 0);
	cr_assert_eq(memcmp(k, pk[3], sizeof k), 0);
	cr_assert_eq(node_net_peer_key(v.net, 0, k), 0);
	cr_assert_eq(memcmp(k, pk[1], sizeof k), 0, "configured index unchanged");
	cr_assert_eq(node_net_send(v.net, 1, (const uint8_t *)"hi", 2), 0);
	cr_assert(wait_msgs(&r, 1));
	cr_assert_eq(node_net_send(r.net, 0, (const uint8_t *)"yo", 2), 0);
	cr_assert(wait_msgs(&v, 1));
	cr_assert_eq(v.last_peer, 1);

	/* r leaves: the index is released and given to the next key. */
	node_net_free(r.net);
	cr_assert(run_until(went_down, &v, 3000));
	cr_assert_eq(v.down, 1);
	cr_assert_eq(node_net_peer_key(v.net, 1, k), NODE_NET_E_PEER);
	cr_assert_eq(start(&q, 4, &(tpeer){0, pv}, 1, &orr), 0);
	upwait uw = {&v, 2};
	cr_assert(run_until(ups_reached, &uw, 3000));
	cr_assert(node_net_peer_connected(v.net, 1), "index reused");
	cr_assert_eq(node_net_peer_key(v.net, 1, k), 0);
	cr_assert_eq(memcmp(k, pk[4], sizeof k), 0);
	node_net_free(q.net);
	node_net_free(v.net);
}

Test(net, allow_key_is_not_asked_about_configured_keys_and_bad_auth_binds_nothing)
{
	tnode v = {0}, a = {0};
	topts ov = {.allow_key = true};
	v.allow = true;
	cr_assert_eq(start(&v, 1, &(tpeer){0, 0}, 1, &ov), 0);
	topts oa = {.no_listen = true};
	cr_assert_eq(start(&a, 0, &(tpeer){1, node_net_listen_port(v.net)}, 1, &oa), 0);
	cr_assert(wait_up2(&v, 1, &a, 1));
	cr_assert_eq(v.asked, 0);
	cr_assert(node_net_peer_connected(v.net, 0));

	/* A raw client names allowed key 3 in its hello but cannot sign for
	 * it: no dynamic index is ever bound. */
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET,
	                         .sin_port = htons(node_net_listen_port(v.net)),
	                         .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	cr_assert_eq(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
	uint8_t h[128];
	size_t hn = hello_bytes(h + 4, NODE_NET_VERSION, CHAIN, 3);
	h[0] = h[1] = h[2] = 0;
	h[3] = (uint8_t)hn;
	cr_assert_eq(send(fd, h, 4 + hn, MSG_NOSIGNAL), (ssize_t)(4 + hn));
	uint8_t junk[70] = {0, 0, 0, 66, 0xc4, 0x40};
	cr_assert_eq(send(fd, junk, sizeof junk, MSG_NOSIGNAL), (ssize_t)sizeof junk);
	run_for(200);
	cr_assert_eq(v.asked, 1);
	node_net_stats st;
	node_net_stats_get(v.net, &st);
	cr_assert_geq(st.refused_badsig + st.refused_malformed, 1);
	ck_pubkey k;
	cr_assert_eq(node_net_peer_key(v.net, 1, k), NODE_NET_E_PEER);
	cr_assert_eq(node_net_peer_count(v.net), 1);
	close(fd);
	node_net_free(a.net);
	node_net_free(v.net);
}

/* ---- pending handshakes ------------------------------------------------- */

/* A silent TCP connection from source address 127.0.0.<src>. */
static int squat(uint16_t port, int src)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	cr_assert_geq(fd, 0);
	struct sockaddr_in me = {.sin_family = AF_INET,
	                         .sin_addr.s_addr = htonl(INADDR_LOOPBACK + (uint32_t)src - 1)};
	cr_assert_eq(bind(fd, (struct sockaddr *)&me, sizeof me), 0, "bind 127.0.0.%d", src);
	struct sockaddr_in sa = {.sin_family = AF_INET,
	                         .sin_port = htons(port),
	                         .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	cr_assert_eq(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	return fd;
}

Test(net, squatters_on_every_pending_slot_do_not_lock_out_a_peer)
{
	/* b keeps a silent connection for 10 s. Squatters open more silent
	 * connections than there are pending slots, from five addresses, and
	 * keep them; then member 0 (re)starts and dials b. */
	enum { ADDRS = 5, PER_ADDR = LIM_NET_PENDING_PER_IP_MAX, EXTRA = 8 };
	_Static_assert(ADDRS * PER_ADDR > LIM_NET_PENDING_CONNS_MAX, "more than the table");
	tnode a = {0}, b = {0};
	topts ob = {.handshake_ms = 10000};
	cr_assert_eq(start(&b, 1, &(tpeer){0, 0}, 1, &ob), 0);
	uint16_t pb = node_net_listen_port(b.net);
	int fds[ADDRS * PER_ADDR + EXTRA];
	size_t nfd = 0;
	for (int src = 1; src <= ADDRS; src++) {
		for (int i = 0; i < PER_ADDR; i++)
			fds[nfd++] = squat(pb, src);
		run_for(30); /* b accepts them (the listen backlog is 64) */
	}
	node_net_stats st;
	node_net_stats_get(b.net, &st);
	cr_assert_eq(st.conns_in, ADDRS * PER_ADDR);
	cr_assert_eq(st.evicted_pending, ADDRS * PER_ADDR - LIM_NET_PENDING_CONNS_MAX);
	cr_assert_eq(st.evicted_pending_ip, 0);
	cr_assert(raw_closed(fds[0]), "the oldest squatter was closed");
	/* One address past its share: its own oldest pending one goes. */
	for (int i = 0; i < EXTRA; i++)
		fds[nfd++] = squat(pb, ADDRS);
	run_for(30);
	node_net_stats_get(b.net, &st);
	cr_assert_eq(st.evicted_pending_ip, EXTRA);
	cr_assert_eq(st.evicted_pending, ADDRS * PER_ADDR - LIM_NET_PENDING_CONNS_MAX);

	/* The table is full of squatters; a member connects at once. */
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	topts oa = {.no_listen = true};
	cr_assert_eq(start(&a, 0, &(tpeer){1, pb}, 1, &oa), 0);
	cr_assert(wait_up2(&a, 1, &b, 1));
	clock_gettime(CLOCK_MONOTONIC, &t1);
	long ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
	cr_assert_lt(ms, 1000, "connected in %ld ms", ms);
	cr_assert_eq(a.down + b.down, 0);
	exchange(&a, &b, "past the squatters");
	for (size_t i = 0; i < nfd; i++)
		close(fds[i]);
	node_net_free(a.net);
	node_net_free(b.net);
}

/* ---- logging ------------------------------------------------------------ */

/* Runs an unknown key's connection attempt against a net that logs at
 * node_log's level, and returns what went to stderr. */
static size_t refusal_log(char *out, size_t cap)
{
	FILE *f = tmpfile();
	cr_assert_not_null(f);
	fflush(stderr);
	int saved = dup(STDERR_FILENO);
	cr_assert_geq(saved, 0);
	cr_assert_geq(dup2(fileno(f), STDERR_FILENO), 0);
	tnode b = {0}, c = {0};
	topts ob = {.log_default = true};
	cr_assert_eq(start(&b, 1, &(tpeer){0, 0}, 1, &ob), 0);
	topts oc = {.no_listen = true};
	cr_assert_eq(start(&c, 3, &(tpeer){1, node_net_listen_port(b.net)}, 1, &oc), 0);
	run_for(150);
	node_net_free(c.net);
	node_net_free(b.net);
	fflush(stderr);
	cr_assert_geq(dup2(saved, STDERR_FILENO), 0);
	close(saved);
	rewind(f);
	size_t n = fread(out, 1, cap - 1, f);
	out[n] = '\0';
	fclose(f);
	return n;
}

Test(net, lines_go_through_node_log_and_its_level)
{
	static char buf[16384];
	node_log_set_level(NODE_LOG_INFO);
	cr_assert_gt(refusal_log(buf, sizeof buf), 0);
	const char *line = strstr(buf, "event=refused");
	cr_assert_not_null(line, "%s", buf);
	while (line > buf && line[-1] != '\n')
		line--;
	cr_assert_eq(strncmp(line, "ts=", 3), 0, "%.200s", line);
	cr_assert_not_null(strstr(line, " level=warn event=refused mod=net "), "%.200s", line);
	cr_assert_not_null(strstr(buf, "event=listening mod=net "), "info lines pass at info");

	node_log_set_level(NODE_LOG_ERROR);
	refusal_log(buf, sizeof buf);
	cr_assert_null(strstr(buf, "mod=net"), "node_log's level filters net lines: %s", buf);
	node_log_set_level(NODE_LOG_INFO);
}
