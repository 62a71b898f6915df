/*
 * node_net: the authenticated, encrypted peer transport of carbon-node.
 * TCP over libevent between the members listed in genesis (and, if the
 * operator allows them, read replicas, and keys the driver admits later,
 * such as members added by governance: see allow_key). A handshake proves each end holds
 * its member key (node/net.c, top comment, gives the bytes); every frame
 * after it is sealed with crypto_secretstream, so nobody outside the
 * network can read, inject, reorder or replay messages. This layer knows
 * nothing of what messages mean: it hands authenticated byte strings to
 * the node driver with the index of the peer they came from.
 *
 * Internal to node/: the driver owns the net; all calls, and all
 * callbacks, happen on the thread running the event base.
 */
#ifndef CARBON_NODE_NET_H
#define CARBON_NODE_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sodium.h>

#include "common/cm.h"
#include "common/limits.h"
#include "crypto/ck.h"

struct event_base;
struct bufferevent;

#define NODE_NET_WUR __attribute__((warn_unused_result))

/* Handshake protocol version. A peer announcing another version is refused
 * with "peer version X, ours Y" in the log. */
#define NODE_NET_VERSION 1u

/* Largest message node_net_send accepts: a frame carries the message
 * sealed by secretstream, which adds crypto_secretstream_ABYTES. */
#define NODE_NET_MSG_BYTES_MAX (LIM_FRAME_BYTES_MAX - crypto_secretstream_xchacha20poly1305_ABYTES)

/* Error codes of the transport: -440..-469 inside node/'s -400..-499. */
#define NODE_NET_ERRORS(X)                                                      \
	X(NODE_NET_E_CONFIG, -440, "invalid transport configuration")           \
	X(NODE_NET_E_ADDR, -441, "address is not a numeric host:port")          \
	X(NODE_NET_E_LISTEN, -442, "cannot listen on the address")              \
	X(NODE_NET_E_NOMEM, -443, "out of memory")                              \
	X(NODE_NET_E_PEER, -444, "no such peer index")                          \
	X(NODE_NET_E_NOT_CONNECTED, -445, "peer is not connected")              \
	X(NODE_NET_E_TOO_BIG, -446, "message empty or above the frame limit")   \
	X(NODE_NET_E_SLOW, -447, "peer send queue full, peer disconnected")     \
	X(NODE_NET_E_MALFORMED, -448, "malformed handshake message")            \
	X(NODE_NET_E_VERSION, -449, "peer speaks another protocol version")     \
	X(NODE_NET_E_CHAIN, -450, "peer is on another chain")                   \
	X(NODE_NET_E_UNKNOWN_KEY, -451, "peer key not in the peer list")        \
	X(NODE_NET_E_SELF, -452, "connection to ourselves")                     \
	X(NODE_NET_E_BADSIG, -453, "handshake signature does not verify")       \
	X(NODE_NET_E_DECRYPT, -454, "frame fails authentication")               \
	X(NODE_NET_E_FRAME, -455, "frame length zero or above the limit")       \
	X(NODE_NET_E_TIMEOUT, -456, "peer silent past its timeout")             \
	X(NODE_NET_E_WEAKKEY, -457, "peer ephemeral key rejected by crypto_kx") \
	X(NODE_NET_E_CLOSED, -458, "peer closed the connection")                \
	X(NODE_NET_E_DYNAMIC_FULL, -459, "every dynamic peer slot is bound")    \
	X(NODE_NET_E_EVICTED, -460, "pending handshake closed to make room for a newer one")

enum node_net_err {
#define NODE_NET_ENUM(name, val, msg) name = val,
	NODE_NET_ERRORS(NODE_NET_ENUM)
#undef NODE_NET_ENUM
};

/* Describes a transport code; defers to ck_strerror() for others. */
const char *node_net_strerror(int rc);

/* ---- configuration ----------------------------------------------------- */

typedef struct node_net_peer_cfg {
	ck_pubkey pubkey;
	/* Numeric "ipv4:port" or "[ipv6]:port" to dial, or NULL or "" for a
	 * peer that dials us. Names are not resolved here: resolving would
	 * block the loop, so the driver resolves at start-up. */
	const char *addr;
} node_net_peer_cfg;

typedef struct node_net_callbacks {
	/* An authenticated message from peer. msg is valid only during the
	 * call. The callee may call node_net_send/broadcast (even to this
	 * peer), but not node_net_free. */
	void (*on_msg)(void *ctx, size_t peer, const uint8_t *msg, size_t len);
	/* peer has an authenticated connection (it had none). */
	void (*on_peer_up)(void *ctx, size_t peer);
	/* peer's authenticated connection is gone; it is redialled with
	 * backoff if it has an address. Not called by node_net_free. */
	void (*on_peer_down)(void *ctx, size_t peer);
} node_net_callbacks;

/* Lines go through node/log.h's node_log (timestamp, level, event, then
 * mod=net and the fields), so node_log_set_level filters them. A net's
 * log_level other than DEFAULT filters this net's lines further (tests
 * and fuzzers quieten a net with it). */
