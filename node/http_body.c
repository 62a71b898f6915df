/*
 * Bodies of POST /v1/tx and POST /v1/txs: raw bytes, hex text, a JSON
 * object or a msgpack batch turned into the list of transactions handed to
 * the backend. Apart from http.c because it is pure (no evhttp, no
 * thread), so tests/fuzz/fuzz_http_body.c can feed it hostile bodies
 * directly. The transactions are not decoded here: admission does that.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/cm.h"
#include "node/http_internal.h"
#include "node/mempool.h"

enum body_type { BODY_HEX, BODY_RAW, BODY_JSON, BODY_MSGPACK, BODY_OTHER };

static enum body_type body_type(const char *ct)
{
	if (ct == NULL)
		return BODY_HEX;
	size_t n = strcspn(ct, "; \t");
	static const struct {
		const char *name;
		enum body_type t;
	} types[] = {
		{"application/octet-stream", BODY_RAW}, {"application/json", BODY_JSON},
		{"application/msgpack", BODY_MSGPACK},  {"application/x-msgpack", BODY_MSGPACK},
		{"application/vnd.msgpack", BODY_MSGPACK}, {"text/plain", BODY_HEX},
	};
	for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
		if (strlen(types[i].name) == n && strncasecmp(ct, types[i].name, n) == 0)
			return types[i].t;
	return BODY_OTHER;
}

/* Hex text (surrounding white space allowed) into out (at most max
 * bytes). */
static bool hex_tx(const char *s, size_t n, uint8_t *out, size_t max, size_t *len)
{
	while (n > 0 && strchr(" \t\r\n", s[0]) != NULL)
		s++, n--;
	while (n > 0 && strchr(" \t\r\n", s[n - 1]) != NULL)
		n--;
	if (n == 0 || n % 2 != 0 || n / 2 > max)
		return false;
	if (cm_hex_decode(out, n / 2, s, n) != 0)
		return false;
	*len = n / 2;
	return true;
}

/* POST /v1/tx: one transaction. */
static int parse_one(enum body_type bt, uint8_t *body, size_t blen, http_submission *s,
		     const char **err, const char **msg)
{
	uint8_t *tx = NULL;
	size_t len = 0;
	if (bt == BODY_RAW) {
		tx = body;
		len = blen;
		body = NULL;
	} else if (bt == BODY_HEX || bt == BODY_JSON) {
		const char *hex = (const char *)body;
		size_t hexlen = blen;
		json_t *j = NULL;
		if (bt == BODY_JSON) {
			json_error_t je;
			j = json_loadb((const char *)body, blen, JSON_REJECT_DUPLICATES, &je);
			json_t *v = j ? json_object_get(j, "tx") : NULL;
			if (!json_is_string(v)) {
				*err = "bad_json";
				*msg = "expected a JSON object {\"tx\": \"<hex>\"}";
			} else {
				hex = json_string_value(v);
				hexlen = json_string_length(v);
			}
		}
		if (*err == NULL) {
			/* A JSON string is never longer than the body it is in. */
			tx = malloc(blen / 2 + 1);
			if (tx == NULL) {
				*err = "nomem";
				*msg = "out of memory";
			} else if (!hex_tx(hex, hexlen, tx, LIM_TX_BYTES_MAX, &len)) {
				*err = "bad_hex";
				*msg = "transaction must be an even number of hex digits";
			}
		}
		json_decref(j);
	} else {
		*err = "unsupported_media_type";
		*msg = "Content-Type must be application/octet-stream, application/json or "
		       "text/plain (hex)";
	}
	free(body);
	if (*err == NULL && (len == 0 || len > LIM_TX_BYTES_MAX)) {
		*err = node_mempool_reason(NODE_E_TX_SIZE);
		*msg = node_mempool_strerror(NODE_E_TX_SIZE);
	}
	if (*err == NULL && (s->txs = malloc(sizeof *s->txs)) == NULL) {
		*err = "nomem";
		*msg = "out of memory";
	}
	if (*err != NULL) {
		free(tx);
		return -1;
	}
	s->buf = tx;
	s->txs[0] = (node_http_tx){tx, len};
	s->n = 1;
	return 0;
}

