/*
 * The ledger's state on LMDB: opening a data directory (creating it from
 * genesis when new, loading or rebuilding the state-root map and its
 * cache of leaves when not), the codecs of
 * the state values, and every read-only query. The rules that change the
 * state live in apply.c; the layout is described in state_internal.h.
 */
#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ledger/state_internal.h"

#define ST_MAP_BYTES_DEFAULT ((size_t)8 << 30)
#define ST_MAX_DBS 16u

#define CHAIN_GENESIS "genesis"
#define CHAIN_TIP "tip"
#define CHAIN_LAYOUT "layout"

/* Version of the data directory's layout (docs/ARCHITECTURE.md, "Storage
 * layout"), kept in "chain": 2 since the credited trips moved from "state"
 * to "trips" and the history became a log; 3 since "valsets" keeps the
 * validators of every height; 4 since the state root's leaves are stored
 * ("smt", now in the cache beside the environment, which a version 4
 * directory without it rebuilds) and the query indexes are compact; 5
 * since the history heads are local rows of "state" (st_head_key), not the
 * database "histhead".
 * Another version is refused (LEDGER_E_LAYOUT): a directory without one
 * would hide its trips, a version 2 one would answer ledger_get_valset
 * wrongly for every height before it was opened, a version 3 one has
 * indexes of another format, a version 4 one would answer every history
 * as empty (and its blocks would restart each account's chain of
 * entries). */
#define ST_LAYOUT_VERSION 5u

int st_dberr(int mdbrc, const char *ctx)
{
	fprintf(stderr, "ledger: %s: %s\n", ctx, mdb_strerror(mdbrc));
	if (mdbrc == MDB_MAP_FULL)
		return LEDGER_E_MAP_FULL;
	return LEDGER_E_DB;
}

static int corrupt(const char *what)
{
	fprintf(stderr, "ledger: corrupt state value (%s)\n", what);
	return LEDGER_E_DB;
}

int st_rtxn(ledger *l, MDB_txn **txn)
{
	int rc = mdb_txn_begin(l->env, NULL, MDB_RDONLY, txn);
	if (rc != 0)
		return st_dberr(rc, "begin read transaction");
	return 0;
}

/* ---- raw state access --------------------------------------------------- */

static size_t st_mkkey(uint8_t *buf, uint8_t table, const void *key, size_t klen)
{
	assert(klen + 1 <= ST_KEY_BYTES_MAX);
	buf[0] = table;
	if (klen > 0)
		memcpy(buf + 1, key, klen);
	return klen + 1;
}

int st_get(ledger *l, MDB_txn *txn, uint8_t table, const void *key, size_t klen, MDB_val *val)
{
	uint8_t kb[ST_KEY_BYTES_MAX];
	MDB_val k = { st_mkkey(kb, table, key, klen), kb };
	int rc = mdb_get(txn, l->db_state, &k, val);
	if (rc == MDB_NOTFOUND)
		return LEDGER_E_NOTFOUND;
	if (rc != 0)
		return st_dberr(rc, "read state");
	return 0;
}

static int queue(ledger *l, const ck_hash sk, const ck_hash sv, bool del)
{
	if (l->npend == l->cappend) {
		size_t cap = l->cappend ? 2 * l->cappend : 4096;
		st_pending *p = realloc(l->pend, cap * sizeof *p);
		if (p == NULL)
			return LEDGER_E_NOMEM;
		l->pend = p;
		l->cappend = cap;
	}
	st_pending *e = &l->pend[l->npend];
	memcpy(e->key, sk, CK_HASH_BYTES);
	if (!del)
		memcpy(e->value, sv, CK_HASH_BYTES);
	e->del = del;
	assert(l->npend < UINT32_MAX);
	e->seq = (uint32_t)l->npend++;
	return 0;
}

