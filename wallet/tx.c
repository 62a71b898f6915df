/*
 * Accounts and transactions over the node API: the pending-aware nonce of
 * GET /v1/account, the chain id of GET /v1/status, and a transaction's
 * life from POST /v1/tx (admitted or refused by the mempool) to its commit
 * with a result code, followed with ?wait_ms and GET /v1/tx/{hash}.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "wallet/http_internal.h"

int wallet_get_account(wallet_node *nd, const ck_pubkey key, wallet_account *out, char *msg,
		       size_t msglen)
{
	char addr[CK_ADDRESS_STRLEN + 1], path[128];
	ck_address_encode(addr, key);
	snprintf(path, sizeof path, "/v1/account/%s", addr);
	json_t *j;
	int status;
	int rc = wallet_node_get_json(nd, path, &status, &j, msg, msglen);
	if (rc != 0)
		return rc;
	memset(out, 0, sizeof *out);
	uint64_t mid = 0;
	const json_t *roles = json_object_get(j, "roles");
	if (status != 200 || wallet_json_u64(j, "balance_g", &out->balance_g) != 0 ||
	    wallet_json_u64(j, "nonce", &out->nonce) != 0 ||
	    wallet_json_u64(j, "committed_nonce", &out->committed_nonce) != 0 ||
	    wallet_json_u64(j, "member_id", &mid) != 0 || mid > UINT32_MAX || !json_is_array(roles)) {
		const char *m = wallet_json_str(j, "message");
		wallet_msgf(msg, msglen, "%s: account %s: %s", wallet_node_url(nd), addr,
			    m ? m : "unexpected answer");
		json_decref(j);
		return WALLET_E_JSON;
	}
	out->member_id = (uint32_t)mid;
	size_t i;
	const json_t *r;
	json_array_foreach(roles, i, r)
	{
		for (uint32_t bit = 1; bit <= LEDGER_ROLES_ALL; bit <<= 1) {
			const char *name = ledger_role_name(bit);
			if (json_is_string(r) && name && strcmp(json_string_value(r), name) == 0)
				out->roles |= bit;
		}
	}
	const char *member = wallet_json_str(j, "member");
	if (member != NULL)
		snprintf(out->member, sizeof out->member, "%s", member);
	json_decref(j);
	return 0;
}

int wallet_get_chain_id(wallet_node *nd, char out[LIM_CHAIN_ID_BYTES_MAX + 1], char *msg,
			size_t msglen)
{
	json_t *j;
	int status;
	int rc = wallet_node_get_json(nd, "/v1/status", &status, &j, msg, msglen);
	if (rc != 0)
		return rc;
	const char *c = wallet_json_str(j, "chain_id");
	if (status != 200 || c == NULL || strlen(c) == 0 || strlen(c) > LIM_CHAIN_ID_BYTES_MAX) {
		wallet_msgf(msg, msglen, "%s: /v1/status has no chain id", wallet_node_url(nd));
		json_decref(j);
		return WALLET_E_JSON;
	}
	strcpy(out, c);
	json_decref(j);
	return 0;
}

/* Fills st from an answer of POST /v1/tx or GET /v1/tx/{hash}. */
static int status_from_json(const json_t *j, int http, const ck_hash hash, wallet_tx_status *st)
{
	memset(st, 0, sizeof *st);
	memcpy(st->hash, hash, CK_HASH_BYTES);
	st->http_status = http;
	const char *s = wallet_json_str(j, "status");
	const char *err = wallet_json_str(j, "error");
	const char *m = wallet_json_str(j, "message");
	if (s != NULL && strcmp(s, "committed") == 0) {
		uint64_t h, idx, code;
		if (wallet_json_u64(j, "height", &h) != 0 || wallet_json_u64(j, "index", &idx) != 0 ||
		    wallet_json_u64(j, "code", &code) != 0 || idx > UINT32_MAX || code > 255)
			return WALLET_E_JSON;
		st->state = WALLET_TX_COMMITTED;
		st->height = h;
		st->index = (uint32_t)idx;
		st->code = (uint8_t)code;
		return 0;
	}
	if (s != NULL && strcmp(s, "pending") == 0 && http < 300) {
		st->state = WALLET_TX_PENDING;
		return 0;
	}
	if ((s != NULL && strcmp(s, "dropped") == 0) || (s != NULL && strcmp(s, "unknown") == 0)) {
		st->state = WALLET_TX_DROPPED;
		snprintf(st->error, sizeof st->error, "%s", "dropped");
		snprintf(st->message, sizeof st->message, "%s",
			 m ? m : "transaction left the mempool without being committed");
		return 0;
	}
	if (err == NULL)
		return WALLET_E_JSON;
	st->state = WALLET_TX_REFUSED;
	snprintf(st->error, sizeof st->error, "%s", err);
	snprintf(st->message, sizeof st->message, "%s", m ? m : err);
	return 0;
}

