/*
 * libFuzzer target for ledger_genesis_parse, the reader of the genesis
 * file every node and wallet loads (JSON, at most LIM_GENESIS_BYTES_MAX).
 * Any input either fails with LEDGER_E_GENESIS and a NUL-terminated
 * message, or gives a genesis that survives the round trip the tools make
 * (ledger_genesis_to_json, then parsing that again): same hash, same
 * canonical bytes. The input is an exact-size copy, not NUL-terminated, so
 * ASan sees any read past its end. Seeds: tests/vectors/genesis_example.json
 * and variants (gen_corpus).
 */
#include "ledger/ledger.h"
#include "tests/fuzz/fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *in = malloc(size ? size : 1);
	FUZZ_CHECK(in != NULL);
	memcpy(in, data, size);
	ledger_genesis *g = NULL, *again = NULL;
	char err[256];
	memset(err, 'x', sizeof err);
	int rc = ledger_genesis_parse(in, size, &g, err, sizeof err);
	free(in);
	if (rc != 0) {
		FUZZ_CHECK(rc == LEDGER_E_GENESIS || rc == LEDGER_E_NOMEM);
		FUZZ_CHECK(memchr(err, '\0', sizeof err) != NULL);
		FUZZ_CHECK(g == NULL);
		return 0;
	}
	FUZZ_CHECK(g != NULL);
	char *json = NULL;
	FUZZ_CHECK(ledger_genesis_to_json(g, &json) == 0);
	rc = ledger_genesis_parse(json, strlen(json), &again, err, sizeof err);
	if (rc != 0)
		fprintf(stderr, "re-parse of our own JSON failed: %s\n%s\n", err, json);
	FUZZ_CHECK(rc == 0);
	FUZZ_CHECK(memcmp(g->hash, again->hash, CK_HASH_BYTES) == 0);
	cm_wr a, b;
	cm_wr_init(&a);
	cm_wr_init(&b);
	ledger_genesis_encode(g, &a);
	ledger_genesis_encode(again, &b);
	fuzz_same_bytes(&b, cm_wr_data(&a), cm_wr_len(&a));
	ck_hash h;
	ledger_genesis_hash(h, g);
	FUZZ_CHECK(memcmp(h, g->hash, CK_HASH_BYTES) == 0);
	cm_wr_free(&a);
	cm_wr_free(&b);
	free(json);
	ledger_genesis_free(again);
	ledger_genesis_free(g);
	return 0;
}
