/*
 * carbon-wallet history: an account's transactions, newest first, a page
 * at a time. A credit shows each trip behind it (mode, distance, grams),
 * read from the issuing block and the trip record.
 */
#include <string.h>

#include "wallet/cli.h"

/* The trips of citizen in an issue transaction, as JSON entries. */
static int trips_of(wallet_cli *cli, const json_t *tx, const ck_pubkey citizen, json_t *out)
{
	const json_t *trips = json_object_get(tx, "trips");
	const json_t *codes = json_object_get(tx, "trip_codes");
	size_t i;
	const json_t *t;
	json_array_foreach(trips, i, t)
	{
		ck_pubkey c;
		ck_hash id;
		uint64_t dist = 0, code = 0;
		if (wallet_json_addr(t, "citizen", c) != 0 || memcmp(c, citizen, CK_PUBKEY_BYTES) != 0 ||
		    wallet_json_hash(t, "trip_id", id) != 0)
			continue;
		if (wallet_json_u64(t, "distance_m", &dist) != 0)
			dist = 0;
		const json_t *jc = json_array_get(codes, i);
		code = json_is_integer(jc) ? (uint64_t)json_integer_value(jc) : 0;
		const char *mode = wallet_json_str(t, "mode");
		json_t *e = json_pack("{s:o, s:s, s:I, s:I, s:s}", "trip_id", cli_jhash(id), "mode",
				      mode ? mode : "?", "distance_m", (json_int_t)dist, "code",
				      (json_int_t)code, "result", ledger_result_str((int)code));
		if (code == LEDGER_R_OK) {
			char hex[2 * CK_HASH_BYTES + 1], path[96];
			json_t *j;
			int status, rc;
			uint64_t g;
			cm_hex_encode(hex, id, CK_HASH_BYTES);
			snprintf(path, sizeof path, "/v1/trip/%s", hex);
			if ((rc = cli_get(cli, path, true, &status, &j)) != 0) {
				json_decref(e);
				return rc;
			}
			if (status == 200 && wallet_json_u64(j, "credited_g", &g) == 0)
				json_object_set_new(e, "credited_g", json_integer((json_int_t)g));
			json_decref(j);
		}
		json_array_append_new(out, e);
	}
	return 0;
}

static void print_entry(const json_t *e)
{
	uint64_t h = 0, txcode = 0;
	int64_t delta = 0;
	char d[WALLET_AMOUNT_STRLEN];
	if (wallet_json_u64(e, "height", &h) != 0 || wallet_json_i64(e, "delta_g", &delta) != 0)
		return;
	/* A rejected transaction moved nothing: no amount, not "+0.000". */
	if (wallet_json_u64(e, "code", &txcode) == 0 && txcode != LEDGER_R_OK &&
	    txcode != LEDGER_R_PARTIAL && delta == 0)
		snprintf(d, sizeof d, "-");
	else
		wallet_delta_format(d, delta);
	const char *kind = wallet_json_str(e, "kind"), *res = wallet_json_str(e, "result");
	const char *hash = wallet_json_str(e, "hash");
	printf("block %-8llu %-9s %12s kg  %-10.40s %s\n", (unsigned long long)h, kind ? kind : "?",
	       d, res ? res : "?", hash ? hash : "");
	size_t i;
	const json_t *t;
	json_array_foreach(json_object_get(e, "trips"), i, t)
	{
		uint64_t dist = 0, g = 0, code = 0;
		if (wallet_json_u64(t, "distance_m", &dist) != 0 || wallet_json_u64(t, "code", &code) != 0)
			continue;
		char km[WALLET_AMOUNT_STRLEN], kg[WALLET_AMOUNT_STRLEN];
		wallet_amount_format(km, dist);
		const char *mode = wallet_json_str(t, "mode");
		if (code == LEDGER_R_OK && wallet_json_u64(t, "credited_g", &g) == 0) {
			wallet_amount_format(kg, g);
			printf("%24s trip %-6s %9s km %9s kg\n", "", mode ? mode : "?", km, kg);
		} else {
			printf("%24s trip %-6s %9s km   not credited: %s\n", "", mode ? mode : "?", km,
			       ledger_result_str((int)code));
		}
	}
}

