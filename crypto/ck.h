/*
 * crypto: keys, domain-separated signatures, tagged hashes, Merkle trees,
 * human-readable addresses and the passphrase-encrypted keystore. Everything
 * here is a thin, typed layer over libsodium; the prefix is ck_ because
 * crypto_ belongs to libsodium. No function keeps state between calls, so
 * after ck_init() any of them may run on several threads at once (the
 * verify pool does).
 */
#ifndef CARBON_CK_H
#define CARBON_CK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CK_WUR __attribute__((warn_unused_result))

#define CK_PUBKEY_BYTES 32u
#define CK_SECKEY_BYTES 64u  /* libsodium's Ed25519 secret key: seed || pk */
#define CK_SEED_BYTES   32u
#define CK_SIG_BYTES    64u
#define CK_HASH_BYTES   32u
/* Longest hash tag. Keeping every tag under 99 bytes (the value of 'c')
 * means no tagged-hash input can start like a signature-digest input, whose
 * first byte is the 'c' of "carbon-ledger/sig/v1" (docs/PROTOCOL.md, "Hash
 * tags"). */
#define CK_TAG_BYTES_MAX 64u

typedef uint8_t ck_pubkey[CK_PUBKEY_BYTES];
typedef uint8_t ck_seckey[CK_SECKEY_BYTES];
typedef uint8_t ck_sig[CK_SIG_BYTES];
typedef uint8_t ck_hash[CK_HASH_BYTES];

/* Error codes of crypto/: -100..-199. */
#define CK_ERRORS(X)                                                          \
	X(CK_E_INIT,            -100, "libsodium failed to initialise")          \
	X(CK_E_BADSIG,          -101, "signature does not verify")               \
	X(CK_E_ADDR_PREFIX,     -102, "address does not start with \"cb1\"")     \
	X(CK_E_ADDR_LENGTH,     -103, "address has the wrong length")            \
	X(CK_E_ADDR_CHAR,       -104, "address has a character outside a-z, 2-7") \
	X(CK_E_ADDR_CHECKSUM,   -105, "address checksum mismatch (mistyped?)")   \
	X(CK_E_PASSPHRASE,      -106, "wrong passphrase for keystore")           \
	X(CK_E_KS_CORRUPT,      -107, "keystore file is corrupted")              \
	X(CK_E_KS_VERSION,      -108, "keystore file version not supported")     \
	X(CK_E_KS_PARAMS,       -109, "keystore KDF parameters out of range")    \
	X(CK_E_IO,              -110, "keystore file input/output error")        \
	X(CK_E_NOMEM,           -111, "out of memory")                           \
	X(CK_E_MERKLE_PROOF,    -112, "Merkle proof does not verify")            \
	X(CK_E_ARG,             -113, "invalid argument")

enum ck_err {
#define CK_ENUM(name, val, msg) name = val,
	CK_ERRORS(CK_ENUM)
#undef CK_ENUM
};

/* Describes a crypto code, or defers to cm_strerror() for common codes. */
const char *ck_strerror(int rc);

/* Calls sodium_init(); every binary calls it once at start-up, before any
 * other thread exists or any other ck_ function runs. Calling it again is
 * harmless. CK_E_INIT. */
CK_WUR int ck_init(void);

/* ---- keys and signatures ----------------------------------------------- */

void ck_keypair(ck_pubkey pk, ck_seckey sk);
/* Deterministic key pair from a 32-byte seed (simulator, tests, vectors). */
void ck_keypair_from_seed(ck_pubkey pk, ck_seckey sk, const uint8_t seed[CK_SEED_BYTES]);
/* Public key of a secret key. */
void ck_seckey_pubkey(ck_pubkey pk, const ck_seckey sk);

/* Signature domains. A signature is over
 *   BLAKE2b-256("carbon-ledger/sig/v1" 0x00 || u8 domain || u8 len(chain_id)
 *               || chain_id || message)
 * so a signature made for one kind of object or one chain never verifies as
 * another (docs/PROTOCOL.md, "Signatures"). Values are wire constants. */
