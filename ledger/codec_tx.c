/*
 * Transactions: their canonical codec (docs/PROTOCOL.md, section 3), their
 * id, the sender's signature and the governors' approvals, and the trip id
 * derivation. Decoding is the one gate that untrusted transaction bytes
 * pass through, so it checks every count against its limit and against the
 * bytes left before allocating, and accepts exactly one encoding of each
 * transaction: whenever decode accepts, encode gives back the input bytes.
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "ledger/ledger.h"

/* Field counts of the positional arrays (docs/PROTOCOL.md, section 3). */
#define TX_FIELDS          8u  /* version chain kind sender nonce body sig approvals */
#define TX_SIGNING_FIELDS  6u  /* the same without sig and approvals */
#define TRIP_FIELDS        6u
#define APPROVAL_FIELDS    2u
#define METHODOLOGY_FIELDS 6u
#define MODE_PARAMS_FIELDS 5u
/* Array headers are read with this bound, then the count is compared with
 * the one the kind, action or version calls for, so a newer version's
 * longer array fails on its version, not on its length. */
#define FIELDS_READ_MAX    15u
/* Smallest canonical trip: fixarray, two bin32 (2 + 32 each), four fixints. */
#define TRIP_MIN_BYTES     (1u + 2u * (2u + 32u) + 4u)
/* Bits of the issuer mode mask that name a mode (bit 0 is no mode). */
#define MODES_MASK         (((1u << (LEDGER_MODE_MAX + 1u)) - 1u) & ~1u)

_Static_assert(_Alignof(ledger_trip) <= _Alignof(ledger_tx),
	       "trips are stored right after the transaction");
_Static_assert(TRIP_MIN_BYTES == 73u, "smallest trip encoding");

/* A writer owned by this file ran out of memory. Only the signature and
 * hash helpers get here, whose void contract (ledger.h) leaves no way to
 * report it; a node that cannot allocate a few kilobytes cannot go on. */
static void wr_must(const cm_wr *w)
{
	if (cm_wr_error(w) != 0)
		abort();
}

/* ---- encoding ------------------------------------------------------------ */

/* Strings live in fixed buffers of max + 1 bytes; a missing terminator is
 * a bug of the caller. */
static void wr_cstr(cm_wr *w, const char *s, size_t max)
{
	size_t n = strnlen(s, max + 1);
	assert(n <= max);
	cm_wr_str(w, s, n);
}

static void wr_trip(cm_wr *w, const ledger_trip *t)
{
	cm_wr_array(w, TRIP_FIELDS);
	cm_wr_bin(w, t->trip_id, CK_HASH_BYTES);
	cm_wr_bin(w, t->citizen, CK_PUBKEY_BYTES);
	cm_wr_uint(w, t->mode);
	cm_wr_uint(w, t->distance_m);
	cm_wr_uint(w, t->start_s);
	cm_wr_uint(w, t->end_s);
}

static void wr_methodology(cm_wr *w, const ledger_methodology *m)
{
	cm_wr_array(w, METHODOLOGY_FIELDS);
	cm_wr_uint(w, m->version);
	cm_wr_uint(w, m->effective_height);
	cm_wr_uint(w, m->daily_cap_g);
	cm_wr_uint(w, m->claim_before_s);
	cm_wr_uint(w, m->claim_after_s);
	cm_wr_array(w, LEDGER_MODE_MAX);
	for (unsigned i = 1; i <= LEDGER_MODE_MAX; i++) {
		const ledger_mode_params *p = &m->mode[i];
		cm_wr_array(w, MODE_PARAMS_FIELDS);
		cm_wr_bool(w, p->enabled);
		cm_wr_uint(w, p->reduction_mg_per_km);
		cm_wr_uint(w, p->min_distance_m);
		cm_wr_uint(w, p->max_speed_kmh);
		cm_wr_uint(w, p->daily_cap_g);
	}
}

