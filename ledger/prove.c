/*
 * ledger_prove_account(): a membership proof of an account's state entry
 * against the state root after the current height. Lives apart from
 * proof.c (the pure verifier and codec) because it needs the open ledger:
 * the map's top, its leaves and the account row must be read as one
 * snapshot, so all are taken under the lock that block application holds
 * until it committed.
 */
#include <string.h>

#include "ledger/state_internal.h"

int ledger_prove_account(ledger *l, const ck_pubkey key, ledger_account_proof *out)
{
	MDB_txn *txn = NULL, *ctxn = NULL;
	st_account a;
	st_tip tip;
	MDB_val v;
	int rc;

	memset(out, 0, sizeof *out);
	pthread_mutex_lock(&l->mu);
	/* Both snapshots under mu: the leaves are those of the main one's
	 * tip (apply commits both before it lets go). */
	if ((rc = st_rtxn(l, &txn)) != 0 || (rc = st_cache_rtxn(l, &ctxn)) != 0)
		goto done;
	if ((rc = st_get_tip(l, txn, &tip)) != 0)
		goto done;
	/* An account without an entry has no proof (proof.c's contract). */
	if ((rc = st_get(l, txn, LEDGER_TABLE_ACCOUNT, key, CK_PUBKEY_BYTES, &v)) != 0 ||
	    (rc = st_dec_account(&v, &a)) != 0)
		goto done;
	ck_hash sk, root;
	smt_key(sk, LEDGER_TABLE_ACCOUNT, key, CK_PUBKEY_BYTES);
	smt_root(l->tree, root);
	/* The map is the committed state here: apply holds the lock until
	 * its transaction committed or rolled back. */
	if (memcmp(root, tip.state_root, CK_HASH_BYTES) != 0) {
		rc = LEDGER_E_DB;
		goto done;
	}
	if ((rc = smt_prove(l->tree, ctxn, sk, &out->nsiblings, out->bits, out->siblings)) != 0)
		goto done;
	memcpy(out->account, key, CK_PUBKEY_BYTES);
	out->height = tip.height;
	out->balance_g = a.balance_g;
	out->nonce = a.nonce;
	memcpy(out->state_root, root, CK_HASH_BYTES);
done:
	if (ctxn != NULL)
		mdb_txn_abort(ctxn);
	if (txn != NULL)
		mdb_txn_abort(txn);
	pthread_mutex_unlock(&l->mu);
	return rc;
}
