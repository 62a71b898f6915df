/*
 * carbon-wallet govern: changes that need several governors. 'propose'
 * writes the govern transaction, unsigned, to a file; each governor runs
 * 'sign' on it (ledger_tx_approve); 'submit' signs it as sender and sends
 * it once the sender and the approvers together reach the genesis
 * threshold. 'show' prints what a file would do, regenerated from its
 * transaction bytes.
 *
 * An approval covers the whole signed part of the transaction, sender and
 * nonce included (ledger/codec_tx.c), so an approved clawback cannot be
 * replayed under another nonce. The submitter and its nonce are therefore
 * fixed when the proposal is written: the proposing governor's key, at
 * its next nonce, and that key must not send anything else until submit.
 */
#include <sodium.h>
#include <string.h>

#include "wallet/cli.h"

/* Comma-separated role or mode names into a bit mask. */
static int parse_names(wallet_cli *cli, const char *s, bool modes, uint32_t *out)
{
	*out = 0;
	char buf[256];
	if (snprintf(buf, sizeof buf, "%s", s) >= (int)sizeof buf)
		return cli_fail(cli, WALLET_EXIT_USAGE, "--%s is too long", modes ? "modes" : "roles");
	for (char *save = NULL, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		uint32_t bit = 0;
		if (modes) {
			unsigned m;
			if (ledger_mode_parse(t, &m) == 0)
				bit = 1u << m;
		} else {
			for (uint32_t b = 1; b <= LEDGER_ROLES_ALL; b <<= 1)
				if (strcmp(ledger_role_name(b), t) == 0)
					bit = b;
		}
		if (bit == 0)
			return cli_fail(cli, WALLET_EXIT_USAGE, "%s \"%.32s\" is not one of %s",
					modes ? "mode" : "role", t,
					modes ? "walk, cycle, bus, metro, rail, carpool"
					      : "validator, issuer, merchant, bank, governor");
		*out |= bit;
	}
	return 0;
}

static int need(wallet_cli *cli, const char *opt, const char *action)
{
	return cli_opt(cli, opt) ? 0
				 : cli_fail(cli, WALLET_EXIT_USAGE, "govern propose %s needs --%s",
					    action, opt);
}

static int member_id(wallet_cli *cli, const char *action, uint32_t *id)
{
	uint64_t v;
	int rc = need(cli, "member", action);
	if (rc == 0)
		rc = cli_u64(cli, cli_opt(cli, "member"), "--member", UINT32_MAX, &v);
	if (rc == 0 && v == 0)
		rc = cli_fail(cli, WALLET_EXIT_USAGE, "member ids start at 1");
	if (rc == 0)
		*id = (uint32_t)v;
	return rc;
}

static int reason(wallet_cli *cli, const char *action, ledger_govern *g)
{
	int rc = need(cli, "reason", action);
	if (rc == 0 && strlen(cli_opt(cli, "reason")) > LIM_TEXT_BYTES_MAX)
		rc = cli_fail(cli, WALLET_EXIT_USAGE, "--reason is longer than %u bytes",
			      LIM_TEXT_BYTES_MAX);
	if (rc == 0)
		snprintf(g->reason, sizeof g->reason, "%s", cli_opt(cli, "reason"));
	return rc;
}

