/*
 * The issue engine. Rows go out in transactions of r->batch trips with
 * consecutive nonces, several in flight at once (the mempool holds future
 * nonces, so the node can put many into one block), and each transaction
 * is followed to its block, whose per-trip result codes say which rows
 * were credited.
 *
 * The mempool refuses a whole batch if one trip id in it is already
 * credited (NODE_E_TRIP_CREDITED), which is exactly what re-sending a file
 * produces. Submissions wait for admission, so nothing after a refused
 * batch has been sent yet: the wallet looks the batch's trips up (GET
 * /v1/trip), marks the credited ones as duplicates, and sends the rest
 * under the same nonce. No nonce is ever skipped.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "wallet/issue.h"

typedef struct flight {
	ck_hash hash;
	uint32_t *rows;                       /* row indices, in trip order */
	uint32_t n;
} flight;

static void sleep_ms(unsigned ms)
{
	struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

static int cmp_row_by_id(const void *a, const void *b, void *arg)
{
	const issue_run *r = arg;
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	int c = memcmp(r->ids[x], r->ids[y], CK_HASH_BYTES);
	return c ? c : (x > y) - (x < y);
}

static void reject(issue_run *r, uint32_t row, uint8_t code, bool local, uint64_t height,
		   const char *why);

void issue_mark_local_duplicates(issue_run *r)
{
	uint32_t *idx = malloc((size_t)(r->nrows ? r->nrows : 1) * sizeof *idx);
	if (idx == NULL)
		return;
	for (uint32_t i = 0; i < r->nrows; i++)
		idx[i] = i;
	/* Sorted by (trip id, row): each run of one id starts at its first row. */
	qsort_r(idx, r->nrows, sizeof *idx, cmp_row_by_id, r);
	for (uint32_t k = 0; k < r->nrows;) {
		uint32_t first = idx[k], j = k + 1;
		for (; j < r->nrows && memcmp(r->ids[idx[j]], r->ids[first], CK_HASH_BYTES) == 0; j++) {
			char why[64];
			snprintf(why, sizeof why, "same ref as line %u of this input",
				 r->rows[first].line);
			reject(r, idx[j], LEDGER_R_DUP_TRIP, true, 0, why);
		}
		k = j;
	}
	free(idx);
}

static void reject(issue_run *r, uint32_t row, uint8_t code, bool local, uint64_t height,
		   const char *why)
{
	issue_outcome *o = &r->out[row];
	o->state = ISSUE_REJECTED;
	o->code = code;
	o->local = local;
	o->height = height;
	snprintf(o->why, sizeof o->why, "%s", why);
	r->rejected++;
	r->resolved++;
}

static void progress(issue_run *r, bool final)
{
	if (!r->progress)
		return;
	uint64_t el = wallet_now_ms() - r->t0_ms;
	uint64_t rate = el ? (uint64_t)r->resolved * 1000u / el : 0;
	char eta[32] = "";
	if (rate > 0 && r->resolved < r->nrows)
		snprintf(eta, sizeof eta, "  ETA %llus",
			 (unsigned long long)((r->nrows - r->resolved) / rate + 1));
	unsigned width = 30, fill = r->nrows ? (unsigned)((uint64_t)r->resolved * width / r->nrows) : width;
	char bar[32];
	for (unsigned i = 0; i < width; i++)
		bar[i] = i < fill ? '#' : '.';
	bar[width] = '\0';
	fprintf(stderr, "\r[%s] %u/%u trips  %llu trips/s%s   %s", bar, r->resolved, r->nrows,
		(unsigned long long)rate, eta, final ? "\n" : "");
	fflush(stderr);
}

/* Builds and submits one transaction of rows[0..n) with nonce. */
static int submit_batch(issue_run *r, const uint32_t *rows, uint32_t n, uint64_t nonce,
			wallet_tx_status *st)
{
	wallet_cli *cli = r->cli;
	ledger_tx *tx;
	int rc = ledger_tx_new(&tx, LEDGER_TX_ISSUE, n);
	if (rc != 0)
		return cli_fail(cli, WALLET_EXIT_REJECTED, "%s", ledger_strerror(rc));
	snprintf(tx->chain_id, sizeof tx->chain_id, "%s", cli->chain_id);
	memcpy(tx->sender, r->pk, CK_PUBKEY_BYTES);
	tx->nonce = nonce;
	for (uint32_t k = 0; k < n; k++) {
		const wallet_trip_row *w = &r->rows[rows[k]];
		ledger_trip *t = &tx->u.issue.trips[k];
		memcpy(t->trip_id, r->ids[rows[k]], CK_HASH_BYTES);
		memcpy(t->citizen, w->citizen, CK_PUBKEY_BYTES);
		t->mode = w->mode;
		t->distance_m = w->distance_m;
		t->start_s = w->start_s;
		t->end_s = w->end_s;
	}
	rc = wallet_tx_submit(cli->node, tx, r->sk, 0, st, cli->msg, sizeof cli->msg);
	ledger_tx_free(tx);
	if (rc != 0)
		return cli_net_fail(cli, rc, "submitting trips");
	return 0;
}

/* The batch was refused because trips in it are credited: finds them
 * (GET /v1/trip), rejects them as duplicates and compacts the batch.
 * *removed counts them. */
static int drop_credited(issue_run *r, uint32_t *rows, uint32_t *n, uint32_t *removed)
{
	uint32_t keep = 0;
	*removed = 0;
	for (uint32_t k = 0; k < *n; k++) {
		char hex[2 * CK_HASH_BYTES + 1], path[96];
		cm_hex_encode(hex, r->ids[rows[k]], CK_HASH_BYTES);
		snprintf(path, sizeof path, "/v1/trip/%s", hex);
		json_t *j;
		int status, rc;
		if ((rc = cli_get(r->cli, path, true, &status, &j)) != 0)
			return rc;
		uint64_t h = 0;
		bool credited = status == 200 && json_is_true(json_object_get(j, "credited"));
		if (credited && wallet_json_u64(j, "height", &h) != 0)
			h = 0;
		json_decref(j);
		if (credited) {
			char why[96];
			snprintf(why, sizeof why, "%s (block %llu)", ledger_result_str(LEDGER_R_DUP_TRIP),
				 (unsigned long long)h);
			reject(r, rows[k], LEDGER_R_DUP_TRIP, true, h, why);
			(*removed)++;
		} else {
			rows[keep++] = rows[k];
		}
	}
	*n = keep;
	return 0;
}

/* Follows the oldest transaction in flight to its block and records the
 * outcome of its rows. */
static int settle(issue_run *r, flight *f, uint32_t timeout_ms, bool *stalled)
{
	wallet_cli *cli = r->cli;
	wallet_tx_status st;
	*stalled = false;
	int rc = wallet_tx_follow(cli->node, f->hash, timeout_ms, &st, cli->msg, sizeof cli->msg);
	if (rc != 0)
		return cli_net_fail(cli, rc, "following a transaction");
	if (st.state != WALLET_TX_COMMITTED) {
		*stalled = true;
		for (uint32_t k = 0; k < f->n; k++)
			snprintf(r->out[f->rows[k]].why, sizeof r->out[0].why, "%s",
				 st.state == WALLET_TX_PENDING ? "sent, not committed in time"
							       : "transaction dropped by the node");
		return 0;
	}
	const json_t *tx = cli_block_tx(cli, st.height, st.index, &rc);
	if (tx == NULL)
		return rc;
	const json_t *codes = json_object_get(tx, "trip_codes");
	uint64_t credited_g = 0;
	if (wallet_json_u64(tx, "credited_g", &credited_g) != 0)
		credited_g = 0;
	if (r->first_height == 0)
		r->first_height = st.height;
	r->last_height = st.height;
	r->credited_g += credited_g;
	for (uint32_t k = 0; k < f->n; k++) {
		const json_t *c = json_array_get(codes, k);
		uint8_t code = json_is_integer(c) ? (uint8_t)json_integer_value(c) : st.code;
		if (code == LEDGER_R_OK && st.code != LEDGER_R_OK && st.code != LEDGER_R_PARTIAL)
			code = st.code;
		if (code == LEDGER_R_OK) {
			r->out[f->rows[k]].state = ISSUE_CREDITED;
			r->out[f->rows[k]].height = st.height;
			r->credited++;
			r->resolved++;
		} else {
			reject(r, f->rows[k], code, false, st.height, ledger_result_str(code));
		}
	}
	return 0;
}

/* Refusals that will not change by retrying. */
static bool refusal_fatal(const char *err)
{
	static const char *const fatal[] = {"role", "bad_signature", "wrong_chain",
					    "unsupported_version", "unknown_kind"};
	for (size_t i = 0; i < sizeof fatal / sizeof fatal[0]; i++)
		if (strcmp(err, fatal[i]) == 0)
			return true;
	return false;
}

int issue_send(issue_run *r)
{
	wallet_cli *cli = r->cli;
	wallet_node *nd;
	wallet_account acct;
	int rc = cli_node(cli, &nd);
	if (rc != 0)
		return rc;
	rc = wallet_get_account(nd, r->pk, &acct, cli->msg, sizeof cli->msg);
	if (rc != 0)
		return cli_net_fail(cli, rc, NULL);
	uint64_t nonce = acct.nonce;

	uint32_t *order = malloc((size_t)(r->nrows ? r->nrows : 1) * sizeof *order);
	flight *fl = calloc(r->window, sizeof *fl);
	if (order == NULL || fl == NULL) {
		free(order);
		free(fl);
		return cli_fail(cli, WALLET_EXIT_REJECTED, "out of memory");
	}
	uint32_t norder = 0;
	for (uint32_t i = 0; i < r->nrows; i++)
		if (r->out[i].state == ISSUE_UNSENT)
			order[norder++] = i;
	uint32_t next = 0, head = 0, count = 0;
	bool stop = false;
	rc = 0;
	while (rc == 0 && (next < norder || count > 0) && !stop) {
		/* Fill the window. */
		while (rc == 0 && next < norder && count < r->window && !stop) {
			flight *f = &fl[(head + count) % r->window];
			uint32_t n = norder - next < r->batch ? norder - next : r->batch;
			free(f->rows);
			f->rows = malloc((size_t)n * sizeof *f->rows);
			if (f->rows == NULL) {
				rc = cli_fail(cli, WALLET_EXIT_REJECTED, "out of memory");
				break;
			}
			memcpy(f->rows, order + next, (size_t)n * sizeof *f->rows);
			f->n = n;
			next += n;
			for (unsigned attempt = 0; f->n > 0; attempt++) {
				wallet_tx_status st;
				if ((rc = submit_batch(r, f->rows, f->n, nonce, &st)) != 0)
					break;
				if (st.state != WALLET_TX_REFUSED) {
					memcpy(f->hash, st.hash, CK_HASH_BYTES);
					for (uint32_t k = 0; k < f->n; k++)
						r->out[f->rows[k]].state = ISSUE_INFLIGHT;
					nonce++;
					count++;
					r->ntxs++;
					break;
				}
				uint32_t removed = 0;
				if (strcmp(st.error, "trip_credited") == 0) {
					if ((rc = drop_credited(r, f->rows, &f->n, &removed)) != 0)
						break;
					if (removed > 0)
						continue;
				} else if (attempt < 40 && (strcmp(st.error, "trip_pending") == 0 ||
							    strcmp(st.error, "mempool_full") == 0 ||
							    strcmp(st.error, "sender_full") == 0 ||
							    strcmp(st.error, "nonce_too_high") == 0)) {
					/* Another transaction holds a trip, or the node is
					 * busy: give the chain time to move. */
					sleep_ms(250);
					continue;
				} else if (attempt < 5 && (strcmp(st.error, "nonce_used") == 0 ||
							   strcmp(st.error, "nonce_pending") == 0)) {
					/* Another client used this key: take the node's next
					 * nonce again. */
					if ((rc = wallet_get_account(nd, r->pk, &acct, cli->msg,
								     sizeof cli->msg)) != 0) {
						rc = cli_net_fail(cli, rc, NULL);
						break;
					}
					nonce = acct.nonce;
					continue;
				}
				/* Not retriable: every row of the batch is rejected with
				 * the node's reason. */
				char why[112];
				snprintf(why, sizeof why, "refused by the node: %.88s", st.message);
				for (uint32_t k = 0; k < f->n; k++)
					reject(r, f->rows[k], 0, true, 0, why);
				f->n = 0;
				if (refusal_fatal(st.error)) {
					stop = true;
					rc = cli_fail(cli, WALLET_EXIT_REJECTED,
						      "the node refuses this key's trips: %s", st.message);
				}
			}
			progress(r, false);
		}
		if (rc != 0 || count == 0 || cli->no_wait)
			break;
		bool stalled;
		if ((rc = settle(r, &fl[head], cli->wait_ms > 60000 ? cli->wait_ms : 60000, &stalled)) != 0)
			break;
		if (stalled) {
			/* A gap in our nonces blocks every later transaction. */
			stop = true;
			break;
		}
		head = (head + 1) % r->window;
		count--;
		progress(r, false);
	}
	progress(r, true);
	for (uint32_t k = 0; k < r->window; k++)
		free(fl[k].rows);
	free(fl);
	free(order);
	return rc;
}
