/*
 * bench_ledger_codec: what one core spends on a transaction's bytes before any
 * rule runs, the parts of admission issue 6 names: strict decode, the id
 * hash, the signature check, and a block's decode. CPU time of this process
 * (one thread), so a shared machine does not skew it.
 *
 *   build/bench/bench_ledger_codec [--seconds S]
 *
 * Prints one line per figure and, last, a JSON object of them for
 * bench/run.sh.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "common/cm.h"
#include "common/limits.h"
#include "crypto/ck.h"
#include "ledger/ledger.h"

#define CHAIN "bench-codec"
#define BLOCK_TXS 5000u

static double cpu_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what, int rc)
{
	fprintf(stderr, "bench_ledger_codec: %s: %s\n", what, ledger_strerror(rc));
	exit(1);
}

/* Signed canonical bytes of tx into a fresh buffer. */
static uint8_t *sign_encode(ledger_tx *tx, const ck_seckey sk, size_t *len)
{
	cm_wr w;
	ledger_tx_sign(tx, sk);
	cm_wr_init(&w);
	ledger_tx_encode(tx, &w);
	if (cm_wr_error(&w))
		die("encode", LEDGER_E_NOMEM);
	uint8_t *p = malloc(cm_wr_len(&w));
	if (p == NULL)
		die("alloc", LEDGER_E_NOMEM);
	memcpy(p, cm_wr_data(&w), cm_wr_len(&w));
	*len = cm_wr_len(&w);
	cm_wr_free(&w);
	return p;
}

static ledger_tx *tx_new(uint8_t kind, const ck_pubkey sender, uint32_t ntrips)
{
	ledger_tx *tx;
	int rc = ledger_tx_new(&tx, kind, ntrips);
	if (rc != 0)
		die("tx_new", rc);
	snprintf(tx->chain_id, sizeof tx->chain_id, CHAIN);
	memcpy(tx->sender, sender, CK_PUBKEY_BYTES);
	tx->nonce = 7;
	return tx;
}

typedef int (*op_fn)(const uint8_t *buf, size_t len);

static int op_decode(const uint8_t *buf, size_t len)
{
	ledger_tx *tx;
	int rc = ledger_tx_decode(buf, len, CHAIN, &tx);
	ledger_tx_free(tx);
	return rc;
}

static int op_hash(const uint8_t *buf, size_t len)
{
	ck_hash h;
	ledger_tx_hash(h, buf, len);
	return h[0] == 0 && h[1] == 0 && h[2] == 0 && h[3] == 0 ? 1 : 0; /* keeps the call */
}

static ledger_tx *g_decoded;
static int op_verify(const uint8_t *buf, size_t len)
{
	(void)buf;
	(void)len;
	return ledger_tx_verify_sigs(g_decoded);
}

/* Runs op over the same bytes for at least `seconds` of CPU: calls/s. */
static double rate(op_fn op, const uint8_t *buf, size_t len, double seconds)
{
	uint64_t n = 0;
	double t0 = cpu_s(), t;
	do {
		for (int i = 0; i < 64; i++) {
			int rc = op(buf, len);
			if (rc < 0)
				die("op", rc);
		}
		n += 64;
		t = cpu_s() - t0;
	} while (t < seconds);
	return (double)n / t;
}

