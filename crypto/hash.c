/*
 * Tagged BLAKE2b-256: H(tag, data) = BLAKE2b-256(u8 len(tag) || tag || data),
 * unkeyed. Every hash in the protocol names what it hashes, so bytes hashed
 * as one kind of object can never be taken for another.
 */
#include <assert.h>
#include <string.h>

#include <sodium.h>

#include "crypto/ck.h"

/* ck_hasher reserves space for libsodium's state without exposing sodium.h
 * to every user of ck.h; these prove the reservation is big and aligned
 * enough on the libsodium we build against. */
_Static_assert(sizeof(crypto_generichash_state) <= sizeof(((ck_hasher *)0)->state),
	       "ck_hasher.state too small for crypto_generichash_state");
_Static_assert(_Alignof(crypto_generichash_state) <= _Alignof(ck_hasher),
	       "ck_hasher under-aligned for crypto_generichash_state");
_Static_assert(CK_HASH_BYTES == crypto_generichash_BYTES, "BLAKE2b-256");

static crypto_generichash_state *state_of(ck_hasher *h)
{
	return (crypto_generichash_state *)(void *)h->state;
}

void ck_hasher_init(ck_hasher *h, const char *tag)
{
	assert(h != NULL);
	assert(tag != NULL);
	size_t taglen = strlen(tag);
	assert(taglen >= 1);
	assert(taglen <= CK_TAG_BYTES_MAX);
	uint8_t len8 = (uint8_t)taglen;

	int rc = crypto_generichash_init(state_of(h), NULL, 0, CK_HASH_BYTES);
	assert(rc == 0);
	rc = crypto_generichash_update(state_of(h), &len8, 1);
	assert(rc == 0);
	rc = crypto_generichash_update(state_of(h), (const uint8_t *)tag, taglen);
	assert(rc == 0);
	(void)rc;
}

void ck_hasher_update(ck_hasher *h, const void *data, size_t len)
{
	assert(h != NULL);
	assert(data != NULL || len == 0);
	if (len == 0)
		return;
	int rc = crypto_generichash_update(state_of(h), data, len);
	assert(rc == 0);
	(void)rc;
}

void ck_hasher_final(ck_hasher *h, ck_hash out)
{
	assert(h != NULL);
	int rc = crypto_generichash_final(state_of(h), out, CK_HASH_BYTES);
	/* libsodium refuses a second final on the same state; that would be
	 * our bug, not bad input. */
	assert(rc == 0);
	(void)rc;
}

void ck_hash_tagged(ck_hash out, const char *tag, const void *data, size_t len)
{
	ck_hasher h;
	ck_hasher_init(&h, tag);
	ck_hasher_update(&h, data, len);
	ck_hasher_final(&h, out);
}
