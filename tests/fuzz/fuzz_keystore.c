/*
 * libFuzzer target for the keystore reader (crypto/keystore.c), the one
 * file of a user's that the wallet and the node decrypt. Byte 0 of the
 * input holds flags, the rest is the file, served from memory
 * (fuzz_file): bit 0 recomputes the file's outer checksum first, so the
 * fuzzer gets past it to the version, KDF parameters, public key and
 * ciphertext; bit 1 reads with the right passphrase of the vector
 * (tests/vectors/crypto_keystore.txt), else with a wrong one.
 *
 * Properties: ck_keystore_pubkey and ck_keystore_read agree on every file
 * ck_keystore_pubkey refuses (same code: the structure is checked before
 * any key derivation) and ck_keystore_read leaves the key zeroed then; a
 * read with the wrong passphrase never succeeds; a successful read gives
 * the key whose public half the file names.
 *
 * Argon2id costs 64 MiB and about 0.1 s per try, so a read that would
 * derive a key (the structure passed) runs only for the first inputs and
 * then once every KDF_EVERY such inputs, and only with the INTERACTIVE
 * parameters; ck_keystore_pubkey checks every input fully.
 */
#include <sodium.h>

#include "tests/fuzz/fuzz.h"

#define KDF_FIRST 4u
#define KDF_EVERY 4096u
#define SUM_BYTES 32u

static const char pass_ok[] = "carbon ledger test passphrase";
static const char pass_bad[] = "carbon ledger test passphrasf";
static const char vector_hex[] =
	"434c4b530101000000000000000200000000040000004c22c050de295dfc2c0cddd6"
	"86cd64102c3c8650d74cc4556cc9162f3b49798a1e4d9780eb57374e03a107bff3ce"
	"10be1d70dd18e74bc09967e4d6309ba50d5f1ddc8664125531b85b84d115925100b0"
	"ec3087b9cd28df2c9bbf55c59483119430b966c76d8f036865dea62334bb70b2f100"
	"84c30b73082fd23635bfeff70733c2733ab7e4ad39d05df0f1b10181670f55aa0536"
	"da12f330";
static uint8_t vector[CK_KEYSTORE_BYTES];
static uint64_t structural_ok;

static bool all_zero(const uint8_t *p, size_t n)
{
	uint8_t acc = 0;
	for (size_t i = 0; i < n; i++)
		acc |= p[i];
	return acc == 0;
}

static void init(void)
{
	FUZZ_CHECK(ck_init() == 0);
	FUZZ_CHECK(cm_hex_decode(vector, sizeof vector, vector_hex, strlen(vector_hex)) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool ready;
	if (!ready) {
		init();
		ready = true;
	}
	if (size == 0 || size - 1 > LIM_KEYSTORE_BYTES_MAX + 1)
		return 0;
	uint8_t flags = data[0];
	uint8_t file[LIM_KEYSTORE_BYTES_MAX + 2];
	size_t n = size - 1;
	memcpy(file, data + 1, n);
	if ((flags & 1) && n >= SUM_BYTES)
		crypto_generichash(file + n - SUM_BYTES, SUM_BYTES, file, n - SUM_BYTES, NULL, 0);
	const char *path = fuzz_file(file, n);

	ck_pubkey pk;
	int rc_pub = ck_keystore_pubkey(path, pk);
	FUZZ_CHECK(rc_pub == 0 || rc_pub == CK_E_KS_CORRUPT || rc_pub == CK_E_KS_VERSION ||
		   rc_pub == CK_E_KS_PARAMS);

	bool right = (flags & 2) != 0;
	const char *pass = right ? pass_ok : pass_bad;
	size_t passlen = strlen(pass);
	uint8_t *sk = sodium_malloc(CK_SECKEY_BYTES);
	FUZZ_CHECK(sk != NULL);
	memset(sk, 0xa5, CK_SECKEY_BYTES);
	if (rc_pub != 0) {
		/* Refused before any key derivation: cheap, always checked. */
		FUZZ_CHECK(ck_keystore_read(path, pass, passlen, sk) == rc_pub);
		FUZZ_CHECK(all_zero(sk, CK_SECKEY_BYTES));
		sodium_free(sk);
		return 0;
	}
	structural_ok++;
	bool interactive = n == CK_KEYSTORE_BYTES && memcmp(file + 6, vector + 6, 16) == 0;
	if (!interactive || (structural_ok > KDF_FIRST && structural_ok % KDF_EVERY != 0)) {
		sodium_free(sk);
		return 0;
	}
	int rc = ck_keystore_read(path, pass, passlen, sk);
	FUZZ_CHECK(rc == 0 || rc == CK_E_PASSPHRASE || rc == CK_E_KS_CORRUPT || rc == CK_E_NOMEM);
	if (rc == 0) {
		FUZZ_CHECK(right);
		ck_pubkey derived;
		ck_seckey_pubkey(derived, sk);
		FUZZ_CHECK(memcmp(derived, pk, CK_PUBKEY_BYTES) == 0);
	} else {
		FUZZ_CHECK(all_zero(sk, CK_SECKEY_BYTES));
	}
	if (right && memcmp(file, vector, sizeof vector) == 0 && n == sizeof vector)
		FUZZ_CHECK(rc == 0);
	sodium_free(sk);
	return 0;
}