static int cmp_pending(const void *a, const void *b)
{
	const st_pending *x = a, *y = b;
	int c = memcmp(x->key, y->key, CK_HASH_BYTES);
	if (c != 0)
		return c;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

void st_batch(ledger *l)
{
	assert(!l->batching);
	assert(l->npend == 0);
	l->batching = true;
}

/* A cache that could not be rebuilt after a failed commit is closed until
 * the ledger is reopened. */
static int cache_gone(void)
{
	fprintf(stderr, "ledger: the state-root leaves' cache is unusable: reopen the ledger to "
		"rebuild it\n");
	return LEDGER_E_DB;
}

int st_flush(ledger *l)
{
	assert(l->batching);
	assert(l->ctxn == NULL);
	size_t n = l->npend, m = 0;
	int rc;
	l->batching = false;
	l->npend = 0;
	if (l->cenv == NULL)
		return cache_gone();
	if (n > l->capchg) {
		smt_change *c = realloc(l->chg, n * sizeof *c);
		if (c == NULL)
			return LEDGER_E_NOMEM;
		l->chg = c;
		l->capchg = n;
	}
	if (n > 1)
		qsort(l->pend, n, sizeof *l->pend, cmp_pending);
	/* The last change of each key wins. */
	for (size_t i = 0; i < n; i++) {
		if (i + 1 < n && memcmp(l->pend[i].key, l->pend[i + 1].key, CK_HASH_BYTES) == 0)
			continue;
		smt_change *c = &l->chg[m++];
		memcpy(c->key, l->pend[i].key, CK_HASH_BYTES);
		if (!l->pend[i].del)
			memcpy(c->value, l->pend[i].value, CK_HASH_BYTES);
		c->del = l->pend[i].del;
	}
	/* Begun here, after the rules ran, so that the cache's write lock is
	 * held only for the leaf writes; committed by st_cache_commit once
	 * the block's own transaction has. */
	if ((rc = mdb_txn_begin(l->cenv, NULL, 0, &l->ctxn)) != 0) {
		l->ctxn = NULL;
		return st_dberr(rc, "begin the state-root leaves' transaction");
	}
	return smt_update(l->tree, l->ctxn, l->chg, m);
}

void st_discard(ledger *l)
{
	l->batching = false;
	l->npend = 0;
	if (l->ctxn != NULL)
		mdb_txn_abort(l->ctxn);
	l->ctxn = NULL;
}

int st_root_put(ledger *l, uint8_t table, const void *key, size_t klen, const void *val,
		size_t vlen)
{
	ck_hash sk, sv;
	smt_key(sk, table, key, klen);
	smt_value(sv, val, vlen);
	assert(l->batching);
	return queue(l, sk, sv, false);
}

int st_root_del(ledger *l, uint8_t table, const void *key, size_t klen)
{
	ck_hash sk;
	smt_key(sk, table, key, klen);
	assert(l->batching);
	return queue(l, sk, NULL, true);
}

int st_put(ledger *l, MDB_txn *txn, uint8_t table, const void *key, size_t klen,
	   const void *val, size_t vlen)
{
	uint8_t kb[ST_KEY_BYTES_MAX];
	MDB_val k = { st_mkkey(kb, table, key, klen), kb };
	MDB_val v = { vlen, (void *)val };
	int rc = mdb_put(txn, l->db_state, &k, &v, 0);
	if (rc != 0)
		return st_dberr(rc, "write state");
	return st_root_put(l, table, key, klen, val, vlen);
}

int st_del(ledger *l, MDB_txn *txn, uint8_t table, const void *key, size_t klen)
{
	uint8_t kb[ST_KEY_BYTES_MAX];
	MDB_val k = { st_mkkey(kb, table, key, klen), kb };
	int rc = mdb_del(txn, l->db_state, &k, NULL);
	if (rc == MDB_NOTFOUND)
		return LEDGER_E_NOTFOUND;
	if (rc != 0)
		return st_dberr(rc, "delete state");
	return st_root_del(l, table, key, klen);
}

int st_head_get(ledger *l, MDB_txn *txn, const ck_pubkey account, uint64_t *loc, uint16_t *slot)
{
	uint8_t kb[ST_HEAD_KEY_BYTES];
	MDB_val k = { sizeof kb, kb }, v;
	st_head_key(kb, account);
	int mrc = mdb_get(txn, l->db_state, &k, &v);
	*loc = 0;
	*slot = 0;
	if (mrc == MDB_NOTFOUND)
		return 0;
	if (mrc != 0)
		return st_dberr(mrc, "read history head");
	const uint8_t *p = v.mv_data;
	if (v.mv_size != ST_HIST_HEAD_BYTES || st_rd64(p) == 0)
		return corrupt("history head");
	*loc = st_rd64(p);
	*slot = (uint16_t)(p[8] << 8 | p[9]);
	return 0;
}

int st_head_put(ledger *l, MDB_txn *txn, const ck_pubkey account, uint64_t loc, uint16_t slot)
{
	uint8_t kb[ST_HEAD_KEY_BYTES], vb[ST_HIST_HEAD_BYTES];
	assert(loc != 0);
	st_head_key(kb, account);
	st_hist_key(vb, loc, slot);
	MDB_val k = { sizeof kb, kb }, v = { sizeof vb, vb };
	int mrc = mdb_put(txn, l->db_state, &k, &v, 0);
	if (mrc != 0)
		return st_dberr(mrc, "write history head");
	return 0;
}

int st_root_trip(ledger *l, const ck_hash id, const st_trip *t, const MDB_val *rec)
{
	uint8_t ik[CK_PUBKEY_BYTES + 8];
	cm_wr *w = &l->iwr;
	int rc;
	memcpy(ik, t->citizen, CK_PUBKEY_BYTES);
	st_be64(ik + CK_PUBKEY_BYTES, t->start_s);
	if (rec == NULL) {
		if ((rc = st_root_del(l, LEDGER_TABLE_TRIP, id, CK_HASH_BYTES)) != 0)
			return rc;
		return st_root_del(l, LEDGER_TABLE_INTERVAL, ik, sizeof ik);
	}
	if ((rc = st_root_put(l, LEDGER_TABLE_TRIP, id, CK_HASH_BYTES, rec->mv_data,
			      rec->mv_size)) != 0)
		return rc;
	cm_wr_reset(w);
	st_enc_interval(w, t->end_s);
	if (cm_wr_error(w))
		return LEDGER_E_NOMEM;
	return st_root_put(l, LEDGER_TABLE_INTERVAL, ik, sizeof ik, cm_wr_data(w), cm_wr_len(w));
}

int st_find_trip(ledger *l, MDB_txn *txn, const ck_hash id, MDB_val *rec, uint8_t *key)
{
	uint8_t kb[ST_TRIP_KEY_BYTES];
	size_t it = 0;
	ts_loc loc;
	/* Every candidate whose id hash matches; the key, which holds the
	 * whole id, decides. */
	while (ts_find(l->trips, id, &it, &loc)) {
		st_trip_key(kb, loc.endday, loc.height, id);
		MDB_val k = { sizeof kb, kb };
		int rc = mdb_get(txn, l->db_trips, &k, rec);
		if (rc == MDB_NOTFOUND)
			continue;
		if (rc != 0)
			return st_dberr(rc, "read trips");
		if (key != NULL)
			memcpy(key, kb, sizeof kb);
		return 0;
	}
	return LEDGER_E_NOTFOUND;
}

/* ---- value codecs --------------------------------------------------------- */

#define RD(x)                                                                  \
	do {                                                                   \
		if ((x) != 0)                                                  \
			goto bad;                                              \
	} while (0)

static void rd_val(cm_rd *r, const MDB_val *v) { cm_rd_init(r, v->mv_data, v->mv_size); }

void st_enc_account(cm_wr *w, const st_account *a)
{
	/* proof.c derives the account leaf from exactly these bytes. */
	cm_wr_array(w, 2);
	cm_wr_uint(w, a->balance_g);
	cm_wr_uint(w, a->nonce);
}

int st_dec_account(const MDB_val *v, st_account *a)
{
	cm_rd r;
	rd_val(&r, v);
	RD(cm_rd_array_exact(&r, 2));
	RD(cm_rd_uint(&r, &a->balance_g));
	RD(cm_rd_uint(&r, &a->nonce));
	RD(cm_rd_end(&r));
	return 0;
bad:
	return corrupt("account");
}

void st_enc_keyreg(cm_wr *w, const st_keyreg *k)
{
	cm_wr_array(w, 2);
	cm_wr_uint(w, k->member_id);
	cm_wr_bool(w, k->revoked);
}

int st_dec_keyreg(const MDB_val *v, st_keyreg *k)
{
	cm_rd r;
	uint64_t id;
	rd_val(&r, v);
	RD(cm_rd_array_exact(&r, 2));
	RD(cm_rd_uint_max(&r, UINT32_MAX, &id));
	RD(cm_rd_bool(&r, &k->revoked));
	RD(cm_rd_end(&r));
	k->member_id = (uint32_t)id;
	return 0;
bad:
	return corrupt("key registration");
}

void st_enc_member(cm_wr *w, const ledger_member *m)
{
	cm_wr_array(w, 6);
	cm_wr_uint(w, m->id);
	cm_wr_str(w, m->name, strlen(m->name));
	cm_wr_uint(w, m->roles);
	cm_wr_uint(w, m->modes);
	cm_wr_array(w, m->nkeys);
	for (uint32_t i = 0; i < m->nkeys; i++)
		cm_wr_bin(w, m->keys[i], CK_PUBKEY_BYTES);
	cm_wr_str(w, m->p2p_addr, strlen(m->p2p_addr));
}

int st_dec_member(const MDB_val *v, ledger_member *m)
{
	cm_rd r;
	uint64_t x;
	memset(m, 0, sizeof *m);
	rd_val(&r, v);
	RD(cm_rd_array_exact(&r, 6));
	RD(cm_rd_uint_max(&r, UINT32_MAX, &x));
	m->id = (uint32_t)x;
	RD(cm_rd_str_copy(&r, m->name, LIM_NAME_BYTES_MAX));
	RD(cm_rd_uint_max(&r, UINT32_MAX, &x));
	m->roles = (uint32_t)x;
	RD(cm_rd_uint_max(&r, UINT32_MAX, &x));
	m->modes = (uint32_t)x;
	RD(cm_rd_array(&r, &m->nkeys, LIM_MEMBER_KEYS_MAX));
	for (uint32_t i = 0; i < m->nkeys; i++)
		RD(cm_rd_bin_fixed(&r, m->keys[i], CK_PUBKEY_BYTES));
	RD(cm_rd_str_copy(&r, m->p2p_addr, LIM_NAME_BYTES_MAX));
	RD(cm_rd_end(&r));
	return 0;
bad:
	return corrupt("member");
}

void st_enc_methodology(cm_wr *w, const ledger_methodology *m)
{
	cm_wr_array(w, 6);
	cm_wr_uint(w, m->version);
	cm_wr_uint(w, m->effective_height);
	cm_wr_array(w, LEDGER_MODE_MAX);
	for (unsigned i = 1; i <= LEDGER_MODE_MAX; i++) {
		const ledger_mode_params *p = &m->mode[i];
		cm_wr_array(w, 5);
		cm_wr_bool(w, p->enabled);
		cm_wr_uint(w, p->reduction_mg_per_km);
		cm_wr_uint(w, p->min_distance_m);
		cm_wr_uint(w, p->max_speed_kmh);
		cm_wr_uint(w, p->daily_cap_g);
	}
	cm_wr_uint(w, m->daily_cap_g);
	cm_wr_uint(w, m->claim_before_s);
	cm_wr_uint(w, m->claim_after_s);
}

int st_dec_methodology(const MDB_val *v, ledger_methodology *m)
{
	cm_rd r;
	uint64_t x;
	memset(m, 0, sizeof *m);
	rd_val(&r, v);
	RD(cm_rd_array_exact(&r, 6));
	RD(cm_rd_uint_max(&r, UINT32_MAX, &x));
	m->version = (uint32_t)x;
	RD(cm_rd_uint(&r, &m->effective_height));
	RD(cm_rd_array_exact(&r, LEDGER_MODE_MAX));
	for (unsigned i = 1; i <= LEDGER_MODE_MAX; i++) {
		ledger_mode_params *p = &m->mode[i];
		RD(cm_rd_array_exact(&r, 5));
		RD(cm_rd_bool(&r, &p->enabled));
		RD(cm_rd_uint_max(&r, UINT32_MAX, &x));
		p->reduction_mg_per_km = (uint32_t)x;
		RD(cm_rd_uint_max(&r, UINT32_MAX, &x));
		p->min_distance_m = (uint32_t)x;
		RD(cm_rd_uint_max(&r, UINT32_MAX, &x));
		p->max_speed_kmh = (uint32_t)x;
		RD(cm_rd_uint_max(&r, UINT32_MAX, &x));
		p->daily_cap_g = (uint32_t)x;
	}
	RD(cm_rd_uint_max(&r, UINT32_MAX, &x));
	m->daily_cap_g = (uint32_t)x;
	RD(cm_rd_uint_max(&r, UINT32_MAX, &x));
	m->claim_before_s = (uint32_t)x;
	RD(cm_rd_uint_max(&r, UINT32_MAX, &x));
	m->claim_after_s = (uint32_t)x;
	RD(cm_rd_end(&r));
	return 0;
bad:
	return corrupt("methodology");
}

void st_enc_trip(cm_wr *w, const st_trip *t)
{
	cm_wr_array(w, 8);
	cm_wr_uint(w, t->height);
	cm_wr_uint(w, t->issuer_member_id);
	cm_wr_bin(w, t->citizen, CK_PUBKEY_BYTES);
	cm_wr_uint(w, t->mode);
	cm_wr_uint(w, t->methodology_version);
	cm_wr_uint(w, t->credited_g);
	cm_wr_uint(w, t->start_s);
	cm_wr_uint(w, t->end_s);
}

int st_dec_trip(const MDB_val *v, st_trip *t)
{
	cm_rd r;
	uint64_t x;
	rd_val(&r, v);
	RD(cm_rd_array_exact(&r, 8));
	RD(cm_rd_uint(&r, &t->height));
	RD(cm_rd_uint_max(&r, UINT32_MAX, &x));
	t->issuer_member_id = (uint32_t)x;
	RD(cm_rd_bin_fixed(&r, t->citizen, CK_PUBKEY_BYTES));
	RD(cm_rd_uint_max(&r, LEDGER_MODE_MAX, &x));
	t->mode = (uint8_t)x;
	RD(cm_rd_uint_max(&r, UINT32_MAX, &x));
	t->methodology_version = (uint32_t)x;
	RD(cm_rd_uint(&r, &t->credited_g));
	RD(cm_rd_uint(&r, &t->start_s));
	RD(cm_rd_uint(&r, &t->end_s));
	RD(cm_rd_end(&r));
	return 0;
bad:
	return corrupt("trip");
}

void st_enc_interval(cm_wr *w, uint64_t end_s) { cm_wr_uint(w, end_s); }

void st_enc_cap(cm_wr *w, const st_cap *c)
{
	cm_wr_array(w, LEDGER_MODE_MAX + 1);
	for (unsigned i = 0; i <= LEDGER_MODE_MAX; i++)
		cm_wr_uint(w, c->g[i]);
}

int st_dec_cap(const MDB_val *v, st_cap *c)
{
	cm_rd r;
	rd_val(&r, v);
	RD(cm_rd_array_exact(&r, LEDGER_MODE_MAX + 1));
	for (unsigned i = 0; i <= LEDGER_MODE_MAX; i++)
		RD(cm_rd_uint(&r, &c->g[i]));
	RD(cm_rd_end(&r));
	return 0;
bad:
	return corrupt("daily cap");
}

void st_enc_offer(cm_wr *w, const ledger_offer *o)
{
	cm_wr_array(w, 7);
	cm_wr_uint(w, o->id);
	cm_wr_uint(w, o->merchant_id);
	cm_wr_uint(w, o->price_g);
	cm_wr_uint(w, o->stock);
	cm_wr_bool(w, o->active);
	cm_wr_str(w, o->name, strlen(o->name));
	cm_wr_str(w, o->description, strlen(o->description));
}

int st_dec_offer(const MDB_val *v, ledger_offer *o)
{
	cm_rd r;
	uint64_t x;
	memset(o, 0, sizeof *o);
	rd_val(&r, v);
	RD(cm_rd_array_exact(&r, 7));
	RD(cm_rd_uint(&r, &o->id));
	RD(cm_rd_uint_max(&r, UINT32_MAX, &x));
	o->merchant_id = (uint32_t)x;
	RD(cm_rd_uint(&r, &o->price_g));
	RD(cm_rd_uint_max(&r, UINT32_MAX, &x));
	o->stock = (uint32_t)x;
	RD(cm_rd_bool(&r, &o->active));
	RD(cm_rd_str_copy(&r, o->name, LIM_NAME_BYTES_MAX));
	RD(cm_rd_str_copy(&r, o->description, LIM_TEXT_BYTES_MAX));
	RD(cm_rd_end(&r));
	return 0;
bad:
	return corrupt("offer");
}

void st_enc_receipt(cm_wr *w, const ledger_receipt *rc)
{
	cm_wr_array(w, 6);
	cm_wr_uint(w, rc->offer_id);
	cm_wr_uint(w, rc->merchant_id);
	cm_wr_bin(w, rc->citizen, CK_PUBKEY_BYTES);
	cm_wr_uint(w, rc->price_g);
	cm_wr_uint(w, rc->height);
	cm_wr_bool(w, rc->refunded);
}

int st_dec_receipt(const MDB_val *v, ledger_receipt *rc)
{
	cm_rd r;
	uint64_t x;
	rd_val(&r, v);
	RD(cm_rd_array_exact(&r, 6));
	RD(cm_rd_uint(&r, &rc->offer_id));
	RD(cm_rd_uint_max(&r, UINT32_MAX, &x));
	rc->merchant_id = (uint32_t)x;
	RD(cm_rd_bin_fixed(&r, rc->citizen, CK_PUBKEY_BYTES));
	RD(cm_rd_uint(&r, &rc->price_g));
	RD(cm_rd_uint(&r, &rc->height));
	RD(cm_rd_bool(&r, &rc->refunded));
	RD(cm_rd_end(&r));
	return 0;
bad:
	return corrupt("receipt");
}

void st_enc_supply(cm_wr *w, const ledger_supply *s)
{
	cm_wr_array(w, 7);
	cm_wr_uint(w, s->issued_g);
	cm_wr_uint(w, s->redeemed_g);
	cm_wr_uint(w, s->refunded_g);
	cm_wr_uint(w, s->clawed_back_g);
	cm_wr_uint(w, s->circulating_g);
	cm_wr_array(w, LEDGER_MODE_MAX);
	for (unsigned i = 1; i <= LEDGER_MODE_MAX; i++)
		cm_wr_uint(w, s->by_mode_g[i]);
	cm_wr_uint(w, s->trips_credited);
}

int st_dec_supply(const MDB_val *v, ledger_supply *s)
{
	cm_rd r;
	memset(s, 0, sizeof *s);
	rd_val(&r, v);
	RD(cm_rd_array_exact(&r, 7));
	RD(cm_rd_uint(&r, &s->issued_g));
	RD(cm_rd_uint(&r, &s->redeemed_g));
	RD(cm_rd_uint(&r, &s->refunded_g));
	RD(cm_rd_uint(&r, &s->clawed_back_g));
	RD(cm_rd_uint(&r, &s->circulating_g));
	RD(cm_rd_array_exact(&r, LEDGER_MODE_MAX));
	for (unsigned i = 1; i <= LEDGER_MODE_MAX; i++)
		RD(cm_rd_uint(&r, &s->by_mode_g[i]));
	RD(cm_rd_uint(&r, &s->trips_credited));
	RD(cm_rd_end(&r));
	return 0;
bad:
	return corrupt("supply");
}

void st_enc_valset(cm_wr *w, const ledger_valset *vs)
{
	cm_wr_array(w, vs->n);
	for (uint32_t i = 0; i < vs->n; i++)
		cm_wr_bin(w, vs->keys[i], CK_PUBKEY_BYTES);
}

int st_dec_valset(const MDB_val *v, ledger_valset *vs)
{
	cm_rd r;
	memset(vs, 0, sizeof *vs);
	rd_val(&r, v);
	RD(cm_rd_array(&r, &vs->n, LIM_VALIDATORS_MAX));
	for (uint32_t i = 0; i < vs->n; i++)
		RD(cm_rd_bin_fixed(&r, vs->keys[i], CK_PUBKEY_BYTES));
	RD(cm_rd_end(&r));
	return 0;
bad:
	return corrupt("validator set");
}

static void enc_params(cm_wr *w, const ledger_genesis *g)
{
	cm_wr_array(w, 4);
	cm_wr_str(w, g->chain_id, strlen(g->chain_id));
	/* The offset is signed; msgpack here has no signed integers, so the
	 * value is stored biased by 2^31. */
	cm_wr_uint(w, (uint64_t)((int64_t)g->tz_offset_s + 2147483648LL));
	cm_wr_uint(w, g->governor_threshold);
	cm_wr_uint(w, g->genesis_time_ms);
}

static void enc_tip(cm_wr *w, const st_tip *t)
{
	cm_wr_array(w, 5);
	cm_wr_uint(w, t->height);
	cm_wr_uint(w, t->time_ms);
	cm_wr_bin(w, t->last_hash, CK_HASH_BYTES);
	cm_wr_bin(w, t->state_root, CK_HASH_BYTES);
	cm_wr_bin(w, t->results_root, CK_HASH_BYTES);
}

static int dec_tip(const MDB_val *v, st_tip *t)
{
	cm_rd r;
	rd_val(&r, v);
	RD(cm_rd_array_exact(&r, 5));
	RD(cm_rd_uint(&r, &t->height));
	RD(cm_rd_uint(&r, &t->time_ms));
	RD(cm_rd_bin_fixed(&r, t->last_hash, CK_HASH_BYTES));
	RD(cm_rd_bin_fixed(&r, t->state_root, CK_HASH_BYTES));
	RD(cm_rd_bin_fixed(&r, t->results_root, CK_HASH_BYTES));
	RD(cm_rd_end(&r));
	return 0;
bad:
	return corrupt("tip");
}

/* ---- typed reads -------------------------------------------------------- */

int st_get_account(ledger *l, MDB_txn *txn, const ck_pubkey key, st_account *a)
{
	MDB_val v;
	int rc = st_get(l, txn, LEDGER_TABLE_ACCOUNT, key, CK_PUBKEY_BYTES, &v);
	if (rc == LEDGER_E_NOTFOUND) {
		a->balance_g = 0;
		a->nonce = 0;
		return 0;
	}
	if (rc != 0)
		return rc;
	return st_dec_account(&v, a);
}

int st_get_keyreg(ledger *l, MDB_txn *txn, const ck_pubkey key, st_keyreg *k)
{
	MDB_val v;
	int rc = st_get(l, txn, LEDGER_TABLE_KEY_MEMBER, key, CK_PUBKEY_BYTES, &v);
	if (rc != 0)
		return rc;
	return st_dec_keyreg(&v, k);
}

int st_get_member(ledger *l, MDB_txn *txn, uint32_t id, ledger_member *m)
{
	uint8_t k[4];
	MDB_val v;
	st_be32(k, id);
	int rc = st_get(l, txn, LEDGER_TABLE_MEMBER, k, sizeof k, &v);
	if (rc != 0)
		return rc;
	return st_dec_member(&v, m);
}

int st_get_supply(ledger *l, MDB_txn *txn, ledger_supply *s)
{
	MDB_val v;
	int rc = st_get(l, txn, LEDGER_TABLE_SUPPLY, NULL, 0, &v);
	if (rc == LEDGER_E_NOTFOUND)
		return corrupt("supply missing");
	if (rc != 0)
		return rc;
	return st_dec_supply(&v, s);
}

int st_get_valset(ledger *l, MDB_txn *txn, const char *which, ledger_valset *vs)
{
	MDB_val v;
	int rc = st_get(l, txn, LEDGER_TABLE_META, which, strlen(which), &v);
	if (rc == LEDGER_E_NOTFOUND)
		return corrupt("validator set missing");
	if (rc != 0)
		return rc;
	return st_dec_valset(&v, vs);
}

int st_get_methodology(ledger *l, MDB_txn *txn, uint64_t height, ledger_methodology *m,
		       uint32_t *latest_version)
{
	MDB_cursor *c = NULL;
	uint8_t kb = LEDGER_TABLE_METHODOLOGY;
	MDB_val k = { 1, &kb }, v;
	bool found = false;
	uint32_t latest = 0;
	int rc = mdb_cursor_open(txn, l->db_state, &c);
	if (rc != 0)
		return st_dberr(rc, "open cursor");
	/* Versions are few (one per governance change); walk them all in
	 * version order and keep the last one already effective. */
	for (rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE); rc == 0;
	     rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		if (((uint8_t *)k.mv_data)[0] != LEDGER_TABLE_METHODOLOGY)
			break;
		ledger_methodology cur;
		int drc = st_dec_methodology(&v, &cur);
		if (drc != 0) {
			mdb_cursor_close(c);
			return drc;
		}
		latest = cur.version;
		if (cur.effective_height <= height) {
			*m = cur;
			found = true;
		}
	}
	mdb_cursor_close(c);
	if (rc != 0 && rc != MDB_NOTFOUND)
		return st_dberr(rc, "read methodology");
	if (latest_version != NULL)
		*latest_version = latest;
	if (!found)
		return LEDGER_E_NOTFOUND;
	return 0;
}

