/*
 * The peer transport's event side: listener, dialling with backoff,
 * the per-connection handshake state machine, sealed frames, timeouts and
 * the choice between duplicate connections. The byte-level codec of the
 * handshake lives in node/net_hs.c.
 *
 * Wire protocol, version 1 (the lead copies this to docs/PROTOCOL.md,
 * "Peer transport").
 *
 * Framing. Every frame, in both directions and in every state, is
 *     u32 big-endian length n || n bytes of payload,    1 <= n,
 * with n <= LIM_NET_HANDSHAKE_BYTES_MAX (256) until the peer's secretstream
 * header has arrived and n <= LIM_FRAME_BYTES_MAX afterwards. The length
 * is checked as soon as its 4 bytes arrive, before the payload is
 * buffered; a zero or oversize length closes the connection.
 *
 * 1. hello. Each side sends one as soon as the TCP connection exists
 *    (the responder does not wait for the initiator's). Payload, canonical
 *    msgpack:
 *        94                     array of 4
 *        01                     version (uint; NODE_NET_VERSION)
 *        a0+L <L bytes>         chain id, str of 1..32 bytes (fixstr)
 *        c4 20 <32 bytes>       static key: the member's Ed25519 public key
 *        c4 20 <32 bytes>       ephemeral X25519 public key, fresh for this
 *                               connection (crypto_kx_keypair)
 *    The reader takes the array header and the version first: a hello of
 *    any other version is refused as such ("peer version X, ours Y"), so
 *    every future version must keep the u32 length and a msgpack array
 *    whose first element is the version. Then, strictly: exactly 4
 *    fields, no trailing bytes; chain id equal to ours; static key not our
 *    own (a connection to ourselves); static key in our peer list or our
 *    allowed extra keys, or (responder only) accepted by the driver's
 *    allow_key callback, and for the side that dialled, the very key it
 *    dialled. A side sends nothing more on a refused hello.
 *
 * 2. auth. Each side, once it accepted the other's hello, sends
 *        c4 40 <64 bytes>       Ed25519 signature
 *    = ck_sign(static key, CK_DOM_HANDSHAKE, chain id, u8 role || T) where
 *    role is 0 for the initiator (the side that dialled) and 1 for the
 *    responder, and
 *        T = BLAKE2b-256(0x0d "net-handshake" || hello_initiator || hello_responder)
 *    over the two hello payloads without their length prefixes. A side
 *    checks the peer's auth under the peer's role, so a signature cannot
 *    be reflected back at its maker; T covers both ephemeral keys, so an
 *    auth recorded from an earlier connection never verifies on a new one
 *    (the other side's ephemeral key is new): a replayed handshake fails
 *    as a bad signature. A side counts the peer as authenticated (and
 *    calls on_peer_up) when the peer's auth verifies.
 *
 * 3. keys. The initiator calls crypto_kx_client_session_keys(rx, tx, own
 *    ephemeral, peer ephemeral), the responder crypto_kx_server_session_keys.
 *    Right after its auth each side sends its
 *    crypto_secretstream_xchacha20poly1305 header (init_push with tx) as a
 *    frame of exactly 24 bytes; the other side init_pulls with rx.
 *
 * 4. messages. Every later frame's payload is
 *    crypto_secretstream_xchacha20poly1305_push(message, no additional
 *    data, TAG_MESSAGE): 17 + len(message) bytes. An empty message is a
 *    keepalive, sent every idle timeout / 3; a peer from which nothing
 *    arrives for the idle timeout is disconnected. A frame that does not
 *    decrypt, or carries another tag, closes the connection.
 *
 * Pending handshakes. Until its auth verifies, an inbound connection is
 * pending, and pending ones are bounded (LIM_NET_PENDING_CONNS_MAX, each
 * closed after the handshake timeout). Refusing new connections at the
 * bound would let anyone who opens that many silent ones lock out a
 * restarting validator for the whole timeout. Instead a new connection
 * closes the oldest pending one: an honest peer finishes its handshake in
 * a few round trips, so a squatter must reconnect faster than that, for
 * ever, to keep anyone out. And one source address holds at most
 * LIM_NET_PENDING_PER_IP_MAX pending connections (its oldest is closed
 * first), so a single host cannot push out the handshakes of everyone
 * else; on one machine (tests, a local devnet) every peer shares
 * 127.0.0.1, and there the eviction of the oldest is what keeps honest
 * peers in. Evictions are logged at most once a second, with their count.
 *
 * Duplicates. If both ends dial each other at once, each may end up with
 * two authenticated connections. Both keep the one whose initiator has the
 * lower static key (bytewise), or the newer one if one side started both,
 * and let the other drain: nothing new is written to it, what was queued
 * is flushed, the write side is shut down, and it is read until the peer's
 * end-of-file, so no message already sent is lost.
 */
#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <event2/util.h>

#include "node/log.h"
#include "node/net.h"

#define SS_HEADER_BYTES crypto_secretstream_xchacha20poly1305_HEADERBYTES
#define SS_ABYTES       crypto_secretstream_xchacha20poly1305_ABYTES
#define ADDR_STR_BYTES  64u
#define LISTEN_BACKLOG  64
/* After the listener fails to accept (usually out of file descriptors) it
 * pauses this long instead of spinning on the same error. */
#define LISTEN_RETRY_MS 1000u
#define NO_SLOT         SIZE_MAX
#define IO_STEP_BYTES   (256u * 1024u)

_Static_assert(SS_HEADER_BYTES <= LIM_NET_HANDSHAKE_BYTES_MAX, "header frame");
_Static_assert(LIM_FRAME_BYTES_MAX <= UINT32_MAX - 4u, "length prefix is u32");
_Static_assert(4u + LIM_FRAME_BYTES_MAX <= LIM_PEER_RECVQ_BYTES_MAX,
               "the receive bound holds one whole frame");

enum conn_state {
	CONN_HELLO,    /* waiting for the peer's hello */
	CONN_AUTH,     /* our auth sent, waiting for the peer's */
	CONN_OPEN,     /* authenticated, the slot's active connection */
	CONN_DRAINING, /* authenticated, lost the duplicate tie-break */
	CONN_DEAD,     /* closed, waiting for the reaper */
};

/* Everything secret about one connection, in sodium_malloc'd memory. */
struct conn_secrets {
	uint8_t eph_sk[crypto_kx_SECRETKEYBYTES];
	uint8_t rx[crypto_kx_SESSIONKEYBYTES];
	uint8_t tx[crypto_kx_SESSIONKEYBYTES];
	crypto_secretstream_xchacha20poly1305_state push;
	crypto_secretstream_xchacha20poly1305_state pull;
};

