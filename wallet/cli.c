/*
 * The command-line machinery every command shares: option parsing from a
 * command's table, usage text, error printing with exit codes, and the
 * common steps of a transaction (chain id, nonce, sign, submit, follow).
 */
#include <errno.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "wallet/cli.h"

typedef struct gopt {
	const char *name, *arg, *help;
	unsigned group;                       /* 0: every command */
} gopt;

static const gopt globals[] = {
	{"node", "URL", "node API, repeatable: the next is tried if one does not answer "
			"(default $CARBON_NODE or " CLI_DEFAULT_NODE ")", CLI_NODE},
	{"timeout-ms", "MS", "how long one node may take to answer a request before the next "
			     "--node is tried (default 10000)", CLI_NODE},
	{"key", "NAME", "key ~/.config/carbon-wallet/NAME.key (default \"default\")", CLI_KEY},
	{"keystore", "PATH", "keystore file to use instead of --key", CLI_KEY},
	{"passphrase-file", "FILE", "read the passphrase from FILE (else $CARBON_PASSPHRASE, "
				    "else a prompt)", CLI_KEY},
	{"no-wait", NULL, "return once the node admitted the transaction", CLI_TX},
	{"wait-ms", "MS", "how long to follow a transaction until it commits (default 30000)",
	 CLI_TX},
	{"json", NULL, "machine-readable output on stdout", 0},
	{"help", NULL, "this text", 0},
};
#define NGLOBALS (sizeof globals / sizeof globals[0])

static void print_opt(FILE *f, const char *name, const char *arg, const char *help)
{
	char left[48];
	snprintf(left, sizeof left, "--%s%s%s", name, arg ? " " : "", arg ? arg : "");
	fprintf(f, "  %-24s %s\n", left, help);
}

void cli_usage(const wallet_cmd *cmd, FILE *f)
{
	fprintf(f, "usage: carbon-wallet %s [options]%s%s\n%s\n", cmd->name, cmd->args[0] ? " " : "",
		cmd->args, cmd->summary);
	if (cmd->details && cmd->details[0])
		fprintf(f, "\n%s\n", cmd->details);
	if (cmd->opts[0].name) {
		fprintf(f, "\noptions:\n");
		for (unsigned i = 0; i < CLI_OPTS_MAX && cmd->opts[i].name; i++)
			print_opt(f, cmd->opts[i].name, cmd->opts[i].arg, cmd->opts[i].help);
	}
	fprintf(f, "\nglobal options:\n");
	for (size_t i = 0; i < NGLOBALS; i++)
		if (globals[i].group == 0 || (cmd->flags & globals[i].group))
			print_opt(f, globals[i].name, globals[i].arg, globals[i].help);
	fprintf(f, "\nexit codes: 0 ok, 1 transaction rejected or failed, 2 usage, 3 network,\n"
		   "4 verification failed, 5 key or keystore problem (docs/WALLET.md)\n");
}

/* A bad command line: one line on stderr and, when --json was given
 * anywhere on it, the error object on stdout as for every other failure. */
static int usage_error(wallet_cli *cli, const char *fmt, const char *arg)
{
	char text[256];
	snprintf(text, sizeof text, fmt, arg);
	fprintf(stderr, "carbon-wallet %s: %s (see carbon-wallet %s --help)\n", cli->cmd->name, text,
		cli->cmd->name);
	if (cli->json && cli->jerr == NULL)
		cli->jerr = json_pack("{s:s}", "error", text);
	return WALLET_EXIT_USAGE;
}