enum node_net_log_level {
	NODE_NET_LOG_DEFAULT = 0, /* node_log's level alone decides */
	NODE_NET_LOG_ERROR = 1,
	NODE_NET_LOG_WARN = 2,
	NODE_NET_LOG_INFO = 3,
	NODE_NET_LOG_DEBUG = 4,
};

typedef struct node_net_config {
	const char *chain_id; /* at most LIM_CHAIN_ID_BYTES_MAX bytes */
	/* Our member key, in sodium_malloc'd memory owned by the caller. The
	 * net keeps the pointer (the key is never copied) and reads it during
	 * handshakes, so it must outlive the net. */
	const uint8_t *seckey; /* CK_SECKEY_BYTES */
	ck_pubkey pubkey;      /* must be seckey's public key */
	/* "host:port" to accept peers on (port 0 picks a free one, see
	 * node_net_listen_port), or NULL or "" for a node that only dials. */
	const char *listen_addr;
	/* Peer indices, in every call and callback:
	 *   [0, n_peers)                     peers[i]
	 *   [n_peers, n_static)              extra_keys[i - n_peers]
	 *   [n_static, node_net_peer_slots)  dynamic peers (allow_key)
	 * with n_static = n_peers + n_extra_keys. An entry holding our own
	 * key is allowed (the genesis member list) and stays inert. */
	const node_net_peer_cfg *peers;
	size_t n_peers; /* <= LIM_PEERS_MAX */
	/* Non-member keys (read replicas) allowed to connect to us; they are
	 * never dialled. NULL/0 admits members only. */
	const ck_pubkey *extra_keys;
	size_t n_extra_keys; /* <= LIM_NET_EXTRA_KEYS_MAX */
	/* Optional. Asked (on the loop thread, with ctx) about the static key
	 * of an inbound hello that is in neither peers nor extra_keys, on
	 * every such hello; true admits it as a dynamic peer, which is never
	 * dialled. The connection takes a dynamic index only once the peer's
	 * auth has proven the key: the same index as an open connection of
	 * that key if there is one, else the lowest free one among
	 * LIM_NET_DYNAMIC_PEERS_MAX (NODE_NET_E_DYNAMIC_FULL if none). The
	 * index stays bound to the key until its last connection ends (after
	 * on_peer_down) and may then be given to another key: the driver
	 * must read node_net_peer_key at on_peer_up and keep nothing per
	 * dynamic index across on_peer_down. The answer is taken at the
	 * handshake only: a connection admitted earlier stays up if the key
	 * is later withdrawn. NULL admits configured keys only. */
	bool (*allow_key)(void *ctx, const ck_pubkey key);
	node_net_callbacks cb;
	void *ctx;
	/* 0 means the default from common/limits.h. Tests shorten them. */
	uint32_t handshake_timeout_ms; /* LIM_NET_HANDSHAKE_TIMEOUT_MS */
	uint32_t idle_timeout_ms;      /* LIM_NET_IDLE_TIMEOUT_MS; pings every third */
	uint32_t backoff_min_ms;       /* LIM_NET_BACKOFF_MIN_MS */
	uint32_t backoff_max_ms;       /* LIM_NET_BACKOFF_MAX_MS */
	size_t sendq_bytes_max;        /* LIM_PEER_SENDQ_BYTES_MAX */
	enum node_net_log_level log_level;
} node_net_config;

typedef struct node_net node_net;

/* Counters since node_net_new, for /metrics and tests. */
typedef struct node_net_stats {
	uint64_t conns_in;  /* accepted TCP connections */
	uint64_t conns_out; /* dials started */
	uint64_t handshakes_ok;
	uint64_t refused_malformed; /* bad frame or hello/auth bytes */
	uint64_t refused_version;
	uint64_t refused_chain;
	uint64_t refused_unknown_key;
	uint64_t refused_self;
	uint64_t refused_badsig;
	uint64_t refused_dynamic_full;
	/* Pending inbound handshakes closed to make room for a new one: the
	 * address's share was used (evicted_pending_ip) or the table was
	 * full (evicted_pending). */
	uint64_t evicted_pending;
	uint64_t evicted_pending_ip;
	uint64_t timeouts_handshake;
	uint64_t timeouts_idle;
	uint64_t disconnects_slow; /* send queue over its bound */
	uint64_t disconnects_decrypt;
	uint64_t disconnects_frame;  /* length prefix zero or over the limit */
	uint64_t duplicates_dropped; /* tie-break losers */
	uint64_t msgs_in, msgs_out;
	uint64_t bytes_in, bytes_out; /* message bytes, before sealing */
} node_net_stats;

/* ---- lifecycle --------------------------------------------------------- */

/* Creates a transport on base: binds the listen address (if any) at once
 * and dials every peer that has an address from the loop, shortly after.
 * cfg's strings and arrays are copied, except cfg->seckey (see above).
 * Needs ck_init() to have run. Fails with NODE_NET_E_CONFIG (bad sizes,
 * pubkey not matching seckey, duplicate keys), NODE_NET_E_ADDR,
 * NODE_NET_E_LISTEN or NODE_NET_E_NOMEM; *out is NULL then. */