struct conn {
	node_net *net;
	struct bufferevent *bev;
	struct conn *prev, *next; /* net->conns, or net->dead once dead */
	struct event *timer;      /* handshake deadline, ping, drain deadline */
	struct conn_secrets *sec;
	enum node_net_role role;
	enum conn_state state;
	size_t slot;     /* NO_SLOT until the hello names it */
	bool rx_ready;   /* the peer's secretstream header arrived */
	uint64_t serial; /* creation order, for the tie-break */
	uint8_t eph_pk[crypto_kx_PUBLICKEYBYTES];
	uint8_t hello[LIM_NET_HANDSHAKE_BYTES_MAX]; /* ours */
	size_t hello_len;
	ck_hash transcript;
	ck_pubkey peer_pk;        /* the key the peer's hello named */
	bool dynamic;             /* peer_pk let in by allow_key: slot bound at auth */
	uint8_t ip[16];           /* an inbound connection's source address */
	uint8_t ip_len;           /* 4 or 16, 0 if not known */
	char who[ADDR_STR_BYTES]; /* remote address, for logs */
};

struct slot {
	node_net *net; /* for the redial timer's callback */
	ck_pubkey pk;
	bool inert; /* our own key in the member list */
	bool has_addr;
	struct sockaddr_storage sa;
	int salen;
	char addr[ADDR_STR_BYTES];
	struct conn *active;  /* the authenticated connection in use */
	struct conn *dialing; /* our outbound attempt, not yet open */
	struct event *redial;
	uint32_t backoff_ms; /* delay before the next dial */
	/* A dynamic slot (index >= n_static) is bound to pk while in_use:
	 * from the auth of the first connection of that key to the end of
	 * the last (refs counts them, open or draining). */
	bool dynamic, in_use;
	uint32_t refs;
};

struct node_net {
	struct event_base *base;
	char chain_id[LIM_CHAIN_ID_BYTES_MAX + 1];
	const uint8_t *seckey;
	ck_pubkey pk;
	struct slot *slots;
	size_t n_static; /* peers, then extra keys */
	size_t n_slots;  /* n_static, then the dynamic slots */
	bool (*allow_key)(void *ctx, const ck_pubkey key);
	size_t n_up;
	size_t n_pending_in; /* inbound connections not yet open */
	struct conn *conns;
	struct conn *dead;
	struct event *reaper;
	struct evconnlistener *lis;
	struct event *lis_retry;
	uint16_t port;
	node_net_callbacks cb;
	void *ctx;
	uint32_t handshake_timeout_ms, idle_timeout_ms, backoff_min_ms, backoff_max_ms;
	size_t sendq_bytes_max;
	enum node_net_log_level log_level;
	uint64_t next_serial;
	/* Evictions of pending handshakes not yet reported: one log line a
	 * second at most, since a squatter makes one per connection. */
	uint64_t evicted_unlogged;
	time_t evicted_logged_s;
	uint8_t *rxbuf; /* decrypted message, one at a time */
	size_t rxcap;
	node_net_stats st;
};

const char *node_net_strerror(int rc)
{
	switch (rc) {
#define NODE_NET_CASE(name, val, msg) \
	case name: return msg;
		NODE_NET_ERRORS(NODE_NET_CASE)
#undef NODE_NET_CASE
	default: return ck_strerror(rc);
	}
}

/* ---- logging ----------------------------------------------------------- */

static enum node_log_level node_level(enum node_net_log_level l)
{
	switch (l) {
	case NODE_NET_LOG_ERROR: return NODE_LOG_ERROR;
	case NODE_NET_LOG_WARN: return NODE_LOG_WARN;
	case NODE_NET_LOG_INFO: return NODE_LOG_INFO;
	default: return NODE_LOG_DEBUG;
	}
}

/* One line through the node's logger (timestamp, level, event, then
 * mod=net and fmt's key=value fields), so node_log_set_level applies.
 * net->log_level, if set, is a further ceiling for this net alone. */
__attribute__((format(printf, 4, 5))) static void
net_log(const node_net *net, enum node_net_log_level l, const char *event, const char *fmt, ...)
{
	if (net->log_level != NODE_NET_LOG_DEFAULT && l > net->log_level)
		return;
	char fields[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(fields, sizeof fields, fmt, ap);
	va_end(ap);
	node_log(node_level(l), event, "mod=net %s", fields);
}

/* First 8 bytes of a key in hex: enough to tell members apart in a log. */
static const char *key_short(char out[17], const ck_pubkey pk)
{
	cm_hex_encode(out, pk, 8);
	return out;
}

/* A peer's chain id is untrusted text; keep logs one line of plain
 * characters. */
static void sanitize(char *out, size_t cap, const char *in)
{
	size_t i = 0;
	for (; in[i] != '\0' && i + 1 < cap; i++) {
		char ch = in[i];
		bool plain = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		             (ch >= '0' && ch <= '9') || ch == '-' || ch == '_' || ch == '.';
		out[i] = plain ? ch : '?';
	}
	out[i] = '\0';
}

/* ---- connection teardown ----------------------------------------------- */

static void slot_schedule_dial(node_net *net, struct slot *s);

static void conn_free(struct conn *c)
{
	if (c->bev != NULL)
		bufferevent_free(c->bev);
	if (c->timer != NULL)
		event_free(c->timer);
	sodium_free(c->sec);
	free(c);
}

static void list_remove(struct conn **head, struct conn *c)
{
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		*head = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	c->prev = c->next = NULL;
}

static void list_push(struct conn **head, struct conn *c)
{
	c->prev = NULL;
	c->next = *head;
	if (*head != NULL)
		(*head)->prev = c;
	*head = c;
}

/* Closes c now and frees it from the loop later: c may be in use further
 * up the stack (a read callback delivering to on_msg that sent to a slow
 * peer, say). Calls on_peer_down if c was its slot's active connection. */
static void conn_kill(struct conn *c)
{
	node_net *net = c->net;
	if (c->state == CONN_DEAD)
		return;
	enum conn_state was = c->state;
	c->state = CONN_DEAD;
	bufferevent_disable(c->bev, EV_READ | EV_WRITE);
	bufferevent_setcb(c->bev, NULL, NULL, NULL, NULL);
	event_del(c->timer);
	if ((was == CONN_HELLO || was == CONN_AUTH) && c->role == NODE_NET_RESPONDER) {
		assert(net->n_pending_in > 0);
		net->n_pending_in--;
	}
	list_remove(&net->conns, c);
	list_push(&net->dead, c);
	event_active(net->reaper, EV_TIMEOUT, 0);

	if (c->slot == NO_SLOT)
		return;
	struct slot *s = &net->slots[c->slot];
	if (s->dialing == c)
		s->dialing = NULL;
	if (s->active == c) {
		s->active = NULL;
		assert(net->n_up > 0);
		net->n_up--;
		if (net->cb.on_peer_down != NULL)
			net->cb.on_peer_down(net->ctx, c->slot);
	}
	if (s->dynamic) {
		assert(s->in_use);
		assert(s->refs > 0);
		if (--s->refs == 0) {
			assert(s->active == NULL);
			s->in_use = false;
			memset(s->pk, 0, sizeof s->pk);
		}
	}
	slot_schedule_dial(net, s);
}

__attribute__((format(printf, 4, 5))) static void
conn_fail(struct conn *c, enum node_net_log_level l, int rc, const char *fmt, ...)
{
	node_net *net = c->net;
	char detail[256] = "";
	if (fmt != NULL) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(detail, sizeof detail, fmt, ap);
		va_end(ap);
	}
	char ks[17] = "-";
	if (c->slot != NO_SLOT)
		key_short(ks, net->slots[c->slot].pk);
	else if (c->dynamic)
		key_short(ks, c->peer_pk);
	const char *event = c->state == CONN_OPEN       ? "peer_down"
	                    : c->state == CONN_DRAINING ? "drained"
	                                                : "refused";
	net_log(net, l, event, "addr=%s key=%s dir=%s reason=\"%s%s%s\"", c->who, ks,
	        c->role == NODE_NET_INITIATOR ? "out" : "in", node_net_strerror(rc),
	        detail[0] != '\0' ? ": " : "", detail);
	conn_kill(c);
}

