/* crypto/keystore.c: the encrypted key file. Argon2id at INTERACTIVE
 * strength costs about 0.1 s and 64 MiB per derivation, so only the tests
 * that must decrypt do; damage is caught by the checksum before the KDF,
 * which lets the corruption tests try every byte cheaply. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "common/limits.h"
#include "crypto/ck.h"

static char dir[64];
static const char pass[] = "correct horse battery staple";

static void setup(void)
{
	cr_assert_eq(ck_init(), 0);
	strcpy(dir, "/tmp/ck-ks-XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
}

static void teardown(void)
{
	DIR *d = opendir(dir);
	if (d == NULL)
		return;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		char p[512];
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
		if (unlink(p) != 0)
			rmdir(p);
	}
	closedir(d);
	rmdir(dir);
}

TestSuite(keystore, .init = setup, .fini = teardown);

static void in_dir(char *out, size_t cap, const char *name)
{
	snprintf(out, cap, "%s/%s", dir, name);
}

static size_t file_read(const char *path, uint8_t *buf, size_t cap)
{
	FILE *f = fopen(path, "rb");
	cr_assert_not_null(f, "%s: %s", path, strerror(errno));
	size_t n = fread(buf, 1, cap, f);
	fclose(f);
	return n;
}

static void file_write(const char *path, const uint8_t *buf, size_t len)
{
	FILE *f = fopen(path, "wb");
	cr_assert_not_null(f);
	cr_assert_eq(fwrite(buf, 1, len, f), len);
	cr_assert_eq(fclose(f), 0);
}

static size_t dir_entries(void)
{
	DIR *d = opendir(dir);
	cr_assert_not_null(d);
	size_t n = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL)
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
			n++;
	closedir(d);
	return n;
}

static void fix_checksum(uint8_t *f, size_t len)
{
	crypto_generichash(f + len - 32, 32, f, len - 32, NULL, 0);
}

/* A keystore written once per test that needs one, with the seed 0x42.. */
static void make_store(char *path, size_t cap, ck_pubkey pk, ck_seckey sk)
{
	uint8_t seed[CK_SEED_BYTES];
	memset(seed, 0x42, sizeof seed);
	ck_keypair_from_seed(pk, sk, seed);
	in_dir(path, cap, "key.cks");
	cr_assert_eq(ck_keystore_write(path, sk, pass, strlen(pass), CK_KDF_INTERACTIVE), 0);
}

Test(keystore, round_trip_mode_and_public_key)
{
	char path[256];
	ck_pubkey pk, pk2;
	ck_seckey sk;
	mode_t old = umask(0);
	make_store(path, sizeof path, pk, sk);
	umask(old);

	struct stat st;
	cr_assert_eq(stat(path, &st), 0);
	cr_assert_eq(st.st_mode & 07777, 0600, "mode %o", st.st_mode & 07777);
	cr_assert_eq(st.st_size, CK_KEYSTORE_BYTES);
	cr_assert_eq(dir_entries(), 1, "temporary file left behind");

	cr_assert_eq(ck_keystore_pubkey(path, pk2), 0);
	cr_assert_eq(memcmp(pk, pk2, sizeof pk), 0);

	ck_seckey *got = sodium_malloc(sizeof(ck_seckey));
	cr_assert_not_null(got);
	cr_assert_eq(ck_keystore_read(path, pass, strlen(pass), *got), 0);
	cr_assert_eq(memcmp(*got, sk, sizeof sk), 0);
	sodium_free(got);

	/* The layout's clear fields are where the documentation says. */
	uint8_t f[CK_KEYSTORE_BYTES];
	cr_assert_eq(file_read(path, f, sizeof f), sizeof f);
	cr_assert_eq(memcmp(f, "CLKS\x01\x01", 6), 0);
	static const uint8_t ops[8] = {0, 0, 0, 0, 0, 0, 0, 2};
	static const uint8_t mem[8] = {0, 0, 0, 0, 0x04, 0, 0, 0};
	cr_assert_eq(memcmp(f + 6, ops, 8), 0);
	cr_assert_eq(memcmp(f + 14, mem, 8), 0);
	cr_assert_eq(memcmp(f + 62, pk, 32), 0);
}

