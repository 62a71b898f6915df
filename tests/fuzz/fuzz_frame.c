/* libFuzzer target: the sealed-frame path of the peer transport. Two nets
 * complete a real handshake over a bufferevent pair; the input is then a
 * script of operations: A sends a message, or raw bytes are slipped into
 * the stream towards B as an on-path attacker would. The property: B
 * delivers exactly a prefix of what A sent, in order, and nothing else;
 * anything injected ends the connection (or is never delivered). Crashes,
 * sanitizer reports and property violations abort.
 *
 * Input: repeated [op u8][len u8][len bytes]. op even: A sends the bytes
 * (an empty one is skipped, as node_net_send refuses it); op odd: the
 * bytes are injected raw. Build as fuzz_handshake.c says.
 */
#include <stdlib.h>
#include <string.h>

#include <event2/bufferevent.h>
#include <event2/event.h>

#include "node/net.h"

#define CHAIN "carbon-fuzz"
#define SENT_MAX 4096

static struct event_base *base;
static uint8_t *sk[2];
static ck_pubkey pk[2];

static struct {
	const uint8_t *msg[SENT_MAX];
	size_t len[SENT_MAX];
	size_t sent, delivered;
	int up, down;
} st;

static void on_msg(void *ctx, size_t peer, const uint8_t *msg, size_t len)
{
	(void)ctx;
	if (peer != 0 || st.delivered >= st.sent)
		abort();
	size_t i = st.delivered++;
	if (len != st.len[i] || memcmp(msg, st.msg[i], len) != 0)
		abort();
}

static void on_up(void *ctx, size_t peer)
{
	(void)ctx;
	(void)peer;
	st.up++;
}

static void on_down(void *ctx, size_t peer)
{
	(void)ctx;
	(void)peer;
	st.down++;
}

static void init(void)
{
	if (ck_init() != 0)
		abort();
	base = event_base_new();
	for (int i = 0; i < 2; i++) {
		uint8_t seed[CK_SEED_BYTES];
		memset(seed, 1 + i, sizeof seed);
		sk[i] = sodium_malloc(CK_SECKEY_BYTES);
		ck_keypair_from_seed(pk[i], sk[i], seed);
	}
}

static node_net *mknet(int me)
{
	node_net_peer_cfg peer = {.addr = NULL};
	memcpy(peer.pubkey, pk[1 - me], sizeof peer.pubkey);
	node_net_config cfg = {
		.chain_id = CHAIN,
		.seckey = sk[me],
		.peers = &peer,
		.n_peers = 1,
		.cb = {me == 1 ? on_msg : NULL, on_up, on_down},
		.log_level = NODE_NET_LOG_ERROR,
	};
	memcpy(cfg.pubkey, pk[me], sizeof cfg.pubkey);
	node_net *n;
	if (node_net_new(&n, base, &cfg) != 0)
		abort();
	return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (base == NULL)
		init();
	memset(&st, 0, sizeof st);
	node_net *a = mknet(0), *b = mknet(1);
	struct bufferevent *pair[2];
	if (bufferevent_pair_new(base, 0, pair) != 0)
		abort();
	/* A's end stays ours too, to inject through it (see fuzz_handshake.c
	 * on pairs and end-of-file). */
	bufferevent_incref(pair[0]);
	if (node_net_adopt(a, pair[0], NODE_NET_INITIATOR, 0) != 0 ||
	    node_net_adopt(b, pair[1], NODE_NET_RESPONDER, 0) != 0)
		abort();
	for (int i = 0; i < 8 && st.up < 2; i++)
		event_base_loop(base, EVLOOP_NONBLOCK);
	if (st.up != 2 || !node_net_peer_connected(a, 0))
		abort();

	bool injected = false;
	size_t off = 0;
	while (off + 2 <= size && st.sent < SENT_MAX) {
		uint8_t op = data[off];
		size_t len = data[off + 1];
		off += 2;
		if (len > size - off)
			len = size - off;
		const uint8_t *p = data + off;
		off += len;
		if (op % 2 == 0) {
			if (len == 0)
				continue;
			int rc = node_net_send(a, 0, p, len);
			if (rc == 0) {
				st.msg[st.sent] = p;
				st.len[st.sent] = len;
				st.sent++;
			} else if (rc != NODE_NET_E_NOT_CONNECTED || !injected) {
				abort();
			}
		} else if (node_net_peer_connected(a, 0)) {
			bufferevent_write(pair[0], p, len);
			injected = injected || len > 0;
		}
		event_base_loop(base, EVLOOP_NONBLOCK);
		event_base_loop(base, EVLOOP_NONBLOCK);
	}
	/* With nothing injected, every message arrived and the link is up. */
	if (!injected && (st.delivered != st.sent || st.down != 0))
		abort();
	node_net_free(b);
	node_net_free(a);
	bufferevent_decref(pair[0]);
	event_base_loop(base, EVLOOP_NONBLOCK);
	return 0;
}
