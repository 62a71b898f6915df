/*
 * wallet: the library behind carbon-wallet, the command line of citizens,
 * operators, merchants, banks and governors (docs/WALLET.md). What lives
 * here is everything a command needs that is worth testing on its own:
 * exact amounts in grams, times, the trip CSV reader, green tiers, a small
 * blocking HTTP/1.1 client with fail-over between nodes, keystores and
 * passphrases, transaction submission, governance proposal files, and the
 * light client that verifies a balance proof offline against the genesis.
 * The commands themselves are wallet/cmd_<name>.c; wallet/main.c is only
 * their table.
 *
 * Integers only: amounts are uint64 grams, shown as kilograms with three
 * decimals computed by integer division. Nothing here trusts a node for
 * what it verifies: a proof is checked against the genesis validators and
 * every validator-set change after them, each certified by the set before.
 *
 * Ownership: functions that allocate say so; x_free(NULL) is a no-op.
 * Nothing here is thread-safe; carbon-wallet is single-threaded.
 */
#ifndef CARBON_WALLET_H
#define CARBON_WALLET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include "common/cm.h"
#include "common/limits.h"
#include "consensus/cons.h"
#include "crypto/ck.h"
#include "ledger/ledger.h"

#define WALLET_WUR __attribute__((warn_unused_result))

/* ---- errors (-500..-599) ------------------------------------------------ */
#define WALLET_ERRORS(X)                                                                  \
	X(WALLET_E_AMOUNT,         -500, "amount must be kilograms with at most three decimals, e.g. 1.5 or 0.001") \
	X(WALLET_E_AMOUNT_DECIMALS,-501, "amount has more than three decimals (the smallest unit is 0.001 kg = 1 g)") \
	X(WALLET_E_AMOUNT_NEGATIVE,-502, "amount must not be negative")                    \
	X(WALLET_E_AMOUNT_RANGE,   -503, "amount is too large")                             \
	X(WALLET_E_TIME,           -504, "time must be Unix seconds or ISO-8601 UTC, e.g. 2026-03-01T08:15:00Z") \
	X(WALLET_E_TIME_ZONE,      -505, "time must be in UTC (end it with Z or +00:00)")  \
	X(WALLET_E_DATE,           -506, "date must be YYYY-MM-DD")                         \
	X(WALLET_E_CSV,            -507, "trip file is not a valid CSV with the expected header") \
	X(WALLET_E_URL,            -508, "node URL must be http://HOST:PORT")               \
	X(WALLET_E_CONNECT,        -509, "cannot connect to the node")                      \
	X(WALLET_E_TIMEOUT,        -510, "the node did not answer in time")                 \
	X(WALLET_E_HTTP,           -511, "malformed HTTP response from the node")           \
	X(WALLET_E_TOO_BIG,        -512, "response from the node is above the size limit")   \
	X(WALLET_E_JSON,           -513, "unexpected JSON from the node")                   \
	X(WALLET_E_NOMEM,          -514, "out of memory")                                   \
	X(WALLET_E_IO,             -515, "file input/output error")                          \
	X(WALLET_E_NO_PASSPHRASE,  -516, "no passphrase: use --passphrase-file, CARBON_PASSPHRASE or a terminal") \
	X(WALLET_E_PASS_MISMATCH,  -517, "the two passphrases differ")                      \
	X(WALLET_E_KEY_NAME,       -518, "key name must be 1..64 characters of a-z, 0-9, -, _") \
	X(WALLET_E_NO_HOME,        -519, "HOME is not set: use --keystore PATH")            \
	X(WALLET_E_VERIFY,         -520, "verification failed")                             \
	X(WALLET_E_VALSET_GAP,     -521, "cannot verify: a validator set the chain announced is not available from any node") \
	X(WALLET_E_PROPOSAL,       -522, "governance proposal file is invalid")             \
	X(WALLET_E_METHODOLOGY,    -523, "methodology file is invalid")                     \
	X(WALLET_E_UNCERTIFIED,    -524, "the node has no certified header for this proof yet")