int cli_parse(wallet_cli *cli, const wallet_cmd *cmd, int argc, char **argv)
{
	memset(cli, 0, sizeof *cli);
	cli->cmd = cmd;
	cli->wait_ms = CLI_DEFAULT_WAIT_MS;
	/* --json first, so that an error about an earlier argument is
	 * already reported in JSON. */
	for (int i = 0; i < argc && strcmp(argv[i], "--") != 0; i++)
		if (strcmp(argv[i], "--json") == 0)
			cli->json = true;
	bool only_pos = false;
	for (int i = 0; i < argc; i++) {
		const char *a = argv[i];
		/* "-1" is a (negative) number, for the argument's own check
		 * to refuse with its reason, not an unknown option. */
		if (only_pos || a[0] != '-' || a[1] == '\0' || (a[1] >= '0' && a[1] <= '9')) {
			if (cli->npos == CLI_POS_MAX || cli->npos == cmd->max_pos)
				return usage_error(cli, "unexpected argument \"%.64s\"", a);
			cli->pos[cli->npos++] = a;
			continue;
		}
		if (strcmp(a, "--") == 0) {
			only_pos = true;
			continue;
		}
		if (strcmp(a, "-h") == 0) {
			cli_usage(cmd, stdout);
			return -1;
		}
		if (a[1] != '-')
			return usage_error(cli, "unknown option %.64s", a);
		const char *name = a + 2;
		const char *eq = strchr(name, '=');
		size_t nl = eq ? (size_t)(eq - name) : strlen(name);
		const char *value = eq ? eq + 1 : NULL;
		const char *arg = NULL;
		int own = -1;
		const gopt *g = NULL;
		for (size_t k = 0; k < NGLOBALS; k++) {
			if (strlen(globals[k].name) == nl && strncmp(globals[k].name, name, nl) == 0 &&
			    (globals[k].group == 0 || (cmd->flags & globals[k].group)))
				g = &globals[k];
		}
		if (g != NULL) {
			arg = g->arg;
		} else {
			for (unsigned k = 0; k < CLI_OPTS_MAX && cmd->opts[k].name; k++) {
				if (strlen(cmd->opts[k].name) == nl &&
				    strncmp(cmd->opts[k].name, name, nl) == 0)
					own = (int)k;
			}
			if (own < 0)
				return usage_error(cli, "unknown option %.64s", a);
			arg = cmd->opts[own].arg;
		}
		if (arg == NULL && value != NULL)
			return usage_error(cli, "option %.64s takes no value", a);
		if (arg != NULL && value == NULL) {
			if (i + 1 >= argc)
				return usage_error(cli, "option %.64s needs a value", a);
			value = argv[++i];
		}
		if (g != NULL) {
			if (strcmp(g->name, "help") == 0) {
				cli_usage(cmd, stdout);
				return -1;
			} else if (strcmp(g->name, "json") == 0) {
				cli->json = true;
			} else if (strcmp(g->name, "node") == 0) {
				if (cli->nnodes == WALLET_NODES_MAX)
					return usage_error(cli, "at most 8 --node%s", "");
				cli->nodes[cli->nnodes++] = value;
			} else if (strcmp(g->name, "key") == 0) {
				cli->key.name = value;
			} else if (strcmp(g->name, "keystore") == 0) {
				cli->key.keystore = value;
			} else if (strcmp(g->name, "passphrase-file") == 0) {
				cli->key.passfile = value;
			} else if (strcmp(g->name, "no-wait") == 0) {
				cli->no_wait = true;
			} else if (strcmp(g->name, "timeout-ms") == 0) {
				char *end;
				errno = 0;
				unsigned long v = strtoul(value, &end, 10);
				if (errno || *end || end == value || value[0] == '-' || v == 0 ||
				    v > WALLET_HTTP_TIMEOUT_MS_MAX)
					return usage_error(cli, "--timeout-ms %.32s: milliseconds, 1 to "
								"600000",
							   value);
				cli->timeout_ms = (uint32_t)v;
			} else {
				char *end;
				errno = 0;
				unsigned long v = strtoul(value, &end, 10);
				if (errno || *end || end == value || value[0] == '-' ||
				    v > LIM_HTTP_WAIT_MS_MAX * 10ul)
					return usage_error(cli, "--wait-ms %.32s: milliseconds, at most "
								"600000",
							   value);
				cli->wait_ms = (uint32_t)v;
			}
			continue;
		}
		if (cli->nval[own] > 0 && !cmd->opts[own].repeat)
			return usage_error(cli, "option --%.64s given twice", cmd->opts[own].name);
		if (cli->nval[own] == CLI_REPEAT_MAX)
			return usage_error(cli, "option --%.64s given too often", cmd->opts[own].name);
		cli->val[own][cli->nval[own]++] = arg ? value : "";
	}
	if (cli->npos < cmd->min_pos)
		return usage_error(cli, "missing argument: %s", cmd->args);
	if (cli->key.name != NULL && cli->key.keystore != NULL)
		return usage_error(cli, "give --key or --keystore, not both%s", "");
	return 0;
}

