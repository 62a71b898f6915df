/*
 * Inside the wallet: the engine of 'issue', which turns trip rows into
 * pipelined issue transactions and every row into an outcome (credited,
 * or rejected with a reason). Kept out of cmd_issue.c so the command file
 * is only arguments and the summary.
 */
#ifndef CARBON_WALLET_ISSUE_H
#define CARBON_WALLET_ISSUE_H

#include "wallet/cli.h"

enum issue_state {
	ISSUE_UNSENT = 0,                     /* not (yet) in a transaction */
	ISSUE_INFLIGHT = 1,
	ISSUE_CREDITED = 2,
	ISSUE_REJECTED = 3,
};

typedef struct issue_outcome {
	uint8_t state;                        /* enum issue_state */
	uint8_t code;                         /* ledger result when decided by the ledger */
	bool local;                           /* rejected by the wallet or the mempool */
	uint64_t height;                      /* block that credited or rejected it */
	char why[112];                        /* reason when rejected */
} issue_outcome;

typedef struct issue_run {
	wallet_cli *cli;
	const uint8_t *sk;
	ck_pubkey pk;
	uint32_t member_id;
	uint32_t nrows;
	const wallet_trip_row *rows;
	ck_hash *ids;                         /* trip id of each row (owned by the caller) */
	issue_outcome *out;                   /* one per row (owned by the caller) */
	uint32_t batch;                       /* trips per transaction */
	uint32_t window;                      /* transactions in flight */
	bool progress;                        /* draw a progress bar on stderr */
	/* results */
	uint32_t credited, rejected, resolved, ntxs;
	uint64_t credited_g;
	uint64_t first_height, last_height;
	uint64_t t0_ms;
} issue_run;

/* Marks rows whose trip id repeats an earlier row of the same input as
 * rejected ("duplicate of line N"). */
void issue_mark_local_duplicates(issue_run *r);
/* Sends every row still ISSUE_UNSENT and follows each transaction (unless
 * --no-wait) to its per-trip results. 0, or an exit code after printing
 * (no node reachable, key not an operator's...). Rows never decided keep
 * their state (UNSENT or INFLIGHT) with why set. */
int issue_send(issue_run *r);

#endif