enum wallet_err {
#define WALLET_ENUM(name, val, msg) name = val,
	WALLET_ERRORS(WALLET_ENUM)
#undef WALLET_ENUM
};
/* Describes wallet codes; defers to cons_strerror()/ledger_strerror() (and
 * through them to crypto and common) for the others. */
const char *wallet_strerror(int rc);

/* Exit codes of carbon-wallet (docs/WALLET.md, "Exit codes"). */
enum wallet_exit {
	WALLET_EXIT_OK = 0,
	WALLET_EXIT_REJECTED = 1,   /* a transaction was rejected or failed */
	WALLET_EXIT_USAGE = 2,      /* bad command line or input file */
	WALLET_EXIT_NETWORK = 3,    /* no node reachable or a malformed answer */
	WALLET_EXIT_VERIFY = 4,     /* a proof or a check did not verify */
	WALLET_EXIT_KEY = 5,        /* keystore or passphrase problem */
};

/* ---- limits of the wallet (local, not consensus) ------------------------ */
#define WALLET_NODES_MAX            8u          /* --node given repeatedly */
#define WALLET_URL_BYTES_MAX        256u
/* A block of LIM_BLOCK_BYTES_MAX as decoded JSON is several times its
 * bytes; this bounds what one answer may make us allocate. */
#define WALLET_HTTP_RESPONSE_MAX    (256u * 1024u * 1024u)
#define WALLET_HTTP_CONNECT_MS      3000u
/* How long one node may take to answer a request (--timeout-ms), connect
 * included, before the next --node is tried; a submission that asks the
 * node to wait for its commit (wait_ms) gets that much more. */
#define WALLET_HTTP_TIMEOUT_MS      10000u
#define WALLET_HTTP_TIMEOUT_MS_MAX  600000u
#define WALLET_CSV_BYTES_MAX        (512u * 1024u * 1024u)
#define WALLET_CSV_ROWS_MAX         2000000u
#define WALLET_CSV_FIELD_BYTES_MAX  256u
/* One record (a line, or several with quoted line breaks): six fields of
 * WALLET_CSV_FIELD_BYTES_MAX with quotes fit many times over. */
#define WALLET_CSV_RECORD_BYTES_MAX (16u * 1024u)
#define WALLET_PASS_BYTES_MAX       1024u
#define WALLET_PATH_BYTES_MAX       4096u

/* ---- amounts ------------------------------------------------------------ */

/* "-9223372036854775.807" and a NUL fit. */
#define WALLET_AMOUNT_STRLEN 24u

/* Parses kilograms with at most three decimals ("1.5", "0.001", "12") into
 * exact grams. Digits only, an optional '.' followed by 1..3 digits; no
 * sign, exponent, space or thousands separator. The result is at most
 * INT64_MAX grams (the ledger's bound). WALLET_E_AMOUNT,
 * WALLET_E_AMOUNT_DECIMALS, WALLET_E_AMOUNT_NEGATIVE, WALLET_E_AMOUNT_RANGE;
 * *grams is written only on success. Zero parses (callers that need a
 * positive amount say so). */
WALLET_WUR int wallet_amount_parse(const char *s, uint64_t *grams);
/* "1.500": grams as kilograms with three decimals. */
void wallet_amount_format(char out[WALLET_AMOUNT_STRLEN], uint64_t grams);
/* "+1.500" or "-0.001" (a balance change). */
void wallet_delta_format(char out[WALLET_AMOUNT_STRLEN], int64_t delta_g);

/* ---- times and dates ---------------------------------------------------- */

#define WALLET_TIME_STRLEN 21u   /* "2026-03-01T08:15:00Z", or "<seconds>s" */
#define WALLET_TIME_MAX_S  253402300799ull  /* 9999-12-31T23:59:59Z */

/* Unix seconds (decimal digits, at most WALLET_TIME_MAX_S) or ISO-8601 UTC "YYYY-MM-DDTHH:MM:SS"
 * (a space instead of T is accepted) followed by "Z" or "+00:00", years
 * 1970..9999. WALLET_E_TIME, or WALLET_E_TIME_ZONE for another offset. */
