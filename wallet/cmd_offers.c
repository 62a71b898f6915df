/*
 * carbon-wallet offers: the green store, the active offers of every
 * merchant in id order, page by page.
 */
#include "wallet/cli.h"

static int run(wallet_cli *cli)
{
	uint64_t after = 0, limit = 50;
	const char *a = cli_opt(cli, "after"), *l = cli_opt(cli, "limit");
	int rc = 0;
	if (a && (rc = cli_u64(cli, a, "--after", UINT64_MAX, &after)) != 0)
		return rc;
	if (l && (rc = cli_u64(cli, l, "--limit", LIM_HISTORY_PAGE_MAX, &limit)) != 0)
		return rc;
	if (limit == 0)
		return cli_fail(cli, WALLET_EXIT_USAGE, "--limit must be 1..%u", LIM_HISTORY_PAGE_MAX);
	char path[96];
	snprintf(path, sizeof path, "/v1/offers?after=%llu&limit=%llu", (unsigned long long)after,
		 (unsigned long long)limit);
	json_t *j;
	int status;
	if ((rc = cli_get(cli, path, false, &status, &j)) != 0)
		return rc;
	const json_t *offers = json_object_get(j, "offers");
	if (cli->json) {
		cli_json(cli, j);
		return 0;
	}
	size_t i;
	const json_t *o;
	if (json_array_size(offers) == 0)
		printf("no offers%s\n", after ? " after this id" : "");
	else
		printf("%-8s %12s %7s %-9s %s\n", "id", "price kg", "stock", "merchant", "name");
	json_array_foreach(offers, i, o)
	{
		uint64_t id = 0, price = 0, stock = 0, merchant = 0;
		if (wallet_json_u64(o, "id", &id) != 0 || wallet_json_u64(o, "price_g", &price) != 0 ||
		    wallet_json_u64(o, "stock", &stock) != 0 ||
		    wallet_json_u64(o, "merchant_id", &merchant) != 0)
			continue;
		char kg[WALLET_AMOUNT_STRLEN];
		wallet_amount_format(kg, price);
		const char *name = wallet_json_str(o, "name"), *desc = wallet_json_str(o, "description");
		printf("%-8llu %12s %7llu %-9llu %s\n", (unsigned long long)id, kg,
		       (unsigned long long)stock, (unsigned long long)merchant, name ? name : "");
		if (desc && desc[0])
			printf("%39s %s\n", "", desc);
	}
	uint64_t next;
	if (wallet_json_u64(j, "next_after", &next) == 0)
		printf("more: carbon-wallet offers --after %llu\n", (unsigned long long)next);
	json_decref(j);
	return 0;
}

const wallet_cmd wallet_cmd_offers = {
	.name = "offers",
	.run = run,
	.args = "",
	.summary = "list the green store's active offers",
	.details = "Redeem one with 'carbon-wallet redeem OFFER-ID'.",
	.flags = CLI_NODE,
	.min_pos = 0,
	.max_pos = 0,
	.opts = {{"after", "ID", "start after this offer id (paging)", false},
		 {"limit", "N", "offers per page (default 50, at most 1000)", false}},
};
