/*
 * Checking and applying blocks: the business rules of every transaction
 * kind, the pruning of the de-duplication window, and the bookkeeping that
 * lands with a block (state root, block store, results, query indexes), all
 * in one LMDB write transaction.
 *
 * The rules, with every result code, the order in which they are checked
 * and the reasons for each decision (the nonce rule, batch result codes,
 * the claim window, caps, the store, clawback, recovery, membership guards,
 * methodology changes, pruning), are specified in docs/PROTOCOL.md,
 * "Rules", and, for crediting, docs/METHODOLOGY.md: change them there and
 * here together, and in tests/unit/test_ledger_rules.c.
 */
#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "ledger/state_internal.h"

/* ---- validation (shared by check and apply) ----------------------------- */

static void free_txs(ledger_tx **txs, uint32_t n)
{
	if (txs == NULL)
		return;
	for (uint32_t i = 0; i < n; i++)
		ledger_tx_free(txs[i]);
	free(txs);
}

static bool valset_has(const ledger_valset *vs, const ck_pubkey k)
{
	for (uint32_t i = 0; i < vs->n; i++)
		if (memcmp(vs->keys[i], k, CK_PUBKEY_BYTES) == 0)
			return true;
	return false;
}

/* ---- accounts and history heads touched by the block -------------------------- */

/* Each account the block reads or writes is read from LMDB at most once and
 * written back at most once, at the block's end, in key order (end_block):
 * the sender of several transactions, or a citizen paid several times,
 * costs one lookup and one write per block, and the write-back walks the
 * tree in order instead of jumping at random. The account's history head
 * rides along for the same reasons. An open-addressing table with linear
 * probing and no deletions, addressed by the top bits of a multiply-shift
 * hash with random multipliers drawn per block (as tripset.c does): keys
 * are chosen by clients, who must not be able to make them collide. The
 * table's order never shows in what is written: the write-back is sorted. */
typedef struct bc_ent {
	ck_pubkey key;
	st_account acct;
	uint64_t head_loc;        /* newest history entry, 0: none */
	uint64_t next_nonce;      /* validate's: the nonce its next transaction needs */
	uint16_t head_slot;
	bool used, acct_known, acct_dirty, head_known, head_dirty, nonce_known;
} bc_ent;

typedef struct bcache {
	bc_ent *e;
	unsigned bits;            /* 2^bits slots, at most half of them used */
	size_t n;
	unsigned __int128 mul[4], add;
} bcache;

#define BC_BITS_MIN 6u

static int bc_init(bcache *c, size_t expect)
{
	uint8_t seed[5 * 16];
	memset(c, 0, sizeof *c);
	c->bits = BC_BITS_MIN;
	while (((size_t)1 << c->bits) < 2 * expect && c->bits < 40)
		c->bits++;
	if (getrandom(seed, sizeof seed, 0) != (ssize_t)sizeof seed) {
		fprintf(stderr, "ledger: getrandom for the block's account table: %s\n",
			strerror(errno));
		return LEDGER_E_DB;
	}
	for (unsigned i = 0; i < 4; i++)
		memcpy(&c->mul[i], seed + 16 * i, 16);
	memcpy(&c->add, seed + 64, 16);
	c->e = calloc((size_t)1 << c->bits, sizeof *c->e);
	return c->e != NULL ? 0 : LEDGER_E_NOMEM;
}

static void bc_free(bcache *c)
{
	free(c->e);
	c->e = NULL;
}

static size_t bc_home(const bcache *c, const uint8_t *key)
{
	unsigned __int128 acc = c->add;
	for (unsigned i = 0; i < 4; i++) {
		uint64_t w;
		memcpy(&w, key + 8 * i, sizeof w);
		acc += c->mul[i] * w;
	}
	return (size_t)((uint64_t)(acc >> 64) >> (64u - c->bits));
}

static bc_ent *bc_probe(const bcache *c, const uint8_t *key)
{
	size_t mask = ((size_t)1 << c->bits) - 1;
	for (size_t i = bc_home(c, key);; i = (i + 1) & mask)
		if (!c->e[i].used || memcmp(c->e[i].key, key, CK_PUBKEY_BYTES) == 0)
			return &c->e[i];
}

/* The entry of key, added (nothing known yet) if absent. The pointer is
 * valid until the next call. */
static int bc_entry(bcache *c, const ck_pubkey key, bc_ent **out)
{
	bc_ent *e = bc_probe(c, key);
	if (e->used) {
		*out = e;
		return 0;
	}
	if (2 * (c->n + 1) > ((size_t)1 << c->bits)) {
		bcache g = *c;
		g.bits = c->bits + 1;
		if ((g.e = calloc((size_t)1 << g.bits, sizeof *g.e)) == NULL)
			return LEDGER_E_NOMEM;
		for (size_t i = 0; i < ((size_t)1 << c->bits); i++)
			if (c->e[i].used)
				*bc_probe(&g, c->e[i].key) = c->e[i];
		free(c->e);
		*c = g;
		e = bc_probe(c, key);
	}
	memset(e, 0, sizeof *e);
	memcpy(e->key, key, CK_PUBKEY_BYTES);
	e->used = true;
	c->n++;
	*out = e;
	return 0;
}

/* The account as the block has left it so far (zero if absent). */
static int bc_get_account(bcache *c, ledger *l, MDB_txn *txn, const ck_pubkey key, st_account *out)
{
	bc_ent *e;
	int rc = bc_entry(c, key, &e);
	if (rc != 0)
		return rc;
	if (!e->acct_known) {
		if ((rc = st_get_account(l, txn, key, &e->acct)) != 0)
			return rc;
		e->acct_known = true;
	}
	*out = e->acct;
	return 0;
}

static int bc_put_account(bcache *c, const ck_pubkey key, const st_account *in)
{
	bc_ent *e;
	int rc = bc_entry(c, key, &e);
	if (rc != 0)
		return rc;
	e->acct = *in;
	e->acct_known = true;
	e->acct_dirty = true;
	return 0;
}

/* The entry of key with its history head known. */
static int bc_head(bcache *c, ledger *l, MDB_txn *txn, const ck_pubkey key, bc_ent **out)
{
	bc_ent *e = NULL;
	int rc = bc_entry(c, key, &e);
	if (rc != 0)
		return rc;
	if (e->head_known) {
		*out = e;
		return 0;
	}
	if ((rc = st_head_get(l, txn, key, &e->head_loc, &e->head_slot)) != 0)
		return rc;
	e->head_known = true;
	*out = e;
	return 0;
}

static int cmp_bc_ent(const void *x, const void *y)
{
	const bc_ent *a = *(const bc_ent *const *)x, *b = *(const bc_ent *const *)y;
	return memcmp(a->key, b->key, CK_PUBKEY_BYTES);
}

/* Writes the changed accounts and history heads in key order, each head
 * right after its account's row: it is the next key of "state"
 * (st_head_key), so mostly on the page the row's write dirtied. */
static int bc_write_back(bcache *c, ledger *l, MDB_txn *txn)
{
	bc_ent **d = malloc((c->n ? c->n : 1) * sizeof *d);
	size_t nd = 0;
	int rc = 0;
	if (d == NULL)
		return LEDGER_E_NOMEM;
	for (size_t i = 0; i < ((size_t)1 << c->bits); i++)
		if (c->e[i].used && (c->e[i].acct_dirty || c->e[i].head_dirty))
			d[nd++] = &c->e[i];
	qsort(d, nd, sizeof *d, cmp_bc_ent);
	for (size_t i = 0; i < nd && rc == 0; i++) {
		if (d[i]->acct_dirty) {
			cm_wr_reset(&l->wr);
			st_enc_account(&l->wr, &d[i]->acct);
			rc = cm_wr_error(&l->wr)
				     ? LEDGER_E_NOMEM
				     : st_put(l, txn, LEDGER_TABLE_ACCOUNT, d[i]->key, CK_PUBKEY_BYTES,
					      cm_wr_data(&l->wr), cm_wr_len(&l->wr));
		}
		if (rc == 0 && d[i]->head_dirty)
			rc = st_head_put(l, txn, d[i]->key, d[i]->head_loc, d[i]->head_slot);
	}
	free(d);
	return rc;
}

/* ledger_block_txs_root(b, root), keeping each transaction's id in ids
 * (b->ntxs of them): apply needs the ids too and would otherwise hash
 * every transaction a second time. */
static int txs_root_ids(const ledger_block *b, ck_hash *ids, ck_hash root)
{
	ck_hash *leaves = NULL;
	if (b->ntxs > 0 && (leaves = malloc((size_t)b->ntxs * sizeof *leaves)) == NULL)
		return LEDGER_E_NOMEM;
	for (uint32_t i = 0; i < b->ntxs; i++) {
		ledger_tx_hash(ids[i], b->txs[i], b->tx_lens[i]);
		ck_merkle_leaf(leaves[i], ids[i], CK_HASH_BYTES);
	}
	ck_merkle_root(root, (const ck_hash *)leaves, b->ntxs);
	free(leaves);
	return 0;
}

