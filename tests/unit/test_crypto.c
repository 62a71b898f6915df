/* crypto/: signatures, tagged hashes, Merkle trees, addresses, error strings.
 * Expected values are computed here independently of crypto/ where that is
 * cheap (libsodium called directly, a recursive Merkle reference). */
#include <criterion/criterion.h>
#include <string.h>

#include <sodium.h>

#include "common/cm.h"
#include "crypto/ck.h"

static void setup(void)
{
	cr_assert_eq(ck_init(), 0);
}

TestSuite(sign, .init = setup);
TestSuite(hash, .init = setup);
TestSuite(merkle, .init = setup);
TestSuite(address, .init = setup);
TestSuite(errors, .init = setup);

/* ---- signatures -------------------------------------------------------- */

static void seed_keypair(ck_pubkey pk, ck_seckey sk, uint8_t fill)
{
	uint8_t seed[CK_SEED_BYTES];
	memset(seed, fill, sizeof seed);
	ck_keypair_from_seed(pk, sk, seed);
}

Test(sign, round_trip_and_every_mismatch_fails)
{
	ck_pubkey pk, pk2;
	ck_seckey sk, sk2;
	ck_sig sig;
	const char msg[] = "issue 120 g to cb1...";
	ck_keypair(pk, sk);
	ck_keypair(pk2, sk2);
	ck_sign(sig, sk, CK_DOM_TX, "carbon-test", msg, sizeof msg);
	cr_assert_eq(ck_verify(sig, pk, CK_DOM_TX, "carbon-test", msg, sizeof msg), 0);

	cr_assert_eq(ck_verify(sig, pk2, CK_DOM_TX, "carbon-test", msg, sizeof msg), CK_E_BADSIG);
	cr_assert_eq(ck_verify(sig, pk, CK_DOM_PREVOTE, "carbon-test", msg, sizeof msg),
		     CK_E_BADSIG);
	cr_assert_eq(ck_verify(sig, pk, CK_DOM_TX, "carbon-test2", msg, sizeof msg), CK_E_BADSIG);
	cr_assert_eq(ck_verify(sig, pk, CK_DOM_TX, "", msg, sizeof msg), CK_E_BADSIG);
	cr_assert_eq(ck_verify(sig, pk, CK_DOM_TX, "carbon-test", msg, sizeof msg - 1),
		     CK_E_BADSIG);
	for (size_t bit = 0; bit < 8 * CK_SIG_BYTES; bit += 7) {
		ck_sig bad;
		memcpy(bad, sig, sizeof bad);
		bad[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		cr_assert_eq(ck_verify(bad, pk, CK_DOM_TX, "carbon-test", msg, sizeof msg),
			     CK_E_BADSIG, "bit %zu", bit);
	}
}

Test(sign, every_domain_is_separate)
{
	ck_pubkey pk;
	ck_seckey sk;
	seed_keypair(pk, sk, 7);
	for (int a = CK_DOM_TX; a <= CK_DOM_HANDSHAKE; a++) {
		ck_sig sig;
		ck_sign(sig, sk, (enum ck_domain)a, "c", "m", 1);
		for (int b = CK_DOM_TX; b <= CK_DOM_HANDSHAKE; b++)
			cr_assert_eq(ck_verify(sig, pk, (enum ck_domain)b, "c", "m", 1),
				     a == b ? 0 : CK_E_BADSIG, "signed %d, checked %d", a, b);
	}
}

Test(sign, chain_id_length_prefix_separates_chain_from_message)
{
	ck_hash d1, d2;
	ck_sign_digest(d1, CK_DOM_TX, "ab", "c", 1);
	ck_sign_digest(d2, CK_DOM_TX, "a", "bc", 2);
	cr_assert_neq(memcmp(d1, d2, sizeof d1), 0);
}

Test(sign, digest_is_the_documented_bytes)
{
	const char chain[] = "carbon-main-1";
	const uint8_t msg[] = {0x93, 0x01, 0x02, 0x03};
	uint8_t in[64];
	size_t n = 0;
	memcpy(in, "carbon-ledger/sig/v1", 20);
	n = 20;
	in[n++] = 0;
	in[n++] = CK_DOM_PRECOMMIT;
	in[n++] = (uint8_t)strlen(chain);
	memcpy(in + n, chain, strlen(chain));
	n += strlen(chain);
	memcpy(in + n, msg, sizeof msg);
	n += sizeof msg;
	ck_hash want, got;
	crypto_generichash(want, sizeof want, in, n, NULL, 0);
	ck_sign_digest(got, CK_DOM_PRECOMMIT, chain, msg, sizeof msg);
	cr_assert_eq(memcmp(want, got, sizeof want), 0);

	/* And Ed25519 signs exactly those 32 bytes. */
	ck_pubkey pk;
	ck_seckey sk;
	ck_sig sig;
	seed_keypair(pk, sk, 1);
	ck_sign(sig, sk, CK_DOM_PRECOMMIT, chain, msg, sizeof msg);
	cr_assert_eq(crypto_sign_verify_detached(sig, got, sizeof got, pk), 0);
}

Test(sign, empty_message_and_longest_chain_id)
{
	char chain[LIM_CHAIN_ID_BYTES_MAX + 1];
	memset(chain, 'x', LIM_CHAIN_ID_BYTES_MAX);
	chain[LIM_CHAIN_ID_BYTES_MAX] = '\0';
	ck_pubkey pk;
	ck_seckey sk;
	ck_sig sig;
	seed_keypair(pk, sk, 2);
	ck_sign(sig, sk, CK_DOM_HANDSHAKE, chain, NULL, 0);
	cr_assert_eq(ck_verify(sig, pk, CK_DOM_HANDSHAKE, chain, NULL, 0), 0);
	cr_assert_eq(ck_verify(sig, pk, CK_DOM_HANDSHAKE, chain, "", 0), 0);
}

Test(sign, keys_from_seed_are_deterministic)
{
	ck_pubkey a, b, c;
	ck_seckey sa, sb;
	seed_keypair(a, sa, 9);
	seed_keypair(b, sb, 9);
	cr_assert_eq(memcmp(a, b, sizeof a), 0);
	cr_assert_eq(memcmp(sa, sb, sizeof sa), 0);
	ck_seckey_pubkey(c, sa);
	cr_assert_eq(memcmp(a, c, sizeof a), 0);
	seed_keypair(b, sb, 10);
	cr_assert_neq(memcmp(a, b, sizeof a), 0);
}

/* S + L is the same scalar mod L; accepting it would make signatures
 * malleable, and validators would disagree about transaction ids. */
Test(sign, non_canonical_s_rejected)
{
	static const uint8_t L[32] = {
		0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7,
		0xa2, 0xde, 0xf9, 0xde, 0x14, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
		0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10};
	ck_pubkey pk;
	ck_seckey sk;
	ck_sig sig;
	seed_keypair(pk, sk, 3);
	ck_sign(sig, sk, CK_DOM_TX, "c", "m", 1);
	cr_assert_eq(ck_verify(sig, pk, CK_DOM_TX, "c", "m", 1), 0);
	unsigned carry = 0;
	for (int j = 0; j < 32; j++) {
		unsigned s = sig[32 + j] + L[j] + carry;
		sig[32 + j] = (uint8_t)s;
		carry = s >> 8;
	}
	cr_assert_eq(carry, 0);
	cr_assert_eq(ck_verify(sig, pk, CK_DOM_TX, "c", "m", 1), CK_E_BADSIG);
}

/* With A and R the identity and S = 0, [S]B = R + [h]A holds for every
 * message; only the small-order checks stop this "signature". */
Test(sign, small_order_key_rejected)
{
	ck_pubkey pk = {1};
	ck_sig sig = {1};
	cr_assert_eq(ck_verify(sig, pk, CK_DOM_TX, "c", "m", 1), CK_E_BADSIG);
	cr_assert_eq(ck_verify(sig, pk, CK_DOM_TX, "c", "other", 5), CK_E_BADSIG);
}

/* ---- hashing ----------------------------------------------------------- */

static void ref_tagged(ck_hash out, const char *tag, const void *data, size_t len)
{
	crypto_generichash_state st;
	uint8_t l = (uint8_t)strlen(tag);
	crypto_generichash_init(&st, NULL, 0, CK_HASH_BYTES);
	crypto_generichash_update(&st, &l, 1);
	crypto_generichash_update(&st, (const uint8_t *)tag, l);
	crypto_generichash_update(&st, data, len);
	crypto_generichash_final(&st, out, CK_HASH_BYTES);
}

Test(hash, tagged_is_length_prefixed_tag_then_data)
{
	const char data[] = "block 17";
	ck_hash want, got;
	ref_tagged(want, "header", data, strlen(data));
	ck_hash_tagged(got, "header", data, strlen(data));
	cr_assert_eq(memcmp(want, got, sizeof want), 0);

	ck_hash a, b;
	ck_hash_tagged(a, "ab", "c", 1);
	ck_hash_tagged(b, "a", "bc", 2);
	cr_assert_neq(memcmp(a, b, sizeof a), 0);
	ck_hash_tagged(a, "tx", "", 0);
	ck_hash_tagged(b, "tx", NULL, 0);
	cr_assert_eq(memcmp(a, b, sizeof a), 0);
	ck_hash_tagged(b, "header", "", 0);
	cr_assert_neq(memcmp(a, b, sizeof a), 0);
}

Test(hash, longest_tag)
{
	char tag[CK_TAG_BYTES_MAX + 1];
	memset(tag, 't', CK_TAG_BYTES_MAX);
	tag[CK_TAG_BYTES_MAX] = '\0';
	ck_hash want, got;
	ref_tagged(want, tag, "d", 1);
	ck_hash_tagged(got, tag, "d", 1);
	cr_assert_eq(memcmp(want, got, sizeof want), 0);
}

Test(hash, incremental_matches_one_shot_at_every_split)
{
	uint8_t data[300];
	for (size_t j = 0; j < sizeof data; j++)
		data[j] = (uint8_t)(j * 31 + 7);
	ck_hash want;
	ck_hash_tagged(want, "state", data, sizeof data);
	for (size_t cut = 0; cut <= sizeof data; cut++) {
		ck_hasher h;
		ck_hash got;
		ck_hasher_init(&h, "state");
		ck_hasher_update(&h, data, cut);
		ck_hasher_update(&h, NULL, 0);
		ck_hasher_update(&h, data + cut, sizeof data - cut);
		ck_hasher_final(&h, got);
		cr_assert_eq(memcmp(want, got, sizeof want), 0, "cut %zu", cut);
	}
}

/* ---- Merkle ------------------------------------------------------------ */

/* RFC 6962 MTH, recursively and straight from the RFC's definition. */
static void ref_mth(ck_hash out, const ck_hash *leaves, size_t n)
{
	if (n == 1) {
		memcpy(out, leaves[0], CK_HASH_BYTES);
		return;
	}
	size_t k = 1;
	while (2 * k < n)
		k *= 2;
	uint8_t lr[2 * CK_HASH_BYTES];
	ref_mth(lr, leaves, k);
	ref_mth(lr + CK_HASH_BYTES, leaves + k, n - k);
	ref_tagged(out, "mnode", lr, sizeof lr);
}

static void ref_root(ck_hash out, const ck_hash *leaves, size_t n)
{
	if (n == 0) {
		ref_tagged(out, "mempty", "", 0);
		return;
	}
	uint8_t in[8 + CK_HASH_BYTES];
	for (int b = 0; b < 8; b++)
		in[b] = (uint8_t)((uint64_t)n >> (56 - 8 * b));
	ref_mth(in + 8, leaves, n);
	ref_tagged(out, "mroot", in, sizeof in);
}

#define MAX_LEAVES 1100

static ck_hash *make_leaves(size_t n)
{
	ck_hash *l = calloc(n ? n : 1, sizeof *l);
	cr_assert_not_null(l);
	for (size_t j = 0; j < n; j++) {
		char d[32];
		int len = snprintf(d, sizeof d, "tx-%zu", j);
		ck_merkle_leaf(l[j], d, (size_t)len);
	}
	return l;
}

Test(merkle, leaf_is_tagged_hash)
{
	ck_hash want, got;
	ref_tagged(want, "mleaf", "abc", 3);
	ck_merkle_leaf(got, "abc", 3);
	cr_assert_eq(memcmp(want, got, sizeof want), 0);
}

Test(merkle, root_matches_reference)
{
	static const size_t sizes[] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 15, 16, 17, 31, 32, 33,
				       63, 64, 65, 100, 127, 128, 129, 1000, 1024, 1025};
	ck_hash *l = make_leaves(MAX_LEAVES);
	for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
		ck_hash want, got;
		ref_root(want, l, sizes[s]);
		ck_merkle_root(got, l, sizes[s]);
		cr_assert_eq(memcmp(want, got, sizeof want), 0, "n = %zu", sizes[s]);
	}
	ck_hash empty, want;
	ck_merkle_root(empty, NULL, 0);
	ck_hash_tagged(want, "mempty", NULL, 0);
	cr_assert_eq(memcmp(empty, want, sizeof want), 0);
	free(l);
}

