/* libFuzzer target: untrusted bytes on a fresh inbound connection of the
 * peer transport. The input goes through the hello and auth decoders
 * directly, then down a real responder connection (a bufferevent pair
 * adopted by a net) with, if the first byte is odd, a valid hello from a
 * member in front, so the fuzzer also reaches the auth check, the stream
 * header and the sealed-frame path. The run fails on any crash, sanitizer
 * report, or a handshake that succeeds (nobody here holds the member's
 * secret for this connection's fresh ephemeral key).
 *
 * Build with clang -fsanitize=fuzzer,address,undefined, this file,
 * node/net.c, node/net_hs.c and the .c files of crypto/ and common/ (see
 * the report of the transport, or the Makefile's fuzz target).
 */
#include <stdlib.h>
#include <string.h>

#include <event2/bufferevent.h>
#include <event2/event.h>

#include "node/net.h"

#define CHAIN "carbon-fuzz"

static struct event_base *base;
static node_net *net;
static ck_pubkey member_pk;
static size_t ups;

static void on_up(void *ctx, size_t peer)
{
	(void)ctx;
	(void)peer;
	ups++;
}

static void init(void)
{
	if (ck_init() != 0)
		abort();
	base = event_base_new();
	uint8_t seed[CK_SEED_BYTES];
	memset(seed, 1, sizeof seed);
	uint8_t *sk = sodium_malloc(CK_SECKEY_BYTES);
	ck_pubkey pk;
	ck_keypair_from_seed(pk, sk, seed);
	ck_seckey member_sk;
	memset(seed, 2, sizeof seed);
	ck_keypair_from_seed(member_pk, member_sk, seed);
	node_net_peer_cfg peer = {.addr = NULL};
	memcpy(peer.pubkey, member_pk, sizeof peer.pubkey);
	node_net_config cfg = {
		.chain_id = CHAIN,
		.seckey = sk,
		.peers = &peer,
		.n_peers = 1,
		.cb = {.on_peer_up = on_up},
		.log_level = NODE_NET_LOG_ERROR,
	};
	memcpy(cfg.pubkey, pk, sizeof pk);
	if (node_net_new(&net, base, &cfg) != 0)
		abort();
}

static void decoders(const uint8_t *data, size_t size)
{
	node_net_hello h;
	if (node_net_hello_decode(&h, data, size) == 0) {
		/* Whatever decodes re-encodes to the same bytes. */
		cm_wr w;
		cm_wr_init(&w);
		node_net_hello_encode(&w, &h);
		if (cm_wr_len(&w) != size || memcmp(cm_wr_data(&w), data, size) != 0)
			abort();
		cm_wr_free(&w);
	}
	ck_hash t = {0};
	if (node_net_auth_check(data, size, member_pk, CHAIN, NODE_NET_INITIATOR, t) == 0)
		abort();
	if (size >= 4) {
		uint32_t n;
		if (node_net_frame_len(data, LIM_NET_HANDSHAKE_BYTES_MAX, &n) == 0 &&
		    (n == 0 || n > LIM_NET_HANDSHAKE_BYTES_MAX))
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (base == NULL)
		init();
	decoders(data, size);
	if (size == 0)
		return 0;

	struct bufferevent *pair[2];
	if (bufferevent_pair_new(base, 0, pair) != 0)
		abort();
	/* Our own reference keeps pair[0] valid whether or not the net has
	 * already closed the connection. */
	bufferevent_incref(pair[0]);
	if (node_net_adopt(net, pair[0], NODE_NET_RESPONDER, 0) != 0)
		abort();
	bufferevent_enable(pair[1], EV_READ | EV_WRITE);
	if (data[0] & 1) {
		node_net_hello h = {.version = NODE_NET_VERSION};
		strcpy(h.chain_id, CHAIN);
		memcpy(h.static_pk, member_pk, sizeof h.static_pk);
		memset(h.eph_pk, 0x55, sizeof h.eph_pk);
		cm_wr w;
		cm_wr_init(&w);
		node_net_hello_encode(&w, &h);
		uint8_t hdr[4] = {0, 0, 0, (uint8_t)cm_wr_len(&w)};
		bufferevent_write(pair[1], hdr, sizeof hdr);
		bufferevent_write(pair[1], cm_wr_data(&w), cm_wr_len(&w));
		cm_wr_free(&w);
	}
	bufferevent_write(pair[1], data + 1, size - 1);
	event_base_loop(base, EVLOOP_NONBLOCK);
	/* End of input. Freeing one end of a pair tells the other nothing,
	 * so deliver the end-of-file by hand (a no-op if the net already
	 * dropped the connection and with it the callbacks). */
	bufferevent_trigger_event(pair[0], BEV_EVENT_EOF, 0);
	event_base_loop(base, EVLOOP_NONBLOCK);
	bufferevent_decref(pair[0]);
	bufferevent_free(pair[1]);
	if (ups != 0)
		abort();
	return 0;
}