/* Each action carries only the fields it uses (ledger.h lists them). */
static void wr_govern(cm_wr *w, const ledger_govern *g)
{
	switch (g->action) {
	case LEDGER_GOV_ADD_MEMBER:
		assert(g->nkeys <= LIM_MEMBER_KEYS_MAX);
		cm_wr_array(w, 5);
		cm_wr_uint(w, g->action);
		wr_cstr(w, g->name, LIM_NAME_BYTES_MAX);
		cm_wr_uint(w, g->roles);
		cm_wr_uint(w, g->modes);
		cm_wr_array(w, g->nkeys);
		for (uint32_t i = 0; i < g->nkeys; i++)
			cm_wr_bin(w, g->keys[i], CK_PUBKEY_BYTES);
		break;
	case LEDGER_GOV_SET_ROLES:
		cm_wr_array(w, 4);
		cm_wr_uint(w, g->action);
		cm_wr_uint(w, g->member_id);
		cm_wr_uint(w, g->roles);
		cm_wr_uint(w, g->modes);
		break;
	case LEDGER_GOV_ADD_KEY:
	case LEDGER_GOV_REVOKE_KEY:
		/* The one key is keys[0]; decode sets nkeys to 1. */
		assert(g->nkeys == 1);
		cm_wr_array(w, 3);
		cm_wr_uint(w, g->action);
		cm_wr_uint(w, g->member_id);
		cm_wr_bin(w, g->keys[0], CK_PUBKEY_BYTES);
		break;
	case LEDGER_GOV_REMOVE_MEMBER:
		cm_wr_array(w, 2);
		cm_wr_uint(w, g->action);
		cm_wr_uint(w, g->member_id);
		break;
	case LEDGER_GOV_METHODOLOGY:
		cm_wr_array(w, 2);
		cm_wr_uint(w, g->action);
		wr_methodology(w, &g->methodology);
		break;
	case LEDGER_GOV_CLAWBACK:
		cm_wr_array(w, 5);
		cm_wr_uint(w, g->action);
		cm_wr_bin(w, g->account, CK_PUBKEY_BYTES);
		cm_wr_uint(w, g->amount_g);
		cm_wr_bin(w, g->trip_id, CK_HASH_BYTES);
		wr_cstr(w, g->reason, LIM_TEXT_BYTES_MAX);
		break;
	case LEDGER_GOV_RECOVER:
		cm_wr_array(w, 4);
		cm_wr_uint(w, g->action);
		cm_wr_bin(w, g->account, CK_PUBKEY_BYTES);
		cm_wr_bin(w, g->new_account, CK_PUBKEY_BYTES);
		wr_cstr(w, g->reason, LIM_TEXT_BYTES_MAX);
		break;
	default:
		assert(!"govern action unknown to the encoder");
	}
}

static void wr_body(cm_wr *w, const ledger_tx *tx)
{
	switch (tx->kind) {
	case LEDGER_TX_ISSUE:
		assert(tx->u.issue.ntrips <= LIM_TRIPS_PER_TX_MAX);
		cm_wr_array(w, 1);
		cm_wr_array(w, tx->u.issue.ntrips);
		for (uint32_t i = 0; i < tx->u.issue.ntrips; i++)
			wr_trip(w, &tx->u.issue.trips[i]);
		break;
	case LEDGER_TX_TRANSFER:
		cm_wr_array(w, 2);
		cm_wr_bin(w, tx->u.transfer.to, CK_PUBKEY_BYTES);
		cm_wr_uint(w, tx->u.transfer.amount_g);
		break;
	case LEDGER_TX_REDEEM:
		cm_wr_array(w, 2);
		cm_wr_uint(w, tx->u.redeem.offer_id);
		cm_wr_uint(w, tx->u.redeem.max_price_g);
		break;
	case LEDGER_TX_REFUND:
		cm_wr_array(w, 1);
		cm_wr_bin(w, tx->u.refund.receipt_id, CK_HASH_BYTES);
		break;
	case LEDGER_TX_OFFER:
		if (tx->u.offer.action == LEDGER_OFFER_WITHDRAW) {
			cm_wr_array(w, 2);
			cm_wr_uint(w, tx->u.offer.action);
			cm_wr_uint(w, tx->u.offer.offer_id);
			break;
		}
		assert(tx->u.offer.action == LEDGER_OFFER_PUBLISH ||
		       tx->u.offer.action == LEDGER_OFFER_UPDATE);
		cm_wr_array(w, 6);
		cm_wr_uint(w, tx->u.offer.action);
		cm_wr_uint(w, tx->u.offer.offer_id);
		cm_wr_uint(w, tx->u.offer.price_g);
		cm_wr_uint(w, tx->u.offer.stock);
		wr_cstr(w, tx->u.offer.name, LIM_NAME_BYTES_MAX);
		wr_cstr(w, tx->u.offer.description, LIM_TEXT_BYTES_MAX);
		break;
	case LEDGER_TX_GOVERN:
		wr_govern(w, &tx->u.govern);
		break;
	default:
		assert(!"transaction kind unknown to the encoder");
	}
}