Test(merkle, duplicated_last_leaf_changes_root)
{
	ck_hash l[4], r3, r4;
	ck_merkle_leaf(l[0], "a", 1);
	ck_merkle_leaf(l[1], "b", 1);
	ck_merkle_leaf(l[2], "c", 1);
	ck_merkle_leaf(l[3], "c", 1);
	ck_merkle_root(r3, l, 3);
	ck_merkle_root(r4, l, 4);
	cr_assert_neq(memcmp(r3, r4, sizeof r3), 0);

	/* Neither is a leaf passed off as an inner node. */
	ck_hash one;
	ck_merkle_root(one, l, 1);
	cr_assert_neq(memcmp(one, l[0], sizeof one), 0);
}

Test(merkle, all_sizes_roots_distinct)
{
	enum { N = 41 };
	ck_hash *l = make_leaves(N);
	ck_hash roots[N];
	for (size_t n = 0; n < N; n++)
		ck_merkle_root(roots[n], l, n);
	for (size_t a = 0; a < N; a++)
		for (size_t b = a + 1; b < N; b++)
			cr_assert_neq(memcmp(roots[a], roots[b], CK_HASH_BYTES), 0);
	free(l);
}

static int verify(const ck_hash root, const ck_hash leaf, size_t i, size_t n,
		  const ck_hash *path, unsigned depth)
{
	return ck_merkle_verify(root, leaf, i, n, path, depth);
}