/* What makes a block invalid whatever the state: header version and
 * chain, the transaction count and root, transactions that do not decode.
 * On success *txs_out holds the decoded transactions (caller frees; NULL
 * for an empty block) and, if ids is not NULL, ids the b->ntxs
 * transaction ids. Reads no state, so a check does it before it takes
 * exec_mu. */
static int decode_block(ledger *l, const ledger_block *b, ledger_tx ***txs_out, ck_hash *ids)
{
	const ledger_header *h = &b->header;
	ledger_tx **txs = NULL;
	ck_hash x;
	int rc;

	*txs_out = NULL;
	if (h->version != LEDGER_HEADER_VERSION)
		return LEDGER_E_VERSION;
	if (strcmp(h->chain_id, l->chain_id) != 0)
		return LEDGER_E_CHAIN_ID;
	if (b->ntxs > LIM_BLOCK_TXS_MAX)
		return LEDGER_E_BLOCK;
	if (ids == NULL)
		ledger_block_txs_root(b, x);
	else if ((rc = txs_root_ids(b, ids, x)) != 0)
		return rc;
	if (memcmp(h->txs_root, x, CK_HASH_BYTES) != 0)
		return LEDGER_E_TXS_ROOT;
	if (b->ntxs == 0)
		return 0;
	if ((txs = calloc(b->ntxs, sizeof *txs)) == NULL)
		return LEDGER_E_NOMEM;
	for (uint32_t i = 0; i < b->ntxs; i++) {
		if ((rc = ledger_tx_decode(b->txs[i], b->tx_lens[i], l->chain_id, &txs[i])) != 0) {
			free_txs(txs, b->ntxs);
			return rc;
		}
	}
	*txs_out = txs;
	return 0;
}

/* What makes the decoded block invalid against the state in txn, or, with
 * next (the caller holds exec_mu) and an executed block one past txn's
 * tip, against the state after that block (ledger/executed.c): height,
 * parent, roots, validator sets, time, proposer, and each sender's nonces.
 * The senders' accounts are read through bc, so that apply finds them
 * there. Signatures are not checked here. */
static int validate_state(ledger *l, MDB_txn *txn, const ledger_block *b, ledger_tx **txs,
			  bcache *bc, bool next)
{
	const ledger_header *h = &b->header;
	st_tip tip;
	ledger_valset vs1, vs2;
	ck_hash x;
	bool after_exec = false;
	int rc;

	if ((rc = st_get_tip(l, txn, &tip)) != 0)
		return rc;
	if (next && l->exec_valid && l->exec_info.height == tip.height + 1) {
		const ledger_info *e = &l->exec_info;
		after_exec = true;
		tip.height = e->height;
		tip.time_ms = e->time_ms;
		memcpy(tip.last_hash, e->last_block_hash, CK_HASH_BYTES);
		memcpy(tip.state_root, e->state_root, CK_HASH_BYTES);
		memcpy(tip.results_root, e->results_root, CK_HASH_BYTES);
		vs1 = e->valset;
		vs2 = e->next_valset;
	} else if ((rc = st_get_valset(l, txn, ST_META_VALSET1, &vs1)) != 0 ||
		   (rc = st_get_valset(l, txn, ST_META_VALSET2, &vs2)) != 0) {
		return rc;
	}
	if (h->height != tip.height + 1)
		return LEDGER_E_HEIGHT;
	if (memcmp(h->parent_hash, tip.last_hash, CK_HASH_BYTES) != 0)
		return LEDGER_E_PARENT;
	if (memcmp(h->state_root, tip.state_root, CK_HASH_BYTES) != 0 ||
	    memcmp(h->results_root, tip.results_root, CK_HASH_BYTES) != 0)
		return LEDGER_E_ROOT;
	ledger_valset_hash(&vs1, x);
	if (memcmp(h->valset_hash, x, CK_HASH_BYTES) != 0)
		return LEDGER_E_VALSET;
	ledger_valset_hash(&vs2, x);
	if (memcmp(h->next_valset_hash, x, CK_HASH_BYTES) != 0)
		return LEDGER_E_VALSET;
	if (h->time_ms <= tip.time_ms)
		return LEDGER_E_TIME;
	if (!valset_has(&vs1, h->proposer))
		return LEDGER_E_BLOCK;
	/* Each sender's transactions, in block order, carry consecutive
	 * nonces from its account's next nonce. */
	for (uint32_t i = 0; i < b->ntxs; i++) {
		bc_ent *e = NULL;
		if ((rc = bc_entry(bc, txs[i]->sender, &e)) != 0)
			return rc;
		if (!e->acct_known) {
			if ((rc = st_get_account(l, txn, txs[i]->sender, &e->acct)) != 0)
				return rc;
			e->acct_known = true;
		}
		if (!e->nonce_known) {
			e->next_nonce = e->acct.nonce;
			if (after_exec)
				(void)st_exec_nonce(l, txs[i]->sender, &e->next_nonce);
			e->nonce_known = true;
		}
		if (txs[i]->nonce != e->next_nonce || e->next_nonce == UINT64_MAX)
			return LEDGER_E_NONCE;
		e->next_nonce++;
	}
	return 0;
}

/* Everything that makes a block invalid, against the state in txn (apply:
 * the write transaction). On success *txs_out holds the decoded
 * transactions (caller frees) and, if ids is not NULL, ids their ids. */
static int validate(ledger *l, MDB_txn *txn, const ledger_block *b, ledger_tx ***txs_out,
		    ck_hash *ids, bcache *bc)
{
	int rc = decode_block(l, b, txs_out, ids);
	if (rc == 0 && (rc = validate_state(l, txn, b, *txs_out, bc, false)) != 0) {
		free_txs(*txs_out, b->ntxs);
		*txs_out = NULL;
	}
	return rc;
}

int ledger_check_block(ledger *l, const ledger_block *b, const bool *sigs_verified)
{
	MDB_txn *txn;
	ledger_tx **txs = NULL;
	bcache bc;
	int rc = decode_block(l, b, &txs, NULL);
	if (rc != 0)
		return rc;
	if ((rc = bc_init(&bc, b->ntxs)) != 0) {
		free_txs(txs, b->ntxs);
		return rc;
	}
	/* The snapshot is opened under exec_mu, so the executed block is
	 * either one past it or already in it (see ledger/executed.c); only
	 * the state reads happen under it. */
	pthread_mutex_lock(&l->exec_mu);
	if ((rc = st_rtxn(l, &txn)) == 0) {
		rc = validate_state(l, txn, b, txs, &bc, true);
		mdb_txn_abort(txn);
	}
	pthread_mutex_unlock(&l->exec_mu);
	for (uint32_t i = 0; rc == 0 && i < b->ntxs; i++)
		if ((sigs_verified == NULL || !sigs_verified[i]) && ledger_tx_verify_sigs(txs[i]) != 0)
			rc = LEDGER_E_BADSIG;
	bc_free(&bc);
	free_txs(txs, b->ntxs);
	return rc;
}

/* ---- the application context -------------------------------------------- */

typedef struct hist_ent {
	ck_pubkey key;
	int64_t delta_g;
} hist_ent;

typedef struct ax {
	ledger *l;
	MDB_txn *txn;
	uint64_t height;
	uint64_t block_s;
	ledger_methodology meth;  /* in effect at this height */
	uint32_t meth_latest;
	ledger_supply sup;
	bool sup_dirty;
	bool members_dirty;
	const ck_hash *ids;       /* of the block's transactions */
	bcache bc;                /* accounts and history heads it touched */
	/* the transaction being applied */
	const ledger_tx *tx;
	uint32_t txi;
	ck_hash txhash;
	st_account sacct;         /* sender's account, written once at the end */
	st_keyreg skey;
	bool skey_known;
	ledger_member smember;    /* sender's member (id 0 if none) */
	hist_ent *hist;
	size_t nhist, caphist;
} ax;

static int hist_add(ax *a, const ck_pubkey key, int64_t delta)
{
	if (a->nhist == a->caphist) {
		size_t cap = a->caphist ? 2 * a->caphist : 64;
		hist_ent *p = realloc(a->hist, cap * sizeof *p);
		if (p == NULL)
			return LEDGER_E_NOMEM;
		a->hist = p;
		a->caphist = cap;
	}
	memcpy(a->hist[a->nhist].key, key, CK_PUBKEY_BYTES);
	a->hist[a->nhist].delta_g = delta;
	a->nhist++;
	return 0;
}

static bool is_sender(const ax *a, const ck_pubkey k)
{
	return memcmp(k, a->tx->sender, CK_PUBKEY_BYTES) == 0;
}

/* Accounts go through these so that the sender's row, changed by most
 * transactions, is kept aside during its transaction, and every row
 * through the block's table. */
