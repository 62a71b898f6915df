/*
 * Inside the wallet: what every command file shares. A command is a
 * wallet_cmd (name, handler, help, options); wallet/main.c holds the table.
 * The parser gives each command its positional arguments and options plus
 * the global ones (--node, --json, --help, and for commands that use them
 * the key and transaction options). Helpers print errors once, with what
 * to do, and map every failure to a documented exit code.
 */
#ifndef CARBON_WALLET_CLI_H
#define CARBON_WALLET_CLI_H

#include <stdio.h>

#include "wallet/http_internal.h"

#define CLI_OPTS_MAX 24u
#define CLI_REPEAT_MAX 16u
#define CLI_POS_MAX 8u
#define CLI_DEFAULT_NODE "http://127.0.0.1:8600"
#define CLI_DEFAULT_WAIT_MS 30000u
#define CLI_BLOCK_CACHE 8u

typedef struct wallet_optdef {
	const char *name;                     /* long name without the dashes */
	const char *arg;                      /* metavariable; NULL for a flag */
	const char *help;
	bool repeat;                          /* may be given several times */
} wallet_optdef;

/* Which global option groups a command takes. */
enum cli_flags {
	CLI_NODE = 1u << 0,                   /* --node */
	CLI_KEY = 1u << 1,                    /* --key, --keystore, --passphrase-file */
	CLI_TX = 1u << 2,                     /* --no-wait, --wait-ms */
};

typedef struct wallet_cli wallet_cli;

typedef struct wallet_cmd {
	const char *name;
	int (*run)(wallet_cli *cli);          /* returns an exit code */
	const char *args;                     /* positional arguments, e.g. "TO AMOUNT" */
	const char *summary;                  /* one line for the command list */
	const char *details;                  /* paragraph for --help */
	unsigned flags;
	unsigned min_pos, max_pos;
	wallet_optdef opts[CLI_OPTS_MAX];     /* ends at the first empty name */
} wallet_cmd;

struct wallet_cli {
	const wallet_cmd *cmd;
	unsigned npos;
	const char *pos[CLI_POS_MAX];
	unsigned nval[CLI_OPTS_MAX];
	const char *val[CLI_OPTS_MAX][CLI_REPEAT_MAX];
	/* global options */
	size_t nnodes;
	const char *nodes[WALLET_NODES_MAX];
	bool json;
	bool no_wait;
	uint32_t wait_ms;
	uint32_t timeout_ms;                  /* --timeout-ms; 0: the default */
	wallet_keyref key;
	/* made on demand */
	wallet_node *node;
	char chain_id[LIM_CHAIN_ID_BYTES_MAX + 1];
	char msg[512];                        /* scratch for error texts */
	/* --json: the answer and the first error, printed by cli_json_finish */
	json_t *jout, *jerr;
	/* the last blocks fetched (JSON of GET /v1/block/{h}) */
	uint64_t block_h[CLI_BLOCK_CACHE];
	json_t *block[CLI_BLOCK_CACHE];
	unsigned block_next;
};

/* Parses argv (without the program and command names) for cmd; prints
 * usage and returns WALLET_EXIT_USAGE on a bad command line, -1 after
 * printing --help, 0 to run. */
int cli_parse(wallet_cli *cli, const wallet_cmd *cmd, int argc, char **argv);
void cli_free(wallet_cli *cli);
void cli_usage(const wallet_cmd *cmd, FILE *f);

/* The last value of an option (NULL if absent), whether a flag was given,
 * and every value of a repeatable option. */
const char *cli_opt(const wallet_cli *cli, const char *name);
bool cli_flag(const wallet_cli *cli, const char *name);
unsigned cli_opt_all(const wallet_cli *cli, const char *name, const char *const **vals);

/* Prints "carbon-wallet CMD: <text>" on stderr and returns code. With
 * --json the first error is kept for cli_json_finish (its text, and the
 * transaction's fields for a failed submission). */
__attribute__((format(printf, 3, 4))) int cli_fail(wallet_cli *cli, int code, const char *fmt,
						   ...);