/* The fields every signature covers, as an array of nfields elements (the
 * whole transaction adds sig and approvals after them). */
static void wr_signed_part(cm_wr *w, const ledger_tx *tx, uint32_t nfields)
{
	cm_wr_array(w, nfields);
	cm_wr_uint(w, tx->version);
	wr_cstr(w, tx->chain_id, LIM_CHAIN_ID_BYTES_MAX);
	cm_wr_uint(w, tx->kind);
	cm_wr_bin(w, tx->sender, CK_PUBKEY_BYTES);
	cm_wr_uint(w, tx->nonce);
	wr_body(w, tx);
}

void ledger_tx_encode(const ledger_tx *tx, cm_wr *w)
{
	assert(tx != NULL);
	assert(tx->napprovals <= LIM_TX_SIGS_MAX);
	wr_signed_part(w, tx, TX_FIELDS);
	cm_wr_bin(w, tx->sig, CK_SIG_BYTES);
	cm_wr_array(w, tx->napprovals);
	for (uint32_t i = 0; i < tx->napprovals; i++) {
		cm_wr_array(w, APPROVAL_FIELDS);
		cm_wr_bin(w, tx->approvals[i].key, CK_PUBKEY_BYTES);
		cm_wr_bin(w, tx->approvals[i].sig, CK_SIG_BYTES);
	}
}

void ledger_tx_signing_bytes(const ledger_tx *tx, cm_wr *w)
{
	assert(tx != NULL);
	wr_signed_part(w, tx, TX_SIGNING_FIELDS);
}

/* Governors sign the same bytes as the sender, in their own signature
 * domain. Those bytes name the sender key and its nonce, which the ledger
 * consumes exactly once, so a set of approvals is good for one transaction
 * only: it cannot be replayed in a later transaction with the same body (a
 * second clawback, or re-adding a key that was revoked since). A body-only
 * signature would allow exactly that (docs/PROTOCOL.md, section 2). */
void ledger_govern_signing_bytes(const ledger_tx *tx, cm_wr *w)
{
	assert(tx != NULL);
	assert(tx->kind == LEDGER_TX_GOVERN);
	wr_signed_part(w, tx, TX_SIGNING_FIELDS);
}

/* ---- decoding ------------------------------------------------------------ */

/* An array that must have exactly n fields: any other count is an unknown
 * or a missing field (LEDGER_E_FIELD). */
static int rd_fields(cm_rd *r, uint32_t n)
{
	uint32_t got;
	int rc = cm_rd_array(r, &got, FIELDS_READ_MAX);
	if (rc == CM_E_LIMIT)
		return LEDGER_E_FIELD;
	if (rc)
		return rc;
	return got == n ? 0 : LEDGER_E_FIELD;
}

static int rd_u32(cm_rd *r, uint32_t *out)
{
	uint64_t v;
	int rc = cm_rd_uint_max(r, UINT32_MAX, &v);
	if (rc == 0)
		*out = (uint32_t)v;
	return rc;
}

