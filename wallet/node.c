/*
 * Talking to nodes: the list given with --node, fail-over to the next one
 * when a node did not answer (wallet.h says exactly when), and readers for
 * the JSON fields
 * the API writes (docs/API.md). Which node answered never matters for
 * what the wallet verifies, only for what it shows.
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "wallet/http_internal.h"

struct wallet_node {
	size_t n, cur;
	uint32_t timeout_ms;                  /* per node and request */
	wallet_url url[WALLET_NODES_MAX];
	char text[WALLET_NODES_MAX][WALLET_URL_BYTES_MAX + 1];
	wallet_conn conn;                     /* to url[cur], or closed */
};

int wallet_node_new(wallet_node **out, const char *const *urls, size_t n, char *msg, size_t msglen)
{
	*out = NULL;
	if (n == 0 || n > WALLET_NODES_MAX) {
		wallet_msgf(msg, msglen, "give 1 to %u --node URLs", WALLET_NODES_MAX);
		return WALLET_E_URL;
	}
	wallet_node *nd = calloc(1, sizeof *nd);
	if (nd == NULL)
		return WALLET_E_NOMEM;
	nd->conn.fd = -1;
	nd->timeout_ms = WALLET_HTTP_TIMEOUT_MS;
	for (size_t i = 0; i < n; i++) {
		if (strlen(urls[i]) > WALLET_URL_BYTES_MAX || wallet_url_parse(urls[i], &nd->url[i]) != 0) {
			wallet_msgf(msg, msglen, "--node %.80s: not an http://HOST:PORT URL", urls[i]);
			free(nd);
			return WALLET_E_URL;
		}
		strcpy(nd->text[i], urls[i]);
	}
	nd->n = n;
	*out = nd;
	return 0;
}

void wallet_node_free(wallet_node *nd)
{
	if (nd == NULL)
		return;
	wallet_conn_close(&nd->conn);
	free(nd);
}

const char *wallet_node_url(const wallet_node *nd)
{
	return nd->text[nd->cur];
}

size_t wallet_node_count(const wallet_node *nd)
{
	return nd->n;
}

size_t wallet_node_current(const wallet_node *nd)
{
	return nd->cur;
}

void wallet_node_use(wallet_node *nd, size_t i)
{
	assert(i < nd->n);
	if (i != nd->cur)
		wallet_conn_close(&nd->conn);
	nd->cur = i;
}

void wallet_node_set_timeout(wallet_node *nd, uint32_t timeout_ms)
{
	assert(timeout_ms > 0 && timeout_ms <= WALLET_HTTP_TIMEOUT_MS_MAX);
	nd->timeout_ms = timeout_ms;
}

uint32_t wallet_node_timeout(const wallet_node *nd)
{
	return nd->timeout_ms;
}

/* Whether a failed request may go to the next node: when the node never
 * answered, always; when its answer broke off, only for a GET, which
 * changes nothing. */
static bool may_fail_over(bool get, enum wallet_conn_stage stage)
{
	return get || stage != WALLET_CONN_ANSWERING;
}

int wallet_node_request(wallet_node *nd, const char *method, const char *path,
			const char *content_type, const void *body, size_t len, uint32_t extra_ms,
			wallet_http_resp *out, char *msg, size_t msglen)
{
	char why[WALLET_NODES_MAX][128];
	int rcs[WALLET_NODES_MAX];
	size_t tried = 0, first = nd->cur;
	bool get = strcmp(method, "GET") == 0;
	uint32_t budget = nd->timeout_ms + extra_ms;
	for (size_t k = 0; k < nd->n; k++) {
		size_t i = (first + k) % nd->n;
		if (i != nd->cur)
			wallet_conn_close(&nd->conn);
		nd->cur = i;
		uint64_t deadline = wallet_now_ms() + budget;
		int rc = 0;
		/* A reused connection may turn out stale once; then a fresh
		 * one to the same node is tried before moving on. */
		for (int attempt = 0; attempt < 2; attempt++) {
			bool reused = nd->conn.fd >= 0;
			uint64_t now = wallet_now_ms();
			uint32_t left = now >= deadline ? 1 : (uint32_t)(deadline - now);
			rc = 0;
			if (!reused)
				rc = wallet_conn_open(&nd->conn, &nd->url[i],
						      left < WALLET_HTTP_CONNECT_MS ? left
										: WALLET_HTTP_CONNECT_MS,
						      why[tried], sizeof why[0]);
			if (rc != 0)
				break;
			now = wallet_now_ms();
			left = now >= deadline ? 1 : (uint32_t)(deadline - now);
			enum wallet_conn_stage stage;
			rc = wallet_conn_request(&nd->conn, &nd->url[i], method, path, content_type, body,
						 len, left, WALLET_HTTP_RESPONSE_MAX, out, &stage);
			if (rc == 0)
				return 0;
			if (stage == WALLET_CONN_UNSENT && reused)
				continue;
			if (rc == WALLET_E_TIMEOUT && stage != WALLET_CONN_ANSWERING)
				wallet_msgf(why[tried], sizeof why[0], "no answer within %u ms", budget);
			else if (rc == WALLET_E_TIMEOUT)
				wallet_msgf(why[tried], sizeof why[0], "answer not complete within %u ms",
					    budget);
			else if (stage == WALLET_CONN_UNSENT)
				wallet_msgf(why[tried], sizeof why[0], "connection closed before any answer");
			else
				wallet_msgf(why[tried], sizeof why[0], "%s", wallet_strerror(rc));
			if (!may_fail_over(get, stage)) {
				wallet_msgf(msg, msglen, "%s: %s", nd->text[i], why[tried]);
				return rc;
			}
			break;
		}
		assert(rc != 0);
		rcs[tried++] = rc;
	}
	/* No node answered: each one and why, and the code that says most
	 * about what to do (a timeout: a stuck or slow node). */
	int rc = WALLET_E_CONNECT;
	bool any_connect = false;
	for (size_t k = 0; k < tried; k++) {
		if (rcs[k] == WALLET_E_TIMEOUT)
			rc = WALLET_E_TIMEOUT;
		any_connect = any_connect || rcs[k] == WALLET_E_CONNECT;
	}
	if (rc != WALLET_E_TIMEOUT && !any_connect && tried > 0)
		rc = rcs[tried - 1];
	size_t off = 0;
	if (msg != NULL && msglen > 0) {
		msg[0] = '\0';
		for (size_t k = 0; k < tried; k++) {
			size_t i = (first + k) % nd->n;
			int w = snprintf(msg + off, msglen - off, "%s%s: %s", k ? "; " : "", nd->text[i],
					 why[k]);
			if (w < 0 || (size_t)w >= msglen - off)
				break;
			off += (size_t)w;
		}
	}
	return rc;
}

