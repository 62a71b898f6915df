/*
 * carbon-wallet receipt: shows a redeem's receipt by its id.
 */
#include "wallet/cli.h"

static int run(wallet_cli *cli)
{
	ck_hash id;
	int rc = cli_hash(cli, cli->pos[0], "receipt ID", id);
	return rc != 0 ? rc : cli_receipt_show(cli, id);
}

const wallet_cmd wallet_cmd_receipt = {
	.name = "receipt",
	.run = run,
	.args = "ID",
	.summary = "show a receipt (the hash of its redeem transaction)",
	.details = NULL,
	.flags = CLI_NODE,
	.min_pos = 1,
	.max_pos = 1,
	.opts = {{0}},
};
