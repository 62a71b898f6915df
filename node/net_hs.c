/*
 * The handshake's bytes: hello and auth encoding, the transcript, and the
 * frame length prefix. Pure functions over buffers, apart from the event
 * code in node/net.c, so the fuzzers and unit tests reach every decoder
 * of untrusted handshake input directly. The wire layout is documented at
 * the top of node/net.c.
 */
#include <assert.h>
#include <string.h>

#include "node/net.h"

_Static_assert(crypto_kx_PUBLICKEYBYTES == 32, "X25519 public key");
/* Largest v1 hello: array and version headers, str8 header and the longest
 * chain id, two bin8 headers and keys. */
#define HELLO_V1_BYTES_MAX (1u + 1u + 2u + LIM_CHAIN_ID_BYTES_MAX + 2u * (2u + 32u))
_Static_assert(HELLO_V1_BYTES_MAX <= LIM_NET_HANDSHAKE_BYTES_MAX, "a hello fits its frame");
_Static_assert(2u + CK_SIG_BYTES <= LIM_NET_HANDSHAKE_BYTES_MAX, "an auth fits its frame");

/* A hello of a future version may carry more fields; this many is plenty
 * and keeps the reader's array check meaningful. */
#define HELLO_FIELDS_MAX 16u
#define HELLO_FIELDS_V1  4u

void node_net_hello_encode(cm_wr *w, const node_net_hello *h)
{
	assert(h->version == NODE_NET_VERSION);
	size_t idlen = strlen(h->chain_id);
	assert(idlen <= LIM_CHAIN_ID_BYTES_MAX);
	cm_wr_array(w, HELLO_FIELDS_V1);
	cm_wr_uint(w, h->version);
	cm_wr_str(w, h->chain_id, idlen);
	cm_wr_bin(w, h->static_pk, sizeof h->static_pk);
	cm_wr_bin(w, h->eph_pk, sizeof h->eph_pk);
}

int node_net_hello_decode(node_net_hello *h, const uint8_t *p, size_t len)
{
	cm_rd r;
	uint32_t n;
	memset(h, 0, sizeof *h);
	cm_rd_init(&r, p, len);
	if (cm_rd_array(&r, &n, HELLO_FIELDS_MAX) != 0 || n < 1)
		return NODE_NET_E_MALFORMED;
	if (cm_rd_uint(&r, &h->version) != 0)
		return NODE_NET_E_MALFORMED;
	if (h->version != NODE_NET_VERSION)
		return NODE_NET_E_VERSION;
	if (n != HELLO_FIELDS_V1)
		return NODE_NET_E_MALFORMED;
	if (cm_rd_str_copy(&r, h->chain_id, LIM_CHAIN_ID_BYTES_MAX) != 0 ||
	    cm_rd_bin_fixed(&r, h->static_pk, sizeof h->static_pk) != 0 ||
	    cm_rd_bin_fixed(&r, h->eph_pk, sizeof h->eph_pk) != 0 || cm_rd_end(&r) != 0)
		return NODE_NET_E_MALFORMED;
	return 0;
}

void node_net_transcript(ck_hash out, const uint8_t *hello_i, size_t hello_i_len,
                         const uint8_t *hello_r, size_t hello_r_len)
{
	/* Each hello is one self-delimiting msgpack array, so the
	 * concatenation has exactly one split point. */
	ck_hasher h;
	ck_hasher_init(&h, "net-handshake");
	ck_hasher_update(&h, hello_i, hello_i_len);
	ck_hasher_update(&h, hello_r, hello_r_len);
	ck_hasher_final(&h, out);
}

static void signed_bytes(uint8_t out[1 + CK_HASH_BYTES], enum node_net_role role,
                         const ck_hash transcript)
{
	assert(role == NODE_NET_INITIATOR || role == NODE_NET_RESPONDER);
	out[0] = (uint8_t)role;
	memcpy(out + 1, transcript, CK_HASH_BYTES);
}

void node_net_auth_sign(ck_sig sig, const uint8_t *seckey, const char *chain_id,
                        enum node_net_role role, const ck_hash transcript)
{
	uint8_t m[1 + CK_HASH_BYTES];
	signed_bytes(m, role, transcript);
	ck_sign(sig, seckey, CK_DOM_HANDSHAKE, chain_id, m, sizeof m);
}

int node_net_auth_check(const uint8_t *p, size_t len, const ck_pubkey peer_pk, const char *chain_id,
                        enum node_net_role role, const ck_hash transcript)
{
	cm_rd r;
	ck_sig sig;
	uint8_t m[1 + CK_HASH_BYTES];
	cm_rd_init(&r, p, len);
	if (cm_rd_bin_fixed(&r, sig, sizeof sig) != 0 || cm_rd_end(&r) != 0)
		return NODE_NET_E_MALFORMED;
	signed_bytes(m, role, transcript);
	if (ck_verify(sig, peer_pk, CK_DOM_HANDSHAKE, chain_id, m, sizeof m) != 0)
		return NODE_NET_E_BADSIG;
	return 0;
}

int node_net_frame_len(const uint8_t hdr[4], uint32_t max, uint32_t *len)
{
	uint32_t n = (uint32_t)hdr[0] << 24 | (uint32_t)hdr[1] << 16 | (uint32_t)hdr[2] << 8 |
	             (uint32_t)hdr[3];
	if (n == 0 || n > max)
		return NODE_NET_E_FRAME;
	*len = n;
	return 0;
}