/* Fills the govern body from the options of one action. */
static int build(wallet_cli *cli, const char *action, ledger_govern *g)
{
	const char *const *keys;
	unsigned nkeys = cli_opt_all(cli, "member-key", &keys);
	int rc = 0;
	if (strcmp(action, "add-member") == 0) {
		g->action = LEDGER_GOV_ADD_MEMBER;
		if ((rc = need(cli, "name", action)) != 0 || (rc = need(cli, "roles", action)) != 0)
			return rc;
		const char *name = cli_opt(cli, "name");
		if (strlen(name) == 0 || strlen(name) > LIM_NAME_BYTES_MAX)
			return cli_fail(cli, WALLET_EXIT_USAGE, "--name must be 1..64 bytes");
		snprintf(g->name, sizeof g->name, "%s", name);
		if (nkeys == 0)
			return cli_fail(cli, WALLET_EXIT_USAGE,
					"add-member needs at least one --member-key ADDRESS");
		g->nkeys = nkeys;
		for (unsigned i = 0; i < nkeys && rc == 0; i++)
			rc = cli_address(cli, keys[i], "--member-key", g->keys[i]);
	} else if (strcmp(action, "set-roles") == 0) {
		g->action = LEDGER_GOV_SET_ROLES;
		if ((rc = member_id(cli, action, &g->member_id)) != 0 || (rc = need(cli, "roles", action)) != 0)
			return rc;
	} else if (strcmp(action, "add-key") == 0 || strcmp(action, "revoke") == 0) {
		g->action = action[0] == 'a' ? LEDGER_GOV_ADD_KEY : LEDGER_GOV_REVOKE_KEY;
		if ((rc = member_id(cli, action, &g->member_id)) != 0)
			return rc;
		if (nkeys != 1)
			return cli_fail(cli, WALLET_EXIT_USAGE, "%s needs exactly one --member-key ADDRESS",
					action);
		g->nkeys = 1;
		rc = cli_address(cli, keys[0], "--member-key", g->keys[0]);
	} else if (strcmp(action, "remove-member") == 0) {
		g->action = LEDGER_GOV_REMOVE_MEMBER;
		rc = member_id(cli, action, &g->member_id);
	} else if (strcmp(action, "methodology") == 0) {
		g->action = LEDGER_GOV_METHODOLOGY;
		if ((rc = need(cli, "file", action)) != 0)
			return rc;
		json_error_t je;
		json_t *j = json_load_file(cli_opt(cli, "file"), JSON_REJECT_DUPLICATES, &je);
		if (j == NULL)
			return cli_fail(cli, WALLET_EXIT_USAGE, "%s: %s", cli_opt(cli, "file"), je.text);
		/* A whole genesis file is accepted too: its methodology. */
		const json_t *m = json_object_get(j, "methodology");
		rc = wallet_methodology_parse(m ? m : j, &g->methodology, cli->msg, sizeof cli->msg);
		json_decref(j);
		if (rc != 0)
			return cli_fail(cli, WALLET_EXIT_USAGE, "%s: %s", cli_opt(cli, "file"), cli->msg);
	} else if (strcmp(action, "clawback") == 0) {
		g->action = LEDGER_GOV_CLAWBACK;
		if ((rc = need(cli, "account", action)) != 0 || (rc = need(cli, "amount", action)) != 0 ||
		    (rc = cli_address(cli, cli_opt(cli, "account"), "--account", g->account)) != 0 ||
		    (rc = cli_amount(cli, cli_opt(cli, "amount"), "--amount", true, &g->amount_g)) != 0 ||
		    (rc = reason(cli, action, g)) != 0)
			return rc;
		if (cli_opt(cli, "trip-id"))
			rc = cli_hash(cli, cli_opt(cli, "trip-id"), "--trip-id", g->trip_id);
	} else if (strcmp(action, "recover-account") == 0) {
		g->action = LEDGER_GOV_RECOVER;
		if ((rc = need(cli, "account", action)) != 0 ||
		    (rc = need(cli, "new-account", action)) != 0 ||
		    (rc = cli_address(cli, cli_opt(cli, "account"), "--account", g->account)) != 0 ||
		    (rc = cli_address(cli, cli_opt(cli, "new-account"), "--new-account",
				      g->new_account)) != 0)
			return rc;
		rc = reason(cli, action, g);
	} else {
		return cli_fail(cli, WALLET_EXIT_USAGE,
				"unknown proposal \"%.32s\": add-member, set-roles, add-key, revoke, "
				"remove-member, methodology, clawback or recover-account",
				action);
	}
	if (rc == 0 && cli_opt(cli, "roles"))
		rc = parse_names(cli, cli_opt(cli, "roles"), false, &g->roles);
	if (rc == 0 && cli_opt(cli, "modes"))
		rc = parse_names(cli, cli_opt(cli, "modes"), true, &g->modes);
	return rc;
}

/* ---- methodology changes: what a governor must see ---------------------------- */