void cli_free(wallet_cli *cli)
{
	json_decref(cli->jout);
	json_decref(cli->jerr);
	cli->jout = cli->jerr = NULL;
	wallet_node_free(cli->node);
	cli->node = NULL;
	for (unsigned i = 0; i < CLI_BLOCK_CACHE; i++) {
		json_decref(cli->block[i]);
		cli->block[i] = NULL;
	}
}

static int opt_index(const wallet_cli *cli, const char *name)
{
	for (unsigned k = 0; k < CLI_OPTS_MAX && cli->cmd->opts[k].name; k++)
		if (strcmp(cli->cmd->opts[k].name, name) == 0)
			return (int)k;
	/* Asking for an option the command does not declare is our bug. */
	fprintf(stderr, "carbon-wallet: internal error: option --%s not declared\n", name);
	abort();
}

const char *cli_opt(const wallet_cli *cli, const char *name)
{
	int k = opt_index(cli, name);
	return cli->nval[k] ? cli->val[k][cli->nval[k] - 1] : NULL;
}

bool cli_flag(const wallet_cli *cli, const char *name)
{
	return cli->nval[opt_index(cli, name)] > 0;
}

unsigned cli_opt_all(const wallet_cli *cli, const char *name, const char *const **vals)
{
	int k = opt_index(cli, name);
	*vals = cli->val[k];
	return cli->nval[k];
}

/* The error line, and with --json the error object with the fields of st
 * (the transaction's hash, state and, once committed, block and result) so
 * that a script can follow up without parsing text. */
__attribute__((format(printf, 4, 0))) static int fail_v(wallet_cli *cli, int code,
							 const wallet_tx_status *st,
							 const char *fmt, va_list ap)
{
	char text[1024];
	vsnprintf(text, sizeof text, fmt, ap);
	fprintf(stderr, "carbon-wallet %s: %s\n", cli->cmd->name, text);
	/* The first error is the one found where it happened; callers that
	 * add context do not replace it. */
	if (cli->json && cli->jerr == NULL) {
		json_t *o = json_pack("{s:s}", "error", text);
		if (o != NULL && st != NULL) {
			static const char *const state[] = {NULL, "committed", "pending", "refused",
							    "dropped"};
			json_object_set_new(o, "tx", cli_jhash(st->hash));
			if (st->state >= WALLET_TX_COMMITTED && st->state <= WALLET_TX_DROPPED)
				json_object_set_new(o, "status", json_string(state[st->state]));
			if (st->state == WALLET_TX_COMMITTED) {
				json_object_set_new(o, "height", json_integer((json_int_t)st->height));
				json_object_set_new(o, "code", json_integer(st->code));
				json_object_set_new(o, "result",
						    json_string(ledger_result_str(st->code)));
			}
			if (st->state == WALLET_TX_REFUSED)
				json_object_set_new(o, "refusal", json_string(st->error));
		}
		cli->jerr = o;
	}
	return code;
}

int cli_fail(wallet_cli *cli, int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int rc = fail_v(cli, code, NULL, fmt, ap);
	va_end(ap);
	return rc;
}

