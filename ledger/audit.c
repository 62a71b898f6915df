/*
 * ledger_audit(): re-derives from the stored state, in one read snapshot,
 * everything the rules promise, without trusting any running total or the
 * in-memory structures: the supply equations against the sum of balances
 * and the receipts, each stored trip against its key, no trip id twice,
 * citizens' intervals pairwise disjoint, and the state root rebuilt from
 * scratch (then compared with the live map and trip index as well).
 * Separate from apply.c so that it shares no code path with what it checks
 * beyond the value codecs.
 *
 * The root from scratch takes constant memory: every state entry's leaf
 * hash is recomputed from its row and looked up in "smt" (the leaves'
 * cache, read in a snapshot taken under the same lock as the state's, so
 * at the same tip), the number of
 * leaves there must equal the number of entries (so "smt" holds exactly
 * the state's leaves), and one ordered pass over "smt" folds them into the
 * root (smt_fold). What grows with the state is the trip check's two
 * arrays (80 bytes per credited trip).
 *
 * The local rows of "state" (the history heads, st_head_key) are not
 * state-root entries: each is checked to name an existing history entry of
 * its account, and counts for no leaf.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ledger/state_internal.h"

typedef struct audit {
	ledger *l;
	MDB_txn *txn;
	MDB_txn *ctxn;          /* the leaves' cache, at the same tip */
	char *msg;
	size_t msglen;
	bool failed;
	/* totals */
	unsigned __int128 balances, receipts_g, refunded_g;
	ledger_supply sup;
	bool have_sup;
	size_t nleaves;         /* state-root entries checked against "smt" */
} audit;

/* A credited trip's interval, for the pairwise check. */
typedef struct audit_iv {
	ck_pubkey citizen;
	uint64_t start, end;
} audit_iv;

static int fail(audit *au, const char *fmt, ...)
{
	if (!au->failed && au->msg != NULL && au->msglen > 0) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(au->msg, au->msglen, fmt, ap);
		va_end(ap);
	}
	au->failed = true;
	return LEDGER_E_AUDIT;
}

static int cmp_id(const void *a, const void *b) { return memcmp(a, b, CK_HASH_BYTES); }

/* The state-root entry (table, key) -> value, recomputed from its row, has
 * its leaf in "smt". */
static int check_leaf(audit *au, uint8_t table, const void *key, size_t klen, const void *val,
		      size_t vlen)
{
	ck_hash sk, sv, lh;
	smt_key(sk, table, key, klen);
	smt_value(sv, val, vlen);
	smt_leaf(lh, sk, sv);
	MDB_val k = { CK_HASH_BYTES, sk }, v;
	int mrc = mdb_get(au->ctxn, au->l->db_smt, &k, &v);
	if (mrc == MDB_NOTFOUND)
		return fail(au, "a state entry of table %u has no state-root leaf", table);
	if (mrc != 0)
		return st_dberr(mrc, "audit state-root leaves");
	if (v.mv_size != CK_HASH_BYTES || memcmp(v.mv_data, lh, CK_HASH_BYTES) != 0)
		return fail(au, "the state-root leaf of an entry of table %u differs from it", table);
	au->nleaves++;
	return 0;
}

/* The root from scratch: one ordered pass over "smt", which must hold no
 * leaf beyond those check_leaf found. */
static int fold_leaves(audit *au, ck_hash root)
{
	MDB_cursor *c = NULL;
	MDB_val k, v;
	smt_fold f;
	size_t n = 0;
	int rc = 0, mrc = mdb_cursor_open(au->ctxn, au->l->db_smt, &c);
	if (mrc != 0)
		return st_dberr(mrc, "audit state-root leaves");
	smt_fold_init(&f);
	for (mrc = mdb_cursor_get(c, &k, &v, MDB_FIRST); mrc == 0;
	     mrc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		if (k.mv_size != CK_HASH_BYTES || v.mv_size != CK_HASH_BYTES) {
			rc = fail(au, "a state-root leaf of %zu/%zu bytes", k.mv_size, v.mv_size);
			break;
		}
		smt_fold_add(&f, k.mv_data, v.mv_data);
		n++;
	}
	mdb_cursor_close(c);
	if (rc != 0)
		return rc;
	if (mrc != MDB_NOTFOUND)
		return st_dberr(mrc, "audit state-root leaves");
	if (n != au->nleaves)
		return fail(au, "%zu state-root leaves stored for %zu state entries", n, au->nleaves);
	smt_fold_end(&f, root);
	return 0;
}