static int run(wallet_cli *cli)
{
	ck_pubkey pk;
	int rc = cli->npos == 1 ? cli_address_or_key(cli, cli->pos[0], "ADDRESS", pk) : cli_key_pubkey(cli, pk);
	if (rc != 0)
		return rc;
	uint64_t cursor = 0, limit = 20;
	const char *c = cli_opt(cli, "cursor"), *l = cli_opt(cli, "limit");
	if (c && (rc = cli_u64(cli, c, "--cursor", UINT64_MAX, &cursor)) != 0)
		return rc;
	if (l && (rc = cli_u64(cli, l, "--limit", LIM_HISTORY_PAGE_MAX, &limit)) != 0)
		return rc;
	if (limit == 0)
		return cli_fail(cli, WALLET_EXIT_USAGE, "--limit must be 1..%u", LIM_HISTORY_PAGE_MAX);
	bool all = cli_flag(cli, "all");
	char addr[CK_ADDRESS_STRLEN + 1], path[192];
	ck_address_encode(addr, pk);
	json_t *entries = json_array();
	uint64_t next = 0;
	do {
		if (cursor)
			snprintf(path, sizeof path, "/v1/account/%s/history?limit=%llu&cursor=%llu", addr,
				 (unsigned long long)limit, (unsigned long long)cursor);
		else
			snprintf(path, sizeof path, "/v1/account/%s/history?limit=%llu", addr,
				 (unsigned long long)limit);
		json_t *j;
		int status;
		if ((rc = cli_get(cli, path, false, &status, &j)) != 0)
			goto done;
		size_t i;
		json_t *e;
		json_array_foreach(json_object_get(j, "entries"), i, e)
		{
			uint64_t h, idx;
			const char *kind = wallet_json_str(e, "kind");
			json_t *copy = json_deep_copy(e);
			if (kind && strcmp(kind, "issue") == 0 && wallet_json_u64(e, "height", &h) == 0 &&
			    wallet_json_u64(e, "index", &idx) == 0 && idx <= UINT32_MAX) {
				const json_t *tx = cli_block_tx(cli, h, (uint32_t)idx, &rc);
				json_t *trips = json_array();
				if (tx == NULL || (rc = trips_of(cli, tx, pk, trips)) != 0) {
					json_decref(trips);
					json_decref(copy);
					json_decref(j);
					goto done;
				}
				json_object_set_new(copy, "trips", trips);
			}
			if (!cli->json)
				print_entry(copy);
			json_array_append_new(entries, copy);
		}
		const char *nc = wallet_json_str(j, "next_cursor");
		next = 0;
		if (nc && cli_u64(cli, nc, "next_cursor", UINT64_MAX, &next) != 0)
			next = 0;
		json_decref(j);
		cursor = next;
	} while (all && next != 0);
	if (cli->json) {
		json_t *o = json_pack("{s:s, s:O}", "address", addr, "entries", entries);
		if (next)
			json_object_set_new(o, "next_cursor", json_integer((json_int_t)next));
		cli_json(cli, o);
	} else if (json_array_size(entries) == 0) {
		printf("no transactions%s\n", c ? " before this cursor" : "");
	} else if (next) {
		printf("more: carbon-wallet history %s --cursor %llu\n", addr, (unsigned long long)next);
	}
	rc = 0;
done:
	json_decref(entries);
	return rc;
}

const wallet_cmd wallet_cmd_history = {
	.name = "history",
	.run = run,
	.args = "[ADDRESS|KEY-NAME]",
	.summary = "list an account's transactions, newest first, with the trips behind credits",
	.details = "Pages of --limit entries; the last line gives the --cursor of the next page\n"
		   "(or use --all). Amounts are kg CO2e; a credit lists each trip with its mode,\n"
		   "distance and grams.",
	.flags = CLI_NODE | CLI_KEY,
	.min_pos = 0,
	.max_pos = 1,
	.opts = {{"cursor", "C", "continue from this cursor (printed at the end of a page)", false},
		 {"limit", "N", "entries per page (default 20, at most 1000)", false},
		 {"all", NULL, "follow every page", false}},
};