__attribute__((format(printf, 4, 5))) static int fail_tx(wallet_cli *cli, int code,
							  const wallet_tx_status *st,
							  const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int rc = fail_v(cli, code, st, fmt, ap);
	va_end(ap);
	return rc;
}

int cli_exit_of(int rc)
{
	switch (rc) {
	case WALLET_E_CONNECT:
	case WALLET_E_TIMEOUT:
	case WALLET_E_HTTP:
	case WALLET_E_TOO_BIG:
	case WALLET_E_JSON:
	case WALLET_E_VALSET_GAP:             /* unavailable, not disproved */
	case WALLET_E_UNCERTIFIED:
		return WALLET_EXIT_NETWORK;
	case WALLET_E_VERIFY:
		return WALLET_EXIT_VERIFY;
	case WALLET_E_NO_PASSPHRASE:
	case WALLET_E_PASS_MISMATCH:
	case WALLET_E_NO_HOME:
		return WALLET_EXIT_KEY;
	case WALLET_E_KEY_NAME:               /* a mistyped argument */
	case WALLET_E_AMOUNT:
	case WALLET_E_AMOUNT_DECIMALS:
	case WALLET_E_AMOUNT_NEGATIVE:
	case WALLET_E_AMOUNT_RANGE:
	case WALLET_E_TIME:
	case WALLET_E_TIME_ZONE:
	case WALLET_E_DATE:
	case WALLET_E_CSV:
	case WALLET_E_URL:
	case WALLET_E_PROPOSAL:
	case WALLET_E_METHODOLOGY:
		return WALLET_EXIT_USAGE;
	default:
		break;
	}
	if (rc <= -100 && rc > -200)   /* crypto/: keystore and key codes */
		return WALLET_EXIT_KEY;
	return WALLET_EXIT_REJECTED;
}

int cli_node(wallet_cli *cli, wallet_node **nd)
{
	if (cli->node == NULL) {
		const char *urls[WALLET_NODES_MAX];
		size_t n = cli->nnodes;
		memcpy(urls, cli->nodes, n * sizeof urls[0]);
		const char *env = getenv("CARBON_NODE");
		if (n == 0)
			urls[n++] = env && env[0] ? env : CLI_DEFAULT_NODE;
		int rc = wallet_node_new(&cli->node, urls, n, cli->msg, sizeof cli->msg);
		if (rc != 0)
			return cli_fail(cli, WALLET_EXIT_USAGE, "%s", cli->msg);
		if (cli->timeout_ms != 0)
			wallet_node_set_timeout(cli->node, cli->timeout_ms);
	}
	*nd = cli->node;
	return 0;
}

int cli_net_fail(wallet_cli *cli, int rc, const char *doing)
{
	const char *sep = doing ? ": " : "";
	doing = doing ? doing : "";
	switch (rc) {
	case WALLET_E_CONNECT:
		return cli_fail(cli, WALLET_EXIT_NETWORK,
				"%s%scannot reach any node (%s); start one or give --node URL", doing,
				sep, cli->msg);
	case WALLET_E_TIMEOUT:
		return cli_fail(cli, WALLET_EXIT_NETWORK,
				"%s%sno node answered in time (%s): a node that accepts connections "
				"but does not answer is overloaded or stuck; give another --node URL, "
				"or a longer --timeout-ms if the node is only slow",
				doing, sep, cli->msg);
	case WALLET_E_HTTP:
	case WALLET_E_TOO_BIG:
		return cli_fail(cli, WALLET_EXIT_NETWORK,
				"%s%sno usable answer (%s); is --node the API address of a "
				"carbon-node? Give another --node URL",
				doing, sep, cli->msg);
	default:
		return cli_fail(cli, cli_exit_of(rc), "%s%s%s", doing, sep, cli->msg);
	}
}

static int net_fail(wallet_cli *cli, int rc)
{
	return cli_net_fail(cli, rc, NULL);
}

