/* Golden vectors of crypto/ in tests/vectors/crypto_*.txt, read from the
 * repository root. A change to any canonical byte (signature digest, tags,
 * Merkle rules, address text, keystore layout) shows up as a failure here
 * and as a diff of those files. Signatures are also checked with libsodium
 * directly, not only through ck_verify. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "common/cm.h"
#include "crypto/ck.h"

#define FIELDS_MAX 8
#define LINE_MAX_BYTES 4096

/* One record: "key = value" lines up to a blank line; '#' starts a comment
 * line. Values are kept as text. */
typedef struct rec {
	unsigned n;
	char key[FIELDS_MAX][32];
	char val[FIELDS_MAX][LINE_MAX_BYTES];
} rec;

static const char *get(const rec *r, const char *key)
{
	for (unsigned j = 0; j < r->n; j++)
		if (strcmp(r->key[j], key) == 0)
			return r->val[j];
	return NULL;
}

static const char *need(const rec *r, const char *key)
{
	const char *v = get(r, key);
	cr_assert_not_null(v, "record without %s", key);
	return v;
}

/* Decodes a hex field of exactly len bytes. */
static void hexf(void *out, size_t len, const rec *r, const char *key)
{
	const char *v = need(r, key);
	cr_assert_eq(cm_hex_decode(out, len, v, strlen(v)), 0, "%s = %s", key, v);
}

/* Decodes a hex field of any length into a malloc'd buffer. */
static uint8_t *hexv(size_t *len, const rec *r, const char *key)
{
	const char *v = need(r, key);
	size_t n = strlen(v);
	cr_assert_eq(n % 2, 0);
	uint8_t *b = malloc(n / 2 + 1);
	cr_assert_not_null(b);
	cr_assert_eq(cm_hex_decode(b, n / 2, v, n), 0);
	*len = n / 2;
	return b;
}

/* Calls fn on every record of the file; returns how many there were. */
static unsigned each_record(const char *name, void (*fn)(const rec *))
{
	char path[256];
	snprintf(path, sizeof path, "tests/vectors/%s", name);
	FILE *f = fopen(path, "r");
	cr_assert_not_null(f, "%s (tests run from the repository root)", path);
	rec *r = calloc(1, sizeof *r);
	cr_assert_not_null(r);
	char line[LINE_MAX_BYTES + 64];
	unsigned count = 0;
	for (;;) {
		char *got = fgets(line, sizeof line, f);
		size_t len = got ? strlen(line) : 0;
		cr_assert(got == NULL || (len > 0 && line[len - 1] == '\n'),
			  "line too long or unterminated in %s", path);
		if (got != NULL)
			line[--len] = '\0';
		if (got == NULL || len == 0) {
			if (r->n > 0) {
				fn(r);
				count++;
				memset(r, 0, sizeof *r);
			}
			if (got == NULL)
				break;
			continue;
		}
		if (line[0] == '#')
			continue;
		char *eq = strstr(line, " =");
		cr_assert_not_null(eq, "bad line in %s: %s", path, line);
		cr_assert_lt(r->n, FIELDS_MAX);
		*eq = '\0';
		const char *val = eq + 2;
		if (*val == ' ')
			val++;
		cr_assert_lt(strlen(line), sizeof r->key[0]);
		strcpy(r->key[r->n], line);
		strcpy(r->val[r->n], val);
		r->n++;
	}
	fclose(f);
	free(r);
	return count;
}

static void setup(void)
{
	cr_assert_eq(ck_init(), 0);
}

TestSuite(vectors, .init = setup);

/* ---- signatures -------------------------------------------------------- */

static void check_sign(const rec *r)
{
	uint8_t seed[32];
	ck_pubkey pk, want_pk;
	ck_seckey sk;
	ck_hash digest, want_digest;
	ck_sig sig, want_sig;
	size_t msglen;
	hexf(seed, sizeof seed, r, "seed");
	hexf(want_pk, sizeof want_pk, r, "pubkey");
	hexf(want_digest, sizeof want_digest, r, "digest");
	hexf(want_sig, sizeof want_sig, r, "sig");
	uint8_t *msg = hexv(&msglen, r, "msg");
	enum ck_domain dom = (enum ck_domain)atoi(need(r, "domain"));
	const char *chain = need(r, "chain_id");

	ck_keypair_from_seed(pk, sk, seed);
	cr_assert_eq(memcmp(pk, want_pk, sizeof pk), 0, "pubkey");
	ck_sign_digest(digest, dom, chain, msg, msglen);
	cr_assert_eq(memcmp(digest, want_digest, sizeof digest), 0, "digest, chain %s", chain);
	/* Ed25519 is deterministic: the same key and digest, the same bytes. */
	ck_sign(sig, sk, dom, chain, msg, msglen);
	cr_assert_eq(memcmp(sig, want_sig, sizeof sig), 0, "signature");
	cr_assert_eq(crypto_sign_verify_detached(want_sig, want_digest, 32, want_pk), 0);
	cr_assert_eq(ck_verify(want_sig, want_pk, dom, chain, msg, msglen), 0);
	free(msg);
}

Test(vectors, sign)
{
	cr_assert_geq(each_record("crypto_sign.txt", check_sign), 10);
}

/* ---- tagged hashes ----------------------------------------------------- */