static int cmp_iv(const void *a, const void *b)
{
	const audit_iv *x = a, *y = b;
	int c = memcmp(x->citizen, y->citizen, CK_PUBKEY_BYTES);
	if (c != 0)
		return c;
	return x->start < y->start ? -1 : x->start > y->start;
}

/* Every "trips" record: its key matches it, and its TRIP and INTERVAL
 * entries have their leaves; then no trip id twice and no two
 * intervals of one citizen overlapping, by sorting (the store is keyed by
 * day, so neither follows from its keys). */
static int check_trips(audit *au)
{
	MDB_cursor *c = NULL;
	MDB_val k, v;
	MDB_stat st;
	ck_hash *ids = NULL;
	audit_iv *ivs = NULL;
	size_t n = 0;
	cm_wr w;
	int rc, mrc;

	cm_wr_init(&w);
	if ((mrc = mdb_stat(au->txn, au->l->db_trips, &st)) != 0 ||
	    (mrc = mdb_cursor_open(au->txn, au->l->db_trips, &c)) != 0) {
		rc = st_dberr(mrc, "audit trips");
		goto done;
	}
	ids = malloc((st.ms_entries ? st.ms_entries : 1) * sizeof *ids);
	ivs = malloc((st.ms_entries ? st.ms_entries : 1) * sizeof *ivs);
	if (ids == NULL || ivs == NULL) {
		rc = LEDGER_E_NOMEM;
		goto done;
	}
	rc = 0;
	for (mrc = mdb_cursor_get(c, &k, &v, MDB_FIRST); mrc == 0 && rc == 0;
	     mrc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		const uint8_t *kp = k.mv_data;
		st_trip t;
		if (k.mv_size != ST_TRIP_KEY_BYTES || n == st.ms_entries) {
			rc = fail(au, "trips key of %zu bytes", k.mv_size);
			break;
		}
		if ((rc = st_dec_trip(&v, &t)) != 0)
			break;
		if (st_day_unkey(st_rd64(kp)) != ledger_day(t.end_s, au->l->tz_offset_s) ||
		    st_rd64(kp + 8) != t.height) {
			rc = fail(au, "trips key differs from its record's end day or height");
			break;
		}
		if (t.start_s >= t.end_s) {
			rc = fail(au, "empty or inverted trip interval");
			break;
		}
		memcpy(ids[n], kp + 16, CK_HASH_BYTES);
		memcpy(ivs[n].citizen, t.citizen, CK_PUBKEY_BYTES);
		ivs[n].start = t.start_s;
		ivs[n].end = t.end_s;
		n++;
		uint8_t ik[CK_PUBKEY_BYTES + 8];
		if ((rc = check_leaf(au, LEDGER_TABLE_TRIP, kp + 16, CK_HASH_BYTES, v.mv_data,
				     v.mv_size)) != 0)
			break;
		memcpy(ik, t.citizen, CK_PUBKEY_BYTES);
		st_be64(ik + CK_PUBKEY_BYTES, t.start_s);
		cm_wr_reset(&w);
		st_enc_interval(&w, t.end_s);
		if (cm_wr_error(&w)) {
			rc = LEDGER_E_NOMEM;
			break;
		}
		rc = check_leaf(au, LEDGER_TABLE_INTERVAL, ik, sizeof ik, cm_wr_data(&w),
				cm_wr_len(&w));
	}
	if (rc != 0)
		goto done;
	if (mrc != MDB_NOTFOUND) {
		rc = st_dberr(mrc, "audit trips");
		goto done;
	}
	if (n != ts_count(au->l->trips)) {
		rc = fail(au, "%zu credited trips stored but %zu in the in-memory index", n,
			  ts_count(au->l->trips));
		goto done;
	}
	qsort(ids, n, sizeof *ids, cmp_id);
	for (size_t i = 1; i < n; i++)
		if (memcmp(ids[i - 1], ids[i], CK_HASH_BYTES) == 0) {
			rc = fail(au, "a trip id is credited twice");
			goto done;
		}
	/* Sorted by (citizen, start): a citizen's intervals are disjoint iff
	 * each starts at or after the previous one's end. */
	qsort(ivs, n, sizeof *ivs, cmp_iv);
	for (size_t i = 1; i < n; i++)
		if (memcmp(ivs[i - 1].citizen, ivs[i].citizen, CK_PUBKEY_BYTES) == 0 &&
		    ivs[i].start < ivs[i - 1].end) {
			rc = fail(au, "two credited trips of one citizen overlap");
			goto done;
		}
done:
	if (c != NULL)
		mdb_cursor_close(c);
	free(ids);
	free(ivs);
	cm_wr_free(&w);
	return rc;
}

