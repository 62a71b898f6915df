/*
 * The passphrase-encrypted keystore file. It is the only part of crypto/
 * that touches the file system, and the only one whose input is a file a
 * user may have copied, truncated or edited, so every field is checked
 * before it is used (docs/PROTOCOL.md, "Keystore").
 *
 * Version 1 layout, 174 bytes, integers big-endian:
 *   0  magic "CLKS"          4
 *   4  version = 1            1
 *   5  KDF id = 1 (Argon2id)  1
 *   6  opslimit               8
 *  14  memlimit (bytes)       8
 *  22  salt                  16
 *  38  nonce                 24
 *  62  public key            32
 *  94  ciphertext            48   XChaCha20-Poly1305(seed), AD = bytes 0..93
 * 142  checksum              32   BLAKE2b-256 of bytes 0..141
 */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "common/limits.h"
#include "crypto/ck.h"

#define KS_MAGIC        "CLKS"
#define KS_VERSION      1u
#define KS_KDF_ARGON2ID 1u

#define KS_OFF_VERSION  4u
#define KS_OFF_KDF      5u
#define KS_OFF_OPS      6u
#define KS_OFF_MEM      14u
#define KS_OFF_SALT     22u
#define KS_OFF_NONCE    38u
#define KS_OFF_PUBKEY   62u
#define KS_OFF_CT       94u
#define KS_HEADER_BYTES KS_OFF_CT
#define KS_CT_BYTES     (CK_SEED_BYTES + crypto_aead_xchacha20poly1305_ietf_ABYTES)
#define KS_OFF_SUM      (KS_OFF_CT + KS_CT_BYTES)
#define KS_SUM_BYTES    32u
#define KS_KEY_BYTES    crypto_aead_xchacha20poly1305_ietf_KEYBYTES

_Static_assert(KS_OFF_SALT + crypto_pwhash_SALTBYTES == KS_OFF_NONCE, "salt is 16 bytes");
_Static_assert(KS_OFF_NONCE + crypto_aead_xchacha20poly1305_ietf_NPUBBYTES == KS_OFF_PUBKEY,
	       "nonce is 24 bytes");
_Static_assert(KS_OFF_PUBKEY + CK_PUBKEY_BYTES == KS_OFF_CT, "public key is 32 bytes");
_Static_assert(KS_OFF_SUM + KS_SUM_BYTES == CK_KEYSTORE_BYTES, "version 1 is 174 bytes");
_Static_assert(CK_KEYSTORE_BYTES <= LIM_KEYSTORE_BYTES_MAX, "a keystore fits the limit");
_Static_assert(KS_KEY_BYTES == 32u, "XChaCha20-Poly1305 key");

/* The limits are wire values (a file written here must open anywhere), so
 * they are spelled out and checked against the libsodium we build with. */
#define KS_OPS_INTERACTIVE 2ull
#define KS_OPS_MODERATE    3ull
#define KS_OPS_SENSITIVE   4ull
#define KS_MEM_INTERACTIVE (64ull << 20)
#define KS_MEM_MODERATE    (256ull << 20)
#define KS_MEM_SENSITIVE   (1024ull << 20)
_Static_assert(KS_OPS_INTERACTIVE == crypto_pwhash_argon2id_OPSLIMIT_INTERACTIVE, "ops");
_Static_assert(KS_OPS_MODERATE == crypto_pwhash_argon2id_OPSLIMIT_MODERATE, "ops");
_Static_assert(KS_OPS_SENSITIVE == crypto_pwhash_argon2id_OPSLIMIT_SENSITIVE, "ops");
_Static_assert(KS_MEM_INTERACTIVE == crypto_pwhash_argon2id_MEMLIMIT_INTERACTIVE, "mem");
_Static_assert(KS_MEM_MODERATE == crypto_pwhash_argon2id_MEMLIMIT_MODERATE, "mem");
_Static_assert(KS_MEM_SENSITIVE == crypto_pwhash_argon2id_MEMLIMIT_SENSITIVE, "mem");

/* Secrets live together in one sodium_malloc'd block: guarded, locked
 * where the system allows, and zeroed in one place. */
typedef struct ks_secrets {
	uint8_t key[KS_KEY_BYTES];
	uint8_t seed[CK_SEED_BYTES];
} ks_secrets;

static ks_secrets *secrets_new(void)
{
	ks_secrets *s = sodium_malloc(sizeof *s);
	if (s == NULL)
		return NULL;
	sodium_memzero(s, sizeof *s);
	return s;
}

