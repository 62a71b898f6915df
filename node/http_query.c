/*
 * Read-only endpoints of the HTTP API: each reads the ledger through its
 * own LMDB read transaction(s) on the HTTP thread and answers JSON
 * (docs/API.md). Separate from http.c because none of this touches the
 * server's connection or submission machinery.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "common/cm.h"
#include "node/http_internal.h"
#include "node/mempool.h"

#define PAGE_DEFAULT 50u

/* ---- JSON helpers ---------------------------------------------------------- */

json_t *http_u64(uint64_t v)
{
	if (v <= (uint64_t)INT64_MAX)
		return json_integer((json_int_t)v);
	char s[24];
	snprintf(s, sizeof s, "%llu", (unsigned long long)v);
	return json_string(s);
}

json_t *http_hex(const void *p, size_t n)
{
	char *s = malloc(2 * n + 1);
	if (s == NULL)
		return NULL;
	cm_hex_encode(s, p, n);
	json_t *j = json_stringn(s, 2 * n);
	free(s);
	return j;
}

json_t *http_addr(const ck_pubkey pk)
{
	char s[CK_ADDRESS_STRLEN + 1];
	ck_address_encode(s, pk);
	return json_string(s);
}

json_t *http_kg(uint64_t grams)
{
	char s[32];
	snprintf(s, sizeof s, "%llu.%03u", (unsigned long long)(grams / LEDGER_GRAMS_PER_COIN),
		 (unsigned)(grams % LEDGER_GRAMS_PER_COIN));
	return json_string(s);
}

static json_t *str_or_null(const char *s)
{
	return s ? json_string(s) : json_null();
}

static const char *kind_name(unsigned kind)
{
	static const char *const names[] = {NULL,     "issue",  "transfer", "redeem",
					    "refund", "offer",  "govern"};
	return kind < sizeof names / sizeof names[0] ? names[kind] : NULL;
}

static json_t *roles_json(uint32_t roles)
{
	json_t *a = json_array();
	for (uint32_t bit = 1; bit <= LEDGER_ROLES_ALL; bit <<= 1)
		if (roles & bit)
			json_array_append_new(a, str_or_null(ledger_role_name(bit)));
	return a;
}

static json_t *valset_json(const ledger_valset *vs)
{
	json_t *a = json_array();
	for (uint32_t i = 0; i < vs->n; i++)
		json_array_append_new(a, http_addr(vs->keys[i]));
	return a;
}

/* Ledger failure: 404 for "not found", 500 otherwise. */
static void reply_ledger_error(node_http *h, struct evhttp_request *req, int rc, const char *what)
{
	if (rc == LEDGER_E_NOTFOUND) {
		http_reply_error(h, req, 404, "not_found", what);
		return;
	}
	http_reply_error(h, req, 500, "internal", ledger_strerror(rc));
}

