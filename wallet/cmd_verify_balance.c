/*
 * carbon-wallet verify-balance: what a bank runs before granting a green
 * loan. The balance comes with a proof, and the proof is checked against
 * the genesis file the bank holds, not against the node that served it:
 * the Merkle path to the state root, the certified header that carries that
 * root, and the chain of certified headers and validator-set changes from
 * the genesis to it (wallet/lightclient.c). A proof that fails any check
 * is refused with the reason and exit code 4; one that cannot be checked
 * (a node down, a validator set no node supplies) is exit 3, never
 * "REFUSED", since nothing is known to be wrong with it.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "wallet/cli.h"

static void show_progress(void *arg, uint64_t h, uint64_t to)
{
	(void)arg;
	if (h % 64 == 0 || h == to)
		fprintf(stderr, "\rfollowing certified headers %llu/%llu", (unsigned long long)h,
			(unsigned long long)to);
	if (h == to)
		fprintf(stderr, "\n");
}

/* The proof as JSON: from --proof FILE, or from the node (retrying while
 * the header that certifies it is not yet committed). */
static int fetch_proof(wallet_cli *cli, const ck_pubkey pk, json_t **out)
{
	const char *file = cli_opt(cli, "proof");
	if (file != NULL) {
		json_error_t je;
		*out = json_load_file(file, JSON_REJECT_DUPLICATES, &je);
		if (*out == NULL)
			return cli_fail(cli, WALLET_EXIT_USAGE, "%s: %s", file, je.text);
		return 0;
	}
	char addr[CK_ADDRESS_STRLEN + 1], path[128];
	ck_address_encode(addr, pk);
	snprintf(path, sizeof path, "/v1/account/%s/proof", addr);
	for (int attempt = 0;; attempt++) {
		int status, rc;
		if ((rc = cli_get(cli, path, false, &status, out)) != 0)
			return rc;
		if (json_is_true(json_object_get(*out, "certified")) || attempt == 3)
			break;
		json_decref(*out);
		struct timespec ts = {1, 0};
		nanosleep(&ts, NULL);
	}
	const char *save = cli_opt(cli, "save-proof");
	if (save != NULL && json_dump_file(*out, save, JSON_INDENT(2)) != 0)
		return cli_fail(cli, WALLET_EXIT_USAGE, "cannot write %s: %s", save, strerror(errno));
	return 0;
}