int st_get_tip(ledger *l, MDB_txn *txn, st_tip *tip)
{
	MDB_val k = { sizeof CHAIN_TIP - 1, CHAIN_TIP }, v;
	int rc = mdb_get(txn, l->db_chain, &k, &v);
	if (rc != 0)
		return st_dberr(rc, "read tip");
	return dec_tip(&v, tip);
}

int st_put_tip(ledger *l, MDB_txn *txn, const st_tip *tip)
{
	cm_wr w;
	cm_wr_init(&w);
	enc_tip(&w, tip);
	int rc = cm_wr_error(&w) ? LEDGER_E_NOMEM : 0;
	if (rc == 0) {
		MDB_val k = { sizeof CHAIN_TIP - 1, CHAIN_TIP };
		MDB_val v = { cm_wr_len(&w), (void *)cm_wr_data(&w) };
		int mrc = mdb_put(txn, l->db_chain, &k, &v, 0);
		if (mrc != 0)
			rc = st_dberr(mrc, "write tip");
	}
	cm_wr_free(&w);
	return rc;
}

int st_put_valset_from(ledger *l, MDB_txn *txn, uint64_t height, const ledger_valset *vs)
{
	uint8_t kb[8];
	cm_wr w;
	assert(height >= 1);
	assert(vs->n > 0);
	assert(vs->n <= LIM_VALIDATORS_MAX);
	st_be64(kb, height);
	cm_wr_init(&w);
	st_enc_valset(&w, vs);
	int rc = cm_wr_error(&w) ? LEDGER_E_NOMEM : 0;
	if (rc == 0) {
		MDB_val k = { sizeof kb, kb };
		MDB_val v = { cm_wr_len(&w), (void *)cm_wr_data(&w) };
		/* Heights only grow: MDB_APPEND refuses a key that is not the
		 * greatest, which would be a bug in the caller. */
		int mrc = mdb_put(txn, l->db_valsets, &k, &v, MDB_APPEND);
		if (mrc != 0)
			rc = st_dberr(mrc, "write validator set history");
	}
	cm_wr_free(&w);
	return rc;
}

static int cmp_key(const void *a, const void *b) { return memcmp(a, b, CK_PUBKEY_BYTES); }

int st_compute_valset(ledger *l, MDB_txn *txn, ledger_valset *vs)
{
	MDB_cursor *c = NULL;
	uint8_t kb = LEDGER_TABLE_MEMBER;
	MDB_val k = { 1, &kb }, v;
	int rc = mdb_cursor_open(txn, l->db_state, &c);
	if (rc != 0)
		return st_dberr(rc, "open cursor");
	memset(vs, 0, sizeof *vs);
	int out = 0;
	for (rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE); rc == 0;
	     rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		if (((uint8_t *)k.mv_data)[0] != LEDGER_TABLE_MEMBER)
			break;
		ledger_member m;
		out = st_dec_member(&v, &m);
		if (out != 0)
			break;
		if (!(m.roles & LEDGER_ROLE_VALIDATOR) || m.nkeys == 0)
			continue;
		if (vs->n == LIM_VALIDATORS_MAX) {
			out = LEDGER_E_FIELD;
			break;
		}
		memcpy(vs->keys[vs->n++], m.keys[0], CK_PUBKEY_BYTES);
	}
	mdb_cursor_close(c);
	if (out != 0)
		return out;
	if (rc != 0 && rc != MDB_NOTFOUND)
		return st_dberr(rc, "read members");
	qsort(vs->keys, vs->n, CK_PUBKEY_BYTES, cmp_key);
	return 0;
}

/* ---- open / close --------------------------------------------------------- */

static int put_encoded(ledger *l, MDB_txn *txn, uint8_t table, const void *key, size_t klen,
		       cm_wr *w)
{
	if (cm_wr_error(w))
		return LEDGER_E_NOMEM;
	return st_put(l, txn, table, key, klen, cm_wr_data(w), cm_wr_len(w));
}

/* Writes the state of height 0 from genesis. */
static int init_genesis(ledger *l, MDB_txn *txn, const ledger_genesis *g)
{
	cm_wr *w = &l->wr;
	int rc;

	assert(g->nmembers <= LIM_MEMBERS_MAX);   /* ledger_open checked */
	st_batch(l);
	for (uint32_t i = 0; i < g->nmembers; i++) {
		const ledger_member *m = &g->members[i];
		uint8_t k[4];
		if (m->id != i + 1)
			return LEDGER_E_GENESIS;
		st_be32(k, m->id);
		cm_wr_reset(w);
		st_enc_member(w, m);
		if ((rc = put_encoded(l, txn, LEDGER_TABLE_MEMBER, k, sizeof k, w)) != 0)
			return rc;
		for (uint32_t j = 0; j < m->nkeys; j++) {
			MDB_val v;
			rc = st_get(l, txn, LEDGER_TABLE_KEY_MEMBER, m->keys[j], CK_PUBKEY_BYTES, &v);
			if (rc == 0) {
				fprintf(stderr, "ledger: genesis registers a key twice\n");
				return LEDGER_E_GENESIS;
			}
			if (rc != LEDGER_E_NOTFOUND)
				return rc;
			st_keyreg kr = { .member_id = m->id, .revoked = false };
			cm_wr_reset(w);
			st_enc_keyreg(w, &kr);
			rc = put_encoded(l, txn, LEDGER_TABLE_KEY_MEMBER, m->keys[j], CK_PUBKEY_BYTES, w);
			if (rc != 0)
				return rc;
		}
	}
	uint8_t vk[4];
	st_be32(vk, g->methodology.version);
	if (g->methodology.version != 1)
		return LEDGER_E_GENESIS;
	cm_wr_reset(w);
	st_enc_methodology(w, &g->methodology);
	if ((rc = put_encoded(l, txn, LEDGER_TABLE_METHODOLOGY, vk, sizeof vk, w)) != 0)
		return rc;

	ledger_supply s;
	memset(&s, 0, sizeof s);
	cm_wr_reset(w);
	st_enc_supply(w, &s);
	if ((rc = put_encoded(l, txn, LEDGER_TABLE_SUPPLY, NULL, 0, w)) != 0)
		return rc;

	cm_wr_reset(w);
	enc_params(w, g);
	rc = put_encoded(l, txn, LEDGER_TABLE_META, ST_META_PARAMS, strlen(ST_META_PARAMS), w);
	if (rc != 0)
		return rc;
	cm_wr_reset(w);
	cm_wr_uint(w, (uint64_t)g->nmembers + 1);
	rc = put_encoded(l, txn, LEDGER_TABLE_META, ST_META_NEXT_MEMBER,
			 strlen(ST_META_NEXT_MEMBER), w);
	if (rc != 0)
		return rc;

	ledger_valset vs;
	if ((rc = st_compute_valset(l, txn, &vs)) != 0 || vs.n == 0) {
		fprintf(stderr, "ledger: genesis has no valid validator set\n");
		return LEDGER_E_GENESIS;
	}
	cm_wr_reset(w);
	st_enc_valset(w, &vs);
	rc = put_encoded(l, txn, LEDGER_TABLE_META, ST_META_VALSET1, strlen(ST_META_VALSET1), w);
	if (rc != 0)
		return rc;
	rc = put_encoded(l, txn, LEDGER_TABLE_META, ST_META_VALSET2, strlen(ST_META_VALSET2), w);
	if (rc != 0)
		return rc;
	if ((rc = st_put_valset_from(l, txn, 1, &vs)) != 0)
		return rc;

	st_tip tip;
	memset(&tip, 0, sizeof tip);
	tip.time_ms = g->genesis_time_ms;
	if ((rc = st_flush(l)) != 0)
		return rc;
	smt_root(l->tree, tip.state_root);
	ledger_results empty = { 0, NULL };
	ledger_results_root(&empty, tip.results_root);
	if ((rc = st_put_tip(l, txn, &tip)) != 0)
		return rc;

	MDB_val k = { sizeof CHAIN_GENESIS - 1, CHAIN_GENESIS };
	MDB_val v = { CK_HASH_BYTES, (void *)g->hash };
	if ((rc = mdb_put(txn, l->db_chain, &k, &v, 0)) != 0)
		return st_dberr(rc, "write genesis hash");
	uint8_t lv = ST_LAYOUT_VERSION;   /* a positive fixint: its own msgpack */
	k = (MDB_val){ sizeof CHAIN_LAYOUT - 1, CHAIN_LAYOUT };
	v = (MDB_val){ 1, &lv };
	if ((rc = mdb_put(txn, l->db_chain, &k, &v, 0)) != 0)
		return st_dberr(rc, "write layout version");
	return 0;
}

