/*
 * carbon-wallet trip: where a trip was credited (block, operator, citizen,
 * mode, grams, methodology version), by trip id or, for an operator, by
 * its own record ref.
 */
#include <string.h>

#include "wallet/cli.h"

static int run(wallet_cli *cli)
{
	ck_hash id;
	const char *ref = cli_opt(cli, "ref");
	int rc;
	if ((cli->npos == 1) == (ref != NULL))
		return cli_fail(cli, WALLET_EXIT_USAGE, "give a TRIP-ID or --ref REF");
	if (ref != NULL) {
		/* The id an operator derives from its ref: needs its member id. */
		ck_pubkey pk;
		wallet_node *nd;
		wallet_account a;
		if (strlen(ref) == 0 || strlen(ref) > LIM_NAME_BYTES_MAX)
			return cli_fail(cli, WALLET_EXIT_USAGE, "--ref must be 1..64 bytes");
		if ((rc = cli_key_pubkey(cli, pk)) != 0 || (rc = cli_node(cli, &nd)) != 0)
			return rc;
		if ((rc = wallet_get_account(nd, pk, &a, cli->msg, sizeof cli->msg)) != 0)
			return cli_net_fail(cli, rc, NULL);
		if (a.member_id == 0)
			return cli_fail(cli, WALLET_EXIT_USAGE,
					"--ref needs an operator's key (this key is not a member's)");
		ledger_trip_id(id, a.member_id, ref, strlen(ref));
	} else if ((rc = cli_hash(cli, cli->pos[0], "TRIP-ID", id)) != 0) {
		return rc;
	}
	char hex[2 * CK_HASH_BYTES + 1], path[96];
	cm_hex_encode(hex, id, CK_HASH_BYTES);
	snprintf(path, sizeof path, "/v1/trip/%s", hex);
	json_t *j;
	int status;
	if ((rc = cli_get(cli, path, true, &status, &j)) != 0)
		return rc;
	if (status == 404) {
		json_decref(j);
		if (cli->json)
			cli_json(cli, json_pack("{s:s, s:b}", "trip_id", hex, "credited", 0));
		else
			printf("trip %s is not credited (never issued, rejected, or older than the claim "
			       "window and pruned)\n", hex);
		return WALLET_EXIT_REJECTED;
	}
	if (cli->json) {
		cli_json(cli, j);
		return 0;
	}
	uint64_t h = 0, issuer = 0, g = 0, ver = 0, end = 0;
	ck_pubkey citizen;
	if (wallet_json_u64(j, "height", &h) != 0 || wallet_json_u64(j, "issuer_member_id", &issuer) != 0 ||
	    wallet_json_u64(j, "credited_g", &g) != 0 || wallet_json_addr(j, "citizen", citizen) != 0) {
		json_decref(j);
		return cli_fail(cli, WALLET_EXIT_NETWORK, "unexpected answer for trip %s", hex);
	}
	if (wallet_json_u64(j, "methodology_version", &ver) != 0)
		ver = 0;
	if (wallet_json_u64(j, "end_s", &end) != 0)
		end = 0;
	char kg[WALLET_AMOUNT_STRLEN], addr[CK_ADDRESS_STRLEN + 1], t[WALLET_TIME_STRLEN + 1];
	const char *mode = wallet_json_str(j, "mode");
	wallet_amount_format(kg, g);
	ck_address_encode(addr, citizen);
	wallet_time_format(t, end);
	printf("trip        %s\ncredited    %s kg CO2e in block %llu\noperator    member %llu\n"
	       "citizen     %s\nmode        %s, ended %s\nmethodology version %llu\n",
	       hex, kg, (unsigned long long)h, (unsigned long long)issuer, addr, mode ? mode : "?", t,
	       (unsigned long long)ver);
	json_decref(j);
	return 0;
}

const wallet_cmd wallet_cmd_trip = {
	.name = "trip",
	.run = run,
	.args = "[TRIP-ID]",
	.summary = "show where a trip was credited (by id, or --ref for your own record)",
	.details = NULL,
	.flags = CLI_NODE | CLI_KEY,
	.min_pos = 0,
	.max_pos = 1,
	.opts = {{"ref", "REF", "your record reference (the id is derived with your member id)", false}},
};