NODE_NET_WUR int node_net_new(node_net **out, struct event_base *base, const node_net_config *cfg);
/* Closes every connection and frees the net, without calling callbacks.
 * NULL is a no-op. Not from inside a callback of this net. */
void node_net_free(node_net *net);

/* The port the listener is bound to (useful after asking for port 0), or 0
 * if the net does not listen. */
uint16_t node_net_listen_port(const node_net *net);

/* ---- sending ----------------------------------------------------------- */

/* Seals msg (1..NODE_NET_MSG_BYTES_MAX bytes, copied) into peer's send
 * queue. NODE_NET_E_PEER, NODE_NET_E_NOT_CONNECTED, NODE_NET_E_TOO_BIG,
 * or NODE_NET_E_SLOW if the queue would exceed its bound: the peer is then
 * disconnected (on_peer_down is called before this returns) and redialled,
 * since a peer that far behind is better resynchronised than waited for. */
int node_net_send(node_net *net, size_t peer, const uint8_t *msg, size_t len);
/* node_net_send to every connected peer; returns how many were sent to, or
 * NODE_NET_E_TOO_BIG. Slow peers are dropped as in node_net_send. */
int node_net_broadcast(node_net *net, const uint8_t *msg, size_t len);

/* ---- state ------------------------------------------------------------- */

size_t node_net_peer_count(const node_net *net); /* connected peers */
/* Size of the peer index space (see node_net_config.peers): every index
 * a callback passes is below it. Fixed for the net's lifetime, so the
 * driver may size per-peer arrays with it. */
size_t node_net_peer_slots(const node_net *net);
/* The key of peer index peer: always for a configured index, for a
 * dynamic one while it is bound (from on_peer_up to on_peer_down at
 * least). NODE_NET_E_PEER otherwise. */
NODE_NET_WUR int node_net_peer_key(const node_net *net, size_t peer, ck_pubkey out);
bool node_net_peer_connected(const node_net *net, size_t peer);
/* Bytes waiting in peer's send queue (0 if not connected): lets the driver
 * pace bulk sends (block sync) well below the bound. */
size_t node_net_sendq_bytes(const node_net *net, size_t peer);
void node_net_stats_get(const node_net *net, node_net_stats *out);

/* ---- handshake codec (node/net_hs.c), exposed for tests and fuzzers ---- */

typedef struct node_net_hello {
	uint64_t version;
	char chain_id[LIM_CHAIN_ID_BYTES_MAX + 1];
	ck_pubkey static_pk;
	uint8_t eph_pk[crypto_kx_PUBLICKEYBYTES];
} node_net_hello;

enum node_net_role {
	NODE_NET_INITIATOR = 0,
	NODE_NET_RESPONDER = 1,
};

/* Canonical hello: [version, chain_id, static_pk, eph_pk]. Out of memory
 * is sticky in w. */
void node_net_hello_encode(cm_wr *w, const node_net_hello *h);
/* Strict decode of a hello frame's payload. The version is read first so
 * a peer of another version gets NODE_NET_E_VERSION (h->version set) even
 * if the rest of its hello has another shape; otherwise
 * NODE_NET_E_MALFORMED. Does not check chain id or keys. */
NODE_NET_WUR int node_net_hello_decode(node_net_hello *h, const uint8_t *p, size_t len);
/* What each side signs: u8 role || H("net-handshake", hello_i || hello_r)
 * with the raw hello payloads. */
void node_net_transcript(ck_hash out, const uint8_t *hello_i, size_t hello_i_len,
                         const uint8_t *hello_r, size_t hello_r_len);
void node_net_auth_sign(ck_sig sig, const uint8_t *seckey, const char *chain_id,
                        enum node_net_role role, const ck_hash transcript);
/* Decodes an auth frame's payload (bin 64) and verifies it as peer_pk's
 * signature for role: NODE_NET_E_MALFORMED or NODE_NET_E_BADSIG. */
NODE_NET_WUR int node_net_auth_check(const uint8_t *p, size_t len, const ck_pubkey peer_pk,
                                     const char *chain_id, enum node_net_role role,
                                     const ck_hash transcript);
/* Reads a frame's u32 big-endian length prefix: NODE_NET_E_FRAME if it is
 * 0 or above max, else 0 and *len. */
NODE_NET_WUR int node_net_frame_len(const uint8_t hdr[4], uint32_t max, uint32_t *len);

/* Takes over an already connected bufferevent as a connection of this net
 * in the given role (for a responder, peer is ignored: the hello says who
 * it is). The net frees bev from then on. Used by the listener, and by the
 * fuzzers with bufferevent pairs. NODE_NET_E_PEER, NODE_NET_E_NOMEM; bev is
 * freed on failure. */
NODE_NET_WUR int node_net_adopt(node_net *net, struct bufferevent *bev, enum node_net_role role,
                                size_t peer);

#endif