enum ck_domain {
	CK_DOM_TX = 1,          /* a transaction's signing bytes */
	CK_DOM_GOVERN = 2,      /* a governance body, one signature per governor */
	CK_DOM_PROPOSAL = 3,    /* a consensus proposal */
	CK_DOM_PREVOTE = 4,     /* a consensus prevote */
	CK_DOM_PRECOMMIT = 5,   /* a consensus precommit */
	CK_DOM_HANDSHAKE = 6,   /* a peer handshake transcript */
};

/* Computes the 32-byte digest that ck_sign signs (exposed for tests and
 * for clients in other languages to check against). chain_id is a string
 * of at most LIM_CHAIN_ID_BYTES_MAX bytes and dom one of the values above;
 * both come from our own configuration and code, so anything else is a bug
 * and fails an assertion (here and in ck_sign and ck_verify). Ed25519 then
 * signs these 32 bytes as its message. */
void ck_sign_digest(ck_hash out, enum ck_domain dom, const char *chain_id,
		    const void *msg, size_t len);
void ck_sign(ck_sig sig, const ck_seckey sk, enum ck_domain dom,
	     const char *chain_id, const void *msg, size_t len);
/* 0 if sig is pk's signature of msg in this domain and chain; CK_E_BADSIG.
 * The acceptance rules are libsodium's strict ones (S < L, canonical A,
 * A and R not of small order, cofactorless check), fixed by the protocol
 * because every validator must accept exactly the same signatures. */
CK_WUR int ck_verify(const ck_sig sig, const ck_pubkey pk, enum ck_domain dom,
		     const char *chain_id, const void *msg, size_t len);

/* ---- hashing ----------------------------------------------------------- */

/* BLAKE2b-256 of (u8 len(tag) || tag || data), unkeyed. Tags are short
 * ASCII names such as "tx", "header", "valset" (docs/PROTOCOL.md lists them
 * all) of 1..CK_TAG_BYTES_MAX bytes; another length fails an assertion. */
void ck_hash_tagged(ck_hash out, const char *tag, const void *data, size_t len);

/* Incremental form of ck_hash_tagged for data in several pieces: init,
 * any number of updates, one final. The caller owns the ck_hasher (usually
 * on the stack); it holds no resources and needs no cleanup. */
typedef struct ck_hasher {
	uint8_t state[384] __attribute__((aligned(64))); /* crypto_generichash_state */
} ck_hasher;
void ck_hasher_init(ck_hasher *h, const char *tag);
void ck_hasher_update(ck_hasher *h, const void *data, size_t len);
void ck_hasher_final(ck_hasher *h, ck_hash out);

/* ---- Merkle tree (RFC 6962 shape) -------------------------------------- */

/* Leaves are hashed as H("mleaf", data); inner nodes as H("mnode", l || r);
 * a tree of n leaves splits at the largest power of two below n, so no leaf
 * is ever duplicated (CVE-2012-2459 cannot happen) and trees of different
 * sizes never share a root. The root of n >= 1 leaves is
 * H("mroot", u64be(n) || top node): in a bare RFC 6962 tree an audit path
 * for leaf 0 of 3 leaves also verifies as leaf 0 of 4 against the same root,
 * so a proof would bind the size (and with it the index) only if the size
 * came from elsewhere; committing n in the root makes (root, i, n) a
 * complete claim. The empty tree's root is H("mempty", ""). */
#define CK_MERKLE_DEPTH_MAX 64u  /* audit path length for n < 2^64 */
void ck_merkle_leaf(ck_hash out, const void *data, size_t len);
/* Root over n leaf hashes (already passed through ck_merkle_leaf); leaves
 * may be NULL if n is 0. Needs no allocation beyond O(log n) stack. */
void ck_merkle_root(ck_hash out, const ck_hash *leaves, size_t n);
/* Audit path of leaf index i in a tree of n leaves: writes up to 64 sibling
 * hashes into path, nearest the leaf first, and their count into *depth.
 * CK_E_ARG if i >= n. Costs about n hashes. */
CK_WUR int ck_merkle_path(ck_hash path[64], unsigned *depth, const ck_hash *leaves,
			  size_t n, size_t i);
