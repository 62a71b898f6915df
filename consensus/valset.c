/*
 * Validator sets: the sorted keys of one height, the quorum arithmetic of
 * equal voting power, and the proposer rotation. Separate from the core so
 * the ledger and wallets can hash and check sets without it.
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "consensus/cons.h"

int cons_valset_check(const cons_valset *vs)
{
	if (vs->n < 1 || vs->n > LIM_VALIDATORS_MAX)
		return CONS_E_ARG;
	for (uint32_t i = 1; i < vs->n; i++)
		if (memcmp(vs->keys[i - 1], vs->keys[i], CK_PUBKEY_BYTES) >= 0)
			return CONS_E_ARG;
	return 0;
}

static int key_cmp(const void *a, const void *b)
{
	return memcmp(a, b, CK_PUBKEY_BYTES);
}

int cons_valset_sort(cons_valset *vs)
{
	if (vs->n < 1 || vs->n > LIM_VALIDATORS_MAX)
		return CONS_E_ARG;
	qsort(vs->keys, vs->n, CK_PUBKEY_BYTES, key_cmp);
	return cons_valset_check(vs);
}

int cons_valset_index(const cons_valset *vs, const ck_pubkey pk)
{
	uint32_t lo = 0, hi = vs->n;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		int c = memcmp(vs->keys[mid], pk, CK_PUBKEY_BYTES);
		if (c == 0)
			return (int)mid;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -1;
}

void cons_valset_encode(const cons_valset *vs, cm_wr *w)
{
	assert(vs->n >= 1 && vs->n <= LIM_VALIDATORS_MAX);
	cm_wr_array(w, vs->n);
	for (uint32_t i = 0; i < vs->n; i++)
		cm_wr_bin(w, vs->keys[i], CK_PUBKEY_BYTES);
}

void cons_valset_hash(const cons_valset *vs, ck_hash out)
{
	ck_hasher h;
	/* The encoding is streamed into the hasher: the same bytes as
	 * cons_valset_encode without a heap buffer. */
	uint8_t head[3];
	size_t hl;
	assert(vs->n >= 1 && vs->n <= LIM_VALIDATORS_MAX);
	if (vs->n < 16) {
		head[0] = (uint8_t)(0x90 | vs->n);
		hl = 1;
	} else {
		head[0] = 0xdc;
		head[1] = (uint8_t)(vs->n >> 8);
		head[2] = (uint8_t)vs->n;
		hl = 3;
	}
	ck_hasher_init(&h, "valset");
	ck_hasher_update(&h, head, hl);
	for (uint32_t i = 0; i < vs->n; i++) {
		const uint8_t bh[2] = {0xc4, CK_PUBKEY_BYTES};
		ck_hasher_update(&h, bh, 2);
		ck_hasher_update(&h, vs->keys[i], CK_PUBKEY_BYTES);
	}
	ck_hasher_final(&h, out);
}

uint32_t cons_quorum(uint32_t n)
{
	assert(n >= 1);
	return 2 * n / 3 + 1;
}

uint32_t cons_honest_min(uint32_t n)
{
	assert(n >= 1);
	return (n - 1) / 3 + 1;
}

uint32_t cons_proposer(const cons_valset *vs, uint64_t height, uint32_t round)
{
	assert(vs->n >= 1);
	return (uint32_t)((height + round) % vs->n);
}
