/*
 * carbon-wallet offer publish|update|withdraw: a merchant's offers in the
 * green store. The merchant picks the offer id (the ledger refuses one
 * already used); update replaces price, stock, name and description.
 */
#include <sodium.h>
#include <string.h>

#include "wallet/cli.h"

static int run(wallet_cli *cli)
{
	static const char *const acts[] = {"publish", "update", "withdraw"};
	uint8_t action = 0;
	for (uint8_t i = 0; i < 3; i++)
		if (strcmp(cli->pos[0], acts[i]) == 0)
			action = (uint8_t)(i + 1);
	if (action == 0)
		return cli_fail(cli, WALLET_EXIT_USAGE, "ACTION must be publish, update or withdraw");
	uint64_t id = 0, price = 0, stock = 0;
	const char *sid = cli_opt(cli, "id"), *sprice = cli_opt(cli, "price");
	const char *sstock = cli_opt(cli, "stock"), *name = cli_opt(cli, "name");
	const char *desc = cli_opt(cli, "description");
	int rc;
	if (sid == NULL)
		return cli_fail(cli, WALLET_EXIT_USAGE, "--id N is required");
	if ((rc = cli_u64(cli, sid, "--id", UINT64_MAX, &id)) != 0)
		return rc;
	if (id == 0)
		return cli_fail(cli, WALLET_EXIT_USAGE, "offer ids start at 1");
	if (action != LEDGER_OFFER_WITHDRAW) {
		if (sprice == NULL || name == NULL)
			return cli_fail(cli, WALLET_EXIT_USAGE, "%s needs --price KG and --name TEXT",
					cli->pos[0]);
		if ((rc = cli_amount(cli, sprice, "--price", true, &price)) != 0)
			return rc;
		if (sstock && (rc = cli_u64(cli, sstock, "--stock", UINT32_MAX, &stock)) != 0)
			return rc;
		if (sstock == NULL)
			stock = 1000;
		if (strlen(name) == 0 || strlen(name) > LIM_NAME_BYTES_MAX)
			return cli_fail(cli, WALLET_EXIT_USAGE, "--name must be 1..%u bytes",
					LIM_NAME_BYTES_MAX);
		if (desc && strlen(desc) > LIM_TEXT_BYTES_MAX)
			return cli_fail(cli, WALLET_EXIT_USAGE, "--description is longer than %u bytes",
					LIM_TEXT_BYTES_MAX);
	} else if (sprice || sstock || name || desc) {
		return cli_fail(cli, WALLET_EXIT_USAGE, "withdraw takes only --id");
	}
	ck_pubkey pk;
	uint8_t *sk = NULL;
	ledger_tx *tx = NULL;
	if ((rc = cli_load_key(cli, pk, &sk)) != 0)
		return rc;
	if ((rc = cli_tx_new(cli, LEDGER_TX_OFFER, 0, pk, &tx)) != 0)
		goto done;
	tx->u.offer.action = action;
	tx->u.offer.offer_id = id;
	tx->u.offer.price_g = price;
	tx->u.offer.stock = (uint32_t)stock;
	if (name)
		snprintf(tx->u.offer.name, sizeof tx->u.offer.name, "%s", name);
	if (desc)
		snprintf(tx->u.offer.description, sizeof tx->u.offer.description, "%s", desc);
	wallet_tx_status st;
	if ((rc = cli_submit(cli, tx, sk, cli->pos[0], &st)) != 0)
		goto done;
	if (cli->json) {
		json_t *o = json_pack("{s:s, s:I}", "action", cli->pos[0], "offer_id",
				      (json_int_t)id);
		cli_print_status(cli, &st, o);
		cli_json(cli, o);
	} else {
		char kg[WALLET_AMOUNT_STRLEN];
		wallet_amount_format(kg, price);
		if (action == LEDGER_OFFER_WITHDRAW)
			printf("offer %llu withdrawn\n", (unsigned long long)id);
		else
			printf("offer %llu %s: \"%s\" at %s kg, stock %llu\n", (unsigned long long)id,
			       action == LEDGER_OFFER_PUBLISH ? "published" : "updated", name, kg,
			       (unsigned long long)stock);
		cli_print_status(cli, &st, NULL);
	}
done:
	ledger_tx_free(tx);
	sodium_free(sk);
	return rc;
}

const wallet_cmd wallet_cmd_offer = {
	.name = "offer",
	.run = run,
	.args = "publish|update|withdraw",
	.summary = "publish, update or withdraw an offer of your green store (merchants)",
	.details = "publish and update need --id, --price and --name (--stock defaults to 1000);\n"
		   "withdraw needs only --id.",
	.flags = CLI_NODE | CLI_KEY | CLI_TX,
	.min_pos = 1,
	.max_pos = 1,
	.opts = {{"id", "N", "offer id (you choose it; unique in the store)", false},
		 {"price", "KG", "price in kg CO2e, up to three decimals", false},
		 {"stock", "N", "how many may be redeemed (default 1000)", false},
		 {"name", "TEXT", "offer name, at most 64 bytes", false},
		 {"description", "TEXT", "description, at most 512 bytes", false}},
};
