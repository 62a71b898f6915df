/*
 * The block executed and not yet committed.
 *
 * A block's synced commit is most of its apply time: at half the maximum
 * load a validator spends 60-80 ms of a 100-150 ms apply in
 * mdb_txn_commit, writing and syncing the pages the block rewrote. Height
 * h+1 needs none of that: its header carries the roots and validator sets
 * after h, and a proposal's check needs the next nonce of each sender, all
 * of which are final once h is executed. So ledger_apply_block publishes
 * them here just before the commit, and the next height's header
 * (ledger_next_header), proposal checks (ledger_check_block) and mempool
 * view (ledger_get_account_next) read the state after h through them while
 * the disk syncs. A reader tells which state its LMDB snapshot holds by the
 * snapshot's tip: one behind the executed block, and it adds what is kept
 * here; at it (the commit landed), and it ignores it.
 *
 * Only what those readers need is kept: the accounts' nonces (balances are
 * checked when the block applies, not when it is proposed).
 */
#include <stdlib.h>
#include <string.h>

#include "ledger/state_internal.h"

static int cmp_nonce(const void *x, const void *y)
{
	return memcmp(((const st_nonce *)x)->key, ((const st_nonce *)y)->key, CK_PUBKEY_BYTES);
}

void ledger_set_executed_hook(ledger *l, ledger_executed_fn fn, void *ctx)
{
	pthread_mutex_lock(&l->exec_mu);
	l->exec_fn = fn;
	l->exec_ctx = ctx;
	pthread_mutex_unlock(&l->exec_mu);
}

void st_exec_publish(ledger *l, const ledger_info *after, const st_nonce *nonces, size_t n)
{
	ledger_executed_fn fn;
	void *ctx;

	pthread_mutex_lock(&l->exec_mu);
	l->exec_valid = false;
	fn = l->exec_fn;
	ctx = l->exec_ctx;
	if (fn == NULL) {
		pthread_mutex_unlock(&l->exec_mu);
		return;
	}
	if (n > l->exec_cap) {
		st_nonce *p = realloc(l->exec_nonces, n * sizeof *p);
		if (p == NULL) {
			pthread_mutex_unlock(&l->exec_mu);
			return;
		}
		l->exec_nonces = p;
		l->exec_cap = n;
	}
	if (n > 0) {
		memcpy(l->exec_nonces, nonces, n * sizeof *nonces);
		qsort(l->exec_nonces, n, sizeof *l->exec_nonces, cmp_nonce);
	}
	l->exec_n = n;
	l->exec_info = *after;
	l->exec_valid = true;
	pthread_mutex_unlock(&l->exec_mu);
	/* Outside the lock: the hook may start work that reads through it. */
	fn(ctx, after);
}

void st_exec_drop(ledger *l)
{
	pthread_mutex_lock(&l->exec_mu);
	l->exec_valid = false;
	pthread_mutex_unlock(&l->exec_mu);
}

bool st_exec_nonce(const ledger *l, const ck_pubkey key, uint64_t *nonce)
{
	st_nonce k;
	if (l->exec_n == 0)
		return false;
	memcpy(k.key, key, CK_PUBKEY_BYTES);
	const st_nonce *e = bsearch(&k, l->exec_nonces, l->exec_n, sizeof k, cmp_nonce);
	if (e == NULL)
		return false;
	*nonce = e->nonce;
	return true;
}

int ledger_get_info_next(ledger *l, ledger_info *out)
{
	/* Under the lock: the executed block cannot be dropped (its commit
	 * landed) between reading the tip and deciding to use it. */
	pthread_mutex_lock(&l->exec_mu);
	int rc = ledger_get_info(l, out);
	if (rc == 0 && l->exec_valid && l->exec_info.height == out->height + 1)
		*out = l->exec_info;
	pthread_mutex_unlock(&l->exec_mu);
	return rc;
}

int ledger_get_account_next(ledger *l, const ck_pubkey key, ledger_account *out)
{
	pthread_mutex_lock(&l->exec_mu);
	bool valid = l->exec_valid;
	uint64_t height = l->exec_info.height;
	pthread_mutex_unlock(&l->exec_mu);
	/* Read after the look above: with nothing executed then, the last
	 * executed block's commit had landed (it is dropped only after), so
	 * this read sees it. With one executed, the read may see it
	 * committed or not, and the larger nonce is the one after it. */
	int rc = ledger_get_account(l, key, out);
	if (rc != 0 || !valid)
		return rc;
	uint64_t nonce;
	pthread_mutex_lock(&l->exec_mu);
	bool same = l->exec_valid && l->exec_info.height == height;
	if (same && st_exec_nonce(l, key, &nonce) && nonce > out->nonce)
		out->nonce = nonce;
	pthread_mutex_unlock(&l->exec_mu);
	/* Dropped (or replaced) in between: its commit landed, and the read
	 * may have been older. A new read sees it (review H7). */
	if (!same)
		return ledger_get_account_next(l, key, out);
	return 0;
}