/* Reads a small enumerated value that must lie in [lo, hi]. */
static int rd_enum(cm_rd *r, unsigned lo, unsigned hi, uint8_t *out)
{
	uint64_t v;
	int rc = cm_rd_uint(r, &v);
	if (rc)
		return rc;
	if (v < lo || v > hi)
		return LEDGER_E_FIELD;
	*out = (uint8_t)v;
	return 0;
}

static int rd_roles_modes(cm_rd *r, uint32_t *roles, uint32_t *modes)
{
	int rc = rd_u32(r, roles);
	if (rc)
		return rc;
	if (*roles & ~LEDGER_ROLES_ALL)
		return LEDGER_E_FIELD;
	rc = rd_u32(r, modes);
	if (rc)
		return rc;
	if (*modes & ~MODES_MASK)
		return LEDGER_E_FIELD;
	return 0;
}

static int rd_trip(cm_rd *r, ledger_trip *t)
{
	int rc = rd_fields(r, TRIP_FIELDS);
	if (rc == 0)
		rc = cm_rd_bin_fixed(r, t->trip_id, CK_HASH_BYTES);
	if (rc == 0)
		rc = cm_rd_bin_fixed(r, t->citizen, CK_PUBKEY_BYTES);
	if (rc == 0)
		rc = rd_enum(r, 1, LEDGER_MODE_MAX, &t->mode);
	if (rc == 0)
		rc = rd_u32(r, &t->distance_m);
	if (rc == 0)
		rc = cm_rd_uint(r, &t->start_s);
	if (rc == 0)
		rc = cm_rd_uint(r, &t->end_s);
	return rc;
}

static int rd_methodology(cm_rd *r, ledger_methodology *m)
{
	int rc = rd_fields(r, METHODOLOGY_FIELDS);
	if (rc == 0)
		rc = rd_u32(r, &m->version);
	if (rc == 0)
		rc = cm_rd_uint(r, &m->effective_height);
	if (rc == 0)
		rc = rd_u32(r, &m->daily_cap_g);
	if (rc == 0)
		rc = rd_u32(r, &m->claim_before_s);
	if (rc == 0)
		rc = rd_u32(r, &m->claim_after_s);
	if (rc == 0)
		rc = rd_fields(r, LEDGER_MODE_MAX);
	for (unsigned i = 1; rc == 0 && i <= LEDGER_MODE_MAX; i++) {
		ledger_mode_params *p = &m->mode[i];
		rc = rd_fields(r, MODE_PARAMS_FIELDS);
		if (rc == 0)
			rc = cm_rd_bool(r, &p->enabled);
		if (rc == 0)
			rc = rd_u32(r, &p->reduction_mg_per_km);
		if (rc == 0)
			rc = rd_u32(r, &p->min_distance_m);
		if (rc == 0)
			rc = rd_u32(r, &p->max_speed_kmh);
		if (rc == 0)
			rc = rd_u32(r, &p->daily_cap_g);
	}
	return rc;
}

