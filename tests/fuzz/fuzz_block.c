/*
 * libFuzzer target for the block-level decoders: the input is tried as a
 * block (ledger_block_decode) and as the results of a block
 * (ledger_results_decode). Either decoder fails with an error code or
 * accepts bytes that re-encode to exactly the input. Seeds:
 * tests/vectors/ledger_block.hex and ledger_results.hex (hex-decoded).
 */
#include <stdlib.h>
#include <string.h>

#include "ledger/ledger.h"

#define FUZZ_CHAIN "carbon-test-1"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void same_or_abort(const cm_wr *w, const uint8_t *data, size_t size)
{
	if (cm_wr_error(w) != 0 || cm_wr_len(w) != size ||
	    memcmp(cm_wr_data(w), data, size) != 0)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	ledger_block *b = NULL;
	ledger_results res;
	cm_wr w;

	if (ledger_block_decode(data, size, FUZZ_CHAIN, &b) == 0) {
		cm_wr_init(&w);
		ledger_block_encode(b, &w);
		same_or_abort(&w, data, size);
		cm_wr_free(&w);
		ledger_block_free(b);
	} else if (b != NULL) {
		abort();
	}

	if (ledger_results_decode(data, size, &res) == 0) {
		cm_wr_init(&w);
		ledger_results_encode(&res, &w);
		same_or_abort(&w, data, size);
		cm_wr_free(&w);
		ledger_results_free(&res);
	}
	return 0;
}
