/*
 * ledger_audit(): re-derives from the stored state, in one read snapshot,
 * everything the rules promise, without trusting any running total or the
 * in-memory map: the supply equations against the sum of balances and the
 * receipts, credited trips against their intervals and the pruning index,
 * citizens' intervals pairwise disjoint, and the state root rebuilt from
 * scratch. Separate from apply.c so that it shares no code path with what
 * it checks beyond the value codecs.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "ledger/state_internal.h"

typedef struct audit {
	ledger *l;
	MDB_txn *txn;
	char *msg;
	size_t msglen;
	bool failed;
	/* totals */
	unsigned __int128 balances, receipts_g, refunded_g;
	uint64_t ntrips, nintervals, ncredit_g;
	/* interval walk */
	bool have_prev;
	ck_pubkey prev_citizen;
	uint64_t prev_end;
	ledger_supply sup;
	bool have_sup;
} audit;

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

static int check_trip(audit *au, const uint8_t *trip_id, const MDB_val *v)
{
	st_trip t;
	int rc = st_dec_trip(v, &t);
	if (rc != 0)
		return rc;
	au->ntrips++;
	au->ncredit_g += t.credited_g;
	uint8_t ik[CK_PUBKEY_BYTES + 8];
	MDB_val iv;
	memcpy(ik, t.citizen, CK_PUBKEY_BYTES);
	st_be64(ik + CK_PUBKEY_BYTES, t.start_s);
	rc = st_get(au->l, au->txn, LEDGER_TABLE_INTERVAL, ik, sizeof ik, &iv);
	if (rc == LEDGER_E_NOTFOUND)
		return fail(au, "credited trip without its interval");
	uint64_t end;
	if (rc != 0 || (rc = st_dec_interval(&iv, &end)) != 0)
		return rc;
	if (end != t.end_s || t.start_s >= t.end_s)
		return fail(au, "credited trip's interval differs from the trip");
	uint8_t dk[8 + CK_HASH_BYTES];
	MDB_val k = { sizeof dk, dk }, dv;
	st_be64(dk, st_day_key(ledger_day(t.end_s, au->l->tz_offset_s)));
	memcpy(dk + 8, trip_id, CK_HASH_BYTES);
	rc = mdb_get(au->txn, au->l->db_tripday, &k, &dv);
	if (rc == MDB_NOTFOUND)
		return fail(au, "credited trip missing from the pruning index");
	if (rc != 0)
		return st_dberr(rc, "audit trip days");
	if (dv.mv_size != sizeof ik || memcmp(dv.mv_data, ik, sizeof ik) != 0)
		return fail(au, "pruning index entry differs from the trip");
	return 0;
}

static int check_interval(audit *au, const uint8_t *key, const MDB_val *v)
{
	uint64_t end;
	int rc = st_dec_interval(v, &end);
	if (rc != 0)
		return rc;
	uint64_t start = st_rd64(key + CK_PUBKEY_BYTES);
	au->nintervals++;
	if (start >= end)
		return fail(au, "empty or inverted trip interval");
	/* Keys are (citizen, start) in order: a citizen's intervals are
	 * disjoint iff each starts at or after the previous one's end. */
	if (au->have_prev && memcmp(au->prev_citizen, key, CK_PUBKEY_BYTES) == 0 &&
	    start < au->prev_end)
		return fail(au, "two credited trips of one citizen overlap");
	au->have_prev = true;
	memcpy(au->prev_citizen, key, CK_PUBKEY_BYTES);
	au->prev_end = end;
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
		if (klen != CK_HASH_BYTES)
			return fail(au, "trip key of %zu bytes", klen);
		return check_trip(au, kp + 1, v);
	case LEDGER_TABLE_INTERVAL:
		if (klen != CK_PUBKEY_BYTES + 8)
			return fail(au, "interval key of %zu bytes", klen);
		return check_interval(au, kp + 1, v);
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
	if (au->ntrips != au->nintervals)
		return fail(au, "%llu credited trips but %llu intervals",
			    (unsigned long long)au->ntrips, (unsigned long long)au->nintervals);
	MDB_stat st;
	int rc = mdb_stat(txn, au->l->db_tripday, &st);
	if (rc != 0)
		return st_dberr(rc, "audit trip days");
	if (st.ms_entries != au->ntrips)
		return fail(au, "pruning index has %zu entries for %llu trips", st.ms_entries,
			    (unsigned long long)au->ntrips);
	ledger_valset vs;
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
	smt *fresh = NULL;
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
	if ((rc = smt_new(&fresh)) != 0)
		return rc;
	/* Under the lock, so the live map can be compared to the same
	 * snapshot as well. */
	pthread_mutex_lock(&l->mu);
	if ((rc = st_rtxn(l, &au.txn)) != 0)
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
		ck_hash sk, sv;
		smt_key(sk, kp[0], kp + 1, k.mv_size - 1);
		smt_value(sv, v.mv_data, v.mv_size);
		if ((rc = smt_set(fresh, sk, sv)) != 0)
			goto done;
		if ((rc = check_entry(&au, &k, &v)) != 0)
			goto done;
	}
	if (mrc != MDB_NOTFOUND) {
		rc = st_dberr(mrc, "audit scan");
		goto done;
	}
	if ((rc = check_totals(&au, au.txn)) != 0)
		goto done;
	ck_hash root, live;
	smt_root(fresh, root);
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
	if (au.txn != NULL)
		mdb_txn_abort(au.txn);
	pthread_mutex_unlock(&l->mu);
	smt_free(fresh);
	if (rc != 0 && rc != LEDGER_E_AUDIT && !au.failed && msg != NULL && msglen > 0)
		snprintf(msg, msglen, "audit could not read the state: %s", ledger_strerror(rc));
	return rc;
}