static int acct_get(ax *a, const ck_pubkey k, st_account *out)
{
	if (is_sender(a, k)) {
		*out = a->sacct;
		return 0;
	}
	return bc_get_account(&a->bc, a->l, a->txn, k, out);
}

static int put_enc(ax *a, uint8_t table, const void *key, size_t klen)
{
	cm_wr *w = &a->l->wr;
	if (cm_wr_error(w))
		return LEDGER_E_NOMEM;
	return st_put(a->l, a->txn, table, key, klen, cm_wr_data(w), cm_wr_len(w));
}

static int acct_put(ax *a, const ck_pubkey k, const st_account *in)
{
	if (is_sender(a, k)) {
		a->sacct = *in;
		return 0;
	}
	return bc_put_account(&a->bc, k, in);
}

static int put_member(ax *a, const ledger_member *m)
{
	uint8_t k[4];
	st_be32(k, m->id);
	cm_wr_reset(&a->l->wr);
	st_enc_member(&a->l->wr, m);
	a->members_dirty = true;
	return put_enc(a, LEDGER_TABLE_MEMBER, k, sizeof k);
}

static int put_keyreg(ax *a, const ck_pubkey key, uint32_t member_id, bool revoked)
{
	st_keyreg kr = { .member_id = member_id, .revoked = revoked };
	cm_wr_reset(&a->l->wr);
	st_enc_keyreg(&a->l->wr, &kr);
	return put_enc(a, LEDGER_TABLE_KEY_MEMBER, key, CK_PUBKEY_BYTES);
}

static int local_put(ax *a, MDB_dbi dbi, const void *k, size_t klen, const void *v, size_t vlen,
		     const char *ctx)
{
	MDB_val mk = { klen, (void *)k }, mv = { vlen, (void *)v };
	int rc = mdb_put(a->txn, dbi, &mk, &mv, 0);
	if (rc != 0)
		return st_dberr(rc, ctx);
	return 0;
}

/* A record keyed by a height above every stored one. */
static int local_append(ax *a, MDB_dbi dbi, const uint8_t hk[8], const void *v, size_t vlen,
			const char *ctx)
{
	MDB_val mk = { 8, (void *)hk }, mv = { vlen, (void *)v };
	int rc = mdb_put(a->txn, dbi, &mk, &mv, MDB_APPEND);
	if (rc != 0)
		return st_dberr(rc, ctx);
	return 0;
}

static int add_u64(uint64_t *x, uint64_t d)
{
	if (*x > UINT64_MAX - d)
		return -1;
	*x += d;
	return 0;
}

/* ---- pruning -------------------------------------------------------------- */

/* Deletes trips (with their intervals) whose end day, and cap counters whose
 * day, is before the first day of the claim window minus one day of margin;
 * at most LIM_PRUNE_PER_BLOCK entries per block, oldest first: trips in
 * "trips" key order (end day, height, trip id), then caps in state key
 * order (day, citizen). */
static int prune(ax *a)
{
	ledger *l = a->l;
	MDB_cursor *c = NULL;
	MDB_val k, v;
	uint32_t budget = LIM_PRUNE_PER_BLOCK;
	int rc;

	if (a->block_s <= a->meth.claim_before_s)
		return 0;
	int64_t cut = ledger_day(a->block_s - a->meth.claim_before_s, l->tz_offset_s) - 1;

	if ((rc = mdb_cursor_open(a->txn, l->db_trips, &c)) != 0)
		return st_dberr(rc, "open cursor");
	while (budget > 0) {
		rc = mdb_cursor_get(c, &k, &v, MDB_FIRST);
		if (rc == MDB_NOTFOUND)
			break;
		if (rc != 0) {
			rc = st_dberr(rc, "read trips");
			goto done;
		}
		const uint8_t *kp = k.mv_data;
		assert(k.mv_size == ST_TRIP_KEY_BYTES);
		ts_loc loc = { st_day_unkey(st_rd64(kp)), st_rd64(kp + 8) };
		if (loc.endday >= cut)
			break;
		st_trip t;
		ck_hash trip_id;
		memcpy(trip_id, kp + 16, CK_HASH_BYTES);
		if ((rc = st_dec_trip(&v, &t)) != 0)
			goto done;
		if ((rc = mdb_cursor_del(c, 0)) != 0) {
			rc = st_dberr(rc, "prune trip");
			goto done;
		}
		if ((rc = ts_del(l->trips, trip_id, &loc, t.citizen, t.start_s)) != 0 ||
		    (rc = st_root_trip(l, trip_id, &t, NULL)) != 0)
			goto done;
		budget--;
	}
	mdb_cursor_close(c);
	c = NULL;

	uint8_t start[1] = { LEDGER_TABLE_DAILY_CAP };
	if ((rc = mdb_cursor_open(a->txn, l->db_state, &c)) != 0)
		return st_dberr(rc, "open cursor");
	while (budget > 0) {
		k.mv_size = 1;
		k.mv_data = start;
		rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
		if (rc == MDB_NOTFOUND)
			break;
		if (rc != 0) {
			rc = st_dberr(rc, "read caps");
			goto done;
		}
		const uint8_t *kp = k.mv_data;
		if (kp[0] != LEDGER_TABLE_DAILY_CAP)
			break;
		assert(k.mv_size == 1 + 8 + CK_PUBKEY_BYTES);
		if (st_day_unkey(st_rd64(kp + 1)) >= cut)
			break;
		uint8_t ck[8 + CK_PUBKEY_BYTES];
		memcpy(ck, kp + 1, sizeof ck);
		if ((rc = st_del(l, a->txn, LEDGER_TABLE_DAILY_CAP, ck, sizeof ck)) != 0)
			goto done;
		budget--;
	}
	rc = 0;
done:
	if (c != NULL)
		mdb_cursor_close(c);
	return rc;
}

/* ---- issue ------------------------------------------------------------------ */

/* The rules of one trip that need no writes; returns a LEDGER_R_* code. */
static int trip_static_code(const ax *a, const ledger_trip *t)
{
	unsigned m = t->mode;
	if (m == 0 || m > LEDGER_MODE_MAX || !(a->smember.modes & (1u << m)) ||
	    !a->meth.mode[m].enabled)
		return LEDGER_R_MODE_NOT_ALLOWED;
	const ledger_mode_params *p = &a->meth.mode[m];
	if (t->start_s >= t->end_s || t->distance_m == 0)
		return LEDGER_R_BAD_TRIP;
	/* distance / duration <= max speed, in integers:
	 * distance_m * 3600 <= max_speed_kmh * 1000 * duration_s. */
	uint64_t dur = t->end_s - t->start_s;
	uint64_t rate = (uint64_t)p->max_speed_kmh * 1000u;
	uint64_t lhs = (uint64_t)t->distance_m * 3600u;
	if (rate == 0 || (dur <= UINT64_MAX / rate && lhs > rate * dur))
		return LEDGER_R_BAD_TRIP;
	uint64_t lo = a->block_s > a->meth.claim_before_s ? a->block_s - a->meth.claim_before_s : 0;
	uint64_t hi = a->block_s + a->meth.claim_after_s;
	if (t->start_s < lo || t->end_s > hi)
		return LEDGER_R_WINDOW;
	if (t->distance_m < p->min_distance_m)
		return LEDGER_R_MIN_DISTANCE;
	return LEDGER_R_OK;
}

static uint64_t cap_left(uint32_t cap, uint64_t used)
{
	if (cap == 0)
		return UINT64_MAX;
	return used >= cap ? 0 : cap - used;
}

