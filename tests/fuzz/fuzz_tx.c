/*
 * libFuzzer target for ledger_tx_decode: every input either fails with an
 * error code or decodes to a transaction whose canonical encoding is the
 * input, byte for byte (one encoding per transaction, so a transaction id
 * cannot be changed by re-encoding). An accepted transaction is then
 * hashed, its signing bytes written and its signatures checked, as
 * admission does, which must fail cleanly on hostile keys. Seeds:
 * tests/vectors/ledger_tx_*.hex and one transaction of every kind and
 * govern action (gen_corpus).
 */
#include "ledger/ledger.h"
#include "tests/fuzz/fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	ledger_tx *tx = NULL;
	cm_wr w;

	static bool ready;
	if (!ready) {
		FUZZ_CHECK(ck_init() == 0);
		ready = true;
	}
	if (ledger_tx_decode(data, size, FUZZ_CHAIN, &tx) != 0) {
		FUZZ_CHECK(tx == NULL);
		return 0;
	}
	cm_wr_init(&w);
	ledger_tx_encode(tx, &w);
	fuzz_same_bytes(&w, data, size);
	cm_wr_reset(&w);
	ledger_tx_signing_bytes(tx, &w);
	FUZZ_CHECK(cm_wr_error(&w) == 0 && cm_wr_len(&w) < size);
	ck_hash h;
	ledger_tx_hash(h, data, size);
	int rc = ledger_tx_verify_sigs(tx);
	FUZZ_CHECK(rc == 0 || rc == LEDGER_E_BADSIG);
	cm_wr_free(&w);
	ledger_tx_free(tx);
	return 0;
}
