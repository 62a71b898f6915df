/*
 * carbon-wallet reconcile: an operator's books for one city day, as CSV:
 * every trip it issued that day (credited or rejected) with block, result
 * and grams. Given the trip file (--trips), each line also names the ref
 * and line it came from, matched by recomputing the trip ids.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "wallet/cli.h"

typedef struct ref_of {
	ck_hash id;
	uint32_t row;
} ref_of;

static int cmp_id(const void *a, const void *b)
{
	return memcmp(((const ref_of *)a)->id, ((const ref_of *)b)->id, CK_HASH_BYTES);
}

/* By id, then row: a ref repeated in the file maps to its first line. */
static int cmp_ref(const void *a, const void *b)
{
	const ref_of *x = a, *y = b;
	int c = cmp_id(x, y);
	return c ? c : (x->row > y->row) - (x->row < y->row);
}

static void csv_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		if (*s == '"')
			fputc('"', f);
		fputc(*s, f);
	}
	fputc('"', f);
}

static int run(wallet_cli *cli)
{
	const char *day = cli_opt(cli, "day");
	int64_t days;
	if (day == NULL || wallet_date_parse(day, &days) != 0)
		return cli_fail(cli, WALLET_EXIT_USAGE, "--day YYYY-MM-DD is required (the city's day)");
	ck_pubkey op;
	const char *opaddr = cli_opt(cli, "operator");
	int rc = opaddr ? cli_address(cli, opaddr, "--operator", op) : cli_key_pubkey(cli, op);
	if (rc != 0)
		return rc;
	wallet_node *nd;
	if ((rc = cli_node(cli, &nd)) != 0)
		return rc;

	/* Optional: the refs of the trip file, by trip id. */
	wallet_trip_file tf;
	memset(&tf, 0, sizeof tf);
	ref_of *refs = NULL;
	json_t *rows = NULL;
	const char *file = cli_opt(cli, "trips");
	if (file != NULL) {
		wallet_account a;
		if ((rc = wallet_get_account(nd, op, &a, cli->msg, sizeof cli->msg)) != 0)
			return cli_net_fail(cli, rc, NULL);
		if ((rc = wallet_trips_load(file, &tf, cli->msg, sizeof cli->msg)) != 0)
			return cli_fail(cli, WALLET_EXIT_USAGE, "%s", cli->msg);
		refs = malloc((size_t)(tf.nrows ? tf.nrows : 1) * sizeof *refs);
		if (refs == NULL) {
			wallet_trip_file_free(&tf);
			return cli_fail(cli, WALLET_EXIT_USAGE, "out of memory");
		}
		for (uint32_t i = 0; i < tf.nrows; i++) {
			ledger_trip_id(refs[i].id, a.member_id, tf.rows[i].ref, strlen(tf.rows[i].ref));
			refs[i].row = i;
		}
		qsort(refs, tf.nrows, sizeof *refs, cmp_ref);
	}

	/* With --json and no --out, the rows go into the JSON answer: stdout
	 * carries one JSON object and nothing else. */
	const char *outpath = cli_opt(cli, "out");
	FILE *out = outpath ? fopen(outpath, "w") : cli->json ? NULL : stdout;
	if (outpath != NULL && out == NULL) {
		rc = cli_fail(cli, WALLET_EXIT_USAGE, "cannot write %s: %s", outpath, strerror(errno));
		goto done;
	}
	if (out == NULL && (rows = json_array()) == NULL) {
		rc = cli_fail(cli, WALLET_EXIT_USAGE, "out of memory");
		goto done;
	}
	if (out != NULL)
		fprintf(out, "trip_id,ref,line,height,tx_index,code,result,credited_g,credited_kg\n");
	char addr[CK_ADDRESS_STRLEN + 1], path[256];
	ck_address_encode(addr, op);
	uint64_t cursor = 0, ntrips = 0, ncredited = 0, grams = 0;
	do {
		if (cursor)
			snprintf(path, sizeof path, "/v1/operator/%s/trips?day=%s&limit=1000&cursor=%llu",
				 addr, day, (unsigned long long)cursor);
		else
			snprintf(path, sizeof path, "/v1/operator/%s/trips?day=%s&limit=1000", addr, day);
		json_t *j;
		int status;
		if ((rc = cli_get(cli, path, false, &status, &j)) != 0)
			goto done;
		size_t i;
		const json_t *t;
		json_array_foreach(json_object_get(j, "trips"), i, t)
		{
			ref_of key;
			uint64_t h = 0, idx = 0, code = 0, g = 0;
			/* Books with a row left out are wrong books. */
			if (wallet_json_hash(t, "trip_id", key.id) != 0 || wallet_json_u64(t, "height", &h) != 0 ||
			    wallet_json_u64(t, "tx_index", &idx) != 0 || wallet_json_u64(t, "code", &code) != 0 ||
			    wallet_json_u64(t, "credited_g", &g) != 0) {
				json_decref(j);
				rc = cli_fail(cli, WALLET_EXIT_NETWORK,
					      "%s sent a trip without trip_id, height, tx_index, code or "
					      "credited_g: the export is incomplete (try another --node)",
					      wallet_node_url(nd));
				goto done;
			}
			const ref_of *hit = refs ? bsearch(&key, refs, tf.nrows, sizeof *refs, cmp_id) : NULL;
			while (hit != NULL && hit > refs && cmp_id(hit - 1, &key) == 0)
				hit--;
			char hex[2 * CK_HASH_BYTES + 1], kg[WALLET_AMOUNT_STRLEN];
			cm_hex_encode(hex, key.id, CK_HASH_BYTES);
			wallet_amount_format(kg, g);
			if (out == NULL) {
				json_t *row = json_pack("{s:s, s:I, s:I, s:I, s:s, s:I, s:s}", "trip_id", hex,
							"height", (json_int_t)h, "tx_index", (json_int_t)idx,
							"code", (json_int_t)code, "result",
							ledger_result_str((int)code), "credited_g",
							(json_int_t)g, "credited_kg", kg);
				if (hit) {
					json_object_set_new(row, "ref", json_string(tf.rows[hit->row].ref));
					json_object_set_new(row, "line",
							    json_integer(tf.rows[hit->row].line));
				}
				json_array_append_new(rows, row);
			} else {
				fprintf(out, "%s,", hex);
				if (hit) {
					csv_str(out, tf.rows[hit->row].ref);
					fprintf(out, ",%u,", tf.rows[hit->row].line);
				} else {
					fprintf(out, ",,");
				}
				fprintf(out, "%llu,%llu,%llu,", (unsigned long long)h,
					(unsigned long long)idx, (unsigned long long)code);
				csv_str(out, ledger_result_str((int)code));
				fprintf(out, ",%llu,%s\n", (unsigned long long)g, kg);
			}
			ntrips++;
			ncredited += code == LEDGER_R_OK;
			grams += g;
		}
		const char *nc = wallet_json_str(j, "next_cursor");
		cursor = 0;
		if (nc && cli_u64(cli, nc, "next_cursor from the node", UINT64_MAX, &cursor) != 0) {
			json_decref(j);
			rc = WALLET_EXIT_NETWORK;
			goto done;
		}
		json_decref(j);
	} while (cursor != 0);
	char kg[WALLET_AMOUNT_STRLEN];
	wallet_amount_format(kg, grams);
	if (outpath) {
		if (fclose(out) != 0) {
			rc = cli_fail(cli, WALLET_EXIT_USAGE, "cannot write %s", outpath);
			goto done;
		}
		out = NULL;
	}
	if (cli->json) {
		json_t *o = json_pack("{s:s, s:s, s:I, s:I, s:I, s:I, s:s}", "operator",
				      addr, "day", day, "day_number", (json_int_t)days, "trips",
				      (json_int_t)ntrips, "credited", (json_int_t)ncredited, "credited_g",
				      (json_int_t)grams, "credited_kg", kg);
		if (outpath)
			json_object_set_new(o, "out", json_string(outpath));
		else
			json_object_set(o, "rows", rows);
		cli_json(cli, o);
	} else if (outpath)
		printf("%s: %llu trips on %s, %llu credited, %s kg CO2e\n", outpath,
		       (unsigned long long)ntrips, day, (unsigned long long)ncredited, kg);
	rc = 0;
done:
	if (out != NULL && out != stdout)
		fclose(out);
	json_decref(rows);
	free(refs);
	wallet_trip_file_free(&tf);
	return rc;
}

const wallet_cmd wallet_cmd_reconcile = {
	.name = "reconcile",
	.run = run,
	.args = "",
	.summary = "export an operator's credited and rejected trips of one day as CSV",
	.details = "Columns: trip_id,ref,line,height,tx_index,code,result,credited_g,credited_kg.\n"
		   "ref and line are filled when --trips gives the file the trips came from.\n"
		   "The day is the city's (the genesis time zone), as the ledger counts caps.",
	.flags = CLI_NODE | CLI_KEY,
	.min_pos = 0,
	.max_pos = 0,
	.opts = {{"day", "YYYY-MM-DD", "the city day to export (required)", false},
		 {"trips", "FILE", "the trip file, to add each trip's ref and line", false},
		 {"operator", "ADDRESS", "another operator's key (default: yours)", false},
		 {"out", "FILE", "write the CSV to FILE instead of stdout", false}},
};
