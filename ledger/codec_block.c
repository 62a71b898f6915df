/*
 * Block headers, blocks, per-transaction results and validator-set hashes:
 * their canonical codec and the roots and ids computed over it
 * (docs/PROTOCOL.md, section 5). A block carries its transactions as opaque
 * canonical bytes; decoding one bounds their number and sizes only, and
 * ledger_check_block decodes each transaction fully.
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "ledger/ledger.h"

#define HEADER_FIELDS   11u
#define BLOCK_FIELDS    2u
#define RESULT_FIELDS   3u
/* See codec_tx.c: read a count, check the version, then the count. */
#define FIELDS_READ_MAX 15u
/* Smallest canonical tx blob in a block: bin8 of length 0. */
#define TX_BLOB_MIN_BYTES 2u
/* Smallest canonical result: fixarray, two fixints, empty bin8. */
#define RESULT_MIN_BYTES  5u

/* The root and hash helpers have void contracts (ledger.h) and allocate at
 * most a few hundred kilobytes; a node that cannot get them cannot go on. */
static void must(bool ok)
{
	if (!ok)
		abort();
}

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

/* ---- header -------------------------------------------------------------- */

void ledger_header_encode(const ledger_header *h, cm_wr *w)
{
	size_t idlen;

	assert(h != NULL);
	idlen = strnlen(h->chain_id, LIM_CHAIN_ID_BYTES_MAX + 1);
	assert(idlen <= LIM_CHAIN_ID_BYTES_MAX);
	cm_wr_array(w, HEADER_FIELDS);
	cm_wr_uint(w, h->version);
	cm_wr_str(w, h->chain_id, idlen);
	cm_wr_uint(w, h->height);
	cm_wr_uint(w, h->time_ms);
	cm_wr_bin(w, h->parent_hash, CK_HASH_BYTES);
	cm_wr_bin(w, h->txs_root, CK_HASH_BYTES);
	cm_wr_bin(w, h->state_root, CK_HASH_BYTES);
	cm_wr_bin(w, h->results_root, CK_HASH_BYTES);
	cm_wr_bin(w, h->valset_hash, CK_HASH_BYTES);
	cm_wr_bin(w, h->next_valset_hash, CK_HASH_BYTES);
	cm_wr_bin(w, h->proposer, CK_PUBKEY_BYTES);
}

int ledger_header_decode(cm_rd *r, const char *chain_id, ledger_header *out)
{
	ledger_header h;
	uint32_t n, idlen;
	uint64_t version;
	const char *id;
	int rc;

	assert(r != NULL);
	assert(chain_id != NULL);
	assert(out != NULL);
	memset(&h, 0, sizeof h);
	rc = cm_rd_array(r, &n, FIELDS_READ_MAX);
	if (rc == CM_E_LIMIT)
		return LEDGER_E_FIELD;
	if (rc)
		return rc;
	if (n == 0)
		return LEDGER_E_FIELD;
	rc = cm_rd_uint(r, &version);
	if (rc)
		return rc;
	if (version != LEDGER_HEADER_VERSION)
		return LEDGER_E_VERSION;
	if (n != HEADER_FIELDS)
		return LEDGER_E_FIELD;
	h.version = (uint32_t)version;
	rc = cm_rd_str(r, &id, &idlen, LIM_CHAIN_ID_BYTES_MAX);
	if (rc)
		return rc;
	if (idlen != strlen(chain_id) || memcmp(id, chain_id, idlen) != 0)
		return LEDGER_E_CHAIN_ID;
	memcpy(h.chain_id, id, idlen);
	rc = cm_rd_uint(r, &h.height);
	if (rc == 0)
		rc = cm_rd_uint(r, &h.time_ms);
	if (rc == 0)
		rc = cm_rd_bin_fixed(r, h.parent_hash, CK_HASH_BYTES);
	if (rc == 0)
		rc = cm_rd_bin_fixed(r, h.txs_root, CK_HASH_BYTES);
	if (rc == 0)
		rc = cm_rd_bin_fixed(r, h.state_root, CK_HASH_BYTES);
	if (rc == 0)
		rc = cm_rd_bin_fixed(r, h.results_root, CK_HASH_BYTES);
	if (rc == 0)
		rc = cm_rd_bin_fixed(r, h.valset_hash, CK_HASH_BYTES);
	if (rc == 0)
		rc = cm_rd_bin_fixed(r, h.next_valset_hash, CK_HASH_BYTES);
	if (rc == 0)
		rc = cm_rd_bin_fixed(r, h.proposer, CK_PUBKEY_BYTES);
	if (rc)
		return rc;
	*out = h;
	return 0;
}

void ledger_header_hash(ck_hash out, const ledger_header *h)
{
	cm_wr w;
	cm_wr_init(&w);
	ledger_header_encode(h, &w);
	must(cm_wr_error(&w) == 0);
	ck_hash_tagged(out, "header", cm_wr_data(&w), cm_wr_len(&w));
	cm_wr_free(&w);
}

