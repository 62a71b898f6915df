/*
 * libFuzzer target for the bodies of POST /v1/tx and POST /v1/txs
 * (http_parse_submission, node/http_body.c): raw bytes, hex text, JSON
 * {"tx": hex} and {"txs": [hex, ...]}, msgpack arrays of bin. Byte 0 of
 * the input picks the route (bit 0: batch) and the Content-Type header
 * (bits 1-4: one of the types below, absent, or an unknown one); the rest
 * is the body, passed as the server passes it: a malloc'd copy with a NUL
 * after it, owned by the parser from then on.
 *
 * Properties: on failure the reason is one of the documented ones and
 * nothing is left allocated (LeakSanitizer); on success every
 * transaction has 1..LIM_TX_BYTES_MAX bytes inside the parser's buffer,
 * a single submission has exactly one, a batch has at most
 * LIM_HTTP_BATCH_TXS_MAX entries of which those without a reason are the
 * ones submitted, in order; for hex bodies the bytes are the hex decoded.
 * Seeds: tests/fuzz/corpus/http_body (gen_corpus).
 */
#include <strings.h>

#include "node/http_internal.h"
#include "tests/fuzz/fuzz.h"

static const char *const types[] = {
	NULL,
	"application/octet-stream",
	"application/json",
	"application/msgpack",
	"application/x-msgpack",
	"application/vnd.msgpack",
	"text/plain",
	"text/plain; charset=utf-8",
	"APPLICATION/JSON",
	"application/json;charset=utf-8",
	"application/jsonx",
	"",
	"image/png",
	"application/octet-stream ",
	"text/plai",
	"application/msgpack\t; q=1",
};

static bool known_reason(const char *err)
{
	static const char *const reasons[] = {"unsupported_media_type", "bad_json", "bad_hex",
					      "bad_msgpack", "tx_size", "nomem"};
	for (size_t i = 0; i < sizeof reasons / sizeof reasons[0]; i++)
		if (strcmp(err, reasons[i]) == 0)
			return true;
	return false;
}

static bool sized(const node_http_tx *t)
{
	return t->tx != NULL && t->len >= 1 && t->len <= LIM_TX_BYTES_MAX;
}

/* A hex body: the transaction is its digits, white space around them
 * aside, in either case. */
static void same_as_hex(const node_http_tx *t, const uint8_t *body, size_t len)
{
	while (len > 0 && strchr(" \t\r\n", body[0]) != NULL)
		body++, len--;
	while (len > 0 && strchr(" \t\r\n", body[len - 1]) != NULL)
		len--;
	FUZZ_CHECK(len == 2 * t->len);
	char *hex = malloc(len + 1);
	FUZZ_CHECK(hex != NULL);
	cm_hex_encode(hex, t->tx, t->len);
	FUZZ_CHECK(strncasecmp(hex, (const char *)body, len) == 0);
	free(hex);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	bool batch = data[0] & 1;
	const char *ct = types[(data[0] >> 1) % (sizeof types / sizeof types[0])];
	size_t len = size - 1;
	uint8_t *body = malloc(len + 1);
	FUZZ_CHECK(body != NULL);
	memcpy(body, data + 1, len);
	body[len] = 0;

	http_submission s;
	const char *err = NULL, *msg = NULL;
	if (http_parse_submission(ct, batch, body, len, &s, &err, &msg) != 0) {
		FUZZ_CHECK(err != NULL && msg != NULL);
		FUZZ_CHECK(known_reason(err));
		FUZZ_CHECK(s.buf == NULL && s.txs == NULL && s.pre == NULL && s.n == 0);
		return 0;
	}
	FUZZ_CHECK(s.txs != NULL);
	if (!batch) {
		FUZZ_CHECK(s.n == 1 && s.nall == 0 && s.pre == NULL);
		FUZZ_CHECK(sized(&s.txs[0]));
		FUZZ_CHECK(s.txs[0].tx == s.buf);
		if (ct == NULL || strncmp(ct, "text/plain", 10) == 0)
			same_as_hex(&s.txs[0], data + 1, len);
		else if (strcmp(ct, "application/octet-stream") == 0)
			FUZZ_CHECK(s.txs[0].len == len && memcmp(s.txs[0].tx, data + 1, len) == 0);
	} else {
		FUZZ_CHECK(s.nall <= LIM_HTTP_BATCH_TXS_MAX);
		FUZZ_CHECK(s.n <= s.nall);
		FUZZ_CHECK(s.pre != NULL);
		size_t sent = 0;
		for (size_t i = 0; i < s.nall; i++) {
			if (s.pre[i] != NULL) {
				FUZZ_CHECK(known_reason(s.pre[i]));
				continue;
			}
			FUZZ_CHECK(sent < s.n);
			FUZZ_CHECK(sized(&s.txs[sent]));
			sent++;
		}
		FUZZ_CHECK(sent == s.n);
		/* Entries do not overlap and keep the body's order. */
		for (size_t i = 1; i < s.n; i++)
			FUZZ_CHECK(s.txs[i].tx >= s.txs[i - 1].tx + s.txs[i - 1].len);
	}
	http_submission_free(&s);
	http_submission_free(NULL);
	return 0;
}
