/*
 * carbon-wallet sample-trips: writes a realistic day of trips, one CSV per
 * operator of a genesis, for demos and tests (wallet/sample.c). The bad
 * rows it mixes in (repeats, overlaps across operators, impossible speeds)
 * are what 'issue' must report.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "wallet/cli.h"

static int num(wallet_cli *cli, const char *opt, uint64_t max, uint64_t def, uint64_t *v)
{
	const char *s = cli_opt(cli, opt);
	*v = def;
	if (s == NULL)
		return 0;
	char what[32];
	snprintf(what, sizeof what, "--%s", opt);
	return cli_u64(cli, s, what, max, v);
}

static int run(wallet_cli *cli)
{
	const char *gpath = cli_opt(cli, "genesis"), *dir = cli_opt(cli, "out-dir");
	if (gpath == NULL || dir == NULL)
		return cli_fail(cli, WALLET_EXIT_USAGE, "--genesis FILE and --out-dir DIR are required");
	uint64_t citizens, trips, seed, hours, now, dup, ovl, fast;
	int rc;
	if ((rc = num(cli, "citizens", 1000000, 300, &citizens)) != 0 ||
	    (rc = num(cli, "trips", 10000000, 3000, &trips)) != 0 ||
	    (rc = num(cli, "seed", UINT64_MAX, 1, &seed)) != 0 ||
	    (rc = num(cli, "hours", 168, 20, &hours)) != 0 ||
	    (rc = num(cli, "now", WALLET_TIME_MAX_S, (uint64_t)time(NULL), &now)) != 0 ||
	    (rc = num(cli, "dup-permille", 1000, 10, &dup)) != 0 ||
	    (rc = num(cli, "overlap-permille", 1000, 10, &ovl)) != 0 ||
	    (rc = num(cli, "fast-permille", 1000, 5, &fast)) != 0)
		return rc;
	if (hours == 0 || now < hours * 3600)
		return cli_fail(cli, WALLET_EXIT_USAGE, "--hours must be 1..168");
	const char *const *extra_s;
	unsigned nextra = cli_opt_all(cli, "citizen", &extra_s);
	ck_pubkey extra[CLI_REPEAT_MAX];
	for (unsigned i = 0; i < nextra; i++)
		if ((rc = cli_address_or_key(cli, extra_s[i], "--citizen", extra[i])) != 0)
			return rc;
	ledger_genesis *g;
	if (ledger_genesis_load(gpath, &g, cli->msg, sizeof cli->msg) != 0)
		return cli_fail(cli, WALLET_EXIT_USAGE, "%s: %s", gpath, cli->msg);
	wallet_sample_op ops[LIM_MEMBERS_MAX];
	char paths[16][WALLET_PATH_BYTES_MAX];
	uint32_t nops = 0;
	memset(ops, 0, sizeof ops);
	if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
		rc = cli_fail(cli, WALLET_EXIT_USAGE, "cannot create %s: %s", dir, strerror(errno));
		goto done;
	}
	for (uint32_t i = 0; i < g->nmembers && nops < 16; i++) {
		const ledger_member *m = &g->members[i];
		if (!(m->roles & LEDGER_ROLE_ISSUER))
			continue;
		snprintf(paths[nops], sizeof paths[0], "%s/%s.csv", dir, m->name);
		ops[nops].name = m->name;
		ops[nops].modes = m->modes;
		ops[nops].out = fopen(paths[nops], "w");
		if (ops[nops].out == NULL) {
			rc = cli_fail(cli, WALLET_EXIT_USAGE, "cannot write %s: %s", paths[nops],
				      strerror(errno));
			goto done;
		}
		nops++;
	}
	wallet_sample_opts o = {seed, now, (uint32_t)hours, (uint32_t)citizens, (uint32_t)trips,
				(uint32_t)dup, (uint32_t)ovl, (uint32_t)fast, extra, nextra};
	rc = wallet_sample_write(&o, ops, nops);
	for (uint32_t i = 0; i < nops; i++) {
		if (fclose(ops[i].out) != 0 && rc == 0)
			rc = WALLET_E_IO;
		ops[i].out = NULL;
	}
	if (rc != 0) {
		rc = cli_fail(cli, WALLET_EXIT_USAGE, "%s",
			      rc == WALLET_E_CSV ? "no operator of this genesis issues walk, cycle, bus "
						   "or metro trips"
						 : wallet_strerror(rc));
		goto done;
	}
	json_t *files = json_array();
	for (uint32_t i = 0; i < nops; i++) {
		if (cli->json) {
			json_array_append_new(files, json_pack("{s:s, s:s, s:I, s:I, s:I, s:I}", "operator",
							       ops[i].name, "file", paths[i], "rows",
							       (json_int_t)ops[i].rows, "repeated",
							       (json_int_t)ops[i].dups, "overlapping",
							       (json_int_t)ops[i].overlaps, "too_fast",
							       (json_int_t)ops[i].fast));
			continue;
		}
		printf("%-20s %6u trips (", paths[i], ops[i].rows);
		bool first = true;
		for (unsigned m = 1; m <= LEDGER_MODE_MAX; m++) {
			if (ops[i].by_mode[m] == 0)
				continue;
			printf("%s%llu %s", first ? "" : ", ", (unsigned long long)ops[i].by_mode[m],
			       ledger_mode_name(m));
			first = false;
		}
		printf("); planted: %u repeated, %u overlapping, %u too fast\n", ops[i].dups,
		       ops[i].overlaps, ops[i].fast);
	}
	if (cli->json)
		cli_json(cli, json_pack("{s:o}", "files", files));
	else
		json_decref(files);
	rc = 0;
done:
	for (uint32_t i = 0; i < nops; i++)
		if (ops[i].out)
			fclose(ops[i].out);
	ledger_genesis_free(g);
	return rc;
}

const wallet_cmd wallet_cmd_sample_trips = {
	.name = "sample-trips",
	.run = run,
	.args = "",
	.summary = "write a realistic day of trips, one CSV per operator of a genesis (demos, tests)",
	.details = "Citizens make non-overlapping trips over the --hours before --now: metro 35%,\n"
		   "bus 30%, cycle 20%, walk 15% of them (modes no operator issues are left out),\n"
		   "distances and speeds plausible for the mode. Mixed in, per mille: records\n"
		   "repeated, trips of another operator overlapping one already made, and trips\n"
		   "too fast for their mode, which the ledger rejects. The same options (and\n"
		   "--now) give the same files.",
	.flags = 0,
	.min_pos = 0,
	.max_pos = 0,
	.opts = {{"genesis", "FILE", "the network's genesis (its operators and their modes)", false},
		 {"out-dir", "DIR", "where to write <operator>.csv", false},
		 {"citizens", "N", "citizens derived from the seed (default 300)", false},
		 {"citizen", "ADDR", "a citizen to include too, address or key name (repeatable)", true},
		 {"trips", "N", "trips to try to make (default 3000)", false},
		 {"hours", "H", "hours before --now they happen in (default 20)", false},
		 {"now", "UNIX", "the time the day ends (default: the clock)", false},
		 {"seed", "S", "PRNG seed (default 1)", false},
		 {"dup-permille", "N", "repeated records (default 10)", false},
		 {"overlap-permille", "N", "overlaps across operators (default 10)", false},
		 {"fast-permille", "N", "implausibly fast trips (default 5)", false}},
};
