/*
 * Ed25519 keys and domain-separated detached signatures. Ed25519 signs a
 * 32-byte digest that names the protocol version, the kind of object and the
 * chain, so a signature is only ever valid for the one purpose it was made
 * for (docs/PROTOCOL.md, "Signatures").
 */
#include <assert.h>
#include <string.h>

#include <sodium.h>

#include "common/limits.h"
#include "crypto/ck.h"

_Static_assert(CK_PUBKEY_BYTES == crypto_sign_PUBLICKEYBYTES, "Ed25519 public key");
_Static_assert(CK_SECKEY_BYTES == crypto_sign_SECRETKEYBYTES, "Ed25519 secret key");
_Static_assert(CK_SEED_BYTES == crypto_sign_SEEDBYTES, "Ed25519 seed");
_Static_assert(CK_SIG_BYTES == crypto_sign_BYTES, "Ed25519 signature");
_Static_assert(LIM_CHAIN_ID_BYTES_MAX <= 255, "chain id length is one byte");

/* Includes the terminating NUL: the prefix is 21 bytes on the wire. */
static const char ck_sig_prefix[] = "carbon-ledger/sig/v1";

void ck_keypair(ck_pubkey pk, ck_seckey sk)
{
	int rc = crypto_sign_keypair(pk, sk);
	assert(rc == 0);
	(void)rc;
}

void ck_keypair_from_seed(ck_pubkey pk, ck_seckey sk, const uint8_t seed[CK_SEED_BYTES])
{
	int rc = crypto_sign_seed_keypair(pk, sk, seed);
	assert(rc == 0);
	(void)rc;
}

void ck_seckey_pubkey(ck_pubkey pk, const ck_seckey sk)
{
	int rc = crypto_sign_ed25519_sk_to_pk(pk, sk);
	assert(rc == 0);
	(void)rc;
}

void ck_sign_digest(ck_hash out, enum ck_domain dom, const char *chain_id,
		    const void *msg, size_t len)
{
	assert(dom >= CK_DOM_TX);
	assert(dom <= CK_DOM_HANDSHAKE);
	assert(chain_id != NULL);
	assert(msg != NULL || len == 0);
	size_t idlen = strlen(chain_id);
	assert(idlen <= LIM_CHAIN_ID_BYTES_MAX);
	const uint8_t head[2] = {(uint8_t)dom, (uint8_t)idlen};

	crypto_generichash_state st;
	int rc = crypto_generichash_init(&st, NULL, 0, CK_HASH_BYTES);
	assert(rc == 0);
	rc = crypto_generichash_update(&st, (const uint8_t *)ck_sig_prefix, sizeof ck_sig_prefix);
	assert(rc == 0);
	rc = crypto_generichash_update(&st, head, sizeof head);
	assert(rc == 0);
	rc = crypto_generichash_update(&st, (const uint8_t *)chain_id, idlen);
	assert(rc == 0);
	if (len > 0) {
		rc = crypto_generichash_update(&st, msg, len);
		assert(rc == 0);
	}
	rc = crypto_generichash_final(&st, out, CK_HASH_BYTES);
	assert(rc == 0);
	(void)rc;
}

void ck_sign(ck_sig sig, const ck_seckey sk, enum ck_domain dom,
	     const char *chain_id, const void *msg, size_t len)
{
	ck_hash d;
	ck_sign_digest(d, dom, chain_id, msg, len);
	int rc = crypto_sign_detached(sig, NULL, d, sizeof d, sk);
	assert(rc == 0);
	(void)rc;
}

int ck_verify(const ck_sig sig, const ck_pubkey pk, enum ck_domain dom,
	      const char *chain_id, const void *msg, size_t len)
{
	ck_hash d;
	ck_sign_digest(d, dom, chain_id, msg, len);
	/* libsodium's checks are part of the protocol: S < L, R and A not of
	 * small order, A canonically encoded, cofactorless equation
	 * (docs/PROTOCOL.md, "Signatures"). */
	if (crypto_sign_verify_detached(sig, d, sizeof d, pk) != 0)
		return CK_E_BADSIG;
	return 0;
}