int cli_chain_id(wallet_cli *cli, const char **chain_id)
{
	if (cli->chain_id[0] == '\0') {
		wallet_node *nd;
		int rc = cli_node(cli, &nd);
		if (rc != 0)
			return rc;
		rc = wallet_get_chain_id(nd, cli->chain_id, cli->msg, sizeof cli->msg);
		if (rc != 0)
			return net_fail(cli, rc);
	}
	*chain_id = cli->chain_id;
	return 0;
}

static int key_fail(wallet_cli *cli, int rc)
{
	char path[WALLET_PATH_BYTES_MAX] = "";
	if (wallet_key_path(&cli->key, path, sizeof path) != 0)
		snprintf(path, sizeof path, "the keystore");
	switch (rc) {
	case CK_E_IO:
		return cli_fail(cli, WALLET_EXIT_KEY,
				"cannot read %s (%s): create a key with 'carbon-wallet new', "
				"or choose one with --key NAME or --keystore PATH",
				path, strerror(errno));
	case CK_E_PASSPHRASE:
		return cli_fail(cli, WALLET_EXIT_KEY,
				"wrong passphrase for %s: check --passphrase-file or "
				"CARBON_PASSPHRASE",
				path);
	case WALLET_E_NO_PASSPHRASE:
		return cli_fail(cli, WALLET_EXIT_KEY,
				"%s needs a passphrase: give --passphrase-file FILE, set "
				"CARBON_PASSPHRASE, or run on a terminal",
				path);
	case WALLET_E_IO:
		return cli_fail(cli, WALLET_EXIT_KEY, "cannot read the passphrase file %s: %s",
				cli->key.passfile ? cli->key.passfile : "", strerror(errno));
	case WALLET_E_KEY_NAME:
		return cli_fail(cli, WALLET_EXIT_USAGE, "key \"%.64s\": %s (see 'carbon-wallet list')",
				cli->key.name ? cli->key.name : "", wallet_strerror(rc));
	default:
		return cli_fail(cli, cli_exit_of(rc), "%s: %s", path, wallet_strerror(rc));
	}
}

int cli_load_key(wallet_cli *cli, ck_pubkey pk, uint8_t **sk)
{
	int rc = wallet_key_load(&cli->key, pk, sk);
	return rc == 0 ? 0 : key_fail(cli, rc);
}

int cli_key_pubkey(wallet_cli *cli, ck_pubkey pk)
{
	int rc = wallet_key_pubkey(&cli->key, pk);
	return rc == 0 ? 0 : key_fail(cli, rc);
}

int cli_address(wallet_cli *cli, const char *s, const char *what, ck_pubkey out)
{
	int rc = ck_address_decode(out, s);
	if (rc != 0)
		return cli_fail(cli, WALLET_EXIT_USAGE, "%s \"%.70s\": %s", what, s, ck_strerror(rc));
	return 0;
}

int cli_address_or_key(wallet_cli *cli, const char *s, const char *what, ck_pubkey out)
{
	if (strncmp(s, "cb1", 3) != 0 && strncmp(s, "CB1", 3) != 0 && wallet_key_name_check(s) == 0) {
		wallet_keyref k = {s, NULL, NULL};
		if (wallet_key_pubkey(&k, out) == 0)
			return 0;
		return cli_fail(cli, WALLET_EXIT_USAGE,
				"%s \"%.70s\": neither an address nor a key in the wallet "
				"(see 'carbon-wallet list')",
				what, s);
	}
	return cli_address(cli, s, what, out);
}

int cli_hash(wallet_cli *cli, const char *s, const char *what, ck_hash out)
{
	if (strlen(s) != 2 * CK_HASH_BYTES || cm_hex_decode(out, CK_HASH_BYTES, s, strlen(s)) != 0)
		return cli_fail(cli, WALLET_EXIT_USAGE, "%s \"%.70s\": expected 64 hex digits", what,
				s);
	return 0;
}