static json_t *tx_json(const ledger_tx *tx)
{
	json_t *o = json_pack("{s:s?, s:o, s:o}", "kind", kind_name(tx->kind), "sender",
			      http_addr(tx->sender), "nonce", http_u64(tx->nonce));
	switch (tx->kind) {
	case LEDGER_TX_ISSUE: {
		json_t *trips = json_array();
		for (uint32_t i = 0; i < tx->u.issue.ntrips; i++) {
			const ledger_trip *t = &tx->u.issue.trips[i];
			json_array_append_new(
				trips, json_pack("{s:o, s:o, s:o, s:I, s:o, s:o}", "trip_id",
						 http_hex(t->trip_id, CK_HASH_BYTES), "citizen",
						 http_addr(t->citizen), "mode",
						 str_or_null(ledger_mode_name(t->mode)), "distance_m",
						 (json_int_t)t->distance_m, "start_s",
						 http_u64(t->start_s), "end_s", http_u64(t->end_s)));
		}
		json_object_set_new(o, "trips", trips);
		break;
	}
	case LEDGER_TX_TRANSFER:
		json_object_set_new(o, "to", http_addr(tx->u.transfer.to));
		json_object_set_new(o, "amount_g", http_u64(tx->u.transfer.amount_g));
		break;
	case LEDGER_TX_REDEEM:
		json_object_set_new(o, "offer_id", http_u64(tx->u.redeem.offer_id));
		json_object_set_new(o, "max_price_g", http_u64(tx->u.redeem.max_price_g));
		break;
	case LEDGER_TX_REFUND:
		json_object_set_new(o, "receipt_id", http_hex(tx->u.refund.receipt_id, CK_HASH_BYTES));
		break;
	case LEDGER_TX_OFFER: {
		static const char *const act[] = {NULL, "publish", "update", "withdraw"};
		uint8_t a = tx->u.offer.action;
		json_object_set_new(o, "action", str_or_null(a <= 3 ? act[a] : NULL));
		json_object_set_new(o, "offer_id", http_u64(tx->u.offer.offer_id));
		if (a != LEDGER_OFFER_WITHDRAW) {
			json_object_set_new(o, "price_g", http_u64(tx->u.offer.price_g));
			json_object_set_new(o, "stock", json_integer(tx->u.offer.stock));
			json_object_set_new(o, "name", json_string(tx->u.offer.name));
			json_object_set_new(o, "description", json_string(tx->u.offer.description));
		}
		break;
	}
	case LEDGER_TX_GOVERN: {
		static const char *const act[] = {NULL,         "add_member", "set_roles",
						  "add_key",    "revoke_key", "remove_member",
						  "methodology", "clawback",  "recover"};
		const ledger_govern *g = &tx->u.govern;
		json_object_set_new(o, "action", str_or_null(g->action <= 8 ? act[g->action] : NULL));
		json_object_set_new(o, "member_id", json_integer(g->member_id));
		json_object_set_new(o, "approvals", json_integer(tx->napprovals));
		if (g->reason[0])
			json_object_set_new(o, "reason", json_string(g->reason));
		break;
	}
	default:
		break;
	}
	return o;
}

static json_t *header_json(const ledger_header *hd)
{
	ck_hash id;
	ledger_header_hash(id, hd);
	cm_wr w;
	cm_wr_init(&w);
	ledger_header_encode(hd, &w);
	json_t *hex = cm_wr_error(&w) ? json_null() : http_hex(cm_wr_data(&w), cm_wr_len(&w));
	cm_wr_free(&w);
	return json_pack("{s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o}", "height",
			 http_u64(hd->height), "hash", http_hex(id, CK_HASH_BYTES), "time_ms",
			 http_u64(hd->time_ms), "parent_hash",
			 http_hex(hd->parent_hash, CK_HASH_BYTES), "txs_root",
			 http_hex(hd->txs_root, CK_HASH_BYTES), "state_root",
			 http_hex(hd->state_root, CK_HASH_BYTES), "results_root",
			 http_hex(hd->results_root, CK_HASH_BYTES), "valset_hash",
			 http_hex(hd->valset_hash, CK_HASH_BYTES), "next_valset_hash",
			 http_hex(hd->next_valset_hash, CK_HASH_BYTES), "proposer",
			 http_addr(hd->proposer), "hex", hex);
}

/* ---- endpoints ----------------------------------------------------------------- */

static void get_status(node_http *h, struct evhttp_request *req)
{
	ledger_info info;
	int rc = ledger_get_info(h->cfg.ledger, &info);
	if (rc != 0) {
		reply_ledger_error(h, req, rc, "ledger info");
		return;
	}
	json_t *o = json_pack("{s:s, s:o, s:o, s:o, s:o, s:o, s:o}", "chain_id", h->cfg.chain_id,
			      "height", http_u64(info.height), "latest_block_hash",
			      http_hex(info.last_block_hash, CK_HASH_BYTES), "latest_block_time_ms",
			      http_u64(info.time_ms), "state_root",
			      http_hex(info.state_root, CK_HASH_BYTES), "validators",
			      valset_json(&info.valset), "next_validators",
			      valset_json(&info.next_valset));
	rc = h->cfg.backend.status(h->cfg.backend.ctx, o);
	if (rc != 0) {
		json_decref(o);
		http_reply_error(h, req, 500, "internal", node_mempool_strerror(rc));
		return;
	}
	http_reply(h, req, 200, o);
}