int wallet_node_get_json(wallet_node *nd, const char *path, int *status, json_t **json, char *msg,
			 size_t msglen)
{
	wallet_http_resp r;
	*json = NULL;
	int rc = wallet_node_request(nd, "GET", path, NULL, NULL, 0, 0, &r, msg, msglen);
	if (rc != 0)
		return rc;
	json_error_t je;
	json_t *j = json_loadb(r.body, r.len, JSON_REJECT_DUPLICATES, &je);
	*status = r.status;
	wallet_http_resp_free(&r);
	if (!json_is_object(j)) {
		json_decref(j);
		wallet_msgf(msg, msglen, "%s answered GET %s with status %d and no JSON object",
			    wallet_node_url(nd), path, *status);
		return WALLET_E_JSON;
	}
	*json = j;
	return 0;
}

/* ---- JSON fields ------------------------------------------------------- */

int wallet_json_u64(const json_t *o, const char *key, uint64_t *v)
{
	const json_t *x = json_object_get(o, key);
	if (json_is_integer(x)) {
		json_int_t i = json_integer_value(x);
		if (i < 0)
			return WALLET_E_JSON;
		*v = (uint64_t)i;
		return 0;
	}
	/* Above INT64_MAX the node writes a decimal string. */
	if (json_is_string(x)) {
		const char *s = json_string_value(x);
		uint64_t r = 0;
		if (*s == '\0')
			return WALLET_E_JSON;
		for (; *s; s++) {
			if (*s < '0' || *s > '9' || r > (UINT64_MAX - (uint64_t)(*s - '0')) / 10)
				return WALLET_E_JSON;
			r = r * 10 + (uint64_t)(*s - '0');
		}
		*v = r;
		return 0;
	}
	return WALLET_E_JSON;
}

int wallet_json_i64(const json_t *o, const char *key, int64_t *v)
{
	const json_t *x = json_object_get(o, key);
	if (!json_is_integer(x))
		return WALLET_E_JSON;
	*v = (int64_t)json_integer_value(x);
	return 0;
}

const char *wallet_json_str(const json_t *o, const char *key)
{
	const json_t *x = json_object_get(o, key);
	return json_is_string(x) ? json_string_value(x) : NULL;
}

int wallet_json_hash(const json_t *o, const char *key, ck_hash out)
{
	const char *s = wallet_json_str(o, key);
	if (s == NULL || strlen(s) != 2 * CK_HASH_BYTES ||
	    cm_hex_decode(out, CK_HASH_BYTES, s, 2 * CK_HASH_BYTES) != 0)
		return WALLET_E_JSON;
	return 0;
}

int wallet_json_addr(const json_t *o, const char *key, ck_pubkey out)
{
	const char *s = wallet_json_str(o, key);
	if (s == NULL || ck_address_decode(out, s) != 0)
		return WALLET_E_JSON;
	return 0;
}

int wallet_json_bytes(const json_t *o, const char *key, uint8_t **buf, size_t *len, size_t max)
{
	*buf = NULL;
	*len = 0;
	const json_t *x = json_object_get(o, key);
	if (!json_is_string(x))
		return WALLET_E_JSON;
	size_t n = json_string_length(x);
	if (n % 2 != 0 || n / 2 > max)
		return WALLET_E_JSON;
	uint8_t *b = malloc(n / 2 + 1);
	if (b == NULL)
		return WALLET_E_NOMEM;
	if (cm_hex_decode(b, n / 2, json_string_value(x), n) != 0) {
		free(b);
		return WALLET_E_JSON;
	}
	*buf = b;
	*len = n / 2;
	return 0;
}
