/*
 * carbon-wallet: the command line of Carbon Ledger's users. This file is
 * only the table of subcommands; each lives in wallet/cmd_<name>.c and
 * the shared machinery in wallet/cli.c (docs/WALLET.md).
 */
#include <stdio.h>
#include <string.h>

#include "wallet/cli.h"

extern const wallet_cmd wallet_cmd_new, wallet_cmd_import, wallet_cmd_list, wallet_cmd_address,
	wallet_cmd_export_public, wallet_cmd_balance, wallet_cmd_history, wallet_cmd_send,
	wallet_cmd_offers, wallet_cmd_redeem, wallet_cmd_receipt, wallet_cmd_issue, wallet_cmd_trip,
	wallet_cmd_reconcile, wallet_cmd_offer, wallet_cmd_receipts, wallet_cmd_refund,
	wallet_cmd_verify_balance, wallet_cmd_audit, wallet_cmd_supply, wallet_cmd_govern,
	wallet_cmd_sample_trips, wallet_cmd_tx;

static const struct {
	const char *group;
	const wallet_cmd *cmd;
} table[] = {
	{"keys", &wallet_cmd_new},
	{"keys", &wallet_cmd_import},
	{"keys", &wallet_cmd_list},
	{"keys", &wallet_cmd_address},
	{"keys", &wallet_cmd_export_public},
	{"citizens", &wallet_cmd_balance},
	{"citizens", &wallet_cmd_history},
	{"citizens", &wallet_cmd_send},
	{"citizens", &wallet_cmd_offers},
	{"citizens", &wallet_cmd_redeem},
	{"citizens", &wallet_cmd_receipt},
	{"citizens", &wallet_cmd_tx},
	{"operators", &wallet_cmd_issue},
	{"operators", &wallet_cmd_trip},
	{"operators", &wallet_cmd_reconcile},
	{"operators", &wallet_cmd_sample_trips},
	{"merchants", &wallet_cmd_offer},
	{"merchants", &wallet_cmd_receipts},
	{"merchants", &wallet_cmd_refund},
	{"banks and auditors", &wallet_cmd_verify_balance},
	{"banks and auditors", &wallet_cmd_audit},
	{"banks and auditors", &wallet_cmd_supply},
	{"governance", &wallet_cmd_govern},
};
#define NCMDS (sizeof table / sizeof table[0])

static void usage(FILE *f)
{
	fprintf(f, "usage: carbon-wallet COMMAND [options] [arguments]\n");
	const char *group = "";
	for (size_t i = 0; i < NCMDS; i++) {
		if (strcmp(group, table[i].group) != 0) {
			group = table[i].group;
			fprintf(f, "\n%s:\n", group);
		}
		fprintf(f, "  %-15s %s\n", table[i].cmd->name, table[i].cmd->summary);
	}
	fprintf(f, "\nRun 'carbon-wallet COMMAND --help' for its options. Every command takes\n"
		   "--json; commands that talk to a node take --node URL (repeatable).\n"
		   "Exit codes: 0 ok, 1 transaction rejected or failed, 2 usage, 3 network,\n"
		   "4 verification failed, 5 key or keystore problem.\n");
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return WALLET_EXIT_USAGE;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		usage(stdout);
		return WALLET_EXIT_OK;
	}
	const wallet_cmd *cmd = NULL;
	for (size_t i = 0; i < NCMDS; i++)
		if (strcmp(argv[1], table[i].cmd->name) == 0)
			cmd = table[i].cmd;
	if (cmd == NULL) {
		fprintf(stderr, "carbon-wallet: unknown command \"%.64s\" (see carbon-wallet --help)\n",
			argv[1]);
		return WALLET_EXIT_USAGE;
	}
	if (ck_init() != 0) {
		fprintf(stderr, "carbon-wallet: %s\n", ck_strerror(CK_E_INIT));
		return WALLET_EXIT_KEY;
	}
	wallet_cli cli;
	int rc = cli_parse(&cli, cmd, argc - 2, argv + 2);
	if (rc < 0) {
		cli_free(&cli);
		return WALLET_EXIT_OK;
	}
	if (rc == 0)
		rc = cmd->run(&cli);
	cli_json_finish(&cli, rc);
	cli_free(&cli);
	return rc;
}