WALLET_WUR int wallet_time_parse(const char *s, uint64_t *unix_s);
void wallet_time_format(char out[WALLET_TIME_STRLEN + 1], uint64_t unix_s);
/* "YYYY-MM-DD" (a real calendar date, 1970..9999) into days since
 * 1970-01-01. WALLET_E_DATE. */
WALLET_WUR int wallet_date_parse(const char *s, int64_t *days);
/* Days since 1970-01-01 of a civil date (proleptic Gregorian); pure
 * integer arithmetic, exposed for tests. */
int64_t wallet_days_from_civil(int64_t y, unsigned m, unsigned d);

/* ---- green tiers (../shared/DOMAIN.md: banks in Quzhou and Wendeng) ------ */

enum wallet_tier {
	WALLET_TIER_LIGHT = 1,      /* up to and including 50 kg */
	WALLET_TIER_MEDIUM = 2,     /* above 50 kg, up to and including 100 kg */
	WALLET_TIER_DEEP = 3,       /* above 100 kg */
};
#define WALLET_TIER_MEDIUM_ABOVE_G 50000u
#define WALLET_TIER_DEEP_ABOVE_G   100000u
enum wallet_tier wallet_tier_of(uint64_t balance_g);
/* "light green", "medium green", "deep green". */
const char *wallet_tier_name(enum wallet_tier t);

/* ---- trip files (CSV) --------------------------------------------------- */

/* One good row of a trip file (or one --trip argument). */
typedef struct wallet_trip_row {
	uint32_t line;                        /* 1-based line where the row starts */
	char ref[LIM_NAME_BYTES_MAX + 1];     /* operator's record reference */
	ck_pubkey citizen;
	uint8_t mode;
	uint32_t distance_m;
	uint64_t start_s, end_s;
} wallet_trip_row;

/* One row that could not be read, with the reason, and its ref when that
 * field itself was readable ("" otherwise). */
typedef struct wallet_row_error {
	uint32_t line;
	char msg[192];
	char ref[LIM_NAME_BYTES_MAX + 1];
} wallet_row_error;

typedef struct wallet_trip_file {
	uint32_t nrows, nerrs;
	wallet_trip_row *rows;                /* owned */
	wallet_row_error *errs;               /* owned */
} wallet_trip_file;

/* Reads a trip CSV from a stream (RFC 4180: comma separated, fields
 * optionally quoted with "" for a quote inside, LF, CRLF or CR line
 * breaks, a UTF-8 byte-order mark skipped, blank lines ignored, spaces
 * around unquoted fields trimmed), one record at a time: memory holds the
 * rows kept and one record of at most WALLET_CSV_RECORD_BYTES_MAX. The
 * first record is the header and must name exactly the columns ref,
 * citizen, mode, distance_m, start, end in any order (case-insensitive).
 * Every later record becomes a row or a row error with its line number:
 * longer than the record limit, wrong field count, empty or over-long ref,
 * bad address, unknown mode, distance not a non-negative integer below
 * 2^32, malformed time. Business rules (minimum distance, speed, window,
 * caps, duplicates) are the ledger's and not checked here. Returns 0 with
 * *out filled (free with wallet_trip_file_free), or WALLET_E_CSV with the
 * reason in msg (missing or bad header, more than WALLET_CSV_BYTES_MAX
 * bytes or WALLET_CSV_ROWS_MAX rows or bad rows: nothing is cut short
 * silently), WALLET_E_IO (a read error), WALLET_E_NOMEM. */
WALLET_WUR int wallet_trips_read(FILE *f, wallet_trip_file *out, char *msg, size_t msglen);
/* The same from a buffer (tests, fuzzing). */
WALLET_WUR int wallet_trips_parse(const char *buf, size_t len, wallet_trip_file *out, char *msg,
				  size_t msglen);
/* Opens path and reads it with wallet_trips_read; a regular file above
 * WALLET_CSV_BYTES_MAX is refused by its size before anything is read.
 * WALLET_E_IO if it cannot be opened; msg names the file. */
