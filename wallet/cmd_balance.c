/*
 * carbon-wallet balance: what a node says of an account (balance, green
 * tier, next nonce, member and roles). This trusts the node; a bank that
 * must not uses verify-balance.
 */
#include <string.h>

#include "wallet/cli.h"

static int run(wallet_cli *cli)
{
	ck_pubkey pk;
	int rc = cli->npos == 1 ? cli_address_or_key(cli, cli->pos[0], "ADDRESS", pk) : cli_key_pubkey(cli, pk);
	if (rc != 0)
		return rc;
	wallet_node *nd;
	if ((rc = cli_node(cli, &nd)) != 0)
		return rc;
	wallet_account a;
	rc = wallet_get_account(nd, pk, &a, cli->msg, sizeof cli->msg);
	if (rc == WALLET_E_CONNECT)
		return cli_fail(cli, WALLET_EXIT_NETWORK,
				"cannot reach any node (%s); start one or give --node URL", cli->msg);
	if (rc != 0)
		return cli_net_fail(cli, rc, NULL);
	char addr[CK_ADDRESS_STRLEN + 1], kg[WALLET_AMOUNT_STRLEN], roles[96] = "";
	ck_address_encode(addr, pk);
	wallet_amount_format(kg, a.balance_g);
	enum wallet_tier tier = wallet_tier_of(a.balance_g);
	json_t *jroles = json_array();
	for (uint32_t bit = 1; bit <= LEDGER_ROLES_ALL; bit <<= 1) {
		if (!(a.roles & bit))
			continue;
		size_t l = strlen(roles);
		snprintf(roles + l, sizeof roles - l, "%s%s", l ? "," : "", ledger_role_name(bit));
		json_array_append_new(jroles, json_string(ledger_role_name(bit)));
	}
	if (cli->json) {
		cli_json(cli, json_pack("{s:s, s:I, s:s, s:s, s:I, s:I, s:o, s:s, s:b}", "address", addr,
				   "balance_g", (json_int_t)a.balance_g, "balance", kg, "tier",
				   wallet_tier_name(tier), "nonce", (json_int_t)a.nonce, "member_id",
				   (json_int_t)a.member_id, "roles", jroles, "node", wallet_node_url(nd),
				   "verified", 0));
		return 0;
	}
	json_decref(jroles);
	printf("address  %s\nbalance  %s kg CO2e (%s)\nnonce    %llu\n", addr, kg,
	       wallet_tier_name(tier), (unsigned long long)a.nonce);
	if (a.member_id != 0)
		printf("member   %u %s (%s)\n", a.member_id, a.member, roles);
	printf("source   %s, not verified (a bank checks with 'carbon-wallet verify-balance')\n",
	       wallet_node_url(nd));
	return 0;
}

const wallet_cmd wallet_cmd_balance = {
	.name = "balance",
	.run = run,
	.args = "[ADDRESS|KEY-NAME]",
	.summary = "show the balance and green tier of an address (default: your key's)",
	.details = "The node's answer is shown as it is; 'verify-balance' checks a proof instead.\n"
		   "Tiers: light green up to 50 kg, medium green up to 100 kg, deep green above.",
	.flags = CLI_NODE | CLI_KEY,
	.min_pos = 0,
	.max_pos = 1,
	.opts = {{0}},
};