static int rd_govern(cm_rd *r, ledger_govern *g)
{
	/* Fields per action, including the action itself; 0 = unknown. */
	static const uint32_t nfields[] = {
		[LEDGER_GOV_ADD_MEMBER] = 5, [LEDGER_GOV_SET_ROLES] = 4,
		[LEDGER_GOV_ADD_KEY] = 3,    [LEDGER_GOV_REVOKE_KEY] = 3,
		[LEDGER_GOV_REMOVE_MEMBER] = 2, [LEDGER_GOV_METHODOLOGY] = 2,
		[LEDGER_GOV_CLAWBACK] = 5,   [LEDGER_GOV_RECOVER] = 4,
	};
	uint32_t n;
	int rc = cm_rd_array(r, &n, FIELDS_READ_MAX);
	if (rc == CM_E_LIMIT)
		return LEDGER_E_FIELD;
	if (rc)
		return rc;
	if (n == 0)
		return LEDGER_E_FIELD;
	rc = rd_enum(r, LEDGER_GOV_ADD_MEMBER, LEDGER_GOV_RECOVER, &g->action);
	if (rc)
		return rc;
	if (n != nfields[g->action])
		return LEDGER_E_FIELD;

	switch (g->action) {
	case LEDGER_GOV_ADD_MEMBER:
		rc = cm_rd_str_copy(r, g->name, LIM_NAME_BYTES_MAX);
		if (rc == 0)
			rc = rd_roles_modes(r, &g->roles, &g->modes);
		if (rc == 0)
			rc = cm_rd_array(r, &g->nkeys, LIM_MEMBER_KEYS_MAX);
		/* A member without a key could never act: structurally void. */
		if (rc == 0 && g->nkeys == 0)
			rc = LEDGER_E_FIELD;
		for (uint32_t i = 0; rc == 0 && i < g->nkeys; i++)
			rc = cm_rd_bin_fixed(r, g->keys[i], CK_PUBKEY_BYTES);
		return rc;
	case LEDGER_GOV_SET_ROLES:
		rc = rd_u32(r, &g->member_id);
		if (rc == 0)
			rc = rd_roles_modes(r, &g->roles, &g->modes);
		return rc;
	case LEDGER_GOV_ADD_KEY:
	case LEDGER_GOV_REVOKE_KEY:
		rc = rd_u32(r, &g->member_id);
		if (rc == 0)
			rc = cm_rd_bin_fixed(r, g->keys[0], CK_PUBKEY_BYTES);
		g->nkeys = 1;
		return rc;
	case LEDGER_GOV_REMOVE_MEMBER:
		return rd_u32(r, &g->member_id);
	case LEDGER_GOV_METHODOLOGY:
		return rd_methodology(r, &g->methodology);
	case LEDGER_GOV_CLAWBACK:
		rc = cm_rd_bin_fixed(r, g->account, CK_PUBKEY_BYTES);
		if (rc == 0)
			rc = cm_rd_uint(r, &g->amount_g);
		if (rc == 0)
			rc = cm_rd_bin_fixed(r, g->trip_id, CK_HASH_BYTES);
		if (rc == 0)
			rc = cm_rd_str_copy(r, g->reason, LIM_TEXT_BYTES_MAX);
		return rc;
	case LEDGER_GOV_RECOVER:
		rc = cm_rd_bin_fixed(r, g->account, CK_PUBKEY_BYTES);
		if (rc == 0)
			rc = cm_rd_bin_fixed(r, g->new_account, CK_PUBKEY_BYTES);
		if (rc == 0)
			rc = cm_rd_str_copy(r, g->reason, LIM_TEXT_BYTES_MAX);
		return rc;
	}
	assert(!"rd_enum bounded the action");
	return LEDGER_E_FIELD;
}

static int rd_offer(cm_rd *r, ledger_tx *tx)
{
	uint32_t n;
	int rc = cm_rd_array(r, &n, FIELDS_READ_MAX);
	if (rc == CM_E_LIMIT)
		return LEDGER_E_FIELD;
	if (rc)
		return rc;
	if (n == 0)
		return LEDGER_E_FIELD;
	rc = rd_enum(r, LEDGER_OFFER_PUBLISH, LEDGER_OFFER_WITHDRAW, &tx->u.offer.action);
	if (rc)
		return rc;
	if (n != (tx->u.offer.action == LEDGER_OFFER_WITHDRAW ? 2u : 6u))
		return LEDGER_E_FIELD;
	rc = cm_rd_uint(r, &tx->u.offer.offer_id);
	if (rc || tx->u.offer.action == LEDGER_OFFER_WITHDRAW)
		return rc;
	rc = cm_rd_uint(r, &tx->u.offer.price_g);
	if (rc == 0)
		rc = rd_u32(r, &tx->u.offer.stock);
	if (rc == 0)
		rc = cm_rd_str_copy(r, tx->u.offer.name, LIM_NAME_BYTES_MAX);
	if (rc == 0)
		rc = cm_rd_str_copy(r, tx->u.offer.description, LIM_TEXT_BYTES_MAX);
	return rc;
}