int main(int argc, char **argv)
{
	double seconds = 1.0;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc) {
			seconds = atof(argv[++i]);
		} else {
			fprintf(stderr, "usage: bench_ledger_codec [--seconds S]\n");
			return 2;
		}
	}
	if (sodium_init() < 0 || seconds <= 0)
		return 1;

	ck_pubkey pk, to;
	ck_seckey sk, sk2;
	ck_keypair(pk, sk);
	ck_keypair(to, sk2);

	ledger_tx *t = tx_new(LEDGER_TX_TRANSFER, pk, 0);
	memcpy(t->u.transfer.to, to, CK_PUBKEY_BYTES);
	t->u.transfer.amount_g = 1;
	size_t tlen;
	uint8_t *tbytes = sign_encode(t, sk, &tlen);
	ledger_tx_free(t);

	ledger_tx *is = tx_new(LEDGER_TX_ISSUE, pk, LIM_TRIPS_PER_TX_MAX);
	for (uint32_t j = 0; j < LIM_TRIPS_PER_TX_MAX; j++) {
		ledger_trip *tr = &is->u.issue.trips[j];
		ledger_trip_id(tr->trip_id, 2, (const char *)&j, sizeof j);
		memcpy(tr->citizen, to, CK_PUBKEY_BYTES);
		tr->mode = LEDGER_MODE_METRO;
		tr->distance_m = 1000;
		tr->start_s = 1700000000u + (uint64_t)j * 1800u;
		tr->end_s = tr->start_s + 600;
	}
	size_t ilen;
	uint8_t *ibytes = sign_encode(is, sk, &ilen);
	ledger_tx_free(is);

	double dec = rate(op_decode, tbytes, tlen, seconds);
	double hash = rate(op_hash, tbytes, tlen, seconds);
	int rc = ledger_tx_decode(tbytes, tlen, CHAIN, &g_decoded);
	if (rc != 0)
		die("decode", rc);
	double ver = rate(op_verify, tbytes, tlen, seconds);
	ledger_tx_free(g_decoded);
	double idec = rate(op_decode, ibytes, ilen, seconds);

	/* A block of BLOCK_TXS transfers, decoded whole (what a proposal check
	 * and a commit do before the rules). */
	ledger_block b;
	memset(&b, 0, sizeof b);
	b.header.version = LEDGER_HEADER_VERSION;
	snprintf(b.header.chain_id, sizeof b.header.chain_id, CHAIN);
	b.header.height = 2;
	b.header.time_ms = 1;
	b.ntxs = BLOCK_TXS;
	b.txs = calloc(BLOCK_TXS, sizeof *b.txs);
	b.tx_lens = calloc(BLOCK_TXS, sizeof *b.tx_lens);
	if (b.txs == NULL || b.tx_lens == NULL)
		die("alloc", LEDGER_E_NOMEM);
	for (uint32_t i = 0; i < BLOCK_TXS; i++) {
		b.txs[i] = tbytes;
		b.tx_lens[i] = (uint32_t)tlen;
	}
	ledger_block_txs_root(&b, b.header.txs_root);
	cm_wr w;
	cm_wr_init(&w);
	ledger_block_encode(&b, &w);
	if (cm_wr_error(&w))
		die("block encode", LEDGER_E_NOMEM);
	uint64_t nb = 0;
	double t0 = cpu_s(), el;
	do {
		ledger_block *out;
		if ((rc = ledger_block_decode(cm_wr_data(&w), cm_wr_len(&w), CHAIN, &out)) != 0)
			die("block decode", rc);
		ledger_block_free(out);
		nb++;
		el = cpu_s() - t0;
	} while (el < seconds);
	double blk_txs = (double)nb * BLOCK_TXS / el;

	printf("transfer (%zu bytes): decode %.0f /s, id hash %.0f /s, signature check %.0f /s\n",
	       tlen, dec, hash, ver);
	printf("issue of %u trips (%zu bytes): decode %.0f /s (%.0f trips/s)\n",
	       LIM_TRIPS_PER_TX_MAX, ilen, idec, idec * LIM_TRIPS_PER_TX_MAX);
	printf("block of %u transfers (%zu bytes): decode %.0f transactions/s\n", BLOCK_TXS,
	       cm_wr_len(&w), blk_txs);
	printf("{\"tx_decode_per_s\": %.0f, \"tx_hash_per_s\": %.0f, \"tx_verify_per_s\": %.0f, "
	       "\"issue_decode_trips_per_s\": %.0f, \"block_decode_txs_per_s\": %.0f}\n",
	       dec, hash, ver, idec * LIM_TRIPS_PER_TX_MAX, blk_txs);
	cm_wr_free(&w);
	free(b.txs);
	free(b.tx_lens);
	free(tbytes);
	free(ibytes);
	return 0;
}