/* Applies one trip; *code gets its result and *credited its grams. */
static int apply_trip(ax *a, const ledger_trip *t, uint8_t *code, uint64_t *credited, int64_t *day_out)
{
	ledger *l = a->l;
	MDB_val v;
	int rc;

	*credited = 0;
	*day_out = ledger_day(t->start_s, l->tz_offset_s);
	*code = (uint8_t)trip_static_code(a, t);
	if (*code != LEDGER_R_OK)
		return 0;
	rc = st_find_trip(l, a->txn, t->trip_id, &v, NULL);
	if (rc == 0) {
		*code = LEDGER_R_DUP_TRIP;
		return 0;
	}
	if (rc != LEDGER_E_NOTFOUND)
		return rc;
	if (ts_overlaps(l->trips, t->citizen, t->start_s, t->end_s)) {
		*code = LEDGER_R_OVERLAP;
		return 0;
	}

	const ledger_mode_params *p = &a->meth.mode[t->mode];
	uint8_t capk[8 + CK_PUBKEY_BYTES];
	st_cap cap;
	st_be64(capk, st_day_key(*day_out));
	memcpy(capk + 8, t->citizen, CK_PUBKEY_BYTES);
	rc = st_get(l, a->txn, LEDGER_TABLE_DAILY_CAP, capk, sizeof capk, &v);
	if (rc == LEDGER_E_NOTFOUND)
		memset(&cap, 0, sizeof cap);
	else if (rc != 0 || (rc = st_dec_cap(&v, &cap)) != 0)
		return rc;
	uint64_t credit = (uint64_t)t->distance_m * p->reduction_mg_per_km / 1000000u;
	uint64_t left = cap_left(p->daily_cap_g, cap.g[t->mode]);
	uint64_t left_all = cap_left(a->meth.daily_cap_g, cap.g[0]);
	if (left_all < left)
		left = left_all;
	if (left == 0) {
		*code = LEDGER_R_CAP;
		return 0;
	}
	if (credit > left)
		credit = left;

	st_account acct;
	if ((rc = acct_get(a, t->citizen, &acct)) != 0)
		return rc;
	ledger_supply s = a->sup;
	if (add_u64(&acct.balance_g, credit) || add_u64(&s.issued_g, credit) ||
	    add_u64(&s.circulating_g, credit) || add_u64(&s.by_mode_g[t->mode], credit) ||
	    add_u64(&s.trips_credited, 1)) {
		*code = LEDGER_R_OVERFLOW;
		return 0;
	}
	cap.g[0] += credit;
	cap.g[t->mode] += credit;

	cm_wr *w = &l->wr;
	st_trip tr = {
		.height = a->height,
		.issuer_member_id = a->smember.id,
		.mode = t->mode,
		.methodology_version = a->meth.version,
		.credited_g = credit,
		.start_s = t->start_s,
		.end_s = t->end_s,
	};
	memcpy(tr.citizen, t->citizen, CK_PUBKEY_BYTES);
	ts_loc loc = { ledger_day(t->end_s, l->tz_offset_s), a->height };
	uint8_t tk[ST_TRIP_KEY_BYTES];
	st_trip_key(tk, loc.endday, loc.height, t->trip_id);
	cm_wr_reset(w);
	st_enc_trip(w, &tr);
	if (cm_wr_error(w))
		return LEDGER_E_NOMEM;
	MDB_val rec = { cm_wr_len(w), (void *)cm_wr_data(w) };
	if ((rc = local_put(a, l->db_trips, tk, sizeof tk, rec.mv_data, rec.mv_size,
			    "write trip")) != 0 ||
	    (rc = st_root_trip(l, t->trip_id, &tr, &rec)) != 0 ||
	    (rc = ts_add(l->trips, t->trip_id, &loc, t->citizen, t->start_s, t->end_s)) != 0)
		return rc;
	cm_wr_reset(w);
	st_enc_cap(w, &cap);
	if ((rc = put_enc(a, LEDGER_TABLE_DAILY_CAP, capk, sizeof capk)) != 0)
		return rc;
	if ((rc = acct_put(a, t->citizen, &acct)) != 0)
		return rc;
	if ((rc = hist_add(a, t->citizen, (int64_t)credit)) != 0)
		return rc;
	a->sup = s;
	a->sup_dirty = true;
	*credited = credit;
	return 0;
}

static int index_trip(ax *a, uint32_t j, int64_t day, uint8_t code, uint64_t credited)
{
	uint8_t k[ST_ITRIP_KEY_BYTES], v[ST_ITRIP_VAL_BYTES_MAX];
	assert(j <= 0xffffu);
	st_itrip_key(k, a->smember.id, day, st_loc(a->height, a->txi), (uint16_t)j);
	v[0] = code;
	size_t n = 1 + st_put_uvarint(v + 1, credited);
	return local_put(a, a->l->db_itrips, k, sizeof k, v, n, "write issuer trips");
}

static int do_issue(ax *a, ledger_tx_result *res, uint8_t role_code)
{
	const ledger_tx *tx = a->tx;
	uint32_t n = tx->u.issue.ntrips;
	uint32_t ok = 0;
	uint8_t first_bad = LEDGER_R_OK;
	int rc;

	res->ntrips = n;
	res->trip_codes = calloc(n ? n : 1, 1);
	if (res->trip_codes == NULL)
		return LEDGER_E_NOMEM;
	for (uint32_t j = 0; j < n; j++) {
		const ledger_trip *t = &tx->u.issue.trips[j];
		uint8_t code = role_code;
		uint64_t credited = 0;
		int64_t day = ledger_day(t->start_s, a->l->tz_offset_s);
		if (code == LEDGER_R_OK && (rc = apply_trip(a, t, &code, &credited, &day)) != 0)
			return rc;
		res->trip_codes[j] = code;
		res->credited_g += credited;
		if (code == LEDGER_R_OK)
			ok++;
		else if (first_bad == LEDGER_R_OK)
			first_bad = code;
		/* The reconciliation index only knows issuers that are members. */
		if (a->smember.id != 0 && (rc = index_trip(a, j, day, code, credited)) != 0)
			return rc;
	}
	if (ok == n)
		res->code = LEDGER_R_OK;
	else if (ok > 0)
		res->code = LEDGER_R_PARTIAL;
	else
		res->code = first_bad;
	return 0;
}

/* ---- transfer, redeem, refund, offer ----------------------------------------- */

static int do_transfer(ax *a, ledger_tx_result *res)
{
	const ledger_tx *tx = a->tx;
	uint64_t amt = tx->u.transfer.amount_g;
	st_account to;
	int rc;

	if (amt == 0) {
		res->code = LEDGER_R_ZERO;
		return 0;
	}
	if (is_sender(a, tx->u.transfer.to)) {
		res->code = LEDGER_R_SELF;
		return 0;
	}
	if (amt > INT64_MAX) {
		res->code = LEDGER_R_OVERFLOW;
		return 0;
	}
	if (a->sacct.balance_g < amt) {
		res->code = LEDGER_R_INSUFFICIENT;
		return 0;
	}
	if ((rc = acct_get(a, tx->u.transfer.to, &to)) != 0)
		return rc;
	if (add_u64(&to.balance_g, amt)) {
		res->code = LEDGER_R_OVERFLOW;
		return 0;
	}
	a->sacct.balance_g -= amt;
	if ((rc = acct_put(a, tx->u.transfer.to, &to)) != 0)
		return rc;
	a->hist[0].delta_g = -(int64_t)amt;
	return hist_add(a, tx->u.transfer.to, (int64_t)amt);
}

static int get_offer(ax *a, uint64_t id, ledger_offer *o, bool *found)
{
	uint8_t k[8];
	MDB_val v;
	st_be64(k, id);
	int rc = st_get(a->l, a->txn, LEDGER_TABLE_OFFER, k, sizeof k, &v);
	*found = rc == 0;
	if (rc == LEDGER_E_NOTFOUND)
		return 0;
	if (rc != 0)
		return rc;
	return st_dec_offer(&v, o);
}

static int put_offer(ax *a, const ledger_offer *o)
{
	uint8_t k[8];
	st_be64(k, o->id);
	cm_wr_reset(&a->l->wr);
	st_enc_offer(&a->l->wr, o);
	return put_enc(a, LEDGER_TABLE_OFFER, k, sizeof k);
}

static int put_receipt(ax *a, const ck_hash id, const ledger_receipt *r)
{
	cm_wr_reset(&a->l->wr);
	st_enc_receipt(&a->l->wr, r);
	return put_enc(a, LEDGER_TABLE_RECEIPT, id, CK_HASH_BYTES);
}

static int do_redeem(ax *a, ledger_tx_result *res)
{
	const ledger_tx *tx = a->tx;
	ledger_offer o;
	bool found;
	int rc;

	if ((rc = get_offer(a, tx->u.redeem.offer_id, &o, &found)) != 0)
		return rc;
	if (!found || !o.active) {
		res->code = LEDGER_R_NO_OFFER;
		return 0;
	}
	if (o.stock == 0) {
		res->code = LEDGER_R_STOCK;
		return 0;
	}
	if (o.price_g > tx->u.redeem.max_price_g) {
		res->code = LEDGER_R_PRICE;
		return 0;
	}
	if (a->sacct.balance_g < o.price_g) {
		res->code = LEDGER_R_INSUFFICIENT;
		return 0;
	}
	ledger_supply s = a->sup;
	if (add_u64(&s.redeemed_g, o.price_g)) {
		res->code = LEDGER_R_OVERFLOW;
		return 0;
	}
	assert(s.circulating_g >= o.price_g);
	s.circulating_g -= o.price_g;
	a->sacct.balance_g -= o.price_g;
	o.stock--;
	if ((rc = put_offer(a, &o)) != 0)
		return rc;
	ledger_receipt r = {
		.offer_id = o.id,
		.merchant_id = o.merchant_id,
		.price_g = o.price_g,
		.height = a->height,
		.refunded = false,
	};
	memcpy(r.citizen, tx->sender, CK_PUBKEY_BYTES);
	if ((rc = put_receipt(a, a->txhash, &r)) != 0)
		return rc;
	/* The merchant finds its receipts through this index, not through
	 * the history of its keys: its balance does not change (the credits
	 * are burned) and a member may hold several keys. */
	uint8_t rk[ST_RECEIPT_KEY_BYTES];
	st_receipt_key(rk, o.merchant_id, a->height, a->txi);
	if ((rc = local_put(a, a->l->db_receipts, rk, sizeof rk, a->txhash, CK_HASH_BYTES,
			    "write receipts index")) != 0)
		return rc;
	a->sup = s;
	a->sup_dirty = true;
	assert(o.price_g <= INT64_MAX);
	a->hist[0].delta_g = -(int64_t)o.price_g;
	return 0;
}

