/*
 * Human-readable addresses: "cb1" followed by RFC 4648 base32 (lower case,
 * no padding) of pubkey || checksum. Separate from the keys because it is a
 * user-facing text format with its own error reporting.
 */
#include <assert.h>
#include <string.h>

#include <sodium.h>

#include "crypto/ck.h"

#define ADDR_PREFIX      "cb1"
#define ADDR_PREFIX_LEN  3u
#define ADDR_CHECK_BYTES 4u
#define ADDR_RAW_BYTES   (CK_PUBKEY_BYTES + ADDR_CHECK_BYTES)
#define ADDR_B32_CHARS   ((ADDR_RAW_BYTES * 8u + 4u) / 5u)

_Static_assert(ADDR_PREFIX_LEN + ADDR_B32_CHARS == CK_ADDRESS_STRLEN, "61 characters");
/* 288 bits in 58 characters: the last one carries 3 bits and 2 zero bits. */
_Static_assert(ADDR_B32_CHARS * 5u - ADDR_RAW_BYTES * 8u == 2u, "2 padding bits");

static const char b32_alphabet[] = "abcdefghijklmnopqrstuvwxyz234567";

/* Value of a base32 character, either case, or -1. */
static int b32_value(char c)
{
	if (c >= 'a' && c <= 'z')
		return c - 'a';
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= '2' && c <= '7')
		return c - '2' + 26;
	return -1;
}

static void addr_checksum(uint8_t out[ADDR_CHECK_BYTES], const ck_pubkey pk)
{
	ck_hash h;
	ck_hash_tagged(h, "addr", pk, CK_PUBKEY_BYTES);
	memcpy(out, h, ADDR_CHECK_BYTES);
}

void ck_address_encode(char out[CK_ADDRESS_STRLEN + 1], const ck_pubkey pk)
{
	uint8_t raw[ADDR_RAW_BYTES];
	memcpy(raw, pk, CK_PUBKEY_BYTES);
	addr_checksum(raw + CK_PUBKEY_BYTES, pk);

	memcpy(out, ADDR_PREFIX, ADDR_PREFIX_LEN);
	char *o = out + ADDR_PREFIX_LEN;
	uint32_t acc = 0;
	unsigned bits = 0;
	for (size_t j = 0; j < ADDR_RAW_BYTES; j++) {
		acc = (acc << 8) | raw[j];
		bits += 8;
		while (bits >= 5) {
			bits -= 5;
			*o++ = b32_alphabet[(acc >> bits) & 31];
		}
	}
	if (bits > 0)
		*o++ = b32_alphabet[(acc << (5 - bits)) & 31];
	*o = '\0';
	assert(o == out + CK_ADDRESS_STRLEN);
}

int ck_address_decode(ck_pubkey pk, const char *s)
{
	assert(s != NULL);
	for (size_t j = 0; j < ADDR_PREFIX_LEN; j++) {
		char c = s[j];
		if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		if (c != ADDR_PREFIX[j])
			return CK_E_ADDR_PREFIX;
	}
	if (strnlen(s, CK_ADDRESS_STRLEN + 1) != CK_ADDRESS_STRLEN)
		return CK_E_ADDR_LENGTH;

	uint8_t raw[ADDR_RAW_BYTES];
	size_t nraw = 0;
	uint32_t acc = 0;
	unsigned bits = 0;
	for (size_t j = ADDR_PREFIX_LEN; j < CK_ADDRESS_STRLEN; j++) {
		int v = b32_value(s[j]);
		if (v < 0)
			return CK_E_ADDR_CHAR;
		acc = (acc << 5) | (uint32_t)v;
		bits += 5;
		if (bits >= 8) {
			bits -= 8;
			assert(nraw < ADDR_RAW_BYTES);
			raw[nraw++] = (uint8_t)(acc >> bits);
		}
	}
	assert(nraw == ADDR_RAW_BYTES);
	assert(bits == 2);
	/* Non-zero padding bits would give one key several spellings; such a
	 * last character is a typo like any other, so it is reported as one. */
	if ((acc & 3u) != 0)
		return CK_E_ADDR_CHECKSUM;

	uint8_t want[ADDR_CHECK_BYTES];
	addr_checksum(want, raw);
	if (sodium_memcmp(want, raw + CK_PUBKEY_BYTES, ADDR_CHECK_BYTES) != 0)
		return CK_E_ADDR_CHECKSUM;
	memcpy(pk, raw, CK_PUBKEY_BYTES);
	return 0;
}