/* 0 if leaf is at index i of a tree of n leaves with this root, else
 * CK_E_MERKLE_PROOF (also for i >= n or depth > CK_MERKLE_DEPTH_MAX, since
 * all of these come from an untrusted proof). */
CK_WUR int ck_merkle_verify(const ck_hash root, const ck_hash leaf, size_t i, size_t n,
			    const ck_hash *path, unsigned depth);

/* ---- addresses --------------------------------------------------------- */

/* "cb1" + 58 characters of lower-case RFC 4648 base32 (no padding) over
 * pubkey(32) || checksum(4), checksum = first 4 bytes of H("addr", pubkey).
 * A mistyped character fails the checksum with probability 1 - 2^-32. */
#define CK_ADDRESS_STRLEN 61u
void ck_address_encode(char out[CK_ADDRESS_STRLEN + 1], const ck_pubkey pk);
/* Decodes a NUL-terminated address: CK_E_ADDR_PREFIX, CK_E_ADDR_LENGTH,
 * CK_E_ADDR_CHAR or CK_E_ADDR_CHECKSUM, checked in that order; pk is
 * written only on success. Either case is accepted, even mixed. The last
 * character carries 3 bits and 2 zero bits; non-zero padding bits are
 * reported as CK_E_ADDR_CHECKSUM (a typo like any other), so every key has
 * exactly one address up to case. */
CK_WUR int ck_address_decode(ck_pubkey pk, const char *s);

/* ---- keystore ---------------------------------------------------------- */

/* A keystore file holds one Ed25519 secret key encrypted under a
 * passphrase: Argon2id (crypto_pwhash, at least the INTERACTIVE limits)
 * derives a key for XChaCha20-Poly1305; the public key and the KDF
 * parameters are in clear (authenticated as associated data) so a wallet can
 * list addresses without a passphrase; an outer BLAKE2b checksum tells a
 * corrupted file (CK_E_KS_CORRUPT) from a wrong passphrase
 * (CK_E_PASSPHRASE). Layout in docs/PROTOCOL.md, "Keystore". */
#define CK_KEYSTORE_BYTES 174u  /* a version 1 file */
typedef enum ck_kdf_strength {
	CK_KDF_INTERACTIVE = 0,
	CK_KDF_MODERATE = 1,
	CK_KDF_SENSITIVE = 2,
} ck_kdf_strength;

/* Writes sk encrypted to path: mode 0600, via a temporary file
 * "<path>.tmp-XXXXXX" in the same directory, fsync, link() to path (which,
 * unlike rename(), fails if path appeared meanwhile), unlink of the
 * temporary, fsync of the directory. Fails with CK_E_IO if path exists
 * (never overwrites a key); on CK_E_IO errno says why, and a failure of the
 * final directory fsync leaves the written file in place. CK_E_ARG for an
 * unknown strength, a passphrase over 4 GiB or an sk whose second half is
 * not its public key;
 * CK_E_NOMEM if Argon2 cannot get its memory. Takes about 0.1 s
 * (INTERACTIVE) to several seconds (SENSITIVE). Zeroes every secret it
 * derived. */
CK_WUR int ck_keystore_write(const char *path, const ck_seckey sk, const char *pass,
			     size_t passlen, ck_kdf_strength strength);
/* Reads and decrypts path into sk (the caller should hold sk in
 * sodium_malloc'd memory). CK_E_IO (errno says why), CK_E_KS_CORRUPT (any
 * damage, including a file above LIM_KEYSTORE_BYTES_MAX), CK_E_KS_VERSION,
 * CK_E_KS_PARAMS (KDF other than Argon2id, or limits outside
 * INTERACTIVE..SENSITIVE), CK_E_PASSPHRASE, CK_E_NOMEM, CK_E_ARG (a
 * passphrase over 4 GiB). On failure sk is zeroed. */
CK_WUR int ck_keystore_read(const char *path, const char *pass, size_t passlen,
			    ck_seckey sk);
/* Reads only the public key of a keystore, no passphrase needed; checks
 * the file exactly as ck_keystore_read does short of decrypting it. */
CK_WUR int ck_keystore_pubkey(const char *path, ck_pubkey pk);

#endif