static void check_hash(const rec *r)
{
	size_t len;
	ck_hash want, got;
	uint8_t *data = hexv(&len, r, "data");
	const char *tag = need(r, "tag");
	hexf(want, sizeof want, r, "hash");
	ck_hash_tagged(got, tag, data, len);
	cr_assert_eq(memcmp(got, want, sizeof got), 0, "tag %s", tag);
	ck_hasher h;
	ck_hasher_init(&h, tag);
	for (size_t j = 0; j < len; j++)
		ck_hasher_update(&h, data + j, 1);
	ck_hasher_final(&h, got);
	cr_assert_eq(memcmp(got, want, sizeof got), 0, "incremental, tag %s", tag);
	free(data);
}

Test(vectors, hash)
{
	cr_assert_geq(each_record("crypto_hash.txt", check_hash), 8);
}

/* ---- Merkle ------------------------------------------------------------ */

static void check_merkle(const rec *r)
{
	ck_hash leaves[32], root, want_root, path[64];
	size_t n = 0;
	const char *p = need(r, "leaves");
	while (*p != '\0') {
		uint8_t d;
		cr_assert_lt(n, 32);
		cr_assert_eq(cm_hex_decode(&d, 1, p, 2), 0);
		ck_merkle_leaf(leaves[n++], &d, 1);
		p += 2;
		if (*p == ',')
			p++;
	}
	hexf(want_root, sizeof want_root, r, "root");
	ck_merkle_root(root, leaves, n);
	cr_assert_eq(memcmp(root, want_root, sizeof root), 0, "root of %zu leaves", n);

	const char *idx = get(r, "index");
	if (idx == NULL)
		return;
	size_t i = (size_t)atoi(idx);
	ck_hash want_path[64];
	unsigned want_depth = 0, depth;
	const char *q = need(r, "path");
	while (*q != '\0') {
		cr_assert_lt(want_depth, 64);
		cr_assert_eq(cm_hex_decode(want_path[want_depth++], 32, q, 64), 0);
		q += 64;
		if (*q == ',')
			q++;
	}
	cr_assert_eq(ck_merkle_path(path, &depth, leaves, n, i), 0);
	cr_assert_eq(depth, want_depth);
	cr_assert_eq(memcmp(path, want_path, depth * sizeof path[0]), 0, "path %zu of %zu", i, n);
	cr_assert_eq(ck_merkle_verify(want_root, leaves[i], i, n, want_path, want_depth), 0);
}

Test(vectors, merkle)
{
	cr_assert_geq(each_record("crypto_merkle.txt", check_merkle), 20);
}

/* ---- addresses --------------------------------------------------------- */

static int code_of(const char *name)
{
#define CK_NAME(nm, val, msg) if (strcmp(name, #nm) == 0) return nm;
	CK_ERRORS(CK_NAME)
#undef CK_NAME
	cr_assert_fail("unknown error name %s", name);
	return 0;
}

static void check_address(const rec *r)
{
	const char *a = need(r, "address");
	const char *err = get(r, "error");
	ck_pubkey pk, want;
	if (err != NULL) {
		cr_assert_eq(ck_address_decode(pk, a), code_of(err), "%s", a);
		return;
	}
	hexf(want, sizeof want, r, "pubkey");
	if (get(r, "seed") != NULL) {
		uint8_t seed[32];
		ck_seckey sk;
		hexf(seed, sizeof seed, r, "seed");
		ck_keypair_from_seed(pk, sk, seed);
		cr_assert_eq(memcmp(pk, want, sizeof pk), 0);
	}
	cr_assert_eq(ck_address_decode(pk, a), 0, "%s", a);
	cr_assert_eq(memcmp(pk, want, sizeof pk), 0);
	char enc[CK_ADDRESS_STRLEN + 1];
	ck_address_encode(enc, want);
	cr_assert_eq(strcasecmp(enc, a), 0);
}

Test(vectors, address)
{
	cr_assert_geq(each_record("crypto_address.txt", check_address), 10);
}

/* ---- keystore ---------------------------------------------------------- */

static void check_keystore(const rec *r)
{
	size_t len;
	uint8_t *file = hexv(&len, r, "file");
	uint8_t seed[32];
	ck_pubkey want_pk, pk;
	ck_seckey want_sk, sk;
	hexf(seed, sizeof seed, r, "seed");
	hexf(want_pk, sizeof want_pk, r, "pubkey");
	ck_keypair_from_seed(pk, want_sk, seed);
	cr_assert_eq(memcmp(pk, want_pk, sizeof pk), 0);

	char dir[] = "/tmp/ck-vec-XXXXXX", path[64];
	cr_assert_not_null(mkdtemp(dir));
	snprintf(path, sizeof path, "%s/k.cks", dir);
	FILE *f = fopen(path, "wb");
	cr_assert_not_null(f);
	cr_assert_eq(fwrite(file, 1, len, f), len);
	cr_assert_eq(fclose(f), 0);

	const char *pass = need(r, "passphrase");
	cr_assert_eq(ck_keystore_pubkey(path, pk), 0);
	cr_assert_eq(memcmp(pk, want_pk, sizeof pk), 0);
	int rc = ck_keystore_read(path, pass, strlen(pass), sk);
	unlink(path);
	rmdir(dir);
	cr_assert_eq(rc, 0, "%s", ck_strerror(rc));
	cr_assert_eq(memcmp(sk, want_sk, sizeof sk), 0);
	free(file);
}

Test(vectors, keystore)
{
	cr_assert_eq(each_record("crypto_keystore.txt", check_keystore), 1);
}