int cli_u64(wallet_cli *cli, const char *s, const char *what, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;
	bool ok = s[0] != '\0';
	for (const char *p = s; ok && *p; p++) {
		ok = *p >= '0' && *p <= '9' && v <= (max - (uint64_t)(*p - '0')) / 10;
		if (ok)
			v = v * 10 + (uint64_t)(*p - '0');
	}
	if (!ok)
		return cli_fail(cli, WALLET_EXIT_USAGE, "%s \"%.40s\": expected a whole number 0..%llu",
				what, s, (unsigned long long)max);
	*out = v;
	return 0;
}

int cli_amount(wallet_cli *cli, const char *s, const char *what, bool positive, uint64_t *grams)
{
	int rc = wallet_amount_parse(s, grams);
	if (rc != 0)
		return cli_fail(cli, WALLET_EXIT_USAGE, "%s \"%.40s\": %s", what, s, wallet_strerror(rc));
	if (positive && *grams == 0)
		return cli_fail(cli, WALLET_EXIT_USAGE, "%s must be more than 0 (at least 0.001 kg)",
				what);
	return 0;
}

int cli_tx_new(wallet_cli *cli, uint8_t kind, uint32_t ntrips, const ck_pubkey pk,
	       ledger_tx **out)
{
	const char *chain = NULL;
	wallet_node *nd;
	wallet_account acct;
	int rc = cli_chain_id(cli, &chain);
	if (rc != 0)
		return rc;
	if ((rc = cli_node(cli, &nd)) != 0)
		return rc;
	rc = wallet_get_account(nd, pk, &acct, cli->msg, sizeof cli->msg);
	if (rc != 0)
		return net_fail(cli, rc);
	ledger_tx *tx;
	if ((rc = ledger_tx_new(&tx, kind, ntrips)) != 0)
		return cli_fail(cli, WALLET_EXIT_REJECTED, "%s", ledger_strerror(rc));
	snprintf(tx->chain_id, sizeof tx->chain_id, "%s", chain);
	memcpy(tx->sender, pk, CK_PUBKEY_BYTES);
	tx->nonce = acct.nonce;
	*out = tx;
	return 0;
}

/* What to do about a refusal of the mempool, by its machine reason. */
static const char *refusal_hint(const char *err)
{
	static const struct {
		const char *err, *hint;
	} hints[] = {
		{"role", "this key's member lacks the role: check 'carbon-wallet balance' for its roles"},
		{"nonce_used", "another transaction of this key committed meanwhile: run the command again"},
		{"nonce_pending", "another transaction of this key is pending: wait for it, then retry"},
		{"nonce_too_high", "too many transactions of this key are pending: wait, then retry"},
		{"mempool_full", "the node is busy: retry in a few seconds"},
		{"sender_full", "too many transactions of this key are pending: wait, then retry"},
		{"trip_credited", "a trip of the batch is already credited"},
		{"bad_signature", "the key does not match the chain: check --node and --key"},
		{"wrong_chain", "the node serves another chain: check --node"},
	};
	for (size_t i = 0; i < sizeof hints / sizeof hints[0]; i++)
		if (strcmp(hints[i].err, err) == 0)
			return hints[i].hint;
	return "see the node's message";
}

/* What to do about a committed transaction's failed rule, where the
 * ledger's reason alone does not say it. */
static const char *result_hint(uint8_t code)
{
	switch (code) {
	case LEDGER_R_METHODOLOGY:
		return ": a methodology change needs the next version number and an effective "
		       "height above the block that commits it; fix the file and propose again";
	case LEDGER_R_THRESHOLD:
		return ": collect more governors' approvals with 'carbon-wallet govern sign'";
	default:
		return "";
	}
}