bool http_answer_committed(node_http *h, struct evhttp_request *req, const ck_hash hash)
{
	ledger_tx_location loc;
	if (ledger_find_tx(h->cfg.ledger, hash, &loc) != 0)
		return false;
	http_reply(h, req, 200,
		   json_pack("{s:o, s:s, s:o, s:I, s:I, s:s?}", "hash", http_hex(hash, CK_HASH_BYTES),
			     "status", "committed", "height", http_u64(loc.height), "index",
			     (json_int_t)loc.index, "code", (json_int_t)loc.code, "result",
			     ledger_result_str(loc.code)));
	return true;
}

static void get_tx(node_http *h, struct evhttp_request *req, const node_http_target *t)
{
	if (http_answer_committed(h, req, t->hash))
		return;
	bool pending = false;
	int rc = h->cfg.backend.tx_status(h->cfg.backend.ctx, t->hash, &pending);
	if (rc != 0) {
		http_reply_error(h, req, 500, "internal", node_mempool_strerror(rc));
		return;
	}
	if (pending) {
		http_reply(h, req, 200, json_pack("{s:o, s:s}", "hash",
						  http_hex(t->hash, CK_HASH_BYTES), "status", "pending"));
		return;
	}
	http_reply(h, req, 404,
		   json_pack("{s:o, s:s, s:s, s:s}", "hash", http_hex(t->hash, CK_HASH_BYTES), "status",
			     "unknown", "error", "not_found", "message",
			     "transaction neither committed nor pending"));
}

static void get_account(node_http *h, struct evhttp_request *req, const node_http_target *t)
{
	ledger_account a;
	int rc = ledger_get_account(h->cfg.ledger, t->key, &a);
	if (rc != 0) {
		reply_ledger_error(h, req, rc, "account");
		return;
	}
	uint64_t next = a.nonce;
	rc = h->cfg.backend.pending_nonce(h->cfg.backend.ctx, t->key, a.nonce, &next);
	if (rc != 0) {
		http_reply_error(h, req, 500, "internal", node_mempool_strerror(rc));
		return;
	}
	json_t *o = json_pack("{s:o, s:o, s:o, s:o, s:o, s:o, s:I, s:o}", "address",
			      http_addr(t->key), "pubkey", http_hex(t->key, CK_PUBKEY_BYTES),
			      "balance_g", http_u64(a.balance_g), "balance", http_kg(a.balance_g),
			      "nonce", http_u64(next), "committed_nonce", http_u64(a.nonce),
			      "member_id", (json_int_t)a.member_id, "roles", roles_json(a.roles));
	if (a.member_id != 0) {
		ledger_member *m = malloc(sizeof *m);
		if (m != NULL && ledger_get_member(h->cfg.ledger, a.member_id, m) == 0)
			json_object_set_new(o, "member", json_string(m->name));
		free(m);
	}
	http_reply(h, req, 200, o);
}

static json_t *cursor_json(uint64_t next)
{
	if (next == 0)
		return json_null();
	char s[24];
	snprintf(s, sizeof s, "%llu", (unsigned long long)next);
	return json_string(s);
}

static void get_history(node_http *h, struct evhttp_request *req, const node_http_target *t)
{
	uint32_t limit = t->limit ? t->limit : PAGE_DEFAULT, n = 0;
	uint64_t next = 0;
	ledger_history_entry *e = malloc((size_t)limit * sizeof *e);
	if (e == NULL) {
		http_reply_error(h, req, 503, "nomem", "out of memory");
		return;
	}
	int rc = ledger_history(h->cfg.ledger, t->key, t->cursor, e, limit, &n, &next);
	if (rc != 0) {
		free(e);
		reply_ledger_error(h, req, rc, "history");
		return;
	}
	json_t *arr = json_array();
	for (uint32_t i = 0; i < n; i++)
		json_array_append_new(
			arr, json_pack("{s:o, s:I, s:o, s:s?, s:I, s:s?, s:I}", "height",
				       http_u64(e[i].height), "index", (json_int_t)e[i].index, "hash",
				       http_hex(e[i].txhash, CK_HASH_BYTES), "kind",
				       kind_name(e[i].kind), "code", (json_int_t)e[i].code, "result",
				       ledger_result_str(e[i].code), "delta_g",
				       (json_int_t)e[i].delta_g));
	free(e);
	http_reply(h, req, 200,
		   json_pack("{s:o, s:o, s:o}", "address", http_addr(t->key), "entries", arr,
			     "next_cursor", cursor_json(next)));
}