static int check_layout(ledger *l, MDB_txn *txn, const char *dir)
{
	MDB_val k = { sizeof CHAIN_LAYOUT - 1, CHAIN_LAYOUT }, v;
	int rc = mdb_get(txn, l->db_chain, &k, &v);
	if (rc != 0 && rc != MDB_NOTFOUND)
		return st_dberr(rc, "read layout version");
	unsigned have = rc == 0 && v.mv_size == 1 ? *(const uint8_t *)v.mv_data : 1u;
	if (have == ST_LAYOUT_VERSION)
		return 0;
	fprintf(stderr, "ledger: %s has layout version %u, this build reads %u: sync a new "
		"data directory from the network\n", dir, have, ST_LAYOUT_VERSION);
	return LEDGER_E_LAYOUT;
}

/* Rebuilds the in-memory trip index from "trips" (their state-root entries
 * are among the leaves in "smt"). */
static int load_trips(ledger *l, MDB_txn *txn)
{
	MDB_cursor *c = NULL;
	MDB_val k, v;
	int rc = mdb_cursor_open(txn, l->db_trips, &c);
	if (rc != 0)
		return st_dberr(rc, "open cursor");
	int out = 0;
	for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0 && out == 0;
	     rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		const uint8_t *kp = k.mv_data;
		st_trip t;
		if (k.mv_size != ST_TRIP_KEY_BYTES) {
			out = corrupt("trips key");
			break;
		}
		if ((out = st_dec_trip(&v, &t)) != 0)
			break;
		ts_loc loc = { st_day_unkey(st_rd64(kp)), st_rd64(kp + 8) };
		if (loc.endday != ledger_day(t.end_s, l->tz_offset_s) || loc.height != t.height ||
		    t.start_s >= t.end_s) {
			out = corrupt("trips key does not match its record");
			break;
		}
		out = ts_add(l->trips, kp + 16, &loc, t.citizen, t.start_s, t.end_s);
		if (out == LEDGER_E_DB)
			out = corrupt("two trips of a citizen start together");
	}
	mdb_cursor_close(c);
	if (out != 0)
		return out;
	if (rc != MDB_NOTFOUND)
		return st_dberr(rc, "scan trips");
	return 0;
}

/* ---- the leaves' cache -------------------------------------------------- */

/*
 * The state root's leaves are a function of "state" and "trips", so they
 * need not be durable with the block: they live in their own environment
 * (ST_CACHE_DIR), opened MDB_NOSYNC | MDB_WRITEMAP, whose transaction is
 * committed right after the block's synced one and never synced on the
 * way. The kernel writes its pages back when it likes, merging pages that
 * several blocks dirtied, and there is no malloc'd copy of a dirty page.
 *
 * What can go wrong is detected at open and answered with a rebuild from
 * the state (cache_rebuild):
 *   - a crash between the two commits leaves the cache a block behind:
 *     its "height" record differs from the tip's;
 *   - after an unclean stop an unsynced environment may be torn (the
 *     kernel may have written its meta page before the pages it points
 *     to): a file CACHE_DIRTY exists from the open until ledger_close
 *     has synced the environment, and a cache found with it is not even
 *     opened. A file rather than a record of the environment itself:
 *     the record would be on a page of the very environment whose
 *     write-back order cannot be trusted (a torn tree may show a freed
 *     page holding an old "clean" record), while a directory entry
 *     removed after mdb_env_sync is ordered by the two syncs;
 *   - a missing or unreadable cache, or one whose root is not the tip's.
 */
#define CACHE_DIRTY "dirty"
#define CACHE_HEIGHT "height"
/* Leaves sorted and inserted per batch by a rebuild: 64 bytes each, so 64
 * MiB of transient heap, and at 4 million leaves four sorted runs. */
#define CACHE_BATCH_LEAVES ((size_t)1 << 20)

static int cache_path(char *out, size_t len, const char *dir, const char *name)
{
	if ((size_t)snprintf(out, len, "%s/%s", dir, name) >= len) {
		fprintf(stderr, "ledger: path too long: %s/%s\n", dir, name);
		return LEDGER_E_DB;
	}
	return 0;
}

/* Removes the cache in directory cdir: its files, then the directory. */
static int cache_remove_at(const char *cdir)
{
	static const char *const files[] = { "data.mdb", "lock.mdb", CACHE_DIRTY };
	char p[4096];
	for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
		if (cache_path(p, sizeof p, cdir, files[i]) != 0)
			return LEDGER_E_DB;
		if (unlink(p) != 0 && errno != ENOENT) {
			fprintf(stderr, "ledger: unlink %s: %s\n", p, strerror(errno));
			return LEDGER_E_DB;
		}
	}
	if (rmdir(cdir) != 0 && errno != ENOENT) {
		fprintf(stderr, "ledger: rmdir %s: %s\n", cdir, strerror(errno));
		return LEDGER_E_DB;
	}
	return 0;
}

int st_cache_remove(const char *dir)
{
	char cdir[4096];
	if (cache_path(cdir, sizeof cdir, dir, ST_CACHE_DIR) != 0)
		return LEDGER_E_DB;
	return cache_remove_at(cdir);
}

/* Makes the creation or removal of an entry of the cache's directory
 * durable (skipped with nosync, like every sync of the ledger). */
static int cache_sync_dir(ledger *l)
{
	if (l->nosync)
		return 0;
	int fd = open(l->cache_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || fsync(fd) != 0) {
		fprintf(stderr, "ledger: sync %s: %s\n", l->cache_dir, strerror(errno));
		if (fd >= 0)
			close(fd);
		return LEDGER_E_DB;
	}
	close(fd);
	return 0;
}

/* Before any write to the cache: from here to a clean ledger_close, an
 * open finds the cache dirty and rebuilds it. */
static int cache_mark_dirty(ledger *l)
{
	char p[4096];
	if (cache_path(p, sizeof p, l->cache_dir, CACHE_DIRTY) != 0)
		return LEDGER_E_DB;
	int fd = open(p, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0) {
		fprintf(stderr, "ledger: create %s: %s\n", p, strerror(errno));
		return LEDGER_E_DB;
	}
	close(fd);
	return cache_sync_dir(l);
}

/* Opens (creating) the cache's environment and its two databases. */
static int cache_env_open(ledger *l, size_t map)
{
	MDB_txn *txn = NULL;
	int rc;
	assert(l->cenv == NULL);
	if (mkdir(l->cache_dir, 0700) != 0 && errno != EEXIST) {
		fprintf(stderr, "ledger: mkdir %s: %s\n", l->cache_dir, strerror(errno));
		return LEDGER_E_DB;
	}
	if ((rc = mdb_env_create(&l->cenv)) != 0) {
		l->cenv = NULL;
		return st_dberr(rc, l->cache_dir);
	}
	/* MDB_NOTLS as the main environment (readers on worker threads). */
	if ((rc = mdb_env_set_maxdbs(l->cenv, 2)) != 0 ||
	    (rc = mdb_env_set_mapsize(l->cenv, map)) != 0 ||
	    (rc = mdb_env_open(l->cenv, l->cache_dir, MDB_NOSYNC | MDB_WRITEMAP | MDB_NOTLS,
			       0600)) != 0 ||
	    (rc = mdb_txn_begin(l->cenv, NULL, 0, &txn)) != 0)
		goto fail;
	if ((rc = mdb_dbi_open(txn, "smt", MDB_CREATE, &l->db_smt)) != 0 ||
	    (rc = mdb_dbi_open(txn, "cache", MDB_CREATE, &l->db_cmeta)) != 0) {
		mdb_txn_abort(txn);
		goto fail;
	}
	if ((rc = mdb_txn_commit(txn)) != 0)
		goto fail;
	return 0;
fail:
	mdb_env_close(l->cenv);
	l->cenv = NULL;
	return st_dberr(rc, l->cache_dir);
}

static void cache_env_close(ledger *l)
{
	if (l->ctxn != NULL)
		mdb_txn_abort(l->ctxn);
	l->ctxn = NULL;
	if (l->cenv != NULL)
		mdb_env_close(l->cenv);
	l->cenv = NULL;
}

/* Records height in write transaction txn of the cache and commits it. */
static int cache_put_height(ledger *l, MDB_txn *txn, uint64_t height)
{
	uint8_t hb[8];
	st_be64(hb, height);
	MDB_val k = { sizeof CACHE_HEIGHT - 1, CACHE_HEIGHT }, v = { sizeof hb, hb };
	int rc = mdb_put(txn, l->db_cmeta, &k, &v, 0);
	if (rc != 0) {
		mdb_txn_abort(txn);
		return st_dberr(rc, "write the state-root leaves' height");
	}
	if ((rc = mdb_txn_commit(txn)) != 0)
		return st_dberr(rc, "commit the state-root leaves");
	return 0;
}

/* A rebuild's batch of leaves. */
typedef struct cache_leaf {
	ck_hash key;
	ck_hash leaf;
} cache_leaf;

typedef struct cache_fill {
	ledger *l;
	cache_leaf *b;
	size_t n;
	size_t total;
} cache_fill;

static int cmp_leaf(const void *a, const void *b) { return memcmp(a, b, CK_HASH_BYTES); }

/* Sorts the batch and inserts it in one transaction: the first batch
 * appends to the empty database, later ones insert in key order. */
static int fill_flush(cache_fill *f)
{
	ledger *l = f->l;
	MDB_txn *txn = NULL;
	MDB_cursor *c = NULL;
	int rc;
	if (f->n == 0)
		return 0;
	qsort(f->b, f->n, sizeof *f->b, cmp_leaf);
	if ((rc = mdb_txn_begin(l->cenv, NULL, 0, &txn)) != 0 ||
	    (rc = mdb_cursor_open(txn, l->db_smt, &c)) != 0) {
		if (txn != NULL)
			mdb_txn_abort(txn);
		return st_dberr(rc, "rebuild the state-root leaves");
	}
	unsigned flags = f->total == 0 ? MDB_APPEND : MDB_NOOVERWRITE;
	for (size_t i = 0; i < f->n && rc == 0; i++) {
		MDB_val k = { CK_HASH_BYTES, f->b[i].key }, v = { CK_HASH_BYTES, f->b[i].leaf };
		rc = mdb_cursor_put(c, &k, &v, flags);
	}
	mdb_cursor_close(c);
	if (rc == MDB_KEYEXIST) {
		mdb_txn_abort(txn);
		return corrupt("two state entries with one state-root key");
	}
	if (rc != 0) {
		mdb_txn_abort(txn);
		return st_dberr(rc, "rebuild the state-root leaves");
	}
	if ((rc = mdb_txn_commit(txn)) != 0)
		return st_dberr(rc, "rebuild the state-root leaves");
	f->total += f->n;
	f->n = 0;
	return 0;
}