/* POST /v1/txs: a batch; entries that cannot be sent keep their reason in
 * s->pre. */
static int parse_batch(enum body_type bt, uint8_t *body, size_t blen, http_submission *s,
		       const char **err, const char **msg)
{
	json_t *j = NULL;
	if (bt == BODY_MSGPACK) {
		cm_rd rd;
		uint32_t n;
		cm_rd_init(&rd, body, blen);
		if (cm_rd_array(&rd, &n, LIM_HTTP_BATCH_TXS_MAX) != 0) {
			*err = "bad_msgpack";
			*msg = "expected a msgpack array of at most 10000 bin transactions";
			goto fail;
		}
		s->txs = calloc(n ? n : 1, sizeof *s->txs);
		s->pre = calloc(n ? n : 1, sizeof *s->pre);
		if (s->txs == NULL || s->pre == NULL) {
			*err = "nomem";
			*msg = "out of memory";
			goto fail;
		}
		for (uint32_t i = 0; i < n; i++) {
			const uint8_t *p;
			uint32_t l;
			if (cm_rd_bin(&rd, &p, &l, LIM_TX_BYTES_MAX) != 0) {
				*err = "bad_msgpack";
				*msg = "batch element is not a bin of at most 262144 bytes";
				goto fail;
			}
			if (l == 0) {
				s->pre[i] = node_mempool_reason(NODE_E_TX_SIZE);
				continue;
			}
			s->txs[s->n++] = (node_http_tx){p, l};
		}
		if (cm_rd_end(&rd) != 0) {
			*err = "bad_msgpack";
			*msg = "trailing bytes after the batch array";
			goto fail;
		}
		s->nall = n;
		s->buf = body;  /* the transactions point into it */
		body = NULL;
	} else if (bt == BODY_JSON) {
		json_error_t je;
		j = json_loadb((const char *)body, blen, JSON_REJECT_DUPLICATES, &je);
		json_t *arr = j ? json_object_get(j, "txs") : NULL;
		if (!json_is_array(arr) || json_array_size(arr) > LIM_HTTP_BATCH_TXS_MAX) {
			*err = "bad_json";
			*msg = "expected a JSON object {\"txs\": [\"<hex>\", ...]} of at most 10000";
			goto fail;
		}
		size_t n = json_array_size(arr), total = 0;
		for (size_t i = 0; i < n; i++)
			if (json_is_string(json_array_get(arr, i)))
				total += json_string_length(json_array_get(arr, i)) / 2;
		s->buf = malloc(total + 1);
		s->txs = calloc(n ? n : 1, sizeof *s->txs);
		s->pre = calloc(n ? n : 1, sizeof *s->pre);
		if (s->buf == NULL || s->txs == NULL || s->pre == NULL) {
			*err = "nomem";
			*msg = "out of memory";
			goto fail;
		}
		size_t off = 0;
		for (size_t i = 0; i < n; i++) {
			json_t *v = json_array_get(arr, i);
			size_t l;
			if (!json_is_string(v) ||
			    !hex_tx(json_string_value(v), json_string_length(v), s->buf + off,
				    LIM_TX_BYTES_MAX, &l)) {
				s->pre[i] = "bad_hex";
				continue;
			}
			s->txs[s->n++] = (node_http_tx){s->buf + off, l};
			off += l;
		}
		s->nall = n;
	} else {
		*err = "unsupported_media_type";
		*msg = "Content-Type must be application/json or application/msgpack";
		goto fail;
	}
	json_decref(j);
	free(body);
	return 0;
fail:
	json_decref(j);
	free(body);
	http_submission_free(s);
	return -1;
}

int http_parse_submission(const char *content_type, bool batch, uint8_t *body, size_t len,
			  http_submission *out, const char **err, const char **msg)
{
	memset(out, 0, sizeof *out);
	*err = NULL;
	*msg = NULL;
	enum body_type bt = body_type(content_type);
	return batch ? parse_batch(bt, body, len, out, err, msg)
		     : parse_one(bt, body, len, out, err, msg);
}

void http_submission_free(http_submission *s)
{
	if (s == NULL)
		return;
	free(s->buf);
	free(s->txs);
	free(s->pre);
	memset(s, 0, sizeof *s);
}
