/*
 * libFuzzer target for the block-level decoders: the input is tried as a
 * block (ledger_block_decode) and as the results of a block
 * (ledger_results_decode). Either decoder fails with an error code or
 * accepts bytes that re-encode to exactly the input. Seeds:
 * tests/vectors/ledger_block.hex and ledger_results.hex, and a block of
 * several transactions (gen_corpus). An accepted block's transactions
 * root is computed as ledger_check_block does.
 */
#include "ledger/ledger.h"
#include "tests/fuzz/fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	ledger_block *b = NULL;
	ledger_results res;
	cm_wr w;

	if (ledger_block_decode(data, size, FUZZ_CHAIN, &b) == 0) {
		cm_wr_init(&w);
		ledger_block_encode(b, &w);
		fuzz_same_bytes(&w, data, size);
		cm_wr_free(&w);
		FUZZ_CHECK(b->ntxs <= LIM_BLOCK_TXS_MAX);
		for (uint32_t i = 0; i < b->ntxs; i++)
			FUZZ_CHECK(b->tx_lens[i] <= LIM_TX_BYTES_MAX);
		ck_hash root;
		ledger_block_txs_root(b, root);
		ledger_block_free(b);
	} else {
		FUZZ_CHECK(b == NULL);
	}

	if (ledger_results_decode(data, size, &res) == 0) {
		cm_wr_init(&w);
		ledger_results_encode(&res, &w);
		fuzz_same_bytes(&w, data, size);
		cm_wr_free(&w);
		ledger_results_free(&res);
	}
	return 0;
}