/* The leaf of state-root entry (table, key) -> value, as st_root_put. */
static int fill_add(cache_fill *f, uint8_t table, const void *key, size_t klen, const void *val,
		    size_t vlen)
{
	if (f->n == CACHE_BATCH_LEAVES) {
		int rc = fill_flush(f);
		if (rc != 0)
			return rc;
	}
	cache_leaf *e = &f->b[f->n++];
	ck_hash sv;
	smt_key(e->key, table, key, klen);
	smt_value(sv, val, vlen);
	smt_leaf(e->leaf, e->key, sv);
	return 0;
}

/* Every leaf of "state" (but its local rows) and "trips" in txn into the
 * empty cache: the leaves the audit recomputes. */
static int cache_fill_from(ledger *l, MDB_txn *txn)
{
	cache_fill f = { .l = l };
	MDB_cursor *c = NULL;
	MDB_val k, v;
	int rc = 0, mrc;
	if ((f.b = malloc(CACHE_BATCH_LEAVES * sizeof *f.b)) == NULL)
		return LEDGER_E_NOMEM;
	if ((mrc = mdb_cursor_open(txn, l->db_state, &c)) != 0) {
		rc = st_dberr(mrc, "open cursor");
		goto done;
	}
	for (mrc = mdb_cursor_get(c, &k, &v, MDB_FIRST); mrc == 0 && rc == 0;
	     mrc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		const uint8_t *kp = k.mv_data;
		if (k.mv_size < 1)
			rc = corrupt("empty state key");
		else if (!st_state_local(&k))
			rc = fill_add(&f, kp[0], kp + 1, k.mv_size - 1, v.mv_data, v.mv_size);
	}
	mdb_cursor_close(c);
	c = NULL;
	if (rc != 0)
		goto done;
	if (mrc != MDB_NOTFOUND) {
		rc = st_dberr(mrc, "scan state");
		goto done;
	}
	if ((mrc = mdb_cursor_open(txn, l->db_trips, &c)) != 0) {
		rc = st_dberr(mrc, "open cursor");
		goto done;
	}
	for (mrc = mdb_cursor_get(c, &k, &v, MDB_FIRST); mrc == 0 && rc == 0;
	     mrc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		const uint8_t *kp = k.mv_data;
		uint8_t ik[CK_PUBKEY_BYTES + 8];
		st_trip t;
		if (k.mv_size != ST_TRIP_KEY_BYTES) {
			rc = corrupt("trips key");
			break;
		}
		if ((rc = st_dec_trip(&v, &t)) != 0 ||
		    (rc = fill_add(&f, LEDGER_TABLE_TRIP, kp + 16, CK_HASH_BYTES, v.mv_data,
				   v.mv_size)) != 0)
			break;
		memcpy(ik, t.citizen, CK_PUBKEY_BYTES);
		st_be64(ik + CK_PUBKEY_BYTES, t.start_s);
		cm_wr_reset(&l->iwr);
		st_enc_interval(&l->iwr, t.end_s);
		if (cm_wr_error(&l->iwr)) {
			rc = LEDGER_E_NOMEM;
			break;
		}
		rc = fill_add(&f, LEDGER_TABLE_INTERVAL, ik, sizeof ik, cm_wr_data(&l->iwr),
			      cm_wr_len(&l->iwr));
	}
	mdb_cursor_close(c);
	if (rc == 0 && mrc != MDB_NOTFOUND)
		rc = st_dberr(mrc, "scan trips");
	if (rc == 0)
		rc = fill_flush(&f);
done:
	free(f.b);
	return rc;
}

/* The top from the cache's leaves, in a new tree (the database handle may
 * differ from the last environment's) that replaces l->tree only once
 * loaded: a failed rebuild after a block leaves that block's top in place
 * for the rollbacks of later blocks. */
static int cache_load_top(ledger *l)
{
	MDB_txn *txn = NULL;
	smt *t = NULL;
	int rc = smt_new(&t, l->db_smt);
	if (rc != 0)
		return rc;
	if ((rc = mdb_txn_begin(l->cenv, NULL, MDB_RDONLY, &txn)) != 0) {
		smt_free(t);
		return st_dberr(rc, "read the state-root leaves");
	}
	rc = smt_load(t, txn);
	mdb_txn_abort(txn);
	if (rc != 0) {
		smt_free(t);
		return rc;
	}
	smt_free(l->tree);
	l->tree = t;
	return 0;
}

/* Replaces the cache by one rebuilt from the state in txn (of the main
 * environment, at tip height) and the top by one loaded from it. */
static int cache_rebuild(ledger *l, MDB_txn *txn, uint64_t height, size_t map)
{
	MDB_txn *ctxn = NULL;
	int rc;
	cache_env_close(l);
	if ((rc = cache_remove_at(l->cache_dir)) != 0 || (rc = cache_env_open(l, map)) != 0 ||
	    (rc = cache_mark_dirty(l)) != 0 || (rc = cache_fill_from(l, txn)) != 0 ||
	    (rc = cache_load_top(l)) != 0)
		return rc;
	if ((rc = mdb_txn_begin(l->cenv, NULL, 0, &ctxn)) != 0)
		return st_dberr(rc, "write the state-root leaves' height");
	if ((rc = cache_put_height(l, ctxn, height)) != 0)
		return rc;
	l->cache_rebuilds++;
	fprintf(stderr, "ledger: %s: state-root leaves rebuilt from the state at height %llu "
		"(%zu leaves)\n", l->cache_dir, (unsigned long long)height, smt_count(l->tree));
	return 0;
}

/* Why the cache of an existing directory cannot be used for tip, or NULL
 * if it can: then it is open, marked dirty, and the top is loaded from it
 * (with the tip's root). */
static const char *cache_try(ledger *l, const st_tip *tip, size_t map, char *why, size_t len)
{
	struct stat sb;
	char p[4096];
	MDB_txn *txn = NULL;
	MDB_val k = { sizeof CACHE_HEIGHT - 1, CACHE_HEIGHT }, v;
	if (cache_path(p, sizeof p, l->cache_dir, CACHE_DIRTY) != 0 || stat(p, &sb) == 0)
		return "was not closed cleanly";
	if (cache_path(p, sizeof p, l->cache_dir, "data.mdb") != 0 || stat(p, &sb) != 0)
		return "is missing";
	if (cache_env_open(l, map) != 0)
		return "cannot be opened";
	if (mdb_txn_begin(l->cenv, NULL, MDB_RDONLY, &txn) != 0)
		return "cannot be read";
	int rc = mdb_get(txn, l->db_cmeta, &k, &v);
	uint64_t height = rc == 0 && v.mv_size == 8 ? st_rd64(v.mv_data) : 0;
	mdb_txn_abort(txn);
	if (rc != 0 || v.mv_size != 8)
		return "has no height";
	if (height != tip->height) {
		snprintf(why, len, "is at height %llu, the ledger at %llu", (unsigned long long)height,
			 (unsigned long long)tip->height);
		return why;
	}
	if (cache_load_top(l) != 0)
		return "cannot be read";
	ck_hash root;
	smt_root(l->tree, root);
	if (memcmp(root, tip->state_root, CK_HASH_BYTES) != 0)
		return "gives another root than the tip's";
	if (cache_mark_dirty(l) != 0)
		return "cannot be marked in use";
	return NULL;
}

/* The cache and the top for an existing directory at tip (state in txn):
 * the cache as it is if it can be trusted, else rebuilt. */
static int cache_open(ledger *l, MDB_txn *txn, const st_tip *tip, size_t map)
{
	char buf[96];
	const char *why = cache_try(l, tip, map, buf, sizeof buf);
	if (why == NULL)
		return 0;
	fprintf(stderr, "ledger: %s: the state-root leaves' cache %s: rebuilding it\n",
		l->cache_dir, why);
	return cache_rebuild(l, txn, tip->height, map);
}

void st_cache_commit(ledger *l, uint64_t height)
{
	assert(l->ctxn != NULL);
	MDB_txn *ctxn = l->ctxn, *txn = NULL;
	l->ctxn = NULL;
	if (cache_put_height(l, ctxn, height) == 0)
		return;
	/* The block is committed and the top is its; only the leaves on
	 * disk are behind. */
	MDB_envinfo info;
	int rc = mdb_env_info(l->cenv, &info);
	if (rc == 0 && (rc = st_rtxn(l, &txn)) == 0) {
		rc = cache_rebuild(l, txn, height, info.me_mapsize);
		mdb_txn_abort(txn);
	}
	if (rc != 0) {
		cache_env_close(l);
		(void)cache_gone();
	}
}

int st_cache_rtxn(ledger *l, MDB_txn **txn)
{
	if (l->cenv == NULL)
		return cache_gone();
	int rc = mdb_txn_begin(l->cenv, NULL, MDB_RDONLY, txn);
	if (rc != 0)
		return st_dberr(rc, "begin a read transaction of the state-root leaves");
	return 0;
}

/* At a clean close: the cache synced, then no longer dirty. */
static void cache_close(ledger *l)
{
	bool clean = l->cenv != NULL && l->cache_ok && l->ctxn == NULL;
	int rc = 0;
	if (clean && !l->nosync && (rc = mdb_env_sync(l->cenv, 1)) != 0)
		st_dberr(rc, "sync the state-root leaves");
	cache_env_close(l);
	if (!clean || rc != 0)
		return;
	char p[4096];
	if (cache_path(p, sizeof p, l->cache_dir, CACHE_DIRTY) != 0)
		return;
	if (unlink(p) != 0)
		fprintf(stderr, "ledger: unlink %s: %s\n", p, strerror(errno));
	else
		(void)cache_sync_dir(l);
}

static int open_dbs(ledger *l, MDB_txn *txn)
{
	static const struct {
		const char *name;
		size_t off;
	} dbs[] = {
		{ "state", offsetof(ledger, db_state) },   { "trips", offsetof(ledger, db_trips) },
		{ "chain", offsetof(ledger, db_chain) },   { "blocks", offsetof(ledger, db_blocks) },
		{ "certs", offsetof(ledger, db_certs) },   { "results", offsetof(ledger, db_results) },
		{ "txidx", offsetof(ledger, db_txidx) },   { "hist", offsetof(ledger, db_hist) },
		{ "itrips", offsetof(ledger, db_itrips) }, { "receipts", offsetof(ledger, db_receipts) },
		{ "valsets", offsetof(ledger, db_valsets) }, { "txids", offsetof(ledger, db_txids) },
	};
	for (size_t i = 0; i < sizeof dbs / sizeof dbs[0]; i++) {
		MDB_dbi *dbi = (MDB_dbi *)((char *)l + dbs[i].off);
		int rc = mdb_dbi_open(txn, dbs[i].name, MDB_CREATE, dbi);
		if (rc != 0)
			return st_dberr(rc, dbs[i].name);
	}
	return 0;
}