/* The chain's height from the node, quietly: false if no node answered. */
static bool chain_height(wallet_cli *cli, uint64_t *height)
{
	wallet_node *nd;
	json_t *j;
	int status;
	char msg[256];
	if (cli_node(cli, &nd) != 0 || wallet_node_get_json(nd, "/v1/status", &status, &j, msg,
							    sizeof msg) != 0)
		return false;
	bool ok = status == 200 && wallet_json_u64(j, "height", height) == 0;
	json_decref(j);
	return ok;
}

/* The methodology a proposal is compared with: the one in force from the
 * node (GET /v1/methodology, if the node serves it), else version 1 from
 * --genesis. source says which, for the reader. False if neither. */
static bool in_force(wallet_cli *cli, ledger_methodology *m, char *source, size_t n)
{
	wallet_node *nd;
	json_t *j;
	int status;
	char msg[256];
	if (cli_node(cli, &nd) == 0 &&
	    wallet_node_get_json(nd, "/v1/methodology", &status, &j, msg, sizeof msg) == 0) {
		const json_t *o = json_object_get(j, "methodology");
		bool ok = status == 200 &&
			  wallet_methodology_parse(o ? o : j, m, msg, sizeof msg) == 0;
		json_decref(j);
		if (ok) {
			snprintf(source, n, "version %u in force on %s", m->version,
				 wallet_node_url(nd));
			return true;
		}
	}
	const char *gpath = cli_opt(cli, "genesis");
	ledger_genesis *g;
	if (gpath != NULL && ledger_genesis_load(gpath, &g, msg, sizeof msg) == 0) {
		*m = g->methodology;
		ledger_genesis_free(g);
		snprintf(source, n, "version %u of the genesis %s", m->version, gpath);
		return true;
	}
	return false;
}

/* "to", or "from -> to" when they differ. */
static const char *cell(char out[48], uint64_t from, uint64_t to)
{
	if (from != to)
		snprintf(out, 48, "%llu -> %llu", (unsigned long long)from, (unsigned long long)to);
	else
		snprintf(out, 48, "%llu", (unsigned long long)to);
	return out;
}

/* Every parameter of the proposed methodology, each changed one as
 * "old -> new" against the one in force when it is known. */
static void methodology_text(const ledger_methodology *m, const ledger_methodology *base,
			     const char *source)
{
	const ledger_methodology *b = base ? base : m;
	char c[4][48];
	printf("methodology version %u, in force from height %llu\n", m->version,
	       (unsigned long long)m->effective_height);
	if (base)
		printf("compared with %s (changed values are old -> new, lines marked *)\n", source);
	else
		printf("nothing to compare with: the node does not serve the methodology in force "
		       "and no --genesis FILE was given\n");
	printf("  %-32s %s g\n", "daily cap per citizen, all modes",
	       cell(c[0], b->daily_cap_g, m->daily_cap_g));
	printf("  %-32s %s s\n", "claim window before block time",
	       cell(c[0], b->claim_before_s, m->claim_before_s));
	printf("  %-32s %s s\n", "claim window after block time",
	       cell(c[0], b->claim_after_s, m->claim_after_s));
	printf("    %-8s %-9s %20s %18s %18s %18s\n", "mode", "enabled", "reduction mg/pkm",
	       "min distance m", "max speed km/h", "daily cap g");
	for (unsigned k = 1; k <= LEDGER_MODE_MAX; k++) {
		const ledger_mode_params *x = &b->mode[k], *y = &m->mode[k];
		bool any = x->enabled != y->enabled || x->reduction_mg_per_km != y->reduction_mg_per_km ||
			   x->min_distance_m != y->min_distance_m ||
			   x->max_speed_kmh != y->max_speed_kmh || x->daily_cap_g != y->daily_cap_g;
		char en[16];
		if (x->enabled != y->enabled)
			snprintf(en, sizeof en, "%s -> %s", x->enabled ? "yes" : "no",
				 y->enabled ? "yes" : "no");
		else
			snprintf(en, sizeof en, "%s", y->enabled ? "yes" : "no");
		printf("  %c %-8s %-9s %20s %18s %18s %18s\n", any ? '*' : ' ', ledger_mode_name(k), en,
		       cell(c[0], x->reduction_mg_per_km, y->reduction_mg_per_km),
		       cell(c[1], x->min_distance_m, y->min_distance_m),
		       cell(c[2], x->max_speed_kmh, y->max_speed_kmh),
		       cell(c[3], x->daily_cap_g, y->daily_cap_g));
	}
	if (base) {
		wallet_meth_change ch[WALLET_METH_FIELDS_MAX];
		uint32_t n = wallet_methodology_diff(base, m, ch);
		printf("%u parameter%s change%s\n", n, n == 1 ? "" : "s", n == 1 ? "s" : "");
	}
}

