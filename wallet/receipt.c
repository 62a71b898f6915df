/*
 * A receipt, pieced together from what the API offers: the redeem
 * transaction (its location and result), its block (citizen, offer,
 * price limit), the offer (name, merchant) and the citizen's history (the
 * price actually paid, and a later refund naming this receipt). Shared by
 * 'redeem', which shows the receipt it just obtained, and 'receipt'.
 */
#include <string.h>

#include "wallet/cli.h"

/* Name and merchant of an offer, if it is still listed. */
static void offer_info(wallet_cli *cli, uint64_t id, char *name, size_t n, uint64_t *merchant)
{
	char path[96];
	json_t *j;
	int status;
	snprintf(name, n, "(no longer listed)");
	*merchant = 0;
	if (id == 0)
		return;
	snprintf(path, sizeof path, "/v1/offers?after=%llu&limit=1", (unsigned long long)(id - 1));
	if (wallet_node_get_json(cli->node, path, &status, &j, NULL, 0) != 0)
		return;
	const json_t *o = json_array_get(json_object_get(j, "offers"), 0);
	uint64_t got;
	if (status == 200 && o != NULL && wallet_json_u64(o, "id", &got) == 0 && got == id) {
		const char *nm = wallet_json_str(o, "name");
		snprintf(name, n, "\"%s\"", nm ? nm : "");
		if (wallet_json_u64(o, "merchant_id", merchant) != 0)
			*merchant = 0;
	}
	json_decref(j);
}

/* Walks the citizen's history back to the redeem's height: the price paid
 * (its delta) and a refund naming this receipt. */
static int scan_history(wallet_cli *cli, const ck_pubkey citizen, const ck_hash id, uint64_t height,
			uint64_t *paid, uint64_t *refund_height)
{
	char addr[CK_ADDRESS_STRLEN + 1], path[192];
	ck_address_encode(addr, citizen);
	uint64_t cursor = 0;
	*paid = 0;
	*refund_height = 0;
	for (;;) {
		json_t *j;
		int status, rc;
		if (cursor)
			snprintf(path, sizeof path, "/v1/account/%s/history?limit=200&cursor=%llu", addr,
				 (unsigned long long)cursor);
		else
			snprintf(path, sizeof path, "/v1/account/%s/history?limit=200", addr);
		if ((rc = cli_get(cli, path, false, &status, &j)) != 0)
			return rc;
		size_t i;
		const json_t *e;
		bool past = false;
		json_array_foreach(json_object_get(j, "entries"), i, e)
		{
			uint64_t h, idx;
			int64_t delta;
			ck_hash hash;
			const char *kind = wallet_json_str(e, "kind");
			if (wallet_json_u64(e, "height", &h) != 0 || wallet_json_u64(e, "index", &idx) != 0 ||
			    wallet_json_i64(e, "delta_g", &delta) != 0 ||
			    wallet_json_hash(e, "hash", hash) != 0 || kind == NULL || idx > UINT32_MAX)
				continue;
			if (h < height) {
				past = true;
				break;
			}
			if (memcmp(hash, id, CK_HASH_BYTES) == 0 && delta < 0)
				*paid = (uint64_t)0 - (uint64_t)delta;
			if (strcmp(kind, "refund") == 0 && *refund_height == 0) {
				const json_t *tx = cli_block_tx(cli, h, (uint32_t)idx, &rc);
				ck_hash rid;
				uint64_t code;
				if (tx != NULL && wallet_json_hash(tx, "receipt_id", rid) == 0 &&
				    memcmp(rid, id, CK_HASH_BYTES) == 0 &&
				    wallet_json_u64(tx, "code", &code) == 0 && code == LEDGER_R_OK)
					*refund_height = h;
			}
		}
		const char *next = wallet_json_str(j, "next_cursor");
		cursor = 0;
		if (!past && next != NULL && cli_u64(cli, next, "next_cursor", UINT64_MAX, &cursor) != 0)
			cursor = 0;
		json_decref(j);
		if (cursor == 0)
			return 0;
	}
}

int cli_receipt_show(wallet_cli *cli, const ck_hash id)
{
	wallet_node *nd;
	wallet_tx_status st;
	char hex[2 * CK_HASH_BYTES + 1];
	cm_hex_encode(hex, id, CK_HASH_BYTES);
	int rc = cli_node(cli, &nd);
	if (rc != 0)
		return rc;
	rc = wallet_tx_lookup(nd, id, &st, cli->msg, sizeof cli->msg);
	if (rc != 0)
		return cli_net_fail(cli, rc, NULL);
	if (st.state == WALLET_TX_PENDING)
		return cli_fail(cli, WALLET_EXIT_REJECTED, "receipt %s: the redeem is still pending",
				hex);
	if (st.state != WALLET_TX_COMMITTED)
		return cli_fail(cli, WALLET_EXIT_REJECTED,
				"no receipt %s on %s (a receipt id is the hash of the redeem "
				"transaction)",
				hex, wallet_node_url(nd));
	const json_t *tx = cli_block_tx(cli, st.height, st.index, &rc);
	if (tx == NULL)
		return rc;
	const char *kind = wallet_json_str(tx, "kind");
	ck_pubkey citizen;
	uint64_t offer_id;
	if (kind == NULL || strcmp(kind, "redeem") != 0 ||
	    wallet_json_addr(tx, "sender", citizen) != 0 ||
	    wallet_json_u64(tx, "offer_id", &offer_id) != 0)
		return cli_fail(cli, WALLET_EXIT_REJECTED, "%s is a %s transaction, not a receipt", hex,
				kind ? kind : "unknown");
	if (st.code != LEDGER_R_OK)
		return cli_fail(cli, WALLET_EXIT_REJECTED,
				"%s: the redeem was rejected in block %llu: %s (no receipt)", hex,
				(unsigned long long)st.height, ledger_result_str(st.code));
	char name[LIM_NAME_BYTES_MAX + 32];
	uint64_t merchant, paid, refunded;
	offer_info(cli, offer_id, name, sizeof name, &merchant);
	if ((rc = scan_history(cli, citizen, id, st.height, &paid, &refunded)) != 0)
		return rc;
	char kg[WALLET_AMOUNT_STRLEN], addr[CK_ADDRESS_STRLEN + 1];
	wallet_amount_format(kg, paid);
	ck_address_encode(addr, citizen);
	if (cli->json) {
		json_t *o = json_pack("{s:s, s:I, s:s, s:s, s:I, s:s, s:I, s:b}", "receipt", hex,
				      "offer_id", (json_int_t)offer_id, "offer", name, "citizen", addr,
				      "price_g", (json_int_t)paid, "price", kg, "height",
				      (json_int_t)st.height, "refunded", refunded != 0);
		if (merchant)
			json_object_set_new(o, "merchant_id", json_integer((json_int_t)merchant));
		if (refunded)
			json_object_set_new(o, "refund_height", json_integer((json_int_t)refunded));
		cli_json(cli, o);
		return 0;
	}
	printf("receipt  %s\n", hex);
	if (merchant)
		printf("offer    %llu %s (merchant %llu)\n", (unsigned long long)offer_id, name,
		       (unsigned long long)merchant);
	else
		printf("offer    %llu %s\n", (unsigned long long)offer_id, name);
	printf("citizen  %s\nprice    %s kg\nblock    %llu\n", addr, kg, (unsigned long long)st.height);
	if (refunded)
		printf("status   refunded in block %llu\n", (unsigned long long)refunded);
	else
		printf("status   valid\n");
	return 0;
}
