/*
 * carbon-wallet audit: an account's full history with totals by kind, and
 * the check that the changes add up to the balance the node reports. A
 * mismatch (a history with a hole, or a balance that moved without a
 * record) exits 4.
 */
#include <string.h>

#include "wallet/cli.h"

enum { K_ISSUE, K_IN, K_OUT, K_REDEEM, K_REFUND, K_GOVERN, K_OTHER, K_N };
static const char *const kname[K_N] = {"credited for trips", "received", "sent", "redeemed",
				       "refunded to it",     "governance (clawback, recovery)",
				       "no balance change (rejected)"};

static int run(wallet_cli *cli)
{
	ck_pubkey pk;
	int rc = cli_address_or_key(cli, cli->pos[0], "ADDRESS", pk);
	if (rc != 0)
		return rc;
	wallet_node *nd;
	wallet_account acct;
	if ((rc = cli_node(cli, &nd)) != 0)
		return rc;
	/* The balance first: entries committed while we page only make the
	 * history longer than the balance we compare with, and we stop at
	 * the height the balance is read at. */
	json_t *st;
	int status;
	uint64_t height;
	if ((rc = cli_get(cli, "/v1/status", false, &status, &st)) != 0)
		return rc;
	rc = wallet_json_u64(st, "height", &height);
	json_decref(st);
	if (rc != 0)
		return cli_fail(cli, WALLET_EXIT_NETWORK, "no height in /v1/status");
	if ((rc = wallet_get_account(nd, pk, &acct, cli->msg, sizeof cli->msg)) != 0)
		return cli_net_fail(cli, rc, NULL);
	char addr[CK_ADDRESS_STRLEN + 1], path[192];
	ck_address_encode(addr, pk);
	int64_t sum[K_N] = {0};
	uint64_t n[K_N] = {0}, entries = 0, rejected = 0;
	__int128 net = 0;
	uint64_t cursor = 0;
	bool quiet = cli_flag(cli, "totals-only") || cli->json;
	json_t *all = json_array();
	do {
		if (cursor)
			snprintf(path, sizeof path, "/v1/account/%s/history?limit=1000&cursor=%llu", addr,
				 (unsigned long long)cursor);
		else
			snprintf(path, sizeof path, "/v1/account/%s/history?limit=1000", addr);
		json_t *j;
		if ((rc = cli_get(cli, path, false, &status, &j)) != 0) {
			json_decref(all);
			return rc;
		}
		size_t i;
		json_t *e;
		json_array_foreach(json_object_get(j, "entries"), i, e)
		{
			uint64_t h, code;
			int64_t d;
			const char *kind = wallet_json_str(e, "kind");
			/* An audit that skipped what it cannot read would add up
			 * the wrong history. */
			if (wallet_json_u64(e, "height", &h) != 0 || wallet_json_i64(e, "delta_g", &d) != 0 ||
			    wallet_json_u64(e, "code", &code) != 0 || kind == NULL) {
				json_decref(j);
				json_decref(all);
				return cli_fail(cli, WALLET_EXIT_NETWORK,
						"%s sent a history entry without height, delta_g, code "
						"or kind: cannot audit (try another --node)",
						wallet_node_url(nd));
			}
			if (h > height)
				continue;
			int k = d == 0                          ? K_OTHER
				: strcmp(kind, "issue") == 0    ? K_ISSUE
				: strcmp(kind, "transfer") == 0 ? (d > 0 ? K_IN : K_OUT)
				: strcmp(kind, "redeem") == 0   ? K_REDEEM
				: strcmp(kind, "refund") == 0   ? K_REFUND
				: strcmp(kind, "govern") == 0   ? K_GOVERN
								: K_OTHER;
			sum[k] += d;
			n[k]++;
			net += d;
			entries++;
			rejected += code != LEDGER_R_OK && code != LEDGER_R_PARTIAL;
			if (!quiet) {
				char ds[WALLET_AMOUNT_STRLEN];
				wallet_delta_format(ds, d);
				const char *res = wallet_json_str(e, "result"), *hash = wallet_json_str(e, "hash");
				printf("block %-8llu %-9s %12s kg  %-28.28s %s\n", (unsigned long long)h, kind,
				       ds, res ? res : "", hash ? hash : "");
			}
			json_array_append(all, e);
		}
		const char *nc = wallet_json_str(j, "next_cursor");
		cursor = 0;
		if (nc && cli_u64(cli, nc, "next_cursor from the node", UINT64_MAX, &cursor) != 0) {
			json_decref(j);
			json_decref(all);
			return WALLET_EXIT_NETWORK;
		}
		json_decref(j);
	} while (cursor != 0);

	/* Between the two reads a block may have changed the balance; the
	 * entries above height were skipped, so re-read if it moved. */
	wallet_account again;
	if (wallet_get_account(nd, pk, &again, cli->msg, sizeof cli->msg) == 0 &&
	    again.balance_g != acct.balance_g) {
		json_decref(all);
		return cli_fail(cli, WALLET_EXIT_NETWORK,
				"the balance changed while auditing; run it again");
	}
	bool ok = net >= 0 && (unsigned __int128)net == acct.balance_g;
	char bal[WALLET_AMOUNT_STRLEN], ns[WALLET_AMOUNT_STRLEN];
	wallet_amount_format(bal, acct.balance_g);
	wallet_delta_format(ns, net > INT64_MAX ? INT64_MAX : net < INT64_MIN ? INT64_MIN : (int64_t)net);
	if (cli->json) {
		json_t *tot = json_object();
		for (int k = 0; k < K_N; k++)
			json_object_set_new(tot, kname[k], json_pack("{s:I, s:I}", "count", (json_int_t)n[k],
								      "delta_g", (json_int_t)sum[k]));
		cli_json(cli, json_pack("{s:s, s:I, s:I, s:I, s:o, s:b, s:o}", "address", addr, "height",
				   (json_int_t)height, "balance_g", (json_int_t)acct.balance_g, "entries",
				   (json_int_t)entries, "totals", tot, "consistent", ok, "history", all));
	} else {
		json_decref(all);
		printf("%saccount  %s (at block %llu)\n", quiet || entries == 0 ? "" : "\n", addr,
		       (unsigned long long)height);
		for (int k = 0; k < K_N; k++) {
			if (n[k] == 0)
				continue;
			char ds[WALLET_AMOUNT_STRLEN];
			wallet_delta_format(ds, sum[k]);
			printf("  %-34s %6llu  %14s kg\n", kname[k], (unsigned long long)n[k], ds);
		}
		printf("  %-34s %6llu  %14s kg\n", "total", (unsigned long long)entries, ns);
		printf("balance  %s kg%s\n", bal,
		       ok ? " = the sum of the history" : "  DOES NOT MATCH the sum of the history");
		if (rejected)
			printf("(%llu rejected transactions of this account changed nothing)\n",
			       (unsigned long long)rejected);
	}
	if (!ok)
		return cli_fail(cli, WALLET_EXIT_VERIFY,
				"balance %s kg but the history adds up to %s kg", bal, ns);
	return 0;
}

const wallet_cmd wallet_cmd_audit = {
	.name = "audit",
	.run = run,
	.args = "ADDRESS",
	.summary = "print an account's full history with totals and check they add up",
	.details = "Exit 4 if the history does not add up to the balance.",
	.flags = CLI_NODE,
	.min_pos = 1,
	.max_pos = 1,
	.opts = {{"totals-only", NULL, "print only the totals", false}},
};
