/*
 * carbon-wallet send: a transfer of credits to another account, the amount
 * in kilograms with at most three decimals (exact grams inside).
 */
#include <sodium.h>
#include <string.h>

#include "wallet/cli.h"

static int run(wallet_cli *cli)
{
	ck_pubkey to, pk;
	uint64_t grams;
	int rc = cli_address_or_key(cli, cli->pos[0], "TO", to);
	if (rc == 0)
		rc = cli_amount(cli, cli->pos[1], "AMOUNT", true, &grams);
	if (rc != 0)
		return rc;
	uint8_t *sk = NULL;
	ledger_tx *tx = NULL;
	if ((rc = cli_load_key(cli, pk, &sk)) != 0)
		return rc;
	if (memcmp(pk, to, CK_PUBKEY_BYTES) == 0) {
		sodium_free(sk);
		return cli_fail(cli, WALLET_EXIT_USAGE, "TO is your own address");
	}
	if ((rc = cli_tx_new(cli, LEDGER_TX_TRANSFER, 0, pk, &tx)) != 0)
		goto done;
	memcpy(tx->u.transfer.to, to, CK_PUBKEY_BYTES);
	tx->u.transfer.amount_g = grams;
	wallet_tx_status st;
	if ((rc = cli_submit(cli, tx, sk, "transfer", &st)) != 0)
		goto done;
	char kg[WALLET_AMOUNT_STRLEN];
	wallet_amount_format(kg, grams);
	if (cli->json) {
		json_t *o = json_pack("{s:o, s:I, s:s}", "to", cli_jaddr(to), "amount_g",
				      (json_int_t)grams, "amount", kg);
		cli_print_status(cli, &st, o);
		cli_json(cli, o);
	} else {
		printf("%s %s kg to %s\n", st.state == WALLET_TX_COMMITTED ? "sent" : "submitted", kg,
		       cli->pos[0]);
		cli_print_status(cli, &st, NULL);
	}
done:
	ledger_tx_free(tx);
	sodium_free(sk);
	return rc;
}

const wallet_cmd wallet_cmd_send = {
	.name = "send",
	.run = run,
	.args = "TO AMOUNT",
	.summary = "send AMOUNT kg of credits to the address TO",
	.details = "AMOUNT is kilograms CO2e with at most three decimals: 1.5 is 1500 g, 0.001\n"
		   "is 1 g. The transaction is followed until it commits (see --no-wait).",
	.flags = CLI_NODE | CLI_KEY | CLI_TX,
	.min_pos = 2,
	.max_pos = 2,
	.opts = {{0}},
};