WALLET_WUR int wallet_trips_load(const char *path, wallet_trip_file *out, char *msg,
				 size_t msglen);
/* One row in the fixed column order ref,citizen,mode,distance_m,start,end
 * (the --trip argument), with CSV quoting. 0 or WALLET_E_CSV with the
 * reason in msg. */
WALLET_WUR int wallet_trip_parse_one(const char *s, wallet_trip_row *out, char *msg,
				     size_t msglen);
void wallet_trip_file_free(wallet_trip_file *f);

/* ---- sample trip files --------------------------------------------------- */

/* A realistic day of trips for demos and tests: citizens (keys derived
 * from the seed, plus any extra addresses given, who make one trip in ten
 * between them) make sequences of
 * non-overlapping trips over the hours before now_s, with the mode mix,
 * distances and speeds of docs/WALLET.md ("Sample trips"); each trip goes
 * to the first operator allowed its mode. On top, per mille of the rows:
 * repeats of an earlier ref of the same operator (duplicates), trips of
 * another operator overlapping one the citizen already made, and trips too
 * fast for their mode; the ledger must reject those. Integer PRNG
 * (splitmix64): the same options give the same files. */
typedef struct wallet_sample_opts {
	uint64_t seed;
	uint64_t now_s;                       /* trips end before this */
	uint32_t hours;                       /* spread over this many hours (1..168) */
	uint32_t ncitizens;                   /* derived citizens (extra ones come on top) */
	uint32_t ntrips;                      /* good trips wanted */
	uint32_t dup_permille, overlap_permille, fast_permille;
	const ck_pubkey *extra;               /* may be NULL */
	uint32_t nextra;
} wallet_sample_opts;

/* One operator's output: its member name and modes (bit 1u << mode) in,
 * its CSV written to out, counts back. */
typedef struct wallet_sample_op {
	const char *name;
	uint32_t modes;
	FILE *out;
	uint32_t rows, dups, overlaps, fast;
	uint64_t by_mode[LEDGER_MODE_MAX + 1];
} wallet_sample_op;

/* Writes every operator's header and rows. Modes no operator may issue
 * are not generated; WALLET_E_CSV if no operator can issue walk, cycle,
 * bus or metro; WALLET_E_IO on a write error. */
WALLET_WUR int wallet_sample_write(const wallet_sample_opts *o, wallet_sample_op *ops,
				   uint32_t nops);

/* ---- HTTP client and nodes ---------------------------------------------- */

typedef struct wallet_http_resp {
	int status;                           /* HTTP status code */
	char *body;                           /* owned, NUL-terminated */
	size_t len;
} wallet_http_resp;
void wallet_http_resp_free(wallet_http_resp *r);

/* A node connection with fail-over: the URLs given (http://HOST:PORT,
 * optionally with a path prefix), tried in order. A keep-alive connection
 * to the current one is reused. The next URL is tried when a request was
 * not answered: the connection failed or timed out, the node closed it or
 * sent no byte of an answer within the timeout (a node that accepts
 * connections but is stuck), and, for a GET, also when an answer broke
 * off or was malformed. The one that answered stays current. A complete
 * answer, even an error status, is never retried elsewhere; nor is a POST
 * whose answer had begun (the node may have acted). Re-sending a POST
 * /v1/tx that got no answer is safe: a signed transaction commits at most
 * once (wallet_tx_post recognises its own transaction). */
typedef struct wallet_node wallet_node;

/* Copies the URLs (1..WALLET_NODES_MAX; checked: WALLET_E_URL with the bad
 * one named in msg). The timeout starts at WALLET_HTTP_TIMEOUT_MS. */
WALLET_WUR int wallet_node_new(wallet_node **out, const char *const *urls, size_t n, char *msg,
			       size_t msglen);
/* Per node and request, connect included (1..WALLET_HTTP_TIMEOUT_MS_MAX). */
void wallet_node_set_timeout(wallet_node *nd, uint32_t timeout_ms);
uint32_t wallet_node_timeout(const wallet_node *nd);
void wallet_node_free(wallet_node *nd);
/* The URL of the node that answered last (or will be tried first). */
const char *wallet_node_url(const wallet_node *nd);
/* How many URLs, which one is current, and making URL i (< count) the
 * one tried first; for asking every node in turn. */