static void reap_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	node_net *net = arg;
	while (net->dead != NULL) {
		struct conn *c = net->dead;
		list_remove(&net->dead, c);
		conn_free(c);
	}
}

/* ---- sending ----------------------------------------------------------- */

static void put_frame(struct conn *c, const uint8_t *p, size_t len)
{
	assert(len > 0);
	assert(len <= LIM_NET_HANDSHAKE_BYTES_MAX);
	uint8_t hdr[4] = {0, 0, (uint8_t)(len >> 8), (uint8_t)len};
	struct evbuffer *out = bufferevent_get_output(c->bev);
	/* Handshake frames are tiny and the buffer has no bound yet: only an
	 * allocation failure can make these fail, and then the connection
	 * just times out. */
	(void)evbuffer_add(out, hdr, sizeof hdr);
	(void)evbuffer_add(out, p, len);
}

/* Seals msg (len 0: a keepalive) straight into the output buffer. */
static int conn_send(struct conn *c, const uint8_t *msg, size_t len)
{
	node_net *net = c->net;
	assert(c->state == CONN_OPEN);
	assert(len <= NODE_NET_MSG_BYTES_MAX);
	struct evbuffer *out = bufferevent_get_output(c->bev);
	size_t clen = len + SS_ABYTES;
	size_t flen = 4 + clen;
	if (evbuffer_get_length(out) + flen > net->sendq_bytes_max) {
		net->st.disconnects_slow++;
		conn_fail(c, NODE_NET_LOG_WARN, NODE_NET_E_SLOW, "queued=%zu",
		          evbuffer_get_length(out));
		return NODE_NET_E_SLOW;
	}
	struct evbuffer_iovec v;
	if (evbuffer_reserve_space(out, (ev_ssize_t)flen, &v, 1) != 1) {
		conn_fail(c, NODE_NET_LOG_ERROR, NODE_NET_E_NOMEM, NULL);
		return NODE_NET_E_NOMEM;
	}
	uint8_t *f = v.iov_base;
	f[0] = (uint8_t)(clen >> 24);
	f[1] = (uint8_t)(clen >> 16);
	f[2] = (uint8_t)(clen >> 8);
	f[3] = (uint8_t)clen;
	int rc = crypto_secretstream_xchacha20poly1305_push(
	    &c->sec->push, f + 4, NULL, msg, len, NULL, 0,
	    crypto_secretstream_xchacha20poly1305_TAG_MESSAGE);
	assert(rc == 0);
	(void)rc;
	v.iov_len = flen;
	rc = evbuffer_commit_space(out, &v, 1);
	assert(rc == 0);
	if (len > 0) {
		net->st.msgs_out++;
		net->st.bytes_out += len;
	}
	return 0;
}

int node_net_send(node_net *net, size_t peer, const uint8_t *msg, size_t len)
{
	if (peer >= net->n_slots)
		return NODE_NET_E_PEER;
	if (len == 0 || len > NODE_NET_MSG_BYTES_MAX)
		return NODE_NET_E_TOO_BIG;
	struct conn *c = net->slots[peer].active;
	if (c == NULL)
		return NODE_NET_E_NOT_CONNECTED;
	return conn_send(c, msg, len);
}

int node_net_broadcast(node_net *net, const uint8_t *msg, size_t len)
{
	if (len == 0 || len > NODE_NET_MSG_BYTES_MAX)
		return NODE_NET_E_TOO_BIG;
	int sent = 0;
	for (size_t i = 0; i < net->n_slots; i++) {
		struct conn *c = net->slots[i].active;
		if (c != NULL && conn_send(c, msg, len) == 0)
			sent++;
	}
	return sent;
}

/* ---- handshake --------------------------------------------------------- */

/* A configured (not dynamic) slot of key pk. */
static struct slot *slot_by_key(node_net *net, const ck_pubkey pk, size_t *idx)
{
	for (size_t i = 0; i < net->n_static; i++) {
		struct slot *s = &net->slots[i];
		if (!s->inert && memcmp(s->pk, pk, sizeof(ck_pubkey)) == 0) {
			*idx = i;
			return s;
		}
	}
	return NULL;
}

static void on_hello(struct conn *c, const uint8_t *p, size_t len)
{
	node_net *net = c->net;
	node_net_hello h;
	int rc = node_net_hello_decode(&h, p, len);
	if (rc == NODE_NET_E_VERSION) {
		net->st.refused_version++;
		conn_fail(c, NODE_NET_LOG_WARN, rc, "peer version %llu, ours %u",
		          (unsigned long long)h.version, NODE_NET_VERSION);
		return;
	}
	if (rc != 0) {
		net->st.refused_malformed++;
		conn_fail(c, NODE_NET_LOG_WARN, rc, "bad hello");
		return;
	}
	if (strcmp(h.chain_id, net->chain_id) != 0) {
		char theirs[LIM_CHAIN_ID_BYTES_MAX + 1];
		sanitize(theirs, sizeof theirs, h.chain_id);
		net->st.refused_chain++;
		conn_fail(c, NODE_NET_LOG_WARN, NODE_NET_E_CHAIN, "peer chain %s, ours %s", theirs,
		          net->chain_id);
		return;
	}
	char ks[17];
	if (memcmp(h.static_pk, net->pk, sizeof net->pk) == 0) {
		net->st.refused_self++;
		conn_fail(c, NODE_NET_LOG_WARN, NODE_NET_E_SELF, NULL);
		return;
	}
	if (c->role == NODE_NET_INITIATOR) {
		assert(c->slot != NO_SLOT);
		if (memcmp(h.static_pk, net->slots[c->slot].pk, sizeof(ck_pubkey)) != 0) {
			net->st.refused_unknown_key++;
			conn_fail(c, NODE_NET_LOG_WARN, NODE_NET_E_UNKNOWN_KEY,
			          "address answers with key %s", key_short(ks, h.static_pk));
			return;
		}
	} else {
		size_t idx;
		if (slot_by_key(net, h.static_pk, &idx) != NULL) {
			c->slot = idx;
		} else if (net->allow_key != NULL && net->allow_key(net->ctx, h.static_pk)) {
			/* A slot only once the key is proven: a hello naming
			 * someone else's public key costs nothing. */
			c->dynamic = true;
		} else {
			net->st.refused_unknown_key++;
			conn_fail(c, NODE_NET_LOG_WARN, NODE_NET_E_UNKNOWN_KEY, "key %s",
			          key_short(ks, h.static_pk));
			return;
		}
	}
	memcpy(c->peer_pk, h.static_pk, sizeof c->peer_pk);

	struct conn_secrets *sec = c->sec;
	if (c->role == NODE_NET_INITIATOR) {
		node_net_transcript(c->transcript, c->hello, c->hello_len, p, len);
		rc = crypto_kx_client_session_keys(sec->rx, sec->tx, c->eph_pk, sec->eph_sk,
		                                   h.eph_pk);
	} else {
		node_net_transcript(c->transcript, p, len, c->hello, c->hello_len);
		rc = crypto_kx_server_session_keys(sec->rx, sec->tx, c->eph_pk, sec->eph_sk,
		                                   h.eph_pk);
	}
	sodium_memzero(sec->eph_sk, sizeof sec->eph_sk);
	if (rc != 0) {
		net->st.refused_malformed++;
		conn_fail(c, NODE_NET_LOG_WARN, NODE_NET_E_WEAKKEY, NULL);
		return;
	}

	uint8_t auth[2 + CK_SIG_BYTES] = {0xc4, CK_SIG_BYTES};
	node_net_auth_sign(auth + 2, net->seckey, net->chain_id, c->role, c->transcript);
	put_frame(c, auth, sizeof auth);
	uint8_t header[SS_HEADER_BYTES];
	rc = crypto_secretstream_xchacha20poly1305_init_push(&sec->push, header, sec->tx);
	assert(rc == 0);
	sodium_memzero(sec->tx, sizeof sec->tx);
	put_frame(c, header, sizeof header);
	c->state = CONN_AUTH;
}