bool http_answer_proof(node_http *h, struct evhttp_request *req, const ledger_account_proof *p,
		       bool final)
{
	uint8_t *blk = NULL, *cert = NULL;
	size_t blklen = 0, certlen = 0;
	ledger_block *b = NULL;
	int rc = ledger_get_block(h->cfg.ledger, p->height + 1, &blk, &blklen, &cert, &certlen);
	if (rc == LEDGER_E_NOTFOUND && !final)
		return false;
	if (rc != 0 && rc != LEDGER_E_NOTFOUND) {
		http_reply_error(h, req, 500, "internal", ledger_strerror(rc));
		return true;
	}
	if (rc == 0) {
		rc = ledger_block_decode(blk, blklen, h->cfg.chain_id, &b);
		if (rc == 0 && memcmp(b->header.state_root, p->state_root, CK_HASH_BYTES) != 0)
			rc = LEDGER_E_ROOT;
		if (rc != 0) {
			free(blk);
			free(cert);
			ledger_block_free(b);
			http_reply_error(h, req, 500, "internal", ledger_strerror(rc));
			return true;
		}
	}
	cm_wr w;
	cm_wr_init(&w);
	ledger_account_proof_encode(p, &w);
	json_t *o = json_pack("{s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:b}", "address",
			      http_addr(p->account), "height", http_u64(p->height), "balance_g",
			      http_u64(p->balance_g), "balance", http_kg(p->balance_g), "nonce",
			      http_u64(p->nonce), "state_root", http_hex(p->state_root, CK_HASH_BYTES),
			      "proof",
			      cm_wr_error(&w) ? json_null() : http_hex(cm_wr_data(&w), cm_wr_len(&w)),
			      "certified", b != NULL);
	cm_wr_free(&w);
	json_object_set_new(o, "header", b ? header_json(&b->header) : json_null());
	json_object_set_new(o, "cert", b ? http_hex(cert, certlen) : json_null());
	if (b == NULL)
		json_object_set_new(o, "message",
				    json_string("header height+1 not committed yet; retry for a "
						"certified proof"));
	free(blk);
	free(cert);
	ledger_block_free(b);
	http_reply(h, req, 200, o);
	return true;
}

static void get_proof(node_http *h, struct evhttp_request *req, const node_http_target *t)
{
	ledger_account_proof *p = malloc(sizeof *p);
	if (p == NULL) {
		http_reply_error(h, req, 503, "nomem", "out of memory");
		return;
	}
	int rc = ledger_prove_account(h->cfg.ledger, t->key, p);
	if (rc != 0) {
		free(p);
		reply_ledger_error(h, req, rc, "account not in the state (never used): nothing to prove");
		return;
	}
	if (http_answer_proof(h, req, p, false)) {
		free(p);
		return;
	}
	http_park_proof(h, req, p);
}

static void get_block(node_http *h, struct evhttp_request *req, const node_http_target *t)
{
	uint64_t height = t->height;
	if (t->latest) {
		ledger_info info;
		int rc = ledger_get_info(h->cfg.ledger, &info);
		if (rc != 0) {
			reply_ledger_error(h, req, rc, "ledger info");
			return;
		}
		height = info.height;
	}
	uint8_t *blk = NULL, *cert = NULL;
	size_t blklen, certlen;
	ledger_block *b = NULL;
	ledger_results res = {0, NULL};
	int rc = height == 0 ? LEDGER_E_NOTFOUND
			     : ledger_get_block(h->cfg.ledger, height, &blk, &blklen, &cert, &certlen);
	if (rc == 0)
		rc = ledger_block_decode(blk, blklen, h->cfg.chain_id, &b);
	if (rc == 0)
		rc = ledger_get_results(h->cfg.ledger, height, &res);
	if (rc != 0) {
		reply_ledger_error(h, req, rc, "no block at this height");
		goto done;
	}
	json_t *txs = json_array();
	for (uint32_t i = 0; i < b->ntxs; i++) {
		ck_hash id;
		ledger_tx_hash(id, b->txs[i], b->tx_lens[i]);
		ledger_tx *tx = NULL;
		json_t *o = ledger_tx_decode(b->txs[i], b->tx_lens[i], h->cfg.chain_id, &tx) == 0
				    ? tx_json(tx)
				    : json_object();
		ledger_tx_free(tx);
		json_object_set_new(o, "index", json_integer(i));
		json_object_set_new(o, "hash", http_hex(id, CK_HASH_BYTES));
		if (i < res.ntxs) {
			const ledger_tx_result *r = &res.r[i];
			json_object_set_new(o, "code", json_integer(r->code));
			json_object_set_new(o, "result", str_or_null(ledger_result_str(r->code)));
			if (r->ntrips > 0) {
				json_t *codes = json_array();
				for (uint32_t k = 0; k < r->ntrips; k++)
					json_array_append_new(codes, json_integer(r->trip_codes[k]));
				json_object_set_new(o, "credited_g", http_u64(r->credited_g));
				json_object_set_new(o, "trip_codes", codes);
			}
		}
		json_array_append_new(txs, o);
	}
	http_reply(h, req, 200,
		   json_pack("{s:o, s:o, s:o}", "header", header_json(&b->header), "cert",
			     http_hex(cert, certlen), "txs", txs));
done:
	ledger_results_free(&res);
	ledger_block_free(b);
	free(blk);
	free(cert);
}