int cli_submit(wallet_cli *cli, ledger_tx *tx, const uint8_t *sk, const char *what,
	       wallet_tx_status *st)
{
	wallet_node *nd;
	int rc = cli_node(cli, &nd);
	if (rc != 0)
		return rc;
	/* The node may hold the answer until the transaction commits, but
	 * only for half of our timeout: a node that holds it longer is taken
	 * for stuck and the next one is tried, and the rest of the wait is
	 * spent following the transaction. */
	uint32_t wait = cli->no_wait ? 0 : cli->wait_ms;
	if (wait > LIM_HTTP_WAIT_MS_MAX)
		wait = LIM_HTTP_WAIT_MS_MAX;
	if (wait > wallet_node_timeout(nd) / 2)
		wait = wallet_node_timeout(nd) / 2;
	uint64_t start = wallet_now_ms();
	rc = wallet_tx_submit(nd, tx, sk, wait, st, cli->msg, sizeof cli->msg);
	if (rc != 0)
		return net_fail(cli, rc);
	if (st->state == WALLET_TX_PENDING && !cli->no_wait) {
		/* The node waits at most LIM_HTTP_WAIT_MS_MAX; follow the rest. */
		uint64_t spent = wallet_now_ms() - start;
		uint32_t left = spent >= cli->wait_ms ? 0 : (uint32_t)(cli->wait_ms - spent);
		if (left > 0 && (rc = wallet_tx_follow(nd, st->hash, left, st, cli->msg,
							 sizeof cli->msg)) != 0)
			return net_fail(cli, rc);
	}
	char hex[2 * CK_HASH_BYTES + 1];
	cm_hex_encode(hex, st->hash, CK_HASH_BYTES);
	switch (st->state) {
	case WALLET_TX_COMMITTED:
		if (st->code == LEDGER_R_OK || (st->code == LEDGER_R_PARTIAL))
			return 0;
		return fail_tx(cli, WALLET_EXIT_REJECTED, st,
			       "%s rejected in block %llu: %s (transaction %s)%s", what,
			       (unsigned long long)st->height, ledger_result_str(st->code), hex,
			       result_hint(st->code));
	case WALLET_TX_PENDING:
		if (cli->no_wait)
			return 0;
		return fail_tx(cli, WALLET_EXIT_REJECTED, st,
			       "%s not committed after %u ms; it is still pending: check later "
			       "with 'carbon-wallet tx %s'",
			       what, cli->wait_ms, hex);
	case WALLET_TX_DROPPED:
		return fail_tx(cli, WALLET_EXIT_REJECTED, st, "%s dropped: %s; run the command again",
			       what, st->message);
	case WALLET_TX_REFUSED:
		return fail_tx(cli, WALLET_EXIT_REJECTED, st, "%s refused by %s: %s (%s)", what,
			       wallet_node_url(nd), st->message, refusal_hint(st->error));
	}
	return WALLET_EXIT_REJECTED;
}

void cli_print_status(wallet_cli *cli, const wallet_tx_status *st, json_t *o)
{
	char hex[2 * CK_HASH_BYTES + 1];
	cm_hex_encode(hex, st->hash, CK_HASH_BYTES);
	if (o != NULL) {
		json_object_set_new(o, "tx", json_string(hex));
		json_object_set_new(o, "status", json_string(st->state == WALLET_TX_COMMITTED
								     ? "committed"
								     : "pending"));
		if (st->state == WALLET_TX_COMMITTED) {
			json_object_set_new(o, "height", json_integer((json_int_t)st->height));
			json_object_set_new(o, "code", json_integer(st->code));
			json_object_set_new(o, "result", json_string(ledger_result_str(st->code)));
		}
		return;
	}
	(void)cli;
	if (st->state == WALLET_TX_COMMITTED)
		printf("committed in block %llu: %s\ntransaction %s\n", (unsigned long long)st->height,
		       ledger_result_str(st->code), hex);
	else
		printf("submitted, pending (not waiting): see 'carbon-wallet tx %s'\ntransaction %s\n",
		       hex, hex);
}

void cli_json(wallet_cli *cli, json_t *o)
{
	/* json_pack returns NULL for a format that does not match its
	 * arguments: our bug, which must not pass as empty output. */
	if (o == NULL) {
		fprintf(stderr, "carbon-wallet %s: internal error: JSON output could not be built\n",
			cli->cmd->name);
		abort();
	}
	if (cli->jout == NULL) {
		cli->jout = o;
		return;
	}
	json_object_update(cli->jout, o);
	json_decref(o);
}