/* ---- block --------------------------------------------------------------- */

void ledger_block_encode(const ledger_block *b, cm_wr *w)
{
	assert(b != NULL);
	assert(b->ntxs <= LIM_BLOCK_TXS_MAX);
	cm_wr_array(w, BLOCK_FIELDS);
	ledger_header_encode(&b->header, w);
	cm_wr_array(w, b->ntxs);
	for (uint32_t i = 0; i < b->ntxs; i++) {
		assert(b->tx_lens[i] <= LIM_TX_BYTES_MAX);
		cm_wr_bin(w, b->txs[i], b->tx_lens[i]);
	}
}

int ledger_block_decode(const uint8_t *buf, size_t len, const char *chain_id,
			ledger_block **out)
{
	ledger_block *b = NULL;
	cm_rd r;
	uint32_t n;
	int rc;

	assert(buf != NULL || len == 0);
	assert(out != NULL);
	*out = NULL;
	if (len > LIM_BLOCK_BYTES_MAX)
		return CM_E_LIMIT;
	cm_rd_init(&r, buf, len);
	rc = rd_fields(&r, BLOCK_FIELDS);
	if (rc)
		return rc;
	b = calloc(1, sizeof *b);
	if (b == NULL)
		return LEDGER_E_NOMEM;
	rc = ledger_header_decode(&r, chain_id, &b->header);
	if (rc)
		goto fail;
	rc = cm_rd_array(&r, &n, LIM_BLOCK_TXS_MAX);
	if (rc)
		goto fail;
	/* The count is the proposer's claim: bound it by the bytes left
	 * before the arrays get memory. */
	if ((size_t)n * TX_BLOB_MIN_BYTES > len - r.off) {
		rc = CM_E_TRUNCATED;
		goto fail;
	}
	if (n > 0) {
		b->txs = calloc(n, sizeof *b->txs);
		b->tx_lens = calloc(n, sizeof *b->tx_lens);
		if (b->txs == NULL || b->tx_lens == NULL) {
			rc = LEDGER_E_NOMEM;
			goto fail;
		}
	}
	for (uint32_t i = 0; i < n; i++) {
		const uint8_t *p;
		uint32_t txlen;
		rc = cm_rd_bin(&r, &p, &txlen, LIM_TX_BYTES_MAX);
		if (rc)
			goto fail;
		/* malloc(0) may return NULL; an empty blob still gets a
		 * pointer of its own (it fails in ledger_tx_decode). */
		b->txs[i] = malloc(txlen ? txlen : 1);
		if (b->txs[i] == NULL) {
			rc = LEDGER_E_NOMEM;
			goto fail;
		}
		memcpy(b->txs[i], p, txlen);
		b->tx_lens[i] = txlen;
		b->ntxs = i + 1;
	}
	rc = cm_rd_end(&r);
	if (rc)
		goto fail;
	*out = b;
	return 0;
fail:
	ledger_block_free(b);
	return rc;
}

/* Frees what decode allocates, and what a proposer builds the same way:
 * the block, its two arrays and each transaction's bytes are separate
 * malloc allocations. */
void ledger_block_free(ledger_block *b)
{
	if (b == NULL)
		return;
	for (uint32_t i = 0; i < b->ntxs; i++)
		free(b->txs[i]);
	free(b->txs);
	free(b->tx_lens);
	free(b);
}

void ledger_block_txs_root(const ledger_block *b, ck_hash out)
{
	ck_hash *leaves = NULL;

	assert(b != NULL);
	assert(b->ntxs <= LIM_BLOCK_TXS_MAX);
	if (b->ntxs > 0) {
		leaves = malloc((size_t)b->ntxs * sizeof *leaves);
		must(leaves != NULL);
	}
	for (uint32_t i = 0; i < b->ntxs; i++) {
		ck_hash id;
		ledger_tx_hash(id, b->txs[i], b->tx_lens[i]);
		ck_merkle_leaf(leaves[i], id, sizeof id);
	}
	ck_merkle_root(out, (const ck_hash *)leaves, b->ntxs);
	free(leaves);
}

/* ---- results ------------------------------------------------------------- */

static bool result_known(uint64_t code)
{
	switch (code) {
#define LEDGER_RKNOWN(name, val, msg) case val: return true;
		LEDGER_RESULTS(LEDGER_RKNOWN)
#undef LEDGER_RKNOWN
	default: return false;
	}
}

static void wr_result(cm_wr *w, const ledger_tx_result *t)
{
	static const uint8_t none[1];

	assert(t->ntrips <= LIM_TRIPS_PER_TX_MAX);
	assert(t->trip_codes != NULL || t->ntrips == 0);
	cm_wr_array(w, RESULT_FIELDS);
	cm_wr_uint(w, t->code);
	cm_wr_uint(w, t->credited_g);
	/* memcpy from NULL is undefined even for zero bytes. */
	cm_wr_bin(w, t->ntrips ? t->trip_codes : none, t->ntrips);
}

