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
			rc = cli_fail(cli, cli_exit_of(rc), "the submitter's next nonce: %s (or give --nonce N)",
				      cli->msg);
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
	if (cli->json)
		cli_json(cli, json_pack("{s:s, s:s, s:I, s:s, s:I}", "file", out, "summary",
				   summary, "threshold", (json_int_t)threshold, "submitter", addr, "nonce",
				   (json_int_t)tx->nonce));
	else
		printf("proposal %s: %s\nsubmitter %s at nonce %llu: send nothing else from this key "
		       "until it is submitted\nnext: each governor runs 'carbon-wallet govern sign %s'\n",
		       out, summary, addr, (unsigned long long)tx->nonce, out);
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
		cli_json(cli, json_pack("{s:s, s:s, s:o, s:I, s:I, s:o}", "chain_id", tx->chain_id, "summary",
				   summary, "submitter", cli_jaddr(tx->sender), "nonce",
				   (json_int_t)tx->nonce, "threshold", (json_int_t)threshold, "approvals",
				   appr));
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
	char summary[2048], addr[CK_ADDRESS_STRLEN + 1];
	wallet_govern_summary(tx, summary, sizeof summary);
	ck_address_encode(addr, pk);
	if (cli->json)
		cli_json(cli, json_pack("{s:s, s:s, s:I}", "approved_by", addr, "summary",
				   summary, "approvals", (json_int_t)tx->napprovals));
	else
		printf("approved by %s: %s\n%u approval%s in %s\n", addr, summary, tx->napprovals,
		       tx->napprovals == 1 ? "" : "s", cli->pos[1]);
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
			rc = cli_fail(cli, cli_exit_of(rc), "%s", cli->msg);
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
		rc = cli_fail(cli, cli_exit_of(rc), "%s", cli->msg);
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