Test(merkle, every_path_of_sizes_0_to_40_verifies_and_tampering_fails)
{
	enum { NMAX = 40, NTRY = NMAX + 5 };
	ck_hash *l = make_leaves(NTRY);
	for (size_t n = 0; n <= NMAX; n++) {
		ck_hash root, path[64];
		unsigned depth = 99;
		ck_merkle_root(root, l, n);
		cr_assert_eq(ck_merkle_path(path, &depth, l, n, n), CK_E_ARG);
		for (size_t i = 0; i < n; i++) {
			cr_assert_eq(ck_merkle_path(path, &depth, l, n, i), 0);
			/* No deeper than the balanced tree: ceil(log2(n)). */
			unsigned full = 0;
			while (((size_t)1 << full) < n)
				full++;
			cr_assert_leq(depth, full, "n %zu i %zu", n, i);
			cr_assert_eq(verify(root, l[i], i, n, path, depth), 0, "n %zu i %zu", n, i);

			/* Another leaf, another index, another size. */
			for (size_t j = 0; j < NTRY; j++)
				if (j != i)
					cr_assert_eq(verify(root, l[j], i, n, path, depth),
						     CK_E_MERKLE_PROOF);
			for (size_t j = 0; j < NTRY; j++)
				if (j != i)
					cr_assert_eq(verify(root, l[i], j, n, path, depth),
						     CK_E_MERKLE_PROOF, "n %zu i %zu as %zu", n, i, j);
			for (size_t m = 0; m < NTRY; m++)
				if (m != n)
					cr_assert_eq(verify(root, l[i], i, m, path, depth),
						     CK_E_MERKLE_PROOF, "n %zu i %zu as size %zu", n, i, m);

			/* A path one hash shorter or longer. */
			if (depth > 0)
				cr_assert_eq(verify(root, l[i], i, n, path, depth - 1),
					     CK_E_MERKLE_PROOF);
			memcpy(path[depth], l[0], CK_HASH_BYTES);
			cr_assert_eq(verify(root, l[i], i, n, path, depth + 1), CK_E_MERKLE_PROOF);

			/* A flipped bit in any sibling, or in the root. */
			for (unsigned d = 0; d < depth; d++) {
				path[d][d % CK_HASH_BYTES] ^= 0x10;
				cr_assert_eq(verify(root, l[i], i, n, path, depth),
					     CK_E_MERKLE_PROOF);
				path[d][d % CK_HASH_BYTES] ^= 0x10;
			}
			root[31] ^= 1;
			cr_assert_eq(verify(root, l[i], i, n, path, depth), CK_E_MERKLE_PROOF);
			root[31] ^= 1;
		}
	}
	free(l);
}

