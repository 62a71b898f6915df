/*
 * libFuzzer target for ledger_tx_decode: every input either fails with an
 * error code or decodes to a transaction whose canonical encoding is the
 * input, byte for byte (one encoding per transaction, so a transaction id
 * cannot be changed by re-encoding). Seeds: tests/vectors/ledger_tx_*.hex
 * (hex-decode them into the corpus directory).
 */
#include <stdlib.h>
#include <string.h>

#include "ledger/ledger.h"

/* The chain id of the golden vectors, so seeds from them decode. */
#define FUZZ_CHAIN "carbon-test-1"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	ledger_tx *tx = NULL;
	cm_wr w;

	if (ledger_tx_decode(data, size, FUZZ_CHAIN, &tx) != 0) {
		if (tx != NULL)
			abort();
		return 0;
	}
	cm_wr_init(&w);
	ledger_tx_encode(tx, &w);
	if (cm_wr_error(&w) != 0 || cm_wr_len(&w) != size ||
	    memcmp(cm_wr_data(&w), data, size) != 0)
		abort();
	cm_wr_free(&w);
	ledger_tx_free(tx);
	return 0;
}
