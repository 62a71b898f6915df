/*
 * carbon-wallet redeem: spends credits on a green-store offer. The price
 * limit signed into the transaction is the price the citizen saw (or
 * --max-price), so a merchant raising the price meanwhile cannot take more.
 * On commit the receipt is shown; its id is the redeem's hash.
 */
#include <sodium.h>
#include <string.h>

#include "wallet/cli.h"

static int run(wallet_cli *cli)
{
	uint64_t offer_id, max_price = 0;
	int rc = cli_u64(cli, cli->pos[0], "OFFER", UINT64_MAX, &offer_id);
	if (rc != 0)
		return rc;
	if (offer_id == 0)
		return cli_fail(cli, WALLET_EXIT_USAGE, "OFFER ids start at 1 (see 'carbon-wallet offers')");
	const char *mp = cli_opt(cli, "max-price");
	if (mp && (rc = cli_amount(cli, mp, "--max-price", false, &max_price)) != 0)
		return rc;
	if (mp == NULL) {
		char path[96];
		json_t *j;
		int status;
		snprintf(path, sizeof path, "/v1/offers?after=%llu&limit=1",
			 (unsigned long long)(offer_id - 1));
		if ((rc = cli_get(cli, path, false, &status, &j)) != 0)
			return rc;
		const json_t *o = json_array_get(json_object_get(j, "offers"), 0);
		uint64_t got = 0;
		bool found = o && wallet_json_u64(o, "id", &got) == 0 && got == offer_id &&
			     wallet_json_u64(o, "price_g", &max_price) == 0;
		json_decref(j);
		if (!found)
			return cli_fail(cli, WALLET_EXIT_REJECTED,
					"offer %llu is not in the store (see 'carbon-wallet offers')",
					(unsigned long long)offer_id);
	}
	/* The most this signs away, before the passphrase is asked for. */
	char kg[WALLET_AMOUNT_STRLEN];
	wallet_amount_format(kg, max_price);
	if (!cli->json)
		fprintf(stderr, "redeeming offer %llu for at most %s kg (%s)\n",
			(unsigned long long)offer_id, kg, mp ? "--max-price" : "its listed price");
	ck_pubkey pk;
	uint8_t *sk = NULL;
	ledger_tx *tx = NULL;
	if ((rc = cli_load_key(cli, pk, &sk)) != 0)
		return rc;
	if ((rc = cli_tx_new(cli, LEDGER_TX_REDEEM, 0, pk, &tx)) != 0)
		goto done;
	tx->u.redeem.offer_id = offer_id;
	tx->u.redeem.max_price_g = max_price;
	wallet_tx_status st;
	if ((rc = cli_submit(cli, tx, sk, "redeem", &st)) != 0)
		goto done;
	if (st.state != WALLET_TX_COMMITTED) {
		/* --no-wait: no receipt yet, only the transaction (its hash is
		 * the receipt id once it commits). */
		if (cli->json) {
			json_t *o = json_pack("{s:I}", "offer_id", (json_int_t)offer_id);
			cli_print_status(cli, &st, o);
			cli_json(cli, o);
		} else {
			cli_print_status(cli, &st, NULL);
		}
		goto done;
	}
	if (!cli->json)
		printf("redeemed offer %llu in block %llu\n", (unsigned long long)offer_id,
		       (unsigned long long)st.height);
	rc = cli_receipt_show(cli, st.hash);
done:
	ledger_tx_free(tx);
	sodium_free(sk);
	return rc;
}

const wallet_cmd wallet_cmd_redeem = {
	.name = "redeem",
	.run = run,
	.args = "OFFER",
	.summary = "redeem a green-store offer and show the receipt",
	.details = "The transaction carries the offer's current price as the most you pay\n"
		   "(or --max-price). The receipt id is the transaction hash; show it again\n"
		   "with 'carbon-wallet receipt ID'.",
	.flags = CLI_NODE | CLI_KEY | CLI_TX,
	.min_pos = 1,
	.max_pos = 1,
	.opts = {{"max-price", "KG", "most you agree to pay (default: the listed price)", false}},
};
