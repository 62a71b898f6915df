/*
 * carbon-wallet issue: an operator credits trips, one (--trip) or a whole
 * CSV file (--trips), and gets a summary: trips credited, grams CO2e, and
 * every rejected row with its line number and reason. Trip ids are derived
 * from the operator's member id and each record's ref, so sending the same
 * file again credits nothing twice: those rows come back as duplicates.
 */
#include <errno.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "wallet/issue.h"

static int cmp_err(const void *a, const void *b)
{
	const wallet_row_error *x = a, *y = b;
	return (x->line > y->line) - (x->line < y->line);
}

/* s as one quoted CSV field. */
static void csv_quoted(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		if (*s == '"')
			fputc('"', f);
		fputc(*s, f);
	}
	fputc('"', f);
}

/* Every rejected or unreadable row in line order, as CSV. */
static int write_rejected(wallet_cli *cli, const char *path, const issue_run *r,
			  const wallet_trip_file *tf)
{
	FILE *f = fopen(path, "w");
	if (f == NULL)
		return cli_fail(cli, WALLET_EXIT_USAGE, "cannot write %s: %s", path, strerror(errno));
	fprintf(f, "line,ref,code,reason\n");
	uint32_t i = 0, e = 0;
	while (i < r->nrows || e < tf->nerrs) {
		bool take_err = e < tf->nerrs && (i == r->nrows || tf->errs[e].line < r->rows[i].line);
		if (take_err) {
			fprintf(f, "%u,", tf->errs[e].line);
			if (tf->errs[e].ref[0])
				csv_quoted(f, tf->errs[e].ref);
			fprintf(f, ",,\"unreadable: ");
			for (const char *p = tf->errs[e].msg; *p; p++)
				fputs(*p == '"' ? "\"\"" : (char[2]){*p, 0}, f);
			fprintf(f, "\"\n");
			e++;
			continue;
		}
		const issue_outcome *o = &r->out[i];
		if (o->state != ISSUE_CREDITED) {
			fprintf(f, "%u,", r->rows[i].line);
			csv_quoted(f, r->rows[i].ref);
			fprintf(f, ",%u,\"%s\"\n", o->state == ISSUE_REJECTED ? o->code : 0,
				o->state == ISSUE_REJECTED ? o->why : "not sent: run the file again");
		}
		i++;
	}
	return fclose(f) == 0 ? 0 : cli_fail(cli, WALLET_EXIT_USAGE, "cannot write %s", path);
}

static void summary(wallet_cli *cli, const issue_run *r, const wallet_trip_file *tf,
		    const char *source, uint64_t max_rows)
{
	uint32_t dups = 0, unsent = 0;
	for (uint32_t i = 0; i < r->nrows; i++) {
		dups += r->out[i].state == ISSUE_REJECTED && r->out[i].code == LEDGER_R_DUP_TRIP;
		unsent += r->out[i].state == ISSUE_UNSENT || r->out[i].state == ISSUE_INFLIGHT;
	}
	char kg[WALLET_AMOUNT_STRLEN];
	wallet_amount_format(kg, r->credited_g);
	if (cli->json) {
		json_t *rej = json_array();
		for (uint32_t e = 0; e < tf->nerrs; e++)
			json_array_append_new(rej, json_pack("{s:I, s:s, s:s, s:s}", "line",
							     (json_int_t)tf->errs[e].line, "ref",
							     tf->errs[e].ref, "status", "unreadable",
							     "reason", tf->errs[e].msg));
		for (uint32_t i = 0; i < r->nrows; i++) {
			const issue_outcome *o = &r->out[i];
			if (o->state == ISSUE_CREDITED)
				continue;
			json_t *x = json_pack("{s:I, s:s, s:o, s:s}", "line", (json_int_t)r->rows[i].line,
					      "ref", r->rows[i].ref, "trip_id", cli_jhash(r->ids[i]),
					      "status", o->state == ISSUE_REJECTED ? "rejected" : "not_sent");
			if (o->state == ISSUE_REJECTED) {
				json_object_set_new(x, "code", json_integer(o->code));
				json_object_set_new(x, "reason", json_string(o->why));
			}
			json_array_append_new(rej, x);
		}
		cli_json(cli, json_pack("{s:s, s:I, s:I, s:I, s:s, s:I, s:I, s:I, s:I, s:o}", "input",
				   source, "trips", (json_int_t)(r->nrows + tf->nerrs), "credited",
				   (json_int_t)r->credited, "credited_g", (json_int_t)r->credited_g,
				   "credited_kg", kg, "rejected", (json_int_t)r->rejected, "unreadable",
				   (json_int_t)tf->nerrs, "not_sent", (json_int_t)unsent, "txs",
				   (json_int_t)r->ntxs, "problems", rej));
		return;
	}
	printf("input      %s: %u trips, %u unreadable rows\n", source, r->nrows + tf->nerrs,
	       tf->nerrs);
	printf("credited   %u trips, %s kg CO2e in %u transactions", r->credited, kg, r->ntxs);
	if (r->first_height)
		printf(" (blocks %llu-%llu)", (unsigned long long)r->first_height,
		       (unsigned long long)r->last_height);
	printf("\nrejected   %u trips\n", r->rejected);
	if (unsent && cli->no_wait)
		printf("submitted  %u trips, not followed (--no-wait): see 'carbon-wallet reconcile' "
		       "once they are in a block\n", unsent);
	else if (unsent)
		printf("not sent   %u trips: stopped early; run the same input again (credited trips "
		       "are skipped)\n", unsent);
	if (r->nrows > 0 && dups == r->nrows)
		printf("nothing was credited twice: every trip of this input was already credited "
		       "(it was sent before)\n");
	else if (dups > 0)
		printf("nothing was credited twice: %u trip%s already credited or repeated\n", dups,
		       dups == 1 ? " was" : "s were");
	/* Rejected and unreadable rows, in line order, up to max_rows. */
	uint64_t shown = 0, total = r->rejected + tf->nerrs;
	uint32_t i = 0, e = 0;
	while ((i < r->nrows || e < tf->nerrs) && shown < max_rows) {
		if (e < tf->nerrs && (i == r->nrows || tf->errs[e].line < r->rows[i].line)) {
			printf("  line %-6u unreadable: %s\n", tf->errs[e].line, tf->errs[e].msg);
			e++;
			shown++;
			continue;
		}
		if (r->out[i].state == ISSUE_REJECTED) {
			printf("  line %-6u %-16.64s %s\n", r->rows[i].line, r->rows[i].ref, r->out[i].why);
			shown++;
		}
		i++;
	}
	if (total > shown)
		printf("  ... and %llu more (--max-rows N, or --rejected-csv FILE for all)\n",
		       (unsigned long long)(total - shown));
}