int ledger_open(ledger **out, const char *dir, const ledger_genesis *genesis,
		const ledger_options *opt)
{
	ledger *l = NULL;
	MDB_txn *txn = NULL;
	int rc;

	*out = NULL;
	if (strlen(genesis->chain_id) > LIM_CHAIN_ID_BYTES_MAX)
		return LEDGER_E_GENESIS;
	if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
		fprintf(stderr, "ledger: mkdir %s: %s\n", dir, strerror(errno));
		return LEDGER_E_DB;
	}
	l = calloc(1, sizeof *l);
	if (l == NULL)
		return LEDGER_E_NOMEM;
	cm_wr_init(&l->wr);
	cm_wr_init(&l->iwr);
	pthread_mutex_init(&l->mu, NULL);
	pthread_mutex_init(&l->exec_mu, NULL);
	l->nosync = opt != NULL && opt->nosync;
	memcpy(l->chain_id, genesis->chain_id, strlen(genesis->chain_id) + 1);
	l->tz_offset_s = genesis->tz_offset_s;
	l->governor_threshold = genesis->governor_threshold;
	l->genesis_time_ms = genesis->genesis_time_ms;
	memcpy(l->genesis_hash, genesis->hash, CK_HASH_BYTES);
	l->genesis = *genesis;
	l->genesis.members = NULL;
	if (genesis->nmembers > LIM_MEMBERS_MAX) {
		rc = LEDGER_E_GENESIS;
		goto fail;
	}
	if (genesis->nmembers > 0) {
		l->genesis.members = malloc(genesis->nmembers * sizeof *genesis->members);
		if (l->genesis.members == NULL) {
			rc = LEDGER_E_NOMEM;
			goto fail;
		}
		memcpy(l->genesis.members, genesis->members,
		       genesis->nmembers * sizeof *genesis->members);
	}
	if ((rc = ts_new(&l->trips)) != 0)
		goto fail;

	size_t map = opt != NULL && opt->map_bytes ? opt->map_bytes : ST_MAP_BYTES_DEFAULT;
	if ((rc = cache_path(l->cache_dir, sizeof l->cache_dir, dir, ST_CACHE_DIR)) != 0)
		goto fail;
	/* MDB_NOTLS: read transactions are not tied to a thread (queries run
	 * from the node's worker threads). Commits are fully synced (data and
	 * meta page) unless nosync: MDB_NOMETASYNC could lose the last block
	 * on power loss after the node has already voted or answered on it. */
	unsigned flags = MDB_NOTLS | (l->nosync ? MDB_NOSYNC : 0);
	if ((rc = mdb_env_create(&l->env)) != 0 ||
	    (rc = mdb_env_set_maxdbs(l->env, ST_MAX_DBS)) != 0 ||
	    (rc = mdb_env_set_mapsize(l->env, map)) != 0 ||
	    (rc = mdb_env_open(l->env, dir, flags, 0600)) != 0) {
		rc = st_dberr(rc, dir);
		goto fail;
	}
	int dead = 0;
	(void)mdb_reader_check(l->env, &dead);

	if ((rc = mdb_txn_begin(l->env, NULL, 0, &txn)) != 0) {
		rc = st_dberr(rc, "begin open transaction");
		goto fail;
	}
	if ((rc = open_dbs(l, txn)) != 0)
		goto fail;
	MDB_val k = { sizeof CHAIN_GENESIS - 1, CHAIN_GENESIS }, v;
	int grc = mdb_get(txn, l->db_chain, &k, &v);
	if (grc == MDB_NOTFOUND) {
		/* A new directory: whatever cache it has is not its own. */
		if ((rc = cache_remove_at(l->cache_dir)) != 0 || (rc = cache_env_open(l, map)) != 0 ||
		    (rc = cache_mark_dirty(l)) != 0 || (rc = smt_new(&l->tree, l->db_smt)) != 0 ||
		    (rc = init_genesis(l, txn, genesis)) != 0)
			goto fail;
	} else if (grc != 0) {
		rc = st_dberr(grc, "read genesis hash");
		goto fail;
	} else {
		if (v.mv_size != CK_HASH_BYTES || memcmp(v.mv_data, genesis->hash, CK_HASH_BYTES) != 0) {
			fprintf(stderr, "ledger: %s belongs to another genesis\n", dir);
			rc = LEDGER_E_MISMATCH;
			goto fail;
		}
		st_tip tip;
		if ((rc = check_layout(l, txn, dir)) != 0 || (rc = load_trips(l, txn)) != 0 ||
		    (rc = st_get_tip(l, txn, &tip)) != 0 || (rc = cache_open(l, txn, &tip, map)) != 0)
			goto fail;
		ck_hash root;
		smt_root(l->tree, root);
		if (memcmp(root, tip.state_root, CK_HASH_BYTES) != 0) {
			fprintf(stderr, "ledger: %s: state root rebuilt at open differs from the stored one\n",
				dir);
			rc = LEDGER_E_DB;
			goto fail;
		}
	}
	if ((rc = mdb_txn_commit(txn)) != 0) {
		txn = NULL;
		rc = st_dberr(rc, "commit open transaction");
		goto fail;
	}
	txn = NULL;
	/* The genesis's leaves, after its state (as st_cache_commit). */
	if (l->ctxn != NULL) {
		MDB_txn *ctxn = l->ctxn;
		l->ctxn = NULL;
		if ((rc = cache_put_height(l, ctxn, 0)) != 0)
			goto fail;
	}
	l->cache_ok = true;
	*out = l;
	return 0;
fail:
	if (txn != NULL)
		mdb_txn_abort(txn);
	ledger_close(l);
	return rc;
}

void ledger_close(ledger *l)
{
	if (l == NULL)
		return;
	cache_close(l);
	if (l->env != NULL)
		mdb_env_close(l->env);
	smt_free(l->tree);
	ts_free(l->trips);
	free(l->genesis.members);
	free(l->pend);
	free(l->chg);
	cm_wr_free(&l->wr);
	cm_wr_free(&l->iwr);
	pthread_mutex_destroy(&l->mu);
	pthread_mutex_destroy(&l->exec_mu);
	free(l->exec_nonces);
	free(l);
}

/* ---- chain info --------------------------------------------------------- */

int st_get_info(ledger *l, MDB_txn *txn, ledger_info *out)
{
	st_tip tip;
	int rc;
	memset(out, 0, sizeof *out);
	if ((rc = st_get_tip(l, txn, &tip)) == 0 &&
	    (rc = st_get_valset(l, txn, ST_META_VALSET1, &out->valset)) == 0 &&
	    (rc = st_get_valset(l, txn, ST_META_VALSET2, &out->next_valset)) == 0) {
		out->height = tip.height;
		out->time_ms = tip.time_ms;
		memcpy(out->last_block_hash, tip.last_hash, CK_HASH_BYTES);
		memcpy(out->state_root, tip.state_root, CK_HASH_BYTES);
		memcpy(out->results_root, tip.results_root, CK_HASH_BYTES);
	}
	return rc;
}

int ledger_get_info(ledger *l, ledger_info *out)
{
	MDB_txn *txn;
	int rc = st_rtxn(l, &txn);
	if (rc != 0)
		return rc;
	rc = st_get_info(l, txn, out);
	mdb_txn_abort(txn);
	return rc;
}

int ledger_get_valset(ledger *l, uint64_t height, ledger_valset *out)
{
	MDB_txn *txn;
	MDB_cursor *c = NULL;
	uint8_t kb[8];
	MDB_val k = { sizeof kb, kb }, v;
	st_tip tip;
	int rc = st_rtxn(l, &txn);
	if (rc != 0)
		return rc;
	memset(out, 0, sizeof *out);
	if ((rc = st_get_tip(l, txn, &tip)) != 0)
		goto done;
	if (height == 0 || height > tip.height + 2) {
		rc = LEDGER_E_NOTFOUND;
		goto done;
	}
	if ((rc = mdb_cursor_open(txn, l->db_valsets, &c)) != 0) {
		rc = st_dberr(rc, "open cursor");
		goto done;
	}
	/* The greatest key <= height: the first key >= height if it is
	 * height itself, else the one before it (the last one if none is
	 * greater). Genesis wrote key 1, so one always exists. */
	st_be64(kb, height);
	int mrc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
	if (mrc == 0 && (k.mv_size != sizeof kb || st_rd64(k.mv_data) != height))
		mrc = mdb_cursor_get(c, &k, &v, MDB_PREV);
	else if (mrc == MDB_NOTFOUND)
		mrc = mdb_cursor_get(c, &k, &v, MDB_LAST);
	if (mrc == MDB_NOTFOUND) {
		rc = corrupt("validator set history missing");
		goto done;
	}
	if (mrc != 0) {
		rc = st_dberr(mrc, "read validator set history");
		goto done;
	}
	if (k.mv_size != sizeof kb || st_rd64(k.mv_data) > height || st_rd64(k.mv_data) == 0) {
		rc = corrupt("validator set history key");
		goto done;
	}
	rc = st_dec_valset(&v, out);
done:
	if (c != NULL)
		mdb_cursor_close(c);
	mdb_txn_abort(txn);
	return rc;
}

int ledger_next_header(ledger *l, ledger_header *h)
{
	ledger_info info;
	int rc = ledger_get_info_next(l, &info);
	if (rc != 0)
		return rc;
	memset(h, 0, sizeof *h);
	h->version = LEDGER_HEADER_VERSION;
	memcpy(h->chain_id, l->chain_id, sizeof h->chain_id);
	h->height = info.height + 1;
	memcpy(h->parent_hash, info.last_block_hash, CK_HASH_BYTES);
	memcpy(h->state_root, info.state_root, CK_HASH_BYTES);
	memcpy(h->results_root, info.results_root, CK_HASH_BYTES);
	ledger_valset_hash(&info.valset, h->valset_hash);
	ledger_valset_hash(&info.next_valset, h->next_valset_hash);
	return 0;
}

/* ---- queries -------------------------------------------------------------- */

int ledger_get_account(ledger *l, const ck_pubkey key, ledger_account *out)
{
	MDB_txn *txn;
	st_account a;
	st_keyreg kr;
	int rc = st_rtxn(l, &txn);
	if (rc != 0)
		return rc;
	memset(out, 0, sizeof *out);
	if ((rc = st_get_account(l, txn, key, &a)) != 0)
		goto done;
	out->balance_g = a.balance_g;
	out->nonce = a.nonce;
	rc = st_get_keyreg(l, txn, key, &kr);
	if (rc == LEDGER_E_NOTFOUND) {
		rc = 0;
		goto done;
	}
	if (rc != 0)
		goto done;
	if (!kr.revoked && kr.member_id != 0) {
		ledger_member m;
		rc = st_get_member(l, txn, kr.member_id, &m);
		if (rc == 0) {
			out->member_id = m.id;
			out->roles = m.roles;
		} else if (rc == LEDGER_E_NOTFOUND) {
			rc = 0;
		}
	}
done:
	mdb_txn_abort(txn);
	return rc;
}

int ledger_get_member(ledger *l, uint32_t id, ledger_member *out)
{
	MDB_txn *txn;
	int rc = st_rtxn(l, &txn);
	if (rc != 0)
		return rc;
	rc = st_get_member(l, txn, id, out);
	mdb_txn_abort(txn);
	return rc;
}

int ledger_get_supply(ledger *l, ledger_supply *out)
{
	MDB_txn *txn;
	int rc = st_rtxn(l, &txn);
	if (rc != 0)
		return rc;
	rc = st_get_supply(l, txn, out);
	mdb_txn_abort(txn);
	return rc;
}

int ledger_get_offer(ledger *l, uint64_t id, ledger_offer *out)
{
	MDB_txn *txn;
	MDB_val v;
	uint8_t k[8];
	int rc = st_rtxn(l, &txn);
	if (rc != 0)
		return rc;
	st_be64(k, id);
	rc = st_get(l, txn, LEDGER_TABLE_OFFER, k, sizeof k, &v);
	if (rc == 0)
		rc = st_dec_offer(&v, out);
	mdb_txn_abort(txn);
	return rc;
}

int ledger_list_offers(ledger *l, uint64_t after_id, ledger_offer *out, uint32_t max, uint32_t *n)
{
	MDB_txn *txn;
	MDB_cursor *c = NULL;
	uint8_t kb[9];
	MDB_val k = { sizeof kb, kb }, v;
	int rc;

	*n = 0;
	if (after_id == UINT64_MAX || max == 0)
		return 0;
	if ((rc = st_rtxn(l, &txn)) != 0)
		return rc;
	if ((rc = mdb_cursor_open(txn, l->db_state, &c)) != 0) {
		rc = st_dberr(rc, "open cursor");
		goto done;
	}
	kb[0] = LEDGER_TABLE_OFFER;
	st_be64(kb + 1, after_id + 1);
	int mrc;
	rc = 0;
	for (mrc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE); mrc == 0 && *n < max;
	     mrc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		if (((uint8_t *)k.mv_data)[0] != LEDGER_TABLE_OFFER)
			break;
		ledger_offer o;
		if ((rc = st_dec_offer(&v, &o)) != 0)
			goto done;
		if (o.active)
			out[(*n)++] = o;
	}
	if (mrc != 0 && mrc != MDB_NOTFOUND)
		rc = st_dberr(mrc, "list offers");