static void conn_drain(struct conn *c);

/* From the duplicate rule in the top comment: true if a should be kept
 * over b (both authenticated connections of the same slot). */
static bool conn_preferred(const struct conn *a, const struct conn *b)
{
	const node_net *net = a->net;
	const uint8_t *peer = net->slots[a->slot].pk;
	const uint8_t *ia = a->role == NODE_NET_INITIATOR ? net->pk : peer;
	const uint8_t *ib = b->role == NODE_NET_INITIATOR ? net->pk : peer;
	int cmp = memcmp(ia, ib, sizeof(ck_pubkey));
	if (cmp != 0)
		return cmp < 0;
	return a->serial > b->serial;
}

/* Binds c, authenticated under a key allow_key let in, to a dynamic slot:
 * the one already bound to that key (a second connection of the peer),
 * else the lowest free one. */
static int dynamic_bind(node_net *net, struct conn *c)
{
	size_t idx = NO_SLOT;
	for (size_t i = net->n_static; i < net->n_slots; i++) {
		const struct slot *s = &net->slots[i];
		if (s->in_use && memcmp(s->pk, c->peer_pk, sizeof s->pk) == 0) {
			idx = i;
			break;
		}
		if (!s->in_use && idx == NO_SLOT)
			idx = i;
	}
	if (idx == NO_SLOT)
		return NODE_NET_E_DYNAMIC_FULL;
	struct slot *s = &net->slots[idx];
	assert(s->dynamic);
	if (!s->in_use) {
		assert(s->refs == 0);
		s->in_use = true;
		memcpy(s->pk, c->peer_pk, sizeof s->pk);
	}
	s->refs++;
	c->slot = idx;
	return 0;
}

static void on_auth(struct conn *c, const uint8_t *p, size_t len)
{
	node_net *net = c->net;
	enum node_net_role peer_role =
	    c->role == NODE_NET_INITIATOR ? NODE_NET_RESPONDER : NODE_NET_INITIATOR;
	int rc = node_net_auth_check(p, len, c->peer_pk, net->chain_id, peer_role, c->transcript);
	if (rc != 0) {
		if (rc == NODE_NET_E_BADSIG)
			net->st.refused_badsig++;
		else
			net->st.refused_malformed++;
		conn_fail(c, NODE_NET_LOG_WARN, rc, NULL);
		return;
	}
	if (c->dynamic && dynamic_bind(net, c) != 0) {
		net->st.refused_dynamic_full++;
		conn_fail(c, NODE_NET_LOG_WARN, NODE_NET_E_DYNAMIC_FULL, "%u bound",
		          LIM_NET_DYNAMIC_PEERS_MAX);
		return;
	}
	struct slot *s = &net->slots[c->slot];
	assert(memcmp(s->pk, c->peer_pk, sizeof s->pk) == 0);

	net->st.handshakes_ok++;
	if (c->role == NODE_NET_RESPONDER) {
		assert(net->n_pending_in > 0);
		net->n_pending_in--;
	}
	c->state = CONN_OPEN;
	if (s->dialing == c)
		s->dialing = NULL;
	s->backoff_ms = net->backoff_min_ms;
	event_del(s->redial);
	event_del(c->timer);
	struct timeval ping = {net->idle_timeout_ms / 3000,
	                       (net->idle_timeout_ms / 3 % 1000) * 1000};
	struct timeval idle = {net->idle_timeout_ms / 1000, (net->idle_timeout_ms % 1000) * 1000};
	event_add(c->timer, &ping);
	bufferevent_set_timeouts(c->bev, &idle, &idle);

	char ks[17];
	if (s->active == NULL) {
		s->active = c;
		net->n_up++;
		net_log(net, NODE_NET_LOG_INFO, "peer_up", "addr=%s key=%s dir=%s peer=%zu", c->who,
		        key_short(ks, s->pk), c->role == NODE_NET_INITIATOR ? "out" : "in",
		        c->slot);
		if (net->cb.on_peer_up != NULL)
			net->cb.on_peer_up(net->ctx, c->slot);
		return;
	}
	net->st.duplicates_dropped++;
	net_log(net, NODE_NET_LOG_DEBUG, "duplicate", "key=%s", key_short(ks, s->pk));
	if (conn_preferred(c, s->active)) {
		struct conn *old = s->active;
		s->active = c;
		conn_drain(old);
	} else {
		conn_drain(c);
	}
}

/* ---- frames in --------------------------------------------------------- */