void cli_json_finish(wallet_cli *cli, int exit_code)
{
	if (!cli->json)
		return;
	json_t *o = cli->jout ? cli->jout : json_object();
	cli->jout = NULL;
	if (o == NULL) {
		fprintf(stderr, "carbon-wallet %s: out of memory\n", cli->cmd->name);
		return;
	}
	if (exit_code != 0 && cli->jerr != NULL)
		json_object_update(o, cli->jerr);
	else if (exit_code != 0)
		json_object_set_new(o, "error", json_string("failed (see the message on stderr)"));
	json_object_set_new(o, "ok", json_boolean(exit_code == 0));
	json_object_set_new(o, "exit_code", json_integer(exit_code));
	char *s = json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII);
	if (s == NULL) {
		fprintf(stderr, "carbon-wallet %s: out of memory\n", cli->cmd->name);
	} else {
		printf("%s\n", s);
		free(s);
	}
	json_decref(o);
}

json_t *cli_jaddr(const ck_pubkey pk)
{
	char a[CK_ADDRESS_STRLEN + 1];
	ck_address_encode(a, pk);
	return json_string(a);
}

json_t *cli_jhash(const ck_hash h)
{
	char hex[2 * CK_HASH_BYTES + 1];
	cm_hex_encode(hex, h, CK_HASH_BYTES);
	return json_string(hex);
}

json_t *cli_jkg(uint64_t grams)
{
	char s[WALLET_AMOUNT_STRLEN];
	wallet_amount_format(s, grams);
	return json_string(s);
}

int cli_get(wallet_cli *cli, const char *path, bool allow_404, int *status, json_t **j)
{
	wallet_node *nd;
	int rc = cli_node(cli, &nd);
	if (rc != 0)
		return rc;
	rc = wallet_node_get_json(nd, path, status, j, cli->msg, sizeof cli->msg);
	if (rc != 0)
		return net_fail(cli, rc);
	if (*status / 100 == 2 || (allow_404 && *status == 404))
		return 0;
	const char *m = wallet_json_str(*j, "message");
	int code = *status == 404 ? WALLET_EXIT_REJECTED
		 : *status / 100 == 4 ? WALLET_EXIT_USAGE
				      : WALLET_EXIT_NETWORK;
	rc = cli_fail(cli, code, "%s answered %d for %s: %s", wallet_node_url(nd), *status, path,
		      m ? m : "no message");
	json_decref(*j);
	*j = NULL;
	return rc;
}

bool cli_tty(void)
{
	return isatty(STDERR_FILENO);
}

const json_t *cli_block_tx(wallet_cli *cli, uint64_t height, uint32_t index, int *rc)
{
	json_t *b = NULL;
	*rc = 0;
	for (unsigned i = 0; i < CLI_BLOCK_CACHE && b == NULL; i++)
		if (cli->block[i] != NULL && cli->block_h[i] == height)
			b = cli->block[i];
	if (b == NULL) {
		char path[64];
		int status;
		snprintf(path, sizeof path, "/v1/block/%llu", (unsigned long long)height);
		if ((*rc = cli_get(cli, path, false, &status, &b)) != 0)
			return NULL;
		unsigned slot = cli->block_next++ % CLI_BLOCK_CACHE;
		json_decref(cli->block[slot]);
		cli->block[slot] = b;
		cli->block_h[slot] = height;
	}
	const json_t *tx = json_array_get(json_object_get(b, "txs"), index);
	if (!json_is_object(tx)) {
		*rc = cli_fail(cli, WALLET_EXIT_NETWORK, "block %llu from %s has no transaction %u",
			       (unsigned long long)height, wallet_node_url(cli->node), index);
		return NULL;
	}
	return tx;
}
