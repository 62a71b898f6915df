/*
 * ledger_reindex(): rebuilds the query indexes from the stored blocks. The
 * indexes record what the rules computed (per-trip credits after caps, the
 * balance a recovery moved, the member behind a key at the time), which
 * the blocks and results alone do not say, so the only faithful rebuild is
 * to run the rules again: every stored block is applied, from the genesis,
 * to a scratch ledger in a subdirectory of the data directory, each
 * block's results are compared with the stored ones, the final state root
 * with the tip's, and the scratch ledger's indexes then replace the live
 * ones in one write transaction (the history heads, local rows of
 * "state", row by row). Separate from apply.c because it only drives
 * ledger_apply_block() and copies databases.
 */
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ledger/state_internal.h"

#define REINDEX_DIR "reindex.tmp"

/* The query indexes with databases of their own (docs/ARCHITECTURE.md,
 * "Storage layout"); the history heads are in "state" (copy_heads). */
static const size_t index_dbs[] = {
	offsetof(ledger, db_txidx),    offsetof(ledger, db_hist),    offsetof(ledger, db_itrips),
	offsetof(ledger, db_receipts), offsetof(ledger, db_valsets), offsetof(ledger, db_txids),
};

static MDB_dbi dbi_at(const ledger *l, size_t off) { return *(const MDB_dbi *)((const char *)l + off); }

/* Removes the scratch directory (LMDB's two files, then the directory);
 * absent is fine. */
static int rm_scratch(const char *dir)
{
	static const char *const files[] = { "data.mdb", "lock.mdb" };
	char p[PATH_MAX];
	/* The scratch ledger's state-root leaves' cache first (its
	 * subdirectory). */
	if (st_cache_remove(dir) != 0)
		return LEDGER_E_DB;
	for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
		snprintf(p, sizeof p, "%s/%s", dir, files[i]);
		if (unlink(p) != 0 && errno != ENOENT) {
			fprintf(stderr, "ledger: reindex: unlink %s: %s\n", p, strerror(errno));
			return LEDGER_E_DB;
		}
	}
	if (rmdir(dir) != 0 && errno != ENOENT) {
		fprintf(stderr, "ledger: reindex: rmdir %s: %s\n", dir, strerror(errno));
		return LEDGER_E_DB;
	}
	return 0;
}

/* Whether the stored results of height are res (their canonical bytes;
 * stored ones that do not unpack are not). */
static int same_results(ledger *l, uint64_t height, const ledger_results *res, bool *same)
{
	MDB_txn *txn;
	uint8_t kb[8];
	MDB_val k = { sizeof kb, kb }, v;
	cm_wr w, sw;
	int urc, rc = st_rtxn(l, &txn);
	if (rc != 0)
		return rc;
	st_be64(kb, height);
	cm_wr_init(&w);
	cm_wr_init(&sw);
	ledger_results_encode(res, &w);
	int mrc = mdb_get(txn, l->db_results, &k, &v);
	if (cm_wr_error(&w)) {
		rc = LEDGER_E_NOMEM;
	} else if (mrc != 0) {
		rc = st_dberr(mrc, "reindex: read results");
	} else if ((urc = st_results_unpack(v.mv_data, v.mv_size, &sw)) == LEDGER_E_NOMEM) {
		rc = urc;
	} else if (urc != 0) {
		*same = false;
	} else {
		*same = cm_wr_len(&sw) == cm_wr_len(&w) &&
			memcmp(cm_wr_data(&sw), cm_wr_data(&w), cm_wr_len(&w)) == 0;
	}
	cm_wr_free(&w);
	cm_wr_free(&sw);
	mdb_txn_abort(txn);
	return rc;
}

/* Applies stored block height of l to the scratch ledger s. */
static int replay_block(ledger *l, ledger *s, uint64_t height)
{
	uint8_t *bytes = NULL, *cert = NULL;
	size_t len, certlen;
	ledger_block *b = NULL;
	ledger_results res = { 0, NULL };
	bool same = false;
	int rc;

	if ((rc = ledger_get_block(l, height, &bytes, &len, &cert, &certlen)) != 0 ||
	    (rc = ledger_block_decode(bytes, len, l->chain_id, &b)) != 0)
		goto done;
	if ((rc = ledger_apply_block(s, b, cert, certlen, &res)) != 0) {
		fprintf(stderr, "ledger: reindex: stored block %llu does not apply: %s\n",
			(unsigned long long)height, ledger_strerror(rc));
		rc = LEDGER_E_DB;
		goto done;
	}
	if ((rc = same_results(l, height, &res, &same)) != 0)
		goto done;
	if (!same) {
		fprintf(stderr, "ledger: reindex: block %llu gives other results than stored\n",
			(unsigned long long)height);
		rc = LEDGER_E_DB;
	}
done:
	ledger_results_free(&res);
	ledger_block_free(b);
	free(bytes);
	free(cert);
	return rc;
}

/* Empties dst and fills it with every entry of src, in key order (so each
 * is appended). */