static void on_sealed(struct conn *c, const uint8_t *p, size_t len)
{
	node_net *net = c->net;
	if (!c->rx_ready) {
		if (len != SS_HEADER_BYTES) {
			net->st.refused_malformed++;
			conn_fail(c, NODE_NET_LOG_WARN, NODE_NET_E_MALFORMED, "bad stream header");
			return;
		}
		int rc =
		    crypto_secretstream_xchacha20poly1305_init_pull(&c->sec->pull, p, c->sec->rx);
		assert(rc == 0);
		(void)rc;
		sodium_memzero(c->sec->rx, sizeof c->sec->rx);
		c->rx_ready = true;
		return;
	}
	if (len < SS_ABYTES) {
		net->st.disconnects_decrypt++;
		conn_fail(c, NODE_NET_LOG_WARN, NODE_NET_E_DECRYPT, "short frame");
		return;
	}
	size_t mlen_max = len - SS_ABYTES;
	if (mlen_max > net->rxcap) {
		uint8_t *b = realloc(net->rxbuf, mlen_max);
		if (b == NULL) {
			conn_fail(c, NODE_NET_LOG_ERROR, NODE_NET_E_NOMEM, NULL);
			return;
		}
		net->rxbuf = b;
		net->rxcap = mlen_max;
	}
	unsigned long long mlen;
	uint8_t tag;
	if (crypto_secretstream_xchacha20poly1305_pull(&c->sec->pull, net->rxbuf, &mlen, &tag, p,
	                                               len, NULL, 0) != 0 ||
	    tag != crypto_secretstream_xchacha20poly1305_TAG_MESSAGE) {
		net->st.disconnects_decrypt++;
		conn_fail(c, NODE_NET_LOG_WARN, NODE_NET_E_DECRYPT, NULL);
		return;
	}
	if (mlen == 0)
		return; /* keepalive: its arrival already reset the idle timeout */
	net->st.msgs_in++;
	net->st.bytes_in += mlen;
	if (net->cb.on_msg != NULL)
		net->cb.on_msg(net->ctx, c->slot, net->rxbuf, (size_t)mlen);
}

static void conn_read_cb(struct bufferevent *bev, void *arg)
{
	struct conn *c = arg;
	node_net *net = c->net;
	struct evbuffer *in = bufferevent_get_input(bev);
	/* Bounded by the input buffer, itself bounded by the read watermark. */
	while (c->state != CONN_DEAD) {
		uint8_t hdr[4];
		uint32_t n;
		if (evbuffer_copyout(in, hdr, sizeof hdr) != (ev_ssize_t)sizeof hdr)
			break;
		bool sealed = (c->state == CONN_OPEN || c->state == CONN_DRAINING) && c->rx_ready;
		uint32_t max = sealed ? LIM_FRAME_BYTES_MAX : LIM_NET_HANDSHAKE_BYTES_MAX;
		if (node_net_frame_len(hdr, max, &n) != 0) {
			uint32_t got = (uint32_t)hdr[0] << 24 | (uint32_t)hdr[1] << 16 |
			               (uint32_t)hdr[2] << 8 | hdr[3];
			net->st.disconnects_frame++;
			conn_fail(c, NODE_NET_LOG_WARN, NODE_NET_E_FRAME, "length %u, max %u", got,
			          max);
			break;
		}
		if (evbuffer_get_length(in) < 4u + n)
			break;
		evbuffer_drain(in, 4);
		const uint8_t *p = evbuffer_pullup(in, n);
		if (p == NULL) {
			conn_fail(c, NODE_NET_LOG_ERROR, NODE_NET_E_NOMEM, NULL);
			break;
		}
		switch (c->state) {
		case CONN_HELLO: on_hello(c, p, n); break;
		case CONN_AUTH: on_auth(c, p, n); break;
		case CONN_OPEN:
		case CONN_DRAINING: on_sealed(c, p, n); break;
		case CONN_DEAD: assert(0); break;
		}
		evbuffer_drain(in, n);
	}
}

/* ---- connection events and timers -------------------------------------- */

static void conn_write_cb(struct bufferevent *bev, void *arg)
{
	struct conn *c = arg;
	(void)bev;
	if (c->state != CONN_DRAINING)
		return;
	/* Everything queued is out: tell the peer we are done writing and keep
	 * reading until it says the same. */
	evutil_socket_t fd = bufferevent_getfd(c->bev);
	if (fd < 0 || shutdown(fd, SHUT_WR) != 0)
		conn_kill(c);
}

static void conn_drain(struct conn *c)
{
	node_net *net = c->net;
	assert(c->state == CONN_OPEN);
	assert(net->slots[c->slot].active != c);
	c->state = CONN_DRAINING;
	event_del(c->timer);
	struct timeval tv = {net->handshake_timeout_ms / 1000,
	                     (net->handshake_timeout_ms % 1000) * 1000};
	event_add(c->timer, &tv);
	if (evbuffer_get_length(bufferevent_get_output(c->bev)) == 0)
		conn_write_cb(c->bev, c);
}

static void conn_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct conn *c = arg;
	node_net *net = c->net;
	if (what & BEV_EVENT_CONNECTED) {
		int one = 1;
		(void)setsockopt(bufferevent_getfd(bev), IPPROTO_TCP, TCP_NODELAY, &one,
		                 sizeof one);
		net_log(net, NODE_NET_LOG_DEBUG, "connected", "addr=%s", c->who);
		return;
	}
	if (what & BEV_EVENT_TIMEOUT) {
		net->st.timeouts_idle++;
		conn_fail(c, NODE_NET_LOG_WARN, NODE_NET_E_TIMEOUT, "idle %u ms",
		          net->idle_timeout_ms);
		return;
	}
	if (what & BEV_EVENT_EOF) {
		conn_fail(c, c->state == CONN_DRAINING ? NODE_NET_LOG_DEBUG : NODE_NET_LOG_INFO,
		          NODE_NET_E_CLOSED, NULL);
		return;
	}
	int err = EVUTIL_SOCKET_ERROR();
	/* A dial that fails is routine while a peer is down: not worth a
	 * warning every backoff period. */
	enum node_net_log_level l = c->state == CONN_HELLO && c->role == NODE_NET_INITIATOR
	                                ? NODE_NET_LOG_DEBUG
	                                : NODE_NET_LOG_INFO;
	conn_fail(c, l, NODE_NET_E_CLOSED, "%s", evutil_socket_error_to_string(err));
}

static void conn_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct conn *c = arg;
	node_net *net = c->net;
	switch (c->state) {
	case CONN_HELLO:
	case CONN_AUTH:
		net->st.timeouts_handshake++;
		conn_fail(c, NODE_NET_LOG_WARN, NODE_NET_E_TIMEOUT, "handshake not done in %u ms",
		          net->handshake_timeout_ms);
		break;
	case CONN_OPEN: (void)conn_send(c, NULL, 0); break;
	case CONN_DRAINING: conn_kill(c); break;
	case CONN_DEAD: break;
	}
}

/* ip (ip_len bytes, 0 if unknown) is an inbound connection's source
 * address, for the per-address share of pending handshakes. */