/* The exit code a wallet/ledger/crypto error code calls for. */
int cli_exit_of(int rc);
/* A failed request to the nodes (rc of wallet_node_request and the calls
 * built on it; cli->msg holds its message, which names each node and what
 * happened): says it once, with what to do, prefixed by doing (may be
 * NULL), and returns the exit code. */
int cli_net_fail(wallet_cli *cli, int rc, const char *doing);

/* The node connection (made on first use from --node, $CARBON_NODE or the
 * default). 0 or an exit code (after printing). */
int cli_node(wallet_cli *cli, wallet_node **nd);
/* The chain id the node serves, fetched once. */
int cli_chain_id(wallet_cli *cli, const char **chain_id);
/* Loads the command's key (asks for the passphrase). *sk sodium_malloc'd. */
int cli_load_key(wallet_cli *cli, ck_pubkey pk, uint8_t **sk);
/* Public key of the command's key, no passphrase. */
int cli_key_pubkey(wallet_cli *cli, ck_pubkey pk);
/* An address argument (named what for errors). */
int cli_address(wallet_cli *cli, const char *s, const char *what, ck_pubkey out);
/* An address argument, or the name of a key in the wallet (its address). */
int cli_address_or_key(wallet_cli *cli, const char *s, const char *what, ck_pubkey out);
/* A 64-hex-digit hash argument. */
int cli_hash(wallet_cli *cli, const char *s, const char *what, ck_hash out);
/* An unsigned decimal argument <= max. */
int cli_u64(wallet_cli *cli, const char *s, const char *what, uint64_t max, uint64_t *out);
/* An amount in kg; positive if required. */
int cli_amount(wallet_cli *cli, const char *s, const char *what, bool positive, uint64_t *grams);

/* A new transaction of kind from pk on the node's chain, nonce from the
 * node (pending-aware). */
int cli_tx_new(wallet_cli *cli, uint8_t kind, uint32_t ntrips, const ck_pubkey pk,
	       ledger_tx **tx);
/* Signs, submits and follows tx as --no-wait/--wait-ms say; fills st.
 * Returns 0 if committed with LEDGER_R_OK (or admitted, with --no-wait),
 * else prints why and returns the exit code. what names the action. */
int cli_submit(wallet_cli *cli, ledger_tx *tx, const uint8_t *sk, const char *what,
	       wallet_tx_status *st);
/* Prints a committed or pending status line (or JSON fields into o, if
 * not NULL). */
void cli_print_status(wallet_cli *cli, const wallet_tx_status *st, json_t *o);

/* JSON output. A command hands its answer to cli_json (which takes the
 * reference; a second answer is merged into the first); main calls
 * cli_json_finish once the command returned, which prints exactly one
 * object on stdout: the answer (or {}) with "ok" (exit code 0),
 * "exit_code" and, after a failure, "error" and the failed transaction's
 * fields. So a script always reads one object, also when a command failed
 * half-way after building part of its answer. o == NULL (json_pack given
 * a format that does not match its arguments) is our bug: abort. */
void cli_json(wallet_cli *cli, json_t *o);
void cli_json_finish(wallet_cli *cli, int exit_code);
/* A JSON string of an address / hex hash / kg amount. */
json_t *cli_jaddr(const ck_pubkey pk);
json_t *cli_jhash(const ck_hash h);
json_t *cli_jkg(uint64_t grams);

/* GET path as JSON; non-2xx answers print the node's message and return
 * the exit code (404 included unless allow_404). */
int cli_get(wallet_cli *cli, const char *path, bool allow_404, int *status, json_t **j);

/* Transaction index of the block at height, as GET /v1/block/{h} shows it
 * (kind, sender, fields, code, trip_codes); a borrowed pointer valid until
 * the cache evicts the block (CLI_BLOCK_CACHE later fetches). NULL after
 * printing why (*rc is the exit code). */
const json_t *cli_block_tx(wallet_cli *cli, uint64_t height, uint32_t index, int *rc);

/* Prints the receipt of a redeem transaction (offer, citizen, price paid,
 * block, refunded or not), reading the transaction, its block, the offer
 * and the citizen's history. 0 or the exit code (after printing). */
int cli_receipt_show(wallet_cli *cli, const ck_hash id);

/* True if stderr is a terminal (progress output). */
bool cli_tty(void);

#endif