Test(merkle, large_tree_paths_verify)
{
	enum { N = 1025 };
	ck_hash *l = make_leaves(N);
	ck_hash root, path[64];
	unsigned depth;
	ck_merkle_root(root, l, N);
	static const size_t idx[] = {0, 1, 511, 512, 1022, 1023, 1024};
	for (size_t k = 0; k < sizeof idx / sizeof idx[0]; k++) {
		cr_assert_eq(ck_merkle_path(path, &depth, l, N, idx[k]), 0);
		cr_assert_eq(depth, idx[k] == 1024 ? 1u : 11u);
		cr_assert_eq(verify(root, l[idx[k]], idx[k], N, path, depth), 0);
	}
	free(l);
}

Test(merkle, hostile_proof_arguments)
{
	ck_hash l[1], root, path[65];
	ck_merkle_leaf(l[0], "x", 1);
	ck_merkle_root(root, l, 1);
	memset(path, 0, sizeof path);
	cr_assert_eq(verify(root, l[0], 0, 1, NULL, 0), 0);
	cr_assert_eq(verify(root, l[0], 0, 0, NULL, 0), CK_E_MERKLE_PROOF);
	cr_assert_eq(verify(root, l[0], 1, 1, NULL, 0), CK_E_MERKLE_PROOF);
	cr_assert_eq(verify(root, l[0], SIZE_MAX, SIZE_MAX, path, 64), CK_E_MERKLE_PROOF);
	cr_assert_eq(verify(root, l[0], 0, SIZE_MAX, path, 64), CK_E_MERKLE_PROOF);
	cr_assert_eq(verify(root, l[0], 0, 2, path, 65), CK_E_MERKLE_PROOF);
	cr_assert_eq(verify(root, l[0], 0, 2, path, UINT32_MAX), CK_E_MERKLE_PROOF);
	/* The empty tree proves nothing, not even with its own root. */
	ck_merkle_root(root, NULL, 0);
	cr_assert_eq(verify(root, root, 0, 0, NULL, 0), CK_E_MERKLE_PROOF);
}