/* For a methodology proposal: the table on stdout, or these fields in the
 * JSON answer o. Other proposals need nothing beyond the summary. */
static void methodology_detail(wallet_cli *cli, const ledger_tx *tx, json_t *o)
{
	const ledger_govern *g = &tx->u.govern;
	if (g->action != LEDGER_GOV_METHODOLOGY)
		return;
	ledger_methodology base;
	char source[WALLET_PATH_BYTES_MAX + 64] = "";
	bool have = in_force(cli, &base, source, sizeof source);
	if (o == NULL) {
		methodology_text(&g->methodology, have ? &base : NULL, source);
		return;
	}
	json_object_set_new(o, "methodology", wallet_methodology_json(&g->methodology));
	if (!have) {
		json_object_set_new(o, "in_force", json_null());
		return;
	}
	json_t *changes = json_array();
	wallet_meth_change c[WALLET_METH_FIELDS_MAX];
	uint32_t n = wallet_methodology_diff(&base, &g->methodology, c);
	for (uint32_t i = 0; i < n; i++)
		json_array_append_new(changes, json_pack("{s:s, s:I, s:I}", "field", c[i].field, "from",
							 (json_int_t)c[i].from, "to",
							 (json_int_t)c[i].to));
	json_object_set_new(o, "in_force", wallet_methodology_json(&base));
	json_object_set_new(o, "in_force_source", json_string(source));
	json_object_set_new(o, "changes", changes);
}

/* The ledger takes a methodology change only with the next version number
 * and an effective height above the block that commits it: check both
 * where the wallet can, before governors spend signatures on it. */
static int methodology_check(wallet_cli *cli, const ledger_methodology *m, bool at_submit)
{
	uint64_t height;
	if (!chain_height(cli, &height)) {
		fprintf(stderr, "carbon-wallet govern: no node answered: the effective height %llu is "
				"not checked against the chain\n",
			(unsigned long long)m->effective_height);
	} else if (m->effective_height <= height + 1) {
		return cli_fail(cli, WALLET_EXIT_USAGE,
				"effective_height %llu is not above the next block (the chain is at "
				"%llu)%s: set effective_height in the file far enough ahead for every "
				"governor to sign (blocks come about every second), e.g. %llu",
				(unsigned long long)m->effective_height, (unsigned long long)height,
				at_submit ? " and the ledger would reject it; propose it again" : "",
				(unsigned long long)(height + 86400));
	}
	ledger_methodology base;
	char source[WALLET_PATH_BYTES_MAX + 64];
	if (!in_force(cli, &base, source, sizeof source))
		return 0;
	if (m->version <= base.version)
		return cli_fail(cli, WALLET_EXIT_USAGE,
				"version %u is not above %s: a change needs the next version number",
				m->version, source);
	/* Pruning keeps one day of margin behind the window: a longer step
	 * reopens days already pruned (docs/METHODOLOGY.md, "Versions"). */
	if (m->claim_before_s > base.claim_before_s + 86400u)
		return cli_fail(cli, WALLET_EXIT_USAGE,
				"claim_before_s rises from %u to %u s against %s: more than 86400 s "
				"in one version reopens days already pruned, where a trip could be "
				"credited twice; raise it by at most a day per version",
				base.claim_before_s, m->claim_before_s, source);
	return 0;
}

