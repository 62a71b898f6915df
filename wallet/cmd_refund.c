/*
 * carbon-wallet refund: a merchant gives the price of a receipt back to
 * the citizen. The ledger allows it once per receipt, and only to the
 * merchant of the offer.
 */
#include <sodium.h>
#include <string.h>

#include "wallet/cli.h"

static int run(wallet_cli *cli)
{
	ck_hash id;
	int rc = cli_hash(cli, cli->pos[0], "RECEIPT", id);
	if (rc != 0)
		return rc;
	ck_pubkey pk;
	uint8_t *sk = NULL;
	ledger_tx *tx = NULL;
	if ((rc = cli_load_key(cli, pk, &sk)) != 0)
		return rc;
	if ((rc = cli_tx_new(cli, LEDGER_TX_REFUND, 0, pk, &tx)) != 0)
		goto done;
	memcpy(tx->u.refund.receipt_id, id, CK_HASH_BYTES);
	wallet_tx_status st;
	if ((rc = cli_submit(cli, tx, sk, "refund", &st)) != 0)
		goto done;
	if (cli->json) {
		json_t *o = json_pack("{s:s}", "receipt", cli->pos[0]);
		cli_print_status(cli, &st, o);
		cli_json(cli, o);
	} else {
		printf("receipt %s refunded\n", cli->pos[0]);
		cli_print_status(cli, &st, NULL);
	}
done:
	ledger_tx_free(tx);
	sodium_free(sk);
	return rc;
}

const wallet_cmd wallet_cmd_refund = {
	.name = "refund",
	.run = run,
	.args = "RECEIPT",
	.summary = "refund a receipt to its citizen (merchants)",
	.details = NULL,
	.flags = CLI_NODE | CLI_KEY | CLI_TX,
	.min_pos = 1,
	.max_pos = 1,
	.opts = {{0}},
};