/* ---- addresses --------------------------------------------------------- */

static const char b32[] = "abcdefghijklmnopqrstuvwxyz234567";

Test(address, round_trip_and_shape)
{
	for (int k = 0; k < 64; k++) {
		ck_pubkey pk, back;
		ck_seckey sk;
		char a[CK_ADDRESS_STRLEN + 1];
		if (k == 0)
			memset(pk, 0, sizeof pk);
		else if (k == 1)
			memset(pk, 0xff, sizeof pk);
		else
			ck_keypair(pk, sk);
		ck_address_encode(a, pk);
		cr_assert_eq(strlen(a), CK_ADDRESS_STRLEN);
		cr_assert_eq(strncmp(a, "cb1", 3), 0);
		cr_assert_eq(strspn(a + 3, b32), CK_ADDRESS_STRLEN - 3);
		/* The last character carries 3 bits followed by 2 zero bits. */
		cr_assert_eq((strchr(b32, a[CK_ADDRESS_STRLEN - 1]) - b32) & 3, 0);
		cr_assert_eq(ck_address_decode(back, a), 0);
		cr_assert_eq(memcmp(pk, back, sizeof pk), 0);
	}
}

Test(address, checksum_is_documented)
{
	ck_pubkey pk;
	ck_seckey sk;
	char a[CK_ADDRESS_STRLEN + 1];
	seed_keypair(pk, sk, 5);
	ck_address_encode(a, pk);
	uint8_t raw[36];
	ck_hash h;
	ref_tagged(h, "addr", pk, sizeof pk);
	memcpy(raw, pk, 32);
	memcpy(raw + 32, h, 4);
	/* Plain RFC 4648 base32, 5 bits at a time, most significant first. */
	char want[CK_ADDRESS_STRLEN + 1] = "cb1";
	for (size_t c = 0; c < 58; c++) {
		unsigned v = 0;
		for (size_t b = 5 * c; b < 5 * c + 5; b++)
			v = (v << 1) | (b < 288 ? (raw[b / 8] >> (7 - b % 8)) & 1u : 0u);
		want[3 + c] = b32[v];
	}
	want[CK_ADDRESS_STRLEN] = '\0';
	cr_assert_str_eq(a, want);
}

