/*
 * Helpers shared by the libFuzzer targets: inputs for parsers that only
 * take a path (an in-memory file), the consensus test crypto whose
 * signatures a fuzzer can forge for every key but ours, and the property
 * check every codec target makes (decode, re-encode, same bytes). Header
 * only, so each target stays one translation unit.
 */
#ifndef CARBON_FUZZ_H
#define CARBON_FUZZ_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "consensus/cons.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Aborts with a message: a property violation, reported as a crash. */
#define FUZZ_CHECK(cond)                                                           \
	do {                                                                       \
		if (!(cond)) {                                                     \
			fprintf(stderr, "%s:%d: property violated: %s\n", __FILE__, \
				__LINE__, #cond);                                  \
			abort();                                                   \
		}                                                                  \
	} while (0)

/* The chain id of the golden vectors and of every generated seed. */
#define FUZZ_CHAIN "carbon-test-1"

/* w holds exactly data[0..size). */
static inline void fuzz_same_bytes(const cm_wr *w, const uint8_t *data, size_t size)
{
	FUZZ_CHECK(cm_wr_error(w) == 0);
	FUZZ_CHECK(cm_wr_len(w) == size);
	FUZZ_CHECK(size == 0 || memcmp(cm_wr_data(w), data, size) == 0);
}

/* ---- files -------------------------------------------------------------- */

/* An anonymous in-memory file (memfd) whose content is replaced on each
 * call, named by a path any open() accepts: /proc/self/fd/N. No disk I/O,
 * nothing left behind. Returns the path (static storage). */
static inline const char *fuzz_file(const void *data, size_t size)
{
	static int fd = -1;
	static char path[64];
	if (fd < 0) {
		fd = memfd_create("carbon-fuzz", 0);
		if (fd < 0) {
			perror("memfd_create");
			abort();
		}
		snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
	}
	if (ftruncate(fd, 0) != 0 || (size > 0 && pwrite(fd, data, size, 0) != (ssize_t)size)) {
		perror("memfd write");
		abort();
	}
	return path;
}

/* ---- consensus test crypto --------------------------------------------- */

/* A signature verifies if its first byte is FUZZ_SIG_MAGIC, except for
 * the key FUZZ_SELF: that one's signatures are the fixed function
 * fuzz_sign computes, so a fuzzer can play every other validator
 * (Byzantine ones included) but can never forge the node under test. */
#define FUZZ_SIG_MAGIC 0x5a

static inline void fuzz_sign_raw(const ck_pubkey pk, enum ck_domain dom, const char *chain_id,
				 const uint8_t *msg, size_t len, ck_sig sig)
{
	ck_hasher h;
	ck_hash d;
	uint8_t b = (uint8_t)dom;
	ck_hasher_init(&h, "fuzzsig");
	ck_hasher_update(&h, pk, CK_PUBKEY_BYTES);
	ck_hasher_update(&h, &b, 1);
	ck_hasher_update(&h, chain_id, strlen(chain_id));
	ck_hasher_update(&h, msg, len);
	ck_hasher_final(&h, d);
	sig[0] = FUZZ_SIG_MAGIC;
	memcpy(sig + 1, d, CK_HASH_BYTES);
	memcpy(sig + 1 + CK_HASH_BYTES, d, CK_SIG_BYTES - 1 - CK_HASH_BYTES);
}

/* ctx of the signer and verifier: the key of the node under test. */
static inline void fuzz_signer_sign(void *ctx, enum ck_domain dom, const char *chain_id,
				    const uint8_t *msg, size_t len, ck_sig sig_out)
{
	fuzz_sign_raw(*(const ck_pubkey *)ctx, dom, chain_id, msg, len, sig_out);
}

static inline int fuzz_verifier_verify(void *ctx, const ck_pubkey pk, enum ck_domain dom,
				       const char *chain_id, const uint8_t *msg, size_t len,
				       const ck_sig sig)
{
	if (memcmp(pk, *(const ck_pubkey *)ctx, CK_PUBKEY_BYTES) != 0)
		return sig[0] == FUZZ_SIG_MAGIC ? 0 : -1;
	ck_sig want;
	fuzz_sign_raw(pk, dom, chain_id, msg, len, want);
	return memcmp(want, sig, CK_SIG_BYTES) == 0 ? 0 : -1;
}

static inline void fuzz_block_id(void *ctx, const uint8_t *block, size_t len, cons_id out)
{
	(void)ctx;
	ck_hash_tagged(out, "fuzzblock", block, len);
}

/* A set of n (1..LIM_VALIDATORS_MAX) validators: keys 1..n, 32 equal bytes
 * each, so seeds and crashes are readable; already sorted. */
static inline void fuzz_valset(cons_valset *vs, uint32_t n)
{
	memset(vs, 0, sizeof *vs);
	vs->n = n;
	for (uint32_t i = 0; i < n; i++)
		memset(vs->keys[i], (int)(i + 1), CK_PUBKEY_BYTES);
}

#endif
