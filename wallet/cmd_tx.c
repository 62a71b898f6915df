/*
 * carbon-wallet tx: what became of a transaction, by its hash: committed
 * (block, result, kind, sender), still pending, or unknown to the node.
 * The follow-up for any submission that was not followed to its block
 * (--no-wait, or --wait-ms ran out).
 */
#include "wallet/cli.h"

static int run(wallet_cli *cli)
{
	ck_hash hash;
	wallet_node *nd;
	wallet_tx_status st;
	int rc = cli_hash(cli, cli->pos[0], "HASH", hash);
	if (rc == 0)
		rc = cli_node(cli, &nd);
	if (rc != 0)
		return rc;
	if ((rc = wallet_tx_lookup(nd, hash, &st, cli->msg, sizeof cli->msg)) != 0)
		return cli_net_fail(cli, rc, NULL);
	if (st.state == WALLET_TX_PENDING) {
		if (cli->json) {
			json_t *o = json_object();
			cli_print_status(cli, &st, o);
			cli_json(cli, o);
		} else {
			cli_print_status(cli, &st, NULL);
		}
		return 0;
	}
	if (st.state != WALLET_TX_COMMITTED)
		return cli_fail(cli, WALLET_EXIT_REJECTED,
				"transaction %s is not known to %s: never submitted, or it left the "
				"mempool without being committed (submit it again)",
				cli->pos[0], wallet_node_url(nd));
	const json_t *tx = cli_block_tx(cli, st.height, st.index, &rc);
	if (tx == NULL)
		return rc;
	const char *kind = wallet_json_str(tx, "kind"), *sender = wallet_json_str(tx, "sender");
	if (cli->json) {
		json_t *o = json_pack("{s:s, s:s, s:I}", "kind", kind ? kind : "?", "sender",
				      sender ? sender : "?", "index", (json_int_t)st.index);
		cli_print_status(cli, &st, o);
		cli_json(cli, o);
	} else {
		printf("%s transaction from %s\n", kind ? kind : "?", sender ? sender : "?");
		cli_print_status(cli, &st, NULL);
	}
	if (st.code != LEDGER_R_OK && st.code != LEDGER_R_PARTIAL)
		return cli_fail(cli, WALLET_EXIT_REJECTED, "the ledger rejected it: %s",
				ledger_result_str(st.code));
	return 0;
}

const wallet_cmd wallet_cmd_tx = {
	.name = "tx",
	.run = run,
	.args = "HASH",
	.summary = "show what became of a transaction: committed (block, result), pending, unknown",
	.details = "Exit 0 if it committed with result ok (or is still pending), 1 if the ledger\n"
		   "rejected it or the node does not know it.",
	.flags = CLI_NODE,
	.min_pos = 1,
	.max_pos = 1,
	.opts = {{0}},
};