Test(keystore, restrictive_umask_still_0600)
{
	char path[256];
	ck_pubkey pk;
	ck_seckey sk;
	mode_t old = umask(0277);
	make_store(path, sizeof path, pk, sk);
	umask(old);
	struct stat st;
	cr_assert_eq(stat(path, &st), 0);
	cr_assert_eq(st.st_mode & 07777, 0600);
}

Test(keystore, wrong_passphrase_zeroes_output)
{
	char path[256];
	ck_pubkey pk;
	ck_seckey sk, got;
	make_store(path, sizeof path, pk, sk);
	memset(got, 0x55, sizeof got);
	cr_assert_eq(ck_keystore_read(path, "correct horse battery stapler", 29, got),
		     CK_E_PASSPHRASE);
	for (size_t j = 0; j < sizeof got; j++)
		cr_assert_eq(got[j], 0);
}

Test(keystore, every_flipped_byte_is_corrupt)
{
	char path[256], bad[256];
	ck_pubkey pk, pk2;
	ck_seckey sk, got;
	make_store(path, sizeof path, pk, sk);
	uint8_t f[CK_KEYSTORE_BYTES];
	cr_assert_eq(file_read(path, f, sizeof f), sizeof f);
	in_dir(bad, sizeof bad, "bad.cks");
	for (size_t off = 0; off < sizeof f; off++) {
		for (int m = 0; m < 2; m++) {
			f[off] ^= m ? 0x80 : 0x01;
			file_write(bad, f, sizeof f);
			memset(got, 0x55, sizeof got);
			cr_assert_eq(ck_keystore_read(bad, pass, strlen(pass), got),
				     CK_E_KS_CORRUPT, "offset %zu", off);
			cr_assert_eq(got[0], 0);
			cr_assert_eq(ck_keystore_pubkey(bad, pk2), CK_E_KS_CORRUPT);
			f[off] ^= m ? 0x80 : 0x01;
		}
	}
}

Test(keystore, truncated_extended_or_huge_is_corrupt)
{
	char path[256], bad[256];
	ck_pubkey pk;
	ck_seckey sk;
	make_store(path, sizeof path, pk, sk);
	uint8_t f[LIM_KEYSTORE_BYTES_MAX + 2];
	cr_assert_eq(file_read(path, f, sizeof f), CK_KEYSTORE_BYTES);
	in_dir(bad, sizeof bad, "bad.cks");
	for (size_t len = 0; len < CK_KEYSTORE_BYTES; len++) {
		file_write(bad, f, len);
		cr_assert_eq(ck_keystore_pubkey(bad, pk), CK_E_KS_CORRUPT, "len %zu", len);
	}
	/* One byte more before the checksum, the checksum recomputed so that
	 * only the length is wrong. */
	uint8_t g[CK_KEYSTORE_BYTES + 1];
	memcpy(g, f, CK_KEYSTORE_BYTES - 32);
	g[CK_KEYSTORE_BYTES - 32] = 0;
	fix_checksum(g, sizeof g);
	file_write(bad, g, sizeof g);
	cr_assert_eq(ck_keystore_pubkey(bad, pk), CK_E_KS_CORRUPT);
	/* Above the limit: refused whatever the content. */
	memset(f, 0, sizeof f);
	memcpy(f, "CLKS\x01", 5);
	fix_checksum(f, LIM_KEYSTORE_BYTES_MAX + 1);
	file_write(bad, f, LIM_KEYSTORE_BYTES_MAX + 1);
	cr_assert_eq(ck_keystore_pubkey(bad, pk), CK_E_KS_CORRUPT);
}