static int do_refund(ax *a, ledger_tx_result *res)
{
	const ledger_tx *tx = a->tx;
	ledger_receipt r;
	MDB_val v;
	int rc;

	if (!(a->smember.roles & LEDGER_ROLE_MERCHANT)) {
		res->code = LEDGER_R_ROLE;
		return 0;
	}
	rc = st_get(a->l, a->txn, LEDGER_TABLE_RECEIPT, tx->u.refund.receipt_id, CK_HASH_BYTES, &v);
	if (rc == LEDGER_E_NOTFOUND) {
		res->code = LEDGER_R_NO_RECEIPT;
		return 0;
	}
	if (rc != 0 || (rc = st_dec_receipt(&v, &r)) != 0)
		return rc;
	if (r.merchant_id != a->smember.id) {
		res->code = LEDGER_R_NOT_MERCHANT;
		return 0;
	}
	if (r.refunded) {
		res->code = LEDGER_R_REFUNDED;
		return 0;
	}
	st_account c;
	ledger_supply s = a->sup;
	if ((rc = acct_get(a, r.citizen, &c)) != 0)
		return rc;
	if (add_u64(&c.balance_g, r.price_g) || add_u64(&s.refunded_g, r.price_g) ||
	    add_u64(&s.circulating_g, r.price_g)) {
		res->code = LEDGER_R_OVERFLOW;
		return 0;
	}
	r.refunded = true;
	if ((rc = put_receipt(a, tx->u.refund.receipt_id, &r)) != 0 ||
	    (rc = acct_put(a, r.citizen, &c)) != 0)
		return rc;
	a->sup = s;
	a->sup_dirty = true;
	return hist_add(a, r.citizen, (int64_t)r.price_g);
}

static int do_offer(ax *a, ledger_tx_result *res)
{
	const ledger_tx *tx = a->tx;
	ledger_offer o;
	bool found;
	int rc;

	if (!(a->smember.roles & LEDGER_ROLE_MERCHANT)) {
		res->code = LEDGER_R_ROLE;
		return 0;
	}
	if ((rc = get_offer(a, tx->u.offer.offer_id, &o, &found)) != 0)
		return rc;
	switch (tx->u.offer.action) {
	case LEDGER_OFFER_PUBLISH:
		if (found) {
			res->code = LEDGER_R_OFFER_EXISTS;
			return 0;
		}
		memset(&o, 0, sizeof o);
		o.id = tx->u.offer.offer_id;
		o.merchant_id = a->smember.id;
		o.active = true;
		break;
	case LEDGER_OFFER_UPDATE:
	case LEDGER_OFFER_WITHDRAW:
		if (!found) {
			res->code = LEDGER_R_NO_OFFER;
			return 0;
		}
		if (o.merchant_id != a->smember.id) {
			res->code = LEDGER_R_NOT_MERCHANT;
			return 0;
		}
		if (!o.active) {
			res->code = LEDGER_R_NO_OFFER;
			return 0;
		}
		if (tx->u.offer.action == LEDGER_OFFER_WITHDRAW) {
			o.active = false;
			return put_offer(a, &o);
		}
		break;
	default:
		/* The codec admits only the three actions. */
		assert(!"offer action");
		return LEDGER_E_FIELD;
	}
	if (tx->u.offer.price_g == 0) {
		res->code = LEDGER_R_ZERO;
		return 0;
	}
	if (tx->u.offer.price_g > INT64_MAX) {
		res->code = LEDGER_R_OVERFLOW;
		return 0;
	}
	o.price_g = tx->u.offer.price_g;
	o.stock = tx->u.offer.stock;
	memcpy(o.name, tx->u.offer.name, sizeof o.name);
	memcpy(o.description, tx->u.offer.description, sizeof o.description);
	return put_offer(a, &o);
}

/* ---- govern ------------------------------------------------------------------ */

static void count_member(const ledger_member *p, uint32_t *nval, uint32_t *ngov)
{
	if (p->nkeys == 0)
		return;
	if (p->roles & LEDGER_ROLE_GOVERNOR)
		(*ngov)++;
	if (p->roles & LEDGER_ROLE_VALIDATOR)
		(*nval)++;
}

/* Validators (count only) and governor count if member `over` replaced its
 * stored record (or joined, if new), or if member `removed` left. */
static int members_after(ax *a, const ledger_member *over, uint32_t removed, uint32_t *nval,
			 uint32_t *ngov)
{
	MDB_cursor *c = NULL;
	uint8_t kb = LEDGER_TABLE_MEMBER;
	MDB_val k = { 1, &kb }, v;
	bool over_seen = false;
	int rc, out = 0;

	*nval = 0;
	*ngov = 0;
	if ((rc = mdb_cursor_open(a->txn, a->l->db_state, &c)) != 0)
		return st_dberr(rc, "open cursor");
	for (rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE); rc == 0;
	     rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		ledger_member m;
		if (((uint8_t *)k.mv_data)[0] != LEDGER_TABLE_MEMBER)
			break;
		if ((out = st_dec_member(&v, &m)) != 0)
			break;
		if (m.id == removed)
			continue;
		if (over != NULL && m.id == over->id) {
			over_seen = true;
			count_member(over, nval, ngov);
		} else {
			count_member(&m, nval, ngov);
		}
	}
	mdb_cursor_close(c);
	if (out != 0)
		return out;
	if (rc != 0 && rc != MDB_NOTFOUND)
		return st_dberr(rc, "read members");
	if (over != NULL && !over_seen)
		count_member(over, nval, ngov);
	return 0;
}

/* LEDGER_R_OK if the membership after the change keeps a validator set of
 * 1..LIM_VALIDATORS_MAX and at least threshold governor members. */
static int membership_code(ax *a, const ledger_member *over, uint32_t removed, int *code)
{
	uint32_t nval, ngov;
	int rc = members_after(a, over, removed, &nval, &ngov);
	if (rc != 0)
		return rc;
	if (nval == 0 || nval > LIM_VALIDATORS_MAX)
		*code = LEDGER_R_VALSET;
	else if (ngov < a->l->governor_threshold)
		*code = LEDGER_R_MEMBER;
	else
		*code = LEDGER_R_OK;
	return 0;
}

static bool is_governor_key(ax *a, const ck_pubkey key, uint32_t *member_id, int *err)
{
	st_keyreg kr;
	ledger_member m;
	*err = st_get_keyreg(a->l, a->txn, key, &kr);
	if (*err == LEDGER_E_NOTFOUND) {
		*err = 0;
		return false;
	}
	if (*err != 0 || kr.revoked || kr.member_id == 0)
		return false;
	*err = st_get_member(a->l, a->txn, kr.member_id, &m);
	if (*err == LEDGER_E_NOTFOUND) {
		*err = 0;
		return false;
	}
	if (*err != 0)
		return false;
	*member_id = m.id;
	return (m.roles & LEDGER_ROLE_GOVERNOR) != 0;
}

static int approvals_code(ax *a, int *code)
{
	const ledger_tx *tx = a->tx;
	uint32_t ids[LIM_TX_SIGS_MAX + 1];
	uint32_t n = 0;
	int rc;

	*code = LEDGER_R_OK;
	ids[n++] = a->smember.id;
	for (uint32_t i = 0; i < tx->napprovals && i < LIM_TX_SIGS_MAX; i++) {
		uint32_t id = 0;
		if (!is_governor_key(a, tx->approvals[i].key, &id, &rc)) {
			if (rc != 0)
				return rc;
			*code = LEDGER_R_THRESHOLD;
			return 0;
		}
		bool dup = false;
		for (uint32_t j = 0; j < n; j++)
			dup = dup || ids[j] == id;
		if (!dup)
			ids[n++] = id;
	}
	if (n < a->l->governor_threshold)
		*code = LEDGER_R_THRESHOLD;
	return 0;
}

static int key_free(ax *a, const ck_pubkey key, bool *free_)
{
	st_keyreg kr;
	int rc = st_get_keyreg(a->l, a->txn, key, &kr);
	*free_ = rc == LEDGER_E_NOTFOUND;
	return rc == LEDGER_E_NOTFOUND ? 0 : rc;
}