static int copy_db(MDB_txn *from, MDB_dbi src, MDB_txn *to, MDB_dbi dst)
{
	MDB_cursor *c;
	MDB_val k, v;
	int rc = mdb_drop(to, dst, 0);
	if (rc != 0 || (rc = mdb_cursor_open(from, src, &c)) != 0)
		return st_dberr(rc, "reindex: copy an index");
	for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(c, &k, &v, MDB_NEXT))
		if ((rc = mdb_put(to, dst, &k, &v, MDB_APPEND)) != 0)
			break;
	mdb_cursor_close(c);
	if (rc != MDB_NOTFOUND)
		return st_dberr(rc, "reindex: copy an index");
	return 0;
}

/* Replaces the history heads of "state" in to (dst) with those of from
 * (src): deletes every local row of dst's account range, then puts src's.
 * The consensus rows are not touched (the replay ended at the same root). */
static int copy_heads(MDB_txn *from, MDB_dbi src, MDB_txn *to, MDB_dbi dst)
{
	uint8_t first = LEDGER_TABLE_ACCOUNT;
	MDB_cursor *c;
	MDB_val k = { 1, &first }, v;
	int rc = mdb_cursor_open(to, dst, &c);
	if (rc != 0)
		return st_dberr(rc, "reindex: copy the history heads");
	/* After mdb_cursor_del the cursor stands on the next row, which
	 * MDB_NEXT then returns. */
	for (rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE); rc == 0;
	     rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		if (((const uint8_t *)k.mv_data)[0] != LEDGER_TABLE_ACCOUNT)
			break;
		if (st_state_local(&k) && (rc = mdb_cursor_del(c, 0)) != 0)
			break;
	}
	mdb_cursor_close(c);
	if (rc != 0 && rc != MDB_NOTFOUND)
		return st_dberr(rc, "reindex: drop the history heads");
	k = (MDB_val){ 1, &first };
	if ((rc = mdb_cursor_open(from, src, &c)) != 0)
		return st_dberr(rc, "reindex: copy the history heads");
	for (rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE); rc == 0;
	     rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		if (((const uint8_t *)k.mv_data)[0] != LEDGER_TABLE_ACCOUNT)
			break;
		if (st_state_local(&k) && (rc = mdb_put(to, dst, &k, &v, 0)) != 0)
			break;
	}
	mdb_cursor_close(c);
	if (rc != 0 && rc != MDB_NOTFOUND)
		return st_dberr(rc, "reindex: copy the history heads");
	return 0;
}

int ledger_reindex(ledger *l)
{
	const char *path;
	char dir[PATH_MAX];
	ledger *s = NULL;
	bool scratch = false;
	MDB_txn *from = NULL, *to = NULL;
	MDB_envinfo env;
	st_tip tip;
	ledger_info mine;
	int rc;

	/* Blocks wait: the replay must end at the tip it started from. */
	pthread_mutex_lock(&l->mu);
	if ((rc = mdb_env_get_path(l->env, &path)) != 0 || (rc = mdb_env_info(l->env, &env)) != 0) {
		rc = st_dberr(rc, "reindex: environment");
		goto done;
	}
	if ((size_t)snprintf(dir, sizeof dir, "%s/%s", path, REINDEX_DIR) >= sizeof dir) {
		fprintf(stderr, "ledger: reindex: path too long\n");
		rc = LEDGER_E_DB;
		goto done;
	}
	/* A scratch ledger left by an interrupted run is started afresh. */
	if ((rc = rm_scratch(dir)) != 0)
		goto done;
	ledger_options opt = { .map_bytes = env.me_mapsize, .nosync = true };
	scratch = true;
	if ((rc = ledger_open(&s, dir, &l->genesis, &opt)) != 0 ||
	    (rc = st_rtxn(l, &from)) != 0)
		goto done;
	rc = st_get_tip(l, from, &tip);
	mdb_txn_abort(from);
	from = NULL;
	if (rc != 0)
		goto done;
	for (uint64_t h = 1; h <= tip.height; h++)
		if ((rc = replay_block(l, s, h)) != 0)
			goto done;
	if ((rc = ledger_get_info(s, &mine)) != 0)
		goto done;
	if (mine.height != tip.height || memcmp(mine.state_root, tip.state_root, CK_HASH_BYTES) != 0 ||
	    memcmp(mine.last_block_hash, tip.last_hash, CK_HASH_BYTES) != 0) {
		fprintf(stderr, "ledger: reindex: the replay ends at another state than the tip\n");
		rc = LEDGER_E_DB;
		goto done;
	}

	if ((rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &from)) != 0 ||
	    (rc = mdb_txn_begin(l->env, NULL, 0, &to)) != 0) {
		rc = st_dberr(rc, "reindex: begin");
		goto done;
	}
	for (size_t i = 0; i < sizeof index_dbs / sizeof index_dbs[0]; i++)
		if ((rc = copy_db(from, dbi_at(s, index_dbs[i]), to, dbi_at(l, index_dbs[i]))) != 0)
			goto done;
	if ((rc = copy_heads(from, s->db_state, to, l->db_state)) != 0)
		goto done;
	rc = mdb_txn_commit(to);
	to = NULL;
	if (rc != 0)
		rc = st_dberr(rc, "reindex: commit");
done:
	if (to != NULL)
		mdb_txn_abort(to);
	if (from != NULL)
		mdb_txn_abort(from);
	ledger_close(s);
	if (scratch) {
		int rrc = rm_scratch(dir);
		if (rc == 0)
			rc = rrc;
	}
	pthread_mutex_unlock(&l->mu);
	return rc;
}
