/*
 * carbon-wallet export-public: a key's address and raw public key in hex
 * (what a genesis description or a governance proposal asks for), read
 * without the passphrase.
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
	char addr[CK_ADDRESS_STRLEN + 1], hex[2 * CK_PUBKEY_BYTES + 1];
	ck_address_encode(addr, pk);
	cm_hex_encode(hex, pk, CK_PUBKEY_BYTES);
	if (cli->json)
		cli_json(cli, json_pack("{s:s, s:s}", "address", addr, "pubkey", hex));
	else
		printf("address %s\npubkey  %s\n", addr, hex);
	return 0;
}

const wallet_cmd wallet_cmd_export_public = {
	.name = "export-public",
	.run = run,
	.args = "[NAME]",
	.summary = "print the address and the public key in hex (for a genesis or a proposal)",
	.details = NULL,
	.flags = CLI_KEY,
	.min_pos = 0,
	.max_pos = 1,
	.opts = {{0}},
};