Test(keystore, version_and_kdf_parameters)
{
	char path[256], bad[256];
	ck_pubkey pk;
	ck_seckey sk, got;
	make_store(path, sizeof path, pk, sk);
	uint8_t f[CK_KEYSTORE_BYTES], g[CK_KEYSTORE_BYTES];
	cr_assert_eq(file_read(path, f, sizeof f), sizeof f);
	in_dir(bad, sizeof bad, "bad.cks");

	memcpy(g, f, sizeof g);
	g[4] = 2;
	fix_checksum(g, sizeof g);
	file_write(bad, g, sizeof g);
	cr_assert_eq(ck_keystore_read(bad, pass, strlen(pass), got), CK_E_KS_VERSION);
	cr_assert_eq(ck_keystore_pubkey(bad, pk), CK_E_KS_VERSION);
	/* A later version may have another length; the version is believed
	 * once the checksum holds. */
	fix_checksum(g, 100);
	file_write(bad, g, 100);
	cr_assert_eq(ck_keystore_pubkey(bad, pk), CK_E_KS_VERSION);

	struct {
		size_t off;
		uint64_t v;
		int width;
	} cases[] = {
		{5, 0, 1}, {5, 2, 1},                               /* KDF id */
		{6, 1, 8}, {6, 5, 8}, {6, UINT64_MAX, 8},          /* opslimit */
		{14, (64u << 20) - 1, 8}, {14, (1024ull << 20) + 1, 8},
		{14, 100ull << 30, 8}, {14, UINT64_MAX, 8},        /* memlimit */
	};
	for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
		memcpy(g, f, sizeof g);
		uint64_t v = cases[c].v;
		for (int b = cases[c].width - 1; b >= 0; b--) {
			g[cases[c].off + (size_t)b] = (uint8_t)v;
			v >>= 8;
		}
		fix_checksum(g, sizeof g);
		file_write(bad, g, sizeof g);
		cr_assert_eq(ck_keystore_read(bad, pass, strlen(pass), got), CK_E_KS_PARAMS,
			     "case %zu", c);
	}
}

/* The clear header is associated data: editing it, even consistently with
 * the checksum, makes decryption fail. */
Test(keystore, header_is_authenticated)
{
	char path[256], bad[256];
	ck_pubkey pk;
	ck_seckey sk, got;
	make_store(path, sizeof path, pk, sk);
	uint8_t f[CK_KEYSTORE_BYTES];
	cr_assert_eq(file_read(path, f, sizeof f), sizeof f);
	in_dir(bad, sizeof bad, "bad.cks");
	f[62] ^= 1; /* public key */
	fix_checksum(f, sizeof f);
	file_write(bad, f, sizeof f);
	cr_assert_eq(ck_keystore_read(bad, pass, strlen(pass), got), CK_E_PASSPHRASE);
}

/* Builds a file from the documented layout with libsodium alone; then
 * builds one whose public key is not the seed's, correctly encrypted (as
 * a buggy or malicious writer who knows the passphrase could). */
Test(keystore, independent_writer_and_pubkey_mismatch)
{
	uint8_t seed[32], other[32];
	ck_pubkey pk, opk;
	ck_seckey sk, osk, got;
	memset(seed, 0x11, sizeof seed);
	memset(other, 0x22, sizeof other);
	ck_keypair_from_seed(pk, sk, seed);
	ck_keypair_from_seed(opk, osk, other);

	for (int mismatch = 0; mismatch < 2; mismatch++) {
		uint8_t f[174] = "CLKS\x01\x01";
		f[13] = 2;                       /* opslimit 2 */
		f[18] = 0x04;                    /* memlimit 64 MiB */
		randombytes_buf(f + 22, 16 + 24);
		memcpy(f + 62, mismatch ? opk : pk, 32);
		uint8_t key[32];
		cr_assert_eq(crypto_pwhash(key, 32, pass, strlen(pass), f + 22, 2, 64u << 20,
					   crypto_pwhash_ALG_ARGON2ID13), 0);
		unsigned long long clen;
		crypto_aead_xchacha20poly1305_ietf_encrypt(f + 94, &clen, seed, 32, f, 94, NULL,
							   f + 38, key);
		cr_assert_eq(clen, 48);
		fix_checksum(f, sizeof f);
		char p[256];
		in_dir(p, sizeof p, mismatch ? "mismatch.cks" : "manual.cks");
		file_write(p, f, sizeof f);
		int rc = ck_keystore_read(p, pass, strlen(pass), got);
		if (mismatch) {
			cr_assert_eq(rc, CK_E_KS_CORRUPT);
			cr_assert_eq(got[0], 0);
		} else {
			cr_assert_eq(rc, 0);
			cr_assert_eq(memcmp(got, sk, sizeof sk), 0);
		}
	}
}

