/*
 * Account proofs: checking and the wire codec. Kept apart from the state
 * code because a verifier (the wallet, a bank) needs none of the ledger:
 * only the proof bytes and a state root it trusts from a certified header.
 * ledger_prove_account() lives with the state, which owns the map.
 *
 * Contract with the state code (the state root commits to accounts this
 * way; changing it changes every root):
 *
 *   key   = smt_key(LEDGER_TABLE_ACCOUNT, pubkey, 32)
 *   value = smt_value(canonical msgpack [balance_g, nonce])
 *
 * where [balance_g, nonce] is a two-element array of unsigned integers in
 * their shortest form, exactly as cm_wr writes it. An account with no entry
 * in the map has no proof (ledger_prove_account() answers
 * LEDGER_E_NOTFOUND); a zero balance is still an entry if the state keeps it.
 *
 * Sibling order: bits[0], siblings[0] belong to the internal node nearest
 * the leaf, the last pair to the root's node, as smt_prove() writes them, so
 * bits strictly decrease along the array (they strictly increase from the
 * root down in the trie). The wire form keeps this order:
 *
 *   [account bin32, height, balance_g, nonce, state_root bin32,
 *    [[bit, sibling bin32], ...]]       at most 256 pairs, bit 0..255,
 *                                       each bit below the previous one
 *
 * The decoder rejects any other order, so one proof has one encoding.
 */
#include <assert.h>
#include <string.h>

#include "ledger/ledger.h"
#include "ledger/smt.h"
#include "ledger/tables.h"

#define PROOF_SIBLINGS_MAX 256u
_Static_assert(sizeof(((ledger_account_proof *)0)->bits) == PROOF_SIBLINGS_MAX,
	       "a proof has at most one sibling per key bit");
_Static_assert(sizeof(((ledger_account_proof *)0)->siblings) ==
		       PROOF_SIBLINGS_MAX * sizeof(ck_hash),
	       "a proof has at most one sibling per key bit");

int ledger_verify_account_proof(const ledger_account_proof *p)
{
	assert(p != NULL);
	if (p->nsiblings > PROOF_SIBLINGS_MAX)
		return LEDGER_E_PROOF;

	ck_hash key, value;
	smt_key(key, LEDGER_TABLE_ACCOUNT, p->account, CK_PUBKEY_BYTES);

	cm_wr w;
	cm_wr_init(&w);
	cm_wr_array(&w, 2);
	cm_wr_uint(&w, p->balance_g);
	cm_wr_uint(&w, p->nonce);
	int rc = cm_wr_error(&w);
	if (rc != 0) {
		rc = LEDGER_E_NOMEM;
		goto fail;
	}
	smt_value(value, cm_wr_data(&w), cm_wr_len(&w));
	rc = smt_verify(p->state_root, key, value, p->nsiblings, p->bits, p->siblings);
fail:
	cm_wr_free(&w);
	return rc;
}

void ledger_account_proof_encode(const ledger_account_proof *p, cm_wr *w)
{
	assert(p != NULL);
	assert(w != NULL);
	assert(p->nsiblings <= PROOF_SIBLINGS_MAX);
	cm_wr_array(w, 6);
	cm_wr_bin(w, p->account, CK_PUBKEY_BYTES);
	cm_wr_uint(w, p->height);
	cm_wr_uint(w, p->balance_g);
	cm_wr_uint(w, p->nonce);
	cm_wr_bin(w, p->state_root, CK_HASH_BYTES);
	cm_wr_array(w, p->nsiblings);
	for (uint32_t i = 0; i < p->nsiblings; i++) {
		/* Encoding what the decoder would refuse is our bug. */
		assert(i == 0 || p->bits[i] < p->bits[i - 1]);
		cm_wr_array(w, 2);
		cm_wr_uint(w, p->bits[i]);
		cm_wr_bin(w, p->siblings[i], CK_HASH_BYTES);
	}
}

int ledger_account_proof_decode(const uint8_t *buf, size_t len, ledger_account_proof *out)
{
	assert(buf != NULL || len == 0);
	assert(out != NULL);
	ledger_account_proof p;
	memset(&p, 0, sizeof p);
	cm_rd r;
	cm_rd_init(&r, buf, len);
	int rc;
	uint32_t n;

	if ((rc = cm_rd_array_exact(&r, 6)) != 0 ||
	    (rc = cm_rd_bin_fixed(&r, p.account, CK_PUBKEY_BYTES)) != 0 ||
	    (rc = cm_rd_uint(&r, &p.height)) != 0 ||
	    (rc = cm_rd_uint(&r, &p.balance_g)) != 0 ||
	    (rc = cm_rd_uint(&r, &p.nonce)) != 0 ||
	    (rc = cm_rd_bin_fixed(&r, p.state_root, CK_HASH_BYTES)) != 0 ||
	    (rc = cm_rd_array(&r, &n, PROOF_SIBLINGS_MAX)) != 0)
		return rc;
	for (uint32_t i = 0; i < n; i++) {
		uint64_t bit;
		if ((rc = cm_rd_array_exact(&r, 2)) != 0 ||
		    (rc = cm_rd_uint_max(&r, 255, &bit)) != 0)
			return rc;
		if (i > 0 && bit >= p.bits[i - 1])
			return CM_E_RANGE;
		p.bits[i] = (uint8_t)bit;
		if ((rc = cm_rd_bin_fixed(&r, p.siblings[i], CK_HASH_BYTES)) != 0)
			return rc;
	}
	if ((rc = cm_rd_end(&r)) != 0)
		return rc;
	p.nsiblings = n;
	*out = p;
	return 0;
}