done:
	if (c != NULL)
		mdb_cursor_close(c);
	mdb_txn_abort(txn);
	return rc;
}

int ledger_get_receipt(ledger *l, const ck_hash id, ledger_receipt *out)
{
	MDB_txn *txn;
	MDB_val v;
	int rc = st_rtxn(l, &txn);
	if (rc != 0)
		return rc;
	rc = st_get(l, txn, LEDGER_TABLE_RECEIPT, id, CK_HASH_BYTES, &v);
	if (rc == 0) {
		rc = st_dec_receipt(&v, out);
		memcpy(out->id, id, CK_HASH_BYTES);
	}
	mdb_txn_abort(txn);
	return rc;
}

int ledger_get_trip(ledger *l, const ck_hash trip_id, ledger_trip_record *out)
{
	MDB_txn *txn;
	MDB_val v;
	st_trip t;
	/* The in-memory index and the snapshot must be of the same height:
	 * both are taken under the lock block application holds until it has
	 * committed. */
	pthread_mutex_lock(&l->mu);
	int rc = st_rtxn(l, &txn);
	if (rc != 0) {
		pthread_mutex_unlock(&l->mu);
		return rc;
	}
	rc = st_find_trip(l, txn, trip_id, &v, NULL);
	pthread_mutex_unlock(&l->mu);
	if (rc == 0)
		rc = st_dec_trip(&v, &t);
	if (rc == 0) {
		memset(out, 0, sizeof *out);
		out->height = t.height;
		out->issuer_member_id = t.issuer_member_id;
		memcpy(out->citizen, t.citizen, CK_PUBKEY_BYTES);
		out->mode = t.mode;
		out->methodology_version = t.methodology_version;
		out->credited_g = t.credited_g;
		out->end_s = t.end_s;
	}
	mdb_txn_abort(txn);
	return rc;
}

int ledger_get_methodology(ledger *l, uint64_t height, ledger_methodology *out)
{
	MDB_txn *txn;
	int rc = st_rtxn(l, &txn);
	if (rc != 0)
		return rc;
	rc = st_get_methodology(l, txn, height, out, NULL);
	mdb_txn_abort(txn);
	return rc;
}

static int copy_val(MDB_txn *txn, MDB_dbi dbi, uint64_t height, uint8_t **p, size_t *len)
{
	uint8_t kb[8];
	MDB_val k = { sizeof kb, kb }, v;
	st_be64(kb, height);
	int rc = mdb_get(txn, dbi, &k, &v);
	if (rc == MDB_NOTFOUND)
		return LEDGER_E_NOTFOUND;
	if (rc != 0)
		return st_dberr(rc, "read block store");
	*p = malloc(v.mv_size ? v.mv_size : 1);
	if (*p == NULL)
		return LEDGER_E_NOMEM;
	memcpy(*p, v.mv_data, v.mv_size);
	*len = v.mv_size;
	return 0;
}

int ledger_get_block(ledger *l, uint64_t height, uint8_t **block, size_t *blocklen,
		     uint8_t **cert, size_t *certlen)
{
	MDB_txn *txn;
	*block = NULL;
	*cert = NULL;
	int rc = st_rtxn(l, &txn);
	if (rc != 0)
		return rc;
	if ((rc = copy_val(txn, l->db_blocks, height, block, blocklen)) == 0 &&
	    (rc = copy_val(txn, l->db_certs, height, cert, certlen)) != 0) {
		free(*block);
		*block = NULL;
	}
	mdb_txn_abort(txn);
	return rc;
}

/* ---- stored results ------------------------------------------------------- */

/* Adds one run (count, length, bytes) at out + *o, or only counts its
 * bytes if out is NULL. */
static void put_run(uint8_t *out, size_t *o, uint64_t count, const uint8_t *p, size_t len)
{
	uint8_t tmp[ST_UVARINT_BYTES_MAX];
	size_t m = st_put_uvarint(out != NULL ? out + *o : tmp, count);
	*o += m;
	m = st_put_uvarint(out != NULL ? out + *o : tmp, len);
	*o += m;
	if (out != NULL)
		memcpy(out + *o, p, len);
	*o += len;
}

int st_results_pack(const uint8_t *canon, size_t len, uint8_t *out, size_t *outlen)
{
	const uint8_t *run = NULL;
	size_t runlen = 0, o = 0;
	uint64_t count = 0;
	uint32_t n;
	cm_rd r;

	cm_rd_init(&r, canon, len);
	if (cm_rd_array(&r, &n, LIM_BLOCK_TXS_MAX) != 0)
		return LEDGER_E_FIELD;
	for (uint32_t i = 0; i < n; i++) {
		const uint8_t *p;
		size_t plen;
		if (cm_rd_span(&r, &p, &plen) != 0)
			return LEDGER_E_FIELD;
		if (count > 0 && plen == runlen && memcmp(p, run, plen) == 0) {
			count++;
			continue;
		}
		if (count > 0)
			put_run(out, &o, count, run, runlen);
		run = p;
		runlen = plen;
		count = 1;
	}
	if (cm_rd_end(&r) != 0)
		return LEDGER_E_FIELD;
	if (count > 0)
		put_run(out, &o, count, run, runlen);
	*outlen = o;
	return 0;
}

int st_results_unpack(const uint8_t *p, size_t len, cm_wr *w)
{
	uint64_t total = 0, count, rlen;
	size_t off, m;

	/* First the number of results, for the array's header. */
	for (off = 0; off < len; off += (size_t)rlen) {
		if ((m = st_get_uvarint(p + off, len - off, &count)) == 0 || count == 0 ||
		    count > LIM_BLOCK_TXS_MAX - total)
			return corrupt("stored results");
		total += count;
		off += m;
		if ((m = st_get_uvarint(p + off, len - off, &rlen)) == 0 || rlen == 0 ||
		    rlen > len - off - m)
			return corrupt("stored results");
		off += m;
	}
	cm_wr_array(w, (uint32_t)total);
	for (off = 0; off < len; off += (size_t)rlen) {
		off += st_get_uvarint(p + off, len - off, &count);
		off += st_get_uvarint(p + off, len - off, &rlen);
		for (uint64_t i = 0; i < count; i++)
			cm_wr_raw(w, p + off, (size_t)rlen);
	}
	return cm_wr_error(w) ? LEDGER_E_NOMEM : 0;
}

int ledger_get_results(ledger *l, uint64_t height, ledger_results *out)
{
	MDB_txn *txn;
	uint8_t *p = NULL;
	size_t len = 0;
	memset(out, 0, sizeof *out);
	int rc = st_rtxn(l, &txn);
	if (rc != 0)
		return rc;
	rc = copy_val(txn, l->db_results, height, &p, &len);
	mdb_txn_abort(txn);
	if (rc != 0)
		return rc;
	cm_wr w;
	cm_wr_init(&w);
	rc = st_results_unpack(p, len, &w);
	free(p);
	if (rc == 0 && ledger_results_decode(cm_wr_data(&w), cm_wr_len(&w), out) != 0)
		rc = corrupt("results");
	cm_wr_free(&w);
	return rc;
}

/* The bytes of transaction index of the stored block at height, pointing
 * into the map (valid while txn lives). */
static int block_tx(ledger *l, MDB_txn *txn, uint64_t height, uint32_t index, const uint8_t **p,
		    uint32_t *len)
{
	uint8_t kb[8];
	MDB_val k = { sizeof kb, kb }, v;
	const uint8_t *hdr;
	size_t hlen;
	uint32_t fields, n;
	cm_rd r;

	st_be64(kb, height);
	int mrc = mdb_get(txn, l->db_blocks, &k, &v);
	if (mrc == MDB_NOTFOUND)
		return corrupt("an index names a block that is not stored");
	if (mrc != 0)
		return st_dberr(mrc, "read block store");
	cm_rd_init(&r, v.mv_data, v.mv_size);
	if (cm_rd_array(&r, &fields, 2) != 0 || fields != 2 || cm_rd_span(&r, &hdr, &hlen) != 0 ||
	    cm_rd_array(&r, &n, LIM_BLOCK_TXS_MAX) != 0 || index >= n)
		return corrupt("stored block");
	for (uint32_t i = 0; i <= index; i++)
		if (cm_rd_bin(&r, p, len, LIM_TX_BYTES_MAX) != 0)
			return corrupt("stored block");
	return 0;
}

/* The tx id of the transaction at loc ("txids"). */
static int loc_txhash(ledger *l, MDB_txn *txn, uint64_t loc, ck_hash out)
{
	uint8_t kb[8];
	MDB_val k = { sizeof kb, kb }, v;
	size_t index = (size_t)(loc & 0xffff);
	st_be64(kb, loc >> 16);
	int mrc = mdb_get(txn, l->db_txids, &k, &v);
	if (mrc == MDB_NOTFOUND)
		return corrupt("an index names a block without tx ids");
	if (mrc != 0)
		return st_dberr(mrc, "read tx ids");
	if (v.mv_size % CK_HASH_BYTES != 0 || index >= v.mv_size / CK_HASH_BYTES)
		return corrupt("tx ids");
	memcpy(out, (const uint8_t *)v.mv_data + index * CK_HASH_BYTES, CK_HASH_BYTES);
	return 0;
}

/* Candidates share the id's first bytes; the one whose location holds the
 * id is the answer. */
int ledger_find_tx(ledger *l, const ck_hash txhash, ledger_tx_location *out)
{
	MDB_txn *txn;
	MDB_cursor *c = NULL;
	uint8_t kb[ST_TXIDX_KEY_BYTES];
	MDB_val k = { sizeof kb, kb }, v;
	int rc, mrc;

	memcpy(kb, txhash, ST_TXIDX_PREFIX_BYTES);
	memset(kb + ST_TXIDX_PREFIX_BYTES, 0, sizeof kb - ST_TXIDX_PREFIX_BYTES);
	if ((rc = st_rtxn(l, &txn)) != 0)
		return rc;
	if ((mrc = mdb_cursor_open(txn, l->db_txidx, &c)) != 0) {
		rc = st_dberr(mrc, "open cursor");
		goto done;
	}
	rc = LEDGER_E_NOTFOUND;
	for (mrc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE); mrc == 0;
	     mrc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		const uint8_t *kp = k.mv_data;
		if (k.mv_size != ST_TXIDX_KEY_BYTES || v.mv_size != 1) {
			rc = corrupt("tx index");
			break;
		}
		if (memcmp(kp, txhash, ST_TXIDX_PREFIX_BYTES) != 0)
			break;
		uint64_t loc = st_rd64(kp + ST_TXIDX_PREFIX_BYTES);
		ck_hash id;
		if ((rc = loc_txhash(l, txn, loc, id)) != 0)
			break;
		rc = LEDGER_E_NOTFOUND;
		if (memcmp(id, txhash, CK_HASH_BYTES) == 0) {
			out->height = loc >> 16;
			out->index = (uint32_t)(loc & 0xffff);
			out->code = *(const uint8_t *)v.mv_data;
			rc = 0;
			break;
		}
	}
	if (mrc != 0 && mrc != MDB_NOTFOUND)
		rc = st_dberr(mrc, "read tx index");
done:
	if (c != NULL)
		mdb_cursor_close(c);
	mdb_txn_abort(txn);
	return rc;
}

/* A history entry's value decoded (state_internal.h, "hist"). */
typedef struct hist_val {
	const uint8_t *tag;
	uint8_t kind, code;
	int64_t delta_g;
	uint64_t prev;            /* loc of the account's previous entry, 0: none */
	uint16_t prev_slot;
} hist_val;

