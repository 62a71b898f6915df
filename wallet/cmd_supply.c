/*
 * carbon-wallet supply: the credits in existence and the supply invariant
 * issued - redeemed + refunded - clawed back = circulating, with the
 * issued total split by mode (which must add up too). A violation exits 4.
 */
#include "wallet/cli.h"

static int run(wallet_cli *cli)
{
	json_t *j;
	int status;
	int rc = cli_get(cli, "/v1/supply", false, &status, &j);
	if (rc != 0)
		return rc;
	uint64_t issued, redeemed, refunded, clawed, circ, trips;
	if (wallet_json_u64(j, "issued_g", &issued) != 0 ||
	    wallet_json_u64(j, "redeemed_g", &redeemed) != 0 ||
	    wallet_json_u64(j, "refunded_g", &refunded) != 0 ||
	    wallet_json_u64(j, "clawed_back_g", &clawed) != 0 ||
	    wallet_json_u64(j, "circulating_g", &circ) != 0 ||
	    wallet_json_u64(j, "trips_credited", &trips) != 0) {
		json_decref(j);
		return cli_fail(cli, WALLET_EXIT_NETWORK, "unexpected answer from /v1/supply");
	}
	/* In 128 bits: a hostile node cannot make the check wrap around. */
	__int128 expect = (__int128)issued - redeemed + refunded - clawed;
	__int128 by_mode = 0;
	const json_t *modes = json_object_get(j, "by_mode_g");
	const char *name;
	const json_t *v;
	json_object_foreach((json_t *)modes, name, v)
	{
		uint64_t g;
		json_t *wrap = json_pack("{s:O}", "g", v);
		if (wrap && wallet_json_u64(wrap, "g", &g) == 0)
			by_mode += g;
		json_decref(wrap);
	}
	bool ok_circ = expect == (__int128)circ;
	bool ok_modes = by_mode == (__int128)issued;
	char s[6][WALLET_AMOUNT_STRLEN];
	uint64_t vals[5] = {issued, redeemed, refunded, clawed, circ};
	for (int i = 0; i < 5; i++)
		wallet_amount_format(s[i], vals[i]);
	if (cli->json) {
		json_object_set_new(j, "invariant_ok", json_boolean(ok_circ));
		json_object_set_new(j, "by_mode_ok", json_boolean(ok_modes));
		cli_json(cli, json_incref(j));
	} else {
		printf("issued        %16s kg (%llu trips)\n", s[0], (unsigned long long)trips);
		json_object_foreach((json_t *)modes, name, v)
		{
			uint64_t g;
			json_t *wrap = json_pack("{s:O}", "g", v);
			if (wrap && wallet_json_u64(wrap, "g", &g) == 0 && g > 0) {
				wallet_amount_format(s[5], g);
				printf("  %-11s %16s kg\n", name, s[5]);
			}
			json_decref(wrap);
		}
		printf("redeemed      %16s kg\nrefunded      %16s kg\nclawed back   %16s kg\n"
		       "circulating   %16s kg\n",
		       s[1], s[2], s[3], s[4]);
		printf("check         issued - redeemed + refunded - clawed back %s circulating: %s\n",
		       ok_circ ? "=" : "!=", ok_circ ? "ok" : "VIOLATED");
		printf("check         sum by mode %s issued: %s\n", ok_modes ? "=" : "!=",
		       ok_modes ? "ok" : "VIOLATED");
	}
	json_decref(j);
	if (!ok_circ || !ok_modes)
		return cli_fail(cli, WALLET_EXIT_VERIFY, "the supply invariant does not hold on %s",
				wallet_node_url(cli->node));
	return 0;
}

const wallet_cmd wallet_cmd_supply = {
	.name = "supply",
	.run = run,
	.args = "",
	.summary = "print the credit supply and check issued - redeemed + refunded - clawed back = circulating",
	.details = "Exit 4 if the invariant does not hold.",
	.flags = CLI_NODE,
	.min_pos = 0,
	.max_pos = 0,
	.opts = {{0}},
};