size_t wallet_node_count(const wallet_node *nd);
size_t wallet_node_current(const wallet_node *nd);
void wallet_node_use(wallet_node *nd, size_t i);
/* Sends one request; body may be NULL for GET. The response (any status)
 * goes to *out. Each node gets the node's timeout plus extra_ms (a POST
 * that asks the node to wait). When no node answered: WALLET_E_TIMEOUT if
 * one of them timed out, else WALLET_E_CONNECT (or, for a GET that every
 * node answered badly, WALLET_E_HTTP / WALLET_E_TOO_BIG), with msg listing
 * each URL and what happened ("http://a: connection refused; http://b:
 * no answer within 10000 ms"). A POST whose answer broke off returns that
 * error for that node. WALLET_E_NOMEM. */
WALLET_WUR int wallet_node_request(wallet_node *nd, const char *method, const char *path,
				   const char *content_type, const void *body, size_t len,
				   uint32_t extra_ms, wallet_http_resp *out, char *msg,
				   size_t msglen);
/* GET path and parse a JSON object answer: *json (owned by the caller)
 * and *status. WALLET_E_JSON if the body is not a JSON object. */
WALLET_WUR int wallet_node_get_json(wallet_node *nd, const char *path, int *status,
				    json_t **json, char *msg, size_t msglen);

/* Parsers of a split URL (exposed for tests). */
typedef struct wallet_url {
	char host[128];
	uint16_t port;
	char prefix[128];                     /* "" or "/something", no trailing slash */
} wallet_url;
WALLET_WUR int wallet_url_parse(const char *s, wallet_url *out);

/* JSON fields the node writes: integers as JSON integers or, above
 * INT64_MAX, decimal strings; hashes and bytes as lower-case hex;
 * addresses as cb1... strings. Each returns 0 or WALLET_E_JSON (missing
 * field or wrong type). */
WALLET_WUR int wallet_json_u64(const json_t *o, const char *key, uint64_t *v);
WALLET_WUR int wallet_json_i64(const json_t *o, const char *key, int64_t *v);
WALLET_WUR int wallet_json_hash(const json_t *o, const char *key, ck_hash out);
WALLET_WUR int wallet_json_addr(const json_t *o, const char *key, ck_pubkey out);
/* Hex string field into a malloc'd buffer (*buf owned by the caller),
 * at most max bytes. */
WALLET_WUR int wallet_json_bytes(const json_t *o, const char *key, uint8_t **buf, size_t *len,
				 size_t max);
/* A string field or NULL. */
const char *wallet_json_str(const json_t *o, const char *key);

/* ---- keys ----------------------------------------------------------------- */

/* Where a command finds its key: --keystore PATH wins, else
 * $HOME/.config/carbon-wallet/<name>.key with name from --key (default
 * "default"). passfile is --passphrase-file (may be NULL). */
typedef struct wallet_keyref {
	const char *name;
	const char *keystore;
	const char *passfile;
} wallet_keyref;

/* $HOME/.config/carbon-wallet into out (size n). WALLET_E_NO_HOME,
 * WALLET_E_IO if it does not fit. */
WALLET_WUR int wallet_key_dir(char *out, size_t n);
/* 0 if name is a valid key name (the genesis member-name alphabet). */
WALLET_WUR int wallet_key_name_check(const char *name);
/* The keystore path a keyref designates. */
WALLET_WUR int wallet_key_path(const wallet_keyref *k, char *out, size_t n);
/* Reads a passphrase: first line of passfile, else $CARBON_PASSPHRASE,
 * else a prompt without echo on the terminal (asked twice if confirm).
 * *pass is sodium_malloc'd, NUL-terminated (free with sodium_free, which
 * zeroes it). WALLET_E_NO_PASSPHRASE, WALLET_E_PASS_MISMATCH, WALLET_E_IO,
 * WALLET_E_NOMEM. Never from the command line. */