static int hist_decode(const MDB_val *v, uint64_t loc, hist_val *h)
{
	const uint8_t *p = v->mv_data;
	size_t len = v->mv_size, off = ST_HIST_TAG_BYTES + 2, m;
	uint64_t z, back, slot = 0;

	if (len < ST_HIST_VAL_BYTES_MIN || len > ST_HIST_VAL_BYTES_MAX)
		return corrupt("history");
	h->tag = p;
	h->kind = p[ST_HIST_TAG_BYTES];
	h->code = p[ST_HIST_TAG_BYTES + 1];
	if ((m = st_get_uvarint(p + off, len - off, &z)) == 0)
		return corrupt("history");
	off += m;
	if ((m = st_get_uvarint(p + off, len - off, &back)) == 0 || back >= loc)
		return corrupt("history");
	off += m;
	if (back != 0) {
		if ((m = st_get_uvarint(p + off, len - off, &slot)) == 0 || slot > 0xffff)
			return corrupt("history");
		off += m;
	}
	if (off != len)
		return corrupt("history");
	h->delta_g = st_unzigzag(z);
	h->prev = back != 0 ? loc - back : 0;
	h->prev_slot = (uint16_t)slot;
	return 0;
}

static int hist_get(ledger *l, MDB_txn *txn, uint64_t loc, uint16_t slot, hist_val *h)
{
	uint8_t kb[ST_HIST_KEY_BYTES];
	MDB_val k = { sizeof kb, kb }, v;
	st_hist_key(kb, loc, slot);
	int mrc = mdb_get(txn, l->db_hist, &k, &v);
	if (mrc == MDB_NOTFOUND)
		return corrupt("history chain names a missing entry");
	if (mrc != 0)
		return st_dberr(mrc, "read history");
	return hist_decode(&v, loc, h);
}

/* The slot of the account's entry at loc (a cursor): the one entry there
 * with its tag or, if accounts of that transaction share the tag, the one
 * its chain of links passes through. LEDGER_E_NOTFOUND if it has none. */
static int hist_slot_at(ledger *l, MDB_txn *txn, const ck_pubkey key, const uint8_t *tag,
			uint64_t loc, uint16_t *slot)
{
	MDB_cursor *c;
	uint8_t kb[ST_HIST_KEY_BYTES];
	MDB_val k = { sizeof kb, kb }, v;
	uint32_t matches = 0;
	int rc = 0, mrc;

	st_hist_key(kb, loc, 0);
	if ((mrc = mdb_cursor_open(txn, l->db_hist, &c)) != 0)
		return st_dberr(mrc, "open cursor");
	for (mrc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE); mrc == 0;
	     mrc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		const uint8_t *kp = k.mv_data;
		if (k.mv_size != ST_HIST_KEY_BYTES || v.mv_size < ST_HIST_TAG_BYTES) {
			rc = corrupt("history");
			break;
		}
		if (st_rd64(kp) != loc)
			break;
		if (memcmp(v.mv_data, tag, ST_HIST_TAG_BYTES) == 0) {
			matches++;
			*slot = (uint16_t)(kp[8] << 8 | kp[9]);
		}
	}
	if (rc == 0 && mrc != 0 && mrc != MDB_NOTFOUND)
		rc = st_dberr(mrc, "read history");
	mdb_cursor_close(c);
	if (rc != 0)
		return rc;
	if (matches == 1)
		return 0;
	if (matches == 0)
		return LEDGER_E_NOTFOUND;
	uint64_t at;
	uint16_t s;
	if ((rc = st_head_get(l, txn, key, &at, &s)) != 0)
		return rc;
	while (at > loc) {
		hist_val h;
		if ((rc = hist_get(l, txn, at, s, &h)) != 0)
			return rc;
		at = h.prev;
		s = h.prev_slot;
	}
	if (at != loc)
		return LEDGER_E_NOTFOUND;
	*slot = s;
	return 0;
}

/* Follows the account's chain of entries from the newest (cursor 0) or from
 * the entry the cursor names; a cursor that names no entry of the account
 * gives an empty page. */
int ledger_history(ledger *l, const ck_pubkey key, uint64_t cursor, ledger_history_entry *out,
		   uint32_t max, uint32_t *n, uint64_t *next_cursor)
{
	MDB_txn *txn;
	uint8_t tag[ST_HIST_TAG_BYTES];
	uint64_t loc = cursor;
	uint16_t slot = 0;
	int rc;

	*n = 0;
	*next_cursor = 0;
	if (max > LIM_HISTORY_PAGE_MAX)
		max = LIM_HISTORY_PAGE_MAX;
	st_hist_tag(tag, key);
	if ((rc = st_rtxn(l, &txn)) != 0)
		return rc;
	if (loc == 0) {
		rc = st_head_get(l, txn, key, &loc, &slot);
	} else if ((rc = hist_slot_at(l, txn, key, tag, loc, &slot)) == LEDGER_E_NOTFOUND) {
		loc = 0;
		rc = 0;
	}
	while (rc == 0 && loc != 0) {
		if (*n == max) {
			*next_cursor = loc;
			break;
		}
		hist_val h;
		ledger_history_entry *e = &out[*n];
		if ((rc = hist_get(l, txn, loc, slot, &h)) != 0)
			break;
		if (memcmp(h.tag, tag, ST_HIST_TAG_BYTES) != 0) {
			rc = corrupt("history chain passes through another account");
			break;
		}
		if ((rc = loc_txhash(l, txn, loc, e->txhash)) != 0)
			break;
		e->height = loc >> 16;
		e->index = (uint32_t)(loc & 0xffff);
		e->kind = h.kind;
		e->code = h.code;
		e->delta_g = h.delta_g;
		(*n)++;
		loc = h.prev;
		slot = h.prev_slot;
	}
	mdb_txn_abort(txn);
	return rc;
}

/* Cursors as ledger_history's: height << 16 | tx index of the next receipt.
 * Each receipt is read from the state in the same snapshot, so `refunded`
 * is current. */
int ledger_list_receipts(ledger *l, uint32_t merchant_id, uint64_t cursor, ledger_receipt *out,
			 uint32_t max, uint32_t *n, uint64_t *next_cursor)
{
	MDB_txn *txn;
	MDB_cursor *c = NULL;
	uint8_t kb[ST_RECEIPT_KEY_BYTES];
	MDB_val k = { sizeof kb, kb }, v;
	int rc, mrc;

	*n = 0;
	*next_cursor = 0;
	if (max > LIM_HISTORY_PAGE_MAX)
		max = LIM_HISTORY_PAGE_MAX;
	if ((rc = st_rtxn(l, &txn)) != 0)
		return rc;
	if ((mrc = mdb_cursor_open(txn, l->db_receipts, &c)) != 0) {
		rc = st_dberr(mrc, "open cursor");
		goto done;
	}
	if (cursor == 0)
		memset(kb, 0, sizeof kb);
	else
		st_receipt_key(kb, 0, cursor >> 16, (uint32_t)(cursor & 0xffff));
	st_be32(kb, merchant_id);
	for (mrc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE); mrc == 0;
	     mrc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		const uint8_t *kp = k.mv_data;
		if (k.mv_size != ST_RECEIPT_KEY_BYTES || st_rd32(kp) != merchant_id)
			break;
		uint64_t h = ~st_rd64(kp + 4);
		uint32_t idx = ~st_rd32(kp + 12);
		if (*n == max) {
			*next_cursor = h << 16 | idx;
			break;
		}
		if (v.mv_size != CK_HASH_BYTES) {
			rc = corrupt("receipts index");
			goto done;
		}
		ledger_receipt *r = &out[*n];
		MDB_val rv;
		rc = st_get(l, txn, LEDGER_TABLE_RECEIPT, v.mv_data, CK_HASH_BYTES, &rv);
		if (rc == LEDGER_E_NOTFOUND)
			rc = corrupt("receipts index names a missing receipt");
		if (rc != 0 || (rc = st_dec_receipt(&rv, r)) != 0)
			goto done;
		memcpy(r->id, v.mv_data, CK_HASH_BYTES);
		assert(r->merchant_id == merchant_id);
		(*n)++;
	}
	if (mrc != 0 && mrc != MDB_NOTFOUND)
		rc = st_dberr(mrc, "read receipts index");
done:
	if (c != NULL)
		mdb_cursor_close(c);
	mdb_txn_abort(txn);
	return rc;
}

/* Issuer trips are keyed member || day || loc || trip index (state_internal.h)
 * and listed oldest first (reconciliation reads a day in order). A cursor
 * names the next entry as height << 24 | tx index << 10 | trip index (tx
 * index < 2^14, trip index < LIM_TRIPS_PER_TX_MAX <= 2^10). Trip ids come
 * from the issue transactions in the stored blocks, each decoded once per
 * page (a page's entries are mostly from one transaction). */
_Static_assert(LIM_BLOCK_TXS_MAX <= (1u << 14), "tx index fits the cursor");
_Static_assert(LIM_TRIPS_PER_TX_MAX <= (1u << 10), "trip index fits the cursor");
int ledger_issuer_trips(ledger *l, uint32_t member_id, int64_t day, uint64_t cursor,
			ledger_issued_trip *out, uint32_t max, uint32_t *n, uint64_t *next_cursor)
{
	MDB_txn *txn;
	MDB_cursor *c = NULL;
	uint8_t kb[ST_ITRIP_KEY_BYTES];
	MDB_val k = { sizeof kb, kb }, v;
	ledger_tx *tx = NULL;
	uint64_t tx_loc = 0;
	int rc, mrc;

	*n = 0;
	*next_cursor = 0;
	if (max > LIM_HISTORY_PAGE_MAX)
		max = LIM_HISTORY_PAGE_MAX;
	if ((rc = st_rtxn(l, &txn)) != 0)
		return rc;
	if ((mrc = mdb_cursor_open(txn, l->db_itrips, &c)) != 0) {
		rc = st_dberr(mrc, "open cursor");
		goto done;
	}
	st_itrip_key(kb, member_id, day,
		     st_loc(cursor >> 24, (uint32_t)(cursor >> 10) & 0x3fff),
		     (uint16_t)(cursor & 0x3ff));
	for (mrc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE); mrc == 0;
	     mrc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		const uint8_t *kp = k.mv_data, *vp = v.mv_data;
		if (k.mv_size != ST_ITRIP_KEY_BYTES || memcmp(kp, kb, 12) != 0)
			break;
		uint64_t loc = st_rd64(kp + 12);
		uint32_t ti = (uint32_t)(loc & 0xffff), pi = (uint32_t)(kp[20] << 8 | kp[21]);
		if (*n == max) {
			*next_cursor = (loc >> 16) << 24 | (uint64_t)ti << 10 | pi;
			break;
		}
		uint64_t credited;
		if (v.mv_size < 2 || st_get_uvarint(vp + 1, v.mv_size - 1, &credited) != v.mv_size - 1) {
			rc = corrupt("issuer trips");
			goto done;
		}
		if (tx == NULL || tx_loc != loc) {
			const uint8_t *p;
			uint32_t len;
			ledger_tx_free(tx);
			tx = NULL;
			if ((rc = block_tx(l, txn, loc >> 16, ti, &p, &len)) != 0)
				goto done;
			if (ledger_tx_decode(p, len, l->chain_id, &tx) != 0) {
				tx = NULL;
				rc = corrupt("stored issue transaction");
				goto done;
			}
			tx_loc = loc;
		}
		if (tx->kind != LEDGER_TX_ISSUE || pi >= tx->u.issue.ntrips) {
			rc = corrupt("issuer trips name no trip");
			goto done;
		}
		ledger_issued_trip *e = &out[(*n)++];
		memcpy(e->trip_id, tx->u.issue.trips[pi].trip_id, CK_HASH_BYTES);
		e->height = loc >> 16;
		e->tx_index = ti;
		e->code = vp[0];
		e->credited_g = credited;
	}
	if (mrc != 0 && mrc != MDB_NOTFOUND)
		rc = st_dberr(mrc, "read issuer trips");
done:
	ledger_tx_free(tx);
	if (c != NULL)
		mdb_cursor_close(c);
	mdb_txn_abort(txn);
	return rc;
}