static int propose(wallet_cli *cli)
{
	if (cli->npos != 2)
		return cli_fail(cli, WALLET_EXIT_USAGE, "usage: govern propose ACTION --out FILE [options]");
	const char *out = cli_opt(cli, "out");
	if (out == NULL)
		return cli_fail(cli, WALLET_EXIT_USAGE, "govern propose needs --out FILE");
	ck_pubkey pk;
	int rc = cli_key_pubkey(cli, pk);
	if (rc != 0)
		return rc;
	ledger_tx *tx;
	if ((rc = ledger_tx_new(&tx, LEDGER_TX_GOVERN, 0)) != 0)
		return cli_fail(cli, WALLET_EXIT_USAGE, "%s", ledger_strerror(rc));
	memcpy(tx->sender, pk, CK_PUBKEY_BYTES);
	uint64_t threshold = 0;
	const char *gpath = cli_opt(cli, "genesis"), *thr = cli_opt(cli, "threshold");
	const char *nonce = cli_opt(cli, "nonce");
	if ((rc = build(cli, cli->pos[1], &tx->u.govern)) != 0)
		goto done;
	if (tx->u.govern.action == LEDGER_GOV_METHODOLOGY &&
	    (rc = methodology_check(cli, &tx->u.govern.methodology, false)) != 0)
		goto done;
	if (gpath != NULL) {
		ledger_genesis *g;
		if (ledger_genesis_load(gpath, &g, cli->msg, sizeof cli->msg) != 0) {
			rc = cli_fail(cli, WALLET_EXIT_USAGE, "%s: %s", gpath, cli->msg);
			goto done;
		}
		snprintf(tx->chain_id, sizeof tx->chain_id, "%s", g->chain_id);
		threshold = g->governor_threshold;
		ledger_genesis_free(g);
	} else {
		const char *chain;
		if ((rc = cli_chain_id(cli, &chain)) != 0)
			goto done;
		snprintf(tx->chain_id, sizeof tx->chain_id, "%s", chain);
	}
	if (thr && (rc = cli_u64(cli, thr, "--threshold", LIM_TX_SIGS_MAX, &threshold)) != 0)
		goto done;
	if (nonce) {
		if ((rc = cli_u64(cli, nonce, "--nonce", UINT64_MAX, &tx->nonce)) != 0)
			goto done;
	} else {
		wallet_node *nd;
		wallet_account a;
		if ((rc = cli_node(cli, &nd)) != 0)
			goto done;
		if ((rc = wallet_get_account(nd, pk, &a, cli->msg, sizeof cli->msg)) != 0) {
			rc = cli_net_fail(cli, rc, "the submitter's next nonce (or give --nonce N)");
			goto done;
		}
		tx->nonce = a.nonce;
	}
	rc = wallet_proposal_write(out, tx, (uint32_t)threshold, cli_flag(cli, "force"), cli->msg,
				   sizeof cli->msg);
	if (rc != 0) {
		rc = cli_fail(cli, WALLET_EXIT_USAGE, "cannot write the proposal: %s%s", cli->msg,
			      cli_flag(cli, "force") ? "" : " (--force replaces a file)");
		goto done;
	}
	char summary[2048], addr[CK_ADDRESS_STRLEN + 1];
	wallet_govern_summary(tx, summary, sizeof summary);
	ck_address_encode(addr, pk);
	if (cli->json) {
		json_t *o = json_pack("{s:s, s:s, s:I, s:s, s:I}", "file", out, "summary", summary,
				      "threshold", (json_int_t)threshold, "submitter", addr, "nonce",
				      (json_int_t)tx->nonce);
		methodology_detail(cli, tx, o);
		cli_json(cli, o);
	} else {
		printf("proposal %s: %s\n", out, summary);
		methodology_detail(cli, tx, NULL);
		printf("submitter %s at nonce %llu: send nothing else from this key until it is "
		       "submitted\nnext: each governor runs 'carbon-wallet govern sign %s'\n",
		       addr, (unsigned long long)tx->nonce, out);
	}
done:
	ledger_tx_free(tx);
	return rc;
}

static int read_prop(wallet_cli *cli, ledger_tx **tx, uint32_t *threshold)
{
	int rc = wallet_proposal_read(cli->pos[1], tx, threshold, cli->msg, sizeof cli->msg);
	return rc == 0 ? 0 : cli_fail(cli, WALLET_EXIT_USAGE, "%s", cli->msg);
}