static int conn_new(node_net *net, struct bufferevent *bev, enum node_net_role role, size_t peer,
                    const char *who, const uint8_t *ip, uint8_t ip_len)
{
	assert(role == NODE_NET_INITIATOR || role == NODE_NET_RESPONDER);
	assert(role == NODE_NET_RESPONDER || peer < net->n_slots);
	struct conn *c = calloc(1, sizeof *c);
	if (c == NULL)
		goto fail;
	c->sec = sodium_malloc(sizeof *c->sec);
	c->timer = event_new(net->base, -1, EV_PERSIST, conn_timer_cb, c);
	if (c->sec == NULL || c->timer == NULL)
		goto fail;
	c->net = net;
	c->bev = bev;
	c->role = role;
	c->state = CONN_HELLO;
	c->slot = role == NODE_NET_INITIATOR ? peer : NO_SLOT;
	c->serial = net->next_serial++;
	assert(ip_len <= sizeof c->ip);
	if (ip_len > 0)
		memcpy(c->ip, ip, ip_len);
	c->ip_len = ip_len;
	snprintf(c->who, sizeof c->who, "%s", who);
	crypto_kx_keypair(c->eph_pk, c->sec->eph_sk);

	node_net_hello h = {.version = NODE_NET_VERSION};
	memcpy(h.chain_id, net->chain_id, sizeof h.chain_id);
	memcpy(h.static_pk, net->pk, sizeof h.static_pk);
	memcpy(h.eph_pk, c->eph_pk, sizeof h.eph_pk);
	cm_wr w;
	cm_wr_init(&w);
	node_net_hello_encode(&w, &h);
	if (cm_wr_error(&w) != 0) {
		cm_wr_free(&w);
		goto fail;
	}
	assert(cm_wr_len(&w) <= sizeof c->hello);
	c->hello_len = cm_wr_len(&w);
	memcpy(c->hello, cm_wr_data(&w), c->hello_len);
	cm_wr_free(&w);

	struct timeval tv = {net->handshake_timeout_ms / 1000,
	                     (net->handshake_timeout_ms % 1000) * 1000};
	event_add(c->timer, &tv);
	bufferevent_setcb(bev, conn_read_cb, conn_write_cb, conn_event_cb, c);
	bufferevent_setwatermark(bev, EV_READ, 0, LIM_PEER_RECVQ_BYTES_MAX);
	/* libevent's default of 16 KiB per read or write means one trip
	 * through the loop per 16 KiB of a block; larger steps cut that
	 * overhead without holding the loop long. */
	(void)bufferevent_set_max_single_read(bev, IO_STEP_BYTES);
	(void)bufferevent_set_max_single_write(bev, IO_STEP_BYTES);
	bufferevent_enable(bev, EV_READ | EV_WRITE);
	put_frame(c, c->hello, c->hello_len);
	list_push(&net->conns, c);
	if (role == NODE_NET_INITIATOR)
		net->slots[peer].dialing = c;
	else
		net->n_pending_in++;
	return 0;
fail:
	if (c != NULL) {
		if (c->timer != NULL)
			event_free(c->timer);
		sodium_free(c->sec);
		free(c);
	}
	bufferevent_free(bev);
	return NODE_NET_E_NOMEM;
}

int node_net_adopt(node_net *net, struct bufferevent *bev, enum node_net_role role, size_t peer)
{
	if (role == NODE_NET_INITIATOR && peer >= net->n_slots) {
		bufferevent_free(bev);
		return NODE_NET_E_PEER;
	}
	const char *who = role == NODE_NET_INITIATOR ? net->slots[peer].addr : "local";
	return conn_new(net, bev, role, peer, who, NULL, 0);
}

/* ---- dialling ---------------------------------------------------------- */

static void slot_dial(node_net *net, size_t idx)
{
	struct slot *s = &net->slots[idx];
	assert(s->has_addr);
	assert(s->active == NULL);
	assert(s->dialing == NULL);
	struct bufferevent *bev = bufferevent_socket_new(net->base, -1, BEV_OPT_CLOSE_ON_FREE);
	if (bev == NULL || conn_new(net, bev, NODE_NET_INITIATOR, idx, s->addr, NULL, 0) != 0) {
		net_log(net, NODE_NET_LOG_ERROR, "dial_failed", "addr=%s reason=\"%s\"", s->addr,
		        node_net_strerror(NODE_NET_E_NOMEM));
		slot_schedule_dial(net, s);
		return;
	}
	net->st.conns_out++;
	/* Connection errors, even immediate ones, arrive through the event
	 * callback, which kills the connection and schedules the next dial. */
	(void)bufferevent_socket_connect(bev, (struct sockaddr *)&s->sa, s->salen);
}

static void redial_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct slot *s = arg;
	node_net *net = s->net;
	if (s->active == NULL && s->dialing == NULL)
		slot_dial(net, (size_t)(s - net->slots));
}

/* Dials s after its backoff (with jitter, so that nodes restarted together
 * do not redial in lockstep), unless it needs no dial. */
static void slot_schedule_dial(node_net *net, struct slot *s)
{
	if (!s->has_addr || s->inert || s->active != NULL || s->dialing != NULL ||
	    evtimer_pending(s->redial, NULL))
		return;
	uint32_t delay = s->backoff_ms;
	if (delay > 0)
		delay = delay / 2 + randombytes_uniform(delay / 2 + 1);
	uint32_t next = s->backoff_ms == 0 ? net->backoff_min_ms : s->backoff_ms * 2;
	s->backoff_ms = next < net->backoff_max_ms ? next : net->backoff_max_ms;
	struct timeval tv = {delay / 1000, (delay % 1000) * 1000};
	evtimer_add(s->redial, &tv);
}

/* ---- listening --------------------------------------------------------- */

/* Reports evictions of pending handshakes at most once a second, with
 * how many there were since the last line. */
static void pending_evicted_log(node_net *net, const char *why)
{
	net->evicted_unlogged++;
	struct timeval now;
	if (event_base_gettimeofday_cached(net->base, &now) != 0 ||
	    now.tv_sec == net->evicted_logged_s)
		return;
	net->evicted_logged_s = now.tv_sec;
	net_log(net, NODE_NET_LOG_WARN, "handshakes_evicted",
	        "count=%llu pending=%zu reason=\"%s\"", (unsigned long long)net->evicted_unlogged,
	        net->n_pending_in, why);
	net->evicted_unlogged = 0;
}

/* From "Pending handshakes" in the top comment: makes room for one more
 * inbound handshake from ip by closing the oldest pending inbound one of
 * that address if it has its share, else the oldest of all if the table
 * is full. Only inbound handshakes count: our own dials are bounded by
 * the peer list, and must not lock peers out while many are down. */
static void pending_make_room(node_net *net, const uint8_t *ip, uint8_t ip_len)
{
	struct conn *oldest = NULL, *oldest_here = NULL;
	size_t here = 0;
	for (struct conn *c = net->conns; c != NULL; c = c->next) {
		if (c->role != NODE_NET_RESPONDER ||
		    (c->state != CONN_HELLO && c->state != CONN_AUTH))
			continue;
		if (oldest == NULL || c->serial < oldest->serial)
			oldest = c;
		if (ip_len != 0 && c->ip_len == ip_len && memcmp(c->ip, ip, ip_len) == 0) {
			here++;
			if (oldest_here == NULL || c->serial < oldest_here->serial)
				oldest_here = c;
		}
	}
	struct conn *victim;
	const char *why;
	if (here >= LIM_NET_PENDING_PER_IP_MAX) {
		victim = oldest_here;
		why = "address has its share of pending handshakes";
		net->st.evicted_pending_ip++;
	} else if (net->n_pending_in >= LIM_NET_PENDING_CONNS_MAX) {
		victim = oldest;
		why = "pending handshakes full";
		net->st.evicted_pending++;
	} else {
		return;
	}
	assert(victim != NULL);
	pending_evicted_log(net, why);
	conn_fail(victim, NODE_NET_LOG_DEBUG, NODE_NET_E_EVICTED, "%s", why);
}

