/*
 * libFuzzer target for the governance files of the wallet: the input is
 * read as a proposal file (wallet_proposal_read, served from memory by
 * fuzz_file) and parsed as the JSON of a methodology file
 * (wallet_methodology_parse). An accepted proposal is a govern
 * transaction whose approvals verify; it must be summarised without
 * overflowing a small buffer, written back with wallet_proposal_write and
 * read again to the same transaction bytes. An accepted methodology must
 * pass ledger_methodology_check. Seeds: proposals written by
 * wallet_proposal_write for each govern action, and methodology files
 * (gen_corpus).
 */
#include "tests/fuzz/fuzz.h"
#include "wallet/wallet.h"

static char dir[64], saved[96];

static void cleanup(void)
{
	unlink(saved);
	rmdir(dir);
}

static void init(void)
{
	FUZZ_CHECK(ck_init() == 0);
	const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
	snprintf(dir, sizeof dir, "%s/carbon-fuzz-proposal.XXXXXX", base);
	FUZZ_CHECK(mkdtemp(dir) != NULL);
	snprintf(saved, sizeof saved, "%s/proposal.json", dir);
	atexit(cleanup);
}

static void tx_bytes(const ledger_tx *tx, cm_wr *w)
{
	cm_wr_init(w);
	ledger_tx_encode(tx, w);
	FUZZ_CHECK(cm_wr_error(w) == 0);
}

static void proposal(const uint8_t *data, size_t size)
{
	ledger_tx *tx = NULL, *back = NULL;
	uint32_t thr = 0, thr2 = 0;
	char msg[512];
	memset(msg, 'x', sizeof msg);
	int rc = wallet_proposal_read(fuzz_file(data, size), &tx, &thr, msg, sizeof msg);
	if (rc != 0) {
		FUZZ_CHECK(rc == WALLET_E_PROPOSAL || rc == WALLET_E_IO || rc == WALLET_E_NOMEM);
		FUZZ_CHECK(memchr(msg, '\0', sizeof msg) != NULL);
		FUZZ_CHECK(tx == NULL);
		return;
	}
	FUZZ_CHECK(tx != NULL && tx->kind == LEDGER_TX_GOVERN);
	FUZZ_CHECK(thr <= LIM_TX_SIGS_MAX);
	char small[16], big[2048];
	memset(small, 'x', sizeof small);
	wallet_govern_summary(tx, small, sizeof small);
	FUZZ_CHECK(memchr(small, '\0', sizeof small) != NULL);
	wallet_govern_summary(tx, big, sizeof big);
	FUZZ_CHECK(memchr(big, '\0', sizeof big) != NULL);

	rc = wallet_proposal_write(saved, tx, thr, true, msg, sizeof msg);
	if (rc != 0)
		fprintf(stderr, "writing the proposal back: %s\n", msg);
	FUZZ_CHECK(rc == 0);
	FUZZ_CHECK(wallet_proposal_read(saved, &back, &thr2, msg, sizeof msg) == 0);
	FUZZ_CHECK(thr2 == thr);
	cm_wr a, b;
	tx_bytes(tx, &a);
	tx_bytes(back, &b);
	fuzz_same_bytes(&b, cm_wr_data(&a), cm_wr_len(&a));
	cm_wr_free(&a);
	cm_wr_free(&b);
	ledger_tx_free(back);
	ledger_tx_free(tx);
}

static void methodology(const uint8_t *data, size_t size)
{
	json_error_t je;
	json_t *j = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, &je);
	if (j == NULL)
		return;
	ledger_methodology m;
	char msg[256];
	memset(msg, 'x', sizeof msg);
	int rc = wallet_methodology_parse(j, &m, msg, sizeof msg);
	if (rc == 0)
		FUZZ_CHECK(ledger_methodology_check(&m, NULL, 0) == 0);
	else
		FUZZ_CHECK(memchr(msg, '\0', sizeof msg) != NULL);
	json_decref(j);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (dir[0] == '\0')
		init();
	proposal(data, size);
	methodology(data, size);
	return 0;
}