static int show(wallet_cli *cli)
{
	ledger_tx *tx;
	uint32_t threshold;
	int rc = read_prop(cli, &tx, &threshold);
	if (rc != 0)
		return rc;
	char summary[2048];
	wallet_govern_summary(tx, summary, sizeof summary);
	json_t *appr = json_array();
	for (uint32_t i = 0; i < tx->napprovals; i++)
		json_array_append_new(appr, cli_jaddr(tx->approvals[i].key));
	if (cli->json) {
		json_t *o = json_pack("{s:s, s:s, s:o, s:I, s:I, s:o}", "chain_id", tx->chain_id,
				      "summary", summary, "submitter", cli_jaddr(tx->sender), "nonce",
				      (json_int_t)tx->nonce, "threshold", (json_int_t)threshold,
				      "approvals", appr);
		methodology_detail(cli, tx, o);
		cli_json(cli, o);
	} else {
		char addr[CK_ADDRESS_STRLEN + 1];
		ck_address_encode(addr, tx->sender);
		printf("chain      %s\nproposal   %s\nsubmitter  %s at nonce %llu\n"
		       "threshold  %u governors (the submitter counts)\napprovals  %u\n",
		       tx->chain_id, summary, addr, (unsigned long long)tx->nonce, threshold,
		       tx->napprovals);
		size_t i;
		json_t *a;
		json_array_foreach(appr, i, a) printf("  %s\n", json_string_value(a));
		json_decref(appr);
		methodology_detail(cli, tx, NULL);
	}
	ledger_tx_free(tx);
	return 0;
}

static int sign(wallet_cli *cli)
{
	ledger_tx *tx;
	uint32_t threshold;
	int rc = read_prop(cli, &tx, &threshold);
	if (rc != 0)
		return rc;
	ck_pubkey pk;
	uint8_t *sk = NULL;
	char summary[2048], addr[CK_ADDRESS_STRLEN + 1];
	wallet_govern_summary(tx, summary, sizeof summary);
	/* What is approved, before the passphrase is asked for. */
	if (!cli->json) {
		printf("proposal: %s\n", summary);
		methodology_detail(cli, tx, NULL);
	}
	if ((rc = cli_load_key(cli, pk, &sk)) != 0)
		goto done;
	rc = ledger_tx_approve(tx, sk);
	if (rc == LEDGER_E_FIELD) {
		rc = cli_fail(cli, WALLET_EXIT_USAGE, "this key has already approved %s", cli->pos[1]);
		goto done;
	}
	if (rc != 0) {
		rc = cli_fail(cli, WALLET_EXIT_USAGE, "cannot approve: %s", ledger_strerror(rc));
		goto done;
	}
	if ((rc = wallet_proposal_write(cli->pos[1], tx, threshold, true, cli->msg,
					sizeof cli->msg)) != 0) {
		rc = cli_fail(cli, WALLET_EXIT_USAGE, "cannot write %s: %s", cli->pos[1], cli->msg);
		goto done;
	}
	ck_address_encode(addr, pk);
	if (cli->json) {
		json_t *o = json_pack("{s:s, s:s, s:I}", "approved_by", addr, "summary", summary,
				      "approvals", (json_int_t)tx->napprovals);
		methodology_detail(cli, tx, o);
		cli_json(cli, o);
	} else {
		printf("approved by %s\n%u approval%s in %s\n", addr, tx->napprovals,
		       tx->napprovals == 1 ? "" : "s", cli->pos[1]);
	}
done:
	sodium_free(sk);
	ledger_tx_free(tx);
	return rc;
}