static int gov_add_member(ax *a, const ledger_govern *g, int *code)
{
	MDB_val v;
	uint64_t next;
	cm_rd r;
	int rc = st_get(a->l, a->txn, LEDGER_TABLE_META, ST_META_NEXT_MEMBER,
			strlen(ST_META_NEXT_MEMBER), &v);
	if (rc != 0)
		return rc;
	cm_rd_init(&r, v.mv_data, v.mv_size);
	if (cm_rd_uint_max(&r, UINT32_MAX, &next) != 0 || cm_rd_end(&r) != 0)
		return LEDGER_E_DB;
	if (next > LIM_MEMBERS_MAX || (g->roles & ~LEDGER_ROLES_ALL) != 0 ||
	    g->nkeys > LIM_MEMBER_KEYS_MAX) {
		*code = LEDGER_R_MEMBER;
		return 0;
	}
	if (g->nkeys == 0) {
		*code = LEDGER_R_KEY;
		return 0;
	}
	for (uint32_t i = 0; i < g->nkeys; i++) {
		bool fr;
		if ((rc = key_free(a, g->keys[i], &fr)) != 0)
			return rc;
		for (uint32_t j = 0; j < i; j++)
			fr = fr && memcmp(g->keys[i], g->keys[j], CK_PUBKEY_BYTES) != 0;
		if (!fr) {
			*code = LEDGER_R_KEY;
			return 0;
		}
	}
	ledger_member m;
	memset(&m, 0, sizeof m);
	m.id = (uint32_t)next;
	memcpy(m.name, g->name, sizeof m.name);
	m.roles = g->roles;
	m.modes = g->modes;
	m.nkeys = g->nkeys;
	memcpy(m.keys, g->keys, sizeof m.keys);
	if ((rc = membership_code(a, &m, 0, code)) != 0 || *code != LEDGER_R_OK)
		return rc;
	if ((rc = put_member(a, &m)) != 0)
		return rc;
	for (uint32_t i = 0; i < m.nkeys; i++)
		if ((rc = put_keyreg(a, m.keys[i], m.id, false)) != 0)
			return rc;
	cm_wr_reset(&a->l->wr);
	cm_wr_uint(&a->l->wr, next + 1);
	return put_enc(a, LEDGER_TABLE_META, ST_META_NEXT_MEMBER, strlen(ST_META_NEXT_MEMBER));
}

static int gov_member_change(ax *a, const ledger_govern *g, int *code)
{
	ledger_member m;
	int rc = st_get_member(a->l, a->txn, g->member_id, &m);
	if (rc == LEDGER_E_NOTFOUND) {
		*code = LEDGER_R_MEMBER;
		return 0;
	}
	if (rc != 0)
		return rc;

	switch (g->action) {
	case LEDGER_GOV_SET_ROLES:
		if ((g->roles & ~LEDGER_ROLES_ALL) != 0) {
			*code = LEDGER_R_MEMBER;
			return 0;
		}
		m.roles = g->roles;
		m.modes = g->modes;
		break;
	case LEDGER_GOV_ADD_KEY: {
		bool fr = false;
		if (g->nkeys != 1 || m.nkeys == LIM_MEMBER_KEYS_MAX) {
			*code = LEDGER_R_KEY;
			return 0;
		}
		if ((rc = key_free(a, g->keys[0], &fr)) != 0)
			return rc;
		if (!fr) {
			*code = LEDGER_R_KEY;
			return 0;
		}
		memcpy(m.keys[m.nkeys++], g->keys[0], CK_PUBKEY_BYTES);
		break;
	}
	case LEDGER_GOV_REVOKE_KEY: {
		uint32_t at = m.nkeys;
		for (uint32_t i = 0; g->nkeys == 1 && i < m.nkeys; i++)
			if (memcmp(m.keys[i], g->keys[0], CK_PUBKEY_BYTES) == 0)
				at = i;
		if (at == m.nkeys) {
			*code = LEDGER_R_KEY;
			return 0;
		}
		memmove(m.keys[at], m.keys[at + 1], (size_t)(m.nkeys - at - 1) * CK_PUBKEY_BYTES);
		m.nkeys--;
		memset(m.keys[m.nkeys], 0, CK_PUBKEY_BYTES);
		break;
	}
	default:
		assert(g->action == LEDGER_GOV_REMOVE_MEMBER);
		break;
	}

	bool remove = g->action == LEDGER_GOV_REMOVE_MEMBER;
	if ((rc = membership_code(a, remove ? NULL : &m, remove ? m.id : 0, code)) != 0 ||
	    *code != LEDGER_R_OK)
		return rc;
	if (remove) {
		uint8_t k[4];
		st_be32(k, m.id);
		if ((rc = st_del(a->l, a->txn, LEDGER_TABLE_MEMBER, k, sizeof k)) != 0)
			return rc;
		a->members_dirty = true;
		for (uint32_t i = 0; i < m.nkeys; i++)
			if ((rc = put_keyreg(a, m.keys[i], m.id, true)) != 0)
				return rc;
		return 0;
	}
	if ((rc = put_member(a, &m)) != 0)
		return rc;
	if (g->action == LEDGER_GOV_ADD_KEY)
		return put_keyreg(a, g->keys[0], m.id, false);
	if (g->action == LEDGER_GOV_REVOKE_KEY)
		return put_keyreg(a, g->keys[0], m.id, true);
	return 0;
}

/* The smallest claim_before_s of every registered version (and of the
 * one in effect): the claim window a new version may widen. */
static int min_claim_before(ax *a, uint32_t *out)
{
	uint32_t lo = a->meth.claim_before_s;
	for (uint32_t v = 1; v <= a->meth_latest; v++) {
		uint8_t k[4];
		MDB_val val;
		ledger_methodology m;
		st_be32(k, v);
		int rc = st_get(a->l, a->txn, LEDGER_TABLE_METHODOLOGY, k, sizeof k, &val);
		if (rc == LEDGER_E_NOTFOUND)
			continue;
		if (rc != 0 || (rc = st_dec_methodology(&val, &m)) != 0)
			return rc;
		if (m.claim_before_s < lo)
			lo = m.claim_before_s;
	}
	*out = lo;
	return 0;
}

static int gov_methodology(ax *a, const ledger_govern *g, int *code)
{
	const ledger_methodology *m = &g->methodology;
	uint32_t lo;
	int mrc;
	if (m->version != a->meth_latest + 1 || m->effective_height <= a->height ||
	    ledger_methodology_check(m, NULL, 0) != 0) {
		*code = LEDGER_R_METHODOLOGY;
		return 0;
	}
	/* One trip, one claim, across versions: de-duplication state is
	 * pruned one day beyond the claim window in effect, so a new version
	 * may widen the window by at most that day over any window that may
	 * be in effect before it; a larger step would reopen pruned days
	 * (docs/PROTOCOL.md, "Rules"). */
	if ((mrc = min_claim_before(a, &lo)) != 0)
		return mrc;
	if (m->claim_before_s > (uint64_t)lo + LEDGER_CLAIM_WIDEN_MAX_S) {
		*code = LEDGER_R_METHODOLOGY;
		return 0;
	}
	uint8_t k[4];
	st_be32(k, m->version);
	cm_wr_reset(&a->l->wr);
	st_enc_methodology(&a->l->wr, m);
	int rc = put_enc(a, LEDGER_TABLE_METHODOLOGY, k, sizeof k);
	if (rc == 0)
		a->meth_latest = m->version;
	return rc;
}

static int gov_clawback(ax *a, const ledger_govern *g, int *code)
{
	st_account acct;
	int rc;
	if (g->amount_g == 0) {
		*code = LEDGER_R_ZERO;
		return 0;
	}
	if (g->amount_g > INT64_MAX) {
		*code = LEDGER_R_OVERFLOW;
		return 0;
	}
	if ((rc = acct_get(a, g->account, &acct)) != 0)
		return rc;
	if (acct.balance_g < g->amount_g) {
		*code = LEDGER_R_INSUFFICIENT;
		return 0;
	}
	ledger_supply s = a->sup;
	if (add_u64(&s.clawed_back_g, g->amount_g)) {
		*code = LEDGER_R_OVERFLOW;
		return 0;
	}
	assert(s.circulating_g >= g->amount_g);
	s.circulating_g -= g->amount_g;
	acct.balance_g -= g->amount_g;
	if ((rc = acct_put(a, g->account, &acct)) != 0)
		return rc;
	a->sup = s;
	a->sup_dirty = true;
	return hist_add(a, g->account, -(int64_t)g->amount_g);
}

static int gov_recover(ax *a, const ledger_govern *g, int *code)
{
	st_account from, to;
	bool old_free, new_free;
	int rc;
	if (memcmp(g->account, g->new_account, CK_PUBKEY_BYTES) == 0) {
		*code = LEDGER_R_SELF;
		return 0;
	}
	/* Only citizen keys are recovered: member keys are managed with
	 * add/revoke key; a registered new key would merge two identities. */
	if ((rc = key_free(a, g->account, &old_free)) != 0 ||
	    (rc = key_free(a, g->new_account, &new_free)) != 0)
		return rc;
	if (!old_free || !new_free) {
		*code = LEDGER_R_KEY;
		return 0;
	}
	if ((rc = acct_get(a, g->account, &from)) != 0 || (rc = acct_get(a, g->new_account, &to)) != 0)
		return rc;
	uint64_t amt = from.balance_g;
	if (amt > INT64_MAX || add_u64(&to.balance_g, amt)) {
		*code = LEDGER_R_OVERFLOW;
		return 0;
	}
	from.balance_g = 0;
	if ((rc = acct_put(a, g->account, &from)) != 0 ||
	    (rc = acct_put(a, g->new_account, &to)) != 0 ||
	    (rc = put_keyreg(a, g->account, 0, true)) != 0)
		return rc;
	if ((rc = hist_add(a, g->account, -(int64_t)amt)) != 0)
		return rc;
	return hist_add(a, g->new_account, (int64_t)amt);
}

