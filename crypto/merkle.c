/*
 * Merkle trees in the shape of RFC 6962 section 2.1 with our own tags, plus
 * a root that commits to the number of leaves. Audit paths and their check
 * follow RFC 9162 section 2.1.3, so a client can port them line by line.
 */
#include <assert.h>
#include <stdint.h>
#include <string.h>

#include <sodium.h>

#include "crypto/ck.h"

_Static_assert(sizeof(size_t) * 8 <= CK_MERKLE_DEPTH_MAX, "a path fits in 64 hashes");

void ck_merkle_leaf(ck_hash out, const void *data, size_t len)
{
	ck_hash_tagged(out, "mleaf", data, len);
}

static void merkle_node(ck_hash out, const ck_hash l, const ck_hash r)
{
	ck_hasher h;
	ck_hasher_init(&h, "mnode");
	ck_hasher_update(&h, l, CK_HASH_BYTES);
	ck_hasher_update(&h, r, CK_HASH_BYTES);
	ck_hasher_final(&h, out);
}

/* Largest power of two strictly below n (RFC 6962's k), n >= 2. Written so
 * that it cannot overflow for any n. */
static size_t split_point(size_t n)
{
	assert(n >= 2);
	size_t k = 1;
	while (k <= (n - 1) / 2)
		k <<= 1;
	assert(k < n);
	assert(n <= 2 * k);
	return k;
}

/* RFC 6962's MTH over n >= 1 leaf hashes. Leaves are folded left to right
 * into a stack of perfect subtrees whose sizes are the bits of the count so
 * far (largest at the bottom); folding the stack right to left at the end
 * gives exactly the recursive split at the largest power of two. */
static void merkle_top(ck_hash out, const ck_hash *leaves, size_t n)
{
	assert(n >= 1);
	ck_hash stack[CK_MERKLE_DEPTH_MAX + 1];
	unsigned top = 0;

	for (size_t j = 0; j < n; j++) {
		assert(top < CK_MERKLE_DEPTH_MAX + 1);
		memcpy(stack[top++], leaves[j], CK_HASH_BYTES);
		/* Completing leaf j+1 merges one pair per trailing zero bit. */
		for (size_t c = j + 1; (c & 1) == 0; c >>= 1) {
			assert(top >= 2);
			merkle_node(stack[top - 2], stack[top - 2], stack[top - 1]);
			top--;
		}
	}
	assert(top >= 1);
	while (top > 1) {
		merkle_node(stack[top - 2], stack[top - 2], stack[top - 1]);
		top--;
	}
	memcpy(out, stack[0], CK_HASH_BYTES);
}

/* H("mroot", u64be(n) || top). */
static void merkle_seal(ck_hash out, const ck_hash top, size_t n)
{
	uint8_t nbe[8];
	uint64_t v = (uint64_t)n;
	for (int b = 7; b >= 0; b--) {
		nbe[b] = (uint8_t)(v & 0xff);
		v >>= 8;
	}
	ck_hasher h;
	ck_hasher_init(&h, "mroot");
	ck_hasher_update(&h, nbe, sizeof nbe);
	ck_hasher_update(&h, top, CK_HASH_BYTES);
	ck_hasher_final(&h, out);
}

void ck_merkle_root(ck_hash out, const ck_hash *leaves, size_t n)
{
	if (n == 0) {
		ck_hash_tagged(out, "mempty", NULL, 0);
		return;
	}
	assert(leaves != NULL);
	ck_hash top;
	merkle_top(top, leaves, n);
	merkle_seal(out, top, n);
}

int ck_merkle_path(ck_hash path[64], unsigned *depth, const ck_hash *leaves,
		   size_t n, size_t i)
{
	assert(path != NULL);
	assert(depth != NULL);
	if (i >= n)
		return CK_E_ARG;
	assert(leaves != NULL);

	/* RFC 6962 PATH(m, D[lo:hi]) descends from the root; the siblings are
	 * found top-down and stored bottom-up. */
	ck_hash down[CK_MERKLE_DEPTH_MAX];
	unsigned d = 0;
	size_t lo = 0, hi = n;
	while (hi - lo > 1) {
		size_t k = split_point(hi - lo);
		assert(d < CK_MERKLE_DEPTH_MAX);
		if (i < lo + k) {
			merkle_top(down[d++], leaves + lo + k, hi - lo - k);
			hi = lo + k;
		} else {
			merkle_top(down[d++], leaves + lo, k);
			lo += k;
		}
	}
	assert(lo == i);
	for (unsigned j = 0; j < d; j++)
		memcpy(path[j], down[d - 1 - j], CK_HASH_BYTES);
	*depth = d;
	return 0;
}

int ck_merkle_verify(const ck_hash root, const ck_hash leaf, size_t i, size_t n,
		     const ck_hash *path, unsigned depth)
{
	assert(root != NULL);
	assert(leaf != NULL);
	assert(path != NULL || depth == 0);
	if (i >= n || depth > CK_MERKLE_DEPTH_MAX)
		return CK_E_MERKLE_PROOF;

	/* RFC 9162 section 2.1.3.2, with fn, sn and r named as there. */
	size_t fn = i, sn = n - 1;
	ck_hash r;
	memcpy(r, leaf, CK_HASH_BYTES);
	for (unsigned j = 0; j < depth; j++) {
		if (sn == 0)
			return CK_E_MERKLE_PROOF;
		if ((fn & 1) == 1 || fn == sn) {
			merkle_node(r, path[j], r);
			/* fn was the last node of its level with no right
			 * sibling: skip the levels where it is promoted as is. */
			while ((fn & 1) == 0 && fn != 0) {
				fn >>= 1;
				sn >>= 1;
			}
		} else {
			merkle_node(r, r, path[j]);
		}
		fn >>= 1;
		sn >>= 1;
	}
	if (sn != 0)
		return CK_E_MERKLE_PROOF;

	ck_hash sealed;
	merkle_seal(sealed, r, n);
	if (sodium_memcmp(sealed, root, CK_HASH_BYTES) != 0)
		return CK_E_MERKLE_PROOF;
	return 0;
}
