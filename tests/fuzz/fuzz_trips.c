/*
 * libFuzzer target for the trip CSV reader of the wallet
 * (wallet_trips_parse), the operator's export that `carbon-wallet issue`
 * turns into issue transactions, and for wallet_trip_parse_one, the
 * --trip argument (the same input, NUL-terminated). Any input either
 * fails with WALLET_E_CSV and a message or gives rows whose fields are
 * inside their ranges (a ref of 1..64 bytes without control characters, a
 * known mode, times up to year 9999) and row errors with a line number
 * and a message; lines never go backwards. Seeds: small trip files
 * (gen_corpus) in the shape docs/WALLET.md shows.
 */
#include "tests/fuzz/fuzz.h"
#include "wallet/wallet.h"

static void check_row(const wallet_trip_row *r)
{
	size_t n = strnlen(r->ref, sizeof r->ref);
	FUZZ_CHECK(n >= 1 && n <= LIM_NAME_BYTES_MAX);
	for (size_t i = 0; i < n; i++)
		FUZZ_CHECK((unsigned char)r->ref[i] >= 0x20 && r->ref[i] != 0x7f);
	FUZZ_CHECK(r->mode >= 1 && r->mode <= LEDGER_MODE_MAX);
	FUZZ_CHECK(r->start_s <= WALLET_TIME_MAX_S && r->end_s <= WALLET_TIME_MAX_S);
	FUZZ_CHECK(r->line >= 1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool ready;
	if (!ready) {
		FUZZ_CHECK(ck_init() == 0);
		ready = true;
	}
	/* Exact size: ASan sees a read past the end. */
	char *in = malloc(size ? size : 1);
	FUZZ_CHECK(in != NULL);
	memcpy(in, data, size);
	wallet_trip_file f;
	char msg[256];
	memset(msg, 'x', sizeof msg);
	int rc = wallet_trips_parse(in, size, &f, msg, sizeof msg);
	free(in);
	if (rc != 0) {
		FUZZ_CHECK(rc == WALLET_E_CSV || rc == WALLET_E_NOMEM);
		FUZZ_CHECK(memchr(msg, '\0', sizeof msg) != NULL);
		FUZZ_CHECK(f.rows == NULL && f.errs == NULL);
	} else {
		uint32_t last = 0;
		for (uint32_t i = 0; i < f.nrows; i++) {
			check_row(&f.rows[i]);
			FUZZ_CHECK(f.rows[i].line > last);
			last = f.rows[i].line;
		}
		for (uint32_t i = 0; i < f.nerrs; i++) {
			FUZZ_CHECK(f.errs[i].line >= 2);
			FUZZ_CHECK(memchr(f.errs[i].msg, '\0', sizeof f.errs[i].msg) != NULL);
			FUZZ_CHECK(f.errs[i].msg[0] != '\0');
		}
		wallet_trip_file_free(&f);
	}
	wallet_trip_file_free(NULL);

	char *s = malloc(size + 1);
	FUZZ_CHECK(s != NULL);
	memcpy(s, data, size);
	s[size] = '\0';
	wallet_trip_row row;
	memset(msg, 'x', sizeof msg);
	rc = wallet_trip_parse_one(s, &row, msg, sizeof msg);
	if (rc == 0)
		check_row(&row);
	else
		FUZZ_CHECK(memchr(msg, '\0', sizeof msg) != NULL);
	free(s);
	return 0;
}