/* A local row of "state" is a history head: its key is st_head_key's, its
 * value a nonzero loc || slot, and the "hist" entry there carries its
 * account's tag. */
static int check_head(audit *au, const MDB_val *k, const MDB_val *v)
{
	const uint8_t *kp = k->mv_data, *vp = v->mv_data;
	uint8_t tag[ST_HIST_TAG_BYTES];
	assert(st_state_local(k));
	if (kp[ST_HEAD_KEY_BYTES - 1] != ST_HEAD_KEY_SUFFIX)
		return fail(au, "a local state row that is not a history head");
	if (v->mv_size != ST_HIST_HEAD_BYTES)
		return fail(au, "a history head of %zu bytes", v->mv_size);
	if (st_rd64(vp) == 0)
		return fail(au, "a history head names no entry");
	MDB_val hk = { ST_HIST_HEAD_BYTES, (void *)vp }, hv;
	int mrc = mdb_get(au->txn, au->l->db_hist, &hk, &hv);
	if (mrc == MDB_NOTFOUND)
		return fail(au, "a history head names a missing entry");
	if (mrc != 0)
		return st_dberr(mrc, "audit history heads");
	st_hist_tag(tag, kp + 1);
	if (hv.mv_size < ST_HIST_TAG_BYTES || memcmp(hv.mv_data, tag, ST_HIST_TAG_BYTES) != 0)
		return fail(au, "a history head names an entry of another account");
	return 0;
}

static int check_entry(audit *au, const MDB_val *k, const MDB_val *v)
{
	const uint8_t *kp = k->mv_data;
	size_t klen = k->mv_size - 1;
	int rc = 0;

	switch (kp[0]) {
	case LEDGER_TABLE_ACCOUNT: {
		st_account a;
		if (klen != CK_PUBKEY_BYTES)
			return fail(au, "account key of %zu bytes", klen);
		if ((rc = st_dec_account(v, &a)) == 0)
			au->balances += a.balance_g;
		return rc;
	}
	case LEDGER_TABLE_TRIP:
	case LEDGER_TABLE_INTERVAL:
		return fail(au, "a trip or interval entry in \"state\" (they belong in \"trips\")");
	case LEDGER_TABLE_RECEIPT: {
		ledger_receipt r;
		if ((rc = st_dec_receipt(v, &r)) == 0) {
			au->receipts_g += r.price_g;
			if (r.refunded)
				au->refunded_g += r.price_g;
		}
		return rc;
	}
	case LEDGER_TABLE_SUPPLY:
		au->have_sup = true;
		return st_dec_supply(v, &au->sup);
	case LEDGER_TABLE_MEMBER: {
		ledger_member m;
		return st_dec_member(v, &m);
	}
	case LEDGER_TABLE_KEY_MEMBER: {
		st_keyreg kr;
		return st_dec_keyreg(v, &kr);
	}
	case LEDGER_TABLE_METHODOLOGY: {
		ledger_methodology m;
		return st_dec_methodology(v, &m);
	}
	case LEDGER_TABLE_DAILY_CAP: {
		st_cap c;
		return st_dec_cap(v, &c);
	}
	case LEDGER_TABLE_OFFER: {
		ledger_offer o;
		return st_dec_offer(v, &o);
	}
	case LEDGER_TABLE_META:
		return 0;
	default:
		return fail(au, "state entry of unknown table %u", kp[0]);
	}
}