WALLET_WUR int wallet_passphrase(const char *passfile, bool confirm, const char *prompt,
				 char **pass, size_t *len);
/* Decrypts the designated keystore: *sk sodium_malloc'd (sodium_free),
 * pk its public key. Codes of ck_keystore_read, or of wallet_passphrase. */
WALLET_WUR int wallet_key_load(const wallet_keyref *k, ck_pubkey pk, uint8_t **sk);
/* Public key of the designated keystore, no passphrase needed. */
WALLET_WUR int wallet_key_pubkey(const wallet_keyref *k, ck_pubkey pk);

/* ---- transactions ----------------------------------------------------- */

/* What GET /v1/account says of a key. */
typedef struct wallet_account {
	uint64_t balance_g;
	uint64_t nonce;                       /* next, counting pending txs */
	uint64_t committed_nonce;
	uint32_t member_id;                   /* 0: a citizen */
	uint32_t roles;
	char member[LIM_NAME_BYTES_MAX + 1];
} wallet_account;
WALLET_WUR int wallet_get_account(wallet_node *nd, const ck_pubkey key, wallet_account *out,
				  char *msg, size_t msglen);
/* The chain id the node serves (GET /v1/status). */
WALLET_WUR int wallet_get_chain_id(wallet_node *nd, char out[LIM_CHAIN_ID_BYTES_MAX + 1],
				   char *msg, size_t msglen);

/* Outcome of a submission. */
enum wallet_tx_state {
	WALLET_TX_COMMITTED = 1,              /* in a block; code says the result */
	WALLET_TX_PENDING = 2,                /* admitted, not committed (yet) */
	WALLET_TX_REFUSED = 3,                /* the mempool refused it: error says why */
	WALLET_TX_DROPPED = 4,                /* left the mempool uncommitted */
};
typedef struct wallet_tx_status {
	enum wallet_tx_state state;
	ck_hash hash;
	uint64_t height;
	uint32_t index;
	uint8_t code;                         /* enum ledger_result when committed */
	int http_status;
	char error[48];                       /* machine reason when refused */
	char message[192];                    /* the node's text when refused */
} wallet_tx_status;

/* Signs tx with sk as its sender (tx->sender must already be sk's key),
 * encodes it and POSTs it to /v1/tx?wait_ms=wait_ms (0: return once
 * admitted). 0 with *st filled for every answer of the node (committed,
 * pending, refused, dropped); a negative code only when no answer came. */
WALLET_WUR int wallet_tx_submit(wallet_node *nd, ledger_tx *tx, const uint8_t *sk,
				uint32_t wait_ms, wallet_tx_status *st, char *msg, size_t msglen);
/* POSTs already encoded, signed bytes; as wallet_tx_submit. */
WALLET_WUR int wallet_tx_post(wallet_node *nd, const uint8_t *tx, size_t len, uint32_t wait_ms,
			      wallet_tx_status *st, char *msg, size_t msglen);
/* GET /v1/tx/{hash}: committed (with location and code), pending, or
 * dropped (the node knows nothing of it). */
WALLET_WUR int wallet_tx_lookup(wallet_node *nd, const ck_hash hash, wallet_tx_status *st,
				char *msg, size_t msglen);
/* Polls wallet_tx_lookup until committed, dropped, or timeout_ms passed
 * (then PENDING). */
WALLET_WUR int wallet_tx_follow(wallet_node *nd, const ck_hash hash, uint32_t timeout_ms,
				wallet_tx_status *st, char *msg, size_t msglen);

/* ---- governance proposals ------------------------------------------------ */

/* A proposal file is JSON: {"format": "carbon-wallet-proposal/1",
 * "chain_id", "threshold" (0 if unknown), "summary", "tx": hex of the
 * govern transaction with its approvals and without sender signature,
 * "approvals": [addresses of the signers]}. The sender and nonce are
 * fixed when the proposal is written: an approval signs the whole signed
 * part of the transaction, sender and nonce included, so only the
 * proposing key can submit it, at that nonce. "summary" and "approvals"
 * are for people reading the file; readers trust only "tx" and regenerate
 * the summary from it. */