/* The body of every kind but issue (whose trip count is read before the
 * transaction is allocated). */
static int rd_body(cm_rd *r, ledger_tx *tx)
{
	int rc;
	switch (tx->kind) {
	case LEDGER_TX_TRANSFER:
		rc = rd_fields(r, 2);
		if (rc == 0)
			rc = cm_rd_bin_fixed(r, tx->u.transfer.to, CK_PUBKEY_BYTES);
		if (rc == 0)
			rc = cm_rd_uint(r, &tx->u.transfer.amount_g);
		return rc;
	case LEDGER_TX_REDEEM:
		rc = rd_fields(r, 2);
		if (rc == 0)
			rc = cm_rd_uint(r, &tx->u.redeem.offer_id);
		if (rc == 0)
			rc = cm_rd_uint(r, &tx->u.redeem.max_price_g);
		return rc;
	case LEDGER_TX_REFUND:
		rc = rd_fields(r, 1);
		if (rc == 0)
			rc = cm_rd_bin_fixed(r, tx->u.refund.receipt_id, CK_HASH_BYTES);
		return rc;
	case LEDGER_TX_OFFER:
		return rd_offer(r, tx);
	case LEDGER_TX_GOVERN:
		return rd_govern(r, &tx->u.govern);
	}
	assert(!"kind checked before the body");
	return LEDGER_E_KIND;
}

/* Approvals: only on govern, at most LIM_TX_SIGS_MAX, keys strictly
 * ascending. The order makes the encoding of one set of approvals unique,
 * so nobody relaying the transaction can change its id by reordering them;
 * strictness makes every approver distinct. */
static int rd_approvals(cm_rd *r, ledger_tx *tx)
{
	uint32_t n;
	int rc = cm_rd_array(r, &n, LIM_TX_SIGS_MAX);
	if (rc)
		return rc;
	if (n != 0 && tx->kind != LEDGER_TX_GOVERN)
		return LEDGER_E_FIELD;
	for (uint32_t i = 0; i < n; i++) {
		ledger_approval *a = &tx->approvals[i];
		rc = rd_fields(r, APPROVAL_FIELDS);
		if (rc == 0)
			rc = cm_rd_bin_fixed(r, a->key, CK_PUBKEY_BYTES);
		if (rc == 0)
			rc = cm_rd_bin_fixed(r, a->sig, CK_SIG_BYTES);
		if (rc)
			return rc;
		if (i > 0 && memcmp(tx->approvals[i - 1].key, a->key, CK_PUBKEY_BYTES) >= 0)
			return LEDGER_E_FIELD;
		tx->napprovals = i + 1;
	}
	return 0;
}