Test(keystore, never_overwrites)
{
	char path[256], link_path[256];
	ck_pubkey pk;
	ck_seckey sk;
	make_store(path, sizeof path, pk, sk);
	uint8_t before[CK_KEYSTORE_BYTES], after[CK_KEYSTORE_BYTES];
	cr_assert_eq(file_read(path, before, sizeof before), sizeof before);

	ck_pubkey pk2;
	ck_seckey sk2;
	ck_keypair(pk2, sk2);
	errno = 0;
	cr_assert_eq(ck_keystore_write(path, sk2, "x", 1, CK_KDF_INTERACTIVE), CK_E_IO);
	cr_assert_eq(errno, EEXIST);
	cr_assert_eq(file_read(path, after, sizeof after), sizeof after);
	cr_assert_eq(memcmp(before, after, sizeof before), 0);

	/* Nor through a dangling symbolic link. */
	in_dir(link_path, sizeof link_path, "dangling.cks");
	cr_assert_eq(symlink("/nonexistent/target", link_path), 0);
	cr_assert_eq(ck_keystore_write(link_path, sk2, "x", 1, CK_KDF_INTERACTIVE), CK_E_IO);
	cr_assert_eq(dir_entries(), 2, "no temporary files left behind");
}

Test(keystore, bad_arguments_and_io_errors)
{
	char path[256];
	ck_pubkey pk;
	ck_seckey sk, got;
	ck_keypair(pk, sk);
	in_dir(path, sizeof path, "k.cks");
	cr_assert_eq(ck_keystore_write(path, sk, pass, strlen(pass), (ck_kdf_strength)3),
		     CK_E_ARG);
	sk[40] ^= 1; /* second half no longer the public key */
	cr_assert_eq(ck_keystore_write(path, sk, pass, strlen(pass), CK_KDF_INTERACTIVE),
		     CK_E_ARG);
	cr_assert_eq(dir_entries(), 0);

	errno = 0;
	cr_assert_eq(ck_keystore_read(path, pass, strlen(pass), got), CK_E_IO);
	cr_assert_eq(errno, ENOENT);
	cr_assert_eq(ck_keystore_pubkey(dir, pk), CK_E_IO); /* a directory */
	char missing[300];
	snprintf(missing, sizeof missing, "%s/no/such/dir/k.cks", dir);
	cr_assert_eq(ck_keystore_write(missing, sk, pass, strlen(pass), CK_KDF_INTERACTIVE),
		     CK_E_ARG);
	sk[40] ^= 1;
	cr_assert_eq(ck_keystore_write(missing, sk, pass, strlen(pass), CK_KDF_INTERACTIVE),
		     CK_E_IO);
}

Test(keystore, relative_path_in_current_directory)
{
	char cwd[512];
	cr_assert_not_null(getcwd(cwd, sizeof cwd));
	cr_assert_eq(chdir(dir), 0);
	ck_pubkey pk, pk2;
	ck_seckey sk;
	ck_keypair(pk, sk);
	int rc = ck_keystore_write("rel.cks", sk, "", 0, CK_KDF_INTERACTIVE);
	int rc2 = ck_keystore_pubkey("rel.cks", pk2);
	cr_assert_eq(chdir(cwd), 0);
	cr_assert_eq(rc, 0);
	cr_assert_eq(rc2, 0);
	cr_assert_eq(memcmp(pk, pk2, sizeof pk), 0);
}