Test(address, every_single_substitution_rejected)
{
	ck_pubkey pk, out;
	ck_seckey sk;
	char a[CK_ADDRESS_STRLEN + 1];
	seed_keypair(pk, sk, 6);
	ck_address_encode(a, pk);
	for (size_t pos = 0; pos < CK_ADDRESS_STRLEN; pos++) {
		for (int c = 1; c < 256; c++) {
			char bad[CK_ADDRESS_STRLEN + 1];
			char same = a[pos];
			char upper = (same >= 'a' && same <= 'z') ? (char)(same - 32) : same;
			if ((char)c == same || (char)c == upper)
				continue; /* the same character, up to case */
			memcpy(bad, a, sizeof bad);
			bad[pos] = (char)c;
			memset(out, 0xaa, sizeof out);
			int rc = ck_address_decode(out, bad);
			int want;
			if (pos < 3)
				want = CK_E_ADDR_PREFIX;
			else if (strchr(b32, c >= 'A' && c <= 'Z' ? c + 32 : c) == NULL)
				want = CK_E_ADDR_CHAR;
			else
				want = CK_E_ADDR_CHECKSUM;
			cr_assert_eq(rc, want, "pos %zu char %d: %d", pos, c, rc);
			for (size_t j = 0; j < sizeof out; j++)
				cr_assert_eq(out[j], 0xaa, "output written on failure");
		}
	}
}

Test(address, case_insensitive)
{
	ck_pubkey pk, out;
	ck_seckey sk;
	char a[CK_ADDRESS_STRLEN + 1];
	seed_keypair(pk, sk, 8);
	ck_address_encode(a, pk);
	char up[CK_ADDRESS_STRLEN + 1];
	for (size_t j = 0; j <= CK_ADDRESS_STRLEN; j++)
		up[j] = (a[j] >= 'a' && a[j] <= 'z') ? (char)(a[j] - 32) : a[j];
	cr_assert_eq(ck_address_decode(out, up), 0);
	cr_assert_eq(memcmp(out, pk, sizeof pk), 0);
	for (size_t j = 0; j < CK_ADDRESS_STRLEN; j += 2)
		up[j] = a[j];
	cr_assert_eq(ck_address_decode(out, up), 0);
	cr_assert_eq(memcmp(out, pk, sizeof pk), 0);
}

Test(address, wrong_prefix_and_length)
{
	ck_pubkey pk, out;
	ck_seckey sk;
	char a[CK_ADDRESS_STRLEN + 1], b[CK_ADDRESS_STRLEN + 8];
	seed_keypair(pk, sk, 4);
	ck_address_encode(a, pk);

	cr_assert_eq(ck_address_decode(out, ""), CK_E_ADDR_PREFIX);
	cr_assert_eq(ck_address_decode(out, "cb"), CK_E_ADDR_PREFIX);
	cr_assert_eq(ck_address_decode(out, a + 1), CK_E_ADDR_PREFIX);
	snprintf(b, sizeof b, "bc1%s", a + 3);
	cr_assert_eq(ck_address_decode(out, b), CK_E_ADDR_PREFIX);
	snprintf(b, sizeof b, " %s", a);
	cr_assert_eq(ck_address_decode(out, b), CK_E_ADDR_PREFIX);

	cr_assert_eq(ck_address_decode(out, "cb1"), CK_E_ADDR_LENGTH);
	for (size_t len = 3; len < CK_ADDRESS_STRLEN; len++) {
		memcpy(b, a, len);
		b[len] = '\0';
		cr_assert_eq(ck_address_decode(out, b), CK_E_ADDR_LENGTH, "len %zu", len);
	}
	snprintf(b, sizeof b, "%sa", a);
	cr_assert_eq(ck_address_decode(out, b), CK_E_ADDR_LENGTH);
	snprintf(b, sizeof b, "%s\n", a);
	cr_assert_eq(ck_address_decode(out, b), CK_E_ADDR_LENGTH);
	snprintf(b, sizeof b, "%s=", a);
	cr_assert_eq(ck_address_decode(out, b), CK_E_ADDR_LENGTH);
}

/* ---- error strings ----------------------------------------------------- */

Test(errors, strerror_covers_crypto_and_defers_to_common)
{
#define CHECK(name, val, msg) cr_assert_str_eq(ck_strerror(name), msg);
	CK_ERRORS(CHECK)
#undef CHECK
	cr_assert_str_eq(ck_strerror(CM_E_TRUNCATED), cm_strerror(CM_E_TRUNCATED));
	cr_assert_str_eq(ck_strerror(0), cm_strerror(0));
	cr_assert_str_eq(ck_strerror(-199), cm_strerror(-199));
	cr_assert_str_eq(ck_strerror(-199), "unknown error");
}