WALLET_WUR int wallet_proposal_write(const char *path, const ledger_tx *tx, uint32_t threshold,
				     bool overwrite, char *msg, size_t msglen);
/* Reads and strictly checks a proposal: the transaction decodes for the
 * file's chain id, is a govern transaction, and every approval signature
 * verifies. *tx owned by the caller (ledger_tx_free). WALLET_E_PROPOSAL
 * with the reason in msg, WALLET_E_IO. */
WALLET_WUR int wallet_proposal_read(const char *path, ledger_tx **tx, uint32_t *threshold,
				    char *msg, size_t msglen);
/* One readable paragraph of what a govern transaction does, from its
 * fields alone (what a governor approves). */
void wallet_govern_summary(const ledger_tx *tx, char *out, size_t n);

/* Reads a methodology object in the genesis schema ({"version",
 * "effective_height", "daily_cap_g", "claim_before_s", "claim_after_s",
 * "modes": {"walk": {5 keys}, ...}}, every key required, no other keys)
 * and checks it with ledger_methodology_check. WALLET_E_METHODOLOGY with
 * the field named in msg. */
WALLET_WUR int wallet_methodology_parse(const json_t *j, ledger_methodology *m, char *msg,
					size_t msglen);
/* m in the same schema (wallet_methodology_parse reads it back); a new
 * object owned by the caller, NULL only when out of memory. */
json_t *wallet_methodology_json(const ledger_methodology *m);

/* One parameter that differs between two methodologies. field names it as
 * the genesis schema does ("daily_cap_g", "modes.walk.reduction_mg_per_km";
 * "enabled" as 0 or 1). version and effective_height are not compared:
 * they always differ. */
typedef struct wallet_meth_change {
	char field[48];
	uint64_t from, to;
} wallet_meth_change;
#define WALLET_METH_FIELDS_MAX (3u + 5u * LEDGER_MODE_MAX)
/* Every parameter of b that differs from a, in schema order, into out
 * (room for WALLET_METH_FIELDS_MAX); returns how many. */
uint32_t wallet_methodology_diff(const ledger_methodology *a, const ledger_methodology *b,
				 wallet_meth_change out[WALLET_METH_FIELDS_MAX]);

/* ---- light client and balance proofs ------------------------------------- */

/* Where headers come from: the nodes (wallet_lc_node_source) or, in
 * tests, a ledger directly. header() fills the header of a height and its
 * commit certificate. valset() looks for the validator set of a height
 * (the set that certifies that height's header) whose hash is want: 0 with
 * *out filled, WALLET_E_VALSET_GAP if no source has it (msg says whom it
 * asked), or a network code if no source could be asked. Any source will
 * do: the light client accepts a set only if its hash equals the certified
 * header's next_valset_hash, and checks that itself. */
typedef struct wallet_lc_source {
	void *ctx;
	int (*header)(void *ctx, const char *chain_id, uint64_t height, ledger_header *h,
		      cons_cert *cert, char *msg, size_t msglen);
	int (*valset)(void *ctx, uint64_t height, const ck_hash want, cons_valset *out, char *msg,
		      size_t msglen);
} wallet_lc_source;

/* Verified position: every header up to `height` is certified, linked by
 * parent hashes and carries the validator set followed from the genesis. */
typedef struct wallet_lc {
	char chain_id[LIM_CHAIN_ID_BYTES_MAX + 1];
	ck_hash genesis_hash;
	uint64_t height;                      /* last verified header; 0 = genesis */
	uint64_t time_ms;
	ck_hash last_hash;                    /* its header hash (zero at genesis) */
	cons_valset next;                     /* validator set of height+1 */
	uint32_t changes;                     /* validator-set changes followed */
} wallet_lc;

/* The validators of a genesis (members with the validator role, first
 * key, sorted), as ledger_open computes them. */