static void secrets_free(ks_secrets *s)
{
	if (s == NULL)
		return;
	sodium_memzero(s, sizeof *s);
	sodium_free(s);
}

static void put_u64be(uint8_t *p, uint64_t v)
{
	for (int b = 7; b >= 0; b--) {
		p[b] = (uint8_t)(v & 0xff);
		v >>= 8;
	}
}

static uint64_t get_u64be(const uint8_t *p)
{
	uint64_t v = 0;
	for (int b = 0; b < 8; b++)
		v = (v << 8) | p[b];
	return v;
}

static void checksum(uint8_t out[KS_SUM_BYTES], const uint8_t *p, size_t len)
{
	int rc = crypto_generichash(out, KS_SUM_BYTES, p, len, NULL, 0);
	assert(rc == 0);
	(void)rc;
}

/* Derives the AEAD key. Only fails when Argon2 cannot get its memory. */
static int derive_key(uint8_t key[KS_KEY_BYTES], const char *pass, size_t passlen,
		      const uint8_t *file)
{
	uint64_t ops = get_u64be(file + KS_OFF_OPS);
	uint64_t mem = get_u64be(file + KS_OFF_MEM);
	assert(ops >= KS_OPS_INTERACTIVE && ops <= KS_OPS_SENSITIVE);
	assert(mem >= KS_MEM_INTERACTIVE && mem <= KS_MEM_SENSITIVE);
	if (crypto_pwhash(key, KS_KEY_BYTES, pass, passlen, file + KS_OFF_SALT,
			  (unsigned long long)ops, (size_t)mem,
			  crypto_pwhash_ALG_ARGON2ID13) != 0)
		return CK_E_NOMEM;
	return 0;
}

/* ---- reading ----------------------------------------------------------- */

/* Reads path into file[CK_KEYSTORE_BYTES] and checks everything that can be
 * checked without the passphrase, in an order that makes a damaged file
 * CK_E_KS_CORRUPT however it is damaged: the checksum frames every version,
 * so it is checked before the version is believed. */