/* The header of a height with its certificate: what a light client
 * follows, without the transactions /v1/block carries. */
static void get_header(node_http *h, struct evhttp_request *req, const node_http_target *t)
{
	uint64_t height = t->height;
	if (t->latest) {
		ledger_info info;
		int rc = ledger_get_info(h->cfg.ledger, &info);
		if (rc != 0) {
			reply_ledger_error(h, req, rc, "ledger info");
			return;
		}
		height = info.height;
	}
	uint8_t *blk = NULL, *cert = NULL;
	size_t blklen, certlen;
	ledger_block *b = NULL;
	int rc = height == 0 ? LEDGER_E_NOTFOUND
			     : ledger_get_block(h->cfg.ledger, height, &blk, &blklen, &cert, &certlen);
	if (rc == 0)
		rc = ledger_block_decode(blk, blklen, h->cfg.chain_id, &b);
	if (rc != 0)
		reply_ledger_error(h, req, rc, "no block at this height");
	else
		http_reply(h, req, 200,
			   json_pack("{s:o, s:o}", "header", header_json(&b->header), "cert",
				     http_hex(cert, certlen)));
	ledger_block_free(b);
	free(blk);
	free(cert);
}

/* The validators of a height, whose hash header `height` carries as
 * valset_hash: a light client checks each certificate against them. */
static void get_valset(node_http *h, struct evhttp_request *req, const node_http_target *t)
{
	ledger_valset *vs = malloc(sizeof *vs);
	if (vs == NULL) {
		http_reply_error(h, req, 503, "nomem", "out of memory");
		return;
	}
	int rc = ledger_get_valset(h->cfg.ledger, t->height, vs);
	if (rc != 0) {
		free(vs);
		reply_ledger_error(h, req, rc, "no validator set at this height (1 to height + 2)");
		return;
	}
	ck_hash id;
	ledger_valset_hash(vs, id);
	json_t *o = json_pack("{s:o, s:o, s:o}", "height", http_u64(t->height), "hash",
			      http_hex(id, CK_HASH_BYTES), "validators", valset_json(vs));
	free(vs);
	http_reply(h, req, 200, o);
}

static void get_trip(node_http *h, struct evhttp_request *req, const node_http_target *t)
{
	ledger_trip_record r;
	int rc = ledger_get_trip(h->cfg.ledger, t->hash, &r);
	if (rc == LEDGER_E_NOTFOUND) {
		http_reply(h, req, 404,
			   json_pack("{s:o, s:b, s:s, s:s}", "trip_id", http_hex(t->hash, CK_HASH_BYTES),
				     "credited", 0, "error", "not_found", "message",
				     "trip id not credited"));
		return;
	}
	if (rc != 0) {
		reply_ledger_error(h, req, rc, "trip");
		return;
	}
	http_reply(h, req, 200,
		   json_pack("{s:o, s:b, s:o, s:I, s:o, s:s?, s:I, s:o, s:o}", "trip_id",
			     http_hex(t->hash, CK_HASH_BYTES), "credited", 1, "height",
			     http_u64(r.height), "issuer_member_id", (json_int_t)r.issuer_member_id,
			     "citizen", http_addr(r.citizen), "mode", ledger_mode_name(r.mode),
			     "methodology_version", (json_int_t)r.methodology_version, "credited_g",
			     http_u64(r.credited_g), "end_s", http_u64(r.end_s)));
}