static int check_totals(audit *au, MDB_txn *txn)
{
	const ledger_supply *s = &au->sup;
	if (!au->have_sup)
		return fail(au, "supply totals missing");
	unsigned __int128 expect = (unsigned __int128)s->issued_g + s->refunded_g;
	unsigned __int128 minus = (unsigned __int128)s->redeemed_g + s->clawed_back_g;
	if (expect < minus || expect - minus != s->circulating_g)
		return fail(au, "circulating %llu != issued - redeemed + refunded - clawed back",
			    (unsigned long long)s->circulating_g);
	if (au->balances != s->circulating_g)
		return fail(au, "sum of balances differs from circulating %llu",
			    (unsigned long long)s->circulating_g);
	unsigned __int128 by_mode = 0;
	for (unsigned m = 1; m <= LEDGER_MODE_MAX; m++)
		by_mode += s->by_mode_g[m];
	if (by_mode != s->issued_g)
		return fail(au, "grams by mode do not add up to issued");
	if (au->receipts_g != s->redeemed_g)
		return fail(au, "receipts do not add up to redeemed");
	if (au->refunded_g != s->refunded_g)
		return fail(au, "refunded receipts do not add up to refunded");
	ledger_valset vs;
	int rc;
	if ((rc = st_get_valset(au->l, txn, ST_META_VALSET1, &vs)) != 0)
		return rc;
	if (vs.n == 0)
		return fail(au, "empty validator set");
	if ((rc = st_get_valset(au->l, txn, ST_META_VALSET2, &vs)) != 0)
		return rc;
	if (vs.n == 0)
		return fail(au, "empty next validator set");
	return 0;
}

int ledger_audit(ledger *l, char *msg, size_t msglen)
{
	audit au;
	MDB_cursor *c = NULL;
	MDB_val k, v;
	st_tip tip;
	int rc, mrc;

	memset(&au, 0, sizeof au);
	au.l = l;
	au.msg = msg;
	au.msglen = msglen;
	if (msg != NULL && msglen > 0)
		msg[0] = '\0';
	/* Under the lock, so the live map can be compared to the same
	 * snapshot as well. */
	pthread_mutex_lock(&l->mu);
	if ((rc = st_rtxn(l, &au.txn)) != 0 || (rc = st_cache_rtxn(l, &au.ctxn)) != 0)
		goto done;
	if ((rc = st_get_tip(l, au.txn, &tip)) != 0)
		goto done;
	if ((mrc = mdb_cursor_open(au.txn, l->db_state, &c)) != 0) {
		rc = st_dberr(mrc, "open cursor");
		goto done;
	}
	for (mrc = mdb_cursor_get(c, &k, &v, MDB_FIRST); mrc == 0;
	     mrc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		if (k.mv_size < 1) {
			rc = fail(&au, "empty state key");
			goto done;
		}
		const uint8_t *kp = k.mv_data;
		if (st_state_local(&k)) {
			if ((rc = check_head(&au, &k, &v)) != 0)
				goto done;
			continue;
		}
		if ((rc = check_leaf(&au, kp[0], kp + 1, k.mv_size - 1, v.mv_data, v.mv_size)) != 0)
			goto done;
		if ((rc = check_entry(&au, &k, &v)) != 0)
			goto done;
	}
	if (mrc != MDB_NOTFOUND) {
		rc = st_dberr(mrc, "audit scan");
		goto done;
	}
	ck_hash root, live;
	if ((rc = check_trips(&au)) != 0 || (rc = check_totals(&au, au.txn)) != 0 ||
	    (rc = fold_leaves(&au, root)) != 0)
		goto done;
	smt_root(l->tree, live);
	if (memcmp(root, tip.state_root, CK_HASH_BYTES) != 0) {
		rc = fail(&au, "state root recomputed from scratch differs from the stored one");
		goto done;
	}
	if (memcmp(live, tip.state_root, CK_HASH_BYTES) != 0)
		rc = fail(&au, "in-memory state root differs from the stored one");
done:
	if (c != NULL)
		mdb_cursor_close(c);
	if (au.ctxn != NULL)
		mdb_txn_abort(au.ctxn);
	if (au.txn != NULL)
		mdb_txn_abort(au.txn);
	pthread_mutex_unlock(&l->mu);
	if (rc != 0 && rc != LEDGER_E_AUDIT && !au.failed && msg != NULL && msglen > 0)
		snprintf(msg, msglen, "audit could not read the state: %s", ledger_strerror(rc));
	return rc;
}