static int load(const char *path, uint8_t file[CK_KEYSTORE_BYTES])
{
	uint8_t buf[LIM_KEYSTORE_BYTES_MAX + 1];
	size_t n = 0;
	int rc, err = 0;

	/* O_NONBLOCK so a FIFO at path cannot hang us before the S_ISREG
	 * check; it has no effect on a regular file. */
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	if (fd < 0) {
		err = errno;
		rc = CK_E_IO;
		goto fail;
	}
	struct stat st;
	if (fstat(fd, &st) != 0) {
		err = errno;
		rc = CK_E_IO;
		goto fail;
	}
	if (!S_ISREG(st.st_mode)) {
		err = EINVAL;
		rc = CK_E_IO;
		goto fail;
	}
	/* The size is what read() returns, not what fstat() said: the file
	 * may change under us. One byte more than the limit tells "too big". */
	while (n < sizeof buf) {
		ssize_t r = read(fd, buf + n, sizeof buf - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			err = errno;
			rc = CK_E_IO;
			goto fail;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	close(fd);
	fd = -1;

	if (n > LIM_KEYSTORE_BYTES_MAX || n < KS_OFF_VERSION + 1 + KS_SUM_BYTES) {
		rc = CK_E_KS_CORRUPT;
		goto fail;
	}
	uint8_t sum[KS_SUM_BYTES];
	checksum(sum, buf, n - KS_SUM_BYTES);
	if (sodium_memcmp(sum, buf + n - KS_SUM_BYTES, KS_SUM_BYTES) != 0 ||
	    memcmp(buf, KS_MAGIC, 4) != 0) {
		rc = CK_E_KS_CORRUPT;
		goto fail;
	}
	if (buf[KS_OFF_VERSION] != KS_VERSION) {
		rc = CK_E_KS_VERSION;
		goto fail;
	}
	if (n != CK_KEYSTORE_BYTES) {
		rc = CK_E_KS_CORRUPT;
		goto fail;
	}
	/* Bounded above so that a file cannot make us allocate 100 GB or spin
	 * for hours; bounded below so that nobody weakens a key by editing
	 * the file (the parameters are also authenticated by the AEAD). */
	uint64_t ops = get_u64be(buf + KS_OFF_OPS);
	uint64_t mem = get_u64be(buf + KS_OFF_MEM);
	if (buf[KS_OFF_KDF] != KS_KDF_ARGON2ID || ops < KS_OPS_INTERACTIVE ||
	    ops > KS_OPS_SENSITIVE || mem < KS_MEM_INTERACTIVE || mem > KS_MEM_SENSITIVE) {
		rc = CK_E_KS_PARAMS;
		goto fail;
	}
	memcpy(file, buf, CK_KEYSTORE_BYTES);
	return 0;

fail:
	if (fd >= 0)
		close(fd);
	if (err != 0)
		errno = err;
	return rc;
}

int ck_keystore_pubkey(const char *path, ck_pubkey pk)
{
	assert(path != NULL);
	uint8_t file[CK_KEYSTORE_BYTES];
	int rc = load(path, file);
	if (rc != 0)
		return rc;
	memcpy(pk, file + KS_OFF_PUBKEY, CK_PUBKEY_BYTES);
	return 0;
}

int ck_keystore_read(const char *path, const char *pass, size_t passlen, ck_seckey sk)
{
	assert(path != NULL);
	assert(pass != NULL);
	uint8_t file[CK_KEYSTORE_BYTES];
	ck_pubkey pk;
	ks_secrets *s = NULL;
	int rc;

	if (passlen > crypto_pwhash_PASSWD_MAX) {
		rc = CK_E_ARG;
		goto fail;
	}
	rc = load(path, file);
	if (rc != 0)
		goto fail;
	s = secrets_new();
	if (s == NULL) {
		rc = CK_E_NOMEM;
		goto fail;
	}
	rc = derive_key(s->key, pass, passlen, file);
	if (rc != 0)
		goto fail;
	unsigned long long seedlen = 0;
	if (crypto_aead_xchacha20poly1305_ietf_decrypt(
		    s->seed, &seedlen, NULL, file + KS_OFF_CT, KS_CT_BYTES, file,
		    KS_HEADER_BYTES, file + KS_OFF_NONCE, s->key) != 0) {
		rc = CK_E_PASSPHRASE;
		goto fail;
	}
	assert(seedlen == CK_SEED_BYTES);
	/* The AEAD proves the file was written by someone who knew the
	 * passphrase, not that its public key belongs to the seed. */
	ck_keypair_from_seed(pk, sk, s->seed);
	if (sodium_memcmp(pk, file + KS_OFF_PUBKEY, CK_PUBKEY_BYTES) != 0) {
		rc = CK_E_KS_CORRUPT;
		goto fail;
	}
	secrets_free(s);
	return 0;

fail:
	secrets_free(s);
	sodium_memzero(sk, CK_SECKEY_BYTES);
	return rc;
}

/* ---- writing ----------------------------------------------------------- */

static int write_all(int fd, const uint8_t *p, size_t len)
{
	while (len > 0) {
		ssize_t w = write(fd, p, len);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -1;
		p += w;
		len -= (size_t)w;
	}
	return 0;
}

/* fsync of the directory holding path, so the new name survives a crash. */
static int sync_parent(const char *path)
{
	const char *slash = strrchr(path, '/');
	char *dir;
	if (slash == NULL)
		dir = strdup(".");
	else if (slash == path)
		dir = strdup("/");
	else
		dir = strndup(path, (size_t)(slash - path));
	if (dir == NULL)
		return -1;
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	free(dir);
	if (fd < 0)
		return -1;
	int rc = fsync(fd);
	int err = errno;
	close(fd);
	errno = err;
	return rc;
}

/* Fills file[] from the seed; the caller has checked the arguments. */
static int seal(uint8_t file[CK_KEYSTORE_BYTES], const ck_seckey sk, const char *pass,
		size_t passlen, ck_kdf_strength strength)
{
	static const uint64_t ops[] = {KS_OPS_INTERACTIVE, KS_OPS_MODERATE, KS_OPS_SENSITIVE};
	static const uint64_t mem[] = {KS_MEM_INTERACTIVE, KS_MEM_MODERATE, KS_MEM_SENSITIVE};
	ks_secrets *s = secrets_new();
	if (s == NULL)
		return CK_E_NOMEM;

	memcpy(file, KS_MAGIC, 4);
	file[KS_OFF_VERSION] = KS_VERSION;
	file[KS_OFF_KDF] = KS_KDF_ARGON2ID;
	put_u64be(file + KS_OFF_OPS, ops[strength]);
	put_u64be(file + KS_OFF_MEM, mem[strength]);
	randombytes_buf(file + KS_OFF_SALT, crypto_pwhash_SALTBYTES);
	randombytes_buf(file + KS_OFF_NONCE, crypto_aead_xchacha20poly1305_ietf_NPUBBYTES);
	ck_seckey_pubkey(file + KS_OFF_PUBKEY, sk);

	int rc = derive_key(s->key, pass, passlen, file);
	if (rc != 0)
		goto done;
	int r = crypto_sign_ed25519_sk_to_seed(s->seed, sk);
	assert(r == 0);
	unsigned long long ctlen = 0;
	r = crypto_aead_xchacha20poly1305_ietf_encrypt(file + KS_OFF_CT, &ctlen, s->seed,
						       CK_SEED_BYTES, file, KS_HEADER_BYTES,
						       NULL, file + KS_OFF_NONCE, s->key);
	assert(r == 0);
	assert(ctlen == KS_CT_BYTES);
	(void)r;
	checksum(file + KS_OFF_SUM, file, KS_OFF_SUM);
done:
	secrets_free(s);
	return rc;
}

int ck_keystore_write(const char *path, const ck_seckey sk, const char *pass,
		      size_t passlen, ck_kdf_strength strength)
{
	assert(path != NULL);
	assert(pass != NULL);
	uint8_t file[CK_KEYSTORE_BYTES];
	char *tmp = NULL;
	int fd = -1, rc, err = 0;
	bool tmp_exists = false;

	if (strength != CK_KDF_INTERACTIVE && strength != CK_KDF_MODERATE &&
	    strength != CK_KDF_SENSITIVE) {
		rc = CK_E_ARG;
		goto fail;
	}
	if (passlen > crypto_pwhash_PASSWD_MAX) {
		rc = CK_E_ARG;
		goto fail;
	}
	/* A secret key whose second half is not its public key would give a
	 * file whose public key lies about the seed inside. */
	{
		ck_pubkey pk;
		ck_seckey check;
		ck_keypair_from_seed(pk, check, sk);
		bool same = sodium_memcmp(check, sk, CK_SECKEY_BYTES) == 0;
		sodium_memzero(check, sizeof check);
		if (!same) {
			rc = CK_E_ARG;
			goto fail;
		}
	}
	/* Refusing early saves a slow KDF; link() below is the real guard
	 * against a file that appears meanwhile. */
	struct stat st;
	if (lstat(path, &st) == 0) {
		err = EEXIST;
		rc = CK_E_IO;
		goto fail;
	}
	if (errno != ENOENT) {
		err = errno;
		rc = CK_E_IO;
		goto fail;
	}

	rc = seal(file, sk, pass, passlen, strength);
	if (rc != 0)
		goto fail;

	static const char suffix[] = ".tmp-XXXXXX";
	size_t plen = strlen(path);
	tmp = malloc(plen + sizeof suffix);
	if (tmp == NULL) {
		rc = CK_E_NOMEM;
		goto fail;
	}
	memcpy(tmp, path, plen);
	memcpy(tmp + plen, suffix, sizeof suffix);
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0) {
		err = errno;
		rc = CK_E_IO;
		goto fail;
	}
	tmp_exists = true;
	/* mkostemp already asks for 0600, but through the umask; make it
	 * exactly 0600. */
	if (fchmod(fd, S_IRUSR | S_IWUSR) != 0 || write_all(fd, file, sizeof file) != 0 ||
	    fsync(fd) != 0) {
		err = errno;
		rc = CK_E_IO;
		goto fail;
	}
	if (close(fd) != 0) {
		fd = -1;
		err = errno;
		rc = CK_E_IO;
		goto fail;
	}
	fd = -1;
	/* Unlike rename(), link() fails with EEXIST instead of replacing a
	 * file that appeared since the lstat() above. */
	if (link(tmp, path) != 0) {
		err = errno;
		rc = CK_E_IO;
		goto fail;
	}
	(void)unlink(tmp);
	tmp_exists = false;
	if (sync_parent(path) != 0) {
		/* The key is written but its name may not survive a crash;
		 * the file stays, it may be the only copy of the key. */
		err = errno;
		rc = CK_E_IO;
		goto fail;
	}
	free(tmp);
	return 0;

fail:
	if (fd >= 0)
		close(fd);
	if (tmp_exists)
		(void)unlink(tmp);
	free(tmp);
	if (err != 0)
		errno = err;
	return rc;
}
