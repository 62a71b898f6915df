/* The synced safety store (see safety.h). */
#include <errno.h>
#include <lmdb.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/limits.h"
#include "crypto/ck.h"
#include "node/log.h"
#include "node/safety.h"

/* Room for the state, one validValue block and two decided blocks (with
 * certificates) of the largest size, twice over: a write transaction
 * keeps the old copy of what it replaces until it commits. */
#define SAFETY_MAP_BYTES ((size_t)8u * (LIM_BLOCK_BYTES_MAX + 64u * 1024u))
static const char *const record_keys[] = {"safety", "valid", "decided0", "decided1"};

struct node_safety {
	MDB_env *env;
	MDB_dbi dbi;
};

int node_safety_open(node_safety **out, const char *dir)
{
	node_safety *s = calloc(1, sizeof *s);
	MDB_txn *txn = NULL;
	int rc;

	if (s == NULL)
		return -1;
	if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
		NLOG_ERROR("safety_open", "dir=%s err=\"%s\"", dir, strerror(errno));
		goto fail;
	}
	if ((rc = mdb_env_create(&s->env)) != 0 ||
	    (rc = mdb_env_set_mapsize(s->env, SAFETY_MAP_BYTES)) != 0 ||
	    (rc = mdb_env_open(s->env, dir, MDB_NOTLS, 0600)) != 0 ||
	    (rc = mdb_txn_begin(s->env, NULL, 0, &txn)) != 0 ||
	    (rc = mdb_dbi_open(txn, NULL, 0, &s->dbi)) != 0 ||
	    (rc = mdb_txn_commit(txn)) != 0) {
		NLOG_ERROR("safety_open", "dir=%s err=\"%s\"", dir, mdb_strerror(rc));
		if (txn)
			mdb_txn_abort(txn);
		goto fail;
	}
	*out = s;
	return 0;
fail:
	if (s->env)
		mdb_env_close(s->env);
	free(s);
	return -1;
}

void node_safety_close(node_safety *s)
{
	if (s == NULL)
		return;
	mdb_env_close(s->env);
	free(s);
}

int node_safety_load(node_safety *s, enum node_safety_record rec, uint8_t **buf, size_t *len)
{
	MDB_txn *txn;
	MDB_val k = {strlen(record_keys[rec]), (void *)record_keys[rec]}, v;
	ck_hash sum;
	int rc;

	*buf = NULL;
	*len = 0;
	if ((rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn)) != 0) {
		NLOG_ERROR("safety_load", "err=\"%s\"", mdb_strerror(rc));
		return -1;
	}
	rc = mdb_get(txn, s->dbi, &k, &v);
	if (rc == MDB_NOTFOUND) {
		mdb_txn_abort(txn);
		return 0;
	}
	if (rc != 0 || v.mv_size < CK_HASH_BYTES) {
		NLOG_ERROR("safety_load", "err=\"%s\"", rc ? mdb_strerror(rc) : "record too short");
		mdb_txn_abort(txn);
		return -1;
	}
	size_t n = v.mv_size - CK_HASH_BYTES;
	ck_hash_tagged(sum, "safety", v.mv_data, n);
	if (memcmp(sum, (uint8_t *)v.mv_data + n, CK_HASH_BYTES) != 0) {
		NLOG_ERROR("safety_load", "err=\"checksum mismatch: safety state corrupted\"");
		mdb_txn_abort(txn);
		return -1;
	}
	*buf = malloc(n ? n : 1);
	if (*buf == NULL) {
		mdb_txn_abort(txn);
		return -1;
	}
	memcpy(*buf, v.mv_data, n);
	*len = n;
	mdb_txn_abort(txn);
	return 0;
}

static int put_record(node_safety *s, MDB_txn *txn, enum node_safety_record rec,
		      const uint8_t *buf, size_t len)
{
	MDB_val k = {strlen(record_keys[rec]), (void *)record_keys[rec]}, v;
	int rc;
	v.mv_size = len + CK_HASH_BYTES;
	v.mv_data = NULL;
	if ((rc = mdb_put(txn, s->dbi, &k, &v, MDB_RESERVE)) != 0)
		return rc;
	memcpy(v.mv_data, buf, len);
	ck_hash_tagged((uint8_t *)v.mv_data + len, "safety", buf, len);
	return 0;
}

/* Writes up to two records in one synced transaction. Without
 * MDB_NOSYNC, commit returns after fdatasync: durable. */
static int store_records(node_safety *s, enum node_safety_record r1, const uint8_t *b1, size_t l1,
			 enum node_safety_record r2, const uint8_t *b2, size_t l2)
{
	MDB_txn *txn;
	int rc;

	if ((rc = mdb_txn_begin(s->env, NULL, 0, &txn)) != 0)
		goto fail;
	if ((rc = put_record(s, txn, r1, b1, l1)) != 0 ||
	    (b2 && (rc = put_record(s, txn, r2, b2, l2)) != 0)) {
		mdb_txn_abort(txn);
		goto fail;
	}
	if ((rc = mdb_txn_commit(txn)) != 0)
		goto fail;
	return 0;
fail:
	NLOG_ERROR("safety_store", "record=%s err=\"%s\"", record_keys[r1], mdb_strerror(rc));
	return -1;
}

int node_safety_store(node_safety *s, const uint8_t *state, size_t len, const uint8_t *valid,
		      size_t vlen)
{
	return store_records(s, NODE_SAFETY_STATE, state, len, NODE_SAFETY_VALID, valid, vlen);
}

int node_safety_store_one(node_safety *s, enum node_safety_record rec, const uint8_t *buf,
			  size_t len)
{
	return store_records(s, rec, buf, len, rec, NULL, 0);
}