static int do_govern(ax *a, ledger_tx_result *res)
{
	const ledger_govern *g = &a->tx->u.govern;
	int code = LEDGER_R_OK, rc;

	if (!(a->smember.roles & LEDGER_ROLE_GOVERNOR)) {
		res->code = LEDGER_R_ROLE;
		return 0;
	}
	if ((rc = approvals_code(a, &code)) != 0)
		return rc;
	if (code == LEDGER_R_OK) {
		switch (g->action) {
		case LEDGER_GOV_ADD_MEMBER:
			rc = gov_add_member(a, g, &code);
			break;
		case LEDGER_GOV_SET_ROLES:
		case LEDGER_GOV_ADD_KEY:
		case LEDGER_GOV_REVOKE_KEY:
		case LEDGER_GOV_REMOVE_MEMBER:
			rc = gov_member_change(a, g, &code);
			break;
		case LEDGER_GOV_METHODOLOGY:
			rc = gov_methodology(a, g, &code);
			break;
		case LEDGER_GOV_CLAWBACK:
			rc = gov_clawback(a, g, &code);
			break;
		case LEDGER_GOV_RECOVER:
			rc = gov_recover(a, g, &code);
			break;
		default:
			assert(!"govern action");
			rc = LEDGER_E_FIELD;
		}
	}
	res->code = (uint8_t)code;
	return rc;
}

/* ---- one transaction ----------------------------------------------------------- */

static int cmp_hist(const void *x, const void *y)
{
	return memcmp(((const hist_ent *)x)->key, ((const hist_ent *)y)->key, CK_PUBKEY_BYTES);
}

/* Appends the history entry of account at (loc, slot) and makes it the
 * account's newest (state_internal.h, "hist"). */
static int put_hist(ax *a, const ck_pubkey account, uint64_t loc, uint16_t slot, int64_t d,
		    uint8_t code)
{
	bc_ent *e = NULL;
	int rc = bc_head(&a->bc, a->l, a->txn, account, &e);
	if (rc != 0)
		return rc;
	uint64_t prev = e->head_loc;
	uint16_t prev_slot = e->head_slot;
	/* An account has one entry per transaction, written in chain order. */
	assert(prev < loc);
	e->head_loc = loc;
	e->head_slot = slot;
	e->head_dirty = true;
	uint8_t k[ST_HIST_KEY_BYTES], v[ST_HIST_VAL_BYTES_MAX];
	size_t n = ST_HIST_TAG_BYTES;
	st_hist_key(k, loc, slot);
	st_hist_tag(v, account);
	v[n++] = a->tx->kind;
	v[n++] = code;
	n += st_put_uvarint(v + n, st_zigzag(d));
	/* The link as a distance back: an active account's previous entry
	 * is near, so a few bytes. */
	n += st_put_uvarint(v + n, prev != 0 ? loc - prev : 0);
	if (prev != 0)
		n += st_put_uvarint(v + n, prev_slot);
	assert(n >= ST_HIST_VAL_BYTES_MIN);
	assert(n <= sizeof v);
	/* Keys grow: blocks, transactions and slots come in order, so the
	 * entry is appended without a search and pages fill. The head is
	 * written with the block's (bc_write_back). */
	MDB_val mk = { sizeof k, k }, mv = { n, v };
	if ((rc = mdb_put(a->txn, a->l->db_hist, &mk, &mv, MDB_APPEND)) != 0)
		return st_dberr(rc, "write history");
	return 0;
}

/* Writes the tx index and one history entry per touched account (deltas of
 * one account within the transaction summed), slots in account order. */
static int write_indexes(ax *a, const ledger_tx_result *res)
{
	ledger *l = a->l;
	uint64_t at = st_loc(a->height, a->txi);
	uint8_t tk[ST_TXIDX_KEY_BYTES];
	int rc;

	memcpy(tk, a->txhash, ST_TXIDX_PREFIX_BYTES);
	st_be64(tk + ST_TXIDX_PREFIX_BYTES, at);
	if ((rc = local_put(a, l->db_txidx, tk, sizeof tk, &res->code, 1, "write tx index")) != 0)
		return rc;
	if (a->nhist > 2)
		qsort(a->hist, a->nhist, sizeof *a->hist, cmp_hist);
	else if (a->nhist == 2 && cmp_hist(&a->hist[0], &a->hist[1]) > 0) {
		hist_ent t = a->hist[0];
		a->hist[0] = a->hist[1];
		a->hist[1] = t;
	}
	uint16_t slot = 0;
	for (size_t i = 0; i < a->nhist; slot++) {
		int64_t d = 0;
		size_t j = i;
		for (; j < a->nhist && memcmp(a->hist[j].key, a->hist[i].key, CK_PUBKEY_BYTES) == 0; j++)
			d += a->hist[j].delta_g;
		assert(slot < 0xffffu);
		if ((rc = put_hist(a, a->hist[i].key, at, slot, d, res->code)) != 0)
			return rc;
		i = j;
	}
	return 0;
}

static int apply_tx(ax *a, const ledger_tx *tx, uint32_t i, ledger_tx_result *res)
{
	int rc;

	a->tx = tx;
	a->txi = i;
	a->nhist = 0;
	memcpy(a->txhash, a->ids[i], CK_HASH_BYTES);
	memset(res, 0, sizeof *res);
	memset(&a->smember, 0, sizeof a->smember);

	if ((rc = bc_get_account(&a->bc, a->l, a->txn, tx->sender, &a->sacct)) != 0)
		return rc;
	/* validate() checked the nonce sequence against the same state. */
	assert(a->sacct.nonce == tx->nonce);
	a->sacct.nonce++;
	if ((rc = hist_add(a, tx->sender, 0)) != 0)
		return rc;

	rc = st_get_keyreg(a->l, a->txn, tx->sender, &a->skey);
	a->skey_known = rc == 0;
	if (rc != 0 && rc != LEDGER_E_NOTFOUND)
		return rc;
	int key_code = LEDGER_R_OK;
	if (a->skey_known && a->skey.revoked) {
		key_code = LEDGER_R_KEY;
	} else if (a->skey_known && a->skey.member_id != 0) {
		rc = st_get_member(a->l, a->txn, a->skey.member_id, &a->smember);
		if (rc == LEDGER_E_NOTFOUND)
			memset(&a->smember, 0, sizeof a->smember);
		else if (rc != 0)
			return rc;
	}

	if (key_code != LEDGER_R_OK) {
		res->code = (uint8_t)key_code;
		if (tx->kind == LEDGER_TX_ISSUE)
			rc = do_issue(a, res, (uint8_t)key_code);
	} else {
		switch (tx->kind) {
		case LEDGER_TX_ISSUE:
			rc = do_issue(a, res,
				      (a->smember.roles & LEDGER_ROLE_ISSUER) ? LEDGER_R_OK : LEDGER_R_ROLE);
			break;
		case LEDGER_TX_TRANSFER:
			rc = do_transfer(a, res);
			break;
		case LEDGER_TX_REDEEM:
			rc = do_redeem(a, res);
			break;
		case LEDGER_TX_REFUND:
			rc = do_refund(a, res);
			break;
		case LEDGER_TX_OFFER:
			rc = do_offer(a, res);
			break;
		case LEDGER_TX_GOVERN:
			rc = do_govern(a, res);
			break;
		default:
			assert(!"tx kind");
			rc = LEDGER_E_KIND;
		}
	}
	if (rc != 0)
		return rc;
	/* A failed transaction changed nothing but the sender's nonce. */
	if (res->code != LEDGER_R_OK && res->code != LEDGER_R_PARTIAL) {
		a->nhist = 1;
		a->hist[0].delta_g = 0;
	}
	if ((rc = bc_put_account(&a->bc, tx->sender, &a->sacct)) != 0)
		return rc;
	return write_indexes(a, res);
}

/* ---- the block ------------------------------------------------------------------ */