static int run(wallet_cli *cli)
{
	const char *const *specs;
	unsigned nspecs = cli_opt_all(cli, "trip", &specs);
	const char *file = cli_opt(cli, "trips");
	if ((nspecs == 0) == (file == NULL))
		return cli_fail(cli, WALLET_EXIT_USAGE, "give --trips FILE.csv or --trip REF,CITIZEN,MODE,"
							"DISTANCE_M,START,END (not both)");
	uint64_t batch = 500, max_rows = 50, window = 8;
	int rc = 0;
	const char *b = cli_opt(cli, "batch-size"), *m = cli_opt(cli, "max-rows");
	const char *w = cli_opt(cli, "window");
	if (b && (rc = cli_u64(cli, b, "--batch-size", LIM_TRIPS_PER_TX_MAX, &batch)) != 0)
		return rc;
	if (m && (rc = cli_u64(cli, m, "--max-rows", UINT32_MAX, &max_rows)) != 0)
		return rc;
	if (w && (rc = cli_u64(cli, w, "--window", 64, &window)) != 0)
		return rc;
	if (batch == 0 || window == 0)
		return cli_fail(cli, WALLET_EXIT_USAGE, "--batch-size and --window must be at least 1");

	/* Rows, before anything asks for a passphrase. */
	wallet_trip_file tf;
	memset(&tf, 0, sizeof tf);
	char source[256];
	if (file) {
		if ((rc = wallet_trips_load(file, &tf, cli->msg, sizeof cli->msg)) != 0)
			return cli_fail(cli, WALLET_EXIT_USAGE, "%s", cli->msg);
		snprintf(source, sizeof source, "%s", file);
	} else {
		tf.rows = calloc(nspecs, sizeof *tf.rows);
		tf.errs = calloc(nspecs, sizeof *tf.errs);
		if (tf.rows == NULL || tf.errs == NULL) {
			wallet_trip_file_free(&tf);
			return cli_fail(cli, WALLET_EXIT_USAGE, "out of memory");
		}
		for (unsigned i = 0; i < nspecs; i++) {
			wallet_trip_row row;
			wallet_row_error *e = &tf.errs[tf.nerrs];
			if (wallet_trip_parse_one(specs[i], &row, e->msg, sizeof e->msg) == 0) {
				row.line = i + 1;
				tf.rows[tf.nrows++] = row;
			} else {
				e->line = i + 1;
				tf.nerrs++;
			}
		}
		snprintf(source, sizeof source, "%u --trip argument%s", nspecs, nspecs == 1 ? "" : "s");
	}
	if (tf.nerrs > 1)
		qsort(tf.errs, tf.nerrs, sizeof *tf.errs, cmp_err);

	issue_run r;
	memset(&r, 0, sizeof r);
	uint8_t *sk = NULL;
	r.cli = cli;
	r.rows = tf.rows;
	r.nrows = tf.nrows;
	r.batch = (uint32_t)batch;
	r.window = (uint32_t)window;
	r.progress = cli_tty() && !cli->json;
	r.ids = calloc(tf.nrows ? tf.nrows : 1, sizeof *r.ids);
	r.out = calloc(tf.nrows ? tf.nrows : 1, sizeof *r.out);
	if (r.ids == NULL || r.out == NULL) {
		rc = cli_fail(cli, WALLET_EXIT_USAGE, "out of memory");
		goto done;
	}
	if (cli->no_wait) {
		/* Without following, every transaction is in flight at once;
		 * the node holds at most the nonce window of one sender. */
		uint64_t ntx = (tf.nrows + batch - 1) / batch;
		if (ntx > LIM_NONCE_WINDOW) {
			rc = cli_fail(cli, WALLET_EXIT_USAGE,
				      "--no-wait sends at most %u transactions: raise --batch-size",
				      LIM_NONCE_WINDOW);
			goto done;
		}
		r.window = ntx ? (uint32_t)ntx : 1;
	}
	if ((rc = cli_load_key(cli, r.pk, &sk)) != 0)
		goto done;
	r.sk = sk;
	const char *chain;
	wallet_account acct;
	if ((rc = cli_chain_id(cli, &chain)) != 0)
		goto done;
	rc = wallet_get_account(cli->node, r.pk, &acct, cli->msg, sizeof cli->msg);
	if (rc != 0) {
		rc = cli_net_fail(cli, rc, NULL);
		goto done;
	}
	if (acct.member_id == 0 || !(acct.roles & LEDGER_ROLE_ISSUER)) {
		char addr[CK_ADDRESS_STRLEN + 1];
		ck_address_encode(addr, r.pk);
		rc = cli_fail(cli, WALLET_EXIT_REJECTED,
			      "%s is not a key of an operator (a member with the issuer role): use "
			      "the operator's key (--key NAME)",
			      addr);
		goto done;
	}
	r.member_id = acct.member_id;
	for (uint32_t i = 0; i < r.nrows; i++)
		ledger_trip_id(r.ids[i], r.member_id, r.rows[i].ref, strlen(r.rows[i].ref));
	r.t0_ms = wallet_now_ms();
	issue_mark_local_duplicates(&r);
	rc = issue_send(&r);
	summary(cli, &r, &tf, source, max_rows);
	const char *rj = cli_opt(cli, "rejected-csv");
	if (rj != NULL) {
		int wrc = write_rejected(cli, rj, &r, &tf);
		if (rc == 0)
			rc = wrc;
	}
	/* Without --no-wait every row ends credited or rejected; with it,
	 * rows still in flight are not failures, but an unreadable row or a
	 * refused batch already is. */
	uint32_t failed = r.rejected + tf.nerrs;
	if (!cli->no_wait)
		failed += r.nrows - r.credited - r.rejected;
	if (rc == 0 && failed > 0) {
		rc = WALLET_EXIT_REJECTED;
		if (cli->json && cli->jerr == NULL)
			cli->jerr = json_pack("{s:s}", "error",
					      "not every row was credited: see \"problems\"");
	}
done:
	sodium_free(sk);
	free(r.ids);
	free(r.out);
	wallet_trip_file_free(&tf);
	return rc;
}