static void get_operator_trips(node_http *h, struct evhttp_request *req, const node_http_target *t)
{
	ledger_account a;
	int rc = ledger_get_account(h->cfg.ledger, t->key, &a);
	if (rc != 0) {
		reply_ledger_error(h, req, rc, "account");
		return;
	}
	if (a.member_id == 0 || (a.roles & LEDGER_ROLE_ISSUER) == 0) {
		http_reply_error(h, req, 404, "not_an_operator",
				 "address is not a key of a member with the issuer role");
		return;
	}
	uint32_t limit = t->limit ? t->limit : PAGE_DEFAULT, n = 0;
	uint64_t next = 0;
	ledger_issued_trip *e = malloc((size_t)limit * sizeof *e);
	if (e == NULL) {
		http_reply_error(h, req, 503, "nomem", "out of memory");
		return;
	}
	rc = ledger_issuer_trips(h->cfg.ledger, a.member_id, t->day, t->cursor, e, limit, &n, &next);
	if (rc != 0) {
		free(e);
		reply_ledger_error(h, req, rc, "trips");
		return;
	}
	json_t *arr = json_array();
	for (uint32_t i = 0; i < n; i++)
		json_array_append_new(
			arr, json_pack("{s:o, s:o, s:I, s:I, s:s?, s:o}", "trip_id",
				       http_hex(e[i].trip_id, CK_HASH_BYTES), "height",
				       http_u64(e[i].height), "tx_index", (json_int_t)e[i].tx_index,
				       "code", (json_int_t)e[i].code, "result",
				       ledger_result_str(e[i].code), "credited_g",
				       http_u64(e[i].credited_g)));
	free(e);
	http_reply(h, req, 200,
		   json_pack("{s:I, s:I, s:o, s:o}", "member_id", (json_int_t)a.member_id, "day",
			     (json_int_t)t->day, "trips", arr, "next_cursor", cursor_json(next)));
}

static void get_offers(node_http *h, struct evhttp_request *req, const node_http_target *t)
{
	uint32_t limit = t->limit ? t->limit : PAGE_DEFAULT, n = 0;
	ledger_offer *o = malloc((size_t)limit * sizeof *o);
	if (o == NULL) {
		http_reply_error(h, req, 503, "nomem", "out of memory");
		return;
	}
	int rc = ledger_list_offers(h->cfg.ledger, t->after, o, limit, &n);
	if (rc != 0) {
		free(o);
		reply_ledger_error(h, req, rc, "offers");
		return;
	}
	json_t *arr = json_array();
	for (uint32_t i = 0; i < n; i++)
		json_array_append_new(
			arr, json_pack("{s:o, s:I, s:o, s:o, s:I, s:b, s:s, s:s}", "id",
				       http_u64(o[i].id), "merchant_id", (json_int_t)o[i].merchant_id,
				       "price_g", http_u64(o[i].price_g), "price", http_kg(o[i].price_g),
				       "stock", (json_int_t)o[i].stock, "active", o[i].active, "name",
				       o[i].name, "description", o[i].description));
	/* A full page may have more after its last id. */
	json_t *after = n == limit ? http_u64(o[n - 1].id) : json_null();
	free(o);
	http_reply(h, req, 200, json_pack("{s:o, s:o}", "offers", arr, "next_after", after));
}