static void accept_cb(struct evconnlistener *lis, evutil_socket_t fd, struct sockaddr *sa,
                      int salen, void *arg)
{
	(void)lis;
	node_net *net = arg;
	char who[ADDR_STR_BYTES] = "?";
	uint8_t ipb[16] = {0};
	uint8_t ip_len = 0;
	if (sa->sa_family == AF_INET && (size_t)salen >= sizeof(struct sockaddr_in)) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)(void *)sa;
		char ip[INET_ADDRSTRLEN];
		evutil_inet_ntop(AF_INET, &in->sin_addr, ip, sizeof ip);
		snprintf(who, sizeof who, "%s:%u", ip, ntohs(in->sin_port));
		memcpy(ipb, &in->sin_addr, 4);
		ip_len = 4;
	} else if (sa->sa_family == AF_INET6 && (size_t)salen >= sizeof(struct sockaddr_in6)) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)(void *)sa;
		char ip[INET6_ADDRSTRLEN];
		evutil_inet_ntop(AF_INET6, &in6->sin6_addr, ip, sizeof ip);
		snprintf(who, sizeof who, "[%s]:%u", ip, ntohs(in6->sin6_port));
		memcpy(ipb, &in6->sin6_addr, 16);
		ip_len = 16;
	}
	net->st.conns_in++;
	pending_make_room(net, ipb, ip_len);
	int one = 1;
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	struct bufferevent *bev = bufferevent_socket_new(net->base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (bev == NULL) {
		evutil_closesocket(fd);
		net_log(net, NODE_NET_LOG_ERROR, "accept_failed", "addr=%s reason=\"%s\"", who,
		        node_net_strerror(NODE_NET_E_NOMEM));
		return;
	}
	if (conn_new(net, bev, NODE_NET_RESPONDER, 0, who, ipb, ip_len) != 0)
		net_log(net, NODE_NET_LOG_ERROR, "accept_failed", "addr=%s reason=\"%s\"", who,
		        node_net_strerror(NODE_NET_E_NOMEM));
}

static void accept_error_cb(struct evconnlistener *lis, void *arg)
{
	node_net *net = arg;
	int err = EVUTIL_SOCKET_ERROR();
	net_log(net, NODE_NET_LOG_ERROR, "accept_error", "reason=\"%s\" pause_ms=%u",
	        evutil_socket_error_to_string(err), LISTEN_RETRY_MS);
	evconnlistener_disable(lis);
	struct timeval tv = {LISTEN_RETRY_MS / 1000, (LISTEN_RETRY_MS % 1000) * 1000};
	evtimer_add(net->lis_retry, &tv);
}

static void listen_retry_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	node_net *net = arg;
	evconnlistener_enable(net->lis);
}

/* Numeric "a.b.c.d:port" or "[v6]:port". evutil_parse_sockaddr_port would
 * do, but it refuses port 0, which a listener may ask for. */
static int parse_addr(const char *s, bool port0_ok, struct sockaddr_storage *sa, int *salen)
{
	memset(sa, 0, sizeof *sa);
	size_t len = strlen(s);
	const char *colon = strrchr(s, ':');
	if (len >= ADDR_STR_BYTES || colon == NULL || colon[1] == '\0')
		return NODE_NET_E_ADDR;
	unsigned long port = 0;
	for (const char *q = colon + 1; *q != '\0'; q++) {
		if (*q < '0' || *q > '9' || q - colon > 5)
			return NODE_NET_E_ADDR;
		port = port * 10 + (unsigned long)(*q - '0');
	}
	if (port > 65535 || (port == 0 && !port0_ok))
		return NODE_NET_E_ADDR;
	char host[ADDR_STR_BYTES];
	size_t hlen = (size_t)(colon - s);
	memcpy(host, s, hlen);
	host[hlen] = '\0';
	if (hlen >= 2 && host[0] == '[' && host[hlen - 1] == ']') {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)(void *)sa;
		host[hlen - 1] = '\0';
		if (evutil_inet_pton(AF_INET6, host + 1, &in6->sin6_addr) != 1)
			return NODE_NET_E_ADDR;
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t)port);
		*salen = (int)sizeof *in6;
		return 0;
	}
	struct sockaddr_in *in = (struct sockaddr_in *)(void *)sa;
	if (evutil_inet_pton(AF_INET, host, &in->sin_addr) != 1)
		return NODE_NET_E_ADDR;
	in->sin_family = AF_INET;
	in->sin_port = htons((uint16_t)port);
	*salen = (int)sizeof *in;
	return 0;
}

static int net_listen(node_net *net, const char *addr)
{
	struct sockaddr_storage sa;
	int salen;
	int rc = parse_addr(addr, true, &sa, &salen);
	if (rc != 0)
		return rc;
	net->lis = evconnlistener_new_bind(net->base, accept_cb, net,
	                                   LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE |
	                                       LEV_OPT_CLOSE_ON_EXEC,
	                                   LISTEN_BACKLOG, (struct sockaddr *)&sa, salen);
	if (net->lis == NULL) {
		int err = EVUTIL_SOCKET_ERROR();
		net_log(net, NODE_NET_LOG_ERROR, "listen_failed", "addr=%s reason=\"%s\"", addr,
		        evutil_socket_error_to_string(err));
		return NODE_NET_E_LISTEN;
	}
	evconnlistener_set_error_cb(net->lis, accept_error_cb);
	net->lis_retry = evtimer_new(net->base, listen_retry_cb, net);
	if (net->lis_retry == NULL)
		return NODE_NET_E_NOMEM;
	struct sockaddr_storage bound;
	socklen_t blen = sizeof bound;
	if (getsockname(evconnlistener_get_fd(net->lis), (struct sockaddr *)&bound, &blen) != 0)
		return NODE_NET_E_LISTEN;
	if (bound.ss_family == AF_INET)
		net->port = ntohs(((struct sockaddr_in *)(void *)&bound)->sin_port);
	else
		net->port = ntohs(((struct sockaddr_in6 *)(void *)&bound)->sin6_port);
	net_log(net, NODE_NET_LOG_INFO, "listening", "addr=%s port=%u", addr, net->port);
	return 0;
}

/* ---- lifecycle --------------------------------------------------------- */