int ledger_tx_decode(const uint8_t *buf, size_t len, const char *chain_id, ledger_tx **out)
{
	ledger_tx *tx = NULL;
	cm_rd r;
	uint32_t n, version, ntrips = 0, idlen;
	uint64_t kind, nonce;
	ck_pubkey sender;
	const char *id;
	int rc;

	assert(buf != NULL || len == 0);
	assert(chain_id != NULL);
	assert(out != NULL);
	*out = NULL;
	if (len > LIM_TX_BYTES_MAX)
		return CM_E_LIMIT;
	cm_rd_init(&r, buf, len);

	rc = cm_rd_array(&r, &n, FIELDS_READ_MAX);
	if (rc == CM_E_LIMIT)
		return LEDGER_E_FIELD;
	if (rc)
		return rc;
	if (n == 0)
		return LEDGER_E_FIELD;
	rc = rd_u32(&r, &version);
	if (rc)
		return rc == CM_E_RANGE ? LEDGER_E_VERSION : rc;
	if (version != LEDGER_TX_VERSION)
		return LEDGER_E_VERSION;
	if (n != TX_FIELDS)
		return LEDGER_E_FIELD;
	rc = cm_rd_str(&r, &id, &idlen, LIM_CHAIN_ID_BYTES_MAX);
	if (rc)
		return rc;
	if (idlen != strlen(chain_id) || memcmp(id, chain_id, idlen) != 0)
		return LEDGER_E_CHAIN_ID;
	rc = cm_rd_uint(&r, &kind);
	if (rc)
		return rc;
	if (kind < LEDGER_TX_ISSUE || kind > LEDGER_TX_GOVERN)
		return LEDGER_E_KIND;
	rc = cm_rd_bin_fixed(&r, sender, CK_PUBKEY_BYTES);
	if (rc == 0)
		rc = cm_rd_uint(&r, &nonce);
	if (rc)
		return rc;

	if (kind == LEDGER_TX_ISSUE) {
		rc = rd_fields(&r, 1);
		if (rc == 0)
			rc = cm_rd_array(&r, &ntrips, LIM_TRIPS_PER_TX_MAX);
		if (rc)
			return rc;
		if (ntrips == 0)
			return LEDGER_E_FIELD;
		/* The count is the sender's claim: the bytes must be there
		 * before the trips get memory. */
		if ((size_t)ntrips * TRIP_MIN_BYTES > len - r.off)
			return CM_E_TRUNCATED;
	}
	rc = ledger_tx_new(&tx, (uint8_t)kind, ntrips);
	if (rc)
		return rc;
	tx->version = version;
	memcpy(tx->chain_id, id, idlen);
	tx->chain_id[idlen] = '\0';
	memcpy(tx->sender, sender, CK_PUBKEY_BYTES);
	tx->nonce = nonce;

	if (kind == LEDGER_TX_ISSUE) {
		for (uint32_t i = 0; rc == 0 && i < ntrips; i++)
			rc = rd_trip(&r, &tx->u.issue.trips[i]);
	} else {
		rc = rd_body(&r, tx);
	}
	if (rc)
		goto fail;
	rc = cm_rd_bin_fixed(&r, tx->sig, CK_SIG_BYTES);
	if (rc)
		goto fail;
	rc = rd_approvals(&r, tx);
	if (rc)
		goto fail;
	rc = cm_rd_end(&r);
	if (rc)
		goto fail;
	*out = tx;
	return 0;
fail:
	ledger_tx_free(tx);
	return rc;
}

/* ---- objects, ids and signatures ---------------------------------------- */

int ledger_tx_new(ledger_tx **out, uint8_t kind, uint32_t ntrips)
{
	assert(out != NULL);
	*out = NULL;
	if (kind < LEDGER_TX_ISSUE || kind > LEDGER_TX_GOVERN)
		return LEDGER_E_KIND;
	if (kind == LEDGER_TX_ISSUE ? (ntrips == 0 || ntrips > LIM_TRIPS_PER_TX_MAX)
				    : ntrips != 0)
		return LEDGER_E_FIELD;
	/* One allocation: the trips follow the transaction, so freeing is one
	 * call and decoding has a single failure point. */
	ledger_tx *tx = calloc(1, sizeof *tx + (size_t)ntrips * sizeof(ledger_trip));
	if (tx == NULL)
		return LEDGER_E_NOMEM;
	tx->version = LEDGER_TX_VERSION;
	tx->kind = kind;
	if (kind == LEDGER_TX_ISSUE) {
		tx->u.issue.ntrips = ntrips;
		tx->u.issue.trips = (ledger_trip *)(void *)(tx + 1);
	}
	*out = tx;
	return 0;
}

void ledger_tx_free(ledger_tx *tx)
{
	free(tx);
}

void ledger_tx_hash(ck_hash out, const uint8_t *buf, size_t len)
{
	ck_hash_tagged(out, "tx", buf, len);
}

void ledger_tx_sign(ledger_tx *tx, const ck_seckey sk)
{
	ck_pubkey pk;
	cm_wr w;

	assert(tx != NULL);
	/* The sender field is signed too; signing with another key is a bug
	 * of the caller that would only surface as a rejected transaction. */
	ck_seckey_pubkey(pk, sk);
	assert(memcmp(pk, tx->sender, CK_PUBKEY_BYTES) == 0);
	cm_wr_init(&w);
	ledger_tx_signing_bytes(tx, &w);
	wr_must(&w);
	ck_sign(tx->sig, sk, CK_DOM_TX, tx->chain_id, cm_wr_data(&w), cm_wr_len(&w));
	cm_wr_free(&w);
}