void ledger_results_encode(const ledger_results *res, cm_wr *w)
{
	assert(res != NULL);
	assert(res->ntxs <= LIM_BLOCK_TXS_MAX);
	cm_wr_array(w, res->ntxs);
	for (uint32_t i = 0; i < res->ntxs; i++)
		wr_result(w, &res->r[i]);
}

static int rd_result(cm_rd *r, ledger_tx_result *t)
{
	const uint8_t *codes;
	uint64_t code;
	int rc = rd_fields(r, RESULT_FIELDS);
	if (rc == 0)
		rc = cm_rd_uint(r, &code);
	if (rc)
		return rc;
	if (!result_known(code))
		return LEDGER_E_FIELD;
	t->code = (uint8_t)code;
	rc = cm_rd_uint(r, &t->credited_g);
	if (rc == 0)
		rc = cm_rd_bin(r, &codes, &t->ntrips, LIM_TRIPS_PER_TX_MAX);
	if (rc)
		return rc;
	for (uint32_t i = 0; i < t->ntrips; i++)
		if (!result_known(codes[i]))
			return LEDGER_E_FIELD;
	if (t->ntrips > 0) {
		t->trip_codes = malloc(t->ntrips);
		if (t->trip_codes == NULL)
			return LEDGER_E_NOMEM;
		memcpy(t->trip_codes, codes, t->ntrips);
	}
	return 0;
}

int ledger_results_decode(const uint8_t *buf, size_t len, ledger_results *out)
{
	cm_rd r;
	uint32_t n;
	int rc;

	assert(buf != NULL || len == 0);
	assert(out != NULL);
	memset(out, 0, sizeof *out);
	cm_rd_init(&r, buf, len);
	rc = cm_rd_array(&r, &n, LIM_BLOCK_TXS_MAX);
	if (rc)
		return rc;
	if ((size_t)n * RESULT_MIN_BYTES > len - r.off)
		return CM_E_TRUNCATED;
	if (n > 0) {
		out->r = calloc(n, sizeof *out->r);
		if (out->r == NULL)
			return LEDGER_E_NOMEM;
	}
	/* ntxs counts the entries that may own memory, for the free below. */
	for (uint32_t i = 0; i < n; i++) {
		out->ntxs = i + 1;
		rc = rd_result(&r, &out->r[i]);
		if (rc)
			goto fail;
	}
	rc = cm_rd_end(&r);
	if (rc)
		goto fail;
	return 0;
fail:
	ledger_results_free(out);
	return rc;
}

/* Frees the contents (each trip_codes, then the array) and zeroes *res;
 * the struct itself belongs to the caller. */
void ledger_results_free(ledger_results *res)
{
	if (res == NULL)
		return;
	for (uint32_t i = 0; i < res->ntxs; i++)
		free(res->r[i].trip_codes);
	free(res->r);
	memset(res, 0, sizeof *res);
}

void ledger_results_root(const ledger_results *res, ck_hash out)
{
	ck_hash *leaves = NULL;
	cm_wr w;

	assert(res != NULL);
	assert(res->ntxs <= LIM_BLOCK_TXS_MAX);
	if (res->ntxs > 0) {
		leaves = malloc((size_t)res->ntxs * sizeof *leaves);
		must(leaves != NULL);
	}
	cm_wr_init(&w);
	for (uint32_t i = 0; i < res->ntxs; i++) {
		cm_wr_reset(&w);
		wr_result(&w, &res->r[i]);
		must(cm_wr_error(&w) == 0);
		ck_merkle_leaf(leaves[i], cm_wr_data(&w), cm_wr_len(&w));
	}
	ck_merkle_root(out, (const ck_hash *)leaves, res->ntxs);
	cm_wr_free(&w);
	free(leaves);
}

/* ---- validator sets ------------------------------------------------------ */

void ledger_valset_hash(const ledger_valset *vs, ck_hash out)
{
	cm_wr w;

	assert(vs != NULL);
	assert(vs->n <= LIM_VALIDATORS_MAX);
	/* The ledger builds sets sorted and distinct (ledger.h); another
	 * order would give the same set another hash. */
	for (uint32_t i = 1; i < vs->n; i++)
		assert(memcmp(vs->keys[i - 1], vs->keys[i], CK_PUBKEY_BYTES) < 0);
	cm_wr_init(&w);
	cm_wr_array(&w, vs->n);
	for (uint32_t i = 0; i < vs->n; i++)
		cm_wr_bin(&w, vs->keys[i], CK_PUBKEY_BYTES);
	must(cm_wr_error(&w) == 0);
	ck_hash_tagged(out, "valset", cm_wr_data(&w), cm_wr_len(&w));
	cm_wr_free(&w);
}