static int check_config(const node_net_config *cfg)
{
	if (cfg->chain_id == NULL || cfg->seckey == NULL)
		return NODE_NET_E_CONFIG;
	size_t idlen = strlen(cfg->chain_id);
	if (idlen == 0 || idlen > LIM_CHAIN_ID_BYTES_MAX)
		return NODE_NET_E_CONFIG;
	if (cfg->n_peers > LIM_PEERS_MAX || cfg->n_extra_keys > LIM_NET_EXTRA_KEYS_MAX)
		return NODE_NET_E_CONFIG;
	if ((cfg->n_peers > 0 && cfg->peers == NULL) ||
	    (cfg->n_extra_keys > 0 && cfg->extra_keys == NULL))
		return NODE_NET_E_CONFIG;
	ck_pubkey pk;
	ck_seckey_pubkey(pk, cfg->seckey);
	if (memcmp(pk, cfg->pubkey, sizeof pk) != 0)
		return NODE_NET_E_CONFIG;
	for (size_t i = 0; i < cfg->n_extra_keys; i++)
		if (memcmp(cfg->extra_keys[i], cfg->pubkey, sizeof pk) == 0)
			return NODE_NET_E_CONFIG;
	return 0;
}

static const uint8_t *slot_key_of(const node_net_config *cfg, size_t i)
{
	return i < cfg->n_peers ? cfg->peers[i].pubkey : cfg->extra_keys[i - cfg->n_peers];
}

int node_net_new(node_net **out, struct event_base *base, const node_net_config *cfg)
{
	*out = NULL;
	int rc = check_config(cfg);
	if (rc != 0)
		return rc;
	node_net *net = calloc(1, sizeof *net);
	if (net == NULL)
		return NODE_NET_E_NOMEM;
	net->base = base;
	memcpy(net->chain_id, cfg->chain_id, strlen(cfg->chain_id) + 1);
	net->seckey = cfg->seckey;
	memcpy(net->pk, cfg->pubkey, sizeof net->pk);
	net->cb = cfg->cb;
	net->ctx = cfg->ctx;
	net->handshake_timeout_ms =
	    cfg->handshake_timeout_ms ? cfg->handshake_timeout_ms : LIM_NET_HANDSHAKE_TIMEOUT_MS;
	net->idle_timeout_ms =
	    cfg->idle_timeout_ms ? cfg->idle_timeout_ms : LIM_NET_IDLE_TIMEOUT_MS;
	net->backoff_min_ms = cfg->backoff_min_ms ? cfg->backoff_min_ms : LIM_NET_BACKOFF_MIN_MS;
	net->backoff_max_ms = cfg->backoff_max_ms ? cfg->backoff_max_ms : LIM_NET_BACKOFF_MAX_MS;
	net->sendq_bytes_max =
	    cfg->sendq_bytes_max ? cfg->sendq_bytes_max : LIM_PEER_SENDQ_BYTES_MAX;
	net->log_level = cfg->log_level;
	net->allow_key = cfg->allow_key;
	rc = NODE_NET_E_CONFIG;
	if (net->idle_timeout_ms < 3 || net->backoff_min_ms > net->backoff_max_ms)
		goto fail;

	rc = NODE_NET_E_NOMEM;
	net->n_static = cfg->n_peers + cfg->n_extra_keys;
	net->n_slots = net->n_static + (cfg->allow_key != NULL ? LIM_NET_DYNAMIC_PEERS_MAX : 0);
	net->slots = calloc(net->n_slots ? net->n_slots : 1, sizeof *net->slots);
	net->reaper = event_new(base, -1, 0, reap_cb, net);
	if (net->slots == NULL || net->reaper == NULL)
		goto fail;
	for (size_t i = 0; i < net->n_slots; i++) {
		struct slot *s = &net->slots[i];
		s->net = net;
		rc = NODE_NET_E_NOMEM;
		/* Every slot has its timer, so the code that reconnects needs
		 * no case for dynamic ones (which have no address to dial). */
		s->redial = evtimer_new(base, redial_cb, s);
		if (s->redial == NULL)
			goto fail;
		snprintf(s->addr, sizeof s->addr, "-");
		if (i >= net->n_static) {
			s->dynamic = true;
			continue;
		}
		memcpy(s->pk, slot_key_of(cfg, i), sizeof s->pk);
		s->inert = memcmp(s->pk, net->pk, sizeof s->pk) == 0;
		rc = NODE_NET_E_CONFIG;
		for (size_t j = 0; j < i; j++)
			if (memcmp(net->slots[j].pk, s->pk, sizeof s->pk) == 0)
				goto fail;
		const char *a = i < cfg->n_peers ? cfg->peers[i].addr : NULL;
		if (a != NULL && a[0] != '\0') {
			rc = parse_addr(a, false, &s->sa, &s->salen);
			if (rc != 0)
				goto fail;
			s->has_addr = true;
			snprintf(s->addr, sizeof s->addr, "%s", a);
		}
	}
	if (cfg->listen_addr != NULL && cfg->listen_addr[0] != '\0') {
		rc = net_listen(net, cfg->listen_addr);
		if (rc != 0)
			goto fail;
	}
	/* First dials go through the loop, so no callback runs inside
	 * node_net_new. */
	for (size_t i = 0; i < net->n_slots; i++)
		slot_schedule_dial(net, &net->slots[i]);
	*out = net;
	return 0;
fail:
	node_net_free(net);
	return rc;
}

void node_net_free(node_net *net)
{
	if (net == NULL)
		return;
	while (net->conns != NULL) {
		struct conn *c = net->conns;
		list_remove(&net->conns, c);
		conn_free(c);
	}
	while (net->dead != NULL) {
		struct conn *c = net->dead;
		list_remove(&net->dead, c);
		conn_free(c);
	}
	for (size_t i = 0; i < net->n_slots && net->slots != NULL; i++)
		if (net->slots[i].redial != NULL)
			event_free(net->slots[i].redial);
	free(net->slots);
	if (net->lis != NULL)
		evconnlistener_free(net->lis);
	if (net->lis_retry != NULL)
		event_free(net->lis_retry);
	if (net->reaper != NULL)
		event_free(net->reaper);
	free(net->rxbuf);
	free(net);
}

uint16_t node_net_listen_port(const node_net *net)
{
	return net->port;
}

size_t node_net_peer_count(const node_net *net)
{
	return net->n_up;
}

size_t node_net_peer_slots(const node_net *net)
{
	return net->n_slots;
}

int node_net_peer_key(const node_net *net, size_t peer, ck_pubkey out)
{
	if (peer >= net->n_slots)
		return NODE_NET_E_PEER;
	const struct slot *s = &net->slots[peer];
	if (s->dynamic && !s->in_use)
		return NODE_NET_E_PEER;
	memcpy(out, s->pk, sizeof(ck_pubkey));
	return 0;
}

bool node_net_peer_connected(const node_net *net, size_t peer)
{
	return peer < net->n_slots && net->slots[peer].active != NULL;
}

size_t node_net_sendq_bytes(const node_net *net, size_t peer)
{
	if (peer >= net->n_slots || net->slots[peer].active == NULL)
		return 0;
	return evbuffer_get_length(bufferevent_get_output(net->slots[peer].active->bev));
}

void node_net_stats_get(const node_net *net, node_net_stats *out)
{
	*out = net->st;
}