static int submit(wallet_cli *cli)
{
	ledger_tx *tx;
	uint32_t threshold;
	int rc = read_prop(cli, &tx, &threshold);
	if (rc != 0)
		return rc;
	uint64_t thr = threshold;
	const char *t = cli_opt(cli, "threshold"), *gpath = cli_opt(cli, "genesis");
	ck_pubkey pk;
	uint8_t *sk = NULL;
	ledger_tx *out = NULL;
	if (t && (rc = cli_u64(cli, t, "--threshold", LIM_TX_SIGS_MAX, &thr)) != 0)
		goto done;
	if (gpath) {
		ledger_genesis *g;
		if (ledger_genesis_load(gpath, &g, cli->msg, sizeof cli->msg) != 0) {
			rc = cli_fail(cli, WALLET_EXIT_USAGE, "%s: %s", gpath, cli->msg);
			goto done;
		}
		thr = g->governor_threshold;
		ledger_genesis_free(g);
	}
	if (thr == 0) {
		rc = cli_fail(cli, WALLET_EXIT_USAGE,
			      "the governor threshold is unknown: give --genesis FILE or --threshold N");
		goto done;
	}
	if ((rc = cli_load_key(cli, pk, &sk)) != 0)
		goto done;
	if (memcmp(pk, tx->sender, CK_PUBKEY_BYTES) != 0) {
		char addr[CK_ADDRESS_STRLEN + 1];
		ck_address_encode(addr, tx->sender);
		rc = cli_fail(cli, WALLET_EXIT_KEY,
			      "this proposal is submitted by %s (the approvals cover the sender): "
			      "use that key",
			      addr);
		goto done;
	}
	/* Count distinct governor members: the submitter and each approver. */
	wallet_node *nd;
	if ((rc = cli_node(cli, &nd)) != 0)
		goto done;
	uint32_t ids[LIM_TX_SIGS_MAX + 1], n = 0;
	bool drop[LIM_TX_SIGS_MAX] = {false};
	for (uint32_t i = 0; i <= tx->napprovals; i++) {
		const uint8_t *key = i == 0 ? pk : tx->approvals[i - 1].key;
		wallet_account a;
		if ((rc = wallet_get_account(nd, key, &a, cli->msg, sizeof cli->msg)) != 0) {
			rc = cli_net_fail(cli, rc, NULL);
			goto done;
		}
		char addr[CK_ADDRESS_STRLEN + 1];
		ck_address_encode(addr, key);
		if (a.member_id == 0 || !(a.roles & LEDGER_ROLE_GOVERNOR)) {
			if (i == 0) {
				rc = cli_fail(cli, WALLET_EXIT_REJECTED,
					      "%s is not a governor's key: submit with a governor's --key",
					      addr);
				goto done;
			}
			/* The ledger refuses a transaction with any approval that
			 * is not a governor's; each approval stands alone, so
			 * leaving one out keeps the others valid. */
			fprintf(stderr, "carbon-wallet govern: leaving out the approval of %s: not a "
					"governor's key\n", addr);
			drop[i - 1] = true;
			continue;
		}
		bool dup = false;
		for (uint32_t k = 0; k < n; k++)
			dup = dup || ids[k] == a.member_id;
		if (!dup)
			ids[n++] = a.member_id;
	}
	if (n < thr) {
		rc = cli_fail(cli, WALLET_EXIT_REJECTED,
			      "%u of %llu governors so far (the submitter and distinct approvers): "
			      "have %llu more run 'carbon-wallet govern sign %s'",
			      n, (unsigned long long)thr, (unsigned long long)(thr - n), cli->pos[1]);
		goto done;
	}
	/* The approvals cover sender and nonce: send exactly the proposal. */
	wallet_account acct;
	if ((rc = wallet_get_account(nd, pk, &acct, cli->msg, sizeof cli->msg)) != 0) {
		rc = cli_net_fail(cli, rc, NULL);
		goto done;
	}
	const char *chain;
	if ((rc = cli_chain_id(cli, &chain)) != 0)
		goto done;
	if (strcmp(chain, tx->chain_id) != 0) {
		rc = cli_fail(cli, WALLET_EXIT_USAGE, "the proposal is for chain %s, the node serves %s",
			      tx->chain_id, chain);
		goto done;
	}
	if (acct.nonce != tx->nonce) {
		rc = cli_fail(cli, WALLET_EXIT_REJECTED,
			      "the submitter's next nonce is %llu, the proposal was written for %llu: "
			      "%s; propose it again and collect the approvals anew",
			      (unsigned long long)acct.nonce, (unsigned long long)tx->nonce,
			      acct.nonce > tx->nonce ? "the key sent other transactions meanwhile"
						     : "the node does not know the earlier ones");
		goto done;
	}
	if (tx->u.govern.action == LEDGER_GOV_METHODOLOGY &&
	    (rc = methodology_check(cli, &tx->u.govern.methodology, true)) != 0)
		goto done;
	uint32_t kept = 0;
	for (uint32_t i = 0; i < tx->napprovals; i++)
		if (!drop[i])
			tx->approvals[kept++] = tx->approvals[i];
	tx->napprovals = kept;
	out = tx;
	tx = NULL;
	wallet_tx_status st;
	char summary[2048];
	wallet_govern_summary(out, summary, sizeof summary);
	if ((rc = cli_submit(cli, out, sk, "proposal", &st)) != 0)
		goto done;
	if (cli->json) {
		json_t *o = json_pack("{s:s}", "summary", summary);
		cli_print_status(cli, &st, o);
		cli_json(cli, o);
	} else {
		printf("done: %s\n", summary);
		cli_print_status(cli, &st, NULL);
	}
done:
	ledger_tx_free(out);
	sodium_free(sk);
	ledger_tx_free(tx);
	return rc;
}