WALLET_WUR int wallet_genesis_valset(const ledger_genesis *g, cons_valset *vs);
/* Starts at the genesis. */
WALLET_WUR int wallet_lc_init(wallet_lc *lc, const ledger_genesis *g);
/* Checks header h (with certificate cert) as the next one: height,
 * chain id, parent hash, time after the previous header, validator set
 * hash, certificate of a quorum of that set for this header's hash; then
 * takes next_valset_hash: the same set, or the set src supplies with that
 * hash. WALLET_E_VERIFY with the reason in why when something does not
 * verify (a forgery); WALLET_E_VALSET_GAP when the announced set is not
 * available (nothing is known to be wrong: the proof cannot be checked);
 * a network code when src could not be asked. lc is unchanged on
 * failure. */
WALLET_WUR int wallet_lc_step(wallet_lc *lc, const ledger_header *h, const cons_cert *cert,
			      const wallet_lc_source *src, char *why, size_t whylen);
/* Steps through heights lc->height+1 .. to (header() of src for each).
 * progress (may be NULL) is called after each header. */
WALLET_WUR int wallet_lc_advance(wallet_lc *lc, const wallet_lc_source *src, uint64_t to,
				 void (*progress)(void *arg, uint64_t h, uint64_t to), void *arg,
				 char *why, size_t whylen);

/* A balance proof as a node serves it (GET /v1/account/{a}/proof): the
 * account proof, the header of height proof.height + 1 that carries its
 * state root, and that header's commit certificate. */
typedef struct wallet_balance_proof {
	ledger_account_proof proof;
	ledger_header header;
	cons_cert cert;
} wallet_balance_proof;
/* Decodes the JSON answer (proof, header.hex and cert hex; the readable
 * fields are ignored: only the signed bytes count). WALLET_E_UNCERTIFIED
 * if the node had no certified header yet (nothing to check: retry),
 * WALLET_E_VERIFY with the reason in why if it is malformed. */
WALLET_WUR int wallet_balance_proof_from_json(const json_t *j, const char *chain_id,
					      wallet_balance_proof *out, char *why, size_t whylen);
/* Verifies bp for account: the Merkle proof, that header height is
 * proof height + 1 and its state root the proof's, and, by stepping lc from
 * its position through bp's header (src supplies the headers in between),
 * that the header is certified by the validator set of its height. lc ends
 * at the proof's header; an lc already at or past it fails (start again
 * from the genesis). WALLET_E_VERIFY / WALLET_E_VALSET_GAP with the reason
 * in why. */
WALLET_WUR int wallet_verify_balance(wallet_lc *lc, const wallet_lc_source *src,
				     const ck_pubkey account, const wallet_balance_proof *bp,
				     char *why, size_t whylen);

/* Headers from a node: GET /v1/header/{h} (header.hex and cert), or
 * GET /v1/block/{h} from a node without that endpoint. The set
 * of a height is asked of every --node in turn: GET /v1/valset/{height}
 * where a node serves it, else the node's current sets from GET
 * /v1/status (validators, next_validators), which hold a set only while it
 * is one of the latest two (docs/WALLET.md, "Validator-set changes"). ctx
 * is the wallet_node. */
void wallet_lc_node_source(wallet_lc_source *src, wallet_node *nd);

/* The light client's checkpoint (docs/WALLET.md, "Trust cache"): a
 * position it verified before, kept in a file of the user's own, e.g.
 * $HOME/.config/carbon-wallet/trust/<genesis hash>.json. Load needs lc
 * initialised from the genesis and takes the file only if it names the
 * same genesis and chain and holds a well-formed set (else WALLET_E_IO for
 * a missing file, WALLET_E_VERIFY otherwise, lc unchanged). Save writes a
 * temporary file and renames it over path. */
WALLET_WUR int wallet_lc_load(wallet_lc *lc, const char *path);
WALLET_WUR int wallet_lc_save(const wallet_lc *lc, const char *path);
/* The default checkpoint path for lc's genesis (out of size n). */
WALLET_WUR int wallet_lc_trust_path(const wallet_lc *lc, char *out, size_t n);

#endif