static void get_receipts(node_http *h, struct evhttp_request *req, const node_http_target *t)
{
	ledger_account a;
	int rc = ledger_get_account(h->cfg.ledger, t->merchant, &a);
	if (rc != 0) {
		reply_ledger_error(h, req, rc, "account");
		return;
	}
	/* Receipts are indexed by member, so any current key of the merchant
	 * lists them all; a former merchant still sees its old receipts. */
	if (a.member_id == 0) {
		http_reply_error(h, req, 404, "not_a_member",
				 "address is not a key of a member organisation");
		return;
	}
	uint32_t limit = t->limit ? t->limit : PAGE_DEFAULT, n = 0;
	uint64_t next = 0;
	ledger_receipt *r = malloc((size_t)limit * sizeof *r);
	if (r == NULL) {
		http_reply_error(h, req, 503, "nomem", "out of memory");
		return;
	}
	rc = ledger_list_receipts(h->cfg.ledger, a.member_id, t->cursor, r, limit, &n, &next);
	if (rc != 0) {
		free(r);
		reply_ledger_error(h, req, rc, "receipts");
		return;
	}
	json_t *arr = json_array();
	for (uint32_t i = 0; i < n; i++)
		json_array_append_new(
			arr, json_pack("{s:o, s:o, s:I, s:o, s:o, s:o, s:o, s:b}", "id",
				       http_hex(r[i].id, CK_HASH_BYTES), "offer_id",
				       http_u64(r[i].offer_id), "merchant_id",
				       (json_int_t)r[i].merchant_id, "citizen", http_addr(r[i].citizen),
				       "price_g", http_u64(r[i].price_g), "price", http_kg(r[i].price_g),
				       "height", http_u64(r[i].height), "refunded", r[i].refunded));
	free(r);
	http_reply(h, req, 200,
		   json_pack("{s:o, s:o, s:o}", "merchant", http_addr(t->merchant), "receipts", arr,
			     "next_cursor", cursor_json(next)));
}

static void get_supply(node_http *h, struct evhttp_request *req)
{
	ledger_supply s;
	int rc = ledger_get_supply(h->cfg.ledger, &s);
	if (rc != 0) {
		reply_ledger_error(h, req, rc, "supply");
		return;
	}
	json_t *modes = json_object();
	for (unsigned m = 1; m <= LEDGER_MODE_MAX; m++)
		if (ledger_mode_name(m))
			json_object_set_new(modes, ledger_mode_name(m), http_u64(s.by_mode_g[m]));
	http_reply(h, req, 200,
		   json_pack("{s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o}", "issued_g",
			     http_u64(s.issued_g), "redeemed_g", http_u64(s.redeemed_g), "refunded_g",
			     http_u64(s.refunded_g), "clawed_back_g", http_u64(s.clawed_back_g),
			     "circulating_g", http_u64(s.circulating_g), "circulating",
			     http_kg(s.circulating_g), "by_mode_g", modes, "trips_credited",
			     http_u64(s.trips_credited)));
}

static void get_evidence(node_http *h, struct evhttp_request *req)
{
	json_t *ev = NULL;
	int rc = h->cfg.backend.evidence(h->cfg.backend.ctx, &ev);
	if (rc != 0 || ev == NULL) {
		json_decref(ev);
		http_reply_error(h, req, 500, "internal", node_mempool_strerror(rc));
		return;
	}
	http_reply(h, req, 200, json_pack("{s:o}", "evidence", ev));
}

void http_handle_query(node_http *h, struct evhttp_request *req, const node_http_target *t)
{
	switch (t->route) {
	case NODE_HTTP_R_STATUS:
		get_status(h, req);
		return;
	case NODE_HTTP_R_TX:
		get_tx(h, req, t);
		return;
	case NODE_HTTP_R_ACCOUNT:
		get_account(h, req, t);
		return;
	case NODE_HTTP_R_HISTORY:
		get_history(h, req, t);
		return;
	case NODE_HTTP_R_PROOF:
		get_proof(h, req, t);
		return;
	case NODE_HTTP_R_BLOCK:
		get_block(h, req, t);
		return;
	case NODE_HTTP_R_HEADER:
		get_header(h, req, t);
		return;
	case NODE_HTTP_R_VALSET:
		get_valset(h, req, t);
		return;
	case NODE_HTTP_R_TRIP:
		get_trip(h, req, t);
		return;
	case NODE_HTTP_R_OPERATOR_TRIPS:
		get_operator_trips(h, req, t);
		return;
	case NODE_HTTP_R_OFFERS:
		get_offers(h, req, t);
		return;
	case NODE_HTTP_R_RECEIPTS:
		get_receipts(h, req, t);
		return;
	case NODE_HTTP_R_SUPPLY:
		get_supply(h, req);
		return;
	case NODE_HTTP_R_EVIDENCE:
		get_evidence(h, req);
		return;
	default:
		http_reply_error(h, req, 404, "not_found", "no such endpoint");
		return;
	}
}
