/*
 * carbon-wallet address: a key's address, read from the clear part of the
 * keystore without the passphrase.
 */
#include "wallet/cli.h"

static int run(wallet_cli *cli)
{
	if (cli->npos == 1) {
		if (cli->key.keystore || cli->key.name)
			return cli_fail(cli, WALLET_EXIT_USAGE, "give the key once (NAME, --key or --keystore)");
		cli->key.name = cli->pos[0];
	}
	ck_pubkey pk;
	int rc = cli_key_pubkey(cli, pk);
	if (rc != 0)
		return rc;
	char addr[CK_ADDRESS_STRLEN + 1];
	ck_address_encode(addr, pk);
	if (cli->json)
		cli_json(cli, json_pack("{s:s}", "address", addr));
	else
		printf("%s\n", addr);
	return 0;
}

const wallet_cmd wallet_cmd_address = {
	.name = "address",
	.run = run,
	.args = "[NAME]",
	.summary = "print the address of a key (no passphrase needed)",
	.details = NULL,
	.flags = CLI_KEY,
	.min_pos = 0,
	.max_pos = 1,
	.opts = {{0}},
};