static int end_block(ax *a)
{
	ledger *l = a->l;
	ledger_valset vs1, vs2, nvs;
	int rc;

	if ((rc = bc_write_back(&a->bc, l, a->txn)) != 0)
		return rc;
	if (a->sup_dirty) {
		cm_wr_reset(&l->wr);
		st_enc_supply(&l->wr, &a->sup);
		if ((rc = put_enc(a, LEDGER_TABLE_SUPPLY, NULL, 0)) != 0)
			return rc;
	}
	/* Membership changed in block H shapes the validators of H+2: the set
	 * for H+1 is the one chosen after H-1. */
	if ((rc = st_get_valset(l, a->txn, ST_META_VALSET1, &vs1)) != 0 ||
	    (rc = st_get_valset(l, a->txn, ST_META_VALSET2, &vs2)) != 0)
		return rc;
	nvs = vs2;
	if (a->members_dirty && (rc = st_compute_valset(l, a->txn, &nvs)) != 0)
		return rc;
	assert(nvs.n > 0);
	if (vs1.n != vs2.n || memcmp(vs1.keys, vs2.keys, (size_t)vs1.n * CK_PUBKEY_BYTES) != 0) {
		cm_wr_reset(&l->wr);
		st_enc_valset(&l->wr, &vs2);
		if ((rc = put_enc(a, LEDGER_TABLE_META, ST_META_VALSET1, strlen(ST_META_VALSET1))) != 0)
			return rc;
	}
	if (nvs.n != vs2.n || memcmp(nvs.keys, vs2.keys, (size_t)nvs.n * CK_PUBKEY_BYTES) != 0) {
		cm_wr_reset(&l->wr);
		st_enc_valset(&l->wr, &nvs);
		if ((rc = put_enc(a, LEDGER_TABLE_META, ST_META_VALSET2, strlen(ST_META_VALSET2))) != 0)
			return rc;
		/* Light clients follow the validators of every height
		 * (ledger_get_valset): record where this set starts. */
		if ((rc = st_put_valset_from(l, a->txn, a->height + 2, &nvs)) != 0)
			return rc;
	}
	return 0;
}

static int store_block(ax *a, const ledger_block *b, const uint8_t *cert, size_t certlen,
		       const ledger_results *res, st_tip *tip)
{
	ledger *l = a->l;
	cm_wr *w = &l->wr;
	uint8_t hk[8];
	int rc;

	if ((rc = st_flush(l)) != 0)
		return rc;
	/* Heights grow: the three records are appended (no search), and the
	 * writer's scratch encoder keeps its memory from block to block. */
	st_be64(hk, a->height);
	cm_wr_reset(w);
	ledger_block_encode(b, w);
	rc = cm_wr_error(w) ? LEDGER_E_NOMEM
			    : local_append(a, l->db_blocks, hk, cm_wr_data(w), cm_wr_len(w),
					   "write block");
	if (rc == 0)
		rc = local_append(a, l->db_certs, hk, cert != NULL ? cert : (const uint8_t *)"",
				  certlen, "write certificate");
	if (rc == 0)
		rc = local_append(a, l->db_txids, hk, a->ids, (size_t)b->ntxs * CK_HASH_BYTES,
				  "write tx ids");
	if (rc == 0) {
		/* Packed in runs (st_results_pack), in place: measured, then
		 * written into the space LMDB reserves. */
		size_t plen = 0;
		cm_wr_reset(w);
		ledger_results_encode(res, w);
		if (cm_wr_error(w)) {
			rc = LEDGER_E_NOMEM;
		} else {
			rc = st_results_pack(cm_wr_data(w), cm_wr_len(w), NULL, &plen);
			assert(rc == 0);
			MDB_val mk = { sizeof hk, hk }, mv = { plen, NULL };
			int mrc = mdb_put(a->txn, l->db_results, &mk, &mv, MDB_APPEND | MDB_RESERVE);
			if (mrc != 0) {
				rc = st_dberr(mrc, "write results");
			} else {
				size_t wrote = 0;
				rc = st_results_pack(cm_wr_data(w), cm_wr_len(w), mv.mv_data, &wrote);
				assert(rc == 0);
				assert(wrote == plen);
			}
		}
	}
	if (rc != 0)
		return rc;
	tip->height = a->height;
	tip->time_ms = b->header.time_ms;
	ledger_header_hash(tip->last_hash, &b->header);
	smt_root(l->tree, tip->state_root);
	ledger_results_root(res, tip->results_root);
	return st_put_tip(l, a->txn, tip);
}

/* The state after the block, for the next height while the commit syncs
 * (ledger/executed.c): the tip and validator sets from the write
 * transaction, and the nonce of every account the block read or wrote.
 * Nothing without a hook (tests, reindex). Without memory for the nonces
 * nothing is published either: the next height then waits for the
 * commit, and the block still applies. */
static int publish_executed(ax *a)
{
	ledger *l = a->l;
	ledger_info info;
	st_nonce *nonces = NULL;
	size_t n = 0;
	int rc;

	pthread_mutex_lock(&l->exec_mu);
	bool hooked = l->exec_fn != NULL;
	pthread_mutex_unlock(&l->exec_mu);
	if (!hooked)
		return 0;
	/* store_block wrote the new tip into the transaction. */
	if ((rc = st_get_info(l, a->txn, &info)) != 0)
		return rc;
	if (a->bc.n > 0 && (nonces = malloc(a->bc.n * sizeof *nonces)) == NULL)
		return 0;
	for (size_t i = 0; i < ((size_t)1 << a->bc.bits); i++) {
		const bc_ent *e = &a->bc.e[i];
		if (!e->used || !e->acct_known)
			continue;
		memcpy(nonces[n].key, e->key, CK_PUBKEY_BYTES);
		nonces[n].nonce = e->acct.nonce;
		n++;
	}
	st_exec_publish(l, &info, nonces, n);
	free(nonces);
	return 0;
}

int ledger_apply_block(ledger *l, const ledger_block *b, const uint8_t *cert, size_t certlen,
		       ledger_results *results)
{
	MDB_txn *txn = NULL;
	ledger_tx **txs = NULL;
	ck_hash *ids = NULL;
	ledger_results res = { 0, NULL };
	bool recording = false, trips_recording = false;
	st_tip tip;
	ax a;
	int rc;

	memset(&a, 0, sizeof a);
	if (results != NULL)
		memset(results, 0, sizeof *results);
	pthread_mutex_lock(&l->mu);
	if ((rc = mdb_txn_begin(l->env, NULL, 0, &txn)) != 0) {
		rc = st_dberr(rc, "begin block transaction");
		txn = NULL;
		goto fail;
	}
	if ((ids = malloc((b->ntxs ? b->ntxs : 1) * sizeof *ids)) == NULL) {
		rc = LEDGER_E_NOMEM;
		goto fail;
	}
	if ((rc = bc_init(&a.bc, 2 * (size_t)b->ntxs)) != 0 ||
	    (rc = validate(l, txn, b, &txs, ids, &a.bc)) != 0)
		goto fail;
	if ((rc = smt_begin(l->tree)) != 0)
		goto fail;
	recording = true;
	if ((rc = ts_begin(l->trips)) != 0)
		goto fail;
	trips_recording = true;
	st_batch(l);

	a.l = l;
	a.txn = txn;
	a.ids = ids;
	a.height = b->header.height;
	a.block_s = b->header.time_ms / 1000u;
	if ((rc = st_get_methodology(l, txn, a.height, &a.meth, &a.meth_latest)) != 0 ||
	    (rc = st_get_supply(l, txn, &a.sup)) != 0)
		goto fail;
	if ((rc = prune(&a)) != 0)
		goto fail;

	res.r = calloc(b->ntxs ? b->ntxs : 1, sizeof *res.r);
	if (res.r == NULL) {
		rc = LEDGER_E_NOMEM;
		goto fail;
	}
	res.ntxs = b->ntxs;
	for (uint32_t i = 0; i < b->ntxs; i++)
		if ((rc = apply_tx(&a, txs[i], i, &res.r[i])) != 0)
			goto fail;
	if ((rc = end_block(&a)) != 0 || (rc = store_block(&a, b, cert, certlen, &res, &tip)) != 0 ||
	    (rc = publish_executed(&a)) != 0)
		goto fail;
	rc = mdb_txn_commit(txn);
	txn = NULL;
	st_exec_drop(l); /* landed (or failed): readers see it or never will */
	if (rc != 0) {
		rc = st_dberr(rc, "commit block");
		goto fail;
	}
	smt_commit(l->tree);
	ts_commit(l->trips);
	/* The leaves after the state they derive from, before readers may
	 * look (mu): a crash in between leaves them a block behind, which
	 * ledger_open detects. */
	st_cache_commit(l, a.height);
	pthread_mutex_unlock(&l->mu);
	free(a.hist);
	bc_free(&a.bc);
	free(ids);
	free_txs(txs, b->ntxs);
	if (results != NULL)
		*results = res;
	else
		ledger_results_free(&res);
	return 0;
fail:
	if (txn != NULL)
		mdb_txn_abort(txn);
	st_discard(l);
	if (recording)
		smt_rollback(l->tree);
	if (trips_recording)
		ts_rollback(l->trips);
	pthread_mutex_unlock(&l->mu);
	free(a.hist);
	bc_free(&a.bc);
	free(ids);
	free_txs(txs, b->ntxs);
	ledger_results_free(&res);
	return rc;
}