int wallet_tx_post(wallet_node *nd, const uint8_t *tx, size_t len, uint32_t wait_ms,
		   wallet_tx_status *st, char *msg, size_t msglen)
{
	char path[64];
	snprintf(path, sizeof path, "/v1/tx?wait_ms=%u", wait_ms);
	ck_hash hash;
	ledger_tx_hash(hash, tx, len);
	wallet_http_resp r;
	int rc = wallet_node_request(nd, "POST", path, "application/octet-stream", tx, len, wait_ms,
				     &r, msg, msglen);
	if (rc != 0)
		return rc;
	json_error_t je;
	json_t *j = json_loadb(r.body, r.len, 0, &je);
	rc = json_is_object(j) ? status_from_json(j, r.status, hash, st) : WALLET_E_JSON;
	if (rc != 0)
		wallet_msgf(msg, msglen, "%s answered POST /v1/tx with status %d and an unexpected body",
			    wallet_node_url(nd), r.status);
	json_decref(j);
	wallet_http_resp_free(&r);
	if (rc != 0 || st->state != WALLET_TX_REFUSED)
		return rc;
	/* After a node that never answered, the next one may already hold
	 * this very transaction (gossip) or have committed it: that is not
	 * a refusal. Its hash says it is ours. */
	if (strcmp(st->error, "duplicate") == 0 || strcmp(st->error, "nonce_used") == 0) {
		wallet_tx_status known;
		if (wallet_tx_lookup(nd, hash, &known, NULL, 0) == 0 &&
		    (known.state == WALLET_TX_COMMITTED || known.state == WALLET_TX_PENDING))
			*st = known;
	}
	return 0;
}

int wallet_tx_submit(wallet_node *nd, ledger_tx *tx, const uint8_t *sk, uint32_t wait_ms,
		     wallet_tx_status *st, char *msg, size_t msglen)
{
	ledger_tx_sign(tx, sk);
	cm_wr w;
	cm_wr_init(&w);
	ledger_tx_encode(tx, &w);
	int rc = cm_wr_error(&w) ? WALLET_E_NOMEM
				 : wallet_tx_post(nd, cm_wr_data(&w), cm_wr_len(&w), wait_ms, st, msg,
						  msglen);
	cm_wr_free(&w);
	return rc;
}

int wallet_tx_lookup(wallet_node *nd, const ck_hash hash, wallet_tx_status *st, char *msg,
		     size_t msglen)
{
	char hex[2 * CK_HASH_BYTES + 1], path[96];
	cm_hex_encode(hex, hash, CK_HASH_BYTES);
	snprintf(path, sizeof path, "/v1/tx/%s", hex);
	json_t *j;
	int status;
	int rc = wallet_node_get_json(nd, path, &status, &j, msg, msglen);
	if (rc != 0)
		return rc;
	rc = status_from_json(j, status, hash, st);
	if (rc != 0)
		wallet_msgf(msg, msglen, "%s: unexpected answer for transaction %s", wallet_node_url(nd),
			    hex);
	json_decref(j);
	return rc;
}

int wallet_tx_follow(wallet_node *nd, const ck_hash hash, uint32_t timeout_ms,
		     wallet_tx_status *st, char *msg, size_t msglen)
{
	uint64_t deadline = wallet_now_ms() + timeout_ms;
	for (unsigned pause_ms = 20;; pause_ms = pause_ms < 200 ? pause_ms * 2 : 200) {
		int rc = wallet_tx_lookup(nd, hash, st, msg, msglen);
		if (rc != 0 || st->state != WALLET_TX_PENDING || wallet_now_ms() >= deadline)
			return rc;
		struct timespec ts = {0, (long)pause_ms * 1000000L};
		nanosleep(&ts, NULL);
	}
}