static int run(wallet_cli *cli)
{
	ck_pubkey pk;
	int rc = cli_address_or_key(cli, cli->pos[0], "ADDRESS", pk);
	if (rc != 0)
		return rc;
	const char *gpath = cli_opt(cli, "genesis");
	if (gpath == NULL)
		return cli_fail(cli, WALLET_EXIT_USAGE,
				"--genesis FILE is required: the genesis you trust, not the node's");
	ledger_genesis *g = NULL;
	rc = ledger_genesis_load(gpath, &g, cli->msg, sizeof cli->msg);
	if (rc != 0)
		return cli_fail(cli, WALLET_EXIT_USAGE, "%s: %s", gpath, cli->msg);
	wallet_lc lc;
	json_t *j = NULL;
	wallet_balance_proof *bp = malloc(sizeof *bp);
	char why[512] = "";
	char trust[WALLET_PATH_BYTES_MAX] = "";
	bool cache = !cli_flag(cli, "no-cache");
	if (bp == NULL) {
		rc = cli_fail(cli, WALLET_EXIT_VERIFY, "out of memory");
		goto done;
	}
	if ((rc = wallet_lc_init(&lc, g)) != 0) {
		rc = cli_fail(cli, WALLET_EXIT_USAGE, "%s: no well-formed validator set", gpath);
		goto done;
	}
	wallet_lc fresh = lc;
	if (cache && wallet_lc_trust_path(&lc, trust, sizeof trust) == 0 &&
	    wallet_lc_load(&lc, trust) == WALLET_E_VERIFY)
		fprintf(stderr, "carbon-wallet verify-balance: ignoring the unreadable checkpoint %s\n",
			trust);
	if ((rc = fetch_proof(cli, pk, &j)) != 0)
		goto done;
	rc = wallet_balance_proof_from_json(j, lc.chain_id, bp, why, sizeof why);
	if (rc == WALLET_E_UNCERTIFIED) {
		rc = cli_fail(cli, WALLET_EXIT_NETWORK, "cannot verify: %s", why);
		goto done;
	}
	if (rc != 0) {
		rc = cli_fail(cli, WALLET_EXIT_VERIFY, "REFUSED: %s", why);
		goto done;
	}
	/* A checkpoint at or past this proof's header (an older, saved
	 * proof) cannot step back: start from the genesis. */
	if (lc.height >= bp->header.height)
		lc = fresh;
	wallet_node *nd;
	if ((rc = cli_node(cli, &nd)) != 0)
		goto done;
	wallet_lc_source src;
	wallet_lc_node_source(&src, nd);
	uint64_t from = lc.height;
	if (cli_tty() && !cli->json && bp->proof.height > lc.height + 64)
		rc = wallet_lc_advance(&lc, &src, bp->proof.height, show_progress, NULL, why, sizeof why);
	if (rc == 0)
		rc = wallet_verify_balance(&lc, &src, pk, bp, why, sizeof why);
	/* Exit 4 means a proof was shown false. What could not be fetched
	 * proves nothing either way: exit 3, and say so. */
	if (rc == WALLET_E_VALSET_GAP) {
		rc = cli_fail(cli, WALLET_EXIT_NETWORK,
			      "cannot verify: %s. This is no verdict on the proof: ask a node that "
			      "serves GET /v1/valset/{height} (--node URL), or keep the checkpoint "
			      "past every validator-set change by running verify-balance regularly",
			      why);
		goto done;
	}
	if (rc != 0 && rc != WALLET_E_VERIFY) {
		snprintf(cli->msg, sizeof cli->msg, "%s", why);
		rc = cli_net_fail(cli, rc,
				  "cannot verify: the headers to check the proof against could not "
				  "be fetched");
		goto done;
	}
	if (rc != 0) {
		rc = cli_fail(cli, WALLET_EXIT_VERIFY, "REFUSED: %s", why);
		goto done;
	}
	if (cache && trust[0] && wallet_lc_save(&lc, trust) != 0)
		fprintf(stderr, "carbon-wallet verify-balance: could not save the checkpoint %s\n",
			trust);

	char addr[CK_ADDRESS_STRLEN + 1], kg[WALLET_AMOUNT_STRLEN], gh[2 * CK_HASH_BYTES + 1];
	ck_address_encode(addr, pk);
	wallet_amount_format(kg, bp->proof.balance_g);
	cm_hex_encode(gh, g->hash, CK_HASH_BYTES);
	enum wallet_tier tier = wallet_tier_of(bp->proof.balance_g);
	if (cli->json) {
		cli_json(cli, json_pack("{s:b, s:s, s:I, s:s, s:s, s:I, s:I, s:I, s:I, s:s, s:s, s:I}", "verified",
				   1, "address", addr, "balance_g", (json_int_t)bp->proof.balance_g,
				   "balance", kg, "tier", wallet_tier_name(tier), "height",
				   (json_int_t)bp->proof.height, "header_height",
				   (json_int_t)bp->header.height, "signers", (json_int_t)bp->cert.n,
				   "validators", (json_int_t)lc.next.n, "genesis", gh, "chain_id",
				   lc.chain_id, "valset_changes", (json_int_t)lc.changes));
	} else {
		printf("VERIFIED\naddress  %s\nbalance  %s kg CO2e\ntier     %s\n", addr, kg,
		       wallet_tier_name(tier));
		printf("height   state after block %llu, header %llu signed by %u validators\n",
		       (unsigned long long)bp->proof.height, (unsigned long long)bp->header.height,
		       bp->cert.n);
		printf("chain    %s, genesis %s\n", lc.chain_id, gh);
		printf("followed %llu certified headers from %s, %u validator-set change%s\n",
		       (unsigned long long)(lc.height - from), from ? "the checkpoint" : "the genesis",
		       lc.changes, lc.changes == 1 ? "" : "s");
	}
	rc = 0;
done:
	json_decref(j);
	free(bp);
	ledger_genesis_free(g);
	return rc;
}

const wallet_cmd wallet_cmd_verify_balance = {
	.name = "verify-balance",
	.run = run,
	.args = "ADDRESS",
	.summary = "verify a balance proof offline against the genesis (banks); prints the tier",
	.details = "Fetches GET /v1/account/ADDRESS/proof (or reads --proof FILE) and checks the\n"
		   "Merkle proof, that the certified header of the next height carries its state\n"
		   "root, and every header from the genesis (or the last checkpoint, kept in\n"
		   "~/.config/carbon-wallet/trust/) certified by 2f+1 of the validators of its\n"
		   "height. Exit 4 with the reason if anything fails to verify; exit 3 if the\n"
		   "proof cannot be checked (no node answers, or a past validator set is not\n"
		   "available from any node).",
	.flags = CLI_NODE,
	.min_pos = 1,
	.max_pos = 1,
	.opts = {{"genesis", "FILE", "the genesis file you trust (required)", false},
		 {"proof", "FILE", "verify a proof saved earlier instead of fetching one", false},
		 {"save-proof", "FILE", "also save the fetched proof to FILE", false},
		 {"no-cache", NULL, "neither read nor write the checkpoint", false}},
};
