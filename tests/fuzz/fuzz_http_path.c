/*
 * libFuzzer target for node_http_parse_target, the pure parser of every
 * HTTP request target the API accepts: any input returns 0 or one of the
 * HTTP codes, never reads outside the input (it is not NUL-terminated
 * here), always leaves a NUL-terminated reason, and on success yields a
 * route whose parameters are inside their documented ranges. Build:
 *   clang -fsanitize=fuzzer,address,undefined -I. tests/fuzz/fuzz_http_path.c \
 *     node/http_path.c $(ledger, crypto and common sources) $(pkg-config ...)
 * Seeds: the example targets of docs/API.md, one per file.
 */
#include <stdlib.h>
#include <string.h>

#include "node/http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* An exact-size copy, so ASan catches a read past the end. */
	char *in = malloc(size ? size : 1);
	if (in == NULL)
		return 0;
	memcpy(in, data, size);
	node_http_target t;
	char msg[160];
	memset(msg, 'x', sizeof msg);
	int rc = node_http_parse_target(in, size, &t, msg, sizeof msg);
	if (memchr(msg, '\0', sizeof msg) == NULL)
		abort();
	if (rc == 0) {
		if (t.route < NODE_HTTP_R_TX_POST || t.route > NODE_HTTP_R_METRICS)
			abort();
		if (t.wait_ms > LIM_HTTP_WAIT_MS_MAX || t.limit > LIM_HISTORY_PAGE_MAX)
			abort();
		if ((t.query & NODE_HTTP_Q_LIMIT) && t.limit == 0)
			abort();
		if (t.latest && t.height != 0)
			abort();
		/* Parsing is a function of the bytes alone. */
		node_http_target again;
		if (node_http_parse_target(in, size, &again, msg, sizeof msg) != 0 ||
		    memcmp(&t, &again, sizeof t) != 0)
			abort();
	} else if (rc > NODE_E_HTTP_NOT_FOUND || rc < NODE_E_HTTP_BAD_QUERY) {
		abort();
	}
	free(in);
	return 0;
}
