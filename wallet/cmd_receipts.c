/*
 * carbon-wallet receipts: a merchant's receipts (redeems of its offers),
 * newest first, with the refunded ones marked.
 */
#include "wallet/cli.h"

static int run(wallet_cli *cli)
{
	ck_pubkey pk;
	int rc = cli->npos == 1 ? cli_address_or_key(cli, cli->pos[0], "MERCHANT", pk)
				: cli_key_pubkey(cli, pk);
	if (rc != 0)
		return rc;
	uint64_t cursor = 0, limit = 50;
	const char *c = cli_opt(cli, "cursor"), *l = cli_opt(cli, "limit");
	if (c && (rc = cli_u64(cli, c, "--cursor", UINT64_MAX, &cursor)) != 0)
		return rc;
	if (l && (rc = cli_u64(cli, l, "--limit", LIM_HISTORY_PAGE_MAX, &limit)) != 0)
		return rc;
	if (limit == 0)
		return cli_fail(cli, WALLET_EXIT_USAGE, "--limit must be 1..%u", LIM_HISTORY_PAGE_MAX);
	char addr[CK_ADDRESS_STRLEN + 1], path[192];
	ck_address_encode(addr, pk);
	if (cursor)
		snprintf(path, sizeof path, "/v1/receipts?merchant=%s&limit=%llu&cursor=%llu", addr,
			 (unsigned long long)limit, (unsigned long long)cursor);
	else
		snprintf(path, sizeof path, "/v1/receipts?merchant=%s&limit=%llu", addr,
			 (unsigned long long)limit);
	json_t *j;
	int status;
	if ((rc = cli_get(cli, path, false, &status, &j)) != 0)
		return rc;
	if (cli->json) {
		cli_json(cli, j);
		return 0;
	}
	const json_t *arr = json_object_get(j, "receipts");
	if (json_array_size(arr) == 0)
		printf("no receipts%s\n", cursor ? " before this cursor" : "");
	size_t i;
	const json_t *r;
	json_array_foreach(arr, i, r)
	{
		uint64_t h = 0, offer = 0, price = 0;
		const char *id = wallet_json_str(r, "id"), *cit = wallet_json_str(r, "citizen");
		if (wallet_json_u64(r, "height", &h) != 0 || wallet_json_u64(r, "offer_id", &offer) != 0 ||
		    wallet_json_u64(r, "price_g", &price) != 0 || id == NULL)
			continue;
		char kg[WALLET_AMOUNT_STRLEN];
		wallet_amount_format(kg, price);
		printf("%s  block %-7llu offer %-5llu %10s kg  %s%s\n", id, (unsigned long long)h,
		       (unsigned long long)offer, kg, cit ? cit : "",
		       json_is_true(json_object_get(r, "refunded")) ? "  REFUNDED" : "");
	}
	const char *nc = wallet_json_str(j, "next_cursor");
	if (nc)
		printf("more: carbon-wallet receipts --cursor %s\n", nc);
	json_decref(j);
	return 0;
}

const wallet_cmd wallet_cmd_receipts = {
	.name = "receipts",
	.run = run,
	.args = "[MERCHANT]",
	.summary = "list a merchant's receipts, newest first (default: your key's)",
	.details = "Refund one with 'carbon-wallet refund RECEIPT-ID'.",
	.flags = CLI_NODE | CLI_KEY,
	.min_pos = 0,
	.max_pos = 1,
	.opts = {{"cursor", "C", "continue from this cursor", false},
		 {"limit", "N", "history entries to scan per page (default 50)", false}},
};