static int run(wallet_cli *cli)
{
	const char *sub = cli->pos[0];
	if (strcmp(sub, "propose") == 0)
		return propose(cli);
	if (cli->npos != 2)
		return cli_fail(cli, WALLET_EXIT_USAGE, "usage: govern %s FILE", sub);
	if (strcmp(sub, "show") == 0)
		return show(cli);
	if (strcmp(sub, "sign") == 0)
		return sign(cli);
	if (strcmp(sub, "submit") == 0)
		return submit(cli);
	return cli_fail(cli, WALLET_EXIT_USAGE, "govern propose|show|sign|submit");
}

const wallet_cmd wallet_cmd_govern = {
	.name = "govern",
	.run = run,
	.args = "propose ACTION | show FILE | sign FILE | submit FILE",
	.summary = "governance proposals: propose to a file, sign by each governor, submit",
	.details =
		"ACTION and its options:\n"
		"  add-member --name N --roles R[,R] [--modes M[,M]] --member-key ADDR...\n"
		"  set-roles --member ID --roles R[,R] [--modes M[,M]]\n"
		"  add-key --member ID --member-key ADDR    revoke --member ID --member-key ADDR\n"
		"  remove-member --member ID\n"
		"  methodology --file FILE (a methodology object, or a genesis.json's)\n"
		"  clawback --account ADDR --amount KG --reason TEXT [--trip-id HEX]\n"
		"  recover-account --account OLD --new-account NEW --reason TEXT\n"
		"Roles: validator, issuer, merchant, bank, governor. Modes: walk, cycle, bus,\n"
		"metro, rail, carpool. The threshold comes from --genesis (or --threshold) and\n"
		"counts distinct governor members, the submitter included. The proposing key\n"
		"(--key) is the submitter: approvals cover its address and nonce, so it must\n"
		"send nothing else until 'govern submit'.",
	.flags = CLI_NODE | CLI_KEY | CLI_TX,
	.min_pos = 1,
	.max_pos = 2,
	.opts = {{"out", "FILE", "propose: the proposal file to write", false},
		 {"force", NULL, "propose: replace an existing file", false},
		 {"genesis", "FILE", "chain id and governor threshold from this genesis", false},
		 {"threshold", "N", "governor threshold, if no --genesis", false},
		 {"name", "NAME", "add-member: member name", false},
		 {"roles", "LIST", "roles, comma-separated", false},
		 {"modes", "LIST", "an issuer's modes, comma-separated", false},
		 {"member", "ID", "the member's id", false},
		 {"member-key", "ADDR", "a member key (repeatable for add-member)", true},
		 {"file", "FILE", "methodology: the new methodology (JSON)", false},
		 {"account", "ADDR", "clawback target, or the account to recover", false},
		 {"new-account", "ADDR", "recover-account: the new key's address", false},
		 {"amount", "KG", "clawback amount", false},
		 {"trip-id", "HEX", "clawback: the fraudulent trip", false},
		 {"reason", "TEXT", "clawback, recover-account: why (recorded on chain)", false},
		 {"nonce", "N", "propose: the submitter's nonce (default: its next)", false}},
};