const wallet_cmd wallet_cmd_issue = {
	.name = "issue",
	.run = run,
	.args = "",
	.summary = "credit trips (operators): one with --trip, or a CSV file with --trips",
	.details = "The CSV has the header ref,citizen,mode,distance_m,start,end: ref is the\n"
		   "operator's record reference (the trip id is derived from it and the\n"
		   "operator's member id), citizen a cb1... address, mode walk, cycle, bus,\n"
		   "metro, rail or carpool, times Unix seconds or ISO-8601 UTC (2026-03-01T08:15:00Z).\n"
		   "Trips go out in transactions of --batch-size, several in flight; the summary\n"
		   "lists every rejected row with its line and reason. Sending a file again\n"
		   "credits nothing twice. Exit 0 only if every row was credited.",
	.flags = CLI_NODE | CLI_KEY | CLI_TX,
	.min_pos = 0,
	.max_pos = 0,
	.opts = {{"trips", "FILE", "CSV file of trips", false},
		 {"trip", "SPEC", "one trip REF,CITIZEN,MODE,DISTANCE_M,START,END (repeatable)", true},
		 {"batch-size", "N", "trips per transaction (default 500, at most 1000)", false},
		 {"window", "N", "transactions in flight (default 8, at most 64)", false},
		 {"max-rows", "N", "rejected rows to list (default 50)", false},
		 {"rejected-csv", "FILE", "write every rejected row (line,ref,code,reason) to FILE", false}},
};