int ledger_tx_approve(ledger_tx *tx, const ck_seckey sk)
{
	ck_pubkey pk;
	uint32_t pos = 0;
	cm_wr w;

	assert(tx != NULL);
	assert(tx->napprovals <= LIM_TX_SIGS_MAX);
	if (tx->kind != LEDGER_TX_GOVERN)
		return LEDGER_E_FIELD;
	ck_seckey_pubkey(pk, sk);
	/* Kept sorted by key, the order decoding demands. */
	while (pos < tx->napprovals && memcmp(tx->approvals[pos].key, pk, CK_PUBKEY_BYTES) < 0)
		pos++;
	if (pos < tx->napprovals && memcmp(tx->approvals[pos].key, pk, CK_PUBKEY_BYTES) == 0)
		return LEDGER_E_FIELD;
	if (tx->napprovals == LIM_TX_SIGS_MAX)
		return CM_E_LIMIT;

	cm_wr_init(&w);
	ledger_govern_signing_bytes(tx, &w);
	if (cm_wr_error(&w) != 0) {
		cm_wr_free(&w);
		return LEDGER_E_NOMEM;
	}
	memmove(&tx->approvals[pos + 1], &tx->approvals[pos],
		(tx->napprovals - pos) * sizeof tx->approvals[0]);
	memcpy(tx->approvals[pos].key, pk, CK_PUBKEY_BYTES);
	ck_sign(tx->approvals[pos].sig, sk, CK_DOM_GOVERN, tx->chain_id, cm_wr_data(&w),
		cm_wr_len(&w));
	tx->napprovals++;
	cm_wr_free(&w);
	return 0;
}

int ledger_tx_verify_sigs(const ledger_tx *tx)
{
	cm_wr w;
	int rc = 0;

	assert(tx != NULL);
	if (tx->napprovals > LIM_TX_SIGS_MAX)
		return CM_E_LIMIT;
	if (tx->napprovals != 0 && tx->kind != LEDGER_TX_GOVERN)
		return LEDGER_E_FIELD;
	for (uint32_t i = 1; i < tx->napprovals; i++)
		if (memcmp(tx->approvals[i - 1].key, tx->approvals[i].key, CK_PUBKEY_BYTES) >= 0)
			return LEDGER_E_FIELD;

	cm_wr_init(&w);
	ledger_tx_signing_bytes(tx, &w);
	if (cm_wr_error(&w) != 0) {
		rc = LEDGER_E_NOMEM;
		goto out;
	}
	if (ck_verify(tx->sig, tx->sender, CK_DOM_TX, tx->chain_id, cm_wr_data(&w),
		      cm_wr_len(&w)) != 0) {
		rc = LEDGER_E_BADSIG;
		goto out;
	}
	for (uint32_t i = 0; i < tx->napprovals; i++) {
		if (ck_verify(tx->approvals[i].sig, tx->approvals[i].key, CK_DOM_GOVERN,
			      tx->chain_id, cm_wr_data(&w), cm_wr_len(&w)) != 0) {
			rc = LEDGER_E_BADSIG;
			goto out;
		}
	}
out:
	cm_wr_free(&w);
	return rc;
}

void ledger_trip_id(ck_hash out, uint32_t issuer_member_id, const char *ref, size_t reflen)
{
	cm_wr w;

	assert(ref != NULL || reflen == 0);
	assert(reflen <= LIM_NAME_BYTES_MAX);
	cm_wr_init(&w);
	cm_wr_array(&w, 2);
	cm_wr_uint(&w, issuer_member_id);
	cm_wr_str(&w, reflen ? ref : "", reflen);
	wr_must(&w);
	ck_hash_tagged(out, "trip", cm_wr_data(&w), cm_wr_len(&w));
	cm_wr_free(&w);
}
